// SPDX-License-Identifier: GPL-2.0
/*
 * Zero-copy rings through the raw ABI (docs/design.md, "Zero-copy
 * writers"): a writer written here from the header alone, read(2)
 * readers, and processes that die, stop or scribble.
 *
 *   1  errno table: attributes, ZC_CHUNK, write(2)/batches, watermarks,
 *      seeks, the mappings (who may map what, sizes, MAP_PRIVATE), and the
 *      writable mapping refused to another uid and to another user
 *      namespace holding an inherited writer fd;
 *   2  many writers, both policies: every record read once by every
 *      reader, counted sequence numbers gapless, each writer's records in
 *      its order and intact, the kernel's counts equal to the readers';
 *   3  crash: writers SIGKILLed at random points (between reserve and
 *      commit among them) under load, again and again: readers never see
 *      a record twice or torn, the sequence stays gapless, the ring stays
 *      usable; then how fast a reader blocked behind a killed writer's
 *      record resumes (reported, bounded);
 *   4  a stopped writer (SIGSTOP mid-record): another writer's record is
 *      delivered after zc_idle_ms; continued, the stopped writer's commit
 *      fails and its next chunk request says revoked;
 *   5  a hostile writer scribbles garbage over the whole writable area
 *      while an honest writer and readers run: every read(2) returns,
 *      readers keep getting the honest writer's records (or skip), the
 *      kernel stays quiet (vm.sh checks the log);
 *   6  lost-wakeup hunt: a reader sleeps in poll() for every record, the
 *      writer enters the kernel only when zc_sleepers says so, with
 *      random delays on both sides: no wakeup is lost; and a lossless
 *      writer asleep in ZC_CHUNK for room, woken by a libshmring reader
 *      consuming in place; and a reader in SHMRING_ZC_WAKE_CHUNK mode that
 *      no writer kicks, woken by chunk releases and the idle work.
 *
 * usage: t_zc [scale] (default 1: sized for the stock VM; the debug VM
 * passes less through SHMRING_TEST_SCALE). T_ZC_ONLY=wake runs case 6
 * alone: `T_ZC_ONLY=wake t_zc 10` hunts through 200,500 cycles;
 * T_ZC_ONLY=resume runs the resume-after-death and stopped-writer cases,
 * T_ZC_ONLY=crash the SIGKILL storm.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

static double scale = 1.0;

#define PAY_MIN		16

struct zcw {
	int fd;
	struct shmring_hdr *hdr;
	size_t ring_len;
	uint8_t *data;
	size_t data_len;
	uint64_t mask, max_record;
	uint64_t pos, end;		/* fill point and chunk end */
	bool fresh;			/* no record yet in this chunk */
	uint64_t kicks, chunks, revoked;
	/* Commits in the current chunk, to compare with the kernel's count. */
	uint32_t in_chunk;
	uint64_t chunk_start, last_commit;
	uint64_t mismatches;
	uint64_t rewrites;	/* records written again after a revocation */
	char mismatch[200];
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static int zc_create(const char *name, uint64_t size, uint32_t policy,
		     uint32_t chunk, uint32_t max_record)
{
	struct shmring_open o;
	int fd = dev_fd(O_RDWR), ret;

	open_args(&o, name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE);
	o.mode = 0600;
	o.attr.data_size = size;
	o.attr.policy = policy;
	o.attr.flags = SHMRING_ATTR_ZEROCOPY;
	o.attr.zc_chunk = chunk;
	o.attr.max_record = max_record;
	ret = xioctl(fd, SHMRING_IOC_OPEN, &o);
	close(fd);
	return ret;
}

static void zc_unlink(const char *name)
{
	struct shmring_name n = { .size = sizeof(n) };
	int fd = dev_fd(O_RDWR);

	snprintf(n.name, sizeof(n.name), "%s", name);
	xioctl(fd, SHMRING_IOC_UNLINK, &n);
	close(fd);
}

static int zcw_map(struct zcw *w)
{
	struct shmring_info in = { .size = sizeof(in) };
	void *p;

	if (xioctl(w->fd, SHMRING_IOC_INFO, &in))
		return -1;
	w->ring_len = in.map_ring_len;
	p = mmap(NULL, in.map_ring_len, PROT_READ, MAP_SHARED, w->fd,
		 in.map_ring_off);
	if (p == MAP_FAILED)
		return -errno;
	w->hdr = p;
	w->data_len = in.map_zc_len;
	p = mmap(NULL, in.map_zc_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 w->fd, in.map_zc_off);
	if (p == MAP_FAILED)
		return -errno;
	w->data = p;
	w->mask = in.attr.data_size - 1;
	w->max_record = in.attr.max_record;
	return 0;
}

static void zcw_open(struct zcw *w, const char *name)
{
	int ret;

	memset(w, 0, sizeof(*w));
	w->fd = raw_open(name, SHMRING_O_WRITE, 0, 0);
	if (w->fd < 0)
		bail_out("open %s to write: %s", name, strerror(-w->fd));
	ret = zcw_map(w);
	if (ret)
		bail_out("map %s: %s", name, strerror(-ret));
}

static void zcw_close(struct zcw *w)
{
	munmap(w->data, w->data_len);
	munmap(w->hdr, w->ring_len);
	close(w->fd);
}

static struct shmring_rec *zcw_rec(struct zcw *w, uint64_t pos)
{
	return (struct shmring_rec *)(w->data + (pos & w->mask));
}

/*
 * The writer's swap of the commit word (docs/design.md), unless the word
 * names pos (the kernel closed the chunk) or the same offset in a later
 * lap up to head (the space was granted again after a revocation).
 */
