// SPDX-License-Identifier: MIT
/*
 * shmring-bench: shmring measured against the IPC a user would otherwise
 * pick, in the same boot (man/shmring-bench.1, docs/bench.md).
 *
 *   shmring-bench [-t IMPL,...] [-s SIZE,...] [-S WxR,...] [-r REPS]
 *                 [-d SECONDS] [-n RECORDS] [-m throughput,latency,idle]
 *                 [-o FILE] [--quick]
 *
 * Every run forks its writers and readers as separate processes, releases
 * them together, and has each one report its records, CPU time
 * (getrusage) and system calls (counted here: the link wraps every libc
 * entry point that enters the kernel, libshmring's included). Output is
 * one JSON object per line; bench/report.py turns it into the report.
 *
 * Readers check the header of every record they get (writer id and a
 * per-writer counter): a lossless transport that loses, duplicates or
 * reorders a record fails the run. They do not read the rest of the
 * payload; the copy into the reader's buffer that pipes, sockets and
 * message queues make is part of what those cost.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

struct bench_opts opt = {
	.ring_size = 1 << 20, .ring_records = 2048, .batch = 64, .reps = 5, .target_s = 0.25,
	.samples = 2000, .gap_us = 300, .idle_s = 0.5,
};

/* --- The implementations, in report order ------------------------------------ */

static const struct peer *const peers[] = {
	&peer_shmring, &peer_pipe, &peer_seqpacket, &peer_mq, &peer_uring, &peer_memcpy,
};

unsigned int impl_count(void)
{
	unsigned int n = 0;

	for (size_t p = 0; p < ARRAY_SIZE(peers); p++)
		n += peers[p]->n;
	return n < MAX_IMPLS ? n : MAX_IMPLS;
}

const struct impl *impl_get(unsigned int i)
{
	for (size_t p = 0; p < ARRAY_SIZE(peers); i -= peers[p++]->n)
		if (i < peers[p]->n)
			return &peers[p]->impls[i];
	return NULL;
}

/* Paths that send -b records per call: batch writes, zero-copy batches. */
bool impl_batches(const struct impl *im)
{
	return !strcmp(im->path, "batch") || !strcmp(im->path, "zc-batch");
}

const char *impl_group(const struct impl *im)
{
	if (im->no_readers)
		return "bound";
	return impl_batches(im) ? "batch" : "record";
}

static bool is_shmring(const struct impl *im)
{
	return !strcmp(im->transport, "shmring");
}

/* --- Limits: raise what the IPC peers are allowed, as root ------------------------ */

static void raise_to(const char *path, long want)
{
	FILE *f;

	if (read_long(path) >= want)
		return;
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%ld\n", want);
		fclose(f);
	}
}

/*
 * The buffer every transport gets for records of SIZE payload bytes:
 * --ring-size, or more to hold --ring-records of them (a power of two, at
 * most RING_AUTO_MAX), so that large records are not measured in a
 * buffer of a few hundred, where every transport wakes its peer every
 * few records.
 */
uint64_t ring_for(uint32_t size)
{
	uint64_t want = (uint64_t)opt.ring_records * SHMRING_REC_TOTAL(size), ring = opt.ring_size;

	while (ring < want && ring < RING_AUTO_MAX)
		ring <<= 1;
	return ring;
}

static void raise_limits(uint64_t ring)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	raise_to("/proc/sys/fs/pipe-max-size", (long)ring);
	raise_to("/proc/sys/fs/mqueue/msg_max", 65536);		/* HARD_MSGMAX */
	raise_to("/proc/sys/fs/mqueue/msgsize_max", 16 << 20);	/* HARD_MSGSIZEMAX */
	raise_to("/proc/sys/net/core/wmem_max", (long)ring);
	if (setrlimit(RLIMIT_MSGQUEUE, &rl)) {
		getrlimit(RLIMIT_MSGQUEUE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MSGQUEUE, &rl);
	}
}

