// SPDX-License-Identifier: GPL-2.0
/*
 * Native tests of the bulk read side on ring images built in memory:
 * shmring_rd_consume_n() (the core of shmring_consume_n()) and the ring
 * set, whose rings are images here and whose fds are eventfds standing
 * in for the rings' readiness.
 *
 * A lossless drain stores the position once per batch: every handler
 * call sees the reader page as it was before the drain, and after it the
 * page holds what a peek + consume per record would have left (the same
 * position, sequence number and counters, compared on random images).
 * Overwrite rings and taps commit after each record and count records
 * overwritten in a handler's hands as lost. Also: limits, a handler's
 * error (its record stays peeked), DISCARD records, a kill at each store
 * of a batch commit, early commits for a writer waiting for room (one
 * kick per batch), and the ring set's readiness, limits and fairness.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "../tap.h"

#define SIZE	4096ULL
#define MAXREC	1024U
#define R48	48	/* SHMRING_REC_TOTAL(8) */

/* A ring as a reader maps it: header page, data twice, reader page. */
struct img {
	struct shmring_hdr hdr;
	uint64_t data[2 * SIZE / 8];
	struct shmring_reader rp;
	struct shmring_rd rd;
};

static unsigned char *bytes(struct img *m)
{
	return (unsigned char *)m->data;
}

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

static uint64_t rec_total_at(struct img *m, uint64_t pos)
{
	struct shmring_rec h;

	memcpy(&h, bytes(m) + (pos & (SIZE - 1)), sizeof(h));
	return SHMRING_REC_TOTAL(h.len);
}

/*
 * Append a record as the kernel would (reclaiming the oldest ones when
 * full, as an overwrite ring does); payload: @len bytes of (seq + i).
 */
static void img_put(struct img *m, uint32_t type, uint32_t len, uint16_t flags)
{
	struct shmring_rec h;
	uint64_t total = SHMRING_REC_TOTAL(len), i;
	unsigned char pad[8] = { 0 };

	memset(&h, 0, sizeof(h));
	h.len = len;
	h.type = type;
	h.seq = m->hdr.head_seq;
	h.pid = 42;
	h.tstamp_ns = 1000 + h.seq;
	h.flags = flags;
	while (m->hdr.head - m->hdr.tail + total > SIZE) {
		m->hdr.tail += rec_total_at(m, m->hdr.tail);
		m->hdr.tail_seq++;
	}
	img_store(m, m->hdr.head, &h, sizeof(h));
	for (i = 0; i < len; i++) {
		unsigned char b = (unsigned char)(h.seq + i);

		img_store(m, m->hdr.head + sizeof(h) + i, &b, 1);
	}
	img_store(m, m->hdr.head + sizeof(h) + len, pad, total - sizeof(h) - len);
	m->hdr.head += total;
	m->hdr.head_seq++;
}

static void img_puts(struct img *m, int n)
{
	while (n-- > 0)
		img_put(m, 1, 8, 0);
}

static int seq_before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
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

/* What a handler saw, and what it is told to do. */
struct seen {
	struct img *m;
	int calls;
	int bad;		/* out of order, torn payload */
	uint64_t next_seq;	/* the sequence number expected next */
	uint64_t seqs[256];
	uint64_t page_pos[256];	/* the reader page's pos at each call */
	uint64_t page_txn[256];	/* and its txn_pos */
	int fail_at;		/* return fail_err on this call (0: never) */
	int fail_err;
	int lap_at;		/* overwrite the record held on this call (48-byte records from 0) */
};

static void seen_init(struct seen *s, struct img *m)
{
	memset(s, 0, sizeof(*s));
	s->m = m;
}

static int handler(void *ctx, const struct shmring_record *rec)
{
	struct seen *s = ctx;
	int k = s->calls++;

	if (k < 256) {
		s->seqs[k] = rec->seq;
		s->page_pos[k] = s->m->rp.pos;
		s->page_txn[k] = s->m->rp.txn_pos;
	}
	if (!payload_ok(rec) || seq_before(rec->seq, s->next_seq))
		s->bad++;
	if (s->fail_at && s->calls == s->fail_at) {
		s->calls--;
		return s->fail_err;
	}
	s->next_seq = rec->seq + 1;
	if (s->lap_at && s->calls == s->lap_at) {
		/* A writer moves the tail over the record we hold. */
		s->m->hdr.tail = (rec->seq + 1) * R48;
		s->m->hdr.tail_seq = rec->seq + 1;
	}
	return 0;
}

