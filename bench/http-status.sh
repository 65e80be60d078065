#!/usr/bin/env bash
# bench/http-status.sh - requests per second of the plugin's /status (and
# /metrics) over plain HTTP/1.1, TLS HTTP/1.1 and TLS HTTP/2, side by side.
#
#   bench/http-status.sh [BUILD_DIR] [RUNS]     (defaults: build, 5)
#
# One test-plugin-server of BUILD_DIR (TLS, a certificate made here), and
# h2load (Debian's nghttp2-client; installed with apt-get when missing and
# this runs as root) with 10 connections, 10 requests in flight on each
# (h1: pipelined with -m 1, one at a time per connection), 20000 requests
# per run.  The runs go round-robin over the variants; it prints the median
# and [min-max] of the runs.
set -euo pipefail

build=${1:-build}
runs=${2:-5}
srv=$build/plugins/protocol_lws_threadpool/test-plugin-server
[ -x "$srv" ] || { echo "no $srv: build first" >&2; exit 2; }
if ! command -v h2load >/dev/null; then
	if [ "$(id -u)" -eq 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends nghttp2-client >/dev/null
	else
		echo "h2load missing: apt-get install nghttp2-client" >&2
		exit 2
	fi
fi

tmp=$(mktemp -d)
trap 'kill $tls_pid $plain_pid 2>/dev/null; rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/k.pem" \
	-out "$tmp/c.pem" -days 2 -subj /CN=127.0.0.1 2>/dev/null

start() {	# name, extra args: starts a server, sets its port in $port
	"$srv" --port 0 "${@:2}" >"$tmp/$1.out" 2>"$tmp/$1.err" &
	eval "${1}_pid=$!"
	for _ in $(seq 1 100); do
		port=$(sed -n 's/.*listening on \([0-9]*\).*/\1/p' \
			"$tmp/$1.out")
		[ -n "$port" ] && return 0
		sleep 0.1	# waiting for a child to print its port
	done
	echo "server $1 did not start" >&2
	exit 1
}
start plain
plain_port=$port
start tls --tls-cert "$tmp/c.pem" --tls-key "$tmp/k.pem"
tls_port=$port

variants="h1:/status tls-h1:/status tls-h2:/status h1:/metrics tls-h1:/metrics tls-h2:/metrics"
for r in $(seq 1 "$runs"); do
	for v in $variants; do
		tr=${v%%:*} path=${v#*:}
		case $tr in
		h1)	args=(--h1 -m 1 "http://127.0.0.1:$plain_port$path") ;;
		tls-h1)	args=(--h1 -m 1 "https://127.0.0.1:$tls_port$path") ;;
		tls-h2)	args=(-m 10 "https://127.0.0.1:$tls_port$path") ;;
		esac
		rps=$(h2load -n 20000 -c 10 "${args[@]}" 2>&1 |
			sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
		ok=$(h2load -n 100 -c 1 "${args[@]}" 2>&1 |
			sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p')
		[ "$ok" = 100 ] || { echo "$v: not every answer was 2xx" >&2
				     exit 1; }
		echo "$v $rps" >>"$tmp/results"
	done
done

echo "requests/s, $runs runs: median [min-max]  ($(nproc) cores, $(uname -r))"
for v in $variants; do
	grep "^$v " "$tmp/results" | awk '{print $2}' | sort -n |
	awk -v v="$v" '{ a[NR] = $1 } END {
		m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		printf "%-16s %8.0f [%.0f-%.0f]\n", v, m, a[1], a[NR] }'
done
