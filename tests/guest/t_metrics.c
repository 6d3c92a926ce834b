// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl metrics and list/stat --interval in the guest (TAP). Rings
 * get known numbers of records and bytes, losses (an overwrite ring with
 * a reader that never reads) and writer waits (a lossless ring with a
 * late reader); `shmring-ctl metrics` is parsed with the strict parser of
 * tests/promparse.c and every value checked against what was done, and
 * against /proc/shmring. Odd (but valid) ring names are labels; the kernel
 * allows only [A-Za-z0-9._-], so \, " and newline escaping is tested
 * natively by tests/unit/t_prom.c. Then the rates: a writer paced at a
 * known rate, rings created, deleted and re-created between samples, -c
 * line counts, SIGINT.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "../promparse.h"

extern char **environ;

#define CTL	"shmring-ctl"
#define PAY	24		/* payload bytes: a 64-byte record with its header */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Standard output of sh -c cmd, malloc'ed; *status: its exit status (-1: signal). */
static char *run(const char *cmd, int *status, size_t *len)
{
	FILE *p = popen(cmd, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	int st;

	if (!p)
		bail_out("popen %s: %s", cmd, strerror(errno));
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				bail_out("out of memory");
		}
		got = fread(buf + n, 1, cap - n - 1, p);
		if (!got)
			break;
		n += got;
	}
	buf[n] = '\0';
	st = pclose(p);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (len)
		*len = n;
	return buf;
}

static struct shmring *create(const char *name, uint64_t size, uint32_t policy,
			      unsigned int oflags)
{
	struct shmring_attr a = { .data_size = size, .policy = policy };
	struct shmring *r;
	int ret;

	shmring_unlink(name);
	ret = shmring_open(name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE | oflags,
			   0644, &a, &r);
	if (ret)
		bail_out("create %s: %s", name, shmring_strerror(ret));
	return r;
}

static void write_n(struct shmring *w, int n, size_t len)
{
	char buf[256];

	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < n; i++) {
		int ret = shmring_write(w, 1, buf, len);

		if (ret != (int)len)
			bail_out("write: %s", shmring_strerror(ret));
	}
}

/* One field of ring NAME's line in /proc/shmring (the source metrics uses). */
static uint64_t proc_field(const char *name, const char *key)
{
	char line[1024], want[80], k[40];
	FILE *f = fopen("/proc/shmring", "re");
	uint64_t v = UINT64_MAX;

	if (!f)
		bail_out("/proc/shmring: %s", strerror(errno));
	snprintf(want, sizeof(want), "ring %s ", name);
	snprintf(k, sizeof(k), " %s=", key);
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (strncmp(line, want, strlen(want)))
			continue;
		p = strstr(line, k);
		if (p)
			v = strtoull(p + strlen(k), NULL, 0);
	}
	fclose(f);
	return v;
}

static double metric(const struct prom_doc *d, const char *name, const char *ring)
{
	const struct prom_sample *s = prom_find(d, name, ring ? "ring" : NULL, ring);

	return s ? s->value : -1;
}

/* The sample name{ring="ring",subscription="sub"} (other tests' rings may have an "audit"). */
static const struct prom_sample *sub_sample(const struct prom_doc *d, const char *name,
					    const char *ring, const char *sub)
{
	for (size_t i = 0; i < d->nsamples; i++) {
		const struct prom_sample *s = &d->samples[i];
		const char *r = prom_label(s, "ring"), *u = prom_label(s, "subscription");

		if (!strcmp(s->name, name) && r && u && !strcmp(r, ring) && !strcmp(u, sub))
			return s;
	}
	return NULL;
}

/* Parse `shmring-ctl metrics`; bails out if it does not parse. */
static void scrape(struct prom_doc *d, const char *why)
{
	size_t len;
	int st;
	char *text = run(CTL " metrics", &st, &len);

	if (st != 0 || prom_parse(text, len, d)) {
		diag("%s", text);
		bail_out("%s: shmring-ctl metrics exit %d, parse error line %d: %s", why, st,
			 d->err_line, d->err);
	}
	free(text);
}

/* ---- metrics --------------------------------------------------------------------------- */

struct waiter {
	struct shmring *w;
	int n;
};

static void *lossless_writer(void *arg)
{
	struct waiter *wt = arg;

	write_n(wt->w, wt->n, PAY);
	return NULL;
}

#define LONG_NAME "L23456789012345678901234567890123456789012345678901234567890123"

