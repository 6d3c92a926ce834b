// SPDX-License-Identifier: GPL-2.0
/*
 * The capabilities ABI 1.0 added: seek, tap readers, read(2) with an
 * explicit commit, ownership changes and listing rings, and what
 * MADV_DONTNEED does to a mapping. (Permissions of SETATTR/LIST from other
 * users and namespaces are in t_owner.)
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"

#define EXPECT(expr, err, what) is_int((expr), -(err), "%s -> %s", what, #err)

static struct shmring *create(const char *name, uint64_t size, uint32_t policy)
{
	struct shmring_attr a = { .data_size = size, .policy = policy, .max_record = 256 };
	struct shmring *w;
	int ret;

	shmring_unlink(name);
	ret = shmring_open(name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
			   0644, &a, &w);
	if (ret)
		bail_out("create %s: %s", name, shmring_strerror(ret));
	return w;
}

static void put(struct shmring *w, uint64_t n)
{
	if (shmring_write(w, 1, &n, sizeof(n)) != sizeof(n))
		bail_out("write");
}

static uint64_t next_val(struct shmring *r, int *ret)
{
	struct shmring_record rec;
	uint64_t v = ~0ULL;

	*ret = shmring_peek(r, &rec);
	if (!*ret) {
		memcpy(&v, rec.data, sizeof(v));
		*ret = shmring_consume(r);
	}
	return v;
}

static void test_seek(void)
{
	struct shmring *w = create("t_feat_seek", 4096, SHMRING_POLICY_OVERWRITE);
	struct shmring_record rec;
	struct shmring *r;
	uint64_t i, t_mid = 0;
	int ret;

	for (i = 0; i < 10; i++) {
		if (i == 5) {
			struct timespec ts;

			clock_gettime(SHMRING_REC_CLOCK, &ts);
			t_mid = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		}
		put(w, i);
	}
	if (shmring_open("t_feat_seek", SHMRING_O_READ, 0, NULL, &r))
		bail_out("reader");
	is_int(shmring_seek(r, SHMRING_SEEK_END, 0), 0, "seek to the end");
	is_int(shmring_peek(r, &rec), -EAGAIN, "after END nothing is pending");
	put(w, 10);
	is_int(next_val(r, &ret), 10, "after END the next new record comes");
	is_int(shmring_seek(r, SHMRING_SEEK_OLDEST, 0), 0, "seek to the oldest");
	is_int(next_val(r, &ret), 0, "the oldest record comes first");
	is_int(shmring_seek(r, SHMRING_SEEK_SEQ, 7), 0, "seek to sequence 7");
	is_int(next_val(r, &ret), 7, "record 7 comes next");
	is_int(shmring_seek(r, SHMRING_SEEK_SEQ, 11), 0, "seek to head_seq = END");
	is_int(shmring_peek(r, &rec), -EAGAIN, "nothing after head_seq");
	EXPECT(shmring_seek(r, SHMRING_SEEK_SEQ, 12), ENOENT, "seek past head_seq");
	is_int(shmring_seek(r, SHMRING_SEEK_TIME, t_mid), 0, "seek to a time");
	is_int(next_val(r, &ret), 5, "the first record at or after that time");
	is_int(shmring_seek(r, SHMRING_SEEK_TIME, ~0ULL), 0, "seek to a time after all");
	is_int(shmring_peek(r, &rec), -EAGAIN, "nothing after the last time");
	EXPECT(shmring_seek(r, 9, 0), EINVAL, "seek with an unknown whence");
	/* Lap the reader far enough that record 0 is gone. */
	for (i = 0; i < 400; i++)
		put(w, 100 + i);
	EXPECT(shmring_seek(r, SHMRING_SEEK_SEQ, 0), ENOENT, "seek to a reclaimed record");
	is_int(shmring_lost(r), 0, "seeking counts nothing as lost");
	EXPECT(shmring_seek(w, SHMRING_SEEK_END, 0), EBADF, "seek on a writer handle (library)");
	{
		struct shmring_seek s = { .size = sizeof(s) };

		EXPECT(xioctl(shmring_fd(w), SHMRING_IOC_SEEK, &s), EBADF,
		       "SEEK ioctl on a writer fd");
	}
	shmring_close(r);
	shmring_close(w);
	shmring_unlink("t_feat_seek");
}

