#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-bridge's recovery paths, made deterministic (docs/bridge.md), in
# the guest (busybox sh) with one nats-server -js on 127.0.0.1:
#   - out, its subscription moved back to the oldest record (as after a
#     restart beyond the duplicate window): the stream's last message says
#     where it was, nothing is published twice;
#   - in, with a state file whose batch intent says a crash interrupted a
#     batch after some of it was committed (records of that pid in the
#     ring): only the rest is written, nothing twice, nothing lost;
#   - in, with an intent of which nothing was committed: all is written;
#   - in, with a state file that is not one: exit 1, a message, the ring
#     untouched;
#   - in: a message larger than the ring's max_record is reported and
#     passed over, the next ones are written;
#   - out with a subject the stream does not take: exit 1, a message;
#   - in stopped by SIGTERM while its (lossless) ring is full: exit 0 at
#     once, and a restart after the ring drained delivers the rest.
# Rings are named br.*; they are deleted at the end. TAP.

BR=$(command -v shmring-bridge) || { echo "1..0 # SKIP shmring-bridge not built (no libnats)"; exit 0; }
NS=$(command -v nats-server) || { echo "1..0 # SKIP nats-server not in the guest"; exit 0; }
CTL=$(command -v shmring-ctl) || { echo "Bail out! shmring-ctl is not on PATH"; exit 1; }
DUMP=$(command -v shmring-dump) || { echo "Bail out! shmring-dump is not on PATH"; exit 1; }
tmp=$(mktemp -d)
PORT=14322
S=nats://127.0.0.1:$PORT
nspid=""

