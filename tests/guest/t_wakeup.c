// SPDX-License-Identifier: GPL-2.0
/*
 * Wakeup hunting: every way to wait x every way to make progress x both
 * policies, with random delays on both sides, each wait bounded by a
 * timeout that turns a lost wakeup into a failure.
 *
 * Waiters (one process) and the side that makes progress (another
 * process) meet through a shared page. Readers wait in blocking read(2),
 * poll(POLLIN), epoll level- and edge-triggered, shmring_wait(), with no
 * watermark, a byte watermark or a record watermark; writers wait on a
 * full lossless ring in blocking write(2), a blocking batch,
 * poll(POLLOUT) and epoll level- and edge-triggered. Progress for readers
 * is write(2), batches of 1, 2 and 3..64 records, batches larger than the
 * ring, and unlinking the ring; progress for writers is a reader
 * consuming in place (shmring_peek/consume, which kicks per the wait_pos
 * protocol), read(2), a reader closing its file, and unlinking the ring.
 *
 * A lost wakeup shows in one of two ways. A wait that times out is lost
 * when what it waited for is there at the timeout, as the kernel itself
 * reports it: poll(fd, 0) says POLLIN (records at or past the watermark)
 * or POLLHUP (unlinked) for a reader; for a writer its record fits (a
 * non-blocking write succeeds) or poll(fd, 0) says POLLOUT. And a wait
 * that ends ready but only when its timeout expires is lost too: poll(2)
 * looks at its files once more when the timeout expires, and a blocking
 * read/write interrupted by the timeout's SIGALRM checks its condition
 * before the signal, so a missed wakeup ends that way rather than as a
 * timeout. The side making progress is paced by the waiter (a reader's
 * writer stops once the reader should be awake; a writer's reader drains
 * and sleeps), so nothing happens near a waiter's timeout but the
 * timeout itself. Timeouts with nothing to wake for are counted as idle
 * (reported, not failures).
 *
 * Cells run three at a time, each with its own ring and shared page. One
 * TAP line per cell; the last line is "# waits: N (lost: M)": N is the
 * number of waits (blocking calls entered with nothing to do) that ran.
 *
 * usage: t_wakeup [--waits N] [--timeout MS] [--seed S] [--cell SUBSTR]
 *                 [--jobs N] [--list] [-v]
 *   --waits N   total waits over all cells (or SHMRING_WAKEUP_WAITS). By
 *               default 120000, a third of that on a kernel that is not
 *               Debian's stock one (the debug kernel), and each cell also
 *               stops at its share of 40 s (60 s) so that make check stays
 *               short; with N given the time limit is 3 ms a wait.
 *   --timeout   the bound of each wait (default 2000 ms)
 *   --seed      repeat a run's random choices (printed in the first line)
 *   --cell      only the cells whose name contains SUBSTR (--list: names)
 *   --jobs      cells at a time (default 3)
 *   -v          each cell's time, time in waits and progress steps
 */
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "common.h"

#define RING		"t_wakeup"
#define SLOT_BYTES	8192	/* one struct shared, page aligned */
#define MAX_SLOTS	8
#define LOST_CAP	3	/* lost wakeups after which a cell stops */
#define NMSG		4

#define LD(x)		__atomic_load_n(&(x), __ATOMIC_SEQ_CST)
/* Publish to the other side (and wake it if it sleeps in WAIT_UNTIL). */
#define ST(x, v)	do {						\
	__atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST);			\
	bump();								\
} while (0)

enum side { READER, WRITER };
enum how { H_READ, H_POLL, H_EPOLL_LT, H_EPOLL_ET, H_WAIT, H_WRITE, H_BATCH };
enum prog { P_WRITE, P_BATCH1, P_BATCH2, P_BATCHN, P_HUGE, P_UNLINK,
	    P_CONSUME, P_READ, P_CLOSE };
enum wm { WM_NONE, WM_BYTES, WM_RECS };

static const char *const how_name[] = {
	[H_READ] = "read(2)", [H_POLL] = "poll", [H_EPOLL_LT] = "epoll-LT",
	[H_EPOLL_ET] = "epoll-ET", [H_WAIT] = "shmring_wait",
	[H_WRITE] = "write(2)", [H_BATCH] = "write_batch",
};
static const char *const prog_name[] = {
	[P_WRITE] = "write(2)", [P_BATCH1] = "batch of 1",
	[P_BATCH2] = "batch of 2", [P_BATCHN] = "batch of 3..64",
	[P_HUGE] = "batch > ring", [P_UNLINK] = "unlink",
	[P_CONSUME] = "consume in place", [P_READ] = "read(2)",
	[P_CLOSE] = "reader close",
};
static const char *const wm_name[] = {
	[WM_NONE] = "", [WM_BYTES] = " wm=bytes", [WM_RECS] = " wm=recs",
};

struct cell {
	enum side side;
	enum how how;
	enum prog prog;
	enum wm wm;
	unsigned int policy;
	uint64_t data_size;
	bool rounds;		/* a fresh ring per wait (unlink) */
	char name[112];
};

/* One page shared by the parent, the waiter and the progress side. */
struct shared {
	/* waiter -> progress */
	uint64_t ready;		/* attached and set up */
	uint64_t waiting;	/* token (round in round cells) while waiting */
	uint64_t next_seq;	/* reader: sequence number it expects next */
	uint64_t wm_bytes, wm_recs;	/* reader: its watermark now */
	uint64_t written;	/* writer: records committed */
	uint64_t done_round;
	uint64_t stop;
	/* progress -> waiter */
	uint64_t attached;	/* writer cells: the reader holds the ring */
	uint64_t round;		/* round cells: this round's ring exists */
	uint64_t unlinked;	/* round whose ring is unlinked */
	uint64_t last_op_ns;	/* progress side's last action, monotonic */
	/* results */
	uint64_t waits, lost, idle, errors, lost_ms_max;
	uint64_t slept_ns, ops;	/* time in waits; progress steps */
	uint32_t nmsg;
	char msg[NMSG][400];
	char perr[240];
	/*
	 * Each side bumps its generation after every store the other side
	 * may wait for; the other side sleeps on it with a futex instead of
	 * spinning (spinning vCPUs slow down the emulated guest).
	 */
	uint32_t gen[2];	/* [0] waiter's stores, [1] progress side's */
	uint32_t sleepers[2];	/* sleeping on gen[i] */
};

static struct shared *sh;	/* this process's (or slot's) page */
static void *shm_all;		/* MAX_SLOTS pages */
static bool verbose;
static int timeout_ms = 2000;
static uint64_t seed;
static uint64_t rng;
static volatile sig_atomic_t alarm_fired;
static int my_side = -1;	/* 0 waiter, 1 progress side, -1 the parent */

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static void bump_one(int i)
{
	__atomic_add_fetch(&sh->gen[i], 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&sh->sleepers[i], __ATOMIC_SEQ_CST))
		futex(&sh->gen[i], FUTEX_WAKE, INT_MAX, NULL);
}

