#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-bridge against one real `nats-server -js` on the guest's loopback
# (issue 12; docs/bridge.md), busybox sh, TAP:
#   - ring A -> out -> JetStream -> in -> ring B: every record, in order,
#     same types and payloads (checksums equal), stream count = ring count;
#   - kill -9 of out, then of in, while a producer writes: after restarts
#     nothing is lost and nothing duplicated (in the stream and in ring B);
#   - the server stopped for a while: both bridges wait (state=disconnected)
#     and catch up after it returns;
#   - SIGTERM stops a bridge with status 0; a crash (SIGABRT) prints the
#     crashing thread's stack and dies of the signal;
#   - a late ring bootstraps from the snapshot kept in the KV bucket and
#     then gets only the records after it;
#   - errors: usage (2), bad URL, missing stream (out and in), missing ring,
#     authorization failure (1, one line each).
# Skips when nats-server or shmring-bridge is missing. Rings are bs.*.

. "$(dirname "$0")/nats-lib.sh"
. "$(dirname "$0")/bridge-lib.sh"
bridge_begin "bs.a bs.b bs.sa bs.sb bs.x" \
	"/dev/shm/shmring-snap.bs.* /dev/shm/shmring-bridge-*.bs.* /dev/shm/shmring-bridge-*.bs=2E* /dev/shm/shmring-bridge-*/*bs=2E*"

echo "1..25"

# expect DESC STATUS TEXT CMD...: CMD exits STATUS with one line on stderr
# that contains TEXT (besides a state change: connected to URL).
expect() {
	local desc=$1 want=$2 text=$3 rc
	shift 3
	timeout 30 "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	# Lines other than state changes ("connected to ...").
	grep -v 'shmring-bridge: connected to ' "$tmp/err" >"$tmp/err1"
	if [ "$rc" = "$want" ] && grep -qF -- "$text" "$tmp/err1" &&
	   { [ "$want" = 2 ] || [ "$(wc -l <"$tmp/err1")" = 1 ]; }; then
		pass "$desc"
	else
		fail "$desc" "exit $rc, wanted $want and one line with '$text'; stderr: $(head -n 3 "$tmp/err" | tr '\n' '|')"
	fi
}

# kv_has_snapshot: the KV bucket's stream holds a message.
kv_has_snapshot() { [ "$(nats_stream_msgs KV_shmring-snap)" -ge 1 ] 2>/dev/null; }
# has_at_least RING N
has_at_least() { [ "$(ring_written "$1")" -ge "$2" ] 2>/dev/null; }
# stream_has STREAM N: the stream holds N messages.
stream_has() { [ "$(nats_stream_msgs "$1")" = "$2" ]; }

nats_start_single || { echo "Bail out! nats-server did not start"; exit 1; }
URL=$(nats_url)
shmring-ctl create bs.a -s 1M -p lossless || { echo "Bail out! create bs.a"; exit 1; }
shmring-ctl create bs.b -s 4M -p lossless || { echo "Bail out! create bs.b"; exit 1; }

# --- Errors first (nothing is running yet) ---------------------------------
expect "usage error: exit 2" 2 "unknown direction" shmring-bridge sideways -s "$URL"
expect "bad URL: exit 1, one line naming it" 1 "bad server URL 'nats://127.0.0.1:port'" \
	shmring-bridge out -s nats://127.0.0.1:port -r bs.a --stream BR
expect "out, missing stream without --create-stream: exit 1" 1 "NOSUCH" \
	shmring-bridge out -s "$URL" -r bs.a --stream NOSUCH
expect "in, missing stream: exit 1" 1 "stream NOSUCH does not exist" \
	shmring-bridge in -s "$URL" --stream NOSUCH -r bs.b
expect "in, missing ring: exit 1, says how to create it" 1 "shmring-ctl create bs.x" \
	shmring-bridge in -s "$URL" --stream NOSUCH -r bs.x
expect "out, missing ring: exit 1" 1 "ring bs.x does not exist" \
	shmring-bridge out -s "$URL" -r bs.x --stream BR --create-stream

# --- The flow -----------------------------------------------------------------
produce bs.a 1 500 1
printf 'binary\000\001\377' | shmring-ctl write bs.a -t 9 -
produce bs.a 501 1000 2
bridge out out -s "$URL" -r bs.a --stream BR --create-stream --stats=1
wait_until 30 stream_exists BR
bridge in in -s "$URL" --stream BR -r bs.b --stats=1
if settle bs.a bs.b 45 out in; then pass "1001 records reach ring B"
else fail "1001 records reach ring B" "B has $(ring_written bs.b); out: $(logtail out) in: $(logtail in)"; fi
same bs.a bs.b
check "ring B = ring A: order, types, lengths, payloads (binary too)" $? "$(why_differ)"
[ "$(nats_stream_msgs BR)" = 1001 ]
check "the stream holds each record once" $? "stream: $(nats_stream_msgs BR)"
# logged NAME TEXT: the bridge's stderr has a line with TEXT.
logged() { grep -q "$2" "$tmp/$1.log"; }
wait_until 10 logged out 'state=connected records=[0-9]* bytes=[0-9]* acked=[0-9]* lag=[0-9]* rate=[0-9]*/s' &&
	wait_until 10 logged in 'state=connected records=[0-9]* bytes=[0-9]* acked=[0-9]* lag=[0-9]* rate=[0-9]*/s'
