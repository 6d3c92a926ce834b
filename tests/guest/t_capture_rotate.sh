#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-dump --dir in the guest (busybox sh): rotated capture files by
# size and by time, retention (--keep, --max-total), each file a complete
# capture that shmring-dump -r reads without complaint, every record
# captured exactly once across the files, and a restart (clean, after a
# file cut short by a crash, or after the ring lapped the dumper) that
# resumes without loss or duplicates, or with the loss recorded. TAP.
#
# Rings are named rot.*; they are deleted at the end.

DUMP=$(command -v shmring-dump) || { echo "1..0 # SKIP shmring-dump not built"; exit 0; }
CTL=$(command -v shmring-ctl) || { echo "Bail out! shmring-ctl is not on PATH"; exit 1; }
tmp=$(mktemp -d)
n=0
failed=0
bg=""

cleanup() {
	for p in $bg; do kill "$p" 2>/dev/null; done
	for r in rot.a rot.b rot.c rot.d; do "$CTL" delete "$r" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..26"

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -s "$tmp/err" ] && sed 's/^/#   stderr: /' "$tmp/err" | head -n 20
	[ -n "${2:-}" ] && echo "#   $2"
}
check() { if [ "$2" = 0 ]; then pass "$1"; else fail "$1" "${3:-}"; fi; }

