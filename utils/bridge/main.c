// SPDX-License-Identifier: MIT
/*
 * shmring-bridge: carry the records of a ring through a NATS JetStream
 * stream to rings on other hosts (man/shmring-bridge.8, docs/bridge.md).
 *
 *   shmring-bridge out -s URL[,URL...] -r RING --stream NAME [...]
 *   shmring-bridge in  -s URL[,URL...] --stream NAME -r RING [...]
 *
 * This file: the command line, messages, --stats, signals, crash reports.
 */
#include <errno.h>
#include <execinfo.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"
#include "bridge.h"
#include "../common.h"

struct bridge_opts opt = { .replicas = 1, .batch = 256 };
struct bridge_stats stats;

/*
 * A crash (glibc's heap checks abort, a bad pointer faults) prints the
 * stack of the crashing thread on stderr, as symbols where the library
 * exports them and as binary(+offset) otherwise (addr2line -e the binary
 * turns those into lines), then dies of the same signal: its exit status
 * says so as before. The bridge runs for days beside NATS's own threads;
 * a crash report without a core file is what an operator can send.
 */
static void on_crash(int sig)
{
	static const char head[] = PROG ": crashed (signal ";
	char num[4] = { (char)('0' + sig / 10 % 10), (char)('0' + sig % 10), ')', '\n' };
	void *pc[64];
	int n = backtrace(pc, 64);
	ssize_t w;

	/* Only async-signal-safe calls: write(2) and backtrace_symbols_fd(). */
	w = write(STDERR_FILENO, head, sizeof(head) - 1);
	w = write(STDERR_FILENO, num, sizeof(num));
	(void)w;
	backtrace_symbols_fd(pc, n, STDERR_FILENO);
	raise(sig);	/* SA_RESETHAND: the default action now */
}

static void catch_crashes(void)
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	struct sigaction sa;
	void *pc[1];

	backtrace(pc, 1);	/* loads the unwinder now, not in the handler */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: " PROG " out -s URL[,URL...] -r RING --stream NAME [OPTION]...\n"
"       " PROG " in  -s URL[,URL...] --stream NAME -r RING [OPTION]...\n"
"Carry the records of a shmring ring through a NATS JetStream stream.\n"
"\n"
"out: publish each record of RING to the stream, exactly once (the record's\n"
"identity is the JetStream message id; RING's subscription moves only after\n"
"the server acknowledged). in: write each message of the stream into RING,\n"
"acknowledging only after the record is committed, never twice.\n"
"\n"
"  -s, --server=URL[,URL...]  NATS servers (nats://host:port)\n"
"  -r, --ring=RING        the ring to read (out) or write (in; it must exist)\n"
"      --stream=NAME      the JetStream stream\n"
"      --subject=SUBJ     out: the subject (default shmring.RING, escaped)\n"
"      --sub=NAME         out: the ring subscription (default bridge-STREAM)\n"
"      --create-stream    out: create the stream if it is missing\n"
"      --replicas=N       with --create-stream: replicas (default 1)\n"
"      --snapshots        out: also put RING's snapshots into the KV bucket\n"
"                         " BRIDGE_KV_BUCKET "\n"
"      --durable=NAME     in: the JetStream consumer (default bridge-RING)\n"
"      --state=FILE       in: the state file (default\n"
"                         /dev/shm/shmring-bridge-UID/in.RING.DURABLE)\n"
"      --bootstrap        in: an empty RING starts from the latest snapshot\n"
"                         of the KV bucket, then the stream after it\n"
"      --batch=N          records per publish or fetch round (default 256)\n"
"      --stats[=SECS]     a state line on stderr every SECS (default 5)\n"
"      --creds=FILE       NATS credentials file (the recommended way)\n"
"      --user=U           user; the password from --password-file=FILE (its\n"
"                         first line), $NATS_PASSWORD or --password=P (seen\n"
"                         by other users in the process list: avoid)\n"
"Environment: NATS_PASSWORD (with --user), NATS_TOKEN (a token, without\n"
"--creds and --user). URLs are shown with passwords and tokens as ***.\n"
"  -v, --verbose          more messages\n"
"  -h, --help             this help\n"
"  -V, --version          print the version\n"
"\n"
"Exit status: 0 stopped by SIGTERM/SIGINT, 1 runtime error (bad URL, auth\n"
"failure, missing stream or ring), 2 usage error, 3 the shmring module is not\n"
"loaded. A server outage is not an error: the bridge reconnects. See\n"
"shmring-bridge(8).\n");
}

