// SPDX-License-Identifier: MIT
/*
 * shmring-bench: the cells (calibrated throughput, latency, idle) and
 * their JSON lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "../json.h"

/* --- Output -------------------------------------------------------------------- */

static const char *scen_str(unsigned int w, unsigned int r)
{
	static char buf[16];

	snprintf(buf, sizeof(buf), "%ux%u", w, r);
	return buf;
}

/* The members every line of a cell starts with; the object stays open. */
static void json_head(struct json *j, const char *kind, const struct impl *im,
		      unsigned int w, unsigned int r, uint32_t size, unsigned int rep)
{
	json_init(j, opt.out, JSON_COMPACT);
	json_obj_open(j, JSON_FLOW);
	json_kstr(j, "kind", kind);
	json_kstr(j, "impl", im->name);
	json_kstr(j, "transport", im->transport);
	json_kstr(j, "path", im->path);
	json_kstr(j, "policy", im->policy);
	json_kstr(j, "group", impl_group(im));
	json_ku64(j, "writers", w);
	json_ku64(j, "readers", r);
	json_ku64(j, "size", size);
	json_ku64(j, "ring_size", ring_for(size));
	json_ku64(j, "rep", rep);
}

/* A number with prec decimals. */
static void json_kf(struct json *j, const char *key, int prec, double v)
{
	json_key(j, key);
	json_printf(j, "%.*f", prec, v);
}

/* System calls by kind ({"write":N,...}, the kinds made), summed over processes. */
static void json_sys_by(struct json *j, const char *key, const uint64_t *by)
{
	unsigned int k;

	json_key(j, key);
	json_obj_open(j, JSON_FLOW);
	for (k = 0; k < SC_N; k++)
		if (by[k])
			json_ku64(j, sc_name[k], by[k]);
	json_obj_close(j);
}

static double per(uint64_t n, uint64_t d)
{
	return d ? (double)n / (double)d : 0;
}

/* Close the line's object and write it out; a write error ends the run. */
static void json_line(struct json *j)
{
	json_obj_close(j);
	if (json_end(j) || fflush(opt.out))
		die(EXIT_RUNTIME, "writing the results: %s", strerror(errno));
}

static void json_error(const struct impl *im, unsigned int w, unsigned int r,
		       uint32_t size, const char *what, const char *msg)
{
	struct json j;

	json_head(&j, "error", im, w, r, size, 0);
	json_kstr(&j, "phase", what);
	json_kstr(&j, "message", msg);
	json_line(&j);
	err_msg("%s %s %u B: %s: %s", im->name, scen_str(w, r), size, what, msg);
	opt.errors++;
}

/* --- Cells ----------------------------------------------------------------------- */

/*
 * The record count per writer for runs of about opt.target_s: a short run
 * first, and the count it suggests, until a run lasts a quarter of the
 * target (a shorter one is mostly start-up, whose cost would shrink the
 * count: the runs would be too short to measure much but noise).
 */
static uint64_t calibrate(const struct impl *im, unsigned int w, unsigned int r,
			  uint32_t size, struct outcome *o)
{
	uint64_t n = 2000, want = 0;
	int tries;

	if (opt.records)
		return opt.records;
	/* Big records: start smaller, ~4 MiB per writer. */
	if (n * size > (4u << 20))
		n = (4u << 20) / size;
	if (n < 50)
		n = 50;
	for (tries = 0; tries < 4; tries++) {
		if (run_once(im, M_THROUGHPUT, w, r, size, n, o))
			return 0;
		if (o->seconds <= 0)
			return n;
		want = (uint64_t)((double)n * opt.target_s / o->seconds);
		if (want < 50)
			want = 50;
		if (want > 4000000)
			want = 4000000;
		if (o->seconds >= opt.target_s / 4 || want <= n)
			break;
		n = want;
	}
	return want;
}

uint64_t throughput_calibrate(const struct impl *im, unsigned int w, unsigned int r,
			      uint32_t size)
{
	struct outcome o;
	uint64_t count = calibrate(im, w, r, size, &o);

	if (!count)
		json_error(im, w, r, size, "throughput", o.err);
	return count;
}