static struct shmring_rd_drain drain_of(struct seen *s, int each)
{
	struct shmring_rd_drain d;

	memset(&d, 0, sizeof(d));
	d.fn = handler;
	d.ctx = s;
	d.each = each;
	return d;
}

static int all_equal(const uint64_t *v, int n, uint64_t want)
{
	int i;

	for (i = 0; i < n; i++)
		if (v[i] != want)
			return 0;
	return 1;
}

static void test_batch(void)
{
	static struct img m;
	struct shmring_rd_drain d;
	struct seen s;
	int ret;

	img_init(&m, 0);
	img_puts(&m, 10);
	shmring_rd_attach(&m.rd);
	seen_init(&s, &m);
	d = drain_of(&s, 0);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	is_int(ret, 10, "lossless: limit -1 drains the 10 records");
	ok(s.calls == 10 && s.bad == 0 && s.seqs[0] == 0 && s.seqs[9] == 9,
	   "lossless: each record once, in order, intact");
	ok(all_equal(s.page_pos, 10, 0) && all_equal(s.page_txn, 10, SHMRING_TXN_NONE),
	   "lossless: no handler saw the reader page moved: nothing stored during the batch");
	is_int(d.commits, 1, "lossless: one commit for the batch");
	ok(m.rp.pos == 10 * R48 && m.rp.seq == 10 && m.rp.records_read == 10 &&
	   m.rp.records_lost == 0 && m.rp.last_read_ns != 0,
	   "lossless: after it the page holds pos, seq, 10 read, 0 lost, last_read_ns");
	ok(m.rp.txn_pos == m.rp.pos && m.rp.txn_seq == 10 && m.rp.txn_read == 10 &&
	   m.rp.txn_lost == 0, "lossless: the txn names the committed cursor");
	ok(d.drained && m.rd.peek_total == 0, "lossless: drained, nothing left peeked");

	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	ok(ret == 0 && d.drained && d.commits == 1, "empty: 0 records, drained, no commit");

	m.rd.hdr = NULL;
	is_int(shmring_rd_consume_n(&m.rd, &d, -1), -EBADF, "no ring mapped (writer handle): -EBADF");
	m.rd.hdr = &m.hdr;
	d.fn = NULL;
	is_int(shmring_rd_consume_n(&m.rd, &d, -1), -EINVAL, "no handler: -EINVAL");
}

static void test_limit(void)
{
	static struct img m;
	struct shmring_rd_drain d;
	struct seen s;
	int ret;

	img_init(&m, 0);
	img_puts(&m, 10);
	shmring_rd_attach(&m.rd);
	seen_init(&s, &m);
	d = drain_of(&s, 0);
	ret = shmring_rd_consume_n(&m.rd, &d, 3);
	ok(ret == 3 && s.calls == 3 && !d.drained && d.commits == 1,
	   "limit 3: three records, one commit, not drained");
	ok(m.rp.pos == 3 * R48 && m.rp.seq == 3 && m.rp.records_read == 3,
	   "limit 3: the page is past the three");
	is_int(shmring_rd_consume_n(&m.rd, &d, 0), 0, "limit 0: nothing");
	ok(s.calls == 3 && d.commits == 1 && m.rp.pos == 3 * R48, "limit 0: no call, no commit");
	ret = shmring_rd_consume_n(&m.rd, &d, 7);
	ok(ret == 7 && s.seqs[3] == 3 && s.bad == 0 && d.commits == 2,
	   "limit 7 of the 7 left: resumes at seq 3, one more commit");
	ok(m.rp.pos == 10 * R48 && m.rp.records_read == 10, "limit 7: all 10 read");

	/* Overwrite/tap: the limit holds the same way. */
	img_init(&m, 0);
	img_puts(&m, 10);
	shmring_rd_attach(&m.rd);
	seen_init(&s, &m);
	d = drain_of(&s, 1);
	ret = shmring_rd_consume_n(&m.rd, &d, 4);
	ok(ret == 4 && !d.drained && m.rp.pos == 4 * R48 && d.commits == 4,
	   "one record at a time, limit 4: four records, four commits");
}

