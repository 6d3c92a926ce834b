// SPDX-License-Identifier: MIT
/*
 * libshmring's zero-copy writer: records filled in place in chunks the
 * kernel grants (SHMRING_ATTR_ZEROCOPY rings; include/uapi/linux/
 * shmring.h, "Zero-copy rings"; docs/design.md, "Zero-copy writers").
 *
 * A writer asks for a chunk with SHMRING_IOC_ZC_CHUNK and then, with no
 * system call, appends records to it through its writable mapping of the
 * data area. Each record's commit word (the header's seq slot) goes
 *   (anything else) -> pos|BUSY   when it is reserved,
 *   pos|BUSY -> pos|DONE          when it is committed (compare-and-swap),
 * and pos|END at the fill point says "nothing more in this chunk". The
 * kernel closes a chunk by swapping the first word that is not DONE to
 * END (VOID if it was BUSY); the two swaps decide between them whether a
 * record was committed.
 *
 * The shmring_zw_*() functions work on a struct shmring_zw (lib/internal.h)
 * and reach the kernel only through its zc_chunk() and kick() calls, so
 * tests/unit/t_zc.c runs the code a writer runs against a simulated
 * kernel. The public functions at the end set one up for a handle.
 *
 * Barrier tags match docs/design.md: [W7] the commit swap, [W9] the look
 * at zc_sleepers after it, pairing with the readers' [R7] and [R9].
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define REC_HDR		((uint64_t)sizeof(struct shmring_rec))
/* Offset of the commit word (the seq slot) in a record header. */
#define WORD_OFF	((uint64_t)offsetof(struct shmring_rec, seq))
/* A word that names nothing written yet at pos: the lap before. */
#define NOT_YET(zw, pos)	((pos) - (zw)->data_size)

static inline int before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

