// SPDX-License-Identifier: GPL-2.0
/*
 * Native tests of libshmring's reader (lib/reader.c) on ring images built
 * in memory: the code a reader process runs, without the module. Valid
 * records, a record across the end of the data area, a lapped reader,
 * corrupt headers and cursors, a sequence number behind the cursor, the
 * cursor transaction (a kill after each of its stores, recovered on
 * attach), DISCARD records, -ESTALE, shmring_read()'s copy and retry,
 * and when a consume must kick waiting writers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../tap.h"

#define SIZE	4096ULL
#define MAXREC	1024U

/* A ring as a reader maps it: header page, data twice, reader page. */
struct img {
	struct shmring_hdr hdr;
	uint64_t data[2 * SIZE / 8];
	struct shmring_reader rp;
	struct shmring_rd rd;
	int lap;		/* write as a SHMRING_FEAT_LAP kernel */
	uint64_t ring_lost;	/* what that kernel counts (records_lost) */
};

static unsigned char *bytes(struct img *m)
{
	return (unsigned char *)m->data;
}

/* Store @len bytes at ring position @pos, in both copies of the area. */
static void img_store(struct img *m, uint64_t pos, const void *src, size_t len)
{
	const unsigned char *s = src;
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t off = (pos + i) & (SIZE - 1);

		bytes(m)[off] = s[i];
		bytes(m)[off + SIZE] = s[i];
	}
}

static struct shmring_rec rec_hdr(uint32_t len, uint32_t type, uint64_t seq)
{
	struct shmring_rec h;

	memset(&h, 0, sizeof(h));
	h.len = len;
	h.type = type;
	h.seq = seq;
	h.pid = 42;
	h.tstamp_ns = 1000 + seq;
	return h;
}

/* A fresh, empty ring whose positions start at @start; the reader there. */
static void img_init(struct img *m, uint64_t start)
{
	memset(m, 0, sizeof(*m));
	m->hdr.magic = SHMRING_MAGIC;
	m->hdr.abi_version = SHMRING_ABI_VERSION;
	m->hdr.hdr_size = sizeof(m->hdr);
	m->hdr.data_size = SIZE;
	m->hdr.max_record = MAXREC;
	m->hdr.head = m->hdr.tail = start;
	m->rp.pos = start;
	m->rp.txn_pos = SHMRING_TXN_NONE;
	m->rd.hdr = &m->hdr;
	m->rd.data = bytes(m);
	m->rd.rp = &m->rp;
	m->rd.data_size = SIZE;
	m->rd.max_record = MAXREC;
}

static int img_attach(struct img *m)
{
	return shmring_rd_attach(&m->rd);
}

/* Size of the record at @pos (for reclaim). */
static uint64_t rec_total_at(struct img *m, uint64_t pos)
{
	struct shmring_rec h;

	memcpy(&h, bytes(m) + (pos & (SIZE - 1)), sizeof(h));
	return SHMRING_REC_TOTAL(h.len);
}

/*
 * Append a record as the kernel's writer would: reclaim the oldest
 * records when needed (overwrite), store header and payload, publish.
 * The payload is @len bytes of (seq + i).
 */
static void img_put(struct img *m, uint32_t type, uint32_t len, uint16_t flags)
{
	struct shmring_rec h = rec_hdr(len, type, m->hdr.head_seq);
	uint64_t total = SHMRING_REC_TOTAL(len), i;
	unsigned char pad[8] = { 0 };

	uint64_t old_tail = m->hdr.tail, tail = old_tail, p;

	while (m->hdr.head - tail + total > SIZE) {
		tail += rec_total_at(m, tail);
		m->hdr.tail_seq++;
	}
	/*
	 * A SHMRING_FEAT_LAP kernel swaps a passed cursor to the new tail
	 * (with the LAPPED bit) before it publishes the tail, and counts
	 * the records from where the cursor was.
	 */
	p = m->rp.pos & ~SHMRING_POS_LAPPED;
	if (m->lap && p < tail) {
		for (i = old_tail; i < tail; i += rec_total_at(m, i))
			if (i >= p)
				m->ring_lost++;
		if (!(m->rp.pos & SHMRING_POS_LAPPED))
			m->rp.lap_from = m->rp.pos;
		m->rp.pos = tail | SHMRING_POS_LAPPED;
	}
	m->hdr.tail = tail;
	h.flags = flags;
	img_store(m, m->hdr.head, &h, sizeof(h));
	for (i = 0; i < len; i++) {
		unsigned char b = (unsigned char)(h.seq + i);

		img_store(m, m->hdr.head + sizeof(h) + i, &b, 1);
	}
	img_store(m, m->hdr.head + sizeof(h) + len, pad, total - sizeof(h) - len);
	m->hdr.head += total;
	m->hdr.head_seq++;
}

