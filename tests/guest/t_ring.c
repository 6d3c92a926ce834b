// SPDX-License-Identifier: GPL-2.0
/*
 * The ring's behaviour through libshmring: framing, the three write
 * paths, in-place and read(2) readers, policies, durable subscriptions,
 * poll, unlink while mapped, zeroed memory, crash survival, /proc view.
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

static struct shmring *create(const char *name, uint64_t size, uint32_t policy,
			      uint32_t flags, unsigned int oflags)
{
	struct shmring_attr a = { .data_size = size, .policy = policy, .flags = flags };
	struct shmring *r;
	int ret;

	shmring_unlink(name);
	ret = shmring_open(name, SHMRING_O_CREAT | SHMRING_O_EXCL | oflags, 0600, &a, &r);
	if (ret)
		bail_out("create %s: %s", name, shmring_strerror(ret));
	return r;
}

static struct shmring *reader(const char *name, unsigned int flags)
{
	struct shmring *r;
	int ret = shmring_open(name, SHMRING_O_READ | flags, 0, NULL, &r);

	if (ret)
		bail_out("open reader %s: %s", name, shmring_strerror(ret));
	return r;
}

/* Consume every pending record; returns how many, checks seq continuity. */
static int drain(struct shmring *r, uint64_t *next_seq, int *gaps)
{
	struct shmring_record rec;
	int n = 0;

	while (shmring_peek(r, &rec) == 0) {
		if (next_seq) {
			if (rec.seq != *next_seq && gaps)
				(*gaps)++;
			*next_seq = rec.seq + 1;
		}
		shmring_consume(r);
		n++;
	}
	return n;
}

static void test_framing(void)
{
	struct shmring *w = create("t_frame", 65536, SHMRING_POLICY_OVERWRITE,
				   SHMRING_ATTR_CSUM, SHMRING_O_WRITE);
	struct shmring *r = reader("t_frame", 0);
	struct iovec iov[3] = { { "ab", 2 }, { "", 0 }, { "cde", 3 } };
	struct shmring_msg msgs[3] = { { "m0", 2, 10 }, { "m11", 3, 11 }, { "", 0, 12 } };
	struct shmring_record rec;
	uint64_t t0 = realtime_ns(), t1, b0 = clock_ns(SHMRING_REC_CLOCK), b1;
	int i, fine = 1;

	is_int(shmring_write(w, 7, "hello", 5), 5, "write returns the payload length");
	is_int(shmring_writev(w, 8, iov, 3), 5, "writev gathers one record");
	is_int(shmring_write_batch(w, msgs, 3), 3, "batch writes three records");
	is_int(shmring_write(w, 9, "", 0), 0, "zero-length record");
	t1 = realtime_ns();
	b1 = clock_ns(SHMRING_REC_CLOCK);

	is_int(shmring_peek(r, &rec), 0, "peek the first record");
	ok(rec.len == 5 && !memcmp(rec.data, "hello", 5) && rec.type == 7 &&
	   rec.seq == 0, "first record: payload, type 7, seq 0");
	is_int(rec.pid, getpid(), "pid is the writer's");
	ok(rec.tstamp_ns >= b0 && rec.tstamp_ns <= b1,
	   "timestamp is CLOCK_BOOTTIME (SHMRING_REC_CLOCK) of the write");
	ok(rec.realtime_ns >= t0 - 1000000ULL && rec.realtime_ns <= t1 + 1000000ULL,
	   "realtime_ns is the CLOCK_REALTIME of the write (within 1 ms)");
	ok(rec.flags & SHMRING_REC_CSUM, "checksum flag set on a CSUM ring");
	ok(shmring_record_csum_ok(&rec), "crc32c matches the payload");
	ok(((uintptr_t)rec.data & 7) == 0, "payload is 8-byte aligned");
	is_int(shmring_consume(r), 0, "consume");
	is_int(shmring_peek(r, &rec), 0, "peek the writev record");
	ok(rec.len == 5 && !memcmp(rec.data, "abcde", 5) && rec.type == 8 && rec.seq == 1,
	   "writev record is one record of the gathered bytes, type 8");
	shmring_consume(r);
	for (i = 0; i < 3; i++) {
		if (shmring_peek(r, &rec) || rec.type != msgs[i].type ||
		    rec.len != msgs[i].len || memcmp(rec.data, msgs[i].data, rec.len) ||
		    rec.seq != (uint64_t)(2 + i) || !shmring_record_csum_ok(&rec))
			fine = 0;
		shmring_consume(r);
	}
	ok(fine, "batch records in order with their types and checksums");
	is_int(shmring_peek(r, &rec), 0, "peek zero-length record");
	ok(rec.len == 0 && rec.seq == 5 && rec.type == 9, "zero-length record framed");
	shmring_consume(r);
	is_int(shmring_peek(r, &rec), -EAGAIN, "nothing more: -EAGAIN");
	is_int(shmring_consume(r), -EINVAL, "consume without a peeked record: -EINVAL");
	{
		struct shmring *none;

		errno = 12345;
		is_int(shmring_open("t_frame_missing", SHMRING_O_READ, 0, NULL, &none), -ENOENT,
		       "a failing call returns -ENOENT");
		is_int(errno, 12345, "and leaves errno as it was");
		is_int(shmring_subscribe("t_frame", "s", SHMRING_O_CREAT, &none), -EINVAL,
		       "subscribe refuses flags other than FROM_HEAD/NONBLOCK");
	}
	shmring_close(r);
	shmring_close(w);
	shmring_unlink("t_frame");
}

