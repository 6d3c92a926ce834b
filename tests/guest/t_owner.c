// SPDX-License-Identifier: GPL-2.0
/*
 * Ownership, capabilities and namespaces (issue 9: bugs 3, 4, 8, 12, 13).
 *
 * Every permission check is made from another uid and from "root" of a
 * new user namespace (with and without a new IPC namespace), and expects
 * one exact errno:
 *
 *   A  CAP_IPC_OWNER counts in the user namespace owning the ring's IPC
 *      namespace, not the caller's current one (SUB_DEL through an fd
 *      opened before unshare(CLONE_NEWUSER|CLONE_NEWIPC)).
 *   B  a durable subscription belongs to its creator: others attach with
 *      EACCES unless it was created SHMRING_O_SUB_SHARED or they have
 *      CAP_IPC_OWNER in the ring's user namespace; SUB_DEL by the ring
 *      owner or the creator, else EPERM.
 *   C  subscription slots: SHMRING_MAX_SUBS_OTHER per other user (EDQUOT),
 *      SHMRING_MAX_SUBS_OTHERS for all others (ENOSPC), the owner keeps
 *      the rest; shmring_strerror() names the caps.
 *   D  a page per reader and per subscription against max_user (EDQUOT)
 *      and max_total (ENOSPC); max_readers (EUSERS) and max_user_readers
 *      (EDQUOT); SHMRING_IOC_FEATURES reports them.
 *   E  /proc/shmring shows a ring only to who may read it (or is
 *      capable in its user namespace), and reader pids only to the ring
 *      owner (and capable users).
 *   F  a ring is invisible by name from another IPC namespace.
 *
 * Children do the work as another user and send their results (ints:
 * 0 or -errno, or a count) back through a pipe; the parent checks them.
 */
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"

/* Who a child runs as. */
enum { NS_NONE, NS_USER, NS_USER_IPC };

struct who {
	uid_t uid;
	gid_t gid;
	int ns;
};

static const struct who ROOT = { 0, 0, NS_NONE };
static const struct who U1000 = { 1000, 1000, NS_NONE };
static const struct who U1001 = { 1001, 1001, NS_NONE };
static const struct who U1002 = { 1002, 1002, NS_NONE };
static const struct who U1000_USERNS = { 1000, 1000, NS_USER };
static const struct who U1001_USERNS = { 1001, 1001, NS_USER };
static const struct who U1002_USERNS = { 1002, 1002, NS_USER };
static const struct who U1000_USERNS_IPC = { 1000, 1000, NS_USER_IPC };
static const struct who U1001_GRP1000 = { 1001, 1000, NS_NONE };

#define NO_RESULT	0x7ffffff0	/* the child sent nothing for this slot */
#define SETUP_FAIL	0x7fff0000	/* | step << 8 | errno */
#define READY		INT_MIN		/* a holder has done its work */
#define MAXRES		80

static int res_fd = -1;		/* child: where results go */
static pid_t parent_pid;
static long pg;

static void report(int v)
{
	if (write(res_fd, &v, sizeof(v)) != sizeof(v))
		_exit(3);
}

static void setup_fail(int step, int err)
{
	report(SETUP_FAIL | step << 8 | (err & 0xff));
	_exit(2);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -errno;
	close(fd);
	return ret;
}

/* Child: become uid/gid (no supplementary groups but gid). */
static void become(const struct who *w)
{
	gid_t g = w->gid;

	if (w->uid == 0 && w->gid == 0)
		return;
	if (setgroups(1, &g))
		setup_fail(1, errno);
	if (setresgid(w->gid, w->gid, w->gid))
		setup_fail(2, errno);
	if (setresuid(w->uid, w->uid, w->uid))
		setup_fail(3, errno);
	/* setresuid made us non-dumpable: /proc/self/uid_map would be root's. */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		setup_fail(4, errno);
}

/*
 * Child: become root of a new user namespace (mapping our own uid and gid
 * to 0), and with NS_USER_IPC of a new IPC namespace it owns.
 */
static void enter_ns(int ns)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int ret;

	if (unshare(CLONE_NEWUSER | (ns == NS_USER_IPC ? CLONE_NEWIPC : 0)))
		setup_fail(5, errno);
	snprintf(map, sizeof(map), "0 %u 1\n", uid);
	ret = write_file("/proc/self/uid_map", map);
	if (ret)
		setup_fail(6, -ret);
	ret = write_file("/proc/self/setgroups", "deny");
	if (ret && ret != -ENOENT)
		setup_fail(7, -ret);
	snprintf(map, sizeof(map), "0 %u 1\n", gid);
	ret = write_file("/proc/self/gid_map", map);
	if (ret)
		setup_fail(8, -ret);
}

/*
 * Fork a child that runs as @w and calls @fn(@arg). A holder then sends
 * READY and waits to be killed, keeping whatever it opened.
 */