static void test_metrics(void)
{
	static const char *const odd[] = { "-lead", ".dot", "a.b-c_D9", LONG_NAME };
	struct shmring *ow, *orr, *lw, *lr, *sub, *oddr[4];
	struct prom_doc d;
	struct waiter wt;
	pthread_t th;
	uint64_t held, lost;
	struct stat sb;
	char *text;
	int st;

	/* Overwrite ring, 4 KiB, a reader that never reads: 200 records, most lost. */
	ow = create("m.over", 4096, SHMRING_POLICY_OVERWRITE, 0);
	if (shmring_open("m.over", SHMRING_O_READ, 0, NULL, &orr))
		bail_out("reader of m.over");
	write_n(ow, 200, PAY);
	/* Lossless ring: the writer waits for a reader that starts late. */
	lw = create("m.lossless", 4096, SHMRING_POLICY_LOSSLESS, 0);
	if (shmring_open("m.lossless", SHMRING_O_READ, 0, NULL, &lr))
		bail_out("reader of m.lossless");
	wt.w = lw;
	wt.n = 300;
	pthread_create(&th, NULL, lossless_writer, &wt);
	sleep_ms(300);
	{
		struct shmring_record rec;
		int got = 0;

		while (got < 300) {
			if (shmring_peek(lr, &rec) == 0) {
				shmring_consume(lr);
				got++;
			} else {
				shmring_wait(lr, 1000);
			}
		}
	}
	pthread_join(th, NULL);
	/*
	 * A durable subscription that read 5 records. From the head: from the
	 * tail it would hold back the lossless writer below.
	 */
	if (shmring_subscribe("m.lossless", "audit", SHMRING_O_FROM_HEAD, &sub))
		bail_out("subscribe audit");
	shmring_close(sub);
	write_n(lw, 10, 100);
	if (shmring_subscribe("m.lossless", "audit", 0, &sub))
		bail_out("subscribe audit again");
	for (int i = 0; i < 5; i++) {
		struct shmring_record rec;

		if (shmring_peek(sub, &rec) || shmring_consume(sub))
			bail_out("read through audit");
	}
	shmring_close(sub);
	for (int i = 0; i < 4; i++) {
		oddr[i] = create(odd[i], 4096, SHMRING_POLICY_OVERWRITE, 0);
		write_n(oddr[i], i + 1, 10);
	}
	text = run(CTL " create m.zc -s 64k -z -k 4096 -x 2>&1 && " CTL " write m.zc zc", &st, NULL);
	if (st)
		bail_out("create m.zc: %s", text);
	free(text);

	scrape(&d, "after the writes");
	ok(1, "shmring-ctl metrics output parses strictly (%zu families, %zu samples)",
	   d.nfamilies, d.nsamples);
	is_int(metric(&d, "shmring_module_loaded", NULL), 1, "shmring_module_loaded 1");
	ok(metric(&d, "shmring_rings", NULL) >= 6, "shmring_rings counts the rings (%.0f)",
	   metric(&d, "shmring_rings", NULL));
	ok(metric(&d, "shmring_module_memory_bytes", NULL) > 0, "module memory > 0");
	ok(metric(&d, "shmring_param_max_rings", NULL) > 0, "a module parameter");

	held = proc_field("m.over", "head_seq") - proc_field("m.over", "tail_seq");
	lost = proc_field("m.over", "lost");
	is_int(metric(&d, "shmring_ring_records_written_total", "m.over"), 200,
	       "overwrite ring: 200 records written");
	is_int(metric(&d, "shmring_ring_written_bytes_total", "m.over"), 200 * PAY,
	       "... %d payload bytes", 200 * PAY);
	ok(lost > 100 && metric(&d, "shmring_ring_records_lost_total", "m.over") == (double)lost,
	   "... lost %llu, as /proc/shmring says", (unsigned long long)lost);
	is_int(lost + held, 200, "... lost + held = written (the reader read nothing)");
	is_int(metric(&d, "shmring_ring_held_records", "m.over"), held, "... held records");
	is_int(metric(&d, "shmring_ring_used_bytes", "m.over"), held * 64,
	       "... used bytes = 64 per held record");
	is_int(metric(&d, "shmring_ring_size_bytes", "m.over"), 4096, "... size 4096 bytes");
	is_int(metric(&d, "shmring_ring_readers", "m.over"), 1, "... one reader");
	is_int(metric(&d, "shmring_ring_writer_waits_total", "m.over"), 0, "... no writer waits");
	is_int(metric(&d, "shmring_ring_max_lag_records", "m.over"), held,
	       "... the reader lags by what is held");
	{
		const struct prom_sample *s = prom_find(&d, "shmring_ring_info", "ring", "m.over");

		ok(s && !strcmp(prom_label(s, "policy"), "overwrite") &&
		   !strcmp(prom_label(s, "mode"), "0644") && !strcmp(prom_label(s, "uid"), "0"),
		   "... shmring_ring_info: policy, mode, uid");
	}
	{
		double lt = metric(&d, "shmring_ring_last_write_timestamp_seconds", "m.over");
		double wall = (double)time(NULL);

		ok(lt > wall - 120 && lt <= wall + 1, "... last write %.3f is about now (%.0f)",
		   lt, wall);
	}

	is_int(metric(&d, "shmring_ring_records_written_total", "m.lossless"), 310,
	       "lossless ring: 310 records written");
	is_int(metric(&d, "shmring_ring_written_bytes_total", "m.lossless"), 300 * PAY + 1000,
	       "... bytes written");
	is_int(metric(&d, "shmring_ring_records_lost_total", "m.lossless"), 0, "... nothing lost");
	ok(metric(&d, "shmring_ring_writer_waits_total", "m.lossless") >= 1 &&
	   metric(&d, "shmring_ring_writer_waits_total", "m.lossless") ==
	   (double)proc_field("m.lossless", "writer_waits"),
	   "... the writer waited (%.0f times), as /proc/shmring says",
	   metric(&d, "shmring_ring_writer_waits_total", "m.lossless"));
	is_int(metric(&d, "shmring_ring_subscriptions", "m.lossless"), 1, "... one subscription");
	{
		const struct prom_sample *s = sub_sample(&d, "shmring_subscription_records_read_total",
							 "m.lossless", "audit");
		const struct prom_sample *l = sub_sample(&d, "shmring_subscription_lag_records",
							 "m.lossless", "audit");
		const struct prom_sample *a = sub_sample(&d, "shmring_subscription_attached",
							 "m.lossless", "audit");

		ok(s && !strcmp(prom_label(s, "ring"), "m.lossless") && s->value == 5,
		   "... subscription audit read 5 records (%g)", s ? s->value : -1);
		ok(l && l->value == 5, "... and lags by 5 (%g)", l ? l->value : -1);
		ok(a && a->value == 0, "... and is not attached");
	}
	for (int i = 0; i < 4; i++)
		is_int(metric(&d, "shmring_ring_records_written_total", odd[i]), i + 1,
		       "ring named '%s' is labelled as it is", odd[i]);
	{
		const struct prom_sample *s = prom_find(&d, "shmring_ring_info", "ring", "m.zc");

		ok(s && !strcmp(prom_label(s, "zerocopy"), "true") &&
		   metric(&d, "shmring_ring_zc_chunk_bytes", "m.zc") == 4096 &&
		   metric(&d, "shmring_ring_records_written_total", "m.zc") == 1 &&
		   metric(&d, "shmring_ring_zc_discarded_total", "m.zc") == 0,
		   "zero-copy ring: zerocopy=\"true\", 4096-byte chunks, 1 record, 0 discarded");
		ok(!prom_find(&d, "shmring_ring_zc_chunk_bytes", "ring", "m.over"),
		   "... and no zero-copy series for the others");
	}
	prom_doc_free(&d);

	/* -o FILE: atomically, mode 0644, nothing left beside it */
	unlink("/tmp/metrics/shmring.prom");
	mkdir("/tmp/metrics", 0755);
	text = run(CTL " metrics -o /tmp/metrics/shmring.prom && ls -a /tmp/metrics", &st, NULL);
	ok(st == 0 && !strcmp(text, ".\n..\nshmring.prom\n"),
	   "metrics -o FILE writes FILE and leaves no temporary file (%s)", text);
	free(text);
	ok(stat("/tmp/metrics/shmring.prom", &sb) == 0 && (sb.st_mode & 0777) == 0644,
	   "... mode 0644");
	text = run("cat /tmp/metrics/shmring.prom", &st, NULL);
	ok(prom_parse(text, strlen(text), &d) == 0 &&
	   metric(&d, "shmring_ring_records_written_total", "m.over") == 200,
	   "... and it parses, with the same values");
	prom_doc_free(&d);
	free(text);
	text = run(CTL " metrics -o /nonexistent/x.prom 2>&1", &st, NULL);
	ok(st == 1 && strstr(text, "cannot create a temporary file beside /nonexistent/x.prom"),
	   "metrics -o in a missing directory: exit 1, says why (%s)", text);
	free(text);
	text = run(CTL " metrics extra 2>&1", &st, NULL);
	ok(st == 2 && strstr(text, "takes no arguments"), "metrics with an operand: exit 2");
	free(text);
	text = run(CTL " metrics --help", &st, NULL);
	ok(st == 0 && strstr(text, "--output"), "metrics --help");
	free(text);

	/* what a user who may not read a ring sees */
	if (shmring_chmod("m.over", 0600))
		bail_out("chmod m.over");
	text = run("su nobody -s /bin/sh -c '" CTL " metrics'", &st, NULL);
	ok(st == 0 && prom_parse(text, strlen(text), &d) == 0 &&
	   !prom_find(&d, "shmring_ring_size_bytes", "ring", "m.over") &&
	   prom_find(&d, "shmring_ring_size_bytes", "ring", "m.lossless"),
	   "nobody sees the 0644 rings, not the 0600 one");
	prom_doc_free(&d);
	free(text);

	shmring_close(orr);
	shmring_close(ow);
	shmring_close(lr);
	shmring_close(lw);
	for (int i = 0; i < 4; i++) {
		shmring_close(oddr[i]);
		shmring_unlink(odd[i]);
	}
	shmring_unlink("m.over");
	shmring_unlink("m.lossless");
	shmring_unlink("m.zc");
}

