// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl: output helpers of the ring views (tables, sizes, names,
 * times).
 */
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

const char *when_str(uint64_t ns, char *buf, size_t size)
{
	return ns ? iso_time(ns, buf, size) : "never";
}

void json_time(struct json *j, uint64_t ns)
{
	char buf[ISO_TIME_LEN];

	json_str_or_null(j, ns ? iso_time(ns, buf, sizeof(buf)) : NULL);
}

/* 65536 -> "64K": sizes are powers of two, so exact units read best. */
const char *size_str(uint64_t v, char *buf, size_t size)
{
	static const char units[] = "KMGTPE";
	int u = -1;

	while (v >= 1024 && v % 1024 == 0 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%" PRIu64, v);
	else
		snprintf(buf, size, "%" PRIu64 "%c", v, units[u]);
	return buf;
}

const char *user_str(uint64_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid((uid_t)uid);

	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%" PRIu64, uid);
	return buf;
}

const char *group_str(uint64_t gid, char *buf, size_t size)
{
	struct group *gr = getgrgid((gid_t)gid);

	if (gr)
		snprintf(buf, size, "%s", gr->gr_name);
	else
		snprintf(buf, size, "%" PRIu64, gid);
	return buf;
}

void table_add(struct table *t, const char *fmt, ...)
{
	char **rows, *row;
	va_list ap;
	int n;

	rows = realloc(t->rows, (t->nrows + 1) * sizeof(*rows));
	if (!rows) {
		t->oom = true;
		return;
	}
	t->rows = rows;
	va_start(ap, fmt);
	n = vasprintf(&row, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->oom = true;
		return;
	}
	t->rows[t->nrows++] = row;
}

int table_print(struct table *t)
{
	int width[TABLE_COLS] = { 0 };
	int ret = CTL_OK;

	for (size_t r = 0; r < t->nrows; r++) {
		const char *p = t->rows[r];

		for (int c = 0; c < TABLE_COLS && *p; c++) {
			int n = (int)strcspn(p, "\t");

			if (n > width[c])
				width[c] = n;
			p += n + (p[n] == '\t');
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		const char *p = t->rows[r];

		for (int c = 0; c < TABLE_COLS && *p; c++) {
			int n = (int)strcspn(p, "\t");
			bool last = p[n] != '\t';
			bool right = t->right & (1U << c);

			printf("%*s%.*s%*s", right ? width[c] - n : 0, "", n, p,
			       right || last ? 0 : width[c] - n + 2, "");
			if (right && !last)
				fputs("  ", stdout);
			p += n + !last;
		}
		putchar('\n');
	}
	if (t->oom) {
		err_msg("out of memory");
		ret = CTL_FAIL;
	}
	for (size_t r = 0; r < t->nrows; r++)
		free(t->rows[r]);
	free(t->rows);
	return ret;
}

