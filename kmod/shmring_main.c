// SPDX-License-Identifier: GPL-2.0
/*
 * shmring: named, kernel-owned rings of framed records behind /dev/shmring.
 *
 * This file is the user-facing half: module parameters, the per-IPC-
 * namespace registry of named rings, permissions and memory caps, and the
 * file operations (ioctl, read, write, poll, mmap) plus /proc/shmring.
 * The ring itself lives in shmring_ring.c.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/ipc_namespace.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/nsproxy.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/proc_ns.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "shmring_internal.h"

#define SHMRING_VERSION		"0.1.0"
#define SHMRING_HARD_MAX_SIZE	(1ULL << 30)

struct shmring_limits shmring_limits = {
	.default_size	= 1ULL << 20,
	.max_size	= 64ULL << 20,
	.max_total	= 1ULL << 30,
	.max_user	= 256ULL << 20,
	.max_rings	= 1024,
};

/* ---- module parameters ------------------------------------------------ */

static int shmring_param_set_size(const char *val, const struct kernel_param *kp)
{
	u64 v;
	int ret = kstrtou64(val, 0, &v);

	if (ret)
		return ret;
	if (v < SHMRING_MIN_DATA_SIZE || v > SHMRING_HARD_MAX_SIZE ||
	    !is_power_of_2(v))
		return -EINVAL;
	*(u64 *)kp->arg = v;
	return 0;
}

static int shmring_param_set_bytes(const char *val, const struct kernel_param *kp)
{
	u64 v;
	int ret = kstrtou64(val, 0, &v);

	if (ret)
		return ret;
	if (v < SHMRING_MIN_DATA_SIZE)
		return -EINVAL;
	*(u64 *)kp->arg = v;
	return 0;
}

static const struct kernel_param_ops shmring_size_ops = {
	.set = shmring_param_set_size,
	.get = param_get_ullong,
};

static const struct kernel_param_ops shmring_bytes_ops = {
	.set = shmring_param_set_bytes,
	.get = param_get_ullong,
};

module_param_cb(default_size, &shmring_size_ops, &shmring_limits.default_size, 0644);
MODULE_PARM_DESC(default_size, "data size of a ring created with size 0 (power of two, default 1 MiB)");
module_param_cb(max_size, &shmring_size_ops, &shmring_limits.max_size, 0644);
MODULE_PARM_DESC(max_size, "largest ring data size (power of two <= 1 GiB, default 64 MiB)");
module_param_cb(max_total, &shmring_bytes_ops, &shmring_limits.max_total, 0644);
MODULE_PARM_DESC(max_total, "memory of all rings together, bytes (default 1 GiB)");
module_param_cb(max_user, &shmring_bytes_ops, &shmring_limits.max_user, 0644);
MODULE_PARM_DESC(max_user, "memory of the rings one user created, bytes (default 256 MiB)");
module_param_named(max_rings, shmring_limits.max_rings, uint, 0644);
MODULE_PARM_DESC(max_rings, "named rings per IPC namespace (default 1024)");

/* ---- registry ---------------------------------------------------------- */

/* Rings of one IPC namespace. The namespace is pinned while it has rings. */
struct shmring_ns {
	struct list_head node;		/* in shmring_namespaces */
	struct ipc_namespace *ipc;	/* identity */
	struct ns_common *pin;		/* our reference, NULL if unrefcounted */
	struct list_head rings;
	unsigned int nr_rings;
};

/* Memory charged to one user. */
struct shmring_charge {
	struct list_head node;
	kuid_t uid;
	u64 bytes;
};

/* shmring_lock protects everything below and ring->node/unlinked/ns. */
static DEFINE_MUTEX(shmring_lock);
static LIST_HEAD(shmring_namespaces);
static LIST_HEAD(shmring_charges);
static u64 shmring_total;

static struct shmring_charge *shmring_charge_find(kuid_t uid)
{
	struct shmring_charge *ch;

	list_for_each_entry(ch, &shmring_charges, node)
		if (uid_eq(ch->uid, uid))
			return ch;
	return NULL;
}

/* Reserve @bytes for @uid under both caps. */
static int shmring_charge(kuid_t uid, u64 bytes)
{
	struct shmring_charge *ch = shmring_charge_find(uid);
	u64 used = ch ? ch->bytes : 0;

	lockdep_assert_held(&shmring_lock);
	if (shmring_total + bytes > READ_ONCE(shmring_limits.max_total))
		return -ENOSPC;
	if (used + bytes > READ_ONCE(shmring_limits.max_user))
		return -EDQUOT;
	if (!ch) {
		ch = kzalloc(sizeof(*ch), GFP_KERNEL);
		if (!ch)
			return -ENOMEM;
		ch->uid = uid;
		list_add(&ch->node, &shmring_charges);
	}
	ch->bytes += bytes;
	shmring_total += bytes;
	return 0;
}

static void shmring_uncharge(kuid_t uid, u64 bytes)
{
	struct shmring_charge *ch = shmring_charge_find(uid);

	lockdep_assert_held(&shmring_lock);
	shmring_total -= bytes;
	if (WARN_ON_ONCE(!ch))
		return;
	ch->bytes -= bytes;
	if (!ch->bytes) {
		list_del(&ch->node);
		kfree(ch);
	}
}

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

