#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SHMRING_CACHE:-/var/cache/shmring}
DISTRO=$CACHE/distro
kver() { ls /var/cache/shmring/stock | sort -V | tail -n1; }
image_key() { { sha256sum <"$ROOT/tests/distro-image.sh"; echo "$(kver)"; } | sha256sum | cut -d' ' -f1; }
ensure_image() {
	local key; key=$(image_key)
	exec 9>"$CACHE/distro.lock"; flock 9
	if [ -f "$DISTRO/stamp" ] && [ "$(cat "$DISTRO/stamp")" = "$key" ] && [ -f "$DISTRO/root.img" ]; then
		echo "# distro image cached ($DISTRO, stamp $key)"; return; fi
	echo "# distro image: building (stamp $key)"
	rm -rf "$DISTRO.new"; mkdir -p "$DISTRO.new"
	local t0=$SECONDS
	bash "$ROOT/tests/distro-image.sh" build "$(kver)" "$DISTRO.new" >"$DISTRO.new/build.log" 2>&1 || { tail -30 "$DISTRO.new/build.log"; return 1; }
	echo "$key" >"$DISTRO.new/stamp"
	rm -rf "$DISTRO"; mv "$DISTRO.new" "$DISTRO"
	echo "# distro image built in $((SECONDS - t0))s"
}
ensure_image