static void bump(void)
{
	if (my_side != 1)
		bump_one(0);
	if (my_side != 0)
		bump_one(1);
}

/* Sleep while the other side's generation is still @g, at most @ns. */
static void park(uint32_t g, uint64_t ns)
{
	int i = my_side == 0 ? 1 : 0;
	struct timespec ts;

	if (ns > 100000000)
		ns = 100000000;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)ns;
	__atomic_add_fetch(&sh->sleepers[i], 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&sh->gen[i], __ATOMIC_SEQ_CST) == g)
		futex(&sh->gen[i], FUTEX_WAIT, g, &ts);
	__atomic_sub_fetch(&sh->sleepers[i], 1, __ATOMIC_SEQ_CST);
}

/* ---- small tools ---------------------------------------------------------- */

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)((rng >> 11) % n) : 0;
}

static void spin(uint32_t n)
{
	volatile uint32_t i;

	for (i = 0; i < n; i++)
		;
}

/* A random small delay: a short or long busy loop, a yield, rarely a sleep. */
static void jitter(void)
{
	uint32_t r = rnd(1000);

	if (r < 350)
		spin(rnd(64));
	else if (r < 650)
		spin(rnd(2000));
	else if (r < 930)
		sched_yield();
	else if (r < 985)
		spin(rnd(20000));
	else
		usleep(1 + rnd(300));
}

static uint64_t ms_since(uint64_t t0)
{
	return (now_mono_ns() - t0) / 1000000;
}

/* Until @cond or @ms pass (briefly spinning, then on the futex); cond's value. */
#define WAIT_UNTIL(cond, ms) ({						\
	uint64_t __end = now_mono_ns() + (uint64_t)(ms) * 1000000ULL, __now;	\
	unsigned int __n = 0;						\
	uint32_t __g;							\
	bool __ok;							\
	for (;;) {							\
		__g = LD(sh->gen[my_side == 0 ? 1 : 0]);		\
		if ((__ok = (cond)))					\
			break;						\
		__now = now_mono_ns();					\
		if (__now >= __end)					\
			break;						\
		if (__n++ < 20)						\
			spin(50);					\
		else							\
			park(__g, __end - __now);			\
	}								\
	__ok;								\
})

static void TAP_PRINTF(1, 2) note(const char *fmt, ...)
{
	va_list ap;
	uint32_t i = sh->nmsg;

	if (i >= NMSG)
		return;
	va_start(ap, fmt);
	vsnprintf(sh->msg[i], sizeof(sh->msg[i]), fmt, ap);
	va_end(ap);
	sh->nmsg = i + 1;
}

/* An error of the side making progress: recorded, then that side exits. */
static void TAP_PRINTF(1, 2) __attribute__((noreturn)) perr_exit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->perr, sizeof(sh->perr), fmt, ap);
	va_end(ap);
	ST(sh->stop, 1);
	_exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	alarm_fired = 1;
}

/* SIGALRM (no SA_RESTART) interrupts a blocking read/write after @ms. */
static void arm(int ms)
{
	struct itimerval it = {
		.it_value = { ms / 1000, (ms % 1000) * 1000 },
		/* Again every 50 ms, should the first land outside the call. */
		.it_interval = { 0, 50000 },
	};

	alarm_fired = 0;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm(void)
{
	struct itimerval it = { { 0, 0 }, { 0, 0 } };

	setitimer(ITIMER_REAL, &it, NULL);
}

static void set_nonblock(int fd, bool on)
{
	int v = on;

	ioctl(fd, FIONBIO, &v);
}

/* The ring of a slot, and of its rounds in unlink cells. */
static char ring[32];

static void ring_name(char *buf, size_t size, uint64_t round)
{
	snprintf(buf, size, "%s.%llu", ring, (unsigned long long)(round % 4));
}

static int create_ring(const struct cell *c, const char *name, struct shmring **w)
{
	struct shmring_attr a = { .data_size = c->data_size, .policy = c->policy };

	shmring_unlink(name);
	return shmring_open(name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
			    0600, &a, w);
}

/* Payloads: a counter, up to 1 KiB. */
static unsigned char payload[64][1024];

static unsigned int fill_msgs(struct shmring_msg *m, unsigned int n,
			      uint32_t minlen, uint32_t maxlen, uint64_t first)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t v = first + i;

		memcpy(payload[i], &v, sizeof(v));
		m[i].data = payload[i];
		m[i].len = minlen + rnd(maxlen - minlen + 1);
		m[i].type = 1;
	}
	return n;
}

/* ---- the reader as waiter ------------------------------------------------- */

static unsigned char rbuf[1 << 16];

/* Records in a read(2) buffer: whole, in order, gapless if lossless. */
static int parse_records(size_t n, uint64_t *expect, bool lossless)
{
	size_t off = 0;

	while (off < n) {
		struct shmring_rec h;
		uint64_t total;

		if (n - off < sizeof(h))
			return -EPROTO;
		memcpy(&h, rbuf + off, sizeof(h));
		total = SHMRING_REC_TOTAL(h.len);
		if (total > n - off)
			return -EPROTO;
		if (lossless ? h.seq != *expect : h.seq < *expect)
			return -EBADMSG;
		*expect = h.seq + 1;
		off += total;
	}
	return 0;
}

struct rstate {
	const struct cell *c;
	struct shmring *r;
	int fd, ep;
	uint64_t expect;
	uint64_t wm_bytes, wm_recs;
	bool eof;		/* read(2) returned 0 */
};

/* Consume everything pending. 0, or -errno (an error of the ring). */
static int drain(struct rstate *s)
{
	bool lossless = s->c->policy == SHMRING_POLICY_LOSSLESS;
	struct shmring_record rec;
	ssize_t n;
	int ret;

	if (s->c->how == H_READ) {
		set_nonblock(s->fd, true);
		for (;;) {
			n = read(s->fd, rbuf, 256 + rnd(sizeof(rbuf) - 256));
			if (n < 0) {
				ret = errno == EAGAIN ? 0 : -errno;
				break;
			}
			if (n == 0) {
				s->eof = true;
				ret = 0;
				break;
			}
			ret = parse_records((size_t)n, &s->expect, lossless);
			if (ret)
				break;
		}
		set_nonblock(s->fd, false);
	} else {
		while ((ret = shmring_peek(s->r, &rec)) == 0) {
			if (lossless ? rec.seq != s->expect : rec.seq < s->expect)
				return -EBADMSG;
			s->expect = rec.seq + 1;
			ret = shmring_consume(s->r);
			if (ret && ret != -ESTALE)
				return ret;
		}
		ret = ret == -EAGAIN ? 0 : ret;
	}
	ST(sh->next_seq, s->expect);
	return ret;
}

