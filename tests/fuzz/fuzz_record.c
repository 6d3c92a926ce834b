// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for libshmring's reader (lib/reader.c), run on a ring
 * image built from the input, as a hostile or corrupted ring could
 * present it: the real shmring_rd_attach/peek/consume/read, not a copy
 * of their walk.
 *
 * Input: a struct ctl (geometry, head/tail, the reader page's cursor and
 * txn fields, what to do), then the data area (zero-padded or cut to
 * data_size). The area is laid out twice in one allocation of exactly
 * 2 * data_size bytes, as the mapping is, so ASan sees any read past it.
 *
 * Nothing may be read out of bounds, the walk must end, every record
 * handed out must lie inside the committed bytes at the cursor, and the
 * reader page must always hold a committed cursor (txn_pos == pos, seq
 * matching) after a consume.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctl {
	uint32_t max_record;
	uint8_t size_log;	/* data_size = 4 KiB << (size_log % 3) */
	uint8_t mode;		/* MODE_* */
	uint8_t laps;		/* tail moves during shmring_read copies */
	uint8_t __pad;
	uint64_t head;		/* offsets from tail unless MODE_RAW */
	uint64_t tail;
	uint64_t pos;
	uint64_t seq;
	uint64_t txn_pos;
	uint64_t txn_seq;
	uint64_t head_seq;
};

#define MODE_RAW	(1U << 0)	/* head/pos/txn_pos as given */
#define MODE_ANY_MAX	(1U << 1)	/* max_record unclamped (attach refuses) */
#define MODE_READ	(1U << 2)	/* shmring_read instead of peek+consume */
#define MODE_TXN_AT_POS	(1U << 3)	/* a txn naming the cursor's pos */
#define MODE_ALIGN	(1U << 4)	/* cursor 8-aligned */

struct lap {
	struct shmring_hdr *hdr;
	unsigned int laps;
};

/* A writer laps the reader while shmring_read copies. */
static void *copy_lapping(void *dst, const void *src, size_t n, void *arg)
{
	struct lap *l = arg;

	memcpy(dst, src, n);
	if (l->laps) {
		l->laps--;
		l->hdr->tail += 8 * (uint64_t)(1 + l->laps % 7);
	}
	return dst;
}

static void check_record(const struct shmring_rd *rd, const struct shmring_record *rec,
			 const unsigned char *area, uint64_t head)
{
	const unsigned char *p = rec->data;
	uint64_t total = SHMRING_REC_TOTAL(rec->len);

	if (rec->len > rd->max_record)
		abort();
	if (p < area + sizeof(struct shmring_rec) ||
	    p + rec->len > area + 2 * rd->data_size)
		abort();		/* outside the image */
	if ((int64_t)(head - rd->pos) < (int64_t)total || (rd->pos & 7))
		abort();		/* beyond the committed bytes */
	if (p != area + (rd->pos & rd->mask) + sizeof(struct shmring_rec))
		abort();		/* not the record at the cursor */
	if (rec->len && p[rec->len - 1] == 0xa5 && p[0] == 0x5a)
		__asm__ volatile("" ::: "memory");	/* touch the payload */
}

static void check_page(const struct shmring_rd *rd)
{
	const struct shmring_reader *rp = rd->rp;

	if (rp->pos != rd->pos || rp->seq != rd->seq || rp->txn_pos != rp->pos ||
	    rp->txn_seq != rp->seq || rp->txn_read != rp->records_read ||
	    rp->txn_lost != rp->records_lost)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shmring_hdr *hdr = calloc(1, sizeof(*hdr));
	struct shmring_reader *rp = calloc(1, sizeof(*rp));
	struct shmring_rd rd;
	struct shmring_record rec;
	unsigned char *area = NULL, *buf = NULL;
	uint64_t dsize, head, steps;
	struct lap lap;
	struct ctl c;
	int ret;

	if (!hdr || !rp || size < sizeof(c))
		goto out;
	memcpy(&c, data, sizeof(c));
	data += sizeof(c);
	size -= sizeof(c);

	dsize = SHMRING_MIN_DATA_SIZE << (c.size_log % 3);
	area = malloc(2 * dsize);
	if (!area)
		goto out;
	memset(area, 0, dsize);
	memcpy(area, data, size < dsize ? size : dsize);
	memcpy(area + dsize, area, dsize);

	if (!(c.mode & MODE_ANY_MAX))
		c.max_record %= (uint32_t)(dsize - sizeof(struct shmring_rec) + 1);
	hdr->magic = SHMRING_MAGIC;
	hdr->data_size = dsize;
	hdr->max_record = c.max_record;
	hdr->tail = c.tail;
	hdr->tail_seq = c.seq;
	hdr->head_seq = c.head_seq;
	if (c.mode & MODE_RAW) {
		hdr->head = c.head;
		rp->pos = c.pos;
		rp->txn_pos = c.txn_pos;
	} else {
		hdr->head = c.tail + c.head % (dsize + 64);
		rp->pos = c.tail + c.pos % (dsize + 64) - 32;
		if (c.mode & MODE_ALIGN)
			rp->pos &= ~7ULL;
		rp->txn_pos = c.mode & MODE_TXN_AT_POS ? rp->pos : SHMRING_TXN_NONE;
	}
	rp->seq = c.seq;
	rp->txn_seq = c.txn_seq;
	rp->txn_read = c.txn_seq >> 3;
	rp->txn_lost = c.txn_seq >> 5;

	memset(&rd, 0, sizeof(rd));
	rd.hdr = hdr;
	rd.data = area;
	rd.rp = rp;
	rd.data_size = dsize;
	rd.max_record = c.max_record;
	if (shmring_rd_attach(&rd))
		goto out;
	if (c.mode & MODE_ANY_MAX && SHMRING_REC_TOTAL(c.max_record) > dsize)
		abort();		/* attach must refuse what cannot fit */
	/* Committed: txn_pos names pos, or lap_from for a lapped pos. */
	if (rp->txn_pos == (rp->pos & SHMRING_POS_LAPPED ? rp->lap_from : rp->pos) &&
	    rp->seq != rp->txn_seq)
		abort();		/* a committed txn was not applied */

	buf = malloc(c.max_record ? c.max_record : 1);
	if (!buf)
		goto out;
	lap.hdr = hdr;
	lap.laps = c.laps % 16;
	rd.copy = copy_lapping;
	rd.copy_arg = &lap;
	/* Every record is >= 40 bytes and within data_size of the cursor. */
	for (steps = 0; steps < dsize / 40 + 2; steps++) {
		head = hdr->head;
		if (c.mode & MODE_READ) {
			ret = shmring_rd_read(&rd, &rec, buf, c.max_record);
			if (ret < 0)
				break;
			if ((uint32_t)ret != rec.len || rec.data != buf)
				abort();
		} else {
			ret = shmring_rd_peek(&rd, &rec);
			if (ret)
				break;
			check_record(&rd, &rec, area, head);
			ret = shmring_rd_consume(&rd);
			if (ret && ret != -ESTALE)
				abort();
		}
		check_page(&rd);
	}
	if (steps == dsize / 40 + 2 && shmring_rd_peek(&rd, &rec) == 0 &&
	    hdr->tail == c.tail)
		abort();		/* more records than fit in the ring */
out:
	free(buf);
	free(area);
	free(rp);
	free(hdr);
	return 0;
}
