#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest half of make bench-bridge (bench/bridge.sh runs it in the
# stock-kernel VM): one `nats-server -js` on the loopback, then in the same
# boot, for 64 B and 4 KiB records,
#   - jsbench, a raw libnats JetStream publisher: sync, async, async-hdr;
#   - shmring-bridge out draining a ring of N records into a stream;
#   - shmring-bridge in writing that stream into a second ring;
# and for each run the server's own view: /jsz sampled every ~0.1 s while
# it runs (the stream's message count against the guest's uptime) gives the
# rate at which the server stored the messages.  One JSON line per run:
#   {"kind":"run","name":"...","size":S,"records":N,"client_s":..,
#    "client_rps":..,"server_rps":..,"server_msgs":..,"varz_in_msgs":..}
# (client_*: measured by the publisher, or for the bridge from its start to
# the last record arriving; server_*: from /jsz and /varz).
#
#   bridge-guest.sh [N64 [N4K]]      records per run (default 20000, 4000;
#                                    a tenth of that for jsbench sync, which
#                                    waits for each PubAck)

. /shmring/tests/nats-lib.sh
N64=${1:-20000}
N4K=${2:-4000}

say() { echo "bench-bridge: $*" >&2; }
up() { cut -d' ' -f1 /proc/uptime; }
command -v jsbench >/dev/null || { say "error: jsbench not built (libnats-dev?)"; exit 1; }
command -v shmring-bridge >/dev/null || say "warning: shmring-bridge not built: only the baseline"
nats_have || { say "error: nats-server is not in the guest"; exit 1; }
nats_start_single || exit 1
URL=$(nats_url)
tmp=$(mktemp -d)

# varz_in: the server's in_msgs counter.
varz_in() {
	nats_varz single | sed -n 's/.*"in_msgs": *\([0-9]*\).*/\1/p'
}

# sampler STREAM FILE: "uptime messages" lines until killed.
sampler() {
	while :; do
		echo "$(up) $(nats_stream_msgs "$1" single)" >>"$2"
		sleep 0.1
	done
}

# server_rate FILE N: messages/s as the server counted them: between the
# first sample with a message and the first with N, or (when that is one
# sample: a run shorter than the sampling interval) from the last sample
# without a message. Approximate to a sampling interval.
server_rate() {
	awk -v n="$2" '
		$2 == "" || $2 == 0 { t0 = $1; next }
		!t1 { t1 = $1; m1 = $2 }
		$2 >= n { t2 = $1; m2 = $2; exit }
		END {
			if (t2 > t1 && m2 > m1) printf "%.0f", (m2 - m1) / (t2 - t1)
			else if (t2 > t0 && t0) printf "%.0f", m2 / (t2 - t0)
			else print 0
		}
	' "$1"
}

# emit NAME SIZE N CLIENT_S SAMPLES IN0 MSGS
emit() {
	in1=$(varz_in)
	awk -v name="$1" -v size="$2" -v n="$3" -v cs="$4" -v sr="$(server_rate "$5" "$3")" \
	    -v vin="$((in1 - $6))" -v msgs="${7:-0}" 'BEGIN {
		printf "{\"kind\":\"run\",\"name\":\"%s\",\"size\":%d,\"records\":%d,", name, size, n
		printf "\"client_s\":%.3f,\"client_rps\":%.0f,", cs, (cs > 0 ? n / cs : 0)
		printf "\"server_rps\":%d,\"server_msgs\":%d,\"varz_in_msgs\":%d}\n", sr, msgs, vin
	}'
}

# lines SIZE N: N distinct lines of SIZE bytes (with the newline stripped
# by shmring-ctl write --lines, payloads of exactly SIZE bytes).
lines() {
	awk -v s="$1" -v n="$2" 'BEGIN {
		pad = "x"; while (length(pad) < s) pad = pad pad
		for (i = 1; i <= n; i++) { h = sprintf("%09d-", i); print h substr(pad, 1, s - length(h)) }
	}'
}

