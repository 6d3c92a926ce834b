// SPDX-License-Identifier: MIT
/*
 * shmring-bench peer: shmring itself, through libshmring: single writes, write(2)
 * on the ring fd, batches; lossless and overwrite rings; and zero-copy
 * rings (SHMRING_ATTR_ZEROCOPY), a record per commit or a batch of -b.
 *
 * The zero-copy writers copy each record from the bench's buffer into the
 * space they reserved, as the copy paths copy it into the kernel: the
 * payload exists before it is sent on every path. Their system calls are
 * one SHMRING_IOC_ZC_CHUNK per chunk and one SHMRING_IOC_KICK per commit
 * that finds a reader asleep. A batch is committed early where its chunk
 * ends (4 KiB records: 15 to a 64 KiB chunk). Readers are the same on
 * every path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "bench.h"

static bool zerocopy(const struct run *run)
{
	return !strncmp(run->impl->path, "zc", 2);
}

static int shm_setup(struct run *run)
{
	struct shmring_attr attr = {
		.data_size = run->ring,
		.policy = lossless(run) ? SHMRING_POLICY_LOSSLESS : SHMRING_POLICY_OVERWRITE,
		/*
		 * Zero-copy: the default chunk, data_size / 16 within [page,
		 * 256 KiB], raised to hold 64 records where 16 such chunks
		 * fit, and to fit max_record; max_record is the run's
		 * record size, or its default (a quarter of the ring) would
		 * raise the chunk to half the ring.
		 */
		.flags = zerocopy(run) ? SHMRING_ATTR_ZEROCOPY : 0,
		.max_record = zerocopy(run) ? run->size : 0,
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
	int ret;

	(void)w;
	ret = shmring_open(run->name, SHMRING_O_WRITE, 0, NULL, &me.h);
	/* Zero-copy: map the writable area now, not in the timed part. */
	if (!ret && !strncmp(run->impl->path, "zc", 2))
		ret = shmring_zc_flush(me.h);
	return ret;
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

/*
 * Zero-copy, a record per commit: shmring_zc_write(3). A writer the
 * kernel stopped waiting for (zc_idle_ms, easily reached by a descheduled
 * writer on a loaded host) has its record discarded: it is written again,
 * so that readers still get every record once.
 */
static int shm_w_zc(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	unsigned int i;
	int ret;

	(void)w;
	for (i = 0; i < n; i++) {
		do
			ret = shmring_zc_write(me.h, 1, recs[i], run->size);
		while (ret == -ETIMEDOUT);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Zero-copy batches: reserve the n records at once (shmring_zc_reserve_n(3):
 * fewer when the chunk ends), copy each into its place, one commit.
 * Records a revocation discarded (the commit returns -ETIMEDOUT) are
 * written again.
 */
static int shm_w_zc_batch(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	void *p[SHMRING_BATCH_MAX];
	unsigned int done = 0, i;
	int ret, k;

	(void)w;
	while (done < n) {
		k = shmring_zc_reserve_n(me.h, run->size, 1, p,
					 n - done < SHMRING_BATCH_MAX ? n - done : SHMRING_BATCH_MAX);
		if (k == -ETIMEDOUT)
			continue;	/* the chunk was taken back: a new one */
		if (k < 0)
			return k;
		for (i = 0; i < (unsigned int)k; i++)
			memcpy(p[i], recs[done + i], run->size);
		ret = shmring_zc_commit(me.h);
		if (ret == -ETIMEDOUT)
			continue;
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
	/*
	 * Zero-copy batches, throughput: readers that drain in bulk are
	 * woken per chunk (or zc_idle_ms), so writers make no call for
	 * them. Latency runs keep the wakeup per commit.
	 */
	if (!strcmp(run->impl->path, "zc-batch") && run->mode != M_LATENCY) {
		ret = shmring_set_zc_wake(me.h, SHMRING_ZC_WAKE_CHUNK);
		if (ret)
			return ret;
	}
	return epoll_ctl(me.ep, EPOLL_CTL_ADD, shmring_fd(me.h), &ev) ? -errno : 0;
}

struct bulk {
	struct run *run;
	int ret;
};

static int bulk_one(void *ctx, const struct shmring_record *rec)
{
	struct bulk *b = ctx;

	b->ret = deliver(b->run, rec->data, rec->len);
	return b->ret ? -1 : 0;
}

/*
 * Batched paths of lossless rings read in bulk as their peers do (the
 * batched memfd ring stores its tail once per run): shmring_consume_n(),
 * one position store per batch.
 */
static int shm_r_drain_bulk(struct run *run)
{
	struct bulk b = { .run = run };
	int n = shmring_consume_n(me.h, bulk_one, &b, 4096);

	if (b.ret)
		return b.ret;
	return n == -EAGAIN ? 0 : n;
}

/* In place: peek, look at the header, consume; trust it only if not stale. */
static int shm_r_drain(struct run *run, unsigned int r)
{
	char hdr[REC_HDR];
	struct shmring_record rec;
	int n, ret;

	(void)r;
	if (!strcmp(run->impl->policy, "lossless") &&
	    (!strcmp(run->impl->path, "batch") || !strcmp(run->impl->path, "zc-batch")))
		return shm_r_drain_bulk(run);
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

#define SHM(n, pol, path, send) \
	{ n, "shmring", path, pol, shm_setup, shm_cleanup, shm_w_open, send, \
	  shm_r_open, shm_r_drain, NULL, NULL, 0 }

static const struct impl impls[] = {
	SHM("shmring-write", "lossless", "write", shm_w_write),
	SHM("shmring-write2", "lossless", "write2", shm_w_syswrite),
	SHM("shmring-batch", "lossless", "batch", shm_w_batch),
	SHM("shmring-ow-write", "overwrite", "write", shm_w_write),
	SHM("shmring-ow-batch", "overwrite", "batch", shm_w_batch),
	SHM("shmring-zc", "lossless", "zc", shm_w_zc),
	SHM("shmring-zc-batch", "lossless", "zc-batch", shm_w_zc_batch),
};

const struct peer peer_shmring = { impls, ARRAY_SIZE(impls) };
