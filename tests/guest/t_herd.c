// SPDX-License-Identifier: GPL-2.0
/*
 * Many writers blocked at once on a full lossless ring: a reader's kick
 * wakes one of them, and each woken writer passes the baton on (the
 * exclusive wait of design.md "Writers waiting for room"). This hunts a
 * sleeper nobody wakes: four writers write in blocking write(2), blocking
 * batches and poll(POLLOUT) + non-blocking writes, with random delays,
 * into a ring that holds a few dozen records, so nearly every write
 * waits; a reader consumes with random delays, in place (it kicks) or
 * with read(2), or closes its file while writers wait.
 *
 * Each blocking call is bounded by a 2 s alarm. A wait the alarm ends is
 * a lost wakeup if the writer's record fits then (a non-blocking write of
 * it succeeds, which commits it): the reader never stops consuming for
 * long, so a writer asleep for 2 s with room for its record was
 * forgotten. Every record is checked: per writer in order, none twice,
 * none missing.
 *
 * Each reader way runs twice: with writers that also poll and try
 * non-blocking writes, and with writers that only block (nothing but
 * kicks and the baton wakes those). Writers end one after the other
 * (writer w writes (w + 1) / 4 of N), so the last ones wait alone.
 * Two more phases write large records (1-3 KiB, into a 16 KiB ring that
 * holds a handful): their batches are copied outside the ring's write
 * lock, a run at a time, and only a run's first record waits for room
 * (design.md, "Batches and reclaim"), a path of its own to hunt on.
 *
 * usage: t_herd [N]   (default 8000, 1200 on the debug kernel)
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "common.h"

#define WRITERS		4
#define ALARM_MS	2000
#define MAX_LEN		200
#define BIG_MIN		1100	/* over SHMRING_STAGE_REC: copied outside wlock */
#define BIG_MAX		3100

enum reader_way { READ_IN_PLACE, READ_SYSCALL, READ_REOPEN, READ_WAYS };
static const char *const way_name[] = { "consume in place", "read(2)",
					 "reader closes and reopens" };

/* What each writer reports back through a shared page. */
struct report {
	uint64_t waits;		/* blocking calls the alarm did not end */
	uint64_t lost;		/* alarm ended, and the record fitted */
	uint64_t idle;		/* alarm ended, no room: not a loss */
	uint64_t written;
	int err;
};

static struct report *reports;
/*
 * Writers block only in write(2) and batches: nothing but kicks and the
 * baton wakes them (a poller's or EAGAIN's announcement makes readers
 * kick again, which would hide a forgotten sleeper).
 */
static bool blocking_only;
static bool big;		/* large records (the last two phases) */
static volatile sig_atomic_t alarmed;

static void on_alarm(int sig)
{
	(void)sig;
	alarmed = 1;
}