static void test_read_syscall_and_independence(void)
{
	struct shmring *w = create("t_indep", 16384, SHMRING_POLICY_OVERWRITE, 0,
				   SHMRING_O_WRITE);
	struct shmring *a = reader("t_indep", 0), *late;
	int fd = raw_open("t_indep", SHMRING_O_READ, 0, 0);
	char buf[4096];
	uint64_t seq = 0;
	int gaps = 0, i, count = 0;
	ssize_t got;
	size_t off;

	for (i = 0; i < 10; i++)
		shmring_write(w, 1, &i, sizeof(i));
	is_int(drain(a, &seq, &gaps), 10, "reader A consumes 10 records");
	got = read(fd, buf, sizeof(buf));
	for (off = 0; got > 0 && off < (size_t)got; count++) {
		struct shmring_rec *h = (struct shmring_rec *)(buf + off);

		if (h->seq != (uint64_t)count || h->len != sizeof(int) ||
		    *(int *)(h + 1) != count)
			break;
		off += SHMRING_REC_TOTAL(h->len);
	}
	is_int(count, 10, "read(2) reader B still gets all 10 whole records");
	ok(got == 10 * (ssize_t)SHMRING_REC_TOTAL(sizeof(int)), "read(2) returns whole records only");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	is_int(read(fd, buf, sizeof(buf)) < 0 ? -errno : 0, -EAGAIN, "read(2) on a drained reader with O_NONBLOCK -> EAGAIN");
	late = reader("t_indep", SHMRING_O_FROM_HEAD);
	shmring_write(w, 1, "new", 3);
	seq = 10;
	is_int(drain(late, &seq, &gaps), 1, "a FROM_HEAD reader sees only new records");
	is_int(gaps, 0, "no sequence gaps");
	shmring_close(late);
	shmring_close(a);
	close(fd);
	shmring_close(w);
	shmring_unlink("t_indep");
}

