// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile reader: the reader page is mapped read-write into the reader's
 * process, and the kernel reads it (flow control, read(2), wakeups,
 * /proc) and, since SHMRING_FEAT_LAP, swaps pos in it under ring->lock,
 * retrying while pos moves forward. Whatever a reader writes there, the
 * kernel must stay safe and every other reader unaffected (docs/design.md,
 * "Untrusted reader pages", "Counting losses").
 *
 *   1  overwrite ring: threads of a hostile reader and of a hostile tap
 *      rewrite pos (random, backwards, two values in turn, past head,
 *      unaligned, SHMRING_POS_LAPPED set by the reader, creeping forward,
 *      mid-record, 0/~0/TXN_NONE) and every other field while a writer
 *      laps them: the writer writes in every 100 ms (windows in which the
 *      monitor kept the writer's CPU), an honest mmap reader
 *      and a read(2) reader get every record intact and in order or count
 *      it lost (read + lost = written), the ring's records_lost covers
 *      theirs, a ring beside it counts exactly, /proc/shmring stays
 *      readable;
 *   2  the lap loop: a pos that creeps forward 2 bytes per store (so a
 *      swap that loses sees a "higher" position and retries): no write
 *      takes long, and the loop passes at most once more than the
 *      records reclaimed; the passes are counted
 *      through lap_from, which the kernel stores before each swap;
 *   3  lossless ring: a pos scribbled past head is clamped (the writer is
 *      never stuck), a hostile tap holds nothing, a pos scribbled behind
 *      the tail holds the writer as a slow reader would until the reader
 *      goes; the honest reader and the ring lose nothing; with every mode
 *      (mid-record, moved back after the writer looked) the honest reader
 *      still loses nothing;
 *   4  the hostile reader's own read(2), READ_COMMIT + COMMIT, SEEK, INFO
 *      and poll while its threads scribble: whole records or EINVAL/
 *      EAGAIN/EMSGSIZE, COMMIT 0 or ESTALE (EINVAL without READ_COMMIT),
 *      every call bounded, the writer and an honest reader unaffected;
 *   5  read(2) while the page is rewritten behind the tail at every store,
 *      by its own thread that also drops the buffer (each copy faults) and
 *      from another process: it returns, and SIGKILL ends its caller;
 *   6  a durable subscription scribbled and SIGKILLed, lapped detached,
 *      then attached by an honest reader: attach works, peek returns a
 *      record, -EAGAIN or -EBADMSG and never loops, SEEK recovers,
 *      consumes move the counters by what they consumed;
 *   7  poll and epoll (level, edge) on the scribbled fd return within
 *      their timeout, and commits cost no more when it polls;
 *   8  the mappings cannot be widened (ring writable, reader page grown),
 *      and a page shared by fork keeps the cursor until the last mapping.
 *
 * Writer and monitor run on CPU 0, hostile threads on CPU 1 (pin()).
 *
 * usage: t_hostile [seconds per streaming phase] (default 0.6; about 8
 * phases). T_HOSTILE_CASES=25 runs cases 2 and 5 only; T_HOSTILE_EXP=MODE
 * (an S_* number, -1 all) measures writes beside one scribbling mode.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

static double secs = 0.6;

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define ADD(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_RELAXED)

#define MS	1000000ULL

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
			       .tv_nsec = (long)(ns % 1000000000ULL) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint64_t phase_ns(double f)
{
	return (uint64_t)(secs * f * 1e9);
}

/*
 * The writer and the monitor that judges it run on CPU 0, everything
 * hostile (and the honest readers of overwrite rings) on CPU 1: the
 * writer's CPU is not shared with busy threads, so a stall is the
 * kernel's (or the host's: then the monitor, on the same CPU, is kept
 * off it and the window is not judged), and the hostile threads race the
 * kernel from the other CPU.
 */
static int ncpus;

static void pin(int cpu)
{
	cpu_set_t set;

	if (ncpus < 2)
		return;
	CPU_ZERO(&set);
	if (cpu < 0) {		/* any */
		CPU_SET(0, &set);
		CPU_SET(1, &set);
	} else {
		CPU_SET(cpu, &set);
	}
	sched_setaffinity(0, sizeof(set), &set);	/* this thread */
}

/* ---- records --------------------------------------------------------------
 * Record n (its sequence number: one writer per ring, from 0) has
 * rec_len(n) bytes, a multiple of 8, every payload word rec_word(n). The
 * low half of each word is 0xffffffff, so a "header" read at an aligned
 * position inside a payload has len > max_record and is refused.
 */
#define REC_TYPE	7

static uint32_t rec_len(uint64_t seq)
{
	return 8u * (1u + (uint32_t)((seq * 2654435761ULL) >> 9) % 48u);
}

static uint64_t rec_word(uint64_t seq)
{
	return (seq << 32) | 0xffffffffULL;
}

static void rec_fill(uint64_t *buf, uint64_t seq, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len / 8; i++)
		buf[i] = rec_word(seq);
}

static int rec_intact(const void *payload, uint32_t len, uint32_t type,
		      uint64_t seq)
{
	uint64_t w;
	uint32_t i;

	if (len != rec_len(seq) || type != REC_TYPE)
		return 0;
	for (i = 0; i < len / 8; i++) {
		memcpy(&w, (const char *)payload + 8 * i, 8);
		if (w != rec_word(seq))
			return 0;
	}
	return 1;
}

static struct shmring *create(const char *name, uint64_t size, uint32_t policy,
			      uint32_t max_record)
{
	struct shmring_attr a = { .data_size = size, .policy = policy,
				  .max_record = max_record };
	struct shmring *w;
	int ret;

	shmring_unlink(name);
	ret = shmring_open(name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE |
			   SHMRING_O_NONBLOCK, 0644, &a, &w);
	if (ret)
		bail_out("create %s: %s", name, shmring_strerror(ret));
	return w;
}

static struct shmring *reader(const char *name)
{
	struct shmring *r;
	int ret = shmring_open(name, SHMRING_O_READ, 0, NULL, &r);

	if (ret)
		bail_out("open %s for reading: %s", name, shmring_strerror(ret));
	return r;
}

static void info_of(int fd, struct shmring_info *in)
{
	memset(in, 0, sizeof(*in));
	in->size = sizeof(*in);
	if (xioctl(fd, SHMRING_IOC_INFO, in))
		bail_out("INFO: %s", strerror(errno));
}

/* ---- a reader's own mappings ---------------------------------------------- */

struct pages {
	struct shmring_reader *rp;	/* the reader page, read-write */
	const struct shmring_hdr *hdr;	/* the ring, read-only */
	const unsigned char *data;
	uint64_t data_size;
	uint32_t max_record;
};

static int map_pages(int fd, struct pages *p)
{
	struct shmring_info in;
	void *m;

	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	if (xioctl(fd, SHMRING_IOC_INFO, &in))
		return -1;
	m = mmap(NULL, in.page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)in.map_reader_off);
	if (m == MAP_FAILED)
		return -1;
	p->rp = m;
	m = mmap(NULL, in.map_ring_len, PROT_READ, MAP_SHARED, fd, (off_t)in.map_ring_off);
	if (m == MAP_FAILED)
		return -1;
	p->hdr = m;
	p->data = (const unsigned char *)m + in.page_size;
	p->data_size = in.attr.data_size;
	p->max_record = in.attr.max_record;
	return 0;
}

/* ---- scribblers ------------------------------------------------------------ */

enum {
	S_RANDOM,	/* any 64-bit value */
	S_BACK,		/* from the tail backwards */
	S_ALT,		/* two values in turn */
	S_PAST_HEAD,	/* beyond head, near and far */
	S_UNALIGNED,	/* inside [tail, head], not 8-aligned */
	S_LAPPED,	/* SHMRING_POS_LAPPED set by the reader */
	S_CREEP,	/* forward from the tail, 2 bytes per store */
	S_INSIDE,	/* 8-aligned inside [tail, head]: mid-record headers */
	S_SPECIAL,	/* 0, ~0, TXN_NONE, 2^63, tail, head */
	S_NMODES,
	S_BEHIND,	/* (only) always behind the tail: holds a lossless writer */
	S_AHEAD,	/* (only) always past head, LAPPED or not */
	S_CREEP_ONLY,	/* (only) S_CREEP with a long stride (case 2) */
	S_FIELDS_ONLY,	/* (only) every field but pos, modes in turn */
};

struct scribbler {
	struct pages *pg;
	uint64_t *stop;		/* shared */
	uint64_t *stores;	/* shared, added to at the end */
	uint64_t *passes;	/* shared: S_CREEP_ONLY's most lap passes */
	int fields;		/* 0: pos; 1: every other field of the page */
	int only;		/* -1: change mode every 256 stores */
	uint64_t seed;
	pthread_t th;
};