static void shmring_ring_release_locked(struct kref *ref)
{
	struct shmring_ring *ring = container_of(ref, struct shmring_ring, ref);

	lockdep_assert_held(&shmring_lock);
	shmring_uncharge(ring->charged, ring->charge);
	shmring_ring_free(ring);
}

/* Called by kref_put_mutex() with shmring_lock held; drops it. */
static void shmring_ring_release(struct kref *ref)
{
	shmring_ring_release_locked(ref);
	mutex_unlock(&shmring_lock);
}

static void shmring_ring_put(struct shmring_ring *ring)
{
	kref_put_mutex(&ring->ref, shmring_ring_release, &shmring_lock);
}

/* Take a ring out of its namespace and drop the registry's reference. */
static void shmring_unlink_locked(struct shmring_ring *ring)
{
	struct shmring_ns *ns = ring->ns;

	lockdep_assert_held(&shmring_lock);
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

static bool shmring_capable(void)
{
	return ns_capable(current->nsproxy->ipc_ns->user_ns, CAP_IPC_OWNER);
}

/* Mode bits against fsuid/fsgid, as for IPC objects. */
static int shmring_permission(struct shmring_ring *ring, u32 oflags)
{
	int want = 0, granted;

	if (oflags & SHMRING_O_READ)
		want |= 4;
	if (oflags & SHMRING_O_WRITE)
		want |= 2;
	if (uid_eq(current_fsuid(), ring->uid))
		granted = ring->mode >> 6;
	else if (in_group_p(ring->gid))
		granted = ring->mode >> 3;
	else
		granted = ring->mode;
	if (!(want & ~granted & 7) || shmring_capable())
		return 0;
	return -EACCES;
}

static bool shmring_is_owner(kuid_t uid)
{
	return uid_eq(current_fsuid(), uid) || shmring_capable();
}

/* ---- files --------------------------------------------------------------- */

struct shmring_file {
	struct mutex bind_lock;		/* serialises SHMRING_IOC_OPEN */
	struct shmring_ring *ring;	/* set once, with release */
	u32 oflags;
	u32 wtype;			/* record type used by write(2) */
	struct shmring_cursor cursor;	/* valid when oflags has READ */
	struct page *own_page;		/* an ephemeral reader's page */
};

static struct shmring_ring *shmring_bound(struct file *file)
{
	struct shmring_file *sf = file->private_data;

	/* Pairs with the smp_store_release() in shmring_ioc_open(). */
	return smp_load_acquire(&sf->ring);
}

static int shmring_open(struct inode *inode, struct file *file)
{
	struct shmring_file *sf = kzalloc(sizeof(*sf), GFP_KERNEL);

	if (!sf)
		return -ENOMEM;
	mutex_init(&sf->bind_lock);
	file->private_data = sf;
	return nonseekable_open(inode, file);
}

static int shmring_release(struct inode *inode, struct file *file)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = sf->ring;

	if (ring) {
		if (sf->oflags & SHMRING_O_READ)
			shmring_detach_cursor(ring, &sf->cursor);
		shmring_ring_put(ring);
	}
	if (sf->own_page)
		put_page(sf->own_page);
	kfree(sf);
	return 0;
}

static int shmring_check_open_args(struct file *file, struct shmring_open *o)
{
	u32 f = o->flags;

	if ((f & ~SHMRING_O_FLAGS_ALL) || o->__reserved0 || (o->mode & ~0777))
		return -EINVAL;
	if (!(f & (SHMRING_O_READ | SHMRING_O_WRITE)))
		return -EINVAL;
	if ((f & SHMRING_O_EXCL) && !(f & SHMRING_O_CREAT))
		return -EINVAL;
	if ((f & (SHMRING_O_SUB | SHMRING_O_FROM_HEAD)) && !(f & SHMRING_O_READ))
		return -EINVAL;
	if (!shmring_name_valid(o->name, sizeof(o->name)))
		return -EINVAL;
	if (f & SHMRING_O_SUB) {
		if (!shmring_name_valid(o->sub_name, sizeof(o->sub_name)))
			return -EINVAL;
	} else if (memchr_inv(o->sub_name, 0, sizeof(o->sub_name))) {
		return -EINVAL;
	}
	if (f & SHMRING_O_CREAT) {
		int ret = shmring_attr_check(&o->attr, &shmring_limits);

		if (ret)
			return ret;
	} else if (memchr_inv(&o->attr, 0, sizeof(o->attr))) {
		return -EINVAL;
	}
	if ((f & SHMRING_O_READ) && !(file->f_mode & FMODE_READ))
		return -EBADF;
	if ((f & SHMRING_O_WRITE) && !(file->f_mode & FMODE_WRITE))
		return -EBADF;
	return 0;
}

static struct shmring_ring *shmring_create_locked(struct shmring_ns *ns,
						  struct shmring_open *o)
{
	struct shmring_ring *ring;
	u64 cost = o->attr.data_size + PAGE_SIZE;
	kuid_t uid = current_fsuid();
	int ret;

