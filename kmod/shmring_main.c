// SPDX-License-Identifier: GPL-2.0
/*
 * shmring: named, kernel-owned rings of framed records behind /dev/shmring.
 *
 * This file is the user-facing half: module parameters, the file
 * operations (ioctl, read, write, poll, mmap) and /proc/shmring. The
 * registry, permissions and caps are in shmring_registry.c, durable
 * subscriptions in shmring_sub.c, the ring itself in shmring_ring.c.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pagemap.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "shmring_internal.h"

#ifndef SHMRING_VERSION
#error "Kbuild defines SHMRING_VERSION from the top-level VERSION file"
#endif
#define SHMRING_HARD_MAX_SIZE	(1ULL << 30)

struct shmring_limits shmring_limits = {
	.default_size	= 1ULL << 20,
	.max_size	= 64ULL << 20,
	.max_total	= 1ULL << 30,
	.max_user	= 256ULL << 20,
	.max_rings	= 1024,
	.max_readers	= 256,
	.max_user_readers = 1024,
};
EXPORT_SYMBOL_IF_KUNIT(shmring_limits);

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

module_param_named(max_readers, shmring_limits.max_readers, uint, 0644);
MODULE_PARM_DESC(max_readers, "attached readers per ring (default 256)");
module_param_named(max_user_readers, shmring_limits.max_user_readers, uint, 0644);
MODULE_PARM_DESC(max_user_readers, "attached readers of one user, all rings (default 1024)");

/* ---- files --------------------------------------------------------------- */

struct shmring_file {
	struct mutex bind_lock;		/* serialises SHMRING_IOC_OPEN */
	struct shmring_ring *ring;	/* set once, with release */
	u32 oflags;
	u32 wtype;			/* record type used by write(2) */
	struct shmring_cursor cursor;	/* valid when oflags has READ */
	struct page *own_page;		/* an ephemeral reader's page */
	struct shmring_zc_writer zc;	/* zero-copy rings, with WRITE */
	kuid_t charged;			/* user charged for this reader */
	u64 charge;			/* bytes charged (own page) */
	struct mutex stage_lock;	/* guards stage */
	void *stage;			/* WRITE_BATCH's stage, made on first use */
};

static struct shmring_ring *shmring_bound(struct file *file)
{
	struct shmring_file *sf = file->private_data;

	/* Pairs with the smp_store_release() in shmring_ioc_open(). */
	return smp_load_acquire(&sf->ring);
}

static int shmring_open(struct inode *inode, struct file *file)
{
	struct shmring_file *sf = kzalloc(sizeof(*sf), GFP_KERNEL_ACCOUNT);

	if (!sf)
		return -ENOMEM;
	mutex_init(&sf->bind_lock);
	mutex_init(&sf->stage_lock);
	file->private_data = sf;
	return nonseekable_open(inode, file);
}

static int shmring_release(struct inode *inode, struct file *file)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = sf->ring;

	if (ring) {
		/* A record in progress is discarded now, not after a timeout. */
		if (shmring_is_zc(ring) && (sf->oflags & SHMRING_O_WRITE)) {
			shmring_zc_release(ring, &sf->zc);
			shmring_zc_writer_free(&sf->zc);
		}
		if (sf->oflags & SHMRING_O_READ) {
			shmring_detach_cursor(ring, &sf->cursor);
			shmring_uncharge(sf->charged, sf->charge, 1);
		}
		shmring_ring_put(ring);
	}
	if (sf->own_page)
		put_page(sf->own_page);
	kfree(sf->stage);
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
	if ((f & SHMRING_O_SUB_SHARED) && !(f & SHMRING_O_SUB))
		return -EINVAL;
	if ((f & SHMRING_O_TAP) && (!(f & SHMRING_O_READ) || (f & SHMRING_O_SUB)))
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

/* Attach the file's cursor to a durable subscription, creating it if need be. */
static int shmring_attach_sub(struct shmring_ring *ring, struct shmring_file *sf,
			      const struct shmring_open *o)
{
	struct shmring_sub_req req = {
		.name = o->sub_name,
		.uid = current_fsuid(),
		.capable = shmring_ring_capable(ring),
		.ring_owner = uid_eq(current_fsuid(), READ_ONCE(ring->uid)),
		.from_head = o->flags & SHMRING_O_FROM_HEAD,
		.shared = o->flags & SHMRING_O_SUB_SHARED,
	};
	int ret;

	/* An existing subscription: nothing new to charge. */
	ret = shmring_sub_attach(ring, &sf->cursor, &req);
	if (ret != -ENOENT)
		return ret;
	/* A new subscription's page is charged to its creator. */
	ret = shmring_charge(req.uid, PAGE_SIZE, 0);
	if (ret)
		return ret;
	req.fresh = shmring_sub_alloc();
	ret = req.fresh ? shmring_sub_attach(ring, &sf->cursor, &req) : -ENOMEM;
	if (req.fresh) {
		shmring_sub_free(req.fresh);	/* created meanwhile by another */
		shmring_uncharge(req.uid, PAGE_SIZE, 0);
	}
	return ret;
}

/*
 * Attach the file as a reader: its own zeroed page (or a subscription's),
 * charged to the caller with one reader against the per-user caps, and
 * its start position taken and attached in one step.
 */
static int shmring_attach_reader(struct shmring_ring *ring,
				 struct shmring_file *sf,
				 const struct shmring_open *o)
{
	bool sub = o->flags & SHMRING_O_SUB;
	kuid_t uid = current_fsuid();
	u64 bytes = sub ? 0 : PAGE_SIZE;
	struct page *page = NULL;
	int ret;

	ret = shmring_charge(uid, bytes, 1);
	if (ret)
		return ret;
	shmring_cursor_init(&sf->cursor, NULL, NULL);
	sf->cursor.pid = task_tgid_vnr(current);
	sf->cursor.tap = o->flags & SHMRING_O_TAP;
	sf->cursor.other = !shmring_is_ring_owner(ring);
	if (sub) {
		ret = shmring_attach_sub(ring, sf, o);
	} else {
		ret = -ENOMEM;
		page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (page) {
			sf->cursor.rp = page_address(page);
			sf->cursor.page = page;
			ret = shmring_attach_cursor(ring, &sf->cursor,
						    o->flags & SHMRING_O_FROM_HEAD);
		}
	}
	if (ret) {
		if (page)
			__free_page(page);
		shmring_uncharge(uid, bytes, 1);
		return ret;
	}
	sf->own_page = page;
	sf->charged = uid;
	sf->charge = bytes;
	return 0;
}