static int payload_ok(const struct shmring_record *r)
{
	const unsigned char *p = r->data;
	uint32_t i;

	for (i = 0; i < r->len; i++)
		if (p[i] != (unsigned char)(r->seq + i))
			return 0;
	return 1;
}

static int in_image(struct img *m, const struct shmring_record *r)
{
	const unsigned char *p = r->data;

	return p >= bytes(m) && p + r->len <= bytes(m) + 2 * SIZE;
}

static void test_attach(void)
{
	static struct img m;

	img_init(&m, 0);
	is_int(img_attach(&m), 0, "attach: a valid image");
	m.hdr.magic = 1;
	is_int(img_attach(&m), -EPROTO, "attach: bad magic -> -EPROTO");
	img_init(&m, 0);
	m.hdr.data_size = 2 * SIZE;
	is_int(img_attach(&m), -EPROTO, "attach: header's data_size differs from open's -> -EPROTO");
	img_init(&m, 0);
	m.rd.max_record = SIZE;
	is_int(img_attach(&m), -EPROTO, "attach: a max_record that cannot fit -> -EPROTO");
	img_init(&m, 0);
	m.rd.data_size = m.hdr.data_size = SIZE - 8;
	is_int(img_attach(&m), -EPROTO, "attach: data_size not a power of two -> -EPROTO");
	img_init(&m, 0);
	m.rd.rp = NULL;
	is_int(img_attach(&m), -EINVAL, "attach: no reader page -> -EINVAL");
}

static void test_records(void)
{
	static struct img m;
	struct shmring_record r;
	int ret;

	img_init(&m, 0);
	img_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EAGAIN, "empty ring: -EAGAIN");
	is_int(shmring_rd_consume(&m.rd), -EINVAL, "consume without peek: -EINVAL");
	img_put(&m, 7, 5, 0);
	img_put(&m, 8, 0, 0);
	img_put(&m, 9, 100, SHMRING_REC_CSUM);
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 0 && r.type == 7 && r.len == 5 && r.pid == 42 &&
	   r.tstamp_ns == 1000 && payload_ok(&r) && in_image(&m, &r),
	   "peek: first record, fields and payload");
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 0, "peek again: the same record");
	is_int(shmring_rd_consume(&m.rd), 0, "consume: 0");
	ok(m.rp.pos == 48 && m.rp.seq == 1 && m.rp.records_read == 1 &&
	   m.rp.records_lost == 0 && m.rp.last_read_ns != 0,
	   "reader page: pos 48, seq 1, 1 read, 0 lost, last_read_ns set");
	ok(m.rp.txn_pos == 48 && m.rp.txn_seq == 1 && m.rp.txn_read == 1 &&
	   m.rp.txn_lost == 0, "reader page: the txn names the committed cursor");
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 1 && r.len == 0, "zero-length record");
	shmring_rd_consume(&m.rd);
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 2 && r.len == 100 && r.flags == SHMRING_REC_CSUM &&
	   payload_ok(&r), "record with CSUM flag");
	shmring_rd_consume(&m.rd);
	is_int(shmring_rd_peek(&m.rd, &r), -EAGAIN, "drained: -EAGAIN");
	ok(m.rp.records_read == 3 && m.rp.seq == 3 && m.rd.lost == 0,
	   "3 read, seq 3, nothing lost");
	m.rd.hdr = NULL;
	is_int(shmring_rd_peek(&m.rd, &r), -EBADF, "no ring mapped (writer handle): -EBADF");
}

