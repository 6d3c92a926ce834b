// SPDX-License-Identifier: MIT
/*
 * shmring-bench: shmring measured against the IPC a user would otherwise
 * pick, in the same boot (man/shmring-bench.1, docs/bench.md).
 *
 *   shmring-bench [-t IMPL,...] [-s SIZE,...] [-S WxR,...] [-r REPS]
 *                 [-d SECONDS] [-n RECORDS] [-m throughput,latency,idle]
 *                 [-o FILE] [--quick]
 *
 * Every run forks its writers and readers as separate processes, releases
 * them together, and has each one report its records, CPU time
 * (getrusage) and system calls (counted here: the link wraps every libc
 * entry point that enters the kernel, libshmring's included). Output is
 * one JSON object per line; bench/report.py turns it into the report.
 *
 * Readers check the header of every record they get (writer id and a
 * per-writer counter): a lossless transport that loses, duplicates or
 * reorders a record fails the run. They do not read the rest of the
 * payload; the copy into the reader's buffer that pipes, sockets and
 * message queues make is part of what those cost.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"

#ifndef SHMRING_VERSION
#define SHMRING_VERSION "unknown"
#endif

#define PROG		"shmring-bench"
#define MAX_W		4
#define MAX_R		4
#define REC_HDR		16	/* writer id, counter, timestamp: smallest record */
#define RUN_LIMIT_S	120	/* a child still running then has hung */

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* --- System call counting -------------------------------------------------
 *
 * The Makefile links this program with -Wl,--wrap=SYM for each of these,
 * so every call, from here or from libshmring.a, goes through a counter.
 */
static uint64_t nsys;

#define WRAPPED(ret, name, params)		\
	ret __real_##name params;		\
	ret __wrap_##name params

WRAPPED(ssize_t, write, (int fd, const void *buf, size_t n));
WRAPPED(ssize_t, read, (int fd, void *buf, size_t n));
WRAPPED(int, ioctl, (int fd, unsigned long req, ...));
WRAPPED(int, poll, (struct pollfd *fds, nfds_t n, int timeout));
WRAPPED(int, epoll_wait, (int ep, struct epoll_event *ev, int n, int timeout));
WRAPPED(ssize_t, send, (int fd, const void *buf, size_t n, int flags));
WRAPPED(ssize_t, recv, (int fd, void *buf, size_t n, int flags));
WRAPPED(int, sendmmsg, (int fd, struct mmsghdr *m, unsigned int n, int flags));
WRAPPED(int, recvmmsg, (int fd, struct mmsghdr *m, unsigned int n, int flags,
			struct timespec *timeout));
WRAPPED(int, mq_send, (mqd_t q, const char *buf, size_t n, unsigned int prio));
WRAPPED(ssize_t, mq_receive, (mqd_t q, char *buf, size_t n, unsigned int *prio));

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	nsys++;
	return __real_write(fd, buf, n);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	nsys++;
	return __real_read(fd, buf, n);
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	nsys++;
	return __real_ioctl(fd, req, arg);
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	nsys++;
	return __real_poll(fds, n, timeout);
}

int __wrap_epoll_wait(int ep, struct epoll_event *ev, int n, int timeout)
{
	nsys++;
	return __real_epoll_wait(ep, ev, n, timeout);
}

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
	nsys++;
	return __real_send(fd, buf, n, flags);
}

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
	nsys++;
	return __real_recv(fd, buf, n, flags);
}

int __wrap_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags)
{
	nsys++;
	return __real_sendmmsg(fd, m, n, flags);
}

int __wrap_recvmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags,
		    struct timespec *timeout)
{
	nsys++;
	return __real_recvmmsg(fd, m, n, flags, timeout);
}

int __wrap_mq_send(mqd_t q, const char *buf, size_t n, unsigned int prio)
{
	nsys++;
	return __real_mq_send(q, buf, n, prio);
}

ssize_t __wrap_mq_receive(mqd_t q, char *buf, size_t n, unsigned int *prio)
{
	nsys++;
	return __real_mq_receive(q, buf, n, prio);
}

/* --- Options and helpers ---------------------------------------------------- */

static struct {
	uint64_t ring_size;	/* bytes of buffer every transport gets */
	unsigned int batch;	/* records per batch where the API batches */
	unsigned int reps;
	double target_s;	/* calibrated length of one run */
	uint64_t records;	/* fixed records per writer (0: calibrate) */
	unsigned int samples;	/* latency: records, one at a time */
	unsigned int gap_us;	/* latency: pause between them */
	double idle_s;		/* idle: how long the reader sleeps */
	FILE *out;
	int errors;
} opt = {
	.ring_size = 1 << 20, .batch = 64, .reps = 5, .target_s = 0.25,
	.samples = 2000, .gap_us = 300, .idle_s = 0.5,
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void sleep_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static __attribute__((format(printf, 1, 2))) void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void *xmap(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* A number from a /proc file, or -1. */
static long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) ? -errno : 0;
}

/* --- One run: what the processes share ------------------------------------- */

struct proc_res {
	uint64_t recs;		/* written (writer) or delivered (reader) */
	uint64_t lost;		/* reader: counter gaps (overwrite policy) */
	uint64_t syscalls;
	double utime, stime;
	uint64_t t_end;
	int err;		/* negative errno, or -EPROTO for a bad record */
	char msg[160];
};

struct shared {
	atomic_uint writers_done;
	struct proc_res w[MAX_W], r[MAX_R];
	uint64_t lat_ns[];	/* latency: one per record, filled by the reader */
};

enum mode { M_THROUGHPUT, M_LATENCY, M_IDLE };

struct impl;

/* A run: transport state is made by setup() in the parent, before fork. */
struct run {
	const struct impl *impl;
	enum mode mode;
	unsigned int writers, readers;
	uint32_t size;		/* payload bytes of every record */
	uint64_t count;		/* records per writer */
	unsigned int batch;	/* records per send call */
	struct shared *sh;
	size_t sh_len;
	/* transport state */
	char name[64];			/* shmring ring / mq name prefix */
	int fd[MAX_W][MAX_R][2];	/* pipe, socketpair: [0] read, [1] write */
	int efd_r[MAX_R], efd_w[MAX_W];	/* uring eventfds */
	char *area;			/* uring rings, memcpy buffers */
	size_t area_len;
	uint64_t mq_depth;
};

/* State of the child process (each child is one process, one role). */
static struct {
	struct shmring *h;
	int ep;
	mqd_t mq[MAX_R];
	uint64_t next[MAX_W];	/* reader: counter expected from each writer */
	struct proc_res *res;
	char *buf;		/* receive buffer, or the writer's batch */
	size_t buf_len;
	size_t carry[MAX_W];	/* pipe: bytes of a partial frame kept */
	char *pbuf[MAX_W];	/* pipe: per-writer stream buffers */
	struct mmsghdr *mm;
	struct iovec *iov;
} me;

struct impl {
	const char *name, *transport, *path, *policy;
	int (*setup)(struct run *run);
	void (*cleanup)(struct run *run);
	int (*w_open)(struct run *run, unsigned int w);	/* optional */
	/* n records of run->size bytes at recs[], to every reader */
	int (*w_send)(struct run *run, unsigned int w, char *const *recs, unsigned int n);
	/* add the reader's fds to me.ep */
	int (*r_open)(struct run *run, unsigned int r);
	/* take what is there; returns records seen (>= 0) or -errno */
	int (*r_drain)(struct run *run, unsigned int r);
	/* optional: announce a sleep; 1 when records came meanwhile */
	int (*r_presleep)(struct run *run, unsigned int r);
	/* optional: after epoll_wait returned events */
	void (*r_woken)(struct run *run, unsigned int r);
	int no_readers;		/* memcpy: the writers do all the work */
};

static __attribute__((format(printf, 3, 4)))
int fail(struct proc_res *res, int err, const char *fmt, ...)
{
	va_list ap;

	if (res && !res->err) {
		res->err = err ? err : -EPROTO;
		va_start(ap, fmt);
		vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
		va_end(ap);
	}
	return err ? err : -EPROTO;
}

