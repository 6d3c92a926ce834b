// SPDX-License-Identifier: GPL-2.0
/*
 * shmring zero-copy rings (SHMRING_ATTR_ZEROCOPY): chunks granted to
 * writers, records committed in place by them, and everything the kernel
 * does with a data area it cannot trust. docs/design.md, "Zero-copy
 * writers", describes the protocol and its barrier pairs [W7]-[W9] and
 * [R7]-[R9].
 *
 * Trust: writers may store anything anywhere in the data area. Every walk
 * here is bounded by one chunk (records never cross a chunk boundary) and
 * validates each header; reclaim moves by whole chunks and by counts the
 * kernel took itself when it closed them.
 */
#include <linux/idr.h>
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uio.h>
#include <kunit/visibility.h>

#include "shmring_internal.h"
#include "shmring_trace.h"

#define SHMRING_ZC_MAX_AUTO	(256U << 10)	/* largest default chunk */
/*
 * ...unless that leaves fewer records of max_record than this in a chunk
 * (one chunk request per record count: system calls per record) while
 * the ring still holds 16 chunks of the larger size.
 */
#define SHMRING_ZC_AUTO_RECS	64
#define SHMRING_ZC_MAX_WRITERS	(1 << 20)	/* writer files at once */

static DEFINE_IDA(shmring_zc_ida);
#define SHMRING_ZC_MAX_CHUNKS	65536U		/* chunks per ring */

unsigned int shmring_zc_idle_ms = 10;
EXPORT_SYMBOL_IF_KUNIT(shmring_zc_idle_ms);
module_param_named(zc_idle_ms, shmring_zc_idle_ms, uint, 0644);
MODULE_PARM_DESC(zc_idle_ms, "zero-copy rings: revoke a chunk whose writer committed nothing for this long while someone waits (ms, 0: never; default 10)");

static inline bool zc_before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

static inline struct shmring_rec *zc_rec(struct shmring_ring *ring, u64 pos)
{
	return ring->data + (pos & ring->mask);
}

/* The end of the chunk holding @pos. */
static inline u64 zc_end(const struct shmring_ring *ring, u64 pos)
{
	return (pos | (ring->zc_chunk - 1)) + 1;
}

/* Records the kernel counted in the (closed) chunk holding @pos. */
static inline u32 *zc_count(struct shmring_ring *ring, u64 pos)
{
	return &ring->zc_recs[(pos >> ilog2(ring->zc_chunk)) & (ring->zc_nr - 1)];
}

static inline bool zc_is(u64 word, u64 pos, u64 state)
{
	return word == (pos | state);
}

/*
 * Room for a record header before the chunk ends? A smaller rest is an
 * implicit end: no commit word is written or read there (it would lie in
 * the next chunk).
 */
static inline bool zc_room(const struct shmring_ring *ring, u64 pos)
{
	return zc_end(ring, pos) - pos >= sizeof(struct shmring_rec);
}

/*
 * Validate and default a zero-copy ring's chunk size and max_record
 * (data_size is already valid).
 */
int shmring_zc_attr_check(struct shmring_attr *attr, u64 page_size)
{
	u64 chunk = attr->zc_chunk;

	if (!chunk) {
		chunk = clamp_t(u64, attr->data_size / 16, page_size,
				SHMRING_ZC_MAX_AUTO);
		if (attr->max_record) {
			u64 total = shmring_rec_total(attr->max_record);
			u64 want = roundup_pow_of_two(total * SHMRING_ZC_AUTO_RECS);

			if (want > chunk && want <= attr->data_size / 16)
				chunk = want;
			if (total > chunk)
				chunk = roundup_pow_of_two(total);
		}
	}
	if (!is_power_of_2(chunk) || chunk < page_size ||
	    chunk > attr->data_size / 2 ||
	    attr->data_size / chunk > SHMRING_ZC_MAX_CHUNKS)
		return -EINVAL;
	if (!attr->max_record)
		attr->max_record = min_t(u64, attr->data_size / 4,
					 chunk - sizeof(struct shmring_rec));
	if (shmring_rec_total(attr->max_record) > chunk)
		return -EINVAL;
	attr->zc_chunk = chunk;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_zc_attr_check);

static void shmring_zc_idle_fn(struct work_struct *work);