/* Records across the end of the data area are contiguous (mapped twice). */
static void test_wrap(void)
{
	static struct img m;
	struct shmring_record r;
	uint64_t start = UINT64_MAX - 3 * SIZE / 2 + 1;	/* positions wrap 2^64 too */
	int i, n = 0, bad = 0, crossed = 0;

	start &= ~7ULL;
	img_init(&m, start);
	img_attach(&m);
	for (i = 0; i < 200; i++) {
		img_put(&m, (uint32_t)i, (uint32_t)(17 * i % 700), 0);
		if (shmring_rd_peek(&m.rd, &r) || r.seq != (uint64_t)i || !payload_ok(&r) ||
		    !in_image(&m, &r)) {
			bad++;
			continue;
		}
		if ((const unsigned char *)r.data + r.len > bytes(&m) + SIZE)
			crossed++;
		if (shmring_rd_consume(&m.rd))
			bad++;
		n++;
	}
	ok(n == 200 && bad == 0, "wrap: 200 records of 0..699 bytes read intact");
	ok(crossed > 0, "wrap: %d records ran past the end of the area, read in one piece",
	   crossed);
	ok(m.rd.pos == m.hdr.head && m.rp.records_read == 200 && m.rd.lost == 0,
	   "wrap: reader at head, positions wrapped 2^64, none lost");
}

static void test_lapped(void)
{
	static struct img m;
	struct shmring_record r;
	int i, ret;

	img_init(&m, 0);
	img_attach(&m);
	for (i = 0; i < 100; i++)
		img_put(&m, 1, 8, 0);		/* 48 bytes each; 85 fit */
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == m.hdr.tail_seq && m.rd.pos == m.hdr.tail,
	   "lapped: peek moves to the tail (seq %llu)", (unsigned long long)r.seq);
	is_int(shmring_rd_consume(&m.rd), 0, "lapped: consume");
	ok(m.rd.lost == m.hdr.tail_seq && m.rp.records_lost == m.hdr.tail_seq &&
	   m.rp.records_read == 1, "lapped: the gap (%llu) counted lost once",
	   (unsigned long long)m.hdr.tail_seq);
	while (shmring_rd_peek(&m.rd, &r) == 0)
		shmring_rd_consume(&m.rd);
	ok(m.rp.records_read + m.rp.records_lost == 100 && m.rp.seq == 100,
	   "lapped: read + lost = written");
}

/* Fill a ring with 8-byte records (48 bytes each) until the reader is lapped. */
static void img_lap(struct img *m)
{
	uint64_t before = m->ring_lost;

	while (m->ring_lost == before)
		img_put(m, 1, 8, 0);
}

/*
 * SHMRING_FEAT_LAP: the kernel moves a lapped cursor itself, with a swap
 * the reader's commit (a swap too) wins or loses; both count the same.
 */
