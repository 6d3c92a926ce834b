#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make install` and what it installs, natively (no VM, no module), as TAP:
#
#   - `make lib`, then `make install DESTDIR=$tmp PREFIX=/usr/local`, both
#     with a build directory of their own (B=$tmp/build);
#   - the installed tree: libshmring.so.MAJOR (soname, links; MAJOR from
#     the file VERSION), libshmring.a, shmring.h and linux/shmring.h
#     (identical to the sources), shmring-version.h (the version of the
#     file VERSION), shmring.pc (version VERSION),
#     every man/*.[1-9] page (installed, rendered by groff without a warning);
#   - the symbols the .so exports are exactly the names in
#     lib/libshmring.map, and lib/shmring.h declares exactly those functions;
#   - every exported function has man/<name>.3, and its SYNOPSIS shows the
#     prototype of lib/shmring.h (so a new function without a page fails);
#   - every examples/*.c, and the example program of shmring(7), compiles
#     against the installed copy, with the flags of
#     `pkg-config --cflags --libs shmring`, as C and as C++ with
#     -Wall -Wextra -Werror, links against libshmring.so.MAJOR (ldd) and
#     against libshmring.a.  Nothing is run.
#
# The .pc file holds absolute paths under PREFIX, so pkg-config is pointed
# into DESTDIR with PKG_CONFIG_SYSROOT_DIR (--define-prefix cannot relocate
# absolute libdir/includedir).
#
# The plan line comes last.  Exit status 1 when anything failed.
# Environment: CC, CXX (default cc, c++); KEEP=1 keeps the temporary tree.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

CC=${CC:-cc}
CXX=${CXX:-c++}
PREFIX=/usr/local
WARN=(-Wall -Wextra -Werror)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shmring-install.XXXXXX") || exit 1
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "# kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

B=$TMP/build		# make's build directory
DEST=$TMP/root		# DESTDIR
P=$DEST$PREFIX		# the installed prefix
LIBDIR=$P/lib
INCDIR=$P/include
MANDIR=$P/share/man
PCDIR=$LIBDIR/pkgconfig
OUT=$TMP/out		# compiled programs and logs
mkdir -p "$OUT"

# The one version (the file VERSION) and the soname it gives.
version=$(cat VERSION 2>/dev/null)
vmajor=${version%%.*}
vminor=${version#*.}
vminor=${vminor%%.*}
SONAME=libshmring.so.$vmajor

n=0 failed=0

# check DESCRIPTION STATUS [LOG]: one TAP line; on failure the end of LOG
# (or of $OUT/last.log) as diagnostics.
check() {
	local desc=$1 status=$2 log=${3:-$OUT/last.log}
	n=$((n + 1))
	if [ "$status" -eq 0 ]; then
		echo "ok $n - $desc"
	else
		failed=$((failed + 1))
		echo "not ok $n - $desc"
		[ -s "$log" ] && tail -n 25 "$log" | sed 's/^/#   /'
	fi
	: >"$OUT/last.log"
}

# note TEXT...: a diagnostic line for the last check.
note() { echo "#   $*"; }

# run CMD...: run with output into $OUT/last.log.
run() { "$@" >>"$OUT/last.log" 2>&1; }

# pc ARGS...: pkg-config on the installed shmring.pc only.
pc() {
	PKG_CONFIG_PATH=$PCDIR PKG_CONFIG_LIBDIR=$PCDIR \
	PKG_CONFIG_SYSROOT_DIR=$DEST pkg-config "$@"
}

# The library's functions: names between "global:" and "local:" of the map.
map_names() {
	sed -n '/global:/,/local:/p' lib/libshmring.map |
		sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);.*/\1/p' | sort
}

# Version nodes defined by the map ("NAME {").
map_nodes() {
	sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_.]*\)[[:space:]]*{.*/\1/p' \
		lib/libshmring.map | sort
}