cleanup() {
	[ -n "$nspid" ] && kill "$nspid" 2>/dev/null && wait "$nspid" 2>/dev/null
	for r in br.a br.b br.c br.d br.e br.small; do "$CTL" delete "$r" 2>/dev/null; done
	rm -f /dev/shm/shmring-bridge-*.br.* /dev/shm/shmring-bridge-*.br=2E* /dev/shm/shmring-bridge-*/*br=2E*
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..16"

# pass, fail (with the tail of every log in $tmp), check
. "$(dirname "$0")/bridge-lib.sh"
# payloads RING: the payloads of RING's records, one per line
payloads() { "$DUMP" "$1" | awk '{ print $NF }'; }
lines() {
	i=$1
	while [ "$i" -le "$2" ]; do echo "rec-$i"; i=$((i + 1)); done
}
# run_for SECS LOG ARGS...: shmring-bridge ARGS for SECS seconds, then SIGTERM; its status
run_for() {
	secs=$1 log=$2
	shift 2
	"$BR" "$@" 2>>"$log" &
	p=$!
	sleep "$secs"
	kill "$p" 2>/dev/null
	wait "$p"
}
MPORT=18322
"$NS" -js -a 127.0.0.1 -p $PORT -m $MPORT -sd "$tmp/js" >"$tmp/ns.out" 2>&1 &
nspid=$!
i=0
until wget -q -O /dev/null "http://127.0.0.1:$MPORT/healthz?js-enabled-only=true" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 30 ] && { echo "Bail out! nats-server did not start: $(tail -n 3 "$tmp/ns.out")"; exit 1; }
	sleep 1
done

# --- out: resume from the stream's last message -------------------------------
"$CTL" create br.a -s 64k -p lossless -r 1k || { echo "Bail out! create br.a"; exit 1; }
lines 1 10 | "$CTL" write br.a -t 5 --lines
run_for 3 "$tmp/out.log" out -s $S -r br.a --stream BR --create-stream --sub brsub
check "out publishes 10 records and stops with status 0 on SIGTERM" $?
"$CTL" subs br.a --reset brsub --to oldest
run_for 3 "$tmp/out2.log" out -s $S -r br.a --stream BR --sub brsub
grep -q "holds ring br.a up to seq 9: resuming after it" "$tmp/out2.log"
check "out, its subscription moved back: the stream's last message says seq 9" $? \
	"$(cat "$tmp/out2.log")"
lines 11 12 | "$CTL" write br.a -t 5 --lines
run_for 3 "$tmp/out3.log" out -s $S -r br.a --stream BR --sub brsub
"$CTL" create br.c -s 64k -p lossless -r 1k
run_for 4 "$tmp/inc.log" in -s $S --stream BR -r br.c --durable cc
payloads br.c >"$tmp/c"
lines 1 12 >"$tmp/want12"
cmp -s "$tmp/c" "$tmp/want12"
check "the stream holds records 1..12 once each, in order" $? "$(tr '\n' ' ' <"$tmp/c")"
"$DUMP" br.c | awk '{ print $4 }' | sort -u >"$tmp/types"
[ "$(cat "$tmp/types")" = "type=5" ]
check "types travel (Shmring-Type)" $? "$(cat "$tmp/types")"

# --- in: an interrupted batch, 4 of 6 committed ---------------------------------
"$CTL" create br.b -s 64k -p lossless -r 1k
lines 1 4 | "$CTL" write br.b -t 5 --lines	# the dead bridge's 4 records
pid=$("$DUMP" br.b | awk 'NR == 1 { sub("pid=", "", $3); print $3 }')
printf 'shmring-bridge-in 1\nlast 0\nintent %s 0 6\n1 2 3 4 5 6\nend\n' "$pid" >"$tmp/state.b"
run_for 4 "$tmp/inb.log" in -s $S --stream BR -r br.b --durable bb --state "$tmp/state.b"
check "in with an interrupted batch stops with status 0" $?
grep -q "stopped writing a batch of 6: 4 of it committed" "$tmp/inb.log"
check "in finds 4 of the 6 committed (records of pid $pid from head 0)" $? "$(cat "$tmp/inb.log")"
payloads br.b >"$tmp/b"
cmp -s "$tmp/b" "$tmp/want12"
check "the ring holds records 1..12 once each, in order" $? "$(tr '\n' ' ' <"$tmp/b")"
grep -q '^last 12$' "$tmp/state.b" && ! grep -q intent "$tmp/state.b"
check "the state file says last 12, no batch in progress" $? "$(tr '\n' ' ' <"$tmp/state.b")"

# --- in: an intent of which nothing was committed -------------------------------
"$CTL" create br.d -s 64k -p lossless -r 1k
lines 1 2 | "$CTL" write br.d -t 5 --lines
payloads br.d >"$tmp/d0"
# head 2 (after those two, written by someone else), pid 1: none of the batch.
printf 'shmring-bridge-in 1\nlast 2\nintent 1 2 3\n3 4 5\nend\n' >"$tmp/state.d"
run_for 4 "$tmp/ind.log" in -s $S --stream BR -r br.d --durable dd --state "$tmp/state.d"
grep -q "stopped writing a batch of 3: 0 of it committed" "$tmp/ind.log"
check "in finds none of an interrupted batch committed" $? "$(cat "$tmp/ind.log")"
payloads br.d >"$tmp/d"
lines 3 12 >>"$tmp/d0"
cmp -s "$tmp/d" "$tmp/d0"
check "the ring holds its 2 records, then stream seqs 3..12" $? "$(tr '\n' ' ' <"$tmp/d")"

# --- in: a state file that is not one --------------------------------------------
"$CTL" create br.e -s 64k -p lossless -r 1k
echo garbage >"$tmp/state.e"
"$BR" in -s $S --stream BR -r br.e --state "$tmp/state.e" >/dev/null 2>"$tmp/ine.log"
rc=$?
[ $rc = 1 ] && grep -q "not a state file of shmring-bridge in" "$tmp/ine.log" &&
	[ "$(payloads br.e | wc -l)" = 0 ]
check "a corrupt state file: exit 1, a message, nothing written" $? "exit $rc: $(cat "$tmp/ine.log")"

# --- in: a message larger than the ring takes -------------------------------------
"$CTL" create br.small -s 4k -p lossless -r 16
head -c 100 /dev/zero | tr '\0' x | "$CTL" write br.a -t 6 -
printf after-big | "$CTL" write br.a -t 6 -
run_for 3 "$tmp/out4.log" out -s $S -r br.a --stream BR --sub brsub
run_for 4 "$tmp/ins.log" in -s $S --stream BR -r br.small --durable ss
grep -q "stream BR seq 13: 100 bytes, more than ring br.small takes (16): dropped" "$tmp/ins.log"
check "a message above max_record is reported" $? "$(cat "$tmp/ins.log")"
[ "$(payloads br.small | tail -n 1)" = after-big ] && [ "$(payloads br.small | wc -l)" = 13 ]
check "and passed over: the 12 before it and the one after it are written" $? \
	"$(payloads br.small | tr '\n' ' ')"

# --- out: a subject the stream does not take -------------------------------------
"$BR" out -s $S -r br.a --stream BR --subject other.x >/dev/null 2>"$tmp/outs.log"
rc=$?
[ $rc = 1 ] && grep -q "stream BR does not take subject other.x (its subjects: shmring.br=2Ea)" \
	"$tmp/outs.log"
check "out with a subject the stream does not take: exit 1, the stream's subjects" $? \
	"exit $rc: $(cat "$tmp/outs.log")"

# --- in: SIGTERM while the ring is full ---------------------------------------------
# A lossless ring held by a subscription nobody reads: in fills it and
# waits; SIGTERM must still stop it (exit 0) with the state file saying
# what was committed, and a restart after the ring is drained goes on
# from there: every message once, in order.
lines 13 300 | "$CTL" write br.a -t 5 --lines
run_for 4 "$tmp/out5.log" out -s $S -r br.a --stream BR --sub brsub
"$CTL" create br.f -s 4k -p lossless -r 128
"$DUMP" -s hold br.f >/dev/null 2>&1	# the subscription that holds the writers
"$BR" in -s $S --stream BR -r br.f --durable ff --state "$tmp/state.f" 2>"$tmp/inf.log" &
p=$!
sleep 4
t0=$(date +%s)
kill "$p"
wait "$p"
rc=$?
t1=$(date +%s)
held=$(payloads br.f | wc -l)
[ $rc = 0 ] && [ $((t1 - t0)) -le 3 ] && [ "$held" -gt 0 ] && [ "$held" -lt 302 ]
check "SIGTERM while the ring is full: exit 0 at once ($held records in)" $? \
	"exit $rc after $((t1 - t0)) s, $held records"
"$DUMP" -s hold br.f 2>/dev/null | awk '{ print $NF }' >"$tmp/f"
"$BR" in -s $S --stream BR -r br.f --durable ff --state "$tmp/state.f" 2>"$tmp/inf2.log" &
p=$!
i=0
while [ "$(wc -l <"$tmp/f")" -lt 302 ] && [ $i -lt 30 ]; do
	sleep 1
	"$DUMP" -s hold br.f 2>/dev/null | awk '{ print $NF }' >>"$tmp/f"	# drain
	i=$((i + 1))
done
kill "$p"
wait "$p"
"$DUMP" -s hold br.f 2>/dev/null | awk '{ print $NF }' >>"$tmp/f"
{ lines 1 12; printf '%s\n' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx after-big; lines 13 300; } >"$tmp/want.f"
cmp -s "$tmp/f" "$tmp/want.f"
check "after a restart the ring got every message once, in order ($(wc -l <"$tmp/f") of 302)" $? \
	"$(diff "$tmp/want.f" "$tmp/f" | head -n 6 | tr '\n' ' ')"

exit $((failed > 0))
