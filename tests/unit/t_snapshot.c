// SPDX-License-Identifier: GPL-2.0
/*
 * Native tests of libshmring's snapshot files (lib/snapshot.c,
 * docs/snapshots.md); no kernel needed:
 *  - every errno path of open/publish/load with its exact value, errno
 *    left as it was;
 *  - publish/load round trips of many sizes (0 B to 3 MiB, growing and
 *    shrinking), the file's mode, a second publisher through its own handle;
 *  - a publisher process hammering publishes while reader processes and
 *    threads load continuously: every loaded snapshot is whole (each byte
 *    derived from its seq, its length too) and seqs never go backwards;
 *    two concurrent publishers lose no publish (the generation counts all);
 *  - a publisher killed with SIGKILL at random points, hundreds of times:
 *    the file always loads, whole, never older than before the kill;
 *  - corrupt files (bad magic, short header, torn generation, huge or
 *    out-of-file lengths, a flipped payload byte, truncation, random bytes
 *    anywhere): -EBADMSG (or a whole snapshot), never a crash or a hang.
 * SHMRING_TEST_QUICK (the valgrind pass) shortens the loops.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"
#include "../tap.h"

/* The file layout (docs/snapshots.md). */
#define GEN_OFF		32
#define SLOT_OFF	64
#define SLOT_SIZE	64
#define S_SEQ		8
#define S_OFF		16
#define S_CAP		24
#define S_LEN		32
#define S_DCRC		52

static char dir[64];
static int quick;

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* The payload of @seq: its length and every byte are derived from it. */
static size_t payload_len(uint64_t seq, size_t max)
{
	return (size_t)((seq * 2654435761ULL) % (max + 1));
}

static void fill(unsigned char *p, size_t len, uint64_t seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seq * 31 + i * 7 + (i >> 8));
}

/* 0 if @p (@len bytes) is the payload of @seq with lengths up to @max. */
static int whole(const unsigned char *p, size_t len, uint64_t seq, size_t max)
{
	size_t i;

	if (len != payload_len(seq, max))
		return -1;
	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seq * 31 + i * 7 + (i >> 8)))
			return -1;
	return 0;
}

static int publish_seq(struct shmring_snap *s, uint64_t seq, size_t max, unsigned char *buf)
{
	size_t len = payload_len(seq, max);

	fill(buf, len, seq);
	return shmring_snap_publish(s, buf, len, seq);
}

