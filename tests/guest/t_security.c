// SPDX-License-Identifier: GPL-2.0
/*
 * Security: mode bits against another uid, owner-only unlink, IPC
 * namespace isolation, memory caps, and readers' pages kept apart.
 */
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"

#define NOBODY 65534

/* Run @fn in a child as uid/gid 65534; returns its exit status. */
static int as_nobody(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			_exit(100);
		_exit(fn());
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 101;
}

static int try_open_read(void)
{
	return -raw_open("t_sec_private", SHMRING_O_READ, 0, 0);
}

static int try_open_write_public(void)
{
	return -raw_open("t_sec_public", SHMRING_O_WRITE, 0, 0);
}

static int try_read_public(void)
{
	int fd = raw_open("t_sec_public", SHMRING_O_READ, 0, 0);

	if (fd < 0)
		return -fd;
	close(fd);
	return 0;
}

static int try_unlink_public(void)
{
	return -shmring_unlink("t_sec_public");
}

static int try_delete_sub(void)
{
	struct shmring *r;
	int ret = shmring_open("t_sec_public", SHMRING_O_READ, 0, NULL, &r);

	if (ret)
		return 99;
	ret = shmring_sub_delete(r, "rootsub");
	shmring_close(r);
	return -ret;
}

static void test_modes(void)
{
	struct shmring *priv, *pub, *sub;
	struct shmring_attr a = { .data_size = 4096 };

	umask(0);
	shmring_unlink("t_sec_private");
	shmring_unlink("t_sec_public");
	is_int(shmring_open("t_sec_private", SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &priv), 0,
	       "root creates a 0600 ring");
	is_int(shmring_open("t_sec_public", SHMRING_O_CREAT | SHMRING_O_WRITE, 0644, &a, &pub), 0,
	       "root creates a 0644 ring");
	is_int(shmring_subscribe("t_sec_public", "rootsub", 0, &sub), 0, "root subscribes");
	shmring_close(sub);
	is_int(as_nobody(try_open_read), EACCES, "another uid cannot read a 0600 ring -> EACCES");
	is_int(as_nobody(try_read_public), 0, "another uid may read a 0644 ring");
	is_int(as_nobody(try_open_write_public), EACCES, "but not write it -> EACCES");
	is_int(as_nobody(try_unlink_public), EPERM, "nor unlink it -> EPERM");
	is_int(as_nobody(try_delete_sub), EPERM, "nor delete root's subscription -> EPERM");
	shmring_close(priv);
	shmring_close(pub);
	shmring_unlink("t_sec_private");
	shmring_unlink("t_sec_public");
}

static void test_umask(void)
{
	struct shmring_attr a = { .data_size = 4096 };
	struct shmring *r;
	char buf[8192], *p;
	FILE *f;
	size_t n;

	umask(022);
	shmring_unlink("t_sec_umask");
	shmring_open("t_sec_umask", SHMRING_O_CREAT | SHMRING_O_WRITE, 0666, &a, &r);
	f = fopen("/proc/shmring", "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = 0;
	if (f)
		fclose(f);
	p = strstr(buf, "ring t_sec_umask ");
	ok(p && strstr(p, "mode=0644 "), "the creator's umask applies to the mode, as for mq_open");
	shmring_close(r);
	shmring_unlink("t_sec_umask");
	umask(0);
}

static int ns_child(void)
{
	struct shmring_attr a = { .data_size = 4096 };
	struct shmring *r;
	int ret;

	if (unshare(CLONE_NEWIPC))
		return 10;
	ret = shmring_open("t_sec_ns", SHMRING_O_READ, 0, NULL, &r);
	if (ret != -ENOENT)
		return 11;	/* the parent's ring must be invisible */
	if (shmring_open("t_sec_ns", SHMRING_O_CREAT | SHMRING_O_EXCL | SHMRING_O_WRITE,
			 0600, &a, &r))
		return 12;	/* same name, new namespace: a new ring */
	if (shmring_write(r, 0, "child", 5) != 5)
		return 13;
	shmring_close(r);
	return 0;
}

static void test_ipc_namespace(void)
{
	struct shmring_attr a = { .data_size = 4096 };
	struct shmring *w, *r;
	struct shmring_record rec;
	int status;
	pid_t pid;

	shmring_unlink("t_sec_ns");
	shmring_open("t_sec_ns", SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &w);
	shmring_write(w, 0, "parent", 6);
	pid = fork();
	if (pid == 0)
		_exit(ns_child());
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
	       "in a new IPC namespace the ring is invisible and its name is free");
	shmring_open("t_sec_ns", SHMRING_O_READ, 0, NULL, &r);
	ok(shmring_peek(r, &rec) == 0 && rec.len == 6 && !memcmp(rec.data, "parent", 6),
	   "the parent's ring is untouched by the child's");
	ok(shmring_consume(r) == 0 && shmring_peek(r, &rec) == -EAGAIN,
	   "and holds only the parent's record");
	shmring_close(r);
	shmring_close(w);
	shmring_unlink("t_sec_ns");
}

