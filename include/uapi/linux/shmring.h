/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * shmring: kernel-owned, mmap-able, poll-able log of framed records.
 *
 * This header is the whole kernel/user ABI. It is included by the module
 * (kmod/), by libshmring (lib/) and by the tools. Rules:
 *   - fields are fixed-size __u32/__u64, padding is explicit and must be 0;
 *   - every struct passed to an ioctl starts with a __u32 size, and the
 *     kernel dispatches on the ioctl's type and number only (never on the
 *     size encoded in the command): a struct may grow at the end, an older
 *     kernel accepts a larger struct whose unknown tail is zero (E2BIG
 *     otherwise) and a newer kernel accepts the older, smaller layout
 *     (SHMRING_*_SIZE_VER0 is the smallest each ioctl takes);
 *   - every unknown flag bit and every non-zero reserved field is EINVAL;
 *   - new capabilities are announced through SHMRING_FEAT_* bits.
 * docs/design.md describes the layout and docs/errors.md the errno table.
 */
#ifndef _UAPI_LINUX_SHMRING_H
#define _UAPI_LINUX_SHMRING_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define SHMRING_DEVICE		"/dev/shmring"
#define SHMRING_ABI_VERSION	1

/* Ring names: [A-Za-z0-9._-], 1..SHMRING_NAME_MAX-1 bytes, NUL-terminated. */
#define SHMRING_NAME_MAX	64
/* Durable subscription (cursor) names: same alphabet. */
#define SHMRING_SUB_NAME_MAX	32

#define SHMRING_MIN_DATA_SIZE	4096ULL

/* Features reported in shmring_info.features. */
#define SHMRING_FEAT_BATCH	(1U << 0)	/* SHMRING_IOC_WRITE_BATCH */
#define SHMRING_FEAT_SUBS	(1U << 1)	/* durable subscriptions */
#define SHMRING_FEAT_CSUM	(1U << 2)	/* SHMRING_ATTR_CSUM */
#define SHMRING_FEAT_WATERMARK	(1U << 3)	/* SHMRING_OPT_WATERMARK_* */
#define SHMRING_FEAT_WAIT_POS	(1U << 4)	/* shmring_hdr.wait_pos */
#define SHMRING_FEAT_SUB_OWNER	(1U << 5)	/* subscriptions belong to their creator */
#define SHMRING_FEAT_CURSOR_TXN	(1U << 6)	/* shmring_reader.txn_* (crash-atomic) */
#define SHMRING_FEAT_FEATURES	(1U << 7)	/* SHMRING_IOC_FEATURES */
#define SHMRING_FEAT_SETATTR	(1U << 8)	/* SHMRING_IOC_SETATTR */
#define SHMRING_FEAT_LIST	(1U << 9)	/* SHMRING_IOC_LIST */
#define SHMRING_FEAT_TAP	(1U << 10)	/* SHMRING_O_TAP */
#define SHMRING_FEAT_SEEK	(1U << 11)	/* SHMRING_IOC_SEEK */
#define SHMRING_FEAT_READ_COMMIT (1U << 12)	/* SHMRING_OPT_READ_COMMIT */
#define SHMRING_FEAT_CLOCK	(1U << 13)	/* SHMRING_REC_CLOCK timestamps */
#define SHMRING_FEAT_LAP	(1U << 14)	/* SHMRING_POS_LAPPED, commits by CAS */
#define SHMRING_FEAT_ZEROCOPY	(1U << 15)	/* SHMRING_ATTR_ZEROCOPY rings */
#define SHMRING_FEAT_ZC_WAKE	(1U << 16)	/* SHMRING_OPT_ZC_WAKE */
#define SHMRING_FEAT_ALL	(SHMRING_FEAT_BATCH | SHMRING_FEAT_SUBS | \
				 SHMRING_FEAT_CSUM | SHMRING_FEAT_WATERMARK | \
				 SHMRING_FEAT_WAIT_POS | SHMRING_FEAT_SUB_OWNER | \
				 SHMRING_FEAT_CURSOR_TXN | SHMRING_FEAT_FEATURES | \
				 SHMRING_FEAT_SETATTR | SHMRING_FEAT_LIST | \
				 SHMRING_FEAT_TAP | SHMRING_FEAT_SEEK | \
				 SHMRING_FEAT_READ_COMMIT | SHMRING_FEAT_CLOCK | \
				 SHMRING_FEAT_LAP | SHMRING_FEAT_ZEROCOPY | \
				 SHMRING_FEAT_ZC_WAKE)

