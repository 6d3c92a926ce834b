// SPDX-License-Identifier: GPL-2.0
/*
 * 4 writers x 3 durable readers x 200k records per writer on a lossless
 * ring with checksums, while writers and readers are killed with SIGKILL
 * at random moments and restarted. Every reader must see every sequence
 * number, each writer incarnation's records in order with no gap, intact
 * payloads, and resume exactly where its subscription stopped.
 *
 * usage: t_stress [records-per-writer] [kills]
 * SHMRING_STRESS_RECORDS overrides the default 200000 (the harness lowers
 * it on the debug kernel, where KASAN and lockdep make each call slower).
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

#define RING		"t_stress"
#define NW		4
#define NR		3
#define MAX_SEQ		(1U << 22)	/* bitmap room: records incl. crash extras */

struct wstate {
	uint64_t written;		/* records this writer knows it committed */
	uint32_t incarnation;
	uint32_t done;
};

struct rstate {
	unsigned char seen[MAX_SEQ / 8];
	uint64_t last_n[NW];		/* next n expected per writer */
	uint32_t last_inc[NW];
	uint32_t restarted;		/* first record after a restart */
	uint64_t errors, dups, resume_bad, count;
	uint32_t finished;
};

struct shared {
	struct wstate w[NW];
	struct rstate r[NR];
	uint64_t final_seq;		/* set when every writer is done */
	uint32_t writers_done;
};

struct payload {
	uint32_t writer;
	uint32_t incarnation;
	uint64_t n;
	unsigned char fill[200];
};

static struct shared *sh;
static uint64_t per_writer = 200000;

static size_t payload_len(uint64_t n)
{
	return offsetof(struct payload, fill) + (n * 7) % 200;
}

static void fill(struct payload *p, int w, uint64_t n)
{
	p->writer = (uint32_t)w;
	p->incarnation = sh->w[w].incarnation;
	p->n = n;
	memset(p->fill, (int)(n & 0xff), sizeof(p->fill));
}

static void writer_main(int w)
{
	struct payload p[16];
	struct shmring_msg msgs[16];
	struct shmring *r;
	uint64_t n = 0;
	int i, ret;

	if (shmring_open(RING, SHMRING_O_WRITE, 0, NULL, &r))
		_exit(2);
	while (sh->w[w].written < per_writer) {
		int batch = (n / 16) % 2 ? 16 : 1;	/* single and batch paths */

		if (sh->w[w].written + batch > per_writer)
			batch = 1;
		for (i = 0; i < batch; i++) {
			fill(&p[i], w, n + i);
			msgs[i].data = &p[i];
			msgs[i].len = payload_len(n + i);
			msgs[i].type = 100 + w;
		}
		ret = batch == 1 ? (shmring_write(r, 100 + w, &p[0], msgs[0].len) >= 0)
				 : shmring_write_batch(r, msgs, batch);
		if (ret <= 0)
			_exit(3);
		n += ret;
		sh->w[w].written += ret;
	}
	sh->w[w].done = 1;
	_exit(0);
}

static int check_record(struct rstate *st, const struct shmring_record *rec)
{
	const struct payload *p = rec->data;
	size_t i;
	int w;

	if (!shmring_record_csum_ok(rec) || rec->len < offsetof(struct payload, fill))
		return -1;
	w = (int)p->writer;
	if (w < 0 || w >= NW || rec->type != (uint32_t)(100 + w) ||
	    rec->len != payload_len(p->n))
		return -1;
	for (i = 0; i < rec->len - offsetof(struct payload, fill); i++)
		if (p->fill[i] != (unsigned char)(p->n & 0xff))
			return -1;
	if (p->incarnation != st->last_inc[w]) {
		/* A new incarnation of that writer starts from 0. */
		if (p->incarnation < st->last_inc[w] || p->n != 0)
			return -1;
		st->last_inc[w] = p->incarnation;
		st->last_n[w] = 0;
	}
	if (p->n + 1 == st->last_n[w] && st->restarted)
		return 0;	/* redelivered: marked but not consumed before a kill */
	if (p->n != st->last_n[w])
		return -1;
	st->last_n[w] = p->n + 1;
	return 0;
}

static void reader_main(int id)
{
	struct rstate *st = &sh->r[id];
	struct shmring_sub_info subs[8];
	struct shmring_record rec;
	struct shmring *r;
	char name[16];
	uint64_t expect = 0;
	int i, n, ret;

	snprintf(name, sizeof(name), "r%d", id);
	if (shmring_subscribe(RING, name, 0, &r))
		_exit(2);
	n = shmring_sub_list(r, subs, 8, NULL);
	for (i = 0; i < n; i++)
		if (!strcmp(subs[i].name, name))
			expect = subs[i].seq;
	st->restarted = 1;
	for (;;) {
		ret = shmring_peek(r, &rec);
		if (ret == -EAGAIN) {
			if (sh->final_seq && st->count >= sh->final_seq)
				break;
			shmring_wait(r, 100);
			continue;
		}
		if (ret) {
			st->errors++;
			_exit(4);
		}
		if (st->restarted && rec.seq != expect)
			st->resume_bad++;
		if (rec.seq >= MAX_SEQ || check_record(st, &rec))
			st->errors++;
		else if (st->seen[rec.seq / 8] & (1 << (rec.seq % 8)))
			st->dups++;	/* only legal right after a restart */
		else
			st->count++;
		if (rec.seq < MAX_SEQ)
			st->seen[rec.seq / 8] |= 1 << (rec.seq % 8);
		st->restarted = 0;
		if (shmring_consume(r))
			st->errors++;
	}
	st->finished = 1;
	_exit(0);
}