static int lossless(const struct run *run)
{
	return strcmp(run->impl->policy, "overwrite");
}

/* A record arrived at reader r: check its header, count it. */
static int deliver(struct run *run, const void *p, size_t len)
{
	uint32_t wid, ctr;
	uint64_t t;

	if (len != run->size)
		return fail(me.res, 0, "record of %zu bytes, expected %u", len, run->size);
	memcpy(&wid, p, 4);
	memcpy(&ctr, (const char *)p + 4, 4);
	memcpy(&t, (const char *)p + 8, 8);
	if (wid >= run->writers)
		return fail(me.res, 0, "record from writer %u of %u", wid, run->writers);
	if (ctr != me.next[wid]) {
		if (ctr < me.next[wid] || lossless(run))
			return fail(me.res, 0, "writer %u: record %u, expected %" PRIu64,
				    wid, ctr, me.next[wid]);
		me.res->lost += ctr - me.next[wid];
	}
	me.next[wid] = (uint64_t)ctr + 1;
	me.res->recs++;
	if (run->mode == M_LATENCY && ctr < run->count)
		run->sh->lat_ns[ctr] = now_ns() - t;
	return 0;
}

/* --- shmring ---------------------------------------------------------------- */

static int shm_setup(struct run *run)
{
	struct shmring_attr attr = {
		.data_size = opt.ring_size,
		.policy = lossless(run) ? SHMRING_POLICY_LOSSLESS : SHMRING_POLICY_OVERWRITE,
	};
	struct shmring *h;
	int ret;

	snprintf(run->name, sizeof(run->name), "bench-%d", (int)getpid());
	shmring_unlink(run->name);
	ret = shmring_open(run->name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE, 0600,
			   &attr, &h);
	if (ret)
		return ret;
	shmring_close(h);	/* the named ring stays until unlinked */
	return 0;
}

static void shm_cleanup(struct run *run)
{
	shmring_unlink(run->name);
}

static int shm_w_open(struct run *run, unsigned int w)
{
	(void)w;
	return shmring_open(run->name, SHMRING_O_WRITE, 0, NULL, &me.h);
}

