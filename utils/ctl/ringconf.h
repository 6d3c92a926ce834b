/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Ring configuration files for `shmring-ctl apply` (man/shmring-ring.conf.5):
 * one ring per file, `key = value` lines, `#` comments.
 *
 * ringconf_parse() reads a whole file and reports every bad line on @errf
 * as "FILE:LINE: why"; it only depends on libc and utils/common.c, so
 * tests/unit/t_ringconf.c tests it natively.
 */
#ifndef SHMRING_RINGCONF_H
#define SHMRING_RINGCONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <linux/shmring.h>

#define RINGCONF_LINE_MAX	1024	/* longest line accepted, newline included */

struct ringconf {
	char name[SHMRING_NAME_MAX];
	struct shmring_attr attr;	/* as shmring_open() takes it */
	bool size_set, policy_set, max_set, csum_set, zc_set, chunk_set;
	bool uid_set, gid_set, mode_set;
	uid_t uid;
	gid_t gid;
	unsigned int mode;		/* permission bits, default 0644 */
};

/*
 * Parse @f (named @path in messages). The ring's name is `name=`, else the
 * file's base name without ".conf". Returns the number of errors reported
 * on @errf (0: @rc is valid and complete).
 */
int ringconf_parse(FILE *f, const char *path, struct ringconf *rc, FILE *errf);
/* The same for a file name; a file that cannot be opened is one error. */
int ringconf_parse_file(const char *path, struct ringconf *rc, FILE *errf);

#endif /* SHMRING_RINGCONF_H */
