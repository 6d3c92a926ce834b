// SPDX-License-Identifier: GPL-2.0
/*
 * The ABI grows for real: every ioctl struct goes through the real ioctl
 * path (a) 8 bytes larger than this header's, zero tail, with the larger
 * size also encoded in the command (a newer program on this kernel);
 * (b) the same with a non-zero tail: E2BIG; (c) in its first published
 * layout (an older program); (d) below that: EINVAL; (e) above a page:
 * E2BIG. Dispatch ignores the size encoded in the command, never the
 * type, number or direction: those give ENOTTY.
 */
#include <stdlib.h>
#include <sys/ioctl.h>

#include "common.h"

#define RING "t_ioctl_size"
#define EXPECT(expr, err, what) is_int((expr), -(err), "%s -> %s", what, #err)
#define GROW 8

/* The same command with another encoded size. */
static unsigned long cmd_sized(unsigned long cmd, unsigned int size)
{
	return _IOC(_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), size);
}

/*
 * Run @cmd with @arg (ksize bytes, a valid struct) grown by GROW bytes
 * (zero, then non-zero), at its first layout @min, and with bad sizes.
 * @fresh re-creates what the call needs (e.g. a new fd) and returns it.
 */
struct sized_case {
	const char *what;
	unsigned long cmd;
	size_t ksize;
	size_t min;
	int (*fresh)(void);	/* fd to run on; may be called many times */
	void (*fill)(void *arg, size_t size);
	void (*undo)(void);	/* after a successful call, if needed */
};

static void run_case(const struct sized_case *c)
{
	unsigned char *buf = calloc(1, 8192);
	int fd;

	if (!buf)
		bail_out("calloc");
	/* (a) larger, zero tail, larger size in the command too */
	c->fill(buf, c->ksize + GROW);
	fd = c->fresh();
	is_int(xioctl(fd, cmd_sized(c->cmd, c->ksize + GROW), buf), 0,
	       "%s: struct %zu bytes larger, zero tail, succeeds", c->what,
	       (size_t)GROW);
	close(fd);
	if (c->undo)
		c->undo();
	/* (b) non-zero tail */
	c->fill(buf, c->ksize + GROW);
	buf[c->ksize + 3] = 0x5a;
	fd = c->fresh();
	EXPECT(xioctl(fd, cmd_sized(c->cmd, c->ksize + GROW), buf), E2BIG,
	       c->what);
	close(fd);
	memset(buf, 0, 8192);
	/* (c) the first published layout, with its size in the command */
	c->fill(buf, c->min);
	fd = c->fresh();
	is_int(xioctl(fd, cmd_sized(c->cmd, c->min), buf), 0,
	       "%s: first layout (%zu bytes) succeeds", c->what, c->min);
	close(fd);
	if (c->undo)
		c->undo();
	/* (d) below it, (e) above a page */
	c->fill(buf, c->min - 4);
	fd = c->fresh();
	EXPECT(xioctl(fd, c->cmd, buf), EINVAL, c->what);
	c->fill(buf, 4096 + 8);
	EXPECT(xioctl(fd, c->cmd, buf), E2BIG, c->what);
	close(fd);
	free(buf);
}

static int fd_unbound(void)
{
	return dev_fd(O_RDWR);
}

static int fd_writer(void)
{
	int fd = raw_open(RING, SHMRING_O_WRITE, 0, 0);

	if (fd < 0)
		bail_out("open writer: %s", strerror(-fd));
	return fd;
}

static int fd_reader(void)
{
	int fd = raw_open(RING, SHMRING_O_READ, 0, 0);

	if (fd < 0)
		bail_out("open reader: %s", strerror(-fd));
	return fd;
}

static void fill_open(void *arg, size_t size)
{
	struct shmring_open *o = arg;

	open_args(o, RING, SHMRING_O_READ);
	o->size = size;
}

static void fill_name_missing(void *arg, size_t size)
{
	struct shmring_name *n = arg;

	memset(n, 0, sizeof(*n));
	n->size = size;
	strcpy(n->name, "t_ioctl_size_tmp");
}

/* UNLINK needs a ring to delete: create it again before each call. */
static int fd_unlink(void)
{
	int fd = raw_open("t_ioctl_size_tmp", SHMRING_O_CREAT | SHMRING_O_WRITE,
			  4096, SHMRING_POLICY_OVERWRITE);

	if (fd >= 0)
		close(fd);
	return dev_fd(O_RDWR);
}

