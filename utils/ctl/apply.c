// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl apply: make the rings of configuration files exist as they
 * say (man/shmring-ring.conf.5). The files are parsed by ringconf.c.
 *
 * Every file is parsed before anything is touched: a file with a bad line
 * stops the whole run (exit 2) with every bad line reported as FILE:LINE.
 * Then, for each ring: a missing ring is created; an existing one keeps its
 * records, and its owner, group and mode are set as configured; one whose
 * size, policy, max_record, csum, zero-copy or chunk differ from the file
 * is reported (exit 1) and left as it is, unless --recreate deletes and
 * creates it again. Running it twice changes nothing the second time.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ringconf.h"

struct conf_item {
	const char *path;
	struct ringconf rc;
};

/* The list entry of ring @name: 0, -ENOENT, or another -errno. */
static int find_ring(const char *name, struct shmring_ring_entry *out)
{
	struct shmring_ring_entry buf[32];
	unsigned int skip = 0, total = 0;
	int n;

	do {
		n = shmring_list(buf, ARRAY_SIZE(buf), skip, &total);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (!strncmp(buf[i].name, name, SHMRING_NAME_MAX)) {
				*out = buf[i];
				return 0;
			}
		}
		skip += (unsigned int)n;
	} while (n > 0 && skip < total);
	return -ENOENT;
}

static const char *policy_str(uint32_t p)
{
	return p == SHMRING_POLICY_LOSSLESS ? "lossless" : "overwrite";
}

/* "size 1M, policy lossless, max_record 1024, csum, zerocopy chunk 64K" */
static void attr_str(const struct shmring_attr *a, char *buf, size_t len)
{
	char sz[32], ch[32], mr[16];

	snprintf(mr, sizeof(mr), "%" PRIu32, a->max_record);
	snprintf(buf, len, "size %s, policy %s, max_record %s%s%s%s",
		 a->data_size ? size_str(a->data_size, sz, sizeof(sz)) : "default",
		 policy_str(a->policy), a->max_record ? mr : "default",
		 a->flags & SHMRING_ATTR_CSUM ? ", csum" : "",
		 a->flags & SHMRING_ATTR_ZEROCOPY ? ", zerocopy, chunk " : "",
		 !(a->flags & SHMRING_ATTR_ZEROCOPY) ? "" :
		 a->zc_chunk ? size_str(a->zc_chunk, ch, sizeof(ch)) : "default");
}

/* What of the file's attributes the ring does not have; "" if none. */
static void attr_diff(const struct ringconf *rc, const struct shmring_attr *a,
		      char *buf, size_t len)
{
	const struct shmring_attr *w = &rc->attr;
	char x[32], y[32];
	size_t n = 0;

	buf[0] = '\0';
#define DIFF(...) do { if (n < len) n += (size_t)snprintf(buf + n, len - n, \
		"%s", n ? ", " : ""); if (n < len) n += (size_t)snprintf(buf + n, len - n, \
		__VA_ARGS__); } while (0)
	if (rc->size_set && a->data_size != w->data_size)
		DIFF("size %s (file: %s)", size_str(a->data_size, x, sizeof(x)),
		     size_str(w->data_size, y, sizeof(y)));
	if (a->policy != w->policy)
		DIFF("policy %s (file: %s)", policy_str(a->policy), policy_str(w->policy));
	if (rc->max_set && w->max_record && a->max_record != w->max_record)
		DIFF("max_record %" PRIu32 " (file: %" PRIu32 ")", a->max_record, w->max_record);
	if ((a->flags & SHMRING_ATTR_CSUM) != (w->flags & SHMRING_ATTR_CSUM))
		DIFF("%s (file: csum = %s)", a->flags & SHMRING_ATTR_CSUM ? "csum" : "no csum",
		     w->flags & SHMRING_ATTR_CSUM ? "yes" : "no");
	if ((a->flags & SHMRING_ATTR_ZEROCOPY) != (w->flags & SHMRING_ATTR_ZEROCOPY))
		DIFF("%s (file: zerocopy = %s)",
		     a->flags & SHMRING_ATTR_ZEROCOPY ? "zero-copy" : "not zero-copy",
		     w->flags & SHMRING_ATTR_ZEROCOPY ? "yes" : "no");
	else if (rc->chunk_set && a->zc_chunk != w->zc_chunk)
		DIFF("chunk %s (file: %s)", size_str(a->zc_chunk, x, sizeof(x)),
		     size_str(w->zc_chunk, y, sizeof(y)));
#undef DIFF
}

static int create_ring(const struct conf_item *it, bool recreated)
{
	const struct ringconf *rc = &it->rc;
	struct shmring_attr attr = rc->attr;
	struct shmring_info info;
	struct shmring *r;
	char a[200];
	int ret;

	ret = shmring_open(rc->name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
			   0600, &attr, &r);
	if (ret == -EINVAL) {
		err_msg("%s: %s: the kernel rejected the ring's attributes (above the "
			"module's max_size, or a kernel without zero-copy rings?): %s",
			it->path, rc->name, strerror(EINVAL));
		return CTL_FAIL;
	}
	if (ret == -EEXIST) {	/* not in our list: we may not read it */
		err_msg("%s: ring %s exists but is not visible to this user (no read "
			"permission): run apply as root or as its owner", it->path, rc->name);
		return CTL_DENIED;
	}
	if (ret)
		return ring_error(rc->name, ret);
	ret = shmring_info(r, &info);
	shmring_close(r);
	if (ret)
		return ring_error(rc->name, ret);
	attr_str(&info.attr, a, sizeof(a));
	printf("%s %s: %s\n", recreated ? "re-created" : "created", rc->name, a);
	return CTL_OK;
}

