/* SPDX-License-Identifier: MIT */
/*
 * libshmring internals shared by the files of lib/ and the native tests. Not
 * installed; nothing here is exported from the shared object (the
 * version script ends with "local: *"). Tests link libshmring.a.
 */
#ifndef LIBSHMRING_INTERNAL_H
#define LIBSHMRING_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "shmring.h"

#define SHMRING_INTERNAL __attribute__((visibility("hidden")))

/*
 * The reader: a ring's memory as a reader sees it (its "image") and the
 * cursor it keeps. The library fills the image from its two mappings;
 * tests and the fuzzer point it at buffers they built.
 */
struct shmring_rd {
	/* Image. Only data_size and max_record are trusted. */
	const struct shmring_hdr *hdr;	/* ring header page */
	const unsigned char *data;	/* data area, twice in a row (2 * data_size) */
	struct shmring_reader *rp;	/* this cursor's reader page */
	uint64_t data_size;		/* from the kernel at open */
	uint32_t max_record;		/* from the kernel at open */
	int wait_pos;			/* kernel has SHMRING_FEAT_WAIT_POS */
	/* Payload copy of shmring_read(); NULL: memcpy (tests inject here). */
	void *(*copy)(void *dst, const void *src, size_t n, void *arg);
	void *copy_arg;

	/* Cursor, mirrored into rp by every consume. */
	uint64_t mask;
	uint64_t pos;
	__u64 pos_word;		/* rp->pos as we last loaded or swapped it */
	uint64_t seq;
	uint64_t lost;			/* records this handle lost (shmring_lost) */
	uint64_t peek_total;		/* bytes of the peeked record, or 0 */
	uint64_t peek_seq;
	uint64_t peek_ns;		/* when peek returned it: last_read_ns */
	uint64_t kicked_gen;		/* hdr->wait_gen we last kicked for */
	int consumed;			/* moved since the last kick check */
	/*
	 * Inside a bulk drain of a lossless ring (drain_batch()): rp is a
	 * private shadow of the reader page that nobody else reads, so a
	 * consume stores its fields plainly (no transaction, no swap, no
	 * fence), and peek stamps every record with the clock read once
	 * for the batch (batch_ns). The real page gets one transaction.
	 */
	int shadowed;
	uint64_t batch_ns;

	/*
	 * Zero-copy rings (SHMRING_ATTR_ZEROCOPY in hdr->flags at attach):
	 * records carry no sequence number, the reader counts them.
	 */
	uint64_t zc_chunk;		/* chunk bytes; 0: not a zero-copy ring */
	uint64_t zc_seq;		/* the number of the record at pos */
	int zc_lap;			/* lapped: zc_seq is tail_seq, not known yet */
	uint64_t zc_discarded;		/* VOIDs and DISCARD records skipped (shmring_discarded) */
	uint64_t zc_corrupt;		/* corrupt records skipped (shmring_corrupt) */
};

SHMRING_INTERNAL int shmring_rd_attach(struct shmring_rd *rd);
SHMRING_INTERNAL int shmring_rd_peek(struct shmring_rd *rd, struct shmring_record *out);
SHMRING_INTERNAL int shmring_rd_consume(struct shmring_rd *rd);
SHMRING_INTERNAL int shmring_rd_read(struct shmring_rd *rd, struct shmring_record *rec,
				     void *buf, size_t len);
SHMRING_INTERNAL int shmring_rd_want_kick(struct shmring_rd *rd);
/*
 * Would a peek act now (hand over a record, skip, see a lap or report
 * corruption)? What a wait must look at instead of head - pos, which on
 * a zero-copy ring counts granted bytes, not records.
 */
SHMRING_INTERNAL int shmring_rd_pending(struct shmring_rd *rd);

/*
 * A drain (shmring_rd_consume_n()): the handler, how to commit, how to
 * wake writers, and what happened (tests look at the counts).
 */
struct shmring_rd_drain {
	shmring_handler_t fn;
	void *ctx;
	int each;			/* commit after each record (overwrite, tap) */
	void (*kick)(void *arg);	/* SHMRING_IOC_KICK; NULL in tests */
	void *kick_arg;
	/* Out. */
	int drained;			/* stopped at -EAGAIN, pos stored ([R5]) */
	unsigned int commits;		/* cursor commits to the reader page */
	unsigned int kicks;		/* times writers were to be woken */
	unsigned int stale;		/* records overwritten while handled */
};

SHMRING_INTERNAL int shmring_rd_consume_n(struct shmring_rd *rd,
					  struct shmring_rd_drain *d, int limit);

/*
 * The zero-copy writer (lib/zc.c): a zero-copy ring as a writer sees it
 * (its "image": the header and the writable data area, once) and the
 * chunk it fills. As for shmring_rd, the shmring_zw_*() functions work on
 * the image and reach the kernel only through the two calls below, so
 * tests/unit/t_zc.c runs them against a simulated kernel.
 */
