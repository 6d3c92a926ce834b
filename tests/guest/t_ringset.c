// SPDX-License-Identifier: GPL-2.0
/*
 * Ring sets and bulk reads against the module: writers write bursts of
 * records into random rings with random delays, one reader drains them
 * all through a ring set (shmring_set_poll(), the set's fd nested in an
 * outer epoll, shmring_set_consume()) with random limits, and every wait
 * is bounded by a timeout that turns a lost wakeup into a failure.
 *
 * The rings: four lossless ones of 4 KiB (so writers block and must be
 * kicked by the drains; the fourth has a records watermark of 4) read
 * in batches, an overwrite ring and a tap of the first lossless ring,
 * read one record at a time. The handler checks that every lossless
 * ring delivers each record exactly once and in order (gapless sequence
 * numbers, each writer's counter + 1), and that the others deliver in
 * order, with what they did not get counted lost.
 *
 * Every 1024th record the handler sleeps 100 ms, so that lossless rings
 * fill and their writers wait for the drains to kick them.
 *
 * A wait that times out is a lost wakeup when a ring of the set is
 * readable then (as the kernel's poll says, watermark included), and a
 * lost kick when a writer has been in a write call for the whole wait
 * while the reader had nothing to do. Then: a blocked set uses no CPU,
 * and an unlinked ring is drained, then dropped from the wait (no spin).
 * The last line of the first part: "# waits: N (lost: M, idle: I)".
 *
 * usage: t_ringset [SECONDS]   (of writing; default 3, or
 *                               SHMRING_RINGSET_SECS for a longer run)
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "common.h"

#define NWRITERS	2
#define NRINGS		5	/* L0..L3 lossless, OW overwrite */
#define NMEMB		6	/* the rings and a tap of L0 */
#define OW		4
#define WM_RING		3	/* records watermark */
#define WM_RECS		4
#define TIMEOUT_MS	2000
#define LOST_CAP	3

#define LD(x)		__atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define ST(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

struct payload {
	uint32_t writer;
	uint32_t ring;
	uint64_t n;		/* this writer's records to this ring, from 1 */
	uint32_t check;		/* of the fields above: tells a torn payload */
	uint32_t pad;
};

static uint32_t payload_check(const struct payload *p)
{
	return (p->writer * 0x9e3779b1U) ^ (p->ring * 0x85ebca77U) ^
	       (uint32_t)(p->n * 0xc2b2ae3dU) ^ (uint32_t)(p->n >> 32) ^ 0x5bd1e995U;
}

/* Writers -> reader, in a shared page. */
struct shared {
	uint64_t written[NWRITERS][NRINGS];
	uint64_t in_write_ns[NWRITERS];	/* a write call started then; 0: none */
	uint32_t done[NWRITERS];
	uint32_t error[NWRITERS];
};

struct member {
	const char *what;
	int ring;
	int exact;		/* lossless, not a tap: every record, in order */
	struct shmring *r;
	uint64_t got, bad, suspect, next_seq, last_n[NWRITERS];
	char why[160];
};

static struct shared *sh;
static struct member memb[NMEMB];
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t handler_calls;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)((rng >> 11) % n) : 0;
}

