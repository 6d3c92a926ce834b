// SPDX-License-Identifier: GPL-2.0
/*
 * Ring configuration files (see ringconf.h and man/shmring-ring.conf.5).
 *
 *   # comment
 *   name = orders
 *   size = 1M
 *   policy = lossless
 *   owner = app:app
 *   mode = 0660
 *
 * Every line is checked and every bad line reported, so one run of
 * `shmring-ctl apply --check` shows all the mistakes of a file.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ringconf.h"
#include "../common.h"

/* The keys; KEY_NR is also "unknown". */
enum key { K_NAME, K_SIZE, K_POLICY, K_MAX_RECORD, K_CSUM, K_ZEROCOPY, K_CHUNK,
	   K_OWNER, K_MODE, KEY_NR };

static const char *const key_names[KEY_NR] = {
	"name", "size", "policy", "max_record", "csum", "zerocopy", "chunk",
	"owner", "mode",
};

struct parser {
	const char *path;
	FILE *errf;
	int errors;
	unsigned int line;
	unsigned int key_line[KEY_NR];	/* where each key was given, 0: not */
};

static void __attribute__((format(printf, 3, 4)))
bad(struct parser *p, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	p->errors++;
	if (!p->errf)
		return;
	if (line)
		fprintf(p->errf, "%s:%u: ", p->path, line);
	else
		fprintf(p->errf, "%s: ", p->path);
	va_start(ap, fmt);
	vfprintf(p->errf, fmt, ap);
	va_end(ap);
	fputc('\n', p->errf);
}

static bool name_valid(const char *s)
{
	size_t len = strlen(s);

	if (!len || len >= SHMRING_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x80 || (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-'))
			return false;
	}
	return true;
}

/* yes/no and their usual spellings, as systemd accepts them. */
static int parse_bool(const char *s)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i]))
			return 1;
		if (!strcasecmp(s, no[i]))
			return 0;
	}
	return -1;
}

/* All digits, below 2^32 - 1 ((uid_t)-1 means "none"). */
static bool id_number(const char *s, uint32_t *v)
{
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	return parse_u32(s, v) && *v != UINT32_MAX;
}

/* USER, USER:GROUP, USER: (login group) or :GROUP; names or numbers. */
static void parse_owner(struct parser *p, const char *v, struct ringconf *rc)
{
	char user[256], *group;
	const struct passwd *pw = NULL;
	const struct group *gr;
	uint32_t id;

	if (snprintf(user, sizeof(user), "%s", v) >= (int)sizeof(user) || !*v ||
	    !strcmp(v, ":")) {
		bad(p, p->line, "invalid owner '%s': USER, USER:GROUP, USER: or :GROUP", v);
		return;
	}
	group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	if (*user) {
		pw = getpwnam(user);
		if (pw) {
			rc->uid = pw->pw_uid;
		} else if (id_number(user, &id)) {
			rc->uid = (uid_t)id;
		} else {
			bad(p, p->line, "invalid owner '%s': no user named '%s', nor a number",
			    v, user);
			return;
		}
		rc->uid_set = true;
	}
	if (group && *group) {
		gr = getgrnam(group);
		if (gr) {
			rc->gid = gr->gr_gid;
		} else if (id_number(group, &id)) {
			rc->gid = (gid_t)id;
		} else {
			bad(p, p->line, "invalid owner '%s': no group named '%s', nor a number",
			    v, group);
			return;
		}
		rc->gid_set = true;
	} else if (group) {	/* USER: the login group */
		if (!pw)
			pw = getpwuid(rc->uid);
		if (!pw) {
			bad(p, p->line, "invalid owner '%s': user %s has no login group "
			    "(give USER:GROUP)", v, user);
			return;
		}
		rc->gid = pw->pw_gid;
		rc->gid_set = true;
	}
}

