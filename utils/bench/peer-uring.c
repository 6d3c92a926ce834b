// SPDX-License-Identifier: MIT
/*
 * shmring-bench peer: a hand-made ring in a memfd (see below).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "bench.h"

/*
 * --- uring: single-producer/single-consumer rings in a memfd ---------------
 *
 * What a careful user builds by hand, with none of shmring's guarantees: a
 * crashed writer can leave it torn, readers share nothing, there is no
 * fan-out. One ring per writer/reader pair. head and tail are byte
 * positions; a frame is a 4-byte length, 4 bytes pad, the payload, padded
 * to 8; a length of UINT32_MAX means "wrapped, continue at offset 0".
 * Sleeping uses the same protocol as shmring's [W5]/[R5]: the sleeper
 * stores its flag, fences, looks again; the other side publishes, fences,
 * and writes the eventfd only if the flag is set.
 */
struct uring {
	_Alignas(64) _Atomic uint64_t head;	/* producer */
	_Atomic uint32_t reader_sleeps;
	_Alignas(64) _Atomic uint64_t tail;	/* consumer */
	_Atomic uint32_t writer_sleeps;
	_Alignas(4096) char data[];
};

#define UR_WRAP		UINT32_MAX
#define UR_FRAME(len)	(((uint64_t)(len) + 8 + 7) & ~7ULL)

static size_t uring_stride(void)
{
	return sizeof(struct uring) + opt.ring_size;
}

static struct uring *uring_of(const struct run *run, unsigned int w, unsigned int r)
{
	return (struct uring *)(run->area + (w * MAX_R + r) * uring_stride());
}

