// SPDX-License-Identifier: MIT
/*
 * shmring-bench peer: shmring itself, through libshmring: single writes, write(2)
 * on the ring fd, batches; lossless and overwrite rings.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "bench.h"

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

#define SHM(n, pol, path, send) \
	{ n, "shmring", path, pol, shm_setup, shm_cleanup, shm_w_open, send, \
	  shm_r_open, shm_r_drain, NULL, NULL, 0 }

static const struct impl impls[] = {
	SHM("shmring-write", "lossless", "write", shm_w_write),
	SHM("shmring-write2", "lossless", "write2", shm_w_syswrite),
	SHM("shmring-batch", "lossless", "batch", shm_w_batch),
	SHM("shmring-ow-write", "overwrite", "write", shm_w_write),
	SHM("shmring-ow-batch", "overwrite", "batch", shm_w_batch),
};

const struct peer peer_shmring = { impls, ARRAY_SIZE(impls) };
