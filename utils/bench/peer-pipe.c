// SPDX-License-Identifier: MIT
/*
 * shmring-bench peer: pipes, length-prefixed records, one pipe per
 * writer/reader pair.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "bench.h"

static int pipe_setup(struct run *run)
{
	unsigned int w, r;

	for (w = 0; w < run->writers; w++)
		for (r = 0; r < run->readers; r++) {
			int *p = run->fd[w][r];

			if (pipe2(p, O_CLOEXEC))
				return -errno;
			if (fcntl(p[1], F_SETPIPE_SZ, (int)run->ring) < 0)
				return -errno;
			if (set_nonblock(p[0]))
				return -errno;
		}
	return 0;
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

static const struct impl impls[] = {
	{ "pipe", "pipe", "single", "lossless", pipe_setup, close_pairs, pipe_w_open,
	  pipe_w_send, pipe_r_open, pipe_r_drain, NULL, NULL, 0 },
	{ "pipe-batch", "pipe", "batch", "lossless", pipe_setup, close_pairs, pipe_w_open,
	  pipe_w_send, pipe_r_open, pipe_r_drain, NULL, NULL, 0 },
};

const struct peer peer_pipe = { impls, ARRAY_SIZE(impls) };
