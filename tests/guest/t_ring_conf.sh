#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-ctl apply in the guest (busybox sh): ring configuration files
# (man/shmring-ring.conf.5) create missing rings with their owner and mode,
# fix the owner and mode of existing ones without losing their records,
# report a ring whose size or policy differ (and re-create it only with
# --recreate), change nothing when run twice, --check touches nothing, and
# every bad line is reported as FILE:LINE with nothing changed. TAP.
#
# Rings are named conf.*; they are deleted at the end.

CTL=$(command -v shmring-ctl) || { echo "1..0 # SKIP shmring-ctl not built"; exit 0; }
tmp=$(mktemp -d)
n=0
failed=0

cleanup() {
	for r in conf.a conf.b conf.c conf.zc; do "$CTL" delete "$r" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..28"

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	echo "#   exit status $rc; stdout:"
	sed 's/^/#   | /' "$tmp/out" | head -n 20
	echo "#   stderr:"
	sed 's/^/#   | /' "$tmp/err" | head -n 20
}
run() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
# expect DESC STATUS TEXT CMD...: exit STATUS, TEXT in stdout or stderr
# ("" = no output at all).
expect() {
	desc=$1 want=$2 text=$3
	shift 3
	run "$@"
	if [ -n "$text" ]; then
		grep -qF -- "$text" "$tmp/out" "$tmp/err" && ok=1 || ok=0
	else
		[ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] && ok=1 || ok=0
	fi
	if [ "$rc" = "$want" ] && [ $ok = 1 ]; then
		pass "$desc"
	else
		echo "#   wanted status $want and ${text:-no output}"
		fail "$desc"
	fi
}
# field RING KEY: KEY=value of RING in /proc/shmring
field() {
	awk -v r="$1" -v k="$2=" '$1 == "ring" && $2 == r {
		for (i = 3; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }' \
		/proc/shmring
}
list_line() { "$CTL" list | awk -v r="$1" '$1 == r'; }

mkdir -p "$tmp/etc"
cat >"$tmp/etc/conf.a.conf" <<'C'
# a lossless ring for user2
size = 64k
policy = lossless
max_record = 1k
owner = user2:user2
mode = 0640
C
cat >"$tmp/etc/b.conf" <<'C'
name = conf.b
size = 16k
csum = yes
C

# --check touches nothing.
expect "--check of good files succeeds silently" 0 "" \
	"$CTL" apply --check "$tmp/etc/conf.a.conf" "$tmp/etc/b.conf"
run "$CTL" stat conf.a
[ "$rc" = 12 ] && pass "--check created no ring" || fail "--check created no ring"
expect "-v --check says what the file describes" 0 "ring conf.a: size 64K, policy lossless" \
	"$CTL" -v apply --check "$tmp/etc/conf.a.conf"

# apply creates.
expect "apply creates the missing rings" 0 "created conf.a: size 64K, policy lossless, max_record 1024" \
	"$CTL" apply "$tmp/etc/conf.a.conf" "$tmp/etc/b.conf"
grep -q "created conf.b: size 16K, policy overwrite" "$tmp/out" &&
	pass "conf.b created with csum" || fail "conf.b created with csum"
line=$(list_line conf.a)
case $line in
*0640*user2*) pass "conf.a has mode 0640 and owner user2 ($line)" ;;
*) fail "conf.a has mode 0640 and owner user2 ($line)" ;;
esac
[ "$(field conf.a uid)" = 1001 ] && [ "$(field conf.a gid)" = 1001 ] &&
	pass "uid and gid 1001 in /proc/shmring" || fail "uid and gid 1001 in /proc/shmring"
line=$(list_line conf.b)
case $line in
*0644*root*) pass "conf.b: default mode 0644, owner root" ;;
*) fail "conf.b: default mode 0644, owner root ($line)" ;;
esac

# Idempotent.
expect "a second apply changes nothing and prints nothing" 0 "" \
	"$CTL" apply "$tmp/etc/conf.a.conf" "$tmp/etc/b.conf"

# Fixes owner and mode, keeping the records.
"$CTL" write conf.a one
"$CTL" write conf.a two
"$CTL" chmod conf.a 0600
"$CTL" chown conf.a 0:0
expect "apply fixes the mode" 0 "conf.a: mode 0640 (was 0600)" "$CTL" apply "$tmp/etc/conf.a.conf"
grep -q "conf.a: owner user2:user2 (was root:root)" "$tmp/out" &&
	pass "apply fixes the owner" || fail "apply fixes the owner"
