// SPDX-License-Identifier: GPL-2.0
/*
 * A reader killed at any instruction of shmring_consume() (issue 9, bug
 * 10), tested the way it was found: a child stops (int3) right before
 * shmring_consume() of a durable subscription; the parent single-steps
 * (PTRACE_SINGLESTEP) one whole consume to count its instructions and
 * note where each one is, then for every k in 1..count runs a fresh
 * child, stops it with k instructions of consume done and SIGKILLs it.
 * It gets there through a breakpoint on the k-th instruction (for its
 * n-th pass, if it ran before), not k single-steps: under TCG a step
 * costs 0.1 to 8 ms depending on host load, and k steps for every k is
 * quadratic. The parent then attaches the subscription itself and
 * checks that peek works (no -EBADMSG), gives the consumed record or the
 * next one (at-least-once by one), and that the reader page's
 * records_read/records_lost are exact, also after one more consume.
 *
 * Lossless ring: the child consumes record 0, then is killed inside the
 * consume of record 1 (so txn_* of the first commit sit at the old pos).
 * Overwrite ring: the child consumes record 0, writes until the ring laps
 * it, and is killed inside the consume of the oldest record left, which
 * counts the lost gap.
 *
 * Then shmring_read(): copies, -EMSGSIZE leaves the record, -EAGAIN, and
 * never a torn copy while a writer laps the reader.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "common.h"

#define RING	"t_txn"
#define SUB	"s"
#define RSIZE	4096ULL
#define PAYLOAD	8				/* records of 48 bytes */
#define RTOTAL	SHMRING_REC_TOTAL(PAYLOAD)
#define LAP	(RSIZE / RTOTAL + 40)		/* overwrite: laps record 0 */
#define STEP_MAX 20000		/* instructions a consume may take */

static void reap(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* The kill-point walk reads and sets x86-64 registers. */
#if defined(__x86_64__)

/*
 * The counted consume: rip[i] is the instruction after i steps (rip[0]
 * the entry, rip[n] the return address), occ[i] how often rip[i] ran
 * before.
 */
static struct {
	int n;
	uint64_t rip[STEP_MAX + 1];
	int occ[STEP_MAX + 1];
} tr;

/* Reader page state: pos, seq, records_read, records_lost. */
struct cur {
	uint64_t pos, seq, nread, nlost;
};

struct scen {
	const char *name;
	uint32_t policy;
	uint64_t rec_seq;	/* the record consumed under ptrace */
	struct cur pre, post;	/* its cursor before and after consume */
	/* What went wrong, over every kill point. */
	int kills, committed, not_committed;
	int badmsg, peek_err, wrong_rec, bad_pos, bad_seq, bad_read, bad_lost,
	    bad_after, setup_err;
};

static void die_child(int code)
{
	_exit(code);
}

static int put(struct shmring *w, uint32_t type)
{
	char p[PAYLOAD] = { 0 };

	memcpy(p, &type, sizeof(type));
	return shmring_write(w, type, p, sizeof(p)) == PAYLOAD ? 0 : -1;
}

/* A fresh ring with the subscription at record 0. */
static void setup(const struct scen *sc)
{
	struct shmring_attr a = { .data_size = RSIZE, .policy = sc->policy };
	struct shmring *w, *s;
	int i, ret;

	shmring_unlink(RING);
	ret = shmring_open(RING, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
			   0600, &a, &w);
	if (ret)
		bail_out("create %s: %s", RING, shmring_strerror(ret));
	ret = shmring_subscribe(RING, SUB, 0, &s);
	if (ret)
		bail_out("subscribe %s: %s", RING, shmring_strerror(ret));
	shmring_close(s);
	for (i = 0; i < (sc->policy == SHMRING_POLICY_LOSSLESS ? 4 : 1); i++)
		if (put(w, (uint32_t)i))
			bail_out("write to %s failed", RING);
	shmring_close(w);
}

/* The traced child: stops (SIGTRAP) right before the consume. */
static void child(const struct scen *sc)
{
	struct shmring_record rec;
	struct shmring *r, *w;
	uint32_t i;

	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
		die_child(10);
	if (shmring_subscribe(RING, SUB, 0, &r))
		die_child(11);
	if (shmring_peek(r, &rec) || rec.seq != 0 || shmring_consume(r))
		die_child(12);
	if (sc->policy == SHMRING_POLICY_OVERWRITE) {
		if (shmring_open(RING, SHMRING_O_WRITE, 0, NULL, &w))
			die_child(13);
		static char pl[LAP][PAYLOAD];
		struct shmring_msg m[LAP];

		for (i = 0; i < LAP; i++) {
			memcpy(pl[i], &i, sizeof(i));
			m[i] = (struct shmring_msg){ pl[i], PAYLOAD, i + 1 };
		}
		if (shmring_write_batch(w, m, LAP) != (int)LAP)
			die_child(14);
		shmring_close(w);
	}
	/* rec_seq is 0 until expect() has seen where the lap left the tail. */
	if (shmring_peek(r, &rec) || (sc->rec_seq && rec.seq != sc->rec_seq))
		die_child(15);
	/* A trap two or three instructions before the call (SIGTRAP stop). */
	__asm__ volatile("int3" ::: "memory");
	shmring_consume(r);
	_exit(0);
}

static pid_t start_child(const struct scen *sc)
{
	pid_t pid;
	int st;

	setup(sc);
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0)
		child(sc);
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP)
		bail_out("child did not stop before consume (status %#x)", st);
	return pid;
}

