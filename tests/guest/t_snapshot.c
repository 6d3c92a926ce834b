// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots for bootstrap with a real ring (docs/snapshots.md): a writer
 * process appends records carrying values and, every few records,
 * publishes a snapshot of its running sum tagged with the sequence number
 * of the last record it covers; readers that start late bootstrap
 * (shmring_snap_bootstrap: the snapshot, then the ring from seq + 1) and
 * their sum equals the writer's. Also: -ENODATA before any snapshot,
 * -ESTALE for a snapshot older than the ring's oldest record, -ERANGE for
 * one ahead of the ring, a snapshot of the empty state
 * (SHMRING_SNAP_SEQ_NONE), and shmring-dump --snapshot (with -f: the
 * record after the snapshot comes first).
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

#define RING	"t_snap"
#define NREC	6000
#define EVERY	50
#define T_VAL	1
#define T_END	2

static struct shmring *create(uint64_t size)
{
	struct shmring_attr a = { .data_size = size, .policy = SHMRING_POLICY_OVERWRITE };
	struct shmring *r;
	int ret;

	shmring_unlink(RING);
	ret = shmring_open(RING, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE, 0600, &a, &r);
	if (ret)
		bail_out("create %s: %s", RING, shmring_strerror(ret));
	return r;
}

static uint64_t value(uint64_t i)
{
	return i * 2654435761ULL % 1000003ULL;
}

/* The writer: NREC values, a snapshot of the sum every EVERY, then T_END. */
static int writer(void)
{
	struct shmring_snap *s;
	struct shmring_info info;
	struct shmring *w;
	uint64_t sum = 0, i, seq0;
	int ret;

	if (shmring_open(RING, SHMRING_O_WRITE, 0, NULL, &w) ||
	    shmring_snap_open(RING, SHMRING_SNAP_WRITE, 0, &s))
		return 2;
	if (shmring_info(w, &info))
		return 2;
	seq0 = info.head_seq;	/* the only writer: record i gets seq0 + i */
	for (i = 0; i < NREC; i++) {
		uint64_t v = value(i);

		while ((ret = shmring_write(w, T_VAL, &v, sizeof(v))) == -EINTR)
			;
		if (ret < 0)	/* success is the payload's length */
			return 3;
		sum += v;
		if (i % EVERY == EVERY - 1 && shmring_snap_publish(s, &sum, sizeof(sum), seq0 + i))
			return 4;
		if (i % 100 == 0)	/* 60 pauses: late readers start mid-stream */
			usleep(3000);
	}
	if (shmring_write(w, T_END, &sum, sizeof(sum)) < 0)
		return 5;
	shmring_snap_close(s);
	shmring_close(w);
	return 0;
}

/* A late reader: bootstrap, then add values up to T_END; 0 if sums agree. */
static int late_reader(uint64_t *got, uint64_t *want, uint64_t *snap_seq)
{
	struct shmring_snap_meta m;
	struct shmring_record rec;
	struct shmring_snap *s;
	struct shmring *r;
	uint64_t sum = 0, next;
	int ret;

	if (shmring_snap_open(RING, 0, 0, &s))
		return -100;
	if (shmring_open(RING, SHMRING_O_READ, 0, NULL, &r))
		return -101;
	ret = shmring_snap_bootstrap(s, r, &sum, sizeof(sum), &m);
	shmring_snap_close(s);
	if (ret) {
		shmring_close(r);
		return ret;
	}
	*snap_seq = m.seq;
	next = m.seq + 1;
	for (;;) {
		ret = shmring_wait(r, 10000);
		if (ret < 0 && ret != -EINTR)
			break;
		while ((ret = shmring_peek(r, &rec)) == 0) {
			uint64_t v;

			if (rec.seq != next || rec.len != sizeof(v)) {
				diag("record seq %llu, expected %llu",
				     (unsigned long long)rec.seq, (unsigned long long)next);
				shmring_close(r);
				return -102;
			}
			memcpy(&v, rec.data, sizeof(v));
			next++;
			if (rec.type == T_END) {
				*got = sum;
				*want = v;
				shmring_close(r);
				return 0;
			}
			sum += v;
			shmring_consume(r);
		}
	}
	shmring_close(r);
	return ret ? ret : -103;
}

struct late {
	pthread_t th;
	int ret;
	uint64_t got, want, sseq;
};

static void *late_thread(void *a)
{
	struct late *l = a;
	int tries = 0;

	while ((l->ret = late_reader(&l->got, &l->want, &l->sseq)) == -ENODATA && tries++ < 500)
		usleep(2000);	/* nothing published yet */
	return NULL;
}

