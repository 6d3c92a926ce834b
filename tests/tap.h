/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal TAP (Test Anything Protocol) producer for the C test programs.
 *
 *	plan(3);			or plan_no_plan();
 *	ok(fd >= 0, "open %s", name);
 *	is_int(ret, -ENOENT, "open of a missing ring");
 *	is_errno(read(fd, b, 1), EAGAIN, "empty ring");
 *	skip(2, "needs CAP_SYS_ADMIN");
 *	todo_start("known bug: ..."); ok(...); todo_end();
 *	return done_testing();
 *
 * Every check prints "ok N - desc" or "not ok N - desc" followed by "#"
 * diagnostics with file:line, and returns whether it passed.
 * done_testing() returns the exit status: 1 if any check failed or the
 * plan was not met, else 0.  Output is flushed line by line so a crash
 * loses nothing already printed.
 */
#ifndef SHMRING_TAP_H
#define SHMRING_TAP_H

#include <errno.h>
#include <stdbool.h>

#define TAP_PRINTF(a, b) __attribute__((format(printf, a, b)))

void plan(int n);
void plan_no_plan(void);
void plan_skip_all(const char *fmt, ...) TAP_PRINTF(1, 2) __attribute__((noreturn));
void skip(int n, const char *fmt, ...) TAP_PRINTF(2, 3);
/*
 * Checks between todo_start() and todo_end() are known failures: they
 * print "# TODO <why>" and a failure does not fail the program (TAP's
 * todo directive; run-tests.sh and vm.sh do not count them as failed).
 */
void todo_start(const char *fmt, ...) TAP_PRINTF(1, 2);
void todo_end(void);
void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
void bail_out(const char *fmt, ...) TAP_PRINTF(1, 2) __attribute__((noreturn));
int done_testing(void);

bool tap_ok(bool pass, const char *file, int line, const char *fmt, ...)
	TAP_PRINTF(4, 5);
bool tap_is_int(long long got, long long want, const char *expr,
		const char *file, int line, const char *fmt, ...) TAP_PRINTF(6, 7);
bool tap_is_errno(long long ret, int err, int want, const char *expr,
		  const char *file, int line, const char *fmt, ...) TAP_PRINTF(7, 8);

/* ok(cond, fmt, ...): passes when cond is true. */
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* is_int(got, want, fmt, ...): integer equality, shows both on failure. */
#define is_int(got, want, ...) \
	tap_is_int((long long)(got), (long long)(want), #got, __FILE__, __LINE__, __VA_ARGS__)

/*
 * is_errno(call, E, fmt, ...): the call returns -1 and errno is E.  errno is
 * read after the call is evaluated.
 */
#define is_errno(call, err, ...) ({					\
	long long __ret = (long long)(call);				\
	tap_is_errno(__ret, errno, (err), #call, __FILE__, __LINE__,	\
		     __VA_ARGS__);					\
})

#endif