static void test_handler_error(void)
{
	static struct img m;
	struct shmring_rd_drain d;
	struct seen s;
	int ret, each;

	for (each = 0; each <= 1; each++) {
		const char *how = each ? "each" : "batch";

		img_init(&m, 0);
		img_puts(&m, 6);
		shmring_rd_attach(&m.rd);
		seen_init(&s, &m);
		s.fail_at = 4;
		s.fail_err = -ECANCELED;
		d = drain_of(&s, each);
		ret = shmring_rd_consume_n(&m.rd, &d, -1);
		is_int(ret, -ECANCELED, "%s: the handler's error stops the drain and is returned", how);
		ok(m.rp.pos == 3 * R48 && m.rp.records_read == 3 && m.rp.seq == 3,
		   "%s: the three records before it are consumed and committed", how);
		ok(m.rd.peek_total && m.rd.pos == 3 * R48,
		   "%s: the failed record is not consumed: still peeked", how);
		s.fail_at = 0;
		ret = shmring_rd_consume_n(&m.rd, &d, -1);
		ok(ret == 3 && s.seqs[3] == 3 && s.bad == 0 && m.rp.records_read == 6,
		   "%s: the next drain delivers it again, then the rest", how);
	}

	/* -EAGAIN from a handler is an error like any other, not "drained". */
	for (each = 0; each <= 1; each++) {
		img_init(&m, 0);
		img_puts(&m, 2);
		shmring_rd_attach(&m.rd);
		seen_init(&s, &m);
		s.fail_at = 2;
		s.fail_err = -EAGAIN;
		d = drain_of(&s, each);
		ret = shmring_rd_consume_n(&m.rd, &d, -1);
		ok(ret == -EAGAIN && !d.drained && m.rp.pos == R48 && m.rd.peek_total,
		   "%s: a handler's -EAGAIN is returned, its record stays peeked",
		   each ? "each" : "batch");
	}

	/* shmring_consume() after the error skips the record. */
	img_init(&m, 0);
	img_puts(&m, 3);
	shmring_rd_attach(&m.rd);
	seen_init(&s, &m);
	s.fail_at = 1;
	s.fail_err = -EIO;
	d = drain_of(&s, 0);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	ok(ret == -EIO && d.commits == 0 && m.rp.pos == 0,
	   "an error on the first record: nothing committed");
	ok(shmring_rd_consume(&m.rd) == 0 && m.rp.pos == R48 && m.rp.records_read == 1,
	   "consume after the error skips the record it was given");
	s.fail_at = 0;
	ok(shmring_rd_consume_n(&m.rd, &d, -1) == 2 && s.seqs[0] == 1 && m.rp.records_read == 3,
	   "and the drain goes on after it");
}

static void test_discard(void)
{
	static struct img m;
	struct shmring_rd_drain d;
	struct seen s;
	int ret;

	img_init(&m, 0);
	img_put(&m, 1, 8, 0);
	img_put(&m, 1, 8, SHMRING_REC_DISCARD);
	img_put(&m, 1, 8, SHMRING_REC_DISCARD);
	img_put(&m, 1, 8, 0);
	img_put(&m, 1, 8, SHMRING_REC_DISCARD);
	shmring_rd_attach(&m.rd);
	seen_init(&s, &m);
	d = drain_of(&s, 0);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	ok(ret == 2 && s.seqs[0] == 0 && s.seqs[1] == 3, "DISCARD records are skipped, not handed over");
	ok(all_equal(s.page_pos, 2, 0), "DISCARD: skipping them stored nothing during the batch");
	ok(d.commits == 1 && m.rp.pos == 5 * R48 && m.rp.seq == 5 && m.rd.lost == 0,
	   "DISCARD: one commit past all five, nothing lost");
}

