#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# NATS servers for the guest tests of shmring-bridge (issue 12) and for make
# bench-bridge: a sourced library for busybox sh, not a test (run-tests.sh
# runs only t_*).  Everything listens on 127.0.0.1 and keeps its JetStream
# store under $NATS_DIR (default /tmp/nats), which nats_stop_all removes.
#
#   . nats-lib.sh
#   nats_have || { echo "1..0 # SKIP nats-server is not installed"; exit 0; }
#   nats_start_single [USER PASSWORD]   one `nats-server -js`, client port 4222,
#                                       monitoring 8222; with USER and
#                                       PASSWORD, clients must log in
#   nats_start_cluster                  three JetStream nodes n1 n2 n3 (one
#                                       cluster "shmring", R3 streams work):
#                                       clients 4231-4233, routes 6231-6233,
#                                       monitoring 8231-8233
#   nats_url                            the client URL(s) of what runs, comma
#                                       separated (nats://127.0.0.1:PORT,...)
#   nats_stop NODE / nats_kill NODE     SIGTERM (waits for the exit) / SIGKILL
#   nats_start NODE                     start a stopped node again (same
#                                       config, same store)
#   nats_wait_ready [SECS]              every running node healthy, with a
#                                       JetStream meta leader in a cluster
#   nats_stop_all                       stop everything, remove $NATS_DIR
#   nats_jsz NODE [QUERY]               the node's /jsz?QUERY (JSON) on stdout
#   nats_varz NODE                      its /varz
#   nats_stream_msgs STREAM [NODE]      the stream's message count (from /jsz)
#   nats_stream_last_seq STREAM [NODE]  its last sequence
#   nats_log NODE                       the node's log file
#
# NODE is "single" or n1, n2, n3.  JetStream's memory and file stores are
# capped (NATS_JS_MEM, NATS_JS_FILE; default 64MB and 256MB per node) so
# that a cluster fits in the guest's 2 GiB with the tests beside it.
#
# Timing (stock kernel, TCG, 2 vCPUs): a single server is ready in about
# 1 s, the three-node cluster (meta leader elected) in about 7 s; each node
# uses 11-15 MB of memory when idle.

NATS_DIR=${NATS_DIR:-/tmp/nats}
NATS_JS_MEM=${NATS_JS_MEM:-64MB}
NATS_JS_FILE=${NATS_JS_FILE:-256MB}
NATS_SERVER=${NATS_SERVER:-nats-server}
NATS_NODES=""		# what nats_start_* configured, in order

nats_have() { command -v "$NATS_SERVER" >/dev/null 2>&1; }

# Ports of a node: client, cluster route, monitoring.
nats_port() {
	case $1 in
	single) echo 4222 ;;
	n1) echo 4231 ;;
	n2) echo 4232 ;;
	n3) echo 4233 ;;
	*) echo "nats-lib: unknown node '$1'" >&2; return 1 ;;
	esac
}
nats_mport() { local p; p=$(nats_port "$1") || return 1; echo $((p + 4000)); }
nats_rport() { local p; p=$(nats_port "$1") || return 1; echo $((p + 2000)); }

nats_log() { echo "$NATS_DIR/$1.log"; }
nats_pid() { cat "$NATS_DIR/$1.pid" 2>/dev/null; }