static uint64_t pos_value(struct scribbler *s, int mode, uint64_t *seed,
			  uint64_t *k, uint64_t *a, uint64_t *b)
{
	const struct shmring_hdr *hdr = s->pg->hdr;
	uint64_t tail = LOAD(&hdr->tail), head = LOAD(&hdr->head);
	uint64_t span = head - tail + 1, r = rnd(seed);
	static const uint64_t special[] = {
		0, ~0ULL, SHMRING_TXN_NONE, 1ULL << 63, (1ULL << 63) | 1, 1, 8,
	};

	switch (mode) {
	case S_RANDOM:
		return r;
	case S_BACK:
		*k += 8;
		return tail - *k;
	case S_ALT:
		return (++*k & 1) ? *a : *b;
	case S_PAST_HEAD:
		return head + 8 + (r % 4 == 0 ? r : r % 65536);
	case S_UNALIGNED:
		return (tail + r % span) | 1 | (r >> 62 ? 2 : 4);
	case S_LAPPED:
		return (r & 1 ? tail - 8 * (r % 64) : tail + 8 * (r % (span / 8 + 1))) | 1;
	case S_CREEP:
	case S_CREEP_ONLY:
		/* A new tail: start again just past it (the kernel's old_tail). */
		if (tail != *a) {
			*a = tail;
			*k = 0;
		}
		*k += 2;
		if (*k >= *b)
			*k = 2;
		return tail + *k;
	case S_INSIDE:
		return (tail + r % span) & ~7ULL;
	case S_BEHIND:
		return tail - 8 - 8 * (r % 4096);
	case S_AHEAD:
		return (head + 8 + 8 * (r % 4096)) | (r >> 63);
	default:
		r %= sizeof(special) / sizeof(special[0]) + 2;
		if (r < sizeof(special) / sizeof(special[0]))
			return special[r];
		return r & 1 ? tail : head;
	}
}

/*
 * Case 2's creeper: pos = tail + k, k += 2 at each store, from the
 * published tail (the kernel's old_tail while it laps: the new tail is
 * published after). Before each swap the kernel stores lap_from = the
 * pos it loaded, so each new lap_from in our range is one more pass of
 * its loop; the most passes one lap took goes to *passes.
 */
static void creep(struct scribbler *s)
{
	const struct shmring_hdr *hdr = s->pg->hdr;
	struct shmring_reader *rp = s->pg->rp;
	uint64_t span = s->pg->data_size / 4, base = LOAD(&hdr->tail), k = 0, n = 0;
	uint64_t lf, last = LOAD(&rp->lap_from), passes = 0, t;

	while (!LOAD(s->stop)) {
		t = LOAD(&hdr->tail);
		if (t != base) {
			if (s->passes && passes > LOAD(s->passes))
				STORE(s->passes, passes);
			base = t;
			k = 0;
			passes = 0;
		}
		lf = LOAD(&rp->lap_from);
		if (lf != last) {
			last = lf;
			passes += lf - base < span;
		}
		k += 2;
		if (k >= span)
			k = 2;
		STORE(&rp->pos, base + k);
		n++;
	}
	ADD(s->stores, n);
}

static void *scribble(void *arg)
{
	struct scribbler *s = arg;
	struct shmring_reader *rp = s->pg->rp;
	uint64_t seed = s->seed | 1, n = 0, k = 0, a = 0, b = 0, v;
	int mode = s->only >= 0 ? s->only : S_RANDOM;

	if (mode == S_CREEP_ONLY) {
		creep(s);
		return NULL;
	}
	a = LOAD(&s->pg->hdr->tail);
	b = LOAD(&s->pg->hdr->head);
	if (mode == S_CREEP)
		b = 4096;
	while (!LOAD(s->stop)) {
		if (s->only < 0 && (n & 255) == 0) {
			mode = (int)(rnd(&seed) % S_NMODES);
			k = 0;
			a = LOAD(&s->pg->hdr->tail);
			b = mode == S_CREEP ? 4096 : LOAD(&s->pg->hdr->head);
			if (mode == S_ALT && (rnd(&seed) & 1))
				a = rnd(&seed);
		}
		v = pos_value(s, mode, &seed, &k, &a, &b);
		if (!s->fields) {
			STORE(&rp->pos, v);
		} else {
			/*
			 * Every word after pos: seq, last_read_ns, records_read,
			 * records_lost, txn_pos, txn_seq, txn_read, txn_lost,
			 * lap_from, __reserved[6].
			 */
			uint64_t *w = (uint64_t *)(void *)rp;
			unsigned int i = 1 + (unsigned int)(rnd(&seed) % 15);

			if (i == 5 && (n & 1))
				v = LOAD(&rp->pos);	/* txn_pos == pos: "committed" */
			if (i == 9 && (n & 1))
				v = LOAD(&rp->txn_pos);	/* lap_from == txn_pos */
			STORE(&w[i], v);
		}
		n++;
	}
	ADD(s->stores, n);
	return NULL;
}

static void start_scribblers(struct scribbler *s, int n, struct pages *pg,
			     uint64_t *stop, uint64_t *stores, uint64_t *passes,
			     int only, uint64_t seed)
{
	int i;

	for (i = 0; i < n; i++) {
		s[i].pg = pg;
		s[i].stop = stop;
		s[i].stores = stores;
		s[i].passes = passes;
		/* The second of two scribbles the other fields (unless creeping). */
		s[i].fields = (only < 0 && i % 2 == 1) || only == S_FIELDS_ONLY;
		s[i].only = only == S_FIELDS_ONLY ? -1 : only;
		s[i].seed = seed * 7919 + (uint64_t)i + 1;
		if (pthread_create(&s[i].th, NULL, scribble, &s[i]))
			bail_out("pthread_create");
	}
}

static void join_scribblers(struct scribbler *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		pthread_join(s[i].th, NULL);
}

/* ---- a hostile reader process --------------------------------------------- */

/* Shared with a hostile child (MAP_SHARED anonymous). */
struct hctl {
	uint64_t ready;
	uint64_t joined;	/* its threads ended after stop */
	uint64_t stop;		/* its threads stop */
	uint64_t stores;
	uint64_t passes;	/* S_CREEP_ONLY: the most passes of one lap seen */
	uint64_t calls;		/* system calls it made */
	uint64_t max_call_ns;	/* longest of them */
	uint64_t bad;		/* results outside what is allowed */
	uint64_t einval, eagain, estale, records, bytes;
	uint64_t polls, poll_max_ns;
	int errno_bad;		/* the first unexpected errno */
	char what[96];		/* what it was */
};

static struct hctl *hctl_new(void)
{
	struct hctl *c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (c == MAP_FAILED)
		bail_out("mmap: %s", strerror(errno));
	memset(c, 0, sizeof(*c));
	return c;
}

static void hctl_bad(struct hctl *c, const char *what, int err)
{
	if (!ADD(&c->bad, 1) - 1) {
		c->errno_bad = err;
		snprintf(c->what, sizeof(c->what), "%s", what);
	}
}

static void call_took(struct hctl *c, uint64_t t0)
{
	uint64_t t = now_mono_ns() - t0;

	ADD(&c->calls, 1);
	if (t > LOAD(&c->max_call_ns))
		STORE(&c->max_call_ns, t);
}

/* What the hostile process does besides scribbling. */
enum { H_IDLE, H_SYSCALLS, H_POLL };

/*
 * Whole records, framed: each a valid length within what was returned.
 * (At a scribbled position the kernel may frame bytes that are not a
 * record, inside the ring the reader may read anyway: only the framing
 * is the kernel's promise there.)
 */
static int framed(const unsigned char *buf, size_t n, uint32_t max_record,
		  uint64_t *recs)
{
	struct shmring_rec h;
	size_t off = 0;

	while (off < n) {
		if (n - off < sizeof(h))
			return 0;
		memcpy(&h, buf + off, sizeof(h));
		if (h.len > max_record || SHMRING_REC_TOTAL(h.len) > n - off)
			return 0;
		off += SHMRING_REC_TOTAL(h.len);
		(*recs)++;
	}
	return 1;
}