/* overwrite rings and taps: the kernel may reuse what a handler holds. */
static void test_each(void)
{
	static struct img m;
	struct shmring_rd_drain d;
	struct seen s;
	int ret, i, moved = 1;

	img_init(&m, 0);
	img_puts(&m, 5);
	shmring_rd_attach(&m.rd);
	seen_init(&s, &m);
	d = drain_of(&s, 1);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	for (i = 0; i < 5; i++)
		if (s.page_pos[i] != (uint64_t)i * R48)
			moved = 0;
	ok(ret == 5 && moved && d.commits == 5,
	   "one at a time: each handler call sees the records before it committed");

	img_init(&m, 0);
	img_puts(&m, 5);
	shmring_rd_attach(&m.rd);
	seen_init(&s, &m);
	s.lap_at = 2;
	d = drain_of(&s, 1);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	is_int(ret, 5, "overwritten in the handler's hands: delivered, counted, the drain goes on");
	ok(d.stale == 1 && m.rd.lost == 1 && m.rp.records_lost == 1 && m.rp.records_read == 4,
	   "-ESTALE record: counted lost, not read, as consume does");

	img_init(&m, 0);
	shmring_rd_attach(&m.rd);
	img_puts(&m, 100);		/* 85 fit: lapped */
	seen_init(&s, &m);
	d = drain_of(&s, 1);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	ok(ret == 85 && s.seqs[0] == 15 && m.rd.lost == 15 &&
	   m.rp.records_read + m.rp.records_lost == 100 && s.bad == 0,
	   "lapped: jumps to the tail, the gap (15) counted lost once, read + lost = written");
}

/* A lossless batch ends early for a writer waiting for room. */
static void test_kick(void)
{
	static struct img m;
	struct shmring_rd_drain d;
	struct seen s;
	int ret, moves = 0, i;

	img_init(&m, 0);
	img_puts(&m, 20);
	shmring_rd_attach(&m.rd);
	seen_init(&s, &m);
	d = drain_of(&s, 0);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	ok(ret == 20 && d.commits == 1 && d.kicks == 0, "nobody waits: one commit, no kick");

	img_init(&m, 0);
	img_puts(&m, 20);
	shmring_rd_attach(&m.rd);
	m.rd.wait_pos = 1;
	m.hdr.writers_waiting = 1;
	m.hdr.wait_pos = 8 * R48;
	m.hdr.wait_gen = 1;
	seen_init(&s, &m);
	d = drain_of(&s, 0);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	for (i = 1; i < 20; i++)
		if (s.page_pos[i] != s.page_pos[i - 1])
			moves++;
	ok(ret == 20 && d.commits == 2 && d.kicks == 1,
	   "a writer waits for wait_pos: committed there and at the end, one kick");
	ok(moves == 1 && s.page_pos[8] == 8 * R48,
	   "the early commit came as the batch reached wait_pos");
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	img_puts(&m, 3);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	ok(ret == 3 && d.kicks == 1, "no second kick for the same wait_gen");
	m.hdr.wait_gen = 2;
	img_puts(&m, 3);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	ok(ret == 3 && d.kicks == 2 && d.commits == 5,
	   "a new wait_gen: one more kick, the batch committed as it was given (then at its end)");

	/* Old kernel: no wait_pos; a commit each sixteenth of the ring. */
	img_init(&m, 0);
	img_puts(&m, 20);
	shmring_rd_attach(&m.rd);
	m.hdr.writers_waiting = 1;
	seen_init(&s, &m);
	d = drain_of(&s, 0);
	ret = shmring_rd_consume_n(&m.rd, &d, -1);
	ok(ret == 20 && d.commits == 4 && d.kicks == 4,
	   "old kernel, writers wait: a commit and a kick every %llu bytes (%u, %u)",
	   SIZE / 16, d.commits, d.kicks);
}

/*
 * A batch commit is one cursor transaction: a kill after each of its
 * stores leaves the cursor before the batch or after it, never a mix.
 */