static void test_lap_swap(void)
{
	static struct img m;
	struct shmring_record r;
	uint64_t t, written;
	unsigned int i, k;
	int ret;

	img_init(&m, 0);
	m.lap = 1;
	img_attach(&m);
	img_put(&m, 1, 8, 0);
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	img_lap(&m);
	t = m.hdr.tail;
	ok(m.rp.pos == (t | SHMRING_POS_LAPPED) && m.rp.seq == 1,
	   "lap: the kernel swapped pos to the tail, seq untouched");
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == m.hdr.tail_seq && m.rd.pos == t,
	   "lap: peek goes on from the swapped position");
	is_int(shmring_rd_consume(&m.rd), 0, "lap: consume after it");
	ok(!(m.rp.pos & SHMRING_POS_LAPPED) && m.rp.records_lost == m.ring_lost &&
	   m.rd.lost == m.ring_lost && m.rp.records_read == 2,
	   "lap: the commit clears the bit; the reader counts what the kernel counted (%llu)",
	   (unsigned long long)m.ring_lost);

	/* Lapped between peek and consume: the kernel's swap won. */
	ret = shmring_rd_peek(&m.rd, &r);
	img_lap(&m);
	t = m.rp.pos;
	is_int(shmring_rd_consume(&m.rd), -ESTALE, "lap while held: -ESTALE");
	ok(m.rp.pos == t && m.rp.records_read == 2 && m.rp.txn_pos == SHMRING_TXN_NONE,
	   "lap while held: the commit failed, nothing read, txn voided");
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && shmring_rd_consume(&m.rd) == 0 &&
	   m.rp.records_lost == m.ring_lost && m.rp.records_read == 3,
	   "lap while held: the held record counts lost once, on both sides");

	/* A subscription lapped while nobody was attached. */
	img_lap(&m);
	m.rp.txn_pos = m.rp.pos & ~SHMRING_POS_LAPPED;	/* a stale txn naming T */
	m.rp.txn_read = 99;
	img_attach(&m);
	ok(m.rd.pos == (m.rp.pos & ~SHMRING_POS_LAPPED) && m.rp.records_read == 3,
	   "lap: attach takes the position; a txn never names a lapped pos");
	while (shmring_rd_peek(&m.rd, &r) == 0)
		shmring_rd_consume(&m.rd);
	ok(m.rp.records_lost == m.ring_lost &&
	   m.rp.records_read + m.rp.records_lost == m.hdr.head_seq,
	   "lap: drained, read + lost = written, lost = the kernel's count");

	/*
	 * Killed after its commit (step 4), before step 5, then lapped: pos
	 * no longer names the commit, lap_from does; attach finishes it.
	 */
	img_init(&m, 0);
	m.lap = 1;
	img_attach(&m);
	img_put(&m, 1, 8, 0);
	img_put(&m, 1, 8, 0);
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	m.rp.seq = 1;			/* step 5 of the second consume undone */
	m.rp.records_read = 1;
	img_lap(&m);
	img_attach(&m);
	ok(m.rp.seq == 2 && m.rp.records_read == 2,
	   "lap after a kill between commit and step 5: attach finishes the commit");
	while (shmring_rd_peek(&m.rd, &r) == 0)
		shmring_rd_consume(&m.rd);
	ok(m.rp.records_lost == m.ring_lost &&
	   m.rp.records_read + m.rp.records_lost == m.hdr.head_seq,
	   "lap after a kill: counters exact (read %llu, lost %llu, kernel lost %llu)",
	   (unsigned long long)m.rp.records_read, (unsigned long long)m.rp.records_lost,
	   (unsigned long long)m.ring_lost);

	/* Random interleavings of writes, peeks and consumes. */
	srand(7);
	img_init(&m, 0);
	m.lap = 1;
	img_attach(&m);
	for (i = 0; i < 20000; i++) {
		k = (unsigned int)rand() % 4;
		if (k == 0) {
			img_put(&m, 2, (uint32_t)rand() % 200, 0);
		} else if (k == 1) {
			if (shmring_rd_peek(&m.rd, &r) == 0) {
				if (rand() % 2)
					img_put(&m, 2, (uint32_t)rand() % 300, 0);
				ret = shmring_rd_consume(&m.rd);
				(void)ret;
			}
		} else {
			img_put(&m, 2, (uint32_t)rand() % 100, 0);
		}
	}
	while (shmring_rd_peek(&m.rd, &r) == 0)
		shmring_rd_consume(&m.rd);
	written = m.hdr.head_seq;
	ok(m.rp.records_lost == m.ring_lost && m.rd.lost == m.ring_lost &&
	   m.rp.records_read + m.rp.records_lost == written,
	   "lap, random: read %llu + lost %llu = written %llu; kernel lost %llu",
	   (unsigned long long)m.rp.records_read, (unsigned long long)m.rp.records_lost,
	   (unsigned long long)written, (unsigned long long)m.ring_lost);
}

/* One corrupt thing at a time, then peek. */
static void test_corrupt(void)
{
	static struct img m;
	struct shmring_record r;
	struct shmring_rec h;

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	img_attach(&m);
	h = rec_hdr(MAXREC + 1, 1, 0);
	img_store(&m, 0, &h, sizeof(h));
	m.hdr.head = SHMRING_REC_TOTAL(MAXREC + 1);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "corrupt: len above max_record");

	img_init(&m, 0);
	img_put(&m, 1, 100, 0);
	m.hdr.head = 96;
	img_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "corrupt: record beyond head");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0x40);
	img_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "corrupt: unknown record flag");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	h = rec_hdr(8, 1, 0);
	h.__reserved1 = 3;
	img_store(&m, 0, &h, sizeof(h));
	img_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "corrupt: reserved field set");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	img_put(&m, 1, 8, 0);
	m.rp.pos = 4;
	img_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "corrupt cursor: misaligned position");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	m.rp.pos = 96;
	img_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "corrupt cursor: position beyond head");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	m.hdr.head = 2 * SIZE;
	img_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG,
	       "corrupt header: head more than data_size past the reader");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	m.hdr.tail = 100;
	img_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "corrupt header: tail past head");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	img_put(&m, 1, 8, 0);
	m.rp.seq = 5;
	img_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "a record's seq behind the cursor's: -EBADMSG");
}

/*
 * The cursor transaction, a kill after each of its stores: the page is
 * the old cursor with the first n stores of a consume applied. On
 * attach the cursor must be the old one or the new one, never a mix,
 * and peek must work.
 */
