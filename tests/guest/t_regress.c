// SPDX-License-Identifier: GPL-2.0
/*
 * Regressions from the hostile review of issue 9, each written to fail on
 * the kernel before the fix:
 *   5  read(2) got a spurious EINVAL when a writer lapped the reader during
 *      the call;
 *   6  a writer whose source faults (userfaultfd here, a stuck FUSE file in
 *      the wild) held wlock: every later open of the ring slept
 *      uninterruptibly;
 *   7  shmring_lock was held across a whole ring's allocation: every open
 *      in every namespace waited for it;
 *   9  a new reader's start position and its attach were not atomic: on a
 *      busy lossless ring it could start lapped;
 *  11  the ring's records_lost over-counted records a reader consumed while
 *      the writer reclaimed: counters must be exact, for a consuming
 *      reader, a read(2) reader, and a subscription whose readers are
 *      killed at random while a writer laps them.
 *
 * usage: t_regress [seconds per streaming case] (default 2)
 */
#include <linux/userfaultfd.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

static double secs = 2;

static struct shmring *create(const char *name, uint64_t size, uint32_t policy,
			      uint32_t max_record)
{
	struct shmring_attr a = { .data_size = size, .policy = policy,
				  .max_record = max_record };
	struct shmring *w;
	int ret;

	shmring_unlink(name);
	ret = shmring_open(name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
			   0600, &a, &w);
	if (ret)
		bail_out("create %s: %s", name, shmring_strerror(ret));
	return w;
}

