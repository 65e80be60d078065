#!/usr/bin/env bash
# Builds lws-threadpool three times (plain, ASan+UBSan, TSan) and runs the
# whole ctest suite on each.  Installs its Debian dependencies first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

jobs=$(nproc)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

run() {	# name, sanitizer, [command prefix...]
	local dir=build-$1 san=$2
	shift 2
	echo "=== $dir (sanitizer: ${san:-none})"
	cmake -S . -B "$dir" -DLWSTP_SANITIZE="$san" >/dev/null
	cmake --build "$dir" -j "$jobs"
	# TSan needs a fixed address space layout on some kernels
	(cd "$dir" && "$@" ctest --output-on-failure -j "$jobs")
}

run plain ""
run asan address
run tsan thread setarch "$(uname -m)" -R
echo "all test builds passed"
