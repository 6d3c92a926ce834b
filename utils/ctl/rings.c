// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl: ring administration through libshmring (create, delete,
 * chown, chmod, subs, write), ring names, and libshmring errors as
 * sentences.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "ctl.h"
#include "../position.h"

/* ---- rings: names and errors ---------------------------------------------------- */

/* Ring and subscription names as the kernel accepts them (docs/errors.md). */
static bool name_ok(const char *s, size_t max)
{
	size_t len = strnlen(s, max);

	if (len == 0 || len == max || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x80 || (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-'))
			return false;
	}
	return true;
}

int check_name(const struct ctl_cmd *cmd, const char *what, const char *s, size_t max)
{
	if (name_ok(s, max))
		return CTL_OK;
	err_msg("invalid %s name '%s': 1 to %zu characters of A-Z a-z 0-9 . _ - "
		"(not '.' or '..')", what, s, max - 1);
	return cmd_bad_usage(cmd);
}

/* The one ring NAME operand left after the options. */
int ring_operand(const struct ctl_cmd *cmd, int argc, char **argv, const char **name)
{
	if (optind >= argc) {
		err_msg("%s: missing ring NAME", cmd->name);
		return cmd_bad_usage(cmd);
	}
	if (argc - optind > 1) {
		err_msg("%s: unexpected argument '%s'", cmd->name, argv[optind + 1]);
		return cmd_bad_usage(cmd);
	}
	*name = argv[optind];
	return check_name(cmd, "ring", *name, SHMRING_NAME_MAX);
}

/* A module parameter for a message, "?" if unreadable. */
static const char *param_or_unknown(const char *name, char *buf, size_t len)
{
	return param_value(name, buf, len) ? buf : "?";
}

/*
 * EACCES may come from /dev/shmring itself (the udev rule gives it a group
 * and mode 0660) before any ring's mode is looked at: say which, and how
 * to get in. True if it said so.
 */
static bool device_denied(const char *name)
{
	struct stat st;
	struct group *g;
	char gid[16];
	const char *gname;

	if (!access(SHMRING_DEVICE, R_OK | W_OK) || errno != EACCES ||
	    stat(SHMRING_DEVICE, &st))
		return false;
	g = getgrgid(st.st_gid);
	snprintf(gid, sizeof(gid), "%u", (unsigned int)st.st_gid);
	gname = g ? g->gr_name : gid;
	if (access(SHMRING_DEVICE, R_OK)) {
		err_msg("%s: permission denied by %s itself (group %s, mode %04o): join its group (`usermod -aG %s USER`, then log in again)",
			name, SHMRING_DEVICE, gname, (unsigned int)(st.st_mode & 07777), gname);
		return true;
	}
	err_msg("%s: permission denied: %s is read-only for you (group %s, mode %04o), or the ring's mode refuses (`%s stat %s` shows it)",
		name, SHMRING_DEVICE, gname, (unsigned int)(st.st_mode & 07777), PROG, name);
	return true;
}

/* A libshmring error about ring NAME as one sentence; returns the exit status. */
int ring_error(const char *name, int err)
{
	char a[32], b[32];

	switch (err) {
	case -ENODEV:
		return not_loaded();
	case -ENOENT:
		err_msg("%s: no ring by that name (`%s list` shows the rings)", name, PROG);
		return CTL_NO_RING;
	case -EEXIST:
		err_msg("%s: a ring by that name already exists", name);
		return CTL_EXISTS;
	case -EACCES:
		if (device_denied(name))
			return CTL_DENIED;
		err_msg("%s: permission denied by the ring's mode (`%s stat %s` shows it)",
			name, PROG, name);
		return CTL_DENIED;
	case -EPERM:
		err_msg("%s: only the ring's owner (or CAP_IPC_OWNER) may do that", name);
		return CTL_DENIED;
	case -EDQUOT:
		err_msg("%s: %s: max_user is %s bytes", name, shmring_strerror(err),
			param_or_unknown("max_user", a, sizeof(a)));
		return CTL_LIMIT;
	case -EUSERS:
		err_msg("%s: %s: max_readers is %s", name, shmring_strerror(err),
			param_or_unknown("max_readers", a, sizeof(a)));
		return CTL_LIMIT;
	case -ENOSPC:
		err_msg("%s: %s: max_total is %s bytes, max_rings %s", name,
			shmring_strerror(err), param_or_unknown("max_total", a, sizeof(a)),
			param_or_unknown("max_rings", b, sizeof(b)));
		return CTL_LIMIT;
	default:
		err_msg("%s: %s", name, shmring_strerror(err));
		return CTL_FAIL;
	}
}


/* ---- create ------------------------------------------------------------------------------ */

struct create_req {
	const char *name;
	struct shmring_attr attr;
	unsigned int mode;
	bool excl;
	bool size_set, policy_set, max_set, csum_set, zc_set, chunk_set;
};

static int create_parse(const struct ctl_cmd *cmd, struct create_req *c,
			int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "max-record", required_argument, NULL, 'r' },
		{ "csum", no_argument, NULL, 'c' },
		{ "zerocopy", no_argument, NULL, 'z' },
		{ "chunk", required_argument, NULL, 'k' },
		{ "mode", required_argument, NULL, 'm' },
		{ "exclusive", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "s:p:r:czk:m:xh", lopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (!parse_size(optarg, &v) || v < SHMRING_MIN_DATA_SIZE ||
			    (v & (v - 1))) {
				err_msg("invalid size '%s': a power of two of at least 4096 "
					"bytes, with an optional k, M or G suffix (64k, 1M)",
					optarg);
				return cmd_bad_usage(cmd);
			}
			c->attr.data_size = v;
			c->size_set = true;
			break;
		case 'p':
			if (!strcmp(optarg, "overwrite")) {
				c->attr.policy = SHMRING_POLICY_OVERWRITE;
			} else if (!strcmp(optarg, "lossless")) {
				c->attr.policy = SHMRING_POLICY_LOSSLESS;
			} else {
				err_msg("invalid policy '%s': overwrite or lossless", optarg);
				return cmd_bad_usage(cmd);
			}
			c->policy_set = true;
			break;
		case 'r':
			if (!parse_size(optarg, &v) || v > UINT32_MAX) {
				err_msg("invalid max-record '%s': BYTES below 4G, with an "
					"optional k, M or G suffix", optarg);
				return cmd_bad_usage(cmd);
			}
			c->attr.max_record = (uint32_t)v;
			c->max_set = true;
			break;
		case 'c':
			c->attr.flags |= SHMRING_ATTR_CSUM;
			c->csum_set = true;
			break;
		case 'z':
			c->attr.flags |= SHMRING_ATTR_ZEROCOPY;
			c->zc_set = true;
			break;
		case 'k':
			if (!parse_size(optarg, &v) || v < 4096 || v > UINT32_MAX / 2 + 1 ||
			    (v & (v - 1))) {
				err_msg("invalid chunk '%s': a power of two of at least 4096 "
					"bytes (the page size), with an optional k or M suffix",
					optarg);
				return cmd_bad_usage(cmd);
			}
			c->attr.zc_chunk = (uint32_t)v;
			c->chunk_set = true;
			break;
		case 'm':
			errno = 0;
			v = strtoull(optarg, &end, 8);
			if (errno || !*optarg || *end || v > 0777 || strchr(optarg, '-')) {
				err_msg("invalid mode '%s': octal permission bits, at most 0777",
					optarg);
				return cmd_bad_usage(cmd);
			}
			c->mode = (unsigned int)v;
			break;
		case 'x':
			c->excl = true;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return -1;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	if (c->chunk_set && !c->zc_set) {
		err_msg("--chunk is for zero-copy rings: give --zerocopy too");
		return cmd_bad_usage(cmd);
	}
	return ring_operand(cmd, argc, argv, &c->name);
}

/* The ring size the kernel will use: --size, else default_size; 0 if unknown. */
static uint64_t create_size(const struct create_req *c)
{
	char buf[32];

	if (c->size_set)
		return c->attr.data_size;
	if (param_value("default_size", buf, sizeof(buf)))
		return strtoull(buf, NULL, 0);
	return 0;
}

/* A record of max_record payload bytes and its header must fit in the ring. */
static int create_check_record(const struct ctl_cmd *cmd, const struct create_req *c)
{
	uint64_t size = create_size(c);

	if (!c->max_set || !size || SHMRING_REC_TOTAL((uint64_t)c->attr.max_record) <= size)
		return CTL_OK;
	err_msg("max-record %u does not fit in a ring of %" PRIu64 " bytes: a record "
		"takes a %zu-byte header plus its payload, so at most %" PRIu64,
		c->attr.max_record, size, sizeof(struct shmring_rec),
		size - sizeof(struct shmring_rec));
	return cmd_bad_usage(cmd);
}

/*
 * Zero-copy rings: a chunk is at most half the ring, and a record of
 * max_record bytes must fit in one.
 */
static int create_check_chunk(const struct ctl_cmd *cmd, const struct create_req *c)
{
	uint64_t size = create_size(c), need;

	if (!c->zc_set || !size)
		return CTL_OK;
	if (c->chunk_set && c->attr.zc_chunk > size / 2) {
		err_msg("chunk %u is larger than half the ring (%" PRIu64 " bytes)",
			c->attr.zc_chunk, size);
		return cmd_bad_usage(cmd);
	}
	if (!c->max_set || !c->attr.max_record)
		return CTL_OK;
	need = SHMRING_REC_TOTAL((uint64_t)c->attr.max_record);
	if (need <= (c->chunk_set ? c->attr.zc_chunk : size / 2))
		return CTL_OK;
	err_msg("max-record %u does not fit in a %s of %" PRIu64 " bytes: records of a "
		"zero-copy ring never cross a chunk, and take a %zu-byte header plus their "
		"payload", c->attr.max_record, c->chunk_set ? "chunk" : "chunk (at most half "
		"the ring)", c->chunk_set ? c->attr.zc_chunk : size / 2,
		sizeof(struct shmring_rec));
	return cmd_bad_usage(cmd);
}

/* EINVAL after the checks above: the size is above the module's max_size. */
static int create_einval(const struct create_req *c)
{
	uint64_t size = create_size(c);
	char buf[32];

	if (param_value("max_size", buf, sizeof(buf)) && size > strtoull(buf, NULL, 0)) {
		err_msg("%s: size %" PRIu64 " is above the module's max_size (%s bytes); "
			"reload it with a larger max_size=", c->name, size, buf);
		return CTL_FAIL;
	}
	if (c->zc_set) {
		err_msg("%s: the kernel rejected the ring's attributes (size %" PRIu64
			", max_record %u, zero-copy, chunk %u): %s%s", c->name, size,
			c->attr.max_record, c->attr.zc_chunk, strerror(EINVAL),
			c->chunk_set ? "" : "; a kernel without zero-copy rings refuses "
			"--zerocopy too (SHMRING_FEAT_ZEROCOPY)");
		return CTL_FAIL;
	}
	err_msg("%s: the kernel rejected the ring's attributes (size %" PRIu64
		", max_record %u): %s", c->name, size, c->attr.max_record, strerror(EINVAL));
	return CTL_FAIL;
}

/* ", zerocopy, chunk 64K" for a zero-copy ring, "" otherwise. */
static const char *zc_str(const struct shmring_attr *a, char *buf, size_t len)
{
	char ch[32];

	if (!(a->flags & SHMRING_ATTR_ZEROCOPY))
		return "";
	snprintf(buf, len, ", zerocopy, chunk %s", size_str(a->zc_chunk, ch, sizeof(ch)));
	return buf;
}

static void print_attr(const char *what, const char *name, const struct shmring_attr *a)
{
	char sz[32], zc[64];

	printf("%s %s: size %s, policy %s, max_record %u%s%s\n", what, name,
	       size_str(a->data_size, sz, sizeof(sz)),
	       a->policy == SHMRING_POLICY_LOSSLESS ? "lossless" : "overwrite",
	       a->max_record, a->flags & SHMRING_ATTR_CSUM ? ", csum" : "",
	       zc_str(a, zc, sizeof(zc)));
}

/* An existing ring is left as it is: say so if it differs from what was asked. */
static void create_compare(const struct create_req *c, const struct shmring_attr *a)
{
	char sz[32], zc[64];

	if ((c->size_set && a->data_size != c->attr.data_size) ||
	    (c->policy_set && a->policy != c->attr.policy) ||
	    (c->max_set && c->attr.max_record && a->max_record != c->attr.max_record) ||
	    (c->csum_set && !(a->flags & SHMRING_ATTR_CSUM)) ||
	    (c->zc_set && !(a->flags & SHMRING_ATTR_ZEROCOPY)) ||
	    (c->chunk_set && a->zc_chunk != c->attr.zc_chunk))
		warn_msg("ring %s already exists with size %s, policy %s, max_record %u%s%s; "
			 "it was left as it is (--exclusive makes this an error)", c->name,
			 size_str(a->data_size, sz, sizeof(sz)),
			 a->policy == SHMRING_POLICY_LOSSLESS ? "lossless" : "overwrite",
			 a->max_record, a->flags & SHMRING_ATTR_CSUM ? ", csum" : ", no csum",
			 c->zc_set && !(a->flags & SHMRING_ATTR_ZEROCOPY) ? ", not zero-copy" :
			 zc_str(a, zc, sizeof(zc)));
}

int cmd_create(const struct ctl_cmd *cmd, const struct ctl_opts *o,
	       int argc, char **argv)
{
	struct create_req c = { .mode = 0644 };
	struct shmring_info info;
	struct shmring *r;
	bool existed = false;
	int ret;

	ret = create_parse(cmd, &c, argc, argv);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	ret = create_check_record(cmd, &c);
	if (!ret)
		ret = create_check_chunk(cmd, &c);
	if (ret)
		return ret;
	ret = shmring_open(c.name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
			   c.mode, &c.attr, &r);
	if (ret == -EEXIST && !c.excl) {
		existed = true;
		ret = shmring_open(c.name, SHMRING_O_CREAT | SHMRING_O_WRITE, c.mode,
				   &c.attr, &r);
	}
	if (ret == -EINVAL)
		return create_einval(&c);
	if (ret)
		return ring_error(c.name, ret);
	ret = shmring_info(r, &info);
	shmring_close(r);
	if (ret)
		return ring_error(c.name, ret);
	if (existed)
		create_compare(&c, &info.attr);
	if (o->verbose)
		print_attr(existed ? "exists" : "created", c.name, &info.attr);
	return flush_stdout();
}

/* ---- delete ------------------------------------------------------------------------------ */

int cmd_delete(const struct ctl_cmd *cmd, const struct ctl_opts *o,
	       int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret = CTL_OK;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cmd_usage(cmd, stdout);
			return CTL_OK;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	if (optind >= argc) {
		err_msg("delete: missing ring NAME");
		return cmd_bad_usage(cmd);
	}
	for (int i = optind; i < argc; i++)
		if (check_name(cmd, "ring", argv[i], SHMRING_NAME_MAX))
			return CTL_USAGE;
	/* Like rm: every NAME is tried; the status is the first failure's. */
	for (int i = optind; i < argc; i++) {
		int err = shmring_unlink(argv[i]);
		int st = err ? ring_error(argv[i], err) : CTL_OK;

		if (!err && o->verbose)
			printf("deleted %s\n", argv[i]);
		if (ret == CTL_OK)
			ret = st;
		if (err == -ENODEV)
			break;
	}
	return ret == CTL_OK ? flush_stdout() : ret;
}


/* ---- chown, chmod ------------------------------------------------------------------------- */

/* Options: --help only; returns -1 after --help, else an exit status. */
static int help_opt(const struct ctl_cmd *cmd, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cmd_usage(cmd, stdout);
			return -1;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	return CTL_OK;
}

/* RING and one more operand, named what. */
static int two_operands(const struct ctl_cmd *cmd, int argc, char **argv,
			const char *what, const char **name, const char **arg)
{
	if (argc - optind < 2) {
		err_msg("%s: missing %s", cmd->name, optind < argc ? what : "ring NAME");
		return cmd_bad_usage(cmd);
	}
	if (argc - optind > 2) {
		err_msg("%s: unexpected argument '%s'", cmd->name, argv[optind + 2]);
		return cmd_bad_usage(cmd);
	}
	*name = argv[optind];
	*arg = argv[optind + 1];
	return check_name(cmd, "ring", *name, SHMRING_NAME_MAX);
}

/* All digits: a number below 2^32 - 1 ((uid_t)-1 means "keep"). */
static bool id_number(const char *s, uint32_t *v)
{
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	return parse_u32(s, v) && *v != UINT32_MAX;
}

/*
 * USER[:GROUP], :GROUP or USER: (the user's login group), names or
 * numbers, as chown(1). (uid_t)-1/(gid_t)-1: not to change.
 */
static int parse_owner(const struct ctl_cmd *cmd, const char *spec, uid_t *uid, gid_t *gid)
{
	char user[256], *group;
	const struct passwd *pw = NULL;
	const struct group *gr;
	uint32_t v;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (snprintf(user, sizeof(user), "%s", spec) >= (int)sizeof(user) || !*spec) {
		err_msg("invalid owner '%s': USER[:GROUP] or :GROUP", spec);
		return cmd_bad_usage(cmd);
	}
	group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	if (*user) {
		pw = getpwnam(user);
		if (pw) {
			*uid = pw->pw_uid;
		} else if (id_number(user, &v)) {
			*uid = (uid_t)v;
		} else {
			err_msg("invalid user '%s': no such user name, nor a number", user);
			return cmd_bad_usage(cmd);
		}
	}
	if (group && *group) {
		gr = getgrnam(group);
		if (gr) {
			*gid = gr->gr_gid;
		} else if (id_number(group, &v)) {
			*gid = (gid_t)v;
		} else {
			err_msg("invalid group '%s': no such group name, nor a number", group);
			return cmd_bad_usage(cmd);
		}
	} else if (group && *user) {	/* USER: the login group */
		if (!pw)
			pw = getpwuid(*uid);
		if (!pw) {
			err_msg("invalid owner '%s': user %s has no login group (give "
				"USER:GROUP)", spec, user);
			return cmd_bad_usage(cmd);
		}
		*gid = pw->pw_gid;
	} else if (group) {
		err_msg("invalid owner '%s': USER[:GROUP] or :GROUP", spec);
		return cmd_bad_usage(cmd);
	}
	return CTL_OK;
}

/* A SETATTR error: EINVAL is an id this user namespace does not map. */
static int setattr_error(const char *name, int err, const char *what)
{
	if (err == -EINVAL) {
		err_msg("%s: the kernel refused %s: %s (an id not mapped in this user "
			"namespace?)", name, what, strerror(EINVAL));
		return CTL_FAIL;
	}
	return ring_error(name, err);
}

int cmd_chown(const struct ctl_cmd *cmd, const struct ctl_opts *o,
	      int argc, char **argv)
{
	const char *name, *spec;
	char a[64], b[64];
	uid_t uid;
	gid_t gid;
	int ret;

	ret = help_opt(cmd, argc, argv);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	ret = two_operands(cmd, argc, argv, "USER[:GROUP]", &name, &spec);
	if (!ret)
		ret = parse_owner(cmd, spec, &uid, &gid);
	if (ret)
		return ret;
	ret = shmring_chown(name, uid, gid);
	if (ret)
		return setattr_error(name, ret, "the owner");
	if (o->verbose) {
		printf("changed %s:", name);
		if (uid != (uid_t)-1)
			printf(" owner %s (uid %u)", user_str(uid, a, sizeof(a)), (unsigned int)uid);
		if (gid != (gid_t)-1)
			printf("%s group %s (gid %u)", uid != (uid_t)-1 ? "," : "",
			       group_str(gid, b, sizeof(b)), (unsigned int)gid);
		putchar('\n');
	}
	return flush_stdout();
}

int cmd_chmod(const struct ctl_cmd *cmd, const struct ctl_opts *o,
	      int argc, char **argv)
{
	const char *name, *spec;
	uint64_t v;
	char *end;
	int ret;

	ret = help_opt(cmd, argc, argv);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	ret = two_operands(cmd, argc, argv, "MODE", &name, &spec);
	if (ret)
		return ret;
	errno = 0;
	v = strtoull(spec, &end, 8);
	if (errno || !*spec || *end || v > 0777 || strspn(spec, "01234567") != strlen(spec)) {
		err_msg("invalid mode '%s': octal permission bits, at most 0777", spec);
		return cmd_bad_usage(cmd);
	}
	ret = shmring_chmod(name, (mode_t)v);
	if (ret)
		return setattr_error(name, ret, "the mode");
	if (o->verbose)
		printf("changed %s: mode %04" PRIo64 "\n", name, v);
	return flush_stdout();
}

/* ---- subs --------------------------------------------------------------------------------- */

/*
 * SUB_LIST and SUB_DEL need a file bound to the ring. Bound for writing,
 * it is not a reader and changes nothing; a caller who may only read
 * attaches a reader at the head for a moment (it holds nothing back).
 */
static int open_admin(const char *name, struct shmring **r)
{
	int ret = shmring_open(name, SHMRING_O_WRITE, 0, NULL, r);

	if (ret == -EACCES)
		ret = shmring_open(name, SHMRING_O_READ | SHMRING_O_FROM_HEAD, 0, NULL, r);
	return ret;
}

static int subs_delete(const char *name, const char *sub)
{
	struct shmring *r;
	int ret = open_admin(name, &r);

	if (ret)
		return ring_error(name, ret);
	ret = shmring_sub_delete(r, sub);
	shmring_close(r);
	switch (ret) {
	case 0:
		return CTL_OK;
	case -ENOENT:
		err_msg("%s: no subscription '%s' (`%s subs %s` lists them)", name, sub,
			PROG, name);
		return CTL_NO_RING;
	case -EBUSY:
		err_msg("%s: subscription '%s' is attached to a reader; stop the reader first",
			name, sub);
		return CTL_BUSY;
	case -EPERM:
		err_msg("%s: only the subscription's creator or the ring's owner (or "
			"CAP_IPC_OWNER) may delete '%s'", name, sub);
		return CTL_DENIED;
	default:
		return ring_error(name, ret);
	}
}

static void subs_text(const struct shmring_sub_info *s, unsigned int n,
		      const struct shmring_info *info)
{
	struct table t = { .right = 0xfU << 2 };
	char when[ISO_TIME_LEN];

	table_add(&t, "NAME\tATTACHED\tPOS\tSEQ\tLAG_RECORDS\tLAG_BYTES\tLAST_READ");
	for (unsigned int i = 0; i < n; i++)
		table_add(&t, "%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%s",
			  s[i].name, s[i].attached ? "yes" : "no", (uint64_t)s[i].pos,
			  (uint64_t)s[i].seq, (uint64_t)(info->head_seq - s[i].seq),
			  (uint64_t)(info->head - s[i].pos),
			  when_str(s[i].last_read_ns, when, sizeof(when)));
	table_print(&t);
}

/* A JSON array, one subscription object per line. */
static int subs_json(const struct shmring_sub_info *s, unsigned int n,
		     const struct shmring_info *info, const struct ctl_opts *o)
{
	struct json j;

	ctl_json(&j, o);
	json_arr_open(&j, JSON_BREAK);
	for (unsigned int i = 0; i < n; i++) {
		json_obj_open(&j, JSON_FLOW);
		json_kstr(&j, "name", s[i].name);
		json_kbool(&j, "attached", s[i].attached);
		json_ku64(&j, "pos", s[i].pos);
		json_ku64(&j, "seq", s[i].seq);
		json_ku64(&j, "lag_records", info->head_seq - s[i].seq);
		json_ku64(&j, "lag_bytes", info->head - s[i].pos);
		json_ku64(&j, "last_read_ns", s[i].last_read_ns);
		json_key(&j, "last_read");
		json_time(&j, s[i].last_read_ns);
		json_obj_close(&j);
	}
	json_arr_close(&j);
	return ctl_json_end(&j);
}

static int subs_list(const char *name, bool json, const struct ctl_opts *o)
{
	struct shmring_sub_info subs[MAX_SUBS];
	struct shmring_info info;
	unsigned int total = 0;
	struct shmring *r;
	int n, ret;

	ret = open_admin(name, &r);
	if (ret)
		return ring_error(name, ret);
	n = shmring_sub_list(r, subs, MAX_SUBS, &total);
	/* after the list: head is never behind a position it holds */
	ret = n < 0 ? n : shmring_info(r, &info);
	shmring_close(r);
	if (ret)
		return ring_error(name, ret);
	if (json) {
		ret = subs_json(subs, (unsigned int)n, &info, o);
	} else {
		subs_text(subs, (unsigned int)n, &info);
		ret = flush_stdout();
	}
	if (total > (unsigned int)n)
		warn_msg("%u more subscriptions not shown", total - (unsigned int)n);
	return ret;
}

/* Whether subscription SUB exists: 0 yes, else an exit status (printed). */
static int sub_exists(const char *name, const char *sub)
{
	struct shmring_sub_info subs[MAX_SUBS];
	unsigned int total = 0;
	struct shmring *r;
	int n, ret = open_admin(name, &r);

	if (ret)
		return ring_error(name, ret);
	n = shmring_sub_list(r, subs, MAX_SUBS, &total);
	shmring_close(r);
	if (n < 0)
		return ring_error(name, n);
	for (int i = 0; i < n; i++)
		if (!strcmp(subs[i].name, sub))
			return CTL_OK;
	err_msg("%s: no subscription '%s' (`%s subs %s` lists them)", name, sub, PROG, name);
	return CTL_NO_RING;
}

static int reset_seek_error(const char *name, const char *sub, const char *to,
			    struct shmring *r, int err)
{
	struct shmring_info info;

	if (err == -ENOENT && shmring_info(r, &info) == 0) {
		err_msg("%s: cannot move '%s' to %s: the ring holds seq %" PRIu64 " to %"
			PRIu64 " (%" PRIu64 " is the end)", name, sub, to,
			(uint64_t)info.tail_seq, (uint64_t)info.head_seq - 1,
			(uint64_t)info.head_seq);
		return CTL_NO_RING;
	}
	if (err == -EINVAL || err == -ENOTTY) {
		err_msg("%s: this kernel cannot move a subscription (no SHMRING_IOC_SEEK)", name);
		return CTL_FAIL;
	}
	return ring_error(name, err);
}

/*
 * Attach subscription SUB (which must exist: --reset never creates one),
 * move it with shmring_seek() and detach: the position stays.
 */
static int subs_reset(const char *name, const char *sub, const char *to,
		      const struct ring_pos *pos, bool json, const struct ctl_opts *o)
{
	struct shmring_info info;
	struct shmring *r;
	struct json j;
	int ret = sub_exists(name, sub);

	if (ret)
		return ret;
	ret = shmring_subscribe(name, sub, 0, &r);
	switch (ret) {
	case 0:
		break;
	case -EBUSY:
		err_msg("%s: subscription '%s' is attached to a reader; stop the reader first",
			name, sub);
		return CTL_BUSY;
	case -EACCES:
		err_msg("%s: subscription '%s' belongs to another user and is not shared "
			"(only its creator or CAP_IPC_OWNER may move it)", name, sub);
		return CTL_DENIED;
	default:
		return ring_error(name, ret);
	}
	ret = ring_pos_seek(r, pos);
	if (ret) {
		ret = reset_seek_error(name, sub, to, r, ret);
		shmring_close(r);
		return ret;
	}
	ret = shmring_info(r, &info);
	shmring_close(r);
	if (ret)
		return ring_error(name, ret);
	if (json) {
		ctl_json(&j, o);
		json_obj_open(&j, JSON_FLOW);
		json_kstr(&j, "ring", name);
		json_kstr(&j, "name", sub);
		json_ku64(&j, "pos", info.reader_pos);
		json_ku64(&j, "seq", info.reader_seq);
		json_ku64(&j, "lag_records", info.head_seq - info.reader_seq);
		json_obj_close(&j);
		return ctl_json_end(&j);
	}
	if (o->verbose)
		printf("reset %s of %s: now at seq %" PRIu64 ", %" PRIu64 " records behind\n",
		       sub, name, (uint64_t)info.reader_seq,
		       (uint64_t)(info.head_seq - info.reader_seq));
	return flush_stdout();
}

int cmd_subs(const struct ctl_cmd *cmd, const struct ctl_opts *o,
	     int argc, char **argv)
{
	enum { OPT_TO = 256 };
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "delete", required_argument, NULL, 'd' },
		{ "reset", required_argument, NULL, 'r' },
		{ "to", required_argument, NULL, OPT_TO },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name, *del = NULL, *reset = NULL, *to = NULL;
	bool json = false;	/* --json here; the global -j is o->json */
	struct ring_pos pos;
	int c, ret;

	while ((c = getopt_long(argc, argv, "jd:r:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'd':
			del = optarg;
			break;
		case 'r':
			reset = optarg;
			break;
		case OPT_TO:
			to = optarg;
			if (!ring_pos_parse(to, &pos)) {
				err_msg("invalid position '%s': %s", to, RING_POS_FORMS);
				return cmd_bad_usage(cmd);
			}
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return CTL_OK;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	ret = ring_operand(cmd, argc, argv, &name);
	if (ret)
		return ret;
	if (del && json) {
		err_msg("subs: --delete and --json do not go together");
		return cmd_bad_usage(cmd);
	}
	if (del && reset) {
		err_msg("subs: --delete and --reset do not go together");
		return cmd_bad_usage(cmd);
	}
	if (!reset != !to) {
		err_msg("subs: --reset SUB needs --to POSITION, and --to goes with --reset");
		return cmd_bad_usage(cmd);
	}
	if (reset) {
		ret = check_name(cmd, "subscription", reset, SHMRING_SUB_NAME_MAX);
		return ret ? ret : subs_reset(name, reset, to, &pos, json || o->json, o);
	}
	if (del) {	/* prints nothing: the global -j changes nothing */
		ret = check_name(cmd, "subscription", del, SHMRING_SUB_NAME_MAX);
		return ret ? ret : subs_delete(name, del);
	}
	return subs_list(name, json || o->json, o);
}

/* ---- write -------------------------------------------------------------------------------- */

struct write_req {
	const char *name;
	const char *data;	/* DATA, "-" for stdin, NULL with --lines */
	uint32_t type;
	bool lines;
	bool nonblock;
	struct shmring *r;
	uint32_t max_record;
	bool zc;		/* a zero-copy ring: written in place */
};

static int write_parse(const struct ctl_cmd *cmd, struct write_req *w, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "lines", no_argument, NULL, 'l' },
		{ "nonblock", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "t:lnh", lopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!parse_u32(optarg, &w->type)) {
				err_msg("invalid type '%s': a number below 2^32 (decimal or 0x hex)",
					optarg);
				return cmd_bad_usage(cmd);
			}
			break;
		case 'l':
			w->lines = true;
			break;
		case 'n':
			w->nonblock = true;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return -1;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	if (optind >= argc) {
		err_msg("write: missing ring NAME");
		return cmd_bad_usage(cmd);
	}
	w->name = argv[optind++];
	if (optind < argc)
		w->data = argv[optind++];
	if (optind < argc) {
		err_msg("write: unexpected argument '%s' (quote DATA with blanks)", argv[optind]);
		return cmd_bad_usage(cmd);
	}
	if (w->lines && w->data && strcmp(w->data, "-")) {
		err_msg("write: --lines reads standard input; give no DATA (or -)");
		return cmd_bad_usage(cmd);
	}
	if (!w->lines && !w->data) {
		err_msg("write: missing DATA (or - for standard input, or --lines)");
		return cmd_bad_usage(cmd);
	}
	return check_name(cmd, "ring", w->name, SHMRING_NAME_MAX);
}

/* One record; the payload was checked against max_record. */
static int write_record(struct write_req *w, const void *data, size_t len, const char *what)
{
	char subject[SHMRING_NAME_MAX + 48];
	int ret = w->zc ? shmring_zc_write(w->r, w->type, data, len)
			: shmring_write(w->r, w->type, data, len);

	if (ret >= 0)
		return CTL_OK;
	snprintf(subject, sizeof(subject), "%s%s%s", w->name, what ? ": " : "", what ? what : "");
	if (ret == -EACCES && w->zc) {
		err_msg("%s: a zero-copy ring is written in place, which needs read "
			"permission on it as well as write permission", subject);
		return CTL_DENIED;
	}
	if (ret == -EAGAIN && w->nonblock) {
		err_msg("%s: the lossless ring is full (a reader or subscription is behind) "
			"and --nonblock was given: not written", subject);
		return CTL_FAIL;
	}
	return ring_error(subject, ret);
}

/* Standard input, up to limit bytes; -EMSGSIZE if there is more. */
static int read_stdin(size_t limit, char **bufp, size_t *lenp)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nb;
	ssize_t n;

	for (;;) {
		if (!buf)
			return -ENOMEM;
		if (len == cap) {
			nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
			continue;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > limit) {
			free(buf);
			return -EMSGSIZE;
		}
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

static int write_stdin(struct write_req *w)
{
	size_t len = 0;
	char *buf = NULL;
	int ret = read_stdin(w->max_record, &buf, &len);

	if (ret == -EMSGSIZE) {
		err_msg("%s: standard input holds more than the ring's max_record (%u bytes): "
			"nothing written", w->name, w->max_record);
		return CTL_FAIL;
	}
	if (ret) {
		err_msg("cannot read standard input: %s", strerror(-ret));
		return CTL_FAIL;
	}
	ret = write_record(w, buf, len, NULL);
	free(buf);
	return ret;
}

/*
 * One record per line, without its newline. A line above max_record is
 * reported with its number and skipped, the others are written; any other
 * failure stops at that line.
 */
static int write_lines(struct write_req *w)
{
	unsigned long lineno = 0, oversize = 0;
	char *line = NULL, what[48];
	size_t cap = 0;
	ssize_t n;
	int ret = CTL_OK;

	while (ret == CTL_OK && (n = getline(&line, &cap, stdin)) >= 0) {
		size_t len = (size_t)n;

		lineno++;
		if (len && line[len - 1] == '\n')
			len--;
		if (len > w->max_record) {
			err_msg("%s: line %lu: %zu bytes, above the ring's max_record (%u): "
				"not written", w->name, lineno, len, w->max_record);
			oversize++;
			continue;
		}
		snprintf(what, sizeof(what), "line %lu", lineno);
		ret = write_record(w, line, len, what);
		if (ret != CTL_OK)
			err_msg("%s: line %lu and the lines after it were not written",
				w->name, lineno);
	}
	if (ret == CTL_OK && ferror(stdin)) {
		err_msg("cannot read standard input after line %lu: %s", lineno, strerror(errno));
		ret = CTL_FAIL;
	}
	free(line);
	if (ret == CTL_OK && oversize) {
		err_msg("%s: %lu of %lu lines not written (above max_record)", w->name,
			oversize, lineno);
		ret = CTL_FAIL;
	}
	return ret;
}

int cmd_write(const struct ctl_cmd *cmd, const struct ctl_opts *o,
	      int argc, char **argv)
{
	struct write_req w = { 0 };
	struct shmring_info info;
	int ret;

	(void)o;
	ret = write_parse(cmd, &w, argc, argv);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	ret = shmring_open(w.name, SHMRING_O_WRITE | (w.nonblock ? SHMRING_O_NONBLOCK : 0),
			   0, NULL, &w.r);
	if (!ret)
		ret = shmring_info(w.r, &info);
	if (ret) {
		shmring_close(w.r);
		return ring_error(w.name, ret);
	}
	w.max_record = info.attr.max_record;
	w.zc = info.attr.flags & SHMRING_ATTR_ZEROCOPY;
	if (w.lines) {
		ret = write_lines(&w);
	} else if (!strcmp(w.data, "-")) {
		ret = write_stdin(&w);
	} else if (strlen(w.data) > w.max_record) {
		err_msg("%s: DATA is %zu bytes, above the ring's max_record (%u): not written",
			w.name, strlen(w.data), w.max_record);
		ret = CTL_FAIL;
	} else {
		ret = write_record(&w, w.data, strlen(w.data), NULL);
	}
	shmring_close(w.r);
	return ret;
}