static void test_errors(void)
{
	struct shmring_snap *s = (void *)1, *w;
	struct shmring_snap_meta m;
	char p[256], big[300];
	unsigned char buf[16];
	int fd;

	errno = 4242;
	is_int(shmring_snap_open("x", 0, 0600, NULL), -EINVAL, "open: NULL out is EINVAL");
	is_int(shmring_snap_open("x", 1U << 9, 0600, &s), -EINVAL, "open: unknown flag is EINVAL");
	ok(s == NULL, "open: *out is NULL after a failure");
	is_int(shmring_snap_open("x", SHMRING_SNAP_CREAT, 0600, &s), -EINVAL,
	       "open: CREAT without WRITE is EINVAL");
	is_int(shmring_snap_open("x", SHMRING_SNAP_SYNC, 0600, &s), -EINVAL,
	       "open: SYNC without WRITE is EINVAL");
	is_int(shmring_snap_open("", 0, 0600, &s), -EINVAL, "open: empty name is EINVAL");
	is_int(shmring_snap_open(NULL, 0, 0600, &s), -EINVAL, "open: NULL name is EINVAL");
	is_int(shmring_snap_open("..", 0, 0600, &s), -EINVAL, "open: '..' is EINVAL");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	is_int(shmring_snap_open(big, 0, 0600, &s), -ENAMETOOLONG,
	       "open: a ring name of SHMRING_NAME_MAX or more is ENAMETOOLONG");
	path_of(p, sizeof(p), "missing");
	is_int(shmring_snap_open(p, 0, 0600, &s), -ENOENT, "open: missing file is ENOENT");
	is_int(shmring_snap_open(p, SHMRING_SNAP_WRITE, 0600, &s), -ENOENT,
	       "open: missing file without CREAT is ENOENT");
	path_of(p, sizeof(p), "nodir/x");
	is_int(shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0600, &s), -ENOENT,
	       "open: CREAT in a missing directory is ENOENT");
	is_int(shmring_snap_open(dir, 0, 0600, &s), -EBADMSG, "open: a directory is EBADMSG");
	path_of(p, sizeof(p), "empty");
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	close(fd);
	is_int(shmring_snap_open(p, 0, 0600, &s), -EBADMSG, "open: an empty file is EBADMSG");
	is_int(shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0600, &s), -EBADMSG,
	       "open: CREAT over an empty file is EBADMSG (not overwritten)");
	is_int(errno, 4242, "errno untouched by failing opens");

	path_of(p, sizeof(p), "errs");
	is_int(shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0600, &w), 0,
	       "open: create");
	is_int(shmring_snap_open(p, 0, 0, &s), 0, "open: reader");
	is_int(shmring_snap_load(s, buf, sizeof(buf), &m), -ENODATA,
	       "load before any publish is ENODATA");
	is_int(shmring_snap_publish(s, buf, 1, 1), -EBADF, "publish on a read-only handle is EBADF");
	is_int(shmring_snap_publish(w, NULL, 1, 1), -EFAULT, "publish NULL data, len 1 is EFAULT");
	is_int(shmring_snap_publish(w, buf, (size_t)SHMRING_SNAP_MAX_LEN + 1, 1), -EMSGSIZE,
	       "publish over SHMRING_SNAP_MAX_LEN is EMSGSIZE");
	is_int(shmring_snap_publish(NULL, buf, 1, 1), -EINVAL, "publish on NULL is EINVAL");
	is_int(shmring_snap_load(NULL, buf, 1, &m), -EINVAL, "load on NULL is EINVAL");
	is_int(shmring_snap_bootstrap(NULL, NULL, buf, 1, &m), -EINVAL, "bootstrap on NULL is EINVAL");
	is_int(shmring_snap_bootstrap(s, NULL, buf, 1, &m), -EINVAL,
	       "bootstrap without a ring is EINVAL");
	is_int(shmring_snap_publish(w, "0123456789", 10, 77), 0, "publish 10 bytes");
	is_int(shmring_snap_load(s, NULL, 4, &m), -EFAULT, "load into NULL with cap 4 is EFAULT");
	memset(&m, 0, sizeof(m));
	is_int(shmring_snap_load(s, buf, 4, &m), -EMSGSIZE, "load into 4 bytes is EMSGSIZE");
	ok(m.len == 10 && m.seq == 77, "EMSGSIZE says the length (%llu) and seq (%llu)",
	   (unsigned long long)m.len, (unsigned long long)m.seq);
	is_int(shmring_snap_load(s, NULL, 0, &m), -EMSGSIZE, "load(NULL, 0) asks the size");
	is_int(shmring_snap_load(s, buf, sizeof(buf), &m), 0, "load");
	ok(m.len == 10 && !memcmp(buf, "0123456789", 10) && m.seq == 77 && m.gen == 1,
	   "load gives the bytes, seq 77, generation 1");
	is_int(shmring_snap_load(s, buf, sizeof(buf), NULL), 0, "load without meta");
	is_int(shmring_snap_publish(w, NULL, 0, 78), 0, "publish NULL, 0 bytes");
	is_int(shmring_snap_load(s, NULL, 0, &m), 0, "load of an empty snapshot into NULL, 0");
	ok(m.len == 0 && m.seq == 78, "empty snapshot, seq 78");
	is_int(shmring_snap_fd(NULL), -EINVAL, "fd of NULL is EINVAL");
	ok(shmring_snap_fd(s) >= 0, "fd of a handle");
	is_int(errno, 4242, "errno untouched by the calls");
	shmring_snap_close(s);
	shmring_snap_close(w);
	shmring_snap_close(NULL);
	if (geteuid() == 0) {
		skip(1, "root reads a file of mode 0");
	} else {
		path_of(p, sizeof(p), "mode0");
		if (!shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0, &w))
			shmring_snap_close(w);
		is_int(shmring_snap_open(p, 0, 0, &s), -EACCES, "open: a file of mode 0 is EACCES");
	}
}

