#!/usr/bin/env bash
# Builds libwebsockets from a Debian suite's own source package, with the
# cmake options its debian/rules passes (and Debian's patches applied), plus
# any given here, and installs it into a prefix in the build tree.  Prints
# that prefix (its lib/<multiarch>/pkgconfig selects it through
# PKG_CONFIG_PATH); everything else goes to stderr.
#
#   scripts/lws-build.sh NAME SUITE [CMAKE_OPTION...]
#   scripts/lws-build.sh --source NAME SUITE
#   e.g. scripts/lws-build.sh lws435 trixie
#        scripts/lws-build.sh smp2 bookworm -DLWS_MAX_SMP=2
#        scripts/lws-build.sh --source src416 bookworm
#
# --source only unpacks the source package and prints where (upstream's
# example lwsws config is in it, for the tests).
#
# NAME names the build (build-lws/NAME/{src,build,prefix}); each NAME is one
# (SUITE, options) pair, and a second run with the same ones prints the
# prefix at once (the stamp in the prefix says it is complete).  Changing
# the options, the suite or this script rebuilds.
#
# The source comes through apt (deb-src) from the Debian archive and
# security archive that this machine's own apt sources name, with a private
# apt configuration in build-lws/apt (the system's /etc/apt is not touched;
# nothing is installed).  The Release files are checked against
# /usr/share/keyrings/debian-archive-keyring.gpg.
#
# Needs dpkg-dev, cmake and the Build-Depends of the source package
# (scripts/deps.sh installs them).
set -euo pipefail

source_only=
if [ "${1:-}" = --source ]; then
	source_only=1
	shift
fi
name=${1:?usage: lws-build.sh NAME SUITE [CMAKE_OPTION...]}
suite=${2:?usage: lws-build.sh NAME SUITE [CMAKE_OPTION...]}
shift 2
extra=("$@")

top=$(cd "$(dirname "$0")/.." && pwd)
root=${LWSTP_LWS_BUILD_ROOT:-$top/build-lws}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
pkg=libwebsockets
dir=$root/$name
prefix=$dir/prefix
stamp=$prefix/.lwstp-lws-build

log() { echo "lws-build $name: $*" >&2; }
die() { log "$*"; exit 1; }

# what makes this build: compared with the stamp of an earlier one
key="suite=$suite options=${extra[*]} script=$(sha256sum < "$0" | cut -d' ' -f1)"
if [ -n "$source_only" ]; then
	stamp=$dir/src/.lwstp-lws-source
	key="source $key"
