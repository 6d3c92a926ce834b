// SPDX-License-Identifier: GPL-2.0
/*
 * Native tests of libshmring's reader (lib/reader.c) on zero-copy rings
 * (SHMRING_ATTR_ZEROCOPY), on images built in memory by a small
 * simulation of the kernel (chunk grants, closes, reclaim with laps,
 * zc_closed, tail_seq by chunk counts) and of zero-copy writers (commit
 * words BUSY -> DONE, END when a record does not fit, writers that die
 * or stop mid-record: VOID).
 *
 * Checked: records handed over in position order with the sequence
 * numbers the reader counts, payloads, END and VOID skips (discarded
 * reservations counted), a BUSY record holding back everything after
 * it, stale words of an earlier lap, zc_closed below and above the
 * position, corrupt headers (too long, across the chunk end, unknown
 * flags, garbage below zc_closed: skipped to the chunk end and counted),
 * records up to the chunk size, chunks at every offset of the area and
 * positions across 2^64, lapped cursors (tail_seq after a lap, the gap
 * counted once, -ESTALE, a lap found at attach, a lap whose tail is not
 * published yet), kicks after skips only, bulk drains, copies, the
 * public functions; a randomized multi-writer producer against a reader
 * that consumes step by step (lossless: every record exactly once,
 * gapless; overwrite: the losses the kernel counts); random garbage over
 * the whole image, read to the end by every reading function, under
 * ASan in the test suite.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"
#include "../tap.h"

#define SIZE	8192ULL
#define CHUNK	1024ULL
#define RHDR	((uint64_t)sizeof(struct shmring_rec))	/* 40 */
#define MAXCH	(SIZE / 64)
#define WOFF	offsetof(struct shmring_rec, seq)	/* the commit word */
#define BUSY	SHMRING_ZC_BUSY
#define DONE	SHMRING_ZC_DONE
#define END	SHMRING_ZC_END
#define VOID	SHMRING_ZC_VOID
#define LAPPED	SHMRING_POS_LAPPED
#define TOTAL(len) SHMRING_REC_TOTAL(len)

static int quick;

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return n ? (uint32_t)((rnd_state >> 11) % n) : 0;
}

static uint64_t rnd64(void)
{
	return (uint64_t)rnd(1U << 31) << 33 ^ (uint64_t)rnd(1U << 31) << 2 ^ rnd(4);
}

static int before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

/* ---- the image and the simulated kernel ------------------------------------ */

/* A chunk the kernel granted, and its writer's progress in it. */
struct zchunk {
	uint64_t start;
	uint64_t fill;		/* where the next record goes */
	int open;		/* granted, not closed */
	int busy;		/* a record in progress at fill */
	uint32_t busy_len;
	unsigned int recs;	/* DONE records */
};

/* A committed record, as the writers know it. */
struct logrec {
	uint64_t pos;
	uint32_t len;
	uint32_t type;
};

struct zimg {
	struct shmring_hdr hdr;
	unsigned char *data;	/* 2 * size, allocated alone: ASan sees past it */
	struct shmring_reader rp;
	struct shmring_rd rd;
	uint64_t size, chunk;
	int lossless;
	struct zchunk ch[MAXCH];	/* by chunk index in the area */
	uint64_t ring_lost;		/* what the kernel counts */
	uint64_t voids;			/* VOIDs the kernel stored */
	uint64_t base_seq;		/* the number of the first record */
	struct logrec *log;		/* every committed record, by position */
	size_t nlog, caplog;
};

static void zi_free(struct zimg *m)
{
	free(m->data);
	free(m->log);
	m->data = NULL;
	m->log = NULL;
}

static void zi_store(struct zimg *m, uint64_t pos, const void *src, size_t len)
{
	const unsigned char *s = src;
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t off = (pos + i) & (m->size - 1);

		m->data[off] = s[i];
		m->data[off + m->size] = s[i];
	}
}

static void zi_word_store(struct zimg *m, uint64_t pos, uint64_t w)
{
	zi_store(m, pos + WOFF, &w, sizeof(w));
}

static uint64_t zi_word(struct zimg *m, uint64_t pos)
{
	uint64_t w;

	memcpy(&w, m->data + ((pos + WOFF) & (m->size - 1)), sizeof(w));
	return w;
}

/* A fresh zero-copy ring whose positions start at @start (chunk-aligned). */
static void zi_init(struct zimg *m, uint64_t size, uint64_t chunk, uint64_t start, int lossless)
{
	unsigned char *data = m->data;
	struct logrec *log = m->log;

	memset(m, 0, sizeof(*m));
	m->data = realloc(data, 2 * size);
	m->log = log;
	if (!m->data)
		bail_out("out of memory");
	memset(m->data, 0, 2 * size);
	m->size = size;
	m->chunk = chunk;
	m->lossless = lossless;
	m->hdr.magic = SHMRING_MAGIC;
	m->hdr.abi_version = SHMRING_ABI_VERSION;
	m->hdr.hdr_size = sizeof(m->hdr);
	m->hdr.data_size = size;
	m->hdr.max_record = (uint32_t)(chunk - RHDR);
	m->hdr.policy = lossless ? SHMRING_POLICY_LOSSLESS : SHMRING_POLICY_OVERWRITE;
	m->hdr.flags = SHMRING_ATTR_ZEROCOPY;
	m->hdr.zc_chunk = (uint32_t)chunk;
	m->hdr.head = m->hdr.tail = m->hdr.zc_closed = start;
	m->rp.pos = start;
	m->rp.txn_pos = SHMRING_TXN_NONE;
	m->rd.hdr = &m->hdr;
	m->rd.data = m->data;
	m->rd.rp = &m->rp;
	m->rd.data_size = size;
	m->rd.max_record = m->hdr.max_record;
}

static int zi_attach(struct zimg *m)
{
	return shmring_rd_attach(&m->rd);
}

static struct zchunk *zi_chunk_at(struct zimg *m, uint64_t pos)
{
	return &m->ch[(pos & (m->size - 1)) / m->chunk];
}

/* zc_closed: the start of the oldest open chunk, or head; zc_open. */
static void zi_closed_update(struct zimg *m)
{
	uint64_t closed = m->hdr.head, p;
	uint32_t open = 0;

	for (p = m->hdr.tail; before(p, m->hdr.head); p += m->chunk) {
		struct zchunk *c = zi_chunk_at(m, p);

		if (c->open && c->start == p) {
			if (!open++)
				closed = p;
		}
	}
	m->hdr.zc_open = open;
	m->hdr.zc_closed = closed;
}

/*
 * The kernel closes a chunk: the first word that is not DONE becomes
 * END, or VOID if it is BUSY (nothing is stored when no word fits).
 */
static void k_close(struct zimg *m, struct zchunk *c)
{
	uint64_t end = c->start + m->chunk, w;

	if (!c->open)
		return;
	if (end - c->fill >= 16) {
		w = zi_word(m, c->fill);
		if (w == (c->fill | BUSY)) {
			zi_word_store(m, c->fill, c->fill | VOID);
			m->voids++;
		} else if (w != (c->fill | END)) {
			zi_word_store(m, c->fill, c->fill | END);
		}
	}
	c->open = 0;
	c->busy = 0;
	zi_closed_update(m);
}

