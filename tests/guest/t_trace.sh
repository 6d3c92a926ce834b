#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The module's tracepoints (docs/tracing.md) through tracefs, in the guest
# (busybox sh). TAP.
#
#  - events/shmring/ lists every event, each format with its fields;
#  - with the events disabled, driving the module records nothing;
#  - enabled, each event fires with the right values: ring create/unlink
#    (name, size, policy), commits of write(2) and WRITE_BATCH (first seq,
#    count, bytes, type) and of a zero-copy chunk, records lost and the
#    subscription lapped on an overwrite ring, a lossless writer that waits
#    and is woken by a reader, subscription attach/detach.
#
# Needs the module loaded (tests/vm.sh does it), shmring-ctl, shmring-dump
# and batch_writer (examples/) on PATH. Rings are named tr.*; deleted at
# the end, and the events are disabled again.

CTL=$(command -v shmring-ctl) || { echo "1..0 # SKIP shmring-ctl not built"; exit 0; }
command -v shmring-dump >/dev/null || { echo "Bail out! shmring-dump is not on PATH"; exit 1; }
command -v batch_writer >/dev/null || { echo "Bail out! batch_writer (examples/) is not on PATH"; exit 1; }

# tracefs: its own mount point, or under debugfs on older setups.
T=""
for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
	[ -f "$d/trace" ] && { T=$d; break; }
done
if [ -z "$T" ]; then
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
	[ -f /sys/kernel/tracing/trace ] && T=/sys/kernel/tracing
fi
if [ -z "$T" ]; then
	mount -t debugfs nodev /sys/kernel/debug 2>/dev/null
	[ -f /sys/kernel/debug/tracing/trace ] && T=/sys/kernel/debug/tracing
fi
if [ -z "$T" ]; then
	echo "1..0 # SKIP no tracefs: this kernel has no CONFIG_TRACING (or it cannot be mounted)"
	exit 0
fi
if [ ! -d "$T/events" ]; then
	echo "1..0 # SKIP $T has no events/: this kernel has no CONFIG_EVENT_TRACING"
	exit 0
fi
EV=$T/events/shmring

tmp=$(mktemp -d)
n=0
failed=0
bg=""
RINGS="tr.a tr.ow tr.rd tr.ll tr.zc tr.off"

umask 022	# ring modes below are 0644

cleanup() {
	for p in $bg; do kill "$p" 2>/dev/null; done
	for p in $bg; do wait "$p" 2>/dev/null; done
	[ -f "$EV/enable" ] && echo 0 >"$EV/enable"
	echo >"$T/trace"
	for r in $RINGS; do "$CTL" delete "$r" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..52"

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && echo "#   $2"
	if [ -s "$tmp/ev" ]; then
		echo "#   shmring events in the trace buffer (last 15):"
		tail -n 15 "$tmp/ev" | sed 's/^/#   | /'
	fi
}
check() { if [ "$2" = 0 ]; then pass "$1"; else fail "$1" "${3:-}"; fi; }

# snap: the shmring events now in the buffer, "event: fields" a line.
snap() {
	sed -n 's/.* \(shmring_[a-z_]*: .*\)$/\1/p' "$T/trace" >"$tmp/ev"
}
# has LINE: the buffer had exactly this event line.
has() { grep -qxF -- "$1" "$tmp/ev"; }
# lines EVENT RING: that event's lines for that ring.
lines() { grep -E "^$1: ring=$2( |$)" "$tmp/ev"; }
# val FIELD: the value of FIELD in the line on stdin.
val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
# expect_line DESC LINE
expect_line() {
	snap
	has "$2"
	check "$1" $? "want the line: $2"
}

# --- The events and their formats ----------------------------------------------

if [ -d "$EV" ]; then pass "tracefs lists events/shmring/ ($T)"; else
	fail "tracefs lists events/shmring/ ($T)" "module loaded: $(grep -c '^shmring ' /proc/modules)"
	echo "Bail out! no shmring events"
	exit 1