static void fill_size_only(void *arg, size_t size)
{
	*(uint32_t *)arg = size;
}

static char payload[] = "sized";

static void fill_batch(void *arg, size_t size)
{
	static struct shmring_batch_rec rec;
	struct shmring_batch *b = arg;

	memset(&rec, 0, sizeof(rec));
	rec.data = (uintptr_t)payload;
	rec.len = sizeof(payload);
	memset(b, 0, sizeof(*b));
	b->size = size;
	b->recs = (uintptr_t)&rec;
	b->nr = 1;
}

static void fill_opt(void *arg, size_t size)
{
	struct shmring_opt *o = arg;

	o->size = size;
	o->opt = SHMRING_OPT_WRITE_TYPE;
	o->val = 7;
}

static struct shmring_sub_info subs[4];

static void fill_sub_list(void *arg, size_t size)
{
	struct shmring_sub_list *l = arg;

	memset(l, 0, sizeof(*l));
	l->size = size;
	l->nr = 4;
	l->subs = (uintptr_t)subs;
}

static void fill_setattr(void *arg, size_t size)
{
	struct shmring_setattr *sa = arg;

	memset(sa, 0, sizeof(*sa));
	sa->size = size;
	sa->flags = SHMRING_SETATTR_MODE;
	sa->mode = 0640;
	strcpy(sa->name, RING);
}

static struct shmring_ring_entry entries[4];

static void fill_list(void *arg, size_t size)
{
	struct shmring_list *l = arg;

	memset(l, 0, sizeof(*l));
	l->size = size;
	l->nr = 4;
	l->rings = (uintptr_t)entries;
}

static void fill_seek(void *arg, size_t size)
{
	struct shmring_seek *s = arg;

	memset(s, 0, sizeof(*s));
	s->size = size;
	s->whence = SHMRING_SEEK_END;
}

static void fill_sub_del(void *arg, size_t size)
{
	struct shmring_name *n = arg;

	memset(n, 0, sizeof(*n));
	n->size = size;
	strcpy(n->name, "sized");
}

/* SUB_DEL needs a detached subscription: make one before each call. */
static int fd_sub_del(void)
{
	int fd = raw_open(RING, SHMRING_O_READ, 0, 0);
	struct shmring_open o;
	int sfd = dev_fd(O_RDWR);

	open_args(&o, RING, SHMRING_O_READ | SHMRING_O_SUB);
	strcpy(o.sub_name, "sized");
	if (xioctl(sfd, SHMRING_IOC_OPEN, &o))
		bail_out("subscribe: %s", strerror(errno));
	close(sfd);
	if (fd < 0)
		bail_out("open reader: %s", strerror(-fd));
	return fd;
}

static const struct sized_case cases[] = {
	{ "OPEN", SHMRING_IOC_OPEN, sizeof(struct shmring_open),
	  SHMRING_OPEN_SIZE_VER0, fd_unbound, fill_open, NULL },
	{ "UNLINK", SHMRING_IOC_UNLINK, sizeof(struct shmring_name),
	  SHMRING_NAME_SIZE_VER0, fd_unlink, fill_name_missing, NULL },
	{ "INFO", SHMRING_IOC_INFO, sizeof(struct shmring_info),
	  SHMRING_INFO_SIZE_VER0, fd_reader, fill_size_only, NULL },
	{ "WRITE_BATCH", SHMRING_IOC_WRITE_BATCH, sizeof(struct shmring_batch),
	  SHMRING_BATCH_SIZE_VER0, fd_writer, fill_batch, NULL },
	{ "SET_OPT", SHMRING_IOC_SET_OPT, sizeof(struct shmring_opt),
	  SHMRING_OPT_SIZE_VER0, fd_writer, fill_opt, NULL },
	{ "SUB_LIST", SHMRING_IOC_SUB_LIST, sizeof(struct shmring_sub_list),
	  SHMRING_SUB_LIST_SIZE_VER0, fd_reader, fill_sub_list, NULL },
	{ "SUB_DEL", SHMRING_IOC_SUB_DEL, sizeof(struct shmring_name),
	  SHMRING_NAME_SIZE_VER0, fd_sub_del, fill_sub_del, NULL },
	{ "FEATURES", SHMRING_IOC_FEATURES, sizeof(struct shmring_features),
	  SHMRING_FEATURES_SIZE_VER0, fd_unbound, fill_size_only, NULL },
	{ "SETATTR", SHMRING_IOC_SETATTR, sizeof(struct shmring_setattr),
	  SHMRING_SETATTR_SIZE_VER0, fd_unbound, fill_setattr, NULL },
	{ "LIST", SHMRING_IOC_LIST, sizeof(struct shmring_list),
	  SHMRING_LIST_SIZE_VER0, fd_unbound, fill_list, NULL },
	{ "SEEK", SHMRING_IOC_SEEK, sizeof(struct shmring_seek),
	  SHMRING_SEEK_SIZE_VER0, fd_reader, fill_seek, NULL },
};