static void ring_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "t_ringset_%d", i);
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000),
			       .tv_nsec = (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static void writer(int w, unsigned int secs)
{
	struct shmring *rings[NRINGS];
	struct shmring_msg msgs[8];
	struct payload p[8];
	uint64_t end = now_mono_ns() + secs * 1000000000ULL;
	char name[32];
	int i, k, burst, ring, ret;

	rng += (uint64_t)w * 7919 + (uint64_t)getpid();
	for (i = 0; i < NRINGS; i++) {
		ring_name(name, sizeof(name), i);
		if (shmring_open(name, SHMRING_O_WRITE, 0, NULL, &rings[i]))
			_exit(2);
	}
	while (now_mono_ns() < end) {
		ring = (int)rnd(NRINGS);
		burst = 1 + (int)rnd(8);
		for (k = 0; k < burst; k++) {
			p[k].writer = (uint32_t)w;
			p[k].ring = (uint32_t)ring;
			p[k].n = sh->written[w][ring] + 1 + (uint64_t)k;
			p[k].pad = 0;
			p[k].check = payload_check(&p[k]);
			msgs[k].data = &p[k];
			msgs[k].len = sizeof(p[k]);
			msgs[k].type = 1;
		}
		ST(sh->in_write_ns[w], now_mono_ns());
		if (burst == 1 || rnd(2)) {
			for (k = 0; k < burst; k++) {
				ret = shmring_write(rings[ring], 1, &p[k], sizeof(p[k]));
				if (ret != sizeof(p[k]))
					break;
			}
			ret = k;
		} else {
			ret = shmring_write_batch(rings[ring], msgs, (unsigned int)burst);
		}
		ST(sh->in_write_ns[w], 0);
		if (ret < 0) {
			ST(sh->error[w], (uint32_t)-ret);
			break;
		}
		ST(sh->written[w][ring], sh->written[w][ring] + (uint64_t)ret);
		if (ret < burst) {
			ST(sh->error[w], EIO);
			break;
		}
		if (rnd(16) == 0)
			sleep_us(1000 * (1 + rnd(30)));	/* let the reader sleep */
		else
			sleep_us(rnd(500));
	}
	ST(sh->done[w], 1);
	_exit(0);
}

/*
 * Lossless rings: every record once, in order (gapless sequence numbers,
 * each writer's counter + 1). The others: in order (sequence numbers
 * only grow); their payload may be torn when a writer overwrites it
 * under the handler, which the record's check tells, and such a record
 * also counts lost (compared at the end).
 */
static int handler(void *ctx, const struct shmring_record *rec)
{
	struct member *m = ctx;
	struct payload p;
	const char *why = NULL;

	/* Now and then a slow handler: lossless writers fill their ring and wait. */
	if (++handler_calls % 1024 == 0)
		sleep_us(100000);
	memset(&p, 0, sizeof(p));
	if (rec->len == sizeof(p))
		memcpy(&p, rec->data, sizeof(p));
	if (m->got && rec->seq < m->next_seq)
		why = "sequence number went back";
	else if (m->exact && rec->seq != m->next_seq)
		why = "a gap in the sequence numbers";
	else if (rec->len != sizeof(p))
		why = "wrong length";
	else if (p.check != payload_check(&p) || p.writer >= NWRITERS ||
		 p.ring != (uint32_t)m->ring)
		why = m->exact ? "a torn or foreign record" : NULL;
	else if (m->exact && p.n != m->last_n[p.writer] + 1)
		why = "a writer's record missing or twice";
	if (!why && !m->exact && rec->len == sizeof(p) && p.check != payload_check(&p))
		m->suspect++;
	else if (!why && rec->len == sizeof(p) && p.writer < NWRITERS)
		m->last_n[p.writer] = p.n;
	if (why && !m->bad++)
		snprintf(m->why, sizeof(m->why), "seq %llu: %s", (unsigned long long)rec->seq, why);
	m->next_seq = rec->seq + 1;
	m->got++;
	return 0;
}

static int writers_done(void)
{
	int w;

	for (w = 0; w < NWRITERS; w++)
		if (!LD(sh->done[w]))
			return 0;
	return 1;
}

/* A wait timed out: was a wakeup lost? Returns 1 if so. */
static int timed_out(uint64_t *idle)
{
	struct pollfd p;
	uint64_t now = now_mono_ns(), t;
	int i, w;

	for (i = 0; i < NMEMB; i++) {
		p.fd = shmring_fd(memb[i].r);
		p.events = POLLIN;
		if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
			diag("lost wakeup: %s readable after a %d ms wait", memb[i].what, TIMEOUT_MS);
			return 1;
		}
	}
	for (w = 0; w < NWRITERS; w++) {
		t = LD(sh->in_write_ns[w]);
		if (t && now - t > (uint64_t)TIMEOUT_MS * 1000000) {
			diag("lost kick: writer %d in a write for %llu ms while the reader had nothing",
			     w, (unsigned long long)((now - t) / 1000000));
			/* Let it go, so the run goes on. */
			for (i = 0; i < NRINGS; i++)
				xioctl(shmring_fd(memb[i].r), SHMRING_IOC_KICK, NULL);
			return 1;
		}
	}
	(*idle)++;
	return 0;
}

