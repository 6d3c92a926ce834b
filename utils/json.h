/* SPDX-License-Identifier: MIT */
/*
 * The JSON writer of the shmring tools (utils/json.c).
 *
 * A document is written value by value: open and close objects and arrays,
 * give a key before each member of an object, end the document with
 * json_end() (a newline). The writer places the separators:
 *
 *   - a container opened JSON_FLOW keeps its members on one line, one
 *     opened JSON_BREAK puts each on its own line, indented by two spaces
 *     a level; json_break() starts the next member of a flow container on
 *     a new line (a container that broke a line closes on its own line);
 *   - JSON_SPACED (the default) writes ", " and ": ", JSON_COMPACT "," and
 *     ":" (JSON Lines as shmring-dump prints them);
 *   - JSON_PRETTY (the -p/--pretty of the tools) breaks every non-empty
 *     container, whatever it was opened with.
 *
 * Write errors are remembered: json_end() returns -1 with errno set to the
 * first one.
 */
#ifndef SHMRING_UTILS_JSON_H
#define SHMRING_UTILS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH	16

enum json_flags {
	JSON_SPACED = 0,
	JSON_COMPACT = 1 << 0,
	JSON_PRETTY = 1 << 1,
};

enum json_layout { JSON_FLOW, JSON_BREAK };

struct json {
	FILE *out;
	unsigned int flags;
	int depth;
	bool after_key;
	int err;			/* errno of the first failed write */
	struct {
		bool brk;		/* every member on a line of its own */
		bool first;		/* no member yet */
		bool broken;		/* a member started a line */
		bool brk_next;		/* json_break(): the next member does */
	} lvl[JSON_MAX_DEPTH];
};

void json_init(struct json *j, FILE *out, unsigned int flags);

void json_obj_open(struct json *j, enum json_layout layout);
void json_obj_close(struct json *j);
void json_arr_open(struct json *j, enum json_layout layout);
void json_arr_close(struct json *j);
/* The next member of the current container starts a new line. */
void json_break(struct json *j);

/* A member's key; its value follows. */
void json_key(struct json *j, const char *key);

void json_str(struct json *j, const char *s);
/* A string of len bytes, escaped ('"', '\\', control characters). */
void json_strn(struct json *j, const void *p, size_t len);
/* A string, or null for NULL. */
void json_str_or_null(struct json *j, const char *s);
void json_u64(struct json *j, uint64_t v);
void json_i64(struct json *j, int64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* A value written with printf: a number, or text the caller made JSON. */
void json_printf(struct json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The start of a value the caller writes itself to the returned stream
 * (which it must make one complete JSON value).
 */
FILE *json_raw(struct json *j);

/* key + value in one call. */
void json_kstr(struct json *j, const char *key, const char *s);
void json_ku64(struct json *j, const char *key, uint64_t v);
void json_kbool(struct json *j, const char *key, bool v);

/* End of a document: a newline. 0, or -1 with errno after a write error. */
int json_end(struct json *j);

#endif /* SHMRING_UTILS_JSON_H */