static int shm_w_write(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	unsigned int i;
	int ret;

	(void)w;
	for (i = 0; i < n; i++) {
		ret = shmring_write(me.h, 1, recs[i], run->size);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The kernel's own write(2) path, without libshmring's batch of one. */
static int shm_w_syswrite(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	unsigned int i;
	ssize_t k;

	(void)w;
	for (i = 0; i < n; i++) {
		do
			k = write(shmring_fd(me.h), recs[i], run->size);
		while (k < 0 && errno == EINTR);
		if (k < 0)
			return -errno;
	}
	return 0;
}

static int shm_w_batch(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	struct shmring_msg msgs[SHMRING_BATCH_MAX];
	unsigned int i, done = 0;
	int ret;

	(void)w;
	for (i = 0; i < n; i++)
		msgs[i] = (struct shmring_msg){ .data = recs[i], .len = run->size, .type = 1 };
	while (done < n) {
		ret = shmring_write_batch(me.h, msgs + done, n - done);
		if (ret < 0)
			return ret;
		done += (unsigned int)ret;
	}
	return 0;
}

static int shm_r_open(struct run *run, unsigned int r)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	(void)r;
	ret = shmring_open(run->name, SHMRING_O_READ, 0, NULL, &me.h);
	if (ret)
		return ret;
	return epoll_ctl(me.ep, EPOLL_CTL_ADD, shmring_fd(me.h), &ev) ? -errno : 0;
}

/* In place: peek, look at the header, consume; trust it only if not stale. */
static int shm_r_drain(struct run *run, unsigned int r)
{
	char hdr[REC_HDR];
	struct shmring_record rec;
	int n, ret;

	(void)r;
	for (n = 0; n < 4096; n++) {
		ret = shmring_peek(me.h, &rec);
		if (ret == -EAGAIN)
			break;
		if (ret)
			return ret;
		memcpy(hdr, rec.data, rec.len < REC_HDR ? rec.len : REC_HDR);
		ret = shmring_consume(me.h);
		if (ret == -ESTALE)
			continue;	/* overwritten while we looked: a gap */
		if (ret)
			return ret;
		ret = deliver(run, hdr, rec.len);
		if (ret)
			return ret;
	}
	return n;
}

/* --- pipe: length-prefixed records, one pipe per writer/reader pair --------- */

static int pipe_setup(struct run *run)
{
	unsigned int w, r;

	for (w = 0; w < run->writers; w++)
		for (r = 0; r < run->readers; r++) {
			int *p = run->fd[w][r];

			if (pipe2(p, O_CLOEXEC))
				return -errno;
			if (fcntl(p[1], F_SETPIPE_SZ, (int)opt.ring_size) < 0)
				return -errno;
			if (set_nonblock(p[0]))
				return -errno;
		}
	return 0;
}

static void close_pairs(struct run *run)
{
	unsigned int w, r;

	for (w = 0; w < MAX_W; w++)
		for (r = 0; r < MAX_R; r++) {
			if (run->fd[w][r][0] > 0)
				close(run->fd[w][r][0]);
			if (run->fd[w][r][1] > 0)
				close(run->fd[w][r][1]);
		}
}

static int write_all(int fd, const char *p, size_t len)
{
	ssize_t k;

	while (len) {
		k = write(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

static int pipe_w_open(struct run *run, unsigned int w)
{
	me.buf_len = (size_t)run->batch * (run->size + 4);
	me.buf = malloc(me.buf_len);
	(void)w;
	return me.buf ? 0 : -ENOMEM;
}

/* Frame n records into one buffer, then one write per reader's pipe. */
static int pipe_w_send(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	uint32_t len = run->size;
	size_t off = 0;
	unsigned int i, r;
	int ret;

	for (i = 0; i < n; i++) {
		memcpy(me.buf + off, &len, 4);
		memcpy(me.buf + off + 4, recs[i], len);
		off += 4 + (size_t)len;
	}
	for (r = 0; r < run->readers; r++) {
		ret = write_all(run->fd[w][r][1], me.buf, off);
		if (ret)
			return ret;
	}
	return 0;
}

static int add_fd(int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(me.ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int pipe_r_open(struct run *run, unsigned int r)
{
	unsigned int w;
	int ret;

	me.buf_len = 256 * 1024 > 2 * ((size_t)run->size + 4) ? 256 * 1024
							   : 2 * ((size_t)run->size + 4);
	for (w = 0; w < run->writers; w++) {
		me.pbuf[w] = malloc(me.buf_len);
		if (!me.pbuf[w])
			return -ENOMEM;
		ret = add_fd(run->fd[w][r][0], EPOLLIN);
		if (ret)
			return ret;
	}
	return 0;
}

/* One read per pipe, in big chunks; a partial frame waits for the rest. */
static int pipe_r_drain(struct run *run, unsigned int r)
{
	unsigned int w;
	int seen = 0, ret;

	for (w = 0; w < run->writers; w++) {
		char *b = me.pbuf[w];
		size_t have = me.carry[w], off = 0;
		uint32_t len;
		ssize_t k;

		k = read(run->fd[w][r][0], b + have, me.buf_len - have);
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (k <= 0)
			continue;
		have += (size_t)k;
		while (have - off >= 4) {
			memcpy(&len, b + off, 4);
			if (len != run->size)
				return fail(me.res, 0, "pipe frame of %u bytes", len);
			if (have - off < 4 + (size_t)len)
				break;
			ret = deliver(run, b + off + 4, len);
			if (ret)
				return ret;
			off += 4 + (size_t)len;
			seen++;
		}
		memmove(b, b + off, have - off);
		me.carry[w] = have - off;
	}
	return seen;
}

/* --- AF_UNIX SOCK_SEQPACKET: one socket pair per writer/reader pair --------- */

static int sock_setup(struct run *run)
{
	int size = (int)opt.ring_size;
	unsigned int w, r;

	for (w = 0; w < run->writers; w++)
		for (r = 0; r < run->readers; r++) {
			int *p = run->fd[w][r];

			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p))
				return -errno;
			/* Past net.core.wmem_max needs CAP_NET_ADMIN: try that first. */
			if (setsockopt(p[1], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) &&
			    setsockopt(p[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)))
				return -errno;
			if (set_nonblock(p[0]))
				return -errno;
		}
	return 0;
}

static int sock_w_open(struct run *run, unsigned int w)
{
	(void)w;
	me.mm = calloc(run->batch, sizeof(*me.mm));
	me.iov = calloc(run->batch, sizeof(*me.iov));
	return me.mm && me.iov ? 0 : -ENOMEM;
}

static int sock_w_send(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	unsigned int i, r;
	ssize_t k;

	for (r = 0; r < run->readers; r++)
		for (i = 0; i < n; i++) {
			do
				k = send(run->fd[w][r][1], recs[i], run->size, 0);
			while (k < 0 && errno == EINTR);
			if (k < 0)
				return -errno;
		}
	return 0;
}

static int sock_w_sendmmsg(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	unsigned int i, r, done;
	int k;

	for (i = 0; i < n; i++) {
		me.iov[i] = (struct iovec){ .iov_base = recs[i], .iov_len = run->size };
		me.mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &me.iov[i], .msg_iovlen = 1 } };
	}
	for (r = 0; r < run->readers; r++)
		for (done = 0; done < n; ) {
			k = sendmmsg(run->fd[w][r][1], me.mm + done, n - done, 0);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return -errno;
			done += (unsigned int)k;
		}
	return 0;
}

#define RECV_BATCH 64

static int sock_r_open(struct run *run, unsigned int r)
{
	unsigned int w, i;
	int ret;

	me.buf_len = (size_t)RECV_BATCH * run->size;
	me.buf = malloc(me.buf_len);
	me.mm = calloc(RECV_BATCH, sizeof(*me.mm));
	me.iov = calloc(RECV_BATCH, sizeof(*me.iov));
	if (!me.buf || !me.mm || !me.iov)
		return -ENOMEM;
	for (i = 0; i < RECV_BATCH; i++) {
		me.iov[i] = (struct iovec){ .iov_base = me.buf + (size_t)i * run->size,
					    .iov_len = run->size };
		me.mm[i].msg_hdr.msg_iov = &me.iov[i];
		me.mm[i].msg_hdr.msg_iovlen = 1;
	}
	for (w = 0; w < run->writers; w++) {
		ret = add_fd(run->fd[w][r][0], EPOLLIN);
		if (ret)
			return ret;
	}
	return 0;
}

static int sock_r_recv(struct run *run, unsigned int r)
{
	unsigned int w, i;
	int seen = 0, ret;
	ssize_t k;

	for (w = 0; w < run->writers; w++)
		for (i = 0; i < RECV_BATCH; i++) {
			k = recv(run->fd[w][r][0], me.buf, run->size, MSG_DONTWAIT | MSG_TRUNC);
			if (k < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (k < 0)
				return -errno;
			ret = deliver(run, me.buf, (size_t)k);
			if (ret)
				return ret;
			seen++;
		}
	return seen;
}

static int sock_r_recvmmsg(struct run *run, unsigned int r)
{
	unsigned int w;
	int seen = 0, ret, k, i;

	for (w = 0; w < run->writers; w++) {
		k = recvmmsg(run->fd[w][r][0], me.mm, RECV_BATCH, MSG_DONTWAIT, NULL);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k < 0)
			return -errno;
		for (i = 0; i < k; i++) {
			if (me.mm[i].msg_hdr.msg_flags & MSG_TRUNC)
				return fail(me.res, 0, "truncated datagram");
			ret = deliver(run, me.buf + (size_t)i * run->size, me.mm[i].msg_len);
			if (ret)
				return ret;
		}
		seen += k;
	}
	return seen;
}

/* --- POSIX message queue: one queue per reader, shared by the writers ------- */

static void mq_name(const struct run *run, unsigned int r, char *buf, size_t len)
{
	snprintf(buf, len, "/%s-%u", run->name, r);
}

static void mqb_cleanup(struct run *run);

static int mqb_setup(struct run *run)
{
	long msg_max = read_long("/proc/sys/fs/mqueue/msg_max");
	struct mq_attr a = { .mq_msgsize = run->size };
	char name[80];
	unsigned int r;
	mqd_t q;

	if (msg_max < 1)
		msg_max = 10;	/* the kernel's default */
	/* The same buffer as every other transport, as far as msg_max allows. */
	run->mq_depth = opt.ring_size / run->size;
	if (run->mq_depth > (uint64_t)msg_max)
		run->mq_depth = (uint64_t)msg_max;
	if (run->mq_depth < 1)
		run->mq_depth = 1;
	snprintf(run->name, sizeof(run->name), "shmring-bench-%d", (int)getpid());
	/* EMFILE: past RLIMIT_MSGQUEUE (not raised without root); go shallower. */
	for (r = 0; r < run->readers; r++) {
		mq_name(run, r, name, sizeof(name));
		mq_unlink(name);
		a.mq_maxmsg = (long)run->mq_depth;
		q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
		if (q == (mqd_t)-1 && errno == EMFILE && run->mq_depth > 1) {
			mqb_cleanup(run);
			run->mq_depth /= 2;
			r = -1U;
			continue;
		}
		if (q == (mqd_t)-1)
			return -errno;
		mq_close(q);
	}
	return 0;
}

static void mqb_cleanup(struct run *run)
{
	char name[80];
	unsigned int r;

	for (r = 0; r < run->readers; r++) {
		mq_name(run, r, name, sizeof(name));
		mq_unlink(name);
	}
}

static int mqb_w_open(struct run *run, unsigned int w)
{
	char name[80];
	unsigned int r;

	(void)w;
	for (r = 0; r < run->readers; r++) {
		mq_name(run, r, name, sizeof(name));
		me.mq[r] = mq_open(name, O_WRONLY);
		if (me.mq[r] == (mqd_t)-1)
			return -errno;
	}
	return 0;
}

static int mqb_w_send(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	unsigned int i, r;

	(void)w;
	for (i = 0; i < n; i++)
		for (r = 0; r < run->readers; r++)
			while (mq_send(me.mq[r], recs[i], run->size, 0))
				if (errno != EINTR)
					return -errno;
	return 0;
}

static int mqb_r_open(struct run *run, unsigned int r)
{
	char name[80];

	mq_name(run, r, name, sizeof(name));
	me.mq[r] = mq_open(name, O_RDONLY | O_NONBLOCK);
	if (me.mq[r] == (mqd_t)-1)
		return -errno;
	me.buf_len = run->size;
	me.buf = malloc(me.buf_len);
	if (!me.buf)
		return -ENOMEM;
	return add_fd((int)me.mq[r], EPOLLIN);
}

static int mqb_r_drain(struct run *run, unsigned int r)
{
	int seen, ret;
	ssize_t k;

	for (seen = 0; seen < 4096; seen++) {
		k = mq_receive(me.mq[r], me.buf, me.buf_len, NULL);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (k < 0)
			return -errno;
		ret = deliver(run, me.buf, (size_t)k);
		if (ret)
			return ret;
	}
	return seen;
}

/*
 * --- uring: single-producer/single-consumer rings in a memfd ---------------
 *
 * What a careful user builds by hand, with none of shmring's guarantees: a
 * crashed writer can leave it torn, readers share nothing, there is no
 * fan-out. One ring per writer/reader pair. head and tail are byte
 * positions; a frame is a 4-byte length, 4 bytes pad, the payload, padded
 * to 8; a length of UINT32_MAX means "wrapped, continue at offset 0".
 * Sleeping uses the same protocol as shmring's [W5]/[R5]: the sleeper
 * stores its flag, fences, looks again; the other side publishes, fences,
 * and writes the eventfd only if the flag is set.
 */
struct uring {
	_Alignas(64) _Atomic uint64_t head;	/* producer */
	_Atomic uint32_t reader_sleeps;
	_Alignas(64) _Atomic uint64_t tail;	/* consumer */
	_Atomic uint32_t writer_sleeps;
	_Alignas(4096) char data[];
};

#define UR_WRAP		UINT32_MAX
#define UR_FRAME(len)	(((uint64_t)(len) + 8 + 7) & ~7ULL)

static size_t uring_stride(void)
{
	return sizeof(struct uring) + opt.ring_size;
}

static struct uring *uring_of(const struct run *run, unsigned int w, unsigned int r)
{
	return (struct uring *)(run->area + (w * MAX_R + r) * uring_stride());
}

static int uring_setup(struct run *run)
{
	unsigned int i;
	int fd;

	run->area_len = MAX_W * MAX_R * uring_stride();
	fd = memfd_create("shmring-bench-uring", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)run->area_len)) {
		close(fd);
		return -errno;
	}
	run->area = mmap(NULL, run->area_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (run->area == MAP_FAILED) {
		run->area = NULL;
		return -errno;
	}
	for (i = 0; i < MAX_R; i++)
		run->efd_r[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (i = 0; i < MAX_W; i++)
		run->efd_w[i] = eventfd(0, EFD_CLOEXEC);
	for (i = 0; i < MAX_R; i++)
		if (run->efd_r[i] < 0)
			return -errno;
	for (i = 0; i < MAX_W; i++)
		if (run->efd_w[i] < 0)
			return -errno;
	return 0;
}

static void uring_cleanup(struct run *run)
{
	unsigned int i;

	for (i = 0; i < MAX_R; i++)
		if (run->efd_r[i] > 0)
			close(run->efd_r[i]);
	for (i = 0; i < MAX_W; i++)
		if (run->efd_w[i] > 0)
			close(run->efd_w[i]);
}

static int efd_signal(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

/* Room for @need bytes: wait on our eventfd until the reader frees some. */
static int uring_room(struct run *run, struct uring *u, unsigned int w, uint64_t head,
		      uint64_t need)
{
	uint64_t v;

	while (opt.ring_size - (head - atomic_load_explicit(&u->tail, memory_order_acquire)) < need) {
		atomic_store_explicit(&u->writer_sleeps, 1, memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);	/* pairs with the reader's */
		if (opt.ring_size - (head - atomic_load_explicit(&u->tail,
					memory_order_acquire)) >= need)
			break;
		if (read(run->efd_w[w], &v, sizeof(v)) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

static int uring_put(struct run *run, struct uring *u, unsigned int w, unsigned int r,
		     const char *rec)
{
	uint64_t head = atomic_load_explicit(&u->head, memory_order_relaxed);
	uint64_t need = UR_FRAME(run->size), off = head & (opt.ring_size - 1);
	uint64_t pad = off + need > opt.ring_size ? opt.ring_size - off : 0;
	uint32_t len = run->size;
	int ret;

	ret = uring_room(run, u, w, head, pad + need);
	if (ret)
		return ret;
	if (pad) {
		len = UR_WRAP;
		memcpy(u->data + off, &len, 4);
		len = run->size;
		off = 0;
	}
	memcpy(u->data + off, &len, 4);
	memcpy(u->data + off + 8, rec, run->size);
	/* Publish the frame, then look whether the reader sleeps. */
	atomic_store_explicit(&u->head, head + pad + need, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&u->reader_sleeps, memory_order_relaxed) &&
	    atomic_exchange_explicit(&u->reader_sleeps, 0, memory_order_relaxed))
		return efd_signal(run->efd_r[r]);
	return 0;
}

static int uring_w_send(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	unsigned int i, r;
	int ret;

	for (i = 0; i < n; i++)
		for (r = 0; r < run->readers; r++) {
			ret = uring_put(run, uring_of(run, w, r), w, r, recs[i]);
			if (ret)
				return ret;
		}
	return 0;
}

static int uring_r_open(struct run *run, unsigned int r)
{
	return add_fd(run->efd_r[r], EPOLLIN);
}

static int uring_r_drain(struct run *run, unsigned int r)
{
	unsigned int w;
	int seen = 0, ret;

	for (w = 0; w < run->writers; w++) {
		struct uring *u = uring_of(run, w, r);
		uint64_t tail = atomic_load_explicit(&u->tail, memory_order_relaxed);
		uint64_t head = atomic_load_explicit(&u->head, memory_order_acquire);
		uint32_t len;

		if (tail == head)
			continue;
		while (tail != head) {
			uint64_t off = tail & (opt.ring_size - 1);

			memcpy(&len, u->data + off, 4);
			if (len == UR_WRAP) {
				tail += opt.ring_size - off;
				continue;
			}
			if (len != run->size || head - tail < UR_FRAME(len))
				return fail(me.res, 0, "uring frame of %u bytes", len);
			ret = deliver(run, u->data + off + 8, len);
			if (ret)
				return ret;
			tail += UR_FRAME(len);
			seen++;
		}
		/* Done with the bytes; then wake the writer if it waits for room. */
		atomic_store_explicit(&u->tail, tail, memory_order_release);
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load_explicit(&u->writer_sleeps, memory_order_relaxed) &&
		    atomic_exchange_explicit(&u->writer_sleeps, 0, memory_order_relaxed)) {
			ret = efd_signal(run->efd_w[w]);
			if (ret)
				return ret;
		}
	}
	return seen;
}

static int uring_r_presleep(struct run *run, unsigned int r)
{
	unsigned int w;
	int more = 0;

	for (w = 0; w < run->writers; w++)
		atomic_store_explicit(&uring_of(run, w, r)->reader_sleeps, 1,
				      memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);	/* pairs with uring_put's */
	for (w = 0; w < run->writers; w++) {
		struct uring *u = uring_of(run, w, r);

		if (atomic_load_explicit(&u->head, memory_order_acquire) !=
		    atomic_load_explicit(&u->tail, memory_order_relaxed))
			more = 1;
	}
	/* Records came: no need for the writers to signal after all. */
	for (w = 0; more && w < run->writers; w++)
		atomic_store_explicit(&uring_of(run, w, r)->reader_sleeps, 0,
				      memory_order_relaxed);
	return more;
}

static void uring_r_woken(struct run *run, unsigned int r)
{
	uint64_t v;

	if (read(run->efd_r[r], &v, sizeof(v)) < 0 && errno != EAGAIN)
		fail(me.res, -errno, "eventfd read: %s", strerror(errno));
}

/* --- memcpy: the payload copies alone --------------------------------------- */

static int memcpy_setup(struct run *run)
{
	run->area_len = (size_t)run->writers * run->readers * opt.ring_size;
	run->area = mmap(NULL, run->area_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (run->area == MAP_FAILED) {
		run->area = NULL;
		return -errno;
	}
	return 0;
}

static int memcpy_w_open(struct run *run, unsigned int w)
{
	/* Fault the destination in before the clock starts. */
	memset(run->area + (size_t)w * run->readers * opt.ring_size, 0,
	       run->readers * opt.ring_size);
	return 0;
}

static int memcpy_w_send(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	static uint64_t pos;
	unsigned int i, r;

	for (i = 0; i < n; i++) {
		if (pos + run->size > opt.ring_size)
			pos = 0;
		for (r = 0; r < run->readers; r++)
			memcpy(run->area + ((size_t)w * run->readers + r) * opt.ring_size + pos,
			       recs[i], run->size);
		pos += (run->size + 7) & ~7U;
	}
	/* Keep the compiler from dropping copies nobody reads. */
	__asm__ __volatile__("" : : "r"(run->area) : "memory");
	return 0;
}

/* --- The implementations, in report order ----------------------------------- */

#define SHM(n, pol, path, send) \
	{ n, "shmring", path, pol, shm_setup, shm_cleanup, shm_w_open, send, \
	  shm_r_open, shm_r_drain, NULL, NULL, 0 }

static const struct impl impls[] = {
	SHM("shmring-write", "lossless", "write", shm_w_write),
	SHM("shmring-write2", "lossless", "write2", shm_w_syswrite),
	SHM("shmring-batch", "lossless", "batch", shm_w_batch),
	SHM("shmring-ow-write", "overwrite", "write", shm_w_write),
	SHM("shmring-ow-batch", "overwrite", "batch", shm_w_batch),
	{ "pipe", "pipe", "single", "lossless", pipe_setup, close_pairs, pipe_w_open,
	  pipe_w_send, pipe_r_open, pipe_r_drain, NULL, NULL, 0 },
	{ "pipe-batch", "pipe", "batch", "lossless", pipe_setup, close_pairs, pipe_w_open,
	  pipe_w_send, pipe_r_open, pipe_r_drain, NULL, NULL, 0 },
	{ "seqpacket", "unix-seqpacket", "single", "lossless", sock_setup, close_pairs,
	  sock_w_open, sock_w_send, sock_r_open, sock_r_recv, NULL, NULL, 0 },
	{ "seqpacket-batch", "unix-seqpacket", "batch", "lossless", sock_setup, close_pairs,
	  sock_w_open, sock_w_sendmmsg, sock_r_open, sock_r_recvmmsg, NULL, NULL, 0 },
	{ "mq", "posix-mq", "single", "lossless", mqb_setup, mqb_cleanup, mqb_w_open,
	  mqb_w_send, mqb_r_open, mqb_r_drain, NULL, NULL, 0 },
	{ "uring", "memfd-ring", "single", "lossless", uring_setup, uring_cleanup,
	  NULL, uring_w_send, uring_r_open, uring_r_drain, uring_r_presleep,
	  uring_r_woken, 0 },
	{ "memcpy", "memcpy", "single", "none", memcpy_setup, NULL, memcpy_w_open,
	  memcpy_w_send, NULL, NULL, NULL, NULL, 1 },
};
#define N_IMPLS (sizeof(impls) / sizeof(impls[0]))

/* Records per send call: 1, or the batch for the paths that batch. */
static unsigned int send_batch(const struct impl *im, uint32_t size, enum mode mode)
{
	uint64_t b = opt.batch;

	if (mode != M_THROUGHPUT || strcmp(im->path, "batch"))
		return 1;
	/* At most a quarter of the buffer in one go. */
	if (b * size > opt.ring_size / 4)
		b = opt.ring_size / 4 / size;
	return b ? (unsigned int)b : 1;
}

/* --- Children ---------------------------------------------------------------- */

static void start_child(struct proc_res *res, int ready, int go)
{
	char c = res->err ? 'E' : 'R';

	if (write(ready, &c, 1) != 1)
		_exit(1);
	close(ready);
	if (read(go, &c, 1) < 0)	/* returns 0 when the parent closes it */
		_exit(1);
	close(go);
}

static void finish_child(struct proc_res *res, struct rusage *r0)
{
	struct rusage r1;

	getrusage(RUSAGE_SELF, &r1);
	res->t_end = now_ns();
	res->utime = tv_s(r1.ru_utime) - tv_s(r0->ru_utime);
	res->stime = tv_s(r1.ru_stime) - tv_s(r0->ru_stime);
	res->syscalls = nsys;
}

static void stamp(char *rec, uint32_t wid, uint32_t ctr, int timed)
{
	uint64_t t = timed ? now_ns() : 0;

	memcpy(rec, &wid, 4);
	memcpy(rec + 4, &ctr, 4);
	memcpy(rec + 8, &t, 8);
}

static int writer_main(struct run *run, unsigned int w, int ready, int go)
{
	const struct impl *im = run->impl;
	struct proc_res *res = &run->sh->w[w];
	char *recs[SHMRING_BATCH_MAX], *mem;
	struct rusage r0;
	uint64_t i;
	unsigned int k, n;
	int ret;

	me.res = res;
	mem = calloc(run->batch, run->size);
	if (!mem)
		fail(res, -ENOMEM, "out of memory");
	for (k = 0; mem && k < run->batch; k++)
		recs[k] = mem + (size_t)k * run->size;
	ret = !mem ? -ENOMEM : im->w_open ? im->w_open(run, w) : 0;
	if (ret)
		fail(res, ret, "writer open: %s", strerror(-ret));
	start_child(res, ready, go);
	if (res->err)
		return 1;
	getrusage(RUSAGE_SELF, &r0);
	nsys = 0;
	if (run->mode == M_IDLE)
		sleep_us((unsigned int)(opt.idle_s * 1e6));
	for (i = 0; i < run->count; i += n) {
		n = run->count - i < run->batch ? (unsigned int)(run->count - i) : run->batch;
		for (k = 0; k < n; k++)
			stamp(recs[k], w, (uint32_t)(i + k), run->mode == M_LATENCY);
		ret = im->w_send(run, w, recs, n);
		if (ret) {
			fail(res, ret, "send: %s", strerror(-ret));
			break;
		}
		res->recs += n;
		if (run->mode == M_LATENCY)
			sleep_us(opt.gap_us + (unsigned int)(i * 7919 % opt.gap_us));
	}
	finish_child(res, &r0);
	atomic_fetch_add(&run->sh->writers_done, 1);
	return res->err ? 1 : 0;
}

static int all_seen(const struct run *run)
{
	unsigned int w;

	for (w = 0; w < run->writers; w++)
		if (me.next[w] < run->count)
			return 0;
	return 1;
}

static int reader_main(struct run *run, unsigned int r, int ready, int go)
{
	const struct impl *im = run->impl;
	struct proc_res *res = &run->sh->r[r];
	struct epoll_event ev[16];
	struct rusage r0;
	int ret, n, idle_after_done = 0;
	uint64_t deadline;
	unsigned int w;

	me.res = res;
	me.ep = epoll_create1(EPOLL_CLOEXEC);
	ret = me.ep < 0 ? -errno : im->r_open(run, r);
	if (ret)
		fail(res, ret, "reader open: %s", strerror(-ret));
	start_child(res, ready, go);
	if (res->err)
		return 1;
	getrusage(RUSAGE_SELF, &r0);
	nsys = 0;
	deadline = now_ns() + RUN_LIMIT_S * 1000000000ULL;
	while (!all_seen(run)) {
		ret = im->r_drain(run, r);
		if (ret < 0) {
			fail(res, ret, "receive: %s", strerror(-ret));
			break;
		}
		if (ret > 0)
			continue;
		if (im->r_presleep && im->r_presleep(run, r))
			continue;
		/*
		 * Overwrite rings may lose a writer's last records: once every
		 * writer is done, one quiet interval ends the run.
		 */
		if (atomic_load(&run->sh->writers_done) == run->writers) {
			if (!lossless(run) && idle_after_done++)
				break;
		}
		n = epoll_wait(me.ep, ev, 16, idle_after_done ? 20 : 1000);
		if (n < 0 && errno != EINTR) {
			fail(res, -errno, "epoll_wait: %s", strerror(errno));
			break;
		}
		if (n > 0 && im->r_woken)
			im->r_woken(run, r);
		if (now_ns() > deadline) {
			fail(res, -ETIMEDOUT, "no progress for %d s", RUN_LIMIT_S);
			break;
		}
	}
	for (w = 0; w < run->writers; w++)
		if (me.next[w] < run->count)
			res->lost += run->count - me.next[w];
	finish_child(res, &r0);
	return res->err ? 1 : 0;
}

/* --- The parent: one run ------------------------------------------------------ */

struct outcome {
	double seconds, utime, stime;
	double r_cpu;		/* the readers' share of utime + stime */
	uint64_t written, delivered, lost, syscalls, r_syscalls;
	uint64_t depth;		/* mq: messages each queue holds */
	uint64_t *lat_ns;	/* latency: the samples, malloc'ed; else NULL */
	uint64_t n_lat;
	char err[200];
};

static void run_free(struct run *run)
{
	if (run->impl->cleanup)
		run->impl->cleanup(run);
	if (run->area)
		munmap(run->area, run->area_len);
	if (run->sh)
		munmap(run->sh, run->sh_len);
}

static void collect(struct run *run, struct outcome *o, uint64_t t0)
{
	struct proc_res *p;
	uint64_t t_end = t0;
	unsigned int i;

	for (i = 0; i < run->writers + run->readers; i++) {
		p = i < run->writers ? &run->sh->w[i] : &run->sh->r[i - run->writers];
		if (p->err && !o->err[0])
			snprintf(o->err, sizeof(o->err), "%s %u: %s",
				 i < run->writers ? "writer" : "reader",
				 i < run->writers ? i : i - run->writers, p->msg);
		if (p->t_end > t_end && (i >= run->writers || run->impl->no_readers))
			t_end = p->t_end;
		o->utime += p->utime;
		o->stime += p->stime;
		o->syscalls += p->syscalls;
		if (i < run->writers) {
			o->written += p->recs;
		} else {
			o->delivered += p->recs;
			o->lost += p->lost;
			o->r_cpu += p->utime + p->stime;
			o->r_syscalls += p->syscalls;
		}
	}
	if (run->impl->no_readers)
		o->delivered = o->written * run->readers;
	o->seconds = (double)(t_end - t0) / 1e9;
}

/* The samples of the records that arrived (a lost one has none). */
static int keep_samples(const struct run *run, struct outcome *o)
{
	uint64_t i;

	o->lat_ns = malloc(run->count * sizeof(*o->lat_ns));
	if (!o->lat_ns) {
		snprintf(o->err, sizeof(o->err), "out of memory");
		return -1;
	}
	for (i = 0; i < run->count; i++)
		if (run->sh->lat_ns[i])
			o->lat_ns[o->n_lat++] = run->sh->lat_ns[i];
	return 0;
}

/* Fork the processes, release them together, wait for all. */
static int run_once(const struct impl *im, enum mode mode, unsigned int writers,
		    unsigned int readers, uint32_t size, uint64_t count, struct outcome *o)
{
	struct run run = { .impl = im, .mode = mode, .writers = writers,
			   .readers = readers, .size = size, .count = count };
	unsigned int nproc = writers + (im->no_readers ? 0 : readers), i, got = 0;
	int ready[2], go[2], ret, status, bad = 0;
	pid_t pids[MAX_W + MAX_R];
	uint64_t t0;
	char c;

	memset(o, 0, sizeof(*o));
	memset(run.fd, 0xff, sizeof(run.fd));
	memset(run.efd_r, 0xff, sizeof(run.efd_r));
	memset(run.efd_w, 0xff, sizeof(run.efd_w));
	run.batch = send_batch(im, size, mode);
	run.sh_len = sizeof(struct shared) + (mode == M_LATENCY ? count * 8 : 0);
	run.sh = xmap(run.sh_len);
	if (!run.sh) {
		snprintf(o->err, sizeof(o->err), "mmap: %s", strerror(errno));
		return -1;
	}
	ret = im->setup(&run);
	if (ret) {
		snprintf(o->err, sizeof(o->err), "setup: %s", strerror(-ret));
		run_free(&run);
		return -1;
	}
	if (pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC)) {
		snprintf(o->err, sizeof(o->err), "pipe: %s", strerror(errno));
		run_free(&run);
		return -1;
	}
	fflush(NULL);
	for (i = 0; i < nproc; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			alarm(RUN_LIMIT_S + 10);
			_exit(i < writers ? writer_main(&run, i, ready[1], go[0])
					  : reader_main(&run, i - writers, ready[1], go[0]));
		}
		if (pids[i] < 0) {
			snprintf(o->err, sizeof(o->err), "fork: %s", strerror(errno));
			nproc = i;
			bad = 1;
			break;
		}
	}
	close(ready[1]);
	close(go[0]);
	while (!bad && got < nproc && read(ready[0], &c, 1) == 1) {
		got++;
		if (c != 'R')
			bad = 1;
	}
	if (bad || got < nproc)
		for (i = 0; i < nproc; i++)
			kill(pids[i], SIGKILL);
	t0 = now_ns();
	close(go[1]);		/* every child's read() returns: go */
	close(ready[0]);
	for (i = 0; i < nproc; i++) {
		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status) && !o->err[0] && !bad)
			snprintf(o->err, sizeof(o->err), "%s %u killed by signal %d",
				 i < writers ? "writer" : "reader",
				 i < writers ? i : i - writers, WTERMSIG(status));
	}
	collect(&run, o, t0);
	o->depth = run.mq_depth;
	if (!o->err[0] && bad)
		snprintf(o->err, sizeof(o->err), "a process failed to start");
	ret = o->err[0] ? -1 : 0;
	if (!ret && mode == M_LATENCY)
		ret = keep_samples(&run, o);
	run_free(&run);
	return ret;
}

/* --- Output -------------------------------------------------------------------- */

static const char *scen_str(unsigned int w, unsigned int r)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "%ux%u", w, r);
	return buf;
}