static uint64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void setup(struct shmring_set **set)
{
	struct shmring_attr a;
	struct shmring *w;
	char name[32];
	int i, ret;

	for (i = 0; i < NRINGS; i++) {
		memset(&a, 0, sizeof(a));
		a.data_size = i == OW ? 16384 : i == WM_RING ? 8192 : 4096;
		a.policy = i == OW ? SHMRING_POLICY_OVERWRITE : SHMRING_POLICY_LOSSLESS;
		ring_name(name, sizeof(name), i);
		shmring_unlink(name);
		ret = shmring_open(name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
				   0600, &a, &w);
		if (ret)
			bail_out("create %s: %s", name, shmring_strerror(ret));
		shmring_close(w);
		memb[i].what = i == OW ? "overwrite ring" : i == WM_RING ? "lossless ring 3 (wm)" :
			       i == 0 ? "lossless ring 0" : i == 1 ? "lossless ring 1" :
			       "lossless ring 2";
		memb[i].ring = i;
		memb[i].exact = i != OW;
		ret = shmring_open(name, SHMRING_O_READ, 0, NULL, &memb[i].r);
		if (ret)
			bail_out("reader of %s: %s", name, shmring_strerror(ret));
	}
	memb[NRINGS].what = "tap of lossless ring 0";
	memb[NRINGS].ring = 0;
	ring_name(name, sizeof(name), 0);
	ret = shmring_open(name, SHMRING_O_READ | SHMRING_O_TAP, 0, NULL, &memb[NRINGS].r);
	if (ret)
		bail_out("tap of %s: %s", name, shmring_strerror(ret));
	ret = shmring_set_watermark(memb[WM_RING].r, 0, WM_RECS);
	if (ret)
		bail_out("watermark: %s", shmring_strerror(ret));
	ret = shmring_set_new(0, set);
	if (ret)
		bail_out("shmring_set_new: %s", shmring_strerror(ret));
	for (i = 0; i < NMEMB; i++) {
		ret = shmring_set_add(*set, memb[i].r, handler, &memb[i]);
		if (ret)
			bail_out("shmring_set_add %s: %s", memb[i].what, shmring_strerror(ret));
	}
}