/* The index of the first committed record at or after @pos. */
static size_t log_lower(const struct zimg *m, uint64_t pos)
{
	size_t lo = 0, hi = m->nlog;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (before(m->log[mid].pos, pos))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Committed records at positions in [from, to). */
static uint64_t log_count(const struct zimg *m, uint64_t from, uint64_t to)
{
	return log_lower(m, to) - log_lower(m, from);
}

/*
 * Grant a chunk at head, making room as the kernel does: a lossless ring
 * only over chunks the stored cursor has passed (NULL when there is
 * none), an overwrite ring over the oldest chunks, closing them first and
 * lapping a cursor they pass (a swap to T | LAPPED, lap_from), counting
 * the records the cursor lost.
 */
static struct zchunk *k_grant(struct zimg *m)
{
	uint64_t need = m->hdr.head + m->chunk - m->size, tail = m->hdr.tail, seq = m->hdr.tail_seq;
	uint64_t p = m->rp.pos & ~LAPPED;
	struct zchunk *c;

	if (before(tail, need) && m->lossless && before(p, need))
		return NULL;
	while (before(tail, need)) {
		c = zi_chunk_at(m, tail);
		k_close(m, c);
		seq += c->recs;
		tail += m->chunk;
	}
	if (!m->lossless && before(p, tail)) {
		m->ring_lost += log_count(m, p, tail);
		if (!(m->rp.pos & LAPPED))
			m->rp.lap_from = m->rp.pos;
		m->rp.pos = tail | LAPPED;
	}
	m->hdr.tail_seq = seq;
	m->hdr.tail = tail;
	c = zi_chunk_at(m, m->hdr.head);
	memset(c, 0, sizeof(*c));
	c->start = c->fill = m->hdr.head;
	c->open = 1;
	m->hdr.head += m->chunk;
	zi_closed_update(m);
	return c;
}

static unsigned char pattern(uint64_t pos, uint32_t type, uint32_t i)
{
	return (unsigned char)((pos >> 3) * 13 + i * 7 + type);
}

/* A record header at @pos with commit word @word and its payload. */
static void put_raw(struct zimg *m, uint64_t pos, uint32_t len, uint32_t type, uint16_t flags,
		    uint64_t word)
{
	struct shmring_rec h;
	uint32_t i;

	memset(&h, 0, sizeof(h));
	h.len = len;
	h.type = type;
	h.seq = word;
	h.pid = 4242;
	h.tstamp_ns = 1000 + pos;
	h.flags = flags;
	zi_store(m, pos, &h, sizeof(h));
	/* The payload stops at the chunk's end, as a writer's copy must. */
	for (i = 0; i < len && RHDR + i < m->chunk - (pos & (m->chunk - 1)); i++) {
		unsigned char b = pattern(pos, type, i);

		zi_store(m, pos + RHDR + i, &b, 1);
	}
}

/* A writer starts a record: header and payload, word BUSY. */
static int w_begin(struct zimg *m, struct zchunk *c, uint32_t len, uint32_t type)
{
	if (!c->open || c->busy || c->fill + TOTAL(len) > c->start + m->chunk)
		return -1;
	put_raw(m, c->fill, len, type, 0, c->fill | BUSY);
	c->busy = 1;
	c->busy_len = len;
	return 0;
}

static void log_add(struct zimg *m, uint64_t pos, uint32_t len, uint32_t type)
{
	size_t i;

	if (m->nlog == m->caplog) {
		m->caplog = m->caplog ? 2 * m->caplog : 256;
		m->log = realloc(m->log, m->caplog * sizeof(*m->log));
		if (!m->log)
			bail_out("out of memory");
	}
	for (i = m->nlog; i > 0 && before(pos, m->log[i - 1].pos); i--)
		m->log[i] = m->log[i - 1];
	m->log[i].pos = pos;
	m->log[i].len = len;
	m->log[i].type = type;
	m->nlog++;
}

/* The writer's commit swap BUSY -> DONE; -1 if the kernel closed it first. */
static int w_commit(struct zimg *m, struct zchunk *c)
{
	struct shmring_rec h;

	if (!c->busy)
		return -1;
	if (zi_word(m, c->fill) != (c->fill | BUSY)) {
		c->busy = 0;
		return -1;
	}
	memcpy(&h, m->data + (c->fill & (m->size - 1)), sizeof(h));
	zi_word_store(m, c->fill, c->fill | DONE);
	log_add(m, c->fill, h.len, h.type);
	c->fill += TOTAL(c->busy_len);
	c->recs++;
	c->busy = 0;
	return 0;
}

static int put(struct zimg *m, struct zchunk *c, uint32_t len, uint32_t type)
{
	if (w_begin(m, c, len, type))
		return -1;
	return w_commit(m, c);
}

/* The writer is done with its chunk: END at its fill point, then the kernel closes it. */
static void w_end(struct zimg *m, struct zchunk *c)
{
	uint64_t end = c->start + m->chunk;

	if (c->open && !c->busy && end - c->fill >= 16)
		zi_word_store(m, c->fill, c->fill | END);
	k_close(m, c);
}

/* The index of the committed record at @pos, or -1. */
static long log_find(const struct zimg *m, uint64_t pos)
{
	size_t i = log_lower(m, pos);

	return i < m->nlog && m->log[i].pos == pos ? (long)i : -1;
}

/* ---- what the reader handed over -------------------------------------------- */

struct seen {
	struct zimg *m;
	const struct shmring_rd *rd;	/* whose pos a peeked record is at */
	unsigned int calls;
	unsigned int bad;
	char why[160];
	uint64_t last_pos;
	int any;
	uint64_t seqs[512];
	uint64_t page_pos[512];
	int gapless;		/* lossless: each record the next one */
	uint64_t next_idx;
	int (*step)(void *arg);	/* a writer step run by the handler, or NULL */
	void *step_arg;
};

static void seen_init(struct seen *s, struct zimg *m, int gapless)
{
	memset(s, 0, sizeof(*s));
	s->m = m;
	s->rd = &m->rd;
	s->gapless = gapless;
}

static void bad(struct seen *s, const char *why, uint64_t pos)
{
	if (!s->bad++)
		snprintf(s->why, sizeof(s->why), "%s at pos %llu", why, (unsigned long long)pos);
}

/*
 * A record handed over, at @pos: the right one, numbered right, once;
 * in place (@inplace: its data points into the image) or copied.
 */
static void check_at(struct seen *s, uint64_t pos, const struct shmring_record *r, int inplace)
{
	struct zimg *m = s->m;
	const unsigned char *p = r->data;
	long idx = log_find(m, pos);
	uint32_t i;

	if (s->calls < 512) {
		s->seqs[s->calls] = r->seq;
		s->page_pos[s->calls] = m->rp.pos;
	}
	s->calls++;
	if (idx < 0) {
		bad(s, "not a committed record", pos);
		return;
	}
	if (s->any && !before(s->last_pos, pos))
		bad(s, "not after the last one (twice, or back)", pos);
	s->any = 1;
	s->last_pos = pos;
	if (r->seq != m->base_seq + (uint64_t)idx)
		bad(s, "numbered wrong", pos);
	if (s->gapless && (uint64_t)idx != s->next_idx)
		bad(s, "a gap before it", pos);
	s->next_idx = (uint64_t)idx + 1;
	if (r->len != m->log[idx].len || r->type != m->log[idx].type || r->pid != 4242 ||
	    r->tstamp_ns != 1000 + pos)
		bad(s, "header fields", pos);
	if (inplace && p != m->data + (pos & (m->size - 1)) + RHDR)
		bad(s, "data not at the record", pos);
	if ((pos & (m->chunk - 1)) + TOTAL(r->len) > m->chunk)
		bad(s, "past its chunk", pos);
	for (i = 0; i < r->len; i++)
		if (p[i] != pattern(pos, r->type, i)) {
			bad(s, "payload", pos);
			break;
		}
}

/* A record peeked: at the reader's pos. */
static void check_rec(struct seen *s, const struct shmring_record *r)
{
	check_at(s, s->rd->pos, r, 1);
}

static int handler(void *ctx, const struct shmring_record *r)
{
	struct seen *s = ctx;

	check_rec(s, r);
	if (s->step)
		s->step(s->step_arg);
	return 0;
}

/* Peek and consume until nothing is pending; the records in s. */
static int read_all(struct zimg *m, struct seen *s)
{
	struct shmring_record r;
	int ret, n = 0;

	while ((ret = shmring_rd_peek(&m->rd, &r)) == 0) {
		check_rec(s, &r);
		ret = shmring_rd_consume(&m->rd);
		if (ret && ret != -ESTALE)
			return ret;
		n++;
	}
	return ret == -EAGAIN ? n : ret;
}

static int seqs_are(const struct seen *s, const uint64_t *want, unsigned int n)
{
	unsigned int i;

	if (s->calls != n)
		return 0;
	for (i = 0; i < n; i++)
		if (s->seqs[i] != want[i])
			return 0;
	return 1;
}

/* ---- attach ------------------------------------------------------------------ */

static struct zimg m;

static void test_attach(void)
{
	zi_init(&m, SIZE, CHUNK, 0, 1);
	is_int(zi_attach(&m), 0, "attach: a zero-copy ring");
	is_int(m.rd.zc_chunk, CHUNK, "attach: the chunk size from the header");
	m.hdr.zc_chunk = 1000;
	is_int(zi_attach(&m), -EPROTO, "attach: a chunk size not a power of two: -EPROTO");
	m.hdr.zc_chunk = 32;
	is_int(zi_attach(&m), -EPROTO, "attach: a chunk too small for a record header: -EPROTO");
	m.hdr.zc_chunk = 2 * SIZE;
	is_int(zi_attach(&m), -EPROTO, "attach: a chunk larger than the ring: -EPROTO");
	m.hdr.zc_chunk = 0;
	is_int(zi_attach(&m), -EPROTO, "attach: no chunk size: -EPROTO");
	m.hdr.flags = 0;
	m.hdr.zc_chunk = CHUNK;
	ok(zi_attach(&m) == 0 && m.rd.zc_chunk == 0,
	   "attach: zc_chunk without SHMRING_ATTR_ZEROCOPY is not a zero-copy ring");
}

/* ---- records, END, the reader page ------------------------------------------ */

static void test_records(void)
{
	struct shmring_record r;
	struct zchunk *a, *b;
	struct seen s;
	int ret;

	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EAGAIN, "empty: -EAGAIN");
	is_int(shmring_rd_pending(&m.rd), 0, "empty: nothing pending");
	a = k_grant(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EAGAIN, "a granted chunk with nothing in it: -EAGAIN");
	ok(m.rp.pos == 0 && shmring_rd_pending(&m.rd) == 0, "and nothing pending, the cursor stays");
	put(&m, a, 5, 7);
	put(&m, a, 0, 8);
	put(&m, a, 100, 9);
	w_end(&m, a);
	b = k_grant(&m);
	put(&m, b, 8, 10);
	put(&m, b, 8, 11);
	is_int(shmring_rd_pending(&m.rd), 1, "a record: pending");
	seen_init(&s, &m, 1);
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 0 && r.type == 7 && r.len == 5 && r.pid == 4242 &&
	   r.data == m.data + RHDR, "peek: the first record, numbered 0 by the reader");
	check_rec(&s, &r);
	is_int(shmring_rd_consume(&m.rd), 0, "consume");
	ok(m.rp.pos == 48 && m.rp.seq == 1 && m.rp.records_read == 1 && m.rp.txn_pos == 48 &&
	   m.rp.txn_seq == 1, "reader page: pos 48, seq 1, one read, the txn names it");
	ok(read_all(&m, &s) == 4 && s.bad == 0,
	   "the rest: 4 records, in order, intact (%s)", s.why);
	ok(s.seqs[1] == 1 && s.seqs[2] == 2 && s.seqs[3] == 3 && s.seqs[4] == 4,
	   "numbered 1..4 across the END that closes the first chunk");
	ok(m.rp.pos == CHUNK + 96 && m.rp.seq == 5 && m.rp.records_read == 5,
	   "the cursor waits at the open chunk's fill point, seq 5, 5 read");
	ok(shmring_rd_pending(&m.rd) == 0 && shmring_rd_peek(&m.rd, &r) == -EAGAIN,
	   "a word not written yet: not pending, -EAGAIN");
	put(&m, b, 3, 12);
	ret = read_all(&m, &s);
	ok(ret == 1 && s.seqs[5] == 5 && s.bad == 0, "a record committed later: numbered 5");
	ok(m.rd.zc_discarded == 0 && m.rd.zc_corrupt == 0 && m.rd.lost == 0,
	   "nothing discarded, corrupt or lost");
}