static pid_t spawn(void (*fn)(int), int arg)
{
	pid_t pid = fork();

	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0)
		fn(arg);
	return pid;
}

int main(int argc, char **argv)
{
	struct shmring_attr a = { .data_size = 262144, .policy = SHMRING_POLICY_LOSSLESS,
				  .flags = SHMRING_ATTR_CSUM };
	int kills_wanted = argc > 2 ? atoi(argv[2]) : 40;
	int wkills = 0, rkills = 0, i, status, live;
	pid_t wp[NW], rp[NR];
	struct shmring *ctl, *sub;
	struct shmring_info in;
	struct shmring_record rec;
	uint64_t total = 0, t0 = now_mono_ns();
	unsigned int seed = (unsigned int)time(NULL);

	if (argc > 1)
		per_writer = strtoull(argv[1], NULL, 0);
	else if (getenv("SHMRING_STRESS_RECORDS"))
		per_writer = strtoull(getenv("SHMRING_STRESS_RECORDS"), NULL, 0);
	plan_no_plan();
	diag("seed %u, %llu records per writer, %d kills", seed,
	     (unsigned long long)per_writer, kills_wanted);
	srand(seed);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		bail_out("mmap shared state");
	shmring_unlink(RING);
	if (shmring_open(RING, SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &ctl))
		bail_out("create ring");
	/* Subscriptions exist before any write so none can be missed. */
	for (i = 0; i < NR; i++) {
		char name[16];

		snprintf(name, sizeof(name), "r%d", i);
		if (shmring_subscribe(RING, name, 0, &sub))
			bail_out("create subscription");
		shmring_close(sub);
	}
	for (i = 0; i < NR; i++)
		rp[i] = spawn(reader_main, i);
	for (i = 0; i < NW; i++)
		wp[i] = spawn(writer_main, i);

	/* Kill random processes at random moments, restart them. */
	while (wkills + rkills < kills_wanted) {
		int victim = rand() % (NW + NR);

		usleep(20000 + rand() % 150000);
		if (victim < NW) {
			if (sh->w[victim].done)
				continue;
			kill(wp[victim], SIGKILL);
			waitpid(wp[victim], &status, 0);
			sh->w[victim].incarnation++;
			wp[victim] = spawn(writer_main, victim);
			wkills++;
		} else {
			victim -= NW;
			if (sh->r[victim].finished)
				continue;
			kill(rp[victim], SIGKILL);
			waitpid(rp[victim], &status, 0);
			rp[victim] = spawn(reader_main, victim);
			rkills++;
		}
		for (live = 0, i = 0; i < NW; i++)
			live += !sh->w[i].done;
		if (!live)
			break;
	}
	for (i = 0; i < NW; i++) {
		waitpid(wp[i], &status, 0);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d finished", i);
	}
	shmring_info(ctl, &in);
	sh->final_seq = in.head_seq;
	for (i = 0; i < NR; i++) {
		waitpid(rp[i], &status, 0);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader %d finished", i);
	}
	for (i = 0; i < NW; i++)
		total += sh->w[i].written;
	diag("%d writer kills, %d reader kills, %llu records in %.1f s", wkills, rkills,
	     (unsigned long long)in.head_seq, (now_mono_ns() - t0) / 1e9);
	ok(wkills + rkills >= (kills_wanted < 10 ? kills_wanted : 10) ||
	   per_writer < 1000, "processes were killed repeatedly (%d)", wkills + rkills);
	ok(in.head_seq >= total && in.head_seq <= total + (uint64_t)wkills * 16,
	   "ring holds every record writers counted (%llu >= %llu)",
	   (unsigned long long)in.head_seq, (unsigned long long)total);
	is_int(in.records_lost, 0, "a lossless ring lost nothing");
	for (i = 0; i < NR; i++) {
		struct rstate *st = &sh->r[i];
		uint64_t s, missing = 0;

		for (s = 0; s < in.head_seq && s < MAX_SEQ; s++)
			if (!(st->seen[s / 8] & (1 << (s % 8))))
				missing++;
		is_int(missing, 0, "reader %d saw every sequence number", i);
		is_int(st->errors, 0, "reader %d: no corrupt or out-of-order record", i);
		is_int(st->resume_bad, 0, "reader %d resumed exactly after each restart", i);
		ok(st->dups <= (uint64_t)rkills, "reader %d: redeliveries only at restarts (%llu)",
		   i, (unsigned long long)st->dups);
	}
	/* The ring is still usable. */
	is_int(shmring_write(ctl, 1, "after", 5), 5, "the ring still takes writes");
	if (shmring_subscribe(RING, "r0", 0, &sub) == 0) {
		ok(shmring_peek(sub, &rec) == 0 && rec.len == 5 &&
		   !memcmp(rec.data, "after", 5), "and a durable reader gets the new record");
		shmring_close(sub);
	} else {
		ok(0, "re-attach r0");
	}
	shmring_close(ctl);
	shmring_unlink(RING);
	return done_testing();
}
