#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-dump in the guest (busybox sh), TAP output: printing, --from, -f
# (through a tap, and --no-tap), captures, subscriptions.  Needs the module
# loaded and shmring-dump and writer on PATH (tests/vm.sh does both).
#
#   writer RING COUNT [TYPE]   records "command N from pid P" (lossless 1 MiB ring)
#   writer RING - [TYPE]       one record per line of stdin
#
# Each test's condition is a string that t() evals, so variables in it
# expand when the test runs.
# shellcheck disable=SC2016,SC2034

n=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
T=20	# seconds any single command may take

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); echo "not ok $n - $1"; }
# t DESC SHELL-CONDITION: one test; shows the files of this step on failure.
t() {
	if eval "$2"; then
		pass "$1"
	else
		fail "$1"
		echo "#   condition: $2"
		for f in "$tmp"/out "$tmp"/err; do
			[ -s "$f" ] && sed 's/^/#   '"${f##*/}"': /' "$f" | head -n 20
		done
	fi
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
lines() { wc -l <"$1" | tr -d ' '; }
# dump ARGS...: shmring-dump with a time limit; status in $rc, output in out/err.
dump() {
	timeout $T shmring-dump "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

for prog in shmring-dump writer; do
	command -v $prog >/dev/null || { echo "Bail out! $prog is not on PATH"; exit 1; }
done

# --- Plain dump ----------------------------------------------------------
R=dump.plain
writer $R 5 || echo "# writer failed"
dump $R
t "plain dump exits 0" '[ $rc = 0 ]'
t "plain dump prints the 5 records" '[ "$(lines "$tmp/out")" = 5 ]'
t "record line: seq, ISO-8601 UTC usec time, pid, type, len, text payload" \
	'head -n 1 "$tmp/out" | grep -Eq "^0 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z pid=[0-9]+ type=1 len=2[0-9] command 0 from pid [0-9]+\$"'
t "records in order, oldest first" \
	'[ "$(sed -n "s/^\([0-9]*\) .* command \([0-9]*\) from.*/\1=\2/p" "$tmp/out" | tr "\n" " ")" = "0=0 1=1 2=2 3=3 4=4 " ]'
t "nothing on stderr" '[ ! -s "$tmp/err" ]'
cp "$tmp/out" "$tmp/plain5"

dump $R
t "a second plain dump starts again at the oldest record" 'cmp -s "$tmp/out" "$tmp/plain5"'

# --- -n -------------------------------------------------------------------
dump -n 2 $R
t "-n 2: the last two records" \
	'[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 2 ] && grep -q "^3 .*command 3 from" "$tmp/out" && grep -q "^4 .*command 4 from" "$tmp/out"'
dump -n 0 $R
t "-n 0: nothing" '[ $rc = 0 ] && [ ! -s "$tmp/out" ]'
dump --from 3 $R
t "--from 3: records 3 and 4" '[ $rc = 0 ] && [ "$(cut -d" " -f1 "$tmp/out" | tr "\n" " ")" = "3 4 " ]'

# --- --type -------------------------------------------------------------
writer $R 3 7
dump --type 7 $R
t "--type 7: the three type-7 records" \
	'[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 3 ] && [ "$(grep -c " type=7 " "$tmp/out")" = 3 ]'
dump --type 1,7 $R
t "--type 1,7: all eight" '[ "$(lines "$tmp/out")" = 8 ]'
dump -t 1 -t 7 $R
t "-t 1 -t 7: all eight" '[ "$(lines "$tmp/out")" = 8 ]'
dump -t 0x7 $R
t "-t 0x7: hexadecimal type" '[ "$(lines "$tmp/out")" = 3 ]'
dump --type 9 $R
t "--type 9: none" '[ $rc = 0 ] && [ ! -s "$tmp/out" ]'

# --- --from POS: shmring_seek() -----------------------------------------------
# $R holds seq 0..7: 0-4 from one writer process, 5-7 (type 7) from another.
dump --from seq=6 $R
t "--from seq=6: records 6 and 7" '[ $rc = 0 ] && [ "$(cut -d" " -f1 "$tmp/out" | tr "\n" " ")" = "6 7 " ]'
dump --from oldest $R
t "--from oldest: all eight" '[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 8 ]'
dump --from end $R
t "--from end: nothing (only records written from now on)" '[ $rc = 0 ] && [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ]'
dump --from time=2000-01-01T00:00:00Z $R
t "--from time= before the ring: all eight" '[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 8 ]'
dump --from time=$((($(date +%s) + 3600) * 1000000000)) $R
t "--from time=NS after the newest record: nothing" '[ $rc = 0 ] && [ ! -s "$tmp/out" ]'
dump $R
when5=$(sed -n 's/^5 \([^ ]*\) .*/\1/p' "$tmp/out")
dump --from "time=$when5" $R
t "--from time=ISO of record 5 (as dump prints it): records 5 to 7" \
	'[ $rc = 0 ] && [ "$(cut -d" " -f1 "$tmp/out" | tr "\n" " ")" = "5 6 7 " ]'
dump -j $R
ns5=$(sed -n 's/^{"seq":5,"time":"[^"]*","tstamp_ns":\([0-9]*\),.*/\1/p' "$tmp/out")
dump --from "time=$ns5" $R
t "--from time=NS, the tstamp_ns of dump -j for record 5: records 5 to 7" \
	'[ $rc = 0 ] && [ -n "$ns5" ] && [ "$(cut -d" " -f1 "$tmp/out" | tr "\n" " ")" = "5 6 7 " ]'
dump -w "$tmp/from.cap" $R
dump -r "$tmp/from.cap" --from "time=$when5"
t "-r --from time=ISO: the same records of a capture" \
	'[ $rc = 0 ] && [ "$(cut -d" " -f1 "$tmp/out" | tr "\n" " ")" = "5 6 7 " ]'
dump -r "$tmp/from.cap" --from end
t "-r --from end: usage error, exit 2" '[ $rc = 2 ] && grep -q "a capture is read from its start" "$tmp/err"'
dump --from start $R
t "--from start: usage error naming the forms, exit 2" \
	'[ $rc = 2 ] && grep -q "invalid --from .start.: SEQ, oldest, end, seq=N or time=ISO-8601|NS" "$tmp/err"'
dump -s fromsub $R
dump -s fromsub --from seq=6 $R
t "-s --from seq=6: moves the subscription back to 6" \
	'[ $rc = 0 ] && [ "$(cut -d" " -f1 "$tmp/out" | tr "\n" " ")" = "6 7 " ]'
dump -s fromsub --from oldest $R
t "-s --from oldest: from the start again" '[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 8 ]'
dump -s fromsub $R
t "-s afterwards: nothing new" '[ $rc = 0 ] && [ ! -s "$tmp/out" ]'

# --- --json --------------------------------------------------------------
dump --json $R
t "--json: one object per record" '[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 8 ]'
t "--json: every line has seq, time, tstamp_ns, pid, type, len, text" \
	'[ "$(grep -Ec "^\{\"seq\":[0-9]+,\"time\":\"[0-9T:.-]+Z\",\"tstamp_ns\":[0-9]+,\"pid\":[0-9]+,\"type\":[17],\"len\":[0-9]+,\"text\":\"command [0-9]+ from pid [0-9]+\"\}\$" "$tmp/out")" = 8 ]'

cp "$tmp/out" "$tmp/json8"
dump -j $R
t "-j: the same as --json" '[ $rc = 0 ] && cmp -s "$tmp/out" "$tmp/json8"'
dump -p $R
t "-p: indented objects, one member a line" \
	'[ $rc = 0 ] && [ "$(grep -c "^{\$" "$tmp/out")" = 8 ] && [ "$(grep -c "^}\$" "$tmp/out")" = 8 ] &&
	 [ "$(grep -Ec "^  \"seq\": [0-9]+,\$" "$tmp/out")" = 8 ] && grep -Eq "^  \"text\": \"command [0-9]+ from pid [0-9]+\"\$" "$tmp/out"'
dump -j -p -n 1 $R
t "-j -p -n 1: one indented object" '[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 9 ]'
dump -t 010 $R
t "-t 010: decimal (10), not octal: nothing of type 10" '[ $rc = 0 ] && [ ! -s "$tmp/out" ]'
dump -n 0x2 $R
t "-n 0x2: hexadecimal count" '[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 2 ]'

B=dump.bin
printf 'a\001b\nplain\n' | writer $B - 5
dump $B
t "binary payload printed as hex" 'grep -q "^0 .* type=5 len=3 hex:610162\$" "$tmp/out" && grep -q "^1 .* len=5 plain\$" "$tmp/out"'
dump --json $B
t "--json: binary payload as base64" 'grep -q "\"len\":3,\"base64\":\"YQFi\"}\$" "$tmp/out" && grep -q "\"text\":\"plain\"}\$" "$tmp/out"'
dump --hex $B
t "--hex: hexdump -C lines under the record line" \
	'[ "$(lines "$tmp/out")" = 4 ] && grep -q "^0 .* len=3\$" "$tmp/out" && grep -q "^  00000000  61 01 62  .*|a\.b|\$" "$tmp/out"'

# --- -w / -r ------------------------------------------------------------
dump -w "$tmp/cap" $R
t "-w: exits 0, nothing on stdout" '[ $rc = 0 ] && [ ! -s "$tmp/out" ] && [ -s "$tmp/cap" ]'
t "-w: count on stderr" 'grep -q "8 records written to" "$tmp/err"'
dump $R
cp "$tmp/out" "$tmp/plain8"
dump -r "$tmp/cap"
t "-r gives the same output as the ring" '[ $rc = 0 ] && cmp -s "$tmp/out" "$tmp/plain8"'
dump --json $R
cp "$tmp/out" "$tmp/live"
dump -r "$tmp/cap" --json
t "-r --json gives the same output as the ring" 'cmp -s "$tmp/out" "$tmp/live"'
dump -r "$tmp/cap" -n 2 --type 7
t "-r with -n and --type" '[ "$(lines "$tmp/out")" = 2 ] && [ "$(grep -c " type=7 " "$tmp/out")" = 2 ]'
head -c 136 "$tmp/cap" >"$tmp/hdr-only"
dump -r "$tmp/hdr-only"
t "-r of a capture with no records: nothing, exit 0" '[ $rc = 0 ] && [ ! -s "$tmp/out" ]'
size=$(wc -c <"$tmp/cap")
head -c $((size - 5)) "$tmp/cap" >"$tmp/cut"
dump -r "$tmp/cut"
t "-r of a truncated capture: records up to the cut, exit 0" \
	'[ $rc = 0 ] && head -n 7 "$tmp/plain8" | cmp -s - "$tmp/out"'
t "-r of a truncated capture: note on stderr" 'grep -q "truncated" "$tmp/err"'
echo "this is not a capture file" >"$tmp/bad"
dump -r "$tmp/bad"
t "-r of a non-capture: exit 1 with a clear message" \
	'[ $rc = 1 ] && [ ! -s "$tmp/out" ] && grep -q "not a shmring capture file" "$tmp/err"'
t "-w - | -r -: capture through a pipe" \
	'timeout $T shmring-dump -w - $R 2>/dev/null | timeout $T shmring-dump -r - | cmp -s - "$tmp/plain8"'

# --- -f -------------------------------------------------------------------
F=dump.follow
writer $F 2
shmring-dump -f $F >"$tmp/f.out" 2>"$tmp/f.err" &
pid=$!
shmring-dump -f -w "$tmp/f.cap" $F 2>/dev/null &
cpid=$!
sleep 1
writer $F 3
i=0
while [ "$(lines "$tmp/f.out")" -lt 5 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
t "-f: sees the 2 old and 3 new records" '[ "$(lines "$tmp/f.out")" = 5 ]'
t "-f: still running after catching up" 'kill -0 $pid 2>/dev/null'
# utime + stime in clock ticks (fields 14, 15; the name in field 2 has no spaces).
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
c0=$(cpu $pid)
sleep 2
c1=$(cpu $pid)
t "-f: sleeps while idle (used $((c1 - c0)) ticks in 2 s)" '[ $((c1 - c0)) -le 2 ]'
kill -INT $pid
wait $pid
rc=$?
t "-f: SIGINT ends it with status 0" '[ $rc = 0 ]'
t "-f: the new records, in order" \
	'[ "$(sed -n "3,5s/.* command \([0-9]*\) from.*/\1/p" "$tmp/f.out" | tr "\n" " ")" = "0 1 2 " ]'
sleep 0.5
kill -9 $cpid
wait $cpid 2>/dev/null
dump -r "$tmp/f.cap"
t "-f -w killed with SIGKILL: the capture is readable, all 5 records" \
	'[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 5 ] && [ ! -s "$tmp/err" ]'

shmring-dump -f -w "$tmp/t.cap" $F 2>"$tmp/t.err" &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
rc=$?
dump -r "$tmp/t.cap"
t "-f -w ended by SIGTERM: status 0, capture complete" \
	'[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 5 ] && grep -q "5 records written" "$tmp/t.err"'

# --- Pipes ---------------------------------------------------------------
out=$({ timeout $T shmring-dump -f $R; echo $? >"$tmp/rc"; } | head -n 3)
t "-f | head -3: three lines" '[ "$(echo "$out" | wc -l)" = 3 ]'
t "-f | head -3: shmring-dump exits 0 once head is gone" '[ "$(cat "$tmp/rc")" = 0 ]'
L=dump.large
writer $L 3000
out=$({ timeout $T shmring-dump $L; echo $? >"$tmp/rc"; } | head -n 1)
t "dump of 3000 records | head -1: exits 0 quietly on EPIPE" \
	'[ "$(cat "$tmp/rc")" = 0 ] && echo "$out" | grep -q "^0 .*command 0 from"'

# --- Durable subscriptions --------------------------------------------------
S=dump.sub
writer $S 3
dump -s audit $S
t "-s: first run prints the 3 records" '[ $rc = 0 ] && [ "$(lines "$tmp/out")" = 3 ]'
dump -s audit $S
t "-s: second run prints nothing (position persisted)" '[ $rc = 0 ] && [ ! -s "$tmp/out" ]'
writer $S 2
dump -s audit $S
t "-s: third run prints only the 2 new records" \
	'[ "$(lines "$tmp/out")" = 2 ] && [ "$(cut -d" " -f1 "$tmp/out" | tr "\n" " ")" = "3 4 " ]'
dump $S
t "a plain reader still sees all 5" '[ "$(lines "$tmp/out")" = 5 ]'

# --- Errors and usage ------------------------------------------------------
dump dump.missing
t "missing ring: exit 1 with a message" '[ $rc = 1 ] && grep -q "dump.missing: no ring by that name" "$tmp/err"'
dump
t "no RING: usage error, exit 2" '[ $rc = 2 ] && grep -q "missing RING" "$tmp/err"'
dump --bogus $R
t "unknown option: exit 2" '[ $rc = 2 ] && grep -q "unknown option" "$tmp/err"'
dump -n many $R
t "bad -n: exit 2" '[ $rc = 2 ]'
dump --json --hex $R
t "--json with --hex: exit 2" '[ $rc = 2 ]'
dump -p --hex $R
t "-p with --hex: exit 2 (-p implies -j)" '[ $rc = 2 ]'
dump -r "$tmp/cap" -f
t "-r with -f: exit 2" '[ $rc = 2 ]'
dump --help
t "--help: usage on stdout, exit 0" '[ $rc = 0 ] && grep -q "^Usage: shmring-dump" "$tmp/out"'
dump -V
t "-V: version" '[ $rc = 0 ] && grep -Eq "^shmring-dump [0-9]+\.[0-9]+" "$tmp/out"'

# --- Lost records ------------------------------------------------------------
# Subscriptions at seq 0 of a 4 KiB overwrite ring, lapped by 200 records.
O=dump.lost
if command -v shmring-ctl >/dev/null; then
	shmring-ctl delete $O 2>/dev/null
	shmring-ctl create $O --size 4k --policy overwrite
	for s in lag lagj lagw; do dump -s $s $O; done
	seq 0 199 | shmring-ctl write $O --lines
	dump -s lag $O
	cp "$tmp/out" "$tmp/lost.txt"
	nlost=$(sed -n '1s/^-- lost \([0-9]*\) records (seq 0\.\.[0-9]*) --$/\1/p' "$tmp/out")
	t "lapped subscription: '-- lost N records (seq 0..N-1) --' first" \
		'[ $rc = 0 ] && [ "${nlost:-0}" -gt 0 ] && head -n 1 "$tmp/out" | grep -qF "(seq 0..$((nlost - 1))) --"'
	t "then the records it still holds, seq N..199, payload = seq" \
		'[ "$(lines "$tmp/out")" = $((201 - nlost)) ] && sed -n 2p "$tmp/out" | grep -q "^$nlost .* $nlost\$" && tail -n 1 "$tmp/out" | grep -q "^199 .* 199\$"'
	dump --json -s lagj $O
	t "--json: a lost object first, with the same range" \
		'[ $rc = 0 ] && head -n 1 "$tmp/out" | grep -qx "{\"lost\":$nlost,\"from\":0,\"to\":$((nlost - 1))}" && [ "$(lines "$tmp/out")" = $((201 - nlost)) ]'
	dump -s lagw -w "$tmp/lost.cap" $O
	t "-w: the loss is counted on stderr" 'grep -q "^shmring-dump: $nlost records lost\$" "$tmp/err"'
	dump -r "$tmp/lost.cap"
	t "-r of that capture: the same lost line and records" 'cmp -s "$tmp/out" "$tmp/lost.txt"'
	shmring-ctl delete $O
else
	for d in "lost line" "records after it" "--json lost object" "-w counts the loss" "-r"; do
		skip "lapped subscription: $d" "shmring-ctl is not on PATH"
	done
fi

# --- -f through a tap: never holds back a lossless ring's writers ----------------
# A 4 KiB lossless ring; shmring-dump -f attached and stopped (SIGSTOP); a
# writer with O_NONBLOCK (write -n) writes 200 records, far more than fit.
# readers N: of /proc/shmring for ring $1.
readers() { sed -n "s/^ring $1 .* readers=\([0-9]*\) .*/\1/p" /proc/shmring; }
wait_readers() {
	i=0
	while [ "$(readers "$1")" != "$2" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(readers "$1")" = "$2" ]
}
P=dump.tap
H=dump.hold
if command -v shmring-ctl >/dev/null; then
	for x in $P $H; do
		shmring-ctl delete $x 2>/dev/null
		shmring-ctl create $x --size 4k --policy lossless --max-record 100
	done
	shmring-dump -f $P >"$tmp/tap.out" 2>"$tmp/tap.err" &
	pid=$!
	wait_readers $P 1
	kill -STOP $pid
	seq 0 199 | timeout $T shmring-ctl write -n $P --lines >"$tmp/out" 2>"$tmp/err"
	rc=$?
	t "-f (a tap), stopped: a non-blocking writer puts 200 records into a 4K lossless ring" \
		'[ $rc = 0 ] && [ ! -s "$tmp/err" ]'
	kill -CONT $pid
	i=0
	while ! grep -q "^199 .* 199\$" "$tmp/tap.out" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -INT $pid
	wait $pid
	rc=$?
	cp "$tmp/tap.out" "$tmp/out"
	nlost=$(sed -n '1s/^-- lost \([0-9]*\) records (seq 0\.\.[0-9]*) --$/\1/p' "$tmp/out")
	t "-f (a tap) resumed: '-- lost N records (seq 0..N-1) --' for what it missed" \
		'[ $rc = 0 ] && [ "${nlost:-0}" -gt 0 ] && head -n 1 "$tmp/out" | grep -qF "(seq 0..$((nlost - 1))) --"'
	t "... then every record still held, up to 199: N + lines = 200" \
		'[ "$(lines "$tmp/out")" = $((201 - nlost)) ] && sed -n 2p "$tmp/out" | grep -q "^$nlost .* $nlost\$" && tail -n 1 "$tmp/out" | grep -q "^199 .* 199\$"'

	shmring-dump -f --no-tap $H >"$tmp/hold.out" 2>"$tmp/hold.err" &
	pid=$!
	wait_readers $H 1
	kill -STOP $pid
	seq 0 199 | timeout $T shmring-ctl write -n $H --lines >"$tmp/out" 2>"$tmp/err"
	rc=$?
	t "-f --no-tap, stopped: holds the writer back (EAGAIN: the lossless ring is full)" \
		'[ $rc = 1 ] && grep -q "the lossless ring is full" "$tmp/err"'
	held=$(sed -n 's/^shmring-ctl: dump.hold: line \([0-9]*\) and the lines after it were not written$/\1/p' "$tmp/err")
	kill -CONT $pid
	i=0
	while [ "$(lines "$tmp/hold.out")" -lt $((held - 1)) ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -INT $pid
	wait $pid
	cp "$tmp/hold.out" "$tmp/out"
	t "-f --no-tap resumed: every record written, none lost (seq 0..$((held - 2)))" \
		'[ -n "$held" ] && [ "$(lines "$tmp/out")" = $((held - 1)) ] && ! grep -q "^-- lost" "$tmp/out" && head -n 1 "$tmp/out" | grep -q "^0 .* 0\$"'
	shmring-dump -f --hold -n 0 $H >/dev/null 2>"$tmp/err" &
	pid=$!
	wait_readers $H 1
	rc=$?
	kill -INT $pid
	wait $pid
	t "--hold is --no-tap" '[ $rc = 0 ] && [ ! -s "$tmp/err" ]'
	dump --tap -s x $P
	t "--tap with -s: usage error, exit 2" '[ $rc = 2 ] && grep -q "a subscription is never a tap" "$tmp/err"'
	dump --tap $P
	t "--tap without -f: the records still held" '[ $rc = 0 ] && tail -n 1 "$tmp/out" | grep -q "^199 .* 199\$"'
	shmring-ctl delete $P
	shmring-ctl delete $H
else
	for d in "a tap does not hold the writer" "lost line" "records after it" \
		"--no-tap holds the writer" "--no-tap: nothing lost" "--hold" "--tap -s" "--tap"; do
		skip "-f through a tap: $d" "shmring-ctl is not on PATH"
	done
fi

echo "1..$n"