static void json_head(const char *kind, const struct impl *im, unsigned int w,
		      unsigned int r, uint32_t size, unsigned int rep)
{
	fprintf(opt.out, "{\"kind\":\"%s\",\"impl\":\"%s\",\"transport\":\"%s\","
		"\"path\":\"%s\",\"policy\":\"%s\",\"writers\":%u,\"readers\":%u,"
		"\"size\":%u,\"rep\":%u", kind, im->name, im->transport, im->path,
		im->policy, w, r, size, rep);
}

static void json_error(const struct impl *im, unsigned int w, unsigned int r,
		       uint32_t size, const char *what, const char *msg)
{
	char clean[256];
	size_t i, j = 0;

	for (i = 0; msg[i] && j < sizeof(clean) - 1; i++)
		if (msg[i] != '"' && msg[i] != '\\' && (unsigned char)msg[i] >= 32)
			clean[j++] = msg[i];
	clean[j] = 0;
	json_head("error", im, w, r, size, 0);
	fprintf(opt.out, ",\"phase\":\"%s\",\"message\":\"%s\"}\n", what, clean);
	fflush(opt.out);
	note("%s %s %u B: %s: %s", im->name, scen_str(w, r), size, what, clean);
	opt.errors++;
}

/* --- Cells ----------------------------------------------------------------------- */

