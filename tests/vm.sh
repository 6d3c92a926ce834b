#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot shmring.ko in QEMU (TCG) under two kernels:
#
#   stock   the Debian 6.1 kernel matching linux-headers-amd64 (unsigned image)
#   debug   linux-source-6.12 built from tinyconfig + tests/debug-kernel.config
#           (KASAN, UBSAN, lockdep, KUnit, ...)
#
# Usage:
#   tests/vm.sh kernels                  fetch/build both kernels into the cache
#   tests/vm.sh build [--clean] <stock|debug> [MAKE ARGS]
#                                        build the module for that kernel
#   tests/vm.sh run <stock|debug> [--] CMD...
#                                        boot, load the module, run CMD, power off
#   tests/vm.sh shell [stock|debug]      same VM with an interactive shell
#   tests/vm.sh demo                     tests/guest/demo.sh in the stock VM
#   tests/vm.sh test <stock|debug>       every in-guest test (+ KUnit on debug)
#
# Environment:
#   SHMRING_CACHE         kernel cache (default /var/cache/shmring)
#   SHMRING_VM_TIMEOUT    seconds before a guest is killed (default 600; 1800
#                         for `test`, whose suite takes 4-10 min on a quiet
#                         machine and much longer beside other work)
#   SHMRING_TEST_TIMEOUT  seconds per test program in the guest (default 300)
#   SHMRING_VM_APPEND     more kernel command-line arguments
#   SHMRING_VM_OUTPUT     run: also save what CMD printed (the results port,
#                         no kernel messages) to this file
#   SHMRING_DEBUG_STRESS_RECORDS, SHMRING_DEBUG_EPOLL_RECORDS
#                         t_stress records per writer / t_epoll records on the
#                         debug kernel (default 30000 / 100000; stock runs
#                         the full 200000 / 1000000)
#
# A run fails when CMD fails, the guest hangs, the end marker is missing, or
# the serial log contains a kernel report (BUG:, WARNING:, KASAN, lockdep...).
# See docs/testing.md.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SHMRING_CACHE:-/var/cache/shmring}
B=$ROOT/build
VM_TIMEOUT=${SHMRING_VM_TIMEOUT:-600}
[ "${1:-}" = test ] && VM_TIMEOUT=${SHMRING_VM_TIMEOUT:-1800}
TEST_TIMEOUT=${SHMRING_TEST_TIMEOUT:-300}
FRAGMENT=$ROOT/tests/debug-kernel.config
SRC_PKG=linux-source-6.12
SRC_TARBALL=/usr/src/$SRC_PKG.tar.xz
DEBUG_DIR=$CACHE/debug
DEBUG_TREE=$DEBUG_DIR/linux
JOBS=$(nproc)

say() { printf 'vm.sh: %s\n' "$*"; }
die() { printf 'vm.sh: error: %s\n' "$*" >&2; exit 1; }

# step LOG DESCRIPTION CMD...: run CMD with its output appended to LOG and
# print one line with the elapsed time; on failure show the end of the log.
step() {
	local log=$1 desc=$2 t0=$SECONDS
	shift 2
	printf 'vm.sh:   %-52s' "$desc"
	if ! "$@" >>"$log" 2>&1; then
		printf 'FAILED after %ds\n' $((SECONDS - t0))
		tail -n 40 "$log" | sed 's/^/    | /' >&2
		die "$desc failed, full log: $log"
	fi
	printf '%4ds\n' $((SECONDS - t0))
}

# One kernel build at a time per cache, also across concurrent callers.
lock_cache() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	if ! flock -n 9; then
		say "waiting for another vm.sh using $CACHE..."
		flock 9
	fi
}

# --- Stock kernel -----------------------------------------------------------

# The Debian kernel version the installed headers are for, e.g. 6.1.0-56-amd64.
stock_version() {
	local b v=""
	for b in /lib/modules/*-amd64/build; do
		[ -d "$b" ] || continue
		b=${b#/lib/modules/}
		v=$(printf '%s\n%s\n' "$v" "${b%/build}" | sort -V | tail -n 1)
	done
	if [ -z "$v" ]; then
		v=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
		    sed -n 's/.*linux-headers-\([0-9][^ ,]*-amd64\).*/\1/p')
	fi
	[ -n "$v" ] || die "no linux-headers-*-amd64 installed (run tests/setup.sh)"
	echo "$v"
}

stock_dir() { echo "$CACHE/stock/$(stock_version)"; }

