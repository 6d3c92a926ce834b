// SPDX-License-Identifier: MIT
/*
 * ringset: print the records of several rings as they arrive, from one
 * thread sleeping on one epoll fd; each ring's handler is called only
 * when that ring has records, in place and a batch at a time.
 *   ringset [-n MAX] RING...
 * Stops after MAX records, or once every ring is unlinked and drained.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <shmring.h>

#define MAX_RINGS 64

static long seen;

static int print_record(void *ctx, const struct shmring_record *rec)
{
	printf("%s seq=%llu type=%u pid=%u len=%u %.*s\n", (const char *)ctx,
	       (unsigned long long)rec->seq, rec->type, rec->pid, rec->len,
	       (int)rec->len, (const char *)rec->data);
	seen++;
	return 0;	/* consume it; a negative errno would stop before it */
}

/* Every ring unlinked and drained? */
static int all_gone(struct shmring **rings, int nr)
{
	int i;

	for (i = 0; i < nr; i++)
		if (shmring_wait(rings[i], 0) != -EIDRM)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	struct shmring *rings[MAX_RINGS] = { 0 };
	struct shmring_set *set;
	int i, nr, first = 1, limit, ret;
	long max = -1;

	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		max = atol(argv[2]);
		first = 3;
	}
	nr = argc - first;
	if (nr < 1 || nr > MAX_RINGS) {
		fprintf(stderr, "usage: %s [-n MAX] RING... (at most %d)\n", argv[0], MAX_RINGS);
		return 2;
	}
	ret = shmring_set_new(0, &set);
	if (ret) {
		fprintf(stderr, "ringset: %s\n", shmring_strerror(ret));
		return 1;
	}
	for (i = 0; i < nr; i++) {
		ret = shmring_open(argv[first + i], SHMRING_O_READ, 0, NULL, &rings[i]);
		if (!ret)	/* the ring's name is its handler's context */
			ret = shmring_set_add(set, rings[i], print_record, argv[first + i]);
		if (ret) {
			fprintf(stderr, "ringset: %s: %s\n", argv[first + i], shmring_strerror(ret));
			if (rings[i])
				shmring_close(rings[i]);
			nr = i;
			break;
		}
	}
	while (!ret && (max < 0 || seen < max)) {
		limit = max < 0 || max - seen > 4096 ? 4096 : (int)(max - seen);
		ret = shmring_set_poll(set, limit, 1000);
		fflush(stdout);
		if (ret == -EINTR || ret > 0)
			ret = 0;
		else if (ret == 0 && all_gone(rings, nr))
			break;
	}
	if (ret && nr == argc - first)
		fprintf(stderr, "ringset: %s\n", shmring_strerror(ret));
	shmring_set_free(set);
	for (i = 0; i < nr; i++) {
		if (shmring_lost(rings[i]))
			fprintf(stderr, "ringset: %s: lost %llu records\n", argv[first + i],
				(unsigned long long)shmring_lost(rings[i]));
		shmring_close(rings[i]);
	}
	return ret ? 1 : 0;
}
