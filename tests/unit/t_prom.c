// SPDX-License-Identifier: GPL-2.0
/*
 * Natively, TAP: (1) the strict Prometheus text parser of the tests
 * (tests/promparse.c) against good and bad inputs, so that a test which
 * trusts it can; (2) shmring-ctl metrics' formatter (utils/ctl/prom.c) on
 * made-up rings, label escaping included (ring names with \, " and a
 * newline, which the kernel never allows but the format must survive),
 * parsed back strictly; (3) the same text through `promtool check
 * metrics` when promtool is installed (Debian: the prometheus package).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "../promparse.h"
#include "../../utils/ctl/ctl.h"

static bool parses(const char *text, struct prom_doc *d)
{
	if (prom_parse(text, strlen(text), d) == 0)
		return true;
	diag("error line %d: %s", d->err_line, d->err);
	return false;
}

static void good(const char *desc, const char *text)
{
	struct prom_doc d;

	ok(parses(text, &d), "accepted: %s", desc);
	prom_doc_free(&d);
}

/* Refused, with an error naming what is wrong (want: a part of the message). */
static void bad(const char *desc, const char *text, const char *want)
{
	struct prom_doc d;
	int r = prom_parse(text, strlen(text), &d);

	ok(r == -1 && strstr(d.err, want), "refused: %s (\"%s\" at line %d)", desc, d.err,
	   d.err_line);
	prom_doc_free(&d);
}

#define HT(n, t) "# HELP " n " h\n# TYPE " n " " t "\n"

static void parser_good(void)
{
	struct prom_doc d;
	const struct prom_sample *s;

	good("empty input", "");
	good("a gauge without labels", HT("a", "gauge") "a 1\n");
	good("comments and blank lines", "# just a comment\n\n" HT("a", "gauge") "#x\na 1\n\n");
	good("a counter ending in _total", HT("x_total", "counter") "x_total 0\n");
	good("labels, trailing comma, blanks", HT("a", "gauge")
	     "a{x=\"1\",y=\"2\",} 3\na { x = \"2\" } 4\n");
	good("NaN, +Inf, -Inf, exponents, timestamps", HT("a", "gauge")
	     "a{k=\"1\"} NaN\na{k=\"2\"} +Inf\na{k=\"3\"} -Inf\na{k=\"4\"} 1.5e3 1700000000000\n"
	     "a{k=\"5\"} -0.25 -5\n");
	good("colons in metric names", HT("a:b", "gauge") "a:b 1\n");
	good("a histogram with its suffixes", HT("h", "histogram")
	     "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n");
	good("a summary", HT("s", "summary") "s{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n");
	good("a family with HELP and TYPE and no samples", HT("a", "gauge") HT("b", "gauge") "b 1\n");
	good("an escaped HELP text", "# HELP a one\\\\two\\nthree\n# TYPE a gauge\na 1\n");

	ok(parses(HT("a", "gauge") "a{r=\"x\\\\y\\\"z\\nw\"} 2.5 17\n", &d),
	   "escaped label value parses");
	s = prom_find(&d, "a", "r", "x\\y\"z\nw");
	ok(s && s->value == 2.5 && s->has_ts && s->ts == 17,
	   "... unescaped to x\\y\"z<newline>w, value 2.5, timestamp 17");
	ok(d.nfamilies == 1 && !strcmp(d.families[0].type, "gauge") &&
	   !strcmp(d.families[0].help, "h"), "... family a: gauge, help 'h'");
	prom_doc_free(&d);
	ok(parses("# HELP a x\\\\y\\nz\n# TYPE a gauge\na 1\n", &d) &&
	   !strcmp(prom_family(&d, "a")->help, "x\\y\nz"), "HELP text unescaped");
	prom_doc_free(&d);
}

