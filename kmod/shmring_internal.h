/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shmring internals shared by the module's files and its KUnit suite.
 * docs/design.md explains the layout and the memory-ordering protocol.
 */
#ifndef SHMRING_INTERNAL_H
#define SHMRING_INTERNAL_H

#include <linux/types.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/uidgid.h>
#include <linux/uio.h>
#include <uapi/linux/shmring.h>

#include "shmring_compat.h"

#if BITS_PER_LONG != 64
#error "shmring needs a 64-bit kernel (64-bit positions read with READ_ONCE)"
#endif

struct shmring_ns;

/* Module-wide limits, set by module parameters (shmring_main.c). */
struct shmring_limits {
	u64 default_size;	/* data size of a ring created with size 0 */
	u64 max_size;		/* largest data size */
	u64 max_total;		/* all rings together, bytes */
	u64 max_user;		/* rings charged to one user, bytes */
	u32 max_rings;		/* rings in one namespace */
	u32 max_readers;	/* attached readers per ring */
	u32 max_user_readers;	/* attached readers of one user */
};

extern struct shmring_limits shmring_limits;
/*
 * mmap offsets of zero-copy writers' writable data areas (shmring_info):
 * one range per writer file, so that revoking a chunk unmaps it from
 * that writer's mappings only (unmap_mapping_range() on the device's
 * address space).
 */
#define SHMRING_ZC_MAP_BASE	(1ULL << 40)
#define SHMRING_ZC_MAP_SHIFT	32		/* a range per writer: 4 GiB */

/* Zero-copy rings: an open chunk idle this long is revoked (ms). */
extern unsigned int shmring_zc_idle_ms;

/*
 * A zero-copy writer (a file opened with SHMRING_O_WRITE on a zero-copy
 * ring) and the chunk it holds. Under ring->wlock.
 */
struct shmring_zc_writer {
	struct list_head node;		/* in ring->zc_open while open */
	bool open;
	u64 start;			/* the open chunk */
	u64 scan;			/* its records before this are counted */
	u32 recs;			/* records in [start, scan) */
	u64 bytes;			/* their payload bytes */
	u64 moved;			/* jiffies when scan last moved */
	/* The last close, reported by the next SHMRING_IOC_ZC_CHUNK. */
	bool closed;
	bool revoked;
	u64 closed_at;
	u32 closed_recs;
	/*
	 * The writable mapping (shmring_zc_vm_ops). A revoked chunk is
	 * fenced: unmapped from this writer, whose faults there map private
	 * pages of SHMRING_ZC_FENCE_WORD (one per page, so its own stores
	 * into one never hide the fence in another), until its next chunk
	 * request; so a writer
	 * stopped mid-record cannot store into space granted to another.
	 * map_lock orders faults against fencing.
	 */
	struct shmring_ring *ring;
	struct address_space *mapping;
	u64 map_off;
	int map_id;
	struct mutex map_lock;
	struct page **junk;		/* a page per page of the fenced chunk */
	bool fenced;
	u64 fence_off;			/* data offset of the fenced chunk */
};

/* A durable subscription: a cursor that outlives its readers. */
struct shmring_sub {
	struct list_head node;		/* in ring->subs, under ring->lock */
	char name[SHMRING_SUB_NAME_MAX];
	struct page *page;		/* struct shmring_reader, user-mapped */
	struct shmring_reader *rp;
	kuid_t owner;			/* creator: charged, may attach/delete */
	bool shared;			/* anyone who may read may attach */
	bool other;			/* owner is not the ring's owner */
	bool attached;			/* a reader uses it right now */
	u64 last_attach_ns;
};