static void pick_wm(struct rstate *s, enum wm wm)
{
	s->wm_bytes = s->wm_recs = 0;
	if (wm == WM_BYTES)
		s->wm_bytes = 1 + rnd(400);
	else if (wm == WM_RECS)
		s->wm_recs = 1 + rnd(6);
	if (shmring_set_watermark(s->r, s->wm_bytes, s->wm_recs))
		note("shmring_set_watermark failed");
	ST(sh->wm_bytes, s->wm_bytes);
	ST(sh->wm_recs, s->wm_recs);
}

enum wres { WOKE, HUP, TIMEOUT, FAIL };

/* One wait of a reader. Data read by a blocking read(2) is consumed here. */
static enum wres reader_wait(struct rstate *s, int *err)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	struct epoll_event ev;
	ssize_t n;
	int ret;

	*err = 0;
	switch (s->c->how) {
	case H_READ:
		arm(timeout_ms);
		n = read(s->fd, rbuf, 256 + rnd(sizeof(rbuf) - 256));
		*err = errno;
		disarm();
		if (n > 0) {
			/* Published by the next drain(), after the caller's checks. */
			*err = -parse_records((size_t)n, &s->expect,
					      s->c->policy == SHMRING_POLICY_LOSSLESS);
			return *err ? FAIL : WOKE;
		}
		if (n == 0) {
			s->eof = true;
			return HUP;
		}
		return *err == EINTR && alarm_fired ? TIMEOUT : FAIL;
	case H_POLL:
		ret = poll(&p, 1, timeout_ms);
		if (ret < 0)
			break;
		if (ret == 0)
			return TIMEOUT;
		return p.revents & POLLHUP ? HUP : WOKE;
	case H_EPOLL_LT:
	case H_EPOLL_ET:
		ret = epoll_wait(s->ep, &ev, 1, timeout_ms);
		if (ret < 0)
			break;
		if (ret == 0)
			return TIMEOUT;
		return ev.events & EPOLLHUP ? HUP : WOKE;
	case H_WAIT:
		ret = shmring_wait(s->r, timeout_ms);
		if (ret == -ETIMEDOUT)
			return TIMEOUT;
		if (ret == -EIDRM)
			return HUP;
		*err = -ret;
		return ret ? FAIL : WOKE;
	default:
		break;
	}
	*err = errno;
	return FAIL;
}

/* The kernel's own view after a timeout: should this reader have woken? */
static bool reader_should_wake(struct rstate *s, char *why, size_t size)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	struct shmring_info in;
	uint64_t pos, seq, recs;

	if (poll(&p, 1, 0) != 1 || !(p.revents & (POLLIN | POLLHUP)))
		return false;
	if (shmring_info(s->r, &in)) {
		snprintf(why, size, "poll says 0x%x", p.revents);
		return true;
	}
	pos = in.reader_pos;
	seq = in.reader_seq;
	if ((int64_t)(pos - in.tail) < 0 || (int64_t)(seq - in.tail_seq) < 0) {
		pos = in.tail;
		seq = in.tail_seq;
	}
	recs = pos != in.head && (int64_t)(seq - in.head_seq) < 0 ? in.head_seq - seq : 0;
	snprintf(why, size, "poll says 0x%x: %llu records, %llu bytes pending, watermark %llu bytes / %llu records%s",
		 p.revents, (unsigned long long)recs,
		 (unsigned long long)(in.head - pos),
		 (unsigned long long)s->wm_bytes, (unsigned long long)s->wm_recs,
		 p.revents & POLLHUP ? ", ring unlinked" : "");
	return true;
}

/*
 * @last: the other side's last action, @end_ns: when the wait ended (both
 * monotonic).
 */
static void count_lost(uint64_t slept_ms, const char *why, uint64_t last,
		       uint64_t end_ns)
{
	char idle[40] = "never";

	if (last)
		snprintf(idle, sizeof(idle), "%llu ms before the wait ended",
			 (unsigned long long)((int64_t)(end_ns - last) / 1000000));

	sh->lost++;
	if (slept_ms > sh->lost_ms_max)
		sh->lost_ms_max = slept_ms;
	note("lost wakeup: slept %llu ms (the whole timeout) in wait %llu: %s; the other side's last action: %s",
	     (unsigned long long)slept_ms, (unsigned long long)sh->waits, why, idle);
}

/*
 * A wait that ended ready, but only at its timeout: poll(2) checks its
 * files once more when the timeout expires, and a read/write interrupted
 * by the timeout's signal checks its condition before the signal. So a
 * lost wakeup ends this way, not as a timeout. (The other side is paced
 * by the waiter and never acts near the timeout on its own.)
 */
static bool late(enum how how, enum wres res, uint64_t slept_ms)
{
	if (res != WOKE && res != HUP)
		return false;
	if (how == H_READ || how == H_WRITE || how == H_BATCH)
		return alarm_fired && slept_ms >= (uint64_t)timeout_ms;
	return slept_ms >= (uint64_t)timeout_ms;
}

static const char *late_why(enum wres res)
{
	return res == HUP ? "it saw the unlink only when its timeout expired" :
	       "ready only when its timeout expired (poll's last look, or the check before the timeout's signal)";
}

static bool open_reader(struct rstate *s, const char *name)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	ret = shmring_open(name, SHMRING_O_READ, 0, NULL, &s->r);
	if (ret)
		return false;
	s->fd = shmring_fd(s->r);
	s->ep = -1;
	s->eof = false;
	if (s->c->how == H_EPOLL_LT || s->c->how == H_EPOLL_ET) {
		if (s->c->how == H_EPOLL_ET)
			ev.events |= EPOLLET;
		s->ep = epoll_create1(EPOLL_CLOEXEC);
		if (s->ep < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->fd, &ev))
			note("epoll setup: %s", strerror(errno));
	}
	return true;
}

static void close_reader(struct rstate *s)
{
	if (s->ep >= 0)
		close(s->ep);
	shmring_close(s->r);
	s->r = NULL;
}