fi

# check_format EVENT FIELD...: EVENT exists and its format has each field.
check_format() {
	ev=$1
	shift
	f=$EV/$ev/format
	missing=""
	if [ ! -f "$f" ]; then
		fail "$ev has a format" "no $f"
		return
	fi
	for fld in "$@"; do
		grep -qE "field:[^;]*[ *]$fld(\[[0-9]*\])?;" "$f" || missing="$missing $fld"
	done
	[ -z "$missing" ]
	check "$ev: format has the fields $*" $? "missing:$missing; format:$(tr '\n\t' '  ' <"$f")"
}
check_format shmring_ring_create ring size max_record policy flags chunk mode uid
check_format shmring_ring_unlink ring size policy flags records lost
check_format shmring_commit ring seq count type bytes
check_format shmring_lost ring lost tail_seq total
check_format shmring_reader_lapped ring sub pid tap from to seq
check_format shmring_writer_wait ring bytes waits
check_format shmring_writer_woken ring bytes ret wakeups
check_format shmring_sub_attach ring sub created shared pos seq
check_format shmring_sub_detach ring sub pos seq read lost
# Nothing else: a new event gets its test here.
evs=$(ls "$EV" | grep -v -e '^enable$' -e '^filter$' | tr '\n' ' ')
[ "$evs" = "shmring_commit shmring_lost shmring_reader_lapped shmring_ring_create shmring_ring_unlink shmring_sub_attach shmring_sub_detach shmring_writer_wait shmring_writer_woken " ]
check "events/shmring/ holds exactly the nine events" $? "got: $evs"

# --- Disabled: nothing ------------------------------------------------------------

echo 0 >"$EV/enable"
echo 1 >"$T/tracing_on"
echo >"$T/trace"
"$CTL" create tr.off -s 4096 >/dev/null 2>&1 &&
	"$CTL" write tr.off hello >/dev/null 2>&1 &&
	"$CTL" delete tr.off >/dev/null 2>&1
rc=$?
snap
[ $rc = 0 ] && [ ! -s "$tmp/ev" ]
check "with the events disabled, create/write/delete record nothing" $? "commands exit $rc"

echo 1 >"$EV/enable"
[ "$(cat "$EV/enable")" = 1 ] && [ "$(cat "$EV/shmring_commit/enable")" = 1 ]
check "echo 1 > events/shmring/enable enables them all" $?
echo >"$T/trace"

# --- Create, write, batch, zero-copy, unlink ----------------------------------------

"$CTL" create tr.a -s 64k -p overwrite -r 4000
expect_line "ring_create: name, size, max_record, policy" \
	"shmring_ring_create: ring=tr.a size=65536 max_record=4000 policy=overwrite flags=0x0 chunk=0 mode=0644 uid=0"
"$CTL" write tr.a -t 7 hello
"$CTL" write tr.a -t 8 'world!!'
# shmring_write(3): a batch of one.
expect_line "commit of shmring_write(3): seq 0, 1 record, 5 bytes, type 7" \
	"shmring_commit: ring=tr.a seq=0 count=1 bytes=5 type=7"
expect_line "commit of the next one: seq 1, 7 bytes, type 8" \
	"shmring_commit: ring=tr.a seq=1 count=1 bytes=7 type=8"
# 20 records in batches of 8: "record 0".."record 7" (8 bytes each), then
# 8, 9 (8 bytes) and 10..15 (9 bytes), then 16..19 (9 bytes).
batch_writer tr.a 20 8 5
rc=$?
snap
check "batch_writer wrote 20 records in batches of 8" $rc
has "shmring_commit: ring=tr.a seq=2 count=8 bytes=64 type=5" &&
	has "shmring_commit: ring=tr.a seq=10 count=8 bytes=70 type=5" &&
	has "shmring_commit: ring=tr.a seq=18 count=4 bytes=36 type=5"
