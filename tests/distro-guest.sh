#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest side of tests/distro.sh, run as root inside the Debian 12 VM by
# shmring-test-runner.service (tests/distro-image.sh) once per boot, with the
# share on /mnt/host.  The phase is /mnt/host/phase:
#
#   install  apt installs /mnt/host/debs/*.deb; DKMS built the module for the
#            running kernel, and for a second kernel whose headers are
#            installed afterwards (a kernel upgrade); a ring config and a capture config in
#            /etc/shmring, both units enabled; then the VM is powered off
#   boot     (after a restart) the module was loaded at boot, /dev/shmring
#            is root:shmring 0660, the ring unit made the ring with its
#            owner and mode, a user outside the group is refused, records
#            written by a group member are captured, rotated and pruned,
#            `systemctl stop` leaves no process behind
#   replay   (after another restart) the ring is new and empty, replay puts
#            the captured records back; then apt remove and a purge leave
#            nothing behind
#   purge    only the purge and its checks (after remove; for debugging)
#
# Each check prints `ok - DESC` or `not ok - DESC` (and `# ...` lines of
# evidence); tests/distro.sh numbers them and counts.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
PHASE=$(cat /mnt/host/phase 2>/dev/null)
STATE=/root/shmring-test		# kept on the disk between boots
mkdir -p "$STATE"
OUT=/tmp/check.out

ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; [ -s "$OUT" ] && head -n 30 "$OUT" | sed 's/^/#   /'; }
skip() { echo "ok - $1 # SKIP $2"; }
# check DESC CMD...: CMD's success is the check; its output is the evidence.
check() {
	local d=$1
	shift
	if "$@" >"$OUT" 2>&1; then ok "$d"; else notok "$d"; fi
}
# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	local n=$(( $1 * 5 ))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	"$@"
}
have_unit() { [ -f "/lib/systemd/system/$1" ] || [ -f "/usr/lib/systemd/system/$1" ]; }
payloads() { grep -o 'rec-[0-9]*-x*' | sort; }

KVER=$(uname -r)
echo "# phase $PHASE, kernel $KVER"