# Defined dynamic symbols of the installed .so as "name version" lines,
# without the version definitions themselves (type A).
so_symbols() {
	nm -D --defined-only "$LIBDIR/$SONAME" 2>/dev/null |
		awk '$2 != "A" { v = $3; sub(/@+.*/, "", $3);
			sub(/^[^@]*@+/, "", v); if (v == $3) v = "";
			print $3, v }' | sort
}

# Functions lib/shmring.h declares: "type name(" at the start of a line.
header_names() {
	sed -n 's/^[A-Za-z].*[ *]\(shmring_[a-z0-9_]*\)(.*/\1/p' lib/shmring.h | sort -u
}

# header_proto NAME: the declaration of NAME in lib/shmring.h, whitespace
# removed.
header_proto() {
	awk -v f="$1" '
		!p && $0 ~ ("^[A-Za-z].*[ *]" f "\\(") { p = 1 }
		p { s = s $0; if (index($0, ";")) { print s; exit } }' lib/shmring.h |
		tr -d ' \t\n'
}

# man_source NAME: the source page documenting NAME, following one
# ".so man3/X.3" link.
man_source() {
	local page=man/$1.3 target
	[ -f "$page" ] || return 1
	target=$(sed -n '1s/^\.so[[:space:]]\{1,\}man3\/\(.*\)$/\1/p' "$page")
	[ -n "$target" ] && page=man/$target
	[ -f "$page" ] && echo "$page"
}

# man_synopsis PAGE: the SYNOPSIS section rendered as plain text,
# whitespace removed.
man_synopsis() {
	groff -man -Tascii -P-cbou "$1" 2>/dev/null |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | tr -d ' \t\n'
}

echo "# installing into $DEST (build directory $B)"

# --- build and install --------------------------------------------------------
run make --no-print-directory B="$B" lib
check "make lib" $?

run make --no-print-directory B="$B" install NO_MODULE=1 DESTDIR="$DEST" PREFIX="$PREFIX"
status=$?
if [ $status -ne 0 ] && grep -q 'missing destination file operand' "$OUT/last.log"; then
	note "UTILS is empty (no utils/shmring-*.c), so the recipe's"
	note "'install -m 755 \$(UTILS) \$(DESTDIR)\$(BINDIR)/' has no file to install;"
	note "everything after it (shmring.pc, man pages) is not installed"
fi
check "make install NO_MODULE=1 DESTDIR=\$tmp PREFIX=$PREFIX" $status

# --- module, DKMS sources, boot files (docs/install.md) ----------------------
# The module for the newest Debian headers (the host's own kernel has no
# module support, so KVER is given), into DESTDIR: no depmod there.
kver=$(ls -d /lib/modules/*-amd64/build 2>/dev/null | sed 's|/lib/modules/||; s|/build||' | sort -V | tail -n 1)
if [ -n "$kver" ]; then
	: >"$OUT/last.log"
	run make --no-print-directory modules_install KVER="$kver" DESTDIR="$TMP/mod"
	status=$?
	ko=$TMP/mod/lib/modules/$kver/updates/shmring.ko
	[ $status -eq 0 ] && [ "$(modinfo -F vermagic "$ko" 2>/dev/null | cut -d' ' -f1)" = "$kver" ] &&
		grep -q 'not running depmod' "$OUT/last.log"
	check "make modules_install KVER=$kver DESTDIR=...: updates/shmring.ko for $kver, no depmod" $?
	: >"$OUT/last.log"
	run make --no-print-directory modules_install KVER=0.0.0-none DESTDIR="$TMP/mod2"
	[ $? -ne 0 ] && grep -q 'was built for kernel .*not KVER=0.0.0-none' "$OUT/last.log" &&
		[ ! -e "$TMP/mod2/lib/modules/0.0.0-none/updates/shmring.ko" ]
	check "make modules_install refuses a module built for another kernel, with a message" $?
else
	echo "ok $((n += 1)) - make modules_install # SKIP no linux-headers-*-amd64"
fi
: >"$OUT/last.log"
run make --no-print-directory dkms-source DESTDIR="$TMP/dkms"
status=$?
src=$TMP/dkms/usr/src/shmring-$version
for f in Kbuild VERSION include/uapi/linux/shmring.h kmod/Kbuild $(cd kmod && ls *.c *.h | grep -v '\.mod\.c$' | sed 's|^|kmod/|'); do
	cmp -s "$f" "$src/$f" || { note "dkms-source: $f missing or different"; status=1; }
done
grep -qx "PACKAGE_VERSION=\"$version\"" "$src/dkms.conf" || { note "dkms.conf: no PACKAGE_VERSION=\"$version\""; status=1; }
check "make dkms-source: /usr/src/shmring-$version holds Kbuild, kmod/, the UAPI header, VERSION, dkms.conf" $status
: >"$OUT/last.log"
run make --no-print-directory install-conf DESTDIR="$TMP/conf"
status=$?
for f in lib/udev/rules.d/60-shmring.rules usr/lib/modules-load.d/shmring.conf \
	 etc/modprobe.d/shmring.conf usr/lib/sysusers.d/shmring.conf; do
	[ -f "$TMP/conf/$f" ] || { note "install-conf: no /$f"; status=1; }
done
grep -qx 'shmring' "$TMP/conf/usr/lib/modules-load.d/shmring.conf" || status=1
check "make install-conf: udev rule, modules-load.d, modprobe.d example, sysusers.d" $status

# --- libraries ----------------------------------------------------------------
so=$LIBDIR/$SONAME
real=$(readlink -f "$so" 2>/dev/null)
[ -L "$so" ] && [ -f "$real" ] && [ ! -L "$real" ] && [ "$(dirname "$real")" = "$(readlink -f "$LIBDIR")" ] &&
	[ "${real##*/}" = "libshmring.so.$version" ]