static void shmring_fill_attr(struct shmring_ring *ring, struct shmring_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->data_size = ring->data_size;
	a->max_record = ring->max_record;
	a->policy = ring->policy;
	a->flags = ring->flags;
	a->zc_chunk = ring->zc_chunk;
}

/* ---- ioctls ---------------------------------------------------------------- */

/*
 * Every ioctl struct starts with a __u32 size. The dispatcher (below)
 * copies it in with copy_struct_from_user() into the kernel's layout,
 * and copies min(size, sizeof) back out for the ones that return data.
 */
union shmring_ioc_arg {
	struct shmring_open open;
	struct shmring_name name;
	struct shmring_info info;
	struct shmring_batch batch;
	struct shmring_opt opt;
	struct shmring_sub_list sub_list;
	struct shmring_features features;
	struct shmring_setattr setattr;
	struct shmring_list list;
	struct shmring_seek seek;
	struct shmring_zc_chunk zc_chunk;
};

static long shmring_ioc_open(struct file *file, struct shmring_ring *unused,
			     union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_open *o = &a->open;
	struct shmring_ring *ring;
	int ret;

	ret = shmring_check_open_args(file, o);
	if (ret)
		return ret;
	mutex_lock(&sf->bind_lock);
	ret = -EBUSY;
	if (sf->ring)
		goto out;
	ring = shmring_registry_get(o);
	ret = PTR_ERR_OR_ZERO(ring);
	if (ret)
		goto out;
	if (o->flags & SHMRING_O_READ) {
		ret = shmring_attach_reader(ring, sf, o);
		if (ret) {
			shmring_ring_put(ring);
			goto out;
		}
	}
	if (shmring_is_zc(ring) && (o->flags & SHMRING_O_WRITE)) {
		ret = shmring_zc_writer_init(ring, &sf->zc, file->f_mapping);
		if (ret) {
			if (o->flags & SHMRING_O_READ) {
				shmring_detach_cursor(ring, &sf->cursor);
				shmring_uncharge(sf->charged, sf->charge, 1);
			}
			shmring_ring_put(ring);
			goto out;
		}
	}
	sf->oflags = o->flags;
	/* Pairs with the smp_load_acquire() in shmring_bound(). */
	smp_store_release(&sf->ring, ring);
	shmring_fill_attr(ring, &o->attr);
	/* A failed copy-out leaves the file bound, as with read(2). */
out:
	mutex_unlock(&sf->bind_lock);
	return ret;
}

/* A name of at most @max - 1 bytes, the rest of name[] zero. */
static int shmring_check_name(const struct shmring_name *n, size_t max)
{
	if (n->flags)
		return -EINVAL;
	if (memchr_inv(n->name + max, 0, sizeof(n->name) - max))
		return -EINVAL;
	return shmring_name_valid(n->name, max) ? 0 : -EINVAL;
}

static long shmring_ioc_unlink(struct file *file, struct shmring_ring *unused,
			       union shmring_ioc_arg *a, void __user *uarg)
{
	int ret = shmring_check_name(&a->name, sizeof(a->name.name));

	return ret ? ret : shmring_registry_unlink(a->name.name);
}

/*
 * A zero-copy ring's writer may map the data area writable (and the ring
 * read-only, for the header): it opened the ring to write and may read
 * it (the writable mapping shows every record).
 */
static bool shmring_zc_mapper(struct shmring_file *sf, struct shmring_ring *ring)
{
	return shmring_is_zc(ring) && (sf->oflags & SHMRING_O_WRITE) &&
	       ((sf->oflags & SHMRING_O_READ) || shmring_may_read(ring));
}

static long shmring_ioc_info(struct file *file, struct shmring_ring *ring,
			     union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_info *in = &a->info;

	in->abi_version = SHMRING_ABI_VERSION;
	in->features = SHMRING_FEAT_ALL;
	in->page_size = PAGE_SIZE;
	strscpy(in->name, ring->name, sizeof(in->name));
	shmring_fill_attr(ring, &in->attr);
	/* Lockless snapshot: a writer holding wlock never blocks us. */
	in->head = READ_ONCE(ring->head);
	in->tail = READ_ONCE(ring->tail);
	in->head_seq = READ_ONCE(ring->head_seq);
	in->tail_seq = READ_ONCE(ring->tail_seq);
	in->bytes_written = READ_ONCE(ring->bytes_written);
	in->records_written = READ_ONCE(ring->records_written);
	in->records_lost = READ_ONCE(ring->records_lost);
	in->writer_waits = READ_ONCE(ring->writer_waits);
	if (sf->oflags & SHMRING_O_READ) {
		in->reader_pos = READ_ONCE(sf->cursor.rp->pos) & ~SHMRING_POS_LAPPED;
		in->reader_seq = READ_ONCE(sf->cursor.rp->seq);
		in->map_reader_off = 0;
	}
	in->map_ring_off = PAGE_SIZE;
	in->map_ring_len = PAGE_SIZE + 2 * ring->data_size;
	in->readers = READ_ONCE(ring->nr_readers);
	in->subs = READ_ONCE(ring->nr_subs);
	in->open_flags = sf->oflags;
	if (shmring_zc_mapper(sf, ring)) {
		in->map_zc_off = sf->zc.map_off;
		in->map_zc_len = ring->data_size;
	}
	in->records_discarded = READ_ONCE(ring->zc_discarded);
	if (sf->oflags & SHMRING_O_READ) {
		in->read_discarded = READ_ONCE(sf->cursor.rdiscarded);
		in->read_corrupt = READ_ONCE(sf->cursor.rcorrupt);
	}
	return 0;
}

#define SHMRING_BATCH_CHUNK	16	/* descriptors copied in at a time */
#define SHMRING_STAGE_MAX	8192	/* staged at a time (a slab size) */
#define SHMRING_STAGE_REC	1024	/* larger payloads are copied under wlock */

/*
 * Commit the records staged in @st under one hold of wlock; with
 * @nonblock and no room for all of them, as many as fit, one by one
 * (what write(2) in a loop would do). Adds what it committed to @done.
 */