static void parser_bad(void)
{
	bad("no newline at the end", HT("a", "gauge") "a 1", "newline");
	bad("a sample without HELP", "# TYPE a gauge\na 1\n", "no HELP");
	bad("a sample without TYPE", "# HELP a h\na 1\n", "no TYPE");
	bad("HELP alone", "# HELP a h\n", "no TYPE");
	bad("a counter not ending in _total", HT("a", "counter") "a 1\n", "_total");
	bad("a negative counter", HT("a_total", "counter") "a_total -1\n", "negative");
	bad("an unknown type", "# HELP a h\n# TYPE a meter\na 1\n", "invalid type");
	bad("two TYPE lines", HT("a", "gauge") "# TYPE a gauge\na 1\n", "second TYPE");
	bad("two HELP lines", HT("a", "gauge") "# HELP a again\na 1\n", "second HELP");
	bad("TYPE after samples", "# HELP a h\na 1\n# TYPE a gauge\n", "no TYPE");
	bad("a family split by another", HT("a", "gauge") HT("b", "gauge") "b 1\na 2\n",
	    "continues after");
	bad("the same series twice", HT("a", "gauge") "a{x=\"1\"} 1\na{x=\"1\"} 2\n", "twice");
	bad("the same series twice, labels reordered", HT("a", "gauge")
	    "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", "twice");
	bad("a label given twice", HT("a", "gauge") "a{x=\"1\",x=\"2\"} 1\n", "twice");
	bad("a reserved label name", HT("a", "gauge") "a{__name__=\"1\"} 1\n", "reserved");
	bad("an unquoted label value", HT("a", "gauge") "a{x=1} 1\n", "not quoted");
	bad("an unterminated label value", HT("a", "gauge") "a{x=\"1} 1\n", "closing quote");
	bad("an invalid escape in a label value", HT("a", "gauge") "a{x=\"\\t\"} 1\n",
	    "invalid escape");
	bad("a raw backslash at the end of a label value", HT("a", "gauge") "a{x=\"\\\"} 1\n",
	    "closing quote");
	bad("an invalid escape in HELP", "# HELP a \\\"\n# TYPE a gauge\na 1\n", "invalid escape");
	bad("a label name starting with a digit", HT("a", "gauge") "a{1x=\"1\"} 1\n",
	    "invalid label name");
	bad("a metric name starting with a digit", "1a 1\n", "invalid metric name");
	bad("a dash in a metric name", HT("a", "gauge") "a-b 1\n", "invalid character");
	bad("no value", HT("a", "gauge") "a\n", "no value");
	bad("a value that is not a number", HT("a", "gauge") "a one\n", "invalid value");
	bad("a hex value", HT("a", "gauge") "a 0x10\n", "invalid value");
	bad("lower-case inf", HT("a", "gauge") "a inf\n", "invalid value");
	bad("a float timestamp", HT("a", "gauge") "a 1 1.5\n", "invalid timestamp");
	bad("text after the timestamp", HT("a", "gauge") "a 1 2 3\n", "unexpected text");
	bad("a missing '}'", HT("a", "gauge") "a{x=\"1\" 1\n", "expected ','");
	{
		static const char nul[] = "# HELP a h\n# TYPE a gauge\na 1\0\n";
		struct prom_doc d;

		ok(prom_parse(nul, sizeof(nul) - 1, &d) == -1 && strstr(d.err, "NUL"),
		   "refused: a NUL byte (\"%s\")", d.err);
		prom_doc_free(&d);
	}
}