/* ---- BUSY, END, VOID ------------------------------------------------------- */

static void test_busy(void)
{
	static const uint64_t want[] = { 0, 1, 2 }, want2[] = { 0, 1 };
	struct zchunk *a, *b;
	struct seen s;

	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	a = k_grant(&m);
	b = k_grant(&m);
	put(&m, a, 8, 1);
	w_begin(&m, a, 20, 2);		/* in progress at 48 */
	put(&m, b, 8, 3);
	w_end(&m, b);			/* the later chunk is complete and closed */
	seen_init(&s, &m, 1);
	ok(read_all(&m, &s) == 1 && m.rp.pos == 48 && m.hdr.zc_closed == 0,
	   "BUSY: the record before it, then -EAGAIN (the chunk is open)");
	is_int(shmring_rd_pending(&m.rd), 0, "BUSY: not pending; nothing after it is handed over");
	w_commit(&m, a);
	ok(read_all(&m, &s) == 1 && m.rp.pos == 48 + TOTAL(20),
	   "BUSY -> DONE: handed over, then the next word is not written yet");
	w_end(&m, a);
	ok(read_all(&m, &s) == 1 && s.bad == 0 && seqs_are(&s, want, 3),
	   "its chunk closed (END): the later chunk's record, numbered 0 1 2 (%s)", s.why);
	ok(m.rp.pos == 2 * CHUNK && m.rd.zc_discarded == 0, "at head, nothing discarded");

	/* The writer dies mid-record: the kernel closes its chunk, VOID. */
	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	a = k_grant(&m);
	b = k_grant(&m);
	put(&m, a, 8, 1);
	w_begin(&m, a, 20, 2);
	put(&m, b, 8, 3);
	w_end(&m, b);
	seen_init(&s, &m, 1);
	read_all(&m, &s);
	k_close(&m, a);
	is_int(w_commit(&m, a), -1, "VOID: the dead writer's commit swap fails");
	is_int(shmring_rd_pending(&m.rd), 1, "VOID: pending (a skip)");
	ok(read_all(&m, &s) == 1 && s.bad == 0 && seqs_are(&s, want2, 2),
	   "VOID: skipped; the next record is numbered 1 (a discarded reservation has no number)");
	ok(m.rd.zc_discarded == 1 && m.rd.zc_corrupt == 0 && m.rp.records_read == 2 &&
	   m.rp.seq == 2 && m.rp.pos == 2 * CHUNK, "VOID: one discarded reservation counted");
}

static void test_markers(void)
{
	static const uint64_t want[] = { 0, 1, 2 };
	struct zchunk *c;
	struct seen s;

	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	w_end(&m, c);			/* END at the chunk's start: released empty */
	c = k_grant(&m);
	w_begin(&m, c, 8, 1);
	k_close(&m, c);			/* VOID at the chunk's start */
	c = k_grant(&m);
	put(&m, c, 8, 2);
	w_begin(&m, c, 30, 3);
	k_close(&m, c);			/* a record, then VOID */
	c = k_grant(&m);
	put(&m, c, 8, 4);
	put(&m, c, 8, 5);
	w_end(&m, c);
	seen_init(&s, &m, 1);
	ok(read_all(&m, &s) == 3 && s.bad == 0 && seqs_are(&s, want, 3),
	   "END and VOID chunks: the 3 records, numbered 0 1 2 (%s)", s.why);
	ok(m.rd.zc_discarded == 2 && m.rd.zc_corrupt == 0 && m.rd.lost == 0,
	   "2 discarded reservations (%llu), none corrupt or lost",
	   (unsigned long long)m.rd.zc_discarded);
	ok(m.rp.pos == 4 * CHUNK && m.rp.seq == 3 && m.rp.records_read == 3 && m.rp.records_lost == 0,
	   "the cursor at head: seq 3, 3 read, nothing lost");
	ok(m.rp.txn_pos == m.rp.pos && m.rp.txn_seq == 3, "the last skip committed as a transaction");
}

/* ---- zc_closed, stale words ----------------------------------------------- */

static void garbage(struct zimg *zm, uint64_t pos, uint64_t word)
{
	put_raw(zm, pos, 8, 99, 0, word);
}

static void test_closed(void)
{
	static const uint64_t want[] = { 0, 1 };
	struct shmring_record r;
	struct zchunk *c;
	struct seen s;
	int ret;

	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	garbage(&m, 48, 0x123456789abcdef0ULL);
	seen_init(&s, &m, 1);
	ok(read_all(&m, &s) == 1 && m.rp.pos == 48 && !shmring_rd_pending(&m.rd),
	   "garbage word, zc_closed below pos (chunk open): not yet, -EAGAIN");
	m.hdr.zc_closed = 48;
	ok(shmring_rd_peek(&m.rd, &r) == -EAGAIN && !shmring_rd_pending(&m.rd),
	   "zc_closed at pos: still not yet");
	m.hdr.zc_closed = 56;
	is_int(shmring_rd_pending(&m.rd), 1, "zc_closed above pos: pending (corrupt)");
	ok(shmring_rd_peek(&m.rd, &r) == -EAGAIN && m.rd.zc_corrupt == 1 && m.rp.pos == CHUNK &&
	   m.rp.seq == 1, "zc_closed above pos: corrupt, counted, skipped to the chunk end");
	c = k_grant(&m);
	put(&m, c, 8, 2);
	ok(read_all(&m, &s) == 1 && s.bad == 0 && seqs_are(&s, want, 2),
	   "the next chunk's record is numbered 1 (corruption has no number)");

	/* A BUSY word below zc_closed is garbage too. */
	w_begin(&m, c, 8, 3);
	m.hdr.zc_closed = m.hdr.head;
	ok(shmring_rd_peek(&m.rd, &r) == -EAGAIN && m.rd.zc_corrupt == 2 && m.rp.pos == 2 * CHUNK,
	   "a BUSY word below zc_closed: corrupt, skipped");

	/* Garbage below zc_closed where the tail passed: a lap, not corruption. */
	zi_init(&m, SIZE, CHUNK, 0, 0);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	put(&m, c, 8, 1);
	w_end(&m, c);
	garbage(&m, 48, 7);
	seen_init(&s, &m, 0);
	shmring_rd_peek(&m.rd, &r);
	shmring_rd_consume(&m.rd);
	while (!(m.rp.pos & LAPPED)) {
		c = k_grant(&m);
		put(&m, c, 8, 2);
		w_end(&m, c);
	}
	ret = read_all(&m, &s);
	ok(ret > 0 && m.rd.zc_corrupt == 0 && s.bad == 0 && m.rp.records_lost == 1 &&
	   m.ring_lost == 1,
	   "garbage below zc_closed, lapped first: no corruption, the gap counted (%llu)",
	   (unsigned long long)m.rp.records_lost);
}

static void test_stale(void)
{
	static const uint64_t words[] = {
		(CHUNK - SIZE) | DONE, (CHUNK - SIZE) | END, (CHUNK - SIZE) | VOID,
		(CHUNK + SIZE) | DONE, CHUNK, CHUNK | 5, CHUNK | 6, CHUNK | 7, CHUNK | BUSY,
		0, ~0ULL,
	};
	struct shmring_record r;
	struct zchunk *c;
	struct seen s;
	unsigned int i, wrong = 0;

	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, (uint32_t)(CHUNK - RHDR), 1);	/* a record of max_record fills the chunk */
	k_grant(&m);
	seen_init(&s, &m, 1);
	ok(read_all(&m, &s) == 1 && s.bad == 0 && m.rp.pos == CHUNK,
	   "a record of max_record (%llu bytes) fills its chunk", CHUNK - RHDR);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		put_raw(&m, CHUNK, 8, 2, 0, words[i]);
		if (shmring_rd_peek(&m.rd, &r) != -EAGAIN || shmring_rd_pending(&m.rd) ||
		    m.rp.pos != CHUNK || m.rd.zc_corrupt) {
			wrong++;
			diag("word %#llx", (unsigned long long)words[i]);
		}
	}
	is_int(wrong, 0, "an open chunk: words of another lap, unknown states, BUSY: not yet");
	m.hdr.zc_closed = m.hdr.head;
	put_raw(&m, CHUNK, 8, 2, 0, (CHUNK - SIZE) | DONE);
	ok(shmring_rd_peek(&m.rd, &r) == -EAGAIN && m.rd.zc_corrupt == 1 && m.rp.pos == 2 * CHUNK,
	   "a word of an earlier lap in a closed chunk: corrupt, skipped");

	zi_init(&m, SIZE, CHUNK, 0, 1);
	m.hdr.head = CHUNK;
	m.hdr.zc_closed = 0;
	zi_attach(&m);
	ok(shmring_rd_peek(&m.rd, &r) == -EAGAIN,
	   "a fresh ring's zero word at position 0: not yet");
}

/* ---- corrupt headers, chunk ends ------------------------------------------ */

