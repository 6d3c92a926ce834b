// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input: every error path of the ABI gets its exact errno, and none
 * of them loses a record that was already committed. docs/errors.md is
 * the same table in prose.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "common.h"

#define RING "t_abi"
#define EXPECT(expr, err, what) is_int((expr), -(err), "%s -> %s", what, #err)

static int committed;	/* records written on the good ring so far */

static void write_good(int fd, int n)
{
	char buf[32];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "good-%d", committed);
		if (write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf))
			bail_out("write good record: %s", strerror(errno));
		committed++;
	}
}

static int open_with(struct shmring_open *o)
{
	int fd = dev_fd(O_RDWR);
	int ret = xioctl(fd, SHMRING_IOC_OPEN, o);

	close(fd);
	return ret;
}

static void test_open_errors(void)
{
	struct shmring_open o;
	unsigned char big[sizeof(o) + 16];
	int fd;

	open_args(&o, RING, SHMRING_O_READ);
	o.size = 8;
	EXPECT(open_with(&o), EINVAL, "OPEN size smaller than struct");
	o.size = 8192;
	EXPECT(open_with(&o), E2BIG, "OPEN size larger than a page");

	memset(big, 0, sizeof(big));
	open_args(&o, RING, SHMRING_O_READ);
	memcpy(big, &o, sizeof(o));
	((struct shmring_open *)big)->size = sizeof(big);
	big[sizeof(o) + 3] = 1;
	fd = dev_fd(O_RDWR);
	EXPECT(xioctl(fd, SHMRING_IOC_OPEN, big), E2BIG, "OPEN larger struct, non-zero unknown tail");
	big[sizeof(o) + 3] = 0;
	is_int(xioctl(fd, SHMRING_IOC_OPEN, big), 0, "OPEN larger struct with zero tail is accepted");
	close(fd);

	open_args(&o, RING, SHMRING_O_READ | (1U << 20));
	EXPECT(open_with(&o), EINVAL, "OPEN unknown flag");
	open_args(&o, RING, SHMRING_O_READ);
	o.__reserved0 = 1;
	EXPECT(open_with(&o), EINVAL, "OPEN reserved field set");
	open_args(&o, RING, SHMRING_O_READ);
	o.mode = 01777;
	EXPECT(open_with(&o), EINVAL, "OPEN mode beyond 0777");
	open_args(&o, RING, 0);
	EXPECT(open_with(&o), EINVAL, "OPEN neither READ nor WRITE");
	open_args(&o, RING, SHMRING_O_READ | SHMRING_O_EXCL);
	EXPECT(open_with(&o), EINVAL, "OPEN EXCL without CREAT");
	open_args(&o, RING, SHMRING_O_WRITE | SHMRING_O_SUB);
	strcpy(o.sub_name, "s");
	EXPECT(open_with(&o), EINVAL, "OPEN SUB without READ");
	open_args(&o, RING, SHMRING_O_READ);
	strcpy(o.sub_name, "s");
	EXPECT(open_with(&o), EINVAL, "OPEN sub_name set without SUB");
	open_args(&o, RING, SHMRING_O_READ | SHMRING_O_SUB);
	strcpy(o.sub_name, "a/b");
	EXPECT(open_with(&o), EINVAL, "OPEN sub name with '/'");

	open_args(&o, "", SHMRING_O_READ);
	EXPECT(open_with(&o), EINVAL, "OPEN empty name");
	open_args(&o, "a/b", SHMRING_O_READ);
	EXPECT(open_with(&o), EINVAL, "OPEN name with '/'");
	open_args(&o, "..", SHMRING_O_READ);
	EXPECT(open_with(&o), EINVAL, "OPEN name '..'");
	open_args(&o, "x", SHMRING_O_READ);
	memset(o.name, 'x', sizeof(o.name));
	EXPECT(open_with(&o), EINVAL, "OPEN name of 64 bytes, no NUL");
	open_args(&o, "bad name", SHMRING_O_READ);
	EXPECT(open_with(&o), EINVAL, "OPEN name with a space");

	open_args(&o, RING, SHMRING_O_READ);
	o.attr.data_size = 4096;
	EXPECT(open_with(&o), EINVAL, "OPEN attr set without CREAT");

	open_args(&o, "t_abi_new", SHMRING_O_CREAT | SHMRING_O_WRITE);
	o.attr.data_size = 12288;
	EXPECT(open_with(&o), EINVAL, "CREAT size not a power of two");
	o.attr.data_size = 2048;
	EXPECT(open_with(&o), EINVAL, "CREAT size below 4 KiB");
	o.attr.data_size = 1ULL << 40;
	EXPECT(open_with(&o), EINVAL, "CREAT size above max_size");
	o.attr.data_size = 4096;
	o.attr.policy = 7;
	EXPECT(open_with(&o), EINVAL, "CREAT unknown policy");
	o.attr.policy = 0;
	o.attr.flags = 1U << 9;
	EXPECT(open_with(&o), EINVAL, "CREAT unknown attr flag");
	o.attr.flags = 0;
	o.attr.__reserved1[1] = 5;
	EXPECT(open_with(&o), EINVAL, "CREAT attr reserved set");
	o.attr.__reserved1[1] = 0;
	o.attr.max_record = 4096;
	EXPECT(open_with(&o), EINVAL, "CREAT max_record that cannot fit");

	fd = dev_fd(O_RDWR);
	EXPECT(xioctl(fd, SHMRING_IOC_OPEN, NULL), EFAULT, "OPEN NULL pointer");
	EXPECT(xioctl(fd, SHMRING_IOC_OPEN, bad_ptr()), EFAULT, "OPEN bad pointer");
	close(fd);

	open_args(&o, "t_abi_missing", SHMRING_O_READ);
	EXPECT(open_with(&o), ENOENT, "OPEN missing ring without CREAT");
	open_args(&o, RING, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_READ);
	EXPECT(open_with(&o), EEXIST, "OPEN CREAT|EXCL of an existing ring");

	fd = dev_fd(O_RDONLY);
	open_args(&o, RING, SHMRING_O_WRITE);
	EXPECT(xioctl(fd, SHMRING_IOC_OPEN, &o), EBADF, "OPEN WRITE on an O_RDONLY fd");
	close(fd);
	fd = dev_fd(O_WRONLY);
	open_args(&o, RING, SHMRING_O_READ);
	EXPECT(xioctl(fd, SHMRING_IOC_OPEN, &o), EBADF, "OPEN READ on an O_WRONLY fd");
	close(fd);

	fd = raw_open(RING, SHMRING_O_READ, 0, 0);
	open_args(&o, RING, SHMRING_O_READ);
	EXPECT(xioctl(fd, SHMRING_IOC_OPEN, &o), EBUSY, "OPEN on an already bound fd");
	close(fd);
}