/* Runs until the cell has its waits, its time, or LOST_CAP lost wakeups. */
static void reader_waiter(const struct cell *c, uint64_t target, uint64_t end_ns)
{
	struct rstate s = { .c = c };
	uint64_t token = 0, t0, t1, last, slept;
	char why[200];
	enum wres res;
	int err;

	if (!open_reader(&s, ring)) {
		note("reader open failed");
		sh->errors++;
		return;
	}
	pick_wm(&s, c->wm);
	ST(sh->ready, 1);
	while (sh->waits < target && now_mono_ns() < end_ns && sh->lost < LOST_CAP &&
	       !LD(sh->stop)) {
		err = drain(&s);
		if (err) {
			note("draining after %llu waits: %s", (unsigned long long)sh->waits,
			     strerror(-err));
			sh->errors++;
			break;
		}
		if (c->wm != WM_NONE && rnd(64) == 0) {
			/* A new watermark, then drain again: ET needs pending < wm. */
			pick_wm(&s, c->wm);
			continue;
		}
		if (rnd(4) == 0)
			jitter();
		ST(sh->waiting, ++token);
		t0 = now_mono_ns();
		res = reader_wait(&s, &err);
		t1 = now_mono_ns();
		last = LD(sh->last_op_ns);
		slept = (t1 - t0) / 1000000;
		sh->slept_ns += t1 - t0;
		ST(sh->waiting, 0);
		sh->waits++;
		if (res == FAIL) {
			note("wait %llu failed: %s", (unsigned long long)sh->waits, strerror(err));
			sh->errors++;
			break;
		}
		if (late(c->how, res, slept))
			count_lost(slept, late_why(res), last, t1);
		if (res == HUP) {
			note("wait %llu: ring reported unlinked, nobody unlinked it",
			     (unsigned long long)sh->waits);
			sh->errors++;
			break;
		}
		if (res == TIMEOUT) {
			if (reader_should_wake(&s, why, sizeof(why)))
				count_lost(slept, why, last, t1);
			else
				sh->idle++;
		}
	}
	ST(sh->stop, 1);
	close_reader(&s);
}

/* Unlink cells: a fresh ring per round; the reader must see the end. */
static void reader_waiter_rounds(const struct cell *c, uint64_t target, uint64_t end_ns)
{
	struct rstate s = { .c = c };
	uint64_t k, t0, t1, last, slept;
	unsigned int idle;
	char name[SHMRING_NAME_MAX], why[200];
	enum wres res;
	bool hup;
	int err;

	ST(sh->ready, 1);
	for (k = 1; sh->waits < target && now_mono_ns() < end_ns &&
		    sh->lost < LOST_CAP && !LD(sh->stop); k++) {
		if (!WAIT_UNTIL(LD(sh->round) >= k || LD(sh->stop), 5000)) {
			note("round %llu never came", (unsigned long long)k);
			sh->errors++;
			break;
		}
		if (LD(sh->stop))
			break;
		ring_name(name, sizeof(name), k);
		s.expect = 0;
		if (!open_reader(&s, name)) {
			ST(sh->done_round, k);	/* unlinked before we came */
			continue;
		}
		pick_wm(&s, (enum wm)rnd(3));
		hup = false;
		idle = 0;
		for (;;) {
			err = drain(&s);
			if (err) {
				note("round %llu: draining: %s", (unsigned long long)k,
				     strerror(-err));
				sh->errors++;
				break;
			}
			if (hup || s.eof)
				break;
			if (rnd(4) == 0)
				jitter();
			ST(sh->waiting, k);
			t0 = now_mono_ns();
			res = reader_wait(&s, &err);
			t1 = now_mono_ns();
		last = LD(sh->last_op_ns);
		slept = (t1 - t0) / 1000000;
			ST(sh->waiting, 0);
			sh->waits++;
			if (res == FAIL) {
				note("round %llu: wait failed: %s", (unsigned long long)k,
				     strerror(err));
				sh->errors++;
				break;
			}
			if (late(c->how, res, slept))
				count_lost(slept, late_why(res), last, t1);
			if (res == HUP)
				hup = true;
			if (res != TIMEOUT)
				continue;
			if (LD(sh->unlinked) == k &&
			    reader_should_wake(&s, why, sizeof(why))) {
				count_lost(slept, why, last, t1);
				break;
			}
			sh->idle++;
			if (++idle == 3) {
				note("round %llu: 3 idle timeouts", (unsigned long long)k);
				sh->errors++;
				break;
			}
		}
		close_reader(&s);
		ST(sh->done_round, k);
		if (sh->errors)
			break;
	}
	ST(sh->stop, 1);
}

/* ---- the writer feeding a reader ----------------------------------------- */

#define CUM_N	8192

static uint64_t cum[CUM_N];	/* bytes written before record seq % CUM_N */

/* Would the reader, from what we wrote and what it consumed, be ready? */
static bool reader_due(uint64_t written)
{
	uint64_t next = LD(sh->next_seq), recs, bytes;
	uint64_t wb = LD(sh->wm_bytes), wr = LD(sh->wm_recs);

	if (LD(sh->stop))
		return false;
	recs = written - next;
	if (!recs)
		return false;
	if (recs >= CUM_N)
		return true;
	bytes = cum[written % CUM_N] - cum[next % CUM_N];
	return wr ? recs >= wr : bytes >= (wb ? wb : 1);
}

static unsigned int batch_size(enum prog p)
{
	switch (p) {
	case P_BATCH1:
		return 1;
	case P_BATCH2:
		return 2;
	case P_BATCHN:
		return 3 + rnd(62);
	case P_HUGE:
		return 64;
	default:
		return 0;
	}
}

/* One step of progress: some records. Returns how many, or -errno. */
static int write_step(const struct cell *c, struct shmring *w, uint64_t written)
{
	struct shmring_msg m[64];
	unsigned int n = batch_size(c->prog), i;
	ssize_t ret;

	if (c->prog == P_WRITE) {
		n = fill_msgs(m, 1, 8, 120, written);
		ret = write(shmring_fd(w), m[0].data, m[0].len);
		if (ret < 0)
			return -errno;
		ret = ret == (ssize_t)m[0].len ? 1 : -EIO;
	} else {
		/* Batches larger than the ring: 64 records of 104..160 bytes. */
		fill_msgs(m, n, c->prog == P_HUGE ? 64 : 8, 120, written);
		ret = shmring_write_batch(w, m, n);
	}
	for (i = 0; ret > 0 && i < (unsigned int)ret; i++)
		cum[(written + i + 1) % CUM_N] = cum[(written + i) % CUM_N] +
						 SHMRING_REC_TOTAL(m[i].len);
	if (ret < 0)
		return (int)ret;
	return ret == (ssize_t)n ? (int)n : -EIO;
}

static void feeder(const struct cell *c)
{
	uint64_t written = 0;
	struct shmring *w;
	int n;

	if (shmring_open(ring, SHMRING_O_WRITE, 0, NULL, &w))
		perr_exit("writer open failed");
	WAIT_UNTIL(LD(sh->ready) || LD(sh->stop), 5000);
	while (!LD(sh->stop)) {
		/* Mostly when the reader is (about to be) in its wait. */
		if (rnd(4))
			WAIT_UNTIL(LD(sh->waiting) || LD(sh->stop), 3000);
		jitter();
		n = write_step(c, w, written);
		if (n < 0) {
			if (LD(sh->stop))
				break;
			perr_exit("writer: %s after %llu records", strerror(-n),
				  (unsigned long long)written);
		}
		written += (uint64_t)n;
		ST(sh->last_op_ns, now_mono_ns());
		/* The reader should wake now: let it, up to a timeout and more. */
		if (rnd(8))
			WAIT_UNTIL(!reader_due(written), timeout_ms + 1000);
	}
	shmring_close(w);
	_exit(0);
}