check "WRITE_BATCH: one commit per batch with its first seq, count and bytes" $?
# write(2), and a batch record too large to stage (copied under wlock).
batch_writer tr.a 3 0 6
rc=$?
snap
check "batch_writer wrote 3 records with write(2)" $rc
has "shmring_commit: ring=tr.a seq=22 count=1 bytes=8 type=6" &&
	has "shmring_commit: ring=tr.a seq=23 count=1 bytes=8 type=6" &&
	has "shmring_commit: ring=tr.a seq=24 count=1 bytes=8 type=6"
check "write(2): a commit per record, seq 22..24, 8 bytes, type 6" $?
head -c 3000 /dev/zero | "$CTL" write tr.a -t 9 -
expect_line "a 3000-byte record of a batch: a commit of its own" \
	"shmring_commit: ring=tr.a seq=25 count=1 bytes=3000 type=9"
[ "$(lines shmring_commit tr.a | wc -l)" = 9 ]
check "tr.a: 9 commits in all" $? "$(lines shmring_commit tr.a | wc -l)"

"$CTL" create tr.zc -s 64k -z -k 4096
"$CTL" write tr.zc zcdata
rc=$?
snap
check "a zero-copy write succeeds" $rc
has "shmring_commit: ring=tr.zc seq=18446744073709551615 count=1 bytes=6 type=0"
check "zero-copy: one commit when the chunk closes (count 1, 6 bytes, no seq)" $?
lines shmring_ring_create tr.zc | grep -q ' flags=0x2 chunk=4096 '
check "ring_create of a zero-copy ring shows flags 0x2 and the chunk" $?

shmring-dump tr.a >/dev/null	# a reader of its own: no subscription
"$CTL" delete tr.a
expect_line "ring_unlink: name, size, policy, records written, lost" \
	"shmring_ring_unlink: ring=tr.a size=65536 policy=overwrite flags=0x0 records=26 lost=0"

# --- Overwrite: a subscription lapped, records lost --------------------------------

"$CTL" create tr.ow -s 4096 -p overwrite
shmring-dump -s s1 tr.ow >/dev/null 2>&1
snap
lines shmring_sub_attach tr.ow | grep -qx 'shmring_sub_attach: ring=tr.ow sub=s1 created=1 shared=0 pos=0 seq=0'
check "sub_attach: s1 created at seq 0" $?
has "shmring_sub_detach: ring=tr.ow sub=s1 pos=0 seq=0 read=0 lost=0"
check "sub_detach: s1 stays at seq 0, nothing read" $?

seq 1 300 | "$CTL" write tr.ow --lines
snap
lost_n=$(lines shmring_lost tr.ow | wc -l)
lost_sum=$(lines shmring_lost tr.ow | val lost | awk '{ s += $1 } END { print s + 0 }')
lapped_n=$(lines shmring_reader_lapped tr.ow | wc -l)
[ "$lost_n" -ge 1 ] && [ "$lost_sum" -ge 1 ] && [ "$lost_sum" -lt 300 ]
check "an overflowing overwrite ring reports records lost ($lost_n events, $lost_sum records)" $?
lines shmring_reader_lapped tr.ow | head -n 1 | grep -q ' sub=s1 pid=0 tap=0 from=0 '
check "reader_lapped: the detached subscription s1, first lapped at position 0" $?
# One cursor: each move of the tail over unread records laps it once,
# and resumes it where the loss ends.
lines shmring_lost tr.ow | val tail_seq >"$tmp/lost_seq"
lines shmring_reader_lapped tr.ow | val seq >"$tmp/lap_seq"
[ "$lapped_n" = "$lost_n" ] && cmp -s "$tmp/lost_seq" "$tmp/lap_seq"
check "each loss laps s1 once, at the same seq (tail_seq = seq)" $? \
	"lost tail_seq: $(tr '\n' ' ' <"$tmp/lost_seq"); lapped seq: $(tr '\n' ' ' <"$tmp/lap_seq")"