int shmring_zc_init(struct shmring_ring *ring, u32 chunk)
{
	ring->zc_nr = ring->data_size / chunk;
	ring->zc_recs = kvcalloc(ring->zc_nr, sizeof(*ring->zc_recs),
				 GFP_KERNEL_ACCOUNT);
	if (!ring->zc_recs)
		return -ENOMEM;
	INIT_DELAYED_WORK(&ring->zc_idle_work, shmring_zc_idle_fn);
	ring->zc_chunk = chunk;
	ring->hdr->zc_chunk = chunk;
	return 0;
}

void shmring_zc_free(struct shmring_ring *ring)
{
	if (!shmring_is_zc(ring))
		return;
	/* Also when the work queues itself again. */
	cancel_delayed_work_sync(&ring->zc_idle_work);
	kvfree(ring->zc_recs);
}

/* KUnit: a fresh ring starting at @pos (a chunk boundary). */
void shmring_zc_set_start(struct shmring_ring *ring, u64 pos, u64 seq)
{
	ring->zc_closed = pos;
	ring->zc_closed_seq = seq;
	WRITE_ONCE(ring->hdr->zc_closed_seq, seq);
	WRITE_ONCE(ring->hdr->zc_closed, pos);
}

/*
 * The size of a committed record's frame at @pos if its header fits the
 * chunk and max_record, else 0 (corrupt). @len gets its payload length.
 */
static u64 zc_frame(struct shmring_ring *ring, u64 pos, u32 *len)
{
	const struct shmring_rec *rec = zc_rec(ring, pos);
	u32 n = READ_ONCE(rec->len);
	u64 total = shmring_rec_total(n);

	/* As readers judge it, so that the counts agree. */
	if (n > ring->max_record || total > zc_end(ring, pos) - pos ||
	    (READ_ONCE(rec->flags) & ~SHMRING_REC_FLAGS_ALL))
		return 0;
	*len = n;
	return total;
}

/*
 * Count what the writer committed in its chunk since we last looked, up
 * to the first word that is not a valid DONE (its fill point), or @max
 * records. Bounded by the chunk. Under wlock.
 */
static u64 zc_scan_n(struct shmring_ring *ring, struct shmring_zc_writer *w,
		     u32 max)
{
	u64 end = w->start + ring->zc_chunk, p = w->scan, total;
	u32 len;

	while (max-- && zc_before(p, end) && zc_room(ring, p)) {
		/* [R7] pairs with [W7]: the record is complete before DONE. */
		if (!zc_is(smp_load_acquire(&zc_rec(ring, p)->seq), p,
			   SHMRING_ZC_DONE))
			break;
		total = zc_frame(ring, p, &len);
		if (!total)
			break;		/* corrupt: closing voids it */
		w->bytes += len;
		w->recs++;
		p += total;
	}
	if (p != w->scan) {
		w->scan = p;
		w->moved = get_jiffies_64();
	}
	return p;
}

static u64 zc_scan(struct shmring_ring *ring, struct shmring_zc_writer *w)
{
	return zc_scan_n(ring, w, U32_MAX);
}

/*
 * Mark the rest of a chunk unused from @p: END, or VOID over a record in
 * progress (BUSY) or a corrupt one. A compare-and-swap that the writer's
 * own swaps (reserve, [W7] commit) win or lose: one arbiter. Returns true
 * if a valid record was committed at @p meanwhile (scan again).
 */
static bool zc_terminate(struct shmring_ring *ring, u64 p, bool *voided)
{
	u64 *word = &zc_rec(ring, p)->seq, old, mark;
	u32 len;
	int i;

	for (i = 0; i < 4; i++) {
		old = READ_ONCE(*word);
		if (zc_is(old, p, SHMRING_ZC_END) || zc_is(old, p, SHMRING_ZC_VOID)) {
			*voided = zc_is(old, p, SHMRING_ZC_VOID);
			return false;
		}
		if (zc_is(old, p, SHMRING_ZC_DONE) && zc_frame(ring, p, &len))
			return true;
		mark = zc_is(old, p, SHMRING_ZC_BUSY) ||
		       zc_is(old, p, SHMRING_ZC_DONE) ?
		       SHMRING_ZC_VOID : SHMRING_ZC_END;
		/* Full barrier: the mark before zc_closed moves ([W8]). */
		if (cmpxchg(word, old, p | mark) == old) {
			*voided = mark == SHMRING_ZC_VOID;
			return false;
		}
	}
	/* The word changes as fast as we swap it: a hostile writer. */
	WRITE_ONCE(*word, p | SHMRING_ZC_VOID);
	*voided = true;
	return false;
}