/* What an older program sees: a shorter INFO gets exactly that much. */
static void test_short_info(void)
{
	unsigned char buf[512];
	struct shmring_info *in = (void *)buf;
	int fd = fd_reader();

	memset(buf, 0xee, sizeof(buf));
	memset(buf, 0, SHMRING_INFO_SIZE_VER0);
	in->size = SHMRING_INFO_SIZE_VER0;
	is_int(xioctl(fd, cmd_sized(SHMRING_IOC_INFO, SHMRING_INFO_SIZE_VER0), in),
	       0, "INFO with the first layout");
	ok(!strcmp(in->name, RING), "INFO first layout: name filled in");
	is_int(buf[SHMRING_INFO_SIZE_VER0], 0xee,
	       "INFO first layout: nothing written past its size");
	is_int(in->size, SHMRING_INFO_SIZE_VER0, "INFO returns the size it filled");
	memset(buf, 0, sizeof(buf));
	in->size = sizeof(*in) + GROW;
	is_int(xioctl(fd, cmd_sized(SHMRING_IOC_INFO, sizeof(*in) + GROW), in), 0,
	       "INFO with a larger struct");
	is_int(in->size, sizeof(*in), "INFO returns the size this kernel knows");
	close(fd);
}

static void test_dispatch(void)
{
	struct shmring_features f = { .size = sizeof(f) };
	int fd = dev_fd(O_RDWR);

	EXPECT(xioctl(fd, _IOWR(SHMRING_IOC_MAGIC, 0x7f, struct shmring_features), &f),
	       ENOTTY, "unknown ioctl number");
	EXPECT(xioctl(fd, _IOWR(SHMRING_IOC_MAGIC, 0, struct shmring_features), &f),
	       ENOTTY, "ioctl number 0");
	EXPECT(xioctl(fd, _IOWR('x', _IOC_NR(SHMRING_IOC_FEATURES),
				struct shmring_features), &f),
	       ENOTTY, "FEATURES under another magic");
	EXPECT(xioctl(fd, _IOW(SHMRING_IOC_MAGIC, _IOC_NR(SHMRING_IOC_FEATURES),
			       struct shmring_features), &f),
	       ENOTTY, "FEATURES with the wrong direction");
	is_int(xioctl(fd, SHMRING_IOC_FEATURES, &f), 0, "FEATURES on an unbound file");
	is_int(f.abi_version, SHMRING_ABI_VERSION, "FEATURES: abi version");
	ok((f.features & SHMRING_FEAT_FEATURES) && (f.features & SHMRING_FEAT_SEEK),
	   "FEATURES: feature bits (%#x)", f.features);
	is_int(f.max_subs, SHMRING_MAX_SUBS, "FEATURES: max_subs");
	is_int(f.batch_max, SHMRING_BATCH_MAX, "FEATURES: batch_max");
	ok(f.max_readers > 0 && f.max_user > 0 && f.max_data_size >= 4096,
	   "FEATURES: caps filled in");
	close(fd);
}

int main(void)
{
	size_t i;
	int fd;

	plan_no_plan();
	shmring_unlink(RING);
	shmring_unlink("t_ioctl_size_tmp");
	fd = raw_open(RING, SHMRING_O_CREAT | SHMRING_O_WRITE, 16384,
		      SHMRING_POLICY_OVERWRITE);
	if (fd < 0)
		bail_out("create %s: %s", RING, strerror(-fd));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_short_info();
	test_dispatch();
	close(fd);
	shmring_unlink("t_ioctl_size_tmp");
	is_int(shmring_unlink(RING), 0, "unlink the ring");
	return done_testing();
}
