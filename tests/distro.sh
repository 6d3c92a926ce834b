#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-distro: the Debian packages on a real Debian 12 system with
# systemd as init, in QEMU/TCG (docs/testing.md, docs/install.md).
#
#   tests/distro.sh          build the .debs, lintian, then three boots
#   tests/distro.sh image    only make sure the cached image is there
#   tests/distro.sh shell    boot a throw-away copy of the image, console on
#                            this terminal (root, no password; Ctrl-A X quits)
#
# 1. The packages are built from a copy of the tree (git ls-files) with
#    `dpkg-buildpackage -us -uc -b`, and lintian must report no error and no
#    warning.
# 2. The image (tests/distro-image.sh) is built once per machine and cached
#    in $CACHE/distro (root.img, initrd.img, stamp); the stamp is the sha256
#    of the recipe and the kernel version, and a different stamp rebuilds.
# 3. Each run boots a copy-on-write overlay of it (qcow2 backed by root.img:
#    the cache stays pristine) three times, holding the VM lock
#    (/tmp/shmring-vm.lock) from the first boot to the last, with Debian's stock kernel of
#    $CACHE/stock (the one tests/vm.sh boots), the image's initrd and
#    systemd as init.  The host talks to the guest through a 9p share: the
#    packages, tests/distro-guest.sh as run.sh, the phase; the guest writes
#    its TAP to the share and powers off.  Phases: install, boot, replay
#    (see tests/distro-guest.sh).
#
# Output: TAP, a plan, and "N passed, N failed, N skipped".  Exit status 1
# when anything failed.  A boot that times out (SHMRING_DISTRO_TIMEOUT,
# default 900 s per boot), a phase that does not finish, or a kernel report
# (BUG, WARNING, KASAN, Oops) on the console fails the run.
# Environment: SHMRING_CACHE (/var/cache/shmring), KEEP=1 keeps the
# temporary directory (overlay, share, console logs).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SHMRING_CACHE:-/var/cache/shmring}
DISTRO=$CACHE/distro
TIMEOUT=${SHMRING_DISTRO_TIMEOUT:-900}
VM_LOCK=/tmp/shmring-vm.lock

N=0 PASS=0 FAIL=0 SKIP=0
tap() {	# tap ok|notok|skip DESC
	N=$((N + 1))
	case $1 in
	ok) PASS=$((PASS + 1)); echo "ok $N - $2" ;;
	skip) SKIP=$((SKIP + 1)); echo "ok $N - $2" ;;
	*) FAIL=$((FAIL + 1)); echo "not ok $N - $2" ;;
	esac
}
finish() {
	echo "1..$N"
	echo "$PASS passed, $FAIL failed, $SKIP skipped"
	[ "$FAIL" -eq 0 ]
	exit $?
}
die() { echo "distro.sh: $*" >&2; exit 2; }

# The stock kernel: the newest cached by tests/vm.sh (which fetches it).
kver() {
	local v
	v=$(ls "$CACHE/stock" 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$v" ] || [ ! -f "$CACHE/stock/$v/root/boot/vmlinuz-$v" ]; then
		bash "$ROOT/tests/vm.sh" build stock >/dev/null 2>&1 || true
		v=$(ls "$CACHE/stock" 2>/dev/null | sort -V | tail -n 1)
	fi
	[ -n "$v" ] || die "no stock kernel in $CACHE/stock (tests/vm.sh build stock fetches it)"
	echo "$v"
}
image_key() {
	{ sha256sum <"$ROOT/tests/distro-image.sh"; echo "$KVER"; } | sha256sum | cut -d' ' -f1
}

ensure_image() {
	local key t0=$SECONDS
	key=$(image_key)
	mkdir -p "$CACHE"
	exec 9>"$CACHE/distro.lock"
	flock 9
	if [ -f "$DISTRO/stamp" ] && [ "$(cat "$DISTRO/stamp")" = "$key" ] &&
	   [ -f "$DISTRO/root.img" ] && [ -f "$DISTRO/initrd.img" ]; then
		echo "# distro image: cached in $DISTRO (stamp $key)"
		flock -u 9
		return 0
	fi
	command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (tests/packages.txt)"
	echo "# distro image: building in $DISTRO.new (stamp $key; about 10 minutes)"
	rm -rf "$DISTRO.new"
	mkdir -p "$DISTRO.new"
	if ! bash "$ROOT/tests/distro-image.sh" build "$KVER" "$DISTRO.new" \
		>"$DISTRO.new/build.log" 2>&1; then
		tail -n 30 "$DISTRO.new/build.log" | sed 's/^/# /'
		flock -u 9
		return 1
	fi
	echo "$key" >"$DISTRO.new/stamp"
	rm -rf "$DISTRO"
	mv "$DISTRO.new" "$DISTRO"
	echo "# distro image: built in $((SECONDS - t0))s"
	flock -u 9
}

# boot PHASE: one boot of the overlay with the share; appends the guest's
# checks as TAP; fails the boot on timeout, no end marker or kernel report.
boot() {
	local phase=$1 log=$TMP/console-$1.log rc t0=$SECONDS line
	echo "$phase" >"$SHARE/phase"
	rm -f "$SHARE/out"
	local qemu=(qemu-system-x86_64 -accel tcg -cpu max,la57=off -smp 2 -m 2048
		-nographic -no-reboot -nic none
		-kernel "$CACHE/stock/$KVER/root/boot/vmlinuz-$KVER"
		-initrd "$DISTRO/initrd.img"
		-append "root=/dev/vda rw console=ttyS0 panic=-1 init=/lib/systemd/systemd systemd.show_status=false"
		-drive "file=$TMP/overlay.qcow2,if=virtio,format=qcow2"
		-virtfs "local,path=$SHARE,mount_tag=host,security_model=none,id=host")
	timeout -k 10 "$TIMEOUT" "${qemu[@]}" </dev/null >"$log" 2>&1
	rc=$?
	echo "# boot '$phase': qemu status $rc after $((SECONDS - t0))s (console: $log)"
	while IFS= read -r line; do
		case $line in
		"ok - "*"# SKIP"*) tap skip "$phase: ${line#ok - }" ;;
		"ok - "*) tap ok "$phase: ${line#ok - }" ;;
		"not ok - "*) tap notok "$phase: ${line#not ok - }" ;;
		"#"*) echo "$line" ;;
		esac
	done < <(tr -d '\r' <"$SHARE/out" 2>/dev/null)
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		tap notok "$phase: the guest finished within ${TIMEOUT}s"
		tail -n 20 "$log" | sed 's/^/#   /'
	fi
	if grep -q "^SHMRING-PHASE-END $phase" "$SHARE/out" 2>/dev/null; then
		tap ok "$phase: the phase ran to its end and the guest powered off"
	else
		tap notok "$phase: the phase ran to its end and the guest powered off"
		tail -n 20 "$log" | sed 's/^/#   /'
	fi
	# Kernel lines only ("[   12.345] ..." on the console, "# dmesg:" from
	# the guest's own scan): a program's output may say WARNING: too.
	if tr -d '\r' <"$log" | grep -E '^(\[ *[0-9]+\.[0-9]+\]|# dmesg:).*(BUG:|WARNING:|KASAN|Oops:|general protection|Kernel panic)' \
		>"$TMP/reports"; then
		tap notok "$phase: no kernel report on the console"
		head -n 20 "$TMP/reports" | sed 's/^/#   /'
	else
		tap ok "$phase: no kernel report on the console"
	fi
}