/* --- Command line ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f,
"Usage: " PROG " [OPTION]...\n"
"Measure shmring against pipes, AF_UNIX sockets, POSIX message queues, a\n"
"userspace ring and memcpy, in this boot. One JSON object per line goes to\n"
"standard output (or -o FILE); progress goes to standard error.\n"
"\n"
"  -t, --impl LIST        implementations (default: all of them)\n"
"  -s, --sizes LIST       record payload bytes, k/M suffixes (default\n"
"                         16,64,512,4096,65536)\n"
"  -S, --scenarios LIST   writers x readers, up to %ux%u (default\n"
"                         1x1,4x1,1x4,4x4)\n"
"  -m, --metrics LIST     throughput,latency,idle (default all three)\n"
"  -r, --reps N           repetitions of every measurement (default 5)\n"
"  -d, --duration SEC     calibrate each throughput run to last SEC (default 0.25)\n"
"  -n, --records N        fixed records per writer instead of calibrating\n"
"  -b, --batch N          records per batch call, and per commit of the\n"
"                         zero-copy batch path (default 64, at most %u)\n"
"      --ring-size BYTES  buffer of every transport, k/M suffixes (default 1M)\n"
"      --ring-records N   ...grown for each record size to hold N records,\n"
"                         up to 16M (default 2048; 0: --ring-size only)\n"
"      --latency-sizes L  record sizes for latency (default 64)\n"
"      --samples N        records per latency run (default 2000)\n"
"      --gap-us N         pause between latency records (default 300)\n"
"      --idle SEC         how long the idle reader sleeps (default 0.5)\n"
"  -q, --quick            a small smoke run: 1 repetition, few records\n"
"  -o, --output FILE      write the JSON lines to FILE\n"
"  -l, --list             list the implementations and exit\n"
"  -h, --help             this help\n"
"  -V, --version          version\n"
"\n"
"Implementations:", MAX_W, MAX_R, SHMRING_BATCH_MAX);
	for (i = 0; i < impl_count(); i++)
		fprintf(f, " %s", impl_get(i)->name);
	fprintf(f, "\n\nshmring's paths: write (shmring_write(3), a record per call), write2\n"
		"(write(2)), batch (shmring_write_batch(3), -b records per call), zc\n"
		"(a zero-copy ring: shmring_zc_write(3), a record per commit) and zc-batch\n"
		"(-b records reserved in place by shmring_zc_reserve_n(3), then one\n"
		"shmring_zc_commit(3); its readers\n"
		"wake per chunk, shmring_set_zc_wake(3), in throughput runs); ow- are\n"
		"overwrite rings, the others lossless. The system calls of zero-copy\n"
		"writing, chunk requests (ioctl_zc_chunk) and kicks (ioctl_kick, also\n"
		"readers' kicks of writers), are counted apart from other ioctls.\n"
		"\nRun it where /dev/shmring exists (make bench boots a VM for it); as\n"
		"root it raises the pipe, message-queue and socket-buffer limits first.\n"
		"Exit status: 0 ok, 1 some measurement failed, 2 usage error, 3 the shmring\n"
		"module is not loaded and a shmring implementation was asked for\n"
		"(`shmring-ctl load` loads it; -t without shmring measures the others).\n"
		"See shmring-bench(1).\n");
}

/* A number from min to max, decimal or 0x hex; sizes may have k, M, G suffixes. */
static uint64_t number_arg(const char *s, const char *what, uint64_t min, uint64_t max,
			   bool size)
{
	uint64_t v;

	if (!(size ? parse_size(s, &v) : parse_u64(s, &v)) || v < min || v > max)
		usage_error("invalid %s '%s' (%" PRIu64 " to %" PRIu64 ")", what, s, min, max);
	return v;
}

static double parse_secs(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 3600)
		usage_error("invalid %s '%s' (seconds, more than 0)", what, s);
	return v;
}

#define MAX_LIST 16

