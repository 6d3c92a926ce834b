// SPDX-License-Identifier: MIT
/*
 * batch_writer: append records to an existing ring, several per call.
 *   batch_writer RING [COUNT [BATCH [TYPE]]]
 *
 * Writes COUNT records (default 10) "record 0", "record 1", ... of type
 * TYPE (default 1) with shmring_write_batch(3), BATCH of them (default 8,
 * at most 64) per call: one system call per batch, and the records of a
 * batch become visible to readers together. A lossless ring makes the
 * call wait for room. BATCH 0 writes each record with a plain write(2)
 * on shmring_fd(3) instead, its type set once with
 * shmring_set_write_type(3).
 *
 * Read the records with `shmring-dump RING` or examples/reader.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <shmring.h>

#define BATCH_MAX	64

int main(int argc, char **argv)
{
	static char payload[BATCH_MAX][32];
	struct shmring_msg msgs[BATCH_MAX];
	long count = argc > 2 ? atol(argv[2]) : 10, batch = argc > 3 ? atol(argv[3]) : 8;
	unsigned int type = argc > 4 ? (unsigned int)strtoul(argv[4], NULL, 0) : 1;
	struct shmring *ring;
	long done = 0, i, n;
	int ret;

	if (argc < 2 || count < 0 || batch < 0 || batch > BATCH_MAX) {
		fprintf(stderr, "usage: %s RING [COUNT [BATCH (0-%d) [TYPE]]]\n", argv[0],
			BATCH_MAX);
		return 2;
	}
	ret = shmring_open(argv[1], SHMRING_O_WRITE, 0, NULL, &ring);
	if (ret) {
		fprintf(stderr, "batch_writer: %s: %s\n", argv[1], shmring_strerror(ret));
		return 1;
	}
	if (!batch) {
		ret = shmring_set_write_type(ring, type);
		for (i = 0; !ret && i < count; i++) {
			snprintf(payload[0], sizeof(payload[0]), "record %ld", i);
			if (write(shmring_fd(ring), payload[0], strlen(payload[0])) < 0)
				ret = -errno;
		}
		if (ret < 0)
			fprintf(stderr, "batch_writer: %s: %s\n", argv[1], shmring_strerror(ret));
		done = count;
	}
	while (done < count) {
		n = count - done < batch ? count - done : batch;
		for (i = 0; i < n; i++) {
			snprintf(payload[i], sizeof(payload[i]), "record %ld", done + i);
			msgs[i].data = payload[i];
			msgs[i].len = (unsigned int)strlen(payload[i]);
			msgs[i].type = type;
		}
		ret = shmring_write_batch(ring, msgs, (unsigned int)n);
		if (ret < 0) {
			fprintf(stderr, "batch_writer: %s: %s\n", argv[1], shmring_strerror(ret));
			break;
		}
		done += ret;
	}
	shmring_close(ring);
	return ret < 0;
}