check "--stats lines: state=connected records=..." $? "$(logtail out)"

# --- kill -9 out mid-stream ---------------------------------------------------
producer bs.a 8 250 0.4	# records 1..2000 again, types 1..8, over ~3 s
sleep 1
bridge_stop out KILL
sleep 0.5
bridge out out -s "$URL" -r bs.a --stream BR --stats=1
wait "$prod"
prod=""
settle bs.a bs.b 45 out in
same bs.a bs.b
check "kill -9 of out while records flow: ring B = ring A" $? "$(why_differ)"
[ "$(nats_stream_msgs BR)" = "$(ring_written bs.a)" ]
check "... and the stream holds each record exactly once" $? \
	"stream $(nats_stream_msgs BR), ring A $(ring_written bs.a)"

# --- kill -9 in mid-stream ----------------------------------------------------
producer bs.a 8 250 0.4
sleep 1
bridge_stop in KILL
sleep 0.5
bridge in in -s "$URL" --stream BR -r bs.b --stats=1
wait "$prod"
prod=""
settle bs.a bs.b 45 out in
same bs.a bs.b
check "kill -9 of in while records flow: ring B = ring A, nothing twice" $? "$(why_differ)"

# --- the server goes away for a while -----------------------------------------
producer bs.a 4 250 0.3
sleep 0.5
nats_stop single
sleep 4
bridge_alive out && bridge_alive in
check "server stopped: both bridges keep running" $? "out: $(logtail out) in: $(logtail in)"
# A publish round in flight waits for its acknowledgments (10 s) first.
wait_until 20 grep -q 'state=disconnected' "$tmp/out.log"
check "out reports state=disconnected" $? "$(logtail out)"
wait_until 20 grep -q 'state=disconnected' "$tmp/in.log"
check "in reports state=disconnected" $? "$(logtail in)"
wait "$prod"
prod=""
nats_start single && nats_wait_ready 60
settle bs.a bs.b 45 out in
same bs.a bs.b
check "server back: both catch up, ring B = ring A" $? "$(why_differ); out: $(logtail out)"
[ "$(nats_stream_msgs BR)" = "$(ring_written bs.a)" ]
check "... each record once in the stream" $? "stream $(nats_stream_msgs BR), ring A $(ring_written bs.a)"

# --- SIGTERM ------------------------------------------------------------------
bridge_stop out TERM
check "SIGTERM: out exits 0" "$brc" "status $brc: $(logtail out)"
bridge_stop in TERM
check "SIGTERM: in exits 0" "$brc" "status $brc: $(logtail in)"

# --- a crash prints the crashing thread's stack, and dies of its signal ---------
bridge crash in -s "$URL" --stream BR -r bs.b
sleep 1
bridge_stop crash ABRT
[ "$brc" -eq 134 ] && grep -q 'crashed (signal 06)' "$tmp/crash.log" &&
	grep -q 'shmring-bridge' "$tmp/crash.log" &&
	[ "$(grep -c '\[0x[0-9a-f]*\]$' "$tmp/crash.log")" -ge 3 ]
check "a crash (SIGABRT) prints the stack, then dies of it (status 134)" $? \
	"status $brc: $(tail -n 12 "$tmp/crash.log" | tr '\n' '|')"

# --- bootstrap from a snapshot ------------------------------------------------
# bs.sa: 100 records; a snapshot reflecting seq 59 (the 60th record); out
# --snapshots puts it into the KV bucket. bs.sb joins late: it gets the
# snapshot, then only records 61..100.
shmring-ctl create bs.sa -s 1M -p lossless
shmring-ctl create bs.sb -s 1M -p lossless
produce bs.sa 1 100 3
printf 'state after record 60\n' >"$tmp/snap"
snap_publish bs.sa 59 "$tmp/snap"
bridge sout out -s "$URL" -r bs.sa --stream BRS --create-stream --snapshots
wait_until 30 stream_exists BRS
wait_until 60 kv_has_snapshot
bridge sin in -s "$URL" --stream BRS -r bs.sb --bootstrap
wait_until 60 has_at_least bs.sb 40
sleep 1
content bs.sa | tail -n 40 >"$tmp/want"
content bs.sb >"$tmp/got"
cmp -s "$tmp/want" "$tmp/got"
check "bootstrap: the late ring gets exactly the 40 records after the snapshot" $? \
	"got $(wc -l <"$tmp/got") records, first: $(head -n 1 "$tmp/got"); in: $(logtail sin)"
shmring-dump --snapshot bs.sb --snapshot-out "$tmp/snapb" >"$tmp/snapinfo" 2>&1 &&
	cmp -s "$tmp/snap" "$tmp/snapb"
check "bootstrap: the late ring's local snapshot has the same bytes" $? "$(cat "$tmp/snapinfo")"
bridge_stop sout
bridge_stop sin

# --- authorization ------------------------------------------------------------
nats_stop_all
nats_start_single alice s3cret || { echo "Bail out! nats-server with auth did not start"; exit 1; }
expect "authorization failure: exit 1, one line" 1 "authorization failed" \
	shmring-bridge out -s "$URL" --user alice --password wrong -r bs.a --stream BR --create-stream
bridge aout out -s "$URL" --user alice --password s3cret -r bs.a --stream BRA --create-stream
wait_until 60 stream_has BRA "$(ring_written bs.a)"
check "the right password: out publishes the ring" $? "$(logtail aout)"
bridge_stop aout

exit $((failed > 0))
