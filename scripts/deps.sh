#!/usr/bin/env bash
# Installs what building, running and testing lws-threadpool needs on
# Debian 12 (as root, or through sudo).  Does nothing if all is there.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libwebsockets-dev uthash-dev
      libuv1-dev libev-dev libglib2.0-dev python3-websockets
      chromium fonts-dejavu-core clang libclang-rt-14-dev valgrind)
# scripts/lws-build.sh: lws from Debian's source packages (dpkg-source,
# dpkg-buildflags), and the Build-Depends of libwebsockets (bookworm and
# trixie) that its options need beyond the above; debhelper is not needed
pkgs+=(dpkg-dev libssl-dev zlib1g-dev libcap-dev openssl)
# the plugin's HTTP over TLS h1 / h2 and /metrics (tests/http_transports.py)
pkgs+=(curl python3-h2 python3-prometheus-client)
# the installed service files (tests/server/test_install.py): the unit is
# checked with systemd-analyze verify, the man page rendered with man
pkgs+=(systemd man-db)
# the pages of upstream's example lwsws config (tests/server/test_upstream_example.py)
pkgs+=(libwebsockets-test-server-common)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