fi
if [ -n "$source_only" ] && [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$key" ]; then
	echo "$dir/src"
	exit 0
fi
if [ -z "$source_only" ] && [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$key" ]; then
	log "up to date: $(sed -n 2p "$stamp")"
	echo "$prefix"
	exit 0
fi
t0=$SECONDS

# --- the mirrors this machine's apt uses ---------------------------------
# apt's own reading of /etc/apt/sources.list and sources.list.d: the site
# serving main of this release (Debian's archive) and of release-security.
# Sites whose Release file apt has say they are Debian's; without one (no
# apt-get update yet), the first site naming the release.  Either way only
# a site whose Release is signed by Debian's archive key passes the update
# below.
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
site_of() {	# release
	{ apt-get indextargets --format '$(SITE) $(RELEASE) $(COMPONENT) $(ORIGIN)' |
		awk '$4 ~ /^Debian/'
	  apt-get indextargets --no-release-info --format '$(SITE) $(RELEASE) $(COMPONENT)'
	} | awk -v r="$1" '$2 == r && $3 == "main" && !site { site = $1 }
			END { print site }'
}
archive=$(site_of "$codename")
security=$(site_of "$codename-security")
[ -n "$archive" ] || die "no apt source for '$codename main' in /etc/apt: cannot tell Debian's mirror"
[ -n "$security" ] || die "no apt source for '$codename-security main' in /etc/apt: cannot tell Debian's security mirror"

# --- a private apt that only knows the source indexes of SUITE -----------
apt=$root/apt/$suite
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$root/dl/$suite"
cat > "$apt/sources.list" <<EOF
deb-src [signed-by=$keyring] $archive $suite main
deb-src [signed-by=$keyring] $security $suite-security main
EOF
aptopts=(-o Dir::Etc::SourceList="$apt/sources.list"
	 -o Dir::Etc::SourceParts=/dev/null
	 -o Dir::State::Lists="$apt/lists"
	 -o Dir::Cache="$apt/cache"
	 -o Dir::State::Status=/dev/null
	 -o APT::Sandbox::User="$(id -un)")
log "apt-get update: $suite and $suite-security from $archive, $security"
# any failure, a bad signature too, is an error here
apt-get "${aptopts[@]}" update --error-on=any -q >&2 ||
	die "apt-get update failed (see above)"

# --- the newest version, each file from wherever it is -------------------
# "Selected version 'V' (release)": the version each release carries
version_in() {
	{ apt-get "${aptopts[@]}" source --print-uris "$pkg/$1" 2>/dev/null || :; } |
		sed -n "s/^Selected version '\([^']*\)'.*/\1/p"
}
version=
for r in "$suite" "$suite-security"; do
	v=$(version_in "$r")
	[ -n "$v" ] || continue
	if [ -z "$version" ] || dpkg --compare-versions "$v" gt "$version"; then
		version=$v
	fi
done
[ -n "$version" ] || die "no source package $pkg in $suite or $suite-security"
log "$pkg $version"

# The files of that version, with the SHA256 the signed Sources index gives.
# Some mirrors lack a file a release's index names (trixie: the pool of
# trixie has the .orig.tar.gz, that of trixie-security the .debian.tar.xz,
# neither the .dsc):
# fetch from each release carrying the version, apt skips what it has.
dl=$root/dl/$suite
release_of_version=()
for r in "$suite" "$suite-security"; do
	[ "$(version_in "$r")" = "$version" ] && release_of_version+=("$r")
done
for r in "${release_of_version[@]}"; do
	(cd "$dl" && apt-get "${aptopts[@]}" source --download-only -q "$pkg/$r") \
		> "$dl/fetch-$r.log" 2>&1 ||
		log "not all files are on $r's mirror: $(grep -c '^E: Failed to fetch .*://' "$dl/fetch-$r.log") missing ($dl/fetch-$r.log)"
done
files=$(apt-get "${aptopts[@]}" source --print-uris "$pkg/${release_of_version[0]}" 2>/dev/null |
	awk -v q="'" 'substr($0, 1, 1) == q { sub(/^SHA256:/, "", $4); print $2, $3, $4 }')
dsc=
while read -r f size sha; do
	case $f in *.dsc) dsc=$f; continue ;; esac
	[ -f "$dl/$f" ] || die "$f is on no mirror of $suite / $suite-security"
	[ "$(sha256sum < "$dl/$f" | cut -d' ' -f1)" = "$sha" ] ||
		die "$f: SHA256 differs from the signed Sources index"
done <<< "$files"
[ -n "$dsc" ] || die "the Sources index names no .dsc for $pkg $version"

# Mirrors that lack the .dsc itself: its fields are the Sources record
# (authenticated through the signed InRelease, like the hashes above), so
# write it from there, unsigned: Package: becomes Source:, the index-only
# fields go, the .dsc's own checksum lines go, and Files: (MD5, which
# dpkg-source requires and newer indexes no longer carry) is computed from
# the tarballs already checked against their SHA256.
if [ ! -f "$dl/$dsc" ]; then
	log "$dsc is on no mirror: writing it from the signed Sources record"
	apt-cache "${aptopts[@]}" showsrc "$pkg" |
		awk -v v="$version" -v dsc="$dsc" '
			/^Package:/ { keep = 0; buf = "" }
			/^Version:/ && $2 == v { keep = 1 }
			/^$/ { if (keep && !done) { printf "%s", buf; done = 1 } keep = 0; next }
			/^(Directory|Priority|Section):/ { next }
			/^ / && $NF == dsc { next }
			{ sub(/^Package:/, "Source:"); buf = buf $0 "\n" }
			END { if (keep && !done) printf "%s", buf }' > "$dl/$dsc.tmp"
	grep -q "^Version: $version\$" "$dl/$dsc.tmp" ||
		die "no Sources record of $pkg $version"
	if ! grep -q '^Files:' "$dl/$dsc.tmp"; then
		echo "Files:" >> "$dl/$dsc.tmp"
		while read -r f size sha; do
			case $f in *.dsc) continue ;; esac
			echo " $(md5sum < "$dl/$f" | cut -d' ' -f1) $size $f"
		done <<< "$files" >> "$dl/$dsc.tmp"
	fi
	mv "$dl/$dsc.tmp" "$dl/$dsc"
