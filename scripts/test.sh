#!/usr/bin/env bash
# Builds lws-threadpool three times (plain, ASan+UBSan, TSan) against
# Debian's libwebsockets-dev and runs the whole ctest suite on each; then
# builds libwebsockets from Debian's own source packages
# (scripts/lws-build.sh, cached in build-lws/) and runs the suite on a plain
# build against each of those.  Installs its Debian dependencies first.
# Every build runs even if an earlier one failed; the summary at the end
# gives each step's time and result.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

jobs=$(nproc)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# lws builds from Debian source packages, each "NAME SUITE [CMAKE_OPTION...]"
# (scripts/lws-build.sh); the project is built in build-NAME against it
lws_variants=(
	"lws435 trixie"				# Debian 13's lws 4.3.5
	"smp2 bookworm -DLWS_MAX_SMP=2"		# Debian 12's 4.1.6, 2 service threads
	# Debian 12's 4.1.6 with upstream's lwsws and plugins, threadpool off:
	# what an lwsws user has; its suite adds plugin-e2e-lwsws
	"lwsws416 bookworm -DLWS_WITH_LWSWS=ON -DLWS_WITH_PLUGINS=ON -DLWS_WITH_THREADPOOL=OFF"
)

# Debian 12's lws source: upstream's example lwsws config for the tests
lws_src=$(bash scripts/lws-build.sh --source src416 bookworm)

run() {	# name, sanitizer, [command prefix...]
	local dir=build-$1 san=$2
	shift 2
	echo "=== $dir (sanitizer: ${san:-none})"
	cmake -S . -B "$dir" -DLWSTP_SANITIZE="$san" \
		-DLWSTP_LWS_SOURCE_DIR="$lws_src" >/dev/null
	cmake --build "$dir" -j "$jobs"
	# TSan needs a fixed address space layout on some kernels
	(cd "$dir" && "$@" ctest --output-on-failure -j "$jobs")
}

lws_run() {	# name, suite, [cmake option...]: plain build on that lws
	local prefix
	prefix=$(bash scripts/lws-build.sh "$@")	# built: prints the prefix
	PKG_CONFIG_PATH=$(find "$prefix" -name libwebsockets.pc -printf '%h')
	export PKG_CONFIG_PATH
	echo "=== lws $1: $(sed -n 2p "$prefix/.lwstp-lws-build")"
	run "$1" ""
}

summary=() failed=()
step() {	# label, command...: run it to its end, note time and result in rc
	local label=$1 t0=$SECONDS
	shift
	# not called from a condition: there, set -e would not act inside
	set +e
	(set -e; "$@")
	rc=$?
	set -e
	[ $rc -eq 0 ] || failed+=("$label")
	summary+=("$(printf '%-22s %5d s  %s' "$label" $((SECONDS - t0)) \
		"$([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")")")
}

step "plain" run plain ""
step "asan" run asan address
step "tsan" run tsan thread setarch "$(uname -m)" -R
for v in "${lws_variants[@]}"; do
	read -r -a args <<< "$v"
	step "lws ${args[0]} (build)" bash scripts/lws-build.sh "${args[@]}"
	[ $rc -eq 0 ] || continue
	step "${args[0]}" lws_run "${args[@]}"
done

echo "=== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}"
	exit 1
fi
echo "all test builds passed"
