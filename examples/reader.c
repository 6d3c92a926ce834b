// SPDX-License-Identifier: MIT
/*
 * reader: print records as they arrive, sleeping in epoll between them.
 *   reader RING [SUBSCRIPTION [MAX]]
 * With SUBSCRIPTION the position is durable: run it again and it resumes
 * right after the last record it printed, even after kill -9.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <shmring.h>

int main(int argc, char **argv)
{
	struct epoll_event ev, out;
	long max = argc > 3 ? atol(argv[3]) : -1, seen = 0;
	struct shmring_record rec;
	struct shmring *ring;
	int ep, ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s RING [SUBSCRIPTION [MAX]]\n", argv[0]);
		return 2;
	}
	ret = argc > 2 ? shmring_subscribe(argv[1], argv[2], 0, &ring)
		       : shmring_open(argv[1], SHMRING_O_READ, 0, NULL, &ring);
	if (ret) {
		fprintf(stderr, "reader: %s: %s\n", argv[1], shmring_strerror(ret));
		return 1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLET;
	ep = epoll_create1(EPOLL_CLOEXEC);
	epoll_ctl(ep, EPOLL_CTL_ADD, shmring_fd(ring), &ev);
	while (max < 0 || seen < max) {
		ret = shmring_peek(ring, &rec);
		if (ret == -EAGAIN) {
			if (epoll_wait(ep, &out, 1, -1) == 1 && (out.events & EPOLLHUP) &&
			    shmring_peek(ring, &rec) == -EAGAIN)
				break;	/* unlinked and drained */
			continue;
		}
		if (ret) {
			fprintf(stderr, "reader: %s\n", shmring_strerror(ret));
			break;
		}
		printf("seq=%llu type=%u pid=%u len=%u %.*s\n", (unsigned long long)rec.seq,
		       rec.type, rec.pid, rec.len, (int)rec.len, (const char *)rec.data);
		fflush(stdout);
		if (shmring_consume(ring) == -ESTALE)
			fprintf(stderr, "reader: record %llu was overwritten while printed\n",
				(unsigned long long)rec.seq);
		seen++;
	}
	if (shmring_lost(ring))
		fprintf(stderr, "reader: lost %llu records\n",
			(unsigned long long)shmring_lost(ring));
	shmring_close(ring);
	return 0;
}
