// SPDX-License-Identifier: MIT
/*
 * shmring-bench peer: memcpy, the payload copies alone (no readers).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "bench.h"

static int memcpy_setup(struct run *run)
{
	run->area_len = (size_t)run->writers * run->readers * run->ring;
	run->area = mmap(NULL, run->area_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (run->area == MAP_FAILED) {
		run->area = NULL;
		return -errno;
	}
	return 0;
}

static int memcpy_w_open(struct run *run, unsigned int w)
{
	/* Fault the destination in before the clock starts. */
	memset(run->area + (size_t)w * run->readers * run->ring, 0,
	       run->readers * run->ring);
	return 0;
}

static int memcpy_w_send(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	static uint64_t pos;
	unsigned int i, r;

	for (i = 0; i < n; i++) {
		if (pos + run->size > run->ring)
			pos = 0;
		for (r = 0; r < run->readers; r++)
			memcpy(run->area + ((size_t)w * run->readers + r) * run->ring + pos,
			       recs[i], run->size);
		pos += (run->size + 7) & ~7U;
	}
	/* Keep the compiler from dropping copies nobody reads. */
	__asm__ __volatile__("" : : "r"(run->area) : "memory");
	return 0;
}

static const struct impl impls[] = {
	{ "memcpy", "memcpy", "single", "none", memcpy_setup, NULL, memcpy_w_open,
	  memcpy_w_send, NULL, NULL, NULL, NULL, 1 },
};

const struct peer peer_memcpy = { impls, ARRAY_SIZE(impls) };