/*
 * Every chunk below the oldest open one is closed: publish that for
 * readers, with the sequence number there. Under wlock.
 */
static void zc_advance(struct shmring_ring *ring)
{
	struct shmring_zc_writer *w;
	u64 closed, p = ring->zc_closed, seq = ring->zc_closed_seq;

	w = list_first_entry_or_null(&ring->zc_open, struct shmring_zc_writer,
				     node);
	closed = w ? w->start : ring->head;
	while (zc_before(p, closed)) {
		seq += *zc_count(ring, p);
		p += ring->zc_chunk;
	}
	ring->zc_closed = closed;
	ring->zc_closed_seq = seq;
	WRITE_ONCE(ring->head_seq, seq);
	WRITE_ONCE(ring->hdr->head_seq, seq);
	WRITE_ONCE(ring->hdr->zc_closed_seq, seq);
	WRITE_ONCE(ring->hdr->zc_open, ring->nr_zc_open);
	/* [W8] pairs with [R8]: the chunks' marks are visible first. */
	smp_store_release(&ring->hdr->zc_closed, closed);
}

/*
 * A writer file of a zero-copy ring: its own range of mmap offsets on the
 * device's address space (@mapping), for fencing.
 */
int shmring_zc_writer_init(struct shmring_ring *ring, struct shmring_zc_writer *w,
			   struct address_space *mapping)
{
	int id = ida_alloc_max(&shmring_zc_ida, SHMRING_ZC_MAX_WRITERS - 1,
			       GFP_KERNEL);

	if (id < 0)
		return id;
	INIT_LIST_HEAD(&w->node);
	mutex_init(&w->map_lock);
	w->ring = ring;
	w->mapping = mapping;
	w->map_id = id;
	w->map_off = SHMRING_ZC_MAP_BASE + ((u64)id << SHMRING_ZC_MAP_SHIFT);
	return 0;
}

static void zc_junk_free(struct page **junk, u32 chunk)
{
	u32 i;

	if (!junk)
		return;
	for (i = 0; i < chunk >> PAGE_SHIFT; i++)
		if (junk[i])
			put_page(junk[i]);
	kvfree(junk);
}

/* After the file's last mapping went (release). */
void shmring_zc_writer_free(struct shmring_zc_writer *w)
{
	zc_junk_free(w->junk, w->ring->zc_chunk);
	ida_free(&shmring_zc_ida, w->map_id);
}

/*
 * Fence a revoked chunk off its writer's mappings ([W10]): after this, its
 * stores there land on its junk page, never in space the kernel grants
 * to another writer. Under wlock (unmap_mapping_range() may sleep; no
 * spinlock held), before the space can be granted again.
 */
static void zc_fence(struct shmring_ring *ring, struct shmring_zc_writer *w)
{
	u64 off = w->start & ring->mask;
	struct page **junk;

	junk = kvcalloc(ring->zc_chunk >> PAGE_SHIFT, sizeof(*junk),
			GFP_KERNEL_ACCOUNT);
	mutex_lock(&w->map_lock);
	w->fenced = true;
	w->fence_off = off;
	/* Without it, faults in the fence get SIGBUS: still fenced. */
	w->junk = junk;
	mutex_unlock(&w->map_lock);
	/* Faults from now on see the fence; then the old entries go. */
	unmap_mapping_range(w->mapping, w->map_off + off, ring->zc_chunk, 1);
}

/* The writer asks again: its junk entries go, it may map real pages. */
static void zc_unfence(struct shmring_ring *ring, struct shmring_zc_writer *w)
{
	struct page **junk;
	u64 off;

	mutex_lock(&w->map_lock);
	w->fenced = false;
	off = w->fence_off;
	junk = w->junk;
	w->junk = NULL;
	mutex_unlock(&w->map_lock);
	unmap_mapping_range(w->mapping, w->map_off + off, ring->zc_chunk, 1);
	zc_junk_free(junk, ring->zc_chunk);
}