	if (ns->nr_rings >= READ_ONCE(shmring_limits.max_rings))
		return ERR_PTR(-ENOSPC);
	ret = shmring_charge(uid, cost);
	if (ret)
		return ERR_PTR(ret);
	ring = shmring_ring_alloc(&o->attr, o->name);
	if (!ring) {
		shmring_uncharge(uid, cost);
		return ERR_PTR(-ENOMEM);
	}
	ring->charged = uid;
	ring->charge = cost;
	ring->uid = uid;
	ring->gid = current_fsgid();
	ring->mode = o->mode & ~current_umask() & 0777;
	ring->ns = ns;
	list_add_tail(&ring->node, &ns->rings);
	ns->nr_rings++;
	return ring;
}

/* Find or create the named ring; returns it with a reference for the file. */
static struct shmring_ring *shmring_get_ring(struct shmring_open *o)
{
	struct shmring_ring *ring;
	struct shmring_ns *ns;
	int ret;

	mutex_lock(&shmring_lock);
	shmring_reap_dead_namespaces();
	ns = shmring_ns_get_current();
	if (!ns) {
		ring = ERR_PTR(-ENOMEM);
		goto out;
	}
	ring = shmring_lookup(ns, o->name);
	if (ring) {
		ret = -EEXIST;
		if ((o->flags & SHMRING_O_CREAT) && (o->flags & SHMRING_O_EXCL))
			goto err;
		ret = shmring_permission(ring, o->flags);
		if (ret)
			goto err;
	} else {
		ret = -ENOENT;
		if (!(o->flags & SHMRING_O_CREAT))
			goto err;
		ring = shmring_create_locked(ns, o);
		if (IS_ERR(ring)) {
			ret = PTR_ERR(ring);
			goto err;
		}
	}
	kref_get(&ring->ref);
	goto out;
err:
	ring = ERR_PTR(ret);
	shmring_ns_put_if_empty(ns);
out:
	mutex_unlock(&shmring_lock);
	return ring;
}

static struct shmring_sub *shmring_sub_find(struct shmring_ring *ring,
					    const char *name)
{
	struct shmring_sub *sub;

	list_for_each_entry(sub, &ring->subs, node)
		if (!strcmp(sub->name, name))
			return sub;
	return NULL;
}

static struct shmring_sub *shmring_sub_alloc(const char *name)
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
	strscpy(sub->name, name, sizeof(sub->name));
	sub->owner = current_fsuid();
	return sub;
}

/*
 * Attach the file's cursor to a durable subscription, creating it (at
 * tail, or head) when missing. Only one reader may use it at a time.
 */
static int shmring_attach_sub(struct shmring_ring *ring, struct shmring_file *sf,
			      const struct shmring_open *o)
{
	struct shmring_sub *sub, *fresh = shmring_sub_alloc(o->sub_name);
	bool from_head = o->flags & SHMRING_O_FROM_HEAD;
	int ret = 0;

	if (!fresh)
		return -ENOMEM;
	mutex_lock(&ring->wlock);	/* head/tail stable; order wlock -> lock */
	spin_lock(&ring->lock);
	sub = shmring_sub_find(ring, o->sub_name);
	if (sub && sub->attached) {
		ret = -EBUSY;
	} else if (!sub && ring->nr_subs >= SHMRING_MAX_SUBS) {
		ret = -ENOSPC;
	} else if (!sub) {
		sub = fresh;
		fresh = NULL;
		sub->rp->seq = from_head ? ring->head_seq : ring->tail_seq;
		sub->rp->pos = from_head ? ring->head : ring->tail;
		list_add_tail(&sub->node, &ring->subs);
		ring->nr_subs++;
	}
	if (!ret) {
		sub->attached = true;
		sub->last_attach_ns = ktime_get_real_ns();
		shmring_cursor_init(&sf->cursor, sub->rp, sub->page);
		sf->cursor.sub = sub;
		sf->cursor.pid = task_tgid_vnr(current);
		list_add_tail(&sf->cursor.node, &ring->readers);
		ring->nr_readers++;
	}
	spin_unlock(&ring->lock);
	mutex_unlock(&ring->wlock);
	if (fresh)
		shmring_sub_free(fresh);
	return ret;
}

static int shmring_attach_reader(struct shmring_ring *ring,
				 struct shmring_file *sf,
				 const struct shmring_open *o)
{
	struct page *page;

	if (o->flags & SHMRING_O_SUB)
		return shmring_attach_sub(ring, sf, o);
	page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	sf->own_page = page;
	shmring_cursor_init(&sf->cursor, page_address(page), page);
	sf->cursor.pid = task_tgid_vnr(current);
	shmring_cursor_start(ring, sf->cursor.rp,
			     o->flags & SHMRING_O_FROM_HEAD);
	shmring_attach_cursor(ring, &sf->cursor);
	return 0;
}

static void shmring_fill_attr(struct shmring_ring *ring, struct shmring_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->data_size = ring->data_size;
	a->max_record = ring->max_record;
	a->policy = ring->policy;
	a->flags = ring->flags;
}

/* Copy an extensible struct in: its first __u32 is the caller's size. */
static int shmring_copy_in(void *dst, size_t ksize, size_t minsize,
			   void __user *uarg)
{
	u32 usize;
	int ret;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < minsize || usize > PAGE_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(dst, ksize, uarg, usize);
	if (ret == -E2BIG)
		return -EINVAL;	/* non-zero bytes in a tail we do not know */
	return ret;
}

