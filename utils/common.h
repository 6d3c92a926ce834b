/* SPDX-License-Identifier: MIT */
/*
 * The core every shmring tool shares (utils/common.c): messages with the
 * program's name, the exit statuses all tools agree on, number parsing
 * with size suffixes, and time formatting. The JSON writer is json.h.
 */
#ifndef SHMRING_UTILS_COMMON_H
#define SHMRING_UTILS_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Exit statuses every tool uses alike (each man page's EXIT STATUS lists
 * them); shmring-ctl has more of its own above these.
 */
enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,	/* anything not listed */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_NOT_LOADED = 3,	/* the module is not loaded: no /dev/shmring */
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* The program's name, for messages: set once at the start of main(). */
extern const char *prog_name;

/*
 * Stop signals: catch_stop_signals() makes SIGINT and SIGTERM (and SIGHUP
 * with hup) set stop_sig to the signal's number, and ignores SIGPIPE (a
 * closed output shows as EPIPE). restart: SA_RESTART, so that only waits
 * that never restart (ppoll) end on a signal.
 */
extern volatile sig_atomic_t stop_sig;
void catch_stop_signals(bool restart, bool hup);

/* The version of the tools, the file VERSION. */
extern const char shmring_tools_version[];

/* "PROG: message\n" on stderr. */
void err_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "PROG: warning: message\n" on stderr. */
void warn_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Flush stdout, print "PROG: message" and exit with status. */
void die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* "PROG: message" and "Try 'PROG --help'...", exit EXIT_USAGE. */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* "PROG VERSION" on stdout (for -V/--version). */
void print_version(void);

/*
 * The module is not loaded (libshmring returned -ENODEV, or /dev/shmring
 * is missing): say so and how to load it; returns EXIT_NOT_LOADED.
 */
int not_loaded(void);
/* The sentence not_loaded() prints, without the program's name. */
extern const char not_loaded_text[];

/*
 * Numbers: the whole string, decimal or hexadecimal with 0x, no sign, no
 * blanks; false on anything else or overflow.
 */
bool parse_u64(const char *s, uint64_t *v);
bool parse_u32(const char *s, uint32_t *v);
/*
 * BYTES with an optional binary suffix: k or K (2^10), M (2^20), G (2^30),
 * each also as kB/KiB; 4k = 4096.
 */
bool parse_size(const char *s, uint64_t *v);

/*
 * ISO-8601 UTC with microseconds, 2024-05-01T12:34:56.123456Z, of a time in
 * nanoseconds since the epoch; returns buf.
 */
#define ISO_TIME_LEN	40
const char *iso_time(uint64_t ns, char *buf, size_t size);
/* CLOCK_REALTIME and CLOCK_MONOTONIC in nanoseconds. */
uint64_t realtime_ns(void);
uint64_t monotonic_ns(void);

#endif /* SHMRING_UTILS_COMMON_H */