/* A page of SHMRING_ZC_FENCE_WORD: whatever a fenced writer swaps, fails. */
static struct page *zc_fence_page(void)
{
	struct page *page = alloc_page(GFP_KERNEL_ACCOUNT);
	u64 *p;
	int i;

	if (!page)
		return NULL;
	p = page_address(page);
	for (i = 0; i < PAGE_SIZE / sizeof(*p); i++)
		p[i] = SHMRING_ZC_FENCE_WORD;
	return page;
}

static vm_fault_t shmring_zc_fault(struct vm_fault *vmf)
{
	struct shmring_zc_writer *w = vmf->vma->vm_private_data;
	struct shmring_ring *ring = w->ring;
	u64 idx = vmf->pgoff - (w->map_off >> PAGE_SHIFT);
	u64 off = idx << PAGE_SHIFT;
	struct page *page;
	int ret;

	if (idx >= ring->nr_pages)
		return VM_FAULT_SIGBUS;
	mutex_lock(&w->map_lock);
	page = ring->pages[1 + idx];
	if (w->fenced && off - w->fence_off < ring->zc_chunk) {
		u64 j = (off - w->fence_off) >> PAGE_SHIFT;

		page = NULL;
		if (w->junk && !w->junk[j])
			w->junk[j] = zc_fence_page();
		if (w->junk)
			page = w->junk[j];
	}
	ret = page ? vm_insert_page(vmf->vma, vmf->address, page) : -ENOMEM;
	mutex_unlock(&w->map_lock);
	if (ret == -ENOMEM)
		return VM_FAULT_OOM;
	/* -EBUSY: another thread's fault mapped it first. */
	return ret && ret != -EBUSY ? VM_FAULT_SIGBUS : VM_FAULT_NOPAGE;
}

const struct vm_operations_struct shmring_zc_vm_ops = {
	.fault = shmring_zc_fault,
};

/*
 * Close a writer's chunk: count its records, mark the rest, account it.
 * @revoked: the kernel takes it (timeout, reclaim), not the writer.
 * Under wlock; the caller wakes readers after dropping it.
 */
static void zc_close(struct shmring_ring *ring, struct shmring_zc_writer *w,
		     bool revoked)
{
	u64 end = w->start + ring->zc_chunk, p;
	/* A rescan passes at least one record: at most this many. */
	unsigned int tries = ring->zc_chunk / sizeof(struct shmring_rec) + 2;
	bool voided = false;

	lockdep_assert_held(&ring->wlock);
	for (;;) {
		p = zc_scan(ring, w);
		if (!zc_before(p, end) || !zc_room(ring, p) ||
		    !zc_terminate(ring, p, &voided))
			break;
		if (!--tries) {
			WRITE_ONCE(zc_rec(ring, p)->seq, p | SHMRING_ZC_VOID);
			voided = true;
			break;
		}
	}
	if (voided)
		WRITE_ONCE(ring->zc_discarded, ring->zc_discarded + 1);
	*zc_count(ring, w->start) = w->recs;
	/* Numbered by readers, in chunk order: no seq here. */
	if (w->recs)
		trace_shmring_commit(ring, SHMRING_TRACE_SEQ_NONE, w->recs,
				     w->bytes, 0);
	WRITE_ONCE(ring->records_written, ring->records_written + w->recs);
	WRITE_ONCE(ring->bytes_written, ring->bytes_written + w->bytes);
	list_del_init(&w->node);
	ring->nr_zc_open--;
	w->open = false;
	w->closed = true;
	w->revoked = revoked;
	w->closed_at = p;
	w->closed_recs = w->recs;
	zc_advance(ring);
	if (revoked && w->mapping)
		zc_fence(ring, w);
}

/*
 * make_room() frees the chunk at @tail (wlock held): an open one is
 * revoked first. Returns the next chunk; @seq moves over its records.
 */
u64 shmring_zc_reclaim_step(struct shmring_ring *ring, u64 tail, u64 *seq)
{
	struct shmring_zc_writer *w;

	w = list_first_entry_or_null(&ring->zc_open, struct shmring_zc_writer,
				     node);
	if (w && w->start == tail)
		zc_close(ring, w, true);
	*seq += *zc_count(ring, tail);
	return tail + ring->zc_chunk;
}

/*
 * Records in [@from, @to) (whole chunks, closed) at or after @min: those
 * the slowest passed cursor had not consumed. In the chunk holding @min
 * they are counted by a bounded walk from the chunk start.
 */