static int shmring_batch_commit(struct shmring_ring *ring,
				struct shmring_stage *st, bool nonblock,
				u32 *done)
{
	struct shmring_stage one = { .nr = 1 };
	struct shmring_wbatch wb;
	u64 off;
	u32 n = st->nr;
	int ret;

	if (!n)
		return 0;
	ret = shmring_wbatch_begin(ring, &wb);
	if (ret)
		goto out;
	ret = shmring_wbatch_put(ring, &wb, st, nonblock);
	if (!ret)
		*done += n;
	for (off = 0; ret == -EAGAIN && n > 1 && off < st->bytes;
	     off += one.cap) {
		one.buf = st->buf + off;
		one.last_len = ((struct shmring_rec *)one.buf)->len;
		one.payload = one.last_len;
		one.cap = shmring_rec_total(one.last_len);
		one.bytes = one.cap;
		one.nr = 1;
		ret = shmring_wbatch_put(ring, &wb, &one, nonblock);
		if (ret)
			break;
		++*done;
	}
	shmring_wbatch_end(ring, &wb);
out:
	shmring_stage_reset(st);
	return ret;
}

/*
 * The file's stage (made on first use, charged to the writer's memory
 * cgroup, freed with the file), or, while another thread uses it, one
 * of the call's own.
 */
static int shmring_stage_get(struct shmring_file *sf, struct shmring_stage *st)
{
	if (mutex_trylock(&sf->stage_lock)) {
		if (!sf->stage)
			sf->stage = kmalloc(SHMRING_STAGE_MAX, GFP_KERNEL_ACCOUNT);
		if (sf->stage) {
			st->buf = sf->stage;
			return 0;
		}
		mutex_unlock(&sf->stage_lock);
	}
	st->buf = kmalloc(SHMRING_STAGE_MAX, GFP_KERNEL_ACCOUNT);
	return st->buf ? 0 : -ENOMEM;
}

static void shmring_stage_put(struct shmring_file *sf, struct shmring_stage *st)
{
	if (!st->buf)
		return;
	if (st->buf == sf->stage)
		mutex_unlock(&sf->stage_lock);
	else
		kfree(st->buf);
}

/* Can a descriptor be copied outside wlock (shmring_batch_copy())? */
static bool shmring_copy_ok(struct shmring_ring *ring,
			    const struct shmring_batch_rec *r)
{
	return shmring_copies_unlocked(ring) && !r->flags && !r->__reserved0 &&
	       r->len > SHMRING_STAGE_REC && r->len <= ring->max_record;
}

/*
 * A run of @n large records of a lossless copy ring (@r, each
 * shmring_copy_ok()): reserved under one hold of wlock, copied from
 * userspace with nothing held (many writers copy at once), and published
 * together, once the copies before them are done too (ring->copying,
 * shmring_wbatch_reserve(), shmring_copy_done()). The sources are made
 * resident first and copied with page faults disabled, so no copy takes
 * longer than copying: a writer cannot hold others' records back by
 * stalling a fault. A copy that faults anyway (the buffer changed under
 * us) turns that record and the rest of the run into DISCARD records,
 * which readers skip without a gap, and sets *@fallback: the caller
 * writes that record again under wlock. Returns the records committed
 * (the run ends early where the ring has no room without waiting, or at
 * a fault), or -errno if nothing was reserved.
 */
static noinline_for_stack int shmring_batch_copy(struct shmring_ring *ring,
						 const struct shmring_batch_rec *r,
						 u32 n, pid_t pid, bool nonblock,
						 bool *fallback)
{
	struct shmring_rec *rec[SHMRING_BATCH_CHUNK];
	struct shmring_copy cp = {};
	struct shmring_wbatch wb;
	u32 i, k, good;
	u64 bad_bytes = 0;
	int ret;

	/* Resident first: a bad buffer ends the run before it is reserved. */
	for (k = 0; k < n && k < SHMRING_BATCH_CHUNK; k++)
		if (fault_in_readable(u64_to_user_ptr(r[k].data), r[k].len))
			break;
	if (!k)
		return -EFAULT;
	ret = shmring_wbatch_begin(ring, &wb);
	if (ret)
		return ret;
	/* In order; the run ends at the first that does not fit now. */
	for (i = 0; i < k && !ret; i++)
		ret = shmring_wbatch_reserve(ring, &wb, r[i].len, r[i].type, pid,
					     nonblock, &cp, &rec[i]);
	shmring_wbatch_end(ring, &wb);
	if (!cp.nr)
		return ret;	/* the first one's error, as under wlock */
	k = cp.nr;
	for (good = k, i = 0; i < k; i++) {
		void *payload = rec[i] + 1;

		if (good == k) {
			pagefault_disable();
			if (copy_from_user(payload, u64_to_user_ptr(r[i].data), r[i].len))
				good = i;
			pagefault_enable();
		}
		if (i >= good) {
			memset(payload, 0, r[i].len);
			rec[i]->flags = SHMRING_REC_DISCARD;
			bad_bytes += r[i].len;
		} else if (ring->flags & SHMRING_ATTR_CSUM) {
			rec[i]->csum = shmring_crc32c(payload, r[i].len);
			rec[i]->flags |= SHMRING_REC_CSUM;
		}
	}
	shmring_copy_done(ring, &cp, k - good, bad_bytes);
	*fallback = good < k;
	return (int)good;
}

/*
 * A large record: copied from userspace under wlock, where the copy is
 * the work and a second one would cost more than the lock saves (where
 * shmring_batch_copy() does not take it). Runs of them share one hold of
 * wlock (@wb, taken on the first).
 */
static int shmring_batch_direct(struct shmring_ring *ring,
				struct shmring_wbatch *wb, bool *held,
				const struct shmring_batch_rec *r, pid_t pid,
				bool nonblock)
{
	void __user *ubuf = u64_to_user_ptr(r->data);
	struct iov_iter iter;
	ssize_t ret;

	if (!access_ok(ubuf, r->len))
		return -EFAULT;
	iov_iter_ubuf(&iter, ITER_SOURCE, ubuf, r->len);
	if (!*held) {
		ret = shmring_wbatch_begin(ring, wb);
		if (ret)
			return ret;
		*held = true;
	}
	ret = shmring_wbatch_add(ring, wb, &iter, r->type, pid, nonblock);
	return ret < 0 ? ret : 0;
}

/*
 * SHMRING_IOC_WRITE_BATCH: descriptors and payloads are copied in (and
 * checksummed) outside wlock into a stage laid out as in the ring; wlock
 * is held only to make room, copy the stage in and number the records,
 * so many writers copy in parallel. Each record is atomic; records
 * staged together become visible together. A bad descriptor stops the
 * batch there; the records before it stay committed, and done says how
 * many.
 */