/* One reading file. Its cursor is its own page or a subscription's. */
struct shmring_cursor {
	struct list_head node;		/* in ring->readers, under ring->lock */
	struct list_head wnode;		/* in ring->waiters, under ring->lock */
	struct shmring_reader *rp;	/* where the reader keeps its position */
	struct page *page;		/* page of rp (own or the sub's) */
	struct shmring_sub *sub;	/* NULL for an ephemeral reader */
	wait_queue_head_t wq;		/* this reader's poll/read sleepers */
	struct mutex read_lock;		/* serialises read(2) on this file */
	u64 wm_bytes;			/* wake when this many bytes pending */
	u64 wm_recs;			/* wake when this many records pending */
	/*
	 * Zero-copy rings, SHMRING_OPT_ZC_WAKE: this reader sleeps without
	 * asking writers to kick (not in hdr->zc_sleepers) and is woken when
	 * a chunk closes or by the idle work. zc_lazy is the option (under
	 * ring->lock), waits_lazy how the cursor joined the waiters.
	 */
	bool zc_lazy;
	bool waits_lazy;
	pid_t pid;			/* tgid of the opener, for the view */
	bool tap;			/* never holds writers back */
	bool other;			/* not owner nor capable: max_readers */
	/*
	 * SHMRING_OPT_READ_COMMIT: read(2) reads from rpos/rseq (under
	 * read_lock) and SHMRING_IOC_COMMIT stores them to rp with what
	 * was read and lost meanwhile.
	 */
	bool manual;
	u64 rpos;
	u64 rseq;
	u64 rraw;			/* rp->pos when the read-ahead began */
	u64 rrecs;
	u64 rlost;
	/* Zero-copy: what read(2) skipped (under read_lock). */
	u64 rdiscarded;
	u64 rcorrupt;
};

/* What a file asks of a durable subscription when it attaches. */
struct shmring_sub_req {
	const char *name;
	kuid_t uid;			/* the caller's fsuid */
	bool capable;			/* CAP_IPC_OWNER in the ring's user ns */
	bool ring_owner;		/* the caller owns the ring */
	bool from_head;			/* a new subscription starts at head */
	bool shared;			/* a new subscription is SUB_SHARED */
	struct shmring_sub *fresh;	/* consumed if created; NULL: ENOENT */
};


struct shmring_ring {
	struct kref ref;		/* registry link + each bound file */
	struct list_head node;		/* in ns->rings, under shmring_lock */
	struct shmring_ns *ns;
	/* The user namespace owning the ring's IPC namespace: capabilities. */
	struct user_namespace *user_ns;
	char name[SHMRING_NAME_MAX];
	bool unlinked;			/* under shmring_lock; READ_ONCE else */

	/* Owner and permissions, like an IPC object (under shmring_lock). */
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
	kuid_t charged;			/* user charged for the memory */
	u64 charge;			/* bytes charged */

	/* Geometry (immutable after creation). */
	u64 data_size;
	u64 mask;
	u32 max_record;
	u32 policy;
	u32 flags;
	unsigned int nr_pages;		/* data pages */
	struct page *hdr_page;
	struct page **pages;		/* nr_pages data pages */
	struct shmring_hdr *hdr;	/* page_address(hdr_page) */
	void *data;			/* data pages vmapped twice in a row */

	/*
	 * wlock serialises writers; it may be held across user copies.
	 * lock (a spinlock) protects the readers and subs lists and is
	 * taken under wlock, never the other way round.
	 */
	struct mutex wlock;
	spinlock_t lock;
	struct list_head readers;
	/*
	 * Readers that waited since a writer last looked (poll, epoll,
	 * read(2)): the only ones a commit walks to wake, so readers that
	 * never wait cost a commit nothing. Under ring->lock.
	 */
	struct list_head waiters;
	struct list_head subs;
	unsigned int nr_readers;
	unsigned int nr_readers_other;	/* cursors with ->other */
	unsigned int nr_subs;
	unsigned int nr_subs_other;	/* subs whose owner is not uid */
	wait_queue_head_t write_wq;	/* lossless writers and POLLOUT */
	u32 nr_blocked;			/* writers asleep for room, under lock */
	bool poll_waiting;		/* a writer polled without POLLOUT */
	bool want_set;			/* want_pos holds a waiter's need */
	u64 want_pos;			/* lowest need of the waiters, under lock */
	u64 want_gen;			/* publications of want_pos, under lock */

	/* Producer state, written under wlock with WRITE_ONCE. */
	u64 head;
	u64 tail;
	u64 head_seq;
	u64 last_tstamp;		/* tstamp_ns of the last record (wlock) */
	u64 tail_seq;
	/*
	 * Copy rings: records reserved under wlock whose payload is being
	 * copied from userspace with nothing held (struct shmring_copy, in
	 * position order, under wlock). Records are complete up to the
	 * first of them, or up to head: that frontier (shmring_frontier())
	 * is what hdr->head publishes.
	 */
	struct list_head copying;

