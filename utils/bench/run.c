// SPDX-License-Identifier: MIT
/*
 * shmring-bench: one run (fork the writers and readers, release them
 * together, wait, collect) and the helpers the peers share.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct child me;


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


static void *xmap(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}


/* A number from a /proc file, or -1. */
long read_long(const char *path)
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


int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) ? -errno : 0;
}


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


int lossless(const struct run *run)
{
	return strcmp(run->impl->policy, "overwrite");
}


/* A record arrived at reader r: check its header, count it. */
int deliver(struct run *run, const void *p, size_t len)
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


int add_fd(int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(me.ep, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}


void close_pairs(struct run *run)
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


/* Records per send call: 1, or the batch for the paths that batch. */
unsigned int send_batch(const struct impl *im, uint32_t size, enum mode mode)
{
	uint64_t b = opt.batch;

	if (mode != M_THROUGHPUT || !impl_batches(im))
		return 1;
	/* At most a quarter of the buffer in one go. */
	if (b * size > ring_for(size) / 4)
		b = ring_for(size) / 4 / size;
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
	memcpy(res->sys_by, nsys_by, sizeof(res->sys_by));
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
	sys_reset();
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
	sys_reset();
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
	unsigned int i, k;

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
			o->w_syscalls += p->syscalls;
			for (k = 0; k < SC_N; k++)
				o->w_sys_by[k] += p->sys_by[k];
		} else {
			o->delivered += p->recs;
			o->lost += p->lost;
			o->r_cpu += p->utime + p->stime;
			o->r_syscalls += p->syscalls;
			for (k = 0; k < SC_N; k++)
				o->r_sys_by[k] += p->sys_by[k];
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
int run_once(const struct impl *im, enum mode mode, unsigned int writers,
		    unsigned int readers, uint32_t size, uint64_t count, struct outcome *o)
{
	struct run run = { .impl = im, .mode = mode, .writers = writers,
			   .readers = readers, .size = size, .count = count,
			   .ring = ring_for(size) };
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