static void test_batch_kill(void)
{
	static struct img m;
	struct shmring_reader before, after, page;
	struct shmring_rd_drain d;
	struct seen s;
	int n, olds = 0, news = 0, bad = 0;

	img_init(&m, 0);
	img_puts(&m, 3);
	img_put(&m, 1, 8, SHMRING_REC_DISCARD);
	img_puts(&m, 3);
	shmring_rd_attach(&m.rd);
	seen_init(&s, &m);
	d = drain_of(&s, 0);
	shmring_rd_consume_n(&m.rd, &d, 2);	/* the cursor before: 2 read */
	before = m.rp;
	shmring_rd_consume_n(&m.rd, &d, -1);	/* the batch: 4 records and a DISCARD */
	after = m.rp;
	for (n = 0; n <= 9; n++) {
		__u64 *field[] = { &page.txn_pos, &page.txn_seq, &page.txn_read,
				   &page.txn_lost, &page.txn_pos, &page.pos, &page.seq,
				   &page.records_read, &page.records_lost };
		uint64_t val[] = { SHMRING_TXN_NONE, after.seq, after.records_read,
				   after.records_lost, after.pos, after.pos, after.seq,
				   after.records_read, after.records_lost };
		int i;

		page = before;
		for (i = 0; i < n; i++)
			*field[i] = val[i];
		m.rp = page;
		if (shmring_rd_attach(&m.rd)) {
			bad++;
			continue;
		}
		if (m.rp.pos == before.pos && m.rp.seq == before.seq &&
		    m.rp.records_read == before.records_read)
			olds++;
		else if (m.rp.pos == after.pos && m.rp.seq == after.seq &&
			 m.rp.records_read == after.records_read &&
			 m.rp.records_lost == after.records_lost)
			news++;
		else
			bad++;
	}
	ok(after.records_read - before.records_read == 5 && after.seq == 7,
	   "the batch: 5 consumed (4 records, one DISCARD) in one commit");
	ok(bad == 0 && olds == 6 && news == 4,
	   "batch commit killed after each of its 9 stores: the whole batch or none (%d old, %d new)",
	   olds, news);
}

/* The per-record path, for comparison. */
static void drain_by_peek(struct img *m)
{
	struct shmring_record r;

	while (shmring_rd_peek(&m->rd, &r) == 0)
		shmring_rd_consume(&m->rd);
}

static uint64_t rnd_state = 88172645463325252ULL;

static uint32_t rnd(uint32_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)((rnd_state >> 11) % n);
}

/*
 * Random images (sizes, DISCARD records, positions near 2^64, lapped
 * readers) drained in batches of random limits and one record at a
 * time: the reader pages end the same.
 */
static void test_equivalence(void)
{
	static struct img a, b;
	struct shmring_rd_drain d;
	struct seen s;
	int round, i, n, diff = 0, calls_bad = 0, rounds = getenv("SHMRING_TEST_QUICK") ? 50 : 400;

	for (round = 0; round < rounds; round++) {
		uint64_t start = rnd(2) ? 0 : (UINT64_MAX - SIZE + 1 + 8 * rnd(SIZE / 8));
		int handled = 0, want = 0;

		img_init(&a, start);
		shmring_rd_attach(&a.rd);
		n = (int)rnd(120);
		for (i = 0; i < n; i++) {
			uint16_t fl = rnd(6) ? 0 : SHMRING_REC_DISCARD;

			if (!fl)
				want++;
			img_put(&a, (uint32_t)i, rnd(300), fl);
		}
		b = a;
		b.rd.hdr = &b.hdr;
		b.rd.data = bytes(&b);
		b.rd.rp = &b.rp;
		seen_init(&s, &a);
		d = drain_of(&s, 0);
		do {
			i = shmring_rd_consume_n(&a.rd, &d, (int)rnd(9) - 1);
			if (i > 0)
				handled += i;
		} while (i >= 0 && !d.drained);
		drain_by_peek(&b);
		if (i < 0 || !a.rp.last_read_ns != !b.rp.last_read_ns || a.rd.lost != b.rd.lost) {
			diff++;
		} else {
			struct shmring_reader x = a.rp, y = b.rp;

			x.last_read_ns = y.last_read_ns = 0;
			if (memcmp(&x, &y, sizeof(x)))
				diff++;
		}
		/* The lapped ones handed over only what was still there. */
		if (s.bad || (a.rp.records_lost == 0 && handled != want))
			calls_bad++;
	}
	is_int(diff, 0, "%d random images: batches of random limits leave the page a peek/consume loop leaves",
	       rounds);
	is_int(calls_bad, 0, "and hand each record over once, in order, intact");
}

/* ---- the public functions on images ---------------------------------------- */