u64 shmring_zc_count_unread(struct shmring_ring *ring, u64 from, u64 to,
			    u64 min)
{
	u64 p, q, end, total, n = 0;
	u32 len;

	for (p = from; zc_before(p, to); p += ring->zc_chunk) {
		end = p + ring->zc_chunk;
		if (!zc_before(min, end))
			continue;		/* all consumed */
		if (!zc_before(p, min)) {
			n += *zc_count(ring, p);
			continue;
		}
		for (q = p; zc_before(q, end) && zc_room(ring, q); q += total) {
			if (!zc_is(READ_ONCE(zc_rec(ring, q)->seq), q,
				   SHMRING_ZC_DONE))
				break;
			total = zc_frame(ring, q, &len);
			if (!total)
				break;
			if (!zc_before(q, min))
				n++;
		}
	}
	return n;
}

/*
 * Whether a reader at @pos has something to do: a record, a mark to skip,
 * corruption to skip, or a lap to count. Lockless; the reader's position
 * is clamped, the data area read as untrusted.
 */
bool shmring_zc_ready(struct shmring_ring *ring, u64 pos)
{
	struct shmring_hdr *hdr = ring->hdr;
	/* [R8] pairs with [W8]: closed chunks are marked before this. */
	u64 closed = smp_load_acquire(&hdr->zc_closed);
	/* [R1] pairs with [W1]. */
	u64 head = smp_load_acquire(&hdr->head);
	u64 tail = READ_ONCE(hdr->tail), word;

	pos &= ~SHMRING_POS_LAPPED;
	if (zc_before(pos, tail))
		return true;			/* lapped */
	if (!zc_before(pos, head))
		return false;
	if ((pos & 7) || !zc_room(ring, pos))
		return true;	/* scribbled (read(2) says so), or a rest to skip */
	/* [R7] pairs with [W7]. */
	word = smp_load_acquire(&zc_rec(ring, pos)->seq);
	if ((word & ~SHMRING_ZC_STATE) == pos &&
	    ((word & SHMRING_ZC_STATE) == SHMRING_ZC_DONE ||
	     (word & SHMRING_ZC_STATE) == SHMRING_ZC_END ||
	     (word & SHMRING_ZC_STATE) == SHMRING_ZC_VOID))
		return true;
	return zc_before(pos, closed);		/* garbage in a closed chunk */
}
EXPORT_SYMBOL_IF_KUNIT(shmring_zc_ready);

/*
 * SHMRING_IOC_KICK, and every close: wake the waiting readers that have
 * something to do, and drop them from the waiters (they join again when
 * they next wait), so hdr->zc_sleepers counts only readers that sleep.
 */
static void zc_arm_idle(struct shmring_ring *ring);

void shmring_zc_wake(struct shmring_ring *ring)
{
	struct shmring_cursor *c, *next;
	u64 pos, seq;
	u32 lazy;

	spin_lock(&ring->lock);
	/*
	 * [W9] pairs with [R9]: the writer's commit swap (or our marks)
	 * before the sleepers and positions we look at.
	 */
	smp_mb();
	list_for_each_entry_safe(c, next, &ring->waiters, wnode) {
		/* Ordered by the smp_mb() above ([W9]). */
		if (!waitqueue_active(&c->wq)) {
			shmring_waiter_del(ring, c);
			continue;
		}
		shmring_cursor_at(c, &pos, &seq);
		if (!shmring_zc_ready(ring, pos))
			continue;
		shmring_waiter_del(ring, c);
		wake_up_interruptible_poll(&c->wq, EPOLLIN | EPOLLRDNORM);
	}
	lazy = ring->nr_lazy;
	spin_unlock(&ring->lock);
	/*
	 * Lazy readers still asleep need the idle work while a chunk is
	 * open. A grant calls us after it counted its chunk open, and a
	 * lazy reader looks at nr_zc_open after it joined under the lock:
	 * one of the two arms it.
	 */
	if (lazy)
		zc_arm_idle(ring);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_zc_wake);