/* A child that writes batches of random small records until killed. */
static pid_t start_blaster(const char *name, int lossless)
{
	pid_t pid = fork();
	struct shmring_msg m[32];
	char buf[32][600];
	struct shmring *w;
	int i;

	if (pid)
		return pid;
	if (shmring_open(name, SHMRING_O_WRITE, 0, NULL, &w))
		_exit(2);
	srand(getpid());
	for (;;) {
		int n = 1 + rand() % 32;

		for (i = 0; i < n; i++) {
			m[i].data = buf[i];
			m[i].len = 1 + rand() % (lossless ? 64 : 500);
			m[i].type = 1;
			memset(buf[i], 'a' + i, m[i].len);
		}
		if (shmring_write_batch(w, m, n) < 0)
			_exit(3);
	}
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- 5: read(2) while a writer laps the reader --------------------------- */

static void test_read_lapped(void)
{
	static char buf[64 << 10];
	struct shmring *w = create("t_regress5", 16384, SHMRING_POLICY_OVERWRITE, 1024);
	uint64_t end = now_mono_ns() + (uint64_t)(secs * 1e9), reads = 0, einval = 0;
	int fd = raw_open("t_regress5", SHMRING_O_READ, 0, 0);
	pid_t pid;
	ssize_t n;

	if (fd < 0)
		bail_out("reader: %s", strerror(-fd));
	pid = start_blaster("t_regress5", 0);
	while (now_mono_ns() < end) {
		/* A small buffer keeps the call short; a large one long. */
		n = read(fd, buf, reads & 1 ? sizeof(buf) : 2048);
		if (n < 0 && errno == EINVAL)
			einval++;
		else if (n < 0 && errno != EMSGSIZE)
			bail_out("read: %s", strerror(errno));
		reads++;
	}
	stop(pid);
	is_int(einval, 0, "5: read(2) lapped by a writer never fails with EINVAL (%llu reads)",
	       (unsigned long long)reads);
	close(fd);
	shmring_close(w);
	shmring_unlink("t_regress5");
}

/*
 * ---- 9: a new reader of a busy lossless ring never starts lapped ---------
 * Three processes open readers as fast as they can while a writer and a
 * draining reader keep the tail moving; each new reader consumes its
 * first record and must have lost none. (Before the fix: 11 lapped in
 * 62075 opens over 15 s.)
 */

static void test_attach_atomic(void)
{
	struct shmring *w = create("t_regress9", 4096, SHMRING_POLICY_LOSSLESS, 0);
	uint64_t end = now_mono_ns() + (uint64_t)(secs * 1e9), opens = 0, lapped = 0;
	struct shmring_record rec;
	struct shmring *keep, *r;
	pid_t blaster, drainer;
	int ret;

	/* One reader drains all the time, so the tail keeps moving. */
	if (shmring_open("t_regress9", SHMRING_O_READ, 0, NULL, &keep))
		bail_out("reader");
	blaster = start_blaster("t_regress9", 1);
	drainer = fork();
	if (!drainer) {
		for (;;) {
			while (shmring_peek(keep, &rec) == 0)
				shmring_consume(keep);
			shmring_wait(keep, 100);
		}
	}
	{
		int k, p[2], st;
		uint64_t got[2];

		if (pipe(p))
			bail_out("pipe");
		for (k = 0; k < 3; k++) {
			if (fork() == 0) {
				got[0] = got[1] = 0;
				while (now_mono_ns() < end) {
					ret = shmring_open("t_regress9", SHMRING_O_READ, 0, NULL, &r);
					if (ret)
						_exit(3);
					ret = shmring_peek(r, &rec);
					if (ret == 0 && (shmring_consume(r), shmring_lost(r)))
						got[1]++;
					shmring_close(r);
					got[0]++;
				}
				if (write(p[1], got, sizeof(got)) != sizeof(got))
					_exit(4);
				_exit(0);
			}
		}
		for (k = 0; k < 3; k++) {
			if (read(p[0], got, sizeof(got)) == sizeof(got)) {
				opens += got[0];
				lapped += got[1];
			}
			wait(&st);
		}
	}
	stop(blaster);
	stop(drainer);
	is_int(lapped, 0, "9: no new reader of a busy lossless ring starts lapped (%llu opens)",
	       (unsigned long long)opens);
	shmring_close(keep);
	shmring_close(w);
	shmring_unlink("t_regress9");
}

/*
 * ---- 11: the loss counters add up ---------------------------------------
 *
 * A reader that is stopped while a writer laps it, one that consumes in
 * place while the writer laps it, one that uses read(2), and a durable
 * subscription whose readers are killed at random: the ring's
 * records_lost, the reader's own count and written - read agree exactly.
 * Each record is decided once, by a swap of the reader's pos that either
 * the reader's commit or the writer's lap wins (docs/design.md, "Counting
 * losses"); before, the two sides differed by 0.003% to 1.3%.
 */
static void test_lost_exact(void)
{
	struct shmring *w = create("t_regress11", 8192, SHMRING_POLICY_OVERWRITE, 512);
	uint64_t end, got = 0, got1, stale = 0;
	struct shmring_record rec;
	struct shmring_info in;
	struct shmring *r;
	pid_t blaster;
	long long diff;
	int ret, i;

	if (shmring_open("t_regress11", SHMRING_O_READ, 0, NULL, &r))
		bail_out("reader");
	/* Stopped reader: write 3 rings' worth, then read what is left. */
	for (i = 0; i < 600; i++)
		if (shmring_write(w, 1, "0123456789abcdef0123456789abcdef", 32) != 32)
			bail_out("write");
	while (shmring_peek(r, &rec) == 0 && shmring_consume(r) == 0)
		got++;
	if (shmring_info(r, &in))
		bail_out("info");
	is_int(in.records_lost, 600 - got,
	       "11: stopped reader: the ring lost exactly written - read (%llu)",
	       (unsigned long long)in.records_lost);
	is_int(shmring_lost(r), in.records_lost,
	       "11: stopped reader: its own count agrees with the ring's");

	/* Consuming reader. */
	got1 = got;
	got = 0;
	end = now_mono_ns() + (uint64_t)(secs * 1e9);
	blaster = start_blaster("t_regress11", 0);
	while (now_mono_ns() < end) {
		ret = shmring_peek(r, &rec);
		if (ret == -EAGAIN)
			continue;
		if (ret)
			bail_out("peek: %s", shmring_strerror(ret));
		ret = shmring_consume(r);
		if (ret == 0)
			got++;
		else if (ret == -ESTALE)
			stale++;
		else
			bail_out("consume: %s", shmring_strerror(ret));
	}
	stop(blaster);
	while (shmring_peek(r, &rec) == 0) {
		if (shmring_consume(r) == 0)
			got++;
		else
			stale++;
	}
	if (shmring_info(r, &in))
		bail_out("info");
	is_int(got1 + got + shmring_lost(r), in.records_written,
	       "11: consuming reader: every record was read or counted lost (%llu written, %llu stale)",
	       (unsigned long long)in.records_written, (unsigned long long)stale);
	diff = (long long)in.records_lost - (long long)shmring_lost(r);
	ok(diff == 0,
	   "11: consuming reader: the ring's records_lost %llu = the reader's %llu (%llu read, %llu held when lapped)",
	   (unsigned long long)in.records_lost, (unsigned long long)shmring_lost(r),
	   (unsigned long long)(got1 + got), (unsigned long long)stale);
	shmring_close(r);
	shmring_close(w);
	shmring_unlink("t_regress11");
}

/* read= and lost= of the /proc/shmring line of cursor @what @name. */
static int proc_counts(const char *ring, const char *what, const char *name,
		       uint64_t *read, uint64_t *lost)
{
	char line[1024], want[128], key[160];
	FILE *f = fopen("/proc/shmring", "r");
	int in = 0, found = 0;

	if (!f)
		return -1;
	snprintf(key, sizeof(key), "ring %s ", ring);
	snprintf(want, sizeof(want), "  %s %s ", what, name);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "ring ", 5))
			in = !strncmp(line, key, strlen(key));
		else if (in && !strncmp(line, want, strlen(want))) {
			const char *r = strstr(line, " read="), *l = strstr(line, " lost=");

			if (r && l) {
				*read = strtoull(r + 6, NULL, 10);
				*lost = strtoull(l + 6, NULL, 10);
				found = 1;
			}
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

/* read(2) while a writer laps it: the gaps it sees are the ring's losses. */
static void test_lost_exact_read(void)
{
	struct shmring *w = create("t_regress11r", 8192, SHMRING_POLICY_OVERWRITE, 512);
	uint64_t end, got = 0, gaps = 0, next = 0, rd = 0, lost = 0;
	static char buf[4096];
	struct shmring_info in;
	pid_t blaster;
	ssize_t n;
	int fd, ret, bad = 0;

	fd = raw_open("t_regress11r", SHMRING_O_READ, 0, 0);
	if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK))
		bail_out("open for read(2)");
	end = now_mono_ns() + (uint64_t)(secs * 1e9);
	blaster = start_blaster("t_regress11r", 0);
	for (;;) {
		int drain = now_mono_ns() >= end;

		if (drain && blaster) {
			stop(blaster);
			blaster = 0;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN) {
			if (drain)
				break;
			continue;
		}
		if (n <= 0)
			bail_out("read: %s", n ? strerror(errno) : "EOF");
		for (size_t off = 0; off < (size_t)n;) {
			struct shmring_rec h;

			memcpy(&h, buf + off, sizeof(h));
			if (h.seq < next || SHMRING_REC_TOTAL(h.len) > (size_t)n - off) {
				bad++;
				break;
			}
			gaps += h.seq - next;
			next = h.seq + 1;
			got++;
			off += SHMRING_REC_TOTAL(h.len);
		}
	}
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	if (xioctl(fd, SHMRING_IOC_INFO, &in))
		bail_out("info");
	ok(!bad && got + gaps == in.records_written && gaps == in.records_lost,
	   "11: read(2) reader: %llu read + %llu in gaps = %llu written; ring lost %llu",
	   (unsigned long long)got, (unsigned long long)gaps,
	   (unsigned long long)in.records_written, (unsigned long long)in.records_lost);
	ret = proc_counts("t_regress11r", "reader", "-", &rd, &lost);
	ok(ret == 0 && rd == got && lost == gaps,
	   "11: read(2) reader: its page says the same (read %llu, lost %llu)",
	   (unsigned long long)rd, (unsigned long long)lost);
	close(fd);
	shmring_close(w);
	shmring_unlink("t_regress11r");
}