	/* Statistics, written under wlock with WRITE_ONCE. */
	u64 bytes_written;
	u64 records_written;
	u64 records_lost;
	u64 writer_waits;
	u64 zc_discarded;		/* reservations voided (under wlock) */

	/*
	 * Zero-copy rings (zc_chunk != 0), shmring_zc.c. Under wlock:
	 * zc_open lists the writers holding a chunk, by position; every
	 * chunk below zc_closed is closed and zc_recs[] holds its records,
	 * indexed by (pos / zc_chunk) % zc_nr. nr_waiters - nr_lazy
	 * (ring->lock) mirrors the waiters list into hdr->zc_sleepers.
	 */
	u32 zc_chunk;
	u32 zc_nr;
	u32 *zc_recs;
	struct list_head zc_open;
	u32 nr_zc_open;
	u64 zc_closed;
	u64 zc_closed_seq;
	u32 nr_waiters;
	u32 nr_lazy;			/* of them SHMRING_ZC_WAKE_CHUNK, ring->lock */
	struct delayed_work zc_idle_work;
};

static inline bool shmring_is_zc(const struct shmring_ring *ring)
{
	return ring->zc_chunk != 0;
}

/*
 * Large records of WRITE_BATCH may be copied with wlock dropped
 * (shmring_wbatch_reserve()): lossless copy rings only, as an overwrite
 * ring's reclaim would have to wait for copies.
 */
static inline bool shmring_copies_unlocked(const struct shmring_ring *ring)
{
	return ring->policy == SHMRING_POLICY_LOSSLESS && !shmring_is_zc(ring);
}

/* Whether one more cursor like @c may attach: EUSERS. Under ring->lock. */
static inline int shmring_reader_slot(const struct shmring_ring *ring,
				      const struct shmring_cursor *c,
				      u32 max_readers)
{
	return c->other && ring->nr_readers_other >= max_readers ? -EUSERS : 0;
}

/* Pure arithmetic, tested by KUnit. */
static inline u64 shmring_rec_total(u32 len)
{
	return SHMRING_REC_TOTAL((u64)len);
}

bool shmring_size_valid(u64 size, u64 max_size);
int shmring_attr_check(struct shmring_attr *attr,
		       const struct shmring_limits *lim);
bool shmring_name_valid(const char *name, size_t max);
void shmring_cursor_will_wait(struct shmring_ring *ring, struct shmring_cursor *c);
u64 shmring_clamp_pos(u64 pos, u64 tail, u64 head);

/*
 * Did the cursor move that txn_* describe commit (struct shmring_reader)?
 * A lapped pos no longer names it; lap_from, where the lap found the
 * cursor, does.
 */
static inline bool shmring_txn_committed(const struct shmring_reader *rp)
{
	/* [R6] pairs with [W6]: lap_from is stored before the lapped pos. */
	u64 pos = smp_load_acquire(&rp->pos);

	if (pos & SHMRING_POS_LAPPED)
		return READ_ONCE(rp->txn_pos) == READ_ONCE(rp->lap_from);
	return READ_ONCE(rp->txn_pos) == pos;
}
u64 shmring_cursor_lap(struct shmring_reader *rp, u64 old_tail, u64 tail,
		       u64 tail_seq, u64 head, u64 recs);

/* Ring core (shmring_ring.c). */
struct shmring_ring *shmring_ring_alloc(const struct shmring_attr *attr,
					const char *name);
void shmring_ring_free(struct shmring_ring *ring);
void shmring_ring_set_start(struct shmring_ring *ring, u64 pos, u64 seq);
ssize_t shmring_ring_write(struct shmring_ring *ring, struct iov_iter *from,
			   u32 type, pid_t pid, bool nonblock);

/* Consumer-side bookkeeping shared by read(2). */
struct shmring_rstate {
	struct shmring_reader *rp;	/* commit each record here; NULL: read ahead */
	u64 raw;			/* rp->pos as last loaded or swapped */
	u64 pos;
	u64 seq;
	u64 lost;
	u64 recs;
	u64 discarded;			/* zero-copy: voided reservations skipped */
	u64 corrupt;			/* zero-copy: corrupt stretches skipped */
	size_t done;
	bool moved;			/* zero-copy: skipped chunk rests */
};

