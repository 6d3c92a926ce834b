// SPDX-License-Identifier: GPL-2.0
/* Minimal TAP producer, see tap.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int planned = -1;	/* -1: no plan printed yet */
static int run, failed;
static char todo[256];		/* non-empty: inside todo_start()/todo_end() */

static void TAP_PRINTF(2, 0) vline(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stdout);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
}

void plan(int n)
{
	planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

void plan_no_plan(void)
{
	planned = 0;	/* the plan is printed by done_testing() */
}

void plan_skip_all(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline("1..0 # SKIP ", fmt, ap);
	va_end(ap);
	exit(0);
}

void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline("# ", fmt, ap);
	va_end(ap);
}

void bail_out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline("Bail out! ", fmt, ap);
	va_end(ap);
	exit(1);
}

static void TAP_PRINTF(3, 0) vresult(bool pass, const char *directive,
				     const char *fmt, va_list ap)
{
	run++;
	if (!pass && !todo[0])
		failed++;
	printf("%sok %d - ", pass ? "" : "not ", run);
	vprintf(fmt, ap);
	if (directive)
		printf(" # %s", directive);
	else if (todo[0])
		printf(" # TODO %s", todo);
	putchar('\n');
	fflush(stdout);
}

void todo_start(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(todo, sizeof(todo), fmt, ap);
	va_end(ap);
	if (!todo[0])
		snprintf(todo, sizeof(todo), "%s", "todo");
}

void todo_end(void)
{
	todo[0] = 0;
}

void skip(int n, const char *fmt, ...)
{
	va_list ap;

	while (n-- > 0) {
		va_start(ap, fmt);
		vresult(true, "SKIP", fmt, ap);
		va_end(ap);
	}
}

bool tap_ok(bool pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vresult(pass, NULL, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("  Failed at %s:%d", file, line);
	return pass;
}

bool tap_is_int(long long got, long long want, const char *expr,
		const char *file, int line, const char *fmt, ...)
{
	bool pass = got == want;
	va_list ap;

	va_start(ap, fmt);
	vresult(pass, NULL, fmt, ap);
	va_end(ap);
	if (!pass) {
		diag("  Failed at %s:%d: %s", file, line, expr);
		diag("         got: %lld", got);
		diag("    expected: %lld", want);
	}
	return pass;
}

bool tap_is_errno(long long ret, int err, int want, const char *expr,
		  const char *file, int line, const char *fmt, ...)
{
	bool pass = ret == -1 && err == want;
	va_list ap;

	va_start(ap, fmt);
	vresult(pass, NULL, fmt, ap);
	va_end(ap);
	if (!pass) {
		diag("  Failed at %s:%d: %s", file, line, expr);
		if (ret != -1)
			diag("    returned %lld, expected -1 with errno %s",
			     ret, strerrorname_np(want) ?: "?");
		else
			diag("    errno %s (%s), expected %s",
			     strerrorname_np(err) ?: "?", strerror(err),
			     strerrorname_np(want) ?: "?");
	}
	return pass;
}

int done_testing(void)
{
	if (planned <= 0)
		printf("1..%d\n", run);
	else if (planned != run)
		diag("planned %d tests but ran %d", planned, run);
	if (failed)
		diag("failed %d of %d tests", failed, run);
	fflush(stdout);
	return failed || (planned > 0 && planned != run);
}