phase_install() {
	mkdir -p /tmp/debs
	cp /mnt/host/debs/*.deb /tmp/debs/
	chmod 644 /tmp/debs/*.deb
	echo "# installing: $(cd /tmp/debs && echo *.deb)"
	check "apt install ./*.deb (the four packages, DKMS builds the module)" \
		apt-get install -y --no-install-recommends /tmp/debs/*.deb
	[ -s "$OUT" ] && tail -n 15 "$OUT" | sed 's/^/#   /'
	check "dkms status: shmring installed for the running kernel $KVER" \
		sh -c "dkms status | tee /dev/stderr | grep -E '^shmring/[0-9.]+, $KVER, [^:]*: installed'"
	check "the module is in /lib/modules/$KVER/updates (DEST_MODULE_LOCATION)" \
		sh -c "ls /lib/modules/$KVER/updates/dkms/shmring.ko* /lib/modules/$KVER/updates/shmring.ko* 2>/dev/null | grep ."
	check "modinfo shmring finds the DKMS module (depmod ran), version $(cat /mnt/host/version)" \
		sh -c "modinfo -F version shmring | grep -x '$(cat /mnt/host/version)'"
	check "group shmring exists (sysusers)" getent group shmring
	# A kernel upgrade: the headers of another kernel arrive after shmring.
	local deb other
	deb=$(ls /opt/kernel-upgrade/linux-headers-*-amd64_*.deb 2>/dev/null | head -n 1)
	if [ -n "$deb" ]; then
		other=$(dpkg-deb -f "$deb" Package | sed 's/^linux-headers-//')
		check "kernel upgrade: apt installs linux-headers-$other, DKMS builds shmring for it" \
			sh -c "apt-get install -y /opt/kernel-upgrade/*.deb &&
			       dkms status | tee /dev/stderr | grep -E '^shmring/[0-9.]+, $other, [^:]*: installed'"
		check "kernel upgrade: /lib/modules/$other/updates/dkms/shmring.ko is built for $other" \
			sh -c "modinfo -F vermagic /lib/modules/$other/updates/dkms/shmring.ko* | tee /dev/stderr | cut -d' ' -f1 | grep -x '$other'"
	else
		skip "kernel upgrade: DKMS builds shmring for a second kernel" "no second kernel's headers in the image"
	fi
	check "udev rule, modules-load.d, modprobe.d example and sysusers file installed" \
		ls /lib/udev/rules.d/60-shmring.rules /usr/lib/modules-load.d/shmring.conf \
		   /etc/modprobe.d/shmring.conf /usr/lib/sysusers.d/shmring.conf
	check "the library, headers and pkg-config file are installed" \
		sh -c 'ldconfig -p | grep -q "libshmring.so.0 " && test -f /usr/include/shmring.h && pkg-config --exists shmring 2>/dev/null || test -f /usr/lib/x86_64-linux-gnu/pkgconfig/shmring.pc'
	# Two users: alice may use /dev/shmring (group shmring), bob may not.
	useradd -m -G shmring alice
	useradd -m bob
	# The ring and its capture, as an operator would configure them.
	mkdir -p /etc/shmring
	cat >/etc/shmring/test.conf <<'EOF'
size = 64k
policy = overwrite
owner = alice:shmring
mode = 0640
EOF
	cat >/etc/shmring/capture-test.conf <<'EOF'
CAPTURE_OPTS="--subscribe=capture --rotate-size=4096 --keep=4"
EOF
	if have_unit shmring-ring@.service && have_unit shmring-capture@.service; then
		check "systemctl enable shmring-ring@test shmring-capture@test" \
			systemctl enable shmring-ring@test.service shmring-capture@test.service
	else
		skip "systemctl enable shmring-ring@test shmring-capture@test" \
			"no shmring-ring@.service/shmring-capture@.service in the packages"
	fi
	# Not loaded yet: the module must come up at the next boot by itself.
	check "shmring is not loaded before the reboot" sh -c '! grep -q "^shmring " /proc/modules'
}

phase_boot() {
	local n files
	check "the module was loaded at boot (modules-load.d)" grep '^shmring ' /proc/modules
	check "systemd-modules-load.service succeeded" systemctl is-active systemd-modules-load.service
	check "/dev/shmring is root:shmring, mode 0660 (udev rule)" \
		sh -c 'stat -c "%U:%G %a" /dev/shmring | tee /dev/stderr | grep -x "root:shmring 660"'
	check "bob (not in group shmring) cannot open /dev/shmring" \
		sh -c '! su bob -s /bin/sh -c "exec 3</dev/shmring"'
	check "alice (in group shmring) can open /dev/shmring" \
		su alice -s /bin/sh -c "exec 3</dev/shmring"
	if ! have_unit shmring-ring@.service; then
		skip "ring unit, capture unit, rotation, stop, replay" "units not packaged"
		return
	fi
	check "shmring-ring@test.service is active" systemctl is-active shmring-ring@test.service
	check "ring test exists, owned by alice:shmring, mode 0640 (/etc/shmring/test.conf)" \
		sh -c 'shmring-ctl stat test | tee /dev/stderr | grep -E "^ *mode: *0640" &&
		       shmring-ctl stat test | grep -E "^ *owner: *alice \(uid [0-9]+\), group shmring"'
	check "shmring-capture@test.service is active" \
		wait_for 30 systemctl is-active shmring-capture@test.service
	# 120 records of about 150 bytes: about 22 KiB, some 6 files of 4 KiB.
	for n in $(seq -w 1 120); do
		printf 'rec-%s-%s\n' "$n" "$(printf 'x%.0s' $(seq 140))"
	done >"$STATE/written.txt"
	check "alice (group shmring) writes 120 records" \
		sh -c "su alice -s /bin/sh -c 'shmring-ctl write test --lines' <$STATE/written.txt"
	# The dumper follows with its durable subscription; give it time.
	sleep 5
	check "systemctl stop shmring-capture@test.service" \
		timeout 60 systemctl stop shmring-capture@test.service
	check "no shmring-dump process is left after the stop" \
		sh -c '! pgrep -a shmring-dump'
	check "shmring-capture@test.service is inactive (not failed) after the stop" \
		sh -c 'systemctl is-active shmring-capture@test.service; test "$(systemctl is-active shmring-capture@test.service)" = inactive'
	files=$(ls /var/lib/shmring/capture/test/ 2>/dev/null | wc -l)
	ls -l /var/lib/shmring/capture/test/ 2>&1 | sed 's/^/#   /'
	check "the capture rotated into several files and kept at most 4 (--keep=4): $files" \
		test "$files" -ge 2 -a "$files" -le 4
	rm -rf "$STATE/cap"
	cp -a /var/lib/shmring/capture/test "$STATE/cap"
	for f in "$STATE"/cap/*; do shmring-dump -r "$f"; done | payloads >"$STATE/captured.txt"
	n=$(wc -l <"$STATE/captured.txt")
	check "the kept files hold the newest records, intact ($n records)" \
		sh -c "test $n -gt 0 && payloads() { grep -o 'rec-[0-9]*-x*' | sort; }; tail -n $n $STATE/written.txt | payloads | cmp - $STATE/captured.txt"
}

phase_replay() {
	local n
	if have_unit shmring-ring@.service && [ -s "$STATE/captured.txt" ]; then
		check "after the reboot, the ring unit made ring test again, empty" \
			sh -c 'systemctl is-active shmring-ring@test.service && shmring-dump test | tee /dev/stderr | wc -l | grep -x 0'
		systemctl stop shmring-capture@test.service
		check "shmring-ctl replay puts the captured records into the fresh ring" \
			sh -c "shmring-ctl replay $STATE/cap/* test"
		n=$(wc -l <"$STATE/captured.txt")
		check "the ring holds the $n captured records again, same payloads, same order" \
			sh -c "shmring-dump test | grep -o 'rec-[0-9]*-x*' >$STATE/replayed.txt; sort -c $STATE/replayed.txt && cmp $STATE/replayed.txt $STATE/captured.txt"
	else
		skip "replay after the reboot" "units not packaged or nothing captured"
	fi
	check "apt remove of the four packages" \
		apt-get remove -y shmring-tools shmring-dkms libshmring-dev libshmring0
	check "after remove: no shmring.ko under /lib/modules/*/updates" \
		sh -c '! find /lib/modules/*/updates -name "shmring.ko*" | grep .'
	check "after remove: no /usr/src/shmring-*, no DKMS tree entry" \
		sh -c '! ls -d /usr/src/shmring-* /var/lib/dkms/shmring 2>/dev/null | grep . && ! dkms status | grep shmring'
	check "after remove: no units, no udev rule, no modules-load.d file" \
		sh -c '! ls /lib/systemd/system/shmring-* /lib/udev/rules.d/60-shmring.rules /usr/lib/modules-load.d/shmring.conf 2>/dev/null | grep .'
	# (shmring-test-runner, the image's own runner, is not ours.)
	check "after remove: no stray shmring process" \
		sh -c '! pgrep -a "^shmring-(dump|ctl|bench)$"'
	check "after remove: the conffile /etc/modprobe.d/shmring.conf stays until purge" \
		test -f /etc/modprobe.d/shmring.conf
	phase_purge
}