static void test_corrupt(void)
{
	static const uint64_t want01[] = { 0, 1 }, want02[] = { 0, 2 };
	struct shmring_record r;
	struct zchunk *c;
	struct seen s;
	int ret;

	/* Longer than max_record (it would fit in the chunk). */
	zi_init(&m, SIZE, CHUNK, 0, 1);
	m.hdr.max_record = m.rd.max_record = 500;
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	put_raw(&m, 48, 501, 2, 0, 48 | DONE);
	put_raw(&m, 48 + TOTAL(501), 8, 3, 0, (48 + TOTAL(501)) | DONE);	/* never read */
	c = k_grant(&m);
	put(&m, c, 8, 4);
	seen_init(&s, &m, 1);
	ok(read_all(&m, &s) == 2 && s.bad == 0 && seqs_are(&s, want01, 2) && m.rd.zc_corrupt == 1,
	   "len above max_record: corrupt, the rest of its chunk skipped, even in an open chunk (%s)",
	   s.why);

	/* Across the chunk's end. */
	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 912, 1);		/* fill 952: 72 bytes left */
	put_raw(&m, 952, 40, 2, 0, 952 | DONE);	/* 80 bytes */
	c = k_grant(&m);
	put(&m, c, 8, 3);
	seen_init(&s, &m, 1);
	ok(read_all(&m, &s) == 2 && s.bad == 0 && seqs_are(&s, want01, 2) && m.rd.zc_corrupt == 1,
	   "a record across its chunk's end: corrupt, skipped");

	/* Unknown flags; CSUM is known. */
	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put_raw(&m, 0, 8, 1, 0x40, 0 | DONE);
	c = k_grant(&m);
	put_raw(&m, CHUNK, 8, 2, SHMRING_REC_CSUM, CHUNK | DONE);
	log_add(&m, CHUNK, 8, 2);
	seen_init(&s, &m, 1);
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 0 && r.flags == SHMRING_REC_CSUM && m.rd.zc_corrupt == 1,
	   "an unknown flag: corrupt; a CSUM record after it is record 0 with its flag");

	/* DISCARD: numbered, never handed over (as on other rings). */
	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	put_raw(&m, 48, 8, 2, SHMRING_REC_DISCARD, 48 | DONE);
	log_add(&m, 48, 8, 2);
	c->fill = 96;
	put(&m, c, 8, 3);
	seen_init(&s, &m, 0);
	ok(read_all(&m, &s) == 2 && s.bad == 0 && seqs_are(&s, want02, 2) && m.rp.seq == 3,
	   "a DONE record flagged DISCARD: skipped, numbered (0, 2 handed over)");

	/* Records that end exactly at a chunk's end, and at the area's end. */
	zi_init(&m, SIZE, CHUNK, SIZE - CHUNK, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	put(&m, c, (uint32_t)(CHUNK - 48 - RHDR), 2);	/* to the chunk's end */
	w_end(&m, c);
	c = k_grant(&m);
	put(&m, c, (uint32_t)(CHUNK - RHDR), 3);		/* the whole chunk */
	seen_init(&s, &m, 1);
	ret = read_all(&m, &s);
	ok(ret == 3 && s.bad == 0 && m.rd.zc_corrupt == 0 && m.rp.pos == SIZE + CHUNK,
	   "records to the chunk's end (the last chunk of the area, then the first): read whole");

	/*
	 * Less than a record header left in a chunk: its end, whatever the
	 * bytes say (with 8 left, the commit word would be in the next chunk).
	 */
	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 976, 1);		/* ends at 1016: 8 bytes left */
	w_end(&m, c);
	c = k_grant(&m);
	put(&m, c, 8, 2);
	memset(m.data + 1016, 0xee, 8);
	memset(m.data + SIZE + 1016, 0xee, 8);
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.len == 976 && shmring_rd_consume(&m.rd) == 0 && m.rp.pos == 1016,
	   "8 bytes left: (setup) the record before them");
	{
		/* The next chunk's first record rewritten so its len|type reads as 1016|DONE. */
		struct shmring_rec h;

		memcpy(&h, m.data + CHUNK, sizeof(h));
		h.len = 1016 | DONE;
		h.type = 0;
		zi_store(&m, CHUNK, &h, 8);
	}
	m.hdr.zc_closed = m.hdr.head;
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == -EAGAIN && m.rd.zc_corrupt == 1 && m.rp.pos == 2 * CHUNK,
	   "8 bytes left: the chunk's end; the next chunk's bytes are not read as its word "
	   "(1 corrupt: the rewritten record itself, got %llu)",
	   (unsigned long long)m.rd.zc_corrupt);

	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 960, 1);		/* ends at 1000: 24 bytes left */
	w_end(&m, c);
	zi_word_store(&m, 1000, 0xbadbadbadULL);
	c = k_grant(&m);
	put(&m, c, 8, 2);
	seen_init(&s, &m, 1);
	ok(read_all(&m, &s) == 2 && s.bad == 0 && seqs_are(&s, want01, 2) && m.rd.zc_corrupt == 0,
	   "24 bytes left, garbage below zc_closed: the chunk's end, not corruption");

	/* A header that lies: head within a chunk, a misaligned cursor. */
	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	m.hdr.head = 1000;
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "head inside a chunk: -EBADMSG");
	is_int(shmring_rd_pending(&m.rd), 1, "(pending: the error is for peek to report)");
	zi_init(&m, SIZE, CHUNK, 0, 1);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	put(&m, c, 8, 1);
	m.rp.pos = 4;
	zi_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "a misaligned cursor: -EBADMSG");
}

/* ---- every offset of the area, positions across 2^64 ---------------------- */

/* Fill a granted chunk with random records and close it one of the ways. */
static void fill_chunk(struct zimg *zm, struct zchunk *c, int big)
{
	uint32_t max = (uint32_t)(zm->chunk - RHDR);

	if (big)
		put(zm, c, max - 8 * rnd(3), rnd(100));
	while (rnd(5) && !put(zm, c, rnd(4) ? rnd(120) : rnd(max + 1), rnd(100)))
		;
	switch (rnd(4)) {
	case 0:
		if (!w_begin(zm, c, rnd(64), 1)) {
			k_close(zm, c);		/* VOID */
			break;
		}
		/* fall through */
	default:
		w_end(zm, c);
	}
}

static void test_wrap(void)
{
	static const uint64_t bases[] = { 0, (uint64_t)0 - 2 * SIZE };
	unsigned int b, k, i, runs = 0, bad_runs = 0, at_end = 0;
	struct seen s;

	for (b = 0; b < 2; b++) {
		for (k = 0; k < SIZE / CHUNK; k++) {
			zi_init(&m, SIZE, CHUNK, bases[b] + k * CHUNK, 1);
			zi_attach(&m);
			seen_init(&s, &m, 1);
			for (i = 0; i < 3 * SIZE / CHUNK; i++) {
				struct zchunk *c = k_grant(&m);

				if (!c)
					break;
				fill_chunk(&m, c, (i + k) % 3 == 0);
				read_all(&m, &s);
			}
			for (i = 0; i < m.nlog; i++)
				if (((m.log[i].pos & (SIZE - 1)) + TOTAL(m.log[i].len)) == SIZE)
					at_end++;
			runs++;
			if (s.bad || s.calls != m.nlog || m.rd.zc_discarded != m.voids ||
			    m.rd.zc_corrupt || m.rp.pos != m.hdr.head || m.rp.seq != m.nlog) {
				bad_runs++;
				diag("start %#llx: %s; %u of %zu records, %llu/%llu discarded",
				     (unsigned long long)(bases[b] + k * CHUNK), s.why, s.calls,
				     m.nlog, (unsigned long long)m.rd.zc_discarded,
				     (unsigned long long)m.voids);
			}
		}
	}
	ok(bad_runs == 0,
	   "%u rings starting at every chunk of the area, at 0 and across 2^64: 3 laps of chunks "
	   "read whole, gapless, VOIDs counted", runs);
	ok(at_end > 0, "%u records ended exactly at the end of the area", at_end);
}

/* ---- laps ------------------------------------------------------------------ */

/* Grant and fill chunks of @n records until the reader is lapped. */
static void lap_reader(struct zimg *zm, int n)
{
	uint64_t lost = zm->ring_lost, raw = zm->rp.pos;
	int i;

	while (zm->ring_lost == lost && zm->rp.pos == raw) {
		struct zchunk *c = k_grant(zm);

		for (i = 0; i < n; i++)
			put(zm, c, 8, 1);
		w_end(zm, c);
	}
}

