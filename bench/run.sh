#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: boot the stock-kernel VM, run shmring-bench there (shmring and
# every peer in the same boot), bring its JSON lines back and write the
# report: bench/results/<date>.json, docs/bench.md, docs/bench/*.svg|png and
# the headline table in README.md (bench/report.py).
#
#   bench/run.sh [SHMRING-BENCH OPTIONS]   default: the full matrix
#
# Environment: SHMRING_BENCH_DATE (default: today, UTC), SHMRING_VM_TIMEOUT
# (default here 1800 s). A benchmark, not a test: nothing here asserts a time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DATE=${SHMRING_BENCH_DATE:-$(date -u +%F)}
RAW=build/bench/raw-$DATE.jsonl
OUT=build/bench/guest-$DATE.out
t0=$SECONDS

say() { printf 'bench: %s\n' "$*"; }

bash tests/setup.sh --packages
mkdir -p build/bench
rm -f "$OUT"
say "running shmring-bench $* in the stock-kernel VM (progress below)"
set +e
# The TSC as clocksource, as on real hosts: under TCG the default (hpet)
# makes every clock_gettime() a system call plus an emulated MMIO read
# (1000 ns against 65 ns here), which no real machine pays and which
# zero-copy writers, stamping records in userspace, would pay per commit.
# Every implementation runs in the same boot, with the same clock.
SHMRING_VM_APPEND=${SHMRING_VM_APPEND-clocksource=tsc tsc=reliable} \
SHMRING_VM_TIMEOUT=${SHMRING_VM_TIMEOUT:-1800} SHMRING_VM_OUTPUT=$OUT \
	bash tests/vm.sh run stock -- shmring-bench "$@" >build/bench/vm-$DATE.log 2>&1 &
vm=$!
# Show the benchmark's progress lines while it runs.
tail -n +1 -F build/bench/vm-$DATE.log 2>/dev/null |
	grep --line-buffered -E '^(\[ *[0-9.]+\] )?shmring-bench: |^vm\.sh: (error|FAIL)' &
tailer=$!
wait $vm
rc=$?
kill $tailer 2>/dev/null
wait $tailer 2>/dev/null
set -e
if [ ! -s "$OUT" ]; then
	say "error: the VM produced no output (status $rc); log: build/bench/vm-$DATE.log"
	exit 1
fi
grep '^{' "$OUT" >"$RAW" || true
if ! grep -q '"kind":"throughput"' "$RAW"; then
	say "error: no measurements came back (status $rc); log: build/bench/vm-$DATE.log"
	exit 1
fi
say "$(wc -l <"$RAW") result lines in $RAW"
python3 bench/report.py "$RAW" --date "$DATE" --cmd "make bench${*:+ BENCH_ARGS='$*'}"
errors=$(grep -c '"kind":"error"' "$RAW" || true)
say "done in $((SECONDS - t0))s: bench/results/$DATE.json, docs/bench.md, docs/bench/"
if [ "$rc" -ne 0 ] || [ "$errors" -gt 0 ]; then
	say "error: $errors measurement(s) failed, VM status $rc (see docs/bench.md, Errors)"
	exit 1
fi