/*
 * Fixed limits of this ABI. Memory and reader caps that an administrator
 * sets (module parameters) are reported by SHMRING_IOC_FEATURES.
 */
#define SHMRING_MAX_SUBS	64	/* durable subscriptions per ring */
/* Per ring, created by one user who does not own the ring (EDQUOT). */
#define SHMRING_MAX_SUBS_OTHER	8
/* Per ring, created by all users who do not own it together (ENOSPC). */
#define SHMRING_MAX_SUBS_OTHERS	32

/* Ring policies (shmring_attr.policy). */
#define SHMRING_POLICY_OVERWRITE 0	/* writers never block, old records lost */
#define SHMRING_POLICY_LOSSLESS	1	/* writers wait for the slowest reader */

/* Ring attribute flags (shmring_attr.flags). */
#define SHMRING_ATTR_CSUM	(1U << 0)	/* kernel stores crc32c of payloads */
/*
 * Zero-copy writers (SHMRING_FEAT_ZEROCOPY): writers fill records in
 * place in chunks the kernel grants (SHMRING_IOC_ZC_CHUNK), with no
 * system call per record. The record format differs: see "Zero-copy
 * rings" below. With SHMRING_ATTR_CSUM, libshmring's writers store the
 * checksums (the kernel stores none in this ring).
 */
#define SHMRING_ATTR_ZEROCOPY	(1U << 1)
#define SHMRING_ATTR_FLAGS_ALL	(SHMRING_ATTR_CSUM | SHMRING_ATTR_ZEROCOPY)

struct shmring_attr {
	__u64 data_size;	/* power of two, >= 4 KiB, <= max_ring_size */
	__u32 max_record;	/* max payload bytes; 0 = data_size / 4 */
	__u32 policy;		/* SHMRING_POLICY_* */
	__u32 flags;		/* SHMRING_ATTR_* */
	/*
	 * ZEROCOPY: bytes per chunk, a power of two >= the page size and
	 * <= data_size / 2; 0 = data_size / 16 clamped to [page size,
	 * 256 KiB], raised to hold 64 records of max_record where the ring
	 * still has 16 such chunks, and raised to fit max_record. Must be 0
	 * otherwise.
	 */
	__u32 zc_chunk;
	__u64 __reserved1[2];	/* must be 0 */
};

/* shmring_open.flags */
#define SHMRING_O_CREAT		(1U << 0)	/* create if missing */
#define SHMRING_O_EXCL		(1U << 1)	/* with CREAT: fail if it exists */
#define SHMRING_O_READ		(1U << 2)	/* attach as a reader */
#define SHMRING_O_WRITE		(1U << 3)	/* allow write(2) and batches */
#define SHMRING_O_SUB		(1U << 4)	/* reader uses durable cursor sub_name */
#define SHMRING_O_FROM_HEAD	(1U << 5)	/* new reader starts at head, not tail */
/*
 * With SUB, when the subscription is created: any user who may read the
 * ring may attach to it later (default: only its creator, or
 * CAP_IPC_OWNER in the ring's user namespace).
 */
#define SHMRING_O_SUB_SHARED	(1U << 6)
/*
 * A tap: a reader that never holds writers back, also on a lossless ring.
 * It is lapped and counts its own losses instead, like a reader of an
 * overwrite ring (tcpdump never slows a network). Not with SUB.
 */
#define SHMRING_O_TAP		(1U << 7)
#define SHMRING_O_FLAGS_ALL	(SHMRING_O_CREAT | SHMRING_O_EXCL | \
				 SHMRING_O_READ | SHMRING_O_WRITE | \
				 SHMRING_O_SUB | SHMRING_O_FROM_HEAD | \
				 SHMRING_O_SUB_SHARED | SHMRING_O_TAP)

