#!/usr/bin/env bash
# Builds lws-threadpool and runs the demo server on http://127.0.0.1:7681/
# (Ctrl-C stops it).  Installs its Debian dependencies first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build-plain -DLWSTP_SANITIZE= >/dev/null
cmake --build build-plain -j "$(nproc)" --target lwstp-ws-server
echo "demo: open http://127.0.0.1:7681/"
exec build-plain/test-apps/lwstp-ws-server "$@"