/* The hostile reader's own calls, while its threads scribble (case 4). */
static void hostile_syscalls(int fd, struct pages *pg, struct hctl *c)
{
	static unsigned char buf[16384];
	uint64_t seed = (uint64_t)getpid(), t0, r;
	struct shmring_opt opt = { .size = sizeof(opt), .opt = SHMRING_OPT_READ_COMMIT };
	struct shmring_seek sk;
	struct shmring_info in;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int manual = 0, ret;
	ssize_t n;

	while (!LOAD(&c->stop)) {
		r = rnd(&seed) % 17;
		t0 = now_mono_ns();
		if (r < 8) {
			n = read(fd, buf, r < 2 ? 64 : r < 4 ? 2048 : sizeof(buf));
			call_took(c, t0);
			if (n > 0) {
				uint64_t recs = 0;

				if (!framed(buf, (size_t)n, pg->max_record, &recs))
					hctl_bad(c, "read(2) returned bytes that are not whole records", 0);
				ADD(&c->records, recs);
				ADD(&c->bytes, (uint64_t)n);
			} else if (n == 0) {
				hctl_bad(c, "read(2) returned 0 on a live ring", 0);
			} else if (errno == EINVAL) {
				ADD(&c->einval, 1);
			} else if (errno == EAGAIN) {
				ADD(&c->eagain, 1);
			} else if (errno != EMSGSIZE) {
				hctl_bad(c, "read(2)", errno);
			}
		} else if (r < 11) {
			ret = xioctl(fd, SHMRING_IOC_COMMIT, NULL);
			call_took(c, t0);
			if (ret == -ESTALE)
				ADD(&c->estale, 1);
			else if (ret == -EINVAL && !manual)
				ADD(&c->einval, 1);
			else if (ret)
				hctl_bad(c, manual ? "COMMIT with READ_COMMIT on" :
					 "COMMIT with READ_COMMIT off", -ret);
		} else if (r == 11) {
			manual = !manual;
			opt.val = (uint64_t)manual;
			ret = xioctl(fd, SHMRING_IOC_SET_OPT, &opt);
			call_took(c, t0);
			if (ret)
				hctl_bad(c, "SET_OPT READ_COMMIT", -ret);
		} else if (r == 12) {
			memset(&sk, 0, sizeof(sk));
			sk.size = sizeof(sk);
			sk.whence = (uint32_t)(rnd(&seed) % 5);	/* 4: EINVAL */
			sk.val = sk.whence == SHMRING_SEEK_SEQ ?
				 LOAD(&pg->hdr->head_seq) - rnd(&seed) % 64 : rnd(&seed);
			ret = xioctl(fd, SHMRING_IOC_SEEK, &sk);
			call_took(c, t0);
			if (ret && !(ret == -EINVAL && sk.whence == 4) &&
			    !(ret == -ENOENT && sk.whence == SHMRING_SEEK_SEQ))
				hctl_bad(c, "SEEK", -ret);
		} else if (r == 13) {
			memset(&in, 0, sizeof(in));
			in.size = sizeof(in);
			ret = xioctl(fd, SHMRING_IOC_INFO, &in);
			call_took(c, t0);
			if (ret)
				hctl_bad(c, "INFO", -ret);
		} else if (r == 14) {
			ret = xioctl(fd, SHMRING_IOC_KICK, NULL);
			call_took(c, t0);
			if (ret)
				hctl_bad(c, "KICK", -ret);
		} else {
			ret = poll(&pfd, 1, 1);
			call_took(c, t0);
			if (ret < 0)
				hctl_bad(c, "poll", errno);
		}
	}
}

/* poll() and epoll (level and edge) on the hostile fd, 20 ms each (case 7). */
static void hostile_poll(int fd, struct hctl *c)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int lt = epoll_create1(EPOLL_CLOEXEC), et = epoll_create1(EPOLL_CLOEXEC);
	uint64_t t0, t, i = 0;
	int ret;

	if (lt < 0 || et < 0 || epoll_ctl(lt, EPOLL_CTL_ADD, fd, &ev))
		_exit(5);
	ev.events = EPOLLIN | EPOLLET;
	if (epoll_ctl(et, EPOLL_CTL_ADD, fd, &ev))
		_exit(5);
	while (!LOAD(&c->stop)) {
		t0 = now_mono_ns();
		switch (i++ % 3) {
		case 0:
			ret = poll(&pfd, 1, 20);
			break;
		case 1:
			ret = epoll_wait(lt, &out, 1, 20);
			break;
		default:
			ret = epoll_wait(et, &out, 1, 20);
			break;
		}
		t = now_mono_ns() - t0;
		if (ret < 0 && errno != EINTR)
			hctl_bad(c, "poll/epoll_wait", errno);
		ADD(&c->polls, 1);
		if (t > LOAD(&c->poll_max_ns))
			STORE(&c->poll_max_ns, t);
	}
}

/*
 * Fork a hostile reader of @ring (open flags @oflags: READ, maybe TAP):
 * @nthreads scribblers (mode @only, or every mode in turn), and the main
 * thread doing @what. Returns once it is scribbling.
 */
static pid_t start_hostile(const char *ring, unsigned int oflags, int nthreads,
			   int only, int what, struct hctl *c)
{
	pid_t pid;
	uint64_t end;

	STORE(&c->ready, 0);
	STORE(&c->joined, 0);
	STORE(&c->stop, 0);
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (!pid) {
		struct scribbler s[4];
		struct pages pg;
		int fd;

		pin(1);		/* its threads inherit it */
		fd = raw_open(ring, oflags, 0, 0);

		if (fd < 0 || map_pages(fd, &pg))
			_exit(2);
		if (what == H_SYSCALLS && fcntl(fd, F_SETFL, O_NONBLOCK))
			_exit(2);
		start_scribblers(s, nthreads, &pg, &c->stop, &c->stores, &c->passes, only,
				 (uint64_t)getpid());
		STORE(&c->ready, 1);
		if (what == H_SYSCALLS)
			hostile_syscalls(fd, &pg, c);
		else if (what == H_POLL)
			hostile_poll(fd, c);
		join_scribblers(s, nthreads);
		STORE(&c->joined, 1);
		for (;;)
			pause();	/* killed by the test */
	}
	end = now_mono_ns() + 10000 * MS;
	while (!LOAD(&c->ready)) {
		if (now_mono_ns() > end || waitpid(pid, NULL, WNOHANG) == pid)
			bail_out("hostile reader of %s did not start", ring);
		usleep(1000);
	}
	return pid;
}

/*
 * Stop a hostile child's threads, give it @ms to finish its calls (its
 * counts are final then), then SIGKILL it. Returns 1 if it was still
 * alive and died of our SIGKILL (not of a fault of its own).
 */