/*
 * SHMRING_IOC_OPEN binds a fresh /dev/shmring file to a named ring, as
 * mq_open() does. On success attr holds the ring's attributes.
 */
struct shmring_open {
	__u32 size;		/* sizeof(struct shmring_open) */
	__u32 flags;		/* SHMRING_O_* */
	__u32 mode;		/* permission bits (0777 mask) for CREAT */
	__u32 __reserved0;	/* must be 0 */
	char name[SHMRING_NAME_MAX];
	char sub_name[SHMRING_SUB_NAME_MAX];
	struct shmring_attr attr;	/* in: for CREAT; out: actual */
};

/* One record of a batch write. */
struct shmring_batch_rec {
	__u64 data;		/* user pointer to the payload */
	__u32 len;		/* payload bytes */
	__u32 type;		/* user's command code */
	__u32 flags;		/* must be 0 */
	__u32 __reserved0;	/* must be 0 */
};

struct shmring_batch {
	__u32 size;		/* sizeof(struct shmring_batch) */
	__u32 flags;		/* must be 0 */
	__u64 recs;		/* user pointer to shmring_batch_rec[nr] */
	__u32 nr;		/* records in the array, <= SHMRING_BATCH_MAX */
	__u32 done;		/* out: records committed */
};
#define SHMRING_BATCH_MAX	1024

/* Ring and reader state, returned by SHMRING_IOC_INFO. */
struct shmring_info {
	__u32 size;		/* in: sizeof as caller knows it */
	__u32 abi_version;	/* SHMRING_ABI_VERSION */
	__u32 features;		/* SHMRING_FEAT_* */
	__u32 page_size;	/* mmap granule */
	char name[SHMRING_NAME_MAX];
	struct shmring_attr attr;
	__u64 head;		/* byte position after the newest record */
	__u64 tail;		/* byte position of the oldest record */
	__u64 head_seq;		/* sequence number the next record gets */
	__u64 tail_seq;		/* sequence number of the oldest record */
	__u64 bytes_written;
	__u64 records_written;
	__u64 records_lost;	/* overwritten before every reader saw them */
	__u64 writer_waits;	/* times a writer had to wait or got EAGAIN */
	__u64 reader_pos;	/* this file's reader position (0 if none) */
	__u64 reader_seq;	/* sequence the reader expects next */
	__u64 map_reader_off;	/* mmap offset of the reader page */
	__u64 map_ring_off;	/* mmap offset of header + data */
	__u64 map_ring_len;	/* length of that mapping */
	__u32 readers;		/* attached readers */
	__u32 subs;		/* durable subscriptions */
	__u32 open_flags;	/* SHMRING_O_* this file was opened with */
	__u32 __reserved0;
	/*
	 * Zero-copy rings, files opened with SHMRING_O_WRITE by a user who
	 * may also read the ring: mmap offset and length of the writable
	 * data area (the data pages once). 0 otherwise.
	 */
	__u64 map_zc_off;
	__u64 map_zc_len;
	/*
	 * Zero-copy rings (0 otherwise): reservations the kernel discarded
	 * (a writer died, closed or was revoked with a record in progress),
	 * and, for a file opened to read, what its read(2) skipped: such
	 * discarded reservations, and corrupt stretches (headers a writer
	 * scribbled on). Neither has a sequence number: not a loss.
	 */
	__u64 records_discarded;
	__u64 read_discarded;
	__u64 read_corrupt;
};

/* Per-file options (SHMRING_IOC_SET_OPT). */
#define SHMRING_OPT_WRITE_TYPE		1	/* type used by write(2) */
#define SHMRING_OPT_WATERMARK_BYTES	2	/* wake reader after N bytes */
#define SHMRING_OPT_WATERMARK_RECS	3	/* wake reader after N records */
/*
 * val 1: read(2) no longer moves the reader's position (nor a durable
 * subscription's): it reads ahead from a position private to the file,
 * and SHMRING_IOC_COMMIT moves the position over everything read so far.
 * A reader killed before it commits gets those records again (at least
 * once). val 0: back to read(2) moving the position itself (at most
 * once); what was read and not committed is read again.
 */