# nats_running NODE: its process is alive.
nats_running() {
	local pid
	pid=$(nats_pid "$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# nats_write_conf NODE: its config file (NATS_AUTH_USER/PASS: with a login).
nats_write_conf() {
	local node=$1 conf other
	conf=$NATS_DIR/$node.conf
	mkdir -p "$NATS_DIR/$node"
	{
		echo "server_name: $node"
		echo "listen: 127.0.0.1:$(nats_port "$node")"
		echo "http: 127.0.0.1:$(nats_mport "$node")"
		echo "jetstream {"
		echo "  store_dir: \"$NATS_DIR/$node\""
		echo "  max_memory_store: $NATS_JS_MEM"
		echo "  max_file_store: $NATS_JS_FILE"
		echo "}"
		if [ -n "${NATS_AUTH_USER:-}" ]; then
			echo "authorization {"
			echo "  user: \"$NATS_AUTH_USER\""
			echo "  password: \"$NATS_AUTH_PASS\""
			echo "}"
		fi
		if [ "$node" != single ]; then
			echo "cluster {"
			echo "  name: shmring"
			echo "  listen: 127.0.0.1:$(nats_rport "$node")"
			echo "  routes: ["
			for other in n1 n2 n3; do
				[ "$other" = "$node" ] && continue
				echo "    nats-route://127.0.0.1:$(nats_rport "$other")"
			done
			echo "  ]"
			echo "}"
		fi
	} >"$conf"
}

# nats_start NODE: start it in the background from its config.
nats_start() {
	local node=$1
	[ -f "$NATS_DIR/$node.conf" ] || { echo "nats-lib: $node is not configured" >&2; return 1; }
	if nats_running "$node"; then
		echo "nats-lib: $node is already running" >&2
		return 0
	fi
	"$NATS_SERVER" -c "$NATS_DIR/$node.conf" >>"$(nats_log "$node")" 2>&1 &
	echo $! >"$NATS_DIR/$node.pid"
}

# nats_http NODE PATH: GET http://127.0.0.1:MPORT/PATH, body on stdout.
nats_http() {
	# timeout, not wget -T: busybox 1.35's wget -T crashes (SIGSEGV).
	timeout 10 wget -q -O - "http://127.0.0.1:$(nats_mport "$1")/$2" 2>/dev/null
}

nats_jsz() { nats_http "$1" "jsz${2:+?$2}"; }
nats_varz() { nats_http "$1" varz; }

# nats_node_ready NODE: /healthz says ok (in a cluster this also needs a
# JetStream meta leader, which /jsz names).
nats_node_ready() {
	nats_http "$1" healthz | grep -q '"status": *"ok"' || return 1
	[ "$1" = single ] && return 0
	nats_jsz "$1" | grep -q '"leader": *"n[123]"'
}

# nats_wait_ready [SECS]: every running node ready within SECS (default 60).
nats_wait_ready() {
	local limit ticks node
	limit=$((${1:-60} * 10))
	ticks=0
	for node in $NATS_NODES; do
		nats_running "$node" || continue
		until nats_node_ready "$node"; do
			if ! nats_running "$node"; then
				echo "nats-lib: $node exited; its log:" >&2
				tail -n 20 "$(nats_log "$node")" | sed 's/^/#   /' >&2
				return 1
			fi
			ticks=$((ticks + 1))
			if [ $ticks -ge $limit ]; then
				echo "nats-lib: $node not ready after ${1:-60}s; its log:" >&2
				tail -n 20 "$(nats_log "$node")" | sed 's/^/#   /' >&2
				return 1
			fi
			sleep 0.1
		done
	done
}

# nats_start_single [USER PASSWORD]
nats_start_single() {
	mkdir -p "$NATS_DIR"
	NATS_AUTH_USER=${1:-} NATS_AUTH_PASS=${2:-} nats_write_conf single
	NATS_NODES=single
	nats_start single && nats_wait_ready
}

nats_start_cluster() {
	local node
	mkdir -p "$NATS_DIR"
	NATS_NODES="n1 n2 n3"
	for node in $NATS_NODES; do
		NATS_AUTH_USER="" nats_write_conf "$node"
		nats_start "$node" || return 1
	done
	nats_wait_ready
}

# nats_url: the client URLs of the configured nodes (running or not: a
# client given them all finds whichever is up).
nats_url() {
	local url="" node
	for node in $NATS_NODES; do
		url="${url:+$url,}nats://127.0.0.1:$(nats_port "$node")"
	done
	echo "$url"
}

# nats_wait_exit NODE [SECS]: until its process is gone (default 20 s).
nats_wait_exit() {
	local pid ticks
	pid=$(nats_pid "$1")
	[ -n "$pid" ] || return 0
	ticks=0
	while kill -0 "$pid" 2>/dev/null; do
		ticks=$((ticks + 1))
		[ $ticks -ge $((${2:-20} * 10)) ] && return 1
		sleep 0.1
	done
	# Reap it if it is our child (it may not be: a subshell started it).
	wait "$pid" 2>/dev/null
	rm -f "$NATS_DIR/$1.pid"
	return 0
}

# nats_stop NODE: SIGTERM, wait; SIGKILL if it has not gone after 20 s.
nats_stop() {
	local pid
	pid=$(nats_pid "$1")
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	nats_wait_exit "$1" 20 || nats_kill "$1"
}

nats_kill() {
	local pid
	pid=$(nats_pid "$1")
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	nats_wait_exit "$1" 10
}

nats_stop_all() {
	local node
	for node in single n1 n2 n3; do
		[ -f "$NATS_DIR/$node.pid" ] && nats_stop "$node"
	done
	rm -rf "$NATS_DIR"
	NATS_NODES=""
}

# nats_first_up: the first configured node that is running and answers.
nats_first_up() {
	local node
	for node in $NATS_NODES; do
		nats_running "$node" && nats_http "$node" healthz >/dev/null && { echo "$node"; return 0; }
	done
	return 1
}

# nats_stream_field STREAM FIELD [NODE]: a number of the stream's state in
# /jsz?streams=true (pretty-printed, one key per line): the first FIELD
# after the line naming the stream. Empty if the stream is unknown.
nats_stream_field() {
	local node
	node=${3:-$(nats_first_up)} || return 1
	nats_jsz "$node" "streams=true" | awk -v s="$1" -v f="$2" '
		$0 ~ "\"name\": *\"" s "\"" { found = 1; next }
		found && $0 ~ "\"" f "\":" {
			v = $0; sub(/.*: */, "", v); sub(/,.*/, "", v); print v; exit
		}'
}

nats_stream_msgs() { nats_stream_field "$1" messages "${2:-}"; }
nats_stream_last_seq() { nats_stream_field "$1" last_seq "${2:-}"; }