/* zc_idle_ms went to 0: lazy readers join again, asking for kicks. */
static void zc_wake_lazy(struct shmring_ring *ring)
{
	struct shmring_cursor *c, *next;

	spin_lock(&ring->lock);
	list_for_each_entry_safe(c, next, &ring->waiters, wnode) {
		if (!c->waits_lazy)
			continue;
		shmring_waiter_del(ring, c);
		wake_up_interruptible_poll(&c->wq, EPOLLIN | EPOLLRDNORM);
	}
	spin_unlock(&ring->lock);
}

static void zc_arm_idle(struct shmring_ring *ring)
{
	unsigned int ms = READ_ONCE(shmring_zc_idle_ms);

	if (ms && READ_ONCE(ring->nr_zc_open))
		queue_delayed_work(system_wq, &ring->zc_idle_work,
				   max(msecs_to_jiffies(ms / 2), 1UL));
}

/* Someone waits (a reader, a lossless writer): watch for stopped writers. */
void shmring_zc_waiting(struct shmring_ring *ring)
{
	zc_arm_idle(ring);
}

/*
 * Revoke the open chunks whose writer committed nothing for zc_idle_ms
 * while someone waited: a stopped writer (SIGSTOP, a debugger, a
 * deadlock) holds back later chunks for that long at most.
 */
static void shmring_zc_idle_fn(struct work_struct *work)
{
	struct shmring_ring *ring = container_of(to_delayed_work(work),
						 struct shmring_ring,
						 zc_idle_work);
	u64 idle = msecs_to_jiffies(READ_ONCE(shmring_zc_idle_ms));
	struct shmring_zc_writer *w, *next;
	bool revoked = false, waiting;

	if (!idle) {
		zc_wake_lazy(ring);
		return;
	}
	mutex_lock(&ring->wlock);
	list_for_each_entry_safe(w, next, &ring->zc_open, node) {
		/*
		 * One record tells whether the writer moved: the rest is
		 * counted when the chunk closes, not every few milliseconds
		 * behind a busy writer.
		 */
		zc_scan_n(ring, w, 1);
		if (time_after_eq64(get_jiffies_64(), w->moved + idle)) {
			zc_close(ring, w, true);
			revoked = true;
		}
	}
	mutex_unlock(&ring->wlock);
	/*
	 * Lazy readers (SHMRING_ZC_WAKE_CHUNK) asked no writer to kick:
	 * records committed into a chunk that stays open reach them here,
	 * within zc_idle_ms / 2 of their commit.
	 */
	if (revoked || READ_ONCE(ring->nr_lazy))
		shmring_zc_wake(ring);
	if (revoked)
		shmring_wake_writers(ring);
	spin_lock(&ring->lock);
	waiting = ring->nr_waiters || ring->nr_blocked;
	spin_unlock(&ring->lock);
	if (waiting)
		zc_arm_idle(ring);
}

/* Report the writer's last close (taken by the kernel or by itself). */
static void zc_report(struct shmring_zc_writer *w, struct shmring_zc_chunk *a)
{
	if (!w->closed)
		return;
	a->closed_at = w->closed_at;
	a->closed_recs = w->closed_recs;
	a->revoked = w->revoked;
	w->closed = false;
}

/*
 * SHMRING_IOC_ZC_CHUNK: close the writer's chunk and grant it the next
 * one at the head, making room as write(2) does.
 */
int shmring_zc_grant(struct shmring_ring *ring, struct shmring_zc_writer *w,
		     struct shmring_zc_chunk *a, bool nonblock)
{
	u64 chunk = ring->zc_chunk, start;
	bool announced = false, baton = false;
	int ret = 0;

