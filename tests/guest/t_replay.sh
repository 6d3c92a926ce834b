#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-ctl replay in the guest (busybox sh): capture a ring, delete it,
# create it again, replay the capture: same records in the same order with
# the same types and payloads (binary too). --time-map keep puts the
# original timestamps in time-map records (docs/replay.md); --from-seq and
# -n select; several rotated files replay in order; a truncated file is
# replayed up to its last whole record with a warning; corrupt files,
# records too large and missing rings fail with clear messages; a lossless
# ring makes replay wait (or fail with --nonblock) instead of dropping. TAP.
#
# Rings are named rp.*; they are deleted at the end.

CTL=$(command -v shmring-ctl) || { echo "1..0 # SKIP shmring-ctl not built"; exit 0; }
DUMP=$(command -v shmring-dump) || { echo "Bail out! shmring-dump is not on PATH"; exit 1; }
tmp=$(mktemp -d)
n=0
failed=0
bg=""
MAP_TYPE=4294922836	# 0xffff5254

cleanup() {
	for p in $bg; do kill "$p" 2>/dev/null; done
	for r in rp.a rp.b rp.c rp.d rp.small rp.big rp.l rp.m; do "$CTL" delete "$r" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..29"

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -s "$tmp/err" ] && sed 's/^/#   stderr: /' "$tmp/err" | head -n 10
	[ -n "${2:-}" ] && echo "#   $2"
}
check() { if [ "$2" = 0 ]; then pass "$1"; else fail "$1" "${3:-}"; fi; }
# expect DESC STATUS TEXT CMD...: CMD exits STATUS with TEXT on stderr
expect() {
	desc=$1 want=$2 text=$3
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" = "$want" ] && grep -qF -- "$text" "$tmp/err"; then
		pass "$desc"
	else
		fail "$desc" "exit $rc, wanted $want and '$text'"
	fi
}
# content [ARGS...]: "type=T len=L PAYLOAD" per record of shmring-dump ARGS
content() { "$DUMP" "$@" | grep -v '^--' | awk '{ $1 = $2 = $3 = ""; print }'; }
lines() {
	i=$1
	while [ "$i" -le "$2" ]; do printf '%s-%04d\n' "$3" "$i"; i=$((i + 1)); done
}

# The original ring: three types, and a binary payload.
"$CTL" create rp.a -s 64k -p lossless -r 1k || { echo "Bail out! create"; exit 1; }
lines 1 10 one | "$CTL" write rp.a -t 1 --lines
lines 1 5 seven | "$CTL" write rp.a -t 7 --lines
printf '\000\001\377bin' | "$CTL" write rp.a -t 9 -
lines 1 5 big | "$CTL" write rp.a -t 0x100 --lines
"$DUMP" -w "$tmp/a.cap" rp.a 2>/dev/null
check "capture of rp.a" $?
content rp.a >"$tmp/want"
[ "$(wc -l <"$tmp/want")" = 21 ] && pass "21 records captured" || fail "21 records captured"

# Delete, create, replay.
"$CTL" delete rp.a && "$CTL" create rp.a -s 64k -p lossless -r 1k
expect "replay succeeds and reports the counts" 0 "replayed 21 records from 1 file into rp.a" \
	"$CTL" replay "$tmp/a.cap" rp.a
content rp.a >"$tmp/got"
cmp -s "$tmp/want" "$tmp/got"
check "the replayed ring has the same types, lengths and payloads in order" $? \
	"$(diff "$tmp/want" "$tmp/got" | head -n 4 | tr '\n' ' ')"
"$DUMP" rp.a | awk '{ print $4 }' | sort | uniq -c | tr -s ' ' >"$tmp/types"
grep -q "10 type=1$" "$tmp/types" && grep -q "5 type=7$" "$tmp/types" &&
	grep -q "1 type=9$" "$tmp/types" && grep -q "5 type=256$" "$tmp/types"
check "types 1, 7, 9 and 0x100 as many times as captured" $? "$(cat "$tmp/types" | tr '\n' ' ')"
"$DUMP" rp.a | grep -q 'type=9 len=6 hex:0001ff62696e$'
check "the binary payload is byte for byte the same" $?

# --time-map keep: each record after a time-map record with its old time.
"$CTL" create rp.b -s 64k -r 1k
expect "--time-map keep replays with time-map records" 0 "with 21 time-map records" \
	"$CTL" replay --time-map keep "$tmp/a.cap" rp.b
"$DUMP" rp.b | awk 'NR % 2 == 1 { print $4, $5 }' | sort -u >"$tmp/maps"
[ "$(cat "$tmp/maps")" = "type=$MAP_TYPE len=40" ] && pass "every other record is a 40-byte time-map record" ||
	fail "every other record is a 40-byte time-map record" "$(head -n 3 "$tmp/maps" | tr '\n' ' ')"
