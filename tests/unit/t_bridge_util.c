// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-bridge's pure part (utils/bridge/util.c) natively: name escaping
 * for subjects, KV keys and file names; message ids; strict numbers;
 * server URLs; the reconnect backoff; the state files of out and in, and
 * the recovery of an interrupted batch. TAP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "../tap.h"
#include "../../utils/bridge/util.h"

static void esc_is(const char *in, const char *want)
{
	char out[256];
	int n = bridge_escape(in, out, sizeof(out));

	ok(n == (int)strlen(want) && !strcmp(out, want), "escape '%s' -> '%s' (got %d '%s')",
	   in, want, n, n >= 0 ? out : "");
}

static void url_ok(const char *u)
{
	char why[128] = "";

	ok(bridge_url_ok(u, why, sizeof(why)), "URL '%s' accepted (%s)", u, why);
}

static void url_bad(const char *u, const char *reason)
{
	char why[128] = "";

	ok(!bridge_url_ok(u, why, sizeof(why)) && strstr(why, reason),
	   "URL '%s' refused: '%s' (got '%s')", u, reason, why);
}

static void test_escape(void)
{
	char small[4];

	esc_is("orders", "orders");
	esc_is("a-b_C9", "a-b_C9");
	esc_is("a.b", "a=2Eb");
	esc_is("x*y>z", "x=2Ay=3Ez");
	esc_is("a b", "a=20b");
	esc_is("a=b", "a=3Db");		/* the escape character itself: injective */
	esc_is("a/b", "a=2Fb");
	esc_is("\xff", "=FF");
	is_int(bridge_escape("", small, sizeof(small)), -1, "empty name refused");
	is_int(bridge_escape("abcd", small, sizeof(small)), -1, "too long for the buffer");
	is_int(bridge_escape("abc", small, sizeof(small)), 3, "exactly fits");
	is_int(bridge_escape("a.", small, sizeof(small)), -1, "escape does not fit");
}

