#!/usr/bin/env bash
# bench/profile.sh - instructions per operation, liblwstp against upstream's
# own pool, counted by valgrind's callgrind (repeatable where a timing is
# not: the count does not depend on what else the machine runs).
#
#   bench/profile.sh [BIN_DIR] [OUT_DIR]   (build-bench/bench, a temp dir)
#
# BIN_DIR holds lwstp-bench-server, lwstp-bench-server-upstream (bench/run.sh
# builds both) and lwstp-bench-client.  Each scenario runs once per pool
# under callgrind with --separate-threads=yes; the bench server switches
# instrumentation on for the client's measured window only (its "m" / "e"
# marks), so setup and shutdown are not counted.  Printed: instructions
# (Ir) per operation on the service thread and on all workers together,
# and the top functions of each; the callgrind files stay in OUT_DIR for
# callgrind_annotate.
#
# LWSTP_PROFILE_IMPLS="lwstp" profiles only liblwstp.
#
# Scenarios: sync with 1 and 10 connections (per message), dispatch with 8
# tasks in flight on 1 connection, no work (per task).
set -euo pipefail

bindir=${1:-build-bench/bench}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "valgrind is missing" >&2; exit 2; }
for b in lwstp-bench-server lwstp-bench-server-upstream lwstp-bench-client
do
	[ -x "$bindir/$b" ] || { echo "no $bindir/$b (bench/run.sh builds it)" >&2
				 exit 2; }
done

run() {	# impl scenario conns server-args...
	local impl=$1 sc=$2 conns=$3 srv=$bindir/lwstp-bench-server tag
	shift 3
	[ "$impl" = upstream ] && srv=$bindir/lwstp-bench-server-upstream
	tag="$impl-$sc-$conns"
	rm -f "$out/$tag".* "$out/port"
	valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
		--callgrind-out-file="$out/$tag.%p" \
		"$srv" --port 0 --port-file "$out/port" --max-s 300 \
		--scenario "$sc" --conns "$conns" "$@" \
		> "$out/$tag.json" 2> "$out/$tag.log" &
	local spid=$! i
	for i in $(seq 600); do
		[ -s "$out/port" ] && break
		sleep 0.05	# waiting for the server under valgrind to listen
	done
	"$bindir/lwstp-bench-client" --port "$(cat "$out/port")" \
		--conns "$conns" --warmup-ms 2000 --measure-ms 4000 \
		--max-s 300 > "$out/$tag.client" 2>&1
	wait "$spid"
	/usr/bin/python3 - "$out" "$tag" "$impl" "$sc" "$conns" <<'EOF'
import glob, json, sys
out, tag, impl, sc, conns = sys.argv[1:]
srv = json.load(open("%s/%s.json" % (out, tag)))
ops = srv.get("tasks_per_s") or srv.get("server_msgs_per_s") or 0
ops *= srv["window_s"]
files = sorted(glob.glob("%s/%s.*-[0-9]*" % (out, tag)))
svc, wrk = 0, 0
for f in files:
    thread, ir = 0, 0
    for line in open(f, errors="replace"):
        if line.startswith("thread:"):
            thread = int(line.split()[1])
        elif line.startswith("totals:"):
            ir = int(line.split()[1])
    # thread 1 is the main (service) thread; the workers' counts are in
    # the dump at exit (instrumentation stopped at the window's end)
    if thread == 1:
        svc += ir
    else:
        wrk += ir
print("%-8s %-8s conns=%-4s ops %8.0f  service Ir/op %7.0f  workers "
      "Ir/op %7.0f  (%d thread files)" % (impl, sc, conns, ops,
      svc / ops if ops else 0, wrk / ops if ops else 0, len(files)))
EOF
}

echo "callgrind: instructions per operation in the measured window ($out)"
for impl in ${LWSTP_PROFILE_IMPLS:-lwstp upstream}; do
	run "$impl" sync 1
	run "$impl" sync 10
	run "$impl" dispatch 1 --threads 2 --k 8
done
echo
echo "top functions by self cost, service thread (the window's dump):"
for f in "$out"/*.1-01; do
	[ -e "$f" ] || continue
	echo "== $(basename "$f")"
	callgrind_annotate --threshold=90 "$f" 2>/dev/null |
		sed -n '/^Ir/,$p' | sed -n '3,10p'
done
