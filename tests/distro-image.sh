#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The recipe of the distro VM's disk image: a Debian 12 system with systemd
# as init, built from the package archive by mmdebstrap, for tests/distro.sh.
# The image is cached; its stamp is the sha256 of this file plus the kernel
# version, so any change here rebuilds it (and nothing else does).
#
#   tests/distro-image.sh build KVER OUTDIR     -> OUTDIR/root.img, initrd.img
#   tests/distro-image.sh customize TREE        (mmdebstrap's hook, internal)
#
# What is in it: systemd, udev, kmod, dkms, build-essential, apt, procps,
# the stock kernel's modules (linux-image-KVER-unsigned, whose postinst makes
# the initrd the VM boots with: the root disk's virtio_blk and ext4 are
# modules) and its headers (linux-headers-KVER, for DKMS).  No network in
# the guest: everything a test installs must already be in the image or
# come through the 9p share.
#
# The guest side of the test is generic and fixed here: at the end of boot
# shmring-test-runner.service mounts the 9p share tagged "host" on
# /mnt/host, runs /mnt/host/run.sh (written by tests/distro.sh for each boot)
# with its output in /mnt/host/out and on the console, and powers off.
# Without a share it does nothing, so the image also boots interactively.
#
# A kernel upgrade, for DKMS: the headers of a second kernel ABI (the newest
# one below KVER in the archive) are downloaded to /opt/kernel-upgrade, not
# installed; the test installs them after shmring-dkms, which is what an
# `apt upgrade` bringing a new kernel does, and DKMS's header_postinst.d
# hook must build shmring for that kernel too.
set -euo pipefail

MIRROR=${SHMRING_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${SHMRING_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

build() {
	local kver=$1 out=$2 tree t0=$SECONDS
	tree=$out/tree
	rm -rf "$tree" "$out/root.img" "$out/initrd.img"
	mkdir -p "$out"
	mmdebstrap --variant=minbase \
		--include=systemd,systemd-sysv,udev,kmod,dkms,build-essential,fakeroot,apt,procps,mount,util-linux,initramfs-tools,linux-image-"$kver"-unsigned,linux-headers-"$kver" \
		--customize-hook="bash '$(realpath "$0")' customize \"\$1\"" \
		bookworm "$tree" \
		"deb $MIRROR bookworm main" \
		"deb $MIRROR bookworm-updates main" \
		"deb $SECMIRROR bookworm-security main"
	[ -f "$tree/boot/initrd.img-$kver" ] || { echo "no initrd for $kver in the image" >&2; exit 1; }
	cp "$tree/boot/initrd.img-$kver" "$out/initrd.img"
	# 6 GiB sparse: room for DKMS builds and captures.
	mke2fs -q -t ext4 -L shmring-root -d "$tree" "$out/root.img" 6G
	rm -rf "$tree"
	echo "image built in $((SECONDS - t0))s"
}

customize() {
	local t=$1
	echo shmring-distro >"$t/etc/hostname"
	printf '127.0.0.1 localhost\n127.0.1.1 shmring-distro\n' >"$t/etc/hosts"
	printf '/dev/vda / ext4 defaults 0 1\n' >"$t/etc/fstab"
	# Root without a password, for `distro.sh shell` only (no network).
	chroot "$t" passwd -d root >/dev/null
	# No timers or gettys racing the test; the console is the test's.
	for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
		 serial-getty@ttyS0.service systemd-timesyncd.service; do
		ln -sf /dev/null "$t/etc/systemd/system/$u"
	done
	mkdir -p "$t/mnt/host" "$t/opt/kernel-upgrade"
	local kver other
	kver=$(ls "$t/lib/modules" | sort -V | tail -n 1)
	other=$(chroot "$t" apt-cache search --names-only '^linux-headers-[0-9.]+-[0-9]+-amd64$' |
		cut -d' ' -f1 | sed 's/^linux-headers-//; s/-amd64$//' | sort -V |
		awk -v k="${kver%-amd64}" '$0 == k { print prev; exit } { prev = $0 }')
	if [ -n "$other" ]; then
		(cd "$t/opt/kernel-upgrade" && chroot "$t" sh -c "cd /opt/kernel-upgrade &&
			apt-get download linux-headers-$other-amd64 linux-headers-$other-common") ||
			echo "no headers of a second kernel: the kernel-upgrade check will be skipped" >&2
	fi
	cat >"$t/usr/local/sbin/shmring-test-runner" <<'EOF'
#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs the host's /mnt/host/run.sh once per boot, then powers off.
modprobe -q 9pnet_virtio 2>/dev/null
modprobe -q 9p 2>/dev/null
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host 2>/dev/null; then
	echo "shmring-test-runner: no 9p share 'host': nothing to run" >/dev/console
	exit 0
fi
[ -f /mnt/host/run.sh ] || exit 0
echo "SHMRING-RUNNER-START" >/dev/console
bash /mnt/host/run.sh 2>&1 | tee /mnt/host/out >/dev/console
sync
echo "SHMRING-RUNNER-DONE" >/dev/console
umount /mnt/host
systemctl --no-block poweroff
EOF
	chmod 755 "$t/usr/local/sbin/shmring-test-runner"
	cat >"$t/etc/systemd/system/shmring-test-runner.service" <<'EOF'
# SPDX-License-Identifier: GPL-2.0
[Unit]
Description=shmring distro test runner (tests/distro.sh)
After=multi-user.target
[Service]
Type=idle
ExecStart=/usr/local/sbin/shmring-test-runner
StandardOutput=journal+console
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
EOF
	mkdir -p "$t/etc/systemd/system/multi-user.target.wants"
	ln -sf /etc/systemd/system/shmring-test-runner.service \
		"$t/etc/systemd/system/multi-user.target.wants/shmring-test-runner.service"
}

case "${1:-}" in
build) build "$2" "$3" ;;
customize) customize "$2" ;;
*) echo "usage: $0 build KVER OUTDIR | customize TREE" >&2; exit 2 ;;
esac
