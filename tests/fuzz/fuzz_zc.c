// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for libshmring's reader on zero-copy rings
 * (SHMRING_ATTR_ZEROCOPY, lib/reader.c), the sibling of fuzz_record.c:
 * the real shmring_rd_attach/peek/consume/read/consume_n/pending on a ring
 * image built from the input, whose data area writers share and may
 * have scribbled anything on.
 *
 * Input: a struct ctl (geometry, head, tail, zc_closed, the cursor, what
 * to do), then ctl.nstamp 4-byte stamps, then the data area (zero-padded
 * or cut to data_size). Stamps lay records out from the tail the way
 * writers do (a commit word naming the record's position and a state,
 * a length, flags), one chunk after another, so that the walk gets deep
 * before the raw bytes corrupt it. The area is laid out twice in one
 * allocation of exactly 2 * data_size bytes, as the mapping is, so ASan
 * sees any read past it.
 *
 * Nothing may be read out of bounds, every call must end and the walk
 * must end within data_size / 8 moves; every record handed over lies at
 * the cursor, inside its chunk and the granted bytes, within max_record,
 * and is numbered one more than the record before it (more only across
 * DISCARD records); the reader page holds a committed cursor after every
 * move; and a peek that finds nothing leaves nothing pending.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctl {
	uint32_t max_record;
	uint8_t size_log;	/* data_size = 4 KiB << (size_log % 3) */
	uint8_t chunk_log;	/* zc_chunk = 64 << (chunk_log % 8), at most data_size */
	uint8_t mode;		/* MODE_* */
	uint8_t nstamp;		/* stamps after the struct */
	uint64_t head;		/* chunks after tail, unless MODE_RAW */
	uint64_t tail;
	uint64_t pos;		/* bytes after tail, unless MODE_RAW */
	uint64_t seq;
	uint64_t closed;	/* bytes after tail, unless MODE_RAW */
	uint64_t tail_seq;
};

#define MODE_RAW	(1U << 0)	/* head, pos, zc_closed as given */
#define MODE_READ	(1U << 1)	/* shmring_rd_read */
#define MODE_DRAIN	(1U << 2)	/* shmring_rd_consume_n */
#define MODE_EACH	(1U << 3)	/* ... one record at a time */
#define MODE_LAPPED	(1U << 4)	/* the cursor carries SHMRING_POS_LAPPED */
#define MODE_MAXREC	(1U << 5)	/* max_record as given (clamped to fit) */

/* What was handed over, checked as it is. */
struct walk {
	const struct shmring_rd *rd;
	const unsigned char *area;
	uint64_t head;
	uint64_t last_seq;
	int any;
	unsigned int sum;
};

static void check_record(struct walk *w, const struct shmring_record *rec, int inplace)
{
	const struct shmring_rd *rd = w->rd;
	const unsigned char *p = rec->data;
	uint64_t total = SHMRING_REC_TOTAL(rec->len), off = rd->pos & (rd->zc_chunk - 1);
	uint32_t i;

	if (rec->len > rd->max_record)
		abort();
	if (inplace) {
		if (p != w->area + (rd->pos & rd->mask) + sizeof(struct shmring_rec))
			abort();		/* not the record at the cursor */
		if (off + total > rd->zc_chunk)
			abort();		/* past its chunk */
		if ((int64_t)(w->head - rd->pos) < (int64_t)total || (rd->pos & 7))
			abort();		/* beyond the granted bytes */
	}
	/*
	 * Numbered one more than the record before, or more across DISCARD
	 * records (numbered, never handed over), of which a walk within
	 * data_size meets fewer than data_size / 40.
	 */
	if (w->any && (rec->seq - w->last_seq == 0 ||
		       rec->seq - w->last_seq > rd->data_size / sizeof(struct shmring_rec)))
		abort();
	w->any = 1;
	w->last_seq = rec->seq;
	for (i = 0; i < rec->len; i++)
		w->sum += p[i];			/* every byte handed over is inside */
}