static uint64_t calibrate(const struct impl *im, unsigned int w, unsigned int r,
			  uint32_t size, struct outcome *o)
{
	uint64_t n = 2000, want;

	if (opt.records)
		return opt.records;
	/* Big records: start smaller, ~4 MiB per writer. */
	if (n * size > (4u << 20))
		n = (4u << 20) / size;
	if (n < 50)
		n = 50;
	if (run_once(im, M_THROUGHPUT, w, r, size, n, o))
		return 0;
	if (o->seconds <= 0)
		return n;
	want = (uint64_t)((double)n * opt.target_s / o->seconds);
	if (want < 50)
		want = 50;
	if (want > 4000000)
		want = 4000000;
	return want;
}

static void throughput_cell(const struct impl *im, unsigned int w, unsigned int r,
			    uint32_t size)
{
	struct outcome o;
	uint64_t count = calibrate(im, w, r, size, &o);
	unsigned int rep;
	double mrec;

	if (!count) {
		json_error(im, w, r, size, "throughput", o.err);
		return;
	}
	for (rep = 0; rep < opt.reps; rep++) {
		if (run_once(im, M_THROUGHPUT, w, r, size, count, &o)) {
			json_error(im, w, r, size, "throughput", o.err);
			return;
		}
		if (o.seconds < 1e-6)
			o.seconds = 1e-6;
		mrec = (double)o.delivered / 1e6;
		json_head("throughput", im, w, r, size, rep);
		if (o.depth)
			fprintf(opt.out, ",\"queue_depth\":%" PRIu64, o.depth);
		fprintf(opt.out, ",\"batch\":%u,\"records_written\":%" PRIu64
			",\"records_delivered\":%" PRIu64 ",\"records_lost\":%" PRIu64
			",\"seconds\":%.6f,\"records_per_s\":%.1f,\"mb_per_s\":%.3f"
			",\"write_records_per_s\":%.1f"
			",\"cpu_user_s_per_mrec\":%.4f,\"cpu_sys_s_per_mrec\":%.4f"
			",\"syscalls_per_rec\":%.4f}\n",
			send_batch(im, size, M_THROUGHPUT), o.written, o.delivered, o.lost,
			o.seconds, (double)o.delivered / o.seconds,
			(double)o.delivered * size / o.seconds / 1e6,
			(double)o.written / o.seconds,
			mrec ? o.utime / mrec : 0, mrec ? o.stime / mrec : 0,
			o.delivered ? (double)o.syscalls / (double)o.delivered : 0);
		fflush(opt.out);
		if (rep == 0)
			note("%-16s %s %6u B: %10.0f rec/s %8.1f MB/s %6.2f syscalls/rec",
			     im->name, scen_str(w, r), size, (double)o.delivered / o.seconds,
			     (double)o.delivered * size / o.seconds / 1e6,
			     o.delivered ? (double)o.syscalls / (double)o.delivered : 0);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *s, uint64_t n, double p)
{
	uint64_t i = (uint64_t)(p * (double)(n - 1) + 0.5);

	return (double)s[i < n ? i : n - 1] / 1e3;
}

static void latency_cell(const struct impl *im, uint32_t size)
{
	struct outcome o;
	unsigned int rep;
	uint64_t *s, n, skip;

	for (rep = 0; rep < opt.reps; rep++) {
		if (run_once(im, M_LATENCY, 1, 1, size, opt.samples, &o)) {
			json_error(im, 1, 1, size, "latency", o.err);
			return;
		}
		/* The first records warm the path up; they do not count. */
		skip = o.n_lat / 20;
		s = o.lat_ns + skip;
		n = o.n_lat - skip;
		if (!n) {
			free(o.lat_ns);
			json_error(im, 1, 1, size, "latency", "no record arrived");
			return;
		}
		qsort(s, n, sizeof(*s), cmp_u64);
		json_head("latency", im, 1, 1, size, rep);
		fprintf(opt.out, ",\"samples\":%" PRIu64 ",\"p50_us\":%.2f,\"p99_us\":%.2f"
			",\"p999_us\":%.2f,\"max_us\":%.2f}\n", n, pct_us(s, n, 0.5),
			pct_us(s, n, 0.99), pct_us(s, n, 0.999), pct_us(s, n, 1));
		fflush(opt.out);
		if (rep == 0)
			note("%-16s latency %u B: p50 %.1f us p99 %.1f us", im->name, size,
			     pct_us(s, n, 0.5), pct_us(s, n, 0.99));
		free(o.lat_ns);
	}
}

static void idle_cell(const struct impl *im)
{
	struct outcome o;
	unsigned int rep;
	double cpu;

	for (rep = 0; rep < opt.reps; rep++) {
		if (run_once(im, M_IDLE, 1, 1, REC_HDR + 48, 1, &o)) {
			json_error(im, 1, 1, REC_HDR + 48, "idle", o.err);
			return;
		}
		/* The sleeping reader's share only. */
		cpu = o.r_cpu;
		json_head("idle", im, 1, 1, REC_HDR + 48, rep);
		fprintf(opt.out, ",\"seconds\":%.4f,\"cpu_s\":%.6f,\"cpu_pct\":%.4f"
			",\"syscalls\":%" PRIu64 "}\n", o.seconds, cpu,
			o.seconds > 0 ? 100.0 * cpu / o.seconds : 0, o.r_syscalls);
		fflush(opt.out);
	}
}

/* --- Limits: raise what the IPC peers are allowed, as root ------------------------ */

static void raise_to(const char *path, long want)
{
	FILE *f;

	if (read_long(path) >= want)
		return;
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%ld\n", want);
		fclose(f);
	}
}

