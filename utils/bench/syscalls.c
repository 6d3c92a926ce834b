// SPDX-License-Identifier: MIT
/*
 * shmring-bench: system call counting.
 */
#include <mqueue.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* --- System call counting -------------------------------------------------
 *
 * The Makefile links this program with -Wl,--wrap=SYM for each of these,
 * so every call, from here or from libshmring.a, goes through a counter.
 */
uint64_t nsys;

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