"$DUMP" rp.b | awk 'NR % 2 == 0' | awk '{ $1 = $2 = $3 = ""; print }' >"$tmp/got"
cmp -s "$tmp/want" "$tmp/got"
check "between them, the records as captured" $?
hex=$("$DUMP" rp.b | head -n 1 | awk '{ print $NF }')
hex=${hex#hex:}
# bytes 16..23: the original time, little-endian
t=""
for i in 7 6 5 4 3 2 1 0; do
	t="$t$(echo "$hex" | cut -c$((33 + 2 * i))-$((34 + 2 * i)))"
done
orig=$("$DUMP" -r "$tmp/a.cap" -j 2>/dev/null | head -n 1 | sed 's/.*"tstamp_ns": *\([0-9]*\).*/\1/')
[ -n "$orig" ] && [ "$((0x$t))" = "$orig" ]
check "the time-map record holds the original timestamp" $? "map $((0x$t)), capture $orig"
[ "$(echo "$hex" | cut -c1-8)" = 5352544d ] && [ "$(echo "$hex" | cut -c9-16)" = 01000000 ]
check "magic SRTM and the type of the record that follows" $? "$hex"

# Selection.
"$CTL" create rp.c -s 64k -r 1k
expect "--from-seq 3 -n 4" 0 "replayed 4 records" "$CTL" replay --from-seq 3 -n 4 "$tmp/a.cap" rp.c
[ "$("$DUMP" rp.c | awk '{ print $NF }' | tr '\n' ' ')" = "one-0004 one-0005 one-0006 one-0007 " ]
check "records with captured seq 3 to 6" $?

# Rotated files, in order.
"$CTL" create rp.big -s 1M -r 1k
lines 1 300 r | "$CTL" write rp.big --lines
"$DUMP" --dir "$tmp/dir" --rotate-size 4k rp.big 2>/dev/null
"$CTL" create rp.d -s 1M -r 1k
expect "replay of the rotated files of a --dir capture" 0 "replayed 300 records from" \
	"$CTL" replay "$tmp/dir"/*.cap rp.d
content rp.big >"$tmp/want2"
content rp.d >"$tmp/got"
cmp -s "$tmp/want2" "$tmp/got"
check "300 records in order across $(ls "$tmp/dir" | wc -l) files" $?

# A truncated file: everything before the cut, and a warning.
cp "$tmp/a.cap" "$tmp/cut.cap"
size=$(wc -c <"$tmp/cut.cap")
truncate -s $((size - 10)) "$tmp/cut.cap"
"$CTL" delete rp.c; "$CTL" create rp.c -s 64k -r 1k
expect "a truncated file is replayed up to its cut, exit 0" 0 "truncated frame at byte offset" \
	"$CTL" replay "$tmp/cut.cap" rp.c
grep -q "the file was cut short" "$tmp/err" && grep -q "replayed 20 records" "$tmp/err"
check "the warning says so and 20 records were replayed" $?

# Errors.
cp "$tmp/a.cap" "$tmp/bad.cap"
printf 'X' | dd of="$tmp/bad.cap" bs=1 seek=400 conv=notrunc 2>/dev/null
expect "a corrupt frame stops the replay, exit 1" 1 "corrupt frame at byte offset" \
	"$CTL" replay "$tmp/bad.cap" rp.c
expect "a file that is no capture" 1 "not a shmring capture file" \
	"$CTL" replay /etc/passwd rp.c
expect "a missing file" 1 "$tmp/nope.cap: No such file" "$CTL" replay "$tmp/nope.cap" rp.c
"$CTL" create rp.small -s 4k -r 8
expect "a record above the ring's max_record" 1 "more than ring rp.small's max_record (8)" \
	"$CTL" replay "$tmp/a.cap" rp.small
expect "--time-map keep into a ring with max_record below 40" 1 "needs a max_record of at least 40" \
	"$CTL" replay --time-map keep "$tmp/a.cap" rp.small
expect "a missing ring: exit 12" 12 "rp.none: no ring by that name" \
	"$CTL" replay "$tmp/a.cap" rp.none
expect "no RING is a usage error" 2 "missing RING" "$CTL" replay "$tmp/a.cap"
expect "a bad --time-map is a usage error" 2 "invalid --time-map 'later'" \
	"$CTL" replay --time-map later "$tmp/a.cap" rp.c

# Lossless: replay waits for the reader instead of dropping.
"$CTL" create rp.l -s 4k -p lossless -r 64
"$DUMP" -s slow rp.l 2>/dev/null		# the subscription that holds writers back
expect "--nonblock into a full lossless ring fails" 1 "--nonblock was given" \
	"$CTL" replay --nonblock "$tmp/dir"/*.cap rp.l
"$DUMP" -s slow rp.l >/dev/null 2>&1	# drain what --nonblock wrote
"$CTL" replay "$tmp/dir"/*.cap rp.l 2>"$tmp/err" &
pid=$!
bg="$bg $pid"
sleep 2
kill -0 $pid 2>/dev/null
check "replay waits while the lossless ring is full" $?
"$DUMP" -f -s slow rp.l >"$tmp/slow" 2>/dev/null &
dpid=$!
bg="$bg $dpid"
wait $pid
check "it finishes once a reader makes room" $?
i=0
while [ "$(grep -vc '^--' "$tmp/slow")" -lt 300 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill $dpid
awk '{ print $NF }' "$tmp/slow" | grep -v '^--$' >"$tmp/got"
lines 1 300 r >"$tmp/want3"
cmp -s "$tmp/want3" "$tmp/got"
check "the reader got all 300 records, none dropped" $? "$(wc -l <"$tmp/got") records"

exit $((failed > 0))
