// SPDX-License-Identifier: GPL-2.0
/*
 * shmring durable subscriptions: named cursors that outlive their readers.
 *
 * A subscription owns a zeroed page holding a struct shmring_reader that
 * the attached reader maps read-write. It belongs to the user who created
 * it (uid, like a ring): only that user, a user with CAP_IPC_OWNER in the
 * ring's user namespace, or anyone who may read the ring when it was
 * created with SHMRING_O_SUB_SHARED may attach. The ring's owner and the
 * subscription's creator may delete it.
 *
 * Slots: SHMRING_MAX_SUBS per ring; subscriptions created by users who do
 * not own the ring are limited to SHMRING_MAX_SUBS_OTHER per user and
 * SHMRING_MAX_SUBS_OTHERS together, so readers cannot take the owner's
 * slots. Their pages are charged by the caller (shmring_registry.c).
 *
 * This file owns every operation on ring->subs; the list and the counters
 * are protected by ring->lock, and creation/attach also hold wlock so the
 * start position is taken from a stable head/tail.
 */

#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>

#include "shmring_internal.h"
#include "shmring_trace.h"

struct shmring_sub *shmring_sub_alloc(void)
{
	struct shmring_sub *sub = kzalloc(sizeof(*sub), GFP_KERNEL_ACCOUNT);

	if (!sub)
		return NULL;
	sub->page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!sub->page) {
		kfree(sub);
		return NULL;
	}
	sub->rp = page_address(sub->page);
	return sub;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_sub_alloc);

void shmring_sub_free(struct shmring_sub *sub)
{
	if (!sub)
		return;
	if (sub->page)
		put_page(sub->page);
	kfree(sub);
}
EXPORT_SYMBOL_IF_KUNIT(shmring_sub_free);

static struct shmring_sub *shmring_sub_find(struct shmring_ring *ring,
					    const char *name)
{
	struct shmring_sub *sub;

	lockdep_assert_held(&ring->lock);
	list_for_each_entry(sub, &ring->subs, node)
		if (!strcmp(sub->name, name))
			return sub;
	return NULL;
}

static bool shmring_sub_may_attach(const struct shmring_sub *sub,
				   const struct shmring_sub_req *req)
{
	return uid_eq(sub->owner, req->uid) || sub->shared || req->capable;
}

/* Whether @req may create one more subscription on @ring. */
static int shmring_sub_may_create(struct shmring_ring *ring,
				  const struct shmring_sub_req *req)
{
	struct shmring_sub *sub;
	unsigned int mine = 0;

	if (ring->nr_subs >= SHMRING_MAX_SUBS)
		return -ENOSPC;
	if (req->ring_owner || req->capable)
		return 0;
	if (ring->nr_subs_other >= SHMRING_MAX_SUBS_OTHERS)
		return -ENOSPC;
	list_for_each_entry(sub, &ring->subs, node)
		if (sub->other && uid_eq(sub->owner, req->uid))
			mine++;
	return mine >= SHMRING_MAX_SUBS_OTHER ? -EDQUOT : 0;
}

/*
 * A cursor a reader was killed in the middle of moving: finish the move
 * it committed (see struct shmring_reader), so seq and the counters
 * match pos. Idempotent; the page is the reader's, so only values move.
 */
static void shmring_sub_recover(struct shmring_reader *rp)
{
	if (!shmring_txn_committed(rp))
		return;
	WRITE_ONCE(rp->seq, READ_ONCE(rp->txn_seq));
	WRITE_ONCE(rp->records_read, READ_ONCE(rp->txn_read));
	WRITE_ONCE(rp->records_lost, READ_ONCE(rp->txn_lost));
}

/* An existing subscription for @req: EACCES, EBUSY, or 0 (recovered). */
static int shmring_sub_reuse(struct shmring_sub *sub,
			     const struct shmring_sub_req *req)
{
	if (!shmring_sub_may_attach(sub, req))
		return -EACCES;
	if (sub->attached)
		return -EBUSY;
	shmring_sub_recover(sub->rp);
	return 0;
}

/* A new subscription from req->fresh, at the tail or the head. */
static struct shmring_sub *shmring_sub_create(struct shmring_ring *ring,
					      struct shmring_sub_req *req)
{
	struct shmring_sub *sub = req->fresh;
	int ret = shmring_sub_may_create(ring, req);

	if (ret)
		return ERR_PTR(ret);
	req->fresh = NULL;
	strscpy(sub->name, req->name, sizeof(sub->name));
	sub->owner = req->uid;
	sub->shared = req->shared;
	sub->other = !req->ring_owner && !req->capable;
	shmring_cursor_place(ring, sub->rp, req->from_head);
	list_add_tail(&sub->node, &ring->subs);
	WRITE_ONCE(ring->nr_subs, ring->nr_subs + 1);
	if (sub->other)
		ring->nr_subs_other++;
	return sub;
}

/*
 * Attach cursor @c to the subscription @req names. Missing, it is created
 * from req->fresh; without one, -ENOENT tells the caller to charge a page,
 * allocate and come back. Start position, list insertion and attach
 * happen under wlock and lock together, so no writer reclaims between
 * them.
 */
int shmring_sub_attach(struct shmring_ring *ring, struct shmring_cursor *c,
		       struct shmring_sub_req *req)
{
	struct shmring_sub *sub;
	bool created = false;
	int ret;