	if (a->flags & ~SHMRING_ZC_FLAGS_ALL)
		return -EINVAL;
	a->start = 0;
	a->end = 0;
	a->closed_at = 0;
	a->closed_recs = 0;
	a->revoked = 0;
	if (mutex_lock_interruptible(&ring->wlock))
		return -ERESTARTSYS;
	if (w->open)
		zc_close(ring, w, false);
	if (w->fenced)
		zc_unfence(ring, w);
	if (a->flags & SHMRING_ZC_RELEASE) {
		zc_report(w, a);
		goto out;
	}
	for (;;) {
		if (READ_ONCE(ring->unlinked)) {
			ret = -EIDRM;
			goto out;
		}
		ret = shmring_make_room(ring, chunk);
		if (!ret)
			break;
		if (nonblock && !announced) {
			/* As write(2): announce, so readers kick, and look again. */
			shmring_announce(ring, 0, true, shmring_need_pos(ring, chunk));
			/* [W4] pairs with [R4]: announced before we recheck. */
			smp_mb();
			announced = true;
			continue;
		}
		WRITE_ONCE(ring->writer_waits, ring->writer_waits + 1);
		if (nonblock)
			goto out;
		mutex_unlock(&ring->wlock);
		/* Readers may wait on the chunk we closed; and for stopped writers. */
		shmring_zc_wake(ring);
		zc_arm_idle(ring);
		ret = shmring_wait_room(ring, chunk);
		baton = true;
		if (ret)
			goto passed;
		if (mutex_lock_interruptible(&ring->wlock)) {
			ret = -ERESTARTSYS;
			goto passed;
		}
	}
	zc_report(w, a);
	start = ring->head;
	*zc_count(ring, start) = 0;
	/*
	 * The first word is the writer's to swap from: no leftover of a
	 * hostile writer there may look like a mark for this position.
	 */
	WRITE_ONCE(zc_rec(ring, start)->seq, 0);
	w->start = start;
	w->scan = start;
	w->recs = 0;
	w->bytes = 0;
	w->moved = get_jiffies_64();
	w->open = true;
	list_add_tail(&w->node, &ring->zc_open);
	ring->nr_zc_open++;
	WRITE_ONCE(ring->head, start + chunk);
	zc_advance(ring);
	WRITE_ONCE(ring->hdr->realtime_offset_ns,
		   ktime_get_real_ns() - ktime_get_boottime_ns());
	/* [W1] the tail, marks and counts before the new head. */
	smp_store_release(&ring->hdr->head, ring->head);
	a->start = start;
	a->end = start + chunk;
out:
	mutex_unlock(&ring->wlock);
	shmring_zc_wake(ring);
passed:
	/* We waited for room: the next blocked writer's turn. */
	if (baton)
		shmring_pass_room(ring);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_zc_grant);

/* The writer's file is released: a record in progress is discarded now. */
void shmring_zc_release(struct shmring_ring *ring, struct shmring_zc_writer *w)
{
	mutex_lock(&ring->wlock);
	if (w->open)
		zc_close(ring, w, false);
	mutex_unlock(&ring->wlock);
	shmring_zc_wake(ring);
	shmring_wake_writers(ring);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_zc_release);

/* tail and tail_seq as one pair (published together under ring->lock). */
static u64 zc_tail(struct shmring_ring *ring, u64 *seq)
{
	u64 tail;

	spin_lock(&ring->lock);
	tail = READ_ONCE(ring->hdr->tail);
	*seq = READ_ONCE(ring->hdr->tail_seq);
	spin_unlock(&ring->lock);
	return tail;
}

/*
 * read(2) with its cursor behind the tail, or lapped to where the tail
 * still is. Records carry no sequence numbers here, so the gap is counted
 * from tail_seq, taken with tail under the lock. Returns 1 to go on from
 * a new position, 0 to read at st->pos, or -EINVAL.
 */
static int zc_read_lapped(struct shmring_ring *ring, struct shmring_rstate *st)
{
	u64 tail_seq, tail = zc_tail(ring, &tail_seq);
	int ret = 0;

	if (zc_before(st->pos, tail)) {
		/* [R6]: the writer moved the page before tail. */
		if (st->rp && READ_ONCE(st->rp->pos) != st->raw) {
			st->raw = READ_ONCE(st->rp->pos);
			if (!(st->raw & SHMRING_POS_LAPPED))
				return -EINVAL;	/* scribbled on */
			st->pos = st->raw & ~SHMRING_POS_LAPPED;
			if (!zc_before(st->pos, tail))
				return 1;
		}
		st->pos = tail;
		ret = 1;
	} else if (!st->rp || !(st->raw & SHMRING_POS_LAPPED) || st->pos != tail) {
		return 0;
	}
	if (zc_before(st->seq, tail_seq))
		st->lost += tail_seq - st->seq;
	st->seq = tail_seq;
	return ret;
}

/*
 * A reader skips from st->pos to @next (a mark, or corruption): the same
 * commit as a record, with no record. Returns false if the reader must
 * stop with -EINVAL (its page was scribbled on).
 */
