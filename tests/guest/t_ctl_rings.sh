#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# shmring-ctl's ring commands in the guest (busybox sh): create, delete,
# list, stat, subs (--delete, --reset), chown, chmod, write; the shape of their text and JSON output, every
# error path with its message and exit status (man/shmring-ctl.8). TAP.
#
# Needs the module loaded (tests/vm.sh does it) and shmring-ctl,
# shmring-dump on PATH. Rings are named ctl.*; they are deleted at the end.
# Module parameters changed here are restored, and the module is left
# loaded, whatever happens.

CTL=$(command -v shmring-ctl) || { echo "1..0 # SKIP shmring-ctl not built"; exit 0; }
command -v shmring-dump >/dev/null || { echo "Bail out! shmring-dump is not on PATH"; exit 1; }
SYS=/sys/module/shmring
tmp=$(mktemp -d)
n=0
failed=0
bg=""
saved_params=""

umask 022	# modes below are 0644 & ~umask

cleanup() {
	for p in $bg; do kill "$p" 2>/dev/null; done
	for p in $bg; do wait "$p" 2>/dev/null; done
	for kv in $saved_params; do echo "${kv#*=}" >"$SYS/parameters/${kv%%=*}"; done
	[ -d "$SYS" ] || "$CTL" load
	for r in ctl.a ctl.b ctl.small ctl.full ctl.nob ctl.exact ctl.own ctl.seek ctl.zc; do
		"$CTL" delete "$r" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..203"

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	echo "#   exit status $rc; stdout:"
	sed 's/^/#   | /' "$tmp/out" | head -n 30
	echo "#   stderr:"
	sed 's/^/#   | /' "$tmp/err" | head -n 30
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { if [ "$2" = 0 ]; then pass "$1"; else fail "$1"; fi; }

# run CMD...: stdout in $tmp/out, stderr in $tmp/err, exit status in $rc.
run() {
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# printed TEXT: stdout or stderr has TEXT; "" means both are empty.
printed() {
	if [ -n "$1" ]; then
		grep -qF -- "$1" "$tmp/out" "$tmp/err"
	else
		[ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ]
	fi
}

# expect DESC STATUS TEXT CMD...: CMD exits with STATUS and prints TEXT
# ("" = prints nothing at all).
expect() {
	desc=$1 want=$2 text=$3
	shift 3
	run "$@"
	if [ "$rc" = "$want" ] && printed "$text"; then
		pass "$desc"
	else
		echo "#   wanted status $want and ${text:+"'$text'"}${text:-no output}"
		fail "$desc"
	fi
}

# The line of $tmp/out starting with WORD, blanks squeezed.
row() { tr -s ' ' <"$tmp/out" | grep "^$1 "; }
# Field NAME: of `stat` text output, blanks squeezed.
field() { grep "^$1: " "$tmp/out" | sed "s/^$1: *//"; }

# A JSON validator (RFC 8259 syntax) for busybox awk: exit 0 if the input
# is exactly one JSON value.
cat >"$tmp/json.awk" <<'EOF'
function ws() { while (p <= n && index(" \t\n\r", substr(s, p, 1))) p++ }
function str(   c) {
	p++
	while (p <= n) {
		c = substr(s, p, 1)
		if (c == "\"") { p++; return 1 }
		if (c == "\\") {
			c = substr(s, p + 1, 1)
			if (c == "u" && substr(s, p + 2, 4) ~ /^[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]$/) p += 6
			else if (index("\"\\/bfnrt", c)) p += 2
			else return 0
			continue
		}
		if (c == "\n" || c == "\t") return 0
		p++
	}
	return 0
}
function coll(e, isobj,   c) {
	p++; ws()
	if (substr(s, p, 1) == e) { p++; return 1 }
	for (;;) {
		ws()
		if (isobj) {
			if (substr(s, p, 1) != "\"" || !str()) return 0
			ws()
			if (substr(s, p, 1) != ":") return 0
			p++
		}
		if (!val()) return 0
		ws(); c = substr(s, p, 1); p++
		if (c == e) return 1
		if (c != ",") return 0
	}
}
function val(   c, rest) {
	ws(); c = substr(s, p, 1)
	if (c == "{") return coll("}", 1)
	if (c == "[") return coll("]", 0)
	if (c == "\"") return str()
	rest = substr(s, p)
	if (match(rest, /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) { p += RLENGTH; return 1 }
	if (substr(rest, 1, 4) == "true" || substr(rest, 1, 4) == "null") { p += 4; return 1 }
	if (substr(rest, 1, 5) == "false") { p += 5; return 1 }
	return 0
}
{ s = s $0 "\n" }
END { n = length(s); p = 1; ok = val(); ws(); exit !(ok && p > n) }
EOF
json_ok() { awk -f "$tmp/json.awk" "$tmp/out"; }

# as_nobody CMD...: run CMD as the unprivileged user nobody.
as_nobody() { su nobody -s /bin/sh -c "$*"; }

# wait_until CONDITION: up to 5 s until the shell condition holds.
wait_until() {
	i=0
	while [ $i -lt 50 ]; do
		eval "$1" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# An ISO-8601 UTC time with microseconds, as a grep -E pattern.
ISO='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z'

for r in ctl.a ctl.b ctl.small ctl.full ctl.nob ctl.exact ctl.own ctl.seek ctl.zc; do
	"$CTL" delete "$r" 2>/dev/null
done

# --- help --------------------------------------------------------------------

run "$CTL" --help
for c in create delete list stat subs chown chmod write; do
	grep -q "^  $c " "$tmp/out" || rc=x
done
check "--help lists create, delete, list, stat, subs, chown, chmod, write" "$([ "$rc" = 0 ] && echo 0)"
for c in create delete list stat subs chown chmod write; do
	expect "$c --help: usage on stdout, exit 0" 0 "Usage: shmring-ctl $c " "$CTL" $c --help
done

# --- create ------------------------------------------------------------------

expect "create with defaults: silent, exit 0" 0 "" "$CTL" create ctl.a
expect "create an existing ring: silent, exit 0" 0 "" "$CTL" create ctl.a
expect "create --exclusive of an existing ring: exit 13" 13 \
	"shmring-ctl: ctl.a: a ring by that name already exists" "$CTL" create --exclusive ctl.a
expect "create -x: the same" 13 "already exists" "$CTL" create -x ctl.a
expect "create an existing ring with other attributes: warns, exit 0" 0 \
	"warning: ring ctl.a already exists with size 1M, policy overwrite, max_record 262144, no csum; it was left as it is" \
	"$CTL" create ctl.a --size 64k
expect "-v create of an existing ring says so" 0 \
	"exists ctl.a: size 1M, policy overwrite, max_record 262144" "$CTL" -v create ctl.a
expect "-v create with every option" 0 \
	"created ctl.b: size 64K, policy lossless, max_record 1000, csum" \
	"$CTL" -v create ctl.b --size 64k --policy lossless --max-record 1000 --csum --mode 0640 --exclusive
expect "create with short options" 0 "" \
	"$CTL" create ctl.small -s 4096 -p overwrite -r 0x100 -m 644 -x
expect "create --size 1MiB --max-record 1kB (suffix forms)" 0 "" \
	"$CTL" create ctl.exact --size 1MiB --max-record 1kB

# --- create: errors ----------------------------------------------------------

expect "create without NAME: usage, exit 2" 2 "create: missing ring NAME" "$CTL" create
expect "create --size 3000 (not a power of two): exit 2" 2 \
	"invalid size '3000': a power of two of at least 4096 bytes" "$CTL" create ctl.x --size 3000
expect "create --size 12x: exit 2" 2 "invalid size '12x'" "$CTL" create ctl.x --size 12x
expect "create --size 2k (below 4096): exit 2" 2 "invalid size '2k'" "$CTL" create ctl.x -s 2k
expect "create --size above max_size: exit 1, names max_size" 1 \
	"ctl.x: size 134217728 is above the module's max_size (67108864 bytes)" \
	"$CTL" create ctl.x --size 128M
expect "create --policy fifo: exit 2" 2 "invalid policy 'fifo': overwrite or lossless" \
	"$CTL" create ctl.x --policy fifo
expect "create --max-record that does not fit: exit 2" 2 \
	"max-record 4096 does not fit in a ring of 4096 bytes" "$CTL" create ctl.x -s 4k -r 4k
expect "create --mode 0999: exit 2" 2 "invalid mode '0999'" "$CTL" create ctl.x --mode 0999
expect "create with an invalid name: exit 2" 2 "invalid ring name 'a/b'" "$CTL" create a/b
expect "create with an unknown option: exit 2" 2 \
	"Try 'shmring-ctl create --help' for more information." "$CTL" create ctl.x --bogus
run "$CTL" stat ctl.x
check "nothing was created by the failed creates" "$([ "$rc" = 12 ] && echo 0)"

# --- list ----------------------------------------------------------------------

expect "list: exit 0" 0 "NAME" "$CTL" list
[ "$(head -n 1 "$tmp/out" | tr -s ' ')" = "NAME SIZE POLICY RECORDS LOST READERS SUBS MODE OWNER" ]
check "list: header NAME SIZE POLICY RECORDS LOST READERS SUBS MODE OWNER" $?
[ "$(row ctl.a)" = "ctl.a 1M overwrite 0 0 0 0 0644 root" ]
check "list: row of a default ring" $?
[ "$(row ctl.b)" = "ctl.b 64K lossless 0 0 0 0 0640 root" ]
check "list: row of a lossless 64K ring with mode 0640" $?
[ "$(row ctl.small)" = "ctl.small 4K overwrite 0 0 0 0 0644 root" ]
check "list: row of a 4K ring" $?
rows=$(($(wc -l <"$tmp/out") - 1))
expect "list --json: exit 0" 0 "ctl.b" "$CTL" list --json
json_ok
check "list --json is valid JSON" $?
[ "$(grep -c '^  {"name": "' "$tmp/out")" = "$rows" ] && head -n 1 "$tmp/out" | grep -qx '\[' &&
	tail -n 1 "$tmp/out" | grep -qx '\]'
check "list --json: an array, one object per line, as many as text rows ($rows)" $?
grep -qF '{"name": "ctl.b", "size": 65536, "policy": "lossless", "max_record": 1000, "csum": true, "mode": "0640", "uid": 0, "gid": 0, "owner": "root", "group": "root", "records": 0, "records_written": 0, "lost": 0, "readers": 0, "subs": 0}' "$tmp/out"
check "list --json: the keys and values of a ring" $?
grep -qF '{"name": "ctl.small", "size": 4096, "policy": "overwrite", "max_record": 256, "csum": false, "mode": "0644",' "$tmp/out" &&
	grep -qF '{"name": "ctl.exact", "size": 1048576, "policy": "overwrite", "max_record": 1024, "csum": false,' "$tmp/out"
check "the size and max-record suffixes and hex took effect" $?
expect "list with an argument: exit 2" 2 "list takes no arguments" "$CTL" list ctl.a
run "$CTL" list --json
cp "$tmp/out" "$tmp/list.json"
run "$CTL" -j list
[ "$rc" = 0 ] && cmp -s "$tmp/out" "$tmp/list.json"
check "-j list: the same as list --json" $?
run "$CTL" --json list
[ "$rc" = 0 ] && cmp -s "$tmp/out" "$tmp/list.json"
check "--json list: the same as list --json" $?
run "$CTL" -p list
json_ok && [ "$rc" = 0 ] && grep -qx '    "name": "ctl.b",' "$tmp/out" &&
	grep -qx '    "csum": true,' "$tmp/out" && head -n 2 "$tmp/out" | tail -n 1 | grep -qx '  {'
check "-p list: valid JSON, one member a line, indented" $?
run "$CTL" -j -p list
cp "$tmp/out" "$tmp/pretty.json"
run "$CTL" --pretty list --json
[ "$rc" = 0 ] && cmp -s "$tmp/out" "$tmp/pretty.json"
check "-j -p list and --pretty list --json print the same" $?
expect "-j after the command is the command's own --json: list -j" 0 '{"name": "ctl.b"' "$CTL" list -j
expect "-j with a command that prints nothing: create, exit 0, silent" 0 "" "$CTL" -j create ctl.b
expect "unknown global option: exit 2" 2 "Usage:" "$CTL" -x list

if command -v unshare >/dev/null && unshare -i true 2>/dev/null; then
	run unshare -i "$CTL" list
	[ "$rc" = 0 ] && [ "$(tr -s ' ' <"$tmp/out")" = "NAME SIZE POLICY RECORDS LOST READERS SUBS MODE OWNER" ]
	check "list in a new IPC namespace: only the header" $?
	run unshare -i "$CTL" list --json
	[ "$rc" = 0 ] && [ "$(cat "$tmp/out")" = "[]" ]
	check "list --json in a new IPC namespace: []" $?
	run unshare -i sh -c "'$CTL' create ctl.ns && '$CTL' list"
	[ "$rc" = 0 ] && [ "$(wc -l <"$tmp/out")" = 2 ] && grep -q "^ctl\.ns " "$tmp/out"
	check "a ring created in another IPC namespace is listed there only" $?
	run "$CTL" stat ctl.ns
	check "... and not here" "$([ "$rc" = 12 ] && echo 0)"
else
	for d in "list in a new IPC namespace" "list --json in a new IPC namespace" \
		"a ring created in another IPC namespace" "... and not here"; do
		skip "$d" "no unshare -i"
	done
fi

# --- write -------------------------------------------------------------------

expect "write DATA: silent, exit 0" 0 "" "$CTL" write ctl.b hello
printf 'from stdin' >"$tmp/in"
expect "write --type 7 - (stdin as one record)" 0 "" "$CTL" write ctl.b --type 7 - <"$tmp/in"
printf 'x\n' >"$tmp/in"
expect "write - keeps a trailing newline in the record" 0 "" "$CTL" write ctl.b - <"$tmp/in"
printf 'one\n\nthree' >"$tmp/in"
expect "write -t 0x10 --lines: one record per line" 0 "" "$CTL" write ctl.b -t 0x10 --lines <"$tmp/in"
run shmring-dump ctl.b
[ "$(wc -l <"$tmp/out")" = 6 ] &&
	grep -q "^0 .* type=0 len=5 hello\$" "$tmp/out" &&
	grep -q "^1 .* type=7 len=10 from stdin\$" "$tmp/out" &&
	grep -q "^2 .* type=0 len=2 hex:780a\$" "$tmp/out" &&
	grep -q "^3 .* type=16 len=3 one\$" "$tmp/out" &&
	grep -q "^4 .* type=16 len=0" "$tmp/out" &&
	grep -q "^5 .* type=16 len=5 three\$" "$tmp/out"
check "the ring holds the 6 records as written (types, payloads, empty line)" $?

# --- stat --------------------------------------------------------------------

expect "stat: exit 0" 0 "name:" "$CTL" stat ctl.b
cat >"$tmp/keys" <<'EOF'
name
size
policy
max record
checksums
mode
owner
head
tail
held
written
lost
writer waits
last write
readers
subscriptions
EOF
head -n 16 "$tmp/out" | sed 's/: .*//' | cmp -s - "$tmp/keys"
check "stat: the key: value lines, in order" $?
[ -z "$(sed -n 17p "$tmp/out")" ] &&
	[ "$(sed -n 18p "$tmp/out" | tr -s ' ')" = "CURSOR NAME PID SEQ LAG_RECORDS LAG_BYTES READ LOST LAST_READ" ]
check "stat: a blank line, then the cursor table header" $?
[ "$(field size)" = "65536 bytes (64K)" ] && [ "$(field policy)" = lossless ] &&
	[ "$(field "max record")" = "1000 bytes" ] && [ "$(field checksums)" = crc32c ] &&
	[ "$(field mode)" = 0640 ] && [ "$(field owner)" = "root (uid 0), group root (gid 0)" ]
check "stat: attributes" $?
[ "$(field head | sed 's/,.*//')" = "seq 6" ] && [ "$(field tail)" = "seq 0, byte 0" ] &&
	[ "$(field held | sed 's/,.*//')" = "6 records" ] &&
	[ "$(field written)" = "6 records, 25 payload bytes" ] &&
	[ "$(field lost)" = "0 records" ] && [ "$(field "writer waits")" = 0 ]
check "stat: positions and counters after 6 writes" $?
field "last write" | grep -Eqx "$ISO"
check "stat: last write time is ISO-8601 UTC" $?
[ "$(field readers)" = 0 ] && [ "$(field subscriptions)" = 0 ] && [ "$(wc -l <"$tmp/out")" = 18 ]
check "stat: no readers, no subscriptions, no cursor rows" $?
expect "stat --json: exit 0" 0 '"name": "ctl.b"' "$CTL" stat ctl.b --json
json_ok
check "stat --json is valid JSON" $?
for k in name size policy max_record csum mode uid gid owner group records records_written \
	lost readers subs head tail head_seq tail_seq held_bytes bytes_written writer_waits \
	last_write_ns last_write cursors; do
	grep -q "\"$k\": " "$tmp/out" || { echo "#   no key $k"; rc=x; }
done
check "stat --json: every key" "$([ "$rc" = 0 ] && echo 0)"
grep -q '"head_seq": 6, "tail_seq": 0,' "$tmp/out" && grep -q '"bytes_written": 25,' "$tmp/out" &&
	grep -Eq "\"last_write\": \"$ISO\"" "$tmp/out" && grep -q '"cursors": \[\]' "$tmp/out"
check "stat --json: values, ISO last_write, empty cursors" $?
cp "$tmp/out" "$tmp/stat.json"
run "$CTL" -j stat ctl.b
[ "$rc" = 0 ] && cmp -s "$tmp/out" "$tmp/stat.json"
check "-j stat: the same as stat --json" $?
run "$CTL" -p stat ctl.b
json_ok && [ "$rc" = 0 ] && grep -qx '  "head_seq": 6,' "$tmp/out" && grep -qx '  "cursors": \[\]' "$tmp/out" &&
	[ "$(tail -n 1 "$tmp/out")" = "}" ]
check "-p stat: valid JSON, one member a line" $?
expect "stat without NAME: exit 2" 2 "stat: missing ring NAME" "$CTL" stat
expect "stat of a missing ring: exit 12" 12 \
	"shmring-ctl: ctl.nosuch: no ring by that name" "$CTL" stat ctl.nosuch

# --- subscriptions and readers -------------------------------------------------

expect "subs of a ring without subscriptions: header only" 0 "NAME" "$CTL" subs ctl.b
[ "$(tr -s ' ' <"$tmp/out")" = "NAME ATTACHED POS SEQ LAG_RECORDS LAG_BYTES LAST_READ" ]
check "subs: header NAME ATTACHED POS SEQ LAG_RECORDS LAG_BYTES LAST_READ" $?
expect "subs --json without subscriptions: []" 0 "[]" "$CTL" subs ctl.b --json
expect "-j subs without subscriptions: []" 0 "[]" "$CTL" -j subs ctl.b
expect "-p subs without subscriptions: []" 0 "[]" "$CTL" -p subs ctl.b
timeout 20 shmring-dump -s billing ctl.b >/dev/null 2>&1
"$CTL" write ctl.b more1 && "$CTL" write ctl.b more2
expect "subs: a detached subscription" 0 "billing" "$CTL" subs ctl.b
row billing | grep -Eq "^billing no [0-9]+ 6 2 [0-9]+ $ISO\$"
check "subs: billing, not attached, at seq 6, 2 records behind" $?
expect "subs --json" 0 '"name": "billing"' "$CTL" subs ctl.b --json
json_ok && grep -Eq "^  \{\"name\": \"billing\", \"attached\": false, \"pos\": [0-9]+, \"seq\": 6, \"lag_records\": 2, \"lag_bytes\": [0-9]+, \"last_read_ns\": [0-9]+, \"last_read\": \"$ISO\"\}\$" "$tmp/out"
check "subs --json: valid, with every key" $?
cp "$tmp/out" "$tmp/subs.json"
run "$CTL" -j subs ctl.b
[ "$rc" = 0 ] && cmp -s "$tmp/out" "$tmp/subs.json"
check "-j subs: the same as subs --json" $?
expect "-j subs --delete of a missing subscription: exit 12 as without -j" 12 \
	"no subscription 'nosuch'" "$CTL" -j subs ctl.b --delete nosuch

shmring-dump -f ctl.b >/dev/null 2>&1 &
rpid=$!
shmring-dump -f -s audit ctl.b >/dev/null 2>&1 &
spid=$!
bg="$rpid $spid"
printf 'reader - %s 8\nsub billing - 6\nsub audit %s 8\n' "$rpid" "$spid" >"$tmp/want"
# both readers attached and caught up with the 8 records
cursors() {
	run "$CTL" stat ctl.b
	sed -n '19,$p' "$tmp/out" | tr -s ' ' | cut -d' ' -f1-4 | cmp -s - "$tmp/want"
}
wait_until cursors
check "stat: cursor rows: the reader, billing detached, audit with its reader's pid" $?
[ "$(field readers)" = 2 ] && [ "$(field subscriptions)" = 2 ]
check "stat: 2 readers, 2 subscriptions" $?
row "sub billing" | grep -Eq "^sub billing - 6 2 [0-9]+ 6 0 $ISO\$"
check "stat: billing's lag, read, lost and last read time" $?
row "reader -" | grep -Eq "^reader - $rpid 8 0 0 8 0 $ISO\$"
check "stat: the plain reader's row" $?
run "$CTL" stat ctl.b --json
json_ok &&
	grep -q "{\"kind\": \"reader\", \"name\": null, \"pid\": $rpid, \"attached\": true, \"pos\": " "$tmp/out" &&
	grep -q '{"kind": "sub", "name": "billing", "pid": null, "attached": false, "pos": ' "$tmp/out" &&
	grep -q "{\"kind\": \"sub\", \"name\": \"audit\", \"pid\": $spid, \"attached\": true, \"pos\": " "$tmp/out"
check "stat --json: the three cursors" $?
run "$CTL" subs ctl.b
row audit | grep -q "^audit yes " && row billing | grep -q "^billing no "
check "subs: audit attached, billing not" $?
expect "subs --delete of an attached subscription: exit 11" 11 \
	"ctl.b: subscription 'audit' is attached to a reader; stop the reader first" \
	"$CTL" subs ctl.b --delete audit
kill "$rpid" "$spid"
wait "$rpid" "$spid" 2>/dev/null
bg=""
expect "subs --delete after the reader left: silent, exit 0" 0 "" "$CTL" subs ctl.b --delete audit
run "$CTL" subs ctl.b
[ "$(wc -l <"$tmp/out")" = 2 ] && ! grep -q "^audit " "$tmp/out"
check "the subscription is gone" $?
expect "subs -d of a missing subscription: exit 12" 12 \
	"ctl.b: no subscription 'nosuch'" "$CTL" subs ctl.b -d nosuch
expect "subs --delete with an invalid name: exit 2" 2 \
	"invalid subscription name 'a/b'" "$CTL" subs ctl.b --delete a/b
expect "subs --json --delete: exit 2" 2 "do not go together" "$CTL" subs ctl.b --json -d billing
expect "subs of a missing ring: exit 12" 12 "ctl.nosuch: no ring by that name" "$CTL" subs ctl.nosuch

# --- subs --reset: move a subscription ------------------------------------------

expect "subs --reset billing --to oldest: silent, exit 0" 0 "" \
	"$CTL" subs ctl.b --reset billing --to oldest
run "$CTL" subs ctl.b
row billing | grep -Eq "^billing no 0 0 8 [0-9]+ $ISO\$"
check "subs: billing moved back to seq 0 (pos 0), 8 records behind" $?
expect "-v subs --reset billing --to end: says where it is" 0 \
	"reset billing of ctl.b: now at seq 8, 0 records behind" \
	"$CTL" -v subs ctl.b --reset billing --to end
expect "subs -r billing --to seq=3 --json" 0 '"seq": 3' \
	"$CTL" subs ctl.b -r billing --to seq=3 --json
json_ok && grep -Eq '^\{"ring": "ctl.b", "name": "billing", "pos": [1-9][0-9]*, "seq": 3, "lag_records": 5\}$' "$tmp/out"
check "subs --reset --json: ring, name, pos, seq, lag_records" $?
run timeout 20 shmring-dump -s billing ctl.b
[ "$rc" = 0 ] && [ "$(cut -d' ' -f1 "$tmp/out" | tr '\n' ' ')" = "3 4 5 6 7 " ]
check "the moved position is durable: a reader of billing gets records 3 to 7" $?
expect "-j subs --reset --to seq=N: JSON as with --json" 0 '"seq": 6' \
	"$CTL" -j subs ctl.b --reset billing --to seq=6
expect "subs --reset --to a seq the ring does not hold: exit 12, the range" 12 \
	"ctl.b: cannot move 'billing' to seq=100: the ring holds seq 0 to 7 (8 is the end)" \
	"$CTL" subs ctl.b --reset billing --to seq=100
run "$CTL" subs ctl.b
row billing | grep -Eq "^billing no [0-9]+ 6 2 "
check "... and leaves the subscription where it was (seq 6)" $?
expect "subs --reset of a missing subscription: exit 12, nothing created" 12 \
	"ctl.b: no subscription 'nosuch'" "$CTL" subs ctl.b --reset nosuch --to oldest
run "$CTL" subs ctl.b
! grep -q "^nosuch " "$tmp/out"
check "... no subscription nosuch was created" $?
expect "subs --reset without --to: exit 2" 2 "--reset SUB needs --to POSITION" \
	"$CTL" subs ctl.b --reset billing
expect "subs --to without --reset: exit 2" 2 "--reset SUB needs --to POSITION" \
	"$CTL" subs ctl.b --to end
expect "subs --reset --to start: exit 2, the forms" 2 \
	"invalid position 'start': oldest, end, seq=N or time=ISO-8601|NS" \
	"$CTL" subs ctl.b --reset billing --to start
expect "subs --reset with --delete: exit 2" 2 "--delete and --reset do not go together" \
	"$CTL" subs ctl.b --reset billing --to end --delete billing

# time=WHEN: 3 records, a second boundary, 2 more records.
"$CTL" create ctl.seek --size 8k
timeout 20 shmring-dump -s s1 ctl.seek >/dev/null 2>&1
printf 'a\nb\nc\n' | "$CTL" write ctl.seek --lines
sleep 1
when=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1
printf 'd\ne\n' | "$CTL" write ctl.seek --lines
expect "subs --reset --to time=ISO (between the records)" 0 '"seq": 3' \
	"$CTL" subs ctl.seek --reset s1 --to "time=$when" --json
expect "subs --reset --to time=ISO before the records: the oldest" 0 '"seq": 0' \
	"$CTL" subs ctl.seek --reset s1 --to time=2000-01-01T00:00:00Z --json
later=$((($(date +%s) + 3600) * 1000000000))
expect "subs --reset --to time=NS after the records: the end" 0 '"seq": 5' \
	"$CTL" subs ctl.seek --reset s1 --to "time=$later" --json
shmring-dump -f -s s1 ctl.seek >/dev/null 2>&1 &
bg=$!
# shellcheck disable=SC2016 # evaluated by wait_until
wait_until 'run "$CTL" subs ctl.seek; row s1 | grep -q "^s1 yes "'
expect "subs --reset of an attached subscription: exit 11" 11 \
	"ctl.seek: subscription 's1' is attached to a reader; stop the reader first" \
	"$CTL" subs ctl.seek --reset s1 --to oldest
kill $bg
wait $bg 2>/dev/null
bg=""
if as_nobody "test \$(id -u) = 65534" 2>/dev/null; then
	expect "subs --reset as nobody of root's subscription (not shared): exit 4" 4 \
		"ctl.seek: subscription 's1' belongs to another user and is not shared" \
		as_nobody "$CTL" subs ctl.seek --reset s1 --to oldest
else
	skip "subs --reset as nobody" "cannot switch to user nobody"
fi

# --- write: never loses input silently ----------------------------------------

long=$(head -c 1001 /dev/zero | tr '\0' x)
expect "write DATA above max_record: exit 1" 1 \
	"ctl.b: DATA is 1001 bytes, above the ring's max_record (1000): not written" \
	"$CTL" write ctl.b "$long"
printf '%s' "$long" >"$tmp/in"
expect "write - with stdin above max_record: exit 1, nothing written" 1 \
	"ctl.b: standard input holds more than the ring's max_record (1000 bytes): nothing written" \
	"$CTL" write ctl.b - <"$tmp/in"
expect "write DATA of exactly max_record bytes" 0 "" "$CTL" write ctl.b "${long%x}"
{ echo ok1; echo "$long"; echo ok2; head -c 2000 /dev/zero | tr '\0' y; echo; } >"$tmp/in"
expect "write --lines with two lines above max_record: exit 1" 1 \
	"ctl.b: line 2: 1001 bytes, above the ring's max_record (1000): not written" \
	"$CTL" write ctl.b --lines <"$tmp/in"
grep -qF "ctl.b: line 4: 2000 bytes, above the ring's max_record (1000): not written" "$tmp/err" &&
	grep -qF "ctl.b: 2 of 4 lines not written (above max_record)" "$tmp/err"
check "write --lines: every oversize line by number, and the count" $?
run shmring-dump ctl.b
[ "$(wc -l <"$tmp/out")" = 11 ] && tail -n 2 "$tmp/out" | sed 's/.* //' | tr '\n' ' ' | grep -qx "ok1 ok2 "
check "the other lines were written; nothing of the failed writes" $?
expect "write without DATA: exit 2" 2 "write: missing DATA (or - for standard input, or --lines)" \
	"$CTL" write ctl.b
expect "write --lines with DATA: exit 2" 2 "--lines reads standard input" \
	"$CTL" write ctl.b --lines data
expect "write --type foo: exit 2" 2 "invalid type 'foo'" "$CTL" write ctl.b --type foo hi
expect "write --type above 32 bits: exit 2" 2 "invalid type '4294967296'" \
	"$CTL" write ctl.b -t 4294967296 hi
expect "write to a missing ring: exit 12" 12 "ctl.nosuch: no ring by that name" \
	"$CTL" write ctl.nosuch hi

# --- write --nonblock on a full lossless ring ----------------------------------

"$CTL" create ctl.full --size 4k --policy lossless --max-record 1000
timeout 20 shmring-dump -s hold ctl.full >/dev/null 2>&1	# holds the tail
k=1000
i=0
while [ $i -lt 10 ]; do
	run "$CTL" write -n ctl.full "$(head -c $k /dev/zero | tr '\0' z)"
	[ "$rc" = 0 ] || break
	i=$((i + 1))
done
[ "$i" = 3 ] && [ "$rc" = 1 ] &&
	printed "ctl.full: the lossless ring is full (a reader or subscription is behind) and --nonblock was given: not written"
check "write --nonblock: 3 records of 1000 bytes fit in 4K, the 4th fails with exit 1 ($i)" $?
{ head -c 1000 /dev/zero | tr '\0' a; echo; echo b; } >"$tmp/in"
expect "write --nonblock --lines on a full ring stops at line 1" 1 \
	"ctl.full: line 1 and the lines after it were not written" \
	"$CTL" write ctl.full --nonblock --lines <"$tmp/in"
run "$CTL" stat ctl.full
[ "$(field "writer waits")" -ge 2 ] && [ "$(field held | sed 's/,.*//')" = "3 records" ]
check "stat: writer waits counted, 3 records held" $?
expect "deleting the subscription that held the ring" 0 "" "$CTL" subs ctl.full -d hold
expect "... lets the writer in" 0 "" "$CTL" write -n ctl.full more

# --- an overwrite ring that laps a subscription: LOST and RECORDS --------------

timeout 20 shmring-dump -s lag ctl.small >/dev/null 2>&1
seq 1 200 | "$CTL" write ctl.small --lines
check "write --lines: 200 lines into a 4K overwrite ring" $?
run shmring-dump ctl.small
held=$(wc -l <"$tmp/out")
run "$CTL" list
# shellcheck disable=SC2046 # the row's columns as $1..$9
set -- $(row ctl.small)
[ "$4" = "$held" ] && [ "$5" -gt 0 ] && [ $(($4 + $5)) = 200 ]
check "list: RECORDS is what the ring holds ($4 = $held), LOST counts the lapped ones ($5)" $?
run "$CTL" stat ctl.small
[ "$(field lost)" = "$5 records" ] && [ "$(field written | sed 's/,.*//')" = "200 records" ]
check "stat: the same lost count, 200 written" $?

# --- permissions ------------------------------------------------------------------

if as_nobody "test \$(id -u) = 65534" 2>/dev/null; then
	expect "write as nobody to a 0640 root ring: exit 4" 4 \
		"ctl.b: permission denied by the ring's mode" as_nobody "$CTL" write ctl.b hi
	expect "subs as nobody on a 0640 root ring: exit 4" 4 \
		"ctl.b: permission denied by the ring's mode" as_nobody "$CTL" subs ctl.b
	# /proc/shmring shows a ring only to who may read it (docs/design.md).
	expect "stat as nobody of a 0640 root ring: not shown, exit 12" 12 \
		"ctl.b: no ring by that name" as_nobody "$CTL" stat ctl.b
	run as_nobody "$CTL" stat ctl.a
	[ "$rc" = 0 ] && [ "$(field name)" = ctl.a ]
	check "stat as nobody of a 0644 ring works" $?
	timeout 20 shmring-dump -s rootsub ctl.a >/dev/null 2>&1
	expect "subs as nobody on a 0644 ring (read-only access) works" 0 "rootsub" \
		as_nobody "$CTL" subs ctl.a
	run "$CTL" stat ctl.a
	[ "$(field readers)" = 0 ]
	check "... and leaves no reader behind" $?
	expect "subs --delete as nobody of root's subscription: exit 4" 4 \
		"ctl.a: only the subscription's creator or the ring's owner (or CAP_IPC_OWNER) may delete 'rootsub'" \
		as_nobody "$CTL" subs ctl.a --delete rootsub
	expect "delete as nobody of root's ring: exit 4" 4 \
		"ctl.a: only the ring's owner (or CAP_IPC_OWNER) may do that" as_nobody "$CTL" delete ctl.a
	expect "create as nobody" 0 "" as_nobody "$CTL" create ctl.nob --size 8k
	run "$CTL" list
	[ "$(row ctl.nob)" = "ctl.nob 8K overwrite 0 0 0 0 0644 nobody" ]
	check "list: OWNER of nobody's ring" $?
else
	for d in "write as nobody" "subs as nobody (0640)" "stat as nobody (0640)" "stat as nobody (0644)" "subs as nobody (0644)" \
		"no reader left" "subs --delete as nobody" "delete as nobody" "create as nobody" \
		"list: OWNER nobody"; do
		skip "$d" "cannot switch to user nobody"
	done
fi

# --- chown, chmod -------------------------------------------------------------------

"$CTL" create ctl.own --size 4k
expect "chmod: silent, exit 0" 0 "" "$CTL" chmod ctl.own 0600
run "$CTL" list
[ "$(row ctl.own)" = "ctl.own 4K overwrite 0 0 0 0 0600 root" ]
check "list after chmod: MODE 0600" $?
expect "-v chmod says what changed" 0 "changed ctl.own: mode 0640" "$CTL" -v chmod ctl.own 640
expect "chmod 0999: exit 2" 2 "invalid mode '0999': octal permission bits, at most 0777" \
	"$CTL" chmod ctl.own 0999
expect "chmod u+x (not octal): exit 2" 2 "invalid mode 'u+x'" "$CTL" chmod ctl.own u+x
expect "chmod without MODE: exit 2" 2 "chmod: missing MODE" "$CTL" chmod ctl.own
expect "chmod without anything: exit 2" 2 "chmod: missing ring NAME" "$CTL" chmod
expect "chmod of a missing ring: exit 12" 12 "ctl.nosuch: no ring by that name" \
	"$CTL" chmod ctl.nosuch 0644
expect "chown to nobody: silent, exit 0" 0 "" "$CTL" chown ctl.own nobody
run "$CTL" list
[ "$(row ctl.own)" = "ctl.own 4K overwrite 0 0 0 0 0640 nobody" ]
check "list after chown: OWNER nobody" $?
run "$CTL" list --json
grep -qF '{"name": "ctl.own", "size": 4096, "policy": "overwrite", "max_record": 1024, "csum": false, "mode": "0640", "uid": 65534, "gid": 0,' "$tmp/out"
check "list --json after chown: uid 65534, gid unchanged" $?
expect "-v chown :GROUP (a number) changes only the group" 0 \
	"changed ctl.own: group" "$CTL" -v chown ctl.own :65534
run "$CTL" list --json
grep -qF '"mode": "0640", "uid": 65534, "gid": 65534,' "$tmp/out"
check "list --json after chown :65534: gid 65534, uid kept" $?
expect "chown 0:0 (numbers)" 0 "" "$CTL" chown ctl.own 0:0
run "$CTL" stat ctl.own
[ "$(field owner)" = "root (uid 0), group root (gid 0)" ]
check "stat after chown 0:0: root, root" $?
expect "chown to an unknown user: exit 2" 2 \
	"invalid user 'nosuchuser': no such user name, nor a number" \
	"$CTL" chown ctl.own nosuchuser
expect "chown to an unknown group: exit 2" 2 \
	"invalid group 'nosuchgroup': no such group name, nor a number" \
	"$CTL" chown ctl.own :nosuchgroup
expect "chown ':' : exit 2" 2 "invalid owner ':'" "$CTL" chown ctl.own :
expect "chown without USER: exit 2" 2 "chown: missing USER[:GROUP]" "$CTL" chown ctl.own
expect "chown of a missing ring: exit 12" 12 "ctl.nosuch: no ring by that name" \
	"$CTL" chown ctl.nosuch root
if as_nobody "test \$(id -u) = 65534" 2>/dev/null; then
	"$CTL" chmod ctl.own 0644
	expect "chmod as nobody of root's ring: exit 4" 4 \
		"ctl.own: only the ring's owner (or CAP_IPC_OWNER) may do that" \
		as_nobody "$CTL" chmod ctl.own 0666
	expect "chown as nobody of root's ring: exit 4" 4 \
		"ctl.own: only the ring's owner (or CAP_IPC_OWNER) may do that" \
		as_nobody "$CTL" chown ctl.own nobody
	run "$CTL" list
	[ "$(row ctl.own)" = "ctl.own 4K overwrite 0 0 0 0 0644 root" ]
	check "... nothing changed" $?
	"$CTL" chown ctl.own nobody
	expect "chmod as nobody of a ring given to nobody: the owner may" 0 "" \
		as_nobody "$CTL" chmod ctl.own 0600
	run as_nobody "$CTL" list
	[ "$(row ctl.own)" = "ctl.own 4K overwrite 0 0 0 0 0600 nobody" ] &&
		! grep -q "^ctl\.b " "$tmp/out"
	check "list as nobody: its 0600 ring; root's 0640 ring is not listed" $?
	run "$CTL" list
	grep -q "^ctl\.b " "$tmp/out" && grep -q "^ctl\.own " "$tmp/out"
	check "list as root: both" $?
else
	for d in "chmod as nobody" "chown as nobody" "nothing changed" "chmod by the new owner" \
		"list as nobody" "list as root"; do
		skip "$d" "cannot switch to user nobody"
	done
fi
"$CTL" delete ctl.own

# --- limits (parameters changed at run time, restored by cleanup) --------------

# set_param NAME VALUE: false if the parameter cannot be written.
set_param() {
	old=$(cat "$SYS/parameters/$1") || return 1
	case " $saved_params " in *" $1="*) ;; *) saved_params="$saved_params $1=$old" ;; esac
	echo "$2" >"$SYS/parameters/$1" 2>/dev/null
}
restore_params() {
	for kv in $saved_params; do echo "${kv#*=}" >"$SYS/parameters/${kv%%=*}"; done
	saved_params=""
}
if set_param max_user 8192; then
	expect "create beyond max_user: exit 14, names the limit" 14 \
		"max_user is 8192 bytes" \
		"$CTL" create ctl.x --size 64k
	restore_params
else
	skip "create beyond max_user" "cannot write $SYS/parameters/max_user"
fi
if set_param max_rings 1; then
	expect "create beyond max_rings: exit 14, names the limits" 14 \
		"max_total is 1073741824 bytes, max_rings 1" \
		"$CTL" create ctl.x
	restore_params
else
	skip "create beyond max_rings" "cannot write $SYS/parameters/max_rings"
fi

# --- delete ----------------------------------------------------------------------

expect "-v delete" 0 "deleted ctl.exact" "$CTL" -v delete ctl.exact
expect "delete of a missing ring: exit 12" 12 "ctl.nosuch: no ring by that name" \
	"$CTL" delete ctl.nosuch
expect "delete of a missing and an existing ring: exit 12" 12 "ctl.nosuch: no ring by that name" \
	"$CTL" delete ctl.nosuch ctl.small
run "$CTL" stat ctl.small
check "... the existing one was deleted all the same" "$([ "$rc" = 12 ] && echo 0)"
expect "delete without NAME: exit 2" 2 "delete: missing ring NAME" "$CTL" delete
shmring-dump -f ctl.a >/dev/null 2>"$tmp/dump.err" &
bg=$!
# shellcheck disable=SC2016 # evaluated by wait_until
wait_until 'run "$CTL" stat ctl.a; [ "$(field readers)" = 1 ]'
expect "delete of a ring a reader has open" 0 "" "$CTL" delete ctl.a
run "$CTL" list
! grep -q "^ctl\.a " "$tmp/out"
check "it is no longer listed" $?
i=0
while kill -0 $bg 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
! kill -0 $bg 2>/dev/null && grep -q "ring ctl.a was unlinked" "$tmp/dump.err"
check "its reader was told and ended" $?
kill $bg 2>/dev/null
wait $bg 2>/dev/null
bg=""
for r in ctl.b ctl.full ctl.nob ctl.seek; do "$CTL" delete $r 2>/dev/null; done

# --- zero-copy rings ----------------------------------------------------------

expect "create --zerocopy --chunk: -v says zerocopy and the chunk" 0 \
	"created ctl.zc: size 64K, policy overwrite, max_record 4056, zerocopy, chunk 4K" \
	"$CTL" -v create ctl.zc --size 64k --zerocopy --chunk 4k --exclusive
expect "create --chunk without --zerocopy: exit 2" 2 \
	"--chunk is for zero-copy rings: give --zerocopy too" "$CTL" create ctl.x --chunk 4k
expect "create -z with a chunk of half the ring or more: exit 2" 2 \
	"chunk 65536 is larger than half the ring" "$CTL" create ctl.x -z -s 64k -k 64k
expect "create -z with a record larger than a chunk: exit 2" 2 \
	"max-record 5000 does not fit in a chunk of 4096 bytes" \
	"$CTL" create ctl.x -z -s 64k -k 4k -r 5000
expect "create an existing zero-copy ring with another chunk: warns" 0 \
	"max_record 4056, no csum, zerocopy, chunk 4K; it was left as it is" \
	"$CTL" create ctl.zc -z -k 8k
expect "write to a zero-copy ring (in place)" 0 "" "$CTL" write ctl.zc hello
printf 'a\nbb\nccc\n' >"$tmp/lines"
expect "write --lines to a zero-copy ring" 0 "" "$CTL" write ctl.zc --lines <"$tmp/lines"
run "$CTL" stat ctl.zc
check "stat: 4 records, 11 payload bytes written (the chunks were released at exit)" \
	"$([ "$(field written)" = "4 records, 11 payload bytes" ] && echo 0)"
check "stat: zero-copy, chunks of 4 KiB, none open" \
	"$([ "$(field zero-copy)" = "chunks of 4096 bytes (4K), 0 open" ] && echo 0)"
"$CTL" delete ctl.zc
# The default chunk holds 64 records of max_record where 16 such chunks fit.
"$CTL" create ctl.zbig -z -s 16M -r 4096 --exclusive >/dev/null 2>&1
run "$CTL" stat ctl.zbig
check "a 16M zero-copy ring for 4 KiB records: 512 KiB chunks by default" \
	"$([ "$(field zero-copy)" = "chunks of 524288 bytes (512K), 0 open" ] && echo 0)"
"$CTL" delete ctl.zbig

# --- module not loaded ---------------------------------------------------------

holders=$(ls "$SYS/holders" 2>/dev/null)
for m in $holders; do	# shmring_kunit on debug: its tests ran at insmod
	rmmod "$m" && echo "# removed $m (depends on shmring) to unload shmring"
done
if "$CTL" unload 2>"$tmp/err"; then
	nl="shmring-ctl: shmring is not loaded (no /dev/shmring): load it with \`shmring-ctl load\`"
	expect "list without the module: exit 3" 3 "$nl" "$CTL" list
	expect "stat without the module: exit 3" 3 "$nl" "$CTL" stat ctl.a
	expect "create without the module: exit 3" 3 "$nl" "$CTL" create ctl.a
	expect "write without the module: exit 3" 3 "$nl" "$CTL" write ctl.a hi
	expect "delete without the module: exit 3" 3 "$nl" "$CTL" delete ctl.a
	expect "subs without the module: exit 3" 3 "$nl" "$CTL" subs ctl.a
	expect "chown without the module: exit 3" 3 "$nl" "$CTL" chown ctl.a root
	expect "chmod without the module: exit 3" 3 "$nl" "$CTL" chmod ctl.a 0600
	expect "-j list without the module: exit 3" 3 "$nl" "$CTL" -j list
	nl_dump="shmring-dump: ${nl#shmring-ctl: }"
	expect "shmring-dump without the module: exit 3, the same message" 3 "$nl_dump" \
		shmring-dump ctl.a
	expect "shmring-dump -s without the module: exit 3" 3 "$nl_dump" \
		shmring-dump -s sub ctl.a
	if command -v shmring-bench >/dev/null; then
		expect "shmring-bench of shmring without the module: exit 3, the same message" 3 \
			"shmring-bench: ${nl#shmring-ctl: }" shmring-bench -q -t shmring-write
	else
		skip "shmring-bench of shmring without the module" "shmring-bench is not built"
	fi
	"$CTL" load
	check "load again" $?
else
	sed 's/^/# /' "$tmp/err"
	for c in list stat create write delete subs chown chmod "-j list" shmring-dump "shmring-dump -s" \
		shmring-bench; do
		skip "$c without the module" "could not unload shmring"
	done
	skip "load again" "not unloaded"
fi

[ "$failed" = 0 ]