static long shmring_ioc_open(struct file *file, void __user *uarg)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring;
	struct shmring_open o;
	int ret;

	ret = shmring_copy_in(&o, sizeof(o), sizeof(o), uarg);
	if (ret)
		return ret;
	ret = shmring_check_open_args(file, &o);
	if (ret)
		return ret;
	mutex_lock(&sf->bind_lock);
	ret = -EBUSY;
	if (sf->ring)
		goto out;
	ring = shmring_get_ring(&o);
	ret = PTR_ERR_OR_ZERO(ring);
	if (ret)
		goto out;
	if (o.flags & SHMRING_O_READ) {
		ret = shmring_attach_reader(ring, sf, &o);
		if (ret) {
			shmring_ring_put(ring);
			goto out;
		}
	}
	sf->oflags = o.flags;
	/* Pairs with the smp_load_acquire() in shmring_bound(). */
	smp_store_release(&sf->ring, ring);
	shmring_fill_attr(ring, &o.attr);
	ret = 0;
	if (copy_to_user(uarg + offsetof(struct shmring_open, attr), &o.attr,
			 sizeof(o.attr)))
		ret = -EFAULT;	/* the file stays bound, as with read(2) */
out:
	mutex_unlock(&sf->bind_lock);
	return ret;
}

/* A struct shmring_name whose name is at most @max - 1 bytes. */
static int shmring_copy_name(struct shmring_name *n, size_t max,
			     void __user *uarg)
{
	int ret = shmring_copy_in(n, sizeof(*n), SHMRING_NAME_SIZE_VER0, uarg);

	if (ret)
		return ret;
	if (n->flags)
		return -EINVAL;
	if (memchr_inv(n->name + max, 0, sizeof(n->name) - max))
		return -EINVAL;
	return shmring_name_valid(n->name, max) ? 0 : -EINVAL;
}

static long shmring_ioc_unlink(void __user *uarg)
{
	struct shmring_name n;
	struct shmring_ring *ring;
	struct shmring_ns *ns;
	int ret;

	ret = shmring_copy_name(&n, sizeof(n.name), uarg);
	if (ret)
		return ret;
	mutex_lock(&shmring_lock);
	shmring_reap_dead_namespaces();
	ns = shmring_ns_find(current->nsproxy->ipc_ns);
	ring = ns ? shmring_lookup(ns, n.name) : NULL;
	ret = -ENOENT;
	if (ring) {
		ret = -EPERM;
		if (shmring_is_owner(ring->uid)) {
			shmring_unlink_locked(ring);
			ret = 0;
		}
	}
	mutex_unlock(&shmring_lock);
	return ret;
}

static void shmring_fill_info(struct shmring_file *sf, struct shmring_ring *ring,
			      struct shmring_info *in)
{
	in->abi_version = SHMRING_ABI_VERSION;
	in->features = SHMRING_FEAT_ALL;
	in->page_size = PAGE_SIZE;
	strscpy(in->name, ring->name, sizeof(in->name));
	shmring_fill_attr(ring, &in->attr);
	/* Lockless snapshot: a writer stuck in a user copy never blocks us. */
	in->head = READ_ONCE(ring->head);
	in->tail = READ_ONCE(ring->tail);
	in->head_seq = READ_ONCE(ring->head_seq);
	in->tail_seq = READ_ONCE(ring->tail_seq);
	in->bytes_written = READ_ONCE(ring->bytes_written);
	in->records_written = READ_ONCE(ring->records_written);
	in->records_lost = READ_ONCE(ring->records_lost);
	in->writer_waits = READ_ONCE(ring->writer_waits);
	if (sf->oflags & SHMRING_O_READ) {
		in->reader_pos = READ_ONCE(sf->cursor.rp->pos);
		in->reader_seq = READ_ONCE(sf->cursor.rp->seq);
		in->map_reader_off = 0;
	}
	in->map_ring_off = PAGE_SIZE;
	in->map_ring_len = PAGE_SIZE + 2 * ring->data_size;
	spin_lock(&ring->lock);
	in->readers = ring->nr_readers;
	in->subs = ring->nr_subs;
	spin_unlock(&ring->lock);
	in->open_flags = sf->oflags;
}

static long shmring_ioc_info(struct shmring_file *sf, struct shmring_ring *ring,
			     void __user *uarg)
{
	struct shmring_info in = {};
	u32 usize;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < offsetofend(struct shmring_info, attr) || usize > PAGE_SIZE)
		return -EINVAL;
	shmring_fill_info(sf, ring, &in);
	in.size = min_t(u32, usize, sizeof(in));
	return copy_to_user(uarg, &in, in.size) ? -EFAULT : 0;
}

#define SHMRING_BATCH_CHUNK	16	/* descriptors copied in at a time */

/*
 * SHMRING_IOC_WRITE_BATCH: the records are committed under one hold of
 * wlock and become visible together. Descriptors are copied in a few at
 * a time (under wlock, which may sleep); a bad one stops the batch there.
 */