int throughput_rep(const struct impl *im, unsigned int w, unsigned int r, uint32_t size,
		   uint64_t count, unsigned int rep)
{
	struct outcome o;
	struct json j;
	double mrec;

	if (run_once(im, M_THROUGHPUT, w, r, size, count, &o)) {
		json_error(im, w, r, size, "throughput", o.err);
		return -1;
	}
	if (o.seconds < 1e-6)
		o.seconds = 1e-6;
	mrec = (double)o.delivered / 1e6;
	json_head(&j, "throughput", im, w, r, size, rep);
	if (o.depth)
		json_ku64(&j, "queue_depth", o.depth);
	json_ku64(&j, "batch", send_batch(im, size, M_THROUGHPUT));
	json_ku64(&j, "records_written", o.written);
	json_ku64(&j, "records_delivered", o.delivered);
	json_ku64(&j, "records_lost", o.lost);
	json_kf(&j, "seconds", 6, o.seconds);
	json_kf(&j, "records_per_s", 1, (double)o.delivered / o.seconds);
	json_kf(&j, "mb_per_s", 3, (double)o.delivered * size / o.seconds / 1e6);
	json_kf(&j, "write_records_per_s", 1, (double)o.written / o.seconds);
	json_kf(&j, "cpu_user_s_per_mrec", 4, mrec ? o.utime / mrec : 0);
	json_kf(&j, "cpu_sys_s_per_mrec", 4, mrec ? o.stime / mrec : 0);
	json_kf(&j, "syscalls_per_rec", 4, per(o.syscalls, o.delivered));
	/*
	 * Writers per record written, readers per record delivered (to
	 * each reader): what one process pays for one record it handles.
	 */
	json_kf(&j, "w_syscalls_per_rec", 4, per(o.w_syscalls, o.written));
	json_sys_by(&j, "w_syscalls", o.w_sys_by);
	if (!im->no_readers) {
		json_kf(&j, "r_syscalls_per_rec", 4, per(o.r_syscalls, o.delivered));
		json_sys_by(&j, "r_syscalls", o.r_sys_by);
	}
	json_line(&j);
	if (rep == 0)
		err_msg("%-16s %s %6u B: %10.0f rec/s %8.1f MB/s syscalls/rec: "
			"writers %.4f readers %.4f", im->name, scen_str(w, r), size,
			(double)o.delivered / o.seconds,
			(double)o.delivered * size / o.seconds / 1e6,
			per(o.w_syscalls, o.written),
			im->no_readers ? 0 : per(o.r_syscalls, o.delivered));
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *s, uint64_t n, double p)
{
	uint64_t i = (uint64_t)(p * (double)(n - 1) + 0.5);

	return (double)s[i < n ? i : n - 1] / 1e3;
}

/*
 * One repetition (@rep) of a latency cell: the caller interleaves them
 * (every implementation's rep 0, then every rep 1...), so that a drift
 * of the host's load during the run favours no implementation. -1: it
 * failed (reported), do not repeat it.
 */
int latency_cell(const struct impl *im, uint32_t size, unsigned int rep)
{
	struct outcome o;
	uint64_t *s, n, skip;
	struct json j;

	{
		if (run_once(im, M_LATENCY, 1, 1, size, opt.samples, &o)) {
			json_error(im, 1, 1, size, "latency", o.err);
			return -1;
		}
		/* The first records warm the path up; they do not count. */
		skip = o.n_lat / 20;
		s = o.lat_ns + skip;
		n = o.n_lat - skip;
		if (!n) {
			free(o.lat_ns);
			json_error(im, 1, 1, size, "latency", "no record arrived");
			return -1;
		}
		qsort(s, n, sizeof(*s), cmp_u64);
		json_head(&j, "latency", im, 1, 1, size, rep);
		json_ku64(&j, "samples", n);
		json_kf(&j, "p50_us", 2, pct_us(s, n, 0.5));
		json_kf(&j, "p99_us", 2, pct_us(s, n, 0.99));
		json_kf(&j, "p999_us", 2, pct_us(s, n, 0.999));
		json_kf(&j, "max_us", 2, pct_us(s, n, 1));
		json_line(&j);
		if (rep == 0)
			err_msg("%-16s latency %u B: p50 %.1f us p99 %.1f us", im->name, size,
				pct_us(s, n, 0.5), pct_us(s, n, 0.99));
		free(o.lat_ns);
	}
	return 0;
}

