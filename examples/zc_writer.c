// SPDX-License-Identifier: MIT
/*
 * zc_writer: append records to a zero-copy ring, filling them in place.
 *   zc_writer RING [COUNT [BATCH]]
 *
 * Creates RING (lossless, zero-copy, crc32c) if needed, then writes COUNT
 * records (default 10) in batches of BATCH (default 4): each record is
 * reserved in the ring's writable mapping, formatted there with no copy,
 * and the batch is committed at once. No system call per record: one per
 * chunk the kernel grants, and one per commit only while a reader sleeps.
 * Records the kernel discarded because the writer stopped too long in the
 * middle of a batch are written again. At the end, shmring_zc_flush()
 * hands the chunk back so that readers need not wait for it
 * (shmring_close() would do it too).
 *
 * Read the records with `shmring-dump RING` or examples/reader.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <shmring.h>

#define TYPE_ORDER	1
#define PAYLOAD_MAX	64

static int write_batch(struct shmring *ring, long first, long n)
{
	long i;
	int ret;

	for (i = 0; i < n; i++) {
		void *p;

		ret = shmring_zc_reserve(ring, PAYLOAD_MAX, TYPE_ORDER, &p);
		if (ret == -ENOBUFS)
			break;		/* the chunk is full: commit what we have */
		if (ret)
			return ret;
		/* Formatted in place, in the ring: the payload is never copied. */
		memset(p, 0, PAYLOAD_MAX);
		snprintf((char *)p, PAYLOAD_MAX, "order %ld from pid %d", first + i,
			 (int)getpid());
	}
	/* Every record reserved above becomes visible, in order; returns how many. */
	return shmring_zc_commit(ring);
}

int main(int argc, char **argv)
{
	long count = argc > 2 ? atol(argv[2]) : 10, batch = argc > 3 ? atol(argv[3]) : 4, done;
	struct shmring_attr attr;
	struct shmring *ring;
	int ret = 0;

	if (argc < 2 || count < 0 || batch < 1) {
		fprintf(stderr, "usage: %s RING [COUNT [BATCH]]\n", argv[0]);
		return 2;
	}
	memset(&attr, 0, sizeof(attr));
	attr.data_size = 1 << 20;
	attr.policy = SHMRING_POLICY_LOSSLESS;
	attr.flags = SHMRING_ATTR_ZEROCOPY | SHMRING_ATTR_CSUM;
	attr.zc_chunk = 64 << 10;
	/* Writing only, but a zero-copy writer needs read permission too: it maps the ring. */
	ret = shmring_open(argv[1], SHMRING_O_CREAT | SHMRING_O_WRITE, 0644, &attr, &ring);
	if (ret) {
		fprintf(stderr, "zc_writer: %s: %s\n", argv[1], shmring_strerror(ret));
		return 1;
	}
	for (done = 0; done < count; done += ret) {
		ret = write_batch(ring, done, count - done < batch ? count - done : batch);
		/*
		 * Fewer than the batch: the writer stopped for longer than the
		 * module's zc_idle_ms with a chunk open (say, SIGSTOP), the kernel
		 * took it back and the rest of the batch was lost. Write it again.
		 */
		if (ret == -ETIMEDOUT)
			ret = 0;
		if (ret < 0)
			break;
	}
	if (ret >= 0)
		ret = shmring_zc_flush(ring);
	if (ret < 0)
		fprintf(stderr, "zc_writer: %s: %s\n", argv[1], shmring_strerror(ret));
	else
		printf("zc_writer: %ld records written to %s\n", done, argv[1]);
	shmring_close(ring);
	return ret < 0;
}
