// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl: views of the rings (list, stat). list asks the kernel
 * (SHMRING_IOC_LIST through shmring_list()) and reads /proc/shmring only
 * on a kernel without it; stat reads /proc/shmring, which also has the
 * readers. Neither attaches a reader.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

/* ---- /proc/shmring ------------------------------------------------------------------- */

struct pfield {
	const char *key;
	size_t off;
};

#define RING_FIELD(f)	{ #f, offsetof(struct pring, f) }
static const struct pfield ring_fields[] = {
	RING_FIELD(size), RING_FIELD(max_record), RING_FIELD(flags), RING_FIELD(mode),
	RING_FIELD(uid), RING_FIELD(gid), RING_FIELD(head), RING_FIELD(tail),
	RING_FIELD(head_seq), RING_FIELD(tail_seq), RING_FIELD(bytes),
	RING_FIELD(records), RING_FIELD(lost), RING_FIELD(writer_waits),
	RING_FIELD(last_write_ns), RING_FIELD(readers), RING_FIELD(subs),
	RING_FIELD(zc_chunk), RING_FIELD(zc_open), RING_FIELD(zc_sleepers),
	RING_FIELD(discarded),
};

#define CURSOR_FIELD(f)	{ #f, offsetof(struct pcursor, f) }
static const struct pfield cursor_fields[] = {
	CURSOR_FIELD(pid), CURSOR_FIELD(pos), CURSOR_FIELD(seq),
	CURSOR_FIELD(lag_bytes), CURSOR_FIELD(lag_records), CURSOR_FIELD(read),
	CURSOR_FIELD(lost), CURSOR_FIELD(last_read_ns),
};

/* The next blank-separated word of *p, NUL-terminated in place; NULL at the end. */
static char *next_word(char **p)
{
	char *w = *p + strspn(*p, " "), *e;

	if (!*w)
		return NULL;
	e = w + strcspn(w, " ");
	if (*e)
		*e++ = '\0';
	*p = e;
	return w;
}

/* key=value words into the uint64_t fields of obj (mode=0600 is octal). */
static void parse_fields(char *s, const struct pfield *f, size_t nf, void *obj,
			 char *policy, size_t plen)
{
	char *w;

	while ((w = next_word(&s))) {
		char *val = strchr(w, '=');

		if (!val)
			continue;
		*val++ = '\0';
		if (policy && !strcmp(w, "policy")) {
			snprintf(policy, plen, "%s", val);
			continue;
		}
		for (size_t i = 0; i < nf; i++) {
			if (!strcmp(w, f[i].key)) {
				*(uint64_t *)((char *)obj + f[i].off) = strtoull(val, NULL, 0);
				break;
			}
		}
	}
}

static int proc_ring(struct pview *v, const char *name, char *rest)
{
	struct pring *rings = realloc(v->rings, (v->n + 1) * sizeof(*rings));
	struct pring *r;

	if (!rings)
		return -ENOMEM;
	v->rings = rings;
	r = &rings[v->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	parse_fields(rest, ring_fields, ARRAY_SIZE(ring_fields), r, r->policy,
		     sizeof(r->policy));
	return 0;
}

static int proc_cursor(struct pring *r, const char *kind, const char *name, char *rest)
{
	struct pcursor *cur = realloc(r->cur, (r->ncur + 1) * sizeof(*cur));
	struct pcursor *c;

	if (!cur)
		return -ENOMEM;
	r->cur = cur;
	c = &cur[r->ncur++];
	memset(c, 0, sizeof(*c));
	snprintf(c->kind, sizeof(c->kind), "%s", kind);
	snprintf(c->name, sizeof(c->name), "%s", name);
	parse_fields(rest, cursor_fields, ARRAY_SIZE(cursor_fields), c, NULL, 0);
	return 0;
}

static int proc_line(struct pview *v, char *line)
{
	bool indented = line[0] == ' ';
	char *kind, *name;

	line[strcspn(line, "\n")] = '\0';
	kind = next_word(&line);
	name = kind ? next_word(&line) : NULL;
	if (!name)
		return 0;
	if (!indented && !strcmp(kind, "ring"))
		return proc_ring(v, name, line);
	if (indented && v->n && (!strcmp(kind, "reader") || !strcmp(kind, "sub") ||
				 !strcmp(kind, "sub+")))
		return proc_cursor(&v->rings[v->n - 1], kind, name, line);
	if (!indented && !strcmp(kind, "shmring") && !v->n) {
		static const struct pfield head_fields[] = {
			{ "abi", offsetof(struct pview, abi) },
			{ "total_bytes", offsetof(struct pview, total_bytes) },
		};

		snprintf(v->version, sizeof(v->version), "%s", name);
		parse_fields(line, head_fields, ARRAY_SIZE(head_fields), v, NULL, 0);
	}
	return 0;	/* something newer */
}

void proc_free(struct pview *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->rings[i].cur);
	free(v->rings);
}