/* ---- --interval ------------------------------------------------------------------------ */

struct pacer {
	const char *name;
	unsigned int rate;	/* records per second */
	unsigned int secs;
	volatile int done;
};

/* rate records of PAY bytes per second for secs seconds, on absolute deadlines. */
static void *paced_writer(void *arg)
{
	struct pacer *p = arg;
	struct shmring *w;
	uint64_t t0, step;
	char buf[PAY] = { 0 };

	if (shmring_open(p->name, SHMRING_O_WRITE, 0, NULL, &w))
		bail_out("open %s for writing", p->name);
	step = 1000000000ULL / p->rate;
	t0 = now_ns();
	for (uint64_t i = 0; i < (uint64_t)p->rate * p->secs; i++) {
		uint64_t at = t0 + i * step, now = now_ns();

		if (at > now) {
			struct timespec ts = { (time_t)((at - now) / 1000000000),
					       (long)((at - now) % 1000000000) };

			nanosleep(&ts, NULL);
		}
		shmring_write(w, 2, buf, sizeof(buf));
	}
	shmring_close(w);
	p->done = 1;
	return NULL;
}

/* The number after "key": in a JSON line, or -1 (null or absent). */
static double jnum(const char *line, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\": ", key);
	p = strstr(line, k);
	if (!p || !strncmp(p + strlen(k), "null", 4))
		return -1;
	return strtod(p + strlen(k), NULL);
}