static void test_lap(void)
{
	struct shmring_record r;
	struct zchunk *c;
	struct seen s;
	uint64_t t, ts, h, tseq, newtail, newhead;
	int i, ret;

	zi_init(&m, SIZE, CHUNK, 0, 0);
	zi_attach(&m);
	c = k_grant(&m);
	for (i = 0; i < 4; i++)
		put(&m, c, 8, 1);
	w_end(&m, c);
	seen_init(&s, &m, 0);
	for (i = 0; i < 2; i++) {
		shmring_rd_peek(&m.rd, &r);
		shmring_rd_consume(&m.rd);
	}
	lap_reader(&m, 3);
	ok(m.rp.pos == (CHUNK | LAPPED) && m.rp.lap_from == 96 && m.rp.seq == 2 &&
	   m.hdr.tail_seq == 4 && m.ring_lost == 2,
	   "lap: the kernel swapped the cursor to the tail (1024), tail_seq 4, 2 records lost");
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 4 && m.rd.pos == CHUNK, "lap: the next record is numbered tail_seq (4)");
	check_rec(&s, &r);
	is_int(shmring_rd_consume(&m.rd), 0, "lap: consume");
	ok(!(m.rp.pos & LAPPED) && m.rp.records_lost == 2 && m.rd.lost == 2 &&
	   m.rp.records_read == 3 && m.rp.seq == 5,
	   "lap: the commit clears the bit and counts the gap once, as the kernel did");

	/* Lapped between peek and consume. */
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 5, "peek record 5");
	lap_reader(&m, 3);
	is_int(shmring_rd_consume(&m.rd), -ESTALE, "lapped while held: -ESTALE");
	ok(m.rp.txn_pos == SHMRING_TXN_NONE && m.rp.records_read == 3, "the commit failed, nothing read");
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == m.hdr.tail_seq && shmring_rd_consume(&m.rd) == 0 &&
	   m.rp.records_lost == m.ring_lost && m.rd.lost == m.ring_lost,
	   "after it: numbered tail_seq (%llu); the held record lost on both sides (%llu)",
	   (unsigned long long)m.hdr.tail_seq, (unsigned long long)m.ring_lost);

	/* Lapped while detached: attach finds the LAPPED bit. */
	lap_reader(&m, 2);
	lap_reader(&m, 2);
	zi_attach(&m);
	ok(m.rd.zc_lap && m.rd.pos == (m.rp.pos & ~LAPPED), "attach: a lapped cursor, its number unknown");
	seen_init(&s, &m, 0);
	m.base_seq = 0;
	ret = read_all(&m, &s);
	ok(ret > 0 && s.bad == 0 && s.seqs[0] == m.hdr.tail_seq &&
	   m.rp.records_read + m.rp.records_lost == m.nlog && m.rp.records_lost == m.ring_lost,
	   "attach after laps: from tail_seq, read %llu + lost %llu = written %zu, lost = the kernel's",
	   (unsigned long long)m.rp.records_read, (unsigned long long)m.rp.records_lost, m.nlog);

	/*
	 * Swapped, but the kernel has not published the tail yet (it swaps
	 * cursors, then stores tail_seq, tail, and head after them).
	 */
	zi_init(&m, SIZE, CHUNK, 0, 0);
	zi_attach(&m);
	for (i = 0; i < (int)(SIZE / CHUNK); i++) {
		c = k_grant(&m);
		put(&m, c, 8, 1);
		put(&m, c, 8, 1);
		w_end(&m, c);
	}
	t = m.hdr.tail;
	ts = m.hdr.tail_seq;
	h = m.hdr.head;
	c = k_grant(&m);		/* laps the reader at 0; nothing written in it yet */
	tseq = m.hdr.tail_seq;
	newtail = m.hdr.tail;
	newhead = m.hdr.head;
	m.hdr.tail = t;
	m.hdr.tail_seq = ts;
	m.hdr.head = h;
	seen_init(&s, &m, 0);
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 0 && m.rp.pos == (newtail | LAPPED),
	   "swapped, tail not published: the old record is still read");
	is_int(shmring_rd_consume(&m.rd), -ESTALE, "and its commit fails against the swap");
	ok(shmring_rd_peek(&m.rd, &r) == -EAGAIN && m.rd.zc_lap && !shmring_rd_pending(&m.rd),
	   "the tail not at the swapped position yet: -EAGAIN, not pending (no number to give)");
	m.hdr.tail_seq = tseq;
	m.hdr.tail = newtail;
	m.hdr.head = newhead;
	put(&m, c, 8, 1);
	w_end(&m, c);
	is_int(shmring_rd_pending(&m.rd), 1, "published: pending");
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == tseq && m.rd.pos == newtail && tseq == 2,
	   "published: the record at the tail, numbered tail_seq (%llu)", (unsigned long long)tseq);
	shmring_rd_consume(&m.rd);
	ok(m.rp.records_lost == 2 && m.ring_lost == 2 && m.rp.records_read == 1,
	   "and the lost gap is what the kernel counted (2)");

	/* A tail numbered behind the cursor is a corrupt header. */
	zi_init(&m, SIZE, CHUNK, 0, 0);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	m.rp.seq = 10;
	m.rp.pos = 0 | LAPPED;
	m.hdr.tail_seq = 9;
	zi_attach(&m);
	is_int(shmring_rd_peek(&m.rd, &r), -EBADMSG, "tail_seq behind the cursor's seq: -EBADMSG");

	/* The first commit after a lap is a skip: it counts the gap. */
	zi_init(&m, SIZE, CHUNK, 0, 0);
	zi_attach(&m);
	c = k_grant(&m);
	for (i = 0; i < 3; i++)
		put(&m, c, 8, 1);
	w_end(&m, c);
	c = k_grant(&m);
	w_end(&m, c);			/* an empty chunk: END at its start */
	lap_reader(&m, 1);
	ok(m.rp.pos == (CHUNK | LAPPED) && m.ring_lost == 3, "(lapped to the empty chunk, 3 lost)");
	ret = shmring_rd_peek(&m.rd, &r);
	ok(ret == 0 && r.seq == 3 && m.rp.pos == 2 * CHUNK && m.rp.records_lost == 3 && m.rp.seq == 3,
	   "a skip after a lap commits the gap (3 lost) and the number (3)");

	/* Killed between commit and step 5, then lapped: lap_from recovers it. */
	zi_init(&m, SIZE, CHUNK, 0, 0);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	put(&m, c, 8, 1);
	put(&m, c, 8, 1);
	w_end(&m, c);
	for (i = 0; i < 2; i++) {
		shmring_rd_peek(&m.rd, &r);
		shmring_rd_consume(&m.rd);
	}
	m.rp.seq = 1;			/* step 5 of the second consume undone */
	m.rp.records_read = 1;
	lap_reader(&m, 2);
	zi_attach(&m);
	ok(m.rp.seq == 2 && m.rp.records_read == 2, "a kill between commit and step 5, then a lap: recovered");
	seen_init(&s, &m, 0);
	read_all(&m, &s);
	ok(s.bad == 0 && m.rp.records_lost == m.ring_lost &&
	   m.rp.records_read + m.rp.records_lost == m.nlog,
	   "and the counts are exact (read %llu, lost %llu, written %zu)",
	   (unsigned long long)m.rp.records_read, (unsigned long long)m.rp.records_lost, m.nlog);
}

/* ---- kicks after skips ----------------------------------------------------- */

static void test_kick(void)
{
	struct shmring_record r;
	struct zchunk *c;
	int i;

	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	m.rd.wait_pos = 1;
	m.hdr.writers_waiting = 1;
	m.hdr.wait_pos = 5 * CHUNK;
	m.hdr.wait_gen = 1;
	for (i = 0; i < 4; i++) {
		c = k_grant(&m);
		w_end(&m, c);
	}
	ok(shmring_rd_peek(&m.rd, &r) == -EAGAIN && m.rp.pos == 4 * CHUNK,
	   "END-only chunks: skipped, the cursor stored at the chunk ends");
	is_int(shmring_rd_want_kick(&m.rd), 0, "kick: not before wait_pos");
	c = k_grant(&m);
	w_begin(&m, c, 8, 1);
	k_close(&m, c);
	ok(shmring_rd_peek(&m.rd, &r) == -EAGAIN && m.rp.pos == 5 * CHUNK && m.rd.zc_discarded == 1,
	   "a VOID chunk: skipped too");
	is_int(shmring_rd_want_kick(&m.rd), 1, "kick: skips alone reached wait_pos");
	is_int(shmring_rd_want_kick(&m.rd), 0, "kick: once");
}

/* ---- bulk drains ----------------------------------------------------------- */

static void kick_count(void *arg)
{
	(*(unsigned int *)arg)++;
}

/*
 * Drain m whole, a writer waiting for room at @wait_pos (not kicked yet):
 * the records in *s, the drain's counts in *d, its kicks in *kicks.
 */
static int drain_for_waiter(uint64_t wait_pos, struct seen *s, struct shmring_rd_drain *d,
			    unsigned int *kicks)
{
	m.rd.wait_pos = 1;
	m.hdr.writers_waiting = 1;
	m.hdr.wait_pos = wait_pos;
	m.hdr.wait_gen = 1;
	seen_init(s, &m, 1);
	memset(d, 0, sizeof(*d));
	d->fn = handler;
	d->ctx = s;
	d->kick = kick_count;
	d->kick_arg = kicks;
	return shmring_rd_consume_n(&m.rd, d, -1);
}

/* The image of test_drain: records with END, VOID and corruption between them. */
static void drain_image(struct zimg *zm)
{
	struct zchunk *c;

	zi_init(zm, SIZE, CHUNK, 0, 1);
	zi_attach(zm);
	c = k_grant(zm);
	put(zm, c, 8, 1);
	put(zm, c, 8, 2);
	put(zm, c, 8, 3);
	w_begin(zm, c, 8, 4);
	k_close(zm, c);				/* VOID */
	c = k_grant(zm);
	put_raw(zm, CHUNK, (uint32_t)CHUNK, 5, 0, CHUNK | DONE);	/* corrupt */
	c = k_grant(zm);
	put(zm, c, 8, 6);
	put(zm, c, 8, 7);
	w_end(zm, c);
	c = k_grant(zm);
	put(zm, c, 8, 8);			/* the chunk stays open */
}

