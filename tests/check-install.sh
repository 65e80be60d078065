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
# find_package(lwstp QUIET) where libwebsockets.pc can not be found: the
# configuration goes on and says lwstp was not found; REQUIRED stops it
# with the reason
mkdir -p "$tmp/quiet" "$tmp/empty"
printf '%s\n' 'cmake_minimum_required(VERSION 3.18)' \
	'project(lwstp-quiet NONE)' 'find_package(lwstp QUIET)' \
	'message(STATUS "lwstp_FOUND=${lwstp_FOUND}")' \
	> "$tmp/quiet/CMakeLists.txt"
quiet_cmake() {
	rm -rf "$tmp/qb"
	PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=$tmp/empty cmake -S "$tmp/quiet" \
		-B "$tmp/qb" -DCMAKE_PREFIX_PATH="$tmp/prefix" 2>&1
}
if out=$(quiet_cmake) && echo "$out" | grep -q "lwstp_FOUND=0"; then
	pass=$((pass+1)); else echo "find_package(lwstp QUIET): $out"; fail=$((fail+1)); fi
sed -i 's/lwstp QUIET/lwstp REQUIRED/' "$tmp/quiet/CMakeLists.txt"
if ! out=$(quiet_cmake) && echo "$out" | grep -q "whose pkg-config file (libwebsockets.pc)"; then
	pass=$((pass+1)); else echo "find_package(lwstp REQUIRED): $out"; fail=$((fail+1)); fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
