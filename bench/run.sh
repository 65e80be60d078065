#!/usr/bin/env bash
# bench/run.sh - build and run the lws-threadpool benchmark suite.
#
#   bench/run.sh            every scenario, 3 runs each (about 8 minutes)
#   bench/run.sh --quick    smoke: one short run of a few variants (seconds)
#
# Options:
#   --runs N        runs of every variant (default 3; --quick: 1)
#   --only LIST     comma-separated scenarios: dispatch,sync,saturate,memory,
#                   peers (default: all)
#   --bin-dir DIR   use the programs already built in DIR (ctest does); no
#                   build, no package install
#   --out FILE      JSON lines (default bench/results/latest.jsonl; with
#                   --quick, bench/results/quick.jsonl)
#   --svg FILE      chart (default: FILE of --out with .svg; not in --quick)
#   --doc FILE      markdown whose figures part is rewritten (default: in a
#                   full run with the default --out, docs/PERFORMANCE.md)
#   --no-doc        leave the markdown alone
#   --no-upstream   leave out the peer on upstream's own threadpool (a full
#                   run builds lws 4.1.6 with LWS_WITH_THREADPOOL from
#                   Debian 12's source, scripts/lws-build.sh, and the same
#                   bench server against it; --quick and --bin-dir leave
#                   it out unless --upstream is given)
#   --upstream      include it
#
# Each run of a variant starts a fresh lwstp-bench-server and a separate
# lwstp-bench-client process (or wrk) over 127.0.0.1, and writes one JSON
# line with the server's and the client's figures.  The runs go round-robin
# over the variants (run 1 of everything, then run 2, ...) so that a slow
# spell on the machine does not land on one variant only; each variant runs
# on liblwstp and then on upstream's pool, back to back, its upstream twin
# named "VARIANT · upstream".  At the end
# bench/report.py prints the table (median, min, max of the runs), checks
# the targets and draws the chart.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
quick=0 runs="" only="" bindir="" out="" svg="" doc="" nodoc=0 upstream=""

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--runs) runs=$2; shift ;;
	--only) only=$2; shift ;;
	--bin-dir) bindir=$2; shift ;;
	--out) out=$2; shift ;;
	--svg) svg=$2; shift ;;
	--doc) doc=$2; shift ;;
	--no-doc) nodoc=1 ;;
	--no-upstream) upstream=0 ;;
	--upstream) upstream=1 ;;
	-h|--help) sed -n '2,36p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

if [ "$quick" = 1 ]; then
	runs=${runs:-1}
	out=${out:-$here/results/quick.jsonl}
else
	runs=${runs:-3}
	[ -n "$out" ] || doc=${doc:-$root/docs/PERFORMANCE.md}
	out=${out:-$here/results/latest.jsonl}
	svg=${svg:-${out%.jsonl}.svg}
fi
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

py=/usr/bin/python3
[ -x $py ] || py=python3

# --- what the suite needs ------------------------------------------------
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
apt_updated=0
install_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "run.sh: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	if [ $apt_updated = 0 ]; then
		"${as_root[@]}" apt-get update -q >&2 || return 1
		apt_updated=1
	fi
	"${as_root[@]}" apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >&2
}

[ -n "$upstream" ] || { [ "$quick" = 0 ] && [ -z "$bindir" ] &&
			 upstream=1 || upstream=0; }
if [ -z "$bindir" ]; then
	install_pkgs build-essential cmake pkg-config libwebsockets-dev \
		uthash-dev libuv1-dev libev-dev libglib2.0-dev wrk
	up_opt=()
	if [ "$upstream" = 1 ]; then
		install_pkgs dpkg-dev libssl-dev zlib1g-dev libcap-dev
		up_prefix=$(bash "$root/scripts/lws-build.sh" tp416 bookworm \
			-DLWS_WITH_THREADPOOL=ON)
		up_opt=(-DLWSTP_BENCH_UPSTREAM_PREFIX="$up_prefix")
	fi
	bindir=$root/build-bench/bench
	cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release \
		"${up_opt[@]}" >/dev/null
	targets=(lwstp-bench-server lwstp-bench-client lwstp-bench-peers)
	[ "$upstream" = 1 ] && targets+=(lwstp-bench-server-upstream)
	cmake --build "$root/build-bench" -j "$(nproc)" --target \
		"${targets[@]}" >/dev/null
fi
have_wrk=1
if want saturate && ! command -v wrk >/dev/null; then
	install_pkgs wrk || true
	if ! command -v wrk >/dev/null; then
		[ "$quick" = 1 ] || { echo "run.sh: wrk is missing" >&2; exit 1; }
		echo "run.sh: wrk is missing: saturate is skipped" >&2
		have_wrk=0
	fi