static void test_subject_match(void)
{
	static const struct { const char *pat, *subj; bool match; } t[] = {
		{ "shmring.orders", "shmring.orders", true },
		{ "shmring.orders", "shmring.order", false },
		{ "shmring.orders", "shmring.orders.x", false },
		{ "shmring.*", "shmring.orders", true },
		{ "shmring.*", "shmring.a.b", false },
		{ "shmring.>", "shmring.a.b", true },
		{ "shmring.>", "shmring.a", true },
		{ "shmring.>", "shmring", false },
		{ ">", "anything.at.all", true },
		{ "*.orders", "shmring.orders", true },
		{ "*.orders", "orders", false },
		{ "a.*.c", "a.b.c", true },
		{ "a.*.c", "a.b.d", false },
		{ "shmring.x=2Ey", "shmring.x=2Ey", true },
		{ "a.b", "a..b", false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ok(bridge_subject_match(t[i].pat, t[i].subj) == t[i].match,
		   "subject '%s' %s '%s'", t[i].subj, t[i].match ? "matches" : "does not match",
		   t[i].pat);
}

static void test_msgid(void)
{
	char id[128], ring[64], inc[32];
	uint64_t seq = 0;

	ok(bridge_msgid_format(id, sizeof(id), "orders", "0123456789abcdef", 42) > 0 &&
	   !strcmp(id, "orders:0123456789abcdef:42"), "msg id format: %s", id);
	ok(!bridge_msgid_parse(id, ring, sizeof(ring), inc, sizeof(inc), &seq) &&
	   !strcmp(ring, "orders") && !strcmp(inc, "0123456789abcdef") && seq == 42,
	   "msg id parse round trip");
	ok(!bridge_msgid_parse("a:b:c:inc:7", ring, sizeof(ring), inc, sizeof(inc), &seq) &&
	   !strcmp(ring, "a:b:c") && !strcmp(inc, "inc") && seq == 7,
	   "a ring name with ':' parses from the right");
	ok(!bridge_msgid_parse("r:i:18446744073709551615", ring, sizeof(ring), inc,
			       sizeof(inc), &seq) && seq == UINT64_MAX, "largest seq");
	ok(bridge_msgid_parse("r:i:18446744073709551616", ring, sizeof(ring), inc,
			      sizeof(inc), &seq), "seq overflow refused");
	ok(bridge_msgid_parse("r:i:", ring, sizeof(ring), inc, sizeof(inc), &seq),
	   "empty seq refused");
	ok(bridge_msgid_parse("r::5", ring, sizeof(ring), inc, sizeof(inc), &seq),
	   "empty incarnation refused");
	ok(bridge_msgid_parse(":i:5", ring, sizeof(ring), inc, sizeof(inc), &seq),
	   "empty ring refused");
	ok(bridge_msgid_parse("i:5", ring, sizeof(ring), inc, sizeof(inc), &seq),
	   "two fields refused");
	ok(bridge_msgid_parse("r:i:5x", ring, sizeof(ring), inc, sizeof(inc), &seq),
	   "junk in seq refused");
	ok(bridge_msgid_parse("ringname:i:5", ring, 4, inc, sizeof(inc), &seq),
	   "ring longer than the buffer refused");
	ok(bridge_msgid_format(id, 8, "orders", "0123456789abcdef", 42) == -1,
	   "format into a short buffer fails");
}

static void test_numbers(void)
{
	uint64_t v = 0;

	ok(bridge_parse_dec("0", &v) && v == 0, "0");
	ok(bridge_parse_dec("123", &v) && v == 123, "123");
	ok(!bridge_parse_dec("", &v), "empty refused");
	ok(!bridge_parse_dec("-1", &v), "sign refused");
	ok(!bridge_parse_dec(" 1", &v), "blank refused");
	ok(!bridge_parse_dec("0x10", &v), "hex refused");
	ok(!bridge_parse_dec("99999999999999999999", &v), "overflow refused");
}

static void test_urls(void)
{
	url_ok("nats://127.0.0.1:4222");
	url_ok("127.0.0.1:4222");
	url_ok("localhost");
	url_ok("tls://nats.example.com:4443");
	url_ok("nats://user:pass@host:4222");
	url_ok("nats://[::1]:4222");
	url_ok("nats://host:4222/");
	url_bad("", "empty");
	url_bad("http://host:4222", "scheme");
	url_bad("nats://:4222", "no host");
	url_bad("nats://host:0", "port");
	url_bad("nats://host:65536", "port");
	url_bad("nats://host:42x", "port");
	url_bad("nats://host:", "port");
	url_bad("nats://ho st:4222", "character");
	url_bad("nats://[::1", "IPv6");
	url_bad("nats://[::1]x", "junk");
}

static void redact_is(const char *in, const char *want)
{
	char out[128];

	bridge_url_redact(in, out, sizeof(out));
	ok(!strcmp(out, want), "redact '%s' -> '%s' (got '%s')", in, want, out);
}

static void test_redact(void)
{
	redact_is("nats://u:secret@host:4222", "nats://u:***@host:4222");
	redact_is("u:secret@host:4222", "u:***@host:4222");
	redact_is("nats://token@host:4222", "nats://token@host:4222");
	redact_is("nats://host:4222", "nats://host:4222");
	redact_is("nats://u:p@ss@host", "nats://u:***@host");
}

static void test_backoff(void)
{
	is_int(bridge_backoff_ms(1), 100, "first retry after 100 ms");
	is_int(bridge_backoff_ms(2), 200, "then 200 ms");
	is_int(bridge_backoff_ms(6), 3200, "doubling");
	is_int(bridge_backoff_ms(7), 5000, "capped at 5 s");
	is_int(bridge_backoff_ms(1000), 5000, "still 5 s much later");
	is_int(bridge_backoff_ms(0), 100, "attempt 0 as 1");
}

static void test_out_state(void)
{
	char text[128], inc[BRIDGE_INC_LEN + 1], fmt[BRIDGE_INC_LEN + 1];

	bridge_inc_format(0x0123456789abcdefULL, fmt);
	ok(!strcmp(fmt, "0123456789abcdef") && bridge_inc_valid(fmt), "incarnation format");
	bridge_inc_format(1, fmt);
	ok(!strcmp(fmt, "0000000000000001"), "incarnation keeps leading zeros");
	ok(!bridge_inc_valid("0123"), "short incarnation invalid");
	ok(!bridge_inc_valid("0123456789ABCDEF"), "upper-case incarnation invalid");
	ok(bridge_out_state_format(text, sizeof(text), "0123456789abcdef") > 0 &&
	   !bridge_out_state_parse(text, inc) && !strcmp(inc, "0123456789abcdef"),
	   "out state round trip");
	ok(bridge_out_state_parse("shmring-bridge-out 1\ninc 0123456789abcdef\n", inc),
	   "out state without 'end' refused");
	ok(bridge_out_state_parse("shmring-bridge-out 1\ninc 0123\nend\n", inc),
	   "out state with a short incarnation refused");
	ok(bridge_out_state_parse("shmring-bridge-out 1\ninc 0123456789abcdef0\nend\n", inc),
	   "out state with a long incarnation refused");
	ok(bridge_out_state_parse("shmring-bridge-out 1\ninc 0123456789abcdef\nend\nx", inc),
	   "out state with trailing junk refused");
	ok(bridge_out_state_parse("", inc), "empty out state refused");
}

static void test_in_state(void)
{
	struct bridge_in_state *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	size_t cap = bridge_in_state_size(BRIDGE_IN_MAX_BATCH);
	char *text = malloc(cap);
	int len;

	if (!a || !b || !text)
		bail_out("out of memory");
	a->last = 41;
	len = bridge_in_state_format(text, cap, a);
	ok(len > 0 && !strcmp(text, "shmring-bridge-in 1\nlast 41\nend\n"),
	   "in state without a batch");
	ok(!bridge_in_state_parse(text, b) && b->last == 41 && b->n == 0, "and back");

	a->pid = 1234;
	a->head = 100;
	a->n = 3;
	a->sseq[0] = 42;
	a->sseq[1] = 44;
	a->sseq[2] = 45;
	len = bridge_in_state_format(text, cap, a);
	ok(len > 0 && !strcmp(text, "shmring-bridge-in 1\nlast 41\nintent 1234 100 3\n"
			     "42 44 45\nend\n"), "in state with a batch");
	ok(!bridge_in_state_parse(text, b) && b->last == 41 && b->pid == 1234 &&
	   b->head == 100 && b->n == 3 && b->sseq[0] == 42 && b->sseq[1] == 44 &&
	   b->sseq[2] == 45, "and back");

	bridge_in_state_resolve(b, 0);
	ok(b->last == 41 && b->n == 0, "nothing of the batch committed: last stays 41");
	bridge_in_state_parse(text, b);
	bridge_in_state_resolve(b, 2);
	ok(b->last == 44 && b->n == 0, "2 of 3 committed: last 44");
	bridge_in_state_parse(text, b);
	bridge_in_state_resolve(b, 3);
	ok(b->last == 45 && b->n == 0, "all committed: last 45");
	bridge_in_state_parse(text, b);
	bridge_in_state_resolve(b, 99);
	ok(b->last == 45 && b->n == 0, "more than the batch (another writer): capped");

	/* The whole batch size. */
	a->n = BRIDGE_IN_MAX_BATCH;
	for (uint32_t i = 0; i < a->n; i++)
		a->sseq[i] = 1000000000000ULL + i;
	len = bridge_in_state_format(text, cap, a);
	ok(len > 0 && (size_t)len < cap, "largest batch fits bridge_in_state_size()");
	ok(!bridge_in_state_parse(text, b) && b->n == BRIDGE_IN_MAX_BATCH &&
	   b->sseq[BRIDGE_IN_MAX_BATCH - 1] == 1000000000000ULL + BRIDGE_IN_MAX_BATCH - 1,
	   "and back");
	ok(bridge_in_state_format(text, 64, a) == -1, "format into a short buffer fails");

	static const char *const bad[] = {
		"",
		"shmring-bridge-in 2\nlast 1\nend\n",
		"shmring-bridge-in 1\nlast 1\n",
		"shmring-bridge-in 1\nlast x\nend\n",
		"shmring-bridge-in 1\nlast 1\nend\njunk",
		"shmring-bridge-in 1\nlast 5\nintent 1 2 2\n6 6\nend\n",	/* not ascending */
		"shmring-bridge-in 1\nlast 5\nintent 1 2 1\n5\nend\n",		/* not above last */
		"shmring-bridge-in 1\nlast 5\nintent 1 2 3\n6 7\nend\n",	/* count wrong */
		"shmring-bridge-in 1\nlast 5\nintent 1 2 1\n6 7\nend\n",	/* count wrong */
		"shmring-bridge-in 1\nlast 5\nintent 0 2 1\n6\nend\n",		/* pid 0 */
		"shmring-bridge-in 1\nlast 5\nintent 1 2 0\n\nend\n",		/* empty batch */
		"shmring-bridge-in 1\nlast 5\nintent 1 2 5000\n6\nend\n",	/* too large */
		"shmring-bridge-in 1\nlast 5\nintent 4294967296 2 1\n6\nend\n",	/* pid range */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(bridge_in_state_parse(bad[i], b) == -1 && b->n == 0,
		   "malformed in state %zu refused", i);
	free(a);
	free(b);
	free(text);
}

static int mparse(const char *text)
{
	struct bridge_snap_manifest m;

	return bridge_snap_manifest_parse(text, strlen(text), &m);
}

static void test_manifest(void)
{
	struct bridge_snap_manifest m = { .seq = 499, .stream_seq = 500, .len = 2560000,
					  .crc = 0xffae63f3, .gen = 17, .chunks = 3,
					  .time_ns = 123 }, b;
	char text[512];
	int len;

	snprintf(m.ring, sizeof(m.ring), "A=2Eb");
	snprintf(m.inc, sizeof(m.inc), "0123456789abcdef");
	len = bridge_snap_manifest_format(text, sizeof(text), &m);
	ok(len > 0 && !bridge_snap_manifest_parse(text, (size_t)len, &b) &&
	   !strcmp(b.ring, "A=2Eb") && !strcmp(b.inc, m.inc) && b.seq == 499 &&
	   b.stream_seq == 500 && b.len == 2560000 && b.crc == 0xffae63f3 && b.gen == 17 &&
	   b.chunks == 3 && b.time_ns == 123, "manifest round trip");
	m.seq = UINT64_MAX;
	len = bridge_snap_manifest_format(text, sizeof(text), &m);
	ok(len > 0 && strstr(text, "seq none\n") &&
	   !bridge_snap_manifest_parse(text, (size_t)len, &b) && b.seq == UINT64_MAX,
	   "a snapshot before the first record: seq none");
	ok(bridge_snap_manifest_parse(text, (size_t)len - 1, &b), "truncated manifest refused");
	ok(!mparse("shmring-snap 1\nring A\ninc 0123456789abcdef\nseq 1\n"
		   "stream 2\nlen 3\ncrc 4\ngen 5\nchunks 1\ntime 6\nend\n"),
	   "a literal manifest parses");
	ok(mparse("shmring-snap 1\nring A\ninc 0123456789abcdef\nseq 1\n"
		  "stream 2\nlen 3\ncrc 4\ngen 5\nchunks 0\ntime 6\nend\n"),
	   "zero chunks refused");
	ok(mparse("shmring-snap 1\nring A\ninc 0123\nseq 1\n"
		  "stream 2\nlen 3\ncrc 4\ngen 5\nchunks 1\ntime 6\nend\n"),
	   "bad incarnation refused");
	ok(mparse("shmring-snap 1\nring A\ninc 0123456789abcdef\nseq 1\n"
		  "stream 2\nlen 3\ncrc 4294967296\ngen 5\nchunks 1\ntime 6\nend\n"),
	   "crc out of range refused");
	ok(mparse("shmring-snap 1\nring A\ninc 0123456789abcdef\nseq 18446744073709551615\n"
		  "stream 2\nlen 3\ncrc 4\ngen 5\nchunks 1\ntime 6\nend\n"),
	   "seq UINT64_MAX written as a number refused (that is 'none')");
	ok(bridge_snap_manifest_parse("shm\0ring", 8, &b), "a NUL refused");
	ok(bridge_snap_manifest_format(text, 16, &m) == -1, "format into a short buffer fails");
	is_int(bridge_snap_chunks(0, 1000), 1, "an empty snapshot is one (empty) chunk");
	is_int(bridge_snap_chunks(1000, 1000), 1, "exactly one chunk");
	is_int(bridge_snap_chunks(1001, 1000), 2, "one byte more: two");
	is_int(bridge_snap_chunks(2560000, 1047552), 3, "2.5 MB in 1 MiB - 1 KiB chunks: 3");
}

static void test_files(void)
{
	char dir[] = "/tmp/t_bridge_util.XXXXXX", path[128], buf[64];

	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/state", dir);
	is_int(bridge_read_file(path, buf, sizeof(buf)), -ENOENT, "missing file: -ENOENT");
	is_int(bridge_write_file(path, "hello\n", 6), 0, "write");
	is_int(bridge_read_file(path, buf, sizeof(buf)), 6, "read back 6 bytes");
	ok(!strcmp(buf, "hello\n"), "same bytes");
	is_int(bridge_write_file(path, "bye\n", 4), 0, "replace");
	ok(bridge_read_file(path, buf, sizeof(buf)) == 4 && !strcmp(buf, "bye\n"),
	   "replaced whole");
	is_int(bridge_read_file(path, buf, 4), -EFBIG, "file larger than the buffer: -EFBIG");
	is_int(bridge_write_file(path, "a\0b", 3), 0, "write a NUL");
	is_int(bridge_read_file(path, buf, sizeof(buf)), -EBADMSG, "a NUL inside: -EBADMSG");
	{
		char cmd[256];
		FILE *p;

		snprintf(cmd, sizeof(cmd), "ls %s | grep -c tmp\\|state\\.", dir);
		p = popen(cmd, "r");
		ok(p && fgets(buf, sizeof(buf), p) && atoi(buf) == 0, "no temporary file left");
		if (p)
			pclose(p);
	}
	/* Planted by someone else (/dev/shm is everyone's). */
	is_int(bridge_write_file(path, "ok\n", 3), 0, "write again");
	chmod(path, 0666);
	is_int(bridge_read_file(path, buf, sizeof(buf)), -EPERM, "a state file others may write: -EPERM");
	chmod(path, 0600);
	if (geteuid() == 0) {
		ok(!chown(path, 65534, 65534), "give the file to nobody");
		is_int(bridge_read_file(path, buf, sizeof(buf)), -EPERM,
		       "a state file of another user: -EPERM");
		ok(!chown(path, 0, 0), "and back");
	} else {
		skip(3, "another user's file needs root");
	}
	snprintf(buf, sizeof(buf), "%s/link", dir);
	ok(!symlink(path, buf), "a symlink to it");
	{
		char b2[64];

		is_int(bridge_read_file(buf, b2, sizeof(b2)), -ELOOP, "a symlink is not followed: -ELOOP");
	}
	unlink(buf);
	ok(!mkdir(buf, 0700), "a directory where a state file would be");
	{
		char b2[64];

		is_int(bridge_read_file(buf, b2, sizeof(b2)), -EPERM, "not a regular file: -EPERM");
	}
	ok(strstr(bridge_file_error(-EPERM), "remove it") != NULL, "-EPERM explained");
	ok(strstr(bridge_file_error(-ELOOP), "symbolic link") != NULL, "-ELOOP explained");
	ok(!strcmp(bridge_file_error(-ENOENT), strerror(ENOENT)), "others: strerror");
	rmdir(buf);
	snprintf(buf, sizeof(buf), "%s/nodir/state", dir);
	is_int(bridge_write_file(buf, "x", 1), -ENOENT, "missing directory: -ENOENT");
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	plan_no_plan();
	test_escape();
	test_subject_match();
	test_msgid();
	test_numbers();
	test_urls();
	test_redact();
	test_backoff();
	test_out_state();
	test_in_state();
	test_manifest();
	test_files();
	return done_testing();
}
