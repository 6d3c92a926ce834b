#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# docs/containers.md, checked with the namespaces containers are made of
# (busybox unshare and nsenter; no container engine in the guest). TAP.
#
#   - rings are per IPC namespace: a new one does not see the host's rings,
#     the host does not see its rings;
#   - two processes in one new IPC namespace share a ring: a reader started
#     in it, a writer joining it with nsenter -i (docker --ipc=container:);
#   - the rings of a namespace nobody is in any more are reaped, their
#     memory given back;
#   - a user namespace + IPC namespace as an unprivileged uid (rootless
#     containers, userns-remap): root inside owns its rings, and gets no
#     power over the host's;
#   - without the device node (a container without --device /dev/shmring)
#     nothing works; mknod'ing it, as --device does, is enough.
#
# Needs the module loaded and shmring-ctl, shmring-dump on PATH. Rings are
# named c.*.

CTL=$(command -v shmring-ctl) || { echo "1..0 # SKIP shmring-ctl not built"; exit 0; }
DUMP=$(command -v shmring-dump) || { echo "Bail out! shmring-dump is not on PATH"; exit 1; }
for a in unshare nsenter su mknod; do
	command -v $a >/dev/null || { echo "1..0 # SKIP no $a in this guest"; exit 0; }
done
unshare -i true 2>/dev/null || { echo "1..0 # SKIP unshare -i fails (no CONFIG_IPC_NS?)"; exit 0; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
n=0
failed=0
bg=""

cleanup() {
	for p in $bg; do kill "$p" 2>/dev/null; done
	for p in $bg; do wait "$p" 2>/dev/null; done
	for r in c.host c.secret c.after; do "$CTL" delete "$r" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..19"

t() {
	n=$((n + 1))
	if eval "$2"; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=$((failed + 1))
		for f in "$tmp"/out "$tmp"/err; do
			[ -s "$f" ] && sed "s|^|#   ${f##*/}: |" "$f" | head -n 20
		done
	fi
}

# run CMD...: stdout in $tmp/out, stderr in $tmp/err, exit status in $rc.
run() {
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# wait_for FILE: up to 20 s for FILE to exist and not be empty
wait_for() {
	i=0
	while [ ! -s "$1" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
	[ -s "$1" ]
}

total_bytes() { sed -n '1s/.* total_bytes=\([0-9]*\).*/\1/p' /proc/shmring; }

# --- 1. one registry per IPC namespace -------------------------------------------
"$CTL" create c.host -s 4096 -m 0644
"$CTL" write c.host "from the host"

run unshare -i "$CTL" list
t "a new IPC namespace does not list the host's ring" \
	"[ \$rc = 0 ] && ! grep -q c.host '$tmp/out'"
run unshare -i "$CTL" stat c.host
t "... nor finds it by name (exit 12)" "[ \$rc = 12 ]"
run unshare -i sh -c "'$CTL' create c.host -s 8192 -x && '$CTL' stat c.host"
t "... and may create its own ring of the same name (8 KiB there)" \
	"[ \$rc = 0 ] && grep -q '^size: *8192' '$tmp/out'"
run "$CTL" stat c.host
t "the host's c.host is untouched (4 KiB, 1 record)" \
	"grep -q '^size: *4096' '$tmp/out' && grep -q '^written: *1 records' '$tmp/out'"

# --- 2. two processes of one new IPC namespace share a ring ------------------------
# A: the "first container" (docker run --ipc=shareable): creates c.shared in
# a new IPC namespace and follows it with shmring-dump -f.
unshare -i sh -c "'$CTL' create c.shared -s 16k && echo \$\$ >'$tmp/a.pid' && \
	exec '$DUMP' -f --hold c.shared" >"$tmp/a.out" 2>"$tmp/a.err" &
bg="$bg $!"
wait_for "$tmp/a.pid"
apid=$(cat "$tmp/a.pid")
sleep 1
t "the reader runs in its own IPC namespace" \
	"[ \"\$(readlink /proc/$apid/ns/ipc)\" != \"\$(readlink /proc/self/ns/ipc)\" ]"
# B: the "second container" (docker run --ipc=container:A) joins it.
run nsenter -t "$apid" -i "$CTL" write c.shared "hello from B"
t "a writer joining that namespace (nsenter -i) finds the ring and writes" "[ \$rc = 0 ]"
run nsenter -t "$apid" -i sh -c "'$CTL' write c.shared two && '$CTL' list"
t "... and lists only that namespace's ring" \
	"[ \$rc = 0 ] && grep -q c.shared '$tmp/out' && ! grep -q c.host '$tmp/out'"
i=0
while [ "$(grep -c . "$tmp/a.out")" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
t "the reader in the first process got both records" \
	"grep -q 'hello from B' '$tmp/a.out' && grep -q 'two' '$tmp/a.out'"
run "$CTL" list
t "the host does not see c.shared" "[ \$rc = 0 ] && ! grep -q c.shared '$tmp/out'"
run nsenter -t "$apid" -i "$CTL" metrics
t "shmring-ctl metrics inside the namespace shows its ring" \
	"grep -q 'shmring_ring_records_written_total{ring=\"c.shared\"} 2' '$tmp/out' && \
	 ! grep -q 'ring=\"c.host\"' '$tmp/out'"

# --- 3. when the namespace is gone, so are its rings ----------------------------------
before=$(total_bytes)
kill "$apid"
wait 2>/dev/null
bg=""
# The next open in any namespace reaps rings nobody can reach (docs/design.md).
"$CTL" create c.after -s 4096
"$CTL" delete c.after
after=$(total_bytes)
t "the rings of a namespace nobody is in are reaped: memory $before -> $after bytes" \
	"[ -n '$before' ] && [ -n '$after' ] && [ '$after' -lt '$before' ]"

# --- 4. user namespace + IPC namespace, unprivileged ------------------------------------
"$CTL" create c.secret -s 4096 -m 0600
if su nobody -s /bin/sh -c "unshare -U -r true" 2>/dev/null; then
	run su nobody -s /bin/sh -c "unshare -U -r -i sh -c \"id -u && '$CTL' create c.mine -s 4096 -m 0600 && \
		'$CTL' stat c.mine && '$CTL' list\""
	t "nobody in a new user+IPC namespace is root there and creates a ring" \
		"[ \$rc = 0 ] && [ \"\$(head -n1 '$tmp/out')\" = 0 ] && grep -q '^mode: *0600' '$tmp/out'"
	t "... owned by its root (uid 0 inside)" "grep -q '^owner: .*(uid 0)' '$tmp/out'"
	t "... seeing none of the host's rings" \
		"! grep -q 'c.host\\|c.secret' '$tmp/out'"
	run su nobody -s /bin/sh -c "unshare -U -r sh -c \"'$CTL' list; '$CTL' delete c.secret\""
	t "root of a new user namespace alone (host IPC namespace) does not see a 0600 ring" \
		"! grep -q c.secret '$tmp/out' && grep -q c.host '$tmp/out'"
	t "... nor may delete it (no CAP_IPC_OWNER over the host's rings)" \
		"[ \$rc != 0 ] && \"$CTL\" stat c.secret >/dev/null"
else
	for d in "user+IPC namespace: create" "... owner" "... isolation" \
		 "user namespace alone: 0600 ring hidden" "... not deletable"; do
		n=$((n + 1))
		echo "ok $n - $d # SKIP nobody cannot unshare -U (unprivileged user namespaces off)"
	done
fi

# --- 5. the device node is the door ---------------------------------------------------------
majmin=$(cat /sys/class/misc/shmring/dev 2>/dev/null)
if [ -n "$majmin" ] && unshare -m true 2>/dev/null; then
	run unshare -m sh -c "mount -t tmpfs none /dev && '$CTL' list"
	t "without /dev/shmring (no --device) the tools say the module is not loaded (exit 3)" \
		"[ \$rc = 3 ]"
	run unshare -m sh -c "mount -t tmpfs none /dev && \
		mknod -m 0666 /dev/shmring c ${majmin%%:*} ${majmin##*:} && '$CTL' list"
	t "with the node made as --device makes it (c $majmin), they can" \
		"[ \$rc = 0 ] && grep -q c.host '$tmp/out'"
else
	for d in "no device node" "mknod'ed device node"; do
		n=$((n + 1))
		echo "ok $n - $d # SKIP no /sys/class/misc/shmring/dev or no unshare -m"
	done
fi

"$CTL" delete c.host c.secret
t "cleanup: the host's rings deleted" "! \"$CTL\" list | grep -q 'c\\.host\\|c\\.secret'"
[ $failed -eq 0 ]