static bool zcw_swap(struct zcw *w, uint64_t pos, uint64_t state)
{
	__u64 *word = &zcw_rec(w, pos)->seq;
	__u64 old = __atomic_load_n(word, __ATOMIC_RELAXED);
	uint64_t named = old & ~SHMRING_ZC_STATE;
	uint64_t head = __atomic_load_n(&w->hdr->head, __ATOMIC_ACQUIRE);

	if (old == SHMRING_ZC_FENCE_WORD)
		return false;	/* revoked and fenced off our mapping */
	if (old && !((named - pos) & w->mask) && (int64_t)(named - pos) >= 0 &&
	    (int64_t)(named - head) < 0)
		return false;
	return __atomic_compare_exchange_n(word, &old, pos | state, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

/* Close the chunk (END at the fill point) and ask for the next. */
static int zcw_grant(struct zcw *w, uint32_t flags, struct shmring_zc_chunk *out)
{
	struct shmring_zc_chunk a = { .size = sizeof(a), .flags = flags };
	int ret;

	if (w->end && w->end - w->pos >= sizeof(struct shmring_rec))
		zcw_swap(w, w->pos, SHMRING_ZC_END);
	ret = xioctl(w->fd, SHMRING_IOC_ZC_CHUNK, &a);
	if (!ret && w->end && a.closed_recs != w->in_chunk) {
		/* The kernel counted other than what this writer committed. */
		if (!w->mismatches++)
			snprintf(w->mismatch, sizeof(w->mismatch),
				 "chunk %llu: committed %u (last at %llu), kernel counted %u, closed at %llu, revoked %u",
				 (unsigned long long)w->chunk_start, w->in_chunk,
				 (unsigned long long)w->last_commit, a.closed_recs,
				 (unsigned long long)a.closed_at, a.revoked);
	}
	w->pos = a.start;
	w->end = a.end;
	w->fresh = true;
	if (!ret) {
		w->chunks++;
		w->revoked += a.revoked;
		w->in_chunk = 0;
		w->chunk_start = a.start;
	}
	if (out)
		*out = a;
	return ret;
}

/* Reserve a record (BUSY) and fill its header; payload left to the caller. */
static void *zcw_reserve(struct zcw *w, uint32_t len, uint32_t type,
			 uint64_t *pos, int *err)
{
	uint64_t total = SHMRING_REC_TOTAL(len);
	struct shmring_rec *rec;
	int tries = 0;

	*err = 0;
	while (!w->end || w->end - w->pos < total ||
	       !zcw_swap(w, w->pos, SHMRING_ZC_BUSY)) {
		if (++tries > 8) {
			*err = -EIO;
			return NULL;
		}
		*err = zcw_grant(w, 0, NULL);
		if (*err)
			return NULL;
	}
	*pos = w->pos;
	rec = zcw_rec(w, w->pos);
	rec->len = len;
	rec->type = type;
	rec->tstamp_ns = 1;
	rec->pid = getpid();
	rec->flags = 0;
	rec->__reserved0 = 0;
	rec->csum = 0;
	rec->__reserved1 = 0;
	w->pos += total;
	w->fresh = false;
	return rec + 1;
}

/* [W7]/[W9]: commit by swap, then kick only if a reader sleeps. */
static int zcw_commit(struct zcw *w, uint64_t pos)
{
	__u64 busy = pos | SHMRING_ZC_BUSY;

	if (!__atomic_compare_exchange_n(&zcw_rec(w, pos)->seq, &busy,
					 pos | SHMRING_ZC_DONE, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
		/*
		 * The kernel closed the chunk at this record: nothing after
		 * it is ever read. Leave the chunk (the next reserve asks).
		 */
		w->pos = 0;
		w->end = 0;
		return -ETIMEDOUT;
	}
	w->in_chunk++;
	w->last_commit = pos;
	if (__atomic_load_n(&w->hdr->zc_sleepers, __ATOMIC_SEQ_CST)) {
		w->kicks++;
		xioctl(w->fd, SHMRING_IOC_KICK, NULL);
	}
	return 0;
}

/* Payload: writer id, its record number, then bytes derived from both. */
static void fill_payload(uint8_t *p, uint32_t len, uint32_t id, uint32_t n)
{
	uint32_t i;

	memcpy(p, &id, 4);
	memcpy(p + 4, &n, 4);
	for (i = 8; i < len; i++)
		p[i] = (uint8_t)(id * 31 + n * 7 + i);
}

static bool check_payload(const uint8_t *p, uint32_t len, uint32_t *id,
			  uint32_t *n)
{
	uint32_t i;

	if (len < 8)
		return false;
	memcpy(id, p, 4);
	memcpy(n, p + 4, 4);
	for (i = 8; i < len; i++)
		if (p[i] != (uint8_t)(*id * 31 + *n * 7 + i))
			return false;
	return true;
}

static int zcw_write(struct zcw *w, uint32_t len, uint32_t id, uint32_t n)
{
	uint64_t pos;
	int err;
	void *p = zcw_reserve(w, len, 7, &pos, &err);

	if (!p)
		return err;
	fill_payload(p, len, id, n);
	return zcw_commit(w, pos);
}

/*
 * zcw_write(), and again while it says -ETIMEDOUT: the kernel revoked
 * the chunk between reserve and commit (a writer descheduled for
 * zc_idle_ms while a reader waited, easily reached on a loaded host).
 * The record was VOIDed, never read: written again, readers get it once.
 * The hunts below count these apart; they are not lost wakeups.
 */
static int zcw_write_again(struct zcw *w, uint32_t len, uint32_t id, uint32_t n)
{
	int ret, tries = 0;

	while ((ret = zcw_write(w, len, id, n)) == -ETIMEDOUT && ++tries < 100)
		w->rewrites++;
	return ret;
}

/* ---- readers --------------------------------------------------------------- */

#define MAXW	4096		/* writer ids a reader keeps track of */

struct rstat {
	uint64_t recs, bad, dup, gaps, lost, next_seq;
	uint32_t last[MAXW];		/* last record number + 1 per writer */
	bool seq_ok;
};

static void rstat_init(struct rstat *s)
{
	memset(s, 0, sizeof(*s));
	s->seq_ok = true;
}

/* Check a buffer of records from read(2). */
static void rstat_add(struct rstat *s, const uint8_t *buf, ssize_t n)
{
	const uint8_t *p = buf;

	while (p + sizeof(struct shmring_rec) <= buf + n) {
		const struct shmring_rec *rec = (const void *)p;
		uint32_t id, k;

		if (rec->seq != s->next_seq) {
			if (rec->seq > s->next_seq)
				s->gaps += rec->seq - s->next_seq;
			else
				s->seq_ok = false;
		}
		s->next_seq = rec->seq + 1;
		if (!check_payload((const uint8_t *)(rec + 1), rec->len, &id, &k) ||
		    id >= MAXW) {
			s->bad++;
		} else {
			if (k + 1 <= s->last[id])
				s->dup++;
			s->last[id] = k + 1;
		}
		s->recs++;
		p += SHMRING_REC_TOTAL(rec->len);
	}
}

struct rthread {
	pthread_t t;
	int fd;
	const char *name;
	volatile bool stop;
	uint64_t want;			/* stop after this many records (0: on stop) */
	struct rstat s;
	uint64_t eagain, einval;
	int err;			/* why it stopped early (errno), or 0 */
};

static void *reader_main(void *arg)
{
	struct rthread *r = arg;
	static __thread uint8_t buf[1 << 16];
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	ssize_t n;

	while (!r->stop && (!r->want || r->s.recs < r->want)) {
		n = read(r->fd, buf, sizeof(buf));
		if (n > 0) {
			rstat_add(&r->s, buf, n);
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			r->eagain++;
			poll(&pfd, 1, 50);
			continue;
		}
		if (n < 0 && errno == EINVAL) {
			r->einval++;
			continue;
		}
		r->err = n < 0 ? errno : -1;
		break;
	}
	return NULL;
}

static void reader_start_flags(struct rthread *r, const char *name,
			       unsigned int flags)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->fd = raw_open(name, SHMRING_O_READ | flags, 0, 0);
	if (r->fd < 0)
		bail_out("reader open: %s", strerror(-r->fd));
	fcntl(r->fd, F_SETFL, O_NONBLOCK);
	rstat_init(&r->s);
	pthread_create(&r->t, NULL, reader_main, r);
}

static void reader_start(struct rthread *r, const char *name, uint64_t want)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->fd = raw_open(name, SHMRING_O_READ, 0, 0);
	if (r->fd < 0)
		bail_out("reader open: %s", strerror(-r->fd));
	fcntl(r->fd, F_SETFL, O_NONBLOCK);
	r->want = want;
	rstat_init(&r->s);
	pthread_create(&r->t, NULL, reader_main, r);
}

static void reader_stop(struct rthread *r)
{
	r->stop = true;
	pthread_join(r->t, NULL);
}

static void ring_info(const char *name, struct shmring_info *in)
{
	int fd = raw_open(name, SHMRING_O_WRITE, 0, 0);

	memset(in, 0, sizeof(*in));
	in->size = sizeof(*in);
	if (fd < 0 || xioctl(fd, SHMRING_IOC_INFO, in))
		bail_out("info %s", name);
	close(fd);
}

/* ---- 1: errno table -------------------------------------------------------- */

static int shared_wfd = -1;
static off_t zc_off;		/* the shared writer's map_zc_off */

/*
 * In a child: become @uid (and, with @userns, root of a new user and IPC
 * namespace), then map the inherited writer fd's writable area. Returns
 * 0 or -errno from mmap; 1000 + errno if unshare failed, 2000 if the uid
 * change did.
 */
static int map_zc_as(uid_t uid, bool userns)
{
	int pfd[2], res, st;
	pid_t pid;
	void *p;

	if (pipe(pfd))
		bail_out("pipe");
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) {
			res = 2000;
		} else if (userns && unshare(CLONE_NEWUSER | CLONE_NEWIPC)) {
			res = 1000 + errno;
		} else {
			p = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
				 shared_wfd, zc_off);
			res = p == MAP_FAILED ? -errno : 0;
		}
		if (write(pfd[1], &res, sizeof(res)) != sizeof(res))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &res, sizeof(res)) != sizeof(res))
		res = 9999;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	return res;
}