# The losses add up: tail_seq - lost of the first loss starts at 0, and the
# running total is the ring's.
last_total=$(lines shmring_lost tr.ow | tail -n 1 | val total)
[ "$last_total" = "$lost_sum" ]
check "lost: total is the running sum of lost ($last_total)" $?
shmring-dump -s s1 tr.ow >"$tmp/dump" 2>/dev/null
first=$(grep -v '^--' "$tmp/dump" | head -n 1 | cut -d' ' -f1)
snap
[ "$first" = "$(tail -n 1 "$tmp/lap_seq")" ]
check "s1's next record is at the seq of its last lap ($first)" $?
has "shmring_sub_attach: ring=tr.ow sub=s1 created=0 shared=0 pos=0 seq=0" ||
	lines shmring_sub_attach tr.ow | tail -n 1 | grep -q ' created=0 '
check "sub_attach again: created=0" $?
det=$(lines shmring_sub_detach tr.ow | tail -n 1)
[ "$(echo "$det" | val seq)" = 300 ] &&
	[ "$(echo "$det" | val lost)" = "$lost_sum" ] &&
	[ $(($(echo "$det" | val read) + lost_sum)) = 300 ]
check "sub_detach: s1 at seq 300, read + lost = 300, lost = the events' sum" $? "$det"

# --- Readers of their own, stopped: lapped with their pid, a tap too ---------------

"$CTL" create tr.rd -s 4096 -p overwrite
shmring-dump -f --no-tap tr.rd >"$tmp/rd1" 2>&1 &
rd1=$!
shmring-dump -f tr.rd >"$tmp/rd2" 2>&1 &
rd2=$!
bg="$rd1 $rd2"
"$CTL" write tr.rd first
i=0
while [ $i -lt 300 ] && ! { [ -s "$tmp/rd1" ] && [ -s "$tmp/rd2" ]; }; do
	sleep 0.1
	i=$((i + 1))
done
kill -STOP $rd1 $rd2
seq 1 300 | "$CTL" write tr.rd --lines
snap
kill -CONT $rd1 $rd2
kill $rd1 $rd2
wait $rd1 $rd2 2>/dev/null
bg=""
lines shmring_reader_lapped tr.rd | grep -q "^shmring_reader_lapped: ring=tr.rd sub= pid=$rd1 tap=0 from=[1-9]"
check "reader_lapped: a stopped reader of its own, with its pid, no sub, not a tap" $?
lines shmring_reader_lapped tr.rd | grep -q "^shmring_reader_lapped: ring=tr.rd sub= pid=$rd2 tap=1 "
check "reader_lapped: a stopped tap (shmring-dump -f), tap=1" $?
rd_lost=$(lines shmring_lost tr.rd | val lost | awk '{ s += $1 } END { print s + 0 }')
rd_laps=$(lines shmring_reader_lapped tr.rd | grep -c " pid=$rd1 tap=0 ")
[ "$rd_lost" -ge 1 ] && [ "$(lines shmring_lost tr.rd | wc -l)" = "$rd_laps" ]
check "tr.rd: a lost event for each lap of the reader ($rd_laps, $rd_lost records)" $?

# --- Lossless: a writer waits for a subscription and is woken -------------------------

"$CTL" create tr.ll -s 4096 -p lossless
shmring-dump -s w1 tr.ll >/dev/null 2>&1	# holds writers back from seq 0
seq 1 400 | "$CTL" write tr.ll --lines >"$tmp/wout" 2>&1 &
wpid=$!
bg="$bg $wpid"
i=0
while [ $i -lt 300 ]; do
	snap
	lines shmring_writer_wait tr.ll >/dev/null && break
	sleep 0.1
	i=$((i + 1))
