// SPDX-License-Identifier: MIT
/*
 * libshmring's reader: peek, consume, copy out, wait.
 *
 * The shmring_rd_*() functions work on a struct shmring_rd, a memory
 * image of a ring (header, data area twice in a row, reader page) and a
 * cursor. The library points the image at its mappings; tests/unit and
 * tests/fuzz point it at buffers they built, so the code that runs in a
 * reader process is the code they test. They make no system call.
 *
 * Barrier tags match kmod/shmring_ring.c and docs/design.md: [R1]..[R8]
 * on this side pair with [W1]..[W8] in the kernel (and, for [W7], in
 * zero-copy writers); [T1]..[T3] are the cursor transaction (crash
 * atomicity, see cursor_commit()).
 *
 * Zero-copy rings (SHMRING_ATTR_ZEROCOPY) are walked by commit words
 * instead of up to head: see "zero-copy rings" below.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Compiler barrier: stores before it are emitted before stores after it. */
#define barrier() atomic_signal_fence(memory_order_seq_cst)

static inline int before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

static inline uint64_t load_acquire(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint64_t load_relaxed(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store_relaxed(__u64 *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void store_release(__u64 *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Move the cursor in its reader page so that a kill at any instruction
 * leaves either the old cursor or the new one (include/uapi/linux/
 * shmring.h, struct shmring_reader). Only program order matters for a
 * kill: the process stops at an instruction boundary and every store
 * before it reaches memory. The compiler must not reorder the stores,
 * hence the barriers between relaxed stores; the release stores also
 * order them for the kernel, which reads pos while we run.
 */
static int cursor_commit(struct shmring_reader *rp, __u64 *expect,
			 uint64_t pos, uint64_t seq, uint64_t nread,
			 uint64_t nlost, uint64_t now)
{
	__u64 seen;

	/*
	 * [T1] txn_* may still describe the last commit at this very pos:
	 * void it before overwriting its values. Pairs with the attach-time
	 * check txn_pos == pos (cursor_recover()).
	 */
	store_relaxed(&rp->txn_pos, SHMRING_TXN_NONE);
	barrier();
	store_relaxed(&rp->txn_seq, seq);
	store_relaxed(&rp->txn_read, nread);
	store_relaxed(&rp->txn_lost, nlost);
	/* [T2] the values are in place before txn_pos names them. */
	store_release(&rp->txn_pos, pos);
	/*
	 * The commit: a swap from the pos we last saw. [R3] pairs with
	 * [W3]: we are done with the bytes before pos. [T3] the txn is
	 * complete before pos reaches it. [R6] pairs with [W6]: a kernel
	 * that lapped the cursor swapped it first, and the record is lost
	 * (the kernel counted it; we count the gap at the next commit).
	 */
	seen = *expect;
	if (!__atomic_compare_exchange_n(&rp->pos, &seen, pos, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
		*expect = seen;
		store_relaxed(&rp->txn_pos, SHMRING_TXN_NONE);
		return 0;
	}
	*expect = pos;
	barrier();	/* no store below may be emitted above the commit */
	store_relaxed(&rp->seq, seq);
	store_relaxed(&rp->records_read, nread);
	store_relaxed(&rp->records_lost, nlost);
	if (now)
		store_relaxed(&rp->last_read_ns, now);
	return 1;
}

/*
 * Finish a commit that a killed reader left half done: txn_pos == pos
 * means pos was stored ([T3]) and maybe not what follows it.
 * Otherwise the txn never committed and seq and the counters still
 * describe pos. Idempotent, so a kill in here is harmless too.
 */
static void cursor_recover(struct shmring_reader *rp)
{
	uint64_t pos = load_acquire(&rp->pos);

	/* A lapped pos no longer names the commit; lap_from does. */
	if (pos & SHMRING_POS_LAPPED)
		pos = load_relaxed(&rp->lap_from);
	if (load_acquire(&rp->txn_pos) != pos)
		return;
	store_relaxed(&rp->seq, load_relaxed(&rp->txn_seq));
	store_relaxed(&rp->records_read, load_relaxed(&rp->txn_read));
	store_relaxed(&rp->records_lost, load_relaxed(&rp->txn_lost));
}

/* The smallest chunk we read: a power of two that holds a record header. */
#define ZC_MIN_CHUNK	64

int shmring_rd_attach(struct shmring_rd *rd)
{
	uint64_t size = rd->data_size, chunk = 0;

	if (!rd->hdr || !rd->data || !rd->rp)
		return -EINVAL;
	/* A kernel that says otherwise is not one we can read safely. */
	if (size < SHMRING_MIN_DATA_SIZE || (size & (size - 1)) ||
	    SHMRING_REC_TOTAL(rd->max_record) > size)
		return -EPROTO;
	if (load_relaxed(&rd->hdr->magic) != SHMRING_MAGIC ||
	    load_relaxed(&rd->hdr->data_size) != size)
		return -EPROTO;
	/*
	 * Zero-copy rings: the geometry the walk relies on (every skip is
	 * to a chunk end) must hold whatever the header page says.
	 */
	if (__atomic_load_n(&rd->hdr->flags, __ATOMIC_RELAXED) & SHMRING_ATTR_ZEROCOPY) {
		chunk = __atomic_load_n(&rd->hdr->zc_chunk, __ATOMIC_RELAXED);
		if (chunk < ZC_MIN_CHUNK || (chunk & (chunk - 1)) || chunk > size)
			return -EPROTO;
	}
	cursor_recover(rd->rp);
	rd->mask = size - 1;
	rd->pos_word = load_acquire(&rd->rp->pos);
	rd->pos = rd->pos_word & ~SHMRING_POS_LAPPED;
	rd->seq = load_relaxed(&rd->rp->seq);
	rd->lost = 0;
	rd->peek_total = 0;
	rd->peek_seq = 0;
	rd->peek_ns = 0;
	rd->kicked_gen = 0;
	rd->consumed = 0;
	rd->zc_chunk = chunk;
	rd->zc_seq = rd->seq;
	/* Lapped while detached: the number at pos is the tail's. */
	rd->zc_lap = chunk && (rd->pos_word & SHMRING_POS_LAPPED);
	rd->zc_discarded = 0;
	rd->zc_corrupt = 0;
	return 0;
}

/*
 * Someone else moved our cursor: the kernel, lapping it (SHMRING_POS_
 * LAPPED: seq stays, so the next commit counts the gap), or a seek.
 */
static void cursor_moved(struct shmring_rd *rd, uint64_t raw)
{
	rd->pos_word = raw;
	rd->pos = raw & ~SHMRING_POS_LAPPED;
	if (!(raw & SHMRING_POS_LAPPED))
		rd->seq = load_relaxed(&rd->rp->seq);
	/* Zero-copy rings: a lapped pos is numbered by the tail (zc_lap_seq()). */
	rd->zc_seq = rd->seq;
	rd->zc_lap = rd->zc_chunk && (raw & SHMRING_POS_LAPPED);
	rd->peek_total = 0;
}

/* [R2]: has the kernel reclaimed @pos (loaded after what we read there)? */
static inline int overwritten_at(const struct shmring_hdr *hdr, uint64_t pos)
{
	atomic_thread_fence(memory_order_acquire);
	return before(pos, load_relaxed(&hdr->tail));
}

/* Was the record at rd->pos overwritten? [R2] pairs with [W2]. */
static int overwritten(const struct shmring_rd *rd)
{
	return overwritten_at(rd->hdr, rd->pos);
}

/*
 * The record a reader gets from a header it copied (@h) and checked:
 * number @seq, wall time the record's CLOCK_BOOTTIME plus @rt, the
 * published realtime_offset_ns.
 */
static inline void rec_out(struct shmring_record *out, const struct shmring_rec *h,
			   const void *payload, uint64_t seq, uint64_t rt)
{
	out->data = payload;
	out->len = h->len;
	out->type = h->type;
	out->seq = seq;
	out->tstamp_ns = h->tstamp_ns;
	out->pid = h->pid;
	out->flags = h->flags;
	out->csum = h->csum;
	out->__pad = 0;
	out->realtime_ns = out->tstamp_ns + rt;	/* h's stamp loaded once */
}

static void fill_record(const struct shmring_rd *rd, struct shmring_record *out,
			const struct shmring_rec *h, const void *payload)
{
	rec_out(out, h, payload, h->seq, load_relaxed(&rd->hdr->realtime_offset_ns));
}

static int zc_peek(struct shmring_rd *rd, struct shmring_record *out);

int shmring_rd_peek(struct shmring_rd *rd, struct shmring_record *out)
{
	const unsigned char *at;
	struct shmring_rec h;
	uint64_t head, tail;
	int total;

	if (!rd->hdr)
		return -EBADF;
	if (rd->zc_chunk)
		return zc_peek(rd, out);
	for (;;) {
		head = load_acquire(&rd->hdr->head);	/* [R1] pairs with [W1] */
		if (rd->pos == head) {
			/* [R5] pairs with [W5]: pos is stored; look once more. */
			atomic_thread_fence(memory_order_seq_cst);
			if (rd->pos == load_acquire(&rd->hdr->head))
				return -EAGAIN;
			continue;
		}
		tail = load_relaxed(&rd->hdr->tail);
		if (before(rd->pos, tail)) {
			uint64_t raw;

			/*
			 * Lapped. [R6] pairs with [W6]: the kernel swapped
			 * our pos before it published this tail.
			 */
			atomic_thread_fence(memory_order_acquire);
			raw = load_acquire(&rd->rp->pos);
			if (raw != rd->pos_word)
				cursor_moved(rd, raw);
			else
				rd->pos = tail;	/* kernel without SHMRING_FEAT_LAP */
			continue;
		}
		/*
		 * pos is at or past a tail loaded after head, so a live ring
		 * has head - pos <= data_size; more is corruption (and would
		 * let a DISCARD walk run for ever).
		 */
		if (before(head, rd->pos) || head - rd->pos > rd->data_size ||
		    (rd->pos & 7))
			return -EBADMSG;
		at = rd->data + (rd->pos & rd->mask);
		memcpy(&h, at, sizeof(h));
		if (overwritten(rd))
			continue;
		total = shmring_rec_validate(&h, head - rd->pos, rd->max_record);
		if (total < 0)
			return total;
		if (before(h.seq, rd->seq))
			return -EBADMSG;
		rd->peek_total = (uint64_t)total;
		rd->peek_seq = h.seq;
		if (h.flags & SHMRING_REC_DISCARD) {
			/*
			 * Reserved space, never a record: a copy that faulted
			 * (the writer's buffer changed under the write).
			 * Numbered, so the next record's seq jumps; counted
			 * here (shmring_discarded()), not lost.
			 */
			rd->peek_ns = 0;	/* not a read */
			if (!shmring_rd_consume(rd))
				rd->zc_discarded++;
			continue;
		}
		fill_record(rd, out, &h, at + sizeof(h));
		rd->peek_ns = rd->shadowed ? rd->batch_ns : now_ns();
		return 0;
	}
}

int shmring_rd_consume(struct shmring_rd *rd)
{
	struct shmring_reader *rp = rd->rp;
	uint64_t lost, pos, seq, nread, nlost;
	int stale;

	if (!rd->peek_total)
		return -EINVAL;
	/*
	 * Overwritten while we held it: with SHMRING_FEAT_LAP the kernel
	 * swapped our pos first, so the commit below fails; without, this
	 * is how we know, and the record counts as lost here.
	 */
	stale = overwritten(rd);
	lost = rd->peek_seq - rd->seq + (uint64_t)stale;
	pos = rd->pos + rd->peek_total;
	seq = rd->peek_seq + 1;
	nread = load_relaxed(&rp->records_read) + (uint64_t)!stale;
	nlost = load_relaxed(&rp->records_lost) + lost;
	if (rd->shadowed && !stale) {
		/*
		 * The shadow of drain_batch(): nobody else sees it, and
		 * batch_commit() publishes the result in one transaction
		 * (with the [R4] fence), so plain stores do.
		 */
		rp->pos = pos;
		rp->seq = seq;
		rp->records_read = nread;
		rp->records_lost = nlost;
		if (rd->peek_ns)
			rp->last_read_ns = rd->peek_ns;
		rd->pos_word = pos;
		goto moved;
	}
	/*
	 * last_read_ns is when peek returned the record: the clock is read
	 * there, so a consume is a short, fixed run of instructions (and
	 * its crash atomicity testable at each one, tests/guest/t_txn.c).
	 */
	if (!cursor_commit(rp, &rd->pos_word, pos, seq, nread, nlost,
			   rd->peek_ns)) {
		cursor_moved(rd, rd->pos_word);
		return -ESTALE;
	}
	/* [R4] pairs with [W4]: pos is visible before we look for writers. */
	atomic_thread_fence(memory_order_seq_cst);
moved:
	rd->lost += lost;
	rd->pos = pos;
	rd->seq = seq;
	rd->zc_seq = seq;
	rd->peek_total = 0;
	rd->consumed = 1;
	return stale ? -ESTALE : 0;
}

/*
 * Lossless rings: should we wake writers waiting for room ([R4] is in
 * shmring_rd_consume())? Only after a consume. With wait_pos, once we
 * reach the position they need, and once per publication of it
 * (wait_gen): a writer that sleeps again publishes again. Without it,
 * after every consume while writers wait.
 */
int shmring_rd_want_kick(struct shmring_rd *rd)
{
	uint64_t gen;

	if (!rd->consumed)
		return 0;
	rd->consumed = 0;
	if (!__atomic_load_n(&rd->hdr->writers_waiting, __ATOMIC_RELAXED))
		return 0;
	if (rd->wait_pos) {
		gen = load_relaxed(&rd->hdr->wait_gen);
		if (gen == rd->kicked_gen ||
		    before(rd->pos, load_relaxed(&rd->hdr->wait_pos)))
			return 0;
		rd->kicked_gen = gen;
	}
	return 1;
}

/*
 * Peek, copy, consume; a record overwritten during the copy (-ESTALE)
 * is dropped (and counted lost) and the next one is tried.
 */
int shmring_rd_read(struct shmring_rd *rd, struct shmring_record *rec,
		    void *buf, size_t len)
{
	struct shmring_record r;
	int ret;

	for (;;) {
		ret = shmring_rd_peek(rd, &r);
		if (ret)
			return ret;
		if (r.len > len) {
			if (rec)
				*rec = r;	/* still peeked, not consumed */
			return -EMSGSIZE;
		}
		if (r.len) {
			if (rd->copy)
				rd->copy(buf, r.data, r.len, rd->copy_arg);
			else
				memcpy(buf, r.data, r.len);
		}
		ret = shmring_rd_consume(rd);
		if (ret == -ESTALE)
			continue;
		if (ret)
			return ret;
		r.data = buf;
		if (rec)
			*rec = r;
		return (int)r.len;	/* <= max_record < INT32_MAX */
	}
}

/* --- zero-copy rings ------------------------------------------------------- */

/*
 * On a SHMRING_ATTR_ZEROCOPY ring, writers fill records in place in
 * chunks of zc_chunk bytes (aligned to their size) that the kernel
 * grants; head is the end of the last chunk granted, not of the last
 * record. The record header's seq slot is the commit word: the record's
 * own position with a state in its low 3 bits (include/uapi/linux/
 * shmring.h, "Zero-copy rings"). Records carry no sequence number: the
 * reader numbers them itself, from its cursor's seq (zc_seq).
 *
 * The data area is writable by every writer of the ring, so nothing in
 * it is trusted: a record is validated before it is handed over, and a
 * walk only ever moves forward, to a record's end or to a chunk's end,
 * never past head. [R7] pairs with a writer's commit swap (BUSY -> DONE,
 * release, [W7]) and the kernel's close swaps (-> END/VOID); [R8] with
 * the kernel's release store of zc_closed after it closed a chunk ([W8]).
 */

/* Give up on a lap the kernel has not finished publishing after this. */
#define ZC_LAP_SPINS	64

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/*
 * The number of the record at a lapped pos. Records carry none, so it is
 * the tail's: the kernel swaps the cursor to T | SHMRING_POS_LAPPED
 * ([W6]) before it stores tail_seq and then tail = T. With tail == pos
 * loaded (acquire), tail_seq is the number at pos unless a later reclaim
 * stored a newer one; that reclaim swapped our cursor first, which the
 * load of pos after tail_seq shows. 0: known (zc_lap clear), or lapped
 * further (the walk's tail check moves on); -EAGAIN: the kernel has not
 * published the tail yet; -EBADMSG: a tail numbered behind our cursor.
 */
static int zc_lap_seq(struct shmring_rd *rd)
{
	uint64_t tail, seq, raw;
	int spins;

	for (spins = 0; spins < ZC_LAP_SPINS; spins++) {
		tail = load_acquire(&rd->hdr->tail);
		if (tail != rd->pos) {
			if (before(rd->pos, tail))
				return 0;
			cpu_relax();	/* swapped, tail not stored yet */
			continue;
		}
		seq = load_relaxed(&rd->hdr->tail_seq);
		atomic_thread_fence(memory_order_acquire);
		raw = load_acquire(&rd->rp->pos);
		if (raw != rd->pos_word) {
			cursor_moved(rd, raw);	/* lapped again, or a seek */
			if (!rd->zc_lap)
				return 0;
			continue;
		}
		if (before(seq, rd->seq))
			return -EBADMSG;
		rd->zc_seq = seq;
		rd->zc_lap = 0;
		return 0;
	}
	return -EAGAIN;
}

/* The end of the chunk holding pos: round_up(pos + 1, zc_chunk). */
static inline uint64_t zc_chunk_end(const struct shmring_rd *rd, uint64_t pos)
{
	return (pos | (rd->zc_chunk - 1)) + 1;
}

/*
 * A committed record's header, as the writer left it: within max_record
 * and within its chunk, with known flags only.
 */
static inline int zc_len_ok(uint32_t len, uint16_t flags, uint64_t room,
			    uint32_t max_record)
{
	return len <= max_record && !(flags & ~SHMRING_REC_FLAGS_ALL) &&
	       SHMRING_REC_TOTAL(len) <= room;
}

/* The same, for a record at @pos: room is what is left of its chunk. */
static inline int zc_rec_ok_at(const struct shmring_rd *rd, uint64_t pos,
				const struct shmring_rec *h)
{
	return zc_len_ok(h->len, h->flags, zc_chunk_end(rd, pos) - pos, rd->max_record);
}

static int zc_rec_ok(const struct shmring_rd *rd, const struct shmring_rec *h)
{
	return zc_rec_ok_at(rd, rd->pos, h);
}

/*
 * Move the cursor to the end of the chunk at pos (END, VOID, corrupt):
 * the same transaction as a consume's, with the sequence number
 * unchanged (a lap's gap is counted here if it is the first commit
 * after it), and *count (if any) one more once it committed. A commit
 * lost to the kernel's lap moves the cursor where the kernel put it.
 */
static void zc_skip(struct shmring_rd *rd, uint64_t end, uint64_t *count)
{
	struct shmring_reader *rp = rd->rp;
	uint64_t lost = rd->zc_seq - rd->seq;

	if (!cursor_commit(rp, &rd->pos_word, end, rd->zc_seq,
			   load_relaxed(&rp->records_read),
			   load_relaxed(&rp->records_lost) + lost, 0)) {
		cursor_moved(rd, rd->pos_word);
		return;
	}
	if (count)
		(*count)++;
	rd->lost += lost;
	rd->pos = end;
	rd->seq = rd->zc_seq;
	rd->peek_total = 0;
	rd->consumed = 1;
	/* [R4] pairs with [W4]: pos is visible before we look for writers. */
	atomic_thread_fence(memory_order_seq_cst);
}

/* The commit word of the record header at @at (8-aligned): [R7]. */
static inline uint64_t zc_word(const unsigned char *at)
{
	return __atomic_load_n((const __u64 *)(const void *)
			       (at + offsetof(struct shmring_rec, seq)), __ATOMIC_ACQUIRE);
}

/*
 * Where the walk stands at pos, head loaded: ZC_AT_* below. The checks
 * that need no commit word come first; ZC_AT_WORD means the word (and
 * zc_closed before it) must be looked at.
 */
enum { ZC_AT_EMPTY, ZC_AT_LAPPED, ZC_AT_BAD, ZC_AT_TAIL_END, ZC_AT_WORD };

static int zc_where(const struct shmring_rd *rd, uint64_t head, uint64_t *end)
{
	uint64_t pos = rd->pos;

	if (pos == head)
		return ZC_AT_EMPTY;
	if (before(pos, load_relaxed(&rd->hdr->tail)))
		return ZC_AT_LAPPED;
	/*
	 * pos is at or past a tail loaded after head, so a live ring has
	 * head - pos <= data_size, and head is a chunk boundary (the end of
	 * the last chunk granted): a chunk at pos granted only in part is a
	 * corrupt header, never something to walk into.
	 */
	if (before(head, pos) || head - pos > rd->data_size || (pos & 7))
		return ZC_AT_BAD;
	*end = zc_chunk_end(rd, pos);
	if (before(head, *end))
		return ZC_AT_BAD;
	/*
	 * No record fits in what is left of the chunk (with 8 bytes left
	 * the commit word would even lie in the next chunk): its end.
	 */
	if (*end - pos < sizeof(struct shmring_rec))
		return ZC_AT_TAIL_END;
	return ZC_AT_WORD;
}

static int zc_peek(struct shmring_rd *rd, struct shmring_record *out)
{
	const unsigned char *at;
	struct shmring_rec h;
	uint64_t head, end = 0, closed, state;
	int again = 0, ret;

	for (;;) {
		if (rd->zc_lap) {
			ret = zc_lap_seq(rd);
			if (ret)
				return ret;
		}
		head = load_acquire(&rd->hdr->head);	/* [R1]: the grant frontier */
		switch (zc_where(rd, head, &end)) {
		case ZC_AT_EMPTY:
			/* [R5] pairs with [W5]: pos is stored; look once more. */
			atomic_thread_fence(memory_order_seq_cst);
			if (rd->pos == load_acquire(&rd->hdr->head))
				return -EAGAIN;
			continue;
		case ZC_AT_LAPPED: {
			uint64_t raw;

			/* As shmring_rd_peek(): [R6] pairs with [W6]. */
			atomic_thread_fence(memory_order_acquire);
			raw = load_acquire(&rd->rp->pos);
			if (raw != rd->pos_word) {
				cursor_moved(rd, raw);
			} else {
				/* A kernel without SHMRING_FEAT_LAP. */
				rd->pos = load_relaxed(&rd->hdr->tail);
				rd->zc_lap = 1;
			}
			continue;
		}
		case ZC_AT_BAD:
			return -EBADMSG;
		case ZC_AT_TAIL_END:
			zc_skip(rd, end, NULL);
			continue;
		}
		if (rd->zc_lap)
			return -EAGAIN;	/* lapped as we looked: not known yet */
		at = rd->data + (rd->pos & rd->mask);
		/* [R8] pairs with [W8]: zc_closed before the word. */
		closed = load_acquire(&rd->hdr->zc_closed);
		/* The word names pos (8-aligned) iff this is a state. */
		state = zc_word(at) ^ rd->pos;
		if (state == SHMRING_ZC_DONE) {
			memcpy(&h, at, sizeof(h));
			if (overwritten(rd))	/* [R2]: torn by a reclaim */
				continue;
			if (!zc_rec_ok(rd, &h)) {
				zc_skip(rd, end, &rd->zc_corrupt);
				continue;
			}
			rd->peek_total = SHMRING_REC_TOTAL(h.len);
			rd->peek_seq = rd->zc_seq;
			if (h.flags & SHMRING_REC_DISCARD) {
				rd->peek_ns = 0;	/* numbered, never handed over */
				shmring_rd_consume(rd);
				continue;
			}
			h.seq = rd->zc_seq;
			fill_record(rd, out, &h, at + sizeof(h));
			rd->peek_ns = rd->shadowed ? rd->batch_ns : now_ns();
			return 0;
		}
		if (state == SHMRING_ZC_END || state == SHMRING_ZC_VOID) {
			zc_skip(rd, end, state == SHMRING_ZC_VOID ? &rd->zc_discarded : NULL);
			continue;
		}
		if (before(rd->pos, closed)) {
			/*
			 * A closed chunk's words are final, so this one is
			 * garbage: unless the chunk was reclaimed under us
			 * (a lap, not corruption).
			 */
			if (overwritten(rd))
				continue;
			zc_skip(rd, end, &rd->zc_corrupt);
			continue;
		}
		/* Not written yet (BUSY, or a word of another lap). */
		if (again)
			return -EAGAIN;
		again = 1;
		atomic_thread_fence(memory_order_seq_cst);
	}
}

int shmring_rd_pending(struct shmring_rd *rd)
{
	const unsigned char *at;
	uint64_t head, end = 0, closed, state, tail;

	if (!rd->hdr)
		return 0;
	if (!rd->zc_chunk)
		return rd->pos != load_acquire(&rd->hdr->head);
	if (rd->zc_lap) {
		/* A tail not at the lapped pos yet: the kernel's to publish. */
		tail = load_acquire(&rd->hdr->tail);
		if (tail != rd->pos && !before(rd->pos, tail))
			return 0;
	}
	head = load_acquire(&rd->hdr->head);
	switch (zc_where(rd, head, &end)) {
	case ZC_AT_EMPTY:
		return 0;
	case ZC_AT_WORD:
		break;
	default:
		return 1;	/* a lap, a skip, or -EBADMSG to report */
	}
	at = rd->data + (rd->pos & rd->mask);
	closed = load_acquire(&rd->hdr->zc_closed);
	state = zc_word(at) ^ rd->pos;
	return state == SHMRING_ZC_DONE || state == SHMRING_ZC_END ||
	       state == SHMRING_ZC_VOID || before(rd->pos, closed);
}

/* --- bulk reads: shmring_consume_n() and ring sets --------------------------- */

/*
 * Would a writer waiting for room move if we committed now? What
 * shmring_rd_want_kick() would say after a commit, without its side
 * effects: a lossless batch is committed early for such a writer
 * instead of at its end. Without wait_pos (old kernels): once a
 * sixteenth of the ring was read since the last commit.
 */
static int writer_wants_room(const struct shmring_rd *rd, uint64_t committed)
{
	if (!__atomic_load_n(&rd->hdr->writers_waiting, __ATOMIC_RELAXED))
		return 0;
	if (!rd->wait_pos)
		return rd->pos - committed >= rd->data_size / 16;
	return load_relaxed(&rd->hdr->wait_gen) != rd->kicked_gen &&
	       !before(rd->pos, load_relaxed(&rd->hdr->wait_pos));
}

/*
 * Publish what the batch consumed in @shadow to the reader page: one
 * cursor transaction with the summed counters, so the batch commits
 * whole or not at all. [R4]/[R5]: pos is visible before we look for
 * waiting writers (shmring_rd_want_kick()) and at head again.
 */
static int batch_commit(struct shmring_rd *rd, struct shmring_rd_drain *d,
			const struct shmring_reader *shadow, __u64 *word)
{
	int ok = 1;

	/* *word: the page's pos as we last saw it ([R6], a swap from it). */
	if (shadow->pos != *word) {
		ok = cursor_commit(rd->rp, word, shadow->pos, shadow->seq,
				   shadow->records_read, shadow->records_lost,
				   shadow->last_read_ns);
		d->commits++;
		if (ok)
			rd->pos_word = *word;
		else
			cursor_moved(rd, *word);	/* a seek: start over there */
	}
	atomic_thread_fence(memory_order_seq_cst);
	return ok;
}

static void drain_kick(struct shmring_rd *rd, struct shmring_rd_drain *d)
{
	if (!shmring_rd_want_kick(rd))
		return;
	d->kicks++;
	if (d->kick)
		d->kick(d->kick_arg);
}

/*
 * Overwrite rings and taps: a writer may lap the cursor at any time, so
 * each record is consumed (a swap of pos, [R6]) as a single read does.
 * A record whose commit lost to the writer's lap was delivered to the
 * handler already: it counts as lost, not read (shmring_rd_consume(),
 * as the ring counts it), is in the return value, and the drain goes on
 * from the tail.
 */
static int drain_each(struct shmring_rd *rd, struct shmring_rd_drain *d, int limit)
{
	struct shmring_record rec;
	int n = 0, ret;

	while (n < limit) {
		ret = shmring_rd_peek(rd, &rec);
		if (ret == -EAGAIN)
			d->drained = 1;
		if (ret)
			return ret == -EAGAIN ? n : ret;
		ret = d->fn(d->ctx, &rec);
		if (ret < 0)
			return ret;	/* not consumed: still peeked */
		ret = shmring_rd_consume(rd);
		d->commits++;
		if (ret == -ESTALE)
			d->stale++;
		else if (ret)
			return ret;
		n++;
	}
	return n;
}

/*
 * The bulk drain's fast path on a zero-copy ring (drain_batch(), on the
 * shadow): the committed records that follow pos in its chunk, each
 * checked as zc_peek() checks it (its word DONE and naming pos, the
 * header within max_record and the chunk, not torn by a reclaim), handed
 * to d->fn and consumed with no transaction; the shadow gets the result
 * once. Head, tail and the chunk's bounds are looked at once per run, as
 * zc_where() does, not once per record. The run stops at anything else
 * (the chunk's end, a word not DONE, a DISCARD record, a bad header, a
 * lap, a sequence gap to count) and zc_peek() deals with it; it also
 * stops after each record while a writer waits for room, so that
 * drain_batch() can commit early for it. Returns the
 * records consumed; *err is a handler's error, whose record stays
 * peeked as zc_peek() would leave it.
 */
static __attribute__((noinline)) int zc_run(struct shmring_rd *rd, struct shmring_rd_drain *d, int limit,
		  int *err)
{
	const struct shmring_hdr *hdr = rd->hdr;
	const uint64_t ns = rd->batch_ns;
	struct shmring_reader *rp = rd->rp;
	struct shmring_record rec;
	const struct shmring_rec *hp;
	uint64_t head, end = 0, pos, seq, rt, total;
	int k, left, stale = 0, ret = 0;

	*err = 0;
	if (!rd->shadowed || rd->zc_lap || rd->peek_total || rd->zc_seq != rd->seq)
		return 0;
	head = load_acquire(&hdr->head);	/* [R1]: the grant frontier */
	if (zc_where(rd, head, &end) != ZC_AT_WORD)
		return 0;
	/*
	 * The walk keeps its place in locals (the handler is called through
	 * a pointer, so fields of rd would be stored and loaded again for
	 * each record), but for rd->pos, the handler's record, and leaves rd
	 * as zc_peek() and consume would where it stops: on the record it
	 * stops at, peeked if the handler saw it.
	 */
	pos = rd->pos;
	seq = rd->seq;
	/*
	 * The wall-clock offset once per run, as the run's time is
	 * (batch_ns). The image's fields are loaded from rd where used,
	 * not kept in locals across the handler's call.
	 */
	rt = load_relaxed(&hdr->realtime_offset_ns);
	for (left = limit; left > 0; left--) {
		const uint64_t room = end - pos;

		if (room < sizeof(*hp))
			break;
		hp = (const struct shmring_rec *)(const void *)(rd->data + (pos & rd->mask));
		if ((zc_word((const unsigned char *)hp) ^ pos) != SHMRING_ZC_DONE)	/* [R7] */
			break;
		/*
		 * Each header field loaded once, into rec: what is checked
		 * is what the handler gets.
		 */
		rec_out(&rec, hp, hp + 1, seq, rt);
		if (overwritten_at(rd->hdr, pos) ||	/* [R2] */
		    !zc_len_ok(rec.len, rec.flags, room, rd->max_record) ||
		    (rec.flags & SHMRING_REC_DISCARD))
			break;
		rd->pos = pos;	/* where the handler's record is (tests look) */
		ret = d->fn(d->ctx, &rec);
		if (ret < 0)
			break;		/* not consumed: still peeked */
		if (overwritten_at(rd->hdr, pos)) {
			stale = 1;	/* shmring_rd_consume() counts it */
			break;
		}
		pos += SHMRING_REC_TOTAL(rec.len);
		seq++;
		/* A writer waits for room: drain_batch() may commit early. */
		if (__atomic_load_n(&rd->hdr->writers_waiting, __ATOMIC_RELAXED)) {
			left--;
			break;
		}
	}
	k = limit - left;
	/* The record the handler saw (an error, or torn by a reclaim). */
	total = ret < 0 || stale ? SHMRING_REC_TOTAL(rec.len) : 0;
	rd->pos = pos;
	rd->zc_seq = rd->seq = seq;
	if (ret < 0 || stale) {
		*err = ret < 0 ? ret : 0;
		/* The record the handler saw, peeked as zc_peek() leaves it. */
		rd->peek_total = total;
		rd->peek_seq = seq;
		rd->peek_ns = ns;
	}
	if (k) {
		rd->pos_word = pos;
		rp->pos = pos;
		rp->seq = seq;
		rp->records_read += (uint64_t)k;
		rp->last_read_ns = ns;
		rd->consumed = 1;
	}
	if (stale) {
		if (shmring_rd_consume(rd) == -ESTALE)
			d->stale++;
		k++;
	}
	return k;
}

/*
 * Lossless rings, non-tap readers: the kernel reuses no byte at or after
 * the stored position, so the position is stored once, after the batch.
 * The records are peeked and consumed by the very functions of a single
 * read, against a private copy of the reader page that the kernel never
 * sees: sequence numbers, gaps, DISCARD records and the counters are
 * kept exactly as they are one record at a time, and the real page gets
 * one cursor_commit() of the result. A waiting writer that the records
 * read so far would let go ends the batch early (one kick per batch).
 */
static int drain_batch(struct shmring_rd *rd, struct shmring_rd_drain *d, int limit)
{
	struct shmring_reader *rp = rd->rp, shadow = *rp;
	uint64_t committed = rd->pos;
	/* Zero-copy skips counted in the batch count once it commits. */
	uint64_t discarded = rd->zc_discarded, corrupt = rd->zc_corrupt;
	__u64 word = rd->pos_word;
	struct shmring_record rec;
	int n = 0, k, ret = 0;

	shadow.pos = word;	/* the shadow's swaps start where ours will */
	rd->rp = &shadow;
	rd->shadowed = 1;
	rd->batch_ns = now_ns();
	while (n < limit) {
		k = rd->zc_chunk ? zc_run(rd, d, limit - n, &ret) : 0;
		n += k;
		if (ret < 0)
			break;		/* not consumed: still peeked */
		if (!k) {
			ret = shmring_rd_peek(rd, &rec);
			if (ret == -EAGAIN)
				d->drained = 1;
			if (ret)
				break;
			ret = d->fn(d->ctx, &rec);
			if (ret < 0)
				break;	/* not consumed: still peeked */
			ret = 0;
			/* -ESTALE cannot be (nothing is reused); counted if it were. */
			if (shmring_rd_consume(rd) == -ESTALE)
				d->stale++;
			n++;
		}
		if (n < limit && writer_wants_room(rd, committed)) {
			rd->rp = rp;
			rd->shadowed = 0;
			if (!batch_commit(rd, d, &shadow, &word)) {
				rd->zc_discarded = discarded;
				rd->zc_corrupt = corrupt;
				return n;
			}
			drain_kick(rd, d);
			committed = rd->pos;
			discarded = rd->zc_discarded;
			corrupt = rd->zc_corrupt;
			rd->rp = &shadow;
			rd->shadowed = 1;
		}
	}
	rd->rp = rp;
	rd->shadowed = 0;
	if (!batch_commit(rd, d, &shadow, &word)) {
		rd->zc_discarded = discarded;
		rd->zc_corrupt = corrupt;
	}
	return ret < 0 && !d->drained ? ret : n;
}

/*
 * Call d->fn for up to @limit records (negative: no limit), consuming
 * each one its handler accepted (returned >= 0). Returns the number
 * handled, or the error that stopped the drain: a handler's negative
 * return (its record stays peeked, not consumed) or a peek's. Records
 * handled before an error stay consumed. d->drained says the drain
 * stopped because nothing was pending, with the position stored and
 * head looked at again after it ([R5]): a caller may sleep then.
 */
int shmring_rd_consume_n(struct shmring_rd *rd, struct shmring_rd_drain *d, int limit)
{
	int done = 0, ret = 0, idle = 0;
	uint64_t pos;

	d->drained = 0;
	if (!rd->hdr || !rd->rp)
		return -EBADF;
	if (!d->fn)
		return -EINVAL;
	if (limit < 0)
		limit = INT_MAX;
	while (done < limit) {
		d->drained = 0;
		pos = rd->pos;
		ret = d->each ? drain_each(rd, d, limit - done)
			      : drain_batch(rd, d, limit - done);
		if (ret < 0)
			break;
		done += ret;
		/*
		 * A batch saw nothing pending (head == pos, or on a zero-copy
		 * ring a word not written yet) before it stored pos: records
		 * published since then may have woken nobody. Drained by
		 * one record at a time, peek already looked after the store.
		 */
		if (!d->drained || d->each || !shmring_rd_pending(rd))
			break;
		/*
		 * Pending, yet the batch found nothing: a writer raced us.
		 * Bounded all the same: a ring that keeps saying so is
		 * left to the caller's next wait.
		 */
		if (!ret && rd->pos == pos && ++idle > 2)
			break;
	}
	drain_kick(rd, d);
	return ret < 0 ? ret : done;
}

/* --- public API ------------------------------------------------------------ */

static void kick_writers(struct shmring *r)
{
	if (shmring_rd_want_kick(&r->rd))
		shmring_sys_ioctl(r->fd, SHMRING_IOC_KICK, NULL);
}

int shmring_peek(struct shmring *r, struct shmring_record *rec)
{
	int ret = shmring_rd_peek(&r->rd, rec);

	kick_writers(r);	/* it may have consumed DISCARD records */
	return ret;
}

int shmring_consume(struct shmring *r)
{
	int ret = shmring_rd_consume(&r->rd);

	kick_writers(r);
	return ret;
}

int shmring_read(struct shmring *r, struct shmring_record *rec, void *buf,
		 size_t len)
{
	int ret = shmring_rd_read(&r->rd, rec, buf, len);

	kick_writers(r);
	return ret;
}

uint64_t shmring_lost(const struct shmring *r)
{
	return r->rd.lost;
}

uint64_t shmring_discarded(const struct shmring *r)
{
	return r->rd.zc_discarded;
}

uint64_t shmring_corrupt(const struct shmring *r)
{
	return r->rd.zc_corrupt;
}

int shmring_wait(struct shmring *r, int timeout_ms)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	int n;

	n = KEEP_ERRNO(({ int p = poll(&pfd, 1, timeout_ms); p < 0 ? -errno : p; }));
	if (n < 0)
		return n;
	if (n == 0)
		return -ETIMEDOUT;
	if (pfd.revents & POLLIN)
		return 0;
	if (pfd.revents & POLLHUP)
		return -EIDRM;
	return -EIO;
}

static void kick_fd(void *arg)
{
	shmring_sys_ioctl(*(const int *)arg, SHMRING_IOC_KICK, NULL);
}

int shmring_drain(struct shmring *r, shmring_handler_t fn, void *ctx, int limit,
		  int *drained)
{
	struct shmring_rd_drain d = {
		.fn = fn,
		.ctx = ctx,
		/* Unknown policies too: one record at a time is always safe. */
		.each = r->attr.policy != SHMRING_POLICY_LOSSLESS ||
			(r->flags & SHMRING_O_TAP),
		.kick = kick_fd,
		.kick_arg = &r->fd,
	};
	int ret = limit ? shmring_rd_consume_n(&r->rd, &d, limit) : 0;

	if (drained)
		*drained = d.drained;
	return ret;
}

int shmring_consume_n(struct shmring *r, shmring_handler_t fn, void *ctx, int limit)
{
	return shmring_drain(r, fn, ctx, limit, NULL);
}