/* Comma-separated numbers into out[]; returns how many. */
static unsigned int parse_sizes(const char *arg, uint32_t *out, const char *what)
{
	char *copy = strdup(arg), *tok, *save = NULL;
	unsigned int n = 0;

	if (!copy)
		exit(EXIT_RUNTIME);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_LIST)
			usage_error("too many %s (at most %d)", what, MAX_LIST);
		out[n++] = (uint32_t)number_arg(tok, what, REC_HDR, 1 << 20, true);
	}
	free(copy);
	if (!n)
		usage_error("empty list of %s", what);
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "impl", required_argument, NULL, 't' },
		{ "sizes", required_argument, NULL, 's' },
		{ "scenarios", required_argument, NULL, 'S' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "reps", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "records", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "ring-size", required_argument, NULL, 'R' },
		{ "ring-records", required_argument, NULL, 'C' },
		{ "latency-sizes", required_argument, NULL, 'L' },
		{ "samples", required_argument, NULL, 'N' },
		{ "gap-us", required_argument, NULL, 'G' },
		{ "idle", required_argument, NULL, 'I' },
		{ "quick", no_argument, NULL, 'q' },
		{ "output", required_argument, NULL, 'o' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	uint32_t sizes[MAX_LIST] = { 16, 64, 512, 4096, 65536 }, lat_sizes[MAX_LIST] = { 64 };
	unsigned int n_sizes = 5, n_lat = 1, n_scen = 4, i, j, k;
	unsigned int scen[MAX_LIST][2] = { { 1, 1 }, { 4, 1 }, { 1, 4 }, { 4, 4 } };
	int use[MAX_IMPLS], metrics = 7, c, any;
	const char *impl_arg = NULL, *out_path = NULL;
	char *copy, *tok, *save;

	prog_name = PROG;
	opt.out = stdout;
	while ((c = getopt_long(argc, argv, ":t:s:S:m:r:d:n:b:qo:lhV", longopts, NULL)) != -1) {
		switch (c) {
		case 't': impl_arg = optarg; break;
		case 's': n_sizes = parse_sizes(optarg, sizes, "record sizes"); break;
		case 'L': n_lat = parse_sizes(optarg, lat_sizes, "latency sizes"); break;
		case 'S':
			copy = strdup(optarg);
			n_scen = 0;
			for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				unsigned int w, r;
				char x;

				if (n_scen == MAX_LIST || sscanf(tok, "%u%c%u", &w, &x, &r) != 3 ||
				    x != 'x' || !w || !r || w > MAX_W || r > MAX_R)
					usage_error("invalid scenario '%s' (WxR, 1 to %d writers, "
						    "1 to %d readers)", tok, MAX_W, MAX_R);
				scen[n_scen][0] = w;
				scen[n_scen++][1] = r;
			}
			free(copy);
			if (!n_scen)
				usage_error("empty list of scenarios");
			break;
		case 'm':
			copy = strdup(optarg);
			metrics = 0;
			for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (!strcmp(tok, "throughput"))
					metrics |= 1;
				else if (!strcmp(tok, "latency"))
					metrics |= 2;
				else if (!strcmp(tok, "idle"))
					metrics |= 4;
				else
					usage_error("invalid metric '%s' (throughput, latency, idle)", tok);
			}
			free(copy);
			if (!metrics)
				usage_error("empty list of metrics");
			break;
		case 'r': opt.reps = (unsigned int)number_arg(optarg, "repetitions", 1, 100, false); break;
		case 'd': opt.target_s = parse_secs(optarg, "duration"); break;
		case 'n': opt.records = number_arg(optarg, "record count", 1, 100000000, false); break;
		case 'b':
			opt.batch = (unsigned int)number_arg(optarg, "batch", 1, SHMRING_BATCH_MAX, false);
			break;
		case 'R':
			opt.ring_size = number_arg(optarg, "ring size", 65536, 64 << 20, true);
			if (opt.ring_size & (opt.ring_size - 1))
				usage_error("ring size %" PRIu64 " is not a power of two",
					    opt.ring_size);
			break;
		case 'C':
			opt.ring_records = (unsigned int)number_arg(optarg, "ring records", 0, 1 << 20,
								    false);
			break;
		case 'N': opt.samples = (unsigned int)number_arg(optarg, "samples", 20, 1000000, false); break;
		case 'G': opt.gap_us = (unsigned int)number_arg(optarg, "gap", 1, 1000000, false); break;
		case 'I': opt.idle_s = parse_secs(optarg, "idle time"); break;
		case 'q':
			opt.reps = 1;
			opt.records = 300;
			opt.samples = 100;
			opt.idle_s = 0.05;
			break;
		case 'o': out_path = optarg; break;
		case 'l':
			for (i = 0; i < impl_count(); i++)
				printf("%-18s %-15s %-8s %-10s %s\n", impl_get(i)->name,
				       impl_get(i)->transport, impl_get(i)->path,
				       impl_get(i)->policy, impl_group(impl_get(i)));
			return 0;
		case 'h': usage(stdout); return 0;
		case 'V': print_version(); return 0;
		case ':': usage_error("option '%s' needs an argument", argv[optind - 1]);
		default: usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	for (i = 0; i < impl_count(); i++)
		use[i] = !impl_arg;
	if (impl_arg) {
		copy = strdup(impl_arg);
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			for (any = 0, i = 0; i < impl_count(); i++)
				if (!strcmp(tok, impl_get(i)->name) || !strcmp(tok, impl_get(i)->transport) ||
				    (!strcmp(tok, "shmring") && !strncmp(impl_get(i)->name, "shmring", 7)))
					use[i] = any = 1;
			if (!any)
				usage_error("unknown implementation '%s' (see --list)", tok);
		}
		free(copy);
	}
	for (i = 0; i < n_sizes; i++)
		if (SHMRING_REC_TOTAL(sizes[i]) > ring_for(sizes[i]) / 4)
			usage_error("record size %u does not fit a ring of %" PRIu64
				    " bytes (at most a quarter of it)", sizes[i], ring_for(sizes[i]));
	/* Without the module, the shmring cells could only fail: say so at once. */
	for (i = 0; i < impl_count(); i++)
		if (use[i] && is_shmring(impl_get(i)) && access(SHMRING_DEVICE, F_OK) &&
		    errno == ENOENT)
			return not_loaded();
	if (out_path) {
		opt.out = fopen(out_path, "w");
		if (!opt.out) {
			err_msg("%s: %s", out_path, strerror(errno));
			return EXIT_RUNTIME;
		}
	}
	if (geteuid() == 0) {
		uint64_t ring = opt.ring_size;

		for (i = 0; i < n_sizes; i++)
			if (ring_for(sizes[i]) > ring)
				ring = ring_for(sizes[i]);
		for (i = 0; i < n_lat; i++)
			if (ring_for(lat_sizes[i]) > ring)
				ring = ring_for(lat_sizes[i]);
		raise_limits(ring);
	}
	/* Check that counting works: this write goes through the wrapper. */
	nsys = 0;
	(void)!write(STDERR_FILENO, "", 0);
	print_meta(argc, argv);

	if (metrics & 1) {
		/*
		 * Each scenario and size: every implementation calibrated,
		 * then their repetitions interleaved as latency's are.
		 */
		uint64_t *count = calloc(impl_count() + 1, sizeof(*count));
		unsigned int rep;

		if (!count)
			die(EXIT_RUNTIME, "out of memory");
		for (j = 0; j < n_scen; j++)
			for (k = 0; k < n_sizes; k++) {
				for (i = 0; i < impl_count(); i++)
					count[i] = use[i] ? throughput_calibrate(impl_get(i),
							scen[j][0], scen[j][1], sizes[k]) : 0;
				for (rep = 0; rep < opt.reps; rep++)
					for (i = 0; i < impl_count(); i++)
						if (count[i] &&
						    throughput_rep(impl_get(i), scen[j][0],
								   scen[j][1], sizes[k],
								   count[i], rep))
							count[i] = 0;
			}
		free(count);
	}
	if (metrics & 2) {
		/* Interleaved by repetition (latency_cell()); a cell that failed stops. */
		bool *lat_bad = calloc((size_t)n_lat * impl_count() + 1, sizeof(*lat_bad));
		unsigned int rep;

		if (!lat_bad)
			die(EXIT_RUNTIME, "out of memory");
		for (rep = 0; rep < opt.reps; rep++)
			for (k = 0; k < n_lat; k++)
				for (i = 0; i < impl_count(); i++)
					if (use[i] && !impl_get(i)->no_readers &&
					    !lat_bad[k * impl_count() + i] &&
					    latency_cell(impl_get(i), lat_sizes[k], rep))
						lat_bad[k * impl_count() + i] = true;
		free(lat_bad);
	}
	if (metrics & 4)
		for (i = 0; i < impl_count(); i++)
			if (use[i] && !impl_get(i)->no_readers)
				idle_cell(impl_get(i));
	if (opt.out != stdout && fclose(opt.out)) {
		err_msg("%s: %s", out_path, strerror(errno));
		return EXIT_RUNTIME;
	}
	if (opt.errors)
		err_msg("%d measurement(s) failed", opt.errors);
	return opt.errors ? EXIT_RUNTIME : 0;
}

