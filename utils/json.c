// SPDX-License-Identifier: MIT
/*
 * The JSON writer of the shmring tools: see json.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "json.h"

void json_init(struct json *j, FILE *out, unsigned int flags)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->flags = flags;
}

static void check(struct json *j, int failed)
{
	if (failed && !j->err)
		j->err = errno ? errno : EIO;
}

static void put(struct json *j, const char *s)
{
	check(j, fputs(s, j->out) < 0);
}

static void indent(struct json *j, int depth)
{
	check(j, fprintf(j->out, "\n%*s", 2 * depth, "") < 0);
}

/* What comes before a value or a key: separator, line break, indentation. */
static void before(struct json *j)
{
	int d = j->depth;

	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!d)
		return;
	if (!j->lvl[d].first)
		put(j, ",");
	if (j->lvl[d].brk || j->lvl[d].brk_next || (j->flags & JSON_PRETTY)) {
		indent(j, d);
		j->lvl[d].broken = true;
	} else if (!j->lvl[d].first && !(j->flags & JSON_COMPACT)) {
		put(j, " ");
	}
	j->lvl[d].first = false;
	j->lvl[d].brk_next = false;
}

static void open_c(struct json *j, const char *bracket, enum json_layout layout)
{
	before(j);
	put(j, bracket);
	if (j->depth + 1 >= JSON_MAX_DEPTH) {
		check(j, (errno = EOVERFLOW, 1));
		return;
	}
	j->depth++;
	memset(&j->lvl[j->depth], 0, sizeof(j->lvl[j->depth]));
	j->lvl[j->depth].brk = layout == JSON_BREAK;
	j->lvl[j->depth].first = true;
}

static void close_c(struct json *j, const char *bracket)
{
	if (j->depth > 0) {
		if (j->lvl[j->depth].broken)
			indent(j, j->depth - 1);
		j->depth--;
	}
	put(j, bracket);
}

void json_obj_open(struct json *j, enum json_layout layout)
{
	open_c(j, "{", layout);
}

void json_obj_close(struct json *j)
{
	close_c(j, "}");
}

void json_arr_open(struct json *j, enum json_layout layout)
{
	open_c(j, "[", layout);
}

void json_arr_close(struct json *j)
{
	close_c(j, "]");
}

void json_break(struct json *j)
{
	if (j->depth)
		j->lvl[j->depth].brk_next = true;
}

static void put_escaped(struct json *j, const unsigned char *p, size_t len)
{
	size_t i, start = 0;

	put(j, "\"");
	for (i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c != '"' && c != '\\' && c >= 0x20)
			continue;
		if (i > start)
			check(j, fwrite(p + start, 1, i - start, j->out) != i - start);
		if (c == '"' || c == '\\')
			check(j, fprintf(j->out, "\\%c", c) < 0);
		else if (c == '\t')
			put(j, "\\t");
		else if (c == '\n')
			put(j, "\\n");
		else
			check(j, fprintf(j->out, "\\u%04x", c) < 0);
		start = i + 1;
	}
	if (len > start)
		check(j, fwrite(p + start, 1, len - start, j->out) != len - start);
	put(j, "\"");
}

void json_key(struct json *j, const char *key)
{
	before(j);
	put_escaped(j, (const unsigned char *)key, strlen(key));
	put(j, (j->flags & (JSON_COMPACT | JSON_PRETTY)) == JSON_COMPACT ? ":" : ": ");
	j->after_key = true;
}

void json_strn(struct json *j, const void *p, size_t len)
{
	before(j);
	put_escaped(j, p, len);
}

void json_str(struct json *j, const char *s)
{
	json_strn(j, s, strlen(s));
}

void json_str_or_null(struct json *j, const char *s)
{
	if (s)
		json_str(j, s);
	else
		json_null(j);
}

void json_u64(struct json *j, uint64_t v)
{
	json_printf(j, "%" PRIu64, v);
}

void json_i64(struct json *j, int64_t v)
{
	json_printf(j, "%" PRId64, v);
}

void json_bool(struct json *j, bool v)
{
	before(j);
	put(j, v ? "true" : "false");
}

void json_null(struct json *j)
{
	before(j);
	put(j, "null");
}

void json_printf(struct json *j, const char *fmt, ...)
{
	va_list ap;

	before(j);
	va_start(ap, fmt);
	check(j, vfprintf(j->out, fmt, ap) < 0);
	va_end(ap);
}

FILE *json_raw(struct json *j)
{
	before(j);
	return j->out;
}

void json_kstr(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_str(j, s);
}

void json_ku64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_u64(j, v);
}

void json_kbool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	json_bool(j, v);
}

int json_end(struct json *j)
{
	put(j, "\n");
	j->depth = 0;
	j->after_key = false;
	if (j->err) {
		errno = j->err;
		j->err = 0;
		return -1;
	}
	return 0;
}