static long shmring_ioc_batch(struct file *file, struct shmring_ring *ring,
			      union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_batch_rec chunk[SHMRING_BATCH_CHUNK], *r;
	struct shmring_file *sf = file->private_data;
	bool nonblock = file->f_flags & O_NONBLOCK;
	struct shmring_batch *b = &a->batch;
	struct shmring_batch_rec __user *urec;
	pid_t pid = task_tgid_vnr(current);
	struct shmring_stage st = {};
	u32 i, have = 0, next = 0, done = 0;
	struct shmring_wbatch wb;
	bool held = false, fallback = false;
	int ret = 0, err;

	if (b->flags || b->nr > SHMRING_BATCH_MAX)
		return -EINVAL;
	if (shmring_is_zc(ring))
		return -EOPNOTSUPP;	/* writers fill chunks in place */
	urec = u64_to_user_ptr(b->recs);
	for (i = 0; i < b->nr; i++) {
		if (next == have) {
			have = min_t(u32, b->nr - i, SHMRING_BATCH_CHUNK);
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
		r = &chunk[next];
		if (r->flags || r->__reserved0) {
			ret = -EINVAL;
			break;
		}
		if (r->len > SHMRING_STAGE_REC || r->len > ring->max_record) {
			/* In ring order: what is staged goes first. */
			ret = shmring_batch_commit(ring, &st, nonblock, &done);
			if (!ret && !fallback && shmring_copy_ok(ring, r)) {
				u32 k = 1;

				while (next + k < have && shmring_copy_ok(ring, r + k))
					k++;
				if (held) {
					shmring_wbatch_end(ring, &wb);
					held = false;
				}
				ret = shmring_batch_copy(ring, r, k, pid, nonblock,
							 &fallback);
				if (ret > 0) {
					done += ret;
					next += ret;
					i += ret - 1;
					ret = 0;
					continue;
				}
				if (ret < 0)
					break;
				/* Its copy faulted: under wlock, as below. */
			}
			fallback = false;
			if (!ret)
				ret = shmring_batch_direct(ring, &wb, &held, r,
							   pid, nonblock);
			if (ret)
				break;
			done++;
			next++;
			continue;
		}
		if (held) {
			shmring_wbatch_end(ring, &wb);
			held = false;
		}
		if (!st.buf) {
			ret = shmring_stage_get(sf, &st);
			if (ret)
				break;
			st.cap = min_t(u64, SHMRING_STAGE_MAX, ring->data_size);
		}
		ret = shmring_stage_add(ring, &st, u64_to_user_ptr(r->data),
					r->len, r->type, pid);
		if (ret == -ENOSPC) {
			/* The stage is full: commit it, then stage this one. */
			ret = shmring_batch_commit(ring, &st, nonblock, &done);
			if (!ret)
				ret = shmring_stage_add(ring, &st,
							u64_to_user_ptr(r->data),
							r->len, r->type, pid);
		}
		if (ret)
			break;
		next++;
	}
	if (held)
		shmring_wbatch_end(ring, &wb);
	err = shmring_batch_commit(ring, &st, nonblock, &done);
	if (!ret)
		ret = err;
	shmring_stage_put(sf, &st);
	if (put_user(done, (u32 __user *)(uarg + offsetof(struct shmring_batch, done))))
		return -EFAULT;
	/* Records before a failing one stay committed; report how many. */
	return done ? 0 : ret;
}

static long shmring_ioc_set_opt(struct file *file, struct shmring_ring *ring,
				union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_opt *opt = &a->opt;

	switch (opt->opt) {
	case SHMRING_OPT_WRITE_TYPE:
		if (!(sf->oflags & SHMRING_O_WRITE))
			return -EBADF;
		if (opt->val > U32_MAX)
			return -EINVAL;
		WRITE_ONCE(sf->wtype, opt->val);
		return 0;
	case SHMRING_OPT_WATERMARK_BYTES:
	case SHMRING_OPT_WATERMARK_RECS:
		if (!(sf->oflags & SHMRING_O_READ))
			return -EBADF;
		if (opt->val > ring->data_size)
			return -EINVAL;
		/* Zero-copy rings: the kernel does not count their records. */
		if (shmring_is_zc(ring) && opt->val)
			return -EOPNOTSUPP;
		spin_lock(&ring->lock);
		if (opt->opt == SHMRING_OPT_WATERMARK_BYTES) {
			sf->cursor.wm_bytes = opt->val;
			sf->cursor.wm_recs = 0;
		} else {
			sf->cursor.wm_recs = opt->val;
			sf->cursor.wm_bytes = 0;
		}
		spin_unlock(&ring->lock);
		return 0;
	case SHMRING_OPT_READ_COMMIT:
		if (!(sf->oflags & SHMRING_O_READ))
			return -EBADF;
		if (opt->val > 1)
			return -EINVAL;
		return shmring_cursor_set_manual(&sf->cursor, opt->val);
	case SHMRING_OPT_ZC_WAKE:
		if (!(sf->oflags & SHMRING_O_READ))
			return -EBADF;
		if (opt->val > SHMRING_ZC_WAKE_CHUNK)
			return -EINVAL;
		if (!shmring_is_zc(ring) && opt->val)
			return -EOPNOTSUPP;
		/* Taken at the next wait: shmring_cursor_will_wait(). */
		spin_lock(&ring->lock);
		sf->cursor.zc_lazy = opt->val == SHMRING_ZC_WAKE_CHUNK;
		spin_unlock(&ring->lock);
		return 0;
	}
	return -EINVAL;
}

static long shmring_ioc_sub_list(struct file *file, struct shmring_ring *ring,
				 union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_sub_list *l = &a->sub_list;
	struct shmring_sub_info *infos;
	int ret = 0;

	if (l->__reserved0)
		return -EINVAL;
	l->nr = min_t(u32, l->nr, SHMRING_MAX_SUBS);
	infos = kcalloc(max_t(u32, l->nr, 1), sizeof(*infos), GFP_KERNEL);
	if (!infos)
		return -ENOMEM;
	l->nr = shmring_sub_list(ring, infos, l->nr, &l->total);
	if (l->nr && copy_to_user(u64_to_user_ptr(l->subs), infos,
				  l->nr * sizeof(*infos)))
		ret = -EFAULT;
	kfree(infos);
	return ret;
}

static long shmring_ioc_sub_del(struct file *file, struct shmring_ring *ring,
				union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_sub *sub;
	int ret;

	ret = shmring_check_name(&a->name, SHMRING_SUB_NAME_MAX);
	if (ret)
		return ret;
	sub = shmring_sub_remove(ring, a->name.name, current_fsuid(),
				 shmring_is_ring_owner(ring));
	if (IS_ERR(sub))
		return PTR_ERR(sub);
	shmring_uncharge(sub->owner, PAGE_SIZE, 0);
	shmring_sub_free(sub);
	shmring_wake_writers(ring);	/* it may have held them back */
	return 0;
}

static long shmring_ioc_kick(struct file *file, struct shmring_ring *ring,
			     union shmring_ioc_arg *a, void __user *uarg)
{
	if (shmring_is_zc(ring)) {
		/* A zero-copy writer committed and saw zc_sleepers ([W9]). */
		shmring_zc_wake(ring);
		if (!READ_ONCE(ring->hdr->writers_waiting))
			return 0;
	}
	shmring_kick(ring);
	return 0;
}

static long shmring_ioc_zc_chunk(struct file *file, struct shmring_ring *ring,
				 union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_file *sf = file->private_data;

	if (!shmring_is_zc(ring))
		return -EOPNOTSUPP;
	return shmring_zc_grant(ring, &sf->zc, &a->zc_chunk,
				file->f_flags & O_NONBLOCK);
}

static long shmring_ioc_commit(struct file *file, struct shmring_ring *ring,
			       union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_file *sf = file->private_data;

	if (!(sf->oflags & SHMRING_O_READ))
		return -EBADF;
	return shmring_cursor_commit(ring, &sf->cursor);
}

static long shmring_ioc_features(struct file *file, struct shmring_ring *unused,
				 union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_features *f = &a->features;

	f->abi_version = SHMRING_ABI_VERSION;
	f->features = SHMRING_FEAT_ALL;
	f->page_size = PAGE_SIZE;
	f->max_subs = SHMRING_MAX_SUBS;
	f->max_subs_other = SHMRING_MAX_SUBS_OTHER;
	f->max_readers = READ_ONCE(shmring_limits.max_readers);
	f->max_user_readers = READ_ONCE(shmring_limits.max_user_readers);
	f->max_rings = READ_ONCE(shmring_limits.max_rings);
	f->batch_max = SHMRING_BATCH_MAX;
	f->max_data_size = READ_ONCE(shmring_limits.max_size);
	f->max_total = READ_ONCE(shmring_limits.max_total);
	f->max_user = READ_ONCE(shmring_limits.max_user);
	return 0;
}

static long shmring_ioc_setattr(struct file *file, struct shmring_ring *unused,
				union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_setattr *sa = &a->setattr;

	if ((sa->flags & ~SHMRING_SETATTR_ALL) || !sa->flags ||
	    sa->__reserved0 || (sa->mode & ~0777))
		return -EINVAL;
	if (!shmring_name_valid(sa->name, sizeof(sa->name)))
		return -EINVAL;
	return shmring_registry_setattr(sa);
}

#define SHMRING_LIST_MAX	1024	/* entries returned by one call */

static long shmring_ioc_list(struct file *file, struct shmring_ring *unused,
			     union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_list *l = &a->list;
	struct shmring_ring_entry *out;
	int ret = 0;

	l->nr = min_t(u32, l->nr, SHMRING_LIST_MAX);
	out = kvcalloc(max_t(u32, l->nr, 1), sizeof(*out), GFP_KERNEL);
	if (!out)
		return -ENOMEM;
	l->nr = shmring_registry_list(out, l->nr, l->skip, &l->total);
	if (l->nr && copy_to_user(u64_to_user_ptr(l->rings), out,
				  l->nr * sizeof(*out)))
		ret = -EFAULT;
	kvfree(out);
	return ret;
}

static long shmring_ioc_seek(struct file *file, struct shmring_ring *ring,
			     union shmring_ioc_arg *a, void __user *uarg)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_seek *sk = &a->seek;
	int ret;

	if (!(sf->oflags & SHMRING_O_READ))
		return -EBADF;
	ret = shmring_cursor_seek(ring, &sf->cursor, sk->whence, sk->val);
	if (ret)
		return ret;
	sk->pos = READ_ONCE(sf->cursor.rp->pos) & ~SHMRING_POS_LAPPED;
	sk->seq = READ_ONCE(sf->cursor.rp->seq);
	return 0;
}