static long shmring_ioc_batch(struct file *file, struct shmring_ring *ring,
			      void __user *uarg)
{
	struct shmring_batch_rec chunk[SHMRING_BATCH_CHUNK], *r;
	bool nonblock = file->f_flags & O_NONBLOCK;
	struct shmring_batch_rec __user *urec;
	pid_t pid = task_tgid_vnr(current);
	struct shmring_wbatch wb;
	struct shmring_batch b;
	struct iov_iter iter;
	void __user *ubuf;
	u32 i, have = 0, next = 0;
	ssize_t ret = 0;

	ret = shmring_copy_in(&b, sizeof(b), sizeof(b), uarg);
	if (ret)
		return ret;
	if (b.flags || b.nr > SHMRING_BATCH_MAX)
		return -EINVAL;
	urec = u64_to_user_ptr(b.recs);
	ret = b.nr ? shmring_wbatch_begin(ring, &wb) : 0;
	if (ret)
		return ret;
	for (i = 0; i < b.nr; i++) {
		if (next == have) {
			have = min_t(u32, b.nr - i, SHMRING_BATCH_CHUNK);
			next = 0;
			/* The array may end early: then one descriptor at a time. */
			if (copy_from_user(chunk, urec + i, have * sizeof(*r))) {
				have = 1;
				if (copy_from_user(chunk, urec + i, sizeof(*r))) {
					ret = -EFAULT;
					break;
				}
			}
		}
		r = &chunk[next++];
		if (r->flags || r->__reserved0) {
			ret = -EINVAL;
			break;
		}
		ubuf = u64_to_user_ptr(r->data);
		if (!access_ok(ubuf, r->len)) {
			ret = -EFAULT;
			break;
		}
		iov_iter_ubuf(&iter, ITER_SOURCE, ubuf, r->len);
		ret = shmring_wbatch_add(ring, &wb, &iter, r->type, pid, nonblock);
		if (ret < 0)
			break;
	}
	if (b.nr)
		shmring_wbatch_end(ring, &wb);
	if (put_user(i, (u32 __user *)(uarg + offsetof(struct shmring_batch, done))))
		return -EFAULT;
	/* Records before a failing one stay committed; report how many. */
	return i ? 0 : (ret < 0 ? ret : 0);
}

static long shmring_ioc_set_opt(struct shmring_file *sf,
				struct shmring_ring *ring, void __user *uarg)
{
	struct shmring_opt opt;
	int ret;

	ret = shmring_copy_in(&opt, sizeof(opt), SHMRING_OPT_SIZE_VER0, uarg);
	if (ret)
		return ret;
	switch (opt.opt) {
	case SHMRING_OPT_WRITE_TYPE:
		if (!(sf->oflags & SHMRING_O_WRITE))
			return -EBADF;
		if (opt.val > U32_MAX)
			return -EINVAL;
		WRITE_ONCE(sf->wtype, opt.val);
		return 0;
	case SHMRING_OPT_WATERMARK_BYTES:
	case SHMRING_OPT_WATERMARK_RECS:
		if (!(sf->oflags & SHMRING_O_READ))
			return -EBADF;
		if (opt.val > ring->data_size)
			return -EINVAL;
		spin_lock(&ring->lock);
		if (opt.opt == SHMRING_OPT_WATERMARK_BYTES) {
			sf->cursor.wm_bytes = opt.val;
			sf->cursor.wm_recs = 0;
		} else {
			sf->cursor.wm_recs = opt.val;
			sf->cursor.wm_bytes = 0;
		}
		spin_unlock(&ring->lock);
		return 0;
	}
	return -EINVAL;
}

static long shmring_ioc_sub_list(struct shmring_ring *ring, void __user *uarg)
{
	struct shmring_sub_info *infos;
	struct shmring_sub_list l;
	struct shmring_sub *sub;
	u32 n = 0;
	int ret;

	ret = shmring_copy_in(&l, sizeof(l), sizeof(l), uarg);
	if (ret)
		return ret;
	if (l.__reserved0)
		return -EINVAL;
	l.nr = min_t(u32, l.nr, SHMRING_MAX_SUBS);
	infos = kcalloc(max_t(u32, l.nr, 1), sizeof(*infos), GFP_KERNEL);
	if (!infos)
		return -ENOMEM;
	spin_lock(&ring->lock);
	l.total = ring->nr_subs;
	list_for_each_entry(sub, &ring->subs, node) {
		if (n == l.nr)
			break;
		strscpy(infos[n].name, sub->name, sizeof(infos[n].name));
		infos[n].pos = READ_ONCE(sub->rp->pos);
		infos[n].seq = READ_ONCE(sub->rp->seq);
		infos[n].last_read_ns = max(READ_ONCE(sub->rp->last_read_ns),
					    sub->last_attach_ns);
		infos[n].attached = sub->attached;
		n++;
	}
	spin_unlock(&ring->lock);
	l.nr = n;
	ret = 0;
	if (n && copy_to_user(u64_to_user_ptr(l.subs), infos, n * sizeof(*infos)))
		ret = -EFAULT;
	else if (copy_to_user(uarg, &l, sizeof(l)))
		ret = -EFAULT;
	kfree(infos);
	return ret;
}