#define SHMRING_OPT_READ_COMMIT		4
/*
 * Zero-copy rings: when a reader that sleeps (poll, epoll, blocking
 * read(2)) is woken. SHMRING_ZC_WAKE_COMMIT (the default): by the commit
 * that makes a record readable at its position (the writer kicks).
 * SHMRING_ZC_WAKE_CHUNK: writers do not kick for it; it is woken when a
 * chunk closes (its writer moves on, releases it, dies or is revoked)
 * and otherwise within zc_idle_ms of the commit (the module parameter;
 * with 0, as COMMIT). Fewer wakeups and system calls for readers that
 * drain in bulk, a bounded delay for the rest. EOPNOTSUPP on other rings.
 */
#define SHMRING_OPT_ZC_WAKE		5
#define SHMRING_ZC_WAKE_COMMIT		0
#define SHMRING_ZC_WAKE_CHUNK		1

struct shmring_opt {
	__u32 size;		/* sizeof(struct shmring_opt) */
	__u32 opt;		/* SHMRING_OPT_* */
	__u64 val;
};

/* Durable subscription listing (SHMRING_IOC_SUB_LIST). */
struct shmring_sub_info {
	char name[SHMRING_SUB_NAME_MAX];
	__u64 pos;		/* byte position of the next unread record */
	__u64 seq;		/* sequence number it expects next */
	__u64 last_read_ns;	/* CLOCK_REALTIME of the last attach/detach */
	__u32 attached;		/* 1 while a reader uses it */
	__u32 __reserved0;
};

struct shmring_sub_list {
	__u32 size;		/* sizeof(struct shmring_sub_list) */
	__u32 nr;		/* in: entries room; out: entries written */
	__u64 subs;		/* user pointer to shmring_sub_info[nr] */
	__u32 total;		/* out: subscriptions that exist */
	__u32 __reserved0;
};

/*
 * A ring name (UNLINK) or a subscription name (SUB_DEL: at most
 * SHMRING_SUB_NAME_MAX - 1 bytes, the rest of name[] zero).
 */
struct shmring_name {
	__u32 size;		/* sizeof(struct shmring_name) */
	__u32 flags;		/* must be 0 */
	char name[SHMRING_NAME_MAX];
};

/*
 * What this kernel offers, readable on a file not bound to any ring
 * (SHMRING_IOC_FEATURES). Caps are the module parameters in force.
 */
struct shmring_features {
	__u32 size;		/* in: sizeof as caller knows it */
	__u32 abi_version;	/* SHMRING_ABI_VERSION */
	__u32 features;		/* SHMRING_FEAT_* */
	__u32 page_size;
	__u32 max_subs;		/* SHMRING_MAX_SUBS */
	__u32 max_subs_other;	/* SHMRING_MAX_SUBS_OTHER */
	__u32 max_readers;	/* attached readers per ring */
	__u32 max_user_readers;	/* attached readers one user may have */
	__u32 max_rings;	/* rings per IPC namespace */
	__u32 batch_max;	/* SHMRING_BATCH_MAX */
	__u64 max_data_size;	/* largest ring data size */
	__u64 max_total;	/* bytes of all rings together */
	__u64 max_user;		/* bytes charged to one user */
};

/*
 * SHMRING_IOC_SETATTR: change a ring's owner, group and mode, like
 * IPC_SET. The ring is named in the caller's IPC namespace; the caller
 * must own it or have CAP_IPC_OWNER in its user namespace. uid and gid
 * are in the caller's user namespace. Memory stays charged to the user
 * who created the ring.
 */
#define SHMRING_SETATTR_UID	(1U << 0)
#define SHMRING_SETATTR_GID	(1U << 1)
#define SHMRING_SETATTR_MODE	(1U << 2)
#define SHMRING_SETATTR_ALL	(SHMRING_SETATTR_UID | SHMRING_SETATTR_GID | \
				 SHMRING_SETATTR_MODE)

struct shmring_setattr {
	__u32 size;		/* sizeof(struct shmring_setattr) */
	__u32 flags;		/* SHMRING_SETATTR_*: the fields to change */
	__u32 uid;
	__u32 gid;
	__u32 mode;		/* permission bits, 0777 mask */
	__u32 __reserved0;	/* must be 0 */
	char name[SHMRING_NAME_MAX];
};

