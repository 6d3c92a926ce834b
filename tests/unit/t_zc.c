// SPDX-License-Identifier: GPL-2.0
/*
 * Native tests of libshmring's zero-copy writer (lib/zc.c) against a
 * simulated kernel: the code a writer process runs, on a ring image in
 * memory, with SHMRING_IOC_ZC_CHUNK and SHMRING_IOC_KICK answered here as
 * include/uapi/linux/shmring.h ("Zero-copy rings") and docs/design.md
 * ("Zero-copy writers") describe them.
 *
 * Checked: the commit words (BUSY on reserve, DONE on commit, END where
 * a chunk ends, nothing ever written past a chunk), the header a writer
 * fills (length, type, pid, CLOCK_BOOTTIME stamp, zero padding, crc32c on
 * SHMRING_ATTR_CSUM rings), batches (-ENOBUFS across a chunk, one kick per
 * commit and only for sleeping readers), -EMSGSIZE, abort, flush (END and
 * SHMRING_ZC_RELEASE), revocations (mid-record: -ETIMEDOUT and the records
 * VOID; while idle: a new chunk, nothing lost, the kernel's END left as it
 * is), a chunk reclaimed by an overwrite, shmring_zw_write()'s one retry,
 * stale words of an earlier lap, shmring_zw_reserve_n() (as many as fit,
 * headers and padding as reserve's, -ENOBUFS, the bookkeeping growing,
 * abort, a revoked gate), and a random run (single and n-at-once
 * reservations) read back by a simulated reader that walks commit words
 * as readers do.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "../tap.h"

#define SIZE	(256 * 1024ULL)
#define CHUNK	4096U
#define MAXREC	1024U
#define RH	((uint64_t)sizeof(struct shmring_rec))

/* --- The simulated kernel ------------------------------------------------------ */

struct sim {
	struct shmring_hdr hdr;
	uint64_t data[SIZE / 8];
	struct shmring_zw zw;
	/* the file's chunk: [start, end), end 0 if none */
	uint64_t start, end;
	int revoked;		/* the kernel closed it first */
	uint64_t closed_at;	/* of the chunk closed since the last call */
	uint32_t closed_recs;
	int have_closed;
	/* calls */
	unsigned int grants, releases, kicks;
	int fail_next;		/* the next ZC_CHUNK fails with this */
	uint64_t first8;	/* a granted chunk's first 8 bytes when granted */
};

static unsigned char *bytes(struct sim *s)
{
	return (unsigned char *)s->data;
}

static __u64 *word(struct sim *s, uint64_t pos)
{
	return &((struct shmring_rec *)(bytes(s) + (pos & (SIZE - 1))))->seq;
}

static struct shmring_rec *rec(struct sim *s, uint64_t pos)
{
	return (struct shmring_rec *)(bytes(s) + (pos & (SIZE - 1)));
}

static uint64_t chunk_end_of(uint64_t pos)
{
	return (pos | (CHUNK - 1)) + 1;
}

/*
 * Close the file's chunk as the kernel does: walk DONE records (their
 * headers validated) to the first word that is not DONE, swap it to END,
 * or to VOID if it is BUSY.
 */