/* One instruction; 0, or 1 once the child has exited. */
static int step(pid_t pid)
{
	int st;

	if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL))
		bail_out("PTRACE_SINGLESTEP: %s", strerror(errno));
	if (waitpid(pid, &st, 0) != pid)
		bail_out("waitpid: %s", strerror(errno));
	if (WIFEXITED(st) || WIFSIGNALED(st))
		return 1;
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP)
		bail_out("child stopped by signal %d while stepping", WSTOPSIG(st));
	return 0;
}

static struct user_regs_struct regs(pid_t pid)
{
	struct user_regs_struct r;

	if (ptrace(PTRACE_GETREGS, pid, NULL, &r))
		bail_out("PTRACE_GETREGS: %s", strerror(errno));
	return r;
}

/* From the child's int3 to the first instruction of consume. */
static void step_to_consume(pid_t pid)
{
	uintptr_t entry = (uintptr_t)&shmring_consume;
	int n;

	for (n = 0; regs(pid).rip != entry; n++)
		if (n == 100 || step(pid))
			bail_out("child never entered shmring_consume()");
}

/*
 * Single-step a whole consume, from its entry to its return address:
 * the instructions, and where each one is.
 */
static int count_consume(const struct scen *sc)
{
	pid_t pid = start_child(sc);
	uint64_t ret_addr, t0;
	int n = 0, i, j;

	step_to_consume(pid);
	t0 = now_mono_ns();
	errno = 0;
	ret_addr = (uint64_t)ptrace(PTRACE_PEEKDATA, pid, (void *)regs(pid).rsp, NULL);
	if (errno)
		bail_out("PTRACE_PEEKDATA: %s", strerror(errno));
	tr.rip[0] = regs(pid).rip;
	do {
		if (step(pid))
			bail_out("child exited inside shmring_consume()");
		tr.rip[++n] = regs(pid).rip;
	} while (tr.rip[n] != ret_addr && n < STEP_MAX);
	diag("%s: single-stepped one consume: %d instructions, %.1f ms per step",
	     sc->name, n, (double)(now_mono_ns() - t0) / 1e6 / n);
	reap(pid);
	for (i = 0; i <= n; i++)
		for (tr.occ[i] = 0, j = 0; j < i; j++)
			tr.occ[i] += tr.rip[j] == tr.rip[i];
	tr.n = n;
	return n;
}

static void poke(pid_t pid, uint64_t addr, long word)
{
	if (ptrace(PTRACE_POKETEXT, pid, (void *)addr, (void *)word))
		bail_out("PTRACE_POKETEXT: %s", strerror(errno));
}

/*
 * Run the child until it is about to execute @addr for the @need-th
 * time, through an int3 there (single-stepping is milliseconds per
 * instruction under TCG; this is one trap per pass). Returns 0 there,
 * or how many passes it saw if it exited first.
 */