static void test_overwrite_lap(void)
{
	struct shmring *w = create("t_lap", 4096, SHMRING_POLICY_OVERWRITE, 0,
				   SHMRING_O_WRITE);
	struct shmring *r = reader("t_lap", 0);
	struct shmring_info in;
	struct shmring_record rec;
	char payload[100];
	uint64_t expect;
	int i, torn = 0, n = 0;

	for (i = 0; i < 200; i++) {
		memset(payload, 'a' + i % 26, sizeof(payload));
		memcpy(payload, &i, sizeof(i));
		shmring_write(w, 0, payload, sizeof(payload));
	}
	shmring_info(w, &in);
	is_int(shmring_peek(r, &rec), 0, "a lapped reader still finds a record");
	expect = in.tail_seq;
	is_int(rec.seq, expect, "it resumes at the oldest record (tail)");
	while (shmring_peek(r, &rec) == 0) {
		int v;

		memcpy(&v, rec.data, sizeof(v));
		if ((uint64_t)v != rec.seq || ((const char *)rec.data)[99] != 'a' + v % 26)
			torn++;
		shmring_consume(r);
		n++;
	}
	is_int(torn, 0, "no torn record is returned as valid");
	is_int(shmring_lost(r), expect, "the reader learns exactly how many it lost");
	is_int(in.records_lost, expect, "the ring's lost counter agrees");
	is_int(n + (int)expect, 200, "lost + read = written");
	shmring_close(r);
	shmring_close(w);
	shmring_unlink("t_lap");
}

static void test_lossless(void)
{
	struct shmring *w = create("t_lossless", 4096, SHMRING_POLICY_LOSSLESS, 0,
				   SHMRING_O_WRITE | SHMRING_O_NONBLOCK);
	struct shmring *r = reader("t_lossless", 0);
	struct shmring_info in;
	char payload[200] = { 0 };
	int i, n = 0, ret, status, gaps = 0;
	uint64_t seq = 0;
	struct pollfd pfd = { .fd = shmring_fd(w), .events = POLLOUT };
	pid_t pid;

	while ((ret = shmring_write(w, 0, payload, sizeof(payload))) > 0)
		n++;
	is_int(ret, -EAGAIN, "a full lossless ring gives EAGAIN to a non-blocking writer");
	ok(n > 10 && n < 20, "the ring took %d records before blocking", n);
	shmring_info(w, &in);
	ok(in.writer_waits >= 1, "writer_waits counted");
	is_int(poll(&pfd, 1, 0), 0, "no POLLOUT while full");
	/* A blocking writer in a child waits until the reader consumes. */
	pid = fork();
	if (pid == 0) {
		struct shmring *bw;

		if (shmring_open("t_lossless", SHMRING_O_WRITE, 0, NULL, &bw))
			_exit(2);
		for (i = 0; i < 20; i++)
			if (shmring_write(bw, 1, payload, sizeof(payload)) != sizeof(payload))
				_exit(3);
		_exit(0);
	}
	usleep(200000);
	ok(waitpid(pid, &status, WNOHANG) == 0, "the blocking writer is asleep");
	for (i = 0; i < 200 && waitpid(pid, &status, WNOHANG) == 0; i++) {
		drain(r, &seq, &gaps);
		usleep(10000);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "consuming in place woke the blocked writer (kick), all 20 written");
	drain(r, &seq, &gaps);
	is_int(seq, n + 20, "the reader saw every record");
	is_int(gaps, 0, "without any gap");
	is_int(poll(&pfd, 1, 0), 1, "POLLOUT once there is room");
	shmring_close(r);
	/* No reader attached: a lossless ring does not block. */
	for (i = 0; i < 100; i++)
		if (shmring_write(w, 0, payload, sizeof(payload)) < 0)
			break;
	is_int(i, 100, "with no reader attached nothing blocks");
	shmring_close(w);
	shmring_unlink("t_lossless");
}