static int count_lines(const char *s, const char *has)
{
	int n = 0;

	for (const char *p = s; *p; ) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (!has || memmem(p, len, has, strlen(has)))
			n++;
		p += len + (nl != NULL);
	}
	return n;
}

static void test_rates(void)
{
	struct pacer pc = { "m.rate", 200, 6, 0 };
	struct shmring *w, *r2;
	pthread_t th;
	char *text, *line;
	int st, lines = 0, good = 0, sums = 0;
	double rates[8];

	w = create("m.rate", 1 << 20, SHMRING_POLICY_OVERWRITE, 0);
	pthread_create(&th, NULL, paced_writer, &pc);
	sleep_ms(500);
	text = run(CTL " stat m.rate --interval 1 -c 4 --json", &st, NULL);
	pthread_join(th, NULL);
	ok(st == 0, "stat --interval 1 -c 4 --json: exit 0");
	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		double rr = jnum(line, "records_per_s"), br = jnum(line, "bytes_per_s");
		double iv = jnum(line, "interval_s");

		if (lines < 8)
			rates[lines] = rr;
		lines++;
		if (rr >= 200 * 0.75 && rr <= 200 * 1.25 && br > rr * PAY * 0.999 &&
		    br < rr * PAY * 1.001 && strstr(line, "\"ring\": \"m.rate\"") &&
		    strstr(line, "\"state\": \"ok\"") && jnum(line, "lost_per_s") == 0)
			good++;
		if (iv > 0.5 && iv < 3)
			sums++;
	}
	is_int(lines, 4, "-c 4: four JSON lines, no header");
	ok(good >= 3, "records/s within 25%% of the writer's 200/s, bytes/s = %d x records/s "
	   "(%d of %d lines: %.1f %.1f %.1f %.1f)", PAY, good, lines,
	   lines > 0 ? rates[0] : -1, lines > 1 ? rates[1] : -1, lines > 2 ? rates[2] : -1,
	   lines > 3 ? rates[3] : -1);
	ok(sums == lines, "each interval_s is about 1 s");
	free(text);

	/* text: header + one line per interval */
	text = run(CTL " stat m.rate -i 0.5 -c 3", &st, NULL);
	ok(st == 0 && count_lines(text, NULL) == 4 && !strncmp(text, "TIME", 4) &&
	   count_lines(text, "m.rate") == 3, "text: a header and 3 lines for -c 3");
	free(text);

	/* list: rings appear, disappear, are re-created (a counter reset) between samples */
	r2 = create("m.gone", 4096, SHMRING_POLICY_OVERWRITE, 0);
	write_n(w, 50, PAY);
	{
		FILE *p = popen(CTL " list --interval 2 -c 2 --json", "r");
		char buf[65536];
		size_t n;

		if (!p)
			bail_out("popen list --interval");
		sleep_ms(800);		/* after the first sample, before the second */
		shmring_close(r2);
		shmring_unlink("m.gone");
		shmring_close(w);
		shmring_unlink("m.rate");
		w = create("m.rate", 1 << 20, SHMRING_POLICY_OVERWRITE, 0);
		write_n(w, 1, PAY);
		r2 = create("m.new", 4096, SHMRING_POLICY_OVERWRITE, 0);
		n = fread(buf, 1, sizeof(buf) - 1, p);
		buf[n] = '\0';
		st = pclose(p);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "list --interval 2 -c 2: exit 0");
		ok(count_lines(buf, "\"ring\": \"m.gone\", \"state\": \"gone\"") == 1,
		   "a deleted ring shows once, as gone");
		ok(count_lines(buf, "\"ring\": \"m.new\", \"state\": \"new\"") == 1,
		   "a created ring shows as new");
		ok(count_lines(buf, "\"ring\": \"m.rate\", \"state\": \"reset\"") == 1 &&
		   !strstr(buf, "_per_s\": -"),
		   "a ring re-created with fewer records: reset, no negative rate");
		ok(count_lines(buf, "\"ring\": \"m.new\", \"state\": \"ok\"") == 1,
		   "the new ring has rates in the next interval");
		ok(count_lines(buf, "\"records_per_s\": null") >= 3,
		   "new, gone and reset lines have null rates");
		if (!ok(count_lines(buf, "m.gone") == 1, "the gone ring is not shown again"))
			diag("%s", buf);
	}

	/* SIGINT ends it cleanly, exit 0 */
	{
		char *argv[] = { CTL, "stat", "m.rate", "--interval", "0.5", NULL };
		posix_spawn_file_actions_t fa;
		pid_t pid;
		int wst;

		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 1, "/tmp/m.sigint", O_WRONLY | O_CREAT |
						 O_TRUNC, 0644);
		if (posix_spawnp(&pid, CTL, &fa, NULL, argv, environ))
			bail_out("spawn %s", CTL);
		posix_spawn_file_actions_destroy(&fa);
		sleep_ms(1800);
		kill(pid, SIGINT);
		waitpid(pid, &wst, 0);
		ok(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "SIGINT: exit status 0 (%#x)", wst);
		text = run("cat /tmp/m.sigint", &st, NULL);
		ok(count_lines(text, NULL) >= 2 && !strncmp(text, "TIME", 4),
		   "... after a header and lines (%d)", count_lines(text, NULL));
		free(text);
	}

	/* errors */
	text = run(CTL " stat m.none --interval 1 2>&1", &st, NULL);
	ok(st == 12 && strstr(text, "m.none"), "stat --interval of a missing ring: exit 12");
	free(text);
	text = run(CTL " list --interval 0 2>&1", &st, NULL);
	ok(st == 2 && strstr(text, "invalid interval '0'"), "--interval 0: exit 2, says why");
	free(text);
	text = run(CTL " list --interval abc 2>&1", &st, NULL);
	ok(st == 2 && strstr(text, "invalid interval 'abc'"), "--interval abc: exit 2");
	free(text);
	text = run(CTL " list -c 3 2>&1", &st, NULL);
	ok(st == 2 && strstr(text, "--count needs --interval"), "-c without --interval: exit 2");
	free(text);
	text = run(CTL " list -i 1 -c 0 2>&1", &st, NULL);
	ok(st == 2 && strstr(text, "invalid count '0'"), "-c 0: exit 2");
	free(text);

	shmring_close(w);
	shmring_close(r2);
	shmring_unlink("m.rate");
	shmring_unlink("m.new");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	plan_no_plan();
	test_metrics();
	test_rates();
	return done_testing();
}