check "lib/$SONAME is a link to the installed shared object (${real##*/}, VERSION $version)" $?

soname=$(readelf -d "$so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "$SONAME" ]
status=$?
[ $status -ne 0 ] && note "readelf -d: SONAME is '${soname:-none}'"
check "readelf -d: soname is $SONAME (major of VERSION $version)" $status

[ -L "$LIBDIR/libshmring.so" ] && [ "$(readlink -f "$LIBDIR/libshmring.so")" = "$real" ] && [ -n "$real" ]
check "lib/libshmring.so (link-time name) leads to the same object" $?

[ -f "$LIBDIR/libshmring.a" ] &&
	nm --defined-only "$LIBDIR/libshmring.a" 2>/dev/null | grep ' T shmring_open$' >/dev/null
check "lib/libshmring.a is installed and defines shmring_open" $?

# --- headers ------------------------------------------------------------------
cmp "$INCDIR/shmring.h" lib/shmring.h >"$OUT/last.log" 2>&1
check "include/shmring.h is installed, identical to lib/shmring.h" $?
cmp "$INCDIR/linux/shmring.h" include/uapi/linux/shmring.h >"$OUT/last.log" 2>&1
check "include/linux/shmring.h is installed, identical to include/uapi/linux/shmring.h" $?
grep -qx "#define SHMRING_LIB_VERSION_MAJOR[[:space:]]*$vmajor" "$INCDIR/shmring-version.h" 2>"$OUT/last.log" &&
	grep -qx "#define SHMRING_LIB_VERSION_MINOR[[:space:]]*$vminor" "$INCDIR/shmring-version.h"
check "include/shmring-version.h is installed: SHMRING_LIB_VERSION_MAJOR/MINOR $vmajor.$vminor (VERSION)" $?

# --- pkg-config -------------------------------------------------------------------
cflags=$(pc --cflags shmring 2>>"$OUT/last.log")
libs=$(pc --libs shmring 2>>"$OUT/last.log")
modversion=$(pc --modversion shmring 2>>"$OUT/last.log")
status=1
if [ -f "$PCDIR/shmring.pc" ] && pc --validate shmring >>"$OUT/last.log" 2>&1 &&
   [ "$modversion" = "$version" ] &&
   [[ " $cflags " == *" -I$INCDIR "* ]] &&
   [[ " $libs " == *" -L$LIBDIR "* ]] && [[ " $libs " == *" -lshmring "* ]]; then
	status=0
else
	note "modversion '$modversion' (VERSION: '$version'), cflags '$cflags', libs '$libs'"
fi
check "lib/pkgconfig/shmring.pc: version $version, -I/-L/-lshmring into the installed tree" $status
read -ra PC_CFLAGS <<<"$cflags"
read -ra PC_LIBS <<<"$libs"
read -ra PC_LIBS_L <<<"$(pc --libs-only-L shmring 2>/dev/null)"

# --- man pages ----------------------------------------------------------------
for src in man/*.[1-9]; do
	[ -f "$src" ] || continue
	page=${src#man/}
	sec=man${page##*.}
	status=1
	if cmp "$MANDIR/$sec/$page" "$src" >>"$OUT/last.log" 2>&1; then
		# From MANDIR, so that ".so man3/..." resolves as it does for man(1).
		(
			cd "$MANDIR" || exit 1
			warn=$(groff -man -z -ww "$sec/$page" 2>&1
			       groff -man -Tutf8 -z -ww "$sec/$page" 2>&1)
			[ -z "$warn" ] || { echo "$warn"; exit 1; }
			lexgrog "$sec/$page" >/dev/null 2>&1 || { echo "lexgrog: no NAME line"; exit 1; }
		) >>"$OUT/last.log" 2>&1
		status=$?
	fi
	check "man page $sec/$page installed, renders without groff warnings" $status
done

# --- exported symbols -----------------------------------------------------------
so_symbols >"$OUT/so.syms"
awk '{ print $1 }' "$OUT/so.syms" >"$OUT/so.names"
map_names >"$OUT/map.names"
diff -u "$OUT/map.names" "$OUT/so.names" | sed 1,2d >"$OUT/last.log"
[ -s "$OUT/so.names" ] && [ ! -s "$OUT/last.log" ]
status=$?
[ $status -ne 0 ] && note "diff: - only in lib/libshmring.map, + only exported by the .so"
check "nm -D: exported symbols are exactly the names in lib/libshmring.map ($(wc -l <"$OUT/so.names"))" $status

# Every exported symbol carries a version node of the map.
map_nodes >"$OUT/map.nodes"
awk '{ print $2 }' "$OUT/so.syms" | sort -u >"$OUT/so.nodes"
comm -23 "$OUT/so.nodes" "$OUT/map.nodes" >"$OUT/last.log"
[ -s "$OUT/so.nodes" ] && [ ! -s "$OUT/last.log" ]
status=$?
[ $status -ne 0 ] && note "symbol versions not defined in lib/libshmring.map (or unversioned):"
check "every exported symbol is versioned with a node of lib/libshmring.map" $status

header_names >"$OUT/header.names"
diff -u "$OUT/header.names" "$OUT/so.names" | sed 1,2d >"$OUT/last.log"
[ -s "$OUT/header.names" ] && [ ! -s "$OUT/last.log" ]
status=$?
[ $status -ne 0 ] && note "diff: - only declared in lib/shmring.h, + only exported"
check "lib/shmring.h declares exactly the exported functions" $status

# --- a man page per exported function ----------------------------------------------
while read -r name; do
	status=1
	page=$(man_source "$name")
	proto=$(header_proto "$name")
	if [ -z "$page" ]; then
		note "man/$name.3 is missing"
	elif [ -z "$proto" ]; then
		note "lib/shmring.h has no prototype of $name"
	elif [[ $(man_synopsis "$page") != *"$proto"* ]]; then
		note "the SYNOPSIS of $page does not show: $proto"
	else
		status=0
	fi
	check "$name: man/$name.3 exists, its SYNOPSIS has the prototype of lib/shmring.h" $status
done <"$OUT/so.names"

# --- the installed header on its own ------------------------------------------------
# A program that takes the address of every exported function, built and
# linked against the installed copy: every function is declared, and in
# C++ with C linkage (a mangled name would not link).
{
	echo '#include <shmring.h>'
	echo 'typedef void (*shmring_fn)(void);'
	echo 'extern const shmring_fn shmring_fns[];'
	echo 'const shmring_fn shmring_fns[] = {'
	sed 's/.*/\t(shmring_fn)&,/' "$OUT/so.names"
	echo '};'
	echo 'int main(void)'
	echo '{'
	echo '	return shmring_fns[0] == 0;'
	echo '}'
} >"$OUT/all-functions.c"
run "$CC" -std=c99 -pedantic "${WARN[@]}" -o "$OUT/all-functions-c" \
	"$OUT/all-functions.c" "${PC_CFLAGS[@]}" "${PC_LIBS[@]}"