/* Unlink cells, reader side: a ring per round, maybe records, unlink. */
static void unlinker_for_readers(const struct cell *c)
{
	char name[SHMRING_NAME_MAX];
	struct shmring_msg m[4];
	struct shmring *w;
	uint64_t k;
	int ret;

	for (k = 1; !LD(sh->stop); k++) {
		ring_name(name, sizeof(name), k);
		ret = create_ring(c, name, &w);
		if (ret)
			perr_exit("round %llu: create: %s", (unsigned long long)k,
				  strerror(-ret));
		if (rnd(2))
			shmring_write_batch(w, m, fill_msgs(m, 1 + rnd(4), 8, 120, 0));
		ST(sh->round, k);
		if (rnd(8))
			WAIT_UNTIL(LD(sh->waiting) == k || LD(sh->stop), 3000);
		jitter();
		if (rnd(3) == 0) {
			shmring_write(w, 1, "x", 1);
			jitter();
		}
		ret = shmring_unlink(name);
		if (ret)
			perr_exit("round %llu: unlink: %s", (unsigned long long)k,
				  strerror(-ret));
		ST(sh->last_op_ns, now_mono_ns());
		ST(sh->unlinked, k);
		WAIT_UNTIL(LD(sh->done_round) >= k || LD(sh->stop), timeout_ms * 4 + 2000);
		shmring_close(w);
	}
	_exit(0);
}

/* ---- the writer as waiter ------------------------------------------------- */

struct wstate {
	const struct cell *c;
	struct shmring *w, *wn;	/* blocking, non-blocking */
	int ep;
	struct shmring_msg m[16];
	unsigned int n, idx;	/* records of the current step, done */
};

/* Non-blocking: records written, or -errno. */
static int write_nb(struct wstate *s)
{
	ssize_t ret;

	if (s->c->how == H_BATCH || (s->c->how != H_WRITE && rnd(2)))
		return shmring_write_batch(s->wn, s->m + s->idx, s->n - s->idx);
	ret = write(shmring_fd(s->wn), s->m[s->idx].data, s->m[s->idx].len);
	if (ret < 0)
		return -errno;
	return 1;
}

/* One wait of a writer. For write/batch the wait also writes. */
static enum wres writer_wait(struct wstate *s, int *err, bool *progress)
{
	struct pollfd p = { .fd = shmring_fd(s->wn), .events = POLLOUT };
	struct epoll_event ev;
	ssize_t ret;

	*err = 0;
	*progress = false;
	switch (s->c->how) {
	case H_WRITE:
		arm(timeout_ms);
		ret = write(shmring_fd(s->w), s->m[s->idx].data, s->m[s->idx].len);
		*err = errno;
		disarm();
		if (ret > 0) {
			s->idx++;
			*progress = true;
			return WOKE;
		}
		if (ret < 0 && *err == EIDRM)
			return HUP;
		return ret < 0 && *err == EINTR && alarm_fired ? TIMEOUT : FAIL;
	case H_BATCH:
		arm(timeout_ms);
		ret = shmring_write_batch(s->w, s->m + s->idx, s->n - s->idx);
		disarm();
		if (ret > 0) {
			s->idx += (unsigned int)ret;
			*progress = true;
			return WOKE;	/* a timeout after progress is not a whole sleep */
		}
		*err = (int)-ret;
		if (ret == -EIDRM)
			return HUP;
		return ret == -EINTR && alarm_fired ? TIMEOUT : FAIL;
	case H_POLL:
		ret = poll(&p, 1, timeout_ms);
		if (ret < 0)
			break;
		if (ret == 0)
			return TIMEOUT;
		return p.revents & POLLHUP ? HUP : WOKE;
	case H_EPOLL_LT:
	case H_EPOLL_ET:
		ret = epoll_wait(s->ep, &ev, 1, timeout_ms);
		if (ret < 0)
			break;
		if (ret == 0)
			return TIMEOUT;
		return ev.events & EPOLLHUP ? HUP : WOKE;
	default:
		break;
	}
	*err = errno;
	return FAIL;
}

/*
 * After a timeout: does the record (or, for poll, POLLOUT) fit now? A
 * probe that fits writes: *wrote says how many records.
 */
static bool writer_should_wake(struct wstate *s, char *why, size_t size,
			       unsigned int *wrote)
{
	struct pollfd p = { .fd = shmring_fd(s->wn), .events = POLLOUT };
	struct shmring_info in;
	int ret;

	*wrote = 0;
	if (s->c->how == H_WRITE || s->c->how == H_BATCH) {
		ret = write_nb(s);
		if (ret == -EIDRM) {
			snprintf(why, size, "the ring was unlinked (EIDRM now)");
			return true;
		}
		if (ret <= 0)
			return false;
		s->idx += (unsigned int)ret;
		*wrote = (unsigned int)ret;
		snprintf(why, size, "a non-blocking write of %u bytes then succeeded",
			 s->m[s->idx - 1].len);
	} else {
		if (poll(&p, 1, 0) != 1 || !(p.revents & (POLLOUT | POLLHUP)))
			return false;
		shmring_info(s->wn, &in);
		snprintf(why, size, "poll then says 0x%x (head-tail %llu of %llu bytes)",
			 p.revents, (unsigned long long)(in.head - in.tail),
			 (unsigned long long)in.attr.data_size);
	}
	return true;
}

static bool open_writer(struct wstate *s, const char *name)
{
	struct epoll_event ev = { .events = EPOLLOUT };

	if (shmring_open(name, SHMRING_O_WRITE, 0, NULL, &s->w))
		return false;
	if (shmring_open(name, SHMRING_O_WRITE | SHMRING_O_NONBLOCK, 0, NULL, &s->wn)) {
		shmring_close(s->w);
		return false;
	}
	s->ep = -1;
	if (s->c->how == H_EPOLL_LT || s->c->how == H_EPOLL_ET) {
		if (s->c->how == H_EPOLL_ET)
			ev.events |= EPOLLET;
		s->ep = epoll_create1(EPOLL_CLOEXEC);
		if (s->ep < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, shmring_fd(s->wn), &ev))
			note("epoll setup: %s", strerror(errno));
	}
	return true;
}

static void close_writer(struct wstate *s)
{
	if (s->ep >= 0)
		close(s->ep);
	shmring_close(s->w);
	shmring_close(s->wn);
}

static void next_step(struct wstate *s, uint64_t written)
{
	s->n = s->c->how == H_BATCH ? 2 + rnd(15) : 1 + (rnd(4) ? 0 : rnd(8));
	s->idx = 0;
	/* A 4 KiB ring holds 5..40 of these: a few steps fill it. */
	fill_msgs(s->m, s->n, 64, 700, written);
}