static void apply_stores(struct shmring_reader *rp, int n, uint64_t pos,
			 uint64_t seq, uint64_t nread, uint64_t nlost)
{
	__u64 *field[] = { &rp->txn_pos, &rp->txn_seq, &rp->txn_read, &rp->txn_lost,
			      &rp->txn_pos, &rp->pos, &rp->seq, &rp->records_read,
			      &rp->records_lost };
	uint64_t val[] = { SHMRING_TXN_NONE, seq, nread, nlost, pos, pos, seq, nread,
			   nlost };
	int i;

	for (i = 0; i < n; i++)
		*field[i] = val[i];
}

static void test_txn(void)
{
	static struct img m;
	struct shmring_record r;
	int n, i, bad = 0, bad_peek = 0, olds = 0, news = 0;

	for (n = 0; n <= 9; n++) {
		/* 1 record consumed (gap of 3 before it), kill in the next. */
		img_init(&m, 0);
		for (i = 0; i < 6; i++)
			img_put(&m, 1, 8, 0);
		/* The old cursor: record 3 consumed, txn from its commit. */
		m.rp.pos = m.rp.txn_pos = 4 * 48;
		m.rp.seq = m.rp.txn_seq = 4;
		m.rp.records_read = m.rp.txn_read = 1;
		m.rp.records_lost = m.rp.txn_lost = 3;
		/* The consume of record 4 (seq 4 at 192), killed after n stores. */
		apply_stores(&m.rp, n, 5 * 48, 5, 2, 3);
		if (img_attach(&m)) {
			bad++;
			continue;
		}
		if (m.rp.pos == 4 * 48 && m.rp.seq == 4 && m.rp.records_read == 1 &&
		    m.rp.records_lost == 3)
			olds++;
		else if (m.rp.pos == 5 * 48 && m.rp.seq == 5 && m.rp.records_read == 2 &&
			 m.rp.records_lost == 3)
			news++;
		else {
			bad++;
			diag("after %d stores: pos %llu seq %llu read %llu lost %llu", n,
			     (unsigned long long)m.rp.pos, (unsigned long long)m.rp.seq,
			     (unsigned long long)m.rp.records_read,
			     (unsigned long long)m.rp.records_lost);
		}
		if (shmring_rd_peek(&m.rd, &r) || r.seq != m.rp.seq)
			bad_peek++;
	}
	is_int(bad, 0, "txn: after a kill at each of the 9 stores, attach sees the old or the new cursor");
	ok(olds == 6 && news == 4, "txn: old cursor up to the commit store (%d kills), new after it (%d)",
	   olds, news);
	is_int(bad_peek, 0, "txn: peek after every kill gives the record at the cursor");

	/* Without step 1 the stale txn at the old pos would be applied. */
	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	img_put(&m, 1, 8, 0);
	m.rp.pos = m.rp.txn_pos = 48;
	m.rp.seq = m.rp.txn_seq = 1;
	m.rp.txn_seq = 2;		/* half-written txn, txn_pos not voided */
	img_attach(&m);
	is_int(m.rp.seq, 2, "txn: a txn naming pos is applied (this is why step 1 voids it)");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	img_put(&m, 1, 8, 0);
	m.rp.pos = 48;
	m.rp.seq = 1;
	m.rp.records_read = 1;
	m.rp.txn_pos = 96;		/* never committed */
	m.rp.txn_seq = 2;
	m.rp.txn_read = 2;
	img_attach(&m);
	ok(m.rp.seq == 1 && m.rp.records_read == 1 && m.rd.seq == 1,
	   "txn: a txn for another position is ignored");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	m.rp.txn_pos = 0;
	m.rp.txn_seq = 0;
	img_attach(&m);
	ok(shmring_rd_peek(&m.rd, &r) == 0 && r.seq == 0,
	   "txn: an all-zero txn at position 0 is harmless");
}

static void test_discard_stale(void)
{
	static struct img m;
	struct shmring_record r;
	int ret;

	img_init(&m, 0);
	img_put(&m, 1, 8, SHMRING_REC_DISCARD);
	img_put(&m, 2, 8, SHMRING_REC_DISCARD);
	img_put(&m, 3, 8, 0);
	img_attach(&m);
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 2 && r.type == 3, "DISCARD records are skipped");
	ok(m.rd.lost == 0 && m.rp.seq == 2, "DISCARD: not lost, cursor past them");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	img_put(&m, 1, 8, 0);
	img_attach(&m);
	shmring_rd_peek(&m.rd, &r);
	m.hdr.tail = 48;		/* a writer overwrote it meanwhile */
	m.hdr.tail_seq = 1;
	is_int(shmring_rd_consume(&m.rd), -ESTALE, "overwritten while held: -ESTALE");
	ok(m.rp.pos == 48 && m.rp.records_read == 0 && m.rp.records_lost == 1 &&
	   m.rd.lost == 1, "-ESTALE: moved past it, counted lost, not read");
}

