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
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* ---- /proc/shmring ------------------------------------------------------------------- */

/*
 * /proc/shmring (docs/design.md): "ring NAME key=value..." per ring of the
 * caller's IPC namespace, then "  reader|sub|sub+ NAME key=value..." per
 * cursor. Keys are looked up by name: unknown (newer) keys are skipped and
 * missing ones read as 0.
 */
struct pcursor {
	char kind[8];			/* reader, sub, sub+ (attached) */
	char name[SHMRING_NAME_MAX];	/* subscription, or "-" */
	uint64_t pid, pos, seq, lag_bytes, lag_records, read, lost, last_read_ns;
};

struct pring {
	char name[SHMRING_NAME_MAX];
	char policy[16];
	uint64_t size, max_record, flags, mode, uid, gid, head, tail, head_seq,
		 tail_seq, bytes, records, lost, writer_waits, last_write_ns,
		 readers, subs, zc_chunk, discarded;
	struct pcursor *cur;
	size_t ncur;
};

struct pview {
	struct pring *rings;
	size_t n;
};

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
	RING_FIELD(zc_chunk), RING_FIELD(discarded),
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
	return 0;	/* the header line, or something newer */
}

static void proc_free(struct pview *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->rings[i].cur);
	free(v->rings);
}

/*
 * One snapshot of /proc/shmring (the module prints it in one go under its
 * lock). Returns an exit status, with the message printed.
 */
static int proc_load(struct pview *v)
{
	FILE *f = fopen(PROC_SHMRING, "re");
	char *line = NULL;
	size_t cap = 0;
	int err = 0;

	memset(v, 0, sizeof(*v));
	if (!f) {
		if (errno == ENOENT)
			return ring_error(NULL, -ENODEV);
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

/* ---- list --------------------------------------------------------------------------------- */

/*
 * Options: --json (the global -j's alias) and --help only. *json: 1 for
 * JSON, 0 for text; returns -1 after --help, else an exit status.
 */
static int json_opt(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc,
		    char **argv, bool *json)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*json = o->json;
	while ((c = getopt_long(argc, argv, "jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return -1;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	return CTL_OK;
}

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
	struct pview v;
	bool json;
	int ret;

	ret = json_opt(cmd, o, argc, argv, &json);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	if (optind < argc) {
		err_msg("list takes no arguments");
		return cmd_bad_usage(cmd);
	}
	ret = ioc_load(&v);
	if (ret == 1)
		ret = proc_load(&v);
	if (ret)
		return ret;
	if (json) {
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
	const struct pring *r;
	const char *name;
	struct pview v;
	bool json;
	int ret;

	ret = json_opt(cmd, o, argc, argv, &json);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	ret = ring_operand(cmd, argc, argv, &name);
	if (ret)
		return ret;
	ret = proc_load(&v);
	if (ret)
		return ret;
	r = proc_find(&v, name);
	if (!r)
		ret = ring_error(name, -ENOENT);
	else if (json)
		ret = stat_json(r, o);
	else if (!(ret = stat_text(r)))
		ret = flush_stdout();
	proc_free(&v);
	return ret;
}