static pid_t spawn(const struct who *w, void (*fn)(void *), void *arg,
		   bool holder, int *rfd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		bail_out("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		res_fd = p[1];
		become(w);
		if (w->ns != NS_NONE)
			enter_ns(w->ns);
		fn(arg);
		if (holder) {
			report(READY);
			for (;;)
				pause();
		}
		_exit(0);
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

/* Read results until READY or EOF; returns how many. */
static int collect(int rfd, int *out, int max)
{
	int i, n = 0, v;

	for (i = 0; i < max; i++)
		out[i] = NO_RESULT;
	while (read(rfd, &v, sizeof(v)) == sizeof(v)) {
		if (v == READY)
			break;
		if ((v & ~0xffff) == SETUP_FAIL)
			diag("child setup failed at step %d: %s", (v >> 8) & 0xff,
			     strerror(v & 0xff));
		if (n < max)
			out[n] = v;
		n++;
	}
	return n;
}

/* Run @fn as @w to completion; its results in @out. */
static int run_as(const struct who *w, void (*fn)(void *), void *arg,
		  int *out, int max)
{
	int rfd, n, status;
	pid_t pid = spawn(w, fn, arg, false, &rfd);

	n = collect(rfd, out, max);
	close(rfd);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		diag("child (uid %u, ns %d) ended with status %#x", w->uid, w->ns, status);
	return n;
}

/* First result of @fn as @w. */
static int as(const struct who *w, void (*fn)(void *), void *arg)
{
	int r[MAXRES];

	run_as(w, fn, arg, r, MAXRES);
	return r[0];
}

/* Start a holder: it reports, then keeps its fds until release(). */
static pid_t hold(const struct who *w, void (*fn)(void *), void *arg,
		  int *out, int max)
{
	int rfd;
	pid_t pid = spawn(w, fn, arg, true, &rfd);

	collect(rfd, out, max);
	close(rfd);
	return pid;
}

/* Kill a holder; its files are released before waitpid() returns. */
static void release(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- ABI calls that never bail out (children use them too) --------------- */

/* Bind a fresh fd: flags, optional sub name; returns fd or -errno. */
static int ring_open(const char *name, const char *sub, unsigned int flags)
{
	struct shmring_open o;
	int fd = open(SHMRING_DEVICE, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	open_args(&o, name, flags);
	if (sub)
		snprintf(o.sub_name, sizeof(o.sub_name), "%s", sub);
	ret = xioctl(fd, SHMRING_IOC_OPEN, &o);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* Open and close at once: 0 or -errno. */
static int try_open(const char *name, const char *sub, unsigned int flags)
{
	int fd = ring_open(name, sub, flags);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int ring_create(const char *name, unsigned int mode, uint32_t policy)
{
	struct shmring_open o;
	int fd = open(SHMRING_DEVICE, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	open_args(&o, name, SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE);
	o.mode = mode;
	o.attr.data_size = 4096;
	o.attr.policy = policy;
	ret = xioctl(fd, SHMRING_IOC_OPEN, &o);
	close(fd);
	return ret;
}

static int sub_del_fd(int fd, const char *sub)
{
	struct shmring_name n;

	memset(&n, 0, sizeof(n));
	n.size = sizeof(n);
	snprintf(n.name, SHMRING_SUB_NAME_MAX, "%s", sub);
	return xioctl(fd, SHMRING_IOC_SUB_DEL, &n);
}

/* SUB_DEL through a fresh reader fd: 0 or -errno. */
static int sub_del(const char *ring, const char *sub)
{
	int fd = ring_open(ring, NULL, SHMRING_O_READ), ret;

	if (fd < 0)
		return fd;
	ret = sub_del_fd(fd, sub);
	close(fd);
	return ret;
}

/* Subscriptions of the ring behind @fd: count, and whether @name is one. */
static int sub_list_fd(int fd, const char *name, int *found)
{
	struct shmring_sub_info infos[SHMRING_MAX_SUBS];
	struct shmring_sub_list l;
	unsigned int i;
	int ret;

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.nr = SHMRING_MAX_SUBS;
	l.subs = (uintptr_t)infos;
	ret = xioctl(fd, SHMRING_IOC_SUB_LIST, &l);
	if (ret)
		return ret;
	*found = 0;
	for (i = 0; i < l.nr; i++)
		if (name && !strcmp(infos[i].name, name))
			*found = 1;
	return (int)l.total;
}

static int sub_exists(const char *ring, const char *sub)
{
	int fd = ring_open(ring, NULL, SHMRING_O_READ), found = 0, ret;

	if (fd < 0)
		return fd;
	ret = sub_list_fd(fd, sub, &found);
	close(fd);
	return ret < 0 ? ret : found;
}

/* Create @sub (attach once, detach): 0 or -errno. */
static int sub_create(const char *ring, const char *sub, unsigned int extra)
{
	return try_open(ring, sub, SHMRING_O_READ | SHMRING_O_SUB | extra);
}

/* Root: make sure @sub exists again (a failing check may have deleted it). */
static void ensure_sub(const char *ring, const char *sub)
{
	if (sub_exists(ring, sub) != 1)
		sub_create(ring, sub, 0);
}

/* ---- child bodies ---------------------------------------------------------- */

/* What a child should do; not every field is used by every body. */
struct op {
	const char *ring;
	const char *sub;
	const char *ring2;
	unsigned int flags;
	int n;		/* how many (readers, subscriptions) */
	int n2;		/* how many on ring2 */
	int first;	/* first index of numbered subscription names */
};

static void c_open(void *arg)
{
	const struct op *op = arg;

	report(try_open(op->ring, op->sub, op->flags));
}

static void c_subscribe(void *arg)
{
	const struct op *op = arg;
	struct shmring *r;
	int ret = shmring_subscribe(op->ring, op->sub, 0, &r);

	if (!ret)
		shmring_close(r);
	report(ret);
}

static void c_sub_del(void *arg)
{
	const struct op *op = arg;

	report(sub_del(op->ring, op->sub));
}

/* SUB_LIST through a reader fd: total, and whether op->sub is listed. */
static void c_sub_list(void *arg)
{
	const struct op *op = arg;
	int fd = ring_open(op->ring, NULL, SHMRING_O_READ), found = 0;

	if (fd < 0)
		setup_fail(21, -fd);
	report(sub_list_fd(fd, op->sub, &found));
	report(found);
	close(fd);
}

static void c_unlink(void *arg)
{
	const struct op *op = arg;

	report(shmring_unlink(op->ring));
}

static void c_create_ring(void *arg)
{
	const struct op *op = arg;

	report(ring_create(op->ring, op->flags, SHMRING_POLICY_OVERWRITE));
}

/* Create subscriptions "<sub><first>" .. "<sub><first + n - 1>". */
static void c_subs_create(void *arg)
{
	const struct op *op = arg;
	char name[SHMRING_SUB_NAME_MAX];
	int i;

	for (i = 0; i < op->n; i++) {
		snprintf(name, sizeof(name), "%s%d", op->sub, op->first + i);
		report(sub_create(op->ring, name, op->flags));
	}
}

/* Open op->n readers on ring (and n2 on ring2), keeping them: one result each. */
static void c_readers(void *arg)
{
	const struct op *op = arg;
	int i;

	for (i = 0; i < op->n; i++) {
		int fd = ring_open(op->ring, op->sub, SHMRING_O_READ | op->flags);

		report(fd < 0 ? fd : 0);
	}
	for (i = 0; i < op->n2; i++) {
		int fd = ring_open(op->ring2, NULL, SHMRING_O_READ);

		report(fd < 0 ? fd : 0);
	}
}

/*
 * Bug 3: open a reader fd as an ordinary user, then become root of a new
 * user+IPC namespace and use the old fd. Results: SUB_DEL of op->sub,
 * then SUB_LIST (the number of subscriptions).
 */
static void c_oldfd_after_unshare(void *arg)
{
	const struct op *op = arg;
	int fd = ring_open(op->ring, NULL, SHMRING_O_READ), found;

	if (fd < 0)
		setup_fail(20, -fd);
	enter_ns(NS_USER_IPC);
	report(sub_del_fd(fd, op->sub));
	report(sub_list_fd(fd, op->sub, &found));
	close(fd);
}

/* SHMRING_IOC_FEATURES on a fresh, unbound fd with the full struct. */
static int features(struct shmring_features *f, uint32_t size)
{
	int fd = open(SHMRING_DEVICE, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	f->size = size;
	ret = xioctl(fd, SHMRING_IOC_FEATURES, f);
	close(fd);
	return ret;
}

static void c_features(void *arg)
{
	struct shmring_features f;

	(void)arg;
	memset(&f, 0, sizeof(f));
	report(features(&f, sizeof(f)));
	report((int)f.max_readers);
}

/* ---- /proc/shmring ------------------------------------------------------ */

static size_t read_proc(char *buf, size_t len)
{
	FILE *f = fopen("/proc/shmring", "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return n;
}

/* The line "ring NAME ..." in @buf, or NULL. */
static const char *proc_ring(const char *buf, const char *name)
{
	char key[SHMRING_NAME_MAX + 8];
	size_t klen;
	const char *p = buf;

	klen = (size_t)snprintf(key, sizeof(key), "ring %s ", name);
	while (p && *p) {
		if (!strncmp(p, key, klen))
			return p;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static int proc_ring_lines(const char *buf)
{
	const char *p = buf;
	int n = 0;

	while (p && *p) {
		if (!strncmp(p, "ring ", 5))
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

/* pid= of the first "  reader" line under ring @name; -1 if none, -2 if no ring. */
static int proc_reader_pid(const char *buf, const char *name)
{
	const char *p = proc_ring(buf, name);

	if (!p)
		return -2;
	for (p = strchr(p, '\n'); p && p[1] == ' '; p = strchr(p + 1, '\n')) {
		const char *pid;

		if (strncmp(p + 1, "  reader ", 9))
			continue;
		pid = strstr(p + 1, " pid=");
		return pid ? atoi(pid + 5) : -3;
	}
	return -1;
}

/* NULL-terminated list of ring names to look for in /proc/shmring. */
static const char *e_names[] = {
	"t_own_e_root600", "t_own_e_root644", "t_own_e_u600", "t_own_e_u640", NULL,
};

/* Results: number of ring lines, then per e_names: visible, reader pid. */
static void c_proc_view(void *arg)
{
	static char buf[65536];
	const char **names = arg;
	int i;

	read_proc(buf, sizeof(buf));
	report(proc_ring_lines(buf));
	for (i = 0; names[i]; i++) {
		report(proc_ring(buf, names[i]) != NULL);
		report(proc_reader_pid(buf, names[i]));
	}
}

/* ---- module parameters ---------------------------------------------------- */

#define PARAM_DIR "/sys/module/shmring/parameters/"

static const char *const saved_names[] = {
	"max_user", "max_total", "max_readers", "max_user_readers",
};
static char saved_vals[4][32];

static int get_param(const char *name, char *val, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(val, (int)len, f))
		val[0] = 0;
	fclose(f);
	val[strcspn(val, "\n")] = 0;
	return 0;
}

static unsigned long long param_ull(const char *name)
{
	char v[32];

	return get_param(name, v, sizeof(v)) ? 0 : strtoull(v, NULL, 0);
}

static int set_param(const char *name, unsigned long long v)
{
	char path[128], val[32];

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	snprintf(val, sizeof(val), "%llu", v);
	return write_file(path, val);
}

static void save_params(void)
{
	unsigned int i;

	for (i = 0; i < 4; i++)
		if (get_param(saved_names[i], saved_vals[i], sizeof(saved_vals[i])))
			saved_vals[i][0] = 0;
}

static void restore_params(void)
{
	char path[128];
	unsigned int i;

	if (getpid() != parent_pid)
		return;
	for (i = 0; i < 4; i++) {
		if (!saved_vals[i][0])
			continue;
		snprintf(path, sizeof(path), PARAM_DIR "%s", saved_names[i]);
		write_file(path, saved_vals[i]);
	}
}

/* ---- checks ------------------------------------------------------------------ */

/* All of r[0..n-1] equal @want. */
static bool all_are(const int *r, int n, int want, const char *what)
{
	int i;

	for (i = 0; i < n; i++) {
		if (r[i] != want) {
			ok(0, "%s", what);
			diag("result %d of %d: %d (%s), want %d", i + 1, n, r[i],
			     r[i] < 0 && r[i] > -4096 ? strerror(-r[i]) : "-", want);
			return false;
		}
	}
	return ok(1, "%s", what);
}

static void cleanup(const char *const *names)
{
	for (; *names; names++)
		shmring_unlink(*names);
}

/* ---- D0: SHMRING_IOC_FEATURES --------------------------------------------- */

static void test_features(void)
{
	unsigned char buf[sizeof(struct shmring_features) + 8];
	struct shmring_features f;
	int ret, i, untouched;

	memset(&f, 0, sizeof(f));
	ret = features(&f, sizeof(f));
	is_int(ret, 0, "FEATURES on an fd bound to no ring -> 0");
	if (ret) {
		skip(13, "no SHMRING_IOC_FEATURES");
	} else {
		is_int(f.size, sizeof(f), "FEATURES: size is the struct's");
		is_int(f.abi_version, SHMRING_ABI_VERSION, "FEATURES: abi_version");
		ok((f.features & SHMRING_FEAT_FEATURES) && (f.features & SHMRING_FEAT_SUB_OWNER),
		   "FEATURES: announces FEAT_FEATURES and FEAT_SUB_OWNER (%#x)", f.features);
		is_int(f.page_size, pg, "FEATURES: page_size");
		is_int(f.max_subs, SHMRING_MAX_SUBS, "FEATURES: max_subs = SHMRING_MAX_SUBS");
		is_int(f.max_subs_other, SHMRING_MAX_SUBS_OTHER,
		       "FEATURES: max_subs_other = SHMRING_MAX_SUBS_OTHER");
		is_int(f.batch_max, SHMRING_BATCH_MAX, "FEATURES: batch_max");
		is_int(f.max_readers, 256, "FEATURES: max_readers defaults to 256");
		is_int(f.max_user_readers, 1024, "FEATURES: max_user_readers defaults to 1024");
		is_int(f.max_rings, param_ull("max_rings"), "FEATURES: max_rings is the parameter");
		is_int(f.max_data_size, param_ull("max_size"), "FEATURES: max_data_size is max_size");
		is_int(f.max_total, param_ull("max_total"), "FEATURES: max_total is the parameter");
		is_int(f.max_user, param_ull("max_user"), "FEATURES: max_user is the parameter");
	}
	memset(buf, 0xab, sizeof(buf));
	ret = features((struct shmring_features *)buf, SHMRING_FEATURES_SIZE_VER0);
	for (untouched = 1, i = SHMRING_FEATURES_SIZE_VER0; i < (int)sizeof(buf); i++)
		if (buf[i] != 0xab)
			untouched = 0;
	ok(ret == 0 && untouched && ((struct shmring_features *)buf)->page_size == pg,
	   "FEATURES with the VER0 size (16) -> 0, fills 16 bytes only (ret %d)", ret);
	memset(buf, 0, sizeof(buf));
	is_int(features((struct shmring_features *)buf, 8), -EINVAL,
	       "FEATURES with a size below VER0 -> EINVAL");
	memset(buf, 0, sizeof(buf));
	ret = features((struct shmring_features *)buf, sizeof(buf));
	ok(ret == 0 && ((struct shmring_features *)buf)->size == sizeof(f),
	   "FEATURES with a larger struct, zero tail -> 0, size = the kernel's (ret %d)", ret);
	is_int(as(&U1000_USERNS_IPC, c_features, NULL), 0,
	       "FEATURES from uid 1000 as root of a new user+IPC namespace -> 0");
}

/* ---- A: CAP_IPC_OWNER in the ring's user namespace (bug 3) ---------------- */

static void test_old_fd_after_unshare(void)
{
	static const char *const names[] = { "t_own_a", NULL };
	struct op op = { .ring = "t_own_a", .sub = "rootsub" };
	int r[MAXRES];

	cleanup(names);
	is_int(ring_create("t_own_a", 0644, SHMRING_POLICY_LOSSLESS), 0,
	       "A: root creates a lossless 0644 ring");
	is_int(sub_create("t_own_a", "rootsub", 0), 0, "A: root creates subscription rootsub");
	is_int(sub_create("t_own_a", "rootshared", SHMRING_O_SUB_SHARED), 0,
	       "A: root creates shared subscription rootshared");
	is_int(as(&U1000, c_subs_create, &(struct op){ .ring = "t_own_a", .sub = "mine",
						       .n = 1, .first = 0 }), 0,
	       "A: uid 1000 creates its own subscription mine0");

	run_as(&U1000, c_oldfd_after_unshare, &op, r, MAXRES);
	is_int(r[0], -EPERM,
	       "A: uid 1000, root of a new user+IPC ns, SUB_DEL root's sub via an old fd -> EPERM");
	is_int(r[1], 3, "A: SUB_LIST through the old fd still works (3 subscriptions)");
	is_int(sub_exists("t_own_a", "rootsub"), 1, "A: root's subscription survived");

	ensure_sub("t_own_a", "rootsub");
	op.sub = "rootshared";
	run_as(&U1000, c_oldfd_after_unshare, &op, r, MAXRES);
	is_int(r[0], -EPERM,
	       "A: same for root's SHARED subscription via an old fd -> EPERM");
	is_int(sub_exists("t_own_a", "rootshared"), 1, "A: root's shared subscription survived");

	op.sub = "mine0";
	run_as(&U1000, c_oldfd_after_unshare, &op, r, MAXRES);
	is_int(r[0], 0, "A: the creator (uid 1000) in a new user+IPC ns deletes its own via an old fd -> 0");

	op.sub = "rootsub";
	ensure_sub("t_own_a", "rootsub");
	is_int(as(&U1000_USERNS, c_sub_del, &op), -EPERM,
	       "A: uid 1000, root of a new user ns (same IPC ns), SUB_DEL root's sub -> EPERM");
	ensure_sub("t_own_a", "rootsub");
	is_int(as(&U1000, c_sub_del, &op), -EPERM, "A: uid 1000 SUB_DEL root's sub -> EPERM");
	is_int(as(&U1000_USERNS, c_unlink, &op), -EPERM,
	       "A: uid 1000, root of a new user ns, UNLINK root's ring -> EPERM");
	is_int(sub_exists("t_own_a", "rootsub"), 1, "A: root's subscription is still there");
	cleanup(names);
}

/* ---- B: subscriptions belong to their creator (bug 4) --------------------- */

static void test_sub_owner(void)
{
	static const char *const names[] = { "t_own_b", "t_own_b2", NULL };
	struct op o = { .ring = "t_own_b", .sub = "s1000",
			.flags = SHMRING_O_READ | SHMRING_O_SUB };
	struct op del = { .ring = "t_own_b", .sub = "s1000" };
	int r[MAXRES];

	cleanup(names);
	is_int(ring_create("t_own_b", 0644, SHMRING_POLICY_OVERWRITE), 0,
	       "B: root creates a 0644 ring");
	is_int(sub_create("t_own_b", "rootsub", 0), 0, "B: root creates rootsub");
	is_int(as(&U1000, c_open, &o), 0, "B: uid 1000 creates subscription s1000");

	is_int(as(&U1001, c_open, &o), -EACCES, "B: uid 1001 attaches to s1000 -> EACCES");
	is_int(as(&U1001, c_subscribe, &o), -EACCES,
	       "B: uid 1001 shmring_subscribe(s1000) -> -EACCES");
	o.flags |= SHMRING_O_SUB_SHARED;
	is_int(as(&U1001, c_open, &o), -EACCES,
	       "B: uid 1001 attaches to s1000 passing SUB_SHARED -> EACCES (only creation sets it)");
	o.flags &= ~SHMRING_O_SUB_SHARED;
	is_int(as(&U1001_USERNS, c_open, &o), -EACCES,
	       "B: uid 1001, root of a new user ns, attaches to s1000 -> EACCES");
	is_int(as(&U1000, c_open, &o), 0, "B: its creator, uid 1000, attaches again -> 0");
	is_int(as(&U1000_USERNS, c_open, &o), 0,
	       "B: its creator as root of a new user ns (same kuid) attaches -> 0");
	is_int(try_open("t_own_b", "s1000", SHMRING_O_READ | SHMRING_O_SUB), 0,
	       "B: root (CAP_IPC_OWNER in the ring's ns) attaches to s1000 -> 0");
	o.sub = "rootsub";
	is_int(as(&U1000, c_open, &o), -EACCES, "B: uid 1000 attaches to root's rootsub -> EACCES");
	is_int(as(&U1000, c_subscribe, &o), -EACCES,
	       "B: uid 1000 shmring_subscribe(rootsub) -> -EACCES");

	o.sub = "s1000sh";
	o.flags = SHMRING_O_READ | SHMRING_O_SUB | SHMRING_O_SUB_SHARED;
	is_int(as(&U1000, c_open, &o), 0, "B: uid 1000 creates s1000sh with SUB_SHARED");
	o.flags = SHMRING_O_READ | SHMRING_O_SUB;
	is_int(as(&U1001, c_open, &o), 0, "B: uid 1001 attaches to the shared s1000sh -> 0");
	is_int(as(&U1001, c_subscribe, &o), 0, "B: uid 1001 shmring_subscribe(s1000sh) -> 0");
	is_int(as(&U1001_USERNS, c_open, &o), 0,
	       "B: uid 1001, root of a new user ns, attaches to s1000sh -> 0");

	is_int(try_open("t_own_b", NULL, SHMRING_O_READ | SHMRING_O_SUB_SHARED), -EINVAL,
	       "B: SUB_SHARED without SUB -> EINVAL");
	is_int(try_open("t_own_b", NULL, SHMRING_O_WRITE | SHMRING_O_SUB_SHARED), -EINVAL,
	       "B: SUB_SHARED on a writer -> EINVAL");

	run_as(&U1002, c_sub_list, &(struct op){ .ring = "t_own_b", .sub = "s1000" }, r, MAXRES);
	ok(r[0] == 3 && r[1] == 1,
	   "B: SUB_LIST shows every subscription to any reader: uid 1002 sees 3, s1000 among them (%d, %d)",
	   r[0], r[1]);
	run_as(&U1002_USERNS, c_sub_list, &(struct op){ .ring = "t_own_b", .sub = "rootsub" }, r,
	       MAXRES);
	ok(r[0] == 3 && r[1] == 1, "B: and so does uid 1002 as root of a new user ns (%d, %d)",
	   r[0], r[1]);

	/* Deleting: ring owner or creator; the shared flag does not change it. */
	is_int(as(&U1001, c_sub_del, &del), -EPERM, "B: uid 1001 SUB_DEL s1000 -> EPERM");
	is_int(as(&U1001_USERNS, c_sub_del, &del), -EPERM,
	       "B: uid 1001, root of a new user ns, SUB_DEL s1000 -> EPERM");
	del.sub = "s1000sh";
	is_int(as(&U1001, c_sub_del, &del), -EPERM,
	       "B: uid 1001 SUB_DEL the shared s1000sh -> EPERM");
	is_int(as(&U1000, c_sub_del, &del), 0, "B: its creator deletes s1000sh -> 0");
	del.sub = "s1000";
	is_int(sub_del("t_own_b", "s1000"), 0, "B: root (CAP_IPC_OWNER) deletes s1000 -> 0");

	/* A ring owned by uid 1000, who has no capability. */
	is_int(as(&U1000, c_create_ring, &(struct op){ .ring = "t_own_b2", .flags = 0644 }), 0,
	       "B: uid 1000 creates a 0644 ring");
	o.ring = del.ring = "t_own_b2";
	o.sub = "s1001";
	is_int(as(&U1001, c_open, &o), 0, "B: uid 1001 creates s1001 on uid 1000's ring");
	o.sub = "s1001b";
	is_int(as(&U1001, c_open, &o), 0, "B: uid 1001 creates s1001b");
	o.sub = "s1001c";
	is_int(as(&U1001, c_open, &o), 0, "B: uid 1001 creates s1001c");
	o.sub = "s1001";
	is_int(as(&U1000, c_open, &o), -EACCES,
	       "B: the ring's owner (uid 1000) attaches to uid 1001's s1001 -> EACCES");
	del.sub = "s1001";
	is_int(as(&U1002, c_sub_del, &del), -EPERM, "B: uid 1002 SUB_DEL s1001 -> EPERM");
	is_int(as(&U1002_USERNS, c_sub_del, &del), -EPERM,
	       "B: uid 1002, root of a new user ns, SUB_DEL s1001 -> EPERM");
	is_int(as(&U1000, c_sub_del, &del), 0, "B: the ring's owner (uid 1000) deletes s1001 -> 0");
	del.sub = "s1001b";
	is_int(as(&U1000_USERNS, c_sub_del, &del), 0,
	       "B: the ring's owner as root of a new user ns (same kuid) deletes s1001b -> 0");
	del.sub = "s1001c";
	is_int(as(&U1001, c_sub_del, &del), 0, "B: its creator (uid 1001) deletes s1001c -> 0");
	o.sub = "s1002";
	is_int(as(&U1002, c_open, &o), 0, "B: uid 1002 creates s1002");
	is_int(sub_del("t_own_b2", "s1002"), 0,
	       "B: root, neither owner nor creator, deletes s1002 with CAP_IPC_OWNER -> 0");
	cleanup(names);
}

/* ---- C: subscription slots (bugs 12 and 8) -------------------------------- */

static void test_sub_slots(void)
{
	static const char *const names[] = { "t_own_c", NULL };
	const struct who users[] = {
		{ 1002, 1002, NS_NONE }, { 1003, 1003, NS_NONE }, { 1004, 1004, NS_NONE },
	};
	const struct who u1005 = { 1005, 1005, NS_NONE };
	struct op o = { .ring = "t_own_c", .sub = "a", .n = SHMRING_MAX_SUBS_OTHER };
	const int others = SHMRING_MAX_SUBS_OTHERS / SHMRING_MAX_SUBS_OTHER;
	int r[MAXRES], i;
	char what[96];
	const char *s;

	cleanup(names);
	is_int(as(&U1000, c_create_ring, &(struct op){ .ring = "t_own_c", .flags = 0644 }), 0,
	       "C: uid 1000 creates a 0644 ring");
	run_as(&U1001, c_subs_create, &o, r, MAXRES);
	all_are(r, SHMRING_MAX_SUBS_OTHER, 0,
		"C: uid 1001 creates SHMRING_MAX_SUBS_OTHER (8) subscriptions on uid 1000's ring");
	o.first = SHMRING_MAX_SUBS_OTHER;
	o.n = 1;
	is_int(as(&U1001, c_subs_create, &o), -EDQUOT, "C: uid 1001's 9th subscription -> EDQUOT");
	is_int(as(&U1001_USERNS, c_subs_create, &o), -EDQUOT,
	       "C: uid 1001 as root of a new user ns: 9th -> EDQUOT");
	is_int(as(&U1001, c_open, &(struct op){ .ring = "t_own_c", .sub = "a0",
					       .flags = SHMRING_O_READ | SHMRING_O_SUB }), 0,
	       "C: uid 1001 still attaches to its own a0 -> 0");

	/* 3 more users (4 in all with 1001) fill SHMRING_MAX_SUBS_OTHERS. */
	for (i = 0; i < others - 1; i++) {
		struct op u = { .ring = "t_own_c", .sub = "", .n = SHMRING_MAX_SUBS_OTHER };
		char prefix[8];

		snprintf(prefix, sizeof(prefix), "u%u-", users[i].uid);
		u.sub = prefix;
		run_as(&users[i], c_subs_create, &u, r, MAXRES);
		snprintf(what, sizeof(what), "C: uid %u creates 8 subscriptions", users[i].uid);
		all_are(r, SHMRING_MAX_SUBS_OTHER, 0, what);
	}
	o.sub = "z";
	o.first = 0;
	is_int(as(&u1005, c_subs_create, &o), -ENOSPC,
	       "C: others hold SHMRING_MAX_SUBS_OTHERS (32): uid 1005's first -> ENOSPC");

	o.sub = "own";
	o.n = SHMRING_MAX_SUBS - SHMRING_MAX_SUBS_OTHERS;
	run_as(&U1000, c_subs_create, &o, r, MAXRES);
	all_are(r, o.n, 0, "C: the ring's owner still creates the other 32 (64 in all)");
	o.first = o.n;
	o.n = 1;
	is_int(as(&U1000, c_subs_create, &o), -ENOSPC,
	       "C: the owner's 65th -> ENOSPC (SHMRING_MAX_SUBS)");

	is_int(as(&U1000, c_sub_del, &(struct op){ .ring = "t_own_c", .sub = "u1002-0" }), 0,
	       "C: the owner deletes one of uid 1002's subscriptions");
	is_int(as(&U1000, c_sub_del, &(struct op){ .ring = "t_own_c", .sub = "own0" }), 0,
	       "C: and one of its own");
	o.sub = "z";
	o.first = 0;
	is_int(as(&u1005, c_subs_create, &o), 0,
	       "C: a slot of the others freed by the owner's SUB_DEL: uid 1005 creates one -> 0");
	cleanup(names);

	s = shmring_strerror(-EDQUOT);
	ok(strstr(s, "max_user") && strstr(s, "subscription") && strstr(s, "reader"),
	   "C: shmring_strerror(-EDQUOT) names max_user, the per-user subscription cap and readers: \"%s\"",
	   s);
	s = shmring_strerror(-ENOSPC);
	ok(strstr(s, "max_total") && strstr(s, "subscription"),
	   "C: shmring_strerror(-ENOSPC) names max_total and the subscription caps: \"%s\"", s);
	s = shmring_strerror(-EUSERS);
	ok(strstr(s, "max_readers") != NULL,
	   "D: shmring_strerror(-EUSERS) names max_readers: \"%s\"", s);
}

/* ---- E: /proc/shmring visibility (bug 13) ---------------------------------- */

static void test_proc(void)
{
	static const char *const names[] = {
		"t_own_e_root600", "t_own_e_root644", "t_own_e_u600", "t_own_e_u640", NULL,
	};
	int r[MAXRES], fd644, fd640, me = getpid();

	cleanup(names);
	ring_create("t_own_e_root600", 0600, SHMRING_POLICY_OVERWRITE);
	ring_create("t_own_e_root644", 0644, SHMRING_POLICY_OVERWRITE);
	is_int(as(&U1000, c_create_ring, &(struct op){ .ring = "t_own_e_u600", .flags = 0600 }), 0,
	       "E: uid 1000 creates a 0600 ring");
	is_int(as(&U1000, c_create_ring, &(struct op){ .ring = "t_own_e_u640", .flags = 0640 }), 0,
	       "E: uid 1000 (gid 1000) creates a 0640 ring");
	fd644 = ring_open("t_own_e_root644", NULL, SHMRING_O_READ);
	fd640 = ring_open("t_own_e_u640", NULL, SHMRING_O_READ);
	ok(fd644 >= 0 && fd640 >= 0, "E: root attaches a reader to root644 and u640");

	/* e_names order: root600, root644, u600, u640; r: lines, then (visible, pid) each. */
	run_as(&ROOT, c_proc_view, e_names, r, MAXRES);
	ok(r[1] && r[3] && r[5] && r[7], "E: root sees all four rings");
	is_int(r[4], me, "E: root sees its reader's pid on root644");
	is_int(r[8], me, "E: root (capable, not the owner) sees the reader's pid on uid 1000's u640");

	run_as(&U1000, c_proc_view, e_names, r, MAXRES);
	is_int(r[1], 0, "E: uid 1000 does not see root's 0600 ring");
	ok(r[3] && r[5] && r[7], "E: uid 1000 sees root644 and its own u600 and u640");
	is_int(r[4], 0, "E: uid 1000 sees pid=0 for root's reader on root644");
	is_int(r[8], me, "E: uid 1000, the owner of u640, sees the reader's pid");

	run_as(&U1001_GRP1000, c_proc_view, e_names, r, MAXRES);
	ok(!r[1] && r[3] && !r[5] && r[7],
	   "E: uid 1001 gid 1000 sees root644 and the group-readable u640 only (%d %d %d %d)",
	   r[1], r[3], r[5], r[7]);
	is_int(r[8], 0, "E: uid 1001 (group member, not owner) sees pid=0 on u640");

	run_as(&U1002, c_proc_view, e_names, r, MAXRES);
	ok(!r[1] && r[3] && !r[5] && !r[7], "E: uid 1002 sees root644 only (%d %d %d %d)",
	   r[1], r[3], r[5], r[7]);

	run_as(&U1002_USERNS, c_proc_view, e_names, r, MAXRES);
	ok(!r[1] && r[3] && !r[5] && !r[7],
	   "E: uid 1002 as root of a new user ns sees root644 only (%d %d %d %d)",
	   r[1], r[3], r[5], r[7]);
	is_int(r[4], 0, "E: and pid=0 for root's reader");

	run_as(&U1000_USERNS_IPC, c_proc_view, e_names, r, MAXRES);
	is_int(r[0], 0, "E: uid 1000 as root of a new user+IPC ns sees no ring of the parent ns");

	close(fd644);
	close(fd640);
	cleanup(names);
}

/* ---- SETATTR and LIST (only once the UAPI has them) ---------------------- */

#ifdef SHMRING_IOC_SETATTR
static int setattr(const char *name, unsigned int flags, unsigned int uid,
		   unsigned int gid, unsigned int mode)
{
	struct shmring_setattr sa;
	int fd = open(SHMRING_DEVICE, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.size = sizeof(sa);
	sa.flags = flags;
	sa.uid = uid;
	sa.gid = gid;
	sa.mode = mode;
	snprintf(sa.name, sizeof(sa.name), "%s", name);
	ret = xioctl(fd, SHMRING_IOC_SETATTR, &sa);
	close(fd);
	return ret;
}

static void c_chmod(void *arg)
{
	const struct op *op = arg;

	report(setattr(op->ring, SHMRING_SETATTR_MODE, 0, 0, op->flags));
}
#endif

#ifdef SHMRING_IOC_LIST
/* SHMRING_IOC_LIST: total visible, then for each e_names entry whether listed. */
static void c_list(void *arg)
{
	static struct shmring_ring_entry ents[256];
	const char **names = arg;
	struct shmring_list l;
	int fd = open(SHMRING_DEVICE, O_RDWR | O_CLOEXEC), ret, i;
	unsigned int j;

	if (fd < 0)
		setup_fail(22, errno);
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.nr = 256;
	l.rings = (uintptr_t)ents;
	ret = xioctl(fd, SHMRING_IOC_LIST, &l);
	close(fd);
	report(ret ? ret : (int)l.total);
	for (i = 0; names[i]; i++) {
		int found = 0;

		for (j = 0; !ret && j < l.nr; j++)
			if (!strcmp(ents[j].name, names[i]))
				found = 1;
		report(found);
	}
}
#endif

static void test_setattr_list(void)
{
#if defined(SHMRING_IOC_SETATTR) && defined(SHMRING_IOC_LIST)
	static const char *const names[] = {
		"t_own_e_root600", "t_own_e_root644", "t_own_e_u600", "t_own_e_u640", NULL,
	};
	struct op o = { .ring = "t_own_e_root644", .flags = 0666 };
	int r[MAXRES];

	cleanup(names);
	ring_create("t_own_e_root600", 0600, SHMRING_POLICY_OVERWRITE);
	ring_create("t_own_e_root644", 0644, SHMRING_POLICY_OVERWRITE);
	as(&U1000, c_create_ring, &(struct op){ .ring = "t_own_e_u600", .flags = 0600 });
	as(&U1000, c_create_ring, &(struct op){ .ring = "t_own_e_u640", .flags = 0640 });

	/* r: total, then listed? for root600, root644, u600, u640. */
	run_as(&U1000, c_list, e_names, r, MAXRES);
	ok(r[0] >= 3 && !r[1] && r[2] && r[3] && r[4],
	   "LIST: uid 1000 gets root644, u600, u640, not root's 0600 ring (%d: %d %d %d %d)",
	   r[0], r[1], r[2], r[3], r[4]);
	run_as(&U1002_USERNS, c_list, e_names, r, MAXRES);
	ok(!r[1] && r[2] && !r[3] && !r[4],
	   "LIST: uid 1002 as root of a new user ns gets root644 only (%d %d %d %d)",
	   r[1], r[2], r[3], r[4]);
	run_as(&U1000_USERNS_IPC, c_list, e_names, r, MAXRES);
	is_int(r[0], 0, "LIST: from a new user+IPC ns, no ring of the parent ns");

	is_int(as(&U1001, c_chmod, &o), -EPERM, "SETATTR: uid 1001 chmod of root's ring -> EPERM");
	is_int(as(&U1001_USERNS, c_chmod, &o), -EPERM,
	       "SETATTR: uid 1001 as root of a new user ns (same IPC ns) -> EPERM");
	is_int(as(&U1000_USERNS_IPC, c_chmod, &o), -ENOENT,
	       "SETATTR: from a new user+IPC ns the ring is not there -> ENOENT");
	o.ring = "t_own_e_u640";
	is_int(as(&U1000_USERNS, c_chmod, &o), 0,
	       "SETATTR: the owner as root of a new user ns (same kuid) chmods its ring -> 0");
	is_int(setattr("t_own_e_root600", SHMRING_SETATTR_UID | SHMRING_SETATTR_GID, 1000, 1000, 0),
	       0, "SETATTR: root gives its 0600 ring to uid 1000");
	is_int(as(&U1000, c_open, &(struct op){ .ring = "t_own_e_root600", .flags = SHMRING_O_READ }),
	       0, "SETATTR: uid 1000 now reads it");
	is_int(as(&U1001, c_open, &(struct op){ .ring = "t_own_e_root600", .flags = SHMRING_O_READ }),
	       -EACCES, "SETATTR: uid 1001 still may not -> EACCES");
	is_int(setattr("t_own_e_root600", SHMRING_SETATTR_MODE, 0, 0, 01000), -EINVAL,
	       "SETATTR: a mode beyond 0777 -> EINVAL");
	cleanup(names);
#else
	skip(1, "no SHMRING_IOC_SETATTR/SHMRING_IOC_LIST in this UAPI header");
#endif
}

/* ---- F: IPC namespace scoping (regression guard) ---------------------------- */

static void c_ns_child(void *arg)
{
	static char buf[65536];
	const struct op *op = arg;

	report(try_open(op->ring, NULL, SHMRING_O_READ));
	report(shmring_unlink(op->ring));
	report(ring_create(op->ring, 0600, SHMRING_POLICY_OVERWRITE));
	report(ring_create(op->ring2, 0600, SHMRING_POLICY_OVERWRITE));
	read_proc(buf, sizeof(buf));
	report(proc_ring_lines(buf));
	report(proc_ring(buf, op->ring2) != NULL);
}

static void test_ipc_ns(void)
{
	static const char *const names[] = { "t_own_f", "t_own_f_child", NULL };
	struct op o = { .ring = "t_own_f", .ring2 = "t_own_f_child", .flags = SHMRING_O_READ };
	char buf[65536];
	int r[MAXRES];
	pid_t h;

	cleanup(names);
	is_int(ring_create("t_own_f", 0666, SHMRING_POLICY_OVERWRITE), 0, "F: root creates a 0666 ring");
	h = hold(&U1000_USERNS_IPC, c_ns_child, &o, r, MAXRES);
	is_int(r[0], -ENOENT, "F: from a new user+IPC ns, opening the parent's ring -> ENOENT");
	is_int(r[1], -ENOENT, "F: from a new user+IPC ns, unlinking it -> ENOENT");
	is_int(r[2], 0, "F: the name is free there: creating it -> 0");
	is_int(r[3], 0, "F: and another ring -> 0");
	ok(r[4] == 2 && r[5] == 1, "F: /proc/shmring there shows its own two rings only (%d)", r[4]);
	is_int(try_open("t_own_f_child", NULL, SHMRING_O_READ), -ENOENT,
	       "F: the child namespace's ring is invisible from the parent -> ENOENT");
	is_int(shmring_unlink("t_own_f_child"), -ENOENT, "F: unlinking it from the parent -> ENOENT");
	read_proc(buf, sizeof(buf));
	ok(!proc_ring(buf, "t_own_f_child"), "F: /proc/shmring in the parent does not show it");
	is_int(try_open("t_own_f", NULL, SHMRING_O_READ | SHMRING_O_WRITE), 0,
	       "F: the parent's ring of that name is untouched");
	release(h);
	is_int(as(&U1000_USERNS, c_open, &o), 0,
	       "F: a new user ns alone (same IPC ns) sees the ring: uid 1000 opens the 0666 ring -> 0");
	cleanup(names);
}

/* ---- D: memory and reader caps (bug 8) ---------------------------------- */

static unsigned long long proc_total(void)
{
	char buf[65536];
	const char *p;

	read_proc(buf, sizeof(buf));
	p = strstr(buf, "total_bytes=");
	return p ? strtoull(p + 12, NULL, 10) : 0;
}

static void test_caps(void)
{
	static const char *const names[] = { "t_own_d", "t_own_d2", NULL };
	struct op rd = { .ring = "t_own_d", .ring2 = "t_own_d2" };
	struct op sb = { .ring = "t_own_d", .sub = "d", .n = 2 };
	unsigned long long total;
	struct shmring_features f;
	int r[MAXRES];
	pid_t h, h2;

	cleanup(names);
	is_int(ring_create("t_own_d", 0644, SHMRING_POLICY_OVERWRITE), 0, "D: root creates a 0644 ring");
	is_int(ring_create("t_own_d2", 0644, SHMRING_POLICY_OVERWRITE), 0, "D: and another");

	/* max_user: a page per attached reader. */
	is_int(set_param("max_user", 3 * pg), 0, "D: max_user = 3 pages");
	rd.n = 4;
	h = hold(&U1000, c_readers, &rd, r, MAXRES);
	ok(r[0] == 0 && r[1] == 0 && r[2] == 0, "D: uid 1000 attaches 3 readers");
	is_int(r[3], -EDQUOT, "D: the 4th reader is over max_user -> EDQUOT");
	rd.n = 1;
	is_int(as(&U1000_USERNS, c_readers, &rd), -EDQUOT,
	       "D: uid 1000 as root of a new user ns: another reader -> EDQUOT");
	is_int(as(&U1001, c_readers, &rd), 0, "D: uid 1001 is charged apart -> 0");
	release(h);
	rd.n = 3;
	run_as(&U1000, c_readers, &rd, r, MAXRES);
	all_are(r, 3, 0, "D: closing gives the pages back: uid 1000 attaches 3 again");

	/* max_user: a page per subscription, kept while it is detached. */
	is_int(set_param("max_user", 256ULL << 20), 0, "D: max_user back to 256 MiB");
	run_as(&U1000, c_subs_create, &sb, r, MAXRES);
	all_are(r, 2, 0, "D: uid 1000 creates 2 subscriptions (detached)");
	is_int(set_param("max_user", 3 * pg), 0, "D: max_user = 3 pages");
	rd.n = 2;
	run_as(&U1000, c_readers, &rd, r, MAXRES);
	ok(r[0] == 0 && r[1] == -EDQUOT,
	   "D: 2 detached subscriptions + 1 reader fill it: the 2nd reader -> EDQUOT (%d, %d)",
	   r[0], r[1]);
	is_int(as(&U1000, c_sub_del, &(struct op){ .ring = "t_own_d", .sub = "d0" }), 0,
	       "D: uid 1000 deletes one subscription");
	rd.n = 3;
	run_as(&U1000, c_readers, &rd, r, MAXRES);
	ok(r[0] == 0 && r[1] == 0 && r[2] == -EDQUOT,
	   "D: SUB_DEL gives its page back: 2 readers fit, the 3rd -> EDQUOT (%d, %d, %d)",
	   r[0], r[1], r[2]);
	is_int(as(&U1000, c_sub_del, &(struct op){ .ring = "t_own_d", .sub = "d1" }), 0,
	       "D: uid 1000 deletes the other");
	is_int(set_param("max_user", 256ULL << 20), 0, "D: max_user back to 256 MiB");

	/* max_total: the same pages count against all rings together. */
	total = proc_total();
	ok(total >= 2 * 4096, "D: total_bytes = %llu with no reader attached", total);
	is_int(set_param("max_total", total + 2 * pg), 0, "D: max_total = total_bytes + 2 pages");
	rd.n = 3;
	run_as(&U1000, c_readers, &rd, r, MAXRES);
	ok(r[0] == 0 && r[1] == 0 && r[2] == -ENOSPC,
	   "D: 2 readers fit under max_total, the 3rd -> ENOSPC (%d, %d, %d)", r[0], r[1], r[2]);
	is_int(set_param("max_total", 1ULL << 30), 0, "D: max_total back to 1 GiB");

	/* max_readers: attached readers per ring, whoever they are. */
	is_int(set_param("max_readers", 3), 0, "D: max_readers = 3");
	memset(&f, 0, sizeof(f));
	ok(features(&f, sizeof(f)) == 0 && f.max_readers == 3,
	   "D: FEATURES reports max_readers = 3 (%u)", f.max_readers);
	rd.n = 2;
	h = hold(&U1000, c_readers, &rd, r, MAXRES);
	ok(r[0] == 0 && r[1] == 0, "D: uid 1000 attaches 2 readers");
	h2 = hold(&U1001, c_readers, &(struct op){ .ring = "t_own_d", .sub = "e1001",
						 .flags = SHMRING_O_SUB, .n = 1 }, r, MAXRES);
	is_int(r[0], 0, "D: uid 1001 creates a subscription and keeps it attached (3rd reader)");
	rd.n = 1;
	is_int(as(&U1002, c_readers, &rd), -EUSERS, "D: uid 1002's reader is the 4th -> EUSERS");
	is_int(as(&U1002_USERNS, c_readers, &rd), -EUSERS,
	       "D: uid 1002 as root of a new user ns -> EUSERS");
	is_int(as(&U1000, c_open, &(struct op){ .ring = "t_own_d", .sub = "e1000",
					       .flags = SHMRING_O_READ | SHMRING_O_SUB }),
	       -EUSERS, "D: a subscription attach as the 4th -> EUSERS");
	rd.ring = "t_own_d2";
	is_int(as(&U1002, c_readers, &rd), 0, "D: another ring is not affected -> 0");
	rd.ring = "t_own_d";
	release(h2);
	is_int(as(&U1002, c_readers, &rd), 0, "D: a detach frees the place -> 0");
	release(h);
	is_int(as(&U1001, c_sub_del, &(struct op){ .ring = "t_own_d", .sub = "e1001" }), 0,
	       "D: uid 1001 deletes its subscription");
	is_int(set_param("max_readers", 256), 0, "D: max_readers back to 256");

	/* max_user_readers: attached readers of one user across rings. */
	is_int(set_param("max_user_readers", 3), 0, "D: max_user_readers = 3");
	memset(&f, 0, sizeof(f));
	ok(features(&f, sizeof(f)) == 0 && f.max_user_readers == 3,
	   "D: FEATURES reports max_user_readers = 3 (%u)", f.max_user_readers);
	rd.n = 2;
	rd.n2 = 1;
	h = hold(&U1000, c_readers, &rd, r, MAXRES);
	all_are(r, 3, 0, "D: uid 1000 attaches 2 readers to one ring and 1 to another");
	rd.n = 0;
	is_int(as(&U1000, c_readers, &rd), -EDQUOT,
	       "D: uid 1000's 4th reader across rings -> EDQUOT");
	is_int(as(&U1000_USERNS, c_readers, &rd), -EDQUOT,
	       "D: uid 1000 as root of a new user ns: 4th -> EDQUOT");
	is_int(as(&U1001, c_readers, &rd), 0, "D: uid 1001 is counted apart -> 0");
	release(h);
	rd.n = 3;
	rd.n2 = 0;
	run_as(&U1000, c_readers, &rd, r, MAXRES);
	all_are(r, 3, 0, "D: after closing, uid 1000 attaches 3 again");
	is_int(set_param("max_user_readers", 1024), 0, "D: max_user_readers back to 1024");
	cleanup(names);
}

/* Unprivileged user namespaces must work, or half of this test means nothing. */
static void c_nothing(void *arg)
{
	(void)arg;
	report(0);
}

int main(void)
{
	int r[MAXRES];

	signal(SIGPIPE, SIG_IGN);
	plan_no_plan();
	if (geteuid() != 0)
		bail_out("t_owner must start as root");
	parent_pid = getpid();
	pg = sysconf(_SC_PAGESIZE);
	umask(0);
	close(dev_fd(O_RDWR));
	/* Debian kernels gate unprivileged user namespaces behind a sysctl. */
	write_file("/proc/sys/kernel/unprivileged_userns_clone", "1");
	run_as(&U1000_USERNS_IPC, c_nothing, NULL, r, MAXRES);
	if (r[0] != 0)
		bail_out("uid 1000 cannot unshare(CLONE_NEWUSER|CLONE_NEWIPC): result %#x", r[0]);
	save_params();
	atexit(restore_params);

	test_features();
	test_old_fd_after_unshare();
	test_sub_owner();
	test_sub_slots();
	test_proc();
	test_setattr_list();
	test_ipc_ns();
	test_caps();
	return done_testing();
}