/* A copy during which a writer laps the reader over @laps records. */
struct lapper {
	struct img *m;
	int laps;
};

static void *copy_lapped(void *dst, const void *src, size_t n, void *arg)
{
	struct lapper *l = arg;

	memcpy(dst, src, n);
	if (l->laps > 0) {
		l->laps--;
		memset(dst, 0xee, n);	/* what a torn copy would look like */
		l->m->hdr.tail += 48;
		l->m->hdr.tail_seq++;
	}
	return dst;
}

static void test_read(void)
{
	static struct img m;
	struct shmring_record r;
	struct lapper l = { &m, 2 };
	unsigned char buf[64];
	int ret;

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	img_put(&m, 2, 20, 0);
	img_put(&m, 3, 0, 0);
	img_attach(&m);
	ret = shmring_rd_read(&m.rd, &r, buf, sizeof(buf));
	ok(ret == 8 && r.data == buf && r.seq == 0 && r.type == 1 && payload_ok(&r),
	   "read: copied, data points to the buffer");
	ret = shmring_rd_read(&m.rd, &r, buf, 19);
	ok(ret == -EMSGSIZE && r.len == 20 && r.seq == 1 && m.rd.pos == 48,
	   "read: -EMSGSIZE, rec has the length, record not consumed");
	ret = shmring_rd_read(&m.rd, NULL, buf, 20);
	is_int(ret, 20, "read: exact-size buffer; rec may be NULL");
	ret = shmring_rd_read(&m.rd, &r, NULL, 0);
	ok(ret == 0 && r.seq == 2, "read: zero-length record into no buffer");
	is_int(shmring_rd_read(&m.rd, &r, buf, sizeof(buf)), -EAGAIN, "read: drained: -EAGAIN");
	ok(m.rp.records_read == 3 && m.rd.lost == 0, "read: 3 read");

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	img_put(&m, 2, 8, 0);
	img_put(&m, 3, 8, 0);
	img_put(&m, 4, 8, 0);
	img_attach(&m);
	m.rd.copy = copy_lapped;
	m.rd.copy_arg = &l;
	ret = shmring_rd_read(&m.rd, &r, buf, sizeof(buf));
	ok(ret == 8 && r.seq == 2 && r.type == 3 && payload_ok(&r),
	   "read: two records overwritten while copied: retried, the third one returned intact");
	ok(m.rd.lost == 2 && m.rp.records_lost == 2 && m.rp.records_read == 1,
	   "read: the overwritten ones count lost, not read");
}

static void test_kick(void)
{
	static struct img m;
	struct shmring_record r;
	int i;

	img_init(&m, 0);
	for (i = 0; i < 4; i++)
		img_put(&m, 1, 8, 0);
	img_attach(&m);
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	is_int(shmring_rd_want_kick(&m.rd), 0, "kick: nobody waits");
	m.hdr.writers_waiting = 1;
	is_int(shmring_rd_want_kick(&m.rd), 0, "kick: not without a consume");
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	is_int(shmring_rd_want_kick(&m.rd), 1, "kick: old kernel, writers wait: after each consume");
	m.rd.wait_pos = 1;
	m.hdr.wait_pos = 4 * 48;
	m.hdr.wait_gen = 1;
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	is_int(shmring_rd_want_kick(&m.rd), 0, "kick: wait_pos not reached yet");
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	is_int(shmring_rd_want_kick(&m.rd), 1, "kick: wait_pos reached");
	img_put(&m, 1, 8, 0);
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	is_int(shmring_rd_want_kick(&m.rd), 0, "kick: once per wait_gen");
	m.hdr.wait_gen = 2;
	img_put(&m, 1, 8, 0);
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	is_int(shmring_rd_want_kick(&m.rd), 1, "kick: again for a new wait_gen");
}

int main(void)
{
	plan_no_plan();
	test_attach();
	test_records();
	test_wrap();
	test_lapped();
	test_lap_swap();
	test_corrupt();
	test_txn();
	test_discard_stale();
	test_read();
	test_kick();
	return done_testing();
}
