// SPDX-License-Identifier: GPL-2.0
/*
 * shmring registry: named rings per IPC namespace, their owners and
 * permissions, and the caps on what a user can pin.
 *
 * shmring_lock protects the namespaces, the rings' names, owners and
 * modes, and the charges. It is never held across large work: a ring is
 * allocated before it is inserted and freed after the lock is dropped
 * (rings whose last reference went while it was held wait on
 * shmring_dead and are freed by shmring_unlock()).
 *
 * Capabilities are always checked in the user namespace that owns the
 * ring's IPC namespace (ring->user_ns), never in the caller's current
 * one: a process that unshares a new user and IPC namespace keeps its
 * old files but gains no power over the rings they are bound to.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/ipc_namespace.h>
#include <linux/nsproxy.h>
#include <linux/proc_ns.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>

#include "shmring_internal.h"
#include "shmring_trace.h"

/* Rings of one IPC namespace. The namespace is pinned while it has rings. */
struct shmring_ns {
	struct list_head node;		/* in shmring_namespaces */
	struct ipc_namespace *ipc;	/* identity */
	struct ns_common *pin;		/* our reference, NULL if unrefcounted */
	struct list_head rings;
	unsigned int nr_rings;
};

/* What one user pins: ring, subscription and reader pages; readers. */
struct shmring_charge {
	struct list_head node;
	kuid_t uid;
	u64 bytes;
	u32 readers;
};

static DEFINE_MUTEX(shmring_lock);
static LIST_HEAD(shmring_namespaces);
static LIST_HEAD(shmring_charges);
static LIST_HEAD(shmring_dead);		/* released rings, freed unlocked */
static u64 shmring_total;

/* Drop shmring_lock, then free the rings released while it was held. */
static void shmring_unlock(void)
{
	struct shmring_ring *ring, *tmp;
	LIST_HEAD(dead);

	list_splice_init(&shmring_dead, &dead);
	mutex_unlock(&shmring_lock);
	list_for_each_entry_safe(ring, tmp, &dead, node) {
		list_del(&ring->node);
		shmring_ring_free(ring);
	}
}

/* ---- charges ------------------------------------------------------------ */

static struct shmring_charge *shmring_charge_find(kuid_t uid)
{
	struct shmring_charge *ch;

	list_for_each_entry(ch, &shmring_charges, node)
		if (uid_eq(ch->uid, uid))
			return ch;
	return NULL;
}

static int shmring_charge_locked(kuid_t uid, u64 bytes, u32 readers)
{
	struct shmring_charge *ch = shmring_charge_find(uid);
	u64 used = ch ? ch->bytes : 0;
	u32 nr = ch ? ch->readers : 0;

	lockdep_assert_held(&shmring_lock);
	if (shmring_total + bytes > READ_ONCE(shmring_limits.max_total))
		return -ENOSPC;
	if (used + bytes > READ_ONCE(shmring_limits.max_user))
		return -EDQUOT;
	if (readers && nr + readers > READ_ONCE(shmring_limits.max_user_readers))
		return -EDQUOT;
	if (!ch) {
		ch = kzalloc(sizeof(*ch), GFP_KERNEL);
		if (!ch)
			return -ENOMEM;
		ch->uid = uid;
		list_add(&ch->node, &shmring_charges);
	}
	ch->bytes += bytes;
	ch->readers += readers;
	shmring_total += bytes;
	return 0;
}

static void shmring_uncharge_locked(kuid_t uid, u64 bytes, u32 readers)
{
	struct shmring_charge *ch = shmring_charge_find(uid);

	lockdep_assert_held(&shmring_lock);
	shmring_total -= bytes;
	if (WARN_ON_ONCE(!ch || ch->bytes < bytes || ch->readers < readers))
		return;
	ch->bytes -= bytes;
	ch->readers -= readers;
	if (!ch->bytes && !ch->readers) {
		list_del(&ch->node);
		kfree(ch);
	}
}

/*
 * Reserve @bytes and @readers for @uid under max_total, max_user and
 * max_user_readers: ENOSPC, EDQUOT.
 */
int shmring_charge(kuid_t uid, u64 bytes, u32 readers)
{
	int ret;

	mutex_lock(&shmring_lock);
	ret = shmring_charge_locked(uid, bytes, readers);
	mutex_unlock(&shmring_lock);
	return ret;
}

void shmring_uncharge(kuid_t uid, u64 bytes, u32 readers)
{
	mutex_lock(&shmring_lock);
	shmring_uncharge_locked(uid, bytes, readers);
	mutex_unlock(&shmring_lock);
}

