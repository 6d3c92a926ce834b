#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Issue 4's acceptance, as a new user would do it from the README: create a
# ring, write from the shell and from the example program, tail it live
# with shmring-dump -f --hold, kill the writer, start it again, and see the tail
# continue with nothing lost.
n=0
fails=0
t() {
	n=$((n + 1))
	if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fails=$((fails + 1)); fi
}
echo "1..8"
out=/tmp/newuser.tail
shmring-ctl delete newuser 2>/dev/null
t "create a lossless ring from the shell" "shmring-ctl create newuser --size 64k --policy lossless"
# -f alone is a tap, which never holds the writer back and may be lapped;
# --hold makes the tail a reader the lossless ring waits for: nothing lost.
shmring-dump -f --hold newuser >$out 2>/tmp/newuser.err &
dump=$!
sleep 1
t "write a record from the shell" "shmring-ctl write newuser 'hello from the shell'"
writer newuser 100000000 >/dev/null 2>&1 &
w=$!
sleep 1
t "the example writer was killed with SIGKILL mid-run" "kill -9 $w"
wait $w 2>/dev/null
# Bounded: a writer asleep with room the reader made (a lost wakeup) fails
# here, saying where it slept, instead of hanging the whole test.
finishes() {
	"$@" >/dev/null 2>&1 &
	p=$!
	i=0
	while kill -0 $p 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 $p 2>/dev/null; then
		{
			echo "# $* still runs after 60 s, in $(cat /proc/$p/wchan 2>/dev/null):"
			sed 's/^/#   /' /proc/$p/stack 2>/dev/null
			sed 's/^/# /' /proc/shmring
		} >/tmp/newuser.stuck
		kill -9 $p
		wait $p 2>/dev/null
		return 1
	fi
	wait $p
}
rm -f /tmp/newuser.stuck
t "start it again and let it finish" "finishes writer newuser 20"
cat /tmp/newuser.stuck 2>/dev/null
t "write another record from the shell" "shmring-ctl write newuser 'bye'"
sleep 2
kill -INT $dump
wait $dump
t "shmring-dump -f exits 0 on SIGINT" "[ \$? -eq 0 ]"
total=$(grep -c . $out)
expect=$(sed -n 's/^ring newuser .* head_seq=\([0-9]*\) .*/\1/p' /proc/shmring)
t "the tail shows every record the ring holds ($total of $expect)" "[ '$total' = '$expect' ] && [ '$total' -gt 22 ]"
t "in order, from the shell record to the last one, no gap" \
	"head -1 $out | grep -q 'hello from the shell' && tail -1 $out | grep -q bye && \
	 awk '{ if (\$1 != NR - 1) exit 1 }' $out && ! grep -q lost $out"
shmring-ctl delete newuser
[ $fails -eq 0 ]
