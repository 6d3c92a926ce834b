#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-ctl in the guest (busybox sh): load/unload/status, each failure's
# message and exit status (man/shmring-ctl.8, EXIT STATUS). TAP on stdout.
#
# Expects the module loaded by the harness (`shmring-ctl load`) and
# /lib/modules/$(uname -r)/extra/shmring.ko with modules.dep; leaves the
# module loaded with default parameters, whatever happens.

CTL=$(command -v shmring-ctl) || { echo "1..0 # SKIP shmring-ctl not built"; exit 0; }
KVER=$(uname -r)
KO=/lib/modules/$KVER/extra/shmring.ko
SYS=/sys/module/shmring
tmp=$(mktemp -d)
n=0
failed=0
holder=""

cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
	if ! defaults_loaded; then
		"$CTL" unload >/dev/null 2>&1
		"$CTL" load
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..45"

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	echo "#   exit status $rc; output:"
	sed 's/^/#   | /' "$tmp/out"
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { if [ "$2" = 0 ]; then pass "$1"; else fail "$1"; fi; }

# run CMD...: output (stdout and stderr) in $tmp/out, exit status in $rc.
run() {
	"$@" >"$tmp/out" 2>&1
	rc=$?
}

# printed TEXT: the output has TEXT, or is empty if TEXT is "".
printed() {
	if [ -n "$1" ]; then
		grep -qF -- "$1" "$tmp/out"
	else
		[ ! -s "$tmp/out" ]
	fi
}

# expect DESC STATUS TEXT CMD...: CMD exits with STATUS and prints TEXT;
# TEXT "" means it prints nothing at all (success is silent).
expect() {
	desc=$1 want=$2 text=$3
	shift 3
	run "$@"
	if [ "$rc" = "$want" ] && printed "$text"; then
		pass "$desc"
	else
		echo "#   wanted status $want and ${text:+"'$text'"}${text:-no output}"
		fail "$desc"
	fi
}

param() { cat "$SYS/parameters/$1" 2>/dev/null; }

defaults_loaded() {
	[ -d "$SYS" ] && [ "$(param default_size)" = 1048576 ] &&
		[ "$(param max_size)" = 67108864 ] &&
		[ "$(param max_total)" = 1073741824 ] &&
		[ "$(param max_user)" = 268435456 ] && [ "$(param max_rings)" = 1024 ]
}

# as_nobody CMD...: run CMD as the unprivileged user nobody.
as_nobody() {
	su nobody -s /bin/sh -c "$*"
}

# --- the harness loaded the module ------------------------------------------

expect "status: loaded, exit 0" 0 "shmring: loaded (live)" "$CTL" status
grep -q "device: */dev/shmring (character device [0-9]*:[0-9]*, mode 0[0-7]*)" "$tmp/out"
check "status shows /dev/shmring, its major:minor and mode" $?
grep -q "max_size *= 67108864" "$tmp/out"
check "status shows the parameters" $?
expect "status --json: loaded" 0 '"loaded": true' "$CTL" status --json
grep -q '"exists": true' "$tmp/out" && grep -q '"max_rings": 1024' "$tmp/out"
check "status --json: device and parameters" $?

expect "load while loaded: 'already loaded', exit 7" 7 \
	"shmring is already loaded; use \`shmring-ctl unload\` first" "$CTL" load

# --- a module that depends on shmring (shmring_kunit on the debug kernel) -----

holders=$(ls "$SYS/holders" 2>/dev/null)
if [ -n "$holders" ]; then
	first=${holders%%[!A-Za-z0-9_-]*}
	expect "unload while $first depends on it: busy, exit 11" 11 \
		"shmring is in use by the module(s) $first" "$CTL" unload
	# They have done their job (KUnit runs at insmod); unloading shmring
	# is what is tested here.
	for m in $holders; do
		rmmod "$m" || echo "# could not rmmod $m: the unload tests will fail"
	done
	echo "# removed $(echo "$holders" | tr "\n" " ")(depends on shmring) to test unloading"
else
	skip "unload while another module depends on it" "no module depends on shmring"
fi

# --- unprivileged ---------------------------------------------------------------

if as_nobody "test \$(id -u) = 65534" 2>/dev/null; then
	expect "load as nobody: needs root, exit 4" 4 \
		"shmring-ctl: loading modules needs root (try sudo)" as_nobody "$CTL" load
	expect "unload as nobody: needs root, exit 4" 4 \
		"unloading modules needs root" as_nobody "$CTL" unload
	expect "status as nobody works" 0 "shmring: loaded" as_nobody "$CTL" status
	# /dev/shmring closed to others (as the udev rule makes it, 0660 and
	# a group): the error names the device and the way in, not a ring.
	"$CTL" create devmode >/dev/null 2>&1 && "$CTL" chmod devmode 0666
	devmode=$(stat -c %a /dev/shmring)
	chmod 0660 /dev/shmring
	expect "device 0660, nobody not in its group: the device refuses, exit 4" 4 \
		"devmode: permission denied by /dev/shmring itself (group root, mode 0660): join its group (\`usermod -aG root USER\`, then log in again)" \
		as_nobody "$CTL" write devmode x
	# libshmring's own text says the same, for every tool (shmring-dump).
	expect "device 0660: shmring-dump names the device, not the ring's mode" 1 \
		"devmode: permission denied by /dev/shmring itself: its group and mode" \
		as_nobody "$(command -v shmring-dump)" devmode
	chmod 0664 /dev/shmring
	expect "device 0664: read-only for nobody, said so, exit 4" 4 \
		"devmode: permission denied: /dev/shmring is read-only for you (group root, mode 0664), or the ring's mode refuses (\`shmring-ctl stat devmode\` shows it)" \
		as_nobody "$CTL" write devmode x
	chmod "$devmode" /dev/shmring
	expect "device open again: nobody writes to the 0666 ring" 0 "" as_nobody "$CTL" write devmode x
	"$CTL" delete devmode