/* A subscription reset with seek stays where it was put. */
static void test_seek_sub(void)
{
	struct shmring *w = create("t_feat_seeksub", 4096, SHMRING_POLICY_LOSSLESS);
	struct shmring *r;
	int ret;

	put(w, 1);
	put(w, 2);
	if (shmring_subscribe("t_feat_seeksub", "s", 0, &r))
		bail_out("subscribe");
	is_int(shmring_seek(r, SHMRING_SEEK_END, 0), 0, "seek a subscription to the end");
	shmring_close(r);
	put(w, 3);
	if (shmring_subscribe("t_feat_seeksub", "s", 0, &r))
		bail_out("subscribe again");
	is_int(next_val(r, &ret), 3, "the subscription resumes where seek put it");
	shmring_close(r);
	shmring_close(w);
	shmring_unlink("t_feat_seeksub");
}

static void test_tap(void)
{
	struct shmring *w = create("t_feat_tap", 4096, SHMRING_POLICY_LOSSLESS);
	struct shmring *tap, *r;
	struct shmring_open o;
	uint64_t i, v, prev;
	int ret, fd;

	if (shmring_open("t_feat_tap", SHMRING_O_READ | SHMRING_O_TAP, 0, NULL, &tap))
		bail_out("tap");
	/* A lossless ring with only a tap never blocks: 400 x 48 B > 4 KiB. */
	if (shmring_open("t_feat_tap", SHMRING_O_WRITE | SHMRING_O_NONBLOCK, 0, NULL, &r))
		bail_out("nonblocking writer");
	for (i = 0, ret = 0; i < 400 && ret >= 0; i++)
		ret = shmring_write(r, 1, &i, sizeof(i));
	is_int(ret, sizeof(i), "a tap never holds a lossless writer back (400 records, 4 KiB ring)");
	prev = next_val(tap, &ret);
	ok(ret == 0 && prev > 0, "the lapped tap resumes at the oldest record (%llu)",
	   (unsigned long long)prev);
	is_int(shmring_lost(tap), prev, "the tap counts what it lost");
	v = next_val(tap, &ret);
	is_int(v, prev + 1, "and reads on in order");
	shmring_close(r);

	/* A normal reader beside the tap still holds writers back. */
	if (shmring_open("t_feat_tap", SHMRING_O_READ, 0, NULL, &r))
		bail_out("reader");
	fd = shmring_fd(w);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (i = 0, ret = 0; i < 400 && ret >= 0; i++)
		ret = shmring_write(w, 1, &i, sizeof(i));
	is_int(ret, -EAGAIN, "a normal reader beside the tap still holds the lossless writer");
	shmring_close(r);

	fd = dev_fd(O_RDWR);
	open_args(&o, "t_feat_tap", SHMRING_O_READ | SHMRING_O_TAP | SHMRING_O_SUB);
	strcpy(o.sub_name, "s");
	EXPECT(xioctl(fd, SHMRING_IOC_OPEN, &o), EINVAL, "OPEN TAP with SUB");
	open_args(&o, "t_feat_tap", SHMRING_O_WRITE | SHMRING_O_TAP);
	EXPECT(xioctl(fd, SHMRING_IOC_OPEN, &o), EINVAL, "OPEN TAP without READ");
	close(fd);
	shmring_close(tap);
	shmring_close(w);
	shmring_unlink("t_feat_tap");
}