static void test_subscriptions(void)
{
	struct shmring *w = create("t_subs", 4096, SHMRING_POLICY_LOSSLESS, 0,
				   SHMRING_O_WRITE | SHMRING_O_NONBLOCK);
	struct shmring *s, *s2;
	struct shmring_sub_info subs[4];
	struct shmring_record rec;
	unsigned int total = 0;
	char payload[200] = { 0 };
	int i, ret;

	is_int(shmring_subscribe("t_subs", "durable", 0, &s), 0, "create a durable subscription");
	is_int(shmring_subscribe("t_subs", "durable", 0, &s2), -EBUSY,
	       "a second reader on the same subscription -> EBUSY");
	for (i = 0; i < 10; i++)
		shmring_write(w, 0, &i, sizeof(i));
	for (i = 0; i < 3; i++) {
		shmring_peek(s, &rec);
		shmring_consume(s);
	}
	shmring_close(s);
	is_int(shmring_subscribe("t_subs", "durable", 0, &s), 0, "re-attach");
	is_int(shmring_peek(s, &rec), 0, "peek after re-attach");
	is_int(rec.seq, 3, "it resumes right after the last consumed record");
	shmring_close(s);
	/* Detached, it still holds writers back in a lossless ring. */
	for (i = 0; i < 100; i++)
		if ((ret = shmring_write(w, 0, payload, sizeof(payload))) < 0)
			break;
	is_int(ret, -EAGAIN, "a detached subscription holds a lossless writer");
	is_int(shmring_sub_list(w, subs, 4, &total), 1, "list shows it");
	ok(total == 1 && !strcmp(subs[0].name, "durable") && !subs[0].attached &&
	   subs[0].seq == 3, "listed with its name, position and detached state");
	is_int(shmring_sub_delete(w, "durable"), 0, "delete it");
	is_int(shmring_sub_list(w, subs, 4, &total), 0, "the list is empty");
	is_int(shmring_write(w, 0, payload, sizeof(payload)), (int)sizeof(payload),
	       "the writer proceeds once it is deleted");
	shmring_close(w);
	shmring_unlink("t_subs");
}

static void test_poll_and_unlink(void)
{
	struct shmring *w = create("t_poll", 8192, SHMRING_POLICY_OVERWRITE, 0,
				   SHMRING_O_WRITE);
	struct shmring *r = reader("t_poll", 0);
	struct pollfd pfd = { .fd = shmring_fd(r), .events = POLLIN };
	struct shmring_record rec;
	struct shmring *again;
	struct shmring_info in;
	const unsigned char *map;
	int i, zero = 1;

	shmring_info(r, &in);
	map = mmap(NULL, in.map_ring_len, PROT_READ, MAP_SHARED, shmring_fd(r),
		   (off_t)in.map_ring_off);
	for (i = (int)in.page_size; i < (int)in.map_ring_len; i++)
		if (map[i])
			zero = 0;
	ok(zero, "a new ring's data pages are zeroed");
	is_int(poll(&pfd, 1, 0), 0, "no POLLIN on an empty ring");
	is_int(shmring_wait(r, 10), -ETIMEDOUT, "shmring_wait times out");
	shmring_write(w, 1, "x", 1);
	ok(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN), "POLLIN after a write");
	is_int(shmring_set_watermark(r, 0, 3), 0, "set a 3-record watermark");
	drain(r, NULL, NULL);
	shmring_write(w, 1, "x", 1);
	shmring_write(w, 1, "x", 1);
	is_int(poll(&pfd, 1, 0), 0, "below the watermark: no POLLIN");
	shmring_write(w, 1, "x", 1);
	is_int(poll(&pfd, 1, 0), 1, "at the watermark: POLLIN");
	shmring_set_watermark(r, 0, 0);

	is_int(shmring_unlink("t_poll"), 0, "unlink while mapped and open");
	pfd.events = POLLIN;
	poll(&pfd, 1, 0);
	ok((pfd.revents & (POLLHUP | POLLERR)) == (POLLHUP | POLLERR), "POLLHUP|POLLERR after unlink");
	ok(((const struct shmring_hdr *)map)->magic == SHMRING_MAGIC &&
	   ((const struct shmring_hdr *)map)->head_seq == 4,
	   "the mapping is still valid and current after unlink");
	is_int(shmring_peek(r, &rec), 0, "records remain readable in place after unlink");
	is_int(shmring_write(w, 1, "x", 1), -EIDRM, "writes to an unlinked ring -> EIDRM");
	is_int(shmring_open("t_poll", SHMRING_O_READ, 0, NULL, &again), -ENOENT,
	       "the name is gone");
	munmap((void *)map, in.map_ring_len);
	shmring_close(r);
	shmring_close(w);
}