static int set_param(const char *name, const char *val)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/shmring/parameters/%s", name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(val, f);
	return fclose(f) ? -errno : 0;
}

static int create_as_nobody(void)
{
	struct shmring_attr a = { .data_size = 65536 };
	struct shmring *r1, *r2;
	int ret;

	ret = shmring_open("t_sec_q1", SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &r1);
	if (ret)
		return 20;
	ret = shmring_open("t_sec_q2", SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &r2);
	shmring_close(r1);
	shmring_unlink("t_sec_q1");
	return -ret;
}

static void test_caps(void)
{
	struct shmring_attr a = { .data_size = 65536 };
	struct shmring *r;
	int ret;

	/* 100 KiB per user: one 64 KiB ring fits, a second does not. */
	is_int(set_param("max_user", "102400"), 0, "lower max_user to 100 KiB");
	is_int(as_nobody(create_as_nobody), EDQUOT, "the per-user cap gives EDQUOT");
	set_param("max_user", "268435456");
	is_int(set_param("max_total", "32768"), 0, "lower max_total to 32 KiB");
	ret = shmring_open("t_sec_q3", SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &r);
	is_int(ret, -ENOSPC, "the module-wide cap gives ENOSPC");
	set_param("max_total", "1073741824");
	is_int(set_param("max_size", "3"), -EINVAL, "a max_size that is not a power of two is refused");
}

static void test_reader_pages(void)
{
	struct shmring_attr a = { .data_size = 4096 };
	struct shmring *w, *r1, *r2;
	struct shmring_record rec;
	struct shmring_reader *p1;
	long pg = sysconf(_SC_PAGESIZE);

	shmring_unlink("t_sec_pages");
	shmring_open("t_sec_pages", SHMRING_O_CREAT | SHMRING_O_WRITE, 0600, &a, &w);
	shmring_open("t_sec_pages", SHMRING_O_READ, 0, NULL, &r1);
	shmring_open("t_sec_pages", SHMRING_O_READ, 0, NULL, &r2);
	shmring_write(w, 0, "one", 3);
	p1 = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, shmring_fd(r1), 0);
	ok(p1 != MAP_FAILED, "a reader maps its own page writable");
	p1->pos = 1ULL << 40;	/* scribble on it */
	p1->seq = 77;
	{
		char b[256];

		is_int(read(shmring_fd(r1), b, sizeof(b)) < 0 ? -errno : 0, -EINVAL,
		       "read(2) through a scribbled reader page -> EINVAL");
	}
	ok(shmring_peek(r2, &rec) == 0 && rec.seq == 0,
	   "another reader is not affected by the scribble");
	{
		char buf[256];
		int fd = raw_open("t_sec_pages", SHMRING_O_READ, 0, 0);

		ok(read(fd, buf, sizeof(buf)) > 0, "read(2) on a third reader still works");
		close(fd);
	}
	is_int(shmring_write(w, 0, "two", 3), 3, "writers are not disturbed by a bad reader page");
	munmap(p1, pg);
	shmring_close(r1);
	shmring_close(r2);
	shmring_close(w);
	shmring_unlink("t_sec_pages");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	plan_no_plan();
	if (geteuid() != 0)
		bail_out("t_security must start as root");
	test_modes();
	test_umask();
	test_ipc_namespace();
	test_caps();
	test_reader_pages();
	return done_testing();
}
