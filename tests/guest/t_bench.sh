#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-bench in the guest (busybox sh), TAP output: a small run of every
# implementation must deliver every record (the benchmark checks each
# record's writer and counter itself), and bad options must be refused.
# This checks that the benchmark measures what it says; it times nothing.
# shellcheck disable=SC2016

n=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
N=300	# records per writer in --quick

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); echo "not ok $n - $1"; }
t() {
	if eval "$2"; then
		pass "$1"
	else
		fail "$1"
		echo "#   condition: $2"
		for f in "$tmp"/err "$tmp"/bad; do
			[ -s "$f" ] && sed 's/^/#   '"${f##*/}"': /' "$f" | head -n 20
		done
	fi
}
# field NAME < LINE: a number or string field of one JSON line
field() { sed -n 's/.*"'"$1"'":"\{0,1\}\([^",}]*\).*/\1/p'; }

if [ ! -c /dev/shmring ]; then
	echo "1..0 # SKIP /dev/shmring is missing"
	exit 0
fi
nimpl=$(shmring-bench --list | wc -l)

timeout 240 shmring-bench --quick -s 16,4096 -S 1x1,4x4 -o "$tmp/out" 2>"$tmp/err"
rc=$?
t "quick run of every implementation exits 0" '[ $rc -eq 0 ]'
t "a meta line first, with the kernel" \
	'head -n 1 "$tmp/out" | grep -q "\"kind\":\"meta\".*\"kernel\":\"$(uname -r)\""'
t "system calls are counted" 'grep -q "\"syscalls_counted\":true" "$tmp/out"'
t "no error lines" '! grep -q "\"kind\":\"error\"" "$tmp/out"'
t "a throughput line per implementation, scenario and size" \
	'[ "$(grep -c "\"kind\":\"throughput\"" "$tmp/out")" -eq $((nimpl * 2 * 2)) ]'
t "a latency and an idle line per reading implementation" \
	'[ "$(grep -c "\"kind\":\"latency\"" "$tmp/out")" -eq $((nimpl - 1)) ] &&
	 [ "$(grep -c "\"kind\":\"idle\"" "$tmp/out")" -eq $((nimpl - 1)) ]'

# Every record reached every reader: delivered (+ lost, overwrite only).
: >"$tmp/bad"
grep '"kind":"throughput"' "$tmp/out" | while read -r line; do
	impl=$(echo "$line" | field impl)
	pol=$(echo "$line" | field policy)
	w=$(echo "$line" | field writers)
	r=$(echo "$line" | field readers)
	got=$(echo "$line" | field records_delivered)
	lost=$(echo "$line" | field records_lost)
	want=$((w * N * r))
	if [ "$pol" = overwrite ]; then got=$((got + lost)); elif [ "$lost" != 0 ]; then
		echo "$impl ${w}x$r: lost $lost" >>"$tmp/bad"
	fi
	[ "$got" = "$want" ] || echo "$impl ${w}x$r: $got of $want records" >>"$tmp/bad"
done
t "every record delivered to every reader" '[ ! -s "$tmp/bad" ]'
t "shmring records cost system calls, counted" \
	'grep "\"impl\":\"shmring-write\"" "$tmp/out" | head -n 1 |
	 field syscalls_per_rec | grep -qv "^0\.0000$"'
# Deterministic counts (how often readers sleep depends on scheduling):
# one write(2) per record into a pipe, none at all for memcpy.
t "a pipe written record by record counts a system call per record or more" \
	'grep "\"impl\":\"pipe\".*\"writers\":1,\"readers\":1,\"size\":16," "$tmp/out" |
	 field syscalls_per_rec | awk "{ exit !(\$1 >= 1) }"'
t "memcpy counts no system call" \
	'[ "$(grep "\"impl\":\"memcpy\"" "$tmp/out" | field syscalls_per_rec | sort -u)" = 0.0000 ]'

# Like with like: every line says its group, and the groups are the ones
# docs/bench.md compares within (the last column of --list).
t "every implementation is in the group its path says" \
	'shmring-bench --list | awk "
		{ batch = \$3 == \"batch\" || \$3 == \"zc-batch\" }
		batch && \$5 != \"batch\" { bad = 1 }
		\$1 == \"memcpy\" && \$5 != \"bound\" { bad = 1 }
		\$1 != \"memcpy\" && !batch && \$5 != \"record\" { bad = 1 }
		END { exit bad || NR < 2 }"'
t "the memfd ring has a per-record and a batched path" \
	'shmring-bench --list | grep -q "^uring  *memfd-ring  *single .* record$" &&
	 shmring-bench --list | grep -q "^uring-batch  *memfd-ring  *batch .* batch$"'
t "every throughput line has its group and writers and readers' syscalls per record" \
	'[ "$(grep "\"kind\":\"throughput\"" "$tmp/out" | grep "\"group\":\"\(record\|batch\|bound\)\"" |
	     grep -c "\"w_syscalls_per_rec\":[0-9.]*,\"w_syscalls\":{")" -eq $((nimpl * 2 * 2)) ] &&
	 [ "$(grep "\"kind\":\"throughput\"" "$tmp/out" | grep -c "\"r_syscalls_per_rec\":[0-9.]*,\"r_syscalls\":{")" \
	     -eq $(((nimpl - 1) * 2 * 2)) ]'