static inline uint64_t load_relaxed(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline struct shmring_rec *rec_at(const struct shmring_zw *zw, uint64_t pos)
{
	return (struct shmring_rec *)(zw->data + (pos & (zw->data_size - 1)));
}

static inline __u64 *word_at(const struct shmring_zw *zw, uint64_t pos)
{
	return &rec_at(zw, pos)->seq;
}

/* --- The writer's pid and clock ---------------------------------------------- */

/*
 * The pid every record carries, cached per process: getpid() is a system
 * call. A fork() child starts without it (pthread_atfork); a child made
 * by a raw clone(2) keeps its parent's.
 */
static pid_t zc_pid;
static pthread_once_t zc_pid_once = PTHREAD_ONCE_INIT;

static void zc_pid_forget(void)
{
	__atomic_store_n(&zc_pid, 0, __ATOMIC_RELAXED);
}

static void zc_pid_hook(void)
{
	pthread_atfork(NULL, NULL, zc_pid_forget);
}

static uint32_t writer_pid(void)
{
	pid_t pid = __atomic_load_n(&zc_pid, __ATOMIC_RELAXED);

	if (!pid) {
		pthread_once(&zc_pid_once, zc_pid_hook);
		pid = getpid();
		__atomic_store_n(&zc_pid, pid, __ATOMIC_RELAXED);
	}
	return (uint32_t)pid;
}

/* SHMRING_REC_CLOCK, as the kernel stamps records of other rings (vDSO). */
static uint64_t writer_now(void)
{
	struct timespec ts;

	if (KEEP_ERRNO(clock_gettime(CLOCK_BOOTTIME, &ts)))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* --- The image ------------------------------------------------------------------ */

int shmring_zw_init(struct shmring_zw *zw)
{
	uint64_t size = zw->data_size, chunk = zw->chunk;

	if (!zw->hdr || !zw->data)
		return -EINVAL;
	/* A kernel that says otherwise is not one we can write safely. */
	if (size < SHMRING_MIN_DATA_SIZE || (size & (size - 1)) ||
	    chunk < REC_HDR || (chunk & (chunk - 1)) || chunk > size / 2 ||
	    SHMRING_REC_TOTAL(zw->max_record) > chunk)
		return -EPROTO;
	if (load_relaxed(&zw->hdr->magic) != SHMRING_MAGIC ||
	    load_relaxed(&zw->hdr->data_size) != size ||
	    !(__atomic_load_n(&zw->hdr->flags, __ATOMIC_RELAXED) & SHMRING_ATTR_ZEROCOPY))
		return -EPROTO;
	zw->start = zw->end = zw->fill = zw->first = 0;
	zw->nres = 0;
	zw->open = 0;
	return 0;
}

void shmring_zw_free(struct shmring_zw *zw)
{
	free(zw->lens);
	zw->lens = NULL;
	zw->cap = 0;
}

/* --- Commit words ----------------------------------------------------------------- */

/*
 * Does @w, found at @pos, say that the space is no longer ours? It names
 * pos (the kernel closed the chunk at this word: END, or VOID over a BUSY
 * of ours; nothing of ours is left naming pos where we reserve, since an
 * abort sets its words back), or a later lap at this very offset, granted
 * since (head has passed it): the chunk was revoked and reclaimed.
 * Anything else (0, an earlier lap, payload bytes of one, which may look
 * like any position) is free space not written yet.
 */
static int word_taken(const struct shmring_zw *zw, uint64_t pos, __u64 w)
{
	uint64_t at = w & ~SHMRING_ZC_STATE;

	/* The kernel revoked the chunk and fenced it off our mapping. */
	if (w == SHMRING_ZC_FENCE_WORD)
		return 1;
	if (at == pos)
		return 1;
	return !((at ^ pos) & (zw->data_size - 1)) && before(pos, at) &&
	       !before(load_relaxed(&zw->hdr->head), at);
}

/*
 * Store @val into the commit word at @pos, unless the space is no longer
 * ours: -ETIMEDOUT then. A swap, not a plain store: the kernel closing
 * the chunk swaps this word too (to END) when the writer has stopped
 * here for zc_idle_ms, and a plain store could overwrite its END with a
 * BUSY that the commit would then turn into a record of a closed chunk.
 * The swap decides, as the commit's does, which of the two came first.
 */
static int word_claim(struct shmring_zw *zw, uint64_t pos, __u64 val)
{
	__u64 *w = word_at(zw, pos);
	__u64 cur = load_relaxed(w);

	do {
		if (word_taken(zw, pos, cur))
			return -ETIMEDOUT;
	} while (!__atomic_compare_exchange_n(w, &cur, val, 0, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return 0;
}

/* --- Chunks ------------------------------------------------------------------------- */

/* Forget the chunk: we append nothing more to it (the kernel may hold it). */
static void chunk_forget(struct shmring_zw *zw)
{
	zw->start = zw->end = zw->fill = zw->first = 0;
	zw->nres = 0;
}

/*
 * We are done with the chunk: pos|END at the fill point, so that readers
 * skip its rest without waiting for the kernel to close it. A rest too
 * small for the commit word of a header has no word (the next position
 * a record could start at is the chunk's end anyway).
 */
static void chunk_end(struct shmring_zw *zw)
{
	if (zw->end && zw->end - zw->fill >= WORD_OFF + sizeof(__u64))
		word_claim(zw, zw->fill, zw->fill | SHMRING_ZC_END);	/* lost: it is closed */
	chunk_forget(zw);
}

/* Ask the kernel for a chunk (closing the one it holds for us, if any). */
static int chunk_get(struct shmring_zw *zw, unsigned int flags)
{
	struct shmring_zc_chunk c;
	int ret;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.flags = flags;
	ret = zw->zc_chunk ? zw->zc_chunk(zw->arg, &c) : -ENOTCONN;
	if (ret)
		return ret;
	zw->open = !(flags & SHMRING_ZC_RELEASE);
	if (c.revoked)
		zw->revoked++;
	if (!zw->open)
		return 0;
	/* Chunks are aligned to their size: anything else is not a kernel we know. */
	if ((c.start & ((uint64_t)zw->chunk - 1)) || c.end - c.start != zw->chunk)
		return -EPROTO;
	zw->chunks++;
	zw->start = zw->first = zw->fill = c.start;
	zw->end = c.end;
	zw->nres = 0;
	return 0;
}

/*
 * An overwrite ring reclaims whole chunks, and revokes a chunk before it
 * reclaims it: a tail past our chunk's start means it is not ours any
 * more, whatever its words say.
 */
static int chunk_reclaimed(const struct shmring_zw *zw)
{
	return before(zw->start, __atomic_load_n(&zw->hdr->tail, __ATOMIC_ACQUIRE));
}

/* --- Reserve, commit, abort --------------------------------------------------------- */

/* Room in lens for @need outstanding reservations (doubling). */
static int lens_room(struct shmring_zw *zw, unsigned int need)
{
	unsigned int cap = zw->cap ? zw->cap : 64;
	uint32_t *lens;

	if (need <= zw->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	lens = KEEP_ERRNO(realloc(zw->lens, cap * sizeof(*lens)));
	if (!lens)
		return -ENOMEM;
	zw->lens = lens;
	zw->cap = cap;
	return 0;
}

/*
 * The header of a record, everything but the commit word, as the 8-byte
 * words it is stored with: len and type; tstamp_ns (0: stamped by the
 * commit, once for its batch); pid, flags 0 and __reserved0 0; csum 0
 * and __reserved1 0.
 */
struct hdr_words {
	uint64_t len_type, tstamp, pid_flags, csum;
};

static inline __attribute__((always_inline)) void hdr_words(struct hdr_words *w, uint32_t len,
							    uint32_t type, uint32_t pid)
{
	const struct shmring_rec t = { .len = len, .type = type, .pid = pid };

	memcpy(&w->len_type, &t.len, 8);
	memcpy(&w->tstamp, &t.tstamp_ns, 8);
	memcpy(&w->pid_flags, &t.pid, 8);
	memcpy(&w->csum, &t.csum, 8);
}

/* Store them into the header at @h; the padding after the payload is 0. */
static inline __attribute__((always_inline)) void *hdr_put(struct shmring_rec *h,
							   const struct hdr_words *w,
							   uint32_t len)
{
	memcpy(&h->len, &w->len_type, 8);
	memcpy(&h->tstamp_ns, &w->tstamp, 8);
	memcpy(&h->pid, &w->pid_flags, 8);
	memcpy(&h->csum, &w->csum, 8);
	if (len & 7)
		memset((unsigned char *)h + SHMRING_REC_TOTAL(len) - 8, 0, 8);
	return h + 1;
}

/* The header of a record we reserved at @pos: everything but the commit word. */
static inline __attribute__((always_inline)) void *rec_fill(struct shmring_zw *zw, uint64_t pos, uint32_t len, uint32_t type,
							    uint32_t pid)
{
	struct hdr_words w;

	hdr_words(&w, len, type, pid);
	return hdr_put(rec_at(zw, pos), &w, len);
}

/*
 * Make room for a record of @total bytes in our chunk: end the chunk and
 * get the next one when it does not fit, unless reservations are still
 * outstanding in it (-ENOBUFS: commit them first).
 */
static int chunk_room(struct shmring_zw *zw, uint64_t total)
{
	if (zw->end && zw->end - zw->fill >= total)
		return 0;
	if (zw->nres)
		return -ENOBUFS;
	chunk_end(zw);
	return chunk_get(zw, 0);
}

/* Take the @total bytes at the fill point for a record (its word claimed). */
static inline __attribute__((always_inline)) void *fill_take(struct shmring_zw *zw, uint32_t len, uint32_t type, uint64_t total,
							     uint32_t pid)
{
	void *payload = rec_fill(zw, zw->fill, len, type, pid);

	zw->lens[zw->nres++] = len;
	zw->fill += total;
	return payload;
}

static __attribute__((noinline)) int reserve_slow(struct shmring_zw *zw, uint32_t len, uint32_t type,
			void **payload)
{
	uint64_t total = SHMRING_REC_TOTAL(len);
	int tries, ret;

	if (!zw->hdr)
		return -EBADF;
	if (len > zw->max_record)
		return -EMSGSIZE;
	ret = lens_room(zw, zw->nres + 1);
	if (ret)
		return ret;
	/* A chunk revoked while we were away costs a new one, and no record. */
	for (tries = 0; tries < 3; tries++) {
		ret = chunk_room(zw, total);
		if (ret)
			return ret;
		/*
		 * The first reservation of a batch is its gate, claimed by a
		 * swap: the kernel marks a chunk at its first word that is not
		 * DONE, which is the gate while the batch is outstanding, so
		 * the others are ours for sure and take a plain store.
		 */
		if (zw->nres && !chunk_reclaimed(zw)) {
			__atomic_store_n(word_at(zw, zw->fill),
					 zw->fill | SHMRING_ZC_BUSY, __ATOMIC_RELAXED);
			break;
		}
		if (!chunk_reclaimed(zw) &&
		    !word_claim(zw, zw->fill, zw->fill | SHMRING_ZC_BUSY))
			break;
		/* Revoked: our outstanding reservations were VOIDed with it. */
		if (zw->nres) {
			zw->lost += zw->nres;
			chunk_forget(zw);
			return -ETIMEDOUT;
		}
		chunk_forget(zw);
	}
	if (tries == 3)
		return -ETIMEDOUT;
	*payload = fill_take(zw, len, type, total, writer_pid());
	return 0;
}

/*
 * The common case first: a batch under way (nres: a chunk is open and
 * its gate claimed) with room for the record in the chunk and in lens,
 * so the word is ours for a plain store, as reserve_slow() would find
 * after its checks. Anything else (the first record of a batch, the
 * chunk's end, a reclaim, an error to report, the pid not known yet)
 * takes reserve_slow(): the fast path calls nothing, so it needs no
 * stack frame.
 */
int shmring_zw_reserve(struct shmring_zw *zw, uint32_t len, uint32_t type,
		       void **payload)
{
	uint64_t total = SHMRING_REC_TOTAL(len);
	pid_t pid = __atomic_load_n(&zc_pid, __ATOMIC_RELAXED);

	if (pid && zw->nres && zw->nres < zw->cap && len <= zw->max_record &&
	    zw->end - zw->fill >= total && !chunk_reclaimed(zw)) {
		__atomic_store_n(word_at(zw, zw->fill), zw->fill | SHMRING_ZC_BUSY,
				 __ATOMIC_RELAXED);
		*payload = fill_take(zw, len, type, total, (uint32_t)pid);
		return 0;
	}
	return reserve_slow(zw, len, type, payload);
}

/*
 * Up to @n records of @len bytes at once: the first as
 * shmring_zw_reserve() takes it (the chunk, the gate, every check and
 * error), then as many more as fit in the rest of its chunk, with no
 * check left to make per record: the words behind a claimed gate take
 * plain stores. Returns how many (1 to n), or the first one's error.
 */
int shmring_zw_reserve_n(struct shmring_zw *zw, uint32_t len, uint32_t type,
			 void **payloads, unsigned int n)
{
	uint64_t total = SHMRING_REC_TOTAL(len), fit, fill, mask;
	struct hdr_words w;
	unsigned char *data;
	unsigned int i, more;
	uint32_t *lens;
	int ret;

	if (!n || !payloads)
		return -EINVAL;
	ret = shmring_zw_reserve(zw, len, type, &payloads[0]);
	if (ret)
		return ret;
	fit = (zw->end - zw->fill) / total;
	more = n - 1 < fit ? n - 1 : (unsigned int)fit;
	if (more && lens_room(zw, zw->nres + more))
		more = zw->cap - zw->nres;	/* no memory for more: what fits */
	/*
	 * fill_take() for each, its header words made once and the walk in
	 * locals (stores to the ring could alias zw: fields would be loaded
	 * again for each record).
	 */
	hdr_words(&w, len, type, writer_pid());
	data = zw->data;
	mask = zw->data_size - 1;
	fill = zw->fill;
	lens = zw->lens + zw->nres;
	for (i = 1; i <= more; i++) {
		struct shmring_rec *h = (struct shmring_rec *)(data + (fill & mask));

		__atomic_store_n(&h->seq, fill | SHMRING_ZC_BUSY, __ATOMIC_RELAXED);
		payloads[i] = hdr_put(h, &w, len);
		lens[i - 1] = len;
		fill += total;
	}
	zw->fill = fill;
	zw->nres += more;
	return (int)more + 1;
}

static void rec_csum(struct shmring_rec *h, uint32_t len)
{
	h->csum = shmring_crc32c(h + 1, len);
	h->flags = SHMRING_REC_CSUM;
}

/* What a commit stores into a header: the batch's stamp, the checksum. */
static inline void rec_seal(struct shmring_rec *h, uint32_t len, uint64_t now, int csum)
{
	h->tstamp_ns = now;
	if (csum)
		rec_csum(h, len);
}

/*
 * [W7] Commit the record at @pos: its checksum, then the swap BUSY ->
 * DONE. The swap is seq_cst: header and payload are visible before the
 * word says DONE (release, pairs with the readers' acquire load of the
 * word [R7]), and it is the full barrier [W9] needs before the look at
 * zc_sleepers. It fails if the kernel swapped the word to VOID first
 * (the chunk was revoked): the record is lost, and so are those after it.
 *
 * This is the gate: the first record of the batch, by swap. Once it says
 * DONE, readers and the kernel go on to the others, already DONE behind
 * it.
 */
static int rec_commit(struct shmring_zw *zw, uint64_t pos, uint32_t len,
		      uint64_t now)
{
	struct shmring_rec *h = rec_at(zw, pos);
	__u64 busy = pos | SHMRING_ZC_BUSY;

	rec_seal(h, len, now, zw->csum);
	return __atomic_compare_exchange_n(&h->seq, &busy, pos | SHMRING_ZC_DONE, 0,
					   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/*
 * [W9] pairs with [R9]: a reader about to sleep publishes zc_sleepers,
 * issues a full barrier and looks at the commit word at its position
 * again. Our swap is a full barrier before this load: either the reader
 * sees DONE, or we see it waiting and wake it. Readers that do not sleep
 * cost no system call.
 */
static void wake_sleepers(struct shmring_zw *zw)
{
	if (!__atomic_load_n(&zw->hdr->zc_sleepers, __ATOMIC_SEQ_CST))
		return;
	zw->kicks++;
	if (zw->kick)
		zw->kick(zw->arg);
}

int shmring_zw_commit(struct shmring_zw *zw)
{
	uint64_t pos = zw->first, now;
	unsigned int i, n = zw->nres;
	const uint32_t *lens = zw->lens;
	unsigned char *data = zw->data;
	const uint64_t mask = zw->data_size - 1;
	int ret = 0, csum = zw->csum;

	if (!zw->hdr)
		return -EBADF;
	/*
	 * One clock read per commit, as the kernel stamps a batch: records
	 * committed together share their time (where the clock is not in
	 * the vDSO, each read is a system call).
	 */
	now = n ? writer_now() : 0;
	/*
	 * All but the gate first, with plain release stores (no atomic
	 * per record): nobody reads past the gate while it is BUSY. Then the
	 * gate's swap publishes the batch, all or nothing: if the kernel
	 * swapped it first (the chunk was revoked), none of it is ever read.
	 */
	for (i = 1; i < n; i++) {
		struct shmring_rec *h;

		pos += SHMRING_REC_TOTAL(lens[i - 1]);
		h = (struct shmring_rec *)(data + (pos & mask));
		rec_seal(h, lens[i], now, csum);
		__atomic_store_n(&h->seq, pos | SHMRING_ZC_DONE, __ATOMIC_RELEASE);
	}
	i = n;
	if (n && !rec_commit(zw, zw->first, zw->lens[0], now)) {
		/* Revoked: the whole batch is VOID. Next: a new chunk. */
		zw->lost += n;
		chunk_forget(zw);
		ret = -ETIMEDOUT;
		i = 0;
	}
	zw->committed += i;
	if (!ret) {
		zw->nres = 0;
		zw->first = zw->fill;
	}
	if (!i)
		return ret;
	wake_sleepers(zw);
	return (int)i;	/* all of them: a batch is committed whole or not */
}

/* Set the word of a reservation at @pos back to "not written yet". */
static int word_unclaim(struct shmring_zw *zw, uint64_t pos)
{
	__u64 busy = pos | SHMRING_ZC_BUSY;

	return __atomic_compare_exchange_n(word_at(zw, pos), &busy, NOT_YET(zw, pos), 0,
					   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/*
 * Drop the outstanding reservations: the fill point goes back to the
 * first of them, and their words to "not written yet", the first one
 * first: it is the only one the kernel may swap (the first word of the
 * chunk that is not DONE). If it did (the chunk was closed meanwhile),
 * the chunk is forgotten.
 */
void shmring_zw_abort(struct shmring_zw *zw)
{
	uint64_t pos = zw->first;
	unsigned int i;

	if (!zw->nres)
		return;
	if (!word_unclaim(zw, pos)) {
		chunk_forget(zw);
		return;
	}
	for (i = 1; i < zw->nres; i++) {
		pos += SHMRING_REC_TOTAL(zw->lens[i - 1]);
		word_unclaim(zw, pos);
	}
	zw->fill = zw->first;
	zw->nres = 0;
}

/* Reserve, copy, commit; a revocation between them costs one more try. */
int shmring_zw_write(struct shmring_zw *zw, uint32_t type, const void *buf,
		     size_t len)
{
	void *p;
	int tries, ret = 0;

	if (len > UINT32_MAX)
		return -EMSGSIZE;
	if (zw->nres)
		return -EBUSY;	/* it would commit records still being filled */
	for (tries = 0; tries < 2; tries++) {
		ret = shmring_zw_reserve(zw, (uint32_t)len, type, &p);
		if (ret)
			return ret;
		if (len) {
			if (zw->copy)
				zw->copy(p, buf, len, zw->copy_arg);
			else
				memcpy(p, buf, len);
		}
		ret = shmring_zw_commit(zw);
		if (ret != -ETIMEDOUT)
			break;
	}
	return ret < 0 ? ret : (int)len;
}

/* END at the fill point, and the chunk back to the kernel. */
int shmring_zw_flush(struct shmring_zw *zw)
{
	if (!zw->hdr)
		return -EBADF;
	if (zw->nres)
		return -EBUSY;
	if (!zw->open)
		return 0;
	chunk_end(zw);
	return chunk_get(zw, SHMRING_ZC_RELEASE);
}

/* --- A handle's zero-copy writer ---------------------------------------------------- */

struct shmring_zc {
	struct shmring_zw zw;
	int fd;
	void *ring_map;		/* our own header mapping (writer-only handles) */
	size_t ring_len;
	size_t data_len;
};

static int zc_ioctl_chunk(void *arg, struct shmring_zc_chunk *c)
{
	const struct shmring_zc *zc = arg;

	return shmring_sys_ioctl(zc->fd, SHMRING_IOC_ZC_CHUNK, c);
}

static void zc_ioctl_kick(void *arg)
{
	const struct shmring_zc *zc = arg;

	shmring_sys_ioctl(zc->fd, SHMRING_IOC_KICK, NULL);
}

static void *zc_mmap(size_t len, int prot, int fd, uint64_t off, int *err)
{
	void *p = KEEP_ERRNO(({ void *m = mmap(NULL, len, prot, MAP_SHARED, fd,
					       (off_t)off);
				*err = m == MAP_FAILED ? -errno : 0; m; }));

	return *err ? NULL : p;
}

static void zc_unmap(struct shmring_zc *zc)
{
	if (zc->zw.data)
		KEEP_ERRNO(munmap(zc->zw.data, zc->data_len));
	if (zc->ring_map)
		KEEP_ERRNO(munmap(zc->ring_map, zc->ring_len));
	zc->zw.data = NULL;
	zc->ring_map = NULL;
}

/*
 * The header: a reader handle has it mapped already; a writer-only handle
 * maps the ring read-only itself (the kernel allows that to writers of
 * zero-copy rings). Then the data area, writable, once.
 */
static int zc_map(struct shmring *r, struct shmring_zc *zc,
		  const struct shmring_info *info)
{
	int ret = 0;
	void *p;

	if (r->rd.hdr) {
		zc->zw.hdr = r->rd.hdr;
	} else {
		p = zc_mmap(info->map_ring_len, PROT_READ, r->fd, info->map_ring_off, &ret);
		if (!p)
			return ret;
		zc->ring_map = p;
		zc->ring_len = info->map_ring_len;
		zc->zw.hdr = p;
	}
	if (info->map_zc_len < r->attr.data_size)
		return -EPROTO;
	zc->data_len = info->map_zc_len;
	p = zc_mmap(zc->data_len, PROT_READ | PROT_WRITE, r->fd, info->map_zc_off, &ret);
	if (!p)
		return ret;
	zc->zw.data = p;
	return 0;
}

static int zc_init(struct shmring *r, struct shmring_zc *zc)
{
	struct shmring_info info;
	int ret;

	ret = shmring_info(r, &info);
	if (ret)
		return ret;
	/* Only writers who may also read the ring get the writable mapping. */
	if (!info.map_zc_len)
		return -EACCES;
	ret = zc_map(r, zc, &info);
	if (ret)
		return ret;
	zc->fd = r->fd;
	zc->zw.data_size = r->attr.data_size;
	zc->zw.max_record = zc->zw.hdr->max_record;
	zc->zw.chunk = zc->zw.hdr->zc_chunk;
	zc->zw.csum = !!(zc->zw.hdr->flags & SHMRING_ATTR_CSUM);
	zc->zw.zc_chunk = zc_ioctl_chunk;
	zc->zw.kick = zc_ioctl_kick;
	zc->zw.arg = zc;
	ret = shmring_zw_init(&zc->zw);
	if (ret == -EPROTO && !(zc->zw.hdr->flags & SHMRING_ATTR_ZEROCOPY))
		ret = -EOPNOTSUPP;
	return ret;
}

/* The handle's zero-copy writer, set up on its first use. */
static __attribute__((noinline)) int zc_setup(struct shmring *r, struct shmring_zw **zwp)
{
	struct shmring_zc *zc;
	int ret;

	if (!(r->flags & SHMRING_O_WRITE))
		return -EBADF;
	if (!(r->attr.flags & SHMRING_ATTR_ZEROCOPY))
		return -EOPNOTSUPP;
	zc = KEEP_ERRNO(calloc(1, sizeof(*zc)));
	if (!zc)
		return -ENOMEM;
	ret = zc_init(r, zc);
	if (ret) {
		zc_unmap(zc);
		free(zc);
		return ret;
	}
	r->zc = zc;
	*zwp = &zc->zw;
	return 0;
}

/*
 * The writer, set up on first use. Apart from that, no call and no
 * stack frame: shmring_zc_reserve() is made once per record.
 */
static inline __attribute__((always_inline)) int zc_get(struct shmring *r, struct shmring_zw **zwp)
{
	if (r->zc) {
		*zwp = &r->zc->zw;
		return 0;
	}
	return zc_setup(r, zwp);
}

void shmring_zc_release(struct shmring *r)
{
	struct shmring_zc *zc = r->zc;

	if (!zc)
		return;
	/* A clean close leaves no VOID: nothing reserved, END, chunk released. */
	shmring_zw_abort(&zc->zw);
	shmring_zw_flush(&zc->zw);
	zc_unmap(zc);
	shmring_zw_free(&zc->zw);
	free(zc);
	r->zc = NULL;
}

/* --- public API ------------------------------------------------------------------ */

/*
 * Without a writer set up yet there is nothing to commit or flush: only
 * say whether the handle could write zero-copy at all.
 */
static int zc_none(const struct shmring *r)
{
	if (!(r->flags & SHMRING_O_WRITE))
		return -EBADF;
	if (!(r->attr.flags & SHMRING_ATTR_ZEROCOPY))
		return -EOPNOTSUPP;
	return 0;
}

static __attribute__((noinline)) int zc_reserve_first(struct shmring *r, uint32_t len,
							uint32_t type, void **payload)
{
	struct shmring_zw *zw;
	int ret = zc_setup(r, &zw);

	return ret ? ret : shmring_zw_reserve(zw, len, type, payload);
}

/* Made once per record: a frameless jump to the writer's reserve. */
int shmring_zc_reserve(struct shmring *r, uint32_t len, uint32_t type, void **payload)
{
	if (r->zc)
		return shmring_zw_reserve(&r->zc->zw, len, type, payload);
	return zc_reserve_first(r, len, type, payload);
}

int shmring_zc_reserve_n(struct shmring *r, uint32_t len, uint32_t type,
			 void **payloads, unsigned int n)
{
	struct shmring_zw *zw;
	int ret = zc_get(r, &zw);

	return ret ? ret : shmring_zw_reserve_n(zw, len, type, payloads, n);
}

int shmring_zc_commit(struct shmring *r)
{
	return r->zc ? shmring_zw_commit(&r->zc->zw) : zc_none(r);
}

void shmring_zc_abort(struct shmring *r)
{
	if (r->zc)
		shmring_zw_abort(&r->zc->zw);
}

int shmring_zc_write(struct shmring *r, uint32_t type, const void *buf, size_t len)
{
	struct shmring_zw *zw;
	int ret = zc_get(r, &zw);

	return ret ? ret : shmring_zw_write(zw, type, buf, len);
}

int shmring_zc_flush(struct shmring *r)
{
	struct shmring_zw *zw;
	int ret = zc_get(r, &zw);

	/* Also sets the writer up (maps the area): a writer may call it first. */
	return ret ? ret : shmring_zw_flush(zw);
}
