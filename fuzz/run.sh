#!/usr/bin/env bash
# libFuzzer targets for the input parsers (see README.md here).
#
#   fuzz/run.sh build BUILD_DIR            build them with clang into
#                                          BUILD_DIR/fuzz
#   fuzz/run.sh run BUILD_DIR TARGET [S]   replay fuzz/regressions/TARGET,
#                                          then fuzz TARGET (msg, conf,
#                                          opts) for S seconds (default
#                                          LWSTP_FUZZ_SECONDS, or 30) from
#                                          fuzz/corpus/TARGET
#
# Exits 77 (ctest: skipped) when clang or its libFuzzer runtime is missing
# (apt-get install clang libclang-rt-14-dev).  A crash or broken promise
# leaves its input in BUILD_DIR/fuzz/crash-TARGET-*: add it to
# fuzz/regressions/TARGET/ so that every later run replays it (and
# tests/reliability/test-parsers.c, in every build, too).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: run.sh build|run BUILD_DIR [TARGET [SECONDS]]}
out=${2:?usage: run.sh build|run BUILD_DIR [TARGET [SECONDS]]}/fuzz
cc=${LWSTP_FUZZ_CC:-clang}
plugin=$src/plugins/protocol_lws_threadpool
server=$src/test-apps/lwstp-server
mkdir -p "$out"

sources() {	# the parser sources of a target
	case $1 in
	msg)	echo "$plugin/msg.c" ;;
	opts)	echo "$plugin/opts.c" ;;
	conf)	echo "$server/conf.c $server/conf-keys.c" ;;
	*)	echo "unknown target $1" >&2; exit 2 ;;
	esac
}

max_len() {
	case $1 in
	msg)	echo 1024 ;;	# LWSTP_MSG_MAX is 512: past it too
	opts)	echo 2048 ;;
	conf)	echo 16384 ;;
	esac
}

if [ "$cmd" = build ]; then
	if ! command -v "$cc" >/dev/null; then
		echo "fuzz: $cc not found (apt-get install clang" \
		     "libclang-rt-14-dev): skipped"
		exit 77
	fi
	printf 'int LLVMFuzzerTestOneInput(const unsigned char *d,
		unsigned long n) { return 0; }\n' > "$out/probe.c"
	if ! "$cc" -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" \
			2>/dev/null; then
		echo "fuzz: $cc has no libFuzzer runtime (apt-get install" \
		     "libclang-rt-14-dev): skipped"
		exit 77
	fi
	flags=(-g -O1 -fno-omit-frame-pointer
	       -fsanitize=fuzzer,address,undefined
	       -fno-sanitize-recover=undefined -D_GNU_SOURCE
	       -I"$src/fuzz" -I"$plugin" -I"$server")
	read -r -a lws_cflags <<< "$(pkg-config --cflags libwebsockets)"
	read -r -a lws_libs <<< "$(pkg-config --libs libwebsockets)"
	# run with the lws linked against, wherever pkg-config found it
	lws_libdir=$(readlink -f "$(pkg-config --variable=libdir libwebsockets)")
	lws_libs+=("-Wl,-rpath,$lws_libdir")
	for t in msg opts conf; do
		# shellcheck disable=SC2046
		"$cc" "${flags[@]}" "${lws_cflags[@]}" \
			"$src/fuzz/fuzz_$t.c" $(sources "$t") \
			"${lws_libs[@]}" -o "$out/fuzz_$t"
		got=$(ldd "$out/fuzz_$t" | awk '$1 ~ /^libwebsockets/ { print $3 }')
		if [ "$(dirname "$(readlink -f "$got")")" != "$lws_libdir" ]; then
			echo "FAIL: fuzz_$t runs on '$got', not on $lws_libdir"
			exit 1
		fi
		echo "fuzz: built $out/fuzz_$t"
	done
	echo "1 passed, 0 failed"
	exit 0
fi

[ "$cmd" = run ] || { echo "usage: run.sh build|run ..." >&2; exit 2; }
t=${3:?usage: run.sh run BUILD_DIR TARGET [SECONDS]}
secs=${4:-${LWSTP_FUZZ_SECONDS:-30}}
bin=$out/fuzz_$t
if [ ! -x "$bin" ]; then
	echo "fuzz: $bin not built (no clang / libFuzzer?): skipped"
	exit 77
fi

passed=0
failed=0

# every input that once broke a promise: must pass for good
regs=("$src/fuzz/regressions/$t"/*)
if [ -e "${regs[0]}" ]; then
	if "$bin" "${regs[@]}" > "$out/regressions-$t.log" 2>&1; then
		echo "fuzz_$t: ${#regs[@]} regression inputs pass"
		passed=$((passed + 1))
	else
		echo "FAIL: fuzz_$t: a regression input fails again:"
		tail -30 "$out/regressions-$t.log"
		failed=$((failed + 1))
	fi
fi

# a fresh working corpus from the seeds, so that a run is repeatable
rm -rf "$out/corpus-$t"
mkdir -p "$out/corpus-$t"
cp "$src/fuzz/corpus/$t"/* "$out/corpus-$t/"
rm -f "$out/crash-$t-"*

set +e
"$bin" -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 \
	-dict="$src/fuzz/$t.dict" -print_final_stats=1 \
	-artifact_prefix="$out/crash-$t-" "$out/corpus-$t" \
	> "$out/fuzz-$t.log" 2>&1
rc=$?
set -e

done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/fuzz-$t.log" | tail -1)
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz-$t.log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/fuzz-$t.log")
cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
ft=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
corp=$(echo "$done_line" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
echo "fuzz_$t: ${runs:-?} executions in ${secs} s (${rate:-?} exec/s)," \
     "coverage ${cov:-?} edges, ${ft:-?} features, corpus ${corp:-?}," \
     "exit $rc"

crashes=("$out/crash-$t-"*)
if [ "$rc" -ne 0 ] || [ -e "${crashes[0]}" ]; then
	echo "FAIL: fuzz_$t found a crash or a broken promise:"
	grep -E 'broken promise|ERROR: |SUMMARY|runtime error' \
		"$out/fuzz-$t.log" | head -10
	ls -1 "$out/crash-$t-"* 2>/dev/null || true
	echo "(add the input to fuzz/regressions/$t/)"
	failed=$((failed + 1))
else
	passed=$((passed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