static int uring_setup(struct run *run)
{
	unsigned int i;
	int fd;

	run->area_len = MAX_W * MAX_R * uring_stride();
	fd = memfd_create("shmring-bench-uring", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)run->area_len)) {
		close(fd);
		return -errno;
	}
	run->area = mmap(NULL, run->area_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (run->area == MAP_FAILED) {
		run->area = NULL;
		return -errno;
	}
	for (i = 0; i < MAX_R; i++)
		run->efd_r[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (i = 0; i < MAX_W; i++)
		run->efd_w[i] = eventfd(0, EFD_CLOEXEC);
	for (i = 0; i < MAX_R; i++)
		if (run->efd_r[i] < 0)
			return -errno;
	for (i = 0; i < MAX_W; i++)
		if (run->efd_w[i] < 0)
			return -errno;
	return 0;
}

static void uring_cleanup(struct run *run)
{
	unsigned int i;

	for (i = 0; i < MAX_R; i++)
		if (run->efd_r[i] > 0)
			close(run->efd_r[i]);
	for (i = 0; i < MAX_W; i++)
		if (run->efd_w[i] > 0)
			close(run->efd_w[i]);
}

static int efd_signal(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

/* Room for @need bytes: wait on our eventfd until the reader frees some. */
static int uring_room(struct run *run, struct uring *u, unsigned int w, uint64_t head,
		      uint64_t need)
{
	uint64_t v;

	while (opt.ring_size - (head - atomic_load_explicit(&u->tail, memory_order_acquire)) < need) {
		atomic_store_explicit(&u->writer_sleeps, 1, memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);	/* pairs with the reader's */
		if (opt.ring_size - (head - atomic_load_explicit(&u->tail,
					memory_order_acquire)) >= need)
			break;
		if (read(run->efd_w[w], &v, sizeof(v)) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

static int uring_put(struct run *run, struct uring *u, unsigned int w, unsigned int r,
		     const char *rec)
{
	uint64_t head = atomic_load_explicit(&u->head, memory_order_relaxed);
	uint64_t need = UR_FRAME(run->size), off = head & (opt.ring_size - 1);
	uint64_t pad = off + need > opt.ring_size ? opt.ring_size - off : 0;
	uint32_t len = run->size;
	int ret;

	ret = uring_room(run, u, w, head, pad + need);
	if (ret)
		return ret;
	if (pad) {
		len = UR_WRAP;
		memcpy(u->data + off, &len, 4);
		len = run->size;
		off = 0;
	}
	memcpy(u->data + off, &len, 4);
	memcpy(u->data + off + 8, rec, run->size);
	/* Publish the frame, then look whether the reader sleeps. */
	atomic_store_explicit(&u->head, head + pad + need, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&u->reader_sleeps, memory_order_relaxed) &&
	    atomic_exchange_explicit(&u->reader_sleeps, 0, memory_order_relaxed))
		return efd_signal(run->efd_r[r]);
	return 0;
}

static int uring_w_send(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	unsigned int i, r;
	int ret;

	for (i = 0; i < n; i++)
		for (r = 0; r < run->readers; r++) {
			ret = uring_put(run, uring_of(run, w, r), w, r, recs[i]);
			if (ret)
				return ret;
		}
	return 0;
}

static int uring_r_open(struct run *run, unsigned int r)
{
	return add_fd(run->efd_r[r], EPOLLIN);
}

static int uring_r_drain(struct run *run, unsigned int r)
{
	unsigned int w;
	int seen = 0, ret;

	for (w = 0; w < run->writers; w++) {
		struct uring *u = uring_of(run, w, r);
		uint64_t tail = atomic_load_explicit(&u->tail, memory_order_relaxed);
		uint64_t head = atomic_load_explicit(&u->head, memory_order_acquire);
		uint32_t len;

		if (tail == head)
			continue;
		while (tail != head) {
			uint64_t off = tail & (opt.ring_size - 1);

			memcpy(&len, u->data + off, 4);
			if (len == UR_WRAP) {
				tail += opt.ring_size - off;
				continue;
			}
			if (len != run->size || head - tail < UR_FRAME(len))
				return fail(me.res, 0, "uring frame of %u bytes", len);
			ret = deliver(run, u->data + off + 8, len);
			if (ret)
				return ret;
			tail += UR_FRAME(len);
			seen++;
		}
		/* Done with the bytes; then wake the writer if it waits for room. */
		atomic_store_explicit(&u->tail, tail, memory_order_release);
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load_explicit(&u->writer_sleeps, memory_order_relaxed) &&
		    atomic_exchange_explicit(&u->writer_sleeps, 0, memory_order_relaxed)) {
			ret = efd_signal(run->efd_w[w]);
			if (ret)
				return ret;
		}
	}
	return seen;
}

static int uring_r_presleep(struct run *run, unsigned int r)
{
	unsigned int w;
	int more = 0;

	for (w = 0; w < run->writers; w++)
		atomic_store_explicit(&uring_of(run, w, r)->reader_sleeps, 1,
				      memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);	/* pairs with uring_put's */
	for (w = 0; w < run->writers; w++) {
		struct uring *u = uring_of(run, w, r);

		if (atomic_load_explicit(&u->head, memory_order_acquire) !=
		    atomic_load_explicit(&u->tail, memory_order_relaxed))
			more = 1;
	}
	/* Records came: no need for the writers to signal after all. */
	for (w = 0; more && w < run->writers; w++)
		atomic_store_explicit(&uring_of(run, w, r)->reader_sleeps, 0,
				      memory_order_relaxed);
	return more;
}

static void uring_r_woken(struct run *run, unsigned int r)
{
	uint64_t v;

	if (read(run->efd_r[r], &v, sizeof(v)) < 0 && errno != EAGAIN)
		fail(me.res, -errno, "eventfd read: %s", strerror(errno));
}

static const struct impl impls[] = {
	{ "uring", "memfd-ring", "single", "lossless", uring_setup, uring_cleanup,
	  NULL, uring_w_send, uring_r_open, uring_r_drain, uring_r_presleep,
	  uring_r_woken, 0 },
};

const struct peer peer_uring = { impls, ARRAY_SIZE(impls) };