/*
 * SHMRING_IOC_LIST: the rings of the caller's IPC namespace that the
 * caller may read (mode bits, or CAP_IPC_OWNER), in creation order,
 * starting after the first @skip of them. Works on an unbound file.
 */
struct shmring_ring_entry {
	char name[SHMRING_NAME_MAX];
	struct shmring_attr attr;
	__u64 head_seq;		/* sequence number the next record gets */
	__u64 tail_seq;		/* sequence number of the oldest record */
	__u64 records_lost;
	__u32 uid;		/* in the caller's user namespace */
	__u32 gid;
	__u32 mode;
	__u32 readers;
	__u32 subs;
	__u32 __reserved0;
};

struct shmring_list {
	__u32 size;		/* sizeof(struct shmring_list) */
	__u32 nr;		/* in: entries room; out: entries written */
	__u64 rings;		/* user pointer to shmring_ring_entry[nr] */
	__u32 skip;		/* in: visible rings to skip (paging) */
	__u32 total;		/* out: visible rings in all */
};

/*
 * SHMRING_IOC_SEEK: move this file's reader (or its subscription) to the
 * oldest record, past the newest, to a sequence number, or to the first
 * record committed at or after a time. Out: where it now is.
 */
#define SHMRING_SEEK_OLDEST	0	/* the oldest record in the ring */
#define SHMRING_SEEK_END	1	/* after the newest: new records only */
/* The record numbered val (ENOENT if gone or not yet written; head_seq: END). */
#define SHMRING_SEEK_SEQ	2
/* The first record with tstamp_ns >= val (SHMRING_REC_CLOCK, as records). */
#define SHMRING_SEEK_TIME	3

struct shmring_seek {
	__u32 size;		/* sizeof(struct shmring_seek) */
	__u32 whence;		/* SHMRING_SEEK_* */
	__u64 val;
	__u64 pos;		/* out: the reader's new position */
	__u64 seq;		/* out: the sequence number it expects next */
};

/* Smallest struct each ioctl accepts (its first published layout). */
#define SHMRING_OPEN_SIZE_VER0		152
#define SHMRING_NAME_SIZE_VER0		72
#define SHMRING_INFO_SIZE_VER0		120	/* through attr */
#define SHMRING_BATCH_SIZE_VER0		24
#define SHMRING_OPT_SIZE_VER0		16
#define SHMRING_SUB_LIST_SIZE_VER0	24
#define SHMRING_FEATURES_SIZE_VER0	16	/* through page_size */
#define SHMRING_SETATTR_SIZE_VER0	88
#define SHMRING_LIST_SIZE_VER0		24
#define SHMRING_SEEK_SIZE_VER0		32
#define SHMRING_ZC_CHUNK_SIZE_VER0	40

#define SHMRING_IOC_MAGIC	0xB7
#define SHMRING_IOC_OPEN	_IOWR(SHMRING_IOC_MAGIC, 0x01, struct shmring_open)
#define SHMRING_IOC_UNLINK	_IOW(SHMRING_IOC_MAGIC, 0x02, struct shmring_name)
#define SHMRING_IOC_INFO	_IOWR(SHMRING_IOC_MAGIC, 0x03, struct shmring_info)
#define SHMRING_IOC_WRITE_BATCH	_IOWR(SHMRING_IOC_MAGIC, 0x04, struct shmring_batch)
#define SHMRING_IOC_SET_OPT	_IOW(SHMRING_IOC_MAGIC, 0x05, struct shmring_opt)
#define SHMRING_IOC_SUB_LIST	_IOWR(SHMRING_IOC_MAGIC, 0x06, struct shmring_sub_list)
#define SHMRING_IOC_SUB_DEL	_IOW(SHMRING_IOC_MAGIC, 0x07, struct shmring_name)
/* Lossless rings: wake writers waiting for space after consuming in place. */
#define SHMRING_IOC_KICK	_IO(SHMRING_IOC_MAGIC, 0x08)
#define SHMRING_IOC_FEATURES	_IOWR(SHMRING_IOC_MAGIC, 0x09, struct shmring_features)
#define SHMRING_IOC_SETATTR	_IOW(SHMRING_IOC_MAGIC, 0x0a, struct shmring_setattr)
#define SHMRING_IOC_LIST	_IOWR(SHMRING_IOC_MAGIC, 0x0b, struct shmring_list)
#define SHMRING_IOC_SEEK	_IOWR(SHMRING_IOC_MAGIC, 0x0c, struct shmring_seek)
/* SHMRING_OPT_READ_COMMIT readers: commit what read(2) returned. */
#define SHMRING_IOC_COMMIT	_IO(SHMRING_IOC_MAGIC, 0x0d)
#define SHMRING_IOC_ZC_CHUNK	_IOWR(SHMRING_IOC_MAGIC, 0x0e, struct shmring_zc_chunk)

