// SPDX-License-Identifier: GPL-2.0
/*
 * shmring ring core: memory, framing, the write path and read(2).
 *
 * Positions are byte counts since the ring was created, compared modulo
 * 2^64. The data area is vmapped twice in a row here and mapped twice
 * into readers, so a record never wraps for anyone.
 *
 * Memory ordering (docs/design.md has the full protocol). Every barrier
 * below is tagged with the one it pairs with:
 *   [W1] writer: record bytes, then smp_store_release(hdr->head)
 *        pairs with [R1] reader: smp_load_acquire(hdr->head), then bytes.
 *   [W2] writer: WRITE_ONCE(hdr->tail), smp_wmb(), then overwrite bytes
 *        pairs with [R2] reader: read bytes, smp_rmb(), READ_ONCE(hdr->tail).
 *   [W3] writer: smp_load_acquire(rp->pos) before reusing space
 *        pairs with [R3] reader: read bytes, smp_store_release(rp->pos).
 *   [W4] writer: publish writers_waiting and wait_pos, full barrier,
 *        recheck positions
 *        pairs with [R4] reader: store pos, smp_mb(), read writers_waiting
 *        and wait_pos.
 *   [W5] writer: store head, smp_mb() (wq_has_sleeper), read reader pos
 *        pairs with [R5] reader: store pos, smp_mb(), reread head, sleep.
 */

#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>
#include <linux/vmalloc.h>

#include "shmring_internal.h"
#include "shmring_trace.h"

static inline bool pos_before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

bool shmring_pos_before(u64 a, u64 b)
{
	return pos_before(a, b);
}

bool shmring_size_valid(u64 size, u64 max_size)
{
	return size >= SHMRING_MIN_DATA_SIZE && size >= PAGE_SIZE &&
	       size <= max_size && is_power_of_2(size);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_size_valid);

/* Validate attributes from userspace and fill in defaults. */
int shmring_attr_check(struct shmring_attr *attr,
		       const struct shmring_limits *lim)
{
	if (attr->__reserved1[0] || attr->__reserved1[1])
		return -EINVAL;
	if (attr->flags & ~SHMRING_ATTR_FLAGS_ALL)
		return -EINVAL;
	if (attr->policy != SHMRING_POLICY_OVERWRITE &&
	    attr->policy != SHMRING_POLICY_LOSSLESS)
		return -EINVAL;
	if (!attr->data_size)
		attr->data_size = lim->default_size;
	if (!shmring_size_valid(attr->data_size, lim->max_size))
		return -EINVAL;
	if (attr->flags & SHMRING_ATTR_ZEROCOPY)
		return shmring_zc_attr_check(attr, PAGE_SIZE);
	if (attr->zc_chunk)
		return -EINVAL;
	if (!attr->max_record)
		attr->max_record = attr->data_size / 4;
	if (shmring_rec_total(attr->max_record) > attr->data_size)
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_attr_check);