# write RING FROM TO: records "rec-FROM".."rec-TO" (4 digits)
write() {
	i=$2
	while [ "$i" -le "$3" ]; do printf 'rec-%04d\n' "$i"; i=$((i + 1)); done |
		"$CTL" write "$1" --lines
}
# expected FROM TO: the payloads write() wrote, one per line
expected() {
	i=$1
	while [ "$i" -le "$2" ]; do printf 'rec-%04d\n' "$i"; i=$((i + 1)); done
}
# payloads DIR: the payloads of every capture in DIR, in file order; the
# messages of shmring-dump -r in $tmp/rerr, and 1 in $tmp/rbad if one failed
payloads() {
	: >"$tmp/rerr"
	rm -f "$tmp/rbad"
	for f in "$1"/*.cap; do
		"$DUMP" -r "$f" 2>>"$tmp/rerr" || echo 1 >"$tmp/rbad"
	done | grep -v '^--' | awk '{ print $NF }'
}
nfiles() { ls "$1" | grep -c '\.cap$'; }

"$CTL" create rot.a -s 1M -p lossless -r 1k || { echo "Bail out! create rot.a"; exit 1; }
D=$tmp/a
mkdir "$D"

# A first run on the empty ring: the subscription, and a file with no record.
"$DUMP" -s cap --dir "$D" rot.a 2>"$tmp/err"
check "a run on an empty ring succeeds" $?
[ "$(nfiles "$D")" = 1 ] && pass "one (empty) file" || fail "one (empty) file" "$(ls "$D")"
case $(ls "$D") in
rot.a-[0-9]*T[0-9]*Z-00000000000000000000.cap) pass "the name is RING-TIME-SEQ.cap" ;;
*) fail "the name is RING-TIME-SEQ.cap" "$(ls "$D")" ;;
esac

# Rotation by size: 64-byte frames, 2 KiB files.
write rot.a 1 200
"$DUMP" -s cap --dir "$D" --rotate-size 2k rot.a 2>"$tmp/err"
check "a run with --rotate-size 2k succeeds" $?
grep -q "200 records written to $D" "$tmp/err"
check "it says 200 records were written to the directory" $?
nf=$(nfiles "$D")
[ "$nf" -ge 7 ] && [ "$nf" -le 9 ] && pass "rotated into $nf files" || fail "rotated into 7-9 files" "$nf"
big=0
for f in "$D"/*.cap; do [ "$(wc -c <"$f")" -le $((2048 + 64)) ] || big=1; done
check "no file is larger than the rotation size plus a frame" $big
payloads "$D" >"$tmp/got"
expected 1 200 >"$tmp/want"
cmp -s "$tmp/got" "$tmp/want"
check "every record exactly once, in order, across the files" $? "$(wc -l <"$tmp/got") lines"
[ ! -e "$tmp/rbad" ] && [ ! -s "$tmp/rerr" ] && pass "every file is a complete capture (no message from -r)" ||
	fail "every file is a complete capture" "$(head -n 3 "$tmp/rerr")"
"$DUMP" -r "$(ls "$D"/*.cap | sed -n 3p)" -j | head -n 1 | grep -q '"seq":'
check "a middle file reads on its own" $?

# A clean restart resumes after the last record on disk.
write rot.a 201 300
"$DUMP" -s cap --dir "$D" --rotate-size 2k rot.a 2>"$tmp/err"
check "a second run succeeds" $?
payloads "$D" >"$tmp/got"
expected 1 300 >"$tmp/want"
cmp -s "$tmp/got" "$tmp/want"
check "after a restart: records 1-300 exactly once" $?

# A crash: the newest file loses its last frame half-way, and the
# subscription had already moved past it. The next run writes it again.
write rot.a 301 350
"$DUMP" -s cap --dir "$D" rot.a 2>/dev/null
last=$(ls "$D"/*.cap | tail -n 1)
size=$(wc -c <"$last")
truncate -s $((size - 10)) "$last" 2>/dev/null || dd if=/dev/null of="$last" bs=1 seek=$((size - 10)) 2>/dev/null
"$DUMP" -r "$last" >/dev/null 2>"$tmp/err"
grep -q "truncated frame" "$tmp/err"
check "the cut file reads up to its last whole frame" $?
write rot.a 351 360
"$DUMP" -s cap --dir "$D" rot.a 2>"$tmp/err"
check "the run after the crash succeeds" $?
payloads "$D" >"$tmp/got"
expected 1 360 >"$tmp/want"
cmp -s "$tmp/got" "$tmp/want"
check "after the crash: records 1-360 exactly once (the cut one written again)" $? \
	"$(diff "$tmp/want" "$tmp/got" | head -n 5 | tr '\n' ' ')"

# Rotation by time, following; SIGTERM finishes the file.
"$CTL" create rot.b -s 64k -p lossless
D=$tmp/b
"$DUMP" -f -s cap --dir "$D" --rotate-time 1 --fsync-interval 1 rot.b 2>"$tmp/err" &
pid=$!
bg="$bg $pid"
sleep 1
write rot.b 1 5
sleep 3
write rot.b 6 10
sleep 3
[ "$(nfiles "$D")" -ge 2 ] && pass "--rotate-time 1: a new file after a second" ||
	fail "--rotate-time 1: a new file after a second" "$(ls "$D")"
empty=0
for f in "$D"/*.cap; do [ -n "$("$DUMP" -r "$f" 2>/dev/null)" ] || empty=$((empty + 1)); done
[ $empty -le 1 ] && pass "idle seconds make no empty files (but the current one)" ||
	fail "idle seconds make no empty files (but the current one)" "$(ls "$D" | tr '\n' ' ')"
kill -TERM $pid
wait $pid
check "SIGTERM: exit status 0" $?
payloads "$D" >"$tmp/got"
expected 1 10 >"$tmp/want"
cmp -s "$tmp/got" "$tmp/want" && [ ! -s "$tmp/rerr" ]
check "time rotation: every record once, every file complete" $?

# Retention.
"$CTL" create rot.c -s 1M -r 1k
write rot.c 1 200
D=$tmp/c
"$DUMP" --dir "$D" --rotate-size 1k --keep 3 rot.c 2>"$tmp/err"
check "--keep 3 run succeeds" $?
[ "$(nfiles "$D")" = 3 ] && pass "--keep 3 leaves 3 files" || fail "--keep 3 leaves 3 files" "$(nfiles "$D")"
payloads "$D" | tail -n 1 | grep -qx rec-0200 && ! payloads "$D" | grep -qx rec-0001
check "the newest files were kept" $?
D=$tmp/c2
"$DUMP" --dir "$D" --rotate-size 1k --max-total 3k rot.c 2>"$tmp/err"
total=$(cat "$D"/*.cap | wc -c)
[ "$total" -le 3072 ] && [ "$(nfiles "$D")" -ge 2 ] && pass "--max-total 3k: $total bytes kept" ||
	fail "--max-total 3k keeps at most 3072 bytes" "$total bytes, $(nfiles "$D") files"

# A ring that lapped the stopped dumper: the gap is recorded as lost.
"$CTL" create rot.d -s 4k
write rot.d 1 10
D=$tmp/d
"$DUMP" --dir "$D" rot.d 2>/dev/null
write rot.d 11 400
"$DUMP" --dir "$D" rot.d 2>"$tmp/err"
last=$(ls "$D"/*.cap | tail -n 1)
"$DUMP" -r "$last" | head -n 1 | grep -q '^-- lost [0-9]* records (seq 10\.\.'
check "records overwritten while the dumper was stopped are recorded as lost" $? \
	"$("$DUMP" -r "$last" | head -n 1)"
payloads "$D" | tail -n 1 | grep -qx rec-0400
check "and the capture goes on to the newest record" $?

# Usage errors.
"$DUMP" --keep 3 rot.a >/dev/null 2>"$tmp/err"
[ $? = 2 ] && grep -q "go with --dir" "$tmp/err"
check "--keep without --dir is a usage error" $?

exit $((failed > 0))