static void shmring_uncharge_sub_page(struct shmring_sub *sub, void *unused)
{
	shmring_uncharge_locked(sub->owner, PAGE_SIZE, 0);
}

u64 shmring_registry_total(void)
{
	return READ_ONCE(shmring_total);
}

/* ---- permissions ---------------------------------------------------------- */

bool shmring_ring_capable(const struct shmring_ring *ring)
{
	return ns_capable(ring->user_ns, CAP_IPC_OWNER);
}

bool shmring_is_ring_owner(const struct shmring_ring *ring)
{
	return uid_eq(current_fsuid(), READ_ONCE(ring->uid)) ||
	       shmring_ring_capable(ring);
}

/* Mode bits against fsuid/fsgid, as for IPC objects; no capability. */
static bool shmring_mode_allows(const struct shmring_ring *ring, int want)
{
	kuid_t uid = READ_ONCE(ring->uid);
	kgid_t gid = READ_ONCE(ring->gid);
	umode_t mode = READ_ONCE(ring->mode);
	int granted;

	if (uid_eq(current_fsuid(), uid))
		granted = mode >> 6;
	else if (in_group_p(gid))
		granted = mode >> 3;
	else
		granted = mode;
	return !(want & ~granted & 7);
}

bool shmring_may_read(const struct shmring_ring *ring)
{
	return shmring_mode_allows(ring, 4) || shmring_ring_capable(ring);
}

static int shmring_permission(struct shmring_ring *ring, u32 oflags)
{
	int want = 0;

	if (oflags & SHMRING_O_READ)
		want |= 4;
	if (oflags & SHMRING_O_WRITE)
		want |= 2;
	if (shmring_mode_allows(ring, want) || shmring_ring_capable(ring))
		return 0;
	return -EACCES;
}

/* ---- namespaces ------------------------------------------------------------ */

static struct shmring_ns *shmring_ns_find(struct ipc_namespace *ipc)
{
	struct shmring_ns *ns;

	list_for_each_entry(ns, &shmring_namespaces, node)
		if (ns->ipc == ipc)
			return ns;
	return NULL;
}

static struct shmring_ns *shmring_ns_get_current(void)
{
	struct ipc_namespace *ipc = current->nsproxy->ipc_ns;
	struct shmring_ns *ns = shmring_ns_find(ipc);

	if (ns)
		return ns;
	ns = kzalloc(sizeof(*ns), GFP_KERNEL);
	if (!ns)
		return NULL;
	ns->ipc = ipc;
	INIT_LIST_HEAD(&ns->rings);
	/*
	 * Pin the namespace through its own operations so the pointer we
	 * compare against cannot be reused by a new namespace.
	 */
	if (ipc->ns.ops)
		ns->pin = ipc->ns.ops->get(current);
	list_add(&ns->node, &shmring_namespaces);
	return ns;
}

static void shmring_ns_put_if_empty(struct shmring_ns *ns)
{
	lockdep_assert_held(&shmring_lock);
	if (ns->nr_rings)
		return;
	list_del(&ns->node);
	if (ns->pin)
		ns->pin->ops->put(ns->pin);
	kfree(ns);
}

/* Last reference: give the charges back; the memory goes unlocked. */
static void shmring_ring_release_locked(struct kref *ref)
{
	struct shmring_ring *ring = container_of(ref, struct shmring_ring, ref);

	lockdep_assert_held(&shmring_lock);
	shmring_uncharge_locked(ring->charged, ring->charge, 0);
	shmring_sub_for_each(ring, shmring_uncharge_sub_page, NULL);
	list_add(&ring->node, &shmring_dead);
}

/* Called by kref_put_mutex() with shmring_lock held; drops it. */
static void shmring_ring_release(struct kref *ref)
{
	shmring_ring_release_locked(ref);
	shmring_unlock();
}

void shmring_ring_put(struct shmring_ring *ring)
{
	kref_put_mutex(&ring->ref, shmring_ring_release, &shmring_lock);
}

/* Take a ring out of its namespace and drop the registry's reference. */
static void shmring_unlink_locked(struct shmring_ring *ring)
{
	struct shmring_ns *ns = ring->ns;

	lockdep_assert_held(&shmring_lock);
	trace_shmring_ring_unlink(ring);
	list_del_init(&ring->node);
	ring->ns = NULL;
	ns->nr_rings--;
	shmring_ring_kill(ring);
	shmring_ns_put_if_empty(ns);
	kref_put(&ring->ref, shmring_ring_release_locked);
}