/* Names are 1..max-1 bytes of [A-Za-z0-9._-], not "." or "..". */
bool shmring_name_valid(const char *name, size_t max)
{
	size_t len = strnlen(name, max);
	size_t i;

	if (len == 0 || len == max)
		return false;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (i = 0; i < len; i++) {
		char ch = name[i];

		/* The kernel's isalnum() also takes Latin-1 letters (0xc0-0xff). */
		if (!isascii(ch) ||
		    (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-'))
			return false;
	}
	return true;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_name_valid);

/*
 * Clamp a position a reader gave us into [tail, head], without the
 * SHMRING_POS_LAPPED bit the kernel may have set in it.
 */
u64 shmring_clamp_pos(u64 pos, u64 tail, u64 head)
{
	pos &= ~SHMRING_POS_LAPPED;
	if (pos_before(pos, tail))
		return tail;
	if (pos_before(head, pos))
		return head;
	return pos;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_clamp_pos);

static void shmring_publish_geometry(struct shmring_ring *ring)
{
	struct shmring_hdr *hdr = ring->hdr;

	hdr->magic = SHMRING_MAGIC;
	hdr->abi_version = SHMRING_ABI_VERSION;
	hdr->hdr_size = sizeof(*hdr);
	hdr->data_size = ring->data_size;
	hdr->max_record = ring->max_record;
	hdr->policy = ring->policy;
	hdr->flags = ring->flags;
}

/*
 * Allocate a ring whose attributes passed shmring_attr_check(). All memory
 * is zeroed and charged to the caller's memory cgroup.
 */
struct shmring_ring *shmring_ring_alloc(const struct shmring_attr *attr,
					const char *name)
{
	const gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN;
	struct shmring_ring *ring;
	unsigned int i, nr;

	nr = attr->data_size >> PAGE_SHIFT;
	ring = kzalloc(sizeof(*ring), GFP_KERNEL_ACCOUNT);
	if (!ring)
		return NULL;
	/* Before any failure: shmring_ring_free() walks ring->subs. */
	INIT_LIST_HEAD(&ring->node);
	INIT_LIST_HEAD(&ring->readers);
	INIT_LIST_HEAD(&ring->waiters);
	INIT_LIST_HEAD(&ring->subs);
	INIT_LIST_HEAD(&ring->zc_open);
	INIT_LIST_HEAD(&ring->copying);
	/* pages[0] is the header; the data pages follow twice. */
	ring->pages = kvcalloc(1 + 2 * (size_t)nr, sizeof(*ring->pages),
			       GFP_KERNEL_ACCOUNT);
	if (!ring->pages)
		goto err;
	ring->nr_pages = nr;
	for (i = 0; i <= nr; i++) {
		ring->pages[i] = alloc_page(gfp);
		if (!ring->pages[i])
			goto err;
		if (i)
			ring->pages[nr + i] = ring->pages[i];
		cond_resched();
	}
	ring->data = vmap(ring->pages + 1, 2 * nr, VM_MAP, PAGE_KERNEL);
	if (!ring->data)
		goto err;
	ring->hdr_page = ring->pages[0];
	ring->hdr = page_address(ring->hdr_page);

	strscpy(ring->name, name, sizeof(ring->name));
	ring->data_size = attr->data_size;
	ring->mask = attr->data_size - 1;
	ring->max_record = attr->max_record;
	ring->policy = attr->policy;
	ring->flags = attr->flags;
	kref_init(&ring->ref);
	mutex_init(&ring->wlock);
	spin_lock_init(&ring->lock);
	init_waitqueue_head(&ring->write_wq);
	if ((attr->flags & SHMRING_ATTR_ZEROCOPY) &&
	    shmring_zc_init(ring, attr->zc_chunk))
		goto err;
	shmring_publish_geometry(ring);
	return ring;
err:
	shmring_ring_free(ring);
	return NULL;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_ring_alloc);

/* Start a fresh ring at an arbitrary position (KUnit: wrap near 2^64). */
void shmring_ring_set_start(struct shmring_ring *ring, u64 pos, u64 seq)
{
	ring->head = pos;
	ring->tail = pos;
	ring->head_seq = seq;
	ring->tail_seq = seq;
	WRITE_ONCE(ring->hdr->head_seq, seq);
	WRITE_ONCE(ring->hdr->tail_seq, seq);
	WRITE_ONCE(ring->hdr->tail, pos);
	if (shmring_is_zc(ring))
		shmring_zc_set_start(ring, pos, seq);
	/* [W1] as in shmring_ring_write(): the fields above come first. */
	smp_store_release(&ring->hdr->head, pos);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_ring_set_start);

void shmring_ring_free(struct shmring_ring *ring)
{
	unsigned int i;

	if (!ring)
		return;
	shmring_sub_free_all(ring);
	shmring_zc_free(ring);
	if (ring->user_ns)
		put_user_ns(ring->user_ns);
	if (ring->data)
		vunmap(ring->data);
	if (ring->pages) {
		for (i = 0; i <= ring->nr_pages; i++)
			if (ring->pages[i])
				put_page(ring->pages[i]);
		kvfree(ring->pages);
	}
	kfree(ring);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_ring_free);

/*
 * Copy rings: where records stop being complete, and its sequence number:
 * the first record still being copied with wlock dropped, or head. Under
 * wlock (ring->copying).
 */
void shmring_frontier(struct shmring_ring *ring, u64 *pos, u64 *seq)
{
	struct shmring_copy *cp;

	lockdep_assert_held(&ring->wlock);
	cp = list_first_entry_or_null(&ring->copying, struct shmring_copy, node);
	*pos = cp ? cp->start : ring->head;
	*seq = cp ? cp->seq : ring->head_seq;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_frontier);

/*
 * A new cursor starts at the oldest record, or at head if asked. Under
 * wlock, so head and tail are stable, and the caller attaches the cursor
 * before dropping it: no writer can reclaim in between.
 */
void shmring_cursor_place(struct shmring_ring *ring, struct shmring_reader *rp,
			  bool from_head)
{
	/*
	 * Zero-copy: "head" is where records are final, not the grants;
	 * copy rings: where they are, short of copies in flight.
	 */
	u64 head = ring->zc_closed, head_seq = ring->head_seq;

	lockdep_assert_held(&ring->wlock);
	if (!shmring_is_zc(ring))
		shmring_frontier(ring, &head, &head_seq);
	WRITE_ONCE(rp->txn_pos, SHMRING_TXN_NONE);
	WRITE_ONCE(rp->seq, from_head ? head_seq : ring->tail_seq);
	/* [R3] seq is in place before the position the kernel reads. */
	smp_store_release(&rp->pos, from_head ? head : ring->tail);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_cursor_place);

void shmring_cursor_init(struct shmring_cursor *c, struct shmring_reader *rp,
			 struct page *page)
{
	INIT_LIST_HEAD(&c->node);
	INIT_LIST_HEAD(&c->wnode);
	c->rp = rp;
	c->page = page;
	init_waitqueue_head(&c->wq);
	mutex_init(&c->read_lock);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_cursor_init);

/* Put a placed cursor on the readers list. Under wlock and ring->lock. */
void shmring_cursor_link(struct shmring_ring *ring, struct shmring_cursor *c)
{
	lockdep_assert_held(&ring->lock);
	list_add_tail(&c->node, &ring->readers);
	WRITE_ONCE(ring->nr_readers, ring->nr_readers + 1);
	ring->nr_readers_other += c->other;
}

/*
 * Attach an ephemeral reader at the tail (or head). Readers of users who
 * neither own the ring nor are capable share max_readers (EUSERS), so
 * they cannot take the owner's place; everyone's readers also count
 * against max_user_readers (charged by the caller).
 */
int shmring_attach_cursor(struct shmring_ring *ring, struct shmring_cursor *c,
			  bool from_head)
{
	int ret;

	if (mutex_lock_killable(&ring->wlock))
		return -EINTR;
	spin_lock(&ring->lock);
	ret = shmring_reader_slot(ring, c, READ_ONCE(shmring_limits.max_readers));
	if (!ret) {
		shmring_cursor_place(ring, c->rp, from_head);
		shmring_cursor_link(ring, c);
	}
	spin_unlock(&ring->lock);
	mutex_unlock(&ring->wlock);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_attach_cursor);

void shmring_detach_cursor(struct shmring_ring *ring, struct shmring_cursor *c)
{
	spin_lock(&ring->lock);
	list_del_init(&c->node);
	shmring_waiter_del(ring, c);
	WRITE_ONCE(ring->nr_readers, ring->nr_readers - 1);
	ring->nr_readers_other -= c->other;
	if (c->sub) {
		c->sub->attached = false;
		c->sub->last_attach_ns = ktime_get_real_ns();
		trace_shmring_sub_detach(ring, c->sub);
	}
	spin_unlock(&ring->lock);
	/* A lossless writer may have waited for this reader. */
	shmring_wake_writers(ring);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_detach_cursor);

/*
 * Smallest position any cursor still needs (attached readers and detached
 * durable subscriptions), clamped to [tail, head]; head when none.
 */
static u64 shmring_min_cursor_locked(struct shmring_ring *ring, u64 tail,
				     u64 head, u64 *min_all)
{
	struct shmring_cursor *c;
	u64 min = head, all = head, pos;

	lockdep_assert_held(&ring->lock);
	list_for_each_entry(c, &ring->readers, node) {
		/* [W3] pairs with [R3]: the reader is done with bytes < pos. */
		pos = shmring_clamp_pos(smp_load_acquire(&c->rp->pos), tail, head);
		if (pos_before(pos, all))
			all = pos;
		if (c->tap)
			continue;	/* taps are lapped, never waited for */
		if (pos_before(pos, min))
			min = pos;
	}
	min = shmring_sub_min_pos(ring, tail, head, min);
	if (min_all)
		*min_all = pos_before(min, all) ? min : all;
	return min;
}

static u64 shmring_min_cursor(struct shmring_ring *ring, u64 tail, u64 head,
			      u64 *min_all)
{
	u64 min;

	spin_lock(&ring->lock);
	min = shmring_min_cursor_locked(ring, tail, head, min_all);
	spin_unlock(&ring->lock);
	return min;
}

/*
 * [W6] Move a cursor the new @tail passes to it: a compare-and-swap that
 * the reader's own commit (a compare-and-swap too, [R6]) wins or loses,
 * so each record is decided once, by one of the two: read, or lost. The
 * reader finds SHMRING_POS_LAPPED in pos, counts the gap by sequence
 * numbers, and its next commit clears the bit. Returns where the cursor
 * was (clamped to [@old_tail, @head]): its losses start there.
 *
 * The page is the reader's. An honest reader stores 8-aligned positions,
 * only forward, and each of its commits passes a whole record: a swap
 * fails at most once per record being reclaimed (@recs). A position that
 * is unaligned, does not move forward, or moves more often than that is
 * scribbled on, and is simply overwritten: the loop is bounded by @recs
 * whatever the reader does.
 */
u64 shmring_cursor_lap(struct shmring_reader *rp, u64 old_tail, u64 tail,
		       u64 tail_seq, u64 head, u64 recs)
{
	u64 raw = READ_ONCE(rp->pos), pos, seen, prev = 0;
	bool retry = false;

	for (;;) {
		pos = shmring_clamp_pos(raw, old_tail, head);
		if (!pos_before(pos, tail))
			return pos;		/* not passed */
		if ((raw & 7 & ~SHMRING_POS_LAPPED) ||
		    (retry && (!pos_before(prev, pos) || !recs--))) {
			WRITE_ONCE(rp->lap_from, SHMRING_TXN_NONE);
			WRITE_ONCE(rp->lap_seq, tail_seq);
			WRITE_ONCE(rp->pos, tail | SHMRING_POS_LAPPED);
			return old_tail;	/* scribbled: count it all */
		}
		/*
		 * Where the reader had committed to, for recovery of a
		 * reader killed after its commit (see struct shmring_reader);
		 * before the swap, which orders it for whoever sees the bit.
		 */
		if (!(raw & SHMRING_POS_LAPPED))
			WRITE_ONCE(rp->lap_from, raw);
		/* The sequence number at tail: zero-copy records carry none. */
		WRITE_ONCE(rp->lap_seq, tail_seq);
		/* Full barrier: [W6] before the tail store ([W2]). */
		seen = cmpxchg(&rp->pos, raw, tail | SHMRING_POS_LAPPED);
		if (seen == raw)
			return pos;
		prev = pos;
		raw = seen;
		retry = true;
	}
}
EXPORT_SYMBOL_IF_KUNIT(shmring_cursor_lap);

/*
 * Lap every cursor (readers, taps, detached subscriptions) that the tail
 * moving from @old_tail to @tail passes. Returns the lowest position a
 * cursor other than a tap had among them (@tail if none was passed): the
 * ring's losses are the records from there to @tail.
 */
static u64 shmring_lap_cursors_locked(struct shmring_ring *ring, u64 old_tail,
				      u64 tail, u64 tail_seq, u64 recs)
{
	struct shmring_cursor *c;
	u64 min = tail, pos;

	lockdep_assert_held(&ring->lock);
	list_for_each_entry(c, &ring->readers, node) {
		pos = shmring_cursor_lap(c->rp, old_tail, tail, tail_seq,
					 ring->head, recs);
		/* An attached subscription is its reader's cursor. */
		if (pos_before(pos, tail))
			trace_shmring_reader_lapped(ring, c->sub ? c->sub->name : "",
						    c->pid, c->tap, pos, tail,
						    tail_seq);
		if (!c->tap && pos_before(pos, min))
			min = pos;
	}
	return shmring_sub_lap(ring, old_tail, tail, tail_seq, recs, min);
}

static u32 shmring_len_at(struct shmring_ring *ring, u64 pos)
{
	const struct shmring_rec *rec = ring->data + (pos & ring->mask);

	/* Record headers are written by the kernel only: trusted here. */
	return READ_ONCE(rec->len);
}

/*
 * Free room for a record of @total bytes by moving the tail over old
 * records: any record in overwrite mode, only records every cursor has
 * consumed in lossless mode. Called under wlock.
 */
/*
 * Records in [from, to) that start at or after @min: those the slowest
 * cursor had not consumed.
 */
static u64 shmring_count_unread(struct shmring_ring *ring, u64 from, u64 to,
				u64 min)
{
	u64 n = 0;

	while (pos_before(from, to)) {
		if (!pos_before(from, min))
			n++;
		from += shmring_rec_total(shmring_len_at(ring, from));
	}
	return n;
}

int shmring_make_room(struct shmring_ring *ring, u64 total)
{
	u64 old_tail = ring->tail, tail = old_tail, tail_seq = ring->tail_seq;
	u64 old_seq = tail_seq, min, min_all, limit, lost;

	if (ring->head - tail + total <= ring->data_size)
		return 0;
	min = shmring_min_cursor(ring, tail, ring->head, &min_all);
	limit = ring->policy == SHMRING_POLICY_LOSSLESS ? min : ring->head;
	while (ring->head - tail + total > ring->data_size) {
		if (!pos_before(tail, limit))
			return -EAGAIN;
		if (shmring_is_zc(ring)) {
			/* Whole chunks, and only ones every cursor passed. */
			if (ring->policy == SHMRING_POLICY_LOSSLESS &&
			    pos_before(limit, tail + ring->zc_chunk))
				return -EAGAIN;
			tail = shmring_zc_reclaim_step(ring, tail, &tail_seq);
			continue;
		}
		tail += shmring_rec_total(shmring_len_at(ring, tail));
		tail_seq++;
	}
	/*
	 * While at it, reclaim up to a sixteenth of the ring more, but only
	 * records every cursor has consumed: the next writes then find room
	 * without walking the cursors and moving the tail each time.
	 */
	while (!shmring_is_zc(ring) && pos_before(tail, min) &&
	       ring->head - tail + total + (ring->data_size >> 4) > ring->data_size) {
		tail += shmring_rec_total(shmring_len_at(ring, tail));
		tail_seq++;
	}
	WRITE_ONCE(ring->tail, tail);
	WRITE_ONCE(ring->tail_seq, tail_seq);
	/*
	 * Cursors only move forward, and new ones attach under wlock: if
	 * none was before the new tail when we looked, none is now.
	 */
	if (!pos_before(min_all, tail) && !shmring_is_zc(ring)) {
		WRITE_ONCE(ring->hdr->tail_seq, tail_seq);
		/* Zero-copy readers take tail_seq once they see tail. */
		smp_store_release(&ring->hdr->tail, tail);
		/* [W2] the new tail is visible before the bytes we overwrite. */
		smp_wmb();
		return 0;
	}
	/*
	 * Some cursor is passed: move each to the new tail ([W6], a swap
	 * its reader's commit wins or loses) before the tail is published,
	 * so a reader that sees the new tail ([R2]) also sees its cursor
	 * moved, and what was lost is what the swaps took. Zero-copy rings
	 * always come here: read(2) takes tail and tail_seq as a pair under
	 * the lock (their records carry no sequence numbers).
	 */
	spin_lock(&ring->lock);
	/* Commits a reader may make in the range: records, and chunk skips. */
	min = shmring_lap_cursors_locked(ring, old_tail, tail, tail_seq,
					 tail_seq - old_seq +
					 (shmring_is_zc(ring) ?
					  (tail - old_tail) / ring->zc_chunk : 0));
	WRITE_ONCE(ring->hdr->tail_seq, tail_seq);
	/* Zero-copy readers take tail_seq once they see tail. */
	smp_store_release(&ring->hdr->tail, tail);
	/* [W2] the new tail is visible before the bytes we overwrite. */
	smp_wmb();
	spin_unlock(&ring->lock);
	if (pos_before(min, tail)) {
		lost = shmring_is_zc(ring) ?
		       shmring_zc_count_unread(ring, old_tail, tail, min) :
		       shmring_count_unread(ring, old_tail, tail, min);
		WRITE_ONCE(ring->records_lost, ring->records_lost + lost);
		if (lost)
			trace_shmring_lost(ring, lost, tail_seq);
	}
	return 0;
}

/* Room for the largest record without waiting (POLLOUT); a hint. */
bool shmring_can_write(struct shmring_ring *ring)
{
	u64 head = READ_ONCE(ring->head), tail = READ_ONCE(ring->tail);
	u64 total = shmring_rec_total(ring->max_record);
	u64 min;

	if (READ_ONCE(ring->unlinked))
		return false;
	if (ring->policy == SHMRING_POLICY_OVERWRITE)
		return true;
	min = shmring_min_cursor(ring, tail, head, NULL);
	return head - min + total <= ring->data_size;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_can_write);

static bool shmring_room_for(struct shmring_ring *ring, u64 total)
{
	u64 head = READ_ONCE(ring->head), tail = READ_ONCE(ring->tail);

	return READ_ONCE(ring->unlinked) ||
	       head - shmring_min_cursor(ring, tail, head, NULL) + total <=
	       ring->data_size;
}

/*
 * Mirror who waits for room into the header, for readers. Under lock.
 * With nobody waiting, the next waiter's need starts afresh.
 */
static void shmring_publish_waiting(struct shmring_ring *ring)
{
	u32 waiting = ring->nr_blocked + (ring->poll_waiting ? 1 : 0);

	if (!waiting)
		ring->want_set = false;
	WRITE_ONCE(ring->hdr->writers_waiting, waiting);
}

/*
 * Announce a waiting writer in one lock section: @blocked writers start
 * to sleep, or (@poll) a writer polls for POLLOUT, and they
 * need every cursor at or past @pos. The lowest need is published as
 * hdr->wait_pos, so readers kick only once they reach it; wait_gen
 * changes with every announcement, so readers that kicked for an older
 * one kick again. The caller then issues [W4] and rechecks for room.
 */
void shmring_announce(struct shmring_ring *ring, int blocked, bool poll,
		      u64 pos)
{
	spin_lock(&ring->lock);
	/*
	 * A poller (or EAGAIN) already announced, not kicked since, and no
	 * further need: readers will kick at want_pos as announced. Saying
	 * it again would only change wait_gen and make every reader kick,
	 * a system call per record under a writer that spins on EAGAIN.
	 */
	if (!blocked && poll && ring->poll_waiting && ring->want_set &&
	    !pos_before(pos, ring->want_pos)) {
		spin_unlock(&ring->lock);
		return;
	}
	ring->nr_blocked += blocked;
	if (poll)
		ring->poll_waiting = true;
	if (!ring->want_set || pos_before(pos, ring->want_pos)) {
		ring->want_pos = pos;
		ring->want_set = true;
	}
	WRITE_ONCE(ring->hdr->wait_pos, ring->want_pos);
	WRITE_ONCE(ring->hdr->wait_gen, ++ring->want_gen);
	shmring_publish_waiting(ring);
	spin_unlock(&ring->lock);
}

static void shmring_unblock(struct shmring_ring *ring)
{
	spin_lock(&ring->lock);
	ring->nr_blocked--;
	shmring_publish_waiting(ring);
	spin_unlock(&ring->lock);
}

/*
 * Where every cursor must be for @total bytes to fit, plus a sixteenth of
 * the ring: a waiting writer is woken when readers have freed that much
 * (or drained), not after every record they consume. Never past head, so
 * a reader that drains always reaches it.
 */
u64 shmring_need_pos(struct shmring_ring *ring, u64 total)
{
	/*
	 * Zero-copy rings are granted by the chunk (a sixteenth of the
	 * ring by default), and every writer holds one: room for a
	 * quarter lets one kick serve several blocked writers in turn
	 * (the baton) instead of one kick per chunk from every reader.
	 */
	u64 slack = min(ring->data_size >> (shmring_is_zc(ring) ? 2 : 4),
			ring->data_size - total);

	return READ_ONCE(ring->head) + total + slack - ring->data_size;
}

/*
 * Writers blocked for room wait exclusively: a reader's kick wakes one
 * (and every poller), not a herd that would fight over wlock for room
 * a few of them can use. So no sleeper is forgotten, whoever was woken
 * passes the baton on when it is done (shmring_pass_room()): it wrote,
 * failed or was interrupted, and the next sleeper looks for room
 * itself, re-announcing its need if it must sleep again.
 */
void shmring_pass_room(struct shmring_ring *ring)
{
	if (wq_has_sleeper(&ring->write_wq))
		wake_up_interruptible(&ring->write_wq);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_pass_room);

/*
 * Sleep until @total bytes fit. On return (0 or -ERESTARTSYS) the caller
 * holds the baton and must call shmring_pass_room() once it is done.
 */
int shmring_wait_room(struct shmring_ring *ring, u64 total)
{
	DEFINE_WAIT(wait);
	int blocked = 1, ret = 0;
	u32 wakeups = 0;

	trace_shmring_writer_wait(ring, total);
	for (;;) {
		prepare_to_wait_exclusive(&ring->write_wq, &wait,
					  TASK_INTERRUPTIBLE);
		/* After every wakeup: head may have moved, need again. */
		shmring_announce(ring, blocked, false,
				 shmring_need_pos(ring, total));
		blocked = 0;
		/* [W4] the need is visible before we recheck; pairs with [R4]. */
		smp_mb();
		if (shmring_room_for(ring, total))
			break;
		if (signal_pending(current)) {
			ret = -ERESTARTSYS;
			break;
		}
		schedule();
		wakeups++;
	}
	finish_wait(&ring->write_wq, &wait);
	shmring_unblock(ring);
	trace_shmring_writer_woken(ring, total, ret, wakeups);
	return ret;
}

/*
 * A writer's poll found no room: announce it, so readers kick when they
 * consume, then look again (the caller does): a reader that consumed
 * before our announcement was visible kicked nobody, and its position
 * is what the recheck sees.
 */
void shmring_poll_wait_room(struct shmring_ring *ring)
{
	/* POLLOUT means room for the largest record. */
	shmring_announce(ring, 0, true, shmring_need_pos(ring,
			 shmring_rec_total(ring->max_record)));
	/* [W4] pairs with [R4]: announced before the caller rechecks. */
	smp_mb();
}
EXPORT_SYMBOL_IF_KUNIT(shmring_poll_wait_room);

/* Room was freed: wake the first blocked writer (it passes the baton on). */
void shmring_wake_writers(struct shmring_ring *ring)
{
	shmring_pass_room(ring);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_wake_writers);

/* SHMRING_IOC_KICK: a reader consumed in place and saw writers waiting. */
void shmring_kick(struct shmring_ring *ring)
{
	spin_lock(&ring->lock);
	ring->poll_waiting = false;
	/* The writers we wake publish their need afresh if they sleep again. */
	ring->want_set = false;
	shmring_publish_waiting(ring);
	spin_unlock(&ring->lock);
	wake_up_interruptible(&ring->write_wq);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_kick);

/* Whether a reader should be told about pending records. */
static bool shmring_ready(const struct shmring_cursor *c, u64 bytes, u64 recs)
{
	if (c->wm_recs)
		return recs >= c->wm_recs;
	return bytes && bytes >= c->wm_bytes;
}

/*
 * Bytes (and records, via @recs) a cursor has not consumed. The cursor's
 * fields are the reader's to write: clamp them, never trust them.
 */
static u64 shmring_pending_at(struct shmring_ring *ring, u64 raw, u64 seq,
			      u64 *recs)
{
	/* [R1] pairs with [W1]. */
	u64 head = smp_load_acquire(&ring->hdr->head);
	u64 head_seq = READ_ONCE(ring->hdr->head_seq);
	u64 tail = READ_ONCE(ring->hdr->tail);
	u64 tail_seq = READ_ONCE(ring->hdr->tail_seq);
	u64 pos = shmring_clamp_pos(raw, tail, head);

	if (!recs)
		return head - pos;
	if ((raw & SHMRING_POS_LAPPED) || pos_before(raw, tail) ||
	    pos_before(seq, tail_seq))
		seq = tail_seq;	/* lapped: what was lost is not pending */
	*recs = pos != head && pos_before(seq, head_seq) ? head_seq - seq : 0;
	return head - pos;
}

u64 shmring_cursor_pending(struct shmring_ring *ring, struct shmring_reader *rp,
			   u64 *recs)
{
	return shmring_pending_at(ring, READ_ONCE(rp->pos), READ_ONCE(rp->seq),
				  recs);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_cursor_pending);

/* Where a cursor reads next: its page, or its private read-ahead. */
void shmring_cursor_at(const struct shmring_cursor *c, u64 *pos, u64 *seq)
{
	if (READ_ONCE(c->manual)) {
		*pos = READ_ONCE(c->rpos);
		*seq = READ_ONCE(c->rseq);
	} else {
		*pos = READ_ONCE(c->rp->pos) & ~SHMRING_POS_LAPPED;
		*seq = READ_ONCE(c->rp->seq);
	}
}

/*
 * Adaptive wakeup: only readers that sleep and that this commit made
 * ready (they had drained, or just crossed their watermark) are woken.
 */
static inline u64 shmring_pending_from(u64 from, u64 to)
{
	return pos_before(from, to) ? to - from : 0;
}

/*
 * A reader is on its wait queue (poll_wait(), prepare_to_wait()) and
 * about to look at positions: put it on the waiters list, which is all a
 * writer walks. Under ring->lock, after joining the wait queue: a writer
 * walking before us may have dropped us (our queue looked empty), and
 * then its head store is visible to the look that follows ([W5]/[R5]
 * through the lock); a writer walking after us sees us on the list with
 * a non-empty queue.
 */
void shmring_cursor_will_wait(struct shmring_ring *ring, struct shmring_cursor *c)
{
	spin_lock(&ring->lock);
	if (list_empty(&c->wnode) && !list_empty(&c->node)) {
		list_add_tail(&c->wnode, &ring->waiters);
		ring->nr_waiters++;
		/*
		 * A lazy reader is woken by chunk closes and the idle work,
		 * which runs only while zc_idle_ms is set: else it asks for
		 * kicks as every reader does.
		 */
		c->waits_lazy = c->zc_lazy && READ_ONCE(shmring_zc_idle_ms);
		if (c->waits_lazy)
			ring->nr_lazy++;
		/* Zero-copy writers kick only while someone sleeps ([W9]). */
		if (shmring_is_zc(ring))
			WRITE_ONCE(ring->hdr->zc_sleepers,
				   ring->nr_waiters - ring->nr_lazy);
	}
	spin_unlock(&ring->lock);
	if (shmring_is_zc(ring))
		shmring_zc_waiting(ring);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_cursor_will_wait);

/* Off the waiters list. Under ring->lock. */
void shmring_waiter_del(struct shmring_ring *ring, struct shmring_cursor *c)
{
	lockdep_assert_held(&ring->lock);
	if (list_empty(&c->wnode))
		return;
	list_del_init(&c->wnode);
	ring->nr_waiters--;
	if (c->waits_lazy)
		ring->nr_lazy--;
	c->waits_lazy = false;
	if (shmring_is_zc(ring))
		WRITE_ONCE(ring->hdr->zc_sleepers, ring->nr_waiters - ring->nr_lazy);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_waiter_del);

/*
 * Records [old_head, head) with sequence numbers [old_seq, head_seq)
 * became visible. A publish may add many records (a batch), so what a
 * reader had pending before is computed from old_head and old_seq.
 */
static void shmring_wake_readers(struct shmring_ring *ring, u64 old_head,
				 u64 old_seq, u64 head, u64 head_seq)
{
	u64 tail = READ_ONCE(ring->hdr->tail);
	u64 tail_seq = READ_ONCE(ring->hdr->tail_seq);
	struct shmring_cursor *c, *next;

	spin_lock(&ring->lock);
	/*
	 * [W5] pairs with [R5]: our head store before the sleepers and
	 * positions we read. One barrier for the walk (wq_has_sleeper() is
	 * this barrier plus waitqueue_active()). Only readers that waited
	 * are walked (shmring_cursor_will_wait()); one whose queue is empty
	 * now is dropped, and joins again the next time it waits.
	 */
	smp_mb();
	list_for_each_entry_safe(c, next, &ring->waiters, wnode) {
		u64 pos, seq, before, after;
		bool lapped;

		/* Ordered by the smp_mb() above ([W5]). */
		if (!waitqueue_active(&c->wq)) {
			shmring_waiter_del(ring, c);
			continue;
		}
		shmring_cursor_at(c, &pos, &seq);
		/*
		 * Lapped (a writer swapped its pos to the tail, or it is
		 * behind it): its seq is from before the lap, so count from
		 * the tail, and what it saw before it slept says nothing (poll
		 * counts from the tail too): wake it if it is ready.
		 */
		lapped = pos_before(pos, tail) || pos_before(seq, tail_seq);
		if (lapped) {
			pos = tail;
			seq = tail_seq;
		}
		if (c->wm_recs) {
			after = shmring_pending_from(seq, head_seq);
			before = shmring_pending_from(seq, old_seq);
		} else {
			after = shmring_pending_from(pos, head);
			before = shmring_pending_from(pos, old_head);
		}
		if (lapped)
			before = 0;
		if (shmring_ready(c, after, after) &&
		    !shmring_ready(c, before, before))
			wake_up_interruptible_poll(&c->wq, EPOLLIN | EPOLLRDNORM);
	}
	spin_unlock(&ring->lock);
}

/* wlock was just taken: what is published so far ([W1] below). */
static void shmring_wbatch_held(struct shmring_ring *ring,
				struct shmring_wbatch *wb)
{
	wb->locked = true;
	/* Every hold of wlock ends by publishing it: it is what is published. */
	shmring_frontier(ring, &wb->pub_head, &wb->pub_seq);
	wb->woken_head = wb->pub_head;
	wb->woken_seq = wb->pub_seq;
}

/*
 * A batch of writes: records are committed one by one under wlock but
 * made visible together, with one store of head ([W1]) and one pass over
 * the readers for wakeups. begin() takes wlock, add() commits a record
 * (dropping and retaking wlock while it waits for room, after publishing
 * what the batch committed so far, so readers can free that room), end()
 * publishes, drops wlock and wakes readers.
 */
static int shmring_wbatch_lock(struct shmring_ring *ring,
			       struct shmring_wbatch *wb)
{
	/*
	 * The clocks once per batch (and again after every wait, which
	 * comes back here), outside wlock: records of a batch share a
	 * timestamp, kept monotonic in ring order under wlock.
	 */
	wb->now = ktime_get_boottime_ns();	/* SHMRING_REC_CLOCK */
	wb->real = ktime_get_real_ns();
	if (mutex_lock_interruptible(&ring->wlock))
		return -ERESTARTSYS;
	shmring_wbatch_held(ring, wb);
	return 0;
}

int shmring_wbatch_begin(struct shmring_ring *ring, struct shmring_wbatch *wb)
{
	wb->baton = false;
	return shmring_wbatch_lock(ring, wb);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_wbatch_begin);


/*
 * Under wlock: readers may now see every record committed so far, up to
 * the first one still being copied (shmring_frontier()).
 */
static void shmring_wbatch_publish(struct shmring_ring *ring,
				   struct shmring_wbatch *wb)
{
	u64 head, head_seq;

	shmring_frontier(ring, &head, &head_seq);
	if (wb->pub_head == head)
		return;
	/* Wall time for humans, from the clocks read in begin(). */
	WRITE_ONCE(ring->hdr->last_write_ns, wb->real);
	WRITE_ONCE(ring->hdr->realtime_offset_ns, wb->real - wb->now);
	WRITE_ONCE(ring->hdr->head_seq, head_seq);
	/*
	 * [W1] the records are complete before readers can see them: ours,
	 * and those copied with wlock dropped, whose writers took wlock
	 * after their copy to take them off ring->copying.
	 */
	smp_store_release(&ring->hdr->head, head);
	wb->pub_head = head;
	wb->pub_seq = head_seq;
}

/* Wake the readers that what was published since the last wake made ready. */
static void shmring_wbatch_wake(struct shmring_ring *ring,
				struct shmring_wbatch *wb, u64 head, u64 head_seq)
{
	if (wb->woken_head == head)
		return;
	shmring_wake_readers(ring, wb->woken_head, wb->woken_seq, head, head_seq);
	wb->woken_head = head;
	wb->woken_seq = head_seq;
}

/* Publish, drop wlock, wake the readers the new records made ready. */
static void shmring_wbatch_unlock(struct shmring_ring *ring,
				  struct shmring_wbatch *wb)
{
	shmring_wbatch_publish(ring, wb);
	wb->locked = false;
	mutex_unlock(&ring->wlock);
	shmring_wbatch_wake(ring, wb, wb->pub_head, wb->pub_seq);
}

void shmring_wbatch_end(struct shmring_ring *ring, struct shmring_wbatch *wb)
{
	if (wb->locked)
		shmring_wbatch_unlock(ring, wb);
	/* We waited for room: the next blocked writer's turn. */
	if (wb->baton)
		shmring_pass_room(ring);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_wbatch_end);

/*
 * The source of a record is resident: nothing a copy under wlock touches
 * can fault. If not, fault it in with wlock dropped and retake it.
 * Returns 1 if wlock was dropped (ring state may have moved), 0 if not,
 * or -errno.
 */
static int shmring_wbatch_fault_in(struct shmring_ring *ring,
				   struct shmring_wbatch *wb,
				   struct iov_iter *from, size_t len)
{
	size_t missing;
	int ret;

	pagefault_disable();
	missing = fault_in_iov_iter_readable(from, len);
	pagefault_enable();
	if (!missing)
		return 0;
	shmring_wbatch_unlock(ring, wb);
	if (fault_in_iov_iter_readable(from, len))
		return -EFAULT;
	ret = shmring_wbatch_lock(ring, wb);
	return ret ? ret : 1;
}

/*
 * Make room for @total bytes at the head, under wlock, as write(2) does:
 * dropping old records (overwrite), or waiting for readers (lossless;
 * EAGAIN when @nonblock). With @from, the source of the record is made
 * resident first, so a bad buffer costs no old record. Returns 0 with
 * wlock held, or -errno (wlock may have been dropped).
 */
static int shmring_wbatch_room(struct shmring_ring *ring,
			       struct shmring_wbatch *wb, u64 total,
			       bool nonblock, struct iov_iter *from, size_t len)
{
	bool announced = false;
	int ret;

	for (;;) {
		if (READ_ONCE(ring->unlinked))
			return -EIDRM;
		/*
		 * Making room may drop old records: have the source resident
		 * first, so a bad buffer costs none. (With room to spare a
		 * failed copy costs nothing, and the common case saves it.)
		 */
		if (from && ring->head - ring->tail + total > ring->data_size) {
			ret = shmring_wbatch_fault_in(ring, wb, from, len);
			if (ret < 0)
				return ret;
			if (ret)
				continue;
		}
		/*
		 * Overwrite: the tail only moves over records older than
		 * head + total - data_size; keep that before what readers
		 * can see, so the tail never passes the published head.
		 */
		if (ring->head - wb->pub_head + total > ring->data_size) {
			/* Under wlock, but rare: a batch larger than the ring. */
			shmring_wbatch_publish(ring, wb);
			shmring_wbatch_wake(ring, wb, wb->pub_head, wb->pub_seq);
		}
		ret = shmring_make_room(ring, total);
		if (!ret)
			return 0;
		if (nonblock && !announced) {
			/*
			 * EAGAIN: announce the writer as poll does, so readers
			 * kick when they free room (an edge-triggered POLLOUT
			 * waiter is never polled again otherwise), and look
			 * again: a reader may have consumed before it saw us.
			 */
			shmring_announce(ring, 0, true, shmring_need_pos(ring, total));
			/* [W4] pairs with [R4]: announced before we recheck. */
			smp_mb();
			announced = true;
			continue;
		}
		WRITE_ONCE(ring->writer_waits, ring->writer_waits + 1);
		if (nonblock)
			return ret;
		/* Readers free room only in what they can see: publish. */
		shmring_wbatch_unlock(ring, wb);
		ret = shmring_wait_room(ring, total);
		wb->baton = true;
		if (!ret)
			ret = shmring_wbatch_lock(ring, wb);
		if (ret)
			return ret;
	}
}

/* Under wlock: @nr records of @bytes (@payload of it) were placed at head. */
static void shmring_wbatch_advance(struct shmring_ring *ring, u64 bytes,
				   u32 nr, u64 payload, u32 last_len)
{
	WRITE_ONCE(ring->head, ring->head + bytes);
	WRITE_ONCE(ring->head_seq, ring->head_seq + nr);
	WRITE_ONCE(ring->bytes_written, ring->bytes_written + payload);
	WRITE_ONCE(ring->records_written, ring->records_written + nr);
	WRITE_ONCE(ring->hdr->last_write_len, last_len);
}

/* The batch's timestamp, never before the previous record's. Under wlock. */
static u64 shmring_wbatch_tstamp(struct shmring_ring *ring,
				 struct shmring_wbatch *wb)
{
	u64 now = max(wb->now, ring->last_tstamp);

	ring->last_tstamp = now;
	return now;
}

/*
 * Under wlock: the header of the record of @len payload bytes at head,
 * and its padding (but for the checksum: flags 0, csum 0).
 */
static void shmring_rec_init(struct shmring_ring *ring, struct shmring_wbatch *wb,
			     struct shmring_rec *rec, u32 len, u32 type, pid_t pid)
{
	u64 pad = shmring_rec_total(len) - sizeof(*rec) - len;

	if (pad)
		memset((char *)(rec + 1) + len, 0, pad);
	rec->len = len;
	rec->type = type;
	rec->seq = ring->head_seq;
	rec->tstamp_ns = shmring_wbatch_tstamp(ring, wb);
	rec->pid = pid;
	rec->flags = 0;
	rec->__reserved0 = 0;
	rec->csum = 0;
	rec->__reserved1 = 0;
}

/*
 * Commit one record gathered from @from (visible at the next publish).
 * Either the whole record is committed or nothing is. Returns the
 * payload length or -errno; on -errno wlock may have been dropped, and
 * end() must still be called. Nothing here sleeps on a page fault while
 * holding wlock.
 */
ssize_t shmring_wbatch_add(struct shmring_ring *ring, struct shmring_wbatch *wb,
			   struct iov_iter *from, u32 type, pid_t pid,
			   bool nonblock)
{
	size_t len = iov_iter_count(from);
	struct shmring_rec *rec;
	u64 total;
	int ret;

	if (!wb->locked)
		return -EINTR;
	if (len > ring->max_record)
		return -EMSGSIZE;
	total = shmring_rec_total(len);
	for (;;) {
		ret = shmring_wbatch_room(ring, wb, total, nonblock, from, len);
		if (ret)
			return ret;
		rec = ring->data + (ring->head & ring->mask);
		pagefault_disable();
		ret = copy_from_iter(rec + 1, len, from) == len;
		pagefault_enable();
		if (ret)
			break;
		/* The source faulted: rewind, fault it in unlocked, retry. */
		iov_iter_revert(from, len - iov_iter_count(from));
		shmring_wbatch_unlock(ring, wb);
		if (fault_in_iov_iter_readable(from, len))
			return -EFAULT;
		ret = shmring_wbatch_lock(ring, wb);
		if (ret)
			return ret;
	}

	shmring_rec_init(ring, wb, rec, len, type, pid);
	if (ring->flags & SHMRING_ATTR_CSUM) {
		rec->csum = shmring_crc32c(rec + 1, len);
		rec->flags |= SHMRING_REC_CSUM;
	}
	trace_shmring_commit(ring, ring->head_seq, 1, len, type);
	shmring_wbatch_advance(ring, total, 1, len, len);
	return len;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_wbatch_add);

/*
 * Reserve a record of @len payload bytes at head, to be copied with wlock
 * dropped (lossless copy rings), as the next of the run @cp: the header
 * and padding written, the payload's place in *@recp. The first record of
 * a run gets room as shmring_wbatch_add() gets it (waiting for readers
 * unless @nonblock; the caller has the source resident already) and puts
 * @cp on ring->copying, which holds what is published short of the run
 * until shmring_copy_done(). The others only take room there is: their
 * run's first record already holds readers back, so waiting for them to
 * free room could wait for ever (-EAGAIN: end the run there). The caller
 * copies each payload and checksums it with nothing held. Returns 0, or
 * -errno (not reserved; wlock may have been dropped, end() still due).
 */
int shmring_wbatch_reserve(struct shmring_ring *ring, struct shmring_wbatch *wb,
			   u32 len, u32 type, pid_t pid, bool nonblock,
			   struct shmring_copy *cp, struct shmring_rec **recp)
{
	u64 total = shmring_rec_total(len);
	int ret;

	if (!wb->locked)
		return -EINTR;
	if (len > ring->max_record)
		return -EMSGSIZE;
	if (!shmring_copies_unlocked(ring))
		return -EOPNOTSUPP;
	if (!cp->nr)
		ret = shmring_wbatch_room(ring, wb, total, nonblock, NULL, 0);
	else
		ret = READ_ONCE(ring->unlinked) ? -EIDRM : shmring_make_room(ring, total);
	if (ret)
		return ret;
	*recp = ring->data + (ring->head & ring->mask);
	shmring_rec_init(ring, wb, *recp, len, type, pid);
	if (!cp->nr++) {
		cp->start = ring->head;
		cp->seq = ring->head_seq;
		list_add_tail(&cp->node, &ring->copying);
	}
	trace_shmring_commit(ring, ring->head_seq, 1, len, type);
	shmring_wbatch_advance(ring, total, 1, len, len);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_wbatch_reserve);

/*
 * The copies of the run @cp are over (@discarded of its records, of
 * @discarded_bytes payload, faulted, and the caller made them DISCARD
 * records): take it off ring->copying, publish what that completes and
 * wake its readers, once for the run. wlock is taken without giving up:
 * the run must not stay in flight, and no hold of wlock sleeps on a fault
 * or for room, so the wait is short.
 */
void shmring_copy_done(struct shmring_ring *ring, struct shmring_copy *cp,
		       u32 discarded, u64 discarded_bytes)
{
	struct shmring_wbatch wb = { .baton = false };

	if (!cp->nr)
		return;
	wb.now = ktime_get_boottime_ns();
	wb.real = ktime_get_real_ns();
	mutex_lock(&ring->wlock);
	shmring_wbatch_held(ring, &wb);
	list_del(&cp->node);
	WRITE_ONCE(ring->records_written, ring->records_written - discarded);
	WRITE_ONCE(ring->bytes_written, ring->bytes_written - discarded_bytes);
	shmring_wbatch_unlock(ring, &wb);
	cp->nr = 0;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_copy_done);

/*
 * Room in @st for a record of @len payload bytes: where its payload goes,
 * or NULL if it does not fit (nothing staged). shmring_stage_seal() then
 * writes its header once the payload is there.
 */
void *shmring_stage_room(struct shmring_stage *st, u32 len)
{
	if (shmring_rec_total(len) > st->cap - st->bytes)
		return NULL;
	return (struct shmring_rec *)(st->buf + st->bytes) + 1;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_stage_room);

/*
 * Stage the record whose payload shmring_stage_room() placed: its header
 * (all but seq and tstamp_ns, set at commit), padding and checksum.
 */
void shmring_stage_seal(struct shmring_ring *ring, struct shmring_stage *st,
			u32 len, u32 type, pid_t pid)
{
	struct shmring_rec *rec = st->buf + st->bytes;
	u64 total = shmring_rec_total(len);
	u64 pad = total - sizeof(*rec) - len;

	if (pad)
		memset((char *)(rec + 1) + len, 0, pad);
	rec->len = len;
	rec->type = type;
	rec->seq = 0;
	rec->tstamp_ns = 0;
	rec->pid = pid;
	rec->flags = 0;
	rec->__reserved0 = 0;
	rec->csum = 0;
	rec->__reserved1 = 0;
	if (ring->flags & SHMRING_ATTR_CSUM) {
		rec->csum = shmring_crc32c(rec + 1, len);
		rec->flags |= SHMRING_REC_CSUM;
	}
	st->bytes += total;
	st->payload += len;
	st->last_len = len;
	st->nr++;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_stage_seal);

/*
 * Stage a record for shmring_wbatch_put(), copied from userspace and
 * checksummed here, outside wlock, laid out as in the ring. Returns 0,
 * -ENOSPC if it does not fit, -EMSGSIZE or -EFAULT (nothing staged).
 */
int shmring_stage_add(struct shmring_ring *ring, struct shmring_stage *st,
		      const void __user *src, u32 len, u32 type, pid_t pid)
{
	void *payload;

	if (len > ring->max_record)
		return -EMSGSIZE;
	payload = shmring_stage_room(st, len);
	if (!payload)
		return -ENOSPC;
	if (copy_from_user(payload, src, len))
		return -EFAULT;
	shmring_stage_seal(ring, st, len, type, pid);
	return 0;
}

/*
 * Commit the records staged in @st: room for all of them, one copy from
 * the stage, and each record's sequence number and timestamp; all that
 * holds wlock. Visible at the next publish. All or nothing: -errno
 * (EAGAIN when @nonblock and they do not fit together) commits none, and
 * end() must still be called. The stage is emptied on success.
 */
int shmring_wbatch_put(struct shmring_ring *ring, struct shmring_wbatch *wb,
		       struct shmring_stage *st, bool nonblock)
{
	struct shmring_rec *rec;
	u64 off, now, seq;
	u32 len;
	int ret;

	if (!wb->locked)
		return -EINTR;
	if (!st->nr)
		return 0;
	if (st->bytes > ring->data_size)
		return -EMSGSIZE;
	ret = shmring_wbatch_room(ring, wb, st->bytes, nonblock, NULL, 0);
	if (ret)
		return ret;
	/* The data pages are mapped twice: a run never wraps. */
	memcpy(ring->data + (ring->head & ring->mask), st->buf, st->bytes);
	now = shmring_wbatch_tstamp(ring, wb);
	seq = ring->head_seq;
	/* Lengths from the stage, which only the kernel writes. */
	for (off = 0; off < st->bytes; off += shmring_rec_total(len)) {
		len = ((struct shmring_rec *)(st->buf + off))->len;
		rec = ring->data + ((ring->head + off) & ring->mask);
		rec->seq = seq++;
		rec->tstamp_ns = now;
	}
	trace_shmring_commit(ring, ring->head_seq, st->nr, st->payload,
			     ((struct shmring_rec *)st->buf)->type);
	shmring_wbatch_advance(ring, st->bytes, st->nr, st->payload,
			       st->last_len);
	shmring_stage_reset(st);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_wbatch_put);

/*
 * Write one record gathered from @from: a batch of one. Either the whole
 * record becomes visible or nothing does. Returns the payload length or
 * -errno.
 */
ssize_t shmring_ring_write(struct shmring_ring *ring, struct iov_iter *from,
			   u32 type, pid_t pid, bool nonblock)
{
	struct shmring_wbatch wb;
	ssize_t ret;

	ret = shmring_wbatch_begin(ring, &wb);
	if (ret)
		return ret;
	ret = shmring_wbatch_add(ring, &wb, from, type, pid, nonblock);
	shmring_wbatch_end(ring, &wb);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_ring_write);


/*
 * [R6] pairs with [W6]: commit one record read(2) copied, by a swap from
 * the position we last saw. It fails if a writer lapped the cursor: the
 * record was lost (the writer counted it), and we carry on from where
 * the writer moved us; the gap shows in seq. Also [R3]: the copy is done
 * before pos moves (cmpxchg is a full barrier).
 */
bool shmring_rstate_commit(struct shmring_rstate *st, u64 next)
{
	u64 seen = cmpxchg(&st->rp->pos, st->raw, next);

	if (seen == st->raw) {
		st->raw = next;
		return true;
	}
	st->raw = seen;
	st->pos = seen & ~SHMRING_POS_LAPPED;
	if (!(seen & SHMRING_POS_LAPPED))
		st->seq = READ_ONCE(st->rp->seq);	/* moved by a seek */
	return false;
}

/*
 * Copy whole records at the cursor into @to. Returns 0 when it stopped
 * for lack of records or room, or -errno; progress is in @st.
 */
static int shmring_copy_records(struct shmring_ring *ring,
				struct iov_iter *to, struct shmring_rstate *st)
{
	/* [R1] pairs with [W1]: records before head are complete. */
	u64 head = smp_load_acquire(&ring->hdr->head);
	struct shmring_rec rec;
	u64 total, tail;
	bool skip;

	while (st->pos != head) {
		tail = READ_ONCE(ring->hdr->tail);
		if (pos_before(st->pos, tail)) {
			/* Lapped. [R6]: the writer moved the page before tail. */
			smp_rmb();
			if (st->rp && READ_ONCE(st->rp->pos) != st->raw) {
				st->raw = READ_ONCE(st->rp->pos);
				/* Only a lap moves it under read_lock. */
				if (!(st->raw & SHMRING_POS_LAPPED))
					return -EINVAL;	/* scribbled on */
				st->pos = st->raw & ~SHMRING_POS_LAPPED;
				if (!pos_before(st->pos, tail))
					continue;
			}
			st->pos = tail;	/* the gap shows in seq */
			continue;
		}
		if (pos_before(head, st->pos)) {
			/* A writer lapped us past the head we loaded: reload. */
			head = smp_load_acquire(&ring->hdr->head);	/* [R1] */
			if (pos_before(head, st->pos))
				return -EINVAL;	/* the reader page was scribbled on */
			continue;
		}
		if (st->pos & 7)
			return -EINVAL;	/* the reader page was scribbled on */
		memcpy(&rec, ring->data + (st->pos & ring->mask), sizeof(rec));
		total = shmring_rec_total(rec.len);
		if (rec.len > ring->max_record || total > head - st->pos) {
			smp_rmb();	/* [R2] pairs with [W2] */
			if (pos_before(st->pos, READ_ONCE(ring->hdr->tail)))
				continue;	/* torn by an overwrite */
			return -EINVAL;
		}
		/*
		 * DISCARD: reserved space whose copy failed (shmring_batch_copy()):
		 * numbered, never a record, skipped as libshmring skips it.
		 */
		skip = rec.flags & SHMRING_REC_DISCARD;
		if (!skip && total > iov_iter_count(to))
			return st->done ? 0 : -EMSGSIZE;
		if (!skip && copy_to_iter(ring->data + (st->pos & ring->mask),
					  total, to) != total)
			return st->done ? 0 : -EFAULT;
		/* [R2] pairs with [W2]: was it overwritten while we copied? */
		smp_rmb();
		if (pos_before(st->pos, READ_ONCE(ring->hdr->tail))) {
			if (!skip)
				iov_iter_revert(to, total);
			continue;
		}
		if (st->rp && !shmring_rstate_commit(st, st->pos + total)) {
			if (!skip)
				iov_iter_revert(to, total);
			/*
			 * Lapped: go on from where the writer moved us. Under
			 * read_lock nothing else moves pos: the page was
			 * scribbled on, so the loop cannot be kept going.
			 */
			if (!(st->raw & SHMRING_POS_LAPPED))
				return st->done ? 0 : -EINVAL;
			continue;
		}
		if (pos_before(st->seq, rec.seq))
			st->lost += rec.seq - st->seq;
		st->seq = rec.seq + 1;
		st->pos += total;
		if (!skip) {
			st->done += total;
			st->recs++;
		}
	}
	return 0;
}

/*
 * After read(2) swapped pos over what it copied (shmring_rstate_commit()):
 * the rest of the cursor. txn_pos was voided before the first swap.
 */
static void shmring_store_cursor(struct shmring_ring *ring,
				 struct shmring_reader *rp,
				 const struct shmring_rstate *st)
{
	WRITE_ONCE(rp->records_read, rp->records_read + st->recs);
	WRITE_ONCE(rp->records_lost, rp->records_lost + st->lost);
	WRITE_ONCE(rp->last_read_ns, ktime_get_real_ns());
	WRITE_ONCE(rp->seq, st->seq);
	/* [R4] pairs with [W4]: pos is published before we look for writers. */
	smp_mb();
	if (READ_ONCE(ring->hdr->writers_waiting))
		shmring_wake_writers(ring);
}

/* Start reading at the page's cursor, committing as we go. */
static void shmring_rstate_load(struct shmring_rstate *st,
				struct shmring_reader *rp)
{
	/* No half-done cursor move of a killed reader applies after ours. */
	WRITE_ONCE(rp->txn_pos, SHMRING_TXN_NONE);
	st->rp = rp;
	/* [R6] pairs with [W6]: a lap's lap_from before its pos. */
	st->raw = smp_load_acquire(&rp->pos);
	st->pos = st->raw & ~SHMRING_POS_LAPPED;
	st->seq = READ_ONCE(rp->seq);
}

/*
 * SHMRING_IOC_SEEK: move a cursor under wlock (head and tail stable) and
 * its read_lock (no read(2) in flight on the file). Records are the
 * kernel's own here, so their headers are walked as trusted.
 */
int shmring_cursor_seek(struct shmring_ring *ring, struct shmring_cursor *c,
			u32 whence, u64 val)
{
	struct shmring_reader *rp = c->rp;
	u64 pos, seq, end, end_seq, n = 0;
	int ret = 0;

	if (mutex_lock_interruptible(&c->read_lock))
		return -ERESTARTSYS;
	if (mutex_lock_killable(&ring->wlock)) {
		mutex_unlock(&c->read_lock);
		return -EINTR;
	}
	pos = ring->tail;
	seq = ring->tail_seq;
	switch (whence) {
	case SHMRING_SEEK_OLDEST:
		break;
	case SHMRING_SEEK_END:
		if (shmring_is_zc(ring)) {
			pos = ring->zc_closed;
			seq = ring->head_seq;
		} else {
			shmring_frontier(ring, &pos, &seq);
		}
		break;
	case SHMRING_SEEK_SEQ:
		if (shmring_is_zc(ring)) {
			ret = -EOPNOTSUPP;
			break;
		}
		shmring_frontier(ring, &end, &end_seq);
		if (pos_before(val, seq) || pos_before(end_seq, val)) {
			ret = -ENOENT;
			break;
		}
		for (; seq != val; seq++, n++) {
			pos += shmring_rec_total(shmring_len_at(ring, pos));
			if (!(n & 4095))
				cond_resched();
		}
		break;
	case SHMRING_SEEK_TIME:
		if (shmring_is_zc(ring)) {
			ret = -EOPNOTSUPP;
			break;
		}
		shmring_frontier(ring, &end, &end_seq);
		for (; pos != end; seq++, n++) {
			const struct shmring_rec *rec = ring->data + (pos & ring->mask);

			if (READ_ONCE(rec->tstamp_ns) >= val)
				break;
			pos += shmring_rec_total(READ_ONCE(rec->len));
			if (!(n & 4095))
				cond_resched();
		}
		break;
	default:
		ret = -EINVAL;
	}
	if (!ret) {
		WRITE_ONCE(rp->txn_pos, SHMRING_TXN_NONE);
		WRITE_ONCE(rp->seq, seq);
		/* [R3] pairs with [W3]. */
		smp_store_release(&rp->pos, pos);
		/* A seek commits: read-ahead starts over from there. */
		c->rraw = pos;
		WRITE_ONCE(c->rpos, pos);
		WRITE_ONCE(c->rseq, seq);
		c->rrecs = 0;
		c->rlost = 0;
	}
	mutex_unlock(&ring->wlock);
	mutex_unlock(&c->read_lock);
	/* [R4] pairs with [W4]: a cursor moved forward may free room. */
	smp_mb();
	if (!ret && READ_ONCE(ring->hdr->writers_waiting))
		shmring_wake_writers(ring);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_cursor_seek);

/*
 * SHMRING_OPT_READ_COMMIT on: read(2) reads ahead from the current
 * position; off: what was read and not committed is read again.
 */
int shmring_cursor_set_manual(struct shmring_cursor *c, bool on)
{
	if (mutex_lock_interruptible(&c->read_lock))
		return -ERESTARTSYS;
	if (on && !c->manual) {
		/* [R6] pairs with [W6], as in shmring_rstate_load(). */
		c->rraw = smp_load_acquire(&c->rp->pos);
		c->rpos = c->rraw & ~SHMRING_POS_LAPPED;
		c->rseq = READ_ONCE(c->rp->seq);
		c->rrecs = 0;
		c->rlost = 0;
	}
	WRITE_ONCE(c->manual, on);
	mutex_unlock(&c->read_lock);
	return 0;
}

/*
 * SHMRING_IOC_COMMIT: the position moves over what read(2) returned, by
 * a swap from where the read-ahead began ([R6]). If a writer lapped the
 * cursor meanwhile, what was read ahead and not committed is lost (the
 * writer counted it): -ESTALE, and reading goes on from the lapped
 * position; records after it are returned again.
 */
int shmring_cursor_commit(struct shmring_ring *ring, struct shmring_cursor *c)
{
	struct shmring_rstate st = {};
	int ret = 0;

	if (mutex_lock_interruptible(&c->read_lock))
		return -ERESTARTSYS;
	if (!c->manual) {
		ret = -EINVAL;
	} else if (c->rpos != c->rraw || c->rrecs) {
		WRITE_ONCE(c->rp->txn_pos, SHMRING_TXN_NONE);
		st.rp = c->rp;
		st.raw = c->rraw;
		if (shmring_rstate_commit(&st, c->rpos)) {
			st.pos = c->rpos;
			st.seq = c->rseq;
			st.recs = c->rrecs;
			st.lost = c->rlost;
			shmring_store_cursor(ring, c->rp, &st);
		} else {
			ret = -ESTALE;
			WRITE_ONCE(c->rpos, st.pos);
			WRITE_ONCE(c->rseq, READ_ONCE(c->rp->seq));
		}
		c->rraw = st.raw;
		c->rrecs = 0;
		c->rlost = 0;
	}
	mutex_unlock(&c->read_lock);
	return ret;
}

/* Pending records reach the reader's watermark (default: any). */
bool shmring_cursor_ready(struct shmring_ring *ring, struct shmring_cursor *c)
{
	u64 recs, bytes, pos, seq;

	shmring_cursor_at(c, &pos, &seq);
	if (shmring_is_zc(ring))
		return shmring_zc_ready(ring, pos);
	bytes = shmring_pending_at(ring, pos, seq, &recs);
	return shmring_ready(c, bytes, recs);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_cursor_ready);

static bool shmring_read_ready(struct shmring_ring *ring,
			       struct shmring_cursor *c)
{
	return READ_ONCE(ring->unlinked) || shmring_cursor_ready(ring, c);
}

/* The condition of read(2)'s wait: evaluated on the wait queue. */
static bool shmring_read_wait_ready(struct shmring_ring *ring,
				    struct shmring_cursor *c)
{
	shmring_cursor_will_wait(ring, c);
	/* [R5] pairs with [W5]: listed before we look (the lock orders it). */
	smp_mb();
	return shmring_read_ready(ring, c);
}

/*
 * read(2): copy as many whole records (header, payload, padding) as fit.
 * Blocks until one is pending unless @nonblock; 0 at the end of an
 * unlinked ring.
 */
ssize_t shmring_ring_read(struct shmring_ring *ring, struct shmring_cursor *c,
			  struct iov_iter *to, bool nonblock)
{
	struct shmring_rstate st = {};
	int ret;

	for (;;) {
		/* Never sleep for records holding read_lock. */
		if (nonblock) {
			if (!mutex_trylock(&c->read_lock))
				return -EAGAIN;
		} else if (mutex_lock_interruptible(&c->read_lock)) {
			return -ERESTARTSYS;
		}
		if (c->manual) {
			st.pos = c->rpos;
			st.seq = c->rseq;
			ret = shmring_is_zc(ring) ?
			      shmring_zc_copy_records(ring, to, &st) :
			      shmring_copy_records(ring, to, &st);
			WRITE_ONCE(c->rpos, st.pos);
			WRITE_ONCE(c->rseq, st.seq);
			c->rrecs += st.recs;
			c->rlost += st.lost;
			st.recs = 0;
			st.lost = 0;
		} else {
			shmring_rstate_load(&st, c->rp);
			ret = shmring_is_zc(ring) ?
			      shmring_zc_copy_records(ring, to, &st) :
			      shmring_copy_records(ring, to, &st);
			if (st.recs || st.lost || st.moved)
				shmring_store_cursor(ring, c->rp, &st);
			st.rp = NULL;
			st.recs = 0;
			st.lost = 0;
		}
		c->rdiscarded += st.discarded;
		c->rcorrupt += st.corrupt;
		st.discarded = 0;
		st.corrupt = 0;
		mutex_unlock(&c->read_lock);
		if (ret || st.done)
			break;
		if (READ_ONCE(ring->unlinked))
			break;		/* drained and nobody can write: EOF */
		ret = -EAGAIN;
		if (nonblock)
			break;
		ret = wait_event_interruptible(c->wq, shmring_read_wait_ready(ring, c));
		if (ret)
			break;
	}
	return st.done ? (ssize_t)st.done : ret;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_ring_read);

/* Unlinked: writers fail with EIDRM, sleepers wake to find out. */
void shmring_ring_kill(struct shmring_ring *ring)
{
	struct shmring_cursor *c;

	WRITE_ONCE(ring->unlinked, true);
	spin_lock(&ring->lock);
	list_for_each_entry(c, &ring->readers, node)
		wake_up_interruptible_poll(&c->wq, EPOLLHUP | EPOLLERR);
	spin_unlock(&ring->lock);
	wake_up_interruptible_all(&ring->write_wq);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_ring_kill);