static int run_to(pid_t pid, uint64_t addr, int need)
{
	struct user_regs_struct r;
	int st, seen = 0;
	long orig;

	errno = 0;
	orig = ptrace(PTRACE_PEEKTEXT, pid, (void *)addr, NULL);
	if (errno)
		bail_out("PTRACE_PEEKTEXT: %s", strerror(errno));
	for (;;) {
		poke(pid, addr, (long)(((unsigned long)orig & ~0xffUL) | 0xcc));
		if (ptrace(PTRACE_CONT, pid, NULL, NULL))
			bail_out("PTRACE_CONT: %s", strerror(errno));
		if (waitpid(pid, &st, 0) != pid)
			bail_out("waitpid: %s", strerror(errno));
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return seen ? seen : -1;
		r = regs(pid);
		if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP || r.rip != addr + 1)
			bail_out("child stopped (%#x) at %#llx, not at the breakpoint", st,
				 (unsigned long long)r.rip);
		r.rip = addr;
		if (ptrace(PTRACE_SETREGS, pid, NULL, &r))
			bail_out("PTRACE_SETREGS: %s", strerror(errno));
		poke(pid, addr, orig);
		if (++seen == need)
			return 0;
		if (step(pid))
			return seen;
	}
}

/*
 * A fresh child, killed with k instructions of its consume done, right
 * before the instruction at rip[k]. Returns 1 when the point could only
 * be reached as an earlier pass of the same instruction (a retry loop
 * that ran more often when single-stepped), 2 when the child never ran
 * that instruction (it was killed after its consume then).
 */
static int missed_diags;

static int kill_at(const struct scen *sc, int k)
{
	int need = tr.occ[k] + 1, seen, ret, i;
	pid_t pid = start_child(sc);

	step_to_consume(pid);
	if (k <= 2) {
		for (i = 0; i < k; i++)
			if (step(pid))
				break;
		reap(pid);
		return 0;
	}
	seen = run_to(pid, tr.rip[k], need);
	reap(pid);
	if (seen <= 0) {
		if (seen < 0 && missed_diags++ < 3)
			diag("k=%d: the child never ran %#llx", k,
			     (unsigned long long)tr.rip[k]);
		return seen < 0 ? 2 : 0;
	}
	pid = start_child(sc);
	step_to_consume(pid);
	ret = run_to(pid, tr.rip[k], seen);
	reap(pid);
	if (ret && missed_diags++ < 3)
		diag("k=%d: the child ran %#llx %d times, then not", k,
		     (unsigned long long)tr.rip[k], seen);
	return ret ? 2 : 1;
}

/* The reader page of @r, mapped once more, read-only. */
static const struct shmring_reader *page_of(struct shmring *r)
{
	struct shmring_info info;
	void *p;

	if (shmring_info(r, &info))
		return NULL;
	p = mmap(NULL, info.page_size, PROT_READ, MAP_SHARED, shmring_fd(r),
		 (off_t)info.map_reader_off);
	return p == MAP_FAILED ? NULL : p;
}

static struct cur cur_of(const struct shmring_reader *rp)
{
	struct cur c = { rp->pos, rp->seq, rp->records_read, rp->records_lost };

	return c;
}

static int report(int first, const char *what, int k, const struct cur *got,
		  const struct cur *want)
{
	if (first)
		diag("k=%d: %s: pos %llu seq %llu read %llu lost %llu, want %llu %llu %llu %llu",
		     k, what, (unsigned long long)got->pos, (unsigned long long)got->seq,
		     (unsigned long long)got->nread, (unsigned long long)got->nlost,
		     (unsigned long long)want->pos, (unsigned long long)want->seq,
		     (unsigned long long)want->nread, (unsigned long long)want->nlost);
	return 1;
}

/* After the child was killed: attach as the next reader would. */
static void check_resume(struct scen *sc, int k)
{
	const struct shmring_reader *rp;
	struct shmring_record rec;
	struct cur c, want;
	struct shmring *r;
	int ret, done;

	sc->kills++;
	ret = shmring_subscribe(RING, SUB, 0, &r);
	if (ret) {
		if (!sc->setup_err++)
			diag("k=%d: attach: %s", k, shmring_strerror(ret));
		return;
	}
	rp = page_of(r);
	if (!rp)
		bail_out("map the reader page");
	c = cur_of(rp);
	done = c.pos == sc->post.pos;
	if (done)
		sc->committed++;
	else
		sc->not_committed++;
	want = done ? sc->post : sc->pre;
	if (c.pos != want.pos)
		sc->bad_pos += report(!sc->bad_pos, "position", k, &c, &want);
	else if (c.seq != want.seq)
		sc->bad_seq += report(!sc->bad_seq, "seq", k, &c, &want);
	if (c.nread != want.nread)
		sc->bad_read += report(!sc->bad_read, "records_read", k, &c, &want);
	if (c.nlost != want.nlost)
		sc->bad_lost += report(!sc->bad_lost, "records_lost", k, &c, &want);

	ret = shmring_peek(r, &rec);
	if (ret == -EBADMSG) {
		if (!sc->badmsg++)
			diag("k=%d: peek: -EBADMSG", k);
	} else if (ret) {
		if (!sc->peek_err++)
			diag("k=%d: peek: %s", k, shmring_strerror(ret));
	} else if (rec.seq != sc->rec_seq + (uint64_t)done) {
		if (!sc->wrong_rec++)
			diag("k=%d: peek gave seq %llu, want %llu", k,
			     (unsigned long long)rec.seq,
			     (unsigned long long)(sc->rec_seq + (uint64_t)done));
	} else {
		/* One record more, the gap counted once in all. */
		ret = shmring_consume(r);
		c = cur_of(rp);
		want = sc->post;
		want.pos = 0;
		want.nread += done;
		want.seq += done;
		c.pos = 0;
		if (ret || memcmp(&c, &want, sizeof(c)))
			sc->bad_after += report(!sc->bad_after, "after one more consume",
						k, &c, &want);
	}
	munmap((void *)rp, (size_t)sysconf(_SC_PAGESIZE));
	shmring_close(r);
}

