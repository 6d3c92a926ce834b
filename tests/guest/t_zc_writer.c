// SPDX-License-Identifier: GPL-2.0
/*
 * libshmring's zero-copy writer (lib/zc.c) against the module: records
 * reserved and committed in place, read back through the kernel's read(2)
 * (independent of the library's reader). Attributes, errors (a ring that
 * is not zero-copy, a reader handle, write(2) paths on a zero-copy ring,
 * -EMSGSIZE, -ENOBUFS), header fields (pid, CLOCK_BOOTTIME, crc32c),
 * batches, chunk boundaries, flush and close (a later writer's records
 * become readable), the pid after fork(), a commit waking a sleeping
 * reader with no revocation to help (zc_idle_ms=0), revocation of a
 * writer stopped in the middle of a record (-ETIMEDOUT, the next write
 * in a new chunk) and between records (nothing lost), a chunk reclaimed
 * by an overwrite ring, shmring_close() with a reservation left, and
 * shmring_zc_reserve_n(): its errors, -ENOBUFS, abort, and batches of
 * every size through three laps of the ring, read back by read(2).
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "common.h"

#define SIZE	(64 * 1024ULL)
#define CHUNK	4096U
#define MAXREC	1024U

static char saved_idle[32];

static void restore_idle(void)
{
	if (saved_idle[0])
		param_set("zc_idle_ms", saved_idle);
}

static uint64_t boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct shmring *create(const char *name, uint64_t size, uint32_t policy,
			      uint32_t flags)
{
	struct shmring_attr a = { .data_size = size, .policy = policy, .flags = flags,
				  .max_record = MAXREC };
	struct shmring *w;
	int ret;

	if (flags & SHMRING_ATTR_ZEROCOPY)
		a.zc_chunk = CHUNK;
	shmring_unlink(name);
	ret = shmring_open(name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
			   0600, &a, &w);
	if (ret)
		bail_out("create %s: %s", name, shmring_strerror(ret));
	return w;
}

static struct shmring *writer(const char *name)
{
	struct shmring *w;
	int ret = shmring_open(name, SHMRING_O_WRITE, 0, NULL, &w);

	if (ret)
		bail_out("open writer %s: %s", name, shmring_strerror(ret));
	return w;
}

/* A reader through the kernel's read(2): a raw, non-blocking fd. */
static int raw_reader(const char *name)
{
	struct shmring_open o;
	int fd = dev_fd(O_RDWR | O_NONBLOCK), ret;

	open_args(&o, name, SHMRING_O_READ);
	ret = xioctl(fd, SHMRING_IOC_OPEN, &o);
	if (ret)
		bail_out("open reader %s: %s", name, strerror(-ret));
	return fd;
}

/* What read(2) returned, record by record. */
#define GOT_MAX	512
struct got {
	unsigned int n;
	struct shmring_rec h[GOT_MAX];
	char data[GOT_MAX][64];		/* the first bytes of each payload */
	int csum_ok[GOT_MAX];
};

/* Read every record the kernel hands out now (until EAGAIN). */
static int read_all(int fd, struct got *g)
{
	static unsigned char buf[64 * 1024];
	ssize_t k;
	size_t off;

	memset(g, 0, sizeof(*g));
	for (;;) {
		k = read(fd, buf, sizeof(buf));
		if (k < 0 && errno == EAGAIN)
			return 0;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		for (off = 0; off + sizeof(struct shmring_rec) <= (size_t)k;) {
			struct shmring_rec h;
			size_t n;

			memcpy(&h, buf + off, sizeof(h));
			if (SHMRING_REC_TOTAL(h.len) > (size_t)k - off)
				return -EBADMSG;
			if (g->n < GOT_MAX) {
				n = h.len < sizeof(g->data[0]) - 1 ? h.len : sizeof(g->data[0]) - 1;
				g->h[g->n] = h;
				memcpy(g->data[g->n], buf + off + sizeof(h), n);
				g->csum_ok[g->n] = !(h.flags & SHMRING_REC_CSUM) ||
					shmring_crc32c(buf + off + sizeof(h), h.len) == h.csum;
			}
			g->n++;
			off += SHMRING_REC_TOTAL(h.len);
		}
	}
}

static unsigned int read_count(int fd)
{
	static struct got g;

	return read_all(fd, &g) ? ~0U : g.n;
}

