// SPDX-License-Identifier: MIT
/*
 * shmring-bench peer: AF_UNIX SOCK_SEQPACKET, one socket pair per
 * writer/reader pair; send/recv or sendmmsg/recvmmsg.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "bench.h"

static int sock_setup(struct run *run)
{
	int size = (int)run->ring;
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

static const struct impl impls[] = {
	{ "seqpacket", "unix-seqpacket", "single", "lossless", sock_setup, close_pairs,
	  sock_w_open, sock_w_send, sock_r_open, sock_r_recv, NULL, NULL, 0 },
	{ "seqpacket-batch", "unix-seqpacket", "batch", "lossless", sock_setup, close_pairs,
	  sock_w_open, sock_w_sendmmsg, sock_r_open, sock_r_recvmmsg, NULL, NULL, 0 },
};

const struct peer peer_seqpacket = { impls, ARRAY_SIZE(impls) };