struct shmring_zw {
	/* Image. */
	const struct shmring_hdr *hdr;	/* header page (read-only) */
	unsigned char *data;		/* data area, once (data_size), writable */
	uint64_t data_size;		/* from the kernel */
	uint32_t max_record;		/* from the kernel */
	uint32_t chunk;			/* hdr->zc_chunk */
	int csum;			/* SHMRING_ATTR_CSUM: the writer stores crc32c */
	/* SHMRING_IOC_ZC_CHUNK (0 or -errno) and SHMRING_IOC_KICK. */
	int (*zc_chunk)(void *arg, struct shmring_zc_chunk *c);
	void (*kick)(void *arg);
	void *arg;
	/* shmring_zw_write()'s payload copy; NULL: memcpy (tests inject here). */
	void *(*copy)(void *dst, const void *src, size_t n, void *arg);
	void *copy_arg;

	/* The chunk we fill: [start, end); end == 0 when we have none. */
	uint64_t start, end;
	uint64_t fill;			/* where the next reservation goes */
	uint64_t first;			/* the first outstanding reservation */
	uint32_t *lens;			/* payload bytes of each outstanding one */
	unsigned int nres, cap;		/* outstanding reservations, room in lens */
	int open;			/* the kernel may hold a chunk for us */

	/* Statistics (tests look at them). */
	uint64_t chunks;		/* chunks granted */
	uint64_t revoked;		/* ZC_CHUNK answers with revoked set */
	uint64_t lost;			/* reservations lost to a revocation */
	uint64_t committed;		/* records committed */
	uint64_t kicks;			/* SHMRING_IOC_KICKs for sleeping readers */
};

SHMRING_INTERNAL int shmring_zw_init(struct shmring_zw *zw);
SHMRING_INTERNAL int shmring_zw_reserve(struct shmring_zw *zw, uint32_t len,
					uint32_t type, void **payload);
SHMRING_INTERNAL int shmring_zw_reserve_n(struct shmring_zw *zw, uint32_t len,
					  uint32_t type, void **payloads,
					  unsigned int n);
SHMRING_INTERNAL int shmring_zw_commit(struct shmring_zw *zw);
SHMRING_INTERNAL void shmring_zw_abort(struct shmring_zw *zw);
SHMRING_INTERNAL int shmring_zw_write(struct shmring_zw *zw, uint32_t type,
				      const void *buf, size_t len);
SHMRING_INTERNAL int shmring_zw_flush(struct shmring_zw *zw);
SHMRING_INTERNAL void shmring_zw_free(struct shmring_zw *zw);

struct shmring_zc;	/* lib/zc.c: a handle's zero-copy writer and its mappings */

/* An open handle (struct shmring of shmring.h). */
struct shmring {
	int fd;
	unsigned int flags;
	struct shmring_attr attr;
	struct shmring_rd rd;		/* reader side; rd.hdr NULL for writers */
	void *map;			/* header + data twice, read-only */
	size_t map_len;
	struct shmring_zc *zc;		/* zero-copy writer, set up on first use */
};

/*
 * Public functions return -errno and leave errno as the caller had it:
 * every call that may set errno goes through KEEP_ERRNO().
 */
#define KEEP_ERRNO(call) ({				\
	int __saved = errno;				\
	__typeof__(call) __ret = (call);		\
	errno = __saved;				\
	__ret;						\
})

SHMRING_INTERNAL int shmring_sys_ioctl(int fd, unsigned long req, void *arg);
/* shmring_close(): flush and free the zero-copy writer (lib/zc.c). */
SHMRING_INTERNAL void shmring_zc_release(struct shmring *r);
/* shmring_consume_n(); *drained (if given) as in struct shmring_rd_drain. */
SHMRING_INTERNAL int shmring_drain(struct shmring *r, shmring_handler_t fn, void *ctx,
				   int limit, int *drained);

/*
 * crc32c.c: the implementations behind shmring_crc32c(), each giving the
 * same CRC for every input (tests/unit/t_crc32c.c compares them).
 * shmring_crc32c_sw() is slicing-by-8 and runs anywhere;
 * shmring_crc32c_hw() uses the CPU's CRC32C instructions (SSE4.2 on
 * x86-64, the CRC extension on aarch64) and must only be called when
 * shmring_crc32c_hw_available() is true (elsewhere it is the tables).
 */
SHMRING_INTERNAL uint32_t shmring_crc32c_sw(const void *data, size_t len);
SHMRING_INTERNAL uint32_t shmring_crc32c_hw(const void *data, size_t len);
SHMRING_INTERNAL int shmring_crc32c_hw_available(void);

#endif /* LIBSHMRING_INTERNAL_H */
