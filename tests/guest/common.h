/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the in-guest tests: raw ABI calls next to libshmring. */
#ifndef SHMRING_TEST_COMMON_H
#define SHMRING_TEST_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"
#include "../tap.h"

/* ioctl() result as 0 or -errno, like the library. */
static inline int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static inline int dev_fd(int oflags)
{
	int fd = open(SHMRING_DEVICE, oflags | O_CLOEXEC);

	if (fd < 0)
		bail_out("open %s: %s", SHMRING_DEVICE, strerror(errno));
	return fd;
}

static inline void open_args(struct shmring_open *o, const char *name,
			     unsigned int flags)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->flags = flags;
	o->mode = 0600;
	snprintf(o->name, sizeof(o->name), "%s", name);
}

/* Open @name on a fresh fd with raw flags; returns fd or -errno. */
static inline int raw_open(const char *name, unsigned int flags,
			   uint64_t size, uint32_t policy)
{
	struct shmring_open o;
	int fd = dev_fd(O_RDWR), ret;

	open_args(&o, name, flags);
	if (flags & SHMRING_O_CREAT) {
		o.attr.data_size = size;
		o.attr.policy = policy;
	}
	ret = xioctl(fd, SHMRING_IOC_OPEN, &o);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* An address no process has mapped, hidden from the compiler's checks. */
static inline void *bad_ptr(void)
{
	volatile uintptr_t p = 16;

	return (void *)p;
}

/* A module parameter of shmring.ko, set or read as text; bails out on error. */
static inline void param_set(const char *name, const char *val)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/shmring/parameters/%s", name);
	f = fopen(path, "w");
	if (!f || fputs(val, f) < 0 || fclose(f))
		bail_out("set %s=%s: %s", name, val, strerror(errno));
}

static inline void param_get(const char *name, char *buf, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/shmring/parameters/%s", name);
	f = fopen(path, "r");
	if (!f || !fgets(buf, (int)len, f))
		bail_out("read %s: %s", name, strerror(errno));
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
}

static inline uint64_t now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