static void __attribute__((format(printf, 1, 0))) vmsg(const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	/* One write: lines of the libnats threads do not interleave. */
	fprintf(stderr, "%s: %s\n", prog_name, line);
}

void logmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!opt.verbose)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void logrl(uint64_t *last, const char *fmt, ...)
{
	uint64_t now = monotonic_ns();
	va_list ap;

	if (*last && now - *last < 5000000000ULL)
		return;
	*last = now;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

const char *nats_err(natsStatus s, char *buf, size_t cap)
{
	natsStatus ls = NATS_OK;
	const char *last = nats_GetLastError(&ls), *text = natsStatus_GetText(s), *p;

	if (ls != s)	/* a stale error of an earlier call */
		last = NULL;

	/* libnats prefixes its last error with "(file.c:123): ": not for users. */
	if (last && *last == '(' && (p = strstr(last, "): ")))
		last = p + 3;
	if (last && *last && !strstr(last, text) && s != NATS_OK)
		snprintf(buf, cap, "%s (%s)", text, last);
	else if (last && *last && s != NATS_OK)
		snprintf(buf, cap, "%s", last);
	else
		snprintf(buf, cap, "%s", text);
	return buf;
}

void sleep_ms(int64_t ms)
{
	/* In slices of at most 100 ms: a signal that lands between the check
	 * and the sleep still stops us within 100 ms (review #13). */
	while (ms > 0 && !stop_sig) {
		int64_t d = ms < 100 ? ms : 100;
		struct timespec ts = { 0, d * 1000000 };

		nanosleep(&ts, NULL);
		ms -= d;
	}
}

void stats_tick(void)
{
	uint64_t now = monotonic_ns(), dt;

	if (!opt.stats)
		return;
	if (!stats.last_ns) {
		stats.last_ns = now;
		return;
	}
	dt = now - stats.last_ns;
	if (dt < (uint64_t)opt.stats * 1000000000ULL)
		return;
	logmsg("state=%s records=%" PRIu64 " bytes=%" PRIu64 " acked=%" PRIu64
	       " lag=%" PRIu64 " rate=%" PRIu64 "/s",
	       atomic_load(&nats_connected) ? "connected" : "disconnected",
	       stats.records, stats.bytes, stats.acked, stats.lag,
	       (uint64_t)((stats.records - stats.last_records) * 1000000000ULL / dt));
	stats.last_records = stats.records;
	stats.last_ns = now;
}

const char *state_dir(void)
{
	static char dir[128];
	int ret;

	if (dir[0])
		return dir;
	snprintf(dir, sizeof(dir), SHMRING_SNAP_DIR "/shmring-bridge-%u", (unsigned int)geteuid());
	ret = bridge_private_dir(dir);
	if (ret == -EPERM)
		die(EXIT_RUNTIME, "%s: not a directory of this user that only it may use "
		    "(planted by another user? check it and remove it)", dir);
	if (ret)
		die(EXIT_RUNTIME, "%s: %s", dir, ret == -ELOOP ? "a symbolic link, refused: "
		    "remove it" : strerror(-ret));
	return dir;
}

void lock_state(const char *state)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s.lock", state);
	fd = bridge_lock_file(path);
	if (fd == -EWOULDBLOCK)
		die(EXIT_RUNTIME, "another " PROG " %s uses %s (its lock %s is held)",
		    opt.out ? "out" : "in", state, path);
	if (fd < 0)
		die(EXIT_RUNTIME, "%s: %s", path, bridge_file_error(fd));
	/* Ours alone now: temporary files a kill -9 left can go. */
	if (bridge_remove_stale_tmp(state) > 0)
		vlog("%s: removed temporary files a killed bridge left", state);
	/* Kept open (and locked) until exit. */
}

