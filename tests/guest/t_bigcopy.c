// SPDX-License-Identifier: GPL-2.0
/*
 * Large records of SHMRING_IOC_WRITE_BATCH on a lossless ring are copied
 * with wlock dropped, many writers at once, and published in ring order
 * when the copies before them are done (docs/design.md, "Batches and
 * reclaim"). 8 writers send batches that mix staged records (up to 1 KiB)
 * and large ones (up to 6 KiB); one of them has a thread that keeps
 * dropping its source pages (MADV_DONTNEED), so that some copies fault
 * after the source was made resident and leave DISCARD records; one is
 * killed with SIGKILL mid-run. Readers through libshmring and through
 * read(2) must see every record each writer committed exactly once, in
 * that writer's order, intact and checksummed, with no loss, and skip
 * the DISCARD records; the ring's counters must agree, and the reader,
 * waiting in poll() whenever it has caught up, must never sleep through
 * a record that was published (a lost wakeup of the copies' publish).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "common.h"

#define RING		"t_bigcopy"
#define NW		8
#define BATCH		8
#define MAXLEN		6144
#define HAMMER		0	/* the writer whose pages are dropped */
#define KILLED		1	/* the writer killed mid-run */

struct shared {
	uint64_t written[NW];	/* records each writer knows it committed */
	uint32_t done[NW];
};

static struct shared *sh;
static uint64_t per_writer = 4000;
static unsigned char *hbuf;	/* the hammered writer's source */

static uint32_t rec_len(uint64_t n)
{
	return n % 3 ? 1025 + (uint32_t)(n * 977 % (MAXLEN - 1025)) : 16 + (uint32_t)(n % 1000);
}

static void fill(unsigned char *p, int w, uint64_t n, uint32_t len)
{
	memcpy(p, &n, 8);
	memset(p + 8, (int)((n + (uint64_t)w) & 0xff), len - 8);
}

static void *hammer(void *arg)
{
	(void)arg;
	for (;;) {
		madvise(hbuf, (size_t)BATCH * MAXLEN, MADV_DONTNEED);
		sched_yield();
	}
	return NULL;
}

static void writer_main(int w)
{
	struct shmring_msg msgs[BATCH];
	unsigned char *buf;
	struct shmring *r;
	pthread_t th;
	uint64_t n = 0;
	int i, ret;

	buf = mmap(NULL, (size_t)BATCH * MAXLEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || shmring_open(RING, SHMRING_O_WRITE, 0, NULL, &r))
		_exit(2);
	if (w == HAMMER) {
		hbuf = buf;
		if (pthread_create(&th, NULL, hammer, NULL))
			_exit(2);
	}
	/* The one to be killed writes until it is. */
	while (w == KILLED || n < per_writer) {
		int k = w != KILLED && per_writer - n < BATCH ? (int)(per_writer - n) : BATCH;

		for (i = 0; i < k; i++) {
			msgs[i].data = buf + (size_t)i * MAXLEN;
			msgs[i].len = rec_len(n + i);
			msgs[i].type = 100 + w;
			fill(buf + (size_t)i * MAXLEN, w, n + i, msgs[i].len);
		}
		ret = shmring_write_batch(r, msgs, k);
		if (ret <= 0)
			_exit(3);
		n += ret;
		sh->written[w] = n;
	}
	sh->done[w] = 1;
	_exit(0);
}

struct check {
	uint64_t next[NW];
	uint64_t count[NW];
	uint64_t bad, zeroed;
};

/* One record: its writer's next, intact (the hammered one's: counted). */
static void check_one(struct check *c, uint32_t type, const unsigned char *p, uint32_t len)
{
	int w = (int)type - 100;
	uint64_t n;
	uint32_t i;

	if (w < 0 || w >= NW || len < 16) {
		c->bad++;
		return;
	}
	c->count[w]++;
	memcpy(&n, p, 8);
	if (w == HAMMER) {
		/* Its pages may be dropped while copied: counted, not checked. */
		if (!n)
			c->zeroed++;
		return;
	}
	if (n != c->next[w] || len != rec_len(n)) {
		c->bad++;
		c->next[w] = n + 1;
		return;
	}
	for (i = 8; i < len; i++)
		if (p[i] != (unsigned char)((n + (uint64_t)w) & 0xff)) {
			c->bad++;
			break;
		}
	c->next[w] = n + 1;
}

static uint64_t total_written(void)
{
	uint64_t t = 0;
	int w;

	for (w = 0; w < NW; w++)
		t += sh->written[w];
	return t;
}