static void test_streams(struct shmring_set *set, unsigned int secs)
{
	static const int limits[] = { 1, 3, 16, 64, -1 };
	struct epoll_event ev = { .events = EPOLLIN }, out;
	uint64_t waits = 0, lost = 0, idle = 0, calls = 0, handled = 0;
	uint64_t deadline = now_mono_ns() + (secs + 120ULL) * 1000000000ULL;
	uint64_t written[NRINGS] = { 0 }, all = 0, blocked = 0;
	pid_t pids[NWRITERS];
	int outer, i, w, n, k, lim, status, errors = 0, writers_ok = 1;

	outer = epoll_create1(EPOLL_CLOEXEC);
	if (outer < 0 || epoll_ctl(outer, EPOLL_CTL_ADD, shmring_set_fd(set), &ev))
		bail_out("outer epoll: %s", strerror(errno));
	for (w = 0; w < NWRITERS; w++) {
		pids[w] = fork();
		if (pids[w] < 0)
			bail_out("fork: %s", strerror(errno));
		if (pids[w] == 0)
			writer(w, secs);
	}
	while (!writers_done() && lost < LOST_CAP && now_mono_ns() < deadline) {
		lim = limits[rnd(5)];
		calls++;
		switch (rnd(4)) {
		case 0:
		case 1:		/* shmring_set_poll(), waiting when nothing is ready */
			n = shmring_set_poll(set, lim, 0);
			if (n)
				break;
			waits++;
			n = shmring_set_poll(set, lim, TIMEOUT_MS);
			if (n == 0)
				lost += (uint64_t)timed_out(&idle);
			break;
		case 2:		/* the set's fd in an outer epoll */
			n = shmring_set_poll(set, lim, 0);
			if (n)
				break;
			waits++;
			k = epoll_wait(outer, &out, 1, TIMEOUT_MS);
			if (k == 0)
				lost += (uint64_t)timed_out(&idle);
			else
				n = shmring_set_poll(set, lim, 0);
			break;
		default:	/* drain without waiting */
			n = shmring_set_consume(set, lim);
			break;
		}
		if (n < 0) {
			if (!errors++)
				diag("a drain failed: %s", shmring_strerror(n));
			if (n != -EINTR)
				break;
		} else {
			handled += (uint64_t)n;
			if (lim > 0 && n > lim)
				errors++;
		}
	}
	for (w = 0; w < NWRITERS; w++) {
		if (!writers_done())
			kill(pids[w], SIGKILL);
		waitpid(pids[w], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) || LD(sh->error[w]))
			writers_ok = 0;
	}
	/* What is left, the watermarked ring's last few records included. */
	n = shmring_set_consume(set, -1);
	if (n < 0)
		errors++;
	else
		handled += (uint64_t)n;

	for (i = 0; i < NRINGS; i++)
		for (w = 0; w < NWRITERS; w++)
			written[i] += sh->written[w][i];
	for (i = 0; i < NRINGS; i++)
		all += written[i];
	ok(writers_ok, "%d writers wrote %llu records in %u s into %d rings", NWRITERS,
	   (unsigned long long)all, secs, NRINGS);
	is_int(errors, 0, "no drain failed or handled more than its limit");
	is_int(handled, handler_calls, "the drains' counts add up to the handler calls");
	for (i = 0; i < NMEMB; i++) {
		struct member *m = &memb[i];
		uint64_t want = written[m->ring], lostr = shmring_lost(m->r);

		if (m->exact) {
			ok(m->got == want && m->bad == 0 && lostr == 0,
			   "%s: all %llu records, each once, in order%s%s", m->what,
			   (unsigned long long)want, m->bad ? ": " : "", m->why);
		} else {
			/*
			 * A record overwritten under its handler is delivered
			 * and counted lost: got + lost - written of them.
			 */
			uint64_t stale = m->got + lostr - want;

			ok(m->got <= want && m->got + lostr >= want && m->bad == 0 &&
			   m->suspect <= stale,
			   "%s: %llu records in order, %llu lost (%llu overwritten under the handler, %llu torn), %llu written%s%s",
			   m->what, (unsigned long long)m->got, (unsigned long long)lostr,
			   (unsigned long long)stale, (unsigned long long)m->suspect,
			   (unsigned long long)want, m->bad ? ": " : "", m->why);
		}
	}
	for (i = 0; i < NRINGS; i++) {
		struct shmring_info info;

		if (i != OW && shmring_info(memb[i].r, &info) == 0)
			blocked += info.writer_waits;
	}
	ok(blocked > 0, "writers waited for room %llu times, and the drains let them go",
	   (unsigned long long)blocked);
	is_int(lost, 0, "no lost wakeup or lost kick in %llu waits", (unsigned long long)waits);
	ok(waits > 0, "the reader really waited (%llu times)", (unsigned long long)waits);
	diag("%llu drains, %llu records, %.1f records per handler-calling drain",
	     (unsigned long long)calls, (unsigned long long)handled,
	     calls ? (double)handled / (double)calls : 0.0);
	printf("# waits: %llu (lost: %llu, idle: %llu)\n", (unsigned long long)waits,
	       (unsigned long long)lost, (unsigned long long)idle);
	close(outer);
}