static void test_roundtrip(void)
{
	static const size_t sizes[] = { 0, 1, 7, 4095, 4096, 4097, 100, 65536, 3 << 20, 12,
					 1 << 20, 5000, 0, 3 << 20 };
	struct shmring_snap *w, *w2, *r;
	struct shmring_snap_meta m;
	unsigned char *in = malloc(3 << 20), *out = malloc(3 << 20);
	unsigned int i, bad = 0;
	struct stat st;
	char p[256];
	mode_t old = umask(0);

	path_of(p, sizeof(p), "rt");
	is_int(shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0640, &w), 0,
	       "create with mode 0640");
	umask(old);
	if (stat(p, &st))
		memset(&st, 0, sizeof(st));
	ok((st.st_mode & 0777) == 0640, "the file has mode 0640 (%o)",
	   st.st_mode & 0777);
	is_int(shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT | SHMRING_SNAP_SYNC,
				 0600, &w2), 0, "CREAT of an existing file opens it");
	is_int(shmring_snap_open(p, 0, 0, &r), 0, "reader");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct shmring_snap *pub = i & 1 ? w2 : w;

		fill(in, sizes[i], i + 1000);
		if (shmring_snap_publish(pub, in, sizes[i], i + 1000) ||
		    shmring_snap_load(r, out, 3 << 20, &m) || m.len != sizes[i] ||
		    m.seq != i + 1000 || m.gen != i + 1 || memcmp(in, out, sizes[i]) ||
		    m.crc != shmring_crc32c(in, sizes[i])) {
			diag("size %zu: len %llu seq %llu gen %llu", sizes[i],
			     (unsigned long long)m.len, (unsigned long long)m.seq,
			     (unsigned long long)m.gen);
			bad++;
		}
	}
	is_int(bad, 0, "round trips of %zu sizes through two publishers (growth, shrink)",
	       sizeof(sizes) / sizeof(sizes[0]));
	if (stat(p, &st))
		memset(&st, 0, sizeof(st));
	ok(st.st_size > 3 << 20 && st.st_size <= (4096 + 4 * (3 << 20) + 4 * 4096),
	   "the file stays bounded by about twice two slots (%lld bytes)", (long long)st.st_size);
	ok(m.time_ns > 1600000000ULL * 1000000000ULL, "the publish time is wall time");
	shmring_snap_close(r);
	shmring_snap_close(w);
	shmring_snap_close(w2);
	free(in);
	free(out);
}

#define HMAX	20000

/* A reader thread's handle and buffer, made by the main thread (forked
 * publishers then hold no memory that only a thread points to). */
struct reader_arg {
	struct shmring_snap *s;
	unsigned char *buf;
	unsigned long loads, bad;
	uint64_t last;
	atomic_int *stop;
};

static void *reader_thread(void *a)
{
	struct reader_arg *ra = a;
	struct shmring_snap_meta m;

	while (!atomic_load(ra->stop)) {
		int ret = shmring_snap_load(ra->s, ra->buf, HMAX, &m);

		if (ret == -EAGAIN)
			continue;
		ra->loads++;
		if (ret || m.seq < ra->last || whole(ra->buf, m.len, m.seq, HMAX)) {
			if (ra->bad++ < 3)
				diag("load: %d seq %llu after %llu len %llu", ret,
				     (unsigned long long)m.seq, (unsigned long long)ra->last,
				     (unsigned long long)m.len);
		}
		ra->last = m.seq;
	}
	return NULL;
}