static void test_crash_survival(void)
{
	struct shmring *w = create("t_crash", 16384, SHMRING_POLICY_OVERWRITE, 0,
				   SHMRING_O_WRITE);
	struct shmring *r;
	uint64_t seq = 0;
	int gaps = 0, status;
	pid_t pid;

	shmring_close(w);	/* nobody has the ring open now */
	pid = fork();
	if (pid == 0) {
		int i;

		if (shmring_open("t_crash", SHMRING_O_WRITE, 0, NULL, &w))
			_exit(2);
		for (i = 0; i < 10; i++)
			shmring_write(w, 0, &i, sizeof(i));
		raise(SIGKILL);
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status), "the writer died of SIGKILL");
	r = reader("t_crash", 0);
	is_int(drain(r, &seq, &gaps), 10, "every record it committed survived");
	shmring_close(r);
	shmring_unlink("t_crash");
}

static void test_proc_view(void)
{
	struct shmring *w = create("t_view", 4096, SHMRING_POLICY_LOSSLESS, 0,
				   SHMRING_O_WRITE);
	struct shmring *s;
	char buf[8192];
	FILE *f;
	size_t n;

	shmring_subscribe("t_view", "viewsub", 0, &s);
	shmring_write(w, 0, "abc", 3);
	f = fopen("/proc/shmring", "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = 0;
	if (f)
		fclose(f);
	ok(strstr(buf, "ring t_view size=4096 policy=lossless") != NULL,
	   "/proc/shmring lists the ring with size and policy");
	ok(strstr(buf, "records=1 ") && strstr(buf, "head_seq=1 "),
	   "/proc/shmring shows records and head sequence");
	ok(strstr(buf, "reader viewsub") && strstr(buf, "sub+ viewsub") &&
	   strstr(buf, "lag_records=1 "), "/proc/shmring shows the subscription and its lag");
	shmring_close(s);
	shmring_close(w);
	shmring_unlink("t_view");
}

/* rmmod must fail while a ring is mapped, even with every fd closed. */
static void test_unload_while_mapped(void)
{
	struct shmring *w = create("t_unload", 4096, SHMRING_POLICY_OVERWRITE, 0,
				   SHMRING_O_WRITE);
	struct shmring_info in;
	void *map;
	int fd = raw_open("t_unload", SHMRING_O_READ, 0, 0);

	shmring_info(w, &in);
	map = mmap(NULL, in.map_ring_len, PROT_READ, MAP_SHARED, fd, (off_t)in.map_ring_off);
	ok(map != MAP_FAILED, "map the ring");
	close(fd);
	shmring_close(w);
	is_int(syscall(SYS_delete_module, "shmring", O_NONBLOCK) < 0 ? -errno : 0, -EWOULDBLOCK,
	       "rmmod while only a mapping remains fails (module in use)");
	ok(((const struct shmring_hdr *)map)->magic == SHMRING_MAGIC,
	   "and the mapping is intact");
	munmap(map, in.map_ring_len);
	shmring_unlink("t_unload");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	plan_no_plan();
	test_framing();
	test_read_syscall_and_independence();
	test_overwrite_lap();
	test_lossless();
	test_subscriptions();
	test_poll_and_unlink();
	test_crash_survival();
	test_proc_view();
	test_unload_while_mapped();
	return done_testing();
}
