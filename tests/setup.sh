#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Make this machine ready to build and test shmring (idempotent):
#  1. install what tests/packages.txt lists and is missing (apt-get, as root);
#  2. fetch the stock kernel and build the debug kernel into the cache
#     (tests/vm.sh kernels; reused while their inputs are unchanged), and
#     unpack promtool from Debian's prometheus package into the cache.
#
#   setup.sh             both steps
#   setup.sh --packages  step 1 only (make bench: the VM fetches its kernel)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
t0=$SECONDS

missing=()
while read -r pkg; do
	dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -qx 'install ok installed' ||
		missing+=("$pkg")
done < <(grep -vE '^[[:space:]]*(#|$)' "$ROOT/tests/packages.txt")

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup.sh: error: installing packages needs root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y "${missing[@]}"
else
	echo "setup.sh: all packages of tests/packages.txt are installed"
fi

# promtool for t_prom, unpacked (not installed: the package starts a server).
prom=${SHMRING_CACHE:-/var/cache/shmring}/prometheus
if [ "${1:-}" != --packages ] && [ ! -x "$prom/usr/bin/promtool" ]; then
	tmp=$(mktemp -d)
	if (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) &&
		mkdir -p "$prom" && dpkg-deb -x "$tmp"/prometheus_*.deb "$prom"; then
		echo "setup.sh: promtool unpacked into $prom"
	else
		echo "setup.sh: could not fetch promtool (t_prom skips its 2 checks)"
	fi
	rm -rf "$tmp"
fi

[ "${1:-}" = --packages ] || bash "$ROOT/tests/vm.sh" kernels
echo "setup.sh: done in $((SECONDS - t0))s"