done
lines shmring_writer_wait tr.ll >/dev/null && kill -0 $wpid 2>/dev/null
check "the lossless writer, blocked by w1, fires writer_wait" $?
lines shmring_writer_woken tr.ll >/dev/null
check "and no writer_woken before a reader frees room" $((!$?))
# Drain w1 until the writer is done: each read frees room and wakes it.
: >"$tmp/ll"
i=0
while kill -0 $wpid 2>/dev/null && [ $i -lt 200 ]; do
	shmring-dump -s w1 tr.ll >>"$tmp/ll" 2>/dev/null
	sleep 0.05
	i=$((i + 1))
done
wait $wpid
rc=$?
bg=""
shmring-dump -s w1 tr.ll >>"$tmp/ll" 2>/dev/null
snap
check "the writer finished once w1 was read (exit $rc)" $rc "$(cat "$tmp/wout")"
waits=$(lines shmring_writer_wait tr.ll | wc -l)
wokens=$(lines shmring_writer_woken tr.ll | wc -l)
[ "$waits" -ge 1 ] && [ "$waits" = "$wokens" ]
check "every writer_wait has its writer_woken ($waits, $wokens)" $?
[ -z "$(lines shmring_writer_woken tr.ll | val ret | grep -vx 0)" ] &&
	[ "$(lines shmring_writer_woken tr.ll | head -n 1 | val wakeups)" -ge 1 ]
check "writer_woken: ret=0 (room); the first after at least one wakeup" $?
lines shmring_writer_wait tr.ll | head -n 1 | grep -qE ' bytes=[1-9][0-9]* waits=1$'
check "writer_wait: the bytes needed, the ring's first wait" $?
lines shmring_commit tr.ll | val seq >"$tmp/llseq"
seq 0 399 | cmp -s - "$tmp/llseq"
check "lossless: 400 commits, seq 0..399 in order" $? "$(wc -l <"$tmp/llseq") commits"
[ "$(grep -vc '^--' "$tmp/ll")" = 400 ] && ! grep -q '^--' "$tmp/ll"
check "w1 read all 400 records, none lost" $?
[ -z "$(lines shmring_lost tr.ll)" ] && [ -z "$(lines shmring_reader_lapped tr.ll)" ]
check "lossless: no lost or lapped events" $?
lines shmring_sub_detach tr.ll | tail -n 1 | grep -q ' seq=400 read=400 lost=0$'
check "sub_detach of w1: seq 400, read 400, lost 0" $?

# --- Unlink, then disabled again --------------------------------------------------------

"$CTL" delete tr.ow tr.rd tr.ll tr.zc
snap
has "shmring_ring_unlink: ring=tr.ow size=4096 policy=overwrite flags=0x0 records=300 lost=$lost_sum" &&
	has "shmring_ring_unlink: ring=tr.ll size=4096 policy=lossless flags=0x0 records=400 lost=0" &&
	[ -n "$(lines shmring_ring_unlink tr.zc)" ]
check "ring_unlink for each deleted ring, with its counters" $?
# A reader of its own (shmring-dump tr.a) is no subscription.
[ -z "$(grep -E '^shmring_sub_(attach|detach): ring=tr\.a' "$tmp/ev")" ]
check "no subscription events for a ring read without one (tr.a)" $?

echo 0 >"$EV/enable"
echo >"$T/trace"
"$CTL" create tr.off -s 4096 -p overwrite && seq 1 300 | "$CTL" write tr.off --lines &&
	batch_writer tr.off 10 >/dev/null && "$CTL" delete tr.off
rc=$?
snap
[ $rc = 0 ] && [ ! -s "$tmp/ev" ]
check "disabled again: create, writes, batches and delete record nothing" $? "commands exit $rc"
[ "$(cat "$EV/shmring_commit/enable")" = 0 ]
check "echo 0 > events/shmring/enable disables them all" $?

[ $n = 52 ] || echo "# ran $n checks, planned 52"
[ $failed = 0 ]