else
	skip "load as nobody" "cannot switch to user nobody"
	skip "unload as nobody" "cannot switch to user nobody"
	skip "status as nobody" "cannot switch to user nobody"
	skip "device 0660: the device refuses" "cannot switch to user nobody"
	skip "device 0660: shmring-dump names the device" "cannot switch to user nobody"
	skip "device 0664: read-only for nobody" "cannot switch to user nobody"
	skip "device open again" "cannot switch to user nobody"
fi

# --- unload ---------------------------------------------------------------------

expect "unload" 0 "" "$CTL" unload
expect "status after unload: not loaded, exit 3" 3 "shmring: not loaded" "$CTL" status
[ ! -e /dev/shmring ] && [ ! -d "$SYS" ]
check "/dev/shmring and $SYS are gone" $?
grep -qF "device:     /dev/shmring missing" "$tmp/out"
check "status says /dev/shmring is missing" $?
expect "status --json: not loaded, exit 3" 3 '"loaded": false' "$CTL" status --json
expect "unload when not loaded: 'not loaded', exit 3" 3 \
	"shmring-ctl: shmring is not loaded" "$CTL" unload

# --- load failures ----------------------------------------------------------------

expect "load max_size=3: parameter rejected, exit 8" 8 \
	"the kernel rejected a parameter; see dmesg" "$CTL" load max_size=3
grep -q "max_size" "$tmp/out" && grep -qF "kernel log:" "$tmp/out"
check "the kernel's complaint is shown" $?
[ ! -d "$SYS" ]
check "module not loaded after the rejected parameter" $?
expect "load max_rings=0: rejected by the module's init, exit 8" 8 \
	"rejected a parameter" "$CTL" load max_rings=0
expect "load --module missing file: not found, exit 5" 5 \
	"module file /nonexistent/shmring.ko not found" \
	"$CTL" load --module /nonexistent/shmring.ko
echo "not a module" >"$tmp/shmring.ko"
expect "load --module of a text file: bad format, exit 6" 6 \
	"is not a kernel module (bad format)" "$CTL" load -m "$tmp/shmring.ko"
# Same module, one byte of vermagic changed: the kernel refuses it.
vermagic=$(modinfo -F vermagic "$KO" 2>/dev/null)
case $vermagic in
*" mod_unload "*)
	sed 's/ mod_unload / mod_unlo4d /' "$KO" >"$tmp/shmring.ko"
	expect "load a module built for another kernel: exit 6" 6 \
		"was built for a different kernel (vermagic ${vermagic%% *} " \
		"$CTL" load -m "$tmp/shmring.ko"
	grep -qF "running $KVER)" "$tmp/out"
	check "the message names the running kernel" $?
	;;
*)
	skip "load a module built for another kernel" "no mod_unload in vermagic"
	skip "the message names the running kernel" "no mod_unload in vermagic"
	;;
esac
rm -f "$tmp/shmring.ko"
expect "load with a malformed parameter: usage, exit 2" 2 \
	"invalid module parameter '1024'" "$CTL" load 1024
[ ! -d "$SYS" ]
check "still not loaded after the failures" $?

# --- load --module PATH with parameters ---------------------------------------------

expect "load --module $KO max_rings=7" 0 "" "$CTL" load --module "$KO" max_rings=7
[ "$(param max_rings)" = 7 ] && [ "$(param max_size)" = 67108864 ]
check "the parameter reached the module" $?
[ -c /dev/shmring ]
check "/dev/shmring exists after load" $?
run "$CTL" status
grep -q "max_rings *= 7$" "$tmp/out"
check "status shows max_rings = 7" $?

# --- busy -----------------------------------------------------------------------------

# shellcheck disable=SC2217 # holding the file open is the point
sleep 30 </dev/shmring &
holder=$!
i=0
while [ "$(cat "$SYS/refcnt" 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
expect "unload while /dev/shmring is open: busy, exit 11" 11 \
	"shmring is in use by 1 user (open rings or mappings); close them first" \
	"$CTL" unload
[ -d "$SYS" ] && [ -c /dev/shmring ]
check "still loaded after the refused unload" $?
expect "status counts the user" 0 "users:      1" "$CTL" status
kill "$holder"
wait "$holder" 2>/dev/null
holder=""
expect "unload after the holder exited" 0 "" "$CTL" unload

# --- unknown parameter: kernel ignores it, shmring-ctl warns ------------------------

expect "load bogus=1: loads, with a warning" 0 "shmring has no parameter 'bogus'" \
	"$CTL" load bogus=1
expect "unload" 0 "" "$CTL" unload

# --- command line ------------------------------------------------------------------------

expect "-V prints the version" 0 "shmring-ctl " "$CTL" -V
expect "unknown command: usage, exit 2" 2 "Usage: shmring-ctl" "$CTL" frobnicate
expect "load --help" 0 "Usage: shmring-ctl load" "$CTL" load --help

# --- leave it loaded, with defaults, through the modules.dep lookup -------------------

expect "load (modules.dep lookup, defaults)" 0 "" "$CTL" load
defaults_loaded
check "loaded with default parameters" $?
[ "$failed" = 0 ]