check "shmring.h alone: every exported function, C (-std=c99 -pedantic ${WARN[*]}), links" $?
run "$CXX" -x c++ -std=c++11 -pedantic "${WARN[@]}" -o "$OUT/all-functions-c++" \
	"$OUT/all-functions.c" -x none "${PC_CFLAGS[@]}" "${PC_LIBS[@]}"
check "shmring.h alone: every exported function, C++ (-std=c++11 -pedantic ${WARN[*]}), links" $?

# --- programs built against the installed copy ------------------------------------
# build_checks NAME SRC: C build (dynamic), ldd, C++ build, static build.
# Runs nothing.
build_checks() {
	local name=$1 src=$2 exe=$OUT/bin/${1##*/} status

	mkdir -p "$OUT/bin"

	run "$CC" "${WARN[@]}" -o "$exe" "$src" "${PC_CFLAGS[@]}" "${PC_LIBS[@]}"
	check "$name: C (cc ${WARN[*]}) builds against the installed headers and libshmring.so" $?

	status=1
	if [ -x "$exe" ]; then
		LD_LIBRARY_PATH=$LIBDIR ldd -r "$exe" >"$OUT/last.log" 2>&1
		if grep -qF "$SONAME => $LIBDIR/$SONAME " "$OUT/last.log" &&
		   ! grep -qi 'undefined symbol\|not found' "$OUT/last.log"; then
			status=0
			: >"$OUT/last.log"
		fi
	fi
	check "$name: ldd -r shows the installed $SONAME, no undefined symbol" $status

	run "$CXX" -x c++ "${WARN[@]}" -o "$exe-c++" "$src" -x none \
		"${PC_CFLAGS[@]}" "${PC_LIBS[@]}"
	check "$name: C++ (c++ -x c++ ${WARN[*]}) builds against the installed copy" $?

	status=1
	if run "$CC" "${WARN[@]}" -o "$exe-static" "$src" "${PC_CFLAGS[@]}" \
		"${PC_LIBS_L[@]}" -Wl,-Bstatic -lshmring -Wl,-Bdynamic; then
		if readelf -d "$exe-static" 2>&1 | grep -q 'NEEDED.*libshmring'; then
			note "$exe-static still needs libshmring.so"
		else
			status=0
		fi
	fi
	check "$name: links statically against the installed libshmring.a" $status
}

for src in examples/*.c; do
	[ -f "$src" ] || continue
	build_checks "examples/$(basename "$src" .c)" "$src"
done

# The complete example of shmring(7): the lines between the markers, with
# the roff escapes used there undone.
sed -n '/^\.\\" BEGIN EXAMPLE PROGRAM/,/^\.\\" END EXAMPLE PROGRAM/p' man/shmring.7 |
	sed -e '/^\./d' -e 's/\\&//g' -e 's/\\-/-/g' -e 's/\\(aq/'"'"'/g' \
	    -e 's/\\(dq/"/g' -e 's/\\e/\\/g' >"$OUT/ringdemo.c"
status=1
if [ -s "$OUT/ringdemo.c" ]; then
	run "$CC" "${WARN[@]}" -o "$OUT/ringdemo" "$OUT/ringdemo.c" \
		"${PC_CFLAGS[@]}" "${PC_LIBS[@]}"
	status=$?
else
	note "no example program between the markers of man/shmring.7"
fi
check "shmring(7): the example program builds (cc ${WARN[*]}) against the installed copy" $status

echo "1..$n"
[ $failed -eq 0 ]
