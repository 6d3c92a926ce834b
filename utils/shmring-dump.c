// SPDX-License-Identifier: MIT
/*
 * shmring-dump: print the records of a ring, follow it, capture it to a
 * file and read captures back (man/shmring-dump.1).
 *
 *   shmring-dump [-j [-p]|--hex] [-f [--no-tap]] [-n N] [--from POS]
 *                [-t TYPE]... [-s SUB] [-w FILE] RING
 *   shmring-dump [-j [-p]|--hex] -r FILE [-n N] [--from SEQ|time=WHEN]
 *                [-t TYPE]... [-w FILE]
 *   shmring-dump [-f] [-s SUB] --dir DIR [--rotate-size BYTES]
 *                [--rotate-time SECONDS] [--keep N] [--max-total BYTES]
 *                [--fsync-interval SECONDS] RING
 *
 * Records are copied out of the mapping before they are consumed and are
 * only printed when shmring_consume() says they were not overwritten
 * meanwhile; anything skipped over is reported as lost.
 *
 * Zero-copy rings: discarded reservations are skipped and counted (shown
 * on standard error at the end), corrupt records are skipped to the end
 * of their chunk and reported on standard error as they are found (the
 * exit status is then 1).
 *
 * -f reads through a tap (SHMRING_O_TAP) unless --no-tap or -s: a tap
 * never holds back the writers of a lossless ring; when they lap it, the
 * records it missed are reported as lost, like any other gap.
 * --from moves the reader with shmring_seek() (oldest, end, seq=N,
 * time=WHEN); with -s that moves the subscription's durable position.
 *
 * --dir writes a directory of rotated captures, each a complete file
 * named RING-YYYYmmddTHHMMSSZ-SEQ.cap (SEQ: the first sequence number it
 * can hold, 20 digits, so names sort in capture order). At start the
 * newest file says where the last run stopped; the reader is moved there
 * so that nothing is captured twice, and what the ring no longer holds is
 * recorded as lost (docs/operations.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmring.h"
#include "capture.h"
#include "common.h"
#include "json.h"
#include "position.h"

#define PROG "shmring-dump"

static struct {
	const char *ring;
	const char *sub;
	const char *wfile;
	const char *rfile;
	const char *dir;	/* --dir: rotated captures */
	uint64_t rotate_size, rotate_time, keep, max_total, fsync_interval;
	bool follow;
	bool have_last;
	uint64_t last;		/* -n */
	bool have_from;
	uint64_t from;		/* --from SEQ or seq=N: records before it are not shown */
	bool from_seek;		/* --from oldest, end, time=: only a seek says where */
	struct ring_pos from_pos;	/* --from as a position */
	const char *from_arg;
	int tap;		/* --tap 1, --no-tap 0, -1: with -f and without -s */
	uint32_t *types;
	size_t ntypes;
	struct dump_fmt fmt;
} opt;

static uint64_t start_seq;	/* records (and losses) before it are not shown */
static uint64_t nr_records, nr_lost;
static uint64_t nr_discarded, nr_corrupt;	/* zero-copy rings */
static struct cap_writer cw;
static bool capturing;

static void usage(FILE *f)
{
	fprintf(f,
"Usage: " PROG " [OPTION]... RING\n"
"       " PROG " -r FILE [OPTION]...\n"
"Print the records of a shmring ring, oldest first, one line each.\n"
"\n"
"  -j, --json             JSON output: one object per record and per loss\n"
"  -p, --pretty           with -j: each object indented over several lines\n"
"  -f, --follow           keep printing records as they are written; through a\n"
"                         tap: writers of a lossless ring are never held back,\n"
"                         records they overwrite before we read them are\n"
"                         reported as lost\n"
"      --no-tap, --hold   with -f, an ordinary reader: writers of a lossless\n"
"                         ring wait for it (nothing is lost)\n"
"      --tap              read through a tap without -f too\n"
"  -n, --lines=N          start with the last N records\n"
"      --from=POS         start at POS: SEQ or seq=N (that sequence number),\n"
"                         oldest, end (only records written from now on), or\n"
"                         time=WHEN (the first record at or after WHEN: wall\n"
"                         time, ISO-8601 like 2026-12-01T12:00:00Z, or ns since\n"
"                         the epoch); with -s the subscription moves there\n"
"  -t, --type=T[,T...]    only records of these types (repeatable)\n"
"  -s, --subscribe=NAME   read through durable subscription NAME (the\n"
"                         position persists: the next run resumes there)\n"
"      --hex              hexdump of each payload under its record line\n"
"  -w, --write=FILE       write a binary capture to FILE ('-': stdout)\n"
"  -r, --read=FILE        read a capture instead of a ring ('-': stdin)\n"
"      --dir=DIR          write rotated captures RING-TIME-SEQ.cap into DIR;\n"
"                         a new run resumes after the newest file's records\n"
"      --rotate-size=BYTES   with --dir: a new file when one reaches BYTES\n"
"      --rotate-time=SECONDS with --dir: a new file when one is SECONDS old\n"
"      --keep=N           with --dir: remove the oldest files beyond N\n"
"      --max-total=BYTES  with --dir: remove the oldest files beyond BYTES\n"
"      --fsync-interval=SECONDS  with --dir: fdatasync every SECONDS\n"
"      --snapshot[=FILE]  the latest snapshot of RING (or in FILE): seq, length,\n"
"                         age, checksum; with -f, bootstrap: the snapshot, then\n"
"                         the ring's records from the one after it\n"
"      --snapshot-out=FILE  also write the snapshot's bytes to FILE ('-': stdout)\n"
"  -h, --help             this help\n"
"  -V, --version          print the version\n"
"\n"
"Exit status: 0 ok, 1 runtime error, 2 usage error, 3 the shmring module is\n"
"not loaded (`shmring-ctl load` loads it). See shmring-dump(1).\n");
}