static void test_errnos(void)
{
	const char *name = "zc-errno";
	struct shmring_open o;
	struct shmring_zc_chunk a;
	struct shmring_info in;
	struct shmring_opt opt = { .size = sizeof(opt) };
	struct shmring_seek sk = { .size = sizeof(sk) };
	struct shmring_features f = { .size = sizeof(f) };
	struct shmring_batch_rec br = { 0 };
	struct shmring_batch b = { .size = sizeof(b) };
	int fd, wfd, rfd, ret, res;
	char byte = 1;
	void *p;

	fd = dev_fd(O_RDWR);
	is_int(xioctl(fd, SHMRING_IOC_FEATURES, &f), 0, "FEATURES");
	ok(f.features & SHMRING_FEAT_ZEROCOPY, "SHMRING_FEAT_ZEROCOPY announced");
	/* Attributes. */
	open_args(&o, name, SHMRING_O_CREAT | SHMRING_O_WRITE);
	o.attr.data_size = 65536;
	o.attr.zc_chunk = 4096;
	is_int(xioctl(fd, SHMRING_IOC_OPEN, &o), -EINVAL, "zc_chunk without ZEROCOPY: EINVAL");
	o.attr.flags = SHMRING_ATTR_ZEROCOPY;
	o.attr.zc_chunk = 12288;
	is_int(xioctl(fd, SHMRING_IOC_OPEN, &o), -EINVAL, "zc_chunk not a power of two: EINVAL");
	o.attr.zc_chunk = 65536;
	is_int(xioctl(fd, SHMRING_IOC_OPEN, &o), -EINVAL, "zc_chunk over half the ring: EINVAL");
	o.attr.zc_chunk = 2048;
	is_int(xioctl(fd, SHMRING_IOC_OPEN, &o), -EINVAL, "zc_chunk below a page: EINVAL");
	o.attr.zc_chunk = 4096;
	o.attr.max_record = 4096;
	is_int(xioctl(fd, SHMRING_IOC_OPEN, &o), -EINVAL, "max_record over the chunk: EINVAL");
	o.attr.data_size = 4096;
	o.attr.zc_chunk = 0;
	o.attr.max_record = 0;
	is_int(xioctl(fd, SHMRING_IOC_OPEN, &o), -EINVAL, "ring too small for two chunks: EINVAL");
	close(fd);
	is_int(zc_create(name, 65536, SHMRING_POLICY_OVERWRITE, 0, 0), 0,
	       "create a zero-copy ring with defaults");

	wfd = raw_open(name, SHMRING_O_WRITE, 0, 0);
	rfd = raw_open(name, SHMRING_O_READ, 0, 0);
	ok(wfd >= 0 && rfd >= 0, "open writer and reader");
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	is_int(xioctl(wfd, SHMRING_IOC_INFO, &in), 0, "INFO (writer)");
	ok(in.attr.flags & SHMRING_ATTR_ZEROCOPY, "INFO shows ZEROCOPY");
	is_int(in.attr.zc_chunk, 4096, "default chunk: data_size / 16 clamped to a page");
	is_int(in.attr.max_record, 4096 - sizeof(struct shmring_rec),
	       "default max_record: the chunk less a header");
	ok(in.map_zc_off >= 1ULL << 40 && !(in.map_zc_off & 4095), "map_zc_off for a writer");
	zc_off = in.map_zc_off;
	is_int(in.map_zc_len, 65536, "map_zc_len is the data size");
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	xioctl(rfd, SHMRING_IOC_INFO, &in);
	ok(!in.map_zc_off && !in.map_zc_len, "no writable area for a reader");

	/* The copy paths are not offered. */
	errno = 0;
	ok(write(wfd, &byte, 1) < 0 && errno == EOPNOTSUPP, "write(2): EOPNOTSUPP");
	b.recs = (uintptr_t)&br;
	b.nr = 1;
	br.data = (uintptr_t)&byte;
	br.len = 1;
	is_int(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), -EOPNOTSUPP, "WRITE_BATCH: EOPNOTSUPP");
	opt.opt = SHMRING_OPT_WATERMARK_RECS;
	opt.val = 4;
	is_int(xioctl(rfd, SHMRING_IOC_SET_OPT, &opt), -EOPNOTSUPP, "record watermark: EOPNOTSUPP");
	opt.opt = SHMRING_OPT_WATERMARK_BYTES;
	is_int(xioctl(rfd, SHMRING_IOC_SET_OPT, &opt), -EOPNOTSUPP, "byte watermark: EOPNOTSUPP");
	opt.val = 0;
	is_int(xioctl(rfd, SHMRING_IOC_SET_OPT, &opt), 0, "watermark 0 (the default) is fine");
	/* SHMRING_OPT_ZC_WAKE: readers only, two modes, zero-copy rings only. */
	opt.opt = SHMRING_OPT_ZC_WAKE;
	opt.val = SHMRING_ZC_WAKE_CHUNK;
	is_int(xioctl(wfd, SHMRING_IOC_SET_OPT, &opt), -EBADF, "ZC_WAKE on a writer: EBADF");
	opt.val = 2;
	is_int(xioctl(rfd, SHMRING_IOC_SET_OPT, &opt), -EINVAL, "ZC_WAKE mode 2: EINVAL");
	opt.val = SHMRING_ZC_WAKE_CHUNK;
	is_int(xioctl(rfd, SHMRING_IOC_SET_OPT, &opt), 0, "ZC_WAKE_CHUNK on a reader");
	opt.val = SHMRING_ZC_WAKE_COMMIT;
	is_int(xioctl(rfd, SHMRING_IOC_SET_OPT, &opt), 0, "ZC_WAKE_COMMIT on a reader");
	{
		struct shmring_attr ca = { .data_size = 65536 };
		struct shmring *ch;

		shmring_unlink("zc-copyring");
		is_int(shmring_open("zc-copyring", SHMRING_O_CREAT | SHMRING_O_READ, 0600,
				    &ca, &ch), 0, "a copy ring to compare");
		opt.val = SHMRING_ZC_WAKE_CHUNK;
		is_int(xioctl(shmring_fd(ch), SHMRING_IOC_SET_OPT, &opt), -EOPNOTSUPP,
		       "ZC_WAKE_CHUNK on a copy ring: EOPNOTSUPP");
		opt.val = SHMRING_ZC_WAKE_COMMIT;
		is_int(xioctl(shmring_fd(ch), SHMRING_IOC_SET_OPT, &opt), 0,
		       "ZC_WAKE_COMMIT (the default) on a copy ring is fine");
		is_int(shmring_set_zc_wake(ch, SHMRING_ZC_WAKE_CHUNK), -EOPNOTSUPP,
		       "shmring_set_zc_wake() on a copy ring: -EOPNOTSUPP");
		shmring_close(ch);
		shmring_unlink("zc-copyring");
	}
	sk.whence = SHMRING_SEEK_SEQ;
	is_int(xioctl(rfd, SHMRING_IOC_SEEK, &sk), -EOPNOTSUPP, "SEEK_SEQ: EOPNOTSUPP");
	sk.whence = SHMRING_SEEK_TIME;
	is_int(xioctl(rfd, SHMRING_IOC_SEEK, &sk), -EOPNOTSUPP, "SEEK_TIME: EOPNOTSUPP");
	sk.whence = SHMRING_SEEK_END;
	is_int(xioctl(rfd, SHMRING_IOC_SEEK, &sk), 0, "SEEK_END works");

	/* ZC_CHUNK. */
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	is_int(xioctl(rfd, SHMRING_IOC_ZC_CHUNK, &a), -EBADF, "ZC_CHUNK on a reader: EBADF");
	a.flags = 2;
	is_int(xioctl(wfd, SHMRING_IOC_ZC_CHUNK, &a), -EINVAL, "ZC_CHUNK unknown flag: EINVAL");
	a.flags = 0;
	a.size = SHMRING_ZC_CHUNK_SIZE_VER0 - 8;
	is_int(xioctl(wfd, SHMRING_IOC_ZC_CHUNK, &a), -EINVAL, "ZC_CHUNK size below VER0: EINVAL");
	a.size = sizeof(a);
	is_int(xioctl(wfd, SHMRING_IOC_ZC_CHUNK, &a), 0, "ZC_CHUNK grants");
	is_int(a.end - a.start, 4096, "a chunk of zc_chunk bytes");
	is_int(a.start % 4096, 0, "chunk-aligned");
	a.flags = SHMRING_ZC_RELEASE;
	is_int(xioctl(wfd, SHMRING_IOC_ZC_CHUNK, &a), 0, "ZC_CHUNK RELEASE");
	ok(a.start == 0 && a.end == 0 && a.closed_recs == 0 && !a.revoked,
	   "RELEASE grants nothing and reports the empty chunk it closed");
	ret = raw_open("zc-errno-copy", SHMRING_O_CREAT | SHMRING_O_WRITE, 65536, 0);
	ok(ret >= 0, "a copy ring");
	a.flags = 0;
	is_int(xioctl(ret, SHMRING_IOC_ZC_CHUNK, &a), -EOPNOTSUPP, "ZC_CHUNK on a copy ring: EOPNOTSUPP");
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ret, 4096);
	ok(p == MAP_FAILED && errno == EACCES, "a copy ring's writer may not map the ring: EACCES");
	close(ret);
	zc_unlink("zc-errno-copy");

	/* Mappings. */
	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, zc_off);
	ok(p == MAP_FAILED && errno == EACCES, "a reader may not map the writable area: EACCES");
	p = mmap(NULL, 65536 - 4096, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, zc_off);
	ok(p == MAP_FAILED && errno == EINVAL, "writable area of the wrong size: EINVAL");
	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE, wfd, zc_off);
	ok(p == MAP_FAILED && errno == EINVAL, "writable area MAP_PRIVATE: EINVAL");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, 0);
	ok(p == MAP_FAILED && errno == EACCES, "a writer has no reader page: EACCES");
	p = mmap(NULL, 4096 + 2 * 65536, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, 4096);
	ok(p == MAP_FAILED && errno == EPERM, "the ring mapping stays read-only for a writer: EPERM");
	p = mmap(NULL, 4096 + 2 * 65536, PROT_READ, MAP_SHARED, wfd, 4096);
	ok(p != MAP_FAILED, "a zero-copy writer maps the ring read-only");
	if (p != MAP_FAILED)
		munmap(p, 4096 + 2 * 65536);
	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, zc_off);
	ok(p != MAP_FAILED, "a zero-copy writer maps the data area writable");
	if (p != MAP_FAILED)
		munmap(p, 65536);
	{
		int w2 = raw_open(name, SHMRING_O_WRITE, 0, 0);
		struct shmring_info i2 = { .size = sizeof(i2) };

		xioctl(w2, SHMRING_IOC_INFO, &i2);
		ok(i2.map_zc_off && i2.map_zc_off != in.map_zc_off,
		   "each writer file has its own writable range");
		p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, w2, zc_off);
		ok(p == MAP_FAILED && errno == EINVAL,
		   "another writer's range: EINVAL");
		close(w2);
	}

	/* Another uid and another user namespace, holding the writer's fd. */
	shared_wfd = wfd;
	res = map_zc_as(65534, false);
	is_int(res, -EACCES, "uid 65534 with an inherited writer fd of a 0600 ring: EACCES");
	/* uid 1000 becomes root of a new user namespace: no capability in the ring's. */
	res = map_zc_as(1000, true);
	if (res >= 1000)
		skip(1, "unshare(CLONE_NEWUSER): errno %d", res - 1000);
	else
		is_int(res, -EACCES, "uid 1000 as root of a new user namespace, inherited writer fd: EACCES");
	close(wfd);
	close(rfd);
	zc_unlink(name);
}