static pid_t publisher(const char *p, uint64_t from, uint64_t n, uint64_t step)
{
	pid_t pid = fork();

	if (pid == 0) {
		unsigned char *buf = malloc(HMAX);
		struct shmring_snap *s;
		uint64_t k;
		int status = 0;

		if (shmring_snap_open(p, SHMRING_SNAP_WRITE, 0, &s)) {
			free(buf);
			_exit(2);
		}
		for (k = 0; (n == 0 || k < n) && !status; k++)
			if (publish_seq(s, from + k * step, HMAX, buf))
				status = 3;
		shmring_snap_close(s);
		free(buf);
		_exit(status);
	}
	return pid;
}

/* A reader process: load until @last is seen; 0 if every load was whole. */
static int reader_proc(const char *p, uint64_t last)
{
	unsigned char *b = malloc(HMAX);
	struct shmring_snap_meta m;
	struct shmring_snap *s;
	uint64_t prev = 0;
	int ret, status = 0;

	if (shmring_snap_open(p, 0, 0, &s)) {
		free(b);
		return 2;
	}
	for (;;) {
		ret = shmring_snap_load(s, b, HMAX, &m);
		if (ret == -EAGAIN)
			continue;
		if (ret || m.seq < prev || whole(b, m.len, m.seq, HMAX)) {
			status = 1;
			break;
		}
		prev = m.seq;
		if (m.seq >= last)
			break;
	}
	shmring_snap_close(s);
	free(b);
	return status;
}