static void arm(void)
{
	struct itimerval it = { .it_value = { ALARM_MS / 1000, (ALARM_MS % 1000) * 1000 } };

	alarmed = 0;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm(void)
{
	struct itimerval it = { 0 };

	setitimer(ITIMER_REAL, &it, NULL);
}

static uint32_t rnd(uint32_t n)
{
	return n ? (uint32_t)random() % n : 0;
}

static void jitter(void)
{
	volatile uint32_t i, n = rnd(4000);

	switch (rnd(8)) {
	case 0:
		usleep(rnd(300));
		break;
	case 1:
		sched_yield();
		break;
	default:
		for (i = 0; i < n; i++)
			;
	}
}

struct payload {
	uint32_t writer;
	uint32_t len;
	uint64_t n;
	uint8_t fill[BIG_MAX - 16];
};

static void fill(struct payload *p, uint32_t w, uint64_t n)
{
	p->writer = w;
	p->n = n;
	p->len = big ? BIG_MIN + rnd(BIG_MAX - BIG_MIN) : 16 + rnd(MAX_LEN - 16);
	memset(p->fill, (int)(n & 0xff), p->len - 16);
}

/* Non-blocking write of @p on a second handle: 0 if it went in. */
static int try_nonblock(struct shmring *nb, const struct payload *p)
{
	int ret = shmring_write(nb, 1, p, p->len);

	return ret < 0 ? ret : 0;
}

/*
 * One writer: @n records, each by one of three ways. A blocking call the
 * alarm interrupts is checked: if the record fits now, the wakeup was
 * lost (the non-blocking write that proves it also commits it).
 */
static void writer(const char *name, uint32_t w, uint64_t n)
{
	struct report *rep = &reports[w];
	struct shmring *r, *nb;
	struct payload p[8];
	struct shmring_msg m[8];
	uint64_t i = 0;
	int ret, k, way;

	srandom(w * 7919 + (unsigned int)getpid());
	if (shmring_open(name, SHMRING_O_WRITE, 0, NULL, &r) ||
	    shmring_open(name, SHMRING_O_WRITE | SHMRING_O_NONBLOCK, 0, NULL, &nb)) {
		rep->err = EIO;
		_exit(1);
	}
	while (i < n) {
		/* Writers go faster than the reader: the ring stays full. */
		if (rnd(4) == 0)
			jitter();
		way = (int)rnd(blocking_only ? 2 : 3);
		k = way == 1 ? 1 + (int)rnd(8) : 1;
		if ((uint64_t)k > n - i)
			k = (int)(n - i);
		for (int j = 0; j < k; j++) {
			fill(&p[j], w, i + j);
			m[j] = (struct shmring_msg){ &p[j], p[j].len, 1 };
		}
		if (way == 2) {
			/* poll(POLLOUT), then non-blocking. */
			struct pollfd pfd = { shmring_fd(nb), POLLOUT, 0 };

			ret = try_nonblock(nb, &p[0]);
			if (ret != -EAGAIN)
				goto done;
			arm();
			ret = poll(&pfd, 1, ALARM_MS);
			disarm();
			if (ret == 0 || (ret < 0 && errno == EINTR)) {
				ret = try_nonblock(nb, &p[0]);
				rep->lost += ret == 0;
				rep->idle += ret != 0;
				if (ret == 0) {
					/* The proof committed it: the next one. */
					fprintf(stderr, "writer %u: poll(POLLOUT) slept %d ms with room\n",
						w, ALARM_MS);
					k = 1;
					goto done;
				}
				continue;
			}
			rep->waits++;
			continue;	/* write it next time round */
		}
		arm();
		ret = way == 1 ? shmring_write_batch(r, m, (unsigned int)k) :
				 shmring_write(r, 1, &p[0], p[0].len);
		disarm();
		if (ret > 0) {
			/* What went in; a batch may end early on the alarm. */
			if (way == 1)
				k = ret;
			ret = 0;
		}
		if (ret == -EINTR || (ret < 0 && alarmed)) {
			/* The alarm ended the wait: did the record fit? */
			ret = try_nonblock(nb, &p[0]);
			if (ret == 0) {
				rep->lost++;
				fprintf(stderr, "writer %u: a blocking write slept %d ms with room\n",
					w, ALARM_MS);
				k = 1;
				goto done;
			}
			rep->idle++;
			continue;
		}
		if (alarmed)
			rep->idle++;
		else
			rep->waits++;
done:
		if (ret < 0) {
			rep->err = -ret;
			_exit(1);
		}
		/* A batch commits whole here: the ring takes one at a time. */
		i += (uint64_t)k;
		rep->written = i;
	}
	shmring_close(nb);
	shmring_close(r);
	_exit(0);
}

struct check {
	uint64_t next[WRITERS];
	uint64_t got, bad;
};

static void check_rec(struct check *c, const void *data, uint32_t len)
{
	const struct payload *p = data;

	if (len < 16 || p->writer >= WRITERS || p->len != len ||
	    p->n != c->next[p->writer]) {
		if (c->bad++ < 5)
			fprintf(stderr, "bad record: len %u writer %u n %llu (want %llu)\n",
				len, len >= 16 ? p->writer : 0,
				len >= 16 ? (unsigned long long)p->n : 0ULL,
				len >= 16 && p->writer < WRITERS ?
				(unsigned long long)c->next[p->writer] : 0ULL);
		if (len >= 16 && p->writer < WRITERS)
			c->next[p->writer] = p->n + 1;
		return;
	}
	for (uint32_t j = 0; j + 16 < len; j++)
		if (p->fill[j] != (uint8_t)(p->n & 0xff)) {
			c->bad++;
			return;
		}
	c->next[p->writer]++;
	c->got++;
}

static int open_reader(const char *name, struct shmring **r)
{
	return shmring_open(name, SHMRING_O_READ, 0, NULL, r);
}

/* Consume until every writer's records arrived, or the deadline. */
static int reader(const char *name, enum reader_way way, uint64_t total,
		  struct check *c, struct shmring *r)
{
	uint64_t deadline = now_mono_ns() + 240ULL * 1000000000ULL;
	static char buf[4096];
	struct shmring_record rec;
	int ret;

	while (c->got + c->bad < total) {
		if (now_mono_ns() > deadline) {
			fprintf(stderr, "reader: stuck at %llu of %llu records\n",
				(unsigned long long)c->got, (unsigned long long)total);
			return -ETIMEDOUT;
		}
		jitter();
		if (way == READ_REOPEN && rnd(64) == 0) {
			/* Close with writers waiting on us, open again from the tail. */
			struct shmring *nr;

			ret = open_reader(name, &nr);
			if (ret)
				return ret;
			/* Attach the new one first: it starts at the tail. */
			while ((ret = shmring_peek(r, &rec)) == 0) {
				check_rec(c, rec.data, rec.len);
				shmring_consume(r);
			}
			shmring_close(r);
			r = nr;
			/* The new cursor starts where records still are: skip read ones. */
			while (shmring_peek(r, &rec) == 0) {
				const struct payload *p = rec.data;

				if (rec.len >= 16 && p->writer < WRITERS &&
				    p->n < c->next[p->writer]) {
					shmring_consume(r);
					continue;
				}
				break;
			}
			continue;
		}
		if (way == READ_SYSCALL) {
			ret = shmring_read(r, &rec, buf, sizeof(buf));
			if (ret >= 0) {
				check_rec(c, buf, rec.len);
				continue;
			}
		} else {
			ret = shmring_peek(r, &rec);
			if (ret == 0) {
				check_rec(c, rec.data, rec.len);
				ret = shmring_consume(r);
				if (ret)
					return ret;
				continue;
			}
		}
		if (ret != -EAGAIN)
			return ret;
		ret = shmring_wait(r, 100);
		if (ret < 0 && ret != -ETIMEDOUT && ret != -EINTR)
			return ret;
	}
	shmring_close(r);
	return 0;
}

static bool debug_kernel(void)
{
	struct utsname u;

	return !uname(&u) && !strstr(u.release, "-amd64");
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) :
		     (debug_kernel() ? 1200 : 8000);
	struct sigaction sa = { .sa_handler = on_alarm };
	uint64_t all_waits = 0, all_lost = 0;
	struct shmring_attr a = { 0 };

	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART: waits end on EINTR */
	reports = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (reports == MAP_FAILED)
		bail_out("mmap: %s", strerror(errno));
	srandom((unsigned int)getpid());
	plan((2 * READ_WAYS + 2) * 3);

	for (int phase = 0; phase < 2 * READ_WAYS + 2; phase++) {
		/* The last two: large records, consumed in place. */
		int way = phase < 2 * READ_WAYS ? phase / 2 : READ_IN_PLACE;
		const char *how;
		char name[64];
		struct shmring *ctl, *r;
		struct check c = { 0 };
		struct shmring_info info;
		uint64_t waits = 0, lost = 0, idle = 0, total;
		pid_t pids[WRITERS];
		int ret, st, failed = 0;

		blocking_only = phase & 1;
		big = phase >= 2 * READ_WAYS;
		how = big ? (blocking_only ? "blocking writers of 1-3 KiB records" :
			     "mixed writers of 1-3 KiB records") :
		      blocking_only ? "blocking writers" : "mixed writers";
		snprintf(name, sizeof(name), "t_herd.%d.%d", phase, (int)getpid());
		memset(reports, 0, 4096);
		a.data_size = big ? 16384 : 4096;
		a.policy = SHMRING_POLICY_LOSSLESS;
		if (shmring_open(name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
				 0600, &a, &ctl))
			bail_out("create %s", name);
		/* The reader attaches first: writers wait for it from the start. */
		if (open_reader(name, &r))
			bail_out("open reader");
		for (int w = 0; w < WRITERS; w++) {
			pids[w] = fork();
			if (pids[w] == 0) {
				shmring_close(r);
				shmring_close(ctl);
				/* They end one after the other: the last ones alone. */
				writer(name, (uint32_t)w, n * (uint64_t)(w + 1) / WRITERS);
			}
		}
		total = n * (WRITERS + 1) / 2;	/* n/4 + 2n/4 + 3n/4 + n */
		ret = reader(name, (enum reader_way)way, total, &c, r);
		if (ret) {
			for (int w = 0; w < WRITERS; w++)
				kill(pids[w], SIGKILL);
		}
		for (int w = 0; w < WRITERS; w++) {
			if (waitpid(pids[w], &st, 0) < 0 || !WIFEXITED(st) ||
			    WEXITSTATUS(st)) {
				failed++;
				fprintf(stderr, "writer %d: status %#x err %d\n", w, st,
					reports[w].err);
			}
			waits += reports[w].waits;
			lost += reports[w].lost;
			idle += reports[w].idle;
		}
		if (shmring_info(ctl, &info))
			memset(&info, 0, sizeof(info));
		ok(ret == 0 && failed == 0 && c.got == total && c.bad == 0,
		   "%s, %s: %llu records from %d writers, all arrived in order once (%llu, %llu bad)",
		   way_name[way], how, (unsigned long long)total, WRITERS,
		   (unsigned long long)c.got, (unsigned long long)c.bad);
		ok(lost == 0, "%s, %s: no writer slept with room for its record (%llu lost of %llu waits, %llu idle alarms)",
		   way_name[way], how, (unsigned long long)lost,
		   (unsigned long long)waits, (unsigned long long)idle);
		/* The hunt only counts if writers really waited, many at once. */
		ok(info.writer_waits >= total / 20,
		   "%s, %s: writers waited %llu times in the kernel (of %llu writes)",
		   way_name[way], how, (unsigned long long)info.writer_waits,
		   (unsigned long long)total);
		all_waits += info.writer_waits;
		all_lost += lost;
		shmring_close(ctl);
		shmring_unlink(name);
	}
	diag("writer waits in the kernel: %llu (lost: %llu)",
	     (unsigned long long)all_waits, (unsigned long long)all_lost);
	return done_testing();
}