/*
 * Write until the ring is full, then wait; @round is 0, or the round of
 * an unlink cell (then the wait must end with EIDRM/POLLHUP).
 * Returns false to stop.
 */
static bool writer_run(struct wstate *s, uint64_t round, uint64_t target,
		       uint64_t end_ns, uint64_t *token)
{
	uint64_t written = LD(sh->written), t0, t1, last, slept;
	unsigned int idle = 0, idx0, wrote;
	bool progress;
	char why[200];
	enum wres res;
	int ret, err;

	while (sh->waits < target && now_mono_ns() < end_ns && sh->lost < LOST_CAP &&
	       !LD(sh->stop)) {
		if (s->idx == s->n)
			next_step(s, written);
		ret = write_nb(s);
		if (ret > 0) {
			s->idx += (unsigned int)ret;
			written += (uint64_t)ret;
			ST(sh->written, written);
			if (rnd(8) == 0)
				jitter();
			continue;
		}
		if (round && ret == -EIDRM)
			return true;	/* unlinked before we waited */
		if (ret != -EAGAIN) {
			note("non-blocking write: %s", strerror(-ret));
			sh->errors++;
			return false;
		}
		if (rnd(4) == 0)
			jitter();
		ST(sh->waiting, round ? round : ++*token);
		t0 = now_mono_ns();
		idx0 = s->idx;
		res = writer_wait(s, &err, &progress);
		t1 = now_mono_ns();
		last = LD(sh->last_op_ns);
		slept = (t1 - t0) / 1000000;
		sh->slept_ns += t1 - t0;
		ST(sh->waiting, 0);
		sh->waits++;
		if (progress) {
			written += s->idx - idx0;
			ST(sh->written, written);
		}
		if (res == FAIL) {
			note("wait %llu failed: %s", (unsigned long long)sh->waits, strerror(err));
			sh->errors++;
			return false;
		}
		if (late(s->c->how, res, slept))
			count_lost(slept, late_why(res), last, t1);
		if (res == HUP) {
			if (round)
				return true;
			note("wait %llu: ring reported unlinked, nobody unlinked it",
			     (unsigned long long)sh->waits);
			sh->errors++;
			return false;
		}
		if (res != TIMEOUT)
			continue;
		if ((!round || LD(sh->unlinked) == round) &&
		    writer_should_wake(s, why, sizeof(why), &wrote)) {
			count_lost(slept, why, last, t1);
			if (round)
				return true;
			written += wrote;
			ST(sh->written, written);
			continue;
		}
		sh->idle++;
		if (round && ++idle == 3) {
			note("round %llu: 3 idle timeouts", (unsigned long long)round);
			sh->errors++;
			return false;
		}
	}
	return false;
}

static void writer_waiter(const struct cell *c, uint64_t target, uint64_t end_ns)
{
	struct wstate s = { .c = c };
	char name[SHMRING_NAME_MAX];
	uint64_t token = 0, k;

	if (!c->rounds) {
		if (!open_writer(&s, ring)) {
			note("writer open failed");
			sh->errors++;
			ST(sh->stop, 1);
			return;
		}
		ST(sh->ready, 1);
		if (!WAIT_UNTIL(LD(sh->attached) || LD(sh->stop), 5000)) {
			note("the reader never attached");
			sh->errors++;
		} else {
			writer_run(&s, 0, target, end_ns, &token);
		}
		close_writer(&s);
		ST(sh->stop, 1);
		return;
	}
	ST(sh->ready, 1);
	for (k = 1; sh->waits < target && now_mono_ns() < end_ns &&
		    sh->lost < LOST_CAP && !LD(sh->stop); k++) {
		if (!WAIT_UNTIL(LD(sh->round) >= k || LD(sh->stop), 5000)) {
			note("round %llu never came", (unsigned long long)k);
			sh->errors++;
			break;
		}
		if (LD(sh->stop))
			break;
		ring_name(name, sizeof(name), k);
		if (open_writer(&s, name)) {
			s.n = s.idx = 0;
			if (!writer_run(&s, k, target, end_ns, &token)) {
				close_writer(&s);
				ST(sh->done_round, k);
				break;
			}
			close_writer(&s);
		}
		ST(sh->done_round, k);
	}
	ST(sh->stop, 1);
}

/* ---- readers that free room for a writer -------------------------------- */

/* Wait for records (not a counted wait) while the writer is not blocked. */
static void nap_for_records(struct shmring *r)
{
	int ret = shmring_wait(r, 100);

	if (ret && ret != -ETIMEDOUT)
		perr_exit("reader: shmring_wait: %s", strerror(-ret));
}

static void consumer(const struct cell *c)
{
	struct shmring_record rec;
	struct shmring *r;
	uint64_t expect = 0;
	unsigned int k, i;
	ssize_t n;
	int ret, fd;

	ret = shmring_open(ring, SHMRING_O_READ |
			   (c->prog == P_READ ? SHMRING_O_NONBLOCK : 0), 0, NULL, &r);
	if (ret)
		perr_exit("reader open: %s", strerror(-ret));
	fd = shmring_fd(r);
	ST(sh->attached, 1);
	while (!LD(sh->stop)) {
		if (rnd(4))
			WAIT_UNTIL(LD(sh->waiting) || LD(sh->stop), 3000);
		jitter();
		/*
		 * Some records, or all of them at once: a drain that ends while
		 * the writer is between its check for room and its announcement
		 * is what a lost wakeup needs.
		 */
		k = rnd(2) ? ~0U : 1 + rnd(8);
		for (i = 0; i < k; i++) {
			if (c->prog == P_READ) {
				n = read(fd, rbuf, 1100 + rnd(4096));
				if (n < 0 && errno == EAGAIN)
					break;
				if (n <= 0)
					perr_exit("reader: read: %s", n ? strerror(errno) : "EOF");
				if (parse_records((size_t)n, &expect, true))
					perr_exit("reader: bad records after seq %llu",
						  (unsigned long long)expect);
			} else {
				ret = shmring_peek(r, &rec);
				if (ret == -EAGAIN)
					break;
				if (ret || rec.seq != expect)
					perr_exit("reader: peek: %d, seq %llu of %llu", ret,
						  (unsigned long long)rec.seq,
						  (unsigned long long)expect);
				expect++;
				ret = shmring_consume(r);
				if (ret)
					perr_exit("reader: consume: %s", strerror(-ret));
			}
			ST(sh->last_op_ns, now_mono_ns());
			sh->ops++;
			if (rnd(16) == 0)
				jitter();
		}
		if (i < k)	/* drained */
			nap_for_records(r);
	}
	shmring_close(r);
	_exit(0);
}