static void test_drain(void)
{
	static const uint64_t want[] = { 0, 1, 2, 3, 4, 5 };
	struct shmring_rd_drain d;
	struct seen s;
	unsigned int i, kicks = 0;
	int ret, moved = 0;

	drain_image(&m);
	seen_init(&s, &m, 1);
	memset(&d, 0, sizeof(d));
	d.fn = handler;
	d.ctx = &s;
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	for (i = 1; i < 6; i++)
		moved |= s.page_pos[i] != 0;
	ok(ret == 6 && s.bad == 0 && seqs_are(&s, want, 6),
	   "batch: the 6 records, numbered 0..5, across VOID and a corrupt chunk (%s)", s.why);
	ok(!moved && d.commits == 1 && d.drained, "batch: nothing stored during it, one commit, drained");
	ok(m.rp.pos == 3 * CHUNK + 48 && m.rp.seq == 6 && m.rp.records_read == 6 &&
	   m.rd.zc_discarded == 1 && m.rd.zc_corrupt == 1,
	   "batch: the page at the open chunk's fill point; 1 discarded, 1 corrupt");
	is_int(shmring_rd_pending(&m.rd), 0, "batch: nothing pending after it");

	drain_image(&m);
	seen_init(&s, &m, 1);
	memset(&d, 0, sizeof(d));
	d.fn = handler;
	d.ctx = &s;
	d.each = 1;
	ret = shmring_rd_consume_n(&m.rd, &d, 4);
	ok(ret == 4 && s.page_pos[3] == 2 * CHUNK && m.rp.pos == 2 * CHUNK + 48,
	   "one at a time, limit 4: the skips were committed as they came");
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	ok(ret == 2 && s.bad == 0 && seqs_are(&s, want, 6) && m.rd.zc_discarded == 1 &&
	   m.rd.zc_corrupt == 1, "one at a time: the same records and counts");

	/* A writer waiting for room is kicked by a batch that only skipped. */
	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	for (i = 0; i < 3; i++)
		w_end(&m, k_grant(&m));
	ret = drain_for_waiter(2 * CHUNK, &s, &d, &kicks);
	ok(ret == 0 && m.rp.pos == 3 * CHUNK && d.commits == 1 && kicks == 1,
	   "a batch of skips only: nothing handed over, one commit, one kick");
}

static void zi_clone(struct zimg *dst, const struct zimg *src)
{
	unsigned char *data = dst->data;
	struct logrec *log = dst->log;

	*dst = *src;
	dst->data = realloc(data, 2 * src->size);
	dst->log = realloc(log, (src->caplog ? src->caplog : 1) * sizeof(*log));
	if (!dst->data || !dst->log)
		bail_out("out of memory");
	memcpy(dst->data, src->data, 2 * src->size);
	memcpy(dst->log, src->log, src->nlog * sizeof(*log));
	dst->rd.hdr = &dst->hdr;
	dst->rd.data = dst->data;
	dst->rd.rp = &dst->rp;
}

/* Random chunks within one lap: records, END, VOID, corruption, open chunks. */
static void random_image(struct zimg *zm)
{
	int nch = 1 + (int)rnd(SIZE / CHUNK), i;

	for (i = 0; i < nch; i++) {
		struct zchunk *c = k_grant(zm);
		uint64_t end;

		while (rnd(6) && !put(zm, c, rnd(3) ? rnd(100) : rnd(CHUNK - RHDR + 1), rnd(50)))
			;
		end = c->start + CHUNK;
		switch (rnd(7)) {
		case 0:
			if (!w_begin(zm, c, 8, 1))
				k_close(zm, c);
			break;
		case 1:
			if (end - c->fill >= RHDR)
				put_raw(zm, c->fill, (uint32_t)CHUNK, 1, 0, c->fill | DONE);
			break;
		case 2:
			w_end(zm, c);
			if (end - c->fill >= RHDR)
				zi_word_store(zm, c->fill, 0xbad0);
			break;
		case 3:
			break;		/* left open */
		default:
			w_end(zm, c);
		}
	}
}

/*
 * Read @b (a clone of the image @a was drained from, by drains whose last
 * returned @ret and handed @calls records over) by peek/consume into @sb:
 * 1 if @a's page (but for the clock) or counts differ from that loop's.
 */
static int drained_as_loop(struct zimg *a, struct zimg *b, struct seen *sb, int ret,
			   unsigned int calls)
{
	struct shmring_reader x = a->rp, y;

	read_all(b, sb);
	if (ret < 0 || a->rd.lost != b->rd.lost || a->rd.zc_discarded != b->rd.zc_discarded ||
	    a->rd.zc_corrupt != b->rd.zc_corrupt || calls != sb->calls)
		return 1;
	y = b->rp;
	x.last_read_ns = y.last_read_ns = 0;
	return memcmp(&x, &y, sizeof(x)) != 0;
}

static void test_equivalence(void)
{
	static struct zimg a, b;
	struct shmring_rd_drain d;
	struct seen sa, sb;
	int round, rounds = quick ? 60 : 600, diff = 0, bad_seen = 0, i;

	for (round = 0; round < rounds; round++) {
		uint64_t start = rnd(2) ? 0 : (uint64_t)0 - SIZE + CHUNK * rnd(SIZE / CHUNK);

		zi_init(&a, SIZE, CHUNK, start, 1);
		zi_attach(&a);
		random_image(&a);
		zi_clone(&b, &a);
		seen_init(&sa, &a, 1);
		seen_init(&sb, &b, 1);
		memset(&d, 0, sizeof(d));
		d.fn = handler;
		d.ctx = &sa;
		do {
			i = shmring_rd_consume_n(&a.rd, &d, (int)rnd(9) - 1);
		} while (i >= 0 && !d.drained);
		diff += drained_as_loop(&a, &b, &sb, i, sa.calls);
		if (sa.bad || sb.bad)
			bad_seen++;
	}
	is_int(diff, 0, "%d random zero-copy images: batches of random limits leave the page and "
	       "the counts a peek/consume loop leaves", rounds);
	is_int(bad_seen, 0, "and hand each record over once, in order, numbered right");
	zi_free(&a);
	zi_free(&b);
}

/* A handler that turns a record down now and then (the drain stops there). */
struct fussy {
	struct seen *s;
	unsigned int refused;
};

static int fussy_handler(void *ctx, const struct shmring_record *r)
{
	struct fussy *f = ctx;

	if (!rnd(4)) {
		f->refused++;
		return -1;	/* not consumed: handed over again next time */
	}
	check_rec(f->s, r);
	return 0;
}

/*
 * A drain whose handler fails: the record stays peeked, the page holds
 * everything before it, and the next drain starts with that record. In
 * the end the records, the page and the counts are a peek/consume loop's.
 */
static void test_refusals(void)
{
	static struct zimg a, b;
	struct shmring_rd_drain d;
	struct seen sa, sb;
	struct fussy f;
	int round, rounds = quick ? 60 : 600, diff = 0, bad_seen = 0, left = 0, i;
	unsigned int refused = 0;

	for (round = 0; round < rounds; round++) {
		zi_init(&a, SIZE, CHUNK, 0, 1);
		zi_attach(&a);
		random_image(&a);
		zi_clone(&b, &a);
		seen_init(&sa, &a, 1);
		seen_init(&sb, &b, 1);
		f.s = &sa;
		f.refused = 0;
		memset(&d, 0, sizeof(d));
		d.fn = fussy_handler;
		d.ctx = &f;
		do {
			uint64_t before_pos = a.rd.pos;

			i = shmring_rd_consume_n(&a.rd, &d, (int)rnd(40) - 1);
			/* Refused: still peeked, and the page is where the cursor is. */
			if (i < 0 && (!a.rd.peek_total || a.rp.pos != a.rd.pos ||
				      before(a.rd.pos, before_pos)))
				left++;
		} while (i == -1 || (i >= 0 && !d.drained));
		refused += f.refused;
		diff += drained_as_loop(&a, &b, &sb, i, sa.calls);
		if (sa.bad || sb.bad)
			bad_seen++;
	}
	ok(left == 0 && refused > 0,
	   "a refused record stays peeked, with the page at it (%u refusals)", refused);
	is_int(diff, 0, "%d random images drained by a fussy handler: the page and the counts "
	       "a peek/consume loop leaves", rounds);
	is_int(bad_seen, 0, "and each record handed over once it is taken, in order");
	zi_free(&a);
	zi_free(&b);
}

/*
 * A writer waiting for room at a position in the middle of a chunk of
 * committed records: the batch commits once it reaches that position and
 * kicks once, then goes on to the end.
 */
static void test_early_commit(void)
{
	struct shmring_rd_drain d;
	struct zchunk *c;
	struct seen s;
	unsigned int i, kicks = 0;
	int ret;

	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	for (i = 0; i < 20; i++)
		put(&m, c, 8, i + 1);
	w_end(&m, c);
	ret = drain_for_waiter(5 * TOTAL(8), &s, &d, &kicks);
	ok(ret == 20 && s.bad == 0 && d.commits == 2 && kicks == 1,
	   "a writer waiting mid-chunk: 20 records, 2 commits, 1 kick (%d, %u, %u; %s)",
	   ret, d.commits, kicks, s.why);
	ok(s.page_pos[4] == 0 && s.page_pos[5] == 5 * TOTAL(8) && m.rp.pos == CHUNK,
	   "committed early right at the waiting writer's position, then at the end");
}

/* ---- copies and the public functions --------------------------------------- */

static void test_read(void)
{
	struct shmring_record r;
	unsigned char buf[64];
	struct zchunk *c;
	uint32_t i;
	int ret, good = 1;

	zi_init(&m, SIZE, CHUNK, 0, 1);
	zi_attach(&m);
	c = k_grant(&m);
	put(&m, c, 8, 1);
	put(&m, c, 20, 2);
	put(&m, c, 0, 3);
	w_end(&m, c);
	ret = shmring_rd_read(&m.rd, &r, buf, sizeof(buf));
	for (i = 0; i < 8; i++)
		good &= buf[i] == pattern(0, 1, i);
	ok(ret == 8 && r.data == buf && r.seq == 0 && r.type == 1 && good,
	   "read: copied, numbered 0");
	ret = shmring_rd_read(&m.rd, &r, buf, 19);
	ok(ret == -EMSGSIZE && r.len == 20 && r.seq == 1 && m.rd.pos == 48,
	   "read: -EMSGSIZE, the record stays peeked");
	is_int(shmring_rd_read(&m.rd, NULL, buf, 20), 20, "read: exact size");
	ret = shmring_rd_read(&m.rd, &r, NULL, 0);
	ok(ret == 0 && r.seq == 2, "read: a zero-length record, numbered 2");
	ok(shmring_rd_read(&m.rd, &r, buf, sizeof(buf)) == -EAGAIN && m.rp.pos == CHUNK,
	   "read: past the END, -EAGAIN at head");
}