static int sub_fd(const char *ring, const char *sub)
{
	struct shmring_open o;
	int fd = dev_fd(O_RDWR);

	open_args(&o, ring, SHMRING_O_READ | SHMRING_O_SUB);
	strcpy(o.sub_name, sub);
	if (xioctl(fd, SHMRING_IOC_OPEN, &o))
		bail_out("subscribe %s: %s", sub, strerror(errno));
	return fd;
}

static int set_commit(int fd, uint64_t on)
{
	struct shmring_opt opt = { .size = sizeof(opt), .opt = SHMRING_OPT_READ_COMMIT,
				   .val = on };

	return xioctl(fd, SHMRING_IOC_SET_OPT, &opt);
}

/* read(2) one record; its payload value. */
static uint64_t read_one(int fd)
{
	char buf[256];
	uint64_t v = ~0ULL;
	ssize_t n = read(fd, buf, sizeof(struct shmring_rec) + 8);

	if (n == (ssize_t)(sizeof(struct shmring_rec) + 8))
		memcpy(&v, buf + sizeof(struct shmring_rec), sizeof(v));
	return v;
}

static void test_read_commit(void)
{
	struct shmring *w = create("t_feat_commit", 4096, SHMRING_POLICY_LOSSLESS);
	uint64_t i;
	pid_t pid;
	int fd, st;

	for (i = 0; i < 4; i++)
		put(w, i);
	/* A reader that reads two records and dies before committing. */
	pid = fork();
	if (!pid) {
		fd = sub_fd("t_feat_commit", "c");
		if (set_commit(fd, 1) || read_one(fd) != 0 || read_one(fd) != 1)
			_exit(1);
		_exit(0);	/* no commit */
	}
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0, "READ_COMMIT: a reader reads ahead");
	fd = sub_fd("t_feat_commit", "c");
	is_int(set_commit(fd, 1), 0, "READ_COMMIT on");
	is_int(read_one(fd), 0, "what was read and not committed comes again (at least once)");
	is_int(read_one(fd), 1, "in order");
	is_int(xioctl(fd, SHMRING_IOC_COMMIT, NULL), 0, "COMMIT");
	close(fd);
	fd = sub_fd("t_feat_commit", "c");
	is_int(read_one(fd), 2, "after COMMIT the subscription resumes after what was committed");
	is_int(set_commit(fd, 1), 0, "READ_COMMIT on again");
	is_int(read_one(fd), 3, "reads ahead");
	{
		char buf[64];

		fcntl(fd, F_SETFL, O_NONBLOCK);
		is_int(read(fd, buf, sizeof(buf)) < 0 ? -errno : 0, -EAGAIN,
		       "nothing more to read ahead (nonblocking)");
	}
	is_int(set_commit(fd, 0), 0, "READ_COMMIT off drops the read-ahead");
	is_int(read_one(fd), 3, "so the uncommitted record comes again");
	EXPECT(xioctl(fd, SHMRING_IOC_COMMIT, NULL), EINVAL, "COMMIT without READ_COMMIT");
	{
		struct shmring_opt opt = { .size = sizeof(opt),
					   .opt = SHMRING_OPT_READ_COMMIT, .val = 2 };

		EXPECT(xioctl(fd, SHMRING_IOC_SET_OPT, &opt), EINVAL, "READ_COMMIT 2");
		EXPECT(xioctl(shmring_fd(w), SHMRING_IOC_SET_OPT, &opt), EBADF,
		       "READ_COMMIT on a writer");
		EXPECT(xioctl(shmring_fd(w), SHMRING_IOC_COMMIT, NULL), EBADF,
		       "COMMIT on a writer");
	}
	close(fd);
	shmring_close(w);
	shmring_unlink("t_feat_commit");
}

/*
 * COMMIT on an overwrite ring after a writer lapped the read-ahead: what
 * was read ahead counts lost (the writer counted it), -ESTALE, and
 * reading goes on from the oldest record.
 */