static void raise_limits(void)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	raise_to("/proc/sys/fs/pipe-max-size", (long)opt.ring_size);
	raise_to("/proc/sys/fs/mqueue/msg_max", 65536);		/* HARD_MSGMAX */
	raise_to("/proc/sys/fs/mqueue/msgsize_max", 16 << 20);	/* HARD_MSGSIZEMAX */
	raise_to("/proc/sys/net/core/wmem_max", (long)opt.ring_size);
	if (setrlimit(RLIMIT_MSGQUEUE, &rl)) {
		getrlimit(RLIMIT_MSGQUEUE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MSGQUEUE, &rl);
	}
}

static void print_meta(int argc, char **argv)
{
	struct utsname u;
	int i;

	uname(&u);
	fprintf(opt.out, "{\"kind\":\"meta\",\"tool\":\"" PROG "\",\"version\":\"%s\","
		"\"kernel\":\"%s\",\"cpus\":%ld,\"ring_size\":%" PRIu64 ",\"reps\":%u,"
		"\"batch\":%u,\"target_s\":%.3f,\"latency_samples\":%u,\"latency_gap_us\":%u,"
		"\"idle_s\":%.3f,\"emulated\":%s,\"syscalls_counted\":%s,"
		"\"limits\":{\"pipe_max_size\":%ld,\"mq_msg_max\":%ld,\"mq_msgsize_max\":%ld,"
		"\"wmem_max\":%ld},\"argv\":\"",
		SHMRING_VERSION, u.release, sysconf(_SC_NPROCESSORS_ONLN), opt.ring_size,
		opt.reps, opt.batch, opt.target_s, opt.samples, opt.gap_us, opt.idle_s,
		getenv("SHMRING_VM") ? "true" : "false", nsys ? "true" : "false",
		read_long("/proc/sys/fs/pipe-max-size"),
		read_long("/proc/sys/fs/mqueue/msg_max"),
		read_long("/proc/sys/fs/mqueue/msgsize_max"),
		read_long("/proc/sys/net/core/wmem_max"));
	for (i = 0; i < argc; i++) {
		const char *p;

		for (p = argv[i]; *p; p++)
			if (*p != '"' && *p != '\\' && (unsigned char)*p >= 32)
				fputc(*p, opt.out);
		if (i + 1 < argc)
			fputc(' ', opt.out);
	}
	fprintf(opt.out, "\"}\n");
	fflush(opt.out);
}