int main(int argc, char **argv)
{
	struct shmring_attr a = { .data_size = 1 << 20, .policy = SHMRING_POLICY_LOSSLESS,
				  .max_record = 8192, .flags = SHMRING_ATTR_CSUM };
	struct check cl, cr;
	struct shmring *ctl, *lr, *rr;
	struct shmring_record rec;
	struct shmring_info in;
	unsigned char *rbuf;
	pid_t wp[NW];
	uint64_t got_l = 0, got_r = 0, csum_bad = 0, seq_l = 0, skipped = 0;
	int w, status[NW], exited[NW] = { 0 }, idle = 0, killed = 0, slept = 0, waits = 0;

	if (argc > 1)
		per_writer = strtoull(argv[1], NULL, 0);
	plan_no_plan();
	memset(&cl, 0, sizeof(cl));
	memset(&cr, 0, sizeof(cr));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	rbuf = malloc(1 << 20);
	if (sh == MAP_FAILED || !rbuf)
		bail_out("out of memory");
	memset(sh, 0, sizeof(*sh));
	shmring_unlink(RING);
	if (shmring_open(RING, SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &ctl))
		bail_out("create %s", RING);
	if (shmring_open(RING, SHMRING_O_READ, 0, NULL, &lr) ||
	    shmring_open(RING, SHMRING_O_READ, 0, NULL, &rr))
		bail_out("open readers");
	/* read(2) must not block: both readers are served in one loop. */
	if (fcntl(shmring_fd(rr), F_SETFL, O_NONBLOCK))
		bail_out("O_NONBLOCK: %s", strerror(errno));
	for (w = 0; w < NW; w++) {
		wp[w] = fork();
		if (wp[w] < 0)
			bail_out("fork: %s", strerror(errno));
		if (!wp[w])
			writer_main(w);
	}
	/* Read with both until every writer is done (or dead) and both are at head. */
	for (;;) {
		int ret, moved = 0;
		ssize_t k;

		while ((ret = shmring_peek(lr, &rec)) == 0) {
			if (!shmring_record_csum_ok(&rec))
				csum_bad++;
			if (got_l && rec.seq != seq_l + 1)
				skipped += rec.seq - seq_l - 1;	/* DISCARD records */
			seq_l = rec.seq;
			check_one(&cl, rec.type, rec.data, rec.len);
			got_l++;
			moved = 1;
			if (shmring_consume(lr))
				bail_out("consume");
		}
		if (ret != -EAGAIN)
			bail_out("peek: %s", strerror(-ret));
		while ((k = read(shmring_fd(rr), rbuf, 1 << 20)) > 0) {
			size_t off = 0;

			while (off + sizeof(struct shmring_rec) <= (size_t)k) {
				const struct shmring_rec *h = (const void *)(rbuf + off);

				if (h->flags & SHMRING_REC_DISCARD)
					cr.bad++;	/* read(2) must skip them */
				check_one(&cr, h->type, (const unsigned char *)(h + 1), h->len);
				got_r++;
				off += SHMRING_REC_TOTAL(h->len);
			}
			moved = 1;
		}
		if (!killed && sh->written[KILLED] > per_writer / 3) {
			kill(wp[KILLED], SIGKILL);
			killed = 1;
		}
		if (!moved) {
			int dead = 0;

			for (w = 0; w < NW; w++) {
				if (!exited[w] && waitpid(wp[w], &status[w], WNOHANG) == wp[w])
					exited[w] = 1;
				dead += exited[w];
			}
			if (dead == NW) {
				if (++idle > 20)
					break;
				shmring_wait(lr, 50);
			} else if (++waits && shmring_wait(lr, 2000) == -ETIMEDOUT &&
				   shmring_peek(lr, &rec) == 0) {
				/*
				 * 2 s asleep with a record there: published,
				 * and nobody woke us (the copies' publish).
				 * (A writer may also just take that long: the
				 * hammered one retries its faulting copies.)
				 */
				slept++;
			}
		} else {
			idle = 0;
		}
	}
	for (w = 0; w < NW; w++) {
		if (w == KILLED)
			ok(WIFSIGNALED(status[w]) && WTERMSIG(status[w]) == SIGKILL,
			   "writer %d was killed mid-run (%llu records committed)", w,
			   (unsigned long long)sh->written[w]);
		else
			ok(WIFEXITED(status[w]) && WEXITSTATUS(status[w]) == 0 && sh->done[w],
			   "writer %d finished its %llu records", w, (unsigned long long)per_writer);
	}
	ok(slept == 0, "no wait of the reader slept 2 s through a published record "
	   "(%d of %d waits did)", slept, waits);
	ok(cl.bad == 0 && cr.bad == 0 && csum_bad == 0,
	   "libshmring and read(2): every record its writer's next, intact, checksummed "
	   "(bad %llu/%llu, crc %llu)", (unsigned long long)cl.bad,
	   (unsigned long long)cr.bad, (unsigned long long)csum_bad);
	for (w = 0; w < NW; w++)
		if (cl.count[w] < sh->written[w] || cr.count[w] != cl.count[w] ||
		    cl.count[w] > sh->written[w] + (w == KILLED ? BATCH : 0))
			break;
	ok(w == NW, "each writer's committed records arrived once in each reader "
	   "(the killed one's last batch may have committed unreported)");
	ok(got_l == got_r && got_l >= total_written(),
	   "both readers got the same %llu records", (unsigned long long)got_l);
	ok(shmring_discarded(lr) == skipped,
	   "shmring_discarded() counts the DISCARD records skipped (%llu)",
	   (unsigned long long)shmring_discarded(lr));
	if (shmring_info(ctl, &in))
		bail_out("shmring_info");
	ok(shmring_lost(lr) == 0 && in.records_written == got_l &&
	   in.head_seq == got_l + skipped,
	   "nothing lost; the ring counts %llu written, head_seq %llu (%llu DISCARD skipped)",
	   (unsigned long long)in.records_written, (unsigned long long)in.head_seq,
	   (unsigned long long)skipped);
	diag("writer %d's records that begin with zeros (a dropped page): %llu; DISCARD records: %llu",
	     HAMMER, (unsigned long long)cl.zeroed, (unsigned long long)skipped);
	shmring_close(lr);
	shmring_close(rr);
	shmring_close(ctl);
	shmring_unlink(RING);
	return done_testing();
}