static void handle_of(struct shmring *r, struct zimg *zm, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->flags = SHMRING_O_READ;
	r->attr.policy = zm->lossless ? SHMRING_POLICY_LOSSLESS : SHMRING_POLICY_OVERWRITE;
	r->attr.flags = SHMRING_ATTR_ZEROCOPY;
	r->attr.zc_chunk = (uint32_t)zm->chunk;
	r->rd = zm->rd;
}

static void test_public(void)
{
	static struct zimg a, b;
	struct shmring_record rec;
	struct shmring_set *set;
	struct shmring ra, rb;
	struct seen sa, sb;
	int ret, fa, fb;

	drain_image(&a);
	handle_of(&ra, &a, -1);
	seen_init(&sa, &a, 1);
	sa.rd = &ra.rd;
	errno = 4242;
	ret = shmring_consume_n(&ra, handler, &sa, -1);
	ok(ret == 6 && sa.bad == 0 && shmring_discarded(&ra) == 1 && shmring_corrupt(&ra) == 1,
	   "shmring_consume_n: 6 records; shmring_discarded() 1, shmring_corrupt() 1 (%s)", sa.why);
	is_int(errno, 4242, "errno untouched");

	drain_image(&a);
	handle_of(&ra, &a, -1);
	ret = 0;
	while (shmring_peek(&ra, &rec) == 0 && rec.seq == (uint64_t)ret && shmring_consume(&ra) == 0)
		ret++;
	ok(ret == 6 && shmring_discarded(&ra) == 1 && shmring_corrupt(&ra) == 1 &&
	   shmring_lost(&ra) == 0, "shmring_peek/consume: the same");

	/* A ring set of two zero-copy rings (eventfds stand in for their fds). */
	fa = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fb = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fa < 0 || fb < 0 || shmring_set_new(0, &set))
		bail_out("eventfd, shmring_set_new");
	drain_image(&a);
	drain_image(&b);
	handle_of(&ra, &a, fa);
	handle_of(&rb, &b, fb);
	seen_init(&sa, &a, 1);
	seen_init(&sb, &b, 1);
	sa.rd = &ra.rd;
	sb.rd = &rb.rd;
	ret = shmring_set_add(set, &ra, handler, &sa);
	ret |= shmring_set_add(set, &rb, handler, &sb);
	is_int(ret, 0, "set: two zero-copy rings added");
	ret = shmring_set_consume(set, -1);
	ok(ret == 12 && sa.bad == 0 && sb.bad == 0 && sa.calls == 6 && sb.calls == 6 &&
	   shmring_discarded(&ra) == 1 && shmring_corrupt(&rb) == 1,
	   "set_consume: 12 records from the two, skips counted per ring");
	shmring_set_free(set);
	close(fa);
	close(fb);
	zi_free(&a);
	zi_free(&b);
}

/* ---- many writers against a reader, step by step ----------------------------- */

#define NW	3

/* The producer: NW writers, each with a chunk the kernel granted in order. */
struct sim {
	struct zimg *m;
	struct zchunk *w[NW];
	uint64_t wstart[NW];
	unsigned long grants, revokes, deaths;
};

/* Writer @i's chunk, or NULL if it has none (or the kernel took it back). */
static struct zchunk *sim_chunk(struct sim *x, int i)
{
	struct zchunk *c = x->w[i];

	if (c && (!c->open || c->start != x->wstart[i]))
		c = x->w[i] = NULL;
	return c;
}

/* One step of a random writer: grant, begin, commit, die, release. */
static int sim_writer_step(void *arg)
{
	struct sim *x = arg;
	struct zimg *zm = x->m;
	int i = (int)rnd(NW);
	struct zchunk *c = sim_chunk(x, i);
	uint32_t max = (uint32_t)(zm->chunk - RHDR), len, k;

	if (!c) {
		c = k_grant(zm);	/* NULL: a lossless ring with no room */
		if (c) {
			x->w[i] = c;
			x->wstart[i] = c->start;
			x->grants++;
		}
		return 0;
	}
	if (c->busy) {
		k = rnd(24);
		if (k == 0) {
			k_close(zm, c);	/* the writer died mid-record: VOID */
			x->deaths++;
		} else if (k < 16) {
			w_commit(zm, c);
		}			/* else: still filling it */
		return 0;
	}
	if (rnd(16) == 0) {
		w_end(zm, c);		/* released after a burst */
		return 0;
	}
	len = rnd(4) ? rnd(80) : rnd(max + 1);
	if (w_begin(zm, c, len, rnd(1000)))
		w_end(zm, c);		/* does not fit: END, another chunk next */
	return 0;
}

/* One step of the reader, by a random way of reading. */
static void sim_reader_step(struct sim *x, struct seen *s, unsigned char *buf)
{
	struct zimg *zm = x->m;
	struct shmring_rd_drain d;
	struct shmring_record r;
	int ret, pending;

	switch (rnd(4)) {
	case 0:
		ret = shmring_rd_peek(&zm->rd, &r);
		if (ret == -EAGAIN) {
			if (shmring_rd_pending(&zm->rd))
				bad(s, "-EAGAIN, yet pending", zm->rd.pos);
			return;
		}
		if (ret) {
			bad(s, "peek failed", zm->rd.pos);
			return;
		}
		check_rec(s, &r);
		if (rnd(3) == 0)
			sim_writer_step(x);	/* while the record is held */
		ret = shmring_rd_consume(&zm->rd);
		if (ret && (ret != -ESTALE || zm->lossless))
			bad(s, "consume failed", zm->rd.pos);
		return;
	case 1:
		memset(&d, 0, sizeof(d));
		d.fn = handler;
		d.ctx = s;
		d.each = !zm->lossless;
		s->step = rnd(2) ? sim_writer_step : NULL;
		s->step_arg = x;
		ret = shmring_rd_consume_n(&zm->rd, &d, (int)rnd(8) - 1);
		s->step = NULL;
		if (ret < 0)
			bad(s, "consume_n failed", zm->rd.pos);
		else if (d.drained && shmring_rd_pending(&zm->rd))
			bad(s, "drained, yet pending", zm->rd.pos);
		return;
	case 2:
		ret = shmring_rd_read(&zm->rd, &r, buf, zm->chunk);
		if (ret >= 0)
			check_at(s, zm->rd.pos - TOTAL(r.len), &r, 0);
		else if (ret != -EAGAIN || shmring_rd_pending(&zm->rd))
			bad(s, "read failed", zm->rd.pos);
		return;
	default:
		pending = shmring_rd_pending(&zm->rd);
		ret = shmring_rd_peek(&zm->rd, &r);
		if (!pending && ret != -EAGAIN)
			bad(s, "not pending, yet peek had something", zm->rd.pos);
		if (ret == 0) {
			check_rec(s, &r);
			if (shmring_rd_consume(&zm->rd) && zm->lossless)
				bad(s, "consume failed", zm->rd.pos);
		}
	}
}

/*
 * @lossless or overwrite, chunks of @chunk bytes, @steps steps of which
 * about @reader_pct percent are the reader's (the rest writers', and
 * now and then the kernel revoking a stopped writer's chunk).
 */
static void run_sim(int lossless, uint64_t chunk, unsigned int steps, uint64_t seed,
		    unsigned int reader_pct)
{
	static struct zimg zm;
	unsigned char *buf = malloc(chunk);
	uint64_t start;
	struct sim x;
	struct seen s;
	unsigned int i;
	int w, good;

	if (!buf)
		bail_out("out of memory");
	rnd_state = seed;
	start = rnd(2) ? 0 : (uint64_t)0 - 3 * SIZE + chunk * rnd(SIZE / chunk);
	zi_init(&zm, SIZE, chunk, start, lossless);
	zi_attach(&zm);
	memset(&x, 0, sizeof(x));
	x.m = &zm;
	seen_init(&s, &zm, lossless);
	for (i = 0; i < steps && !s.bad; i++) {
		uint32_t k = rnd(100);

		if (k < reader_pct) {
			sim_reader_step(&x, &s, buf);
		} else if (k < 97) {
			sim_writer_step(&x);
		} else {
			/* The kernel revokes a stopped writer's chunk (zc_idle_ms). */
			struct zchunk *c = sim_chunk(&x, (int)rnd(NW));

			if (c && rnd(4) == 0) {
				k_close(&zm, c);
				x.revokes++;
			}
		}
	}
	/* The writers finish and release their chunks; the reader drains. */
	for (w = 0; w < NW; w++) {
		struct zchunk *c = sim_chunk(&x, w);

		if (c) {
			w_commit(&zm, c);
			w_end(&zm, c);
		}
	}
	read_all(&zm, &s);
	if (lossless)
		good = !s.bad && s.calls == zm.nlog && zm.rp.records_read == zm.nlog &&
		       zm.rp.seq == zm.nlog && zm.rd.zc_discarded == zm.voids &&
		       zm.rd.zc_corrupt == 0 && zm.rd.lost == 0 && zm.rp.pos == zm.hdr.head;
	else
		good = !s.bad && zm.rp.records_read + zm.rp.records_lost == zm.nlog &&
		       zm.rp.records_lost == zm.ring_lost && zm.rd.zc_corrupt == 0 &&
		       zm.rd.zc_discarded <= zm.voids && zm.rp.pos == zm.hdr.head;
	ok(good, "%s, chunks of %llu, %u steps (seed %#llx): %zu records in %lu chunks, "
	   "%llu read, %llu lost (kernel %llu), %llu of %llu VOIDs skipped, %lu revoked, %lu died%s%s",
	   lossless ? "lossless" : "overwrite", (unsigned long long)chunk, steps,
	   (unsigned long long)seed, zm.nlog, x.grants, (unsigned long long)zm.rp.records_read,
	   (unsigned long long)zm.rp.records_lost, (unsigned long long)zm.ring_lost,
	   (unsigned long long)zm.rd.zc_discarded, (unsigned long long)zm.voids, x.revokes,
	   x.deaths, s.bad ? ": " : "", s.why);
	zi_free(&zm);
	free(buf);
}