/*
 * One snapshot of /proc/shmring (the module prints it in one go under its
 * lock). Returns an exit status, with the message printed.
 */
int proc_read(struct pview *v, bool *absent)
{
	FILE *f = fopen(PROC_SHMRING, "re");
	char *line = NULL;
	size_t cap = 0;
	int err = 0;

	memset(v, 0, sizeof(*v));
	if (absent)
		*absent = !f && errno == ENOENT;
	if (!f) {
		if (errno == ENOENT)
			return absent ? CTL_NOT_LOADED : ring_error(NULL, -ENODEV);
		err_msg("cannot open %s: %s", PROC_SHMRING, strerror(errno));
		return CTL_FAIL;
	}
	while (!err && getline(&line, &cap, f) > 0)
		err = proc_line(v, line);
	if (!err && ferror(f))
		err = -EIO;
	free(line);
	fclose(f);
	if (err) {
		err_msg("cannot read %s: %s", PROC_SHMRING, strerror(-err));
		proc_free(v);
		return CTL_FAIL;
	}
	return CTL_OK;
}

static int proc_load(struct pview *v)
{
	return proc_read(v, NULL);
}

static const struct pring *proc_find(const struct pview *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->rings[i].name, name))
			return &v->rings[i];
	return NULL;
}

/* The pid of the reader attached to subscription SUB, or 0. */
static uint64_t sub_reader_pid(const struct pring *r, const char *sub)
{
	for (size_t i = 0; i < r->ncur; i++)
		if (!strcmp(r->cur[i].kind, "reader") && !strcmp(r->cur[i].name, sub))
			return r->cur[i].pid;
	return 0;
}

/* ---- options of list and stat ----------------------------------------------------------- */

struct view_opts {
	bool json;
	uint64_t interval_ns;	/* 0: one view, no rates */
	uint64_t count;		/* intervals; 0: until a signal */
};

#define MAX_INTERVAL_S	86400

/* SECS: a decimal number of seconds, 0.01 to a day. */
static bool parse_interval(const char *s, uint64_t *ns)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !(d >= 0.01 && d <= MAX_INTERVAL_S))
		return false;
	*ns = (uint64_t)(d * 1e9 + 0.5);
	return true;
}

/*
 * Options: --json (the global -j's alias), --interval, --count, --help.
 * Returns -1 after --help, else an exit status.
 */