fi

# --- unpack (Debian's patches applied) -----------------------------------
rm -rf "$dir"
mkdir -p "$dir"
# dpkg-source checks every file against the .dsc; an unsigned or
# unverifiable .dsc is only a warning (the hashes came through apt)
dpkg-source -x "$dl/$dsc" "$dir/src" >&2
if [ -n "$source_only" ]; then
	printf '%s\n' "$key" > "$stamp"
	log "unpacked $pkg $version: $dir/src"
	echo "$dir/src"
	exit 0
fi

# --- Debian's configure options ------------------------------------------
# Run debian/rules' own override_dh_auto_configure with a stand-in for
# debhelper's dh_auto_configure that records what the rules pass to cmake
# and the CFLAGS / LDFLAGS dpkg-buildflags gives with the variables the
# rules export (DEB_BUILD_MAINT_OPTIONS, DEB_CFLAGS_MAINT_APPEND, ...).
mkdir -p "$dir/dh"
cat > "$dir/dh/dh_auto_configure" <<'EOF'
#!/bin/sh
# stand-in for debhelper's dh_auto_configure: records its cmake options
seen=
for a; do
	if [ -n "$seen" ]; then printf '%s\n' "$a"; fi
	[ "$a" = -- ] && seen=1
done > "$LWSB_OUT/args"
for v in CFLAGS CPPFLAGS LDFLAGS; do
	printf '%s\n' "$(dpkg-buildflags --get $v)"
done > "$LWSB_OUT/flags"
EOF
chmod +x "$dir/dh/dh_auto_configure"
(cd "$dir/src" && PATH=$dir/dh:$PATH LWSB_OUT=$dir/dh \
	make -s -f debian/rules override_dh_auto_configure >&2) ||
	die "debian/rules override_dh_auto_configure failed"
mapfile -t debian_args < "$dir/dh/args"
{ read -r cflags; read -r cppflags; read -r ldflags; } < "$dir/dh/flags"
log "debian/rules: ${debian_args[*]}"
[ ${#extra[@]} -eq 0 ] || log "extra: ${extra[*]}"

# --- build and install ---------------------------------------------------
# As dh_auto_configure does for cmake: build type None (the flags are
# dpkg-buildflags'), CPPFLAGS appended to CFLAGS.  Git is hidden from lws's
# configure, as on Debian's buildds: else it would describe *this*
# repository into LWS_BUILD_HASH.  The test apps are not built (Debian
# packages them separately; they do not change the library).
t1=$SECONDS
CFLAGS="$cflags $cppflags" LDFLAGS=$ldflags \
cmake -S "$dir/src" -B "$dir/build" -G "Unix Makefiles" \
	-DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=None \
	-DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON \
	-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
	-DFETCHCONTENT_FULLY_DISCONNECTED=ON \
	-DCMAKE_DISABLE_FIND_PACKAGE_Git=ON \
	-DLWS_WITHOUT_TESTAPPS=ON \
	"${debian_args[@]}" "${extra[@]}" > "$dir/configure.log" 2>&1 ||
	{ tail -40 "$dir/configure.log" >&2; die "cmake configure failed ($dir/configure.log)"; }
cmake --build "$dir/build" -j "$(nproc)" > "$dir/build.log" 2>&1 ||
	{ grep -B2 -A8 -m5 'error' "$dir/build.log" >&2 || tail -40 "$dir/build.log" >&2
	  die "build failed ($dir/build.log)"; }
cmake --install "$dir/build" > "$dir/install.log" 2>&1 ||
	{ tail -20 "$dir/install.log" >&2; die "install failed ($dir/install.log)"; }
# as Debian's package does
find "$prefix" -name libwebsockets_static.pc -delete

pc=$(find "$prefix" -name libwebsockets.pc -printf '%h\n' | head -n1)
[ -n "$pc" ] || die "no libwebsockets.pc under $prefix"
conf=$(find "$prefix/include" -name lws_config.h | head -n1)
if grep -q '^#define LWS_WITH_THREADPOOL' "$conf"; then
	log "note: this lws has LWS_WITH_THREADPOOL (liblwstp refuses to build against it)"
fi
log "built $pkg $version in $((SECONDS - t1)) s (all: $((SECONDS - t0)) s): $prefix"
printf '%s\n%s %s, %s\n' "$key" "$pkg" "$version" "$pc" > "$stamp"
echo "$prefix"