void idle_cell(const struct impl *im)
{
	struct outcome o;
	unsigned int rep;
	struct json j;
	double cpu;

	for (rep = 0; rep < opt.reps; rep++) {
		if (run_once(im, M_IDLE, 1, 1, REC_HDR + 48, 1, &o)) {
			json_error(im, 1, 1, REC_HDR + 48, "idle", o.err);
			return;
		}
		/* The sleeping reader's share only. */
		cpu = o.r_cpu;
		json_head(&j, "idle", im, 1, 1, REC_HDR + 48, rep);
		json_kf(&j, "seconds", 4, o.seconds);
		json_kf(&j, "cpu_s", 6, cpu);
		json_kf(&j, "cpu_pct", 4, o.seconds > 0 ? 100.0 * cpu / o.seconds : 0);
		json_ku64(&j, "syscalls", o.r_syscalls);
		json_sys_by(&j, "r_syscalls", o.r_sys_by);
		json_line(&j);
	}
}

/* The first line: what was measured where, with which limits. */
void print_meta(int argc, char **argv)
{
	struct utsname u;
	struct json j;
	FILE *raw;
	int i;

	uname(&u);
	json_init(&j, opt.out, JSON_COMPACT);
	json_obj_open(&j, JSON_FLOW);
	json_kstr(&j, "kind", "meta");
	json_kstr(&j, "tool", PROG);
	json_kstr(&j, "version", shmring_tools_version);
	json_kstr(&j, "kernel", u.release);
	json_key(&j, "cpus");
	json_i64(&j, sysconf(_SC_NPROCESSORS_ONLN));
	json_ku64(&j, "ring_size", opt.ring_size);
	json_ku64(&j, "ring_records", opt.ring_records);
	json_ku64(&j, "reps", opt.reps);
	json_ku64(&j, "batch", opt.batch);
	json_kf(&j, "target_s", 3, opt.target_s);
	json_ku64(&j, "latency_samples", opt.samples);
	json_ku64(&j, "latency_gap_us", opt.gap_us);
	json_kf(&j, "idle_s", 3, opt.idle_s);
	json_kbool(&j, "emulated", getenv("SHMRING_VM"));
	{
		/* Where the clock comes from: the vDSO reads tsc, not hpet. */
		char cs[32] = "";
		FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

		if (f) {
			if (fgets(cs, sizeof(cs), f))
				cs[strcspn(cs, "\n")] = 0;
			fclose(f);
		}
		json_kstr(&j, "clocksource", cs);
	}
	json_kbool(&j, "syscalls_counted", nsys);
	json_key(&j, "limits");
	json_obj_open(&j, JSON_FLOW);
	json_key(&j, "pipe_max_size");
	json_i64(&j, read_long("/proc/sys/fs/pipe-max-size"));
	json_key(&j, "mq_msg_max");
	json_i64(&j, read_long("/proc/sys/fs/mqueue/msg_max"));
	json_key(&j, "mq_msgsize_max");
	json_i64(&j, read_long("/proc/sys/fs/mqueue/msgsize_max"));
	json_key(&j, "wmem_max");
	json_i64(&j, read_long("/proc/sys/net/core/wmem_max"));
	json_obj_close(&j);
	/* the command line, its words joined by blanks */
	json_key(&j, "argv");
	raw = json_raw(&j);
	fputc('"', raw);
	for (i = 0; i < argc; i++) {
		const char *p;

		for (p = argv[i]; *p; p++)
			if (*p != '"' && *p != '\\' && (unsigned char)*p >= 32)
				fputc(*p, raw);
		if (i + 1 < argc)
			fputc(' ', raw);
	}
	fputc('"', raw);
	json_line(&j);
}
