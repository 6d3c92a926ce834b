/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shmring-ctl: what its parts share.
 *
 *   main.c    the command table, global options (-v, -j, -p), usage
 *   module.c  module management through libkmod: load, unload, status
 *   rings.c   ring administration through libshmring: create, delete,
 *             chown, chmod, subs, write; ring names and libshmring errors
 *   views.c   views of the rings: list (SHMRING_IOC_LIST, or
 *             /proc/shmring on older kernels), stat (/proc/shmring),
 *             and their --interval rates
 *   metrics.c metrics: the counters in the Prometheus text format
 *   prom.c    that format, from a snapshot of /proc/shmring (no I/O of
 *             its own, so tests/unit/t_prom.c links it alone)
 *   output.c  text tables, sizes, user and group names, times
 *   apply.c   apply: rings from configuration files (ringconf.c parses them)
 *   replay.c  replay: captures of shmring-dump -w back into a ring
 */
#ifndef SHMRING_CTL_H
#define SHMRING_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/shmring.h>

#include "shmring.h"
#include "../common.h"
#include "../json.h"

#define PROG		"shmring-ctl"
#define MODNAME		"shmring"
#define SYSFS_MODULE	"/sys/module/" MODNAME
#define PROC_SHMRING	"/proc/shmring"
#define MAX_SUBS	64	/* durable subscriptions per ring (docs/design.md) */

/* Exit statuses; man/shmring-ctl.8 (EXIT STATUS) lists the same. */
enum ctl_exit {
	CTL_OK = EXIT_OK,
	CTL_FAIL = EXIT_RUNTIME,	/* anything not listed below */
	CTL_USAGE = EXIT_USAGE,		/* bad command line */
	CTL_NOT_LOADED = EXIT_NOT_LOADED, /* the module is not loaded (every tool: 3) */
	CTL_NOT_ROOT = 4,	/* needs root / CAP_SYS_MODULE */
	CTL_NOT_FOUND = 5,	/* no module file */
	CTL_BAD_KERNEL = 6,	/* built for another kernel, or not a module */
	CTL_ALREADY = 7,	/* already loaded */
	CTL_BAD_PARAM = 8,	/* the kernel rejected a parameter */
	CTL_BAD_SYMBOL = 9,	/* unknown symbol */
	CTL_NO_MODULES = 10,	/* kernel without loadable module support */
	CTL_BUSY = 11,		/* unload: module in use; subs --delete: attached */
	CTL_NO_RING = 12,	/* no such ring (or subscription, or record) */
	CTL_EXISTS = 13,	/* create --exclusive: the ring exists */
	CTL_LIMIT = 14,		/* a ring limit: max_total, max_user, max_rings */
	CTL_DENIED = CTL_NOT_ROOT,	/* rings: mode bits or ownership refuse */
};

/* Global options, given before the command. */
struct ctl_opts {
	bool verbose;
	bool json;		/* -j/--json: commands with output print JSON */
	bool pretty;		/* -p/--pretty: that JSON indented (implies -j) */
};

struct ctl_cmd {
	const char *name;
	int (*fn)(const struct ctl_cmd *cmd, const struct ctl_opts *o,
		  int argc, char **argv);
	const char *args;	/* synopsis after the name */
	const char *help;	/* one line, for the global usage too */
	const char *details;	/* more, for `shmring-ctl CMD --help` */
};

/* main.c */
void cmd_usage(const struct ctl_cmd *cmd, FILE *f);
int cmd_bad_usage(const struct ctl_cmd *cmd);
/* JSON on stdout in the layout the global options ask for. */
void ctl_json(struct json *j, const struct ctl_opts *o);
/* End a JSON document on stdout: an exit status. */
int ctl_json_end(struct json *j);
int flush_stdout(void);
bool read_line(const char *path, char *buf, size_t len);
bool param_value(const char *name, char *buf, size_t len);

/* module.c */
int cmd_load(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);
int cmd_unload(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);
int cmd_status(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);

/* rings.c */
int cmd_create(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);
int cmd_delete(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);
int cmd_subs(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);
int cmd_chown(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);
int cmd_chmod(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);
int cmd_write(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);
int check_name(const struct ctl_cmd *cmd, const char *what, const char *s, size_t max);
int ring_operand(const struct ctl_cmd *cmd, int argc, char **argv, const char **name);
/* A libshmring error about ring NAME as one sentence; returns the exit status. */
int ring_error(const char *name, int err);

/* apply.c (ring configuration files, parsed by ringconf.c) */
int cmd_apply(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);

/* replay.c */
int cmd_replay(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);

/*
 * One snapshot of /proc/shmring (docs/design.md): "ring NAME key=value..."
 * per ring of the caller's IPC namespace, then "  reader|sub|sub+ NAME
 * key=value..." per cursor. Keys are looked up by name: unknown (newer)
 * keys are skipped and missing ones read as 0.
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
		 readers, subs, zc_chunk, zc_open, zc_sleepers, discarded;
	struct pcursor *cur;
	size_t ncur;
};

struct pview {
	struct pring *rings;
	size_t n;
	/* The header line: "shmring VERSION abi=N total_bytes=N". */
	char version[32];
	uint64_t abi, total_bytes;
};

/* views.c */
/*
 * Read /proc/shmring into *v: an exit status. *absent (if not NULL) is set
 * when the module is not loaded, and then nothing is printed; without it
 * that is reported like every other failure.
 */
int proc_read(struct pview *v, bool *absent);
void proc_free(struct pview *v);
int cmd_list(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);
int cmd_stat(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);

/* metrics.c */
int cmd_metrics(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv);

/* prom.c */
/* A module parameter as metrics shows it; have: it could be read. */
struct prom_param {
	const char *name;	/* as in /sys/module/shmring/parameters */
	uint64_t value;
	bool have;
};
/* The parameters metrics exports, in its order (PROM_NPARAMS of them). */
#define PROM_NPARAMS	8
extern const char *const prom_param_names[PROM_NPARAMS];
/*
 * Every metric family for snapshot v (NULL: the module is not loaded) in
 * the Prometheus text exposition format 0.0.4.
 */
void prom_write(FILE *f, const struct pview *v, const struct prom_param *params,
		size_t nparams);
/* A label value with \\, \" and \n escaped. */
void prom_label_value(FILE *f, const char *s);

/* output.c */
/* A time for a table: ISO-8601 UTC, or "never" for 0. */
const char *when_str(uint64_t ns, char *buf, size_t size);
/* The same as a JSON value: a string, or null for 0. */
void json_time(struct json *j, uint64_t ns);
const char *size_str(uint64_t v, char *buf, size_t size);
const char *user_str(uint64_t uid, char *buf, size_t size);
const char *group_str(uint64_t gid, char *buf, size_t size);

/*
 * A text table: rows are printf'ed with cells separated by tabs, then
 * printed with columns padded to their widest cell, two spaces apart.
 */
#define TABLE_COLS	16
struct table {
	unsigned int right;	/* bit i: column i is right-aligned (numbers) */
	size_t nrows;
	char **rows;
	bool oom;
};
void table_add(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print and free the rows; an exit status. */
int table_print(struct table *t);

#endif /* SHMRING_CTL_H */