static int view_opts(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc,
		     char **argv, struct view_opts *vo)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_count = false;
	int c;

	memset(vo, 0, sizeof(*vo));
	vo->json = o->json;
	while ((c = getopt_long(argc, argv, "ji:c:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			vo->json = true;
			break;
		case 'i':
			if (!parse_interval(optarg, &vo->interval_ns)) {
				err_msg("%s: invalid interval '%s': seconds from 0.01 to %d",
					cmd->name, optarg, MAX_INTERVAL_S);
				return cmd_bad_usage(cmd);
			}
			break;
		case 'c':
			if (!parse_u64(optarg, &vo->count) || !vo->count) {
				err_msg("%s: invalid count '%s': a number of intervals, at least 1",
					cmd->name, optarg);
				return cmd_bad_usage(cmd);
			}
			have_count = true;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return -1;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	if (have_count && !vo->interval_ns) {
		err_msg("%s: --count needs --interval", cmd->name);
		return cmd_bad_usage(cmd);
	}
	return CTL_OK;
}

/* ---- --interval: rates, like vmstat -------------------------------------------------------- */

enum rate_state { RS_OK, RS_NEW, RS_GONE, RS_RESET };
static const char *const rate_state_names[] = { "ok", "new", "gone", "reset" };

/* Counters that only ever grow while a ring lives. */
static bool went_back(const struct pring *now, const struct pring *before)
{
	return now->records < before->records || now->bytes < before->bytes ||
	       now->lost < before->lost || now->writer_waits < before->writer_waits ||
	       now->head_seq < before->head_seq;
}

static double rate(uint64_t now, uint64_t before, uint64_t ns)
{
	return (double)(now - before) * 1e9 / (double)ns;
}

/* One line: r as now (b: as before, NULL unless RS_OK); ns since before. */
static void rate_line(const struct view_opts *vo,
		      enum rate_state st, const struct pring *r, const struct pring *b,
		      uint64_t now_ns, uint64_t ns)
{
	double rr = 0, br = 0, lr = 0, wr = 0;

	if (b) {
		rr = rate(r->records, b->records, ns);
		br = rate(r->bytes, b->bytes, ns);
		lr = rate(r->lost, b->lost, ns);
		wr = rate(r->writer_waits, b->writer_waits, ns);
	}
	if (vo->json) {
		struct json j;
		char when[ISO_TIME_LEN];

		json_init(&j, stdout, JSON_SPACED);	/* one object per line, even with -p */
		json_obj_open(&j, JSON_FLOW);
		json_kstr(&j, "time", iso_time(now_ns, when, sizeof(when)));
		json_kstr(&j, "ring", r->name);
		json_kstr(&j, "state", rate_state_names[st]);
		json_key(&j, "interval_s");
		json_printf(&j, "%.3f", (double)ns / 1e9);
		json_key(&j, "records_per_s");
		b ? json_printf(&j, "%.3f", rr) : json_null(&j);
		json_key(&j, "bytes_per_s");
		b ? json_printf(&j, "%.3f", br) : json_null(&j);
		json_key(&j, "lost_per_s");
		b ? json_printf(&j, "%.3f", lr) : json_null(&j);
		json_key(&j, "writer_waits_per_s");
		b ? json_printf(&j, "%.3f", wr) : json_null(&j);
		json_ku64(&j, "records_written", r->records);
		json_ku64(&j, "bytes_written", r->bytes);
		json_ku64(&j, "lost", r->lost);
		json_ku64(&j, "writer_waits", r->writer_waits);
		json_ku64(&j, "held_records", r->head_seq - r->tail_seq);
		json_ku64(&j, "used_bytes", r->head - r->tail);
		json_ku64(&j, "readers", r->readers);
		json_obj_close(&j);
		json_end(&j);
		return;
	}
	{
		time_t t = (time_t)(now_ns / 1000000000);
		char hms[16] = "?";
		struct tm tm;

		if (localtime_r(&t, &tm))
			strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
		if (b)
			printf("%-8s  %-20s %12.1f %14.1f %10.1f %10.1f %10" PRIu64 " %12" PRIu64
			       " %7" PRIu64 "\n", hms, r->name, rr, br, lr, wr,
			       r->head_seq - r->tail_seq, r->head - r->tail, r->readers);
		else
			printf("%-8s  %-20s %12s %14s %10s %10s %10" PRIu64 " %12" PRIu64
			       " %7" PRIu64 "  %s\n", hms, r->name, "-", "-", "-", "-",
			       r->head_seq - r->tail_seq, r->head - r->tail, r->readers,
			       rate_state_names[st]);
	}
}

/* Sleep until monotonic time deadline; true if SIGINT or SIGTERM (blocked) came. */
static bool wait_until(const sigset_t *sigs, uint64_t deadline)
{
	for (;;) {
		uint64_t now = monotonic_ns();
		struct timespec ts;

		if (now >= deadline)
			return false;
		ts.tv_sec = (time_t)((deadline - now) / 1000000000);
		ts.tv_nsec = (long)((deadline - now) % 1000000000);
		if (sigtimedwait(sigs, NULL, &ts) >= 0)
			return true;
		/* EAGAIN: the time is up (looked at above); EINTR: another signal */
	}
}

/* Only ring NAME of v, or every ring (NULL). */
static bool wanted(const struct pring *r, const char *name)
{
	return !name || !strcmp(r->name, name);
}

/*
 * Sample /proc/shmring every vo->interval_ns, print a line per ring (only
 * NAME if not NULL) with the rates since the sample before; stop after
 * vo->count intervals or at SIGINT/SIGTERM (exit status 0).
 */
static int interval_loop(const struct view_opts *vo, const char *name)
{
	struct pview prev, cur;
	uint64_t prev_t, deadline, done = 0;
	bool absent, warned = false;
	sigset_t sigs, old;
	int ret;

	ret = proc_read(&prev, NULL);
	if (ret)
		return ret;
	if (name && !proc_find(&prev, name)) {
		proc_free(&prev);
		return ring_error(name, -ENOENT);
	}
	prev_t = monotonic_ns();
	deadline = prev_t;
	/* The signals are taken by sigtimedwait() between samples: no handler, no race. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, &old);
	if (!vo->json)
		printf("%-8s  %-20s %12s %14s %10s %10s %10s %12s %7s\n", "TIME", "RING",
		       "RECORDS/S", "BYTES/S", "LOST/S", "WAITS/S", "HELD", "USED_BYTES",
		       "READERS");
	ret = flush_stdout();
	while (!ret && (!vo->count || done < vo->count)) {
		uint64_t now, ns;

		deadline += vo->interval_ns;
		now = monotonic_ns();
		if (deadline < now)	/* suspended, or a slow sample: no burst to catch up */
			deadline = now;
		if (wait_until(&sigs, deadline))
			break;
		ret = proc_read(&cur, &absent);
		if (ret && !absent)
			break;
		ret = CTL_OK;
		if (absent && !warned)
			warn_msg("the shmring module is not loaded now: every ring is gone");
		warned = absent;
		now = monotonic_ns();
		ns = now - prev_t ? now - prev_t : 1;
		for (size_t i = 0; i < cur.n; i++) {
			const struct pring *r = &cur.rings[i], *b;

			if (!wanted(r, name))
				continue;
			b = proc_find(&prev, r->name);
			if (!b)
				rate_line(vo, RS_NEW, r, NULL, realtime_ns(), ns);
			else if (went_back(r, b))
				rate_line(vo, RS_RESET, r, NULL, realtime_ns(), ns);
			else
				rate_line(vo, RS_OK, r, b, realtime_ns(), ns);
		}
		for (size_t i = 0; i < prev.n; i++) {
			const struct pring *b = &prev.rings[i];

			if (wanted(b, name) && !proc_find(&cur, b->name))
				rate_line(vo, RS_GONE, b, NULL, realtime_ns(), ns);
		}
		proc_free(&prev);
		prev = cur;
		prev_t = now;
		done++;
		ret = flush_stdout();
	}
	proc_free(&prev);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* ---- list --------------------------------------------------------------------------------- */

static void list_text(const struct pview *v, struct table *t)
{
	char sz[32], own[64];

	/* right-aligned: SIZE, RECORDS, LOST, READERS, SUBS */
	t->right = 1U << 1 | 1U << 3 | 1U << 4 | 1U << 5 | 1U << 6;
	table_add(t, "NAME\tSIZE\tPOLICY\tRECORDS\tLOST\tREADERS\tSUBS\tMODE\tOWNER");
	for (size_t i = 0; i < v->n; i++) {
		const struct pring *r = &v->rings[i];

		table_add(t, "%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
			  "\t%04" PRIo64 "\t%s", r->name, size_str(r->size, sz, sizeof(sz)),
			  r->policy, r->head_seq - r->tail_seq, r->lost, r->readers, r->subs,
			  r->mode, user_str(r->uid, own, sizeof(own)));
	}
}

/* The members list and stat share. */
static void ring_json_common(struct json *j, const struct pring *r)
{
	char buf[64];

	json_kstr(j, "name", r->name);
	json_ku64(j, "size", r->size);
	json_kstr(j, "policy", r->policy);
	json_ku64(j, "max_record", r->max_record);
	json_kbool(j, "csum", r->flags & SHMRING_ATTR_CSUM);
	json_key(j, "mode");
	json_printf(j, "\"%04" PRIo64 "\"", r->mode);
	json_ku64(j, "uid", r->uid);
	json_ku64(j, "gid", r->gid);
	json_kstr(j, "owner", user_str(r->uid, buf, sizeof(buf)));
	json_kstr(j, "group", group_str(r->gid, buf, sizeof(buf)));
	json_ku64(j, "records", r->head_seq - r->tail_seq);
	json_ku64(j, "records_written", r->records);
	json_ku64(j, "lost", r->lost);
	json_ku64(j, "readers", r->readers);
	json_ku64(j, "subs", r->subs);
}

/* A JSON array, one ring object per line. */
static int list_json(const struct pview *v, const struct ctl_opts *o)
{
	struct json j;

	ctl_json(&j, o);
	json_arr_open(&j, JSON_BREAK);
	for (size_t i = 0; i < v->n; i++) {
		json_obj_open(&j, JSON_FLOW);
		ring_json_common(&j, &v->rings[i]);
		json_obj_close(&j);
	}
	json_arr_close(&j);
	return ctl_json_end(&j);
}

/*
 * The rings from SHMRING_IOC_LIST, in the layout /proc/shmring gives:
 * 0 (view filled), 1 (the kernel has no SHMRING_FEAT_LIST: read
 * /proc/shmring instead), or an exit status with the message printed.
 */
#define LIST_CHUNK	256

static void entry_to_pring(const struct shmring_ring_entry *e, struct pring *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->name, e->name, sizeof(r->name) - 1);	/* names are < 64 bytes */
	snprintf(r->policy, sizeof(r->policy), "%s",
		 e->attr.policy == SHMRING_POLICY_LOSSLESS ? "lossless" : "overwrite");
	r->size = e->attr.data_size;
	r->max_record = e->attr.max_record;
	r->flags = e->attr.flags;
	r->mode = e->mode;
	r->uid = e->uid;
	r->gid = e->gid;
	r->head_seq = e->head_seq;
	r->tail_seq = e->tail_seq;
	/* Sequence numbers start at 0 and have no gaps: head_seq of them were written. */
	r->records = e->head_seq;
	r->lost = e->records_lost;
	r->readers = e->readers;
	r->subs = e->subs;
}

static int ioc_load(struct pview *v)
{
	struct shmring_ring_entry *buf;
	struct shmring_features f;
	unsigned int total = 0, skip = 0;
	int n, ret;

	memset(v, 0, sizeof(*v));
	ret = shmring_features(&f);
	if (ret == -ENODEV)
		return ring_error(NULL, ret);
	if (ret || !(f.features & SHMRING_FEAT_LIST))
		return 1;	/* no SHMRING_IOC_FEATURES (ENOTTY) or no LIST */
	buf = calloc(LIST_CHUNK, sizeof(*buf));
	if (!buf) {
		err_msg("out of memory");
		return CTL_FAIL;
	}
	do {
		struct pring *rings;

		n = shmring_list(buf, LIST_CHUNK, skip, &total);
		if (n < 0) {
			if (n == -ENODEV)
				ret = ring_error(NULL, n);
			else
				err_msg("cannot list the rings: %s", shmring_strerror(n));
			free(buf);
			proc_free(v);
			return n == -ENODEV ? ret : CTL_FAIL;
		}
		rings = realloc(v->rings, (v->n + (size_t)n + 1) * sizeof(*rings));
		if (!rings) {
			err_msg("out of memory");
			free(buf);
			proc_free(v);
			return CTL_FAIL;
		}
		v->rings = rings;
		for (int i = 0; i < n; i++)
			entry_to_pring(&buf[i], &v->rings[v->n++]);
		skip += (unsigned int)n;
	} while (n > 0 && skip < total);
	free(buf);
	return CTL_OK;
}

int cmd_list(const struct ctl_cmd *cmd, const struct ctl_opts *o,
	     int argc, char **argv)
{
	struct table t = { 0 };
	struct view_opts vo;
	struct pview v;
	int ret;

	ret = view_opts(cmd, o, argc, argv, &vo);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	if (optind < argc) {
		err_msg("list takes no arguments");
		return cmd_bad_usage(cmd);
	}
	if (vo.interval_ns)
		return interval_loop(&vo, NULL);
	ret = ioc_load(&v);
	if (ret == 1)
		ret = proc_load(&v);
	if (ret)
		return ret;
	if (vo.json) {
		ret = list_json(&v, o);
	} else {
		list_text(&v, &t);
		ret = table_print(&t);
		if (!ret)
			ret = flush_stdout();
	}
	proc_free(&v);
	return ret;
}

/* ---- stat --------------------------------------------------------------------------------- */

static void __attribute__((format(printf, 2, 3))) stat_line(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%-15s ", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/*
 * The cursors in the order stat shows them: plain readers, then
 * subscriptions (a reader of a subscription is shown on the sub's row);
 * NULL after the last. *i starts at 0.
 */
static const struct pcursor *next_cursor(const struct pring *r, size_t *i)
{
	for (; *i < 2 * r->ncur; (*i)++) {
		const struct pcursor *c = &r->cur[*i % r->ncur];
		bool reader = !strcmp(c->kind, "reader");

		if (*i < r->ncur ? reader && !strcmp(c->name, "-") : !reader) {
			(*i)++;
			return c;
		}
	}
	return NULL;
}

/* A cursor's pid: its own, or for a subscription that of its reader (0: none). */
static uint64_t cursor_pid(const struct pring *r, const struct pcursor *c)
{
	return !strcmp(c->kind, "reader") ? c->pid : sub_reader_pid(r, c->name);
}

static void stat_cursors(const struct pring *r, struct table *t)
{
	char when[ISO_TIME_LEN], pid[24];
	const struct pcursor *c;
	size_t i = 0;

	/* right-aligned: PID .. LOST */
	t->right = 0x3fU << 2;
	table_add(t, "CURSOR\tNAME\tPID\tSEQ\tLAG_RECORDS\tLAG_BYTES\tREAD\tLOST\tLAST_READ");
	while ((c = next_cursor(r, &i))) {
		uint64_t p = cursor_pid(r, c);

		if (p)
			snprintf(pid, sizeof(pid), "%" PRIu64, p);
		else
			snprintf(pid, sizeof(pid), "-");
		table_add(t, "%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%"
			  PRIu64 "\t%" PRIu64 "\t%s", strcmp(c->kind, "reader") ? "sub" : "reader",
			  c->name, pid, c->seq, c->lag_records, c->lag_bytes, c->read, c->lost,
			  when_str(c->last_read_ns, when, sizeof(when)));
	}
}

static int stat_text(const struct pring *r)
{
	char a[64], b[64], sz[32];
	struct table t = { 0 };

	stat_line("name:", "%s", r->name);
	stat_line("size:", "%" PRIu64 " bytes (%s)", r->size, size_str(r->size, sz, sizeof(sz)));
	stat_line("policy:", "%s", r->policy);
	stat_line("max record:", "%" PRIu64 " bytes", r->max_record);
	stat_line("checksums:", "%s", r->flags & SHMRING_ATTR_CSUM ? "crc32c" : "no");
	if (r->zc_chunk)
		stat_line("zero-copy:", "chunks of %" PRIu64 " bytes (%s), %" PRIu64 " open",
			  r->zc_chunk, size_str(r->zc_chunk, sz, sizeof(sz)), r->zc_open);
	stat_line("mode:", "%04" PRIo64, r->mode);
	stat_line("owner:", "%s (uid %" PRIu64 "), group %s (gid %" PRIu64 ")",
		  user_str(r->uid, a, sizeof(a)), r->uid, group_str(r->gid, b, sizeof(b)),
		  r->gid);
	stat_line("head:", "seq %" PRIu64 ", byte %" PRIu64, r->head_seq, r->head);
	stat_line("tail:", "seq %" PRIu64 ", byte %" PRIu64, r->tail_seq, r->tail);
	stat_line("held:", "%" PRIu64 " records, %" PRIu64 " bytes",
		  r->head_seq - r->tail_seq, r->head - r->tail);
	stat_line("written:", "%" PRIu64 " records, %" PRIu64 " payload bytes",
		  r->records, r->bytes);
	stat_line("lost:", "%" PRIu64 " records", r->lost);
	stat_line("writer waits:", "%" PRIu64, r->writer_waits);
	if (r->zc_chunk)	/* zero-copy: reservations voided by the kernel */
		stat_line("discarded:", "%" PRIu64 " reservations", r->discarded);
	stat_line("last write:", "%s", when_str(r->last_write_ns, a, sizeof(a)));
	stat_line("readers:", "%" PRIu64, r->readers);
	stat_line("subscriptions:", "%" PRIu64, r->subs);
	putchar('\n');
	stat_cursors(r, &t);
	return table_print(&t);
}

static void stat_json_cursor(struct json *j, const struct pring *r, const struct pcursor *c)
{
	bool reader = !strcmp(c->kind, "reader");
	uint64_t pid = cursor_pid(r, c);

	json_obj_open(j, JSON_FLOW);
	json_kstr(j, "kind", reader ? "reader" : "sub");
	json_key(j, "name");
	json_str_or_null(j, reader ? NULL : c->name);
	json_key(j, "pid");
	if (pid)
		json_u64(j, pid);
	else
		json_null(j);
	json_kbool(j, "attached", reader || !strcmp(c->kind, "sub+"));
	json_ku64(j, "pos", c->pos);
	json_ku64(j, "seq", c->seq);
	json_ku64(j, "lag_bytes", c->lag_bytes);
	json_ku64(j, "lag_records", c->lag_records);
	json_ku64(j, "read", c->read);
	json_ku64(j, "lost", c->lost);
	json_ku64(j, "last_read_ns", c->last_read_ns);
	json_key(j, "last_read");
	json_time(j, c->last_read_ns);
	json_obj_close(j);
}

/* The ring's members in three lines, then its cursors one per line. */
static int stat_json(const struct pring *r, const struct ctl_opts *o)
{
	const struct pcursor *c;
	struct json j;
	size_t i = 0;

	ctl_json(&j, o);
	json_obj_open(&j, JSON_FLOW);
	json_break(&j);
	ring_json_common(&j, r);
	json_break(&j);
	json_ku64(&j, "head", r->head);
	json_ku64(&j, "tail", r->tail);
	json_ku64(&j, "head_seq", r->head_seq);
	json_ku64(&j, "tail_seq", r->tail_seq);
	json_ku64(&j, "held_bytes", r->head - r->tail);
	json_break(&j);
	json_ku64(&j, "bytes_written", r->bytes);
	json_ku64(&j, "writer_waits", r->writer_waits);
	if (r->zc_chunk)
		json_ku64(&j, "records_discarded", r->discarded);
	json_ku64(&j, "last_write_ns", r->last_write_ns);
	json_key(&j, "last_write");
	json_time(&j, r->last_write_ns);
	json_break(&j);
	json_key(&j, "cursors");
	json_arr_open(&j, JSON_BREAK);
	while ((c = next_cursor(r, &i)))
		stat_json_cursor(&j, r, c);
	json_arr_close(&j);
	json_obj_close(&j);
	return ctl_json_end(&j);
}

int cmd_stat(const struct ctl_cmd *cmd, const struct ctl_opts *o,
	     int argc, char **argv)
{
	struct view_opts vo;
	const struct pring *r;
	const char *name;
	struct pview v;
	int ret;

	ret = view_opts(cmd, o, argc, argv, &vo);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	ret = ring_operand(cmd, argc, argv, &name);
	if (ret)
		return ret;
	if (vo.interval_ns)
		return interval_loop(&vo, name);
	ret = proc_load(&v);
	if (ret)
		return ret;
	r = proc_find(&v, name);
	if (!r)
		ret = ring_error(name, -ENOENT);
	else if (vo.json)
		ret = stat_json(r, o);
	else if (!(ret = stat_text(r)))
		ret = flush_stdout();
	proc_free(&v);
	return ret;
}