static bool zc_skip(struct shmring_rstate *st, u64 next)
{
	if (st->rp && !shmring_rstate_commit(st, next))
		return st->raw & SHMRING_POS_LAPPED;
	st->pos = next;
	st->moved = true;
	return true;
}

/*
 * read(2) on a zero-copy ring: copy whole committed records at the cursor
 * into @to, with the sequence number the reader counted in their header,
 * skipping marks and corruption. Returns 0 when it stopped for lack of
 * records or room, or -errno; progress is in @st.
 */
int shmring_zc_copy_records(struct shmring_ring *ring, struct iov_iter *to,
			    struct shmring_rstate *st)
{
	struct shmring_hdr *hdr = ring->hdr;
	/* [R1] pairs with [W1]. */
	u64 head = smp_load_acquire(&hdr->head);
	u64 tail, closed, word, next, total;
	struct shmring_rec rec;
	unsigned int n = 0;
	size_t room;
	int ret;

	while (st->pos != head) {
		if (!(++n & 1023))
			cond_resched();
		/*
		 * Lockless: only a lapped cursor needs tail with its tail_seq,
		 * a pair taken under the lock (not once per record).
		 */
		tail = smp_load_acquire(&hdr->tail);
		if (zc_before(st->pos, tail) ||
		    (st->rp && (st->raw & SHMRING_POS_LAPPED) && st->pos == tail)) {
			ret = zc_read_lapped(ring, st);
			if (ret < 0)
				return ret;
			if (ret)
				continue;
		}
		if (zc_before(head, st->pos)) {
			head = smp_load_acquire(&hdr->head);	/* [R1] */
			if (zc_before(head, st->pos))
				return -EINVAL;	/* the reader page was scribbled on */
			continue;
		}
		if (st->pos & 7)
			return -EINVAL;
		next = zc_end(ring, st->pos);
		if (!zc_room(ring, st->pos))
			goto skip;	/* a rest too small for a record */
		/* [R8] pairs with [W8], before the word. */
		closed = smp_load_acquire(&hdr->zc_closed);
		/* [R7] pairs with [W7]. */
		word = smp_load_acquire(&zc_rec(ring, st->pos)->seq);
		if (zc_is(word, st->pos, SHMRING_ZC_DONE)) {
			memcpy(&rec, zc_rec(ring, st->pos), sizeof(rec));
			total = shmring_rec_total(rec.len);
			if (rec.len > ring->max_record || total > next - st->pos) {
				/* [R2]: torn by a lap, not by a writer? */
				smp_rmb();
				if (zc_before(st->pos, READ_ONCE(hdr->tail)))
					continue;
				st->corrupt++;
				goto skip;
			}
			if (total > iov_iter_count(to))
				return st->done ? 0 : -EMSGSIZE;
			rec.seq = st->seq;
			room = iov_iter_count(to);
			if (copy_to_iter(&rec, sizeof(rec), to) != sizeof(rec) ||
			    copy_to_iter((char *)zc_rec(ring, st->pos) + sizeof(rec),
					 total - sizeof(rec), to) !=
			    total - sizeof(rec)) {
				iov_iter_revert(to, room - iov_iter_count(to));
				return st->done ? 0 : -EFAULT;
			}
			/* [R2] pairs with [W2]: overwritten while we copied? */
			smp_rmb();
			if (zc_before(st->pos, READ_ONCE(hdr->tail))) {
				iov_iter_revert(to, total);
				continue;
			}
			if (st->rp && !shmring_rstate_commit(st, st->pos + total)) {
				iov_iter_revert(to, total);
				if (!(st->raw & SHMRING_POS_LAPPED))
					return st->done ? 0 : -EINVAL;
				continue;
			}
			st->seq++;
			st->pos += total;
			st->done += total;
			st->recs++;
			continue;
		}
		if (zc_is(word, st->pos, SHMRING_ZC_END))
			goto skip;
		if (zc_is(word, st->pos, SHMRING_ZC_VOID)) {
			st->discarded++;
			goto skip;
		}
		if (!zc_before(st->pos, closed))
			break;		/* not committed yet */
		/* [R2]: garbage because the chunk was reused? Then lapped. */
		smp_rmb();
		if (zc_before(st->pos, READ_ONCE(hdr->tail)))
			continue;
		st->corrupt++;
skip:
		if (!zc_skip(st, next))
			return st->done ? 0 : -EINVAL;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_zc_copy_records);