echo "{\"kind\":\"meta\",\"kernel\":\"$(uname -r)\",\"nats_server\":\"$(nats-server --version 2>&1)\",\"cpus\":$(grep -c ^processor /proc/cpuinfo)}"
for size in 64 4096; do
	n=$N64
	[ "$size" = 4096 ] && n=$N4K
	for mode in sync async async-hdr; do
		n=$N64
		[ "$size" = 4096 ] && n=$N4K
		[ $mode = sync ] && n=$((n / 10))
		rm -f "$tmp/s"
		in0=$(varz_in)
		sampler JSBENCH "$tmp/s" &
		sp=$!
		jsbench -s "$URL" --stream JSBENCH -n "$n" --size "$size" --mode "$mode" --keep \
			>"$tmp/j" 2>"$tmp/jerr" || { say "jsbench failed: $(cat "$tmp/jerr")"; }
		sleep 0.3
		kill $sp; wait $sp 2>/dev/null
		cs=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' "$tmp/j")
		emit "jsbench-$mode" "$size" "$n" "${cs:-0}" "$tmp/s" "$in0" \
			"$(nats_stream_msgs JSBENCH single)"
		# Deleted before the next run's sampler starts (a purge at the
		# start of the run would leave it seeing the old count first).
		jsbench -s "$URL" --stream JSBENCH --delete
		say "jsbench $mode ${size}B: $(cat "$tmp/j")"
	done
	n=$N64
	[ "$size" = 4096 ] && n=$N4K

	command -v shmring-bridge >/dev/null || continue
	ra=bb$size.a
	rb=bb$size.b
	ringsz=8M
	[ "$size" = 4096 ] && ringsz=32M
	shmring-ctl create $ra -s $ringsz -p lossless -r 8k || exit 1
	shmring-ctl create $rb -s $ringsz -p lossless -r 8k || exit 1
	lines "$size" "$n" | shmring-ctl write $ra --lines -t 7 || exit 1
	stream=BB$size

	# out: ring A -> stream
	rm -f "$tmp/s"
	in0=$(varz_in)
	sampler "$stream" "$tmp/s" &
	sp=$!
	t0=$(up)
	shmring-bridge out -s "$URL" -r $ra --stream "$stream" --create-stream --stats=1 \
		2>"$tmp/out.log" &
	bo=$!
	until [ "$(nats_stream_msgs "$stream" single)" = "$n" ]; do
		kill -0 $bo 2>/dev/null || { say "bridge out exited: $(tail -n 3 "$tmp/out.log")"; break; }
		sleep 0.05
	done
	t1=$(up)
	sleep 0.3
	kill $sp; wait $sp 2>/dev/null
	emit "bridge-out" "$size" "$n" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
		"$tmp/s" "$in0" "$(nats_stream_msgs "$stream" single)"
	say "bridge out ${size}B: $(grep 'records=' "$tmp/out.log" | tail -n 1)"

	# in: stream -> ring B
	in0=$(varz_in)
	t0=$(up)
	shmring-bridge in -s "$URL" --stream "$stream" -r $rb --stats=1 2>"$tmp/in.log" &
	bi=$!
	got=0
	until [ "$got" = "$n" ]; do
		kill -0 $bi 2>/dev/null || { say "bridge in exited: $(tail -n 3 "$tmp/in.log")"; break; }
		sleep 0.05
		got=$(shmring-ctl -j stat $rb | sed -n 's/.*"records_written": *\([0-9]*\).*/\1/p')
	done
	t1=$(up)
	: >"$tmp/s"	# the stream does not change: no server rate for in
	emit "bridge-in" "$size" "$n" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
		"$tmp/s" "$in0" "$got"
	say "bridge in ${size}B: $(grep 'records=' "$tmp/in.log" | tail -n 1)"
	kill -TERM $bo $bi 2>/dev/null
	wait $bo $bi 2>/dev/null
	# Same records on both sides?
	a=$(shmring-dump $ra | awk '{ $1 = $2 = $3 = ""; print }' | md5sum | cut -c1-32)
	b=$(shmring-dump $rb | awk '{ $1 = $2 = $3 = ""; print }' | md5sum | cut -c1-32)
	[ "$a" = "$b" ] || say "warning: ring B differs from ring A (${size}B)"
	shmring-ctl delete $ra $rb
done
nats_stop_all
rm -rf "$tmp"