static void handle_init(struct shmring *r, struct img *m, uint32_t policy, unsigned int flags)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->flags = flags | SHMRING_O_READ;
	r->attr.policy = policy;
	r->rd = m->rd;
	r->rd.rp = &m->rp;
}

static void test_public(void)
{
	static struct img m;
	struct shmring r;
	struct seen s;
	int ret;

	img_init(&m, 0);
	img_puts(&m, 6);
	shmring_rd_attach(&m.rd);
	handle_init(&r, &m, SHMRING_POLICY_LOSSLESS, 0);
	seen_init(&s, &m);
	errno = 4242;
	ret = shmring_consume_n(&r, handler, &s, -1);
	ok(ret == 6 && all_equal(s.page_pos, 6, 0) && m.rp.pos == 6 * R48,
	   "shmring_consume_n, lossless reader: one commit after the batch");
	is_int(errno, 4242, "errno untouched");

	img_init(&m, 0);
	img_puts(&m, 6);
	shmring_rd_attach(&m.rd);
	handle_init(&r, &m, SHMRING_POLICY_LOSSLESS, SHMRING_O_TAP);
	seen_init(&s, &m);
	ret = shmring_consume_n(&r, handler, &s, -1);
	ok(ret == 6 && s.page_pos[5] == 5 * R48, "a tap of a lossless ring: a commit per record");

	img_init(&m, 0);
	img_puts(&m, 6);
	shmring_rd_attach(&m.rd);
	handle_init(&r, &m, SHMRING_POLICY_OVERWRITE, 0);
	seen_init(&s, &m);
	is_int(shmring_consume_n(&r, handler, &s, 0), 0, "limit 0: nothing");
	ret = shmring_consume_n(&r, handler, &s, 4);
	ok(ret == 4 && s.page_pos[3] == 3 * R48 && m.rp.pos == 4 * R48,
	   "an overwrite ring: a commit per record, limit 4");
}

/* ---- ring sets ------------------------------------------------------------- */

#define NSET 3

struct member {
	struct img m;
	struct shmring r;
	struct seen s;
	int efd;		/* stands in for the ring's fd */
};

static struct member mem[NSET];

static void member_init(struct member *x, int records)
{
	img_init(&x->m, 0);
	img_puts(&x->m, records);
	shmring_rd_attach(&x->m.rd);
	handle_init(&x->r, &x->m, SHMRING_POLICY_LOSSLESS, 0);
	x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->efd < 0)
		bail_out("eventfd");
	x->r.fd = x->efd;
	seen_init(&x->s, &x->m);
}