static int parse_int_opt(const char *name, const char *arg, int min, int max)
{
	uint64_t v;

	if (!bridge_parse_dec(arg, &v) || v < (uint64_t)min || v > (uint64_t)max)
		usage_error("invalid %s '%s' (%d to %d)", name, arg, min, max);
	return (int)v;
}

static void split_urls(const char *arg)
{
	char *copy = strdup(arg), *tok, *save = NULL, why[128];

	if (!copy)
		die(EXIT_RUNTIME, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char **u = realloc(opt.urls, (size_t)(opt.nurls + 1) * sizeof(*u));

		if (!u)
			die(EXIT_RUNTIME, "out of memory");
		opt.urls = u;
		if (!bridge_url_ok(tok, why, sizeof(why)))
		{
			char shown[512];

			bridge_url_redact(tok, shown, sizeof(shown));
			die(EXIT_RUNTIME, "bad server URL '%s': %s", shown, why);
		}
		opt.urls[opt.nurls] = strdup(tok);
		if (!opt.urls[opt.nurls++])
			die(EXIT_RUNTIME, "out of memory");
	}
	free(copy);
	if (!opt.nurls)
		die(EXIT_RUNTIME, "bad server URL '%s': no URL", arg);
	opt.shown_url = malloc(strlen(opt.urls[0]) + 8);
	if (!opt.shown_url)
		die(EXIT_RUNTIME, "out of memory");
	bridge_url_redact(opt.urls[0], opt.shown_url, strlen(opt.urls[0]) + 8);
}

enum {
	O_STREAM = 256, O_SUBJECT, O_SUB, O_CREATE, O_REPLICAS, O_SNAPS, O_DURABLE,
	O_STATE, O_BOOT, O_BATCH, O_STATS, O_CREDS, O_USER, O_PASS, O_PASSFILE,
};