/*
 * An idle set's wait, @ms long: its CPU time (utime+stime), the best of
 * three tries. A spinning set uses most of every wait; a sleeping one
 * the entry and exit (t_epoll: 0.5-10 ms), but the guest charges a task
 * the host's preemption of its vCPU too, and other VMs may share the
 * host: one unlucky try alone says little.
 */
static uint64_t idle_cpu_us(struct shmring_set *set, int ms, int *ret, uint64_t *took_ms)
{
	uint64_t c0, t0, used, best = UINT64_MAX;
	int i;

	for (i = 0; i < 3 && best > 50000; i++) {
		c0 = cpu_us();
		t0 = now_mono_ns();
		*ret = shmring_set_poll(set, -1, ms);
		used = cpu_us() - c0;
		*took_ms = (now_mono_ns() - t0) / 1000000;
		if (*ret || *took_ms < (uint64_t)ms - ms / 20)
			break;
		if (used < best)
			best = used;
	}
	return best;
}

/* Blocked in the set with nothing to do: no CPU. */
static void test_idle(struct shmring_set *set)
{
	uint64_t used, ms = 0;
	int n = 0;

	used = idle_cpu_us(set, 1000, &n, &ms);
	ok(n == 0 && ms >= 950, "idle set: shmring_set_poll returned 0 at its timeout (%llu ms)",
	   (unsigned long long)ms);
	ok(used <= 50000, "and used %llu us of CPU (utime+stime) while blocked",
	   (unsigned long long)used);
}

/* An unlinked ring is drained, then no longer waited on. */
static void test_unlinked(struct shmring_set *set)
{
	struct payload p[3];
	struct shmring *w;
	uint64_t used, ms = 0;
	char name[32];
	int i, n;

	ring_name(name, sizeof(name), 1);
	if (shmring_open(name, SHMRING_O_WRITE, 0, NULL, &w))
		bail_out("writer of %s", name);
	for (i = 0; i < 3; i++) {
		p[i].writer = 0;
		p[i].ring = 1;
		p[i].n = memb[1].last_n[0] + 1 + (uint64_t)i;
		p[i].pad = 0;
		p[i].check = payload_check(&p[i]);
		shmring_write(w, 1, &p[i], sizeof(p[i]));
	}
	shmring_close(w);
	shmring_unlink(name);
	memb[1].bad = 0;
	n = shmring_set_poll(set, -1, 1000);
	ok(n == 3 && memb[1].bad == 0, "unlinked ring: its last 3 records delivered (%d)", n);
	used = idle_cpu_us(set, 500, &n, &ms);
	ok(n == 0 && ms >= 450 && used <= 50000,
	   "then it is dropped from the wait: 0 after %llu ms, %llu us of CPU (no spin on POLLHUP)",
	   (unsigned long long)ms, (unsigned long long)used);
	is_int(shmring_set_remove(set, memb[1].r), 0, "and it can be removed from the set");
}

int main(int argc, char **argv)
{
	const char *env = getenv("SHMRING_RINGSET_SECS");
	unsigned int secs = argc > 1 ? (unsigned int)atoi(argv[1]) : env ? (unsigned int)atoi(env) : 3;
	struct shmring_set *set;
	char name[32];
	int i;

	signal(SIGPIPE, SIG_IGN);
	plan_no_plan();
	if (!secs)
		secs = 3;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		bail_out("mmap: %s", strerror(errno));
	memset(sh, 0, sizeof(*sh));
	rng ^= (uint64_t)now_mono_ns();
	diag("seed %llu", (unsigned long long)rng);
	setup(&set);
	test_streams(set, secs);
	test_idle(set);
	test_unlinked(set);
	shmring_set_free(set);
	for (i = 0; i < NMEMB; i++)
		shmring_close(memb[i].r);
	for (i = 0; i < NRINGS; i++) {
		ring_name(name, sizeof(name), i);
		shmring_unlink(name);
	}
	return done_testing();
}