# Purge after remove.  apt cannot purge what it removed when the packages
# came from files (no archive knows them any more: "Unable to locate
# package"), so the removed packages are purged with dpkg --purge, which is
# what apt runs; packages still installed would go through apt-get purge.
phase_purge() {
	check "purge of the four packages (dpkg --purge after apt remove)" \
		dpkg --purge shmring-tools shmring-dkms libshmring-dev libshmring0
	check "after purge: dpkg knows no shmring package" \
		sh -c '! dpkg -l | grep -E "^[a-z]{2} +(shmring|libshmring)"'
	check "after purge: no config (/etc/modprobe.d/shmring.conf, /etc/shmring), no state (/var/lib/shmring)" \
		sh -c '! ls -d /etc/modprobe.d/shmring.conf /etc/shmring /var/lib/shmring 2>/dev/null | grep .'
	check "after purge: no enabled unit links, no file of ours left anywhere" \
		sh -c '! find /etc /lib /usr /var/lib/dkms -name "*shmring*" ! -name "shmring-test-runner*" 2>/dev/null | grep .'
}

case "$PHASE" in
install) phase_install ;;
boot) phase_boot ;;
replay) phase_replay ;;
purge) phase_purge ;;
*) echo "not ok - unknown phase '$PHASE'" ;;
esac
# Kernel reports of this boot so far, for the host's scan too.
dmesg | grep -E 'BUG:|WARNING:|KASAN|Oops|Call Trace' | sed 's/^/# dmesg: /'
echo "SHMRING-PHASE-END $PHASE"
