#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# systemd-analyze verify of the units in systemd/ (as instance "orders"),
# with their /usr/bin/shmring-* commands pointed at the built programs
# (build/utils, or $B/utils). Skipped (exit 0, a message) where
# systemd-analyze is not installed. TAP.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze is not installed"
	exit 0
fi
units=("$ROOT"/systemd/*.service)
echo "1..${#units[@]}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
for u in "${units[@]}"; do
	n=$((n + 1))
	base=${u##*/}
	inst=${base/@./@orders.}
	for v in "$ROOT"/systemd/*.service; do
		vb=${v##*/}
		sed "s|/usr/bin/shmring-|$B/utils/shmring-|g" "$v" >"$tmp/${vb/@./@orders.}"
	done
	if (cd "$tmp" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no \
		"./$inst") >"$tmp/log" 2>&1 && ! [ -s "$tmp/log" ]; then
		echo "ok $n - systemd-analyze verify $base"
	else
		failed=$((failed + 1))
		echo "not ok $n - systemd-analyze verify $base"
		sed 's/^/#   /' "$tmp/log"
	fi
done
exit $((failed > 0))