/*
 * Record header. Every record in the data area starts with one, at an
 * 8-byte aligned position; the payload follows and the next record starts
 * at SHMRING_REC_ALIGN(sizeof(struct shmring_rec) + len).
 */
struct shmring_rec {
	__u32 len;		/* payload bytes */
	__u32 type;		/* user's command code */
	__u64 seq;		/* per-ring sequence number, no gaps */
	__u64 tstamp_ns;	/* SHMRING_REC_CLOCK when the kernel committed it */
	__u32 pid;		/* writer's tgid in the writer's pid namespace */
	__u16 flags;		/* SHMRING_REC_* */
	__u16 __reserved0;	/* 0 */
	__u32 csum;		/* crc32c of the payload if SHMRING_REC_CSUM */
	__u32 __reserved1;	/* 0 */
};

/*
 * Record timestamps are CLOCK_BOOTTIME (7): monotonic, counting suspend,
 * so they order and measure intervals even when the wall clock is set.
 * Wall time for humans is tstamp_ns + shmring_hdr.realtime_offset_ns, the
 * kernel's CLOCK_REALTIME - CLOCK_BOOTTIME at the last commit (a record
 * committed before the wall clock was stepped is shown with the new
 * offset). Every other *_ns field (last_write_ns, last_read_ns) is
 * CLOCK_REALTIME.
 */
#define SHMRING_REC_CLOCK	7	/* CLOCK_BOOTTIME */

#define SHMRING_REC_CSUM	(1U << 0)	/* csum is valid */
#define SHMRING_REC_DISCARD	(1U << 1)	/* reserved space, skip it */
#define SHMRING_REC_FLAGS_ALL	(SHMRING_REC_CSUM | SHMRING_REC_DISCARD)

#define SHMRING_REC_ALIGN(x)	(((x) + 7ULL) & ~7ULL)
#define SHMRING_REC_TOTAL(len)	\
	SHMRING_REC_ALIGN((__u64)sizeof(struct shmring_rec) + (__u64)(len))

/*
 * Ring header: first page of the read-only mapping at map_ring_off. The
 * data area follows it and is mapped twice in a row, so a record that
 * starts near the end of the area can be read in one piece.
 *
 * Positions are byte counts since the ring was created; the offset of a
 * position in the data area is pos & (data_size - 1).
 */
#define SHMRING_MAGIC		0x676e6972686d73ULL	/* "shmring" */