ensure_stock_kernel() {
	local ver dir pkg log
	ver=$(stock_version)
	dir=$CACHE/stock/$ver
	pkg=linux-image-$ver-unsigned
	if [ -f "$dir/stamp" ] && [ -f "$dir/root/boot/vmlinuz-$ver" ]; then
		say "stock kernel $ver: cached in $dir"
		return
	fi
	say "stock kernel $ver: fetching $pkg"
	rm -rf "$dir"
	mkdir -p "$dir"
	log=$dir/fetch.log
	# Exact package name: a glob would download every version there is.
	# Package lists may be missing on a fresh machine: update once.
	if ! (cd "$dir" && apt-get download "$pkg") >>"$log" 2>&1; then
		step "$log" "apt-get update" apt-get update
	fi
	step "$log" "apt-get download $pkg" \
		sh -c 'ls "$1"/*.deb >/dev/null 2>&1 || (cd "$1" && apt-get download "$2")' \
		sh "$dir" "$pkg"
	step "$log" "dpkg-deb -x" sh -c 'dpkg-deb -x "$1"/*.deb "$1/root"' sh "$dir"
	[ -f "$dir/root/boot/vmlinuz-$ver" ] || die "no boot/vmlinuz-$ver in $pkg"
	rm -f "$dir"/*.deb
	echo "$pkg" >"$dir/stamp"
}

# --- Debug kernel -----------------------------------------------------------

# The debug kernel is rebuilt when the fragment, the source package or the
# compiler changes.
debug_key() {
	{
		sha256sum <"$FRAGMENT"
		dpkg-query -W -f='${Version}\n' "$SRC_PKG" 2>/dev/null ||
			stat -c '%s %Y' "$SRC_TARBALL"
		gcc --version | head -n 1
	} | sha256sum | cut -d' ' -f1
}

# Every option the fragment sets must have exactly that value in .config.
verify_config() {
	local config=$1 line opt missing=()
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			grep -qxF "$line" "$config" || missing+=("$line (have: $(
				grep -E "^(# )?${line%%=*}[= ]" "$config" || echo unset))")
			;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }
			opt=${opt%% *}
			! grep -qE "^$opt=[ym]" "$config" || missing+=("$line (but it is set)")
			;;
		esac
	done <"$FRAGMENT"
	if [ ${#missing[@]} -gt 0 ]; then
		printf 'vm.sh: option not as asked after olddefconfig: %s\n' "${missing[@]}" >&2
		return 1
	fi
}

ensure_debug_kernel() {
	local key log t0=$SECONDS
	key=$(debug_key)
	if [ -f "$DEBUG_DIR/stamp" ] && [ "$(cat "$DEBUG_DIR/stamp")" = "$key" ] &&
	   [ -f "$DEBUG_TREE/arch/x86/boot/bzImage" ]; then
		say "debug kernel $(debug_release): cached in $DEBUG_TREE"
		return
	fi
	[ -f "$SRC_TARBALL" ] || die "$SRC_TARBALL missing (run tests/setup.sh)"
	say "debug kernel: building from $SRC_TARBALL (about 6 min on 2 cores)"
	rm -rf "$DEBUG_DIR"
	mkdir -p "$DEBUG_DIR"
	log=$DEBUG_DIR/build.log
	say "  build log: $log"
	step "$log" "extract $SRC_PKG.tar.xz" tar -xf "$SRC_TARBALL" -C "$DEBUG_DIR"
	mv "$DEBUG_DIR/$SRC_PKG" "$DEBUG_TREE"
	step "$log" "make tinyconfig" make -C "$DEBUG_TREE" tinyconfig
	step "$log" "merge_config.sh -m .config debug-kernel.config" \
		sh -c 'cd "$1" && scripts/kconfig/merge_config.sh -m .config "$2"' \
		sh "$DEBUG_TREE" "$FRAGMENT"
	step "$log" "make olddefconfig" make -C "$DEBUG_TREE" olddefconfig
	step "$log" "verify every option of the fragment" \
		verify_config "$DEBUG_TREE/.config"
	step "$log" "make -j$JOBS bzImage modules" \
		make -C "$DEBUG_TREE" -j"$JOBS" bzImage modules
	step "$log" "make modules_prepare" make -C "$DEBUG_TREE" modules_prepare
	echo "$key" >"$DEBUG_DIR/stamp"
	say "debug kernel $(debug_release): built in $((SECONDS - t0))s"
}

debug_release() { cat "$DEBUG_TREE/include/config/kernel.release"; }

cmd_kernels() {
	lock_cache
	ensure_stock_kernel
	ensure_debug_kernel
}

# --- Per-kernel facts -------------------------------------------------------

check_kernel_arg() {
	case ${1:-} in
	stock | debug) ;;
	*) die "kernel must be 'stock' or 'debug', got '${1:-}'" ;;
	esac
}

# Make sure the kernel is there (cached after the first time).
ensure_kernel() {
	lock_cache
	if [ "$1" = stock ]; then ensure_stock_kernel; else ensure_debug_kernel; fi
	flock -u 9
}

kernel_tree() {
	if [ "$1" = stock ]; then echo "/lib/modules/$(stock_version)/build"
	else echo "$DEBUG_TREE"; fi
}

kernel_image() {
	if [ "$1" = stock ]; then
		echo "$(stock_dir)/root/boot/vmlinuz-$(stock_version)"
	else
		echo "$DEBUG_TREE/arch/x86/boot/bzImage"
	fi
}

kernel_release() {
	if [ "$1" = stock ]; then stock_version; else debug_release; fi
}

# Where the modules a module depends on can be found, for that kernel.
kernel_modules_dir() {
	if [ "$1" = stock ]; then
		echo "$(stock_dir)/root/lib/modules/$(stock_version)"
	else
		echo "$DEBUG_TREE"
	fi
}

# The key of the kernel the module objects in build/kmod-<k> were made for.
kernel_key() {
	if [ "$1" = stock ]; then cat "$(stock_dir)/stamp"; else cat "$DEBUG_DIR/stamp"; fi
}

# --- Building ---------------------------------------------------------------

# build_module <stock|debug> [--clean] [MAKE ARGS...]: build shmring.ko (and
# shmring_kunit.ko where CONFIG_KUNIT is set) in build/kmod-<k>, a private
# copy of the sources, so objects for the two kernels never mix.  Compiler
# output goes to stdout and build/kmod-<k>.log.
build_module() {
	local k=$1 clean=${2:-} tree copy log rc t0=$SECONDS
	shift
	[ "$clean" = --clean ] && shift
	tree=$(kernel_tree "$k")
	copy=$B/kmod-$k
	log=$B/kmod-$k.log
	[ -f "$tree/Makefile" ] || die "no kernel tree at $tree (run tests/vm.sh kernels)"
	# Objects built for another kernel build (or none) are thrown away.
	if [ "$clean" = --clean ] ||
	   [ "$(cat "$copy/.kernel-key" 2>/dev/null)" != "$(kernel_key "$k")" ]; then
		rm -rf "$copy"
	fi
	mkdir -p "$copy"
	kernel_key "$k" >"$copy/.kernel-key"
	# Sources only (never objects of an in-tree build).  -c without -t: a
	# file whose content changed gets a new mtime, so make rebuilds it.
	rsync -rlc --delete --exclude='*.mod.c' \
		--include='/Kbuild' --include='/VERSION' --include='/kmod/' --include='/kmod/Kbuild' \
		--include='/kmod/*.[ch]' --include='/include/***' --exclude='*' \
		"$ROOT/" "$copy/"
	say "build $k: make -C $tree M=$copy W=1 modules $*"
	set +e
	make -C "$tree" M="$copy" W=1 modules "$@" 2>&1 | tee "$log" |
		grep -vE '^make(\[[0-9]+\])?: (Entering|Leaving) directory'
	rc=${PIPESTATUS[0]}
	set -e
	if [ "$rc" -ne 0 ]; then
		say "build $k: FAILED (make exited $rc), log: $log"
		return 1
	fi
	say "build $k: ok in $((SECONDS - t0))s: $(cd "$copy" && echo kmod/*.ko)"
}

# build [--clean] <k> [MAKE ARGS...], e.g. build stock C=2 for sparse.
cmd_build() {
	local clean="" k
	if [ "${1:-}" = --clean ]; then clean=--clean; shift; fi
	check_kernel_arg "${1:-}"
	k=$1
	shift
	ensure_kernel "$k"
	lock_build
	build_module "$k" $clean "$@"
}

# Userspace (make user).  Other engineers may be half-way through a file:
# a failed build is reported and the VM gets what was built.
build_user() {
	local log=$B/make-user.log
	mkdir -p "$B"
	if ! make -C "$ROOT" -k user >"$log" 2>&1; then
		say "warning: 'make user' failed; the VM gets only what was built:"
		grep -E 'error|Error' "$log" | head -n 10 | sed 's/^/    | /'
		say "  full log: $log"
	fi
}

# --- The initramfs ------------------------------------------------------------

# copy_libs STAGING ELF...: every shared library ldd lists for the ELF files
# (and the dynamic loader) into STAGING at the same path.
copy_libs() {
	local st=$1 lib
	shift
	[ $# -gt 0 ] || return 0
	# Lines: "libx.so.1 => /lib/.../libx.so.1 (0x..)" and "/lib64/ld-linux... (0x..)".
	for lib in $(ldd "$@" 2>/dev/null | sed -nE 's#^[[:space:]]*(.*=> )?(/[^ ]+) \(0x.*#\2#p' |
		     sort -u); do
		mkdir -p "$st$(dirname "$lib")"
		cp -L "$lib" "$st$lib"
	done
	if ldd "$@" 2>/dev/null | grep -q 'not found'; then
		say "warning: libraries not found: $(ldd "$@" | grep -E '^/|not found' | tr -s ' \t\n' ' ')"
	fi
}

is_elf() { [ "$(head -c 4 "$1" 2>/dev/null)" = $'\x7fELF' ]; }

# copy_module STAGING KVER KO: a module into /lib/modules/KVER/extra, with
# the modules it depends on found in the kernel's own module tree.
copy_module() {
	local st=$1 kver=$2 ko=$3 k=$4 dep f
	cp "$ko" "$st/lib/modules/$kver/extra/"
	for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do
		[ -e "$st/lib/modules/$kver/extra/$dep.ko" ] && continue
		f=$(find "$(kernel_modules_dir "$k")" -name "$dep.ko" -o \
			-name "${dep//_/-}.ko" | head -n 1)
		[ -n "$f" ] || continue		# built in, or the sibling module
		copy_module "$st" "$kver" "$f" "$k"
	done
}

# The /init the guest runs, configured by /shmring/config.
write_init() {
	cat >"$1" <<'INIT'
#!/bin/sh
# Generated by tests/vm.sh: mount, load shmring, run the command, power off.
export PATH=/shmring/bin:/shmring/tests:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export HOME=/root
. /shmring/config
export SHMRING_TEST_TIMEOUT SHMRING_VM=1
export SHMRING_STRESS_RECORDS SHMRING_EPOLL_RECORDS

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
# The loopback interface: servers a test needs (nats-server) listen on it.
ifconfig lo 127.0.0.1 netmask 255.0.0.0 up 2>/dev/null || ip link set lo up 2>/dev/null ||
	echo "warning: could not bring up the loopback interface lo"
hostname shmring-vm
kver=$(uname -r)

# Markers go through the kernel log (never lost at power-off) and to the
# results port /dev/ttyS1, which the host reads without kernel noise.
mark() {
	echo "shmring-vm: $*" >/dev/kmsg
	[ -c /dev/ttyS1 ] && echo "$*" >/dev/ttyS1
}
finish() {
	# No stray process may keep the module busy; then unloading must work.
	kill -9 -1 2>/dev/null
	sleep 0.2
	for m in shmring_kunit shmring; do
		[ -d /sys/module/$m ] || continue
		rmmod $m || mark "SHMRING-UNLOAD-FAILED $m"
	done
	mark "SHMRING-RC=$1"
	poweroff -f
}

mark "SHMRING-BOOT kernel=$kver"
if [ -x /shmring/bin/shmring-ctl ]; then
	shmring-ctl load
else
	echo "note: build/utils/shmring-ctl does not exist yet; loading with insmod"
	insmod /lib/modules/$kver/extra/shmring.ko
fi
rc=$?
if [ $rc -ne 0 ]; then
	mark "SHMRING-LOAD-FAILED rc=$rc"
	[ "$MODE" = shell ] || finish $rc
fi

if [ "$KUNIT" = 1 ] && [ -f /lib/modules/$kver/extra/shmring_kunit.ko ]; then
	# The suites run inside insmod and print KTAP on the console.
	mark "SHMRING-KUNIT-BEGIN"
	insmod /lib/modules/$kver/extra/shmring_kunit.ko
	mark "SHMRING-KUNIT-END rc=$?"
fi

cd /tmp
if [ "$MODE" = shell ]; then
	echo "shmring VM ($kver): module loaded, project binaries on PATH; exit to power off."
	setsid cttyhack sh -l
	finish $?
fi
mark "SHMRING-CMD-BEGIN"
# stdout+stderr to the console and to the results port.
out=/dev/null
[ -c /dev/ttyS1 ] && out=/dev/ttyS1
{ sh /shmring/cmd.sh </dev/null; echo $? >/tmp/.shmring-rc; } 2>&1 | tee $out
finish "$(cat /tmp/.shmring-rc)"
INIT
	chmod 755 "$1"
}

# make_initramfs <k> <mode> CMD...: build/vm/<k>-<pid>.cpio (removed after the boot)
make_initramfs() {
	local k=$1 mode=$2 kver st f kunit=0 mdir
	shift 2
	kver=$(kernel_release "$k")
	st=$B/vm/$k-$$
	rm -rf "$st"
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run} \
		"$st"/shmring/{bin,tests} "$st/lib/modules/$kver/extra"

	# busybox, with a symlink in /bin for each applet
	f=$(readlink -f /bin/busybox)
	mkdir -p "$st$(dirname "$f")"
	cp "$f" "$st$f"
	"$f" --install -s "$st/bin"

	# project programs (whatever exists yet) and the guest scripts
	local elfs=()
	for f in "$B"/utils/* "$B"/examples/* "$B"/tests/guest/t_*; do
		[ -f "$f" ] && [ -x "$f" ] && is_elf "$f" || continue
		case $f in */tests/*) cp "$f" "$st/shmring/tests/" ;;
			   *) cp "$f" "$st/shmring/bin/" ;; esac
		elfs+=("$f")
	done
	# Helpers of the benchmarks (build/bench/*: e.g. jsbench, a raw
	# JetStream publisher) go beside the tools.
	for f in "$B"/bench/*; do
		[ -f "$f" ] && [ -x "$f" ] && is_elf "$f" || continue
		cp "$f" "$st/shmring/bin/"
		elfs+=("$f")
	done
	# nats-server for the bridge tests and make bench-bridge (issue 12),
	# when installed; libnats.so comes with whatever links it (ldd).
	# Tests skip when it is missing.
	for f in /usr/sbin/nats-server; do
		[ -f "$f" ] && [ -x "$f" ] && is_elf "$f" || continue
		cp "$f" "$st$f"
		elfs+=("$f")
	done
	copy_libs "$st" "${elfs[@]}"
	# libgcc_s, which glibc loads on demand (backtrace(), as in
	# shmring-bridge's crash report; thread cancellation), as every Debian
	# system has it (libgcc-s1 is required): ldd does not list it.
	f=$(/sbin/ldconfig -p 2>/dev/null | awk '/libgcc_s\.so\.1 .*x86-64/ { print $NF; exit }')
	if [ -n "$f" ] && [ -f "$f" ]; then
		mkdir -p "$st$(dirname "$f")"
		cp -L "$f" "$st$f"
	fi
	for f in "$ROOT"/tests/guest/*.sh; do
		[ -f "$f" ] && install -m 755 "$f" "$st/shmring/tests/"
	done

	# the module(s), found by name through modules.dep (libkmod, modprobe)
	copy_module "$st" "$kver" "$B/kmod-$k/kmod/shmring.ko" "$k"
	if [ "$k" = debug ] && [ -f "$B/kmod-$k/kmod/shmring_kunit.ko" ]; then
		copy_module "$st" "$kver" "$B/kmod-$k/kmod/shmring_kunit.ko" "$k"
		kunit=1
	fi
	mdir=$(kernel_modules_dir "$k")
	for f in modules.builtin modules.builtin.modinfo; do
		[ -f "$mdir/$f" ] && cp "$mdir/$f" "$st/lib/modules/$kver/"
	done
	(cd "$st/lib/modules/$kver" && ls extra/*.ko >modules.order)
	depmod -b "$st" "$kver"

	cat >"$st/etc/passwd" <<-EOF
	root:x:0:0:root:/root:/bin/sh
	user2:x:1001:1001:user2:/tmp:/bin/sh
	nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
	EOF
	# Loopback names for the in-guest servers (nats-server on 127.0.0.1).
	printf '127.0.0.1\tlocalhost shmring-vm\n::1\tlocalhost\n' >"$st/etc/hosts"
	cat >"$st/etc/group" <<-EOF
	root:x:0:
	user2:x:1001:
	nogroup:x:65534:
	nobody:x:65534:
	EOF
	printf 'MODE=%s\nKUNIT=%s\nSHMRING_TEST_TIMEOUT=%s\n' \
		"$mode" "$kunit" "$TEST_TIMEOUT" >"$st/shmring/config"
	# The long tests run at full scale on stock; on the debug kernel, where
	# KASAN and lockdep slow every call, a smaller run finds the same bugs.
	if [ "$k" = debug ]; then
		printf 'SHMRING_STRESS_RECORDS=%s\nSHMRING_EPOLL_RECORDS=%s\n' \
			"${SHMRING_DEBUG_STRESS_RECORDS:-30000}" \
			"${SHMRING_DEBUG_EPOLL_RECORDS:-100000}" >>"$st/shmring/config"
	fi
	{ printf '%q ' "$@"; echo; } >"$st/shmring/cmd.sh"
	write_init "$st/init"

	(cd "$st" && find . | cpio -o -H newc --quiet) >"$st.cpio"
	rm -rf "$st"
}

# --- Booting ----------------------------------------------------------------

# Kernel reports: any of these in a kernel log line fails the run.  Only
# lines carrying a printk timestamp are looked at, so program output that
# happens to say "WARNING:" does not count.  Expected, not reports: the stock
# kernel's "loading out-of-tree module taints kernel" and "module
# verification failed" on loading an unsigned module.
REPORT_RE='BUG:|WARNING:|kernel BUG at|Oops|KASAN:|UBSAN:|general protection fault'
REPORT_RE+='|Kernel panic|refcount_t:|list_add corruption|list_del corruption'
REPORT_RE+='|possible circular locking|possible recursive locking'
REPORT_RE+='|inconsistent lock state|INFO: lockdep is turned off|suspicious RCU usage'
REPORT_RE+='|INFO: task .* blocked for more than|detected stall|soft lockup|hard LOCKUP'
REPORT_RE+='|Call Trace:|Unable to handle|invalid opcode:|stack-protector:|double fault'
REPORT_RE+='|sleeping function called from invalid context|scheduling while atomic'
REPORT_RE+='|DEBUG_LOCKS_WARN_ON|Bad page'
TS_RE='\[ *[0-9]+\.[0-9]+\] '

# scan_reports LOG: print every kernel report with context; 1 if any.
scan_reports() {
	local log=$1 n last=-100 shown=0
	local hits
	hits=$(tr -d '\r' <"$log" | grep -nE "$TS_RE.*($REPORT_RE)" | cut -d: -f1 || true)
	[ -n "$hits" ] || return 0
	say "KERNEL REPORT in $log:"
	for n in $hits; do
		# One excerpt per report, at most 3.
		if [ "$n" -gt $((last + 40)) ] && [ $shown -lt 3 ]; then
			tr -d '\r' <"$log" | sed -n "$((n > 3 ? n - 3 : 1)),$((n + 40))p" |
				sed 's/^/    | /'
			echo "    ..."
			last=$n
			shown=$((shown + 1))
		fi
	done
	say "$(echo "$hits" | wc -l) report line(s); the first: $(tr -d '\r' <"$log" |
		sed -n "$(echo "$hits" | head -n 1)p")"
	return 1
}

# Builds in build/ are serialized between concurrent vm.sh runs of this
# clone (the lock is dropped when the guest boots).
lock_build() {
	mkdir -p "$B"
	exec 8>"$B/.vm.lock"
	if ! flock -n 8; then
		say "waiting for another vm.sh building in $B..."
		flock 8
	fi
}

# prepare <k>: the kernel, the module for it and the userspace programs.
prepare() {
	ensure_kernel "$1"
	lock_build
	build_module "$1" || die "module build for $1 failed"
	build_user
}

# run_vm <k> <mode> CMD...: boot the guest (after prepare).  Sets VM_LOG, VM_RESULTS,
# VM_CMD_RC (empty when the guest never got to report it) and VM_PROBLEMS
# (what went wrong around CMD: timeout, kernel report, load failure...).
run_vm() {
	local k=$1 mode=$2 img initrd append stamp rc t0=$SECONDS
	shift 2
	make_initramfs "$k" "$mode" "$@"
	flock -u 8 2>/dev/null || true
	initrd=$B/vm/$k-$$.cpio
	VM_INITRD=$initrd	# global: the EXIT trap runs after this function
	trap 'rm -f "${VM_INITRD:-}"' EXIT
	say "initramfs: $(du -h "$initrd" | cut -f1) in $((SECONDS - t0))s"
	t0=$SECONDS
	img=$(kernel_image "$k")
	mkdir -p "$B/vm-logs"
	stamp=$(date +%Y%m%d-%H%M%S)-$$
	VM_LOG=$B/vm-logs/$k-$mode-$stamp.log
	VM_RESULTS=$B/vm-logs/$k-$mode-$stamp.results
	VM_CMD_RC=""
	VM_PROBLEMS=()
	append="console=ttyS0 panic=-1 oops=panic printk.time=1 loglevel=7"
	# More kernel arguments (bench/run.sh: a clock the vDSO can read).
	append+=${SHMRING_VM_APPEND:+ $SHMRING_VM_APPEND}
	# la57=off: 4-level paging. With -cpu max's 5-level paging the KASAN
	# kernel was once seen to report an early-boot interrupt as a
	# wild-memory-access (in identify_cpu, before any module loads).
	local qemu=(qemu-system-x86_64 -accel tcg -cpu max,la57=off -smp 2 -m 2048
		-nographic -no-reboot -nic none
		-kernel "$img" -initrd "$initrd" -append "$append"
		-serial mon:stdio -serial "file:$VM_RESULTS")
	say "boot $k ($(kernel_release "$k")), serial log: $VM_LOG"
	set +e
	if [ "$mode" = shell ]; then
		"${qemu[@]}" | tee "$VM_LOG"
		rc=${PIPESTATUS[0]}
	elif [ "$mode" = test ]; then
		# Only the parsed results are shown; the console is in the log.
		timeout -k 10 "$VM_TIMEOUT" "${qemu[@]}" </dev/null >"$VM_LOG" 2>&1
		rc=$?
	else
		timeout -k 10 "$VM_TIMEOUT" "${qemu[@]}" </dev/null 2>&1 | tee "$VM_LOG"
		rc=${PIPESTATUS[0]}
	fi
	set -e
	say "guest exited after $((SECONDS - t0))s (qemu status $rc)"
	rm -f "$initrd"

	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] ||
		VM_PROBLEMS+=("guest timed out after ${VM_TIMEOUT}s (SHMRING_VM_TIMEOUT)")
	scan_reports "$VM_LOG" || VM_PROBLEMS+=("kernel report in the guest log")
	local results
	results=$(tr -d '\r' <"$VM_RESULTS" 2>/dev/null || true)
	if grep -q '^SHMRING-LOAD-FAILED' <<<"$results"; then
		VM_PROBLEMS+=("loading shmring.ko failed")
	fi
	local m
	for m in $(sed -n 's/^SHMRING-UNLOAD-FAILED //p' <<<"$results"); do
		VM_PROBLEMS+=("unloading $m failed (still in use?)")
	done
	# The command's own output, for callers that parse it (make bench).
	[ -z "${SHMRING_VM_OUTPUT:-}" ] || printf '%s\n' "$results" >"$SHMRING_VM_OUTPUT"
	VM_CMD_RC=$(sed -n 's/^SHMRING-RC=\([0-9]*\)$/\1/p' <<<"$results" | tail -n 1)
	if [ -z "$VM_CMD_RC" ] && [ "$mode" != shell ]; then
		VM_PROBLEMS+=("no SHMRING-RC marker: the guest died before CMD finished")
	fi
	for m in "${VM_PROBLEMS[@]}"; do say "FAIL: $m"; done
	return 0
}

cmd_run() {
	check_kernel_arg "${1:-}"
	local k=$1
	shift
	[ "${1:-}" = -- ] && shift
	[ $# -gt 0 ] || die "usage: $0 run <stock|debug> [--] CMD..."
	prepare "$k"
	run_vm "$k" run "$@"
	say "CMD exit status: ${VM_CMD_RC:-none}"
	if [ ${#VM_PROBLEMS[@]} -gt 0 ]; then
		[ "${VM_CMD_RC:-0}" -ne 0 ] && exit "$VM_CMD_RC"
		exit 1
	fi
	exit "$VM_CMD_RC"
}

cmd_shell() {
	local k=${1:-stock}
	check_kernel_arg "$k"
	prepare "$k"
	run_vm "$k" shell
	[ ${#VM_PROBLEMS[@]} -eq 0 ]
}

cmd_demo() {
	if [ -f "$ROOT/tests/guest/demo.sh" ]; then
		cmd_run stock -- sh /shmring/tests/demo.sh
	else
		cmd_run stock -- sh -c 'shmring-ctl status; ls -l /dev/shmring'
	fi
}

# --- Test results -----------------------------------------------------------

# result <ok|not ok|skip|todo> DESCRIPTION: one counted result line
# (todo: a known failure marked "# TODO" in TAP, counted as skipped).
result() {
	case $1 in
	ok) PASSED=$((PASSED + 1)) ;;
	skip | todo) SKIPPED=$((SKIPPED + 1)) ;;
	*) FAILED=$((FAILED + 1)) ;;
	esac
	printf '[%s] %s - %s\n' "$KERNEL" "$1" "$2" | tee -a "$RESULT_LINES"
}

# Lines "NAME: ok N - desc" from tests/guest/run-tests.sh.  The "#" lines
# after a failure are its diagnostics and are shown under it.
parse_guest_tap() {
	local line name rest status desc failed_name=""
	while IFS= read -r line; do
		[[ $line =~ ^([A-Za-z0-9_.-]+):\ (.*)$ ]] || continue
		name=${BASH_REMATCH[1]}
		rest=${BASH_REMATCH[2]}
		if [ "$name" = "$failed_name" ] && [[ $rest =~ ^# ]]; then
			printf '    %s\n' "$rest" | tee -a "$RESULT_LINES"
			continue
		fi
		failed_name=""
		if [[ $rest =~ ^1\.\.0\ *#\ *[Ss][Kk][Ii][Pp]\ *(.*)$ ]]; then
			result skip "$name: skipped: ${BASH_REMATCH[1]}"
			continue
		fi
		[[ $rest =~ ^(not ok|ok)\ *([0-9]*)\ *-?\ *(.*)$ ]] || continue
		status=${BASH_REMATCH[1]}
		desc="${BASH_REMATCH[2]:+${BASH_REMATCH[2]} }${BASH_REMATCH[3]}"
		if [ "$status" = ok ] && [[ $desc =~ \#\ *[Ss][Kk][Ii][Pp] ]]; then
			status=skip
		elif [ "$status" = "not ok" ] && [[ $desc =~ \#\ *[Tt][Oo][Dd][Oo] ]]; then
			status=todo
		fi
		result "$status" "$name: $desc"
		[ "$status" = "not ok" ] || [ "$status" = todo ] && failed_name=$name
	done
}

# KUnit KTAP between the KUNIT-BEGIN/END markers of the console log.  Test
# cases are the lines indented once inside a suite; a suite reported as
# failed without a failed case (e.g. its init failed) is one failure.
parse_kunit() {
	local log=$1 line suite="" case_fail=0 seen=0 began=0 ended=0 status desc
	local diag=()	# "# ..." lines of the current case, shown if it fails
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		*SHMRING-KUNIT-BEGIN*) began=1; continue ;;
		*SHMRING-KUNIT-END*) ended=1; break ;;
		esac
		[ $began = 1 ] || continue
		[[ $line =~ $TS_RE(.*)$ ]] || continue
		line=${BASH_REMATCH[1]}
		if [[ $line =~ ^\ {4}#\ Subtest:\ (.*)$ ]]; then
			suite=${BASH_REMATCH[1]}
			case_fail=0
			diag=()
		elif [[ $line =~ ^\ {4}(not ok|ok)\ [0-9]+\ (.*)$ ]]; then
			status=${BASH_REMATCH[1]}
			desc=${BASH_REMATCH[2]}
			if [[ $desc =~ ^(.*)\ #\ SKIP\ ?(.*)$ ]]; then
				status=skip
				desc="${BASH_REMATCH[1]} (${BASH_REMATCH[2]})"
			fi
			result "$status" "kunit $suite: $desc"
			if [ "$status" = "not ok" ]; then
				case_fail=1
				[ ${#diag[@]} -eq 0 ] || printf '    %s\n' "${diag[@]}"
			fi
			diag=()
		elif [[ ! $line =~ ^\ {4}(#\ module:|1\.\.) ]] && [[ $line =~ ^\ {4}(#.*|[^ok#].*)$ ]]; then
			diag+=("${BASH_REMATCH[1]}")
		elif [[ $line =~ ^(not ok|ok)\ [0-9]+\ ([^ ]*) ]]; then
			seen=$((seen + 1))
			if [ "${BASH_REMATCH[1]}" = "not ok" ] && [ $case_fail = 0 ]; then
				result "not ok" "kunit suite ${BASH_REMATCH[2]} reported failure"
			fi
		fi
	done <"$log"
	if [ $began = 0 ] || [ $ended = 0 ] || [ $seen = 0 ]; then
		result "not ok" "kunit: no KUnit results on the console"
	fi
}

cmd_test() {
	check_kernel_arg "${1:-}"
	KERNEL=$1
	PASSED=0 FAILED=0 SKIPPED=0
	local counts=$B/results/$KERNEL.counts t0=$SECONDS p
	mkdir -p "$B/results"
	RESULT_LINES=$B/results/$KERNEL.txt
	: >"$RESULT_LINES"
	rm -f "$counts"

	ensure_kernel "$KERNEL"
	lock_build
	if ! build_module "$KERNEL"; then
		result "not ok" "build shmring.ko for $KERNEL"
	else
		build_user
		run_vm "$KERNEL" test sh /shmring/tests/run-tests.sh
		parse_guest_tap < <(tr -d '\r' <"$VM_RESULTS")
		if [ "$KERNEL" = debug ]; then
			if [ -f "$B/kmod-debug/kmod/shmring_kunit.ko" ]; then
				parse_kunit "$VM_LOG"
			elif [ ! -f "$ROOT/kmod/shmring_kunit.c" ]; then
				result skip "kunit: kmod/shmring_kunit.c does not exist yet"
			else
				result "not ok" "kunit: shmring_kunit.ko was not built"
			fi
		fi
		for p in "${VM_PROBLEMS[@]}"; do
			result "not ok" "vm: $p (log: ${VM_LOG#$ROOT/})"
		done
		if [ -n "$VM_CMD_RC" ] && [ "$VM_CMD_RC" -ne 0 ] && [ "$FAILED" -eq 0 ]; then
			result "not ok" "run-tests.sh exited $VM_CMD_RC"
		fi
	fi
	printf 'passed=%d failed=%d skipped=%d\n' "$PASSED" "$FAILED" "$SKIPPED" >"$counts"
	printf '[%s] summary: %d passed, %d failed, %d skipped (%ds)\n' \
		"$KERNEL" "$PASSED" "$FAILED" "$SKIPPED" $((SECONDS - t0))
	[ "$FAILED" -eq 0 ]
}

# --- Main ---------------------------------------------------------------------

case ${1:-} in
kernels) cmd_kernels ;;
build) shift; cmd_build "$@" ;;
run) shift; cmd_run "$@" ;;
shell) shift; cmd_shell "$@" ;;
demo) cmd_demo ;;
test) shift; cmd_test "$@" ;;
*) sed -n '/^# Usage:/,/^# See docs/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