/* A reader at the tail holds the full ring; closing it frees the writer. */
static void closer(void)
{
	struct shmring *r;
	uint64_t before;
	int ret;

	while (!LD(sh->stop)) {
		ret = shmring_open(ring, SHMRING_O_READ, 0, NULL, &r);
		if (ret)
			perr_exit("reader open: %s", strerror(-ret));
		ST(sh->attached, 1);
		if (rnd(8))
			WAIT_UNTIL(LD(sh->waiting) || LD(sh->stop), 3000);
		jitter();
		before = LD(sh->written);
		shmring_close(r);
		ST(sh->last_op_ns, now_mono_ns());
		/* Let the writer through before holding the ring again. */
		WAIT_UNTIL(LD(sh->written) != before || LD(sh->stop), timeout_ms + 1000);
	}
	_exit(0);
}

/* Unlink cells, writer side: a full ring held by an idle reader, unlinked. */
static void unlinker_for_writers(const struct cell *c)
{
	char name[SHMRING_NAME_MAX];
	struct shmring *w, *r;
	uint64_t k;
	int ret;

	for (k = 1; !LD(sh->stop); k++) {
		ring_name(name, sizeof(name), k);
		ret = create_ring(c, name, &w);
		if (!ret)
			ret = shmring_open(name, SHMRING_O_READ, 0, NULL, &r);
		if (ret)
			perr_exit("round %llu: create: %s", (unsigned long long)k,
				  strerror(-ret));
		ST(sh->attached, 1);
		ST(sh->round, k);
		if (rnd(8))
			WAIT_UNTIL(LD(sh->waiting) == k || LD(sh->stop), 3000);
		jitter();
		ret = shmring_unlink(name);
		if (ret)
			perr_exit("round %llu: unlink: %s", (unsigned long long)k,
				  strerror(-ret));
		ST(sh->last_op_ns, now_mono_ns());
		ST(sh->unlinked, k);
		WAIT_UNTIL(LD(sh->done_round) >= k || LD(sh->stop), timeout_ms * 4 + 2000);
		shmring_close(r);
		shmring_close(w);
	}
	_exit(0);
}

/* ---- cells ---------------------------------------------------------------- */

#define MAX_CELLS	256

static struct cell cells[MAX_CELLS];
static int ncells;

static void add_cell(enum side side, enum how how, enum prog prog, enum wm wm,
		     unsigned int policy)
{
	struct cell *c = &cells[ncells++];

	c->side = side;
	c->how = how;
	c->prog = prog;
	c->wm = wm;
	c->policy = policy;
	c->rounds = prog == P_UNLINK;
	c->data_size = side == WRITER || prog == P_HUGE ? 4096 : 16384;
	snprintf(c->name, sizeof(c->name), "%s %s %s%s <- %s",
		 policy == SHMRING_POLICY_LOSSLESS ? "lossless" : "overwrite",
		 side == READER ? "reader" : "writer", how_name[how],
		 side == READER ? (wm == WM_NONE && prog != P_UNLINK ? "" :
				   prog == P_UNLINK ? " wm=random" : wm_name[wm]) :
		 how == H_POLL || how == H_EPOLL_LT || how == H_EPOLL_ET ?
		 " (POLLOUT)" : " (full ring)",
		 prog_name[prog]);
}

static void build_cells(void)
{
	static const enum how rhow[] = { H_READ, H_POLL, H_EPOLL_LT, H_EPOLL_ET, H_WAIT };
	static const enum how whow[] = { H_WRITE, H_BATCH, H_POLL, H_EPOLL_LT, H_EPOLL_ET };
	static const enum prog rprog[] = { P_WRITE, P_BATCH1, P_BATCH2, P_BATCHN, P_HUGE };
	static const enum prog wprog[] = { P_CONSUME, P_READ, P_CLOSE, P_UNLINK };
	unsigned int pol, h, p, wm;

	for (pol = 0; pol < 2; pol++)
		for (p = 0; p < 5; p++)
			for (wm = 0; wm < 3; wm++)
				for (h = 0; h < 5; h++)
					add_cell(READER, rhow[h], rprog[p], (enum wm)wm, pol);
	for (pol = 0; pol < 2; pol++)
		for (h = 0; h < 5; h++)
			add_cell(READER, rhow[h], P_UNLINK, WM_NONE, pol);
	for (p = 0; p < 4; p++)
		for (h = 0; h < 5; h++)
			add_cell(WRITER, whow[h], wprog[p], WM_NONE,
				 SHMRING_POLICY_LOSSLESS);
}

/* Round cells cost a ring per wait: they get fewer waits. */
static double weight(const struct cell *c)
{
	return c->rounds ? 0.25 : 1.0;
}

static pid_t fork_child(void)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	return pid;
}

static uint64_t total_waits, total_lost;

/* Cells run a few at a time, each in a slot with its own page and ring. */
struct slot {
	const struct cell *c;
	struct shared *sh;
	struct shmring *ctl;
	pid_t wpid, ppid;
	int ws, ps;
	bool wdone, pdone, whung, phung;
	uint64_t t0, hang_ns, pdeadline_ns;
};

static void start_cell(struct slot *sl, int idx, const struct cell *c,
		       uint64_t target, uint64_t cap_ms)
{
	uint64_t end_ns;
	int ret;

	memset(sl, 0, sizeof(*sl));
	sl->sh = (struct shared *)((char *)shm_all + (size_t)idx * SLOT_BYTES);
	sh = sl->sh;
	memset(sh, 0, sizeof(*sh));
	snprintf(ring, sizeof(ring), "%s.%d", RING, idx);
	sl->c = c;
	sl->t0 = now_mono_ns();
	end_ns = sl->t0 + cap_ms * 1000000ULL;
	sl->hang_ns = end_ns + (uint64_t)(timeout_ms * 6 + 10000) * 1000000ULL;
	if (!c->rounds) {
		ret = create_ring(c, ring, &sl->ctl);
		if (ret)
			bail_out("create %s: %s", ring, shmring_strerror(ret));
	}
	sl->wpid = fork_child();
	if (sl->wpid == 0) {
		my_side = 0;
		rng = seed ^ ((uint64_t)(c - cells) << 32) ^ 0x9e3779b97f4a7c15ULL;
		rnd(1);
		if (c->side == READER && c->rounds)
			reader_waiter_rounds(c, target, end_ns);
		else if (c->side == READER)
			reader_waiter(c, target, end_ns);
		else
			writer_waiter(c, target, end_ns);
		_exit(0);
	}
	sl->ppid = fork_child();
	if (sl->ppid == 0) {
		my_side = 1;
		rng = seed ^ ((uint64_t)(c - cells) << 40) ^ 0xda942042e4dd58b5ULL;
		rnd(1);
		if (c->side == READER)
			c->rounds ? unlinker_for_readers(c) : feeder(c);
		else if (c->prog == P_UNLINK)
			unlinker_for_writers(c);
		else if (c->prog == P_CLOSE)
			closer();
		else
			consumer(c);
		_exit(0);
	}
}