static void set_value(struct parser *p, enum key k, const char *v, struct ringconf *rc)
{
	uint64_t n;
	char *end;
	int b;

	switch (k) {
	case K_NAME:
		if (!name_valid(v))
			bad(p, p->line, "invalid ring name '%s': 1 to %d characters of "
			    "A-Z a-z 0-9 . _ - (not '.' or '..')", v, SHMRING_NAME_MAX - 1);
		else
			snprintf(rc->name, sizeof(rc->name), "%s", v);
		break;
	case K_SIZE:
		if (!parse_size(v, &n) || n < SHMRING_MIN_DATA_SIZE || (n & (n - 1))) {
			bad(p, p->line, "invalid size '%s': a power of two of at least 4096 "
			    "bytes, with an optional k, M or G suffix (64k, 1M)", v);
			break;
		}
		rc->attr.data_size = n;
		rc->size_set = true;
		break;
	case K_POLICY:
		if (!strcmp(v, "overwrite")) {
			rc->attr.policy = SHMRING_POLICY_OVERWRITE;
		} else if (!strcmp(v, "lossless")) {
			rc->attr.policy = SHMRING_POLICY_LOSSLESS;
		} else {
			bad(p, p->line, "invalid policy '%s': overwrite or lossless", v);
			break;
		}
		rc->policy_set = true;
		break;
	case K_MAX_RECORD:
		if (!parse_size(v, &n) || n > UINT32_MAX) {
			bad(p, p->line, "invalid max_record '%s': BYTES below 4G, with an "
			    "optional k, M or G suffix", v);
			break;
		}
		rc->attr.max_record = (uint32_t)n;
		rc->max_set = true;
		break;
	case K_CSUM:
	case K_ZEROCOPY:
		b = parse_bool(v);
		if (b < 0) {
			bad(p, p->line, "invalid %s '%s': yes or no", key_names[k], v);
			break;
		}
		if (b)
			rc->attr.flags |= k == K_CSUM ? SHMRING_ATTR_CSUM : SHMRING_ATTR_ZEROCOPY;
		if (k == K_CSUM)
			rc->csum_set = true;
		else
			rc->zc_set = b;
		break;
	case K_CHUNK:
		if (!parse_size(v, &n) || n < 4096 || n > UINT32_MAX / 2 + 1 || (n & (n - 1))) {
			bad(p, p->line, "invalid chunk '%s': a power of two of at least 4096 "
			    "bytes (the page size), with an optional k or M suffix", v);
			break;
		}
		rc->attr.zc_chunk = (uint32_t)n;
		rc->chunk_set = true;
		break;
	case K_OWNER:
		parse_owner(p, v, rc);
		break;
	case K_MODE:
		errno = 0;
		n = strtoull(v, &end, 8);
		if (errno || !*v || *end || n > 0777 || strspn(v, "01234567") != strlen(v)) {
			bad(p, p->line, "invalid mode '%s': octal permission bits, at most 0777", v);
			break;
		}
		rc->mode = (unsigned int)n;
		rc->mode_set = true;
		break;
	case KEY_NR:
		break;
	}
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static void parse_line(struct parser *p, char *line, struct ringconf *rc)
{
	char *s = trim(line), *eq, *key, *val;
	unsigned int k;

	if (!*s || *s == '#' || *s == ';')
		return;
	eq = strchr(s, '=');
	if (!eq) {
		bad(p, p->line, "expected KEY = VALUE, got '%s'", s);
		return;
	}
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	for (k = 0; k < KEY_NR; k++)
		if (!strcmp(key, key_names[k]))
			break;
	if (k == KEY_NR) {
		bad(p, p->line, "unknown key '%s' (known: name, size, policy, max_record, "
		    "csum, zerocopy, chunk, owner, mode)", key);
		return;
	}
	if (p->key_line[k]) {
		bad(p, p->line, "%s given twice (first on line %u)", key, p->key_line[k]);
		return;
	}
	p->key_line[k] = p->line;
	if (!*val) {
		bad(p, p->line, "%s: missing value", key);
		return;
	}
	set_value(p, (enum key)k, val, rc);
}

/* The file's base name without ".conf", when it is a ring name. */
static void name_from_path(struct parser *p, struct ringconf *rc)
{
	const char *base = strrchr(p->path, '/');
	char name[SHMRING_NAME_MAX + 8];
	size_t len;

	base = base ? base + 1 : p->path;
	len = strlen(base);
	if (len > 5 && !strcmp(base + len - 5, ".conf"))
		len -= 5;
	if (len < sizeof(name)) {
		memcpy(name, base, len);
		name[len] = '\0';
		if (name_valid(name)) {
			memcpy(rc->name, name, len + 1);
			return;
		}
	}
	bad(p, 0, "no name = line, and the file name does not give a ring name "
	    "(NAME.conf with NAME of A-Z a-z 0-9 . _ -)");
}

/* Checks between keys, reported on the line of the key that does not fit. */
static void check_whole(struct parser *p, struct ringconf *rc)
{
	uint64_t size = rc->attr.data_size;

	if (rc->chunk_set && !rc->zc_set)
		bad(p, p->key_line[K_CHUNK], "chunk is for zero-copy rings: set zerocopy = yes");
	if (rc->max_set && rc->size_set &&
	    SHMRING_REC_TOTAL((uint64_t)rc->attr.max_record) > size)
		bad(p, p->key_line[K_MAX_RECORD], "max_record %" PRIu32 " does not fit in a "
		    "ring of %" PRIu64 " bytes (a record takes a %zu-byte header plus its "
		    "payload)", rc->attr.max_record, size, sizeof(struct shmring_rec));
	if (rc->chunk_set && rc->zc_set && rc->size_set && rc->attr.zc_chunk > size / 2)
		bad(p, p->key_line[K_CHUNK], "chunk %" PRIu32 " is larger than half the ring "
		    "(%" PRIu64 " bytes)", rc->attr.zc_chunk, size);
	if (rc->chunk_set && rc->zc_set && rc->max_set &&
	    SHMRING_REC_TOTAL((uint64_t)rc->attr.max_record) > rc->attr.zc_chunk)
		bad(p, p->key_line[K_MAX_RECORD], "max_record %" PRIu32 " does not fit in a "
		    "chunk of %" PRIu32 " bytes (records of a zero-copy ring never cross a "
		    "chunk)", rc->attr.max_record, rc->attr.zc_chunk);
}

int ringconf_parse(FILE *f, const char *path, struct ringconf *rc, FILE *errf)
{
	struct parser p = { .path = path, .errf = errf };
	char buf[RINGCONF_LINE_MAX + 1];
	bool skipping = false;	/* the rest of a line too long */

	memset(rc, 0, sizeof(*rc));
	rc->mode = 0644;
	while (fgets(buf, sizeof(buf), f)) {
		size_t len = strlen(buf);
		bool whole = len && buf[len - 1] == '\n';

		if (!skipping)
			p.line++;
		if (skipping) {
			skipping = !whole;
			continue;
		}
		if (!whole && !feof(f)) {
			bad(&p, p.line, "line longer than %d bytes", RINGCONF_LINE_MAX - 1);
			skipping = true;
			continue;
		}
		parse_line(&p, buf, rc);
	}
	if (ferror(f))
		bad(&p, 0, "read error: %s", strerror(errno));
	if (!p.key_line[K_NAME])
		name_from_path(&p, rc);
	check_whole(&p, rc);
	return p.errors;
}

int ringconf_parse_file(const char *path, struct ringconf *rc, FILE *errf)
{
	FILE *f = fopen(path, "re");
	int n;

	if (!f) {
		if (errf)
			fprintf(errf, "%s: %s\n", path, strerror(errno));
		memset(rc, 0, sizeof(*rc));
		return 1;
	}
	n = ringconf_parse(f, path, rc, errf);
	fclose(f);
	return n;
}