/* Expected cursors, from the ring's geometry (all records are RTOTAL). */
static void expect(struct scen *sc)
{
	struct shmring_info info;
	struct shmring *w;
	uint64_t tail_seq = 1;

	sc->pre = (struct cur){ RTOTAL, 1, 1, 0 };
	if (sc->policy == SHMRING_POLICY_OVERWRITE) {
		/* The ring as the child leaves it: run one to completion. */
		pid_t pid = start_child(sc);

		ptrace(PTRACE_CONT, pid, NULL, NULL);
		waitpid(pid, NULL, 0);
		if (shmring_open(RING, SHMRING_O_WRITE, 0, NULL, &w) ||
		    shmring_info(w, &info))
			bail_out("info %s", RING);
		shmring_close(w);
		tail_seq = info.tail_seq;
		if (info.tail != tail_seq * RTOTAL || tail_seq < 2)
			bail_out("overwrite ring: tail %llu seq %llu, not lapped as planned",
				 (unsigned long long)info.tail, (unsigned long long)tail_seq);
		/*
		 * The writer moved the cursor to the tail when it lapped it
		 * (SHMRING_FEAT_LAP); seq and the counters stay, so the
		 * consume that commits counts the gap.
		 */
		if (info.features & SHMRING_FEAT_LAP)
			sc->pre.pos = info.tail | SHMRING_POS_LAPPED;
	}
	sc->rec_seq = tail_seq;
	sc->post = (struct cur){ (tail_seq + 1) * RTOTAL, tail_seq + 1, 2, tail_seq - 1 };
}

static void kill_points(struct scen *sc)
{
	int count, k, ret, repass = 0, missed = 0;
	uint64_t t0 = now_mono_ns();

	expect(sc);
	count = count_consume(sc);
	ok(count > 10 && count < STEP_MAX, "%s: shmring_consume() is %d instructions",
	   sc->name, count);
	check_resume(sc, count);	/* the counting child finished consume */
	for (k = 1; k <= count; k++) {
		ret = kill_at(sc, k);
		repass += ret == 1;
		missed += ret == 2;
		check_resume(sc, k);
	}
	diag("%s: %d kill points (k = 1..%d instructions into consume): %d before the commit, %d after, %d as an earlier pass of a retry loop; %.1f s",
	     sc->name, count, count, sc->not_committed, sc->committed - 1, repass,
	     (double)(now_mono_ns() - t0) / 1e9);
	is_int(missed, 0, "%s: every kill point was reached", sc->name);
	is_int(sc->setup_err, 0, "%s: the subscription attaches after every kill", sc->name);
	is_int(sc->badmsg, 0, "%s: peek never returns -EBADMSG after a kill", sc->name);
	is_int(sc->peek_err + sc->wrong_rec, 0,
	       "%s: peek gives the record being consumed or the next one", sc->name);
	is_int(sc->bad_pos + sc->bad_seq, 0, "%s: seq matches pos in the reader page", sc->name);
	is_int(sc->bad_read, 0, "%s: records_read is exact", sc->name);
	is_int(sc->bad_lost, 0, "%s: records_lost is exact (%llu lost, not counted twice)",
	       sc->name, (unsigned long long)sc->post.nlost);
	is_int(sc->bad_after, 0, "%s: after one more consume, every counter is exact", sc->name);
	ok(sc->committed > 1 && sc->not_committed > 0,
	   "%s: kills landed both before and after the commit", sc->name);
	shmring_unlink(RING);
}