/* ---- 2: many writers ------------------------------------------------------- */

static void writer_proc(const char *name, uint32_t id, uint32_t n, uint64_t seed,
			int out)
{
	struct zcw w;
	uint32_t i, len;
	int ret = 0;
	uint64_t res[5], lost_commits = 0;

	zcw_open(&w, name);
	for (i = 0; i < n; i++) {
		len = PAY_MIN + rnd(&seed) % (w.max_record - PAY_MIN + 1);
		if (rnd(&seed) % 4)
			len = PAY_MIN + len % 200;
		ret = zcw_write(&w, len, id, i);
		/*
		 * Overwrite: a writer a whole lap slower than the others has
		 * its chunk taken (revoked); the record was not committed.
		 * Write it again, as shmring_zc_write() does.
		 */
		while (ret == -ETIMEDOUT && ++lost_commits < 10000)
			ret = zcw_write(&w, len, id, i);
		if (ret)
			break;
	}
	zcw_grant(&w, SHMRING_ZC_RELEASE, NULL);
	if (w.mismatches)
		fprintf(stderr, "writer %u: %llu chunks counted otherwise, first: %s\n",
			id, (unsigned long long)w.mismatches, w.mismatch);
	res[0] = i;
	res[1] = w.chunks;
	res[2] = w.kicks;
	res[3] = lost_commits;
	res[4] = w.mismatches;
	if (write(out, res, sizeof(res)) != sizeof(res))
		_exit(2);
	_exit(ret ? 1 : 0);
}

static void test_many_writers(uint32_t policy, int nw, int nr)
{
	const char *name = policy ? "zc-many-lossless" : "zc-many-overwrite";
	uint32_t per = (uint32_t)(20000 * scale) + 100;
	struct rthread r[4];
	struct shmring_info in;
	pid_t pids[MAXW];
	int pfd[2], i, st, allok = 1;
	uint64_t res[5], wrote = 0, chunks = 0, kicks = 0, retried = 0, mism = 0;

	is_int(zc_create(name, 1 << 18, policy, 0, 0), 0, "create %s", name);
	for (i = 0; i < nr; i++)
		reader_start(&r[i], name, policy ? (uint64_t)per * nw : 0);
	if (pipe(pfd))
		bail_out("pipe");
	for (i = 0; i < nw; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			writer_proc(name, i, per, 0x9e3779b97f4a7c15ULL * (i + 1), pfd[1]);
	}
	for (i = 0; i < nw; i++) {
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			allok = 0;
		if (read(pfd[0], res, sizeof(res)) == sizeof(res)) {
			wrote += res[0];
			chunks += res[1];
			kicks += res[2];
			retried += res[3];
			mism += res[4];
		}
	}
	close(pfd[0]);
	close(pfd[1]);
	ok(allok, "%d writers exited cleanly", nw);
	is_int(mism, 0, "every chunk's count (ZC_CHUNK closed_recs) is what its writer committed");
	is_int(wrote, (uint64_t)per * nw, "every record written");
	ring_info(name, &in);
	is_int(in.records_written, wrote, "the kernel counted every record (%s)",
	       name);
	is_int(in.head_seq, wrote, "head_seq is the count");
	if (!policy) {
		/* Readers finish when they drained what is there. */
		usleep(200000);
	}
	for (i = 0; i < nr; i++) {
		if (policy) {
			pthread_join(r[i].t, NULL);
		} else {
			uint64_t last = 0;

			while (r[i].s.recs + r[i].s.gaps < wrote && r[i].s.recs != last) {
				last = r[i].s.recs;
				usleep(300000);
			}
			reader_stop(&r[i]);
		}
		ok(r[i].s.seq_ok, "reader %d: sequence numbers only go up", i);
		is_int(r[i].s.bad, 0, "reader %d: no torn or foreign record", i);
		is_int(r[i].s.dup, 0, "reader %d: no record twice", i);
		is_int(r[i].s.recs + r[i].s.gaps, wrote,
		       "reader %d: read + gaps = written (%llu read)", i,
		       (unsigned long long)r[i].s.recs);
		if (policy)
			is_int(r[i].s.gaps, 0, "reader %d: lossless ring, no gap", i);
		close(r[i].fd);
	}
	ring_info(name, &in);
	if (policy)
		is_int(in.records_lost, 0, "lossless: nothing lost");
	diag("%s: %d writers x %u records, %llu chunks (%.4f chunk requests per record), %llu kicks, %llu lost, %llu commits lost to a revocation and written again",
	     name, nw, per, (unsigned long long)chunks, (double)chunks / wrote,
	     (unsigned long long)kicks, (unsigned long long)in.records_lost,
	     (unsigned long long)retried);
	zc_unlink(name);
}

