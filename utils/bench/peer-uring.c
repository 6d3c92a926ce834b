// SPDX-License-Identifier: MIT
/*
 * shmring-bench peer: a hand-made ring in a memfd (see below).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "bench.h"

/*
 * --- uring, uring-batch: one shared ring in a memfd ---------------------------
 *
 * What a careful user builds by hand to do what shmring does, with none of
 * its guarantees (a writer killed in the middle leaves the lock held or a
 * frame torn; nothing outlives the processes; no per-reader loss counts,
 * no replay). Like a shmring ring, it is ONE ring for every writer and
 * every reader of a run:
 *
 *  - writers take a futex lock in the shared page (a three-state mutex,
 *    Drepper's "Futexes Are Tricky"; no system call when uncontended,
 *    like shmring's kernel mutex), so records of all writers form one
 *    total order, as shmring's sequence numbers do. (The other design, one
 *    single-producer ring per writer that the readers merge, has no writer
 *    contention but no order across writers; see docs/bench.md.)
 *  - every reader has its own tail in the shared mapping, in a cache line
 *    of its own; the ring is lossless: a writer waits until the slowest
 *    reader has made room.
 *  - head and tails are byte positions; a frame is a 4-byte length, 4 bytes
 *    pad, the payload, padded to 8; a length of UR_WRAP means "continue at
 *    offset 0".
 *
 * Sleeping, the same protocol as shmring's ([W5]/[R5] and [W4]/[R4] of
 * docs/design.md):
 *  - a reader with nothing to read stores its sleeps flag, fences, looks at
 *    head again, then sleeps in epoll on its eventfd; a writer publishes
 *    head, fences, and writes a reader's eventfd only if that reader's flag
 *    is set (and clears it).
 *  - a writer without room publishes what it wrote, stores the position
 *    every tail must reach (wait_pos) with a new wait_gen, sets
 *    writer_waits, fences, looks at the tails again, then sleeps in read(2)
 *    on the writers' eventfd, holding the lock (the other writers need room
 *    too; they wait for the lock). A reader stores its tail, fences, and
 *    signals only if a writer waits, its tail has reached wait_pos, and it
 *    has not signalled for this wait_gen yet.
 *
 * The two paths differ in how often they publish:
 *  - uring (per record): a writer takes the lock, writes one record,
 *    publishes head, drops the lock and signals sleeping readers, for
 *    every record; a reader releases every record (stores its tail, looks
 *    for a waiting writer) as it consumes it, as shmring_consume(3) does.
 *  - uring-batch: a writer takes the lock once per batch (the bench's -b,
 *    the batch shmring_write_batch(3) gets), writes every record of it and
 *    publishes head once, then signals at most once per sleeping reader; a
 *    reader consumes everything published and stores its tail once.
 */
struct ur_reader {
	_Alignas(64) _Atomic uint64_t tail;	/* written by this reader only */
	_Atomic uint32_t sleeps;		/* this reader is going to sleep */
};

struct uring {
	_Alignas(64) _Atomic uint64_t head;	/* published, written under lock */
	_Alignas(64) _Atomic uint32_t lock;	/* 0 free, 1 held, 2 held and waited for */
	uint64_t min_tail;			/* under lock: slowest tail seen last */
	_Alignas(64) _Atomic uint32_t writer_waits;
	_Atomic uint64_t wait_pos;		/* every tail must reach this */
	_Atomic uint64_t wait_gen;		/* a new one per wait */
	struct ur_reader rd[MAX_R];
	_Alignas(4096) char data[];
};

#define UR_WRAP		UINT32_MAX
#define UR_FRAME(len)	(((uint64_t)(len) + 8 + 7) & ~7ULL)

/* Reader-private: the wait_gen this reader last signalled. */
static uint64_t kicked_gen;

static struct uring *uring_of(const struct run *run)
{
	return (struct uring *)run->area;
}