/* The first line of FILE (the password), without its newline; exit 1 if unreadable. */
static char *read_secret(const char *file)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f = fopen(file, "re");

	if (!f)
		die(EXIT_RUNTIME, "--password-file %s: %s", file, strerror(errno));
	len = getline(&line, &cap, f);
	fclose(f);
	if (len < 0)
		die(EXIT_RUNTIME, "--password-file %s: empty", file);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = 0;
	if (!len)
		die(EXIT_RUNTIME, "--password-file %s: empty first line", file);
	return line;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "ring", required_argument, NULL, 'r' },
		{ "stream", required_argument, NULL, O_STREAM },
		{ "subject", required_argument, NULL, O_SUBJECT },
		{ "sub", required_argument, NULL, O_SUB },
		{ "create-stream", no_argument, NULL, O_CREATE },
		{ "replicas", required_argument, NULL, O_REPLICAS },
		{ "snapshots", no_argument, NULL, O_SNAPS },
		{ "durable", required_argument, NULL, O_DURABLE },
		{ "state", required_argument, NULL, O_STATE },
		{ "bootstrap", no_argument, NULL, O_BOOT },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "stats", optional_argument, NULL, O_STATS },
		{ "creds", required_argument, NULL, O_CREDS },
		{ "user", required_argument, NULL, O_USER },
		{ "password", required_argument, NULL, O_PASS },
		{ "password-file", required_argument, NULL, O_PASSFILE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *server = NULL;
	char *secret = NULL;
	int c, ret;

	prog_name = PROG;
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
		print_version();
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-')
		usage_error("a direction first: 'out' or 'in'");
	if (!strcmp(argv[1], "out"))
		opt.out = true;
	else if (strcmp(argv[1], "in"))
		usage_error("unknown direction '%s' ('out' or 'in')", argv[1]);
	argv++;
	argc--;
	while ((c = getopt_long(argc, argv, "s:r:vhV", lopts, NULL)) != -1) {
		switch (c) {
		case 's': server = optarg; break;
		case 'r': opt.ring = optarg; break;
		case O_STREAM: opt.stream = optarg; break;
		case O_SUBJECT: opt.subject = optarg; break;
		case O_SUB: opt.sub = optarg; break;
		case O_CREATE: opt.create_stream = true; break;
		case O_REPLICAS: opt.replicas = parse_int_opt("--replicas", optarg, 1, 5); break;
		case O_SNAPS: opt.snapshots = true; break;
		case O_DURABLE: opt.durable = optarg; break;
		case O_STATE: opt.state = optarg; break;
		case O_BOOT: opt.bootstrap = true; break;
		case O_BATCH:
			opt.batch = parse_int_opt("--batch", optarg, 1, BRIDGE_IN_MAX_BATCH);
			break;
		case O_STATS:
			opt.stats = optarg ? parse_int_opt("--stats", optarg, 1, 86400) : 5;
			break;
		case O_CREDS: opt.creds = optarg; break;
		case O_USER: opt.user = optarg; break;
		case O_PASS: opt.password = optarg; break;
		case O_PASSFILE: opt.password_file = optarg; break;
		case 'v': opt.verbose++; break;
		case 'h': usage(stdout); return 0;
		case 'V': print_version(); return 0;
		default:
			fprintf(stderr, "Try '%s --help' for more information.\n", prog_name);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!server)
		usage_error("no server: -s URL[,URL...]");
	if (!opt.ring)
		usage_error("no ring: -r RING");
	if (!opt.stream)
		usage_error("no stream: --stream NAME");
	if (opt.password && opt.password_file)
		usage_error("--password and --password-file exclude each other");
	if (opt.creds && (opt.user || opt.password || opt.password_file))
		usage_error("--creds and --user/--password exclude each other");
	if (!opt.user && (opt.password || opt.password_file))
		usage_error("--password and --password-file need --user");
	if (opt.user && !opt.password && !opt.password_file && !getenv("NATS_PASSWORD"))
		usage_error("--user needs a password: --password-file FILE, NATS_PASSWORD "
			    "or --password");
	if (opt.out && (opt.durable || opt.state || opt.bootstrap))
		usage_error("--durable, --state and --bootstrap are options of 'in'");
	if (!opt.out && (opt.subject || opt.sub || opt.create_stream || opt.snapshots))
		usage_error("--subject, --sub, --create-stream and --snapshots are options of 'out'");
	{
		char why[128];

		if (!bridge_name_ok(opt.stream, why, sizeof(why)))
			usage_error("invalid --stream '%s': %s", opt.stream, why);
		if (opt.durable && !bridge_name_ok(opt.durable, why, sizeof(why)))
			usage_error("invalid --durable '%s': %s", opt.durable, why);
		if (opt.sub && !*opt.sub)
			usage_error("invalid --sub '': empty");
		if (opt.subject && !bridge_subject_ok(opt.subject, why, sizeof(why)))
			usage_error("invalid --subject '%s': %s", opt.subject, why);
	}
	if (opt.creds && access(opt.creds, R_OK))
		die(EXIT_RUNTIME, "--creds %s: %s", opt.creds, strerror(errno));
	split_urls(server);
	if (opt.password_file)
		opt.password = secret = read_secret(opt.password_file);
	else if (opt.user && !opt.password)
		opt.password = getenv("NATS_PASSWORD");
	if (!opt.creds && !opt.user && getenv("NATS_TOKEN") && *getenv("NATS_TOKEN"))
		opt.token = getenv("NATS_TOKEN");
	catch_stop_signals(false, false);
	catch_crashes();
	ret = opt.out ? run_out() : run_in();
	for (int i = 0; i < opt.nurls; i++)
		free(opt.urls[i]);
	free(opt.urls);
	free(opt.shown_url);
	free(secret);
	nats_CloseAndWait(2000);
	return ret;
}
