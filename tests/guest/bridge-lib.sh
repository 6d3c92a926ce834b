#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Helpers of the t_bridge*.sh tests (busybox sh, sourced, after nats-lib.sh
# where a test uses its servers; not a test): the common start
# (bridge_begin), TAP results (a failure shows the tail of every
# $tmp/*.log), waiting, ring contents, and shmring-bridge processes whose
# stderr goes to $tmp/NAME.log.

n=0
failed=0

# bridge_begin "RINGS" "FILES": skip (TAP plan 1..0) without shmring-bridge
# or nats-server; else make $tmp and, at exit, kill the bridges and the
# producer ($prod), stop the servers, delete RINGS and remove FILES (shell
# patterns: the bridges' state files).
bridge_begin() {
	command -v shmring-bridge >/dev/null ||
		{ echo "1..0 # SKIP shmring-bridge not built (libnats-dev)"; exit 0; }
	nats_have || { echo "1..0 # SKIP nats-server is not installed"; exit 0; }
	bridge_rings=$1
	bridge_files=$2
	tmp=$(mktemp -d)
	trap bridge_cleanup EXIT
	trap 'exit 1' INT TERM
}

bridge_cleanup() {
	local f r
	for f in "$tmp"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
	[ -n "${prod:-}" ] && kill "$prod" 2>/dev/null
	nats_stop_all
	for r in $bridge_rings; do shmring-ctl delete "$r" 2>/dev/null; done
	# shellcheck disable=SC2086 # patterns, expanded here
	rm -f $bridge_files
	rm -rf "$tmp"
}

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && echo "#   $2"
	for f in "$tmp"/*.log; do
		[ -s "$f" ] || continue
		sed "s|^|#   ${f##*/}: |" "$f" | tail -n 8
		# A crash report: the whole stack, not only its end.
		grep -q 'crashed (signal' "$f" &&
			sed -n '/crashed (signal/,$p' "$f" | head -n 40 | sed "s|^|#   ${f##*/} stack: |"
	done
	return 0
}
check() { if [ "$2" = 0 ]; then pass "$1"; else fail "$1" "${3:-}"; fi; }

# wait_until SECS CMD...: until CMD succeeds (every 0.2 s); 1 on timeout.
wait_until() {
	local limit=$(($1 * 5)) i=0
	shift
	until "$@"; do
		i=$((i + 1))
		[ $i -ge $limit ] && return 1
		sleep 0.2
	done
}

# ring_written RING: records ever written into RING.
ring_written() {
	shmring-ctl -j stat "$1" 2>/dev/null |
		sed -n 's/.*"records_written": *\([0-9]*\).*/\1/p'
}

# content RING: "type=T len=L PAYLOAD" per record, oldest first.
content() { shmring-dump "$1" | grep -v '^--' | awk '{ $1 = $2 = $3 = ""; print }'; }

# same RING_A RING_B: ring B holds exactly ring A's records, in order.
same() {
	content "$1" >"$tmp/same.a"
	content "$2" >"$tmp/same.b"
	cmp -s "$tmp/same.a" "$tmp/same.b"
}
# why_differ: a line for the TAP diagnostics of a failed `same`.
why_differ() {
	echo "A has $(wc -l <"$tmp/same.a") records ($(md5sum <"$tmp/same.a" | cut -c1-8))," \
	     "B $(wc -l <"$tmp/same.b") ($(md5sum <"$tmp/same.b" | cut -c1-8));" \
	     "first difference: $(diff "$tmp/same.a" "$tmp/same.b" | sed -n 2p)"
}

# caught_up RING_A RING_B: B has as many records as A.
caught_up() { [ "$(ring_written "$1")" = "$(ring_written "$2")" ]; }

# produce RING FROM TO TYPE: records "r-FROM".."r-TO" of type TYPE, padded
# to 40 bytes, one per line.
produce() {
	awk -v a="$2" -v b="$3" 'BEGIN { for (i = a; i <= b; i++) printf "r-%06d-%s\n", i, "payload-payload-payload-pay" }' |
		shmring-ctl write "$1" --lines -t "$4"
}

# producer RING CHUNKS PER PAUSE: in the background, CHUNKS chunks of PER
# records, PAUSE seconds apart, types 1..CHUNKS; its pid in $prod.
producer() {
	(
		i=0
		while [ $i -lt "$2" ]; do
			produce "$1" $((i * $3 + 1)) $(((i + 1) * $3)) $((i + 1))
			i=$((i + 1))
			sleep "$4"
		done
	) &
	prod=$!
}

# bridge NAME ARGS...: shmring-bridge ARGS in the background, stderr
# appended to $tmp/NAME.log; its pid in $bpid (and in $tmp/NAME.pid).
bridge() {
	local name=$1
	shift
	shmring-bridge "$@" 2>>"$tmp/$name.log" &
	bpid=$!
	echo $bpid >"$tmp/$name.pid"
}

# bridge_alive NAME
bridge_alive() { kill -0 "$(cat "$tmp/$1.pid" 2>/dev/null)" 2>/dev/null; }

# bridge_stop NAME [SIG]: signal it (TERM by default), wait; its exit
# status in $brc.
bridge_stop() {
	local pid
	pid=$(cat "$tmp/$1.pid" 2>/dev/null)
	brc=""
	[ -n "$pid" ] || return 0
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	# 2>/dev/null: busybox sh would print "Killed" into the TAP output.
	wait "$pid" 2>/dev/null
	brc=$?
	rm -f "$tmp/$1.pid"
}

# logtail NAME: for diagnostics, the last lines of a bridge's stderr that
# are not --stats lines, then the last --stats line.
logtail() {
	{ grep -v ' records=[0-9]* bytes=' "$tmp/$1.log" | tail -n 3
	  grep ' records=[0-9]* bytes=' "$tmp/$1.log" | tail -n 1
	  bridge_alive "$1" || echo "(not running)"; } 2>/dev/null | tr '\n' '|'
}

# stream_exists STREAM: the server knows it (through /jsz).
stream_exists() { [ -n "$(nats_stream_msgs "$1")" ]; }

# settle RING_A RING_B SECS BRIDGE...: wait until B has as many records as
# A, at most SECS; gives up at once when one of the bridges has exited.
settle() {
	local a=$1 b=$2 limit=$(($3 * 5)) i=0 name
	shift 3
	until caught_up "$a" "$b"; do
		for name in "$@"; do bridge_alive "$name" || return 1; done
		i=$((i + 1))
		[ $i -ge $limit ] && return 1
		sleep 0.2
	done
}
