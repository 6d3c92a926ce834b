/* SPDX-License-Identifier: MIT */
/*
 * libshmring: open named shmring rings, write records, read them in place.
 *
 * Conventions (as in liburing):
 *   - functions return 0 or a count on success and -errno on failure;
 *     errno is left as the caller had it;
 *   - shmring_strerror() turns a return value into text.
 *
 * Thread safety: writing (shmring_write*, shmring_write_batch) is safe
 * from any number of threads and processes on one handle or many;
 * zero-copy writing (shmring_zc_*) is safe from any number of handles,
 * one thread at a time on each. Reading
 * (shmring_peek/consume/read/wait/consume_n) uses the handle's cursor:
 * one thread reads through a handle at a time; open one handle per
 * reading thread. A ring set and the handles in it are used by one
 * thread at a time.
 *
 * Memory ordering: the kernel publishes a record by storing the ring's
 * head with release semantics after writing the record; shmring_peek()
 * loads head with acquire. shmring_consume() stores the reader position
 * with release, so the kernel never reuses bytes a reader still reads.
 * In an overwrite ring, a record may be overwritten while the caller
 * holds the pointer shmring_peek() gave: shmring_consume() then returns
 * -ESTALE and counts the record as lost. Copy what you keep before
 * calling shmring_consume(), or let shmring_read() copy and retry.
 * A reader killed at any instruction of shmring_consume() resumes at
 * that record or the next one (at-least-once by one record).
 * docs/design.md has the full protocol.
 *
 * Ring contents are untrusted: every header is validated before use and
 * corruption is reported as -EBADMSG, never a crash.
 */
#ifndef LIBSHMRING_H
#define LIBSHMRING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/shmring.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "shmring-version.h"	/* SHMRING_LIB_VERSION_MAJOR, _MINOR (from VERSION) */

/* Library-only open flag: the handle's file is O_NONBLOCK. */
#define SHMRING_O_NONBLOCK	(1U << 31)

struct shmring;

/* A record as shmring_peek() returns it: pointers into the mapping. */
struct shmring_record {
	const void *data;	/* payload, valid until shmring_consume() */
	uint32_t len;
	uint32_t type;
	uint64_t seq;
	uint64_t tstamp_ns;	/* CLOCK_BOOTTIME (SHMRING_REC_CLOCK): order, intervals */
	uint32_t pid;
	uint32_t flags;		/* SHMRING_REC_* */
	uint32_t csum;		/* valid if flags & SHMRING_REC_CSUM */
	uint32_t __pad;
	uint64_t realtime_ns;	/* CLOCK_REALTIME: tstamp_ns + the ring's offset */
};

/* One record of shmring_write_batch(). */
struct shmring_msg {
	const void *data;
	uint32_t len;
	uint32_t type;
};

int shmring_open(const char *name, unsigned int flags, mode_t mode,
		 const struct shmring_attr *attr, struct shmring **ringp);
int shmring_subscribe(const char *name, const char *sub, unsigned int flags,
		      struct shmring **ringp);
void shmring_close(struct shmring *r);
int shmring_unlink(const char *name);
int shmring_fd(const struct shmring *r);

int shmring_write(struct shmring *r, uint32_t type, const void *data,
		  size_t len);
int shmring_writev(struct shmring *r, uint32_t type, const struct iovec *iov,
		   int iovcnt);
int shmring_write_batch(struct shmring *r, const struct shmring_msg *msgs,
			unsigned int nr);
int shmring_set_write_type(struct shmring *r, uint32_t type);

int shmring_peek(struct shmring *r, struct shmring_record *rec);
int shmring_consume(struct shmring *r);
int shmring_read(struct shmring *r, struct shmring_record *rec, void *buf,
		 size_t len);
int shmring_wait(struct shmring *r, int timeout_ms);
uint64_t shmring_lost(const struct shmring *r);
int shmring_set_watermark(struct shmring *r, uint64_t bytes, uint64_t records);
int shmring_set_zc_wake(struct shmring *r, unsigned int mode);

/*
 * Bulk reads. A handler gets each record in place (as shmring_peek()
 * returns it) and returns >= 0 to have it consumed and go on, or a
 * negative errno to stop before it: the record stays peeked, and the
 * drain returns that value. limit < 0: no limit; 0: nothing.
 */
typedef int (*shmring_handler_t)(void *ctx, const struct shmring_record *rec);
int shmring_consume_n(struct shmring *r, shmring_handler_t fn, void *ctx,
		      int limit);

/*
 * Zero-copy reading (SHMRING_ATTR_ZEROCOPY rings). Reading works as on
 * any ring; the reader numbers the records itself (the seq of struct
 * shmring_record), skips the chunk ends that writers and the kernel
 * mark, and counts, per handle: reservations the kernel discarded (a
 * writer died, stopped or closed its chunk mid-record) and corrupt
 * records (a writer's header that does not fit), each skipped to the end
 * of its chunk. Both are 0 on other rings.
 */
uint64_t shmring_discarded(const struct shmring *r);
uint64_t shmring_corrupt(const struct shmring *r);

/* Ring sets: many reader handles waited on through one epoll fd. */
struct shmring_set;
int shmring_set_new(unsigned int flags, struct shmring_set **setp);
int shmring_set_add(struct shmring_set *s, struct shmring *r,
		    shmring_handler_t fn, void *ctx);
