#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every test of shmring; what `make check` runs.
#
#   setup      tests/setup.sh (packages, stock + debug kernels in the cache)
#   build      make user (gcc) and make user with clang into build/clang,
#              each counted as one test
#   static     tests/static-checks.sh (checkpatch, sparse, W=1 builds)
#   unit       the native unit tests, plain and with ASan+UBSan
#   vm-stock   tests/vm.sh test stock  (Debian 6.1 kernel)
#   vm-debug   tests/vm.sh test debug  (6.12 with KASAN, lockdep, KUnit...)
#
# The last line is "N passed, N failed, N skipped"; the exit status is 1 when
# anything failed (a build that fails is a failure, not zero tests).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
B=build
PASSED=0 FAILED=0 SKIPPED=0
T_ALL=$SECONDS
TIMES=()

phase() {
	PHASE=$1
	PHASE_T0=$SECONDS
	printf '\n=== %s\n' "$PHASE"
}
phase_end() {
	TIMES+=("$(printf '%-10s %5ds' "$PHASE" $((SECONDS - PHASE_T0)))")
	printf '=== %s: %ds\n' "$PHASE" $((SECONDS - PHASE_T0))
}

# result <ok|not ok|skip> DESCRIPTION
result() {
	case $1 in
	ok) PASSED=$((PASSED + 1)) ;;
	skip) SKIPPED=$((SKIPPED + 1)) ;;
	*) FAILED=$((FAILED + 1)) ;;
	esac
	echo "$1 - $2"
}

# count_tap PREFIX < TAP: count "ok"/"not ok" lines (optionally "NAME: ok")
# and pass the output through.
count_tap() {
	local line
	while IFS= read -r line; do
		echo "$line"
		# "t_x: ok 1 - ..." from run-tests.sh
		[[ $line =~ ^[A-Za-z0-9_.-]+:\ (.*)$ ]] && line=${BASH_REMATCH[1]}
		case $line in
		"not ok"*) case $line in *"# TODO"*) ;; *) FAILED=$((FAILED + 1)) ;; esac ;;
		ok*"# SKIP"* | ok*"# skip"*) SKIPPED=$((SKIPPED + 1)) ;;
		ok*) PASSED=$((PASSED + 1)) ;;
		"1..0 # SKIP"*) SKIPPED=$((SKIPPED + 1)) ;;
		esac
	done
}

# add_counts FILE: passed=N failed=N skipped=N from tests/vm.sh test.
add_counts() {
	local passed=0 failed=0 skipped=0
	# shellcheck disable=SC1090
	. "$1"
	PASSED=$((PASSED + passed))
	FAILED=$((FAILED + failed))
	SKIPPED=$((SKIPPED + skipped))
}

# --- setup --------------------------------------------------------------------
phase setup
if bash tests/setup.sh; then
	result ok "setup: packages and kernels"
else
	result "not ok" "setup: tests/setup.sh failed"
fi
phase_end

# --- userspace builds ---------------------------------------------------------
phase build
if make -k user; then
	result ok "build: make user (gcc)"
else
	result "not ok" "build: make user (gcc)"
fi
if make -k B=$B/clang CC=clang user >$B/clang.log 2>&1; then
	result ok "build: make B=$B/clang CC=clang user"
else
	grep -E 'error|warning' $B/clang.log | head -n 20
	result "not ok" "build: make B=$B/clang CC=clang user (log: $B/clang.log)"
fi
phase_end