/* Owner, group and mode as configured; a line per change. */
static int fix_owner_mode(const struct conf_item *it, const struct shmring_ring_entry *e)
{
	const struct ringconf *rc = &it->rc;
	uid_t uid = rc->uid_set && rc->uid != e->uid ? rc->uid : (uid_t)-1;
	gid_t gid = rc->gid_set && rc->gid != e->gid ? rc->gid : (gid_t)-1;
	char a[64], b[64], c[64], d[64];
	int ret;

	if (uid != (uid_t)-1 || gid != (gid_t)-1) {
		ret = shmring_chown(rc->name, uid, gid);
		if (ret)
			return ring_error(rc->name, ret);
		printf("%s: owner %s:%s (was %s:%s)\n", rc->name,
		       user_str(rc->uid_set ? rc->uid : e->uid, a, sizeof(a)),
		       group_str(rc->gid_set ? rc->gid : e->gid, b, sizeof(b)),
		       user_str(e->uid, c, sizeof(c)), group_str(e->gid, d, sizeof(d)));
	}
	if ((e->mode & 0777) != rc->mode) {
		ret = shmring_chmod(rc->name, rc->mode);
		if (ret)
			return ring_error(rc->name, ret);
		printf("%s: mode %04o (was %04o)\n", rc->name, rc->mode, e->mode & 0777);
	}
	return CTL_OK;
}

static int apply_one(const struct conf_item *it, bool recreate)
{
	const struct ringconf *rc = &it->rc;
	struct shmring_ring_entry e;
	char diff[400];
	int ret, status = CTL_OK;
	bool created = false;

	ret = find_ring(rc->name, &e);
	if (ret == -ENOENT) {
		ret = create_ring(it, false);
		if (ret)
			return ret;
		created = true;
	} else if (ret) {
		return ring_error(rc->name, ret);
	} else {
		attr_diff(rc, &e.attr, diff, sizeof(diff));
		if (*diff && !recreate) {
			err_msg("%s: ring %s exists with %s: left as it is (--recreate deletes "
				"and re-creates it, losing its records)", it->path, rc->name, diff);
			status = CTL_FAIL;
		} else if (*diff) {
			ret = shmring_unlink(rc->name);
			if (ret)
				return ring_error(rc->name, ret);
			ret = create_ring(it, true);
			if (ret)
				return ret;
			created = true;
		}
	}
	if (created) {
		ret = find_ring(rc->name, &e);
		if (ret)
			return ring_error(rc->name, ret);
		/* Created 0600 (umask applied): the configured mode is set below. */
	}
	ret = fix_owner_mode(it, &e);
	return status ? status : ret;
}

int cmd_apply(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "recreate", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool check = false, recreate = false;
	struct conf_item *items;
	int c, errors = 0, nitems, ret = CTL_OK;

	while ((c = getopt_long(argc, argv, "cRh", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			check = true;
			break;
		case 'R':
			recreate = true;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return CTL_OK;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	if (optind >= argc) {
		err_msg("apply: missing FILE");
		return cmd_bad_usage(cmd);
	}
	if (check && recreate) {
		err_msg("apply: --check changes nothing; --recreate cannot go with it");
		return cmd_bad_usage(cmd);
	}
	nitems = argc - optind;
	items = calloc((size_t)nitems, sizeof(*items));
	if (!items) {
		err_msg("out of memory");
		return CTL_FAIL;
	}
	for (int i = 0; i < nitems; i++) {
		items[i].path = argv[optind + i];
		errors += ringconf_parse_file(items[i].path, &items[i].rc, stderr);
		for (int j = 0; j < i && items[i].rc.name[0]; j++) {
			if (strcmp(items[j].rc.name, items[i].rc.name))
				continue;
			fprintf(stderr, "%s: ring %s is configured in %s too\n", items[i].path,
				items[i].rc.name, items[j].path);
			errors++;
		}
	}
	if (errors) {
		err_msg("%d error%s in the configuration: nothing was changed", errors,
			errors == 1 ? "" : "s");
		free(items);
		return CTL_USAGE;
	}
	for (int i = 0; i < nitems && !check; i++) {
		int st = apply_one(&items[i], recreate);

		if (ret == CTL_OK)
			ret = st;
		if (st == CTL_NOT_LOADED)
			break;
	}
	if (check && o->verbose) {
		for (int i = 0; i < nitems; i++) {
			char a[200];

			attr_str(&items[i].rc.attr, a, sizeof(a));
			printf("%s: ring %s: %s, mode %04o\n", items[i].path, items[i].rc.name,
			       a, items[i].rc.mode);
		}
	}
	free(items);
	return ret == CTL_OK ? flush_stdout() : ret;
}
