#!/usr/bin/env bash
# Builds lws-threadpool and runs the demo server (lwstp-server with its
# built-in config: the lws-threadpool plugin and the demo page) on
# http://127.0.0.1:7681/
# (Ctrl-C stops it).  Installs its Debian dependencies first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build-plain -DLWSTP_SANITIZE= >/dev/null
cmake --build build-plain -j "$(nproc)" --target lwstp-server protocol_lws_threadpool
echo "demo: open http://127.0.0.1:7681/"
exec build-plain/test-apps/lwstp-server/lwstp-server "$@"
