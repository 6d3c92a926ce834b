// SPDX-License-Identifier: MIT
/*
 * snap_publish: publish the contents of a file as the latest snapshot of
 * a ring (docs/snapshots.md), tagged with the ring sequence number it
 * reflects ("none": before the first record), as an application would
 * publish its state. shmring-bridge out --snapshots carries it to other
 * hosts (docs/bridge.md).
 *   snap_publish RING SEQ|none FILE      ('-': standard input)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <shmring.h>

int main(int argc, char **argv)
{
	struct shmring_snap *s;
	unsigned long long seq;
	FILE *f;
	char *buf = NULL, *end;
	size_t len = 0, cap = 0, n;
	int ret;

	if (argc != 4) {
		fprintf(stderr, "usage: %s RING SEQ|none FILE\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[2], "none")) {
		seq = SHMRING_SNAP_SEQ_NONE;
	} else {
		seq = strtoull(argv[2], &end, 10);
		if (!*argv[2] || *end) {
			fprintf(stderr, "snap_publish: bad sequence number '%s'\n", argv[2]);
			return 2;
		}
	}
	f = strcmp(argv[3], "-") ? fopen(argv[3], "rb") : stdin;
	if (!f) {
		perror(argv[3]);
		return 1;
	}
	for (;;) {
		if (len == cap) {
			char *b = (char *)realloc(buf, cap = cap ? cap * 2 : 65536);

			if (!b) {
				fprintf(stderr, "snap_publish: out of memory\n");
				return 1;
			}
			buf = b;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (!n)
			break;
		len += n;
	}
	if (ferror(f)) {
		perror(argv[3]);
		return 1;
	}
	if (f != stdin)
		fclose(f);
	ret = shmring_snap_open(argv[1], SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0644, &s);
	if (!ret) {
		ret = shmring_snap_publish(s, buf, len, seq);
		shmring_snap_close(s);
	}
	free(buf);
	if (ret) {
		fprintf(stderr, "snap_publish: %s: %s\n", argv[1], shmring_strerror(ret));
		return 1;
	}
	return 0;
}