# --- host checks: static, unit, fuzz, install ---------------------------------
# They need about one core while the VMs leave most of one idle, so they
# run beside the VM phases; their output is shown after them.
host_checks() {
	# --- static checks ------------------------------------------------------------
	phase static
	count_tap < <(bash tests/static-checks.sh)
	count_tap < <(bash tests/check-units.sh)
	phase_end

	# --- native unit tests --------------------------------------------------------
	phase unit
	unit_targets() { for f in tests/unit/t_*.c; do [ -f "$f" ] && echo "$1/${f%.c}"; done; }
	# run_unit DIR LABEL: every test program of DIR through the in-guest runner,
	# which works on the host as well.
	run_unit() {
		if [ -d "$1" ]; then
			count_tap < <(sh tests/guest/run-tests.sh "$1" | sed "/^#/!s/^/$2/")
		fi
	}
	run_unit $B/tests/unit ""

	asan_flags='-fsanitize=address,undefined -fno-omit-frame-pointer'
	if [ -z "$(unit_targets $B/asan)" ]; then
		result skip "unit (ASan+UBSan): no tests/unit/t_*.c yet"
	elif make -k B=$B/asan EXTRA_CFLAGS="$asan_flags" LDFLAGS='-fsanitize=address,undefined' \
		$(unit_targets $B/asan) >$B/asan.log 2>&1; then
		result ok "build: unit tests with ASan+UBSan"
		ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_unit $B/asan/tests/unit "asan-"
	else
		grep -E 'error' $B/asan.log | head -n 20
		result "not ok" "build: unit tests with ASan+UBSan (log: $B/asan.log)"
	fi
	# valgrind where ASan cannot go: the plain builds, memcheck, leaks are errors.
	for t in $(unit_targets $B); do
		if SHMRING_TEST_QUICK=1 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			"$t" >"$t.valgrind.log" 2>&1; then
			result ok "valgrind: ${t##*/}"
		else
			tail -n 20 "$t.valgrind.log"
			result "not ok" "valgrind: ${t##*/} (log: $t.valgrind.log)"
		fi
	done
	phase_end

	phase fuzz
	# The capture reader's, the record validator's and the zero-copy reader's
	# fuzzers, bounded in time, from the seed corpora in tests/fuzz/.
	if make -s fuzz FUZZ_TIME=${SHMRING_FUZZ_TIME:-6} >$B/fuzz.log 2>&1; then
		result ok "fuzz: capture reader, record validator and zero-copy reader, ${SHMRING_FUZZ_TIME:-6} s each ($(grep -o 'Done [0-9]* runs' $B/fuzz.log | tr '\n' ' '))"
	else
		tail -n 30 $B/fuzz.log
		result "not ok" "fuzz: capture reader, record validator or zero-copy reader (log: $B/fuzz.log)"
	fi
	phase_end

	phase install
	count_tap < <(bash tests/install-check.sh 2>&1)
	phase_end
}

mkdir -p $B/results
rm -f $B/results/host.counts $B/results/host.times
(
	PASSED=0 FAILED=0 SKIPPED=0 TIMES=()
	host_checks
	printf '%s\n' "${TIMES[@]}" >$B/results/host.times
	echo "passed=$PASSED failed=$FAILED skipped=$SKIPPED" >$B/results/host.counts
) >$B/host-checks.log 2>&1 </dev/null &
HOST_PID=$!

# --- the VMs ------------------------------------------------------------------
for k in stock debug; do
	phase vm-$k
	bash tests/vm.sh test $k
	if [ -f $B/results/$k.counts ]; then
		add_counts $B/results/$k.counts
	else
		result "not ok" "vm.sh test $k produced no results"
	fi
	phase_end
done

wait $HOST_PID
printf '\n=== host checks (ran beside the VMs)\n'
cat $B/host-checks.log
if [ -f $B/results/host.counts ]; then
	add_counts $B/results/host.counts
	mapfile -t -O ${#TIMES[@]} TIMES <$B/results/host.times
else
	result "not ok" "host checks produced no results (log: $B/host-checks.log)"
fi

# The failures again, last, where a log's tail shows them.
if [ "$FAILED" -ne 0 ]; then
	printf '\n=== failures (above in full)\n'
	# Each "not ok" line, and the first diagnostics under a guest one.
	awk '/^(\[[a-z]+\] )?not ok|^[A-Za-z0-9_.-]+: not ok/ { print; n = 0; d = 1; next }
	     d && /^    / && n++ < 30 { print; next } { d = 0 }' \
		$B/results/stock.txt $B/results/debug.txt $B/host-checks.log 2>/dev/null | head -n 150
fi

printf '\n=== elapsed per phase\n'
printf '%s\n' "${TIMES[@]}"
printf '%-10s %5ds\n' total $((SECONDS - T_ALL))
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