/* Two made-up rings: one with every odd character in its name, one zero-copy with a sub. */
static void make_view(struct pview *v, struct pring *r, struct pcursor *c)
{
	memset(v, 0, sizeof(*v));
	memset(r, 0, 2 * sizeof(*r));
	memset(c, 0, 2 * sizeof(*c));
	snprintf(v->version, sizeof(v->version), "0.4.0");
	v->abi = 1;
	v->total_bytes = 139264;
	snprintf(r[0].name, sizeof(r[0].name), "odd\\na\"me\nx");
	snprintf(r[0].policy, sizeof(r[0].policy), "overwrite");
	r[0].size = 65536;
	r[0].max_record = 16384;
	r[0].mode = 0644;
	r[0].head = 5000;
	r[0].tail = 1000;
	r[0].head_seq = 100;
	r[0].tail_seq = 40;
	r[0].records = 100;
	r[0].bytes = 3200;
	r[0].lost = 7;
	r[0].writer_waits = 0;
	r[0].last_write_ns = 1796126400123456789ULL;
	r[0].readers = 2;
	snprintf(c[0].kind, sizeof(c[0].kind), "reader");
	snprintf(c[0].name, sizeof(c[0].name), "-");
	c[0].lag_records = 9;
	c[0].lag_bytes = 900;
	snprintf(c[1].kind, sizeof(c[1].kind), "reader");
	snprintf(c[1].name, sizeof(c[1].name), "-");
	c[1].lag_records = 3;
	c[1].lag_bytes = 1300;
	r[0].cur = c;
	r[0].ncur = 2;

	snprintf(r[1].name, sizeof(r[1].name), "zc.ring-1");
	snprintf(r[1].policy, sizeof(r[1].policy), "lossless");
	r[1].flags = SHMRING_ATTR_ZEROCOPY | SHMRING_ATTR_CSUM;
	r[1].size = 1 << 20;
	r[1].records = 18446744073709551615ULL;	/* huge values stay integers */
	r[1].writer_waits = 12;
	r[1].zc_chunk = 65536;
	r[1].zc_open = 1;
	r[1].discarded = 3;
	r[1].subs = 1;
	r[1].cur = calloc(1, sizeof(struct pcursor));
	snprintf(r[1].cur[0].kind, sizeof(r[1].cur[0].kind), "sub+");
	snprintf(r[1].cur[0].name, sizeof(r[1].cur[0].name), "audit");
	r[1].cur[0].read = 41;
	r[1].cur[0].lost = 2;
	r[1].cur[0].lag_records = 5;
	r[1].cur[0].last_read_ns = 1500000000;
	r[1].ncur = 1;
	v->rings = r;
	v->n = 2;
}

static char *format(const struct pview *v, size_t *len)
{
	struct prom_param p[2] = { { "max_rings", 1024, true }, { "zc_idle_ms", 10, true } };
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		bail_out("open_memstream failed");
	prom_write(f, v, p, 2);
	fclose(f);
	return buf;
}

static double val(const struct prom_doc *d, const char *name, const char *ring)
{
	const struct prom_sample *s = prom_find(d, name, ring ? "ring" : NULL, ring);

	return s ? s->value : -1;
}

/*
 * promtool on PATH, or unpacked from Debian's prometheus package into the
 * kernel cache (`apt-get download prometheus; dpkg-deb -x prometheus_*.deb
 * $SHMRING_CACHE/prometheus`: the package itself would start a server).
 */
static bool promtool(char *buf, size_t size)
{
	const char *cache = getenv("SHMRING_CACHE");

	if (system("command -v promtool >/dev/null 2>&1") == 0) {
		snprintf(buf, size, "promtool");
		return true;
	}
	snprintf(buf, size, "%s/prometheus/usr/bin/promtool", cache ? cache : "/var/cache/shmring");
	return access(buf, X_OK) == 0;
}

