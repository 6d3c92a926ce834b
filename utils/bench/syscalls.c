// SPDX-License-Identifier: MIT
/*
 * shmring-bench: system call counting, in all and by call.
 */
#include <mqueue.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* --- System call counting -------------------------------------------------
 *
 * The Makefile links this program with -Wl,--wrap=SYM for each of these,
 * so every call, from here or from libshmring.a, goes through a counter:
 * nsys counts them all, nsys_by[] each kind (the names in sc_name[]);
 * the ioctls of zero-copy writing, SHMRING_IOC_ZC_CHUNK (a chunk) and
 * SHMRING_IOC_KICK (also the readers' wake-up of writers), are kinds of
 * their own.
 * syscall(2) is wrapped for the futex calls of the memfd ring's lock.
 */
uint64_t nsys, nsys_by[SC_N];

const char *const sc_name[SC_N] = {
	[SC_WRITE] = "write", [SC_READ] = "read", [SC_IOCTL] = "ioctl",
	[SC_POLL] = "poll", [SC_EPOLL_WAIT] = "epoll_wait", [SC_SEND] = "send",
	[SC_RECV] = "recv", [SC_SENDMMSG] = "sendmmsg", [SC_RECVMMSG] = "recvmmsg",
	[SC_MQ_SEND] = "mq_send", [SC_MQ_RECEIVE] = "mq_receive", [SC_FUTEX] = "futex",
	[SC_OTHER] = "other", [SC_ZC_CHUNK] = "ioctl_zc_chunk", [SC_KICK] = "ioctl_kick",
};

void sys_reset(void)
{
	nsys = 0;
	memset(nsys_by, 0, sizeof(nsys_by));
}

#define COUNT(kind)	(nsys++, nsys_by[kind]++)

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
WRAPPED(long, syscall, (long nr, ...));

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	COUNT(SC_WRITE);
	return __real_write(fd, buf, n);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	COUNT(SC_READ);
	return __real_read(fd, buf, n);
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	/* The calls of zero-copy writing (and the readers' kicks) apart. */
	COUNT(req == SHMRING_IOC_ZC_CHUNK ? SC_ZC_CHUNK : req == SHMRING_IOC_KICK ? SC_KICK :
	      SC_IOCTL);
	return __real_ioctl(fd, req, arg);
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	COUNT(SC_POLL);
	return __real_poll(fds, n, timeout);
}

int __wrap_epoll_wait(int ep, struct epoll_event *ev, int n, int timeout)
{
	COUNT(SC_EPOLL_WAIT);
	return __real_epoll_wait(ep, ev, n, timeout);
}

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
	COUNT(SC_SEND);
	return __real_send(fd, buf, n, flags);
}

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
	COUNT(SC_RECV);
	return __real_recv(fd, buf, n, flags);
}

int __wrap_sendmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags)
{
	COUNT(SC_SENDMMSG);
	return __real_sendmmsg(fd, m, n, flags);
}

int __wrap_recvmmsg(int fd, struct mmsghdr *m, unsigned int n, int flags,
		    struct timespec *timeout)
{
	COUNT(SC_RECVMMSG);
	return __real_recvmmsg(fd, m, n, flags, timeout);
}

int __wrap_mq_send(mqd_t q, const char *buf, size_t n, unsigned int prio)
{
	COUNT(SC_MQ_SEND);
	return __real_mq_send(q, buf, n, prio);
}

ssize_t __wrap_mq_receive(mqd_t q, char *buf, size_t n, unsigned int *prio)
{
	COUNT(SC_MQ_RECEIVE);
	return __real_mq_receive(q, buf, n, prio);
}

/* Six arguments are what the kernel takes; extra ones are ignored. */
long __wrap_syscall(long nr, ...)
{
	long a[6];
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	COUNT(nr == SYS_futex ? SC_FUTEX : SC_OTHER);
	return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