/* A batch of writes made visible at once (shmring_ring.c). */
struct shmring_wbatch {
	bool locked;		/* wlock held */
	u64 now;		/* SHMRING_REC_CLOCK, read before taking wlock */
	u64 real;		/* CLOCK_REALTIME, read with it */
	u64 pub_head;		/* hdr->head as last published */
	u64 pub_seq;		/* hdr->head_seq with it */
	u64 woken_head;		/* head the readers were last told about */
	u64 woken_seq;		/* head_seq at woken_head */
	bool baton;		/* waited for room: wake the next writer */
};

/*
 * Records staged outside wlock for one shmring_wbatch_put(): headers and
 * payloads laid out as in the ring (the copy ioctl WRITE_BATCH makes).
 */
struct shmring_stage {
	void *buf;
	u64 cap;		/* bytes at buf */
	u64 bytes;		/* staged so far */
	u64 payload;		/* payload bytes among them */
	u32 nr;			/* records */
	u32 last_len;		/* the last record's payload length */
};

static inline void shmring_stage_reset(struct shmring_stage *st)
{
	st->bytes = 0;
	st->payload = 0;
	st->nr = 0;
	st->last_len = 0;
}

void *shmring_stage_room(struct shmring_stage *st, u32 len);
void shmring_stage_seal(struct shmring_ring *ring, struct shmring_stage *st,
			u32 len, u32 type, pid_t pid);
int shmring_stage_add(struct shmring_ring *ring, struct shmring_stage *st,
		      const void __user *src, u32 len, u32 type, pid_t pid);
int shmring_wbatch_begin(struct shmring_ring *ring, struct shmring_wbatch *wb);
ssize_t shmring_wbatch_add(struct shmring_ring *ring, struct shmring_wbatch *wb,
			   struct iov_iter *from, u32 type, pid_t pid,
			   bool nonblock);
void shmring_wbatch_end(struct shmring_ring *ring, struct shmring_wbatch *wb);
int shmring_wbatch_put(struct shmring_ring *ring, struct shmring_wbatch *wb,
		       struct shmring_stage *st, bool nonblock);

/*
 * Records being copied with wlock dropped (lossless copy rings, runs of
 * large records of SHMRING_IOC_WRITE_BATCH): reserved by
 * shmring_wbatch_reserve(), on ring->copying from the first of them until
 * shmring_copy_done(). Zeroed by the caller before the first reserve.
 */
struct shmring_copy {
	struct list_head node;
	u64 start;		/* the first record's position */
	u64 seq;		/* and sequence number */
	u32 nr;			/* records reserved */
};

int shmring_wbatch_reserve(struct shmring_ring *ring, struct shmring_wbatch *wb,
			   u32 len, u32 type, pid_t pid, bool nonblock,
			   struct shmring_copy *cp, struct shmring_rec **recp);
void shmring_copy_done(struct shmring_ring *ring, struct shmring_copy *cp,
		       u32 discarded, u64 discarded_bytes);
void shmring_frontier(struct shmring_ring *ring, u64 *pos, u64 *seq);
ssize_t shmring_ring_read(struct shmring_ring *ring, struct shmring_cursor *c,
			  struct iov_iter *to, bool nonblock);
void shmring_cursor_init(struct shmring_cursor *c, struct shmring_reader *rp,
			 struct page *page);
void shmring_cursor_place(struct shmring_ring *ring, struct shmring_reader *rp,
			  bool from_head);
void shmring_cursor_link(struct shmring_ring *ring, struct shmring_cursor *c);
int shmring_attach_cursor(struct shmring_ring *ring, struct shmring_cursor *c,
			  bool from_head);
void shmring_detach_cursor(struct shmring_ring *ring, struct shmring_cursor *c);
u64 shmring_cursor_pending(struct shmring_ring *ring, struct shmring_reader *rp,
			   u64 *recs);
bool shmring_can_write(struct shmring_ring *ring);
bool shmring_cursor_ready(struct shmring_ring *ring, struct shmring_cursor *c);
int shmring_cursor_seek(struct shmring_ring *ring, struct shmring_cursor *c,
			u32 whence, u64 val);
int shmring_cursor_set_manual(struct shmring_cursor *c, bool on);
int shmring_cursor_commit(struct shmring_ring *ring, struct shmring_cursor *c);
void shmring_poll_wait_room(struct shmring_ring *ring);
void shmring_kick(struct shmring_ring *ring);
void shmring_ring_kill(struct shmring_ring *ring);
void shmring_wake_writers(struct shmring_ring *ring);