shell() {
	ensure_image || die "image build failed"
	qemu-img create -q -f qcow2 -F raw -b "$DISTRO/root.img" "$TMP/overlay.qcow2"
	qemu-system-x86_64 -accel tcg -cpu max,la57=off -smp 2 -m 2048 -nographic -nic none \
		-kernel "$CACHE/stock/$KVER/root/boot/vmlinuz-$KVER" -initrd "$DISTRO/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0 init=/lib/systemd/systemd" \
		-drive "file=$TMP/overlay.qcow2,if=virtio,format=qcow2"
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shmring-distro.XXXXXX") || exit 2
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "# kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
KVER=$(kver) || exit 2

case "${1:-}" in
image) ensure_image; exit $? ;;
shell) shell; exit $? ;;
"") ;;
*) die "usage: $0 [image|shell]" ;;
esac

echo "# distro VM test: Debian 12 with systemd, kernel $KVER"
T0=$SECONDS

# 1. The packages, from a clean copy of the tree.
mkdir -p "$TMP/src/shmring"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 tar cf - 2>/dev/null) |
		tar xf - -C "$TMP/src/shmring"
else
	(cd "$ROOT" && tar cf - --exclude=./build --exclude=./debian/tmp .) | tar xf - -C "$TMP/src/shmring"
fi
if (cd "$TMP/src/shmring" && dpkg-buildpackage -us -uc -b) >"$TMP/dpkg-buildpackage.log" 2>&1; then
	tap ok "dpkg-buildpackage -us -uc -b builds the packages"
else
	tap notok "dpkg-buildpackage -us -uc -b builds the packages"
	tail -n 30 "$TMP/dpkg-buildpackage.log" | sed 's/^/#   /'
	finish
fi
ls "$TMP"/src/*.deb | sed 's|.*/|# built |'
lintian --pedantic --display-info "$TMP"/src/shmring_*.changes >"$TMP/lintian.log" 2>&1
if grep -E '^[EW]: ' "$TMP/lintian.log" >"$TMP/lintian.bad"; then
	tap notok "lintian: no error and no warning"
	sed 's/^/#   /' "$TMP/lintian.bad"
else
	tap ok "lintian: no error and no warning"
fi
grep -E '^[IP]: ' "$TMP/lintian.log" | sed 's/^/# lintian: /'

# 2. The image.
if ! ensure_image; then
	tap notok "the Debian 12 image is built (tests/distro-image.sh)"
	finish
fi

# 3. Three boots of one overlay.
SHARE=$TMP/share
mkdir -p "$SHARE/debs"
cp "$TMP"/src/shmring-dkms_*.deb "$TMP"/src/shmring-tools_*.deb \
   "$TMP"/src/libshmring0_*.deb "$TMP"/src/libshmring-dev_*.deb "$SHARE/debs/"
cp "$ROOT/tests/distro-guest.sh" "$SHARE/run.sh"
cat "$ROOT/VERSION" >"$SHARE/version"
qemu-img create -q -f qcow2 -F raw -b "$DISTRO/root.img" "$TMP/overlay.qcow2" ||
	die "qemu-img create failed"
# The shared VM lock (2 cores for everyone) is taken once for the three
# boots: a reboot must not wait behind other users' whole test suites.
echo "# waiting for the VM lock ($VM_LOCK)"
exec 8>>"$VM_LOCK"
flock 8
T1=$SECONDS
for phase in install boot replay; do
	boot "$phase"
done
flock -u 8
echo "# three boots in $((SECONDS - T1))s; whole run $((SECONDS - T0))s"
finish
