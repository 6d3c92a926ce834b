// SPDX-License-Identifier: MIT
/*
 * shmring-bench peer: POSIX message queues, one queue per reader, shared by
 * the writers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "bench.h"

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
	run->mq_depth = run->ring / run->size;
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

static const struct impl impls[] = {
	{ "mq", "posix-mq", "single", "lossless", mqb_setup, mqb_cleanup, mqb_w_open,
	  mqb_w_send, mqb_r_open, mqb_r_drain, NULL, NULL, 0 },
};

const struct peer peer_mq = { impls, ARRAY_SIZE(impls) };