static void test_read_commit_lapped(void)
{
	struct shmring *w = create("t_feat_commit_lap", 4096, SHMRING_POLICY_OVERWRITE);
	struct shmring_info in = { .size = sizeof(in) };
	uint64_t i, v;
	int fd;

	for (i = 0; i < 4; i++)
		put(w, i);
	fd = sub_fd("t_feat_commit_lap", "c");
	is_int(set_commit(fd, 1), 0, "overwrite ring: READ_COMMIT on");
	is_int(read_one(fd), 0, "reads ahead record 0");
	is_int(read_one(fd), 1, "and 1");
	for (i = 4; i < 400; i++)	/* laps the subscription many times */
		put(w, i);
	EXPECT(xioctl(fd, SHMRING_IOC_COMMIT, NULL), ESTALE,
	       "COMMIT after a writer lapped what was read ahead");
	if (xioctl(fd, SHMRING_IOC_INFO, &in))
		bail_out("info");
	v = read_one(fd);
	ok(v == in.tail_seq && v > 1,
	   "reading goes on at the oldest record (%llu)", (unsigned long long)v);
	is_int(xioctl(fd, SHMRING_IOC_COMMIT, NULL), 0, "then COMMIT succeeds");
	close(fd);
	fd = sub_fd("t_feat_commit_lap", "c");
	is_int(read_one(fd), v + 1, "and the subscription resumes after it");
	close(fd);
	shmring_close(w);
	shmring_unlink("t_feat_commit_lap");
}

static void test_chown_list(void)
{
	struct shmring *w = create("t_feat_own", 4096, SHMRING_POLICY_OVERWRITE);
	struct shmring_ring_entry e[64];
	unsigned int total = 0, i;
	int n, found = -1;

	is_int(shmring_chmod("t_feat_own", 0640), 0, "chmod 0640");
	is_int(shmring_chown("t_feat_own", 1000, 1001), 0, "chown 1000:1001");
	n = shmring_list(e, 64, 0, &total);
	ok(n > 0 && (unsigned int)n == total, "list: %d of %u rings", n, total);
	for (i = 0; n > 0 && i < (unsigned int)n; i++)
		if (!strcmp(e[i].name, "t_feat_own"))
			found = (int)i;
	ok(found >= 0, "list shows the ring");
	if (found >= 0) {
		is_int(e[found].mode, 0640, "list: new mode");
		is_int(e[found].uid, 1000, "list: new owner");
		is_int(e[found].gid, 1001, "list: new group");
		is_int(e[found].attr.data_size, 4096, "list: size");
	}
	is_int(shmring_list(e, 0, 0, &total), 0, "list with no room fills nothing");
	ok(total >= 1, "but counts the rings (%u)", total);
	is_int(shmring_list(e, 64, total, NULL), 0, "skip past every ring: nothing");
	is_int(shmring_chown("t_feat_own", (uid_t)-1, (gid_t)-1), 0, "chown -1 -1 changes nothing");
	EXPECT(shmring_chown("t_feat_none", 0, 0), ENOENT, "chown a missing ring");
	EXPECT(shmring_chmod("t_feat_own", 01777), EINVAL, "chmod beyond 0777");
	EXPECT(shmring_chmod("a/b", 0600), EINVAL, "chmod a bad name");
	shmring_close(w);
	shmring_unlink("t_feat_own");
}

static sigjmp_buf jb;

static void on_bus(int sig)
{
	siglongjmp(jb, sig);
}

/* Read *p; SIGBUS if that raised it, else 0. */
static int touch(const volatile uint64_t *p)
{
	int sig = 0;

	signal(SIGBUS, on_bus);
	if (sigsetjmp(jb, 1) == 0)
		(void)*p;
	else
		sig = SIGBUS;
	signal(SIGBUS, SIG_DFL);
	return sig;
}