static void test_unbound_errors(void)
{
	struct shmring_info in = { .size = sizeof(in) };
	char buf[64];
	int fd = dev_fd(O_RDWR);

	EXPECT(xioctl(fd, SHMRING_IOC_INFO, &in), ENOTCONN, "INFO on an unbound fd");
	EXPECT(xioctl(fd, SHMRING_IOC_KICK, NULL), ENOTCONN, "KICK on an unbound fd");
	EXPECT(write(fd, "x", 1) < 0 ? -errno : 0, ENOTCONN, "write on an unbound fd");
	EXPECT(read(fd, buf, sizeof(buf)) < 0 ? -errno : 0, ENOTCONN, "read on an unbound fd");
	ok(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
	   errno == ENOTCONN, "mmap on an unbound fd -> ENOTCONN");
	EXPECT(xioctl(fd, _IO(SHMRING_IOC_MAGIC, 0x7f), NULL), ENOTTY, "unknown ioctl");
	close(fd);
}

static void test_unlink_errors(void)
{
	struct shmring_name n;
	int fd = dev_fd(O_RDWR);

	memset(&n, 0, sizeof(n));
	n.size = sizeof(n);
	EXPECT(xioctl(fd, SHMRING_IOC_UNLINK, &n), EINVAL, "UNLINK empty name");
	strcpy(n.name, "a/b");
	EXPECT(xioctl(fd, SHMRING_IOC_UNLINK, &n), EINVAL, "UNLINK name with '/'");
	strcpy(n.name, "t_abi_missing");
	EXPECT(xioctl(fd, SHMRING_IOC_UNLINK, &n), ENOENT, "UNLINK missing ring");
	EXPECT(xioctl(fd, SHMRING_IOC_UNLINK, bad_ptr()), EFAULT, "UNLINK bad pointer");
	close(fd);
}