static void report_cell(struct slot *sl, int idx)
{
	const struct cell *c = sl->c;
	uint32_t i;

	sh = sl->sh;
	snprintf(ring, sizeof(ring), "%s.%d", RING, idx);
	if (sl->ctl)
		shmring_close(sl->ctl);
	if (!c->rounds)
		shmring_unlink(ring);
	total_waits += sh->waits;
	total_lost += sh->lost;
	if (sl->whung || sl->phung || !WIFEXITED(sl->ws) || WEXITSTATUS(sl->ws) ||
	    sh->perr[0])
		sh->errors++;
	if (!sh->lost && !sh->errors) {
		ok(1, "%s: %llu waits", c->name, (unsigned long long)sh->waits);
	} else {
		ok(0, "%s: %llu lost wakeups, %llu errors in %llu waits", c->name,
		   (unsigned long long)sh->lost, (unsigned long long)sh->errors,
		   (unsigned long long)sh->waits);
		diag("  reproduce: t_wakeup --cell '%s' --seed %llu", c->name,
		     (unsigned long long)seed);
	}
	for (i = 0; i < sh->nmsg && i < NMSG; i++)
		diag("  %s", sh->msg[i]);
	if (sh->perr[0])
		diag("  other side: %s", sh->perr);
	if (sl->whung)
		diag("  the waiter hung: killed");
	else if (!WIFEXITED(sl->ws) || WEXITSTATUS(sl->ws))
		diag("  the waiter died: status 0x%x", sl->ws);
	if (sl->phung)
		diag("  the other side hung: killed");
	if (sh->idle)
		diag("  %llu timeouts with nothing to wake for (idle)",
		     (unsigned long long)sh->idle);
	if (verbose)
		diag("  %llu ms, %llu ms in waits, %llu progress steps",
		     (unsigned long long)ms_since(sl->t0),
		     (unsigned long long)(sh->slept_ns / 1000000),
		     (unsigned long long)sh->ops);
}

/* Reap what ended, kill what hangs; true when the slot's cell is over. */
static bool poll_slot(struct slot *sl)
{
	uint64_t now = now_mono_ns();

	if (!sl->wdone) {
		if (waitpid(sl->wpid, &sl->ws, WNOHANG) != sl->wpid) {
			if (now < sl->hang_ns)
				return false;
			sl->whung = true;
			kill(sl->wpid, SIGKILL);
			waitpid(sl->wpid, &sl->ws, 0);
		}
		sl->wdone = true;
		sh = sl->sh;
		ST(sh->stop, 1);
		sl->pdeadline_ns = now + (uint64_t)(timeout_ms * 4 + 5000) * 1000000ULL;
	}
	if (!sl->pdone) {
		if (waitpid(sl->ppid, &sl->ps, WNOHANG) != sl->ppid) {
			if (now < sl->pdeadline_ns)
				return false;
			sl->phung = true;
			kill(sl->ppid, SIGKILL);
			waitpid(sl->ppid, &sl->ps, 0);
		}
		sl->pdone = true;
	}
	return true;
}

/* Debian's stock kernels are "*-amd64"; the debug kernel is ~3x slower. */
static bool slow_kernel(void)
{
	struct utsname u;

	return uname(&u) || !strstr(u.release, "amd64");
}

int main(int argc, char **argv)
{
	const char *env = getenv("SHMRING_WAKEUP_WAITS"), *only = NULL;
	uint64_t waits = 0, t0 = now_mono_ns(), target, cap, budget_ms;
	struct slot slots[MAX_SLOTS] = { { 0 } };
	int i, j, n = 0, jobs = 3, running;
	double wsum = 0, secs;
	struct sigaction sa;
	bool list = false;

	seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--waits") && i + 1 < argc)
			waits = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--cell") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
			jobs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--list"))
			list = true;
		else if (!strcmp(argv[i], "-v"))
			verbose = true;
		else
			bail_out("usage: t_wakeup [--waits N] [--timeout MS] [--seed S] [--cell SUBSTR] [--jobs N] [--list] [-v]");
	}
	if (!waits && env)
		waits = strtoull(env, NULL, 0);
	/*
	 * The default fits make check: each cell also stops at its share of
	 * a time budget (40 s; 60 s on a slow kernel). Asked for N waits, the
	 * budget is 3 ms a wait (most take well under 1 ms).
	 */
	if (waits) {
		budget_ms = waits * 3;
	} else {
		waits = slow_kernel() ? 40000 : 120000;
		budget_ms = slow_kernel() ? 60000 : 40000;
	}
	if (timeout_ms < 100)
		timeout_ms = 100;
	if (jobs < 1 || jobs > MAX_SLOTS)
		jobs = jobs < 1 ? 1 : MAX_SLOTS;

	build_cells();
	for (i = 0; i < ncells; i++) {
		if (only && !strstr(cells[i].name, only))
			continue;
		wsum += weight(&cells[i]);
		n++;
		if (list)
			printf("%s\n", cells[i].name);
	}
	if (list)
		return 0;
	if (!n)
		bail_out("no cell matches '%s'", only);

	_Static_assert(sizeof(struct shared) <= SLOT_BYTES, "struct shared fits a slot");
	shm_all = mmap(NULL, SLOT_BYTES * MAX_SLOTS, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm_all == MAP_FAILED)
		bail_out("mmap: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: blocking calls end with EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	plan(n);
	diag("%d cells, %d at a time, %llu waits in all, each wait bounded by %d ms, seed %llu",
	     n, jobs, (unsigned long long)waits, timeout_ms, (unsigned long long)seed);
	for (i = 0, running = 0; i < ncells || running; ) {
		for (j = 0; j < jobs && i < ncells; j++) {
			if (slots[j].c)
				continue;
			while (i < ncells && only && !strstr(cells[i].name, only))
				i++;
			if (i == ncells)
				break;
			target = (uint64_t)((double)waits * weight(&cells[i]) / wsum) + 1;
			cap = (uint64_t)((double)budget_ms * jobs * weight(&cells[i]) / wsum) + 100;
			start_cell(&slots[j], j, &cells[i], target, cap);
			running++;
			i++;
		}
		for (j = 0; j < jobs; j++) {
			if (slots[j].c && poll_slot(&slots[j])) {
				report_cell(&slots[j], j);
				slots[j].c = NULL;
				running--;
			}
		}
		usleep(5000);
	}
	secs = (double)(now_mono_ns() - t0) / 1e9;
	diag("%.1f s, %.0f waits/s", secs, (double)total_waits / secs);
	diag("waits: %llu (lost: %llu)", (unsigned long long)total_waits,
	     (unsigned long long)total_lost);
	return done_testing();
}