/* Documented: MADV_DONTNEED on a shmring mapping makes the next access SIGBUS. */
static void test_madv_dontneed(void)
{
	struct shmring *w = create("t_feat_madv", 4096, SHMRING_POLICY_OVERWRITE);
	struct shmring_info in = { .size = sizeof(in) };
	long pg = sysconf(_SC_PAGESIZE);
	int fd = raw_open("t_feat_madv", SHMRING_O_READ, 0, 0);
	unsigned char *p;

	if (fd < 0 || xioctl(fd, SHMRING_IOC_INFO, &in))
		bail_out("reader");
	p = mmap(NULL, in.map_ring_len, PROT_READ, MAP_SHARED, fd, in.map_ring_off);
	if (p == MAP_FAILED)
		bail_out("mmap");
	ok(((volatile struct shmring_hdr *)p)->magic == SHMRING_MAGIC, "mapped header");
	is_int(madvise(p, pg, MADV_DONTNEED), 0, "MADV_DONTNEED on the ring mapping");
	is_int(touch((const volatile uint64_t *)p), SIGBUS,
	       "the next access raises SIGBUS, as documented");
	munmap(p, in.map_ring_len);
	close(fd);
	shmring_close(w);
	shmring_unlink("t_feat_madv");
}

static void *blocking_read(void *arg)
{
	char buf[256];

	return (void *)(intptr_t)read(*(int *)arg, buf, sizeof(buf));
}

/*
 * Review bug 14: a blocking read(2) no longer sleeps holding the file's
 * read lock, so a nonblocking read of the same file returns at once
 * (before: it waited for the blocked one).
 */
static void test_read_nowait_beside_blocked(void)
{
	struct shmring *w = create("t_feat_nowait", 4096, SHMRING_POLICY_OVERWRITE);
	int fd = raw_open("t_feat_nowait", SHMRING_O_READ, 0, 0);
	char buf[256];
	uint64_t t0, took;
	pthread_t th;
	pid_t valve;
	void *ret;
	ssize_t n;

	if (fd < 0)
		bail_out("reader");
	pthread_create(&th, NULL, blocking_read, &fd);
	usleep(300000);		/* the thread now sleeps in read(2) */
	valve = fork();
	if (!valve) {	/* if the read below blocks (the bug), free it in 2 s */
		sleep(2);
		put(w, 43);
		_exit(0);
	}
	/* The sleeping read(2) decided it blocks when it started. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	t0 = now_mono_ns();
	n = read(fd, buf, sizeof(buf));
	took = now_mono_ns() - t0;
	is_int(n < 0 ? -errno : n, -EAGAIN,
	       "an O_NONBLOCK read beside a blocked read(2) of the same file -> EAGAIN");
	ok(took < 500000000ULL, "and it returns at once (%.1f ms)", took / 1e6);
	put(w, 42);
	pthread_join(th, &ret);
	is_int((intptr_t)ret, sizeof(struct shmring_rec) + 8,
	       "the blocked read(2) gets the record written next");
	waitpid(valve, NULL, 0);
	close(fd);
	shmring_close(w);
	shmring_unlink("t_feat_nowait");
}

static void test_features(void)
{
	struct shmring_features f;

	is_int(shmring_features(&f), 0, "shmring_features()");
	ok((f.features & (SHMRING_FEAT_TAP | SHMRING_FEAT_SEEK | SHMRING_FEAT_READ_COMMIT |
			  SHMRING_FEAT_SETATTR | SHMRING_FEAT_LIST)) ==
	   (SHMRING_FEAT_TAP | SHMRING_FEAT_SEEK | SHMRING_FEAT_READ_COMMIT |
	    SHMRING_FEAT_SETATTR | SHMRING_FEAT_LIST), "every new capability is announced");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	plan_no_plan();
	test_features();
	test_seek();
	test_seek_sub();
	test_tap();
	test_read_commit();
	test_read_commit_lapped();
	test_chown_list();
	test_madv_dontneed();
	test_read_nowait_beside_blocked();
	return done_testing();
}