#define SHMRING_IOC_BOUND	BIT(0)	/* needs a file bound to a ring: ENOTCONN */
#define SHMRING_IOC_OUT		BIT(1)	/* copies min(size, sizeof) back */
#define SHMRING_IOC_SIZE_ONLY	BIT(2)	/* only the size is input */
#define SHMRING_IOC_WRITER	BIT(3)	/* needs SHMRING_O_WRITE: EBADF */

struct shmring_ioc_desc {
	unsigned int cmd;
	u16 ksize;			/* 0: no argument */
	u16 minsize;			/* SHMRING_*_SIZE_VER0 */
	u32 flags;
	long (*fn)(struct file *file, struct shmring_ring *ring,
		   union shmring_ioc_arg *a, void __user *uarg);
};

#define SHMRING_IOC(c, type, min, fl, f) \
	[_IOC_NR(c)] = { .cmd = (c), .ksize = sizeof(type), .minsize = (min), \
			 .flags = (fl), .fn = (f) }

/*
 * Dispatch on type, number and direction only: the size encoded in the
 * command is ignored, the struct's own size field is what counts, so a
 * struct can grow without a new ioctl number (drm_ioctl() does the same).
 */
static const struct shmring_ioc_desc shmring_iocs[] = {
	SHMRING_IOC(SHMRING_IOC_OPEN, struct shmring_open,
		    SHMRING_OPEN_SIZE_VER0, SHMRING_IOC_OUT, shmring_ioc_open),
	SHMRING_IOC(SHMRING_IOC_UNLINK, struct shmring_name,
		    SHMRING_NAME_SIZE_VER0, 0, shmring_ioc_unlink),
	SHMRING_IOC(SHMRING_IOC_INFO, struct shmring_info,
		    SHMRING_INFO_SIZE_VER0,
		    SHMRING_IOC_BOUND | SHMRING_IOC_OUT | SHMRING_IOC_SIZE_ONLY,
		    shmring_ioc_info),
	SHMRING_IOC(SHMRING_IOC_WRITE_BATCH, struct shmring_batch,
		    SHMRING_BATCH_SIZE_VER0,
		    SHMRING_IOC_BOUND | SHMRING_IOC_WRITER, shmring_ioc_batch),
	SHMRING_IOC(SHMRING_IOC_SET_OPT, struct shmring_opt,
		    SHMRING_OPT_SIZE_VER0, SHMRING_IOC_BOUND, shmring_ioc_set_opt),
	SHMRING_IOC(SHMRING_IOC_SUB_LIST, struct shmring_sub_list,
		    SHMRING_SUB_LIST_SIZE_VER0,
		    SHMRING_IOC_BOUND | SHMRING_IOC_OUT, shmring_ioc_sub_list),
	SHMRING_IOC(SHMRING_IOC_SUB_DEL, struct shmring_name,
		    SHMRING_NAME_SIZE_VER0, SHMRING_IOC_BOUND, shmring_ioc_sub_del),
	[_IOC_NR(SHMRING_IOC_KICK)] = { .cmd = SHMRING_IOC_KICK,
					.flags = SHMRING_IOC_BOUND,
					.fn = shmring_ioc_kick },
	SHMRING_IOC(SHMRING_IOC_FEATURES, struct shmring_features,
		    SHMRING_FEATURES_SIZE_VER0,
		    SHMRING_IOC_OUT | SHMRING_IOC_SIZE_ONLY, shmring_ioc_features),
	SHMRING_IOC(SHMRING_IOC_SETATTR, struct shmring_setattr,
		    SHMRING_SETATTR_SIZE_VER0, 0, shmring_ioc_setattr),
	SHMRING_IOC(SHMRING_IOC_LIST, struct shmring_list,
		    SHMRING_LIST_SIZE_VER0, SHMRING_IOC_OUT, shmring_ioc_list),
	[_IOC_NR(SHMRING_IOC_COMMIT)] = { .cmd = SHMRING_IOC_COMMIT,
					  .flags = SHMRING_IOC_BOUND,
					  .fn = shmring_ioc_commit },
	SHMRING_IOC(SHMRING_IOC_SEEK, struct shmring_seek,
		    SHMRING_SEEK_SIZE_VER0, SHMRING_IOC_BOUND | SHMRING_IOC_OUT,
		    shmring_ioc_seek),
	SHMRING_IOC(SHMRING_IOC_ZC_CHUNK, struct shmring_zc_chunk,
		    SHMRING_ZC_CHUNK_SIZE_VER0,
		    SHMRING_IOC_BOUND | SHMRING_IOC_WRITER | SHMRING_IOC_OUT,
		    shmring_ioc_zc_chunk),
};

