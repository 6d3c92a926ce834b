#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-bridge in never acknowledges a message it did not commit
# (docs/bridge.md, "Never a gap"; the review's findings 1 and 6), against
# one real `nats-server -js` on the guest's loopback, busybox sh, TAP:
#   - deliveries taken from under `in`, as a connection broken during a
#     fetch loses them (JetStream counts them as delivered): here a second
#     `in` ("thief") on the same durable consumer takes some for a few
#     seconds. Before the fix `in` went on after the gap and lost them for
#     good (the thief acked them). Ring B must end up with every record of
#     ring A exactly once, in order, and `in` must say it recreated the
#     consumer;
#   - the server killed (kill -9) and restarted while `in` fetches large
#     batches: ring B = ring A again, nothing lost, nothing twice;
#   - a state file of another stream: exit 1, one line naming the state
#     file, ring untouched.
# Skips when nats-server or shmring-bridge is missing. Rings are br.g*.

. "$(dirname "$0")/nats-lib.sh"
. "$(dirname "$0")/bridge-lib.sh"
bridge_begin "br.ga br.gb br.gc br.gd" \
	"/dev/shm/shmring-bridge-*/*br=2Eg*"

echo "1..8"

# wait_secs SECS CMD...: until CMD succeeds, by the clock (each try of
# caught_up costs two shmring-ctl runs, slow under TCG); 1 on timeout.
wait_secs() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.5
	done
}

nats_start_single || { echo "Bail out! nats-server did not start"; exit 1; }
URL=$(nats_url)
shmring-ctl create br.ga -s 1M -p lossless || { echo "Bail out! create br.ga"; exit 1; }
shmring-ctl create br.gb -s 4M -p lossless || { echo "Bail out! create br.gb"; exit 1; }
shmring-ctl create br.gc -s 4M -p overwrite || { echo "Bail out! create br.gc"; exit 1; }

# --- Deliveries taken from under in ------------------------------------------
bridge out out -s "$URL" -r br.ga --stream GAP --create-stream --batch 64
# in needs the stream: out creates it.
wait_secs 30 grep -q 'created stream GAP' "$tmp/out.log" ||
	{ echo "Bail out! out did not create stream GAP: $(logtail out)"; exit 1; }
bridge in in -s "$URL" --stream GAP -r br.gb --durable D --batch 16
producer br.ga 20 100 0.25	# records 1..2000, types 1..20, over ~5 s
sleep 1
bridge thief in -s "$URL" --stream GAP -r br.gc --durable D --batch 16 --state "$tmp/thief.state"
sleep 3
bridge_stop thief TERM
wait "$prod"
prod=""
[ "$(ring_written br.gc)" -gt 0 ] 2>/dev/null
check "the second in on the consumer took deliveries (a gap was made)" $? \
	"thief wrote $(ring_written br.gc); $(logtail thief)"
if wait_secs 60 caught_up br.ga br.gb; then pass "every record reaches ring B after the gaps"
else fail "every record reaches ring B after the gaps" "A $(ring_written br.ga), B $(ring_written br.gb); in: $(tail -n 15 "$tmp/in.log" | tr "\n" "|")"; fi
same br.ga br.gb
check "ring B = ring A: nothing lost, nothing twice, in order" $? "$(why_differ)"
grep -q 'recreating' "$tmp/in.log"
check "in saw the lost deliveries and recreated its consumer" $? "$(logtail in)"

# --- The server killed while in fetches ---------------------------------------
producer br.ga 10 200 0.2	# 2000 more
sleep 1
nats_kill single
sleep 2
nats_start single && nats_wait_ready 60
wait "$prod"
prod=""
if wait_secs 60 caught_up br.ga br.gb; then pass "server killed and back: ring B catches up"
else fail "server killed and back: ring B catches up" "A $(ring_written br.ga), B $(ring_written br.gb); in: $(logtail in) out: $(logtail out)"; fi
same br.ga br.gb
check "... ring B = ring A, nothing lost, nothing twice" $? "$(why_differ)"
bridge_stop in TERM
check "SIGTERM: in exits 0" "$brc" "status $brc: $(logtail in)"

# --- A state file of another stream -------------------------------------------
# GAP2: a stream of its own (another ring's subject).
shmring-ctl create br.gd -s 64k -p lossless
bridge out2 out -s "$URL" -r br.gd --stream GAP2 --create-stream
wait_secs 30 grep -q 'created stream GAP2' "$tmp/out2.log"
bridge_stop out2 TERM
before=$(ring_written br.gb)
timeout 30 shmring-bridge in -s "$URL" --stream GAP2 -r br.gb --durable D \
	>"$tmp/o" 2>"$tmp/e"
rc=$?
grep -v 'connected to ' "$tmp/e" >"$tmp/e1"
[ "$rc" = 1 ] && [ "$(wc -l <"$tmp/e1")" = 1 ] && grep -q "counts in stream 'GAP'" "$tmp/e1" &&
	[ "$(ring_written br.gb)" = "$before" ]
check "in with the state file of stream GAP on stream GAP2: exit 1, one line, nothing written" $? \
	"exit $rc: $(tr '\n' '|' <"$tmp/e")"

bridge_stop out
exit $((failed > 0))