static void test_random(void)
{
	unsigned int steps = quick ? 4000 : 60000;

	run_sim(1, CHUNK, steps, 1, 45);
	run_sim(1, 256, steps, 2, 20);
	run_sim(0, CHUNK, steps, 3, 45);
	run_sim(0, 512, steps, 4, 12);
	run_sim(0, 256, steps, 5, 6);
}

/* ---- garbage ---------------------------------------------------------------- */

struct scrib {
	struct zimg *m;
	const struct shmring_rd *rd;
	unsigned long recs, oob;
	unsigned int sum;
};

/* A record handed over from garbage: inside the image, its chunk, max_record. */
static void scrib_check(struct scrib *c, const struct shmring_record *r, int inplace)
{
	const unsigned char *p = r->data, *lo = c->m->data, *hi = lo + 2 * c->m->size;
	const struct shmring_rd *rd = c->rd;
	uint32_t i;

	c->recs++;
	if (r->len > rd->max_record)
		c->oob++;
	if (inplace) {
		if (p < lo + RHDR || p > hi || r->len > (size_t)(hi - p)) {
			c->oob++;
			return;
		}
		if (p != lo + (rd->pos & rd->mask) + RHDR ||
		    (rd->pos & (rd->zc_chunk - 1)) + TOTAL(r->len) > rd->zc_chunk)
			c->oob++;
	}
	for (i = 0; i < r->len; i++)
		c->sum += p[i];		/* every byte handed over is read (ASan) */
}

static int scrib_handler(void *ctx, const struct shmring_record *r)
{
	scrib_check(ctx, r, 1);
	return rnd(16) ? 0 : -EPIPE;	/* now and then a handler fails */
}

/* A plausible record header (often with a word naming its own position). */
static void scrib_header(struct zimg *zm, uint64_t pos)
{
	struct shmring_rec h;

	memset(&h, 0, sizeof(h));
	h.len = rnd(3) ? rnd((uint32_t)zm->chunk) : (uint32_t)rnd64();
	h.type = rnd(100);
	h.seq = rnd(4) ? pos | rnd(8) : rnd64();
	h.flags = (uint16_t)(rnd(4) ? rnd(4) : rnd(65536));
	zi_store(zm, pos, &h, sizeof(h));
}

/* Chains of records in some chunks, mostly DONE, with other words among them. */
static void scrib_chains(struct zimg *zm, uint64_t start)
{
	uint64_t c, p, end;

	for (c = start; before(c, start + zm->size); c += zm->chunk) {
		if (rnd(3) == 0)
			continue;
		end = c + zm->chunk;
		for (p = c; rnd(8) && end - p >= RHDR;) {
			struct shmring_rec h;

			memset(&h, 0, sizeof(h));
			h.len = rnd(3) ? rnd(100) : rnd((uint32_t)zm->chunk);
			h.type = rnd(100);
			h.seq = p | (rnd(10) ? DONE : rnd(8));
			h.flags = (uint16_t)(rnd(10) ? 0 : rnd(8));
			zi_store(zm, p, &h, sizeof(h));
			if (TOTAL(h.len) > end - p)
				break;
			p += TOTAL(h.len);
		}
		if (end - p >= 16)
			zi_word_store(zm, p, p | rnd(8));
	}
}

static void test_scribble(void)
{
	int rounds = quick ? 200 : 3000, round, attached = 0, runaway = 0;
	unsigned long ops_total = 0;
	struct scrib c;
	unsigned char *buf = malloc(SIZE);

	if (!buf)
		bail_out("out of memory");
	memset(&c, 0, sizeof(c));
	c.m = &m;
	c.rd = &m.rd;
	for (round = 0; round < rounds; round++) {
		uint64_t chunk = 64ULL << rnd(8), start, i, progress = 0, ops = 0;
		int quiet = 0, n;

		start = rnd(2) ? 0 : (uint64_t)0 - 2 * SIZE + chunk * rnd(SIZE / chunk);
		zi_init(&m, SIZE, chunk, start, (int)rnd(2));
		for (i = 0; i < SIZE; i += 8) {
			uint64_t v = rnd64();

			memcpy(m.data + i, &v, 8);
		}
		memcpy(m.data + SIZE, m.data, SIZE);
		if (rnd(4))
			scrib_chains(&m, start);
		for (n = (int)rnd(rnd(2) ? 300 : 10); n > 0; n--)
			scrib_header(&m, start + 8 * rnd(SIZE / 8));
		for (n = (int)rnd(20); n > 0; n--)
			m.data[rnd(SIZE)] = (unsigned char)rnd(256);
		memcpy(m.data + SIZE, m.data, SIZE);
		m.hdr.head = rnd(2) ? start + SIZE : start + chunk * rnd((uint32_t)(SIZE / chunk) + 1);
		if (rnd(8) == 0)
			m.hdr.head = rnd(2) ? start + 8 * rnd(2 * SIZE / 8) : rnd64();
		if (rnd(8) == 0)
			m.hdr.tail = start + 8 * rnd(SIZE / 8);
		m.hdr.tail_seq = rnd(2) ? rnd(100) : rnd64();
		m.hdr.zc_closed = rnd(8) ? start + 8 * rnd(SIZE / 8 + 1) : rnd64();
		if (rnd(2))
			m.hdr.max_record = m.rd.max_record = rnd((uint32_t)(SIZE - RHDR));
		m.rp.pos = start + (rnd(3) ? 0 : 8 * rnd(SIZE / 8));
		if (rnd(6) == 0)
			m.rp.pos |= LAPPED;
		if (rnd(20) == 0)
			m.rp.pos += 4;
		m.rp.seq = rnd(2) ? rnd(100) : rnd64();
		m.rp.lap_from = rnd(2) ? m.rp.pos & ~LAPPED : rnd64();
		m.rp.txn_pos = rnd(4) ? SHMRING_TXN_NONE : m.rp.pos;
		if (zi_attach(&m))
			continue;
		attached++;
		while (quiet < 4 && ops < 20000) {
			struct shmring_rd_drain d;
			struct shmring_record r;
			uint64_t pos = m.rd.pos;
			int ret;

			ops++;
			switch (rnd(5)) {
			case 0:
				ret = shmring_rd_peek(&m.rd, &r);
				if (ret == 0) {
					scrib_check(&c, &r, 1);
					shmring_rd_consume(&m.rd);
				}
				break;
			case 1:
				ret = shmring_rd_read(&m.rd, &r, buf, m.rd.max_record);
				if (ret >= 0)
					scrib_check(&c, &r, 0);
				break;
			case 2:
				memset(&d, 0, sizeof(d));
				d.fn = scrib_handler;
				d.ctx = &c;
				d.each = (int)rnd(2);
				ret = shmring_rd_consume_n(&m.rd, &d, (int)rnd(6) - 1);
				if (ret < 0)
					shmring_rd_consume(&m.rd);	/* past a failed handler's record */
				break;
			case 3:
				ret = shmring_rd_pending(&m.rd);
				break;
			default:
				/* Writers scribble on as the reader goes. */
				scrib_header(&m, (m.rd.pos & ~7ULL) + 8 * rnd(64));
				if (rnd(4) == 0)
					m.hdr.zc_closed = m.rd.pos + 8 * rnd(256) - 512;
				break;
			}
			if (m.rd.pos != pos) {
				progress++;
				quiet = 0;
			} else {
				quiet++;
			}
		}
		ops_total += ops;
		/* Each move is forward, of 8 bytes at least, never past head. */
		if (ops >= 20000 || progress > SIZE / 8 + 16) {
			runaway++;
			diag("round %d: %llu moves in %llu calls", round, (unsigned long long)progress,
			     (unsigned long long)ops);
		}
	}
	ok(runaway == 0, "garbage: %d images (%d attached), %lu calls: every reading function "
	   "returned, each image read to its end in bounded moves", rounds, attached, ops_total);
	ok(c.oob == 0, "garbage: the %lu records handed over lay inside the image, their chunk "
	   "and max_record (checksum %u)", c.recs, c.sum);
	free(buf);
}

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! a reading call did not return in time\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

int main(void)
{
	quick = !!getenv("SHMRING_TEST_QUICK");
	signal(SIGALRM, on_alarm);
	alarm(280);
	plan_no_plan();
	test_attach();
	test_records();
	test_busy();
	test_markers();
	test_closed();
	test_stale();
	test_corrupt();
	test_wrap();
	test_lap();
	test_kick();
	test_drain();
	test_equivalence();
	test_refusals();
	test_early_commit();
	test_read();
	test_public();
	test_random();
	test_scribble();
	zi_free(&m);
	return done_testing();
}