static int handler(void *ctx, const struct shmring_record *rec)
{
	check_record(ctx, rec, 1);
	return rec->type == 0xde ? -1 : 0;	/* a handler's error, now and then */
}

/*
 * The reader page holds a committed cursor; after a record was consumed
 * (@moved), the reader's own.
 */
static void check_page(const struct shmring_rd *rd, int moved)
{
	const struct shmring_reader *rp = rd->rp;

	if (moved && (rp->pos != rd->pos || rp->seq != rd->seq))
		abort();
	/* (A raw pos of ~0 is SHMRING_TXN_NONE: never a committed one.) */
	if (rp->txn_pos == rp->pos && rp->txn_pos != SHMRING_TXN_NONE &&
	    (rp->txn_seq != rp->seq || rp->txn_read != rp->records_read ||
	     rp->txn_lost != rp->records_lost))
		abort();
}

/*
 * Lay records out from @from, chunk after chunk, as the stamps say: byte
 * 0 the commit word (low 3 bits a state, used when bits 4-5 are 0, else
 * DONE; bit 3: name another lap's position; bits 6-7 both set: end the
 * chunk after it), bytes 1-2 the length (12 bits) and flags (the top
 * nibble 0xf: byte 3's low bits), byte 3 the type.
 */
static void stamp(unsigned char *area, uint64_t dsize, uint64_t chunk, uint64_t from,
		  const uint8_t *st, unsigned int n)
{
	uint64_t pos = from, end = (from | (chunk - 1)) + 1;
	unsigned int i;

	for (i = 0; i < n && pos - from < dsize; i++, st += 4) {
		struct shmring_rec h;
		uint64_t total;

		if (pos == end)
			end += chunk;	/* the last record filled its chunk */
		memset(&h, 0, sizeof(h));
		h.len = (uint32_t)st[1] | (uint32_t)(st[2] & 0x0f) << 8;
		h.type = st[3];
		h.flags = st[2] >> 4 == 0xf ? (uint16_t)(st[3] & 7) : 0;
		h.seq = (st[0] & 0x30 ? pos | SHMRING_ZC_DONE : pos | (st[0] & 7)) ^
			(st[0] & 8 ? dsize : 0);
		total = SHMRING_REC_TOTAL(h.len);
		if (end - pos >= sizeof(h))
			memcpy(area + (pos & (dsize - 1)), &h, sizeof(h));
		else if (end - pos >= 16)
			memcpy(area + (pos & (dsize - 1)) + 8, &h.seq, 8);
		if ((st[0] & 0xc0) == 0xc0 || total > end - pos || h.seq != (pos | SHMRING_ZC_DONE)) {
			pos = end;		/* the chunk ends here */
			end += chunk;
		} else {
			pos += total;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shmring_hdr *hdr = calloc(1, sizeof(*hdr));
	struct shmring_reader *rp = calloc(1, sizeof(*rp));
	struct shmring_rd_drain d;
	struct shmring_record rec;
	struct shmring_rd rd;
	unsigned char *area = NULL, *buf = NULL;
	uint64_t dsize, chunk, steps, moves = 0, pos;
	const uint8_t *st;
	struct walk w;
	struct ctl c;
	int ret;

	if (!hdr || !rp || size < sizeof(c))
		goto out;
	memcpy(&c, data, sizeof(c));
	data += sizeof(c);
	size -= sizeof(c);
	if (size < 4U * c.nstamp)
		goto out;
	st = data;
	data += 4U * c.nstamp;
	size -= 4U * c.nstamp;

	dsize = SHMRING_MIN_DATA_SIZE << (c.size_log % 3);
	chunk = 64ULL << (c.chunk_log % 8);
	if (chunk > dsize)
		chunk = dsize;
	area = malloc(2 * dsize);
	if (!area)
		goto out;
	memset(area, 0, dsize);
	memcpy(area, data, size < dsize ? size : dsize);
	c.tail &= ~(chunk - 1);		/* chunks are aligned to their size */
	stamp(area, dsize, chunk, c.tail, st, c.nstamp);
	memcpy(area + dsize, area, dsize);

	if (c.mode & MODE_MAXREC)
		c.max_record %= (uint32_t)(dsize - sizeof(struct shmring_rec) + 1);
	else
		c.max_record = (uint32_t)(chunk - sizeof(struct shmring_rec));
	hdr->magic = SHMRING_MAGIC;
	hdr->data_size = dsize;
	hdr->max_record = c.max_record;
	hdr->flags = SHMRING_ATTR_ZEROCOPY;
	hdr->zc_chunk = (uint32_t)chunk;
	hdr->tail = c.tail;
	hdr->tail_seq = c.tail_seq;
	if (c.mode & MODE_RAW) {
		hdr->head = c.head;
		hdr->zc_closed = c.closed;
		rp->pos = c.pos;
	} else {
		hdr->head = c.tail + chunk * (c.head % (dsize / chunk + 1));
		hdr->zc_closed = c.tail + c.closed % (dsize + 64);
		rp->pos = c.tail + (c.pos % (dsize / 8 + 1)) * 8;
	}
	if (c.mode & MODE_LAPPED)
		rp->pos |= SHMRING_POS_LAPPED;
	rp->seq = c.seq;
	rp->txn_pos = SHMRING_TXN_NONE;

	memset(&rd, 0, sizeof(rd));
	rd.hdr = hdr;
	rd.data = area;
	rd.rp = rp;
	rd.data_size = dsize;
	rd.max_record = c.max_record;
	if (shmring_rd_attach(&rd))
		goto out;
	if (rd.zc_chunk != chunk)
		abort();
	buf = malloc(c.max_record ? c.max_record : 1);
	if (!buf)
		goto out;
	memset(&w, 0, sizeof(w));
	w.rd = &rd;
	w.area = area;
	w.head = hdr->head;
	memset(&d, 0, sizeof(d));
	d.fn = handler;
	d.ctx = &w;
	d.each = !!(c.mode & MODE_EACH);
	for (steps = 0; steps < dsize / 8 + 8; steps++) {
		pos = rd.pos;
		if (c.mode & MODE_DRAIN) {
			ret = shmring_rd_consume_n(&rd, &d, (int)(steps % 5) - 1);
			if (ret < 0 && ret != -1 && ret != -EBADMSG)
				abort();
			if (ret == -1)
				ret = shmring_rd_consume(&rd);	/* past the failed record */
			else if (ret >= 0 && d.drained && shmring_rd_pending(&rd))
				abort();	/* drained, yet pending */
		} else if (c.mode & MODE_READ) {
			ret = shmring_rd_read(&rd, &rec, buf, c.max_record);
			if (ret >= 0) {
				if ((uint32_t)ret != rec.len || rec.data != buf)
					abort();
				check_record(&w, &rec, 0);
			}
		} else {
			ret = shmring_rd_peek(&rd, &rec);
			if (ret == 0) {
				check_record(&w, &rec, 1);
				ret = shmring_rd_consume(&rd);
				if (ret && ret != -ESTALE)
					abort();
			}
		}
		if (ret == -EAGAIN && shmring_rd_pending(&rd))
			abort();		/* nothing found, yet pending */
		check_page(&rd, ret > 0 || (ret == 0 && !(c.mode & MODE_DRAIN)));
		if (rd.pos == pos && ret < 0)
			break;
		if (rd.pos != pos)
			moves++;
	}
	/* Every move is forward, by 8 bytes at least, never past head. */
	if (moves > dsize / 8 + 2)
		abort();
out:
	free(buf);
	free(area);
	free(rp);
	free(hdr);
	return 0;
}