static int stop_hostile(pid_t pid, struct hctl *c, int ms)
{
	int st = 0, i;

	STORE(&c->stop, 1);
	for (i = 0; i < ms && !LOAD(&c->joined); i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return 0;	/* it exited by itself: a failure */
		usleep(1000);
	}
	kill(pid, SIGKILL);
	if (waitpid(pid, &st, 0) != pid)
		return 0;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* ---- the writer ------------------------------------------------------------ */

struct writer {
	struct shmring *w[2];
	int nw;
	uint32_t fixed_len;	/* 0: rec_len(seq) */
	uint64_t n;		/* atomic: records written (to each ring) */
	uint64_t stop;		/* atomic */
	uint64_t max_ns;	/* the longest successful write */
	uint64_t sum_ns;	/* all successful writes */
	uint64_t *lat;		/* if set: each write's time, up to nlat */
	uint64_t nlat;
	uint64_t slow10, slow100;	/* writes over 10 ms, over 100 ms */
	uint64_t eagain;
	int err;
	int tid;		/* atomic: the writer thread, once it runs */
	pthread_t th;
};

static void *writer_run(void *arg)
{
	struct writer *wr = arg;
	uint64_t *buf = calloc(1, wr->fixed_len ? wr->fixed_len : 512), t0, t;
	uint32_t len;
	int i, ret;

	if (!buf)
		bail_out("calloc");
	pin(0);
	STORE(&wr->tid, (int)syscall(SYS_gettid));
	while (!LOAD(&wr->stop)) {
		uint64_t seq = LOAD(&wr->n);

		len = wr->fixed_len ? wr->fixed_len : rec_len(seq);
		if (!wr->fixed_len)
			rec_fill(buf, seq, len);
		for (i = 0; i < wr->nw; i++) {
			for (;;) {
				t0 = now_mono_ns();
				ret = shmring_write(wr->w[i], REC_TYPE, buf, len);
				t = now_mono_ns() - t0;
				if (ret != -EAGAIN)
					break;
				/* Lossless and full: wait for room, or for the end. */
				wr->eagain++;
				if (LOAD(&wr->stop))
					goto out;
				{
					struct pollfd p = { .fd = shmring_fd(wr->w[i]),
							    .events = POLLOUT };

					poll(&p, 1, 10);
				}
			}
			if (ret != (int)len) {
				wr->err = ret;
				goto out;
			}
			if (t > wr->max_ns)
				wr->max_ns = t;
			wr->sum_ns += t;
			wr->slow10 += t > 10 * MS;
			wr->slow100 += t > 100 * MS;
			if (wr->lat && LOAD(&wr->n) < wr->nlat)
				wr->lat[LOAD(&wr->n)] = t;
		}
		ADD(&wr->n, 1);
	}
out:
	free(buf);
	return NULL;
}

static void start_writer(struct writer *wr)
{
	STORE(&wr->stop, 0);
	if (pthread_create(&wr->th, NULL, writer_run, wr))
		bail_out("pthread_create");
}

static void stop_writer(struct writer *wr)
{
	STORE(&wr->stop, 1);
	pthread_join(wr->th, NULL);
}

/*
 * Progress every 100 ms: samples the writer's count every 5 ms, on the
 * writer's CPU. A window without a write fails if the writer slept in it
 * (held) or used the CPU (spun); windows in which the monitor itself was
 * kept off the CPU for more than 25 ms ("late": the host did not run the
 * guest's CPU, or the kernel spun there, see check_progress()) or in
 * which the writer was runnable and not run ("unrun") are not judged.
 * Reads /proc/shmring at the end of each window.
 */
struct monitor {
	struct writer *wr;
	const char *ring;	/* its line must be in /proc/shmring */
	uint64_t stop;
	uint64_t windows, empty, late, unrun, proc_reads, proc_bad;
	uint64_t max_still_ns;	/* longest time the count stood still */
	pthread_t th;
};

/* 'R', 'S', 'D'... of a thread of ours; 0 if unknown. */
static char thread_state(int tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* CPU time a thread of ours has used (the kernel's per-thread clock). */
static uint64_t thread_cpu_ns(int tid)
{
	clockid_t clk = (clockid_t)((~(unsigned int)tid << 3) | 6);	/* CPUCLOCK_SCHED */
	struct timespec ts;

	if (!tid || clock_gettime(clk, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int proc_has_ring(const char *ring)
{
	char line[1024], key[96];
	FILE *f = fopen("/proc/shmring", "r");
	int found = 0;

	if (!f)
		return 0;
	snprintf(key, sizeof(key), "ring %s ", ring);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			found = 1;
	if (ferror(f))
		found = 0;
	fclose(f);
	return found;
}

static void *monitor_run(void *arg)
{
	struct monitor *m = arg;
	uint64_t now = now_mono_ns(), last = LOAD(&m->wr->n), c, next = now + 5 * MS;
	uint64_t moved = now, prev = now, win = now, gap = 0, cpu0 = 0, cpu;
	int progress = 0, slept = 0, tid = 0;
	char st;
	struct timespec ts;

	pin(0);
	while (!LOAD(&m->stop)) {
		ts.tv_sec = (time_t)(next / 1000000000ULL);
		ts.tv_nsec = (long)(next % 1000000000ULL);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		now = now_mono_ns();
		/* The longest the monitor itself was kept off CPU 0. */
		if (now - prev > gap)
			gap = now - prev;
		prev = now;
		if (!tid && (tid = LOAD(&m->wr->tid)))
			cpu0 = thread_cpu_ns(tid);
		c = LOAD(&m->wr->n);
		if (c != last) {
			moved = now;
			progress = 1;
			last = c;
		} else {
			if (now - moved > m->max_still_ns)
				m->max_still_ns = now - moved;
			/* Standing still: asleep (held) or waiting for the CPU? */
			st = tid ? thread_state(tid) : 0;
			slept |= st == 'S' || st == 'D';
		}
		next = now + 5 * MS;
		if (now - win < 100 * MS)
			continue;
		/*
		 * A window ends. Not judged: the monitor was kept off CPU 0
		 * (the host stopped it, or the kernel spun there), or the
		 * writer neither slept nor used the CPU (runnable, not run).
		 */
		cpu = thread_cpu_ns(tid);
		if (gap > 25 * MS) {
			m->late++;
		} else if (!progress && !slept && cpu - cpu0 < 50 * MS) {
			m->unrun++;
		} else {
			m->empty += !progress;
			ADD(&m->windows, 1);
		}
		win = now;
		gap = 0;
		progress = 0;
		slept = 0;
		cpu0 = cpu;
		if (m->ring) {
			m->proc_reads++;
			if (!proc_has_ring(m->ring))
				m->proc_bad++;
		}
		prev = now_mono_ns();
	}
	return NULL;
}

static void start_monitor(struct monitor *m, struct writer *wr, const char *ring)
{
	memset(m, 0, sizeof(*m));
	m->wr = wr;
	m->ring = ring;
	if (pthread_create(&m->th, NULL, monitor_run, m))
		bail_out("pthread_create");
}

/*
 * Let a monitored phase run @ns, and on until the monitor judged @want
 * windows (a noisy host leaves windows unjudged), at most 5 times @ns.
 */
static void run_monitored(struct monitor *m, uint64_t ns, uint64_t want)
{
	uint64_t end = now_mono_ns() + 5 * ns;

	sleep_ns(ns);
	while (LOAD(&m->windows) < want && now_mono_ns() < end)
		sleep_ns(50 * MS);
}

static void stop_monitor(struct monitor *m)
{
	STORE(&m->stop, 1);
	pthread_join(m->th, NULL);
}

/* ---- honest readers -------------------------------------------------------- */

struct honest {
	int cpu;
	struct shmring *r;	/* libshmring peek/consume */
	int fd;			/* or read(2) on this fd (O_NONBLOCK) */
	uint32_t max_record;
	uint64_t *stop;		/* the writer has stopped: drain, then end */
	uint64_t read, lost, stale, bad, disorder, next;
	int err;
	pthread_t th;
};

static void *honest_mmap(void *arg)
{
	struct honest *h = arg;
	struct shmring_record rec;
	int ret, intact;

	pin(h->cpu);
	for (;;) {
		/* Stopped before we found it drained: drained for good. */
		int fin = (int)LOAD(h->stop);

		ret = shmring_peek(h->r, &rec);
		if (ret == -EAGAIN) {
			if (fin)
				break;
			shmring_wait(h->r, 20);
			continue;
		}
		if (ret) {
			h->err = ret;
			break;
		}
		if (rec.seq < h->next)
			h->disorder++;
		intact = rec_intact(rec.data, rec.len, rec.type, rec.seq);
		ret = shmring_consume(h->r);
		if (ret == 0) {
			h->read++;
			if (!intact)
				h->bad++;	/* consumed, so it was not overwritten */
		} else if (ret == -ESTALE) {
			h->stale++;
		} else {
			h->err = ret;
			break;
		}
		h->next = rec.seq + 1;
	}
	h->lost = shmring_lost(h->r);
	return NULL;
}

static void *honest_read(void *arg)
{
	struct honest *h = arg;
	static __thread unsigned char buf[65536];
	struct pollfd p = { .fd = h->fd, .events = POLLIN };
	struct shmring_rec rec;
	ssize_t n;
	size_t off;

	pin(h->cpu);
	for (;;) {
		int fin = (int)LOAD(h->stop);

		n = read(h->fd, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN) {
			if (fin)
				break;
			poll(&p, 1, 20);
			continue;
		}
		if (n <= 0) {
			h->err = n ? -errno : -EIO;
			break;
		}
		/* read(2) copies only records that were intact after the copy. */
		for (off = 0; off < (size_t)n; off += SHMRING_REC_TOTAL(rec.len)) {
			memcpy(&rec, buf + off, sizeof(rec));
			if (SHMRING_REC_TOTAL(rec.len) > (size_t)n - off ||
			    rec.len > h->max_record) {
				h->bad++;
				break;
			}
			if (rec.seq < h->next)
				h->disorder++;
			else
				h->lost += rec.seq - h->next;
			if (!rec_intact(buf + off + sizeof(rec), rec.len, rec.type, rec.seq))
				h->bad++;
			h->read++;
			h->next = rec.seq + 1;
		}
	}
	return NULL;
}

static void start_honest(struct honest *h, struct shmring *r, int fd,
			 uint32_t max_record, uint64_t *stop, int cpu)
{
	memset(h, 0, sizeof(*h));
	h->cpu = cpu;
	h->r = r;
	h->fd = fd;
	h->max_record = max_record;
	h->stop = stop;
	if (pthread_create(&h->th, NULL, r ? honest_mmap : honest_read, h))
		bail_out("pthread_create");
}

static void check_honest(struct honest *h, const char *what, uint64_t written,
			 uint64_t ring_lost, int exact)
{
	pthread_join(h->th, NULL);
	ok(!h->err && !h->bad && !h->disorder && h->read + h->lost == written,
	   "%s: every record intact and in order, read %llu + lost %llu = written %llu (%llu held when lapped; err %d, bad %llu, disorder %llu)",
	   what, (unsigned long long)h->read, (unsigned long long)h->lost,
	   (unsigned long long)written, (unsigned long long)h->stale, h->err,
	   (unsigned long long)h->bad, (unsigned long long)h->disorder);
	if (exact)
		is_int(ring_lost, h->lost, "%s: the ring's records_lost is exactly its count", what);
	else
		ok(ring_lost >= h->lost,
		   "%s: the ring's records_lost %llu covers its %llu (union over cursors)",
		   what, (unsigned long long)ring_lost, (unsigned long long)h->lost);
}

static int ring_info(struct shmring *r, struct shmring_info *in)
{
	int ret = shmring_info(r, in);

	if (ret)
		bail_out("info: %s", shmring_strerror(ret));
	return 0;
}

/*
 * A writer that sleeps (held, a lost wakeup) shows as a window without a
 * write. One that spins in the kernel on its CPU delays the monitor too
 * (a late window, not judged), and shows in its longest write instead:
 * at most SPIN_MAX_MS, or SPIN_LATE_MS when the monitor also woke late
 * (the host did not run the guest's CPU: seen up to 350 ms here). On the
 * debug kernel beside make check's host checks a write took 356 ms with
 * no late window, so both are 1 s: a kernel that spins without bound
 * (the lap loop is bounded by the records reclaimed) takes far longer.
 */
#define SPIN_MAX_MS	1000
#define SPIN_LATE_MS	1000

static int spin_ok(const struct monitor *m, uint64_t max_ns)
{
	return max_ns < (m->late ? SPIN_LATE_MS : SPIN_MAX_MS) * MS;
}

static void check_progress(struct monitor *m, struct writer *wr, const char *what)
{
	ok(m->empty == 0 && m->windows > 0 && spin_ok(m, wr->max_ns),
	   "%s: the writer progressed in each of %llu 100 ms windows, no write took %d ms (%llu records, %llu empty, %llu late, %llu unrun; longest still %.1f ms, longest write %.1f ms)",
	   what, (unsigned long long)m->windows, m->late ? SPIN_LATE_MS : SPIN_MAX_MS,
	   (unsigned long long)LOAD(&wr->n), (unsigned long long)m->empty,
	   (unsigned long long)m->late, (unsigned long long)m->unrun,
	   m->max_still_ns / 1e6, wr->max_ns / 1e6);
}

/*
 * Lossless: the writer also waits for the honest reader, so it is judged
 * on never standing still for long (SPIN_LATE_MS) rather than per window.
 */
static void check_not_stuck(struct monitor *m, struct writer *wr, const char *what)
{
	ok(m->windows > 0 && m->max_still_ns < SPIN_LATE_MS * MS && spin_ok(m, wr->max_ns),
	   "%s: the writer never stood still for %d ms (%llu records; longest still %.1f ms, %llu of %llu windows empty, %llu EAGAIN; longest write %.1f ms)",
	   what, SPIN_LATE_MS, (unsigned long long)LOAD(&wr->n), m->max_still_ns / 1e6,
	   (unsigned long long)m->empty, (unsigned long long)m->windows,
	   (unsigned long long)wr->eagain, wr->max_ns / 1e6);
}

/* ---- 1: overwrite ring ----------------------------------------------------- */

static void test_overwrite(void)
{
	struct shmring *wa = create("t_hostile1", 65536, SHMRING_POLICY_OVERWRITE, 1024);
	struct shmring *wb = create("t_hostile1b", 65536, SHMRING_POLICY_OVERWRITE, 1024);
	struct shmring *ra = reader("t_hostile1"), *rb = reader("t_hostile1b");
	int fd = raw_open("t_hostile1", SHMRING_O_READ, 0, 0);
	struct hctl *c = hctl_new(), *ct = hctl_new();
	struct writer wr = { .w = { wa, wb }, .nw = 2 };
	struct honest hm, hr, hb;
	struct shmring_info ia, ib;
	struct monitor m;
	uint64_t stop = 0;
	pid_t hostile, tap;
	int killed, killed_tap;

	if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK))
		bail_out("read(2) reader: %s", strerror(-fd));
	/* A non-tap hostile reader and a hostile tap, two threads each. */
	hostile = start_hostile("t_hostile1", SHMRING_O_READ, 2, -1, H_IDLE, c);
	tap = start_hostile("t_hostile1", SHMRING_O_READ | SHMRING_O_TAP, 2, -1, H_IDLE, ct);
	start_honest(&hm, ra, -1, 1024, &stop, 1);
	start_honest(&hr, NULL, fd, 1024, &stop, 1);
	start_honest(&hb, rb, -1, 1024, &stop, 1);
	start_monitor(&m, &wr, "t_hostile1");
	start_writer(&wr);
	run_monitored(&m, phase_ns(1), 5);
	stop_writer(&wr);
	stop_monitor(&m);
	killed = stop_hostile(hostile, c, 2000);
	killed_tap = stop_hostile(tap, ct, 2000);
	STORE(&stop, 1);
	ring_info(ra, &ia);
	ring_info(rb, &ib);

	is_int(wr.err, 0, "1: every write succeeded");
	check_progress(&m, &wr, "1: overwrite, hostile reader and tap scribbling");
	ok(killed && killed_tap && LOAD(&c->stores) > 1000 && LOAD(&ct->stores) > 1000,
	   "1: the hostile processes scribbled (%llu and %llu stores) and died only of SIGKILL",
	   (unsigned long long)LOAD(&c->stores), (unsigned long long)LOAD(&ct->stores));
	ok(m.proc_reads > 0 && m.proc_bad == 0,
	   "1: /proc/shmring readable with the ring in it at each of %llu reads",
	   (unsigned long long)m.proc_reads);
	check_honest(&hm, "1: honest mmap reader", ia.records_written, ia.records_lost, 0);
	check_honest(&hr, "1: honest read(2) reader", ia.records_written, ia.records_lost, 0);
	check_honest(&hb, "1: honest reader of a ring beside it", ib.records_written,
		     ib.records_lost, 1);
	ok(ia.records_written == LOAD(&wr.n) && ia.head_seq == LOAD(&wr.n),
	   "1: the ring holds what the writer wrote (%llu)", (unsigned long long)LOAD(&wr.n));
	ok(proc_has_ring("t_hostile1"), "1: /proc/shmring readable after the hostile readers died");
	close(fd);
	shmring_close(ra);
	shmring_close(rb);
	shmring_close(wa);
	shmring_close(wb);
	shmring_unlink("t_hostile1");
	shmring_unlink("t_hostile1b");
	munmap(c, sizeof(*c));
	munmap(ct, sizeof(*ct));
}

/* ---- 2: the lap loop is bounded by records, not bytes ---------------------- */

/*
 * A 16 MiB ring, 4 MiB records: each write reclaims one record and laps
 * a reader that sits at the tail. An idle reader costs one swap per
 * write. A hostile reader whose pos creeps forward 2 bytes per store
 * (from the published tail, which is the kernel's old_tail while it
 * laps) makes every swap fail with a "higher" position. Design: the
 * loop is bounded by the records reclaimed (one here), so a write costs
 * what it costs beside an idle reader.
 */
#define LAP_RING	(16ULL << 20)

struct lap_stats {
	uint64_t writes, median_ns, max_ns, stores, passes;
	int killed;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The median write: the host stops the guest for up to 600 ms at times. */
static uint64_t median_of(uint64_t *v, uint64_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_u64);
	return v[n / 2];
}

static void lap_phase(const char *name, int hostile, struct lap_stats *st)
{
	struct shmring *w = create(name, LAP_RING, SHMRING_POLICY_OVERWRITE, 0);
	static uint64_t lat[4096];
	struct writer wr = { .w = { w }, .nw = 1,
			     .fixed_len = (uint32_t)(LAP_RING / 4 - 64),
			     .lat = lat, .nlat = 4096 };
	struct hctl *c = hctl_new();
	uint64_t n;
	pid_t pid;

	/* Either way a thread on the other CPU writes the page all the time. */
	pid = start_hostile(name, SHMRING_O_READ, 1, hostile ? S_CREEP_ONLY : S_FIELDS_ONLY,
			    H_IDLE, c);
	start_writer(&wr);
	sleep_ns(phase_ns(hostile ? 2 : 1));	/* more laps, more chances */
	stop_writer(&wr);
	st->killed = stop_hostile(pid, c, 2000);
	st->writes = LOAD(&wr.n);
	/* The median: a host hiccup of 100 ms in 20 writes does not move it. */
	n = st->writes < wr.nlat ? st->writes : wr.nlat;
	st->median_ns = median_of(lat, n);
	st->max_ns = wr.max_ns;
	st->stores = LOAD(&c->stores);
	st->passes = LOAD(&c->passes);
	if (wr.err)
		diag("%s: write: %s", name, shmring_strerror(wr.err));
	shmring_close(w);
	shmring_unlink(name);
	munmap(c, sizeof(*c));
}

static void test_lap_bound(void)
{
	struct lap_stats i, h;

	lap_phase("t_hostile2a", 0, &i);
	lap_phase("t_hostile2b", 1, &h);
	diag("2: 4 MiB writes lapping a reader that scribbles all but pos: %llu, median %.1f ms, longest %.1f ms; lapping one whose pos creeps (%llu stores): %llu, median %.1f ms, longest %.1f ms",
	     (unsigned long long)i.writes, i.median_ns / 1e6, i.max_ns / 1e6,
	     (unsigned long long)h.stores, (unsigned long long)h.writes,
	     h.median_ns / 1e6, h.max_ns / 1e6);
	/*
	 * An unaligned pos is overwritten at the first look (lap_from set
	 * to SHMRING_TXN_NONE, no pass counted), so passes may be 0.
	 */
	ok(i.killed && h.killed && h.writes > 0 && i.writes > 0,
	   "2: both hostile readers ran and died of SIGKILL, the writer wrote beside the creeping one");
	/*
	 * Each write reclaims one record, so an honest reader could make
	 * the loop retry once: the loop is bounded by the records
	 * reclaimed, and an unaligned pos is scribbled at once. Before
	 * that bound the loop retried while the position it found was
	 * higher by any number of bytes: 40 and 217 passes were seen.
	 */
	ok(h.passes <= 2,
	   "2: a pos creeping 2 bytes per store gets at most 2 passes of the lap loop for the one record a write reclaims (most seen: %llu)",
	   (unsigned long long)h.passes);
	ok(h.max_ns < SPIN_LATE_MS * MS,
	   "2: no write beside the creeping reader took %d ms (longest %.1f ms)",
	   SPIN_LATE_MS, h.max_ns / 1e6);
}

/* ---- 3: lossless ring ------------------------------------------------------ */

/* @expect_held: 0 never stuck, 1 held until the reader goes, 2 either. */
static void lossless_phase(const char *what, unsigned int oflags, int only,
			   int expect_held)
{
	static const char name[] = "t_hostile3";
	struct shmring *w = create(name, 16384, SHMRING_POLICY_LOSSLESS, 1024);
	struct shmring *r = reader(name);
	struct writer wr = { .w = { w }, .nw = 1 };
	struct hctl *c = hctl_new();
	struct shmring_info in;
	struct monitor m;
	struct honest h;
	uint64_t stop = 0, before, t0, resumed = 0;
	char d[160];
	int killed;
	pid_t pid;

	pid = start_hostile(name, oflags, 2, only, H_IDLE, c);
	/* Beside the writer: it is the one the lossless writer waits for. */
	start_honest(&h, r, -1, 1024, &stop, 0);
	start_monitor(&m, &wr, name);
	start_writer(&wr);
	run_monitored(&m, phase_ns(expect_held == 1 ? 0.5 : 1), expect_held == 1 ? 2 : 5);
	stop_monitor(&m);
	before = LOAD(&wr.n);
	/* The hostile reader goes: a writer it held resumes. */
	t0 = now_mono_ns();
	killed = stop_hostile(pid, c, 0);
	while (LOAD(&wr.n) < before + 100 && now_mono_ns() - t0 < 2000 * MS)
		usleep(1000);
	resumed = now_mono_ns() - t0;
	stop_writer(&wr);
	STORE(&stop, 1);
	ring_info(r, &in);
	is_int(wr.err, 0, "3 %s: every write succeeded or got EAGAIN", what);
	if (expect_held == 1) {
		ok(m.empty > 0,
		   "3 %s: held the writer as a slow reader would (%llu of %llu windows without a write, %llu EAGAIN)",
		   what, (unsigned long long)m.empty, (unsigned long long)m.windows,
		   (unsigned long long)wr.eagain);
	} else if (expect_held == 0) {
		snprintf(d, sizeof(d), "3 %s", what);
		check_not_stuck(&m, &wr, d);
	}
	ok(killed && LOAD(&wr.n) >= before + 100,
	   "3 %s: once the hostile reader is gone the writer goes on (100 records in %.1f ms)",
	   what, resumed / 1e6);
	snprintf(d, sizeof(d), "3 %s: honest reader", what);
	if (expect_held == 2) {
		/*
		 * A hostile cursor mid-record or moved back after the writer
		 * looked is lapped, and the ring counts what it lost (the
		 * union over cursors); the honest reader loses nothing.
		 */
		check_honest(&h, d, in.records_written, in.records_lost, 0);
		is_int(h.lost, 0, "3 %s: the honest reader of the lossless ring lost nothing (%llu written, %llu writer waits; ring lost %llu)",
		       what, (unsigned long long)in.records_written,
		       (unsigned long long)in.writer_waits,
		       (unsigned long long)in.records_lost);
	} else {
		check_honest(&h, d, in.records_written, in.records_lost, 1);
		is_int(in.records_lost, 0, "3 %s: the lossless ring lost nothing", what);
	}
	shmring_close(r);
	shmring_close(w);
	shmring_unlink(name);
	munmap(c, sizeof(*c));
}

static void test_lossless(void)
{
	lossless_phase("pos past head", SHMRING_O_READ, S_AHEAD, 0);
	lossless_phase("tap, every mode", SHMRING_O_READ | SHMRING_O_TAP, -1, 0);
	lossless_phase("pos behind tail", SHMRING_O_READ, S_BEHIND, 1);
	lossless_phase("every mode", SHMRING_O_READ, -1, 2);
}

/* ---- 4: the hostile reader's own calls ------------------------------------- */

static void test_own_calls(void)
{
	struct shmring *w = create("t_hostile4", 65536, SHMRING_POLICY_OVERWRITE, 1024);
	struct shmring *r = reader("t_hostile4");
	struct writer wr = { .w = { w }, .nw = 1 };
	struct hctl *c = hctl_new();
	struct shmring_info in;
	struct monitor m;
	struct honest h;
	uint64_t stop = 0;
	int killed;
	pid_t pid;

	pid = start_hostile("t_hostile4", SHMRING_O_READ, 2, -1, H_SYSCALLS, c);
	start_honest(&h, r, -1, 1024, &stop, 1);
	start_monitor(&m, &wr, "t_hostile4");
	start_writer(&wr);
	run_monitored(&m, phase_ns(1), 5);
	stop_writer(&wr);
	stop_monitor(&m);
	killed = stop_hostile(pid, c, 2000);
	STORE(&stop, 1);
	ring_info(r, &in);

	ok(killed, "4: the hostile reader finished its calls and died only of SIGKILL");
	ok(LOAD(&c->bad) == 0,
	   "4: read(2) gave whole records or EINVAL/EAGAIN/EMSGSIZE, COMMIT 0/ESTALE (EINVAL without READ_COMMIT), SEEK/INFO/KICK/poll worked: %llu calls, %llu records, %llu EINVAL, %llu EAGAIN, %llu ESTALE%s%s%s",
	   (unsigned long long)LOAD(&c->calls), (unsigned long long)LOAD(&c->records),
	   (unsigned long long)LOAD(&c->einval), (unsigned long long)LOAD(&c->eagain),
	   (unsigned long long)LOAD(&c->estale), c->bad ? "; first bad: " : "",
	   c->what, c->bad ? strerror(c->errno_bad) : "");
	ok(LOAD(&c->calls) > 10 && LOAD(&c->max_call_ns) < SPIN_LATE_MS * MS,
	   "4: every one of its %llu calls returned within %d ms (longest %.1f ms)",
	   (unsigned long long)LOAD(&c->calls), SPIN_LATE_MS, LOAD(&c->max_call_ns) / 1e6);
	check_progress(&m, &wr, "4: hostile read(2)/COMMIT/SEEK");
	check_honest(&h, "4: honest reader", in.records_written, in.records_lost, 0);
	shmring_close(r);
	shmring_close(w);
	shmring_unlink("t_hostile4");
	munmap(c, sizeof(*c));
}

/* ---- 5: read(2) against a page rewritten while it copies -------------------- */

/*
 * read(2) commits each record by a swap from the position it loaded
 * last, and starts over from what it finds when the swap fails. Here the
 * page is rewritten with a new position behind the tail at every store,
 * (a) from another process (the page and the file shared by fork), and
 * (b) from a thread of the reader's own process that also drops the
 * read buffer's page (MADV_DONTNEED) all the time, so each copy faults
 * and the window between the load and the swap is wide. Nothing an
 * honest reader does looks like this (it never moves pos backwards);
 * read(2) must still end, and SIGKILL must end its caller at once.
 */
struct zap {
	struct shmring_reader *rp;
	void *buf;
	uint64_t stop, zaps;
};

static void *zap_run(void *arg)
{
	struct zap *z = arg;
	uint64_t v = 1ULL << 63, n = 0, end = now_mono_ns() + 1500 * MS;
	int i;

	pin(1);
	/* Bounded, so a read(2) that cannot end still ends the test. */
	while (!LOAD(&z->stop) && now_mono_ns() < end) {
		madvise(z->buf, 4096, MADV_DONTNEED);
		for (i = 0; i < 64; i++)
			STORE(&z->rp->pos, v += 8);
		STORE(&z->zaps, ++n);
	}
	return NULL;
}

static void test_read_vs_scribbler(void)
{
	struct shmring *w = create("t_hostile5", 65536, SHMRING_POLICY_OVERWRITE, 1024);
	uint64_t buf[64], t0, died, scribble_ns = 1500 * MS;
	struct hctl *c = hctl_new();
	int i, fd, st, returned;
	struct pages pg;
	pid_t rdr, scr;

	/* Some records: the scribblers' positions are all behind the tail. */
	for (i = 0; i < 100; i++) {
		rec_fill(buf, (uint64_t)i, rec_len((uint64_t)i));
		if (shmring_write(w, REC_TYPE, buf, rec_len((uint64_t)i)) < 0)
			bail_out("write");
	}
	fd = raw_open("t_hostile5", SHMRING_O_READ, 0, 0);
	if (fd < 0 || map_pages(fd, &pg) || fcntl(fd, F_SETFL, O_NONBLOCK))
		bail_out("t_hostile5 reader");

	/* (b) own thread, zapping the buffer. */
	{
		void *rb = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct zap z = { .rp = pg.rp, .buf = rb };
		pthread_t th;
		ssize_t n;

		pin(0);
		if (rb == MAP_FAILED || pthread_create(&th, NULL, zap_run, &z))
			bail_out("zapper");
		while (LOAD(&z.zaps) < 100)
			usleep(1000);
		t0 = now_mono_ns();
		n = read(fd, rb, 4096);
		t0 = now_mono_ns() - t0;
		STORE(&z.stop, 1);
		pthread_join(th, NULL);
		pin(-1);
		diag("5: read(2) into a page dropped all the time: %lld after %.1f ms (%llu drops)",
		     (long long)(n < 0 ? -errno : n), t0 / 1e6, (unsigned long long)z.zaps);
		ok(t0 < SPIN_LATE_MS * MS,
		   "5: read(2) returns while its own thread rewrites pos and drops the buffer (%.1f ms)",
		   t0 / 1e6);
		munmap(rb, 4096);
	}

	/* (a) another process. */
	scr = fork();
	if (!scr) {
		/* Distinct values, all "before" the tail (modulo 2^64). */
		uint64_t v = 1ULL << 63, end = now_mono_ns() + scribble_ns;

		pin(1);
		STORE(&c->ready, 1);
		while (now_mono_ns() < end)
			for (i = 0; i < 4096; i++)
				STORE(&pg.rp->pos, v += 8);
		_exit(0);
	}
	while (!LOAD(&c->ready))
		usleep(1000);
	rdr = fork();
	if (!rdr) {
		static unsigned char rb[65536];
		uint64_t t;
		ssize_t n;

		pin(0);
		t = now_mono_ns();
		n = read(fd, rb, sizeof(rb));
		STORE(&c->max_call_ns, now_mono_ns() - t);
		STORE(&c->records, (uint64_t)(n < 0 ? -errno : n));
		STORE(&c->stop, 1);
		_exit(0);
	}
	usleep(300000);
	returned = (int)LOAD(&c->stop);
	if (returned)
		diag("5: read(2) beside another process: %lld after %.1f ms",
		     (long long)LOAD(&c->records), LOAD(&c->max_call_ns) / 1e6);
	ok(returned, "5: read(2) returns while another process rewrites pos (%s)",
	   returned ? "it did" : "still in it after 0.3 s");
	t0 = now_mono_ns();
	kill(rdr, SIGKILL);
	waitpid(rdr, &st, 0);
	died = now_mono_ns() - t0;
	ok(died < 200 * MS,
	   "5: SIGKILL ends a reader in read(2) at once, whatever another process writes to its page (%.1f ms)",
	   died / 1e6);
	waitpid(scr, NULL, 0);
	close(fd);
	shmring_close(w);
	shmring_unlink("t_hostile5");
	munmap(c, sizeof(*c));
}

/* ---- 6: a scribbled durable subscription ----------------------------------- */

struct sub_result {
	int attach;		/* shmring_subscribe() */
	int peeks, records, eagain, ebadmsg, seeks, other, bad;
	int after_seek_bad;	/* EBADMSG right after a seek */
	int counters_bad;	/* read/lost moved by other than what was consumed */
	int done;
};

/* An honest reader attaches to the scribbled subscription. */
static void honest_sub(const char *ring, struct sub_result *res)
{
	struct shmring_record rec;
	struct shmring *r;
	struct pages pg;
	uint64_t read0, lost0, shlost0, end = now_mono_ns() + 150 * MS;
	int ret, i, seeked = 0;

	res->attach = shmring_subscribe(ring, "hs", 0, &r);
	if (res->attach)
		_exit(0);
	if (map_pages(shmring_fd(r), &pg))
		_exit(2);
	for (i = 0; i < 400 && now_mono_ns() < end; i++) {
		ret = shmring_peek(r, &rec);
		res->peeks++;
		if (ret == -EAGAIN) {
			res->eagain++;
			continue;
		}
		if (ret == -EBADMSG) {
			res->ebadmsg++;
			if (seeked)
				res->after_seek_bad++;
			/* What an operator does: shmring-ctl subs --reset. */
			if (shmring_seek(r, SHMRING_SEEK_OLDEST, 0))
				res->other++;
			res->seeks++;
			seeked = 1;
			continue;
		}
		if (ret) {
			res->other++;
			continue;
		}
		seeked = 0;
		read0 = LOAD(&pg.rp->records_read);
		lost0 = LOAD(&pg.rp->records_lost);
		shlost0 = shmring_lost(r);
		ret = shmring_consume(r);
		if (ret == 0) {
			res->records++;
			/* A consume moves the counters by what it consumed. */
			if (LOAD(&pg.rp->records_read) != read0 + 1 ||
			    LOAD(&pg.rp->records_lost) - lost0 != shmring_lost(r) - shlost0)
				res->counters_bad++;
		} else if (ret != -ESTALE) {
			res->other++;
		}
	}
	res->done = 1;
	shmring_close(r);
}

static void test_subscription(void)
{
	struct shmring *w = create("t_hostile6", 65536, SHMRING_POLICY_OVERWRITE, 1024);
	struct writer wr = { .w = { w }, .nw = 1 };
	struct sub_result *res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int rounds = (int)(secs * 5) + 4, k, attach_bad = 0, hung = 0, bad = 0;
	int peeks = 0, recs = 0, ebadmsg = 0, eagain = 0, seeks = 0, cbad = 0;
	int not_killed = 0;
	uint64_t seed = 6, end;
	struct shmring *r;
	pid_t pid;

	if (res == MAP_FAILED)
		bail_out("mmap");
	if (shmring_subscribe("t_hostile6", "hs", 0, &r))
		bail_out("subscribe");
	shmring_close(r);
	start_writer(&wr);
	for (k = 0; k < rounds; k++) {
		int st;

		/* A hostile subscriber scribbles every field, killed mid-way. */
		pid = fork();
		if (!pid) {
			struct scribbler s[2];
			struct pages pg;
			uint64_t stop = 0, stores = 0;

			if (shmring_subscribe("t_hostile6", "hs", 0, &r) ||
			    map_pages(shmring_fd(r), &pg))
				_exit(2);
			start_scribblers(s, 2, &pg, &stop, &stores, NULL, -1,
					 (uint64_t)getpid());
			for (;;)
				pause();
		}
		usleep(5000 + (unsigned int)(rnd(&seed) % 20000));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
			not_killed++;
		/* Detached and scribbled: the writer laps it (or not) meanwhile. */
		usleep((unsigned int)(rnd(&seed) % 20000));
		memset(res, 0, sizeof(*res));
		pid = fork();
		if (!pid) {
			honest_sub("t_hostile6", res);
			_exit(0);
		}
		end = now_mono_ns() + 3000 * MS;
		while (waitpid(pid, &st, WNOHANG) != pid) {
			if (now_mono_ns() > end) {
				kill(pid, SIGKILL);
				waitpid(pid, &st, 0);
				hung++;
				break;
			}
			usleep(2000);
		}
		if (res->attach)
			attach_bad++;
		if (!res->attach && !res->done)
			bad++;
		bad += res->other + res->after_seek_bad;
		cbad += res->counters_bad;
		peeks += res->peeks;
		recs += res->records;
		ebadmsg += res->ebadmsg;
		eagain += res->eagain;
		seeks += res->seeks;
	}
	stop_writer(&wr);
	diag("6: %d rounds: %d peeks: %d records, %d EAGAIN, %d EBADMSG (%d seeks to recover)",
	     rounds, peeks, recs, eagain, ebadmsg, seeks);
	is_int(not_killed, 0, "6: every hostile subscriber scribbled until SIGKILL");
	is_int(attach_bad, 0, "6: an honest reader attaches to the scribbled subscription each time");
	is_int(hung, 0, "6: peek never loops: each honest reader ended within 3 s");
	is_int(bad, 0, "6: peek returns a record, -EAGAIN or -EBADMSG; after SEEK no -EBADMSG");
	ok(recs > 0 && cbad == 0,
	   "6: consumes move records_read by one and records_lost by the counted gap (%d records)",
	   recs);
	ok(proc_has_ring("t_hostile6"), "6: /proc/shmring readable");
	shmring_close(w);
	shmring_unlink("t_hostile6");
	munmap(res, sizeof(*res));
}

/* ---- 7: poll and epoll on the hostile fd ----------------------------------- */

static uint64_t poll_phase(int poller, struct hctl *c, uint64_t *max_ns, double *med_us)
{
	static const char name[] = "t_hostile7";
	static uint64_t lat[1 << 17];
	struct shmring *w = create(name, 65536, SHMRING_POLICY_OVERWRITE, 1024);
	struct writer wr = { .w = { w }, .nw = 1, .lat = lat, .nlat = 1 << 17 };
	pid_t pid = start_hostile(name, SHMRING_O_READ, 2, -1,
				  poller ? H_POLL : H_IDLE, c);
	uint64_t n;

	start_writer(&wr);
	sleep_ns(phase_ns(0.5));
	stop_writer(&wr);
	if (!stop_hostile(pid, c, 2000))
		diag("7: the hostile reader died by itself");
	n = LOAD(&wr.n);
	*max_ns = wr.max_ns;
	*med_us = median_of(lat, n < wr.nlat ? n : wr.nlat) / 1e3;
	shmring_close(w);
	shmring_unlink(name);
	return n;
}

static void test_poll(void)
{
	struct hctl *c0 = hctl_new(), *c1 = hctl_new();
	uint64_t n0, n1, m0, m1;
	double u0, u1;

	n0 = poll_phase(0, c0, &m0, &u0);
	n1 = poll_phase(1, c1, &m1, &u1);
	diag("7: writes in %.2f s: %llu beside a scribbler, median %.1f us; %llu beside a scribbler that polls (%llu polls), median %.1f us; longest write %.1f / %.1f ms",
	     secs * 0.5, (unsigned long long)n0, u0, (unsigned long long)n1,
	     (unsigned long long)LOAD(&c1->polls), u1, m0 / 1e6, m1 / 1e6);
	ok(LOAD(&c1->polls) > 0 && LOAD(&c1->bad) == 0 &&
	   LOAD(&c1->poll_max_ns) < SPIN_LATE_MS * MS,
	   "7: poll/epoll (LT, ET) on a scribbled fd return within their 20 ms timeout (+ slack): %llu calls, longest %.1f ms",
	   (unsigned long long)LOAD(&c1->polls), LOAD(&c1->poll_max_ns) / 1e6);
	ok(n1 > 0 && u1 < 5 * u0 + 50 && m1 < SPIN_LATE_MS * MS,
	   "7: commits do not get dearer when the scribbler polls (median write %.1f us, %.1f without)",
	   u1, u0);
	munmap(c0, sizeof(*c0));
	munmap(c1, sizeof(*c1));
}

/* ---- 8: the mappings cannot be widened ------------------------------------- */

static void test_mappings(void)
{
	struct shmring *w = create("t_hostile8", 16384, SHMRING_POLICY_LOSSLESS, 1024);
	long pg = sysconf(_SC_PAGESIZE);
	struct shmring_info in, in2;
	struct hctl *c;
	struct pages p;
	void *m;
	int fd = raw_open("t_hostile8", SHMRING_O_READ, 0, 0), st;
	pid_t pid;

	if (fd < 0 || map_pages(fd, &p))
		bail_out("t_hostile8 reader");
	info_of(fd, &in);
	ok(mprotect((void *)p.hdr, in.map_ring_len, PROT_READ | PROT_WRITE) < 0 &&
	   errno == EACCES, "8: the ring mapping cannot be made writable (EACCES)");
	m = mremap(p.rp, (size_t)pg, 2 * (size_t)pg, MREMAP_MAYMOVE);
	ok(m == MAP_FAILED, "8: the reader page cannot be grown by mremap (%s)",
	   m == MAP_FAILED ? strerror(errno) : "it grew");
	/* Fill the ring: the reader at the tail holds the lossless writer. */
	while (shmring_write(w, REC_TYPE, "12345678", 8) == 8)
		;
	/* A child keeps the page (and so the file) after the parent lets go. */
	c = hctl_new();
	pid = fork();
	if (!pid) {
		uint64_t seed = 8;

		close(fd);
		while (!LOAD(&c->stop))
			STORE(&p.rp->pos, rnd(&seed));
		_exit(0);
	}
	munmap(p.rp, (size_t)pg);
	munmap((void *)p.hdr, in.map_ring_len);
	close(fd);
	usleep(50000);
	ring_info(w, &in2);
	ok(in2.readers == 1,
	   "8: a page shared by fork keeps its cursor attached (%u readers)", in2.readers);
	STORE(&c->stop, 1);
	waitpid(pid, &st, 0);
	munmap(c, sizeof(*c));
	ring_info(w, &in2);
	ok(in2.readers == 0, "8: the cursor goes with the last mapping (%u readers)",
	   in2.readers);
	/* The lossless writer is not held by the scribbled cursor that went. */
	ok(shmring_write(w, REC_TYPE, "12345678", 8) == 8,
	   "8: the writer is free once the scribbled cursor is gone");
	shmring_close(w);
	shmring_unlink("t_hostile8");
}

/* T_HOSTILE_EXP=MODE: writer beside one hostile scribbling in MODE, stats. */
static void experiment(int mode)
{
	struct shmring *w = create("t_hostile_x", 65536, SHMRING_POLICY_OVERWRITE, 1024);
	struct writer wr = { .w = { w }, .nw = 1 };
	struct hctl *c = hctl_new();
	pid_t pid = start_hostile("t_hostile_x", SHMRING_O_READ, 2, mode, H_IDLE, c);

	start_writer(&wr);
	sleep_ns(phase_ns(1));
	stop_writer(&wr);
	stop_hostile(pid, c, 2000);
	diag("mode %d: %llu writes, %.1f us each, %llu over 10 ms, %llu over 100 ms, longest %.1f ms",
	     mode, (unsigned long long)LOAD(&wr.n),
	     wr.n ? wr.sum_ns / 1e3 / (double)wr.n : 0, (unsigned long long)wr.slow10,
	     (unsigned long long)wr.slow100, wr.max_ns / 1e6);
	shmring_close(w);
	shmring_unlink("t_hostile_x");
	munmap(c, sizeof(*c));
}

int main(int argc, char **argv)
{
	struct shmring_features f = { .size = sizeof(f) };
	const char *only = getenv("T_HOSTILE_CASES");	/* e.g. "25" */

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (argc > 1)
		secs = atof(argv[1]);
	if (secs <= 0)
		secs = 0.6;
	if (shmring_features(&f) || !(f.features & SHMRING_FEAT_LAP))
		plan_skip_all("this kernel has no SHMRING_FEAT_LAP");
	if (getenv("T_HOSTILE_EXP")) {
		plan_no_plan();
		experiment(atoi(getenv("T_HOSTILE_EXP")));
		return done_testing();
	}
	if (only)
		plan_no_plan();
	else
		plan(60);
#define CASE(n, fn) do {							\
		if (!only || strchr(only, (n))) {				\
			uint64_t t0_ = now_mono_ns();				\
									\
			fn();							\
			diag("case %c: %.1f s", (n), (now_mono_ns() - t0_) / 1e9);	\
		}								\
	} while (0)
	CASE('1', test_overwrite);
	CASE('2', test_lap_bound);
	CASE('3', test_lossless);
	CASE('4', test_own_calls);
	CASE('5', test_read_vs_scribbler);
	CASE('6', test_subscription);
	CASE('7', test_poll);
	CASE('8', test_mappings);
	return done_testing();
}
