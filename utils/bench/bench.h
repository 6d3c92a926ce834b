/* SPDX-License-Identifier: MIT */
/*
 * shmring-bench: what its parts share (man/shmring-bench.1, docs/bench.md).
 *
 *   main.c          command line, the table of implementations, meta line
 *   cells.c         calibration and the throughput/latency/idle cells, the
 *                   JSON lines
 *   run.c           one run: fork the writers and readers, release them
 *                   together, collect; the helpers peers share
 *   syscalls.c      the system call counter (link-time wrappers)
 *   peer-*.c        one file per transport, each a struct peer of
 *                   implementations (struct impl, the peer interface)
 */
#ifndef SHMRING_BENCH_H
#define SHMRING_BENCH_H

#include <mqueue.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "shmring.h"
#include "../common.h"

#define PROG		"shmring-bench"
#define MAX_W		8
#define MAX_R		4
#define MAX_IMPLS	32
#define REC_HDR		16	/* writer id, counter, timestamp: smallest record */
#define RUN_LIMIT_S	120	/* a child still running then has hung */
#define RING_AUTO_MAX	(16u << 20)	/* --ring-records grows buffers up to this */

/* Options (main.c). */
struct bench_opts {
	uint64_t ring_size;	/* bytes of buffer every transport gets, at least */
	unsigned int ring_records; /* ... and room for this many records, up to RING_AUTO_MAX */
	unsigned int batch;	/* records per batch where the API batches */
	unsigned int reps;
	double target_s;	/* calibrated length of one run */
	uint64_t records;	/* fixed records per writer (0: calibrate) */
	unsigned int samples;	/* latency: records, one at a time */
	unsigned int gap_us;	/* latency: pause between them */
	double idle_s;		/* idle: how long the reader sleeps */
	FILE *out;
	int errors;
};
extern struct bench_opts opt;
uint64_t ring_for(uint32_t size);

/*
 * System calls made by this process since sys_reset() (syscalls.c): in all,
 * and by kind. Every libc entry point the bench and libshmring enter the
 * kernel through in a run is wrapped at link time (the Makefile's
 * BENCH_WRAP); syscall(2) counts as futex or other.
 */
enum sys_kind {
	SC_WRITE, SC_READ, SC_IOCTL, SC_POLL, SC_EPOLL_WAIT, SC_SEND, SC_RECV,
	SC_SENDMMSG, SC_RECVMMSG, SC_MQ_SEND, SC_MQ_RECEIVE, SC_FUTEX, SC_OTHER,
	SC_ZC_CHUNK,	/* ioctl SHMRING_IOC_ZC_CHUNK: a zero-copy writer's chunk */
	SC_KICK,	/* ioctl SHMRING_IOC_KICK: wake writers, or zero-copy readers */
	SC_N
};
extern uint64_t nsys, nsys_by[SC_N];
extern const char *const sc_name[SC_N];
void sys_reset(void);

/* --- One run: what the processes share ------------------------------------- */

struct proc_res {
	uint64_t recs;		/* written (writer) or delivered (reader) */
	uint64_t lost;		/* reader: counter gaps (overwrite policy) */
	uint64_t syscalls, sys_by[SC_N];
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
	uint64_t ring;		/* bytes of buffer every transport gets: ring_for(size) */
	uint64_t count;		/* records per writer */
	unsigned int batch;	/* records per send call */
	struct shared *sh;
	size_t sh_len;
	/* transport state */
	char name[64];			/* shmring ring / mq name prefix */
	int fd[MAX_W][MAX_R][2];	/* pipe, socketpair: [0] read, [1] write */
	int efd_r[MAX_R], efd_w[MAX_W];	/* uring eventfds */
	char *area;			/* uring ring, memcpy buffers */
	size_t area_len;
	uint64_t mq_depth;
};

/* State of the child process (each child is one process, one role). */
struct child {
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
};
extern struct child me;

/*
 * The peer interface: one implementation of a transport. setup() and
 * cleanup() run in the parent, the rest in the writer or reader child.
 */
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

/*
 * Which implementations are compared with which (docs/bench.md): "record"
 * sends one record per call and publishes it alone, "batch" a batch per
 * call, "bound" is no transport (memcpy). Ratios are only ever taken
 * within a group.
 */
const char *impl_group(const struct impl *im);
/* Does the implementation send batches of -b records (group "batch")? */
bool impl_batches(const struct impl *im);

/* A transport's implementations, in report order (peer-*.c). */
struct peer {
	const struct impl *impls;
	unsigned int n;
};
extern const struct peer peer_shmring, peer_pipe, peer_seqpacket, peer_mq, peer_uring,
	peer_memcpy;

/* Every implementation, in report order (main.c). */
unsigned int impl_count(void);
const struct impl *impl_get(unsigned int i);

/* --- Helpers of the peers (run.c) ------------------------------------------ */

static inline uint64_t now_ns(void)
{
	return monotonic_ns();
}

/* Record the first failure of this child; returns err, or -EPROTO for 0. */
int fail(struct proc_res *res, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int lossless(const struct run *run);
/* A record arrived at this reader: check its header, count it. */
int deliver(struct run *run, const void *p, size_t len);
/* A number from a /proc file, or -1. */
long read_long(const char *path);
int set_nonblock(int fd);
/* Add fd to this reader's epoll set. */
int add_fd(int fd, uint32_t events);
/* Close the fds of run->fd (pipes, socket pairs). */
void close_pairs(struct run *run);

/* --- Runs and cells (run.c, cells.c) --------------------------------------- */

struct outcome {
	double seconds, utime, stime;
	double r_cpu;		/* the readers' share of utime + stime */
	uint64_t written, delivered, lost, syscalls, w_syscalls, r_syscalls;
	uint64_t w_sys_by[SC_N], r_sys_by[SC_N];	/* by kind, all writers/readers */
	uint64_t depth;		/* mq: messages each queue holds */
	uint64_t *lat_ns;	/* latency: the samples, malloc'ed; else NULL */
	uint64_t n_lat;
	char err[200];
};

/* Records per send call: 1, or the batch for the paths that batch. */
unsigned int send_batch(const struct impl *im, uint32_t size, enum mode mode);
/* Fork the processes, release them together, wait for all; 0 or -1 (o->err). */
int run_once(const struct impl *im, enum mode mode, unsigned int writers,
	     unsigned int readers, uint32_t size, uint64_t count, struct outcome *o);

/*
 * A throughput cell: the record count (0: it failed, reported), then
 * each repetition, which the caller interleaves with other
 * implementations' (-1: it failed, reported, do not repeat it).
 */
uint64_t throughput_calibrate(const struct impl *im, unsigned int w, unsigned int r,
			      uint32_t size);
int throughput_rep(const struct impl *im, unsigned int w, unsigned int r, uint32_t size,
		   uint64_t count, unsigned int rep);
int latency_cell(const struct impl *im, uint32_t size, unsigned int rep);
void idle_cell(const struct impl *im);
void print_meta(int argc, char **argv);

#endif /* SHMRING_BENCH_H */