struct shmring_hdr {
	__u64 magic;		/* SHMRING_MAGIC */
	__u32 abi_version;
	__u32 hdr_size;		/* sizeof(struct shmring_hdr) */
	__u64 data_size;
	__u32 max_record;
	__u32 policy;
	__u32 flags;		/* SHMRING_ATTR_* */
	__u32 zc_chunk;		/* zero-copy rings: chunk bytes; 0 otherwise */
	/*
	 * Zero-copy rings (0 otherwise). zc_closed: every chunk below it is
	 * closed, its records final (release; the start of the oldest open
	 * chunk, or head); zc_closed_seq: the sequence number of the first
	 * record at or after it. zc_sleepers: readers about to sleep; a
	 * writer that commits enters the kernel (SHMRING_IOC_KICK) only
	 * while it is non-zero.
	 */
	__u64 zc_closed;
	__u64 zc_closed_seq;
	__u32 zc_sleepers;
	__u32 zc_open;		/* chunks granted and not closed */
	/* Producer cache line, written by the kernel only. */
	__u64 head;		/* end of the last committed record (release) */
	__u64 head_seq;		/* sequence number of the next record */
	__u64 last_write_ns;	/* CLOCK_REALTIME of the last commit */
	__u32 last_write_len;	/* payload bytes of the last commit */
	__u32 writers_waiting;	/* lossless: writers wait for space (see docs) */
	/*
	 * Lossless, while writers_waiting: the waiting writers fit once every
	 * cursor is at or past wait_pos. A reader consuming in place kicks
	 * (SHMRING_IOC_KICK) when its position is there, once per value of
	 * wait_gen, which changes whenever a writer publishes wait_pos.
	 * Both 0 on kernels without SHMRING_FEAT_WAIT_POS: kick after every
	 * consume while writers_waiting.
	 */
	__u64 wait_pos;
	__u64 wait_gen;
	/* CLOCK_REALTIME - SHMRING_REC_CLOCK at the last commit. */
	__u64 realtime_offset_ns;
	__u64 __pad2[1];
	/* Reclaim cache line: moved before space is overwritten. */
	__u64 tail;		/* oldest record still valid (release) */
	__u64 tail_seq;		/* its sequence number */
	__u64 __pad3[6];
};

/*
 * Reader page: the read-write mapping at map_reader_off, one per reader.
 * Only its reader writes it; the kernel reads it (and clamps what it
 * reads) to know how far the reader got. For a durable subscription the
 * page belongs to the subscription and outlives the process.
 *
 * Moving the cursor is crash-atomic through the txn_* fields (a reader
 * may be killed at any instruction):
 *   1. txn_pos = SHMRING_TXN_NONE;
 *   2. txn_seq, txn_read, txn_lost = the values for the new position;
 *   3. txn_pos = new position (release);
 *   4. pos = new position (release): this store commits; with
 *      SHMRING_FEAT_LAP it is a compare-and-swap from the value of pos
 *      the reader last loaded or stored, and it fails if the kernel
 *      moved the cursor meanwhile (below);
 *   5. seq, records_read, records_lost = the txn_* values.
 * Whoever attaches the cursor next applies step 5 if txn_pos == pos
 * (the commit happened; txn_pos == lap_from if pos is lapped), and
 * otherwise ignores txn_*.
 *
 * Lapped cursors (SHMRING_FEAT_LAP): before the kernel moves the tail
 * over records a cursor has not consumed, it moves the cursor to the new
 * tail T with a compare-and-swap, storing T | SHMRING_POS_LAPPED. Each
 * record is decided once: either the reader's commit moved pos past it
 * first (it was read) or the kernel's swap did (it was lost, and the
 * reader's commit fails). seq and the counters still describe the
 * position before the lap; the reader counts the gap (the sequence
 * number of the record at T minus seq) with its next commit, which
 * clears the bit. A lapped pos never equals a txn_pos (8-aligned).
 */
#define SHMRING_TXN_NONE	(~0ULL)	/* never a position: those are 8-aligned */
#define SHMRING_POS_LAPPED	1ULL	/* in shmring_reader.pos: moved by the kernel */

struct shmring_reader {
	__u64 pos;		/* next unread byte position (release) */
	__u64 seq;		/* sequence number expected at pos */
	/* Statistics kept by the reader (libshmring or read(2)). */
	__u64 last_read_ns;	/* CLOCK_REALTIME of the last consume */
	__u64 records_read;	/* records this cursor consumed */
	__u64 records_lost;	/* records overwritten before it read them */
	__u64 txn_pos;		/* see above */
	__u64 txn_seq;
	__u64 txn_read;
	__u64 txn_lost;
	/*
	 * Written by the kernel only: the position it swapped out when it
	 * lapped this cursor (pos had no SHMRING_POS_LAPPED bit then).
	 * While pos is lapped, recovery treats txn_pos == lap_from as a
	 * commit that happened: a reader killed between steps 4 and 5 and
	 * then lapped still gets its step 5.
	 */
	__u64 lap_from;
	/*
	 * Written by the kernel only, with lap_from: the sequence number of
	 * the record at the lapped position (zero-copy rings, whose records
	 * carry none, count from it; SHMRING_FEAT_ZEROCOPY).
	 */
	__u64 lap_seq;
	__u64 __reserved[5];
};