static int uring_setup(struct run *run)
{
	unsigned int i;
	int fd;

	run->area_len = sizeof(struct uring) + run->ring;
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
	for (i = 0; i < run->readers; i++) {
		run->efd_r[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (run->efd_r[i] < 0)
			return -errno;
	}
	/* One for the writers: only the lock holder ever waits for room. */
	run->efd_w[0] = eventfd(0, EFD_CLOEXEC);
	return run->efd_w[0] < 0 ? -errno : 0;
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

/* --- The writers' lock ------------------------------------------------------- */

/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
static void futex_call(_Atomic uint32_t *word, int op, uint32_t val)
{
	syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

static void ur_lock(struct uring *u)
{
	uint32_t c = 0;

	if (atomic_compare_exchange_strong(&u->lock, &c, 1))
		return;
	if (c != 2)
		c = atomic_exchange(&u->lock, 2);
	while (c) {
		futex_call(&u->lock, FUTEX_WAIT, 2);
		c = atomic_exchange(&u->lock, 2);
	}
}

static void ur_unlock(struct uring *u)
{
	if (atomic_fetch_sub(&u->lock, 1) != 1) {
		atomic_store(&u->lock, 0);
		futex_call(&u->lock, FUTEX_WAKE, 1);
	}
}

/* --- Writers ------------------------------------------------------------------- */

/* The slowest reader's tail. */
static uint64_t ur_min_tail(const struct run *run, struct uring *u)
{
	uint64_t t, min = UINT64_MAX;
	unsigned int r;

	for (r = 0; r < run->readers; r++) {
		t = atomic_load_explicit(&u->rd[r].tail, memory_order_acquire);
		if (t < min)
			min = t;
	}
	return min;
}

/* [W1] the frames up to head are complete before readers can see them. */
static void ur_publish(struct uring *u, uint64_t head)
{
	atomic_store_explicit(&u->head, head, memory_order_release);
}

/* [W5] after publishing: wake the readers that announced a sleep. */
static int ur_wake_readers(struct run *run, struct uring *u)
{
	unsigned int r;
	int ret;

	atomic_thread_fence(memory_order_seq_cst);	/* pairs with uring_r_presleep's */
	for (r = 0; r < run->readers; r++)
		if (atomic_load_explicit(&u->rd[r].sleeps, memory_order_relaxed) &&
		    atomic_exchange_explicit(&u->rd[r].sleeps, 0, memory_order_relaxed)) {
			ret = efd_signal(run->efd_r[r]);
			if (ret)
				return ret;
		}
	return 0;
}

/*
 * Under lock: room for @need bytes at @head, whose frames up to there are
 * written. The cached slowest tail is looked at first; only when that is
 * not enough are the readers' tails read (their cache lines stay put
 * otherwise). Without room: publish, wake readers, announce, sleep.
 */
static int ur_room(struct run *run, struct uring *u, uint64_t head, uint64_t need)
{
	uint64_t v, gen;
	int ret;

	if (run->ring - (head - u->min_tail) >= need)
		return 0;
	for (;;) {
		u->min_tail = ur_min_tail(run, u);
		if (run->ring - (head - u->min_tail) >= need)
			return 0;
		/* Readers free room only in what they can see. */
		if (atomic_load_explicit(&u->head, memory_order_relaxed) != head) {
			ur_publish(u, head);
			ret = ur_wake_readers(run, u);
			if (ret)
				return ret;
		}
		gen = atomic_load_explicit(&u->wait_gen, memory_order_relaxed) + 1;
		atomic_store_explicit(&u->wait_pos, head + need - run->ring,
				      memory_order_relaxed);
		atomic_store_explicit(&u->wait_gen, gen, memory_order_relaxed);
		atomic_store_explicit(&u->writer_waits, 1, memory_order_relaxed);
		/* [W4] pairs with the readers' [R4]: announced before we look. */
		atomic_thread_fence(memory_order_seq_cst);
		u->min_tail = ur_min_tail(run, u);
		if (run->ring - (head - u->min_tail) < need &&
		    read(run->efd_w[0], &v, sizeof(v)) < 0 && errno != EINTR)
			return -errno;
		atomic_store_explicit(&u->writer_waits, 0, memory_order_relaxed);
	}
}

/* Under lock: write one frame at *head (not published yet). */
static int ur_put(struct run *run, struct uring *u, uint64_t *head, const char *rec)
{
	uint64_t need = UR_FRAME(run->size), off = *head & (run->ring - 1);
	uint64_t pad = off + need > run->ring ? run->ring - off : 0;
	uint32_t len = run->size;
	int ret;

	ret = ur_room(run, u, *head, pad + need);
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
	*head += pad + need;
	return 0;
}

/* uring: lock, write, publish, unlock, wake, for every record. */
static int uring_w_send(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	struct uring *u = uring_of(run);
	uint64_t head;
	unsigned int i;
	int ret;

	(void)w;
	for (i = 0; i < n; i++) {
		ur_lock(u);
		head = atomic_load_explicit(&u->head, memory_order_relaxed);
		ret = ur_put(run, u, &head, recs[i]);
		if (!ret)
			ur_publish(u, head);
		ur_unlock(u);
		if (!ret)
			ret = ur_wake_readers(run, u);
		if (ret)
			return ret;
	}
	return 0;
}

/* uring-batch: lock, write the batch, publish once, unlock, wake once. */
static int uring_w_batch(struct run *run, unsigned int w, char *const *recs, unsigned int n)
{
	struct uring *u = uring_of(run);
	uint64_t head;
	unsigned int i;
	int ret = 0;

	(void)w;
	ur_lock(u);
	head = atomic_load_explicit(&u->head, memory_order_relaxed);
	for (i = 0; i < n && !ret; i++)
		ret = ur_put(run, u, &head, recs[i]);
	ur_publish(u, head);
	ur_unlock(u);
	return ret ? ret : ur_wake_readers(run, u);
}

/* --- Readers -------------------------------------------------------------------- */

static int uring_r_open(struct run *run, unsigned int r)
{
	return add_fd(run->efd_r[r], EPOLLIN);
}

/* Store the tail; then signal the writer if it waits for this much room. */
static int ur_release(struct run *run, struct uring *u, unsigned int r, uint64_t tail)
{
	uint64_t gen;

	atomic_store_explicit(&u->rd[r].tail, tail, memory_order_release);
	/* [R4] pairs with ur_room's [W4]: the tail is visible before we look. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&u->writer_waits, memory_order_relaxed))
		return 0;
	gen = atomic_load_explicit(&u->wait_gen, memory_order_relaxed);
	if (gen == kicked_gen ||
	    tail < atomic_load_explicit(&u->wait_pos, memory_order_relaxed))
		return 0;
	kicked_gen = gen;
	return efd_signal(run->efd_w[0]);
}

/*
 * Consume what is published: per_record releases each record as it is
 * consumed (uring), else the whole run of records once (uring-batch).
 */
static int ur_drain(struct run *run, unsigned int r, int per_record)
{
	struct uring *u = uring_of(run);
	uint64_t tail = atomic_load_explicit(&u->rd[r].tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&u->head, memory_order_acquire);
	int seen = 0, ret;
	uint32_t len;

	if (tail == head)
		return 0;
	while (tail != head) {
		uint64_t off = tail & (run->ring - 1);

		memcpy(&len, u->data + off, 4);
		if (len == UR_WRAP) {
			tail += run->ring - off;
			continue;
		}
		if (len != run->size || head - tail < UR_FRAME(len))
			return fail(me.res, 0, "uring frame of %u bytes", len);
		ret = deliver(run, u->data + off + 8, len);
		if (ret)
			return ret;
		tail += UR_FRAME(len);
		seen++;
		if (per_record) {
			ret = ur_release(run, u, r, tail);
			if (ret)
				return ret;
		}
	}
	if (!per_record) {
		ret = ur_release(run, u, r, tail);
		if (ret)
			return ret;
	}
	return seen;
}

static int uring_r_drain(struct run *run, unsigned int r)
{
	return ur_drain(run, r, 1);
}

static int uring_r_drain_batch(struct run *run, unsigned int r)
{
	return ur_drain(run, r, 0);
}

/* [R5] announce the sleep, then look again; pairs with ur_wake_readers. */
static int uring_r_presleep(struct run *run, unsigned int r)
{
	struct uring *u = uring_of(run);

	atomic_store_explicit(&u->rd[r].sleeps, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&u->head, memory_order_acquire) ==
	    atomic_load_explicit(&u->rd[r].tail, memory_order_relaxed))
		return 0;
	/* Records came: no need for the writers to signal after all. */
	atomic_store_explicit(&u->rd[r].sleeps, 0, memory_order_relaxed);
	return 1;
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
	{ "uring-batch", "memfd-ring", "batch", "lossless", uring_setup, uring_cleanup,
	  NULL, uring_w_batch, uring_r_open, uring_r_drain_batch, uring_r_presleep,
	  uring_r_woken, 0 },
};

const struct peer peer_uring = { impls, ARRAY_SIZE(impls) };