static long shmring_ioc_sub_del(struct shmring_ring *ring, void __user *uarg)
{
	struct shmring_name n;
	const char *name = n.name;
	struct shmring_sub *sub;
	int ret;

	ret = shmring_copy_name(&n, SHMRING_SUB_NAME_MAX, uarg);
	if (ret)
		return ret;
	mutex_lock(&ring->wlock);
	spin_lock(&ring->lock);
	sub = shmring_sub_find(ring, name);
	if (!sub) {
		ret = -ENOENT;
	} else if (sub->attached) {
		ret = -EBUSY;
	} else if (!shmring_is_owner(sub->owner) && !shmring_is_owner(ring->uid)) {
		ret = -EPERM;
	} else {
		list_del(&sub->node);
		ring->nr_subs--;
	}
	spin_unlock(&ring->lock);
	mutex_unlock(&ring->wlock);
	if (ret)
		return ret;
	shmring_sub_free(sub);
	shmring_wake_writers(ring);	/* it may have held them back */
	return 0;
}

static long shmring_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct shmring_file *sf = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct shmring_ring *ring;

	switch (cmd) {
	case SHMRING_IOC_OPEN:
		return shmring_ioc_open(file, uarg);
	case SHMRING_IOC_UNLINK:
		return shmring_ioc_unlink(uarg);
	}
	ring = shmring_bound(file);
	switch (cmd) {
	case SHMRING_IOC_INFO:
	case SHMRING_IOC_WRITE_BATCH:
	case SHMRING_IOC_SET_OPT:
	case SHMRING_IOC_SUB_LIST:
	case SHMRING_IOC_SUB_DEL:
	case SHMRING_IOC_KICK:
		if (!ring)
			return -ENOTCONN;
		break;
	default:
		return -ENOTTY;
	}
	switch (cmd) {
	case SHMRING_IOC_INFO:
		return shmring_ioc_info(sf, ring, uarg);
	case SHMRING_IOC_WRITE_BATCH:
		if (!(sf->oflags & SHMRING_O_WRITE))
			return -EBADF;
		return shmring_ioc_batch(file, ring, uarg);
	case SHMRING_IOC_SET_OPT:
		return shmring_ioc_set_opt(sf, ring, uarg);
	case SHMRING_IOC_SUB_LIST:
		return shmring_ioc_sub_list(ring, uarg);
	case SHMRING_IOC_SUB_DEL:
		return shmring_ioc_sub_del(ring, uarg);
	default:
		shmring_kick(ring);
		return 0;
	}
}

static ssize_t shmring_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct file *file = iocb->ki_filp;
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = shmring_bound(file);

	if (!ring)
		return -ENOTCONN;
	if (!(sf->oflags & SHMRING_O_WRITE))
		return -EBADF;
	return shmring_ring_write(ring, from, READ_ONCE(sf->wtype),
				  task_tgid_vnr(current),
				  (file->f_flags & O_NONBLOCK) ||
				  (iocb->ki_flags & IOCB_NOWAIT));
}

static ssize_t shmring_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct file *file = iocb->ki_filp;
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = shmring_bound(file);

	if (!ring)
		return -ENOTCONN;
	if (!(sf->oflags & SHMRING_O_READ))
		return -EBADF;
	return shmring_ring_read(ring, &sf->cursor, to,
				 (file->f_flags & O_NONBLOCK) ||
				 (iocb->ki_flags & IOCB_NOWAIT));
}

static __poll_t shmring_poll(struct file *file, poll_table *wait)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = shmring_bound(file);
	__poll_t mask = 0;

	if (!ring)
		return EPOLLERR;
	if (sf->oflags & SHMRING_O_READ)
		poll_wait(file, &sf->cursor.wq, wait);
	if (sf->oflags & SHMRING_O_WRITE)
		poll_wait(file, &ring->write_wq, wait);
	/* [R5] we are on the wait queues before looking at positions. */
	smp_mb();
	if ((sf->oflags & SHMRING_O_READ) && shmring_cursor_ready(ring, &sf->cursor))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (sf->oflags & SHMRING_O_WRITE) {
		if (shmring_can_write(ring))
			mask |= EPOLLOUT | EPOLLWRNORM;
		else if (!READ_ONCE(ring->unlinked))
			shmring_poll_wait_room(ring);
	}
	if (READ_ONCE(ring->unlinked))
		mask |= EPOLLHUP | EPOLLERR;
	return mask;
}

/*
 * Two mappings: offset 0 is the reader's own page (read-write, readers
 * only); offset PAGE_SIZE is the ring header followed by the data pages
 * twice (read-only, readers only). Both must be MAP_SHARED and exact.
 */
static int shmring_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = shmring_bound(file);
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned long num;

	if (!ring)
		return -ENOTCONN;
	if (!(sf->oflags & SHMRING_O_READ))
		return -EACCES;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	switch (vma->vm_pgoff) {
	case 0:
		if (len != PAGE_SIZE)
			return -EINVAL;
		vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
		return vm_insert_page(vma, vma->vm_start, sf->cursor.page);
	case 1:
		num = 1 + 2UL * ring->nr_pages;
		if (len != num << PAGE_SHIFT)
			return -EINVAL;
		if (vma->vm_flags & VM_WRITE)
			return -EPERM;
		vm_flags_clear(vma, VM_MAYWRITE);
		vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
		return vm_insert_pages(vma, vma->vm_start, ring->pages, &num);
	}
	return -EINVAL;
}