static void test_hammer(void)
{
	struct reader_arg ra[4];
	pthread_t th[4];
	atomic_int stop = 0;
	struct shmring_snap *w, *r;
	struct shmring_snap_meta m;
	unsigned char *buf = malloc(HMAX);
	unsigned long loads = 0, bad = 0;
	uint64_t n = quick ? 2000 : 30000;
	int i, st, nproc = 2, procs_ok = 1;
	pid_t pub, rd[2];
	char p[256];

	path_of(p, sizeof(p), "hammer");
	shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0600, &w);
	publish_seq(w, 1, HMAX, buf);
	/* Reader processes: each reports its failures in its exit status. */
	for (i = 0; i < nproc; i++) {
		rd[i] = fork();
		if (rd[i] == 0) {
			alarm(120);
			free(buf);
			shmring_snap_close(w);
			_exit(reader_proc(p, n + 1));
		}
	}
	for (i = 0; i < 4; i++) {
		ra[i] = (struct reader_arg){ .stop = &stop, .buf = malloc(HMAX) };
		if (shmring_snap_open(p, 0, 0, &ra[i].s))
			bail_out("open %s", p);
		pthread_create(&th[i], NULL, reader_thread, &ra[i]);
	}
	pub = publisher(p, 2, n, 1);
	waitpid(pub, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "publisher: %llu publishes of 0..%d B",
	   (unsigned long long)n, HMAX);
	nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	atomic_store(&stop, 1);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		loads += ra[i].loads;
		bad += ra[i].bad;
		shmring_snap_close(ra[i].s);
		free(ra[i].buf);
	}
	for (i = 0; i < nproc; i++) {
		waitpid(rd[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			procs_ok = 0;
	}
	is_int(bad, 0, "4 reader threads: %lu loads, each whole, seqs never back", loads);
	ok(procs_ok, "2 reader processes: every load whole and in order, up to the last seq");

	/* Two publishers at once: the lock loses no publish. */
	shmring_snap_open(p, 0, 0, &r);
	shmring_snap_load(r, buf, HMAX, &m);
	{
		uint64_t g0 = m.gen, k = quick ? 300 : 3000;
		pid_t a = publisher(p, 100000000, k, 2), b = publisher(p, 100000001, k, 2);
		int sa, sb;

		waitpid(a, &sa, 0);
		waitpid(b, &sb, 0);
		ok(WIFEXITED(sa) && !WEXITSTATUS(sa) && WIFEXITED(sb) && !WEXITSTATUS(sb),
		   "two concurrent publishers finish");
		is_int(shmring_snap_load(r, buf, HMAX, &m), 0, "load after them");
		is_int(m.gen - g0, 2 * k, "the generation counts every publish of both (%llu)",
		       (unsigned long long)(2 * k));
		ok(!whole(buf, m.len, m.seq, HMAX) && m.seq >= 100000000, "the last is whole");
	}
	shmring_snap_close(r);
	shmring_snap_close(w);
	free(buf);
}

struct pub_arg {
	struct shmring_snap *s;
	uint64_t from, n;
	int err;
};

static void *pub_thread(void *a)
{
	struct pub_arg *pa = a;
	unsigned char *buf = malloc(HMAX);
	uint64_t k;

	for (k = 0; k < pa->n && !pa->err; k++)
		pa->err = publish_seq(pa->s, pa->from + k * 4, HMAX, buf);
	free(buf);
	return NULL;
}

/* Threads publishing through one handle: its mutex serializes them too. */
static void test_threads_one_handle(void)
{
	struct shmring_snap *w, *r;
	struct shmring_snap_meta m;
	struct pub_arg pa[4];
	pthread_t th[4];
	unsigned char *buf = malloc(HMAX);
	uint64_t g0, n = quick ? 200 : 2000;
	int i, err = 0;
	char p[256];

	path_of(p, sizeof(p), "threads");
	shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0600, &w);
	shmring_snap_open(p, 0, 0, &r);
	publish_seq(w, 1, HMAX, buf);
	shmring_snap_load(r, buf, HMAX, &m);
	g0 = m.gen;
	for (i = 0; i < 4; i++) {
		pa[i] = (struct pub_arg){ .s = w, .from = 1000 + i, .n = n };
		pthread_create(&th[i], NULL, pub_thread, &pa[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		err |= pa[i].err;
	}
	is_int(err, 0, "4 threads publish through one handle");
	is_int(shmring_snap_load(r, buf, HMAX, &m), 0, "load after them");
	is_int(m.gen - g0, 4 * n, "the generation counts every publish of the 4 threads");
	ok(!whole(buf, m.len, m.seq, HMAX), "the last snapshot is whole");
	shmring_snap_close(r);
	shmring_snap_close(w);
	free(buf);
}

static void test_kill(void)
{
	struct shmring_snap *r, *w;
	struct shmring_snap_meta m;
	unsigned char *buf = malloc(HMAX);
	unsigned int i, rounds = quick ? 40 : 400, bad = 0, killed_mid = 0;
	uint64_t last = 0;
	char p[256];

	path_of(p, sizeof(p), "kill");
	shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0600, &w);
	publish_seq(w, 1, HMAX, buf);
	shmring_snap_close(w);
	shmring_snap_open(p, 0, 0, &r);
	srand(12345);
	for (i = 0; i < rounds; i++) {
		pid_t pid;
		int st, ret;

		shmring_snap_load(r, buf, HMAX, &m);
		pid = publisher(p, m.seq + 1, 0, 1);
		/* 0-800 us: before the first publish, in the middle, anywhere */
		nanosleep(&(struct timespec){ 0, (rand() % 800) * 1000L }, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		if (WIFSIGNALED(st))
			killed_mid++;
		ret = shmring_snap_load(r, buf, HMAX, &m);
		if (ret || m.seq < last || whole(buf, m.len, m.seq, HMAX)) {
			if (bad++ < 3)
				diag("after kill %u: %d seq %llu (before %llu)", i, ret,
				     (unsigned long long)m.seq, (unsigned long long)last);
		}
		last = m.seq;
	}
	is_int(bad, 0, "%u publishers killed by SIGKILL at random points: the file always "
	       "loads whole, never older (%llu publishes survived)", rounds,
	       (unsigned long long)last);
	ok(killed_mid > rounds / 2, "most were killed while publishing (%u)", killed_mid);
	/* And a publisher after all those kills still works. */
	shmring_snap_open(p, SHMRING_SNAP_WRITE, 0, &w);
	is_int(publish_seq(w, last + 1, HMAX, buf), 0, "publish after the kills");
	is_int(shmring_snap_load(r, buf, HMAX, &m), 0, "and load it");
	is_int(m.seq, last + 1, "its seq");
	shmring_snap_close(w);
	shmring_snap_close(r);
	free(buf);
}

/* Write @len bytes at @off of @p. */
static void poke(const char *p, uint64_t off, const void *v, size_t len)
{
	int fd = open(p, O_WRONLY);

	if (pwrite(fd, v, len, (off_t)off) != (ssize_t)len)
		diag("poke failed");
	close(fd);
}

static void peek(const char *p, uint64_t off, void *v, size_t len)
{
	int fd = open(p, O_RDONLY);

	if (pread(fd, v, len, (off_t)off) != (ssize_t)len)
		diag("peek failed");
	close(fd);
}

/* Flip every bit of the byte at @off: a change whatever it held. */
static void flip(const char *p, uint64_t off)
{
	unsigned char b = 0;

	peek(p, off, &b, 1);
	b ^= 0xff;
	poke(p, off, &b, 1);
}

/* A fresh snapshot file at @p with one 5000 B snapshot (seq 9); its slot. */
static uint64_t fresh(const char *p)
{
	struct shmring_snap *w;
	unsigned char buf[5000];

	unlink(p);
	shmring_snap_open(p, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0600, &w);
	fill(buf, sizeof(buf), 9);
	shmring_snap_publish(w, buf, sizeof(buf), 9);
	shmring_snap_close(w);
	return SLOT_OFF + SLOT_SIZE;	/* generation 1: slot 1 */
}

static unsigned char lbuf[1 << 16];

static int load_path(const char *p, struct shmring_snap_meta *m)
{
	struct shmring_snap *s;
	int ret = shmring_snap_open(p, 0, 0, &s);

	if (ret)
		return ret;
	ret = shmring_snap_load(s, lbuf, sizeof(lbuf), m);
	shmring_snap_close(s);
	return ret;
}

/* Set a slot field and fix the descriptor's crc, as a hostile writer would. */
static void set_field(const char *p, uint64_t slot, unsigned int field, uint64_t v)
{
	unsigned char d[SLOT_SIZE];
	uint32_t crc;

	peek(p, slot, d, sizeof(d));
	memcpy(d + field, &v, 8);
	crc = shmring_crc32c(d, S_DCRC);
	memcpy(d + S_DCRC, &crc, 4);
	poke(p, slot, d, sizeof(d));
}

static void test_corrupt(void)
{
	struct shmring_snap_meta m;
	char p[256];
	uint64_t slot, v, off;
	unsigned int i, rounds = quick ? 200 : 3000, unexpected = 0, loaded = 0, badmsg = 0;
	struct stat st;
	int ret;

	path_of(p, sizeof(p), "corrupt");
	slot = fresh(p);
	is_int(load_path(p, &m), 0, "a fresh file loads");
	poke(p, 0, "XXXX", 4);
	is_int(load_path(p, &m), -EBADMSG, "bad magic: EBADMSG");
	fresh(p);
	v = 2;
	poke(p, 8, &v, 4);
	is_int(load_path(p, &m), -EBADMSG, "unknown version: EBADMSG");
	fresh(p);
	if (truncate(p, 100))
		diag("truncate");
	is_int(load_path(p, &m), -EBADMSG, "shorter than the header: EBADMSG");
	fresh(p);
	v = 5;
	poke(p, GEN_OFF, &v, 8);
	is_int(load_path(p, &m), -EBADMSG, "generation and its check disagree: EBADMSG");
	fresh(p);
	set_field(p, slot, S_LEN, 1ULL << 40);
	is_int(load_path(p, &m), -EBADMSG, "a huge length: EBADMSG");
	fresh(p);
	set_field(p, slot, S_CAP, 1ULL << 40);
	set_field(p, slot, S_LEN, 1ULL << 29);
	is_int(load_path(p, &m), -EBADMSG, "a length past the end of the file: EBADMSG");
	fresh(p);
	set_field(p, slot, S_OFF, 0);
	is_int(load_path(p, &m), -EBADMSG, "a payload inside the header: EBADMSG");
	fresh(p);
	set_field(p, slot, S_OFF, ~0ULL - 100);
	is_int(load_path(p, &m), -EBADMSG, "an offset that wraps: EBADMSG");
	fresh(p);
	set_field(p, slot, S_SEQ, 1234);
	flip(p, slot + 40);	/* time (a byte of a clock reading), crc not fixed */
	is_int(load_path(p, &m), -EBADMSG, "a descriptor with a bad crc: EBADMSG");
	fresh(p);
	peek(p, slot + S_OFF, &off, 8);
	flip(p, off + 4999);
	is_int(load_path(p, &m), -EBADMSG, "a flipped payload byte: EBADMSG");
	fresh(p);
	if (truncate(p, (off_t)(off + 100)))
		diag("truncate");
	is_int(load_path(p, &m), -EBADMSG, "the payload truncated: EBADMSG");
	fresh(p);
	v = 2;
	poke(p, GEN_OFF, &v, 8);
	v = ~2ULL;
	poke(p, GEN_OFF + 8, &v, 8);
	is_int(load_path(p, &m), -EBADMSG, "a generation naming a never-written slot: EBADMSG");
	{
		struct shmring_snap *w;

		shmring_snap_open(p, SHMRING_SNAP_WRITE, 0, &w);
		is_int(shmring_snap_publish(w, "ok", 2, 10), 0,
		       "a publisher repairs it: it writes the inactive slot");
		shmring_snap_close(w);
		is_int(load_path(p, &m), 0, "and the file loads again");
	}

	/* Random bytes anywhere, random truncations. */
	srand(777);
	for (i = 0; i < rounds; i++) {
		unsigned int k, n = 1 + rand() % 8;

		fresh(p);
		stat(p, &st);
		for (k = 0; k < n; k++) {
			unsigned char b = (unsigned char)rand();
			uint64_t at = rand() % 3 ? (uint64_t)(rand() % 192) :
				      (uint64_t)rand() % (uint64_t)st.st_size;

			poke(p, at, &b, 1);
		}
		if (rand() % 8 == 0 && truncate(p, rand() % st.st_size))
			diag("truncate");
		ret = load_path(p, &m);
		if (ret == 0)
			loaded++;
		else if (ret == -EBADMSG)
			badmsg++;
		else if (ret != -ENODATA && ret != -EMSGSIZE)
			unexpected++;
		if (ret == 0) {
			/* loaded means whole: the bytes published, nothing else */
			unsigned char want[5000];

			fill(want, sizeof(want), 9);
			if (m.len != 5000 || m.seq != 9 || memcmp(lbuf, want, 5000))
				unexpected++;
		}
	}
	is_int(unexpected, 0, "%u files with random bytes or truncated: EBADMSG (%u), "
	       "or a whole snapshot (%u), nothing else", rounds, badmsg, loaded);
	ok(badmsg > rounds / 2, "most of them are reported corrupt");
}

int main(void)
{
	char cmd[128];

	quick = !!getenv("SHMRING_TEST_QUICK");
	snprintf(dir, sizeof(dir), "/tmp/t_snapshot.XXXXXX");
	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	plan_no_plan();
	test_errors();
	test_roundtrip();
	test_hammer();
	test_threads_one_handle();
	test_kill();
	test_corrupt();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		diag("could not remove %s", dir);
	return done_testing();
}