static void member_ready(struct member *x, int ready)
{
	uint64_t v = 1;

	if (ready) {
		if (write(x->efd, &v, sizeof(v)) != sizeof(v))
			bail_out("eventfd write");
	} else if (read(x->efd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		bail_out("eventfd read");
	}
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_set(void)
{
	struct shmring_set *set, *bad;
	struct shmring writer;
	struct pollfd p;
	int i, ret, a_first = 0, b_first = 0;
	int64_t t0;

	is_int(shmring_set_new(1, &bad), -EINVAL, "set_new: unknown flags: -EINVAL");
	ok(bad == NULL, "set_new: *setp NULL on failure");
	if (shmring_set_new(0, &set))
		bail_out("shmring_set_new");
	ok(shmring_set_fd(set) >= 0, "set_fd: an fd");
	member_init(&mem[0], 10);
	member_init(&mem[1], 0);
	member_init(&mem[2], 5);
	memset(&writer, 0, sizeof(writer));
	writer.fd = mem[0].efd;
	is_int(shmring_set_add(set, &writer, handler, NULL), -EBADF, "add: a writer handle: -EBADF");
	is_int(shmring_set_add(set, &mem[0].r, NULL, NULL), -EINVAL, "add: no handler: -EINVAL");
	for (i = 0; i < NSET; i++)
		is_int(shmring_set_add(set, &mem[i].r, handler, &mem[i].s), 0, "add ring %d", i);
	is_int(shmring_set_add(set, &mem[0].r, handler, NULL), -EEXIST, "add: twice: -EEXIST");

	t0 = ms_now();
	is_int(shmring_set_poll(set, -1, 150), 0, "poll: nothing ready: 0 at the timeout");
	ok(ms_now() - t0 >= 140, "poll: it waited (%lld ms)", (long long)(ms_now() - t0));
	member_ready(&mem[0], 1);
	member_ready(&mem[2], 1);
	p.fd = shmring_set_fd(set);
	p.events = POLLIN;
	ok(poll(&p, 1, 0) == 1, "set_fd is readable when a ring is ready (to nest in another loop)");
	errno = 4242;
	is_int(shmring_set_poll(set, -1, 1000), 15, "poll: the two ready rings drained: 15 records");
	is_int(errno, 4242, "errno untouched");
	ok(mem[0].s.calls == 10 && mem[2].s.calls == 5 && mem[1].s.calls == 0 &&
	   mem[0].s.bad == 0 && mem[2].s.bad == 0,
	   "each ring's handler got its own records (its ctx), in order");
	ok(mem[0].m.rp.pos == 10 * R48 && mem[2].m.rp.pos == 5 * R48, "and they are committed");

	/* Ready but not drained yet: two rings share a limit fairly. */
	img_puts(&mem[0].m, 60);
	img_puts(&mem[2].m, 60);
	mem[0].s.calls = mem[2].s.calls = 0;
	is_int(shmring_set_poll(set, 10, 0), 10, "poll, limit 10: 10 records");
	ok(mem[0].s.calls == 5 && mem[2].s.calls == 5, "split 5 and 5 between the two ready rings");
	for (i = 0; i < 8; i++) {
		int c0 = mem[0].s.calls;

		shmring_set_poll(set, 1, 0);
		if (mem[0].s.calls != c0)
			a_first++;
		else
			b_first++;
	}
	ok(a_first == 4 && b_first == 4, "limit 1, 8 times: the rings take turns (%d, %d)",
	   a_first, b_first);

	/* set_consume drains whether ready or not. */
	member_ready(&mem[0], 0);
	member_ready(&mem[2], 0);
	img_puts(&mem[1].m, 7);
	is_int(shmring_set_poll(set, -1, 0), 0, "poll: no fd ready: 0, nothing drained");
	ret = shmring_set_consume(set, 50);
	ok(ret == 50, "consume, limit 50: 50 records (%d)", ret);
	ret = shmring_set_consume(set, -1);
	is_int(ret, 7 + 120 - 10 - 8 - 50, "consume, no limit: the rest of all three");
	ok(mem[1].s.calls == 7 && mem[0].m.rp.pos == mem[0].m.hdr.head &&
	   mem[1].m.rp.pos == mem[1].m.hdr.head && mem[2].m.rp.pos == mem[2].m.hdr.head,
	   "every ring at its head");

	/* A handler's error comes back from the set. */
	img_puts(&mem[1].m, 2);
	mem[1].s.fail_at = mem[1].s.calls + 1;
	mem[1].s.fail_err = -EPIPE;
	is_int(shmring_set_consume(set, -1), -EPIPE, "a handler's error is returned");
	mem[1].s.fail_at = 0;
	is_int(shmring_set_consume(set, -1), 2, "and its record comes again");

	/* Removal. */
	is_int(shmring_set_remove(set, &mem[0].r), 0, "remove a ring");
	is_int(shmring_set_remove(set, &mem[0].r), -ENOENT, "remove it again: -ENOENT");
	img_puts(&mem[0].m, 3);
	member_ready(&mem[0], 1);
	is_int(shmring_set_poll(set, -1, 100), 0, "a removed ring is not waited on");
	is_int(shmring_set_consume(set, -1), 0, "nor drained");
	is_int(shmring_set_add(set, &mem[0].r, handler, &mem[0].s), 0, "add it back");
	is_int(shmring_set_poll(set, -1, 100), 3, "and it is drained again");
	shmring_set_free(set);
	shmring_set_free(NULL);
	for (i = 0; i < NSET; i++)
		close(mem[i].efd);
}

int main(void)
{
	plan_no_plan();
	test_batch();
	test_limit();
	test_handler_error();
	test_discard();
	test_each();
	test_kick();
	test_batch_kill();
	test_equivalence();
	test_public();
	test_set();
	return done_testing();
}