static void add_types(const char *arg)
{
	char *copy = strdup(arg), *tok, *save = NULL;
	uint32_t *types, v;

	if (!copy)
		die(EXIT_RUNTIME, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!parse_u32(tok, &v))
			usage_error("invalid record type '%s' (a number, 0 to 4294967295, "
				    "decimal or 0x hex)", tok);
		types = realloc(opt.types, (opt.ntypes + 1) * sizeof(*types));
		if (!types)
			die(EXIT_RUNTIME, "out of memory");
		opt.types = types;
		opt.types[opt.ntypes++] = v;
	}
	if (!opt.ntypes)
		usage_error("invalid record type list '%s'", arg);
	free(copy);
}

static bool type_wanted(uint32_t type)
{
	size_t i;

	if (!opt.ntypes)
		return true;
	for (i = 0; i < opt.ntypes; i++)
		if (opt.types[i] == type)
			return true;
	return false;
}

/*
 * Output failed with errno set.  A reader that went away (EPIPE; SIGPIPE
 * is ignored) ends the dump quietly, like `... | head`; anything else is
 * an error.
 */
static void __attribute__((noreturn)) output_failed(int err)
{
	if (err == EPIPE)
		_exit(0);
	die(EXIT_RUNTIME, "%s: %s", capturing ? opt.wfile : "standard output",
	    strerror(err));
}

static void flush_output(void)
{
	if (fflush(stdout))
		output_failed(errno);
}

static void frame_written(void);

static void emit_record(const struct shmring_record *rec)
{
	int ret;

	if (!type_wanted(rec->type))
		return;
	if (capturing) {
		ret = cap_write_record(&cw, rec);
		if (ret)
			output_failed(-ret);
		frame_written();
	} else if (dump_record(stdout, &opt.fmt, rec)) {
		output_failed(errno);
	}
	nr_records++;
}

static void emit_lost(uint64_t from, uint64_t to)
{
	int ret;

	if (to < start_seq)
		return;
	if (from < start_seq)
		from = start_seq;
	if (capturing) {
		ret = cap_write_lost(&cw, from, to);
		if (ret)
			output_failed(-ret);
		frame_written();
	} else if (dump_lost(stdout, &opt.fmt, from, to)) {
		output_failed(errno);
	}
	nr_lost += to - from + 1;
}

/* --- Capture output ------------------------------------------------------ */

static int cap_fd = -1;

/* --- Capture directories (--dir) ------------------------------------------ */

static struct cap_info dir_info;	/* the header of every file, but its start */
static char cur_path[PATH_MAX];		/* the file being written */
static uint64_t file_first_mono;	/* when its first frame was written */
static uint64_t synced_bytes;		/* of it, at the last fdatasync */
static uint64_t synced_mono;
static uint64_t nr_files;
static char file_prefix[SHMRING_NAME_MAX + 2];	/* "RING-" */

/* Capture files of our ring in --dir: RING-*.cap */
static int cap_file_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name), plen = strlen(file_prefix);

	return len > plen + 4 && !strncmp(d->d_name, file_prefix, plen) &&
	       !strcmp(d->d_name + len - 4, ".cap");
}

/* Our capture files, oldest first (names sort in capture order); -1 on error. */
static int dir_list(struct dirent ***names)
{
	int n = scandir(opt.dir, names, cap_file_filter, alphasort);

	if (n < 0)
		die(EXIT_RUNTIME, "%s: %s", opt.dir, strerror(errno));
	return n;
}