static void test_bootstrap(void)
{
	struct shmring *w = create(1 << 20);
	struct late l[3];
	int i, st, agree = 0, mid = 0;
	pid_t pid;

	mkdir(SHMRING_SNAP_DIR, 01777);
	unlink(SHMRING_SNAP_DIR "/shmring-snap." RING);
	{
		struct shmring_snap *s;

		is_int(shmring_snap_open(RING, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0640, &s), 0,
		       "create the snapshot file of ring %s in " SHMRING_SNAP_DIR, RING);
		shmring_snap_close(s);
	}
	pid = fork();
	if (pid == 0)
		_exit(writer());
	/* Late readers, each in its own thread, started while the writer runs. */
	for (i = 0; i < 3; i++) {
		usleep(20000);
		memset(&l[i], 0, sizeof(l[i]));
		l[i].want = 1;
		pthread_create(&l[i].th, NULL, late_thread, &l[i]);
	}
	for (i = 0; i < 3; i++) {
		pthread_join(l[i].th, NULL);
		if (!ok(l[i].ret == 0 && l[i].got == l[i].want,
			"late reader %d: bootstrapped at seq %llu, its sum %llu = the writer's %llu",
			i, (unsigned long long)l[i].sseq, (unsigned long long)l[i].got,
			(unsigned long long)l[i].want))
			diag("late_reader: %d (%s)", l[i].ret, shmring_strerror(l[i].ret));
		else
			agree++;
		if (l[i].ret == 0 && l[i].sseq < NREC - 1)
			mid++;
	}
	waitpid(pid, &st, 0);
	is_int(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st), 0, "the writer finished");
	is_int(agree, 3, "every late reader agrees with the writer");
	ok(mid > 0, "%d of them bootstrapped while the writer was still writing", mid);
	shmring_close(w);
}

static void test_errors(void)
{
	struct shmring *w = create(64 << 10), *r;
	struct shmring_snap_meta m;
	struct shmring_snap *s;
	uint64_t v = 7, i, buf;
	char path[] = "/tmp/t_snap.err";

	unlink(path);
	shmring_snap_open(path, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0600, &s);
	shmring_open(RING, SHMRING_O_READ, 0, NULL, &r);
	is_int(shmring_snap_bootstrap(s, r, &buf, sizeof(buf), &m), -ENODATA,
	       "bootstrap before any snapshot: ENODATA");
	is_int(shmring_snap_publish(s, &v, sizeof(v), SHMRING_SNAP_SEQ_NONE), 0,
	       "publish the empty state (SHMRING_SNAP_SEQ_NONE)");
	shmring_write(w, T_VAL, &v, sizeof(v));
	is_int(shmring_snap_bootstrap(s, r, &buf, sizeof(buf), &m), 0,
	       "bootstrap from the empty state");
	{
		struct shmring_record rec;

		ok(shmring_peek(r, &rec) == 0 && rec.seq == 0, "the reader is at the first record");
	}
	for (i = 0; i < 5000; i++)
		shmring_write(w, T_VAL, &v, sizeof(v));
	shmring_snap_publish(s, &v, sizeof(v), 0);
	is_int(shmring_snap_bootstrap(s, r, &buf, sizeof(buf), &m), -ESTALE,
	       "a snapshot older than the ring's oldest record: ESTALE");
	shmring_snap_publish(s, &v, sizeof(v), 5000);
	is_int(shmring_snap_bootstrap(s, r, &buf, sizeof(buf), &m), 0,
	       "a snapshot of the newest record: the reader is at the end");
	shmring_snap_publish(s, &v, sizeof(v), 5010);
	is_int(shmring_snap_bootstrap(s, r, &buf, sizeof(buf), &m), -ERANGE,
	       "a snapshot ahead of the ring: ERANGE");
	is_int(shmring_snap_bootstrap(s, r, &buf, 2, &m), -EMSGSIZE,
	       "a buffer too small: EMSGSIZE");
	shmring_snap_close(s);
	shmring_close(r);
	shmring_close(w);
	unlink(path);
}

/* shmring-dump --snapshot, and -f: the first record is the one after it. */
static void test_dump(void)
{
	struct shmring *w = create(1 << 20);
	struct shmring_snap *s;
	char line[512], cmd[256];
	unsigned long long sseq = 0, len = 0, rseq = 0;
	uint64_t v = 1, i;
	FILE *f;

	unlink(SHMRING_SNAP_DIR "/shmring-snap." RING);
	shmring_snap_open(RING, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0600, &s);
	for (i = 0; i < 20; i++)
		shmring_write(w, T_VAL, &v, sizeof(v));
	shmring_snap_publish(s, "state", 5, 11);
	shmring_snap_close(s);
	f = popen("shmring-dump --snapshot " RING, "r");
	ok(f && fgets(line, sizeof(line), f) &&
	   sscanf(line, "snapshot %*s seq=%llu len=%llu", &sseq, &len) == 2 && sseq == 11 &&
	   len == 5 && strstr(line, "(ok)"), "shmring-dump --snapshot: %s", f ? line : "popen");
	is_int(f ? pclose(f) : -1, 0, "and exits 0");
	snprintf(cmd, sizeof(cmd), "timeout 5 shmring-dump --snapshot -f %s", RING);
	f = popen(cmd, "r");
	line[0] = 0;
	if (f && fgets(line, sizeof(line), f) && fgets(line, sizeof(line), f))
		sscanf(line, "%llu", &rseq);
	is_int(rseq, 12, "shmring-dump --snapshot -f: the first record is seq 12 (%s)", line);
	if (f)
		pclose(f);
	f = popen("shmring-dump --snapshot=/nonexistent/x " RING " 2>&1", "r");
	ok(f && fgets(line, sizeof(line), f) && strstr(line, "no snapshot file"),
	   "a missing snapshot file is said so: %s", line);
	ok(f && WEXITSTATUS(pclose(f)) == 1, "and exits 1");
	shmring_close(w);
	shmring_unlink(RING);
	unlink(SHMRING_SNAP_DIR "/shmring-snap." RING);
}

int main(void)
{
	plan_no_plan();
	test_bootstrap();
	test_errors();
	test_dump();
	return done_testing();
}