/* ---- 3: crash -------------------------------------------------------------- */

static unsigned int get_idle_ms(void)
{
	char v[32];

	param_get("zc_idle_ms", v, sizeof(v));
	return (unsigned int)strtoul(v, NULL, 10);
}

static void set_idle_ms(unsigned int ms)
{
	char v[32];

	snprintf(v, sizeof(v), "%u", ms);
	param_set("zc_idle_ms", v);
}

/*
 * Writes forever with a random pause inside some records (between
 * reserve and commit); says when its first record is committed.
 */
static void crash_writer(const char *name, uint32_t id, uint64_t seed,
			 int started)
{
	struct zcw w;
	uint32_t i, len, k;
	uint64_t pos;
	void *p;
	int err;

	zcw_open(&w, name);
	for (i = 0;; i++) {
		len = PAY_MIN + rnd(&seed) % 300;
		p = zcw_reserve(&w, len, 7, &pos, &err);
		if (!p)
			_exit(3);
		fill_payload(p, len, id, i);
		for (k = rnd(&seed) % 2000; k; k--)
			__asm__ volatile("" ::: "memory");
		if (zcw_commit(&w, pos))
			_exit(4);
		if (!i && write(started, &id, 1) != 1)
			_exit(5);
	}
}

static void crash_verdict(struct rthread *r, const struct shmring_info *in,
			  uint32_t policy, const char *who)
{
	ok(r->s.seq_ok, "%s: sequence numbers only go up", who);
	is_int(r->s.bad, 0, "%s: no torn record", who);
	is_int(r->s.dup, 0, "%s: no record twice", who);
	is_int(r->s.recs + r->s.gaps, in->head_seq, "%s: read + gaps = the ring's count", who);
	if (policy)
		is_int(r->s.gaps, 0, "%s: lossless: no gap", who);
}