/* Reserve @len bytes, fill them with @text (repeated), keep it reserved. */
static int reserve_text(struct shmring *w, uint32_t len, uint32_t type, const char *text)
{
	size_t tl = strlen(text), i;
	char *p;
	int ret = shmring_zc_reserve(w, len, type, (void **)&p);

	if (ret)
		return ret;
	for (i = 0; i < len; i++)
		p[i] = text[i % tl];
	return 0;
}

/* A child that polls @fd for up to @ms and exits 0 if POLLIN came after @min_ms. */
static pid_t poller(int fd, int ms, int min_ms)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t t0 = now_mono_ns();
		int n = poll(&pfd, 1, ms);
		uint64_t dt = (now_mono_ns() - t0) / 1000000;

		_exit(n == 1 && (pfd.revents & POLLIN) && dt >= (uint64_t)min_ms ? 0 : 1);
	}
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	return pid;
}

static int child_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(void)
{
	static struct got g;
	void *pp[64];
	struct shmring *w, *w2, *rr, *plain;
	struct shmring_features f;
	struct shmring_info info;
	uint64_t t0, t1;
	unsigned int i, k;
	void *p;
	int fd, ret, bad;
	pid_t pid;

	if (shmring_features(&f))
		plan_skip_all("no /dev/shmring");
	if (!(f.features & SHMRING_FEAT_ZEROCOPY))
		plan_skip_all("the module has no zero-copy rings");
	plan_no_plan();
	param_get("zc_idle_ms", saved_idle, sizeof(saved_idle));
	atexit(restore_idle);
	param_set("zc_idle_ms", "10");

	/* --- attributes and errors -------------------------------------------- */
	w = create("t_zcw.a", SIZE, SHMRING_POLICY_LOSSLESS,
		   SHMRING_ATTR_ZEROCOPY | SHMRING_ATTR_CSUM);
	is_int(shmring_info(w, &info), 0, "info of a zero-copy ring");
	ok((info.attr.flags & SHMRING_ATTR_ZEROCOPY) && info.attr.zc_chunk == CHUNK &&
	   info.attr.max_record == MAXREC, "attributes: ZEROCOPY, zc_chunk %u, max_record %u",
	   info.attr.zc_chunk, info.attr.max_record);
	ok(info.map_zc_off && info.map_zc_len == SIZE, "a writer gets the writable mapping");
	is_int(shmring_write(w, 1, "x", 1), -EOPNOTSUPP, "shmring_write on a zero-copy ring: -EOPNOTSUPP");
	is_int(shmring_zc_commit(w), 0, "commit with nothing reserved: 0");
	is_int(shmring_zc_flush(w), 0, "flush with no chunk: 0");
	ret = shmring_open("t_zcw.a", SHMRING_O_READ, 0, NULL, &rr);
	if (ret)
		bail_out("reader: %s", shmring_strerror(ret));
	is_int(shmring_zc_write(rr, 1, "x", 1), -EBADF, "a reader handle: -EBADF");
	shmring_close(rr);	/* it would hold the lossless ring back */
	plain = create("t_zcw.plain", SIZE, SHMRING_POLICY_LOSSLESS, 0);
	is_int(shmring_zc_write(plain, 1, "x", 1), -EOPNOTSUPP, "a ring that is not zero-copy: -EOPNOTSUPP");
	is_int(shmring_zc_reserve(plain, 1, 1, &p), -EOPNOTSUPP, "... reserve too");
	shmring_close(plain);
	shmring_unlink("t_zcw.plain");
	is_int(shmring_zc_write(w, 1, "x", MAXREC + 1), -EMSGSIZE, "above max_record: -EMSGSIZE");

	/* --- records, read back by read(2) ------------------------------------- */
	fd = raw_reader("t_zcw.a");
	t0 = boottime_ns();
	for (i = 0, bad = 0; i < 3; i++) {
		char msg[16];

		snprintf(msg, sizeof(msg), "rec-%u", i);
		bad += shmring_zc_write(w, 1 + i, msg, strlen(msg)) != (int)strlen(msg);
	}
	t1 = boottime_ns();
	is_int(bad, 0, "three shmring_zc_write()s return their lengths");
	is_int(read_all(fd, &g), 0, "read(2) them");
	is_int(g.n, 3, "three records, the chunk still open");
	for (i = 0, bad = 0; i < 3 && i < g.n; i++) {
		char msg[16];

		snprintf(msg, sizeof(msg), "rec-%u", i);
		bad += g.h[i].seq != i || g.h[i].type != 1 + i || g.h[i].len != strlen(msg) ||
		       strcmp(g.data[i], msg) || g.h[i].pid != (uint32_t)getpid() ||
		       g.h[i].flags != SHMRING_REC_CSUM || !g.csum_ok[i] ||
		       g.h[i].tstamp_ns < t0 || g.h[i].tstamp_ns > t1;
	}
	is_int(bad, 0, "seq, type, payload, pid, crc32c, CLOCK_BOOTTIME stamp");

	/* --- a batch, and -ENOBUFS at a chunk's end ------------------------------- */
	for (i = 0, bad = 0; i < 5; i++)
		bad += reserve_text(w, 16 + i, 10 + i, "batch") != 0;
	is_int(bad, 0, "five reservations");
	is_int(read_count(fd), 0, "nothing readable before the commit");
	is_int(shmring_zc_commit(w), 5, "commit: 5");
	is_int(read_all(fd, &g), 0, "read(2) them");
	ok(g.n == 5 && g.h[0].seq == 3 && g.h[4].seq == 7 && g.h[4].type == 14 &&
	   g.h[4].len == 20, "five records, in order");
	for (k = 0; k < 5; k++) {
		ret = reserve_text(w, 1000, 20, "big");
		if (ret)
			break;
	}
	ok(ret == -ENOBUFS && k >= 1 && k <= 4, "big records up to the chunk's end, then -ENOBUFS (%u)", k);
	is_int(shmring_zc_commit(w), (int)k, "commit them");
	is_int(read_count(fd), k, "read(2) them");

	/* --- many chunks ----------------------------------------------------------- */
	for (i = 0, bad = 0; i < 200; i++) {
		char buf[100];

		memset(buf, 'a' + (int)(i % 26), sizeof(buf));
		bad += shmring_zc_write(w, 30, buf, sizeof(buf)) != (int)sizeof(buf);
	}
	is_int(bad, 0, "200 records of 100 bytes over several chunks");
	is_int(read_all(fd, &g), 0, "read(2) them");
	for (i = 1, bad = g.n != 200; i < g.n && i < GOT_MAX; i++)
		bad += g.h[i].seq != g.h[0].seq + i || g.data[i][0] != 'a' + (int)(i % 26);
	is_int(bad, 0, "all 200, in order, numbered without a gap");

	/* --- flush and close: a later writer's records become readable ------------ */
	w2 = writer("t_zcw.a");
	is_int(shmring_zc_write(w, 40, "A", 1), 1, "writer A writes in its chunk");
	is_int(shmring_zc_write(w2, 41, "B", 1), 1, "writer B writes in the chunk after it");
	is_int(read_all(fd, &g), 0, "read(2)");
	ok(g.n == 1 && g.h[0].type == 40, "only A's record: B's is past A's open chunk");
	is_int(shmring_zc_flush(w), 0, "A flushes");
	is_int(read_all(fd, &g), 0, "read(2)");
	ok(g.n == 1 && g.h[0].type == 41, "B's record now");
	rr = writer("t_zcw.a");
	is_int(shmring_zc_write(rr, 42, "C", 1), 1, "writer C, after B's chunk");
	is_int(read_count(fd), 0, "C's record waits for B's chunk");
	shmring_close(w2);
	is_int(read_all(fd, &g), 0, "B closes: read(2)");
	ok(g.n == 1 && g.h[0].type == 42, "C's record now");
	shmring_close(rr);
	is_int(read_count(fd), 0, "C closes: nothing more");

	/* --- fork: the child's records carry its pid -------------------------------- */
	pid = fork();
	if (pid == 0) {
		struct shmring *c;

		if (shmring_open("t_zcw.a", SHMRING_O_WRITE, 0, NULL, &c))
			_exit(1);
		_exit(shmring_zc_write(c, 50, "child", 5) == 5 ? 0 : 1);	/* no close */
	}
	is_int(child_status(pid), 0, "a forked child writes");
	is_int(read_all(fd, &g), 0, "read(2)");
	ok(g.n == 1 && g.h[0].pid == (uint32_t)pid, "the record carries the child's pid (%u, child %d)",
	   g.n ? g.h[0].pid : 0, (int)pid);

	/* --- a commit wakes a sleeping reader (no revocation to help) ----------------- */
	param_set("zc_idle_ms", "0");
	shmring_zc_flush(w);
	pid = poller(fd, 5000, 100);
	sleep_ms(300);
	is_int(shmring_zc_write(w, 60, "wake", 4), 4, "a record while a reader sleeps in poll()");
	is_int(child_status(pid), 0, "the commit woke it (SHMRING_IOC_KICK), after it slept");
	is_int(read_count(fd), 1, "read(2) the record");
	param_set("zc_idle_ms", "10");

	/* --- revocation in the middle of a record ------------------------------------- */
	shmring_zc_flush(w);
	is_int(read_count(fd), 0, "the reader passes the flushed chunk's END");
	is_int(reserve_text(w, 32, 70, "lost"), 0, "reserve a record and stop");
	pid = poller(fd, 3000, 0);
	sleep_ms(300);
	is_int(shmring_zc_commit(w), -ETIMEDOUT, "stopped past zc_idle_ms while a reader waits: -ETIMEDOUT");
	is_int(child_status(pid), 0, "the waiting reader was woken by the revocation");
	is_int(shmring_zc_write(w, 71, "again", 5), 5, "the next write goes to a new chunk");
	is_int(read_all(fd, &g), 0, "read(2)");
	ok(g.n == 1 && g.h[0].type == 71, "only the record written after (the other was discarded)");

	/* --- revocation between records: nothing lost ---------------------------------- */
	is_int(read_count(fd), 0, "the reader is drained");
	pid = poller(fd, 3000, 0);
	sleep_ms(300);
	is_int(child_status(pid), 0, "the idle chunk was closed, the waiting reader woken");
	is_int(shmring_zc_write(w, 72, "after", 5), 5, "the writer goes on: a new chunk");
	is_int(read_all(fd, &g), 0, "read(2)");
	ok(g.n == 1 && g.h[0].type == 72, "its record, nothing lost");

	/* --- shmring_close() with a reservation left ----------------------------------- */
	is_int(reserve_text(w, 8, 80, "left"), 0, "a reservation left outstanding");
	shmring_close(w);
	w = writer("t_zcw.a");
	is_int(shmring_zc_write(w, 81, "next", 4), 4, "a new writer");
	is_int(read_all(fd, &g), 0, "read(2)");
	ok(g.n == 1 && g.h[0].type == 81, "its record, readable at once; the dropped one never");
	shmring_close(w);
	close(fd);
	shmring_unlink("t_zcw.a");

	/* --- shmring_zc_reserve_n(): records by the batch, at every offset -------------- */
	w = create("t_zcw.n", SIZE, SHMRING_POLICY_LOSSLESS,
		   SHMRING_ATTR_ZEROCOPY | SHMRING_ATTR_CSUM);
	is_int(shmring_zc_reserve_n(w, 8, 1, pp, 0), -EINVAL, "reserve_n: n == 0: -EINVAL");
	is_int(shmring_zc_reserve_n(w, 8, 1, NULL, 1), -EINVAL, "reserve_n: no array: -EINVAL");
	is_int(shmring_zc_reserve_n(w, MAXREC + 1, 1, pp, 2), -EMSGSIZE,
	       "reserve_n: above max_record: -EMSGSIZE");
	ret = shmring_open("t_zcw.n", SHMRING_O_READ, 0, NULL, &rr);
	if (ret)
		bail_out("reader: %s", shmring_strerror(ret));
	is_int(shmring_zc_reserve_n(rr, 8, 1, pp, 2), -EBADF, "reserve_n: a reader handle: -EBADF");
	shmring_close(rr);
	plain = create("t_zcw.plain", SIZE, SHMRING_POLICY_LOSSLESS, 0);
	is_int(shmring_zc_reserve_n(plain, 8, 1, pp, 2), -EOPNOTSUPP,
	       "reserve_n: a ring that is not zero-copy: -EOPNOTSUPP");
	shmring_close(plain);
	shmring_unlink("t_zcw.plain");
	fd = raw_reader("t_zcw.n");
	ret = shmring_zc_reserve_n(w, 1000, 5, pp, 8);
	is_int(ret, 3, "reserve_n: three of 1000 bytes fit in a 4 KiB chunk");
	is_int(shmring_zc_reserve_n(w, 1000, 5, pp, 8), -ENOBUFS,
	       "reserve_n: with those outstanding and the chunk full: -ENOBUFS");
	shmring_zc_abort(w);
	is_int(read_count(fd), 0, "reserve_n: aborted: nothing to read");
	/*
	 * Batches of 1 to 37 records of sizes around every multiple of 8
	 * (records start at every 8-byte offset of chunks and of the ring)
	 * through more than three laps of the ring, each read back by
	 * read(2): numbered without a gap, type, length, payload, crc32c.
	 */
	{
		static const uint32_t sizes[] = { 0, 1, 7, 8, 9, 23, 24, 25, 56, 63, 64, 65,
						  100, 255, 256, 257, 511, 999, MAXREC };
		uint64_t seq = 0, bytes = 0, calls = 0, fewer = 0;
		unsigned int b, want, done, j;
		uint32_t len;

		for (b = 0, bad = 0; bytes < 3 * SIZE + CHUNK && !bad; b++) {
			len = sizes[b % (sizeof(sizes) / sizeof(sizes[0]))];
			want = 1 + b % 37;
			for (done = 0; done < want && !bad;) {
				ret = shmring_zc_reserve_n(w, len, 100 + b, pp, want - done);
				calls++;
				if (ret <= 0) {
					diag("reserve_n(%u, %u): %s", len, want - done, shmring_strerror(ret));
					bad++;
					break;
				}
				fewer += (unsigned int)ret < want - done;
				for (k = 0; k < (unsigned int)ret; k++)
					for (j = 0; j < len; j++)
						((unsigned char *)pp[k])[j] =
							(unsigned char)(seq + done + k + j);
				if (shmring_zc_commit(w) != ret) {
					bad++;
					break;
				}
				done += (unsigned int)ret;
				bytes += (uint64_t)ret * SHMRING_REC_TOTAL(len);
			}
			if (read_all(fd, &g) || g.n != want) {
				diag("batch %u: read %u of %u", b, g.n, want);
				bad++;
				break;
			}
			for (k = 0; k < g.n; k++, seq++) {
				bad += g.h[k].seq != seq || g.h[k].type != 100 + b ||
				       g.h[k].len != len || !g.csum_ok[k];
				for (j = 0; j < len && j < sizeof(g.data[0]) - 1; j++)
					bad += (unsigned char)g.data[k][j] != (unsigned char)(seq + j);
			}
		}
		is_int(bad, 0, "reserve_n: %llu records in %u batches (%llu calls, %llu cut at a "
		       "chunk's end), %llu bytes: all read back in order, payloads and crc32c intact",
		       (unsigned long long)seq, b, (unsigned long long)calls,
		       (unsigned long long)fewer, (unsigned long long)bytes);
	}
	shmring_close(w);
	close(fd);
	shmring_unlink("t_zcw.n");

	/* --- an overwrite ring reclaims a stopped writer's chunk ------------------------- */
	param_set("zc_idle_ms", "0");	/* only the reclaim may take it */
	w = create("t_zcw.ow", 4 * CHUNK, SHMRING_POLICY_OVERWRITE, SHMRING_ATTR_ZEROCOPY);
	w2 = writer("t_zcw.ow");
	is_int(reserve_text(w, 16, 90, "old"), 0, "writer A reserves in the oldest chunk");
	memset(g.data[0], 'x', sizeof(g.data[0]));
	for (i = 0, bad = 0; i < 200; i++)
		bad += shmring_zc_write(w2, 91, g.data[0], sizeof(g.data[0])) !=
		       (int)sizeof(g.data[0]);
	is_int(bad, 0, "writer B laps the ring");
	is_int(shmring_zc_commit(w), -ETIMEDOUT, "A's commit: -ETIMEDOUT (its chunk was reclaimed)");
	is_int(shmring_zc_write(w, 92, "new", 3), 3, "A writes on in a new chunk");
	shmring_close(w);
	shmring_close(w2);
	shmring_unlink("t_zcw.ow");
	return done_testing();
}
