// SPDX-License-Identifier: GPL-2.0
/*
 * utils/ctl/ringconf.c natively: the configuration files of
 * `shmring-ctl apply` (man/shmring-ring.conf.5). Good files give the
 * attributes they say; every bad line is reported as FILE:LINE with the
 * reason, and a file with a bad line is never accepted. TAP.
 */
#include <stdlib.h>
#include <string.h>

#include "shmring.h"
#include "../tap.h"
#include "../../utils/ctl/ringconf.h"

static char errbuf[4096];

/* Parse @text as file @path: the error count; messages in errbuf. */
static int parse(const char *path, const char *text, struct ringconf *rc)
{
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
	int n;

	if (!in || !err)
		bail_out("fmemopen failed");
	memset(errbuf, 0, sizeof(errbuf));
	n = ringconf_parse(in, path, rc, err);
	fclose(err);
	fclose(in);
	return n;
}

/* @text has exactly @errors errors and the messages contain @want. */
static void bad(const char *text, int errors, const char *want)
{
	struct ringconf rc;
	int n = parse("/etc/shmring/r.conf", text, &rc);

	if (!ok(n == errors && strstr(errbuf, want), "%d error(s), '%s'", errors, want))
		diag("got %d: %s", n, errbuf);
}

int main(void)
{
	struct ringconf rc;
	int n;

	plan_no_plan();

	/* A complete file. */
	n = parse("/etc/shmring/x.conf",
		  "# the orders ring\n"
		  "\n"
		  "name = orders\n"
		  "size=1M\n"
		  "  policy =  lossless  \n"
		  "max_record = 4k\n"
		  "csum = yes\n"
		  "owner = 1001:2002\n"
		  "mode = 0660\n", &rc);
	if (!is_int(n, 0, "a complete file parses"))
		diag("%s", errbuf);
	ok(!strcmp(rc.name, "orders"), "name from name= (%s)", rc.name);
	is_int(rc.attr.data_size, 1 << 20, "size 1M");
	ok(rc.size_set && rc.policy_set && rc.max_set && rc.csum_set, "keys marked as set");
	is_int(rc.attr.policy, SHMRING_POLICY_LOSSLESS, "policy lossless, blanks trimmed");
	is_int(rc.attr.max_record, 4096, "max_record 4k");
	is_int(rc.attr.flags, SHMRING_ATTR_CSUM, "csum flag");
	ok(rc.uid_set && rc.uid == 1001 && rc.gid_set && rc.gid == 2002, "owner by numbers");
	is_int(rc.mode, 0660, "mode 0660");
	is_int(errbuf[0], 0, "no message for a good file");

	/* Defaults and the name from the file name. */
	n = parse("/etc/shmring/audit.log.conf", "size = 64k\n", &rc);
	is_int(n, 0, "a file with only size parses");
	ok(!strcmp(rc.name, "audit.log"), "name from the file name (%s)", rc.name);
	is_int(rc.attr.policy, SHMRING_POLICY_OVERWRITE, "default policy overwrite");
	is_int(rc.mode, 0644, "default mode 0644");
	ok(!rc.uid_set && !rc.gid_set && !rc.max_set, "owner and max_record unset");
	n = parse("plain", "", &rc);
	ok(n == 0 && !strcmp(rc.name, "plain"), "an empty file named plain: ring plain");

	/* Owners by name, zero-copy, booleans. */
	n = parse("z.conf", "owner = root:root\nzerocopy = on\nchunk = 16k\nsize = 1M\n"
		  "csum = false\nmax_record = 1000\n", &rc);
	if (!is_int(n, 0, "zero-copy file parses"))
		diag("%s", errbuf);
	ok(rc.uid == 0 && rc.gid == 0 && rc.uid_set && rc.gid_set, "owner root:root by name");
	is_int(rc.attr.flags, SHMRING_ATTR_ZEROCOPY, "zerocopy on, csum false");
	is_int(rc.attr.zc_chunk, 16384, "chunk 16k");
	n = parse("g.conf", "owner = :0\n", &rc);
	ok(n == 0 && !rc.uid_set && rc.gid_set && rc.gid == 0, ":GROUP sets only the group");
	n = parse("u.conf", "owner = root:\n", &rc);
	ok(n == 0 && rc.uid == 0 && rc.gid_set && rc.gid == 0, "USER: takes the login group");

	/* Bad lines: each reported with FILE:LINE. */
	bad("size = 1M\nsizes = 2M\n", 1, "/etc/shmring/r.conf:2: unknown key 'sizes'");
	bad("size 1M\n", 1, "r.conf:1: expected KEY = VALUE, got 'size 1M'");
	bad("size = 1000\n", 1, "r.conf:1: invalid size '1000'");
	bad("size = 2k\n", 1, "invalid size '2k'");
	bad("size = 1M\nsize = 2M\n", 1, "r.conf:2: size given twice (first on line 1)");
	bad("policy = drop\n", 1, "r.conf:1: invalid policy 'drop': overwrite or lossless");
	bad("policy =\n", 1, "r.conf:1: policy: missing value");
	bad("csum = maybe\n", 1, "invalid csum 'maybe': yes or no");
	bad("mode = 0999\n", 1, "invalid mode '0999'");
	bad("mode = 01777\n", 1, "invalid mode '01777'");
	bad("mode = -1\n", 1, "invalid mode '-1'");
	bad("owner = no-such-user-xyz\n", 1, "no user named 'no-such-user-xyz'");
	bad("owner = root:no-such-group-xyz\n", 1, "no group named 'no-such-group-xyz'");
	bad("owner = :\n", 1, "invalid owner ':'");
	bad("owner = 4294967295\n", 1, "nor a number");
	bad("name = a/b\n", 1, "r.conf:1: invalid ring name 'a/b'");
	bad("name = ..\n", 1, "invalid ring name '..'");
	bad("max_record = 5G\n", 1, "invalid max_record '5G'");
	bad("size = 4k\nmax_record = 4k\n", 1, "r.conf:2: max_record 4096 does not fit");
	bad("chunk = 8k\n", 1, "r.conf:1: chunk is for zero-copy rings");
	bad("chunk = 3000\nzerocopy = yes\n", 1, "invalid chunk '3000'");
	bad("size = 16k\nzerocopy = yes\nchunk = 16k\n", 1, "r.conf:3: chunk 16384 is larger "
	    "than half the ring");
	bad("zerocopy = yes\nchunk = 4k\nmax_record = 8k\n", 1,
	    "r.conf:3: max_record 8192 does not fit in a chunk");
	/* Every bad line of a file, not only the first. */
	bad("size = x\n# fine\npolicy = y\nfoo = 1\n", 3, "r.conf:4: unknown key 'foo'");
	ok(strstr(errbuf, "r.conf:1:") && strstr(errbuf, "r.conf:3:"),
	   "the other two bad lines are reported too");

	/* A line too long is one error, and the line count stays right. */
	{
		size_t len = RINGCONF_LINE_MAX + 100;
		char *text = malloc(len + 64);

		memset(text, 'x', len);
		strcpy(text + len, "\nbogus\n");
		n = parse("r.conf", text, &rc);
		if (!ok(n == 2 && strstr(errbuf, "r.conf:1: line longer than") &&
			strstr(errbuf, "r.conf:2: expected KEY = VALUE"),
			"a long line, then the next line numbered 2"))
			diag("got %d: %s", n, errbuf);
		free(text);
	}

	/* No name anywhere. */
	n = parse("/etc/shmring/bad name.conf", "size = 64k\n", &rc);
	if (!ok(n == 1 && strstr(errbuf, "bad name.conf: no name = line"),
		"no name= and a file name that is not a ring name"))
		diag("got %d: %s", n, errbuf);

	/* A missing file. */
	{
		FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");

		memset(errbuf, 0, sizeof(errbuf));
		n = ringconf_parse_file("/nonexistent/r.conf", &rc, err);
		fclose(err);
		if (!ok(n == 1 && strstr(errbuf, "/nonexistent/r.conf: No such file"),
			"a missing file is one error"))
			diag("got %d: %s", n, errbuf);
	}
	return done_testing();
}