/*
 * Copy an extensible struct in: its first __u32 is the caller's size.
 * Below the first layout: EINVAL; a larger struct must have a zero tail
 * past what this kernel knows: E2BIG (the kernel never writes past what
 * it knows, so a struct it filled before passes again). Output-only
 * structs start from zero.
 */
static int shmring_ioc_copy_in(const struct shmring_ioc_desc *d,
			       union shmring_ioc_arg *a, void __user *uarg,
			       u32 *usize)
{
	int ret;

	if (get_user(*usize, (u32 __user *)uarg))
		return -EFAULT;
	if (*usize < d->minsize)
		return -EINVAL;
	if (*usize > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(a, d->ksize, uarg, *usize);
	if (!ret && (d->flags & SHMRING_IOC_SIZE_ONLY))
		memset(a, 0, d->ksize);	/* all output: start from zero */
	return ret;
}

static long shmring_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct shmring_file *sf = file->private_data;
	void __user *uarg = (void __user *)arg;
	const struct shmring_ioc_desc *d;
	union shmring_ioc_arg a;
	struct shmring_ring *ring;
	unsigned int nr = _IOC_NR(cmd);
	u32 usize = 0;
	long ret;

	if (_IOC_TYPE(cmd) != SHMRING_IOC_MAGIC || nr >= ARRAY_SIZE(shmring_iocs))
		return -ENOTTY;
	d = &shmring_iocs[nr];
	if (!d->fn || _IOC_DIR(cmd) != _IOC_DIR(d->cmd))
		return -ENOTTY;
	ring = shmring_bound(file);
	if ((d->flags & SHMRING_IOC_BOUND) && !ring)
		return -ENOTCONN;
	if ((d->flags & SHMRING_IOC_WRITER) && !(sf->oflags & SHMRING_O_WRITE))
		return -EBADF;
	if (d->ksize) {
		memset(&a, 0, sizeof(a));
		ret = shmring_ioc_copy_in(d, &a, uarg, &usize);
		if (ret)
			return ret;
	}
	ret = d->fn(file, ring, &a, uarg);
	if (ret || !(d->flags & SHMRING_IOC_OUT))
		return ret;
	/* The caller's size is what it knows: copy no more, say how much. */
	usize = min_t(u32, usize, d->ksize);
	a.info.size = usize;	/* size leads every member of the union */
	return copy_to_user(uarg, &a, usize) ? -EFAULT : 0;
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
	if (shmring_is_zc(ring))
		return -EOPNOTSUPP;	/* writers fill chunks in place */
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
	if (sf->oflags & SHMRING_O_READ) {
		poll_wait(file, &sf->cursor.wq, wait);
		/* Now on the queue: let commits walk us (see the function). */
		shmring_cursor_will_wait(ring, &sf->cursor);
	}
	if (sf->oflags & SHMRING_O_WRITE)
		poll_wait(file, &ring->write_wq, wait);
	/* [R5] we are on the wait queues before looking at positions. */
	smp_mb();
	if ((sf->oflags & SHMRING_O_READ) && shmring_cursor_ready(ring, &sf->cursor))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (sf->oflags & SHMRING_O_WRITE) {
		/*
		 * Check, announce, check again: a reader that consumed
		 * before the announcement was visible kicked nobody.
		 */
		if (!shmring_can_write(ring) && !READ_ONCE(ring->unlinked))
			shmring_poll_wait_room(ring);
		if (shmring_can_write(ring))
			mask |= EPOLLOUT | EPOLLWRNORM;
	}
	if (READ_ONCE(ring->unlinked))
		mask |= EPOLLHUP | EPOLLERR;
	return mask;
}

