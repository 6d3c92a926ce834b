// SPDX-License-Identifier: MIT
/*
 * writer: append records to a ring, creating it if needed.
 *   writer RING [COUNT [TYPE]]   one record per line of stdin when COUNT is "-"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <shmring.h>

int main(int argc, char **argv)
{
	struct shmring_attr attr;
	unsigned int type = argc > 3 ? (unsigned int)strtoul(argv[3], NULL, 0) : 1;
	struct shmring *ring;
	char line[4096];
	long i, count;
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s RING [COUNT|- [TYPE]]\n", argv[0]);
		return 2;
	}
	memset(&attr, 0, sizeof(attr));
	attr.data_size = 1 << 20;
	attr.policy = SHMRING_POLICY_LOSSLESS;
	ret = shmring_open(argv[1], SHMRING_O_CREAT | SHMRING_O_WRITE, 0644, &attr, &ring);
	if (ret) {
		fprintf(stderr, "writer: %s: %s\n", argv[1], shmring_strerror(ret));
		return 1;
	}
	if (argc > 2 && !strcmp(argv[2], "-")) {
		while (fgets(line, sizeof(line), stdin)) {
			line[strcspn(line, "\n")] = 0;
			ret = shmring_write(ring, type, line, strlen(line));
			if (ret < 0)
				break;
		}
	} else {
		count = argc > 2 ? atol(argv[2]) : 10;
		for (i = 0; i < count; i++) {
			snprintf(line, sizeof(line), "command %ld from pid %d", i, (int)getpid());
			ret = shmring_write(ring, type, line, strlen(line));
			if (ret < 0)
				break;
		}
	}
	if (ret < 0)
		fprintf(stderr, "writer: %s\n", shmring_strerror(ret));
	shmring_close(ring);
	return ret < 0;
}