int shmring_set_remove(struct shmring_set *s, struct shmring *r);
int shmring_set_poll(struct shmring_set *s, int limit, int timeout_ms);
int shmring_set_consume(struct shmring_set *s, int limit);
int shmring_set_fd(const struct shmring_set *s);
void shmring_set_free(struct shmring_set *s);

/*
 * Zero-copy writing (rings created with SHMRING_ATTR_ZEROCOPY): records
 * are filled in place in chunks the kernel grants, with no system call
 * per record (one per chunk, and one per commit only while a reader
 * sleeps). shmring_zc_reserve() gives a pointer to the payload of the
 * next record in the handle's chunk, shmring_zc_reserve_n() pointers to
 * up to n records of one size (fewer where the chunk ends);
 * shmring_zc_commit() makes every
 * outstanding reservation visible, in order, and returns how many (fewer,
 * or -ETIMEDOUT for none, if the kernel took the chunk back from a
 * writer stopped too long: the rest were lost); shmring_zc_abort() drops
 * them. shmring_zc_write() is reserve + copy + commit.
 * shmring_zc_flush() hands the chunk back, so that readers need not wait
 * for it to fill (call it when a burst ends); shmring_close() does it.
 * Unlike the other writing functions, these use the handle's chunk: one
 * thread at a time per handle (open one handle per writing thread).
 */
int shmring_zc_reserve(struct shmring *r, uint32_t len, uint32_t type,
		       void **payload);
int shmring_zc_reserve_n(struct shmring *r, uint32_t len, uint32_t type,
			 void **payloads, unsigned int n);
int shmring_zc_commit(struct shmring *r);
void shmring_zc_abort(struct shmring *r);
int shmring_zc_write(struct shmring *r, uint32_t type, const void *buf,
		     size_t len);
int shmring_zc_flush(struct shmring *r);

int shmring_info(struct shmring *r, struct shmring_info *info);
int shmring_sub_list(struct shmring *r, struct shmring_sub_info *subs,
		     unsigned int nr, unsigned int *total);
int shmring_sub_delete(struct shmring *r, const char *sub);

/* Pure helpers, usable on captured data. */
int shmring_rec_validate(const struct shmring_rec *h, uint64_t avail,
			 uint32_t max_record);
uint32_t shmring_crc32c(const void *data, size_t len);
int shmring_record_csum_ok(const struct shmring_record *rec);

/* What the kernel offers (works without a ring, before anything is opened). */
int shmring_features(struct shmring_features *f);
/* Rings of this IPC namespace the caller may read; returns how many filled. */
int shmring_list(struct shmring_ring_entry *rings, unsigned int nr,
		 unsigned int skip, unsigned int *total);
/* Change a ring's owner/group ((uid_t)-1 keeps one) or mode, like IPC_SET. */
int shmring_chown(const char *name, uid_t uid, gid_t gid);
int shmring_chmod(const char *name, mode_t mode);
/* Move a reader: SHMRING_SEEK_OLDEST, _END, _SEQ (val), _TIME (val, ns). */
int shmring_seek(struct shmring *r, unsigned int whence, uint64_t val);

/*
 * Snapshots for bootstrap (docs/snapshots.md): an application publishes
 * a consistent snapshot of its state tagged with the ring sequence number
 * it reflects; a new reader loads the latest one and replays the ring
 * from the record after it. Snapshots live in a file (NAME without '/':
 * SHMRING_SNAP_DIR/shmring-snap.NAME), two slots switched atomically:
 * a reader never sees a half-written snapshot, a publisher killed at any
 * instruction leaves the previous one readable. Publishers serialize on
 * flock(2); readers take no lock. The file is untrusted: -EBADMSG.
 */
#define SHMRING_SNAP_DIR	"/dev/shm"
#define SHMRING_SNAP_WRITE	(1U << 0)	/* may publish */
#define SHMRING_SNAP_CREAT	(1U << 1)	/* create the file (with WRITE) */
#define SHMRING_SNAP_SYNC	(1U << 2)	/* fdatasync before/after the switch */
#define SHMRING_SNAP_MAX_LEN	(1U << 30)	/* largest snapshot payload */
/* The seq of a snapshot taken before the first record (seq + 1 is 0). */
#define SHMRING_SNAP_SEQ_NONE	UINT64_MAX

struct shmring_snap;
struct shmring_snap_meta {
	uint64_t seq;		/* ring sequence number the snapshot reflects */
	uint64_t len;		/* payload bytes */
	uint64_t time_ns;	/* CLOCK_REALTIME when it was published */
	uint64_t gen;		/* publish count of the file (1 = first) */
	uint32_t crc;		/* crc32c of the payload (checked) */
	uint32_t __reserved;
};
int shmring_snap_open(const char *name, unsigned int flags, mode_t mode,
		      struct shmring_snap **out);
int shmring_snap_publish(struct shmring_snap *s, const void *data, size_t len,
			 uint64_t seq);
int shmring_snap_load(struct shmring_snap *s, void *buf, size_t cap,
		      struct shmring_snap_meta *meta);
int shmring_snap_bootstrap(struct shmring_snap *s, struct shmring *r, void *buf,
			   size_t cap, struct shmring_snap_meta *meta);
int shmring_snap_fd(const struct shmring_snap *s);
void shmring_snap_close(struct shmring_snap *s);

const char *shmring_strerror(int err);
int shmring_version_major(void);
int shmring_version_minor(void);

#ifdef __cplusplus
}
#endif

#endif /* LIBSHMRING_H */
