#!/bin/sh
# Configuring against an lws older than 4.1 stops with a message naming the
# minimum version.  A fake libwebsockets.pc of version 4.0.20 (Debian 11's)
# stands in for the old lws: configuration must stop before using it.
# usage: check-min-lws.sh SOURCE_DIR SCRATCH_DIR
set -eu
src=$1 scratch=$2
rm -rf "$scratch"
mkdir -p "$scratch/pc"
cat > "$scratch/pc/libwebsockets.pc" <<PC
prefix=/nonexistent
Name: libwebsockets
Description: stands in for lws 4.0.20
Version: 4.0.20
Libs: -L/nonexistent -lwebsockets
Cflags: -I/nonexistent
PC
if PKG_CONFIG_LIBDIR="$scratch/pc" PKG_CONFIG_PATH= \
	cmake -S "$src" -B "$scratch/build" > "$scratch/log" 2>&1; then
	echo "FAIL: configured against lws 4.0.20"
	exit 1
fi
grep -q "libwebsockets 4.0.20 found; lws-threadpool needs lws 4.1 or later" \
	"$scratch/log" || { echo "FAIL: no minimum-version message:"; cat "$scratch/log"; exit 1; }
echo "ok: lws 4.0.20 refused with the minimum version named"