[ "$(shmring-dump conf.a | wc -l)" = 2 ] && pass "the records were kept" ||
	fail "the records were kept"

# Attributes that differ: reported, left alone; --recreate re-creates.
sed -i 's/^size = 64k/size = 128k/' "$tmp/etc/conf.a.conf"
expect "a different size is reported with the file, exit 1" 1 \
	"conf.a.conf: ring conf.a exists with size 64K (file: 128K)" \
	"$CTL" apply "$tmp/etc/conf.a.conf"
grep -q -- "--recreate" "$tmp/err" && pass "the message names --recreate" ||
	fail "the message names --recreate"
[ "$(field conf.a size)" = 65536 ] && pass "the ring was left as it is" ||
	fail "the ring was left as it is"
expect "--recreate re-creates it" 0 "re-created conf.a: size 128K, policy lossless" \
	"$CTL" apply --recreate "$tmp/etc/conf.a.conf"
[ "$(field conf.a size)" = 131072 ] && [ "$(shmring-dump conf.a | wc -l)" = 0 ] &&
	pass "new size, no records" || fail "new size, no records"
line=$(list_line conf.a)
case $line in
*0640*user2*) pass "the re-created ring has its owner and mode" ;;
*) fail "the re-created ring has its owner and mode ($line)" ;;
esac
printf 'name = conf.b\nsize = 16k\n' >"$tmp/etc/b.conf"
expect "csum differing is reported" 1 "csum (file: csum = no)" "$CTL" apply "$tmp/etc/b.conf"

# Bad files: every bad line with FILE:LINE, nothing changed.
cat >"$tmp/etc/conf.c.conf" <<'C'
size = 64k
colour = blue
policy = sometimes
mode = 0888
C
expect "an unknown key is reported with FILE:LINE, exit 2" 2 "conf.c.conf:2: unknown key 'colour'" \
	"$CTL" apply "$tmp/etc/conf.c.conf" "$tmp/etc/b.conf"
grep -q "conf.c.conf:3: invalid policy 'sometimes'" "$tmp/err" &&
	grep -q "conf.c.conf:4: invalid mode '0888'" "$tmp/err" &&
	grep -q "3 errors in the configuration: nothing was changed" "$tmp/err" &&
	pass "every bad line is reported" || fail "every bad line is reported"
run "$CTL" stat conf.c
[ "$rc" = 12 ] && pass "nothing was created" || fail "nothing was created"
expect "--check reports the same errors" 2 "conf.c.conf:2: unknown key 'colour'" \
	"$CTL" apply --check "$tmp/etc/conf.c.conf"
printf 'name = conf.a\n' >"$tmp/etc/dup.conf"
printf 'size = 128k\npolicy = lossless\nmax_record = 1k\nowner = user2:user2\nmode = 0640\n' \
	>"$tmp/etc/conf.a.conf"
expect "two files for one ring" 2 "ring conf.a is configured in" \
	"$CTL" apply "$tmp/etc/conf.a.conf" "$tmp/etc/dup.conf"
expect "a missing file" 2 "$tmp/etc/nope.conf: No such file or directory" \
	"$CTL" apply "$tmp/etc/nope.conf"
expect "no FILE is a usage error" 2 "apply: missing FILE" "$CTL" apply
expect "--check with --recreate is refused" 2 "--recreate cannot go with it" \
	"$CTL" apply --check --recreate "$tmp/etc/b.conf"

# A ring the user may not read: said so, not "already exists".
"$CTL" create conf.zc -s 16k -m 0600
printf 'name = conf.zc\nsize = 16k\n' >"$tmp/etc/zc.conf"
chmod 755 "$tmp" "$tmp/etc"
chmod 644 "$tmp/etc/zc.conf"
run su nobody -s /bin/sh -c "$CTL apply $tmp/etc/zc.conf"
[ "$rc" = 4 ] && grep -q "ring conf.zc exists but is not visible to this user" "$tmp/err" &&
	pass "a ring the user cannot see: exit 4 with the reason" ||
	fail "a ring the user cannot see: exit 4 with the reason"

exit $((failed > 0))