/* --- Command line ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f,
"Usage: " PROG " [OPTION]...\n"
"Measure shmring against pipes, AF_UNIX sockets, POSIX message queues, a\n"
"userspace ring and memcpy, in this boot. One JSON object per line goes to\n"
"standard output (or -o FILE); progress goes to standard error.\n"
"\n"
"  -t, --impl LIST        implementations (default: all of them)\n"
"  -s, --sizes LIST       record payload bytes (default 16,64,512,4096,65536)\n"
"  -S, --scenarios LIST   writers x readers (default 1x1,4x1,1x4,4x4)\n"
"  -m, --metrics LIST     throughput,latency,idle (default all three)\n"
"  -r, --reps N           repetitions of every measurement (default 5)\n"
"  -d, --duration SEC     calibrate each throughput run to last SEC (default 0.25)\n"
"  -n, --records N        fixed records per writer instead of calibrating\n"
"  -b, --batch N          records per batch call (default 64, at most %u)\n"
"      --ring-size BYTES  buffer of every transport (default 1048576)\n"
"      --latency-sizes L  record sizes for latency (default 64)\n"
"      --samples N        records per latency run (default 2000)\n"
"      --gap-us N         pause between latency records (default 300)\n"
"      --idle SEC         how long the idle reader sleeps (default 0.5)\n"
"  -q, --quick            a small smoke run: 1 repetition, few records\n"
"  -o, --output FILE      write the JSON lines to FILE\n"
"  -l, --list             list the implementations and exit\n"
"  -h, --help             this help\n"
"  -V, --version          version\n"
"\n"
"Implementations:", SHMRING_BATCH_MAX);
	for (i = 0; i < N_IMPLS; i++)
		fprintf(f, " %s", impls[i].name);
	fprintf(f, "\n\nRun it where /dev/shmring exists (make bench boots a VM for it); as\n"
		"root it raises the pipe, message-queue and socket-buffer limits first.\n"
		"Exit status: 0 ok, 1 some measurement failed, 2 usage error.\n"
		"See shmring-bench(1).\n");
}

static __attribute__((noreturn, format(printf, 1, 2))) void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
	va_end(ap);
	exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *s, const char *what, uint64_t min, uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		usage_error("invalid %s '%s' (%" PRIu64 " to %" PRIu64 ")", what, s, min, max);
	return v;
}

static double parse_secs(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 3600)
		usage_error("invalid %s '%s' (seconds, more than 0)", what, s);
	return v;
}

#define MAX_LIST 16

/* Comma-separated numbers into out[]; returns how many. */
static unsigned int parse_sizes(const char *arg, uint32_t *out, const char *what)
{
	char *copy = strdup(arg), *tok, *save = NULL;
	unsigned int n = 0;

	if (!copy)
		exit(EXIT_RUNTIME);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_LIST)
			usage_error("too many %s (at most %d)", what, MAX_LIST);
		out[n++] = (uint32_t)parse_u64(tok, what, REC_HDR, 1 << 20);
	}
	free(copy);
	if (!n)
		usage_error("empty list of %s", what);
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "impl", required_argument, NULL, 't' },
		{ "sizes", required_argument, NULL, 's' },
		{ "scenarios", required_argument, NULL, 'S' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "records", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "ring-size", required_argument, NULL, 'R' },
		{ "latency-sizes", required_argument, NULL, 'L' },
		{ "samples", required_argument, NULL, 'N' },
		{ "gap-us", required_argument, NULL, 'G' },
		{ "idle", required_argument, NULL, 'I' },
		{ "quick", no_argument, NULL, 'q' },
		{ "output", required_argument, NULL, 'o' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	uint32_t sizes[MAX_LIST] = { 16, 64, 512, 4096, 65536 }, lat_sizes[MAX_LIST] = { 64 };
	unsigned int n_sizes = 5, n_lat = 1, n_scen = 4, i, j, k;
	unsigned int scen[MAX_LIST][2] = { { 1, 1 }, { 4, 1 }, { 1, 4 }, { 4, 4 } };
	int use[N_IMPLS], metrics = 7, c, any;
	const char *impl_arg = NULL, *out_path = NULL;
	char *copy, *tok, *save;

	opt.out = stdout;
	while ((c = getopt_long(argc, argv, ":t:s:S:m:r:d:n:b:qo:lhV", longopts, NULL)) != -1) {
		switch (c) {
		case 't': impl_arg = optarg; break;
		case 's': n_sizes = parse_sizes(optarg, sizes, "record sizes"); break;
		case 'L': n_lat = parse_sizes(optarg, lat_sizes, "latency sizes"); break;
		case 'S':
			copy = strdup(optarg);
			n_scen = 0;
			for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				unsigned int w, r;
				char x;

				if (n_scen == MAX_LIST || sscanf(tok, "%u%c%u", &w, &x, &r) != 3 ||
				    x != 'x' || !w || !r || w > MAX_W || r > MAX_R)
					usage_error("invalid scenario '%s' (WxR, 1 to %d each)",
						    tok, MAX_W);
				scen[n_scen][0] = w;
				scen[n_scen++][1] = r;
			}
			free(copy);
			if (!n_scen)
				usage_error("empty list of scenarios");
			break;
		case 'm':
			copy = strdup(optarg);
			metrics = 0;
			for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (!strcmp(tok, "throughput"))
					metrics |= 1;
				else if (!strcmp(tok, "latency"))
					metrics |= 2;
				else if (!strcmp(tok, "idle"))
					metrics |= 4;
				else
					usage_error("invalid metric '%s' (throughput, latency, idle)", tok);
			}
			free(copy);
			if (!metrics)
				usage_error("empty list of metrics");
			break;
		case 'r': opt.reps = (unsigned int)parse_u64(optarg, "repetitions", 1, 100); break;
		case 'd': opt.target_s = parse_secs(optarg, "duration"); break;
		case 'n': opt.records = parse_u64(optarg, "record count", 1, 100000000); break;
		case 'b':
			opt.batch = (unsigned int)parse_u64(optarg, "batch", 1, SHMRING_BATCH_MAX);
			break;
		case 'R':
			opt.ring_size = parse_u64(optarg, "ring size", 65536, 64 << 20);
			if (opt.ring_size & (opt.ring_size - 1))
				usage_error("ring size %" PRIu64 " is not a power of two",
					    opt.ring_size);
			break;
		case 'N': opt.samples = (unsigned int)parse_u64(optarg, "samples", 20, 1000000); break;
		case 'G': opt.gap_us = (unsigned int)parse_u64(optarg, "gap", 1, 1000000); break;
		case 'I': opt.idle_s = parse_secs(optarg, "idle time"); break;
		case 'q':
			opt.reps = 1;
			opt.records = 300;
			opt.samples = 100;
			opt.idle_s = 0.05;
			break;
		case 'o': out_path = optarg; break;
		case 'l':
			for (i = 0; i < N_IMPLS; i++)
				printf("%-18s %-15s %-7s %s\n", impls[i].name, impls[i].transport,
				       impls[i].path, impls[i].policy);
			return 0;
		case 'h': usage(stdout); return 0;
		case 'V': printf(PROG " " SHMRING_VERSION "\n"); return 0;
		case ':': usage_error("option '%s' needs an argument", argv[optind - 1]);
		default: usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	for (i = 0; i < N_IMPLS; i++)
		use[i] = !impl_arg;
	if (impl_arg) {
		copy = strdup(impl_arg);
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			for (any = 0, i = 0; i < N_IMPLS; i++)
				if (!strcmp(tok, impls[i].name) || !strcmp(tok, impls[i].transport) ||
				    (!strcmp(tok, "shmring") && !strncmp(impls[i].name, "shmring", 7)))
					use[i] = any = 1;
			if (!any)
				usage_error("unknown implementation '%s' (see --list)", tok);
		}
		free(copy);
	}
	for (i = 0; i < n_sizes; i++)
		if (SHMRING_REC_TOTAL(sizes[i]) > opt.ring_size / 4)
			usage_error("record size %u does not fit a ring of %" PRIu64
				    " bytes (at most a quarter of it)", sizes[i], opt.ring_size);
	if (out_path) {
		opt.out = fopen(out_path, "w");
		if (!opt.out) {
			note("%s: %s", out_path, strerror(errno));
			return EXIT_RUNTIME;
		}
	}
	if (geteuid() == 0)
		raise_limits();
	/* Check that counting works: this write goes through the wrapper. */
	nsys = 0;
	(void)!write(STDERR_FILENO, "", 0);
	print_meta(argc, argv);

	if (metrics & 1)
		for (j = 0; j < n_scen; j++)
			for (k = 0; k < n_sizes; k++)
				for (i = 0; i < N_IMPLS; i++)
					if (use[i])
						throughput_cell(&impls[i], scen[j][0], scen[j][1],
								sizes[k]);
	if (metrics & 2)
		for (k = 0; k < n_lat; k++)
			for (i = 0; i < N_IMPLS; i++)
				if (use[i] && !impls[i].no_readers)
					latency_cell(&impls[i], lat_sizes[k]);
	if (metrics & 4)
		for (i = 0; i < N_IMPLS; i++)
			if (use[i] && !impls[i].no_readers)
				idle_cell(&impls[i]);
	if (opt.out != stdout && fclose(opt.out)) {
		note("%s: %s", out_path, strerror(errno));
		return EXIT_RUNTIME;
	}
	if (opt.errors)
		note("%d measurement(s) failed", opt.errors);
	return opt.errors ? EXIT_RUNTIME : 0;
}
