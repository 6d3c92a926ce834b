#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# In-guest test runner (busybox sh), started by `tests/vm.sh test`; on the
# host, tests/run-all.sh runs the native unit tests with it.
#
#   run-tests.sh [DIR]
#
# Runs every executable t_* program and every t_*.sh script in DIR (default:
# the runner's own directory), each in its own session with a time limit
# (SHMRING_TEST_TIMEOUT, default 300 s), and prints each program's output
# with "NAME: " in front of every line, so "t_abi: ok 3 - desc" stays
# parseable when programs follow each other.
# A program that crashes, times out, bails out, exits non-zero without a
# failed test or runs fewer tests than planned gets one extra line
# "NAME: not ok - <why>".  Exit status: 1 if anything failed.

dir=${1:-$(dirname "$0")}
limit=${SHMRING_TEST_TIMEOUT:-300}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out
sum=$tmp/sum
status=0

# where_stuck SID: state, wait channel and kernel stack of every process of
# session SID (the test and what it forked), and the rings, for the report
# of a test that timed out: a hang is most often a lost wakeup.
where_stuck() {
	sid=$1
	for st in /proc/[0-9]*/stat; do
		p=${st%/stat}
		p=${p#/proc/}
		# the fields after "(comm) ": state ppid pgrp session ...
		f=$(sed 's/^.*) //' "$st" 2>/dev/null) || continue
		set -- $f
		[ "${4:-}" = "$sid" ] || continue
		echo "pid $p ($(cat /proc/$p/comm 2>/dev/null)) state $1 wchan $(cat /proc/$p/wchan 2>/dev/null)"
		sed 's/^/    /' /proc/$p/stack 2>/dev/null | head -n 12
	done
	if [ -r /proc/shmring ]; then
		sed 's/^/  /' /proc/shmring | head -n 20
	fi
}

# run_one NAME CMD...: run with the time limit; sets rc and timed_out.
run_one() {
	name=$1
	shift
	# setsid: the test and everything it forks form one group to kill.
	setsid "$@" >"$out" 2>&1 </dev/null &
	pid=$!
	timed_out=0
	ticks=0
	while kill -0 $pid 2>/dev/null; do
		if [ $ticks -ge $((limit * 10)) ]; then
			timed_out=1
			where_stuck $pid >"$tmp/stuck"
			kill -9 -$pid $pid 2>/dev/null
			break
		fi
		sleep 0.1
		ticks=$((ticks + 1))
	done
	wait $pid
	rc=$?
	kill -9 -$pid 2>/dev/null	# leftover children
}

for t in "$dir"/t_*; do
	name=${t##*/}
	case $name in
	*.sh) [ -f "$t" ] || continue; set -- sh "$t" ;;
	*.*) continue ;;
	*) [ -f "$t" ] && [ -x "$t" ] || continue; set -- "$t" ;;
	esac
	# In the VM, the console log shows where a crash happened.
	[ "${SHMRING_VM:-}" = 1 ] && echo "run-tests: starting $name" >/dev/kmsg
	start=$(date +%s)
	run_one "$name" "$@"
	secs=$(($(date +%s) - start))

	# Prefix and count: ran, failed, plan (-1: none), bail-out reason.
	awk -v n="$name" -v sum="$sum" '
		{ sub(/\r$/, ""); print n ": " $0 }
		/^(not )?ok/ { ran++ }
		/^not ok/ && !/# *[Tt][Oo][Dd][Oo]/ { failed++ }
		/^1\.\.[0-9]+/ { split($1, p, "\\.\\."); plan = p[2] + 0; has_plan = 1 }
		/^Bail out!/ { bail = $0 }
		/^SUMMARY: [A-Za-z]+Sanitizer/ { san = $0 }
		END { printf "%d %d %d\n%s\n%s\n", ran, failed, has_plan ? plan : -1, bail, san > sum }
	' "$out"
	{ read -r ran failed plan; read -r bail; read -r san; } <"$sum"

	why=""
	if [ $timed_out = 1 ]; then
		why="timed out after ${limit}s (SHMRING_TEST_TIMEOUT)"
	elif [ $rc -gt 128 ]; then
		why="killed by signal $((rc - 128))"
	elif [ -n "$bail" ]; then
		why="$bail"
	elif [ -n "$san" ]; then
		why="exited with status $rc: $san"
	elif [ $rc -ne 0 ] && [ "$failed" -eq 0 ]; then
		why="exited with status $rc"
	elif [ "$plan" -lt 0 ]; then
		why="no TAP plan (1..N) in its output"
	elif [ "$plan" -ne "$ran" ]; then
		why="planned $plan tests, ran $ran"
	fi
	if [ -n "$why" ]; then
		echo "$name: not ok - $why"
	fi
	if [ $timed_out = 1 ]; then
		# What it printed last and where it hung, as its diagnostics.
		tail -n 5 "$out" | sed "s/^/$name: # last output: /"
		sed "s/^/$name: # /" "$tmp/stuck"
	fi
	if [ -n "$why" ] || [ "$failed" -ne 0 ]; then
		status=1
	fi
	echo "# run-tests: $name: exit $rc, $ran tests, $failed failed, ${secs}s"
done
exit $status