/*
 * Zero-copy rings (SHMRING_ATTR_ZEROCOPY). The data area is cut into
 * chunks of hdr.zc_chunk bytes, aligned to their size. A writer asks for
 * one with SHMRING_IOC_ZC_CHUNK and appends records to it through its
 * writable mapping (map_zc_off), with no system call; records never cross
 * a chunk boundary, and a rest of a chunk smaller than a record header is
 * an implicit end (no commit word is written or read there). head is the
 * end of the last chunk granted.
 *
 * The record header's seq slot is the commit word: the record's own
 * position with a state in the low 3 bits. A word naming another
 * position (an earlier lap, or nothing yet) means "not written yet".
 *   pos | SHMRING_ZC_BUSY  the writer is filling the record: it swapped
 *                          this in (compare-and-swap) from the word it
 *                          found, which must not name pos nor the same
 *                          offset in a later lap (pos + k * data_size, up
 *                          to head): the kernel closed the chunk, or
 *                          granted the space again after revoking it
 *   pos | SHMRING_ZC_DONE  committed: a record (compare-and-swap from BUSY)
 *   pos | SHMRING_ZC_END   the rest of the chunk is unused: skip to its end
 *   pos | SHMRING_ZC_VOID  the kernel discarded the rest of the chunk (its
 *                          writer died, closed it mid-record, or stopped
 *                          for longer than the zc_idle_ms timeout): skip
 *                          to its end, and count one discarded reservation
 * Readers read records in position order and count sequence numbers
 * themselves (the record's seq slot is not a sequence number here).
 * Writers' headers are not trusted: a DONE record whose length passes
 * max_record or the chunk end is corrupt, and so is a word that is none
 * of the above below hdr.zc_closed; readers skip to the chunk end.
 */
#define SHMRING_ZC_BUSY		4ULL
#define SHMRING_ZC_DONE		1ULL
#define SHMRING_ZC_END		2ULL
#define SHMRING_ZC_VOID		3ULL
#define SHMRING_ZC_STATE	7ULL
/*
 * A chunk the kernel revoked is fenced off its writer's mapping: until
 * the writer's next SHMRING_IOC_ZC_CHUNK, its loads there see a private
 * page of SHMRING_ZC_FENCE_WORD and its stores go nowhere. A writer treats
 * the word SHMRING_ZC_FENCE_WORD as "the chunk was taken" (its swaps
 * fail): that exact value only, as stale payload bytes may end in any
 * state bits. Readers never see one.
 */
#define SHMRING_ZC_FENCE	5ULL
#define SHMRING_ZC_FENCE_WORD	(~SHMRING_ZC_STATE | SHMRING_ZC_FENCE)

/*
 * SHMRING_IOC_ZC_CHUNK (SHMRING_O_WRITE, zero-copy rings): close the
 * file's open chunk, if any (its rest becomes END at the first word that
 * is not DONE, or VOID if that word is BUSY), and unless
 * SHMRING_ZC_RELEASE grant a new one of hdr.zc_chunk bytes at the head.
 * Lossless rings wait for room as write(2) does (EAGAIN with O_NONBLOCK).
 * closed_* describe the chunk closed by this call or by the kernel since
 * the last call; revoked is 1 if the kernel closed it first (timeout, or
 * reclaimed by an overwrite), and records from closed_at on were lost.
 */
#define SHMRING_ZC_RELEASE	(1U << 0)	/* close only, grant nothing */
#define SHMRING_ZC_FLAGS_ALL	(SHMRING_ZC_RELEASE)

struct shmring_zc_chunk {
	__u32 size;		/* sizeof(struct shmring_zc_chunk) */
	__u32 flags;		/* SHMRING_ZC_RELEASE */
	__u64 start;		/* out: first byte position of the new chunk */
	__u64 end;		/* out: start + zc_chunk (0, 0 if none granted) */
	__u64 closed_at;	/* out: where the closed chunk's records ended */
	__u32 closed_recs;	/* out: records it held */
	__u32 revoked;		/* out: 1 if the kernel had closed it */
};

#endif /* _UAPI_LINUX_SHMRING_H */