static void test_bound_errors(int wfd, int rfd)
{
	struct shmring_batch_rec recs[2];
	struct shmring_info in;
	struct shmring_batch b;
	struct shmring_opt opt;
	struct shmring_sub_list l;
	struct shmring_name n;
	char *big, small[8];

	memset(&in, 0, sizeof(in));
	in.size = 16;
	EXPECT(xioctl(rfd, SHMRING_IOC_INFO, &in), EINVAL, "INFO size too small");
	EXPECT(xioctl(rfd, SHMRING_IOC_INFO, bad_ptr()), EFAULT, "INFO bad pointer");

	big = calloc(1, 8192);
	EXPECT(write(wfd, big, 1025) < 0 ? -errno : 0, EMSGSIZE, "write above max_record");
	free(big);
	EXPECT(write(wfd, bad_ptr(), 10) < 0 ? -errno : 0, EFAULT, "write from a bad pointer");
	EXPECT(write(rfd, "x", 1) < 0 ? -errno : 0, EBADF, "write on a reader-only fd");
	EXPECT(read(wfd, small, sizeof(small)) < 0 ? -errno : 0, EBADF, "read on a writer-only fd");
	EXPECT(read(rfd, small, sizeof(small)) < 0 ? -errno : 0, EMSGSIZE, "read into a buffer smaller than a record");

	memset(&b, 0, sizeof(b));
	b.size = sizeof(b);
	b.nr = 1;
	b.recs = (uintptr_t)recs;
	memset(recs, 0, sizeof(recs));
	recs[0].data = (uintptr_t)"abc";
	recs[0].len = 3;
	EXPECT(xioctl(rfd, SHMRING_IOC_WRITE_BATCH, &b), EBADF, "WRITE_BATCH on a reader-only fd");
	b.flags = 4;
	EXPECT(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), EINVAL, "WRITE_BATCH unknown flag");
	b.flags = 0;
	b.nr = SHMRING_BATCH_MAX + 1;
	EXPECT(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), EINVAL, "WRITE_BATCH too many records");
	b.nr = 1;
	recs[0].flags = 1;
	EXPECT(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), EINVAL, "WRITE_BATCH record flag set");
	recs[0].flags = 0;
	recs[0].__reserved0 = 1;
	EXPECT(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), EINVAL, "WRITE_BATCH record reserved set");
	recs[0].__reserved0 = 0;
	recs[0].data = (uintptr_t)bad_ptr();
	EXPECT(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), EFAULT, "WRITE_BATCH record bad pointer");
	recs[0].data = (uintptr_t)"abc";
	recs[0].len = 100000;
	EXPECT(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), EMSGSIZE, "WRITE_BATCH record above max_record");
	b.recs = (uintptr_t)bad_ptr();
	EXPECT(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), EFAULT, "WRITE_BATCH bad array pointer");
	/* A good record then a bad one: the first is committed, done says 1. */
	recs[0].len = 3;
	recs[1] = recs[0];
	recs[1].data = (uintptr_t)bad_ptr();
	b.recs = (uintptr_t)recs;
	b.nr = 2;
	is_int(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), 0, "WRITE_BATCH partial batch succeeds");
	is_int(b.done, 1, "WRITE_BATCH partial batch reports done=1");
	committed++;
	/*
	 * A descriptor array that ends at an unmapped page after 18 good
	 * descriptors (more than the kernel copies in at a time): those 18
	 * are committed, done says 18.
	 */
	{
		long pg = sysconf(_SC_PAGESIZE);
		char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct shmring_batch_rec *end;
		int k;

		if (m == MAP_FAILED || munmap(m + pg, pg)) {
			bail_out("mmap: %s", strerror(errno));
		}
		end = (struct shmring_batch_rec *)(m + pg) - 18;
		for (k = 0; k < 18; k++)
			end[k] = recs[0];
		b.recs = (uintptr_t)end;
		b.nr = 20;
		is_int(xioctl(wfd, SHMRING_IOC_WRITE_BATCH, &b), 0,
		       "WRITE_BATCH array cut short by an unmapped page succeeds");
		is_int(b.done, 18, "WRITE_BATCH array cut short reports done=18");
		committed += 18;
		munmap(m, pg);
		b.recs = (uintptr_t)recs;
	}

	memset(&opt, 0, sizeof(opt));
	opt.size = sizeof(opt);
	opt.opt = 99;
	EXPECT(xioctl(wfd, SHMRING_IOC_SET_OPT, &opt), EINVAL, "SET_OPT unknown option");
	opt.opt = SHMRING_OPT_WRITE_TYPE;
	opt.size = 8;
	EXPECT(xioctl(wfd, SHMRING_IOC_SET_OPT, &opt), EINVAL, "SET_OPT size below the first layout");
	opt.size = sizeof(opt);
	opt.val = 1ULL << 32;
	EXPECT(xioctl(wfd, SHMRING_IOC_SET_OPT, &opt), EINVAL, "SET_OPT write type above 32 bits");
	opt.val = 1;
	EXPECT(xioctl(rfd, SHMRING_IOC_SET_OPT, &opt), EBADF, "SET_OPT write type on a reader");
	opt.opt = SHMRING_OPT_WATERMARK_BYTES;
	EXPECT(xioctl(wfd, SHMRING_IOC_SET_OPT, &opt), EBADF, "SET_OPT watermark on a writer");
	opt.val = 1ULL << 40;
	EXPECT(xioctl(rfd, SHMRING_IOC_SET_OPT, &opt), EINVAL, "SET_OPT watermark above ring size");

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.__reserved0 = 1;
	EXPECT(xioctl(rfd, SHMRING_IOC_SUB_LIST, &l), EINVAL, "SUB_LIST reserved set");
	l.__reserved0 = 0;
	l.nr = 4;
	l.subs = (uintptr_t)bad_ptr();
	is_int(xioctl(rfd, SHMRING_IOC_SUB_LIST, &l), 0, "SUB_LIST with no subscriptions copies nothing");
	memset(&n, 0, sizeof(n));
	n.size = sizeof(n);
	strcpy(n.name, "nosuch");
	EXPECT(xioctl(rfd, SHMRING_IOC_SUB_DEL, &n), ENOENT, "SUB_DEL missing subscription");
	strcpy(n.name, "a/b");
	EXPECT(xioctl(rfd, SHMRING_IOC_SUB_DEL, &n), EINVAL, "SUB_DEL bad name");
}

