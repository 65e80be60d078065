#!/usr/bin/env bash
# Everything this build made runs on the libwebsockets CMake found through
# pkg-config (LWS_LIBDIR), not on another one with the same soname (the
# system's libwebsockets.so.17 beside an LWS_MAX_SMP=2 build of 4.1.6):
#  - ldd: every ELF file under the build tree that needs a libwebsockets.so
#    (programs, liblwstp, the plugins, installed test copies);
#  - at run time (ld.so's LD_DEBUG=libs): test-plugin-load loading the
#    plugin with lws_plugins_init(), and lwstp-ws-server --uv loading lws's
#    libuv evlib plugin, each from where they should be.
# (The bench's lwstp-bench-server-upstream, built only with
# LWSTP_BENCH_UPSTREAM_PREFIX, runs on that lws by design: not checked.)
#
#   check-lws-linked.sh BUILD_DIR LWS_LIBDIR TEST_PLUGIN_LOAD PLUGIN_DIR \
#                       LWSTP_WS_SERVER
set -u
build=$1 libdir=$(readlink -f "$2") load=$3 plugdir=$(readlink -f "$4") ws=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() {	# condition-status, message
	if [ "$1" -eq 0 ]; then pass=$((pass + 1))
	else echo "FAIL: $2"; fail=$((fail + 1)); fi
}

n=0
while IFS= read -r -d '' f; do
	readelf -d "$f" 2>/dev/null | grep -q 'NEEDED.*\[libwebsockets\.so' ||
		continue
	# the bench's peer on upstream's own pool links that other lws on
	# purpose (LWSTP_BENCH_UPSTREAM_PREFIX, bench/run.sh)
	[ "${f##*/}" = lwstp-bench-server-upstream ] && continue
	n=$((n + 1))
	got=$(ldd "$f" 2>/dev/null | awk '$1 ~ /^libwebsockets\.so/ { print $3 }')
	[ -n "$got" ] && [ "$(dirname "$(readlink -f "$got")")" = "$libdir" ]
	check $? "${f#"$build"/}: libwebsockets from '${got:-nowhere}', not $libdir"
done < <(find "$build" -type f \( -perm -u+x -o -name '*.so*' \) -print0)
[ "$n" -ge 5 ]
check $? "only $n files under $build link libwebsockets"
echo "$n files link libwebsockets from $libdir"

inits() {	# what ld.so initialised in the run logged to $tmp/$1.*
	sed -n 's/.*calling init: //p' "$tmp/$1".* | xargs -r readlink -f
}

LD_DEBUG=libs LD_DEBUG_OUTPUT=$tmp/load "$load" "$plugdir" >/dev/null 2>&1
check $? "test-plugin-load $plugdir failed"
grep -qx "$libdir/libwebsockets\.so\.[0-9]*" <<< "$(inits load)"
check $? "test-plugin-load: no libwebsockets from $libdir initialised"
grep -qx "$plugdir/libprotocol_lws_threadpool\.so" <<< "$(inits load)"
check $? "test-plugin-load: the plugin was not loaded from $plugdir"

LD_DEBUG=libs LD_DEBUG_OUTPUT=$tmp/ws timeout -s TERM 2 \
	"$ws" --uv --port 0 >/dev/null 2>&1
grep -qx "$libdir/libwebsockets-evlib_uv\.so" <<< "$(inits ws)"
check $? "lwstp-ws-server --uv: lws's libuv plugin not loaded from $libdir"
if [ "$(grep -c '/libwebsockets[.-]' <<< "$(inits load; inits ws)")" -ne \
     "$(grep -c "^$libdir/libwebsockets[.-]" <<< "$(inits load; inits ws)")" ]; then
	check 1 "a libwebsockets from elsewhere was initialised: $(inits load; inits ws)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