/* A subscriber that consumes until it is killed. */
static pid_t start_subscriber(const char *ring)
{
	struct shmring_record rec;
	struct shmring *r;
	pid_t pid = fork();

	if (pid)
		return pid;
	if (shmring_subscribe(ring, "s", 0, &r))
		_exit(2);
	for (;;) {
		if (shmring_peek(r, &rec) == 0)
			shmring_consume(r);
	}
}

/*
 * Kill torture: subscribers killed at random instants (in consume, in
 * peek, between) while the writer laps them and while nobody is attached.
 */
static void test_lost_exact_kill(void)
{
	struct shmring *w = create("t_regress11k", 8192, SHMRING_POLICY_OVERWRITE, 512);
	uint64_t end, kills = 0, rd = 0, lost = 0;
	struct shmring_record rec;
	struct shmring_info in;
	struct shmring *r;
	pid_t blaster, sub;
	int ret;

	if (shmring_subscribe("t_regress11k", "s", 0, &r))
		bail_out("subscribe");
	shmring_close(r);
	srand(11);
	end = now_mono_ns() + (uint64_t)(secs * 1e9);
	blaster = start_blaster("t_regress11k", 0);
	while (now_mono_ns() < end) {
		sub = start_subscriber("t_regress11k");
		usleep(1000 + (unsigned int)(rand() % 20000));
		stop(sub);
		kills++;
		if (rand() % 4 == 0)
			usleep((unsigned int)(rand() % 5000));	/* lapped detached */
	}
	stop(blaster);
	if (shmring_subscribe("t_regress11k", "s", 0, &r))
		bail_out("subscribe");
	while (shmring_peek(r, &rec) == 0)
		shmring_consume(r);
	if (shmring_info(r, &in))
		bail_out("info");
	ret = proc_counts("t_regress11k", "reader", "s", &rd, &lost);
	ok(ret == 0 && rd + lost == in.records_written && lost == in.records_lost && lost > 0,
	   "11: %llu subscribers killed: read %llu + lost %llu = written %llu; ring lost %llu",
	   (unsigned long long)kills, (unsigned long long)rd, (unsigned long long)lost,
	   (unsigned long long)in.records_written, (unsigned long long)in.records_lost);
	shmring_close(r);
	shmring_close(w);
	shmring_unlink("t_regress11k");
}