	if (mutex_lock_killable(&ring->wlock))
		return -EINTR;
	spin_lock(&ring->lock);
	sub = shmring_sub_find(ring, req->name);
	ret = shmring_reader_slot(ring, c, READ_ONCE(shmring_limits.max_readers));
	if (!ret && sub) {
		ret = shmring_sub_reuse(sub, req);
	} else if (!ret && req->fresh) {
		sub = shmring_sub_create(ring, req);
		ret = PTR_ERR_OR_ZERO(sub);
		created = !ret;
	} else if (!ret) {
		ret = -ENOENT;
	}
	if (!ret) {
		sub->attached = true;
		sub->last_attach_ns = ktime_get_real_ns();
		c->rp = sub->rp;
		c->page = sub->page;
		c->sub = sub;
		shmring_cursor_link(ring, c);
		trace_shmring_sub_attach(ring, sub, created);
	}
	spin_unlock(&ring->lock);
	mutex_unlock(&ring->wlock);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_sub_attach);

/*
 * Take the detached subscription @name off @ring for deletion by @uid
 * (@may_any: the caller owns the ring or is capable). The caller frees
 * it, gives its charge back and wakes writers it may have held back.
 */
struct shmring_sub *shmring_sub_remove(struct shmring_ring *ring,
				       const char *name, kuid_t uid,
				       bool may_any)
{
	struct shmring_sub *sub;

	if (mutex_lock_killable(&ring->wlock))
		return ERR_PTR(-EINTR);
	spin_lock(&ring->lock);
	sub = shmring_sub_find(ring, name);
	if (!sub) {
		sub = ERR_PTR(-ENOENT);
	} else if (!may_any && !uid_eq(sub->owner, uid)) {
		sub = ERR_PTR(-EPERM);
	} else if (sub->attached) {
		sub = ERR_PTR(-EBUSY);
	} else {
		list_del(&sub->node);
		WRITE_ONCE(ring->nr_subs, ring->nr_subs - 1);
		if (sub->other)
			ring->nr_subs_other--;
	}
	spin_unlock(&ring->lock);
	mutex_unlock(&ring->wlock);
	return sub;
}
EXPORT_SYMBOL_IF_KUNIT(shmring_sub_remove);

/*
 * The lowest of @min and the positions of detached subscriptions (the
 * attached ones are counted as readers), clamped to [tail, head]. Under
 * ring->lock.
 */
u64 shmring_sub_min_pos(struct shmring_ring *ring, u64 tail, u64 head, u64 min)
{
	struct shmring_sub *sub;
	u64 pos;

	lockdep_assert_held(&ring->lock);
	list_for_each_entry(sub, &ring->subs, node) {
		if (sub->attached)
			continue;
		/* [W3] pairs with [R3]: the reader is done with bytes < pos. */
		pos = shmring_clamp_pos(smp_load_acquire(&sub->rp->pos), tail, head);
		if ((s64)(pos - min) < 0)
			min = pos;
	}
	return min;
}

/*
 * The tail moves from @old_tail to @tail: lap the detached subscriptions
 * it passes (shmring_cursor_lap()). Returns the lowest of @min and where
 * those were. Under ring->lock.
 */
u64 shmring_sub_lap(struct shmring_ring *ring, u64 old_tail, u64 tail,
		    u64 tail_seq, u64 recs, u64 min)
{
	struct shmring_sub *sub;
	u64 pos;

	lockdep_assert_held(&ring->lock);
	list_for_each_entry(sub, &ring->subs, node) {
		if (sub->attached)
			continue;	/* lapped as a reader */
		pos = shmring_cursor_lap(sub->rp, old_tail, tail, tail_seq,
					 ring->head, recs);
		if ((s64)(pos - tail) < 0)
			trace_shmring_reader_lapped(ring, sub->name, 0, false,
						    pos, tail, tail_seq);
		if ((s64)(pos - min) < 0)
			min = pos;
	}
	return min;
}

/* Fill up to @nr entries; returns how many, *total how many exist. */
u32 shmring_sub_list(struct shmring_ring *ring, struct shmring_sub_info *infos,
		     u32 nr, u32 *total)
{
	struct shmring_sub *sub;
	u32 n = 0;

	spin_lock(&ring->lock);
	*total = ring->nr_subs;
	list_for_each_entry(sub, &ring->subs, node) {
		if (n == nr)
			break;
		strscpy(infos[n].name, sub->name, sizeof(infos[n].name));
		infos[n].pos = READ_ONCE(sub->rp->pos) & ~SHMRING_POS_LAPPED;
		infos[n].seq = READ_ONCE(sub->rp->seq);
		infos[n].last_read_ns = max(READ_ONCE(sub->rp->last_read_ns),
					    sub->last_attach_ns);
		infos[n].attached = sub->attached;
		n++;
	}
	spin_unlock(&ring->lock);
	return n;
}

/* The ring is going away: no file is bound, nobody else sees the list. */
void shmring_sub_free_all(struct shmring_ring *ring)
{
	struct shmring_sub *sub, *tmp;

	list_for_each_entry_safe(sub, tmp, &ring->subs, node) {
		list_del(&sub->node);
		shmring_sub_free(sub);
	}
	ring->nr_subs = 0;
	ring->nr_subs_other = 0;
}

/*
 * Call @fn for every subscription. The caller holds ring->lock, or is
 * the last user of the ring.
 */
void shmring_sub_for_each(struct shmring_ring *ring,
			  void (*fn)(struct shmring_sub *sub, void *arg),
			  void *arg)
{
	struct shmring_sub *sub;

	list_for_each_entry(sub, &ring->subs, node)
		fn(sub, arg);
}