static void dir_free(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Make new names and removals durable (a crash keeps the directory as seen). */
static void dir_sync(void)
{
	int fd = open(opt.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fsync(fd) && errno != EINVAL)
		warn_msg("%s: fsync: %s", opt.dir, strerror(errno));
	close(fd);
}

/* A new file for records from @seq on; its name sorts after the others. */
static int dir_create_file(uint64_t seq)
{
	char stamp[32];
	struct stat st;
	struct tm tm;
	time_t t = time(NULL);
	int fd;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (snprintf(cur_path, sizeof(cur_path), "%s/%s%s-%020" PRIu64 ".cap", opt.dir,
		     file_prefix, stamp, seq) >= (int)sizeof(cur_path))
		die(EXIT_RUNTIME, "%s: directory name too long", opt.dir);
	opt.wfile = cur_path;
	fd = open(cur_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	/* A restart within the same second, nothing captured since: reuse it. */
	if (fd < 0 && errno == EEXIST && stat(cur_path, &st) == 0 &&
	    st.st_size <= CAP_HDR_LEN_V1)
		fd = open(cur_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		die(EXIT_RUNTIME, "%s: %s", cur_path, strerror(errno));
	synced_mono = monotonic_ns();
	synced_bytes = 0;
	nr_files++;
	dir_sync();
	return fd;
}

/*
 * Retention: the oldest files go while there are more than --keep, or
 * more than --max-total bytes (the file being written counted as
 * --rotate-size, what it may grow to); that file always stays.
 */
static void dir_prune(void)
{
	const char *cur = strrchr(cur_path, '/') + 1;
	struct dirent **names;
	uint64_t total = 0, *sizes;
	int n, count, removed = 0;
	struct stat st;
	char path[PATH_MAX];

	if (!opt.keep && !opt.max_total)
		return;
	n = dir_list(&names);
	sizes = calloc((size_t)n + 1, sizeof(*sizes));
	if (!sizes)
		die(EXIT_RUNTIME, "out of memory");
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", opt.dir, names[i]->d_name);
		sizes[i] = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
		/* The current file counts as big as it may grow. */
		if (!strcmp(names[i]->d_name, cur) && sizes[i] < opt.rotate_size)
			sizes[i] = opt.rotate_size;
		total += sizes[i];
	}
	count = n;
	for (int i = 0; i < n && strcmp(names[i]->d_name, cur); i++) {
		if (!((opt.keep && (uint64_t)count > opt.keep) ||
		      (opt.max_total && total > opt.max_total)))
			break;
		snprintf(path, sizeof(path), "%s/%s", opt.dir, names[i]->d_name);
		if (unlink(path) && errno != ENOENT) {
			warn_msg("%s: cannot remove it: %s", path, strerror(errno));
			continue;
		}
		count--;
		total -= sizes[i];
		removed++;
	}
	if (removed)
		dir_sync();
	free(sizes);
	dir_free(names, n);
}

/* Finish the current file (complete and synced) and start the next one. */
static void dir_rotate(uint64_t next_seq)
{
	struct cap_info info = dir_info;
	int ret;

	if (fdatasync(cap_fd) || close(cap_fd))
		die(EXIT_RUNTIME, "%s: %s", cur_path, strerror(errno));
	cap_writer_close(&cw);
	info.start_ns = realtime_ns();
	info.start_seq = next_seq;
	cap_fd = dir_create_file(next_seq);
	ret = cap_writer_open(&cw, cap_fd, &info);
	if (ret)
		output_failed(-ret);
	dir_prune();
}

/* Frames in the current file. */
static uint64_t file_frames(void)
{
	return cw.records + cw.lost_frames;
}

/* --rotate-time counts from a file's first frame: no file of idle time only. */
static void frame_written(void)
{
	if (opt.dir && file_frames() == 1)
		file_first_mono = monotonic_ns();
}

/* Rotation and periodic syncs that are due; next_seq starts a new file. */
static void dir_tick(uint64_t next_seq)
{
	uint64_t now;

	if (!capturing)
		return;
	if (opt.rotate_size && file_frames() && cw.bytes >= opt.rotate_size) {
		dir_rotate(next_seq);
		return;
	}
	now = monotonic_ns();
	if (opt.rotate_time && file_frames() &&
	    now - file_first_mono >= opt.rotate_time * 1000000000ULL) {
		dir_rotate(next_seq);
		return;
	}
	if (opt.fsync_interval && cw.bytes != synced_bytes &&
	    now - synced_mono >= opt.fsync_interval * 1000000000ULL) {
		if (fdatasync(cap_fd))
			die(EXIT_RUNTIME, "%s: %s", cur_path, strerror(errno));
		synced_bytes = cw.bytes;
		synced_mono = now;
	}
}

/* Milliseconds until dir_tick() has something to do; -1: nothing. */
static int dir_timeout_ms(void)
{
	uint64_t now = monotonic_ns(), due = UINT64_MAX, ms;

	if (!opt.dir || !capturing)
		return -1;
	if (opt.rotate_time && file_frames())
		due = file_first_mono + opt.rotate_time * 1000000000ULL;
	if (opt.fsync_interval && cw.bytes != synced_bytes &&
	    synced_mono + opt.fsync_interval * 1000000000ULL < due)
		due = synced_mono + opt.fsync_interval * 1000000000ULL;
	if (due == UINT64_MAX)
		return -1;
	ms = due > now ? (due - now + 999999) / 1000000 : 0;
	return ms > 3600000 ? 3600000 : (int)ms;
}

/*
 * Where the last run stopped: the sequence number after the newest file's
 * last frame (its header's start_seq when it has none). False when there is
 * no readable capture of ours in the directory.
 */
static bool dir_resume(uint64_t *next, char *from, size_t fromlen)
{
	struct dirent **names;
	struct cap_reader cr;
	struct cap_frame fr;
	char path[PATH_MAX];
	bool found = false;
	int n, ret;
	FILE *in;

	n = dir_list(&names);
	for (int i = n - 1; i >= 0 && !found; i--) {
		snprintf(path, sizeof(path), "%s/%s", opt.dir, names[i]->d_name);
		in = fopen(path, "rbe");
		if (!in) {
			warn_msg("%s: %s", path, strerror(errno));
			continue;
		}
		if (cap_reader_open(&cr, cap_read_stdio, in)) {
			warn_msg("%s: %s; resuming from an older file", path,
				 cr.err[0] ? cr.err : "unreadable");
			fclose(in);
			continue;
		}
		*next = cr.info.start_seq;
		while ((ret = cap_reader_next(&cr, &fr)) > 0) {
			if (fr.kind == CAP_RECORD && fr.rec.seq + 1 > *next)
				*next = fr.rec.seq + 1;
			else if (fr.kind == CAP_LOST && fr.lost_to + 1 > *next)
				*next = fr.lost_to + 1;
		}
		if (ret < 0)
			warn_msg("%s: %s: resuming after its last whole frame", path, cr.err);
		cap_reader_close(&cr);
		fclose(in);
		snprintf(from, fromlen, "%s", path);
		found = true;
	}
	dir_free(names, n);
	return found;
}

static void dir_setup(void)
{
	struct stat st;

	snprintf(file_prefix, sizeof(file_prefix), "%s-", opt.ring);
	if (stat(opt.dir, &st) && errno == ENOENT && mkdir(opt.dir, 0777) == 0)
		return;
	if (stat(opt.dir, &st))
		die(EXIT_RUNTIME, "%s: %s", opt.dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		die(EXIT_RUNTIME, "%s: %s", opt.dir, strerror(ENOTDIR));
}

static void capture_open(const struct cap_info *src)
{
	struct cap_info info = *src;
	struct stat st;
	int ret;

	info.version = CAP_VERSION;
	if (!opt.rfile)		/* a copy of a capture keeps its start time */
		info.start_ns = realtime_ns();
	if (start_seq > info.start_seq)
		info.start_seq = start_seq;
	if (opt.ntypes || opt.have_last || opt.have_from || opt.from_seek)
		info.flags |= CAP_F_FILTERED;
	if (info.max_record > CAP_MAX_RECORD)
		die(EXIT_RUNTIME, "%s: max_record %" PRIu32 " is above the 1 GiB a capture can hold",
		    info.name, info.max_record);
	if (opt.dir) {
		dir_info = info;
		cap_fd = dir_create_file(info.start_seq);
	} else if (!strcmp(opt.wfile, "-")) {
		cap_fd = STDOUT_FILENO;
	} else {
		cap_fd = open(opt.wfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (cap_fd < 0)
			die(EXIT_RUNTIME, "%s: %s", opt.wfile, strerror(errno));
	}
	if (fstat(cap_fd, &st) == 0 && S_ISCHR(st.st_mode) && isatty(cap_fd))
		die(EXIT_USAGE, "refusing to write a binary capture to a terminal");
	capturing = true;
	ret = cap_writer_open(&cw, cap_fd, &info);
	if (ret == -EINVAL)
		die(EXIT_RUNTIME, "%s: ring attributes cannot be captured", info.name);
	if (ret)
		output_failed(-ret);
	if (opt.dir)
		dir_prune();
}

static int finish(int status)
{
	struct stat st;

	if (capturing) {
		if (fstat(cap_fd, &st) == 0 && S_ISREG(st.st_mode) && fdatasync(cap_fd))
			die(EXIT_RUNTIME, "%s: %s", opt.wfile, strerror(errno));
		if (cap_fd != STDOUT_FILENO && close(cap_fd))
			die(EXIT_RUNTIME, "%s: %s", opt.wfile, strerror(errno));
		cap_writer_close(&cw);
		if (opt.dir)
			err_msg("%" PRIu64 " record%s written to %s (%" PRIu64 " file%s, the "
				"last %s)", nr_records, nr_records == 1 ? "" : "s", opt.dir,
				nr_files, nr_files == 1 ? "" : "s", strrchr(cur_path, '/') + 1);
		else
			err_msg("%" PRIu64 " record%s written to %s", nr_records,
				nr_records == 1 ? "" : "s",
				strcmp(opt.wfile, "-") ? opt.wfile : "standard output");
		if (nr_lost)
			err_msg("%" PRIu64 " record%s lost", nr_lost, nr_lost == 1 ? "" : "s");
	}
	flush_output();
	if (nr_discarded)
		err_msg("%" PRIu64 " discarded reservation%s skipped", nr_discarded,
			nr_discarded == 1 ? "" : "s");
	if (nr_corrupt) {
		err_msg("%" PRIu64 " corrupt record%s skipped", nr_corrupt,
			nr_corrupt == 1 ? "" : "s");
		if (!status)
			status = EXIT_RUNTIME;
	}
	return status;
}

/*
 * Zero-copy rings: what the reader skipped since we last looked. A
 * corrupt record is reported as it is found, like any corruption, but
 * reading goes on after it (the reader skips to the end of its chunk).
 */
static void zc_counts(struct shmring *r)
{
	uint64_t corrupt = shmring_corrupt(r);

	nr_discarded = shmring_discarded(r);
	if (corrupt == nr_corrupt)
		return;
	flush_output();
	err_msg("%s: %s: skipped to the end of its chunk%s", opt.ring,
		shmring_strerror(-EBADMSG), corrupt - nr_corrupt > 1 ? " (several)" : "");
	nr_corrupt = corrupt;
}

/* --- Live rings ---------------------------------------------------------- */

static bool kernel_has(uint32_t feature)
{
	struct shmring_features f;

	return shmring_features(&f) == 0 && (f.features & feature);
}

/* A reader of opt.ring: a subscription, a tap, or a plain reader. */
static struct shmring *open_ring(void)
{
	struct shmring *r;
	int ret;

	if (opt.sub) {
		ret = shmring_subscribe(opt.ring, opt.sub, 0, &r);
	} else {
		ret = shmring_open(opt.ring, SHMRING_O_READ | (opt.tap ? SHMRING_O_TAP : 0),
				   0, NULL, &r);
		if (ret == -EINVAL && opt.tap && !kernel_has(SHMRING_FEAT_TAP)) {
			if (opt.tap > 0)
				die(EXIT_RUNTIME, "%s: --tap: this kernel has no tap readers "
				    "(SHMRING_O_TAP)", opt.ring);
			warn_msg("this kernel has no tap readers: following %s as an ordinary "
				 "reader (writers of a lossless ring wait for it)", opt.ring);
			ret = shmring_open(opt.ring, SHMRING_O_READ, 0, NULL, &r);
		}
	}
	if (ret == -ENODEV)
		exit(not_loaded());
	if (ret) {
		if (opt.sub)
			die(EXIT_RUNTIME, "%s (subscription %s): %s", opt.ring, opt.sub,
			    shmring_strerror(ret));
		die(EXIT_RUNTIME, "%s: %s", opt.ring, shmring_strerror(ret));
	}
	return r;
}

/*
 * --from: move the reader there. A sequence number the ring no longer
 * (or not yet) holds leaves the reader where it is: records before it are
 * filtered out and those gone before it is reached are reported as lost.
 * So does one on a zero-copy ring, where the kernel cannot seek to a
 * sequence number (EOPNOTSUPP: the reader numbers the records).
 */
static void seek_from(struct shmring *r)
{
	int ret = ring_pos_seek(r, &opt.from_pos);

	if (!ret)
		return;
	if (!opt.from_seek && (ret == -ENOENT || ret == -ENOTTY || ret == -EOPNOTSUPP))
		return;
	if (ret == -ENOTTY)
		die(EXIT_RUNTIME, "%s: --from %s: this kernel cannot move a reader "
		    "(SHMRING_IOC_SEEK)", opt.ring, opt.from_arg);
	die(EXIT_RUNTIME, "%s: --from %s: %s", opt.ring, opt.from_arg, shmring_strerror(ret));
}

enum { WAIT_AGAIN, WAIT_STOP, WAIT_GONE };

/*
 * Sleep until the ring has records, a stop signal arrives, or our output
 * is closed (POLLERR on a pipe whose reader exited: `| head` must end us
 * even when no more records come).  Signals are blocked except inside
 * ppoll(), so one that arrives just before the wait is not missed.
 */
static int wait_ring(struct shmring *r)
{
	static bool watch_out = true;	/* false once the output fd is invalid */
	struct pollfd p[2] = {
		{ .fd = shmring_fd(r), .events = POLLIN },
		{ .fd = capturing ? cap_fd : STDOUT_FILENO, .events = 0 },
	};
	struct timespec ts, *tsp = NULL;
	int timeout = dir_timeout_ms();
	sigset_t block, old;
	int n, err;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (stop_sig) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return WAIT_STOP;
	}
	if (timeout >= 0) {	/* --dir: a rotation or sync is due then */
		ts.tv_sec = timeout / 1000;
		ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
		tsp = &ts;
	}
	n = ppoll(p, watch_out ? 2 : 1, tsp, &old);
	err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (n < 0) {
		if (err == EINTR)
			return stop_sig ? WAIT_STOP : WAIT_AGAIN;
		die(EXIT_RUNTIME, "poll: %s", strerror(err));
	}
	if (p[1].revents & POLLNVAL)
		watch_out = false;	/* closed stdout: the next print fails */
	else if (p[1].revents & (POLLERR | POLLHUP))
		output_failed(EPIPE);
	if (p[0].revents & POLLIN)
		return WAIT_AGAIN;
	if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
		return WAIT_GONE;
	return WAIT_AGAIN;
}

/*
 * --dir: move the reader to the record after the newest capture file's
 * last one, so that a restart neither repeats nor skips records. Returns
 * whether it resumes (then *next is that sequence number).
 */
static bool resume_dir(struct shmring *r, uint64_t *next)
{
	struct shmring_info info;
	char from[PATH_MAX];
	int ret;

	if (!dir_resume(next, from, sizeof(from)))
		return false;
	ret = shmring_info(r, &info);
	if (ret)
		die(EXIT_RUNTIME, "%s: %s", opt.ring, shmring_strerror(ret));
	if (*next > info.head_seq) {
		warn_msg("%s ends at sequence number %" PRIu64 " but ring %s is only at %" PRIu64
			 ": a new ring (reboot?); capturing it from where this reader stands",
			 from, *next - 1, opt.ring, (uint64_t)info.head_seq);
		return false;
	}
	if (info.reader_seq == *next)
		return true;
	if (*next == info.head_seq)
		ret = shmring_seek(r, SHMRING_SEEK_END, 0);
	else
		ret = shmring_seek(r, SHMRING_SEEK_SEQ, *next);
	if (ret == -ENOENT)	/* overwritten meanwhile: from the oldest, the gap is lost */
		ret = shmring_seek(r, SHMRING_SEEK_OLDEST, 0);
	if (ret == -EOPNOTSUPP || ret == -ENOTTY) {
		warn_msg("%s: the reader cannot be moved to sequence number %" PRIu64
			 " (%s): records before it are skipped", opt.ring, *next,
			 ret == -ENOTTY ? "a kernel without SHMRING_IOC_SEEK" : "a zero-copy ring");
		return true;
	}
	if (ret)
		die(EXIT_RUNTIME, "%s: resuming at sequence number %" PRIu64 ": %s", opt.ring,
		    *next, shmring_strerror(ret));
	return true;
}

static int run_ring(void)
{
	struct shmring_record rec, copy;
	struct shmring_info info;
	struct seq_track track;
	uint64_t end_seq, from, to, resume = 0, disc = 0;
	bool resuming = false;
	struct shmring *r;
	unsigned char *buf;
	bool gone = false, zc;
	uint64_t zc_left = 0;
	int ret;

	r = open_ring();
	if (opt.have_from || opt.from_seek)
		seek_from(r);
	else if (opt.dir && !opt.have_last)
		resuming = resume_dir(r, &resume);
	ret = shmring_info(r, &info);
	if (ret)
		die(EXIT_RUNTIME, "%s: %s", opt.ring, shmring_strerror(ret));

	start_seq = opt.have_from ? opt.from : 0;
	if (resuming)
		start_seq = resume;
	if (opt.from_seek)	/* where the seek put us: nothing before is due */
		start_seq = info.reader_seq;
	if (opt.have_last && info.head_seq > opt.last && info.head_seq - opt.last > start_seq)
		start_seq = info.head_seq - opt.last;
	/* Losses are counted from what this reader was due to see next. */
	track.next = info.reader_seq > start_seq ? info.reader_seq : start_seq;
	if (resuming)	/* what the ring no longer holds is lost */
		track.next = resume;
	end_seq = info.head_seq;
	/*
	 * Zero-copy rings number records in the reader and head is the end
	 * of the chunks granted: without -f, stop after as many records as
	 * the bytes granted when we started can hold.
	 */
	zc = info.attr.flags & SHMRING_ATTR_ZEROCOPY;
	if (zc)
		zc_left = (info.head - (info.reader_pos & ~(uint64_t)SHMRING_POS_LAPPED)) /
			  SHMRING_REC_TOTAL(0) + 1;

	if (opt.wfile || opt.dir) {
		struct cap_info ci;

		memset(&ci, 0, sizeof(ci));
		memcpy(ci.name, info.name, sizeof(ci.name) - 1);
		ci.data_size = info.attr.data_size;
		ci.max_record = info.attr.max_record;
		ci.policy = info.attr.policy;
		ci.ring_flags = info.attr.flags;
		ci.abi_version = info.abi_version;
		ci.start_seq = track.next;
		capture_open(&ci);
	}
	buf = malloc(info.attr.max_record ? info.attr.max_record : 1);
	if (!buf)
		die(EXIT_RUNTIME, "out of memory");

	while (!stop_sig) {
		if (opt.dir)
			dir_tick(track.next);
		ret = shmring_peek(r, &rec);
		if (zc) {
			zc_counts(r);
		} else {
			/* DISCARD records skipped since the last record (numbered). */
			disc += shmring_discarded(r) - nr_discarded;
			nr_discarded = shmring_discarded(r);
		}
		if (ret == -EAGAIN) {
			if (!opt.follow)
				break;
			if (gone) {
				err_msg("ring %s was unlinked", opt.ring);
				break;
			}
			if (!capturing)
				flush_output();
			ret = wait_ring(r);
			if (ret == WAIT_STOP)
				break;
			gone = ret == WAIT_GONE;
			continue;
		}
		if (ret)
			die(EXIT_RUNTIME, "%s: %s", opt.ring, shmring_strerror(ret));
		if (!opt.follow && (zc ? zc_left-- == 0 : rec.seq >= end_seq))
			break;	/* written after we started: left for next time */
		if (rec.len > info.attr.max_record)
			die(EXIT_RUNTIME, "%s: %s", opt.ring, shmring_strerror(-EBADMSG));
		copy = rec;
		copy.data = buf;
		memcpy(buf, rec.data, rec.len);
		ret = shmring_consume(r);
		if (ret == -ESTALE) {
			/* Overwritten while we copied it: lost, with any gap before. */
			if (rec.seq >= track.next) {
				emit_lost(track.next, rec.seq);
				track.next = rec.seq + 1;
			}
			continue;
		}
		if (ret)
			die(EXIT_RUNTIME, "%s: %s", opt.ring, shmring_strerror(ret));
		/* The numbers of DISCARD records skipped are no loss. */
		if (seq_track_see(&track, rec.seq, &from, &to) > disc)
			emit_lost(from, to - disc);
		disc = 0;
		if (rec.seq < start_seq || (rec.flags & SHMRING_REC_DISCARD))
			continue;
		emit_record(&copy);
	}
	ret = finish(0);
	free(buf);
	shmring_close(r);
	return ret;
}

/* --- Captures ------------------------------------------------------------ */

static bool same_file(FILE *in, const char *path)
{
	struct stat a, b;

	return fstat(fileno(in), &a) == 0 && stat(path, &b) == 0 &&
	       S_ISREG(a.st_mode) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void reader_open(struct cap_reader *cr, FILE *in)
{
	int ret = cap_reader_open(cr, cap_read_stdio, in);

	if (ret == CAP_EIO)
		die(EXIT_RUNTIME, "%s: %s", opt.rfile, strerror(cr->sys_errno));
	if (ret)
		die(EXIT_RUNTIME, "%s: %s", opt.rfile, cr->err);
}

/* Records in the capture, for -n; stops where the readable part ends. */
static uint64_t count_records(struct cap_reader *cr)
{
	struct cap_frame fr;
	uint64_t n = 0;

	while (cap_reader_next(cr, &fr) > 0)
		n += fr.kind == CAP_RECORD;
	return n;
}

static int run_capture(void)
{
	const char *name = strcmp(opt.rfile, "-") ? opt.rfile : "standard input";
	uint64_t skip = 0, seen = 0;
	struct cap_reader cr;
	struct cap_frame fr;
	int ret, status = 0;
	FILE *in;

	in = strcmp(opt.rfile, "-") ? fopen(opt.rfile, "rb") : stdin;
	if (!in)
		die(EXIT_RUNTIME, "%s: %s", opt.rfile, strerror(errno));
	if (opt.wfile && strcmp(opt.wfile, "-") && same_file(in, opt.wfile))
		die(EXIT_USAGE, "%s: refusing to overwrite the capture being read", opt.wfile);
	reader_open(&cr, in);
	if (opt.have_last) {
		uint64_t total = count_records(&cr);

		skip = total > opt.last ? total - opt.last : 0;
		cap_reader_close(&cr);
		if (fseeko(in, 0, SEEK_SET))
			die(EXIT_RUNTIME, "%s: -n needs a seekable capture file: %s", name,
			    strerror(errno));
		reader_open(&cr, in);
	}
	start_seq = opt.have_from ? opt.from : 0;
	if (opt.wfile)
		capture_open(&cr.info);

	while (!stop_sig) {
		ret = cap_reader_next(&cr, &fr);
		if (ret == CAP_OK)
			break;
		if (ret == CAP_ETRUNC) {
			flush_output();
			err_msg("%s: %s; stopping there", name, cr.err);
			break;
		}
		if (ret < 0) {
			flush_output();
			err_msg("%s: %s; stopping there", name,
			     ret == CAP_EIO ? strerror(cr.sys_errno) : cr.err);
			status = EXIT_RUNTIME;
			break;
		}
		if (fr.kind == CAP_LOST) {
			/* With -n, only losses between the records shown. */
			if (!skip || seen > skip)
				emit_lost(fr.lost_from, fr.lost_to);
			continue;
		}
		if (++seen <= skip || fr.rec.seq < start_seq ||
		    (opt.from_seek && fr.rec.realtime_ns < opt.from_pos.val) ||
		    (fr.rec.flags & SHMRING_REC_DISCARD))
			continue;
		emit_record(&fr.rec);
	}
	cap_reader_close(&cr);
	if (in != stdin)
		fclose(in);
	return finish(status);
}

/*
 * --snapshot: the latest snapshot of RING (docs/snapshots.md). Without -f,
 * one line: its seq, length, age and checksum status (and its bytes to
 * --snapshot-out). With -f, a bootstrap: the snapshot, then the ring's
 * records from the one after it.
 */
enum { OPT_SNAPSHOT = 300, OPT_SNAPSHOT_OUT };
static const char *snap_name;	/* --snapshot[=FILE]: a path, or RING */
static const char *snap_out;	/* --snapshot-out */

static void snap_print(FILE *f, const char *name, const struct shmring_snap_meta *m)
{
	struct timespec now;
	double age;

	clock_gettime(CLOCK_REALTIME, &now);
	age = ((double)now.tv_sec * 1e9 + (double)now.tv_nsec - (double)m->time_ns) / 1e9;
	if (opt.fmt.json) {
		struct json j;

		json_init(&j, f, opt.fmt.pretty ? JSON_PRETTY : JSON_SPACED);
		json_obj_open(&j, JSON_FLOW);
		json_kstr(&j, "snapshot", name);
		json_ku64(&j, "seq", m->seq);
		json_ku64(&j, "len", m->len);
		json_key(&j, "age_s");
		json_printf(&j, "%.3f", age);
		json_ku64(&j, "gen", m->gen);
		json_key(&j, "crc32c");
		json_printf(&j, "\"%08x\"", m->crc);
		json_kbool(&j, "crc_ok", true);
		json_obj_close(&j);
		json_end(&j);
	} else {
		fprintf(f, "snapshot %s: seq=%llu len=%llu age=%.3fs gen=%llu crc32c=%08x (ok)\n",
			name, (unsigned long long)m->seq, (unsigned long long)m->len, age,
			(unsigned long long)m->gen, m->crc);
	}
}

static int run_snapshot(void)
{
	struct shmring_snap_meta m;
	struct shmring_snap *s;
	unsigned char *buf = NULL;
	size_t cap = 0;
	FILE *f = stdout;
	int ret;

	ret = shmring_snap_open(snap_name, 0, 0, &s);
	if (ret == -ENOENT)
		die(EXIT_RUNTIME, "%s: no snapshot file (nothing was ever published)", snap_name);
	if (ret == -EBADMSG)
		die(EXIT_RUNTIME, "%s: not a snapshot file, or a corrupt one", snap_name);
	if (ret)
		die(EXIT_RUNTIME, "%s: %s", snap_name, strerror(-ret));
	/* Ask the length, then load; a publish in between may ask again. */
	while ((ret = shmring_snap_load(s, buf, cap, &m)) == -EMSGSIZE) {
		free(buf);
		cap = m.len + 4096;
		buf = malloc(cap);
		if (!buf)
			die(EXIT_RUNTIME, "out of memory");
	}
	if (ret == -ENODATA)
		die(EXIT_RUNTIME, "%s: no snapshot published yet", snap_name);
	if (ret == -EBADMSG)
		die(EXIT_RUNTIME, "%s: corrupt snapshot (checksum or lengths do not match)",
		    snap_name);
	if (ret == -EAGAIN)
		die(EXIT_RUNTIME, "%s: snapshots are published faster than they can be read",
		    snap_name);
	if (ret)
		die(EXIT_RUNTIME, "%s: %s", snap_name, strerror(-ret));
	shmring_snap_close(s);
	if (snap_out) {
		bool to_stdout = !strcmp(snap_out, "-");
		FILE *o = to_stdout ? stdout : fopen(snap_out, "wb");

		if (!o)
			die(EXIT_RUNTIME, "%s: %s", snap_out, strerror(errno));
		if ((m.len && fwrite(buf, m.len, 1, o) != 1) || (to_stdout ? fflush(o) : fclose(o)))
			die(EXIT_RUNTIME, "%s: %s", to_stdout ? "standard output" : snap_out,
			    strerror(errno));
		if (to_stdout)
			f = stderr;
	}
	free(buf);
	snap_print(f, snap_name, &m);
	if (fflush(f))
		output_failed(errno);
	if (!opt.follow)
		return EXIT_OK;
	/* Bootstrap: is seq + 1 still in the ring? Then follow from there. */
	{
		struct shmring_info info;
		struct shmring *r;

		ret = shmring_open(opt.ring, SHMRING_O_READ, 0, NULL, &r);
		if (ret == -ENODEV)
			return not_loaded();
		if (ret)
			die(EXIT_RUNTIME, "%s: %s", opt.ring, shmring_strerror(ret));
		ret = shmring_info(r, &info);
		shmring_close(r);
		if (ret)
			die(EXIT_RUNTIME, "%s: %s", opt.ring, shmring_strerror(ret));
		if (m.seq + 1 < info.tail_seq)
			die(EXIT_RUNTIME, "%s: the snapshot is too old: it reflects seq %llu, the "
			    "ring's oldest record is %llu (publish snapshots more often, or "
			    "make the ring larger)", opt.ring, (unsigned long long)m.seq,
			    (unsigned long long)info.tail_seq);
		if (m.seq + 1 > info.head_seq)
			die(EXIT_RUNTIME, "%s: the snapshot (seq %llu) is ahead of the ring (next "
			    "seq %llu): a snapshot of another ring, or of this one before it was "
			    "re-created", opt.ring, (unsigned long long)m.seq,
			    (unsigned long long)info.head_seq);
	}
	opt.have_from = true;
	opt.from = m.seq + 1;
	opt.from_pos.whence = SHMRING_SEEK_SEQ;
	opt.from_pos.val = opt.from;
	opt.from_arg = "(after the snapshot)";
	return run_ring();
}

int main(int argc, char **argv)
{
	enum { OPT_FROM = 256, OPT_HEX, OPT_TAP, OPT_NO_TAP, OPT_DIR, OPT_ROT_SIZE,
	       OPT_ROT_TIME, OPT_KEEP, OPT_MAX_TOTAL, OPT_FSYNC };
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "type", required_argument, NULL, 't' },
		{ "subscribe", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "hex", no_argument, NULL, OPT_HEX },
		{ "tap", no_argument, NULL, OPT_TAP },
		{ "no-tap", no_argument, NULL, OPT_NO_TAP },
		{ "hold", no_argument, NULL, OPT_NO_TAP },
		{ "snapshot", optional_argument, NULL, OPT_SNAPSHOT },
		{ "snapshot-out", required_argument, NULL, OPT_SNAPSHOT_OUT },
		{ "write", required_argument, NULL, 'w' },
		{ "read", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "rotate-size", required_argument, NULL, OPT_ROT_SIZE },
		{ "rotate-time", required_argument, NULL, OPT_ROT_TIME },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "max-total", required_argument, NULL, OPT_MAX_TOTAL },
		{ "fsync-interval", required_argument, NULL, OPT_FSYNC },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	prog_name = PROG;
	opterr = 0;
	opt.tap = -1;
	while ((c = getopt_long(argc, argv, ":jpfn:t:s:w:r:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			opt.follow = true;
			break;
		case 'n':
			if (!parse_u64(optarg, &opt.last))
				usage_error("invalid number of records '%s'", optarg);
			opt.have_last = true;
			break;
		case OPT_FROM:
			opt.from_arg = optarg;
			if (parse_u64(optarg, &opt.from)) {
				opt.from_pos.whence = SHMRING_SEEK_SEQ;
				opt.from_pos.val = opt.from;
			} else if (!ring_pos_parse(optarg, &opt.from_pos)) {
				usage_error("invalid --from '%s': SEQ, %s", optarg, RING_POS_FORMS);
			} else if (opt.from_pos.whence == SHMRING_SEEK_SEQ) {
				opt.from = opt.from_pos.val;
			}
			opt.have_from = opt.from_pos.whence == SHMRING_SEEK_SEQ;
			opt.from_seek = !opt.have_from;
			break;
		case OPT_TAP:
			opt.tap = 1;
			break;
		case OPT_NO_TAP:
			opt.tap = 0;
			break;
		case OPT_SNAPSHOT:
			snap_name = optarg ? optarg : "";
			break;
		case OPT_SNAPSHOT_OUT:
			snap_out = optarg;
			break;
		case 't':
			add_types(optarg);
			break;
		case 's':
			opt.sub = optarg;
			break;
		case 'j':
			opt.fmt.json = true;
			break;
		case 'p':
			opt.fmt.pretty = true;
			break;
		case OPT_HEX:
			opt.fmt.hex = true;
			break;
		case 'w':
			opt.wfile = optarg;
			break;
		case 'r':
			opt.rfile = optarg;
			break;
		case OPT_DIR:
			if (!*optarg)
				usage_error("--dir needs a directory");
			opt.dir = optarg;
			break;
		case OPT_ROT_SIZE:
			if (!parse_size(optarg, &opt.rotate_size) || !opt.rotate_size)
				usage_error("invalid --rotate-size '%s': BYTES above 0, with an "
					    "optional k, M or G suffix", optarg);
			break;
		case OPT_MAX_TOTAL:
			if (!parse_size(optarg, &opt.max_total) || !opt.max_total)
				usage_error("invalid --max-total '%s': BYTES above 0, with an "
					    "optional k, M or G suffix", optarg);
			break;
		case OPT_ROT_TIME:
		case OPT_FSYNC:
		case OPT_KEEP: {
			uint64_t v;

			if (!parse_u64(optarg, &v) || !v || v > 100000000)
				usage_error("invalid %s '%s': a number from 1 to 100000000",
					    c == OPT_KEEP ? "--keep" : c == OPT_FSYNC ?
					    "--fsync-interval" : "--rotate-time", optarg);
			if (c == OPT_KEEP)
				opt.keep = v;
			else if (c == OPT_FSYNC)
				opt.fsync_interval = v;
			else
				opt.rotate_time = v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			print_version();
			return 0;
		case ':':
			if (optopt)
				usage_error("option '-%c' needs an argument", optopt);
			usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (opt.rfile) {
		if (optind < argc)
			usage_error("no RING with -r (got '%s')", argv[optind]);
		if (opt.follow)
			usage_error("-f cannot be used with -r");
		if (opt.sub)
			usage_error("-s cannot be used with -r");
		if (opt.tap >= 0)
			usage_error("--tap and --no-tap read rings, not -r captures");
		if (opt.from_seek && opt.from_pos.whence != SHMRING_SEEK_TIME)
			usage_error("--from %s: a capture is read from its start (SEQ, seq=N "
				    "or time=WHEN only)", opt.from_arg);
	} else {
		if (optind >= argc)
			usage_error("missing RING (or -r FILE)");
		if (optind + 1 < argc)
			usage_error("unexpected argument '%s'", argv[optind + 1]);
		opt.ring = argv[optind];
	}
	if (opt.dir && (opt.wfile || opt.rfile))
		usage_error("--dir writes its own files: no -w or -r with it");
	if (!opt.dir && (opt.rotate_size || opt.rotate_time || opt.keep || opt.max_total ||
			 opt.fsync_interval))
		usage_error("--rotate-size, --rotate-time, --keep, --max-total and "
			    "--fsync-interval go with --dir");
	if (opt.sub && opt.tap > 0)
		usage_error("--tap cannot be used with -s (a subscription is never a tap)");
	if (opt.tap < 0)
		opt.tap = opt.follow && !opt.sub;
	if (opt.fmt.pretty)
		opt.fmt.json = true;	/* as bpftool -p */
	if (opt.fmt.json && opt.fmt.hex)
		usage_error("--json and --hex exclude each other");
	if ((opt.wfile || opt.dir) && (opt.fmt.json || opt.fmt.hex))
		usage_error("--json and --hex format printed records, not -w captures");

	if (snap_out && !snap_name)
		usage_error("--snapshot-out needs --snapshot");
	if (snap_name && (opt.rfile || opt.wfile || opt.dir || opt.have_from || opt.from_seek ||
			  opt.have_last))
		usage_error("--snapshot cannot be used with -r, -w, --dir, --from or -n");
	if (snap_name && !*snap_name)
		snap_name = opt.ring;
	if (snap_name && !strchr(snap_name, '/')) {	/* the file's path, for messages */
		static char path[512];

		snprintf(path, sizeof(path), "%s/shmring-snap.%s", SHMRING_SNAP_DIR, snap_name);
		snap_name = path;
	}
	if (opt.dir)
		dir_setup();
	/* Writes restart; ppoll() never does, so a signal ends a wait. */
	catch_stop_signals(true, true);
	if (snap_name)
		return run_snapshot();
	return opt.rfile ? run_capture() : run_ring();
}