static void test_mmap_errors(int wfd, int rfd)
{
	struct shmring_info in = { .size = sizeof(in) };
	long pg = sysconf(_SC_PAGESIZE);
	void *p;

	if (xioctl(rfd, SHMRING_IOC_INFO, &in))
		bail_out("INFO failed");
	p = mmap(NULL, pg, PROT_READ, MAP_SHARED, wfd, 0);
	ok(p == MAP_FAILED && errno == EACCES, "mmap on a writer-only fd -> EACCES");
	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, rfd, 0);
	ok(p == MAP_FAILED && errno == EINVAL, "mmap MAP_PRIVATE -> EINVAL");
	p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
	ok(p == MAP_FAILED && errno == EINVAL, "mmap reader page with 2 pages -> EINVAL");
	p = mmap(NULL, in.map_ring_len - pg, PROT_READ, MAP_SHARED, rfd, (off_t)in.map_ring_off);
	ok(p == MAP_FAILED && errno == EINVAL, "mmap ring with a short length -> EINVAL");
	p = mmap(NULL, in.map_ring_len, PROT_READ, MAP_SHARED, rfd, 2 * pg);
	ok(p == MAP_FAILED && errno == EINVAL, "mmap at an unknown offset -> EINVAL");
	p = mmap(NULL, in.map_ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, rfd,
		 (off_t)in.map_ring_off);
	ok(p == MAP_FAILED && errno == EPERM, "mmap ring writable -> EPERM");
	p = mmap(NULL, in.map_ring_len, PROT_READ, MAP_SHARED, rfd, (off_t)in.map_ring_off);
	ok(p != MAP_FAILED, "mmap ring read-only works");
	if (p != MAP_FAILED) {
		ok(mprotect(p, pg, PROT_READ | PROT_WRITE) < 0 && errno == EACCES,
		   "mprotect ring to writable -> EACCES");
		ok(mremap(p, in.map_ring_len, in.map_ring_len + pg, 0) == MAP_FAILED,
		   "mremap cannot grow the ring mapping");
		munmap(p, in.map_ring_len);
	}
}

/* Read everything back with read(2): exactly the good records, in order. */
static void check_nothing_lost(void)
{
	static char buf[1 << 16];
	int fd = raw_open(RING, SHMRING_O_READ, 0, 0);
	ssize_t n;
	uint64_t off = 0, want_seq = 0;
	int count = 0, bad = 0;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	n = read(fd, buf, sizeof(buf));
	while (n > 0 && off < (uint64_t)n) {
		struct shmring_rec *h = (struct shmring_rec *)(buf + off);

		if (h->seq != want_seq)
			bad++;
		want_seq = h->seq + 1;
		off += SHMRING_REC_TOTAL(h->len);
		count++;
	}
	is_int(count, committed, "every committed record is still there after the bad input");
	is_int(bad, 0, "their sequence numbers have no gap");
	close(fd);
}

int main(void)
{
	struct shmring_open o;
	int wfd, rfd;

	signal(SIGPIPE, SIG_IGN);
	plan_no_plan();
	shmring_unlink(RING);
	wfd = dev_fd(O_RDWR);
	open_args(&o, RING, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE);
	o.attr.data_size = 16384;
	o.attr.max_record = 1024;
	o.attr.policy = SHMRING_POLICY_LOSSLESS;
	is_int(xioctl(wfd, SHMRING_IOC_OPEN, &o), 0, "create the test ring");
	rfd = raw_open(RING, SHMRING_O_READ, 0, 0);
	ok(rfd >= 0, "open a reader");
	write_good(wfd, 5);

	test_open_errors();
	write_good(wfd, 1);
	test_unbound_errors();
	test_unlink_errors();
	test_bound_errors(wfd, rfd);
	write_good(wfd, 1);
	test_mmap_errors(wfd, rfd);
	check_nothing_lost();

	is_int(shmring_unlink(RING), 0, "unlink the ring");
	EXPECT(write(wfd, "x", 1) < 0 ? -errno : 0, EIDRM, "write to an unlinked ring");
	close(rfd);
	close(wfd);
	return done_testing();
}