fi
server=$bindir/lwstp-bench-server
server_lwstp=$server
server_upstream=$bindir/lwstp-bench-server-upstream
client=$bindir/lwstp-bench-client
peers=$bindir/lwstp-bench-peers
bins=("$server" "$client" "$peers")
[ "$upstream" = 1 ] && bins+=("$server_upstream")
for b in "${bins[@]}"; do
	[ -x "$b" ] || { echo "run.sh: $b is not built" >&2; exit 1; }
done

# 1000 connections need ~1000 fds in the server and in the client
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- the figures -----------------------------------------------------------
threads=$(nproc)		# lwstp workers, and UV_THREADPOOL_SIZE
if [ "$quick" = 1 ]; then
	warmup_ms=200 measure_ms=500 wrk_s=1 mem_tasks=10000 max_s=30
else
	warmup_ms=1000 measure_ms=3000 wrk_s=5 mem_tasks=100000 max_s=60
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$(dirname "$out")"
: > "$out"
suite=$(date -u +%Y%m%dT%H%M%SZ)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
printf '{"meta":{"suite":"%s","when":"%s","nproc":%d,"cpu":"%s","kernel":"%s","loadavg_before":"%s","quick":%d,"runs":%d,"threads":%d,"warmup_ms":%d,"measure_ms":%d,"wrk_s":%d,"git":"%s"}}\n' \
	"$suite" "$(date -u "+%F %T UTC")" "$(nproc)" "${cpu//\"/}" "$(uname -r)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" "$quick" "$runs" "$threads" \
	"$warmup_ms" "$measure_ms" "$wrk_s" \
	"$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	>> "$out"