static void sim_close(struct sim *s, int revoked)
{
	uint64_t p = s->start;
	uint32_t n = 0;

	if (!s->end)
		return;
	while (s->end - p >= RH) {
		struct shmring_rec *h = rec(s, p);
		__u64 w = __atomic_load_n(word(s, p), __ATOMIC_ACQUIRE);

		if (w != (p | SHMRING_ZC_DONE) || h->len > MAXREC ||
		    SHMRING_REC_TOTAL(h->len) > s->end - p)
			break;
		n++;
		p += SHMRING_REC_TOTAL(h->len);
	}
	if (s->end - p >= 16) {
		__u64 w = __atomic_load_n(word(s, p), __ATOMIC_RELAXED), v;

		do {
			v = w == (p | SHMRING_ZC_BUSY) ? p | SHMRING_ZC_VOID : p | SHMRING_ZC_END;
		} while (!__atomic_compare_exchange_n(word(s, p), &w, v, 0,
						      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	}
	s->closed_at = p;
	s->closed_recs = n;
	s->have_closed = 1;
	s->revoked = revoked;
	s->start = s->end = 0;
}

/* The kernel revokes the file's chunk (zc_idle_ms, or reclaim). */
static void sim_revoke(struct sim *s)
{
	sim_close(s, 1);
}

/*
 * The same, as it happens while the writer is in the middle of its
 * commit: the words before @pos are DONE by then, @pos is still BUSY.
 */
static void sim_revoke_at(struct sim *s, uint64_t pos)
{
	*word(s, pos) = pos | SHMRING_ZC_VOID;
	s->closed_at = pos;
	s->closed_recs = 0;
	s->have_closed = 1;
	s->revoked = 1;
	s->start = s->end = 0;
}

static int sim_chunk(void *arg, struct shmring_zc_chunk *c)
{
	struct sim *s = arg;
	int ret;

	if (c->size != sizeof(*c) || (c->flags & ~SHMRING_ZC_FLAGS_ALL))
		return -EINVAL;
	if (s->fail_next) {
		ret = s->fail_next;
		s->fail_next = 0;
		return ret;
	}
	if (s->end)
		sim_close(s, 0);
	c->closed_at = s->have_closed ? s->closed_at : 0;
	c->closed_recs = s->have_closed ? s->closed_recs : 0;
	c->revoked = s->have_closed ? (uint32_t)s->revoked : 0;
	s->have_closed = 0;
	s->revoked = 0;
	c->start = c->end = 0;
	if (c->flags & SHMRING_ZC_RELEASE) {
		s->releases++;
		return 0;
	}
	s->start = c->start = s->hdr.head;
	s->end = c->end = s->hdr.head + CHUNK;
	s->first8 = s->data[(s->start & (SIZE - 1)) / 8];
	s->hdr.head = s->end;
	s->grants++;
	return 0;
}

static void sim_kick(void *arg)
{
	((struct sim *)arg)->kicks++;
}

/*
 * A ring at @base (a multiple of SIZE) whose data area holds the words of
 * the lap before: at every 8-byte slot, the position SIZE bytes back with
 * DONE. They must all read as "not written yet".
 */
static struct sim *sim_new(uint64_t base, uint32_t flags)
{
	struct sim *s = calloc(1, sizeof(*s));
	uint64_t o;

	if (!s)
		bail_out("out of memory");
	for (o = 0; o < SIZE; o += 8)
		s->data[o / 8] = (base + o - SIZE) | SHMRING_ZC_DONE;
	s->hdr.magic = SHMRING_MAGIC;
	s->hdr.abi_version = SHMRING_ABI_VERSION;
	s->hdr.hdr_size = sizeof(s->hdr);
	s->hdr.data_size = SIZE;
	s->hdr.max_record = MAXREC;
	s->hdr.flags = SHMRING_ATTR_ZEROCOPY | flags;
	s->hdr.zc_chunk = CHUNK;
	s->hdr.head = s->hdr.tail = base;
	s->zw.hdr = &s->hdr;
	s->zw.data = bytes(s);
	s->zw.data_size = SIZE;
	s->zw.max_record = MAXREC;
	s->zw.chunk = CHUNK;
	s->zw.csum = !!(flags & SHMRING_ATTR_CSUM);
	s->zw.zc_chunk = sim_chunk;
	s->zw.kick = sim_kick;
	s->zw.arg = s;
	if (shmring_zw_init(&s->zw))
		bail_out("shmring_zw_init refused a good image");
	return s;
}

static void sim_free(struct sim *s)
{
	shmring_zw_free(&s->zw);
	free(s);
}

/* --- A simulated reader ---------------------------------------------------------- */

struct seen {
	unsigned int recs, voids;
	uint64_t stop;		/* where it found a word that is not yet written */
	uint32_t type[4096];
	uint32_t len[4096];
	int bad;		/* a DONE record with a bad header or checksum */
};

/* Walk commit words from @from to @to as a reader does. */
static void walk(struct sim *s, uint64_t from, uint64_t to, struct seen *v)
{
	uint64_t p = from;

	memset(v, 0, sizeof(*v));
	while (p < to) {
		uint64_t ce = chunk_end_of(p);
		struct shmring_rec *h = rec(s, p);
		__u64 w;

		if (ce - p < RH) {
			p = ce;
			continue;
		}
		w = __atomic_load_n(word(s, p), __ATOMIC_ACQUIRE);
		if (w == (p | SHMRING_ZC_DONE)) {
			if (h->len > MAXREC || SHMRING_REC_TOTAL(h->len) > ce - p ||
			    ((h->flags & SHMRING_REC_CSUM) &&
			     h->csum != shmring_crc32c(h + 1, h->len)) ||
			    h->__reserved0 || h->__reserved1) {
				v->bad++;
				p = ce;
				continue;
			}
			if (v->recs < 4096) {
				v->type[v->recs] = h->type;
				v->len[v->recs] = h->len;
			}
			v->recs++;
			p += SHMRING_REC_TOTAL(h->len);
		} else if (w == (p | SHMRING_ZC_END)) {
			p = ce;
		} else if (w == (p | SHMRING_ZC_VOID)) {
			v->voids++;
			p = ce;
		} else {
			break;
		}
	}
	v->stop = p;
}

/* --- Helpers ------------------------------------------------------------------- */

static uint64_t boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Reserve and fill with bytes (type + i); returns the reservation's result. */
static int put(struct sim *s, uint32_t len, uint32_t type, uint64_t *posp)
{
	void *p;
	int ret = shmring_zw_reserve(&s->zw, len, type, &p);
	uint32_t i;

	if (ret)
		return ret;
	if (posp)
		*posp = s->zw.fill - SHMRING_REC_TOTAL(len);
	for (i = 0; i < len; i++)
		((unsigned char *)p)[i] = (unsigned char)(type + i);
	return 0;
}

/* --- Cases ---------------------------------------------------------------------- */

static void t_init(void)
{
	struct sim *s = sim_new(0, 0);
	struct shmring_zw zw = s->zw;

	zw.chunk = CHUNK * 3;
	is_int(shmring_zw_init(&zw), -EPROTO, "init: a chunk that is not a power of two");
	zw.chunk = SIZE;
	is_int(shmring_zw_init(&zw), -EPROTO, "init: a chunk above data_size / 2");
	zw.chunk = 512;
	is_int(shmring_zw_init(&zw), -EPROTO, "init: a chunk smaller than a max_record record");
	zw = s->zw;
	s->hdr.flags = 0;
	is_int(shmring_zw_init(&zw), -EPROTO, "init: a ring without SHMRING_ATTR_ZEROCOPY");
	s->hdr.flags = SHMRING_ATTR_ZEROCOPY;
	s->hdr.magic = 0;
	is_int(shmring_zw_init(&zw), -EPROTO, "init: a header without the magic");
	s->hdr.magic = SHMRING_MAGIC;
	zw.hdr = NULL;
	is_int(shmring_zw_init(&zw), -EINVAL, "init: no header");
	sim_free(s);
}

static void t_one(void)
{
	struct sim *s = sim_new(3 * SIZE, 0);
	uint64_t t0 = boottime_ns(), t1, pos = 0;
	struct shmring_rec *h;
	struct seen v;
	unsigned char *pad;

	is_int(put(s, 13, 7, &pos), 0, "one: reserve 13 bytes");
	t1 = boottime_ns();
	is_int(s->grants, 1, "one: the first reservation asks for a chunk");
	ok(pos == 3 * SIZE && s->start == pos, "one: at the chunk's start");
	h = rec(s, s->start);
	ok(*word(s, s->start) == (s->start | SHMRING_ZC_BUSY), "one: word pos|BUSY while reserved");
	ok(h->len == 13 && h->type == 7 && h->flags == 0 && !h->__reserved0 &&
	   !h->__reserved1 && !h->csum, "one: len, type, flags, reserved fields");
	is_int(h->pid, getpid(), "one: pid is the writer's");
	ok(h->tstamp_ns == 0, "one: tstamp_ns is set by the commit");
	(void)t1;
	pad = (unsigned char *)(h + 1) + 13;
	ok(!pad[0] && !pad[1] && !pad[2], "one: padding to 8 bytes is zero");
	walk(s, s->start, s->hdr.head, &v);
	ok(v.recs == 0 && v.stop == s->start, "one: readers see nothing before the commit");
	is_int(shmring_zw_commit(&s->zw), 1, "one: commit returns 1");
	ok(*word(s, s->start) == (s->start | SHMRING_ZC_DONE), "one: word pos|DONE");
	ok(h->tstamp_ns >= t0 && h->tstamp_ns <= boottime_ns(),
	   "one: tstamp_ns is CLOCK_BOOTTIME at the commit");
	walk(s, s->start, s->hdr.head, &v);
	ok(v.recs == 1 && v.type[0] == 7 && v.len[0] == 13 && !v.bad, "one: readers see it");
	is_int(s->kicks, 0, "one: no kick while no reader sleeps");
	is_int(shmring_zw_commit(&s->zw), 0, "one: a commit with nothing reserved returns 0");
	is_int(shmring_zw_reserve(&s->zw, MAXREC + 1, 1, (void **)&pad), -EMSGSIZE,
	       "one: len above max_record: -EMSGSIZE");
	is_int(shmring_zw_reserve(&s->zw, MAXREC, 1, (void **)&pad), 0,
	       "one: len == max_record fits");
	shmring_zw_abort(&s->zw);
	sim_free(s);
}

static void t_csum(void)
{
	struct sim *s = sim_new(0, SHMRING_ATTR_CSUM);
	struct shmring_rec *h;
	struct seen v;
	int i;

	for (i = 0; i < 3; i++)
		put(s, 100 + (uint32_t)i, 3, NULL);
	is_int(shmring_zw_commit(&s->zw), 3, "csum: commit returns 3");
	h = rec(s, 0);
	ok(h->flags == SHMRING_REC_CSUM && h->csum == shmring_crc32c(h + 1, 100),
	   "csum: SHMRING_REC_CSUM and the crc32c of the payload");
	walk(s, 0, s->hdr.head, &v);
	ok(v.recs == 3 && !v.bad, "csum: every checksum checks");
	sim_free(s);
}

static void t_batch(void)
{
	struct sim *s = sim_new(SIZE, 0);
	uint64_t pos[8];
	struct seen v;
	int i, n;

	for (i = 0; i < 5; i++)
		put(s, 8 * (uint32_t)i, 10 + (uint32_t)i, &pos[i]);
	for (n = 0, i = 0; i < 5; i++)
		n += *word(s, pos[i]) == (pos[i] | SHMRING_ZC_BUSY);
	is_int(n, 5, "batch: five words BUSY");
	walk(s, s->start, s->hdr.head, &v);
	is_int(v.recs, 0, "batch: nothing visible before the commit");
	s->hdr.zc_sleepers = 1;
	is_int(shmring_zw_commit(&s->zw), 5, "batch: commit returns 5");
	is_int(s->kicks, 1, "batch: one kick per commit while a reader sleeps");
	s->hdr.zc_sleepers = 0;
	walk(s, s->start, s->hdr.head, &v);
	ok(v.recs == 5 && v.type[0] == 10 && v.type[4] == 14 && v.len[4] == 32,
	   "batch: five records, in order");
	/* Three of 1000 bytes fill 3120 of 4096; a fourth does not fit. */
	sim_free(s);
	s = sim_new(0, 0);
	for (i = 0; i < 3; i++)
		is_int(put(s, 1000, 1, NULL), 0, "batch: big record %d reserved", i);
	is_int(put(s, 1000, 1, NULL), -ENOBUFS, "batch: a fourth that does not fit: -ENOBUFS");
	is_int(s->grants, 1, "batch: and no new chunk while three are outstanding");
	is_int(shmring_zw_commit(&s->zw), 3, "batch: commit the three");
	is_int(put(s, 1000, 1, &pos[0]), 0, "batch: the fourth after the commit");
	is_int(s->grants, 2, "batch: in a new chunk");
	is_int(pos[0] & (CHUNK - 1), 0, "batch: at its start");
	ok(*word(s, 3120) == (3120 | SHMRING_ZC_END), "batch: END at the old chunk's fill point");
	is_int(shmring_zw_commit(&s->zw), 1, "batch: commit the fourth");
	walk(s, 0, s->hdr.head, &v);
	ok(v.recs == 4 && v.stop == s->zw.fill, "batch: readers see all four, skipping the END");
	sim_free(s);
}

/* A chunk's rest smaller than a commit word's place gets no word. */
static void t_small_rest(void)
{
	struct sim *s = sim_new(0, 0);
	uint64_t sentinel = 0x5a5a5a5a5a5a5a5aULL;
	struct seen v;

	put(s, 1000, 1, NULL);
	put(s, 1000, 1, NULL);
	put(s, 1000, 1, NULL);
	put(s, 928, 1, NULL);		/* 3 * 1040 + 968 = 4088: 8 bytes left */
	shmring_zw_commit(&s->zw);
	is_int(s->zw.fill, CHUNK - 8, "small rest: 8 bytes left in the chunk");
	s->data[CHUNK / 8] = sentinel;	/* the next chunk's first word */
	s->data[CHUNK / 8 + 1] = sentinel;
	is_int(put(s, 8, 1, NULL), 0, "small rest: the next record goes to a new chunk");
	ok(s->start == CHUNK && s->first8 == sentinel,
	   "small rest: nothing was stored past the old chunk's end");
	shmring_zw_commit(&s->zw);
	walk(s, 0, s->hdr.head, &v);
	ok(v.recs == 5 && v.stop == s->zw.fill, "small rest: readers skip the rest");
	sim_free(s);
}

static void t_abort(void)
{
	struct sim *s = sim_new(2 * SIZE, 0);
	uint64_t a, b, c;
	struct seen v;

	put(s, 16, 1, NULL);
	shmring_zw_commit(&s->zw);
	put(s, 16, 2, &a);
	put(s, 16, 3, &b);
	shmring_zw_abort(&s->zw);
	ok((*word(s, a) & ~SHMRING_ZC_STATE) != a && (*word(s, b) & ~SHMRING_ZC_STATE) != b,
	   "abort: the words name their positions no more");
	walk(s, s->start, s->hdr.head, &v);
	ok(v.recs == 1 && v.stop == a, "abort: nothing of it is visible");
	is_int(shmring_zw_commit(&s->zw), 0, "abort: nothing left to commit");
	put(s, 24, 4, &c);
	is_int(c, a, "abort: the next reservation takes its place");
	shmring_zw_abort(&s->zw);
	put(s, 24, 5, &c);
	is_int(c, a, "abort: again");
	is_int(shmring_zw_commit(&s->zw), 1, "abort: commit");
	walk(s, s->start, s->hdr.head, &v);
	ok(v.recs == 2 && v.type[1] == 5 && v.stop == s->zw.fill,
	   "abort: readers see the committed ones only");
	/* Only the kernel leaves a word naming the fill point: the chunk is closed. */
	*word(s, s->zw.fill) = s->zw.fill | SHMRING_ZC_BUSY;
	put(s, 8, 6, &b);
	ok(s->grants == 2 && b == s->start, "abort: a word naming the fill point, BUSY too, means closed");
	sim_free(s);
}

static void t_flush(void)
{
	struct sim *s = sim_new(0, 0);
	uint64_t fill;
	struct seen v;

	is_int(shmring_zw_flush(&s->zw), 0, "flush: with no chunk: 0");
	is_int(s->releases, 0, "flush: and no system call");
	put(s, 40, 1, NULL);
	is_int(shmring_zw_flush(&s->zw), -EBUSY, "flush: with a reservation outstanding: -EBUSY");
	shmring_zw_commit(&s->zw);
	fill = s->zw.fill;
	is_int(shmring_zw_flush(&s->zw), 0, "flush: 0");
	ok(*word(s, fill) == (fill | SHMRING_ZC_END), "flush: END at the fill point");
	ok(s->releases == 1 && !s->end, "flush: the chunk released (SHMRING_ZC_RELEASE)");
	walk(s, 0, s->hdr.head, &v);
	ok(v.recs == 1 && v.stop == s->hdr.head, "flush: readers pass the chunk");
	is_int(shmring_zw_flush(&s->zw), 0, "flush: twice: 0");
	is_int(s->releases, 1, "flush: and no second release");
	put(s, 40, 2, NULL);
	shmring_zw_commit(&s->zw);
	is_int(s->grants, 2, "flush: the next record gets a new chunk");
	put(s, 1000, 1, NULL);
	put(s, 1000, 1, NULL);
	put(s, 1000, 1, NULL);
	shmring_zw_commit(&s->zw);
	s->fail_next = -EAGAIN;
	is_int(put(s, 1000, 1, NULL), -EAGAIN, "flush: a full lossless ring, non-blocking: -EAGAIN");
	is_int(put(s, 1000, 1, NULL), 0, "flush: the retry gets the chunk");
	shmring_zw_commit(&s->zw);
	walk(s, 0, s->hdr.head, &v);
	ok(v.recs == 6 && v.stop == s->zw.fill, "flush: nothing torn by the failed request");
	sim_free(s);
}

static void t_revoke(void)
{
	struct sim *s = sim_new(SIZE, 0);
	uint64_t a, b;
	struct seen v;

	/* Stopped mid-record: the kernel VOIDs it, the commit swap fails. */
	put(s, 16, 1, NULL);
	shmring_zw_commit(&s->zw);
	put(s, 16, 2, &a);
	sim_revoke(s);
	ok(*word(s, a) == (a | SHMRING_ZC_VOID), "revoke mid-record: the kernel swapped BUSY to VOID");
	is_int(shmring_zw_commit(&s->zw), -ETIMEDOUT, "revoke mid-record: commit: -ETIMEDOUT");
	is_int(s->zw.lost, 1, "revoke mid-record: one reservation lost");
	put(s, 16, 3, &b);
	ok(s->grants == 2 && b == s->start, "revoke mid-record: the next reservation is in a new chunk");
	is_int(s->zw.revoked, 1, "revoke mid-record: the answer said revoked");
	shmring_zw_commit(&s->zw);
	walk(s, SIZE, s->hdr.head, &v);
	ok(v.recs == 2 && v.voids == 1 && v.type[1] == 3, "revoke mid-record: readers count one VOID");
	sim_free(s);

	/* Stopped between records: the kernel ENDs the fill point. */
	s = sim_new(SIZE, 0);
	put(s, 16, 1, NULL);
	shmring_zw_commit(&s->zw);
	a = s->zw.fill;
	sim_revoke(s);
	is_int(put(s, 16, 2, &b), 0, "revoke idle: the next reservation succeeds");
	ok(s->grants == 2 && b == s->start, "revoke idle: in a new chunk");
	ok(*word(s, a) == (a | SHMRING_ZC_END), "revoke idle: the kernel's END is left as it is");
	is_int(shmring_zw_commit(&s->zw), 1, "revoke idle: commit");
	ok(s->zw.lost == 0 && s->zw.revoked == 1, "revoke idle: nothing lost");
	walk(s, SIZE, s->hdr.head, &v);
	ok(v.recs == 2 && v.voids == 0 && v.stop == s->zw.fill, "revoke idle: readers see both");
	sim_free(s);

	/* Revoked while a batch is being reserved. */
	s = sim_new(0, 0);
	put(s, 16, 1, NULL);
	put(s, 16, 2, NULL);
	sim_revoke(s);
	put(s, 16, 3, NULL);
	is_int(shmring_zw_commit(&s->zw), -ETIMEDOUT, "revoke batch: commit: -ETIMEDOUT");
	is_int(s->zw.lost, 3, "revoke batch: the three outstanding are lost");
	walk(s, 0, s->hdr.head, &v);
	ok(v.recs == 0 && v.voids == 1 && v.stop == s->hdr.head, "revoke batch: readers see one VOID");
	sim_free(s);

	/*
	 * Revoked during the commit: the kernel marks the first word that
	 * is not DONE, the batch's gate (its first record), and the gate's
	 * swap decides for the whole batch.
	 */
	s = sim_new(0, 0);
	put(s, 16, 1, &a);
	put(s, 16, 2, NULL);
	put(s, 16, 3, NULL);
	ok(*word(s, a + SHMRING_REC_TOTAL(16)) == ((a + SHMRING_REC_TOTAL(16)) | SHMRING_ZC_BUSY),
	   "revoke in commit: the others are BUSY too (plain stores)");
	sim_revoke_at(s, a);	/* the kernel's swap won the race */
	is_int(shmring_zw_commit(&s->zw), -ETIMEDOUT, "revoke in commit: the batch is lost");
	is_int(s->zw.committed, 0, "revoke in commit: none committed");
	is_int(s->zw.lost, 3, "revoke in commit: three lost");
	walk(s, 0, s->hdr.head, &v);
	ok(v.recs == 0 && v.voids == 1, "revoke in commit: readers see one VOID, none of the batch");
	sim_free(s);
}

/* An overwrite ring reclaimed our chunk: tail passed its start. */
static void t_reclaimed(void)
{
	struct sim *s = sim_new(0, 0);
	uint64_t a, b;
	void *p;

	put(s, 16, 1, NULL);
	shmring_zw_commit(&s->zw);
	sim_revoke(s);
	s->hdr.tail = CHUNK;
	is_int(put(s, 16, 2, NULL), 0, "reclaimed idle: a new chunk");
	is_int(s->grants, 2, "reclaimed idle: granted");
	shmring_zw_commit(&s->zw);
	put(s, 16, 3, NULL);
	s->hdr.tail = s->start + CHUNK;
	is_int(shmring_zw_reserve(&s->zw, 16, 4, &p), -ETIMEDOUT,
	       "reclaimed with one outstanding: -ETIMEDOUT");
	is_int(s->zw.nres, 0, "reclaimed: the reservations are gone");
	sim_free(s);

	/* A later lap's word at the fill point: someone else's chunk now. */
	s = sim_new(0, 0);
	put(s, 16, 1, NULL);
	shmring_zw_commit(&s->zw);
	a = s->zw.fill;
	sim_revoke(s);		/* revoked, reclaimed, granted to another writer */
	s->hdr.head = SIZE + CHUNK;
	*word(s, a) = (a + SIZE) | SHMRING_ZC_BUSY;
	is_int(put(s, 16, 2, &b), 0, "regranted: the reservation succeeds");
	ok(b == SIZE + CHUNK, "regranted: in a new chunk");
	ok(*word(s, a) == ((a + SIZE) | SHMRING_ZC_BUSY), "regranted: the other writer's word is untouched");
	sim_free(s);
}

/* shmring_zw_write(): a revocation between reserve and commit is retried once. */
static int copies, revoke_copies;

static void *revoking_copy(void *dst, const void *src, size_t n, void *arg)
{
	if (copies++ < revoke_copies)
		sim_revoke(arg);
	return memcpy(dst, src, n);
}

static void t_write(void)
{
	struct sim *s = sim_new(0, SHMRING_ATTR_CSUM);
	char buf[100];
	struct seen v;
	void *p;

	memset(buf, 'x', sizeof(buf));
	is_int(shmring_zw_write(&s->zw, 9, buf, sizeof(buf)), 100, "write: returns the length");
	s->zw.copy = revoking_copy;
	s->zw.copy_arg = s;
	copies = 0;
	revoke_copies = 1;
	is_int(shmring_zw_write(&s->zw, 9, buf, 50), 50, "write: revoked once: retried, 50");
	is_int(copies, 2, "write: copied twice");
	copies = 0;
	revoke_copies = 2;
	is_int(shmring_zw_write(&s->zw, 9, buf, 50), -ETIMEDOUT, "write: revoked twice: -ETIMEDOUT");
	s->zw.copy = NULL;
	is_int(shmring_zw_write(&s->zw, 9, buf, 0), 0, "write: an empty record");
	is_int(shmring_zw_write(&s->zw, 9, buf, (size_t)MAXREC + 1), -EMSGSIZE, "write: too long");
	shmring_zw_reserve(&s->zw, 8, 1, &p);
	is_int(shmring_zw_write(&s->zw, 9, buf, 8), -EBUSY, "write: with a reservation outstanding: -EBUSY");
	shmring_zw_abort(&s->zw);
	shmring_zw_flush(&s->zw);
	walk(s, 0, s->hdr.head, &v);
	ok(v.recs == 3 && v.voids == 3 && !v.bad && v.stop == s->hdr.head,
	   "write: readers see 3 records and 3 VOIDs, checksums good");
	sim_free(s);
}

/* Fill each of @n payloads of @len bytes with (type + k + i). */
static void fill_n(void **pp, int n, uint32_t len, uint32_t type)
{
	int k;
	uint32_t i;

	for (k = 0; k < n; k++)
		for (i = 0; i < len; i++)
			((unsigned char *)pp[k])[i] = (unsigned char)(type + (uint32_t)k + i);
}

/* Do the payloads of the @n records from @pos say fill_n()'s bytes? */
static int check_n(struct sim *s, uint64_t pos, int n, uint32_t len, uint32_t type)
{
	int k, bad = 0;
	uint32_t i;

	for (k = 0; k < n; k++, pos += SHMRING_REC_TOTAL(len)) {
		const unsigned char *p = (const unsigned char *)(rec(s, pos) + 1);

		for (i = 0; i < len; i++)
			bad += p[i] != (unsigned char)(type + (uint32_t)k + i);
	}
	return bad;
}

/* shmring_zw_reserve_n(): many records of one size at once. */
static void t_reserve_n(void)
{
	struct sim *s = sim_new(2 * SIZE, SHMRING_ATTR_CSUM);
	void *pp[200];
	uint64_t pos, t0;
	struct seen v;
	int n, k, bad;

	is_int(shmring_zw_reserve_n(&s->zw, 8, 1, pp, 0), -EINVAL, "reserve_n: n == 0: -EINVAL");
	is_int(shmring_zw_reserve_n(&s->zw, 8, 1, NULL, 4), -EINVAL, "reserve_n: no array: -EINVAL");
	is_int(shmring_zw_reserve_n(&s->zw, MAXREC + 1, 1, pp, 4), -EMSGSIZE,
	       "reserve_n: len above max_record: -EMSGSIZE");
	ok(s->zw.nres == 0 && s->grants == 0, "reserve_n: the errors reserved nothing");

	/* 53 bytes: 96 a record, 42 fit in 4096. */
	n = shmring_zw_reserve_n(&s->zw, 53, 7, pp, 100);
	is_int(n, 42, "reserve_n: as many as fit in the chunk (42 of 100)");
	pos = s->start;
	is_int(s->grants, 1, "reserve_n: one chunk asked for");
	for (k = 0, bad = 0; k < n; k++) {
		uint64_t at = pos + (uint64_t)k * 96;
		struct shmring_rec *h = rec(s, at);
		const unsigned char *pad = (const unsigned char *)(h + 1) + 53;

		bad += pp[k] != (void *)(h + 1) || *word(s, at) != (at | SHMRING_ZC_BUSY) ||
		       h->len != 53 || h->type != 7 || h->pid != (uint32_t)getpid() ||
		       h->flags || h->__reserved0 || h->__reserved1 || h->csum || h->tstamp_ns ||
		       pad[0] || pad[1] || pad[2];
	}
	is_int(bad, 0, "reserve_n: each one BUSY, in a row, its header and padding as reserve's");
	is_int(s->zw.fill, pos + 42 * 96, "reserve_n: the fill point after the last");
	fill_n(pp, n, 53, 7);
	walk(s, pos, s->hdr.head, &v);
	is_int(v.recs, 0, "reserve_n: nothing visible before the commit");
	is_int(shmring_zw_reserve_n(&s->zw, 53, 7, pp, 1), -ENOBUFS,
	       "reserve_n: the chunk full with 42 outstanding: -ENOBUFS");
	is_int(s->grants, 1, "reserve_n: and no new chunk");
	t0 = boottime_ns();
	is_int(shmring_zw_commit(&s->zw), 42, "reserve_n: one commit: 42");
	walk(s, pos, s->hdr.head, &v);
	ok(v.recs == 42 && !v.bad && v.len[41] == 53 && v.type[41] == 7,
	   "reserve_n: readers see 42, checksums good");
	is_int(check_n(s, pos, 42, 53, 7), 0, "reserve_n: every payload where it was written");
	ok(rec(s, pos + 41 * 96)->tstamp_ns >= t0, "reserve_n: stamped by the commit");

	/* After a single reservation: the batch goes on in its chunk. */
	is_int(put(s, 30, 1, &pos), 0, "reserve_n: a single reservation first");
	is_int(s->grants, 2, "reserve_n: (in the next chunk: 64 bytes were left)");
	n = shmring_zw_reserve_n(&s->zw, 0, 2, pp, 5);
	is_int(n, 5, "reserve_n: five empty records join its batch");
	ok(pp[0] == (void *)(rec(s, pos + 72) + 1) && s->zw.nres == 6,
	   "reserve_n: right after it, six outstanding");
	is_int(shmring_zw_commit(&s->zw), 6, "reserve_n: the commit takes all six");

	/* More than the bookkeeping held (64): it grows. Empty records: 40 bytes. */
	shmring_zw_flush(&s->zw);
	n = shmring_zw_reserve_n(&s->zw, 0, 3, pp, 200);
	is_int(n, 102, "reserve_n: 102 empty records in a chunk (the array grew)");
	ok(s->zw.cap >= 102, "reserve_n: room for %u", s->zw.cap);
	is_int(shmring_zw_commit(&s->zw), 102, "reserve_n: commit 102");

	/* Abort: every word back, the next reservation in the same place. */
	n = shmring_zw_reserve_n(&s->zw, 16, 4, pp, 3);
	pos = s->zw.first;
	shmring_zw_abort(&s->zw);
	for (k = 0, bad = 0; k < n; k++)
		bad += (*word(s, pos + (uint64_t)k * 56) & ~SHMRING_ZC_STATE) == pos + (uint64_t)k * 56;
	ok(n == 3 && !bad, "reserve_n: abort: no word names its position");
	is_int(shmring_zw_reserve_n(&s->zw, 16, 4, pp, 3), 3, "reserve_n: again after the abort");
	is_int(s->zw.first, pos, "reserve_n: in the same place");

	/* Revoked at the gate during the commit: all or nothing. */
	sim_revoke_at(s, s->zw.first);
	is_int(shmring_zw_commit(&s->zw), -ETIMEDOUT, "reserve_n: revoked at the gate: -ETIMEDOUT");
	is_int(s->zw.lost, 3, "reserve_n: all three lost");
	n = shmring_zw_reserve_n(&s->zw, 16, 5, pp, 3);
	ok(n == 3 && s->zw.first == s->start, "reserve_n: the next ones in a new chunk");
	is_int(shmring_zw_commit(&s->zw), 3, "reserve_n: committed");
	shmring_zw_flush(&s->zw);
	walk(s, 2 * SIZE, s->hdr.head, &v);
	ok(v.recs == 42 + 6 + 102 + 3 && v.voids == 1 && !v.bad && v.stop == s->hdr.head,
	   "reserve_n: readers see all %u committed and the one VOID", 42 + 6 + 102 + 3);
	sim_free(s);
}

/*
 * Random batches, aborts, revocations and flushes; every record the
 * writer committed, and none other, read back in order.
 */
static void t_random(void)
{
	struct sim *s = sim_new(5 * SIZE, SHMRING_ATTR_CSUM);
	static uint32_t want_type[8192], want_len[8192];
	unsigned int nwant = 0, i, k, n, bad = 0, rounds = getenv("SHMRING_TEST_QUICK") ? 300 : 1500;
	uint32_t types[64], lens[64];
	struct seen *v = malloc(sizeof(*v));
	uint64_t from = s->hdr.head;
	int ret;

	srand(12345);
	for (i = 0; i < rounds && s->hdr.head - from < SIZE - 4 * CHUNK; i++) {
		if (rand() % 10 == 0)
			sim_revoke(s);	/* stopped between batches: nothing lost */
		n = 1 + (unsigned int)rand() % 8;
		if (rand() % 3 == 0) {
			/* n of one size at once: as many as fit. */
			void *pp[8];
			uint32_t len = (uint32_t)rand() % (rand() % 4 ? 64 : MAXREC + 1);

			ret = shmring_zw_reserve_n(&s->zw, len, i * 64, pp, n);
			if (ret < 0 || ret > (int)n)
				bad++;
			n = ret > 0 ? (unsigned int)ret : 0;
			fill_n(pp, (int)n, len, i * 64);
			for (k = 0; k < n; k++) {
				types[k] = i * 64;
				lens[k] = len;
			}
		} else {
			for (k = 0; k < n; k++) {
				types[k] = i * 64 + k;
				lens[k] = (uint32_t)rand() % (rand() % 4 ? 64 : MAXREC + 1);
				ret = put(s, lens[k], types[k], NULL);
				if (ret == -ENOBUFS)
					break;
				if (ret)
					bad++;
			}
			n = k;
		}
		switch (rand() % 10) {
		case 0:
			shmring_zw_abort(&s->zw);
			continue;
		case 1:
			sim_revoke(s);
			break;
		case 2:
			shmring_zw_commit(&s->zw);
			shmring_zw_flush(&s->zw);
			for (k = 0; k < n; k++) {
				want_type[nwant] = types[k];
				want_len[nwant++] = lens[k];
			}
			continue;
		}
		if (rand() % 8 == 0 && n > 1 && s->zw.nres == n) {
			/* revoked during the commit: at the gate, all or nothing */
			sim_revoke_at(s, s->zw.first);
		}
		ret = shmring_zw_commit(&s->zw);
		if (ret >= 0 && ret <= (int)n) {
			for (k = 0; k < (unsigned int)ret; k++) {
				want_type[nwant] = types[k];
				want_len[nwant++] = lens[k];
			}
		} else if (ret != -ETIMEDOUT) {
			bad++;
		}
	}
	shmring_zw_flush(&s->zw);
	is_int(bad, 0, "random: every reservation and commit as expected");
	walk(s, from, s->hdr.head, v);
	ok(v->stop == s->hdr.head, "random: readers reach head (every chunk ended)");
	is_int(v->bad, 0, "random: no bad header or checksum");
	is_int(v->recs, nwant, "random: as many records as committed (%u)", nwant);
	for (bad = 0, i = 0; i < nwant && i < v->recs && i < 4096; i++)
		bad += v->type[i] != want_type[i] || v->len[i] != want_len[i];
	is_int(bad, 0, "random: the same records, in order");
	is_int(s->zw.committed, nwant, "random: the writer counted them");
	diag("random: %u records, %llu chunks, %llu revoked, %llu lost, %u VOID", nwant,
	     (unsigned long long)s->zw.chunks, (unsigned long long)s->zw.revoked,
	     (unsigned long long)s->zw.lost, v->voids);
	free(v);
	sim_free(s);
}

int main(void)
{
	plan_no_plan();
	t_init();
	t_one();
	t_csum();
	t_batch();
	t_small_rest();
	t_abort();
	t_flush();
	t_revoke();
	t_reclaimed();
	t_write();
	t_reserve_n();
	t_random();
	return done_testing();
}