/* ---- 6: a writer stuck in a page fault does not hold the ring ------------- */

struct stuck {
	int ringfd;
	void *page;
	ssize_t ret;
};

static void *stuck_writer(void *arg)
{
	struct stuck *s = arg;

	s->ret = write(s->ringfd, s->page, 100);
	return NULL;
}

/* Wait up to @ms for @pid; 1 if it exited with status 0. */
static int wait_ok(pid_t pid, int ms)
{
	int st, i;

	for (i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		usleep(10000);
	}
	return 0;
}

static void test_fault_outside_wlock(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage zp = { 0 };
	struct shmring *w = create("t_regress6", 16384, SHMRING_POLICY_LOSSLESS, 0);
	long pg = sysconf(_SC_PAGESIZE);
	struct stuck s = { .ret = -2 };
	pthread_t th;
	pid_t opener;
	int uffd, opened;

	uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC);
	if (uffd < 0) {
		skip(3, "6: no userfaultfd in this kernel (%s)", strerror(errno));
		shmring_close(w);
		shmring_unlink("t_regress6");
		return;
	}
	s.page = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s.page == MAP_FAILED || ioctl(uffd, UFFDIO_API, &api))
		bail_out("userfaultfd setup: %s", strerror(errno));
	reg.range.start = (uintptr_t)s.page;
	reg.range.len = pg;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		bail_out("UFFDIO_REGISTER: %s", strerror(errno));
	s.ringfd = shmring_fd(w);
	pthread_create(&th, NULL, stuck_writer, &s);
	usleep(300000);	/* the writer is now asleep in the fault */

	opener = fork();
	if (!opener) {
		struct shmring *r;

		_exit(shmring_open("t_regress6", SHMRING_O_READ, 0, NULL, &r) ? 1 : 0);
	}
	opened = wait_ok(opener, 3000);
	ok(opened, "6: a reader opens the ring while a writer is stuck in a page fault");
	if (!opened) {
		/* Stuck on wlock: before the fix, even SIGKILL cannot end it. */
		kill(opener, SIGKILL);
		ok(wait_ok(opener, 1000) || 1, "6: (opener killed)");
	} else {
		ok(1, "6: (opener not stuck)");
	}
	/* Resolve the fault: the writer completes its record. */
	zp.range.start = (uintptr_t)s.page;
	zp.range.len = pg;
	if (ioctl(uffd, UFFDIO_ZEROPAGE, &zp))
		bail_out("UFFDIO_ZEROPAGE: %s", strerror(errno));
	pthread_join(th, NULL);
	is_int(s.ret, 100, "6: the stuck writer's record is committed once its page arrives");
	if (!opened)
		waitpid(opener, NULL, 0);
	close(uffd);
	munmap(s.page, pg);
	shmring_close(w);
	shmring_unlink("t_regress6");
}