/* Ring internals the zero-copy code shares (shmring_ring.c). */
bool shmring_pos_before(u64 a, u64 b);
int shmring_wait_room(struct shmring_ring *ring, u64 total);
void shmring_pass_room(struct shmring_ring *ring);
void shmring_announce(struct shmring_ring *ring, int blocked, bool poll,
		      u64 pos);
u64 shmring_need_pos(struct shmring_ring *ring, u64 total);
int shmring_make_room(struct shmring_ring *ring, u64 total);
void shmring_waiter_del(struct shmring_ring *ring, struct shmring_cursor *c);
void shmring_cursor_at(const struct shmring_cursor *c, u64 *pos, u64 *seq);

/* Zero-copy rings (shmring_zc.c). */
int shmring_zc_attr_check(struct shmring_attr *attr, u64 page_size);
int shmring_zc_init(struct shmring_ring *ring, u32 chunk);
void shmring_zc_free(struct shmring_ring *ring);
void shmring_zc_set_start(struct shmring_ring *ring, u64 pos, u64 seq);
int shmring_zc_writer_init(struct shmring_ring *ring, struct shmring_zc_writer *w,
			   struct address_space *mapping);
void shmring_zc_writer_free(struct shmring_zc_writer *w);
extern const struct vm_operations_struct shmring_zc_vm_ops;
int shmring_zc_grant(struct shmring_ring *ring, struct shmring_zc_writer *w,
		     struct shmring_zc_chunk *a, bool nonblock);
void shmring_zc_release(struct shmring_ring *ring, struct shmring_zc_writer *w);
u64 shmring_zc_reclaim_step(struct shmring_ring *ring, u64 tail, u64 *seq);
u64 shmring_zc_count_unread(struct shmring_ring *ring, u64 from, u64 to,
			    u64 min);
bool shmring_zc_ready(struct shmring_ring *ring, u64 pos);
void shmring_zc_wake(struct shmring_ring *ring);
void shmring_zc_waiting(struct shmring_ring *ring);
int shmring_zc_copy_records(struct shmring_ring *ring, struct iov_iter *to,
			    struct shmring_rstate *st);
bool shmring_rstate_commit(struct shmring_rstate *st, u64 next);

/* Durable subscriptions (shmring_sub.c). */
struct shmring_sub *shmring_sub_alloc(void);
void shmring_sub_free(struct shmring_sub *sub);
int shmring_sub_attach(struct shmring_ring *ring, struct shmring_cursor *c,
		       struct shmring_sub_req *req);
struct shmring_sub *shmring_sub_remove(struct shmring_ring *ring,
				       const char *name, kuid_t uid,
				       bool may_any);
u32 shmring_sub_list(struct shmring_ring *ring, struct shmring_sub_info *infos,
		     u32 nr, u32 *total);
void shmring_sub_free_all(struct shmring_ring *ring);
u64 shmring_sub_min_pos(struct shmring_ring *ring, u64 tail, u64 head, u64 min);
u64 shmring_sub_lap(struct shmring_ring *ring, u64 old_tail, u64 tail,
		    u64 tail_seq, u64 recs, u64 min);
void shmring_sub_for_each(struct shmring_ring *ring,
			  void (*fn)(struct shmring_sub *sub, void *arg),
			  void *arg);

/* Registry, permissions and caps (shmring_registry.c). */
struct seq_file;
struct shmring_ring *shmring_registry_get(struct shmring_open *o);
void shmring_ring_put(struct shmring_ring *ring);
int shmring_registry_unlink(const char *name);
int shmring_registry_setattr(const struct shmring_setattr *sa);
u32 shmring_registry_list(struct shmring_ring_entry *out, u32 nr, u32 skip,
			  u32 *total);
void shmring_registry_show(struct seq_file *m,
			   void (*show)(struct seq_file *m,
					struct shmring_ring *ring));
u64 shmring_registry_total(void);
void shmring_registry_exit(void);
int shmring_charge(kuid_t uid, u64 bytes, u32 readers);
void shmring_uncharge(kuid_t uid, u64 bytes, u32 readers);
bool shmring_ring_capable(const struct shmring_ring *ring);
bool shmring_is_ring_owner(const struct shmring_ring *ring);
bool shmring_may_read(const struct shmring_ring *ring);

#endif /* SHMRING_INTERNAL_H */