# By construction: a pipe writer makes one write(2) per record and reader;
# a uring-batch writer with room to spare signals at most once per batch.
t "a pipe writer makes one write(2) per record and reader" \
	'[ "$(grep "\"kind\":\"throughput\",\"impl\":\"pipe\".*\"writers\":1,\"readers\":1," "$tmp/out" |
	     field w_syscalls_per_rec | sort -u)" = 1.0000 ] &&
	 [ "$(grep "\"kind\":\"throughput\",\"impl\":\"pipe\".*\"writers\":4,\"readers\":4," "$tmp/out" |
	     field w_syscalls_per_rec | sort -u)" = 4.0000 ]'
# N records in batches of 64 (the default -b): that many batches at most.
t "a uring-batch writer makes at most one system call per batch (1x1, 16 B)" \
	'grep "\"kind\":\"throughput\",\"impl\":\"uring-batch\".*\"writers\":1,\"readers\":1,\"size\":16," \
	     "$tmp/out" | field w_syscalls_per_rec |
	 awk "{ n++; if (\$1 > $(((N + 63) / 64)) / $N + 0.0001) bad = 1 } END { exit bad || n != 1 }"'

# Zero-copy writers enter the kernel for chunks (16 B records: 300 fit in
# one 64 KiB chunk, so one request per writer unless the kernel took a
# chunk back from a descheduled writer) and to wake sleeping readers,
# and for nothing else.
t "zero-copy paths: one per record and batched" \
	'shmring-bench --list | grep -q "^shmring-zc  *shmring  *zc  *lossless  *record$" &&
	 shmring-bench --list | grep -q "^shmring-zc-batch  *shmring  *zc-batch  *lossless  *batch$"'
t "zero-copy writers ask for chunks and make no other ioctl or write" \
	'[ "$(grep "\"kind\":\"throughput\",\"impl\":\"shmring-zc" "$tmp/out" | grep "\"w_syscalls\":{[^}]*\"ioctl_zc_chunk\":[1-9]" |
	     grep -vc "\"w_syscalls\":{[^}]*\"\(ioctl\|write\)\":")" -eq 8 ]'
t "a zero-copy writer of 300 16-byte records asks for one chunk (1x1), or a few" \
	'grep "\"kind\":\"throughput\",\"impl\":\"shmring-zc\".*\"writers\":1,\"readers\":1,\"size\":16," "$tmp/out" |
	 sed -n "s/.*\"ioctl_zc_chunk\":\([0-9]*\).*/\1/p" | awk "{ n++; if (\$1 < 1 || \$1 > 4) bad = 1 } END { exit bad || n != 1 }"'

# Every transport gets the same buffer, grown for large records
# (--ring-records, default 2048 records, up to 16 MiB).
r16=$(grep '"kind":"throughput"' "$tmp/out" | grep '"size":16,' | field ring_size | sort -u)
r4k=$(grep '"kind":"throughput"' "$tmp/out" | grep '"size":4096,' | field ring_size | sort -u)
t "16 B records: every transport measured with the 1 MiB buffer" '[ "$r16" = 1048576 ]'
t "4 KiB records: every transport measured with a 16 MiB buffer (2048 records)" '[ "$r4k" = 16777216 ]'
timeout 120 shmring-bench --quick -t pipe-batch -s 4096 -S 1x1 -m throughput --ring-records 0 -o "$tmp/out0" 2>"$tmp/err"
t "--ring-records 0: 4 KiB records in the 1 MiB buffer" \
  '[ $? -eq 0 ] && [ "$(grep "\"kind\":\"throughput\"" "$tmp/out0" | field ring_size | sort -u)" = 1048576 ]'

# Repetitions are interleaved across implementations (a drift of the
# host's speed favours none): every rep 0, then every rep 1.
timeout 120 shmring-bench -t pipe,memcpy -s 16 -S 1x1 -m throughput -r 2 -n 200 -o "$tmp/outr" 2>"$tmp/err"
t "throughput repetitions interleaved: pipe 0, memcpy 0, pipe 1, memcpy 1" \
  '[ $? -eq 0 ] && [ "$(grep "\"kind\":\"throughput\"" "$tmp/outr" |
	sed -n "s/.*\"impl\":\"\([a-z]*\)\".*\"rep\":\([0-9]\).*/\1\2/p" | tr "\n" " ")" = "pipe0 memcpy0 pipe1 memcpy1 " ]'

# Bad options: exit 2 and say what is wrong.
shmring-bench -t nosuch >/dev/null 2>"$tmp/err"
t "unknown implementation: exit 2" '[ $? -eq 2 ] && grep -q "unknown implementation .nosuch." "$tmp/err"'
shmring-bench -S 9x1 >/dev/null 2>"$tmp/err"
t "scenario out of range (9 writers): exit 2" '[ $? -eq 2 ] && grep -q "invalid scenario" "$tmp/err"'
shmring-bench -S 1x5 >/dev/null 2>"$tmp/err"
t "scenario out of range (5 readers): exit 2" '[ $? -eq 2 ] && grep -q "invalid scenario" "$tmp/err"'
shmring-bench --ring-size 100000 >/dev/null 2>"$tmp/err"
t "ring size not a power of two: exit 2" '[ $? -eq 2 ] && grep -q "not a power of two" "$tmp/err"'
shmring-bench -s 8 >/dev/null 2>"$tmp/err"
t "record smaller than the header: exit 2" '[ $? -eq 2 ] && grep -q "invalid record sizes" "$tmp/err"'
shmring-bench -s 524288 --ring-records 0 >/dev/null 2>"$tmp/err"
t "record too big for the ring (--ring-records 0): exit 2" '[ $? -eq 2 ] && grep -q "does not fit" "$tmp/err"'
shmring-bench --help >"$tmp/err" 2>&1
t "--help exits 0 and lists the implementations" '[ $? -eq 0 ] && grep -q "seqpacket-batch" "$tmp/err"'

echo "1..$n"