static void formatter(void)
{
	char tool[PATH_MAX];
	const char *odd = "odd\\na\"me\nx";
	struct pview v;
	struct pring r[2];
	struct pcursor c[2];
	const struct prom_sample *s;
	struct prom_doc d;
	size_t len;
	char *text;

	make_view(&v, r, c);
	text = format(&v, &len);
	ok(parses(text, &d), "the formatter's output parses strictly");
	ok(strstr(text, "ring=\"odd\\\\na\\\"me\\nx\"") != NULL,
	   "\\, \" and newline escaped as \\\\, \\\" and \\n in the ring label");
	is_int(val(&d, "shmring_ring_size_bytes", odd), 65536, "odd name round-trips: size");
	is_int(val(&d, "shmring_ring_used_bytes", odd), 4000, "used bytes = head - tail");
	is_int(val(&d, "shmring_ring_held_records", odd), 60, "held records");
	is_int(val(&d, "shmring_ring_records_written_total", odd), 100, "records written");
	is_int(val(&d, "shmring_ring_written_bytes_total", odd), 3200, "bytes written");
	is_int(val(&d, "shmring_ring_records_lost_total", odd), 7, "lost");
	is_int(val(&d, "shmring_ring_readers", odd), 2, "readers");
	is_int(val(&d, "shmring_ring_max_lag_records", odd), 9, "max lag records over readers");
	is_int(val(&d, "shmring_ring_max_lag_bytes", odd), 1300, "max lag bytes over readers");
	ok(val(&d, "shmring_ring_last_write_timestamp_seconds", odd) == 1796126400.123456789,
	   "last write in seconds");
	ok(strstr(text, "} 1796126400.123456789\n") != NULL, "... printed exactly");
	ok(strstr(text, "shmring_ring_records_written_total{ring=\"zc.ring-1\"} "
		  "18446744073709551615\n") != NULL, "a 64-bit counter printed as an integer");
	is_int(val(&d, "shmring_ring_zc_chunk_bytes", "zc.ring-1"), 65536, "zc chunk");
	is_int(val(&d, "shmring_ring_zc_discarded_total", "zc.ring-1"), 3, "zc discarded");
	ok(!prom_find(&d, "shmring_ring_zc_chunk_bytes", "ring", odd),
	   "no zero-copy metrics for a ring that is not zero-copy");
	s = prom_find(&d, "shmring_ring_info", "ring", "zc.ring-1");
	ok(s && s->value == 1 && !strcmp(prom_label(s, "policy"), "lossless") &&
	   !strcmp(prom_label(s, "zerocopy"), "true") && !strcmp(prom_label(s, "csum"), "true") &&
	   !strcmp(prom_label(s, "mode"), "0000"), "ring_info labels");
	s = prom_find(&d, "shmring_subscription_records_read_total", "subscription", "audit");
	ok(s && s->value == 41 && !strcmp(prom_label(s, "ring"), "zc.ring-1"),
	   "subscription read, labelled ring and subscription");
	is_int(val(&d, "shmring_rings", NULL), 2, "shmring_rings");
	is_int(val(&d, "shmring_module_loaded", NULL), 1, "module loaded");
	is_int(val(&d, "shmring_param_max_rings", NULL), 1024, "parameter max_rings");
	ok(val(&d, "shmring_param_zc_idle_seconds", NULL) == 0.01, "zc_idle_ms in seconds");
	{
		bool all = true;

		for (size_t i = 0; i < d.nfamilies; i++) {
			const struct prom_family *f = &d.families[i];

			if (strncmp(f->name, "shmring_", 8) ||
			    (!strcmp(f->type, "counter") != (strstr(f->name, "_total") != NULL))) {
				diag("family %s (%s)", f->name, f->type);
				all = false;
			}
		}
		ok(all && d.nfamilies > 20, "%zu families: shmring_ prefix, _total iff counter",
		   d.nfamilies);
	}
	prom_doc_free(&d);

	/* promtool, when installed, must agree */
	if (promtool(tool, sizeof(tool))) {
		char path[] = "/tmp/t_prom.XXXXXX", cmd[PATH_MAX + 64];
		int fd = mkstemp(path);

		if (fd < 0 || write(fd, text, len) != (ssize_t)len)
			bail_out("cannot write %s", path);
		close(fd);
		snprintf(cmd, sizeof(cmd), "'%s' check metrics <%s", tool, path);
		ok(system(cmd) == 0, "%s check metrics accepts it", tool);
		snprintf(cmd, sizeof(cmd), "printf 'a 1\\n' | '%s' check metrics >/dev/null 2>&1",
			 tool);
		ok(system(cmd) != 0, "... and refuses a family without HELP (it checks)");
		unlink(path);
	} else {
		skip(2, "no promtool on PATH or in $SHMRING_CACHE/prometheus (Debian: prometheus)");
	}
	free(text);

	text = format(NULL, &len);
	ok(parses(text, &d) && d.nsamples == 1 &&
	   val(&d, "shmring_module_loaded", NULL) == 0, "not loaded: shmring_module_loaded 0 only");
	prom_doc_free(&d);
	free(text);

	v.n = 0;
	text = format(&v, &len);
	ok(parses(text, &d) && val(&d, "shmring_rings", NULL) == 0,
	   "no rings: parses, shmring_rings 0");
	prom_doc_free(&d);
	free(text);
	free(r[1].cur);
}

int main(void)
{
	plan_no_plan();
	parser_good();
	parser_bad();
	formatter();
	return done_testing();
}