static void test_crash(uint32_t policy)
{
	const char *name = policy ? "zc-crash-lossless" : "zc-crash-overwrite";
	int kills = (int)(1000 * scale) + 20, i, st, bad_exit = 0;
	unsigned int idle;
	uint64_t t_start;

	if (kills > MAXW - 1)
		kills = MAXW - 1;
	uint64_t seed = 12345 + policy, killed_in_record = 0;
	struct shmring_info in;
	struct rthread r, r2;
	pid_t pid;

	int started[2];
	struct pollfd spfd;
	uint8_t c;

	is_int(zc_create(name, 1 << 18, policy, 0, 0), 0, "create %s", name);
	reader_start(&r, name, 0);
	reader_start(&r2, name, 0);	/* every reader sees it all */
	if (pipe(started))
		bail_out("pipe");
	spfd.fd = started[0];
	spfd.events = POLLIN;
	idle = get_idle_ms();
	set_idle_ms(0);		/* deaths only: no writer is revoked for a pause */
	t_start = now_mono_ns();
	for (i = 0; i < kills; i++) {
		/* The debug kernel is ~15x slower: bounded time, at least 200. */
		if (i >= 200 && now_mono_ns() - t_start > 40000000000ULL)
			break;
		pid = fork();
		if (pid == 0)
			crash_writer(name, i, seed + i, started[1]);
		/* Killed while writing: after its first record, at a random point. */
		if (poll(&spfd, 1, 10000) == 1 && read(started[0], &c, 1) == 1)
			usleep(rnd(&seed) % 3000);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		if (!WIFSIGNALED(st)) {
			if (!bad_exit)
				diag("writer %d exited before the kill: status %d", i,
				     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			bad_exit++;
		}
	}
	kills = i;
	set_idle_ms(idle);
	close(started[0]);
	close(started[1]);
	is_int(bad_exit, 0, "%d writers were all killed by SIGKILL, none failed first", kills);
	/* The ring is still usable: an honest writer's records arrive. */
	{
		struct zcw w;
		uint64_t t0 = now_mono_ns();

		zcw_open(&w, name);
		for (i = 0; i < 100; i++)
			if (zcw_write(&w, 40, MAXW - 1, 1000000 + i))
				break;
		zcw_grant(&w, SHMRING_ZC_RELEASE, NULL);
		is_int(i, 100, "a writer after the kills writes");
		/* Both readers reach the end: the honest writer's last record. */
		while ((r.s.last[MAXW - 1] < 1000100 || r2.s.last[MAXW - 1] < 1000100) &&
		       !r.err && !r2.err && now_mono_ns() - t0 < 60000000000ULL)
			usleep(10000);
		ok(r.s.last[MAXW - 1] == 1000100 && r2.s.last[MAXW - 1] == 1000100,
		   "both readers get the honest writer's records, to its last, after %d kills (readers stopped: %d, %d)",
		   kills, r.err, r2.err);
		zcw_close(&w);
	}
	reader_stop(&r);
	reader_stop(&r2);
	ring_info(name, &in);
	crash_verdict(&r, &in, policy, "reader 1");
	crash_verdict(&r2, &in, policy, "reader 2");
	/* The kernel counts what it discarded; read(2) what it skipped. */
	ok(in.records_discarded > 0 && in.records_discarded <= (uint64_t)kills,
	   "the ring counts the discarded reservations: %llu (0 < n <= %d kills)",
	   (unsigned long long)in.records_discarded, kills);
	{
		struct shmring_info i1 = { .size = sizeof(i1) }, i2 = { .size = sizeof(i2) };

		if (xioctl(r.fd, SHMRING_IOC_INFO, &i1) || xioctl(r2.fd, SHMRING_IOC_INFO, &i2))
			bail_out("info of the readers");
		if (policy) {
			is_int(i1.read_discarded, in.records_discarded,
			       "lossless: reader 1's read(2) skipped every discarded reservation");
			is_int(i2.read_discarded, in.records_discarded,
			       "lossless: reader 2's read(2) skipped every discarded reservation");
		} else {
			ok(i1.read_discarded <= in.records_discarded &&
			   i2.read_discarded <= in.records_discarded,
			   "overwrite: the readers skipped at most the discarded reservations (%llu, %llu of %llu)",
			   (unsigned long long)i1.read_discarded,
			   (unsigned long long)i2.read_discarded,
			   (unsigned long long)in.records_discarded);
		}
		is_int(i1.read_corrupt + i2.read_corrupt, 0, "no corruption skipped");
	}
	if (policy)
		is_int((int64_t)r2.s.recs, (int64_t)r.s.recs, "lossless: both readers read the same records");
	diag("%s: %d kills, %llu/%llu records read, %llu/%llu gaps, %llu einval", name, kills,
	     (unsigned long long)r.s.recs, (unsigned long long)r2.s.recs,
	     (unsigned long long)r.s.gaps, (unsigned long long)r2.s.gaps,
	     (unsigned long long)r.einval);
	(void)killed_in_record;
	close(r.fd);
	close(r2.fd);
	zc_unlink(name);
}

/* A writer that reserves a record, says so, and waits to die or be stopped. */
static void holding_writer(const char *name, int ready, int go)
{
	struct zcw w;
	uint64_t pos;
	uint8_t c = 0;
	void *p;
	int err;
	struct shmring_zc_chunk a;

	zcw_open(&w, name);
	p = zcw_reserve(&w, 32, 7, &pos, &err);
	if (!p)
		_exit(3);
	fill_payload(p, 32, 0, 0);
	if (write(ready, &pos, sizeof(pos)) != sizeof(pos))
		_exit(5);
	/* Stopped here (or killed). Continued: store on, try to commit. */
	if (read(go, &c, 1) != 1)
		_exit(6);
	memset(p, 0xaa, 32);
	c = zcw_commit(&w, pos) == -ETIMEDOUT ? 1 : 0;
	zcw_grant(&w, 0, &a);
	c |= a.revoked ? 2 : 0;
	if (write(ready, &c, 1) != 1)
		_exit(7);
	_exit(0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct blocked_read {
	int fd;
	uint64_t done_ns;
	ssize_t n;
};

static void *blocked_read_main(void *arg)
{
	struct blocked_read *b = arg;
	static uint8_t buf[4096];

	b->n = read(b->fd, buf, sizeof(buf));
	b->done_ns = now_mono_ns();
	return NULL;
}

/*
 * A reader blocked behind writer A's reserved record, writer B's record
 * after it; A dies (SIGKILL) or stops (SIGSTOP). Returns how long the
 * reader took to get B's record after the kill/stop, in ns.
 */
static uint64_t behind_one(const char *name, bool stop, int *verdict,
			   int64_t *after_death)
{
	int rdy[2], go[2], rfd;
	struct blocked_read b = { 0 };
	struct zcw w;
	pthread_t t;
	uint64_t t0, hpos;
	uint8_t c;
	pid_t pid;

	*verdict = -1;
	if (pipe(rdy) || pipe(go))
		bail_out("pipe");
	rfd = raw_open(name, SHMRING_O_READ | SHMRING_O_FROM_HEAD, 0, 0);
	pid = fork();
	if (pid == 0) {
		close(rdy[0]);
		close(go[1]);
		holding_writer(name, rdy[1], go[0]);
	}
	if (read(rdy[0], &hpos, sizeof(hpos)) != sizeof(hpos))
		bail_out("holding writer");
	zcw_open(&w, name);
	if (zcw_write(&w, 32, 1, 0))
		bail_out("second writer");
	b.fd = rfd;
	if (stop) {
		/* Stopped first: the reader then waits zc_idle_ms for it. */
		kill(pid, SIGSTOP);
		t0 = now_mono_ns();
		pthread_create(&t, NULL, blocked_read_main, &b);
	} else {
		/* zc_idle_ms is 0 here: only the death can unblock it. */
		int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
		struct pollfd pp = { pfd, POLLIN, 0 };

		if (pfd < 0)
			bail_out("pidfd_open: %s", strerror(errno));
		pthread_create(&t, NULL, blocked_read_main, &b);
		usleep(50000);		/* asleep behind A's record */
		t0 = now_mono_ns();
		kill(pid, SIGKILL);
		/* Dead: the pidfd is readable once the exit is complete. */
		if (poll(&pp, 1, 10000) != 1)
			bail_out("the killed writer did not die");
		*after_death = (int64_t)now_mono_ns();
		close(pfd);
	}
	pthread_join(t, NULL);
	if (!stop)
		*after_death = (int64_t)b.done_ns - *after_death;
	if (stop) {
		const uint8_t *rec;

		kill(pid, SIGCONT);
		c = 0;
		if (write(go[1], &c, 1) != 1 || read(rdy[0], &c, 1) != 1)
			c = 0xff;
		*verdict = c;
		waitpid(pid, NULL, 0);
		/* Its stores after the revocation went to its junk page. */
		rec = (const uint8_t *)w.hdr + 4096 + (hpos & w.mask);
		if (c != 0xff && rec[sizeof(struct shmring_rec)] != 0xaa)
			*verdict |= 4;
	} else {
		waitpid(pid, NULL, 0);
		*verdict = 0;
	}
	zcw_grant(&w, SHMRING_ZC_RELEASE, NULL);
	zcw_close(&w);
	close(rfd);
	close(rdy[0]);
	close(rdy[1]);
	close(go[0]);
	close(go[1]);
	return b.n > 0 && b.done_ns > t0 ? b.done_ns - t0 : UINT64_MAX;
}


static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A reader behind a writer's reserved record resumes when the writer
 * dies: its file's release voids the record and wakes readers, in
 * do_exit() before the exit is complete (exit_task_work() runs before
 * exit_notify()). Measured two ways: from kill(2), which includes the
 * signal's delivery and the tear-down of the victim's memory, and from
 * the death as a pidfd reports it (exit complete); the second is
 * usually negative (the reader runs before the exit completes) and must
 * stay under one scheduler tick.
 */
static void test_resume(void)
{
	const char *name = "zc-resume";
	int n = 31, i, v, bad = 0;
	unsigned int idle = get_idle_ms();
	int64_t after[31];
	uint64_t lat[31];

	set_idle_ms(0);

	is_int(zc_create(name, 1 << 16, SHMRING_POLICY_OVERWRITE, 0, 0), 0,
	       "create %s", name);
	for (i = 0; i < n; i++) {
		lat[i] = behind_one(name, false, &v, &after[i]);
		if (lat[i] == UINT64_MAX)
			bad++;
	}
	set_idle_ms(idle);
	qsort(lat, n, sizeof(lat[0]), cmp_u64);
	qsort(after, n, sizeof(after[0]), cmp_i64);
	is_int(bad, 0, "a reader behind a killed writer's record always resumes (no timeout)");
	diag("reader resumed after the writer's SIGKILL: median %.3f ms, max %.3f ms (kill to read(2) returning, %d runs; emulated time)",
	     lat[n / 2] / 1e6, lat[n - 1] / 1e6, n);
	diag("reader resumed after the writer's death (its pidfd readable): min %.3f ms, median %.3f ms, max %.3f ms (negative: before the exit completed)",
	     after[0] / 1e6, after[n / 2] / 1e6, after[n - 1] / 1e6);
	/*
	 * One tick: both kernels here use HZ=250 (USER_HZ does not tell).
	 * Emulated time stretches when the host is busy (a run beside
	 * other work saw one resume at 4.9 ms): the median must be within
	 * a tick, and nine in ten runs; the max is reported.
	 */
	for (i = 0, v = 0; i < n; i++)
		v += after[i] >= 4000000;
	ok(after[n / 2] < 4000000 && v <= n / 10,
	   "the reader resumes within one scheduler tick (4 ms at HZ=250) of the writer's death: median %.3f ms, %d of %d runs over (max %.3f ms)",
	   after[n / 2] / 1e6, v, n, after[n - 1] / 1e6);
	/* Generous for emulation: the kernel needs no timeout for a death. */
	ok(lat[n / 2] < 200000000ULL, "median resume under 200 ms (no timeout involved)");
	zc_unlink(name);
}

/* ---- 4: stopped writer ----------------------------------------------------- */

static void test_stopped(void)
{
	const char *name = "zc-stopped";
	uint64_t lat;
	int64_t unused;
	int v;
	unsigned int idle = get_idle_ms();

	ok(idle > 0, "zc_idle_ms is %u", idle);
	is_int(zc_create(name, 1 << 16, SHMRING_POLICY_LOSSLESS, 0, 0), 0,
	       "create %s", name);
	lat = behind_one(name, true, &v, &unused);
	ok(lat != UINT64_MAX, "another writer's record is delivered while the first is stopped");
	ok(lat != UINT64_MAX && lat >= (uint64_t)idle * 1000000ULL / 2,
	   "not before the idle timeout (%.1f ms, zc_idle_ms %u)", lat / 1e6, idle);
	diag("delivered %.1f ms after the reader began to wait behind the stopped writer (zc_idle_ms %u; emulated time)",
	     lat / 1e6, idle);
	ok(v >= 0 && (v & 1), "continued, the stopped writer's commit fails (ETIMEDOUT)");
	ok(v >= 0 && (v & 2), "and its next chunk request reports revoked");
	ok(v >= 0 && (v & 4), "its stores after the revocation never reach the ring (fenced)");
	zc_unlink(name);
}

/* ---- 5: hostile writer ----------------------------------------------------- */

static void hostile_proc(const char *name, uint64_t seed, double secs)
{
	struct zcw w;
	uint64_t t_end = now_mono_ns() + (uint64_t)(secs * 1e9), i, n, *q;
	uint64_t head;

	zcw_open(&w, name);
	n = w.data_len / 8;
	q = (uint64_t *)w.data;
	while (now_mono_ns() < t_end) {
		head = __atomic_load_n(&w.hdr->head, __ATOMIC_ACQUIRE);
		for (i = 0; i < 512; i++) {
			uint64_t k = rnd(&seed) % n, pos = head - w.data_len + k * 8;

			switch (rnd(&seed) % 6) {
			case 0:
				q[k] = rnd(&seed);
				break;
			case 1:	/* a DONE word for the right position */
				q[k] = (pos + w.data_len) | SHMRING_ZC_DONE;
				break;
			case 2:
				q[k] = pos | SHMRING_ZC_DONE;
				break;
			case 3:	/* a huge length */
				q[k] = rnd(&seed) | 0xffff0000ULL;
				break;
			case 4:
				q[k] = (pos + w.data_len) | SHMRING_ZC_END;
				break;
			default:
				q[k] = 0;
			}
		}
		/* And its own chunks, left open, released, with garbage. */
		if (rnd(&seed) % 4 == 0)
			zcw_grant(&w, rnd(&seed) % 2 ? SHMRING_ZC_RELEASE : 0, NULL);
	}
	_exit(0);
}

static void test_hostile(void)
{
	const char *name = "zc-hostile";
	double secs = 1.5 * scale + 0.5;
	struct rthread r[2];
	struct zcw w;
	pid_t pid;
	int i, st, werr = 0;
	uint64_t written = 0, t_end;

	is_int(zc_create(name, 1 << 16, SHMRING_POLICY_OVERWRITE, 0, 0), 0,
	       "create %s", name);
	for (i = 0; i < 2; i++)
		reader_start(&r[i], name, 0);
	pid = fork();
	if (pid == 0)
		hostile_proc(name, 777, secs);
	zcw_open(&w, name);
	t_end = now_mono_ns() + (uint64_t)(secs * 1e9);
	while (now_mono_ns() < t_end) {
		int ret = zcw_write(&w, 64, 1, (uint32_t)written);

		if (ret && ret != -ETIMEDOUT && ret != -EIO)
			werr++;
		written++;
		if (!(written % 64))
			zcw_grant(&w, SHMRING_ZC_RELEASE, NULL);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && !WEXITSTATUS(st), "the hostile writer ran to its end");
	is_int(werr, 0, "the honest writer's calls only fail as documented");
	usleep(200000);
	for (i = 0; i < 2; i++) {
		struct shmring_info in = { .size = sizeof(in) };

		reader_stop(&r[i]);
		ok(r[i].s.recs > 0, "reader %d kept reading (%llu records, %llu not intact)",
		   i, (unsigned long long)r[i].s.recs, (unsigned long long)r[i].s.bad);
		/* The scribbles read(2) met are counted, not delivered. */
		if (xioctl(r[i].fd, SHMRING_IOC_INFO, &in))
			bail_out("info of reader %d", i);
		ok(in.read_corrupt > 0, "reader %d: read(2) reports the corruption it skipped (%llu stretches, %llu discarded)",
		   i, (unsigned long long)in.read_corrupt, (unsigned long long)in.read_discarded);
		close(r[i].fd);
	}
	/* After the storm, the ring works. */
	{
		struct rthread r2;

		int fails = 0;

		/* From the end: the storm's leftovers behind are not its business. */
		reader_start_flags(&r2, name, SHMRING_O_FROM_HEAD);
		for (i = 0; i < 50; i++) {
			/* Garbage left ahead may cost chunks (EIO): write again. */
			while (zcw_write(&w, 48, 2, i) && ++fails < 1000)
				;
		}
		zcw_grant(&w, SHMRING_ZC_RELEASE, NULL);
		t_end = now_mono_ns() + 10000000000ULL;
		while (r2.s.last[2] < 50 && now_mono_ns() < t_end)
			usleep(10000);
		reader_stop(&r2);
		ok(fails < 1000, "the honest writer writes 50 records after the storm (%d retries)", fails);
		is_int(r2.s.last[2], 50, "a new reader gets all 50, in order (%llu records in all, %llu not intact: leftovers that look committed)",
		       (unsigned long long)r2.s.recs, (unsigned long long)r2.s.bad);
		is_int(r2.s.dup, 0, "none twice");
		close(r2.fd);
	}
	zcw_close(&w);
	zc_unlink(name);
}

/* ---- 6: lost-wakeup hunt --------------------------------------------------- */

struct hunt {
	volatile uint64_t acked;
	volatile uint64_t lost;
};

static void spin_ns(uint64_t *seed, uint64_t max)
{
	uint64_t t = now_mono_ns() + rnd(seed) % max;

	while (now_mono_ns() < t)
		;
}

static void test_wakeups(void)
{
	const char *name = "zc-wake";
	uint64_t n = (uint64_t)(20000 * scale) + 500, i, seed = 99, lost = 0;
	uint64_t sleeps = 0;
	struct hunt *h = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static uint8_t buf[4096];
	struct pollfd pfd;
	struct zcw w;
	pid_t pid;
	int st, rfd;

	is_int(zc_create(name, 1 << 16, SHMRING_POLICY_OVERWRITE, 0, 0), 0,
	       "create %s", name);
	rfd = raw_open(name, SHMRING_O_READ, 0, 0);
	fcntl(rfd, F_SETFL, O_NONBLOCK);
	pid = fork();
	if (pid == 0) {
		zcw_open(&w, name);
		for (i = 0; i < n; i++) {
			if (zcw_write_again(&w, 16, 0, (uint32_t)i))
				_exit(1);
			/* Wait for the reader to take it (or give up: lost). */
			while (h->acked < i + 1 && !h->lost)
				sched_yield();
			if (h->lost)
				_exit(2);
			spin_ns(&seed, 20000);
		}
		if (w.rewrites)
			diag("writer: %llu records written again after a revocation",
			     (unsigned long long)w.rewrites);
		_exit(0);
	}
	pfd.fd = rfd;
	pfd.events = POLLIN;
	for (i = 0; i < n; i++) {
		ssize_t r;

		spin_ns(&seed, 20000);
		for (;;) {
			r = read(rfd, buf, sizeof(buf));
			if (r > 0)
				break;
			/* Sleep: the writer must kick us. */
			sleeps++;
			if (poll(&pfd, 1, 3000) == 0) {
				lost++;
				break;
			}
		}
		if (lost)
			break;
		h->acked = i + 1;
	}
	if (lost)
		h->lost = 1;
	waitpid(pid, &st, 0);
	is_int(lost, 0, "no lost wakeup in %llu records, %llu of them waited for in poll()",
	       (unsigned long long)i, (unsigned long long)sleeps);
	ok(sleeps > i / 10, "the reader really slept (%llu times)", (unsigned long long)sleeps);
	ok(WIFEXITED(st) && !WEXITSTATUS(st), "the writer finished");
	close(rfd);
	munmap(h, 4096);
	zc_unlink(name);
}

/*
 * The same hunt for a reader in SHMRING_ZC_WAKE_CHUNK mode: writers never
 * kick it (zc_sleepers stays 0), so a record committed into a chunk that
 * stays open must reach it through the idle work within about zc_idle_ms,
 * and a chunk the writer releases or leaves (its next grant) at once. A
 * poll() that times out after 3 s with a record readable is a lost
 * wakeup; the slowest wake is reported and bounded.
 */
static void test_lazy_wakeups(void)
{
	const char *name = "zc-lazy";
	uint64_t n = (uint64_t)(400 * scale) + 100, i, seed = 7, lost = 0;
	uint64_t sleeps = 0, slow = 0, worst = 0, t0, dt;
	unsigned int idle = get_idle_ms();
	struct hunt *h = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *kicks = (uint64_t *)(h + 1);
	struct shmring_opt opt = { .size = sizeof(opt), .opt = SHMRING_OPT_ZC_WAKE,
				   .val = SHMRING_ZC_WAKE_CHUNK };
	static uint8_t buf[4096];
	struct pollfd pfd;
	struct zcw w;
	pid_t pid;
	int st, rfd;

	if (!idle)
		set_idle_ms(10);
	is_int(zc_create(name, 1 << 16, SHMRING_POLICY_OVERWRITE, 0, 0), 0,
	       "create %s", name);
	rfd = raw_open(name, SHMRING_O_READ, 0, 0);
	fcntl(rfd, F_SETFL, O_NONBLOCK);
	is_int(xioctl(rfd, SHMRING_IOC_SET_OPT, &opt), 0, "the reader wakes per chunk");
	pid = fork();
	if (pid == 0) {
		zcw_open(&w, name);
		for (i = 0; i < n; i++) {
			if (zcw_write_again(&w, 16, 0, (uint32_t)i))
				_exit(1);
			/* One in four: leave the chunk now (the reader must wake at once). */
			if (rnd(&seed) % 4 == 0)
				zcw_grant(&w, SHMRING_ZC_RELEASE, NULL);
			while (h->acked < i + 1 && !h->lost)
				sched_yield();
			if (h->lost)
				_exit(2);
			spin_ns(&seed, 20000);
		}
		*kicks = w.kicks;
		if (w.rewrites)
			diag("writer: %llu records written again after a revocation",
			     (unsigned long long)w.rewrites);
		_exit(0);
	}
	pfd.fd = rfd;
	pfd.events = POLLIN;
	for (i = 0; i < n; i++) {
		ssize_t r;

		spin_ns(&seed, 20000);
		t0 = now_mono_ns();
		for (;;) {
			r = read(rfd, buf, sizeof(buf));
			if (r > 0)
				break;
			sleeps++;
			if (poll(&pfd, 1, 3000) == 0) {
				lost++;
				break;
			}
		}
		if (lost)
			break;
		dt = now_mono_ns() - t0;
		if (dt > worst)
			worst = dt;
		/* The idle work runs every zc_idle_ms / 2, in jiffies: 10x slack. */
		if (dt > 100000000ULL)
			slow++;
		h->acked = i + 1;
	}
	if (lost)
		h->lost = 1;
	waitpid(pid, &st, 0);
	is_int(lost, 0, "no lost wakeup in %llu records, %llu of them waited for in poll()",
	       (unsigned long long)i, (unsigned long long)sleeps);
	ok(sleeps > i / 10, "the reader really slept (%llu times)", (unsigned long long)sleeps);
	ok(WIFEXITED(st) && !WEXITSTATUS(st), "the writer finished");
	is_int(*kicks, 0, "the writer never entered the kernel to wake it");
	ok(slow <= i / 100, "woken within 100 ms (zc_idle_ms %u) in %llu of %llu waits; the slowest %.1f ms",
	   idle ? idle : 10, (unsigned long long)(i - slow), (unsigned long long)i,
	   worst / 1e6);
	close(rfd);
	munmap(h, 4096);
	zc_unlink(name);
	if (!idle)
		set_idle_ms(0);
}

/*
 * The other blocking path: a lossless writer asleep in ZC_CHUNK for room,
 * woken by a libshmring reader that consumes in place and kicks only when
 * the header says a writer waits for its position ([W4]/[R4]); random
 * delays on both sides. A lost wakeup on either side stalls both: the
 * reader's 3 s wait then times out.
 */
static void test_room_wakeups(void)
{
	const char *name = "zc-room";
	uint64_t n = (uint64_t)(5000 * scale) + 200, i, seed = 4242;
	uint64_t lost = 0, waits = 0, bad = 0, spins = 0, deadline;
	struct shmring_record rec;
	struct shmring *r;
	uint32_t id, k;
	pid_t pid;
	int st, ret = 0;

	is_int(zc_create(name, 1 << 14, SHMRING_POLICY_LOSSLESS, 4096, 0), 0,
	       "create %s (4 chunks)", name);
	is_int(shmring_open(name, SHMRING_O_READ, 0, NULL, &r), 0, "open a libshmring reader");
	pid = fork();
	if (pid == 0) {
		struct zcw w;

		zcw_open(&w, name);
		for (i = 0; i < n; i++) {
			/* 7 records of 544 bytes fill a chunk: it waits often. */
			if (zcw_write_again(&w, 500, 0, (uint32_t)i))
				_exit(1);
			spin_ns(&seed, 5000);	/* faster than the reader */
		}
		zcw_grant(&w, SHMRING_ZC_RELEASE, NULL);
		if (w.rewrites)
			diag("writer: %llu records written again after a revocation",
			     (unsigned long long)w.rewrites);
		_exit(0);
	}
	/* Bounded: a wait that returns at once with nothing to read must not spin forever. */
	deadline = now_mono_ns() + 120ULL * 1000000000ULL;
	for (i = 0; i < n;) {
		ret = shmring_peek(r, &rec);
		if (ret == -EAGAIN) {
			waits++;
			ret = shmring_wait(r, 3000);
			if (ret == -ETIMEDOUT) {
				lost++;
				break;
			}
			if (now_mono_ns() > deadline) {
				spins++;
				break;
			}
			continue;
		}
		if (ret)
			break;
		if (!check_payload(rec.data, rec.len, &id, &k) || k != i)
			bad++;
		ret = shmring_consume(r);
		if (ret)
			break;
		i++;
		spin_ns(&seed, 40000);
	}
	if (i < n) {
		struct shmring_info in;

		/* Say where it stopped, then stop the writer: it may wait for room forever. */
		ring_info(name, &in);
		diag("the reader stopped at record %llu of %llu: last call %d (%s), wait %s; ring head %llu, writer waits %llu",
		     (unsigned long long)i, (unsigned long long)n, ret, strerror(-ret),
		     lost ? "timed out" : spins ? "returned at once for 120 s" : "-",
		     (unsigned long long)in.head_seq, (unsigned long long)in.writer_waits);
		kill(pid, SIGKILL);
	}
	waitpid(pid, &st, 0);
	is_int(lost + spins, 0, "no lost wakeup: %llu records read, the reader waited %llu times",
	       (unsigned long long)i, (unsigned long long)waits);
	is_int(i, n, "every record arrived");
	is_int(bad, 0, "in order and intact");
	ok(WIFEXITED(st) && !WEXITSTATUS(st), "the writer, often asleep for room, finished");
	{
		struct shmring_info in;

		ring_info(name, &in);
		ok(in.writer_waits > 0, "the writer did wait for room (%llu times)",
		   (unsigned long long)in.writer_waits);
	}
	shmring_close(r);
	zc_unlink(name);
}

int main(int argc, char **argv)
{
	const char *s = getenv("SHMRING_TEST_SCALE");

	if (argc > 1)
		scale = atof(argv[1]);
	else if (s)
		scale = atof(s);
	if (scale <= 0)
		scale = 1;
	signal(SIGPIPE, SIG_IGN);
	plan_no_plan();
	/* T_ZC_ONLY=wake: the lost-wakeup hunt alone (t_zc 10: 200,500 cycles). */
	if (getenv("T_ZC_ONLY") && !strcmp(getenv("T_ZC_ONLY"), "wake")) {
		test_wakeups();
		test_lazy_wakeups();
		test_room_wakeups();
		return done_testing();
	}
	/* T_ZC_ONLY=crash: the SIGKILL storm alone, both policies. */
	if (getenv("T_ZC_ONLY") && !strcmp(getenv("T_ZC_ONLY"), "crash")) {
		test_crash(SHMRING_POLICY_OVERWRITE);
		test_crash(SHMRING_POLICY_LOSSLESS);
		return done_testing();
	}
	/* T_ZC_ONLY=hostile: the scribbling writer alone. */
	if (getenv("T_ZC_ONLY") && !strcmp(getenv("T_ZC_ONLY"), "hostile")) {
		test_hostile();
		return done_testing();
	}
	/* T_ZC_ONLY=resume: how soon readers resume after a death, alone. */
	if (getenv("T_ZC_ONLY") && !strcmp(getenv("T_ZC_ONLY"), "resume")) {
		test_resume();
		test_stopped();
		return done_testing();
	}
	test_errnos();
	test_many_writers(SHMRING_POLICY_LOSSLESS, 4, 2);
	test_many_writers(SHMRING_POLICY_OVERWRITE, 4, 2);
	test_many_writers(SHMRING_POLICY_LOSSLESS, 1, 1);
	test_crash(SHMRING_POLICY_OVERWRITE);
	test_crash(SHMRING_POLICY_LOSSLESS);
	test_resume();
	test_stopped();
	test_hostile();
	test_wakeups();
	test_lazy_wakeups();
	test_room_wakeups();
	return done_testing();
}