/* ---- 7: allocating a big ring does not stall opens elsewhere -------------- */

struct creator {
	uint64_t ns;
	int ret;
};

static void *create_big(void *arg)
{
	struct shmring_attr a = { .data_size = 256ULL << 20 };
	struct creator *c = arg;
	uint64_t t0 = now_mono_ns();
	struct shmring *w;

	c->ret = shmring_open("t_regress7_big", SHMRING_O_CREAT | SHMRING_O_WRITE,
			      0600, &a, &w);
	c->ns = now_mono_ns() - t0;
	if (!c->ret)
		shmring_close(w);
	return NULL;
}

static void test_alloc_outside_lock(void)
{
	char max_size[32], max_user[32], max_total[32];
	struct creator c = { 0 };
	struct shmring *small = create("t_regress7", 4096, SHMRING_POLICY_OVERWRITE, 0);
	uint64_t worst = 0, t0, t, opens = 0;
	struct shmring *r;
	pthread_t th;
	int ret;

	param_get("max_size", max_size, sizeof(max_size));
	param_get("max_user", max_user, sizeof(max_user));
	param_get("max_total", max_total, sizeof(max_total));
	param_set("max_size", "268435456");
	param_set("max_user", "1073741824");
	param_set("max_total", "1073741824");
	shmring_unlink("t_regress7_big");
	pthread_create(&th, NULL, create_big, &c);
	usleep(2000);
	do {
		t0 = now_mono_ns();
		ret = shmring_open("t_regress7", SHMRING_O_READ, 0, NULL, &r);
		t = now_mono_ns() - t0;
		if (ret)
			bail_out("open: %s", shmring_strerror(ret));
		shmring_close(r);
		if (t > worst)
			worst = t;
		opens++;
	} while (!c.ns);
	pthread_join(th, NULL);
	is_int(c.ret, 0, "7: a 256 MiB ring is created");
	diag("7: creating it took %.1f ms; the slowest of %llu opens meanwhile %.1f ms",
	     c.ns / 1e6, (unsigned long long)opens, worst / 1e6);
	ok(worst * 4 < c.ns,
	   "7: opens of another ring never wait for the allocation (worst %.1f ms < a quarter of %.1f ms)",
	   worst / 1e6, c.ns / 1e6);
	shmring_unlink("t_regress7_big");
	param_set("max_size", max_size);
	param_set("max_user", max_user);
	param_set("max_total", max_total);
	shmring_close(small);
	shmring_unlink("t_regress7");
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		secs = atof(argv[1]);
	if (getenv("ONLY9")) {	/* t_regress SECS with ONLY9=1: case 9 alone */
		plan(1);
		test_attach_atomic();
		return done_testing();
	}
	plan(14);
	test_read_lapped();
	test_attach_atomic();
	test_lost_exact();
	test_lost_exact_read();
	test_lost_exact_kill();
	test_fault_outside_wlock();
	test_alloc_outside_lock();
	return done_testing();
}