static const struct file_operations shmring_fops = {
	.owner		= THIS_MODULE,
	.open		= shmring_open,
	.release	= shmring_release,
	.unlocked_ioctl	= shmring_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.read_iter	= shmring_read_iter,
	.write_iter	= shmring_write_iter,
	.poll		= shmring_poll,
	.mmap		= shmring_mmap,
};

static struct miscdevice shmring_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "shmring",
	.fops	= &shmring_fops,
	.mode	= 0666,
};

/* ---- /proc/shmring ------------------------------------------------------- */

static const char *const shmring_policy_names[] = {
	[SHMRING_POLICY_OVERWRITE] = "overwrite",
	[SHMRING_POLICY_LOSSLESS] = "lossless",
};

static void shmring_show_cursor(struct seq_file *m, struct shmring_ring *ring,
				const char *what, const char *name, pid_t pid,
				struct shmring_reader *rp)
{
	u64 pos = READ_ONCE(rp->pos), seq = READ_ONCE(rp->seq);
	u64 head = READ_ONCE(ring->head), head_seq = READ_ONCE(ring->head_seq);

	seq_printf(m, "  %s %s pid=%d pos=%llu seq=%llu lag_bytes=%llu lag_records=%llu read=%llu lost=%llu last_read_ns=%llu\n",
		   what, name, pid, pos, seq, head - pos, head_seq - seq,
		   READ_ONCE(rp->records_read), READ_ONCE(rp->records_lost),
		   READ_ONCE(rp->last_read_ns));
}

static void shmring_show_ring(struct seq_file *m, struct shmring_ring *ring)
{
	struct user_namespace *uns = seq_user_ns(m);
	struct shmring_cursor *c;
	struct shmring_sub *sub;

	/* Lockless, as in shmring_fill_info(): the view never waits for writers. */
	seq_printf(m, "ring %s size=%llu policy=%s max_record=%u flags=%#x mode=%04o uid=%u gid=%u head=%llu tail=%llu head_seq=%llu tail_seq=%llu bytes=%llu records=%llu lost=%llu writer_waits=%llu last_write_ns=%llu readers=%u subs=%u\n",
		   ring->name, ring->data_size, shmring_policy_names[ring->policy],
		   ring->max_record, ring->flags, ring->mode,
		   from_kuid_munged(uns, ring->uid),
		   from_kgid_munged(uns, ring->gid), READ_ONCE(ring->head),
		   READ_ONCE(ring->tail), READ_ONCE(ring->head_seq),
		   READ_ONCE(ring->tail_seq), READ_ONCE(ring->bytes_written),
		   READ_ONCE(ring->records_written), READ_ONCE(ring->records_lost),
		   READ_ONCE(ring->writer_waits),
		   READ_ONCE(ring->hdr->last_write_ns), READ_ONCE(ring->nr_readers),
		   READ_ONCE(ring->nr_subs));
	spin_lock(&ring->lock);
	list_for_each_entry(c, &ring->readers, node)
		shmring_show_cursor(m, ring, "reader", c->sub ? c->sub->name : "-",
				    c->pid, c->rp);
	list_for_each_entry(sub, &ring->subs, node)
		shmring_show_cursor(m, ring, sub->attached ? "sub+" : "sub",
				    sub->name, 0, sub->rp);
	spin_unlock(&ring->lock);
}

static int shmring_proc_show(struct seq_file *m, void *v)
{
	struct shmring_ring *ring;
	struct shmring_ns *ns;

	mutex_lock(&shmring_lock);
	seq_printf(m, "shmring %s abi=%d total_bytes=%llu\n", SHMRING_VERSION,
		   SHMRING_ABI_VERSION, shmring_total);
	ns = shmring_ns_find(current->nsproxy->ipc_ns);
	if (ns)
		list_for_each_entry(ring, &ns->rings, node)
			shmring_show_ring(m, ring);
	mutex_unlock(&shmring_lock);
	return 0;
}

/* ---- module ------------------------------------------------------------ */