fail() { echo "run.sh: $*" >&2; for f in "$tmp"/*.err; do [ -s "$f" ] && sed 's/^/  | /' "$f" >&2; done; exit 1; }

# start_server ARGS...: sets $port and $spid
start_server() {
	rm -f "$tmp/port" "$tmp/server.out" "$tmp/server.err"
	"$server" --port 0 --port-file "$tmp/port" --max-s "$max_s" "$@" \
		> "$tmp/server.out" 2> "$tmp/server.err" &
	spid=$!
	pids+=("$spid")
	local i
	for i in $(seq 200); do
		[ -s "$tmp/port" ] && break
		kill -0 "$spid" 2>/dev/null || fail "server did not start: $*"
		sleep 0.02
	done
	port=$(cat "$tmp/port")
}

# emit SCENARIO VARIANT RUN KEY=JSON...: one result line
emit() {
	local line="{\"suite\":\"$suite\",\"scenario\":\"$1\",\"variant\":\"$2\",\"run\":$3"
	shift 3
	local kv
	for kv in "$@"; do
		[ -n "${kv#*=}" ] || fail "empty result ${kv%%=*}"
		line+=",\"${kv%%=*}\":${kv#*=}"
	done
	echo "$line}" >> "$out"
	echo "  $(echo "$line" | cut -c1-150)..." >&2
}

# pair SCENARIO VARIANT RUN CONNS SERVER-ARGS...: server + lws client, on
# liblwstp, then (with the upstream peer) on upstream's pool
pair() {
	local sc=$1 var=$2 run=$3 conns=$4 impl
	shift 4
	for impl in lwstp upstream; do
		[ $impl = lwstp ] || [ "$upstream" = 1 ] || continue
		server=$server_lwstp
		[ $impl = lwstp ] || server=$server_upstream
		start_server --scenario "$sc" --conns "$conns" "$@"
		"$client" --port "$port" --conns "$conns" \
			--warmup-ms "$warmup_ms" --measure-ms "$measure_ms" \
			--max-s "$max_s" > "$tmp/client.out" \
			2> "$tmp/client.err" ||
			fail "client failed: $sc $var ($impl)"
		wait "$spid" || fail "server failed: $sc $var ($impl)"
		emit "$sc" "$var$([ $impl = lwstp ] || echo " · upstream")" \
			"$run" "server=$(cat "$tmp/server.out")" \
			"client=$(cat "$tmp/client.out")"
	done
	server=$server_lwstp
}

# saturate VARIANT RUN [--upstream] [--spinners N] SERVER-ARGS...
saturate() {
	local var=$1 run=$2 spinners=0 s
	shift 2
	server=$server_lwstp
	if [ "$1" = --upstream ]; then
		server=$server_upstream
		var="$var · upstream"
		shift
	fi
	if [ "$1" = --spinners ]; then
		spinners=$2
		shift 2
	fi
	start_server --scenario saturate --threads "$threads" --queue 64 "$@"
	rm -f "$tmp/ready" "$tmp/stop"
	"$client" --port "$port" --conns 1 --warmup-ms 300 --max-s "$max_s" \
		--ready-file "$tmp/ready" --stop-file "$tmp/stop" \
		> "$tmp/client.out" 2> "$tmp/client.err" &
	local cpid=$!
	pids+=("$cpid")
	local i
	for i in $(seq 500); do
		[ -e "$tmp/ready" ] && break
		kill -0 "$cpid" 2>/dev/null || fail "client failed: saturate"
		sleep 0.02
	done
	local spids=()
	for s in $(seq "$spinners"); do
		nice -n 19 "$peers" spin --measure-ms $((wrk_s * 1000 + 1000)) \
			> /dev/null &
		spids+=($!)
		pids+=($!)
	done
	$py "$here/report.py" wrk -- wrk -t1 -c8 -d"${wrk_s}s" --latency \
		"http://127.0.0.1:$port/tiny" > "$tmp/wrk.out" \
		2> "$tmp/wrk.err" || fail "wrk failed"
	touch "$tmp/stop"
	if [ "$spinners" -gt 0 ]; then
		kill "${spids[@]}" 2>/dev/null || true
		wait "${spids[@]}" 2>/dev/null || true
	fi
	wait "$cpid" || fail "client failed: saturate $var"
	wait "$spid" || fail "server failed: saturate $var"
	emit saturate "$var" "$run" "server=$(cat "$tmp/server.out")" \
		"client=$(cat "$tmp/client.out")" "wrk=$(cat "$tmp/wrk.out")"
	server=$server_lwstp
}

peer() {
	local var=$1 run=$2
	shift 2
	UV_THREADPOOL_SIZE=$threads "$peers" "$@" --warmup-ms "$warmup_ms" \
		--measure-ms "$measure_ms" > "$tmp/peer.out" \
		2> "$tmp/peer.err" || fail "peer failed: $var"
	emit peers "$var" "$run" "peer=$(cat "$tmp/peer.out")"
}

if [ "$quick" = 1 ]; then
	ks="64" works="0" dconns="10" sconns="1" nices="19" uvks="64"
	uvworks="0"
else
	ks="8 64 512 4000" works="0 50" dconns="10 100 1000"
	sconns="1 10 100 1000" nices="0 10 19" uvks="8 64 512 4000"
	uvworks="0 50"
fi

echo "run.sh: $runs run(s) of each variant; results in $out" >&2
for run in $(seq "$runs"); do
	if want dispatch; then
		for w in $works; do
			for k in $ks; do
				pair dispatch "k=$k work=$w conns=1" "$run" 1 \
					--threads "$threads" --k "$k" \
					--work-us "$w"
			done
		done
		for c in $dconns; do
			pair dispatch "k=8 work=0 conns=$c" "$run" "$c" \
				--threads "$threads" --k 8
		done
		if [ "$quick" = 0 ]; then
			for k in 512 4000; do
				pair dispatch "k=$k work=0 conns=1 full-scan" \
					"$run" 1 --threads "$threads" --k "$k" \
					--full-scan
			done
		fi
	fi
	if want sync; then
		for c in $sconns; do
			pair sync "conns=$c" "$run" "$c"
		done
	fi
	if want saturate && [ $have_wrk = 1 ]; then
		saturate "idle" "$run" --busy 0
		for n in $nices; do
			saturate "busy nice=$n" "$run" --busy 1 --worker-nice "$n"
		done
		if [ "$upstream" = 1 ]; then
			# upstream has no worker nice or scheduling class
			saturate "idle" "$run" --upstream --busy 0
			saturate "busy nice=0" "$run" --upstream --busy 1
		fi
		[ "$quick" = 1 ] || saturate "busy sched_idle" "$run" --busy 1 \
			--sched-idle
		# the control: no task at all, but every CPU busy with a
		# nice-19 process that is not ours
		[ "$quick" = 1 ] || saturate "idle + nice-19 spinners" "$run" \
			--spinners "$threads" --busy 0
	fi
	if want memory; then
		pair memory "tasks=$mem_tasks" "$run" 1 --threads "$threads" \
			--mem-tasks "$mem_tasks"
	fi
	if want peers; then
		for w in $uvworks; do
			for k in $uvks; do
				peer "libuv k=$k work=$w" "$run" uv --k "$k" \
					--work-us "$w"
			done
		done
		for m in eventfd condvar futex; do
			peer "$m" "$run" "$m"
		done
	fi
done

printf '{"meta_end":{"suite":"%s","loadavg_after":"%s"}}\n' "$suite" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out"

report_args=("$out")
[ -n "$svg" ] && report_args+=(--svg "$svg")
[ "$quick" = 1 ] && report_args+=(--smoke)
[ -n "$doc" ] && [ "$nodoc" = 0 ] && report_args+=(--doc "$doc")
$py "$here/report.py" table "${report_args[@]}"
