#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds and runs a consumer
# through pkg-config and through CMake's find_package(lwstp).
set -eu
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name liblwstp.so | head -n1)")
# the lws this build found (PKG_CONFIG_PATH may name another than the
# system's) stays found, at build and at run time
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export LD_LIBRARY_PATH=$libdir:$(pkg-config --variable=libdir libwebsockets)

pass=0 fail=0
# shellcheck disable=SC2046
if cc ${CFLAGS_SAN:-} -o "$tmp/consumer-pc" "$src/tests/consumer/main.c" \
	$(pkg-config --cflags --libs lwstp) && "$tmp/consumer-pc"; then
	pass=$((pass+1)); else echo "pkg-config consumer failed"; fail=$((fail+1)); fi
if cmake -S "$src/tests/consumer" -B "$tmp/cb" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
	-DCMAKE_C_FLAGS="${CFLAGS_SAN:-}" >/dev/null &&
   cmake --build "$tmp/cb" >/dev/null && "$tmp/cb/consumer-cmake"; then
	pass=$((pass+1)); else echo "CMake consumer failed"; fail=$((fail+1)); fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