/*
 * Mappings: offset 0 is the reader's own page (read-write, readers
 * only); offset PAGE_SIZE is the ring header followed by the data pages
 * twice (read-only, readers and zero-copy writers); SHMRING_ZC_MAP_OFF
 * is a zero-copy ring's data pages once, writable (zero-copy writers).
 * All must be MAP_SHARED and exact.
 */
static int shmring_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = shmring_bound(file);
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned long num;

	if (!ring)
		return -ENOTCONN;
	if (!(sf->oflags & SHMRING_O_READ) && !shmring_zc_mapper(sf, ring))
		return -EACCES;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff >= SHMRING_ZC_MAP_BASE >> PAGE_SHIFT) {
		/* Filled by faults (shmring_zc_vm_ops), so it can be fenced. */
		if (!shmring_zc_mapper(sf, ring))
			return -EACCES;
		if (vma->vm_pgoff != sf->zc.map_off >> PAGE_SHIFT ||
		    len != (unsigned long)ring->nr_pages << PAGE_SHIFT)
			return -EINVAL;
		vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP);
		vma->vm_ops = &shmring_zc_vm_ops;
		vma->vm_private_data = &sf->zc;
		return 0;
	}
	switch (vma->vm_pgoff) {
	case 0:
		if (!(sf->oflags & SHMRING_O_READ))
			return -EACCES;
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

/*
 * One snapshot of the producer side per ring, so the ring line and its
 * reader lines agree: lag is computed against the same head.
 */
struct shmring_snap {
	struct seq_file *m;
	u64 head;
	u64 head_seq;
	u64 tail;
	u64 tail_seq;
	bool show_pid;
};

static u64 pos_lag(u64 pos, u64 head)
{
	return (s64)(head - pos) > 0 ? head - pos : 0;
}

static void shmring_show_cursor(struct seq_file *m, const struct shmring_snap *sn,
				const char *what, const char *name, pid_t pid,
				struct shmring_reader *rp)
{
	u64 raw = READ_ONCE(rp->pos), seq = READ_ONCE(rp->seq);
	u64 pos = raw & ~SHMRING_POS_LAPPED, lost = READ_ONCE(rp->records_lost);
	u64 read = READ_ONCE(rp->records_read);

	/* A commit a killed reader did not finish: as recovery will see it. */
	if (shmring_txn_committed(rp)) {
		seq = READ_ONCE(rp->txn_seq);
		read = READ_ONCE(rp->txn_read);
		lost = READ_ONCE(rp->txn_lost);
	}

	/*
	 * Lapped (by the swap to the tail, shmring_cursor_lap()) and not
	 * read since: the reader counts the gap with its next commit; show
	 * it already, so the lines add up to the ring's count.
	 */
	if ((raw & SHMRING_POS_LAPPED) && pos == sn->tail &&
	    (s64)(sn->tail_seq - seq) > 0) {
		lost += sn->tail_seq - seq;
		seq = sn->tail_seq;
	}
	seq_printf(m, "  %s %s pid=%d pos=%llu seq=%llu lag_bytes=%llu lag_records=%llu read=%llu lost=%llu last_read_ns=%llu\n",
		   what, name, sn->show_pid ? pid : 0, pos, seq,
		   pos_lag(pos, sn->head), pos_lag(seq, sn->head_seq),
		   read, lost,
		   READ_ONCE(rp->last_read_ns));
}

static void shmring_show_sub(struct shmring_sub *sub, void *arg)
{
	struct shmring_snap *sn = arg;

	shmring_show_cursor(sn->m, sn, sub->attached ? "sub+" : "sub",
			    sub->name, 0, sub->rp);
}

/*
 * A ring is shown to who may read it (or has CAP_IPC_OWNER in its user
 * namespace); reader pids only to its owner. Unlike sysvipc, which shows
 * every object to everyone, ring names and pids say what a host runs.
 */
static void shmring_show_ring(struct seq_file *m, struct shmring_ring *ring)
{
	struct user_namespace *uns = seq_user_ns(m);
	struct shmring_snap sn;
	struct shmring_cursor *c;

	if (!shmring_may_read(ring))
		return;
	sn.m = m;
	sn.show_pid = shmring_is_ring_owner(ring);
	/* Lockless, as SHMRING_IOC_INFO: the view never waits for writers. */
	sn.head_seq = READ_ONCE(ring->head_seq);
	sn.head = READ_ONCE(ring->head);
	seq_printf(m, "ring %s size=%llu policy=%s max_record=%u flags=%#x mode=%04o uid=%u gid=%u head=%llu tail=%llu head_seq=%llu tail_seq=%llu bytes=%llu records=%llu lost=%llu writer_waits=%llu last_write_ns=%llu readers=%u subs=%u",
		   ring->name, ring->data_size, shmring_policy_names[ring->policy],
		   ring->max_record, ring->flags, ring->mode,
		   from_kuid_munged(uns, ring->uid),
		   from_kgid_munged(uns, ring->gid), sn.head,
		   READ_ONCE(ring->tail), sn.head_seq,
		   READ_ONCE(ring->tail_seq), READ_ONCE(ring->bytes_written),
		   READ_ONCE(ring->records_written), READ_ONCE(ring->records_lost),
		   READ_ONCE(ring->writer_waits),
		   READ_ONCE(ring->hdr->last_write_ns), READ_ONCE(ring->nr_readers),
		   READ_ONCE(ring->nr_subs));
	if (shmring_is_zc(ring))
		seq_printf(m, " zc_chunk=%u zc_open=%u zc_closed=%llu zc_sleepers=%u discarded=%llu",
			   ring->zc_chunk, READ_ONCE(ring->hdr->zc_open),
			   READ_ONCE(ring->hdr->zc_closed),
			   READ_ONCE(ring->hdr->zc_sleepers),
			   READ_ONCE(ring->zc_discarded));
	seq_putc(m, '\n');
	spin_lock(&ring->lock);
	/* Laps happen under ring->lock, after the tail is chosen. */
	sn.tail = READ_ONCE(ring->tail);
	sn.tail_seq = READ_ONCE(ring->tail_seq);
	list_for_each_entry(c, &ring->readers, node)
		shmring_show_cursor(m, &sn, "reader", c->sub ? c->sub->name : "-",
				    c->pid, c->rp);
	shmring_sub_for_each(ring, shmring_show_sub, &sn);
	spin_unlock(&ring->lock);
}

/*
 * Who may see what is decided with the credentials of whoever opened
 * /proc/shmring, not of whoever reads it (as seq_user_ns() does for ids):
 * a file handed to a more privileged process shows it no more than its
 * opener could see.
 */
static int shmring_proc_show(struct seq_file *m, void *v)
{
	const struct cred *old = override_creds(m->file->f_cred);

	seq_printf(m, "shmring %s abi=%d total_bytes=%llu\n", SHMRING_VERSION,
		   SHMRING_ABI_VERSION, shmring_registry_total());
	shmring_registry_show(m, shmring_show_ring);
	revert_creds(old);
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
	BUILD_BUG_ON(offsetof(struct shmring_attr, zc_chunk) != 20);
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
	BUILD_BUG_ON(offsetof(struct shmring_info, map_zc_off) != 240);
	BUILD_BUG_ON(offsetof(struct shmring_info, map_zc_len) != 248);
	BUILD_BUG_ON(offsetof(struct shmring_info, records_discarded) != 256);
	BUILD_BUG_ON(offsetof(struct shmring_info, read_discarded) != 264);
	BUILD_BUG_ON(offsetof(struct shmring_info, read_corrupt) != 272);
	BUILD_BUG_ON(sizeof(struct shmring_info) != 280);
	BUILD_BUG_ON(offsetof(struct shmring_zc_chunk, flags) != 4);
	BUILD_BUG_ON(offsetof(struct shmring_zc_chunk, start) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_zc_chunk, end) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_zc_chunk, closed_at) != 24);
	BUILD_BUG_ON(offsetof(struct shmring_zc_chunk, closed_recs) != 32);
	BUILD_BUG_ON(offsetof(struct shmring_zc_chunk, revoked) != 36);
	BUILD_BUG_ON(sizeof(struct shmring_zc_chunk) != SHMRING_ZC_CHUNK_SIZE_VER0);
	BUILD_BUG_ON(offsetof(struct shmring_rec, seq) != 8);
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
	BUILD_BUG_ON(offsetof(struct shmring_hdr, zc_chunk) != 36);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, zc_closed) != 40);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, zc_closed_seq) != 48);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, zc_sleepers) != 56);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, zc_open) != 60);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, head) != 64);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, head_seq) != 72);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, last_write_ns) != 80);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, writers_waiting) != 92);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, wait_pos) != 96);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, wait_gen) != 104);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, realtime_offset_ns) != 112);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, tail) != 128);
	BUILD_BUG_ON(offsetof(struct shmring_hdr, tail_seq) != 136);
	BUILD_BUG_ON(sizeof(struct shmring_hdr) != 192);
	BUILD_BUG_ON(offsetof(struct shmring_reader, lap_seq) != 80);
	BUILD_BUG_ON(sizeof(struct shmring_reader) != 128);
	BUILD_BUG_ON(offsetof(struct shmring_reader, seq) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_reader, records_lost) != 32);
	BUILD_BUG_ON(offsetof(struct shmring_reader, txn_pos) != 40);
	BUILD_BUG_ON(offsetof(struct shmring_reader, lap_from) != 72);
	BUILD_BUG_ON(offsetof(struct shmring_reader, txn_seq) != 48);
	BUILD_BUG_ON(offsetof(struct shmring_reader, txn_read) != 56);
	BUILD_BUG_ON(offsetof(struct shmring_reader, txn_lost) != 64);
	BUILD_BUG_ON(sizeof(struct shmring_setattr) != SHMRING_SETATTR_SIZE_VER0);
	BUILD_BUG_ON(offsetof(struct shmring_setattr, flags) != 4);
	BUILD_BUG_ON(offsetof(struct shmring_setattr, uid) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_setattr, gid) != 12);
	BUILD_BUG_ON(offsetof(struct shmring_setattr, mode) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_setattr, name) != 24);
	BUILD_BUG_ON(sizeof(struct shmring_list) != SHMRING_LIST_SIZE_VER0);
	BUILD_BUG_ON(offsetof(struct shmring_list, rings) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_list, skip) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_list, total) != 20);
	BUILD_BUG_ON(sizeof(struct shmring_ring_entry) != 152);
	BUILD_BUG_ON(offsetof(struct shmring_ring_entry, attr) != 64);
	BUILD_BUG_ON(offsetof(struct shmring_ring_entry, head_seq) != 104);
	BUILD_BUG_ON(offsetof(struct shmring_ring_entry, records_lost) != 120);
	BUILD_BUG_ON(offsetof(struct shmring_ring_entry, uid) != 128);
	BUILD_BUG_ON(offsetof(struct shmring_ring_entry, subs) != 144);
	BUILD_BUG_ON(sizeof(struct shmring_open) != SHMRING_OPEN_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmring_batch) != SHMRING_BATCH_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmring_opt) != SHMRING_OPT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmring_sub_list) != SHMRING_SUB_LIST_SIZE_VER0);
	BUILD_BUG_ON(offsetofend(struct shmring_info, attr) != SHMRING_INFO_SIZE_VER0);
	BUILD_BUG_ON(offsetofend(struct shmring_features, page_size) !=
		     SHMRING_FEATURES_SIZE_VER0);
	BUILD_BUG_ON(SHMRING_MAX_SUBS_OTHERS + SHMRING_MAX_SUBS_OTHER > SHMRING_MAX_SUBS);
	BUILD_BUG_ON(sizeof(struct shmring_seek) != SHMRING_SEEK_SIZE_VER0);
	BUILD_BUG_ON(offsetof(struct shmring_seek, whence) != 4);
	BUILD_BUG_ON(offsetof(struct shmring_seek, val) != 8);
	BUILD_BUG_ON(offsetof(struct shmring_seek, pos) != 16);
	BUILD_BUG_ON(offsetof(struct shmring_seek, seq) != 24);
	BUILD_BUG_ON(sizeof(struct shmring_hdr) > PAGE_SIZE);
	BUILD_BUG_ON(sizeof(struct shmring_reader) > PAGE_SIZE);
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
	misc_deregister(&shmring_misc);
	remove_proc_entry("shmring", NULL);
	/* No file is open (each pins the module): only registry refs remain. */
	shmring_registry_exit();
}

module_init(shmring_init);
module_exit(shmring_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("shmring developers");
MODULE_DESCRIPTION("Kernel-owned shared ring of framed records at /dev/shmring");
MODULE_VERSION(SHMRING_VERSION);