#endif /* __x86_64__ */

/* --- shmring_read() ------------------------------------------------------ */

static void test_read(void)
{
	struct shmring_attr a = { .data_size = RSIZE, .policy = SHMRING_POLICY_LOSSLESS };
	struct shmring_record rec;
	struct shmring *w, *r;
	char buf[64];
	int ret;

	shmring_unlink(RING);
	if (shmring_open(RING, SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &w) ||
	    shmring_open(RING, SHMRING_O_READ, 0, NULL, &r))
		bail_out("open %s", RING);
	shmring_write(w, 7, "hello", 5);
	shmring_write(w, 8, "a longer record", 15);
	memset(buf, 0, sizeof(buf));
	ret = shmring_read(r, &rec, buf, sizeof(buf));
	ok(ret == 5 && !memcmp(buf, "hello", 5) && rec.type == 7 && rec.seq == 0 &&
	   rec.len == 5 && rec.data == buf, "read: payload copied, record described, data = buf");
	ret = shmring_read(r, &rec, buf, 4);
	ok(ret == -EMSGSIZE && rec.len == 15 && rec.seq == 1,
	   "read: buffer too small -> -EMSGSIZE, rec says the length (%d)", ret);
	ret = shmring_read(r, NULL, buf, sizeof(buf));
	ok(ret == 15 && !memcmp(buf, "a longer record", 15),
	   "read: the record left by -EMSGSIZE is read next (rec may be NULL)");
	is_int(shmring_read(r, &rec, buf, sizeof(buf)), -EAGAIN, "read: nothing pending -> -EAGAIN");
	is_int(shmring_read(w, &rec, buf, sizeof(buf)), -EBADF, "read: on a writer handle -> -EBADF");
	shmring_close(r);
	shmring_close(w);
	shmring_unlink(RING);
}

/* Every 8 bytes of a payload carry its record number: a tear shows. */
static int torn(const uint64_t *p, uint32_t len)
{
	uint32_t i;

	if (len < 8 || len % 8)
		return 1;
	for (i = 1; i < len / 8; i++)
		if (p[i] != p[0])
			return 1;
	return 0;
}

static void test_read_lapped(void)
{
	struct shmring_attr a = { .data_size = 65536, .policy = SHMRING_POLICY_OVERWRITE };
	static uint64_t wbuf[1024], rbuf[2048];
	uint64_t t_end, reads = 0, tears = 0, n;
	struct shmring_record rec;
	struct shmring *w, *r;
	int ret, bad = 0;
	pid_t pid;

	shmring_unlink(RING);
	if (shmring_open(RING, SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &w) ||
	    shmring_open(RING, SHMRING_O_READ, 0, NULL, &r))
		bail_out("open %s", RING);
	pid = fork();
	if (pid == 0) {
		for (n = 0;; n++) {
			uint32_t len = 8 * (uint32_t)(1 + (n * 2654435761U) % 1024);
			uint32_t i;

			for (i = 0; i < len / 8; i++)
				wbuf[i] = n;
			shmring_write(w, 1, wbuf, len);
		}
	}
	t_end = now_mono_ns() + 2000000000ULL;
	while (now_mono_ns() < t_end) {
		ret = shmring_read(r, &rec, rbuf, sizeof(rbuf));
		if (ret == -EAGAIN)
			continue;
		if (ret < 0) {
			if (!bad++)
				diag("shmring_read: %s", shmring_strerror(ret));
			continue;
		}
		reads++;
		tears += torn(rbuf, (uint32_t)ret);
	}
	reap(pid);
	diag("lapped reader: %llu records read, %llu lost while a writer lapped it",
	     (unsigned long long)reads, (unsigned long long)shmring_lost(r));
	ok(reads > 0 && bad == 0, "read while lapped: %llu records, no error",
	   (unsigned long long)reads);
	is_int(tears, 0, "read while lapped: no copy is torn");
	shmring_close(r);
	shmring_close(w);
	shmring_unlink(RING);
}

int main(void)
{
	plan(2 * 10 + 7);
#if defined(__x86_64__)
	struct scen lossless = { .name = "lossless", .policy = SHMRING_POLICY_LOSSLESS };
	struct scen overwrite = { .name = "overwrite", .policy = SHMRING_POLICY_OVERWRITE };

	kill_points(&lossless);
	kill_points(&overwrite);
#else
	skip(2 * 10, "the kill-point walk reads x86-64 registers");
#endif
	test_read();
	test_read_lapped();
	return done_testing();
}