/* Unlink every ring of a namespace, which then goes away. */
static void shmring_ns_unlink_all(struct shmring_ns *ns)
{
	struct shmring_ring *ring, *tmp;

	ns->nr_rings++;	/* keep ns alive while we walk it */
	list_for_each_entry_safe(ring, tmp, &ns->rings, node)
		shmring_unlink_locked(ring);
	ns->nr_rings--;
	shmring_ns_put_if_empty(ns);
}

/*
 * A namespace whose only reference is ours has no process left and can
 * never be entered again: its rings are unreachable, reclaim them.
 */
static void shmring_reap_dead_namespaces(void)
{
	struct shmring_ns *ns, *tmp;

	lockdep_assert_held(&shmring_lock);
	list_for_each_entry_safe(ns, tmp, &shmring_namespaces, node)
		if (ns->pin && refcount_read(&ns->pin->count) == 1)
			shmring_ns_unlink_all(ns);
}

static struct shmring_ring *shmring_lookup(struct shmring_ns *ns,
					   const char *name)
{
	struct shmring_ring *ring;

	list_for_each_entry(ring, &ns->rings, node)
		if (!strcmp(ring->name, name))
			return ring;
	return NULL;
}

/* The caller's namespace's ring @name, or NULL. */
static struct shmring_ring *shmring_lookup_current(const char *name)
{
	struct shmring_ns *ns = shmring_ns_find(current->nsproxy->ipc_ns);

	return ns ? shmring_lookup(ns, name) : NULL;
}

/* An existing ring for @o: EEXIST or a permission check. */
static int shmring_open_existing(struct shmring_ring *ring,
				 const struct shmring_open *o)
{
	if ((o->flags & SHMRING_O_CREAT) && (o->flags & SHMRING_O_EXCL))
		return -EEXIST;
	return shmring_permission(ring, o->flags);
}

/* Insert a freshly allocated ring into the caller's namespace. */
static int shmring_insert_locked(struct shmring_ring *ring,
				 const struct shmring_open *o)
{
	struct shmring_ns *ns = shmring_ns_get_current();

	if (!ns)
		return -ENOMEM;
	if (ns->nr_rings >= READ_ONCE(shmring_limits.max_rings)) {
		shmring_ns_put_if_empty(ns);
		return -ENOSPC;
	}
	ring->uid = current_fsuid();
	ring->gid = current_fsgid();
	ring->mode = o->mode & ~current_umask() & 0777;
	ring->user_ns = get_user_ns(ns->ipc->user_ns);
	ring->ns = ns;
	list_add_tail(&ring->node, &ns->rings);
	ns->nr_rings++;
	trace_shmring_ring_create(ring);
	return 0;
}

/*
 * Find or create the named ring; returns it with a reference for the
 * file. A new ring is charged first, allocated without shmring_lock
 * (up to max_size of pages, memcg reclaim, a vmap) and inserted after;
 * if another opener created the name meanwhile, theirs wins.
 */
struct shmring_ring *shmring_registry_get(struct shmring_open *o)
{
	u64 cost = o->attr.data_size + PAGE_SIZE;
	struct shmring_ring *ring, *fresh = NULL;
	kuid_t uid = current_fsuid();
	int ret;

	mutex_lock(&shmring_lock);
	shmring_reap_dead_namespaces();
	ring = shmring_lookup_current(o->name);
	if (!ring && (o->flags & SHMRING_O_CREAT)) {
		ret = shmring_charge_locked(uid, cost, 0);
		if (ret)
			goto err;
		shmring_unlock();
		fresh = shmring_ring_alloc(&o->attr, o->name);
		mutex_lock(&shmring_lock);
		if (!fresh) {
			ret = -ENOMEM;
			goto err_uncharge;
		}
		fresh->charged = uid;
		fresh->charge = cost;
		ring = shmring_lookup_current(o->name);
		if (!ring) {
			ret = shmring_insert_locked(fresh, o);
			if (ret)
				goto err_uncharge;
			ring = fresh;
			fresh = NULL;
			kref_get(&ring->ref);
			goto out;
		}
		/* Lost a race to another creator. */
		shmring_uncharge_locked(uid, cost, 0);
	}
	ret = -ENOENT;
	if (!ring)
		goto err;
	ret = shmring_open_existing(ring, o);
	if (ret)
		goto err;
	kref_get(&ring->ref);
	goto out;
err_uncharge:
	shmring_uncharge_locked(uid, cost, 0);
err:
	ring = ERR_PTR(ret);
out:
	shmring_unlock();
	shmring_ring_free(fresh);
	return ring;
}