static void shmring_abi_checks(void)
{
	BUILD_BUG_ON(sizeof(struct shmring_rec) != 40);
	BUILD_BUG_ON(offsetof(struct shmring_rec, len) != 0);
	BUILD_BUG_ON(offsetof(struct shmring_rec, type) != 4);
	BUILD_BUG_ON(offsetof(struct shmring_rec, seq) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_rec, tstamp_ns) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_rec, pid) != 24);
	BUILD_BUG_ON(offsetof(struct shmring_rec, flags) != 28);
	BUILD_BUG_ON(offsetof(struct shmring_rec, __reserved0) != 30);
	BUILD_BUG_ON(offsetof(struct shmring_rec, csum) != 32);
	BUILD_BUG_ON(offsetof(struct shmring_rec, __reserved1) != 36);
	BUILD_BUG_ON(sizeof(struct shmring_attr) != 40);
	BUILD_BUG_ON(offsetof(struct shmring_attr, max_record) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_attr, policy) != 12);
	BUILD_BUG_ON(offsetof(struct shmring_attr, flags) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_attr, __reserved0) != 20);
	BUILD_BUG_ON(offsetof(struct shmring_attr, __reserved1) != 24);
	BUILD_BUG_ON(sizeof(struct shmring_open) != 152);
	BUILD_BUG_ON(offsetof(struct shmring_open, flags) != 4);
	BUILD_BUG_ON(offsetof(struct shmring_open, mode) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_open, name) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_open, sub_name) != 80);
	BUILD_BUG_ON(offsetof(struct shmring_open, attr) != 112);
	BUILD_BUG_ON(sizeof(struct shmring_batch_rec) != 24);
	BUILD_BUG_ON(offsetof(struct shmring_batch_rec, len) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_batch_rec, type) != 12);
	BUILD_BUG_ON(offsetof(struct shmring_batch_rec, flags) != 16);
	BUILD_BUG_ON(sizeof(struct shmring_batch) != 24);
	BUILD_BUG_ON(offsetof(struct shmring_batch, recs) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_batch, nr) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_batch, done) != 20);
	BUILD_BUG_ON(offsetof(struct shmring_info, name) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_info, attr) != 80);
	BUILD_BUG_ON(offsetof(struct shmring_info, head) != 120);
	BUILD_BUG_ON(offsetof(struct shmring_info, map_ring_len) != 216);
	BUILD_BUG_ON(offsetof(struct shmring_info, readers) != 224);
	BUILD_BUG_ON(sizeof(struct shmring_info) != 240);
	BUILD_BUG_ON(sizeof(struct shmring_opt) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_opt, opt) != 4);
	BUILD_BUG_ON(offsetof(struct shmring_opt, val) != 8);
	BUILD_BUG_ON(sizeof(struct shmring_name) != SHMRING_NAME_SIZE_VER0);
	BUILD_BUG_ON(offsetof(struct shmring_name, flags) != 4);
	BUILD_BUG_ON(offsetof(struct shmring_name, name) != 8);
	BUILD_BUG_ON(sizeof(struct shmring_features) != 64);
	BUILD_BUG_ON(offsetof(struct shmring_features, max_subs) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_features, max_readers) != 24);
	BUILD_BUG_ON(offsetof(struct shmring_features, batch_max) != 36);
	BUILD_BUG_ON(offsetof(struct shmring_features, max_data_size) != 40);
	BUILD_BUG_ON(offsetof(struct shmring_features, max_user) != 56);
	BUILD_BUG_ON(sizeof(struct shmring_sub_info) != 64);
	BUILD_BUG_ON(offsetof(struct shmring_sub_info, pos) != 32);
	BUILD_BUG_ON(offsetof(struct shmring_sub_info, attached) != 56);
	BUILD_BUG_ON(sizeof(struct shmring_sub_list) != 24);
	BUILD_BUG_ON(offsetof(struct shmring_sub_list, subs) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_sub_list, total) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, data_size) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, head) != 64);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, head_seq) != 72);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, last_write_ns) != 80);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, writers_waiting) != 92);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, wait_pos) != 96);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, wait_gen) != 104);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, tail) != 128);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, tail_seq) != 136);
	BUILD_BUG_ON(sizeof(struct shmring_hdr) != 192);
	BUILD_BUG_ON(sizeof(struct shmring_reader) != 128);
	BUILD_BUG_ON(offsetof(struct shmring_reader, seq) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_reader, records_lost) != 32);
	BUILD_BUG_ON(offsetof(struct shmring_reader, txn_pos) != 40);
	BUILD_BUG_ON(offsetof(struct shmring_reader, txn_seq) != 48);
	BUILD_BUG_ON(offsetof(struct shmring_reader, txn_read) != 56);
	BUILD_BUG_ON(offsetof(struct shmring_reader, txn_lost) != 64);
	BUILD_BUG_ON(sizeof(struct shmring_hdr) > PAGE_SIZE);
}

static int __init shmring_init(void)
{
	int ret;

	shmring_abi_checks();
	if (shmring_limits.default_size > shmring_limits.max_size) {
		pr_err("default_size %llu exceeds max_size %llu\n",
		       shmring_limits.default_size, shmring_limits.max_size);
		return -EINVAL;
	}
	if (!shmring_limits.max_rings) {
		pr_err("max_rings must be at least 1\n");
		return -EINVAL;
	}
	if (!proc_create_single("shmring", 0444, NULL, shmring_proc_show))
		return -ENOMEM;
	ret = misc_register(&shmring_misc);
	if (ret) {
		remove_proc_entry("shmring", NULL);
		return ret;
	}
	pr_info("version %s loaded, /dev/shmring ready\n", SHMRING_VERSION);
	return 0;
}

static void __exit shmring_exit(void)
{
	struct shmring_ns *ns, *tmp;

	misc_deregister(&shmring_misc);
	remove_proc_entry("shmring", NULL);
	/* No file is open (each pins the module): only registry refs remain. */
	mutex_lock(&shmring_lock);
	list_for_each_entry_safe(ns, tmp, &shmring_namespaces, node)
		shmring_ns_unlink_all(ns);
	WARN_ON(shmring_total);
	mutex_unlock(&shmring_lock);
}

module_init(shmring_init);
module_exit(shmring_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("shmring developers");
MODULE_DESCRIPTION("Kernel-owned shared ring of framed records at /dev/shmring");
MODULE_VERSION(SHMRING_VERSION);