int shmring_registry_unlink(const char *name)
{
	struct shmring_ring *ring;
	int ret = -ENOENT;

	mutex_lock(&shmring_lock);
	shmring_reap_dead_namespaces();
	ring = shmring_lookup_current(name);
	if (ring) {
		ret = -EPERM;
		if (shmring_is_ring_owner(ring)) {
			shmring_unlink_locked(ring);
			ret = 0;
		}
	}
	shmring_unlock();
	return ret;
}

/* SHMRING_IOC_SETATTR, checked by the caller for flags and reserved. */
int shmring_registry_setattr(const struct shmring_setattr *sa)
{
	struct user_namespace *uns = current_user_ns();
	kuid_t uid = make_kuid(uns, sa->uid);
	kgid_t gid = make_kgid(uns, sa->gid);
	struct shmring_ring *ring;
	int ret = -ENOENT;

	if ((sa->flags & SHMRING_SETATTR_UID) && !uid_valid(uid))
		return -EINVAL;
	if ((sa->flags & SHMRING_SETATTR_GID) && !gid_valid(gid))
		return -EINVAL;
	mutex_lock(&shmring_lock);
	ring = shmring_lookup_current(sa->name);
	if (ring) {
		ret = -EPERM;
		if (shmring_is_ring_owner(ring)) {
			if (sa->flags & SHMRING_SETATTR_UID)
				WRITE_ONCE(ring->uid, uid);
			if (sa->flags & SHMRING_SETATTR_GID)
				WRITE_ONCE(ring->gid, gid);
			if (sa->flags & SHMRING_SETATTR_MODE)
				WRITE_ONCE(ring->mode, sa->mode & 0777);
			ret = 0;
		}
	}
	shmring_unlock();
	return ret;
}

static void shmring_fill_entry(struct shmring_ring *ring,
			       struct shmring_ring_entry *e)
{
	struct user_namespace *uns = current_user_ns();

	memset(e, 0, sizeof(*e));
	strscpy(e->name, ring->name, sizeof(e->name));
	e->attr.data_size = ring->data_size;
	e->attr.max_record = ring->max_record;
	e->attr.policy = ring->policy;
	e->attr.flags = ring->flags;
	e->head_seq = READ_ONCE(ring->head_seq);
	e->tail_seq = READ_ONCE(ring->tail_seq);
	e->records_lost = READ_ONCE(ring->records_lost);
	e->uid = from_kuid_munged(uns, ring->uid);
	e->gid = from_kgid_munged(uns, ring->gid);
	e->mode = ring->mode;
	e->readers = READ_ONCE(ring->nr_readers);
	e->subs = READ_ONCE(ring->nr_subs);
}

/*
 * SHMRING_IOC_LIST: fill up to @nr entries for the rings of the caller's
 * namespace it may read, after skipping @skip of them. Returns how many;
 * *total counts every visible ring.
 */
u32 shmring_registry_list(struct shmring_ring_entry *out, u32 nr, u32 skip,
			  u32 *total)
{
	struct shmring_ring *ring;
	struct shmring_ns *ns;
	u32 n = 0, seen = 0;

	mutex_lock(&shmring_lock);
	ns = shmring_ns_find(current->nsproxy->ipc_ns);
	if (ns) {
		list_for_each_entry(ring, &ns->rings, node) {
			if (!shmring_may_read(ring))
				continue;
			if (seen++ >= skip && n < nr)
				shmring_fill_entry(ring, &out[n++]);
		}
	}
	shmring_unlock();
	*total = seen;
	return n;
}

/* Call @show for every ring of the caller's namespace. */
void shmring_registry_show(struct seq_file *m,
			   void (*show)(struct seq_file *m,
					struct shmring_ring *ring))
{
	struct shmring_ring *ring;
	struct shmring_ns *ns;

	mutex_lock(&shmring_lock);
	ns = shmring_ns_find(current->nsproxy->ipc_ns);
	if (ns)
		list_for_each_entry(ring, &ns->rings, node)
			show(m, ring);
	shmring_unlock();
}

/* Module unload: no file is open (each pins the module). */
void shmring_registry_exit(void)
{
	struct shmring_ns *ns, *tmp;

	mutex_lock(&shmring_lock);
	list_for_each_entry_safe(ns, tmp, &shmring_namespaces, node)
		shmring_ns_unlink_all(ns);
	WARN_ON(shmring_total);
	WARN_ON(!list_empty(&shmring_charges));
	shmring_unlock();
}
