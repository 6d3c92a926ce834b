// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl: load, unload and inspect the shmring kernel module, and
 * manage its rings.
 *
 *   shmring-ctl [-v] load [-m PATH] [PARAM=VALUE]...
 *   shmring-ctl [-v] unload [-f]
 *   shmring-ctl status [--json]
 *   shmring-ctl [-v] create NAME [-s SIZE] [-p POLICY] [-r BYTES] [-c] [-m MODE] [-x]
 *   shmring-ctl [-v] delete NAME...
 *   shmring-ctl list [--json]
 *   shmring-ctl stat NAME [--json]
 *   shmring-ctl subs NAME [--json | --delete SUB]
 *   shmring-ctl write NAME [-t TYPE] [-n] {DATA | - | --lines}
 *
 * Modules are found and inserted through libkmod, as modprobe does; rings
 * are handled through libshmring, and list/stat read /proc/shmring (there
 * is no list ioctl, and reading it attaches no reader). Every failure is
 * turned into one readable sentence and its own exit status (enum
 * ctl_exit, documented in man/shmring-ctl.8). Subcommands are rows of the
 * command table at the end of this file.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libkmod.h>
#include <linux/shmring.h>

#include "shmring.h"

#ifndef SHMRING_VERSION
#error "SHMRING_VERSION is defined by the Makefile (-DSHMRING_VERSION='\"x.y.z\"')"
#endif

#define PROG		"shmring-ctl"
#define MODNAME		"shmring"
#define SYSFS_MODULE	"/sys/module/" MODNAME

/* Exit statuses; man/shmring-ctl.8 (EXIT STATUS) lists the same. */
enum ctl_exit {
	CTL_OK = 0,
	CTL_FAIL = 1,		/* anything not listed below */
	CTL_USAGE = 2,		/* bad command line */
	CTL_NOT_LOADED = 3,	/* status/unload: module not loaded */
	CTL_NOT_ROOT = 4,	/* needs root / CAP_SYS_MODULE */
	CTL_NOT_FOUND = 5,	/* no module file */
	CTL_BAD_KERNEL = 6,	/* built for another kernel, or not a module */
	CTL_ALREADY = 7,	/* already loaded */
	CTL_BAD_PARAM = 8,	/* the kernel rejected a parameter */
	CTL_BAD_SYMBOL = 9,	/* unknown symbol */
	CTL_NO_MODULES = 10,	/* kernel without loadable module support */
	CTL_BUSY = 11,		/* unload: module in use; subs --delete: attached */
	CTL_NO_RING = 12,	/* no such ring (or subscription) */
	CTL_EXISTS = 13,	/* create --exclusive: the ring exists */
	CTL_LIMIT = 14,		/* a ring limit: max_total, max_user, max_rings */
	CTL_DENIED = CTL_NOT_ROOT,	/* rings: mode bits or ownership refuse */
};

/* Global options, given before the subcommand. */
struct ctl_opts {
	bool verbose;
};

struct ctl_cmd {
	const char *name;
	int (*fn)(const struct ctl_cmd *cmd, const struct ctl_opts *o,
		  int argc, char **argv);
	const char *args;	/* synopsis after the name */
	const char *help;	/* one line, for the global usage too */
	const char *details;	/* more, for `shmring-ctl CMD --help` */
};

/* ---- messages ----------------------------------------------------------- */

static void __attribute__((format(printf, 1, 2))) err_msg(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((format(printf, 1, 2))) warn_msg(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void cmd_usage(const struct ctl_cmd *cmd, FILE *f)
{
	fprintf(f, "Usage: %s %s %s\n\n%s.\n\n%s", PROG, cmd->name, cmd->args,
		cmd->help, cmd->details);
}

/* Try `shmring-ctl CMD --help`: for option errors inside a subcommand. */
static int cmd_bad_usage(const struct ctl_cmd *cmd)
{
	fprintf(stderr, "Try '%s %s --help' for more information.\n", PROG, cmd->name);
	return CTL_USAGE;
}

/* ---- small helpers --------------------------------------------------------- */

static const char *kernel_release(struct utsname *u)
{
	if (uname(u) < 0)
		return "(unknown)";
	return u->release;
}

/* The kernel was built without CONFIG_MODULES: /proc has no modules file. */
static bool kernel_has_modules(void)
{
	if (access("/proc/self", F_OK) < 0)
		return true;	/* no /proc: cannot tell, let the kernel say */
	return access("/proc/modules", F_OK) == 0;
}

static int need_root(const char *what)
{
	if (geteuid() == 0)
		return CTL_OK;
	err_msg("%s modules needs root (try sudo)", what);
	return CTL_NOT_ROOT;
}

/* First line of a small file, without the newline; false if unreadable. */
static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static struct kmod_ctx *ctl_kmod_new(const struct ctl_opts *o)
{
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);

	if (!ctx) {
		err_msg("cannot initialise libkmod: %s", strerror(errno ? errno : ENOMEM));
		return NULL;
	}
	/* Failures are explained by shmring-ctl itself; -v shows libkmod's view. */
	if (o->verbose)
		kmod_set_log_priority(ctx, LOG_ERR);
	else if (!getenv("KMOD_LOG"))
		kmod_set_log_priority(ctx, LOG_EMERG);
	return ctx;
}

/*
 * The module object for the name "shmring" and its kernel state: a
 * kmod_module_initstate (>= 0) or -ENOENT when it is not loaded.
 */
static int module_state(struct kmod_ctx *ctx, struct kmod_module **modp)
{
	int err = kmod_module_new_from_name(ctx, MODNAME, modp);

	if (err < 0) {
		*modp = NULL;
		return err;
	}
	return kmod_module_get_initstate(*modp);
}

/*
 * A .modinfo value of the module's file in *val (strdup'ed, NULL if the
 * key is absent); -errno if the file has no readable .modinfo at all.
 */
static int modinfo_get(const struct kmod_module *mod, const char *key, char **val)
{
	struct kmod_list *info = NULL, *l;
	int err = kmod_module_get_info(mod, &info);

	*val = NULL;
	if (err < 0)
		return err;
	kmod_list_foreach(l, info) {
		if (strcmp(kmod_module_info_get_key(l), key) == 0) {
			*val = strdup(kmod_module_info_get_value(l));
			break;
		}
	}
	kmod_module_info_free_list(info);
	return 0;
}

/* ---- kernel log ------------------------------------------------------------- */

/*
 * The kernel explains most load failures in its log. /dev/kmsg opened and
 * moved to its end before the attempt yields exactly the lines the attempt
 * produced. -1 when the log cannot be read (then nothing is shown).
 */
static int kmsg_mark(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Print the new kernel log records that mention the module; close fd. */
static void kmsg_show(int fd)
{
	char rec[2048];
	int shown = 0;

	if (fd < 0)
		return;
	while (shown < 8) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		char *msg;

		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten meanwhile */
		if (n <= 0)
			break;
		rec[n] = '\0';
		/* "prio,seq,usec,flags;text\n[ KEY=value\n...]" */
		msg = strchr(rec, ';');
		if (!msg || !strstr(msg, MODNAME))
			continue;
		msg++;
		msg[strcspn(msg, "\n")] = '\0';
		if (!shown++)
			fputs("kernel log:\n", stderr);
		fprintf(stderr, "  %s\n", msg);
	}
	close(fd);
}

/* ---- load ---------------------------------------------------------------------- */

struct load_req {
	const char *path;	/* --module PATH, or NULL: look the name up */
	char **params;		/* PARAM=VALUE arguments */
	int nparams;
	char *options;		/* the same joined for the kernel, or NULL */
	struct kmod_module *mod;
	const char *release;	/* running kernel */
};

/* NAME or NAME=VALUE, NAME an identifier ('-' is '_'); false if malformed. */
static bool param_ok(const char *p)
{
	size_t n = strcspn(p, "=");

	if (n == 0 || isdigit((unsigned char)p[0]) || strchr(p, '"') || strchr(p, '\n'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '_' && p[i] != '-')
			return false;
	return true;
}

/* Join PARAM=VALUE arguments into the kernel's options string. */
static int build_options(int argc, char **argv, char **out)
{
	size_t len = 1;
	char *s, *p;

	*out = NULL;
	for (int i = 0; i < argc; i++) {
		if (!param_ok(argv[i])) {
			err_msg("invalid module parameter '%s': expected NAME=VALUE", argv[i]);
			return CTL_USAGE;
		}
		len += strlen(argv[i]) + 3;	/* separator, quotes */
	}
	if (argc == 0)
		return CTL_OK;
	s = p = malloc(len);
	if (!s) {
		err_msg("out of memory");
		return CTL_FAIL;
	}
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');

		if (i)
			*p++ = ' ';
		/* The kernel splits at spaces unless the value is quoted. */
		if (eq && strpbrk(eq, " \t"))
			p += sprintf(p, "%.*s\"%s\"", (int)(eq - argv[i] + 1), argv[i], eq + 1);
		else
			p = stpcpy(p, argv[i]);
	}
	*p = '\0';
	*out = s;
	return CTL_OK;
}

/* Is NAME (up to '=' or the end) declared in the module's .modinfo? */
static bool param_declared(struct kmod_list *info, const char *name, size_t n)
{
	struct kmod_list *l;

	kmod_list_foreach(l, info) {
		const char *key = kmod_module_info_get_key(l);
		const char *val = kmod_module_info_get_value(l);
		size_t i;

		if (strcmp(key, "parm") != 0 && strcmp(key, "parmtype") != 0)
			continue;
		/* The kernel treats '-' and '_' in parameter names alike. */
		for (i = 0; i < n && val[i] && val[i] != ':'; i++)
			if (val[i] != name[i] && !(strchr("-_", val[i]) && strchr("-_", name[i])))
				break;
		if (i == n && val[i] == ':')
			return true;
	}
	return false;
}

/* The kernel ignores unknown parameters (with a log line): say so here. */
static void warn_unknown_params(const struct load_req *r)
{
	struct kmod_list *info = NULL, *l;
	bool any = false;

	if (!r->nparams || kmod_module_get_info(r->mod, &info) < 0)
		return;
	/* No "parm" at all: the module's parameters are undocumented, no guess. */
	kmod_list_foreach(l, info)
		any |= strcmp(kmod_module_info_get_key(l), "parm") == 0;
	for (int i = 0; any && i < r->nparams; i++) {
		const char *p = r->params[i];
		size_t n = strcspn(p, "=");

		if (!param_declared(info, p, n))
			warn_msg("%s has no parameter '%.*s'; the kernel will ignore it "
				 "(`modinfo -p %s` lists them)", MODNAME, (int)n, p,
				 kmod_module_get_path(r->mod));
	}
	kmod_module_info_free_list(info);
}

/* Is --module PATH a shmring module? */
static int check_module_file(const struct load_req *r)
{
	struct stat st;
	char *name;
	int ret = CTL_OK;

	if (stat(r->path, &st) == 0 && !S_ISREG(st.st_mode)) {
		err_msg("%s is not a module file", r->path);
		return CTL_BAD_KERNEL;
	}
	if (modinfo_get(r->mod, "name", &name) < 0) {
		err_msg("%s is not a kernel module (bad format)", r->path);
		return CTL_BAD_KERNEL;
	}
	/* The kernel names a module after .modinfo, not after its file. */
	if (strcmp(name ? name : kmod_module_get_name(r->mod), MODNAME) != 0) {
		err_msg("%s is the module '%s', not %s", r->path,
			name ? name : kmod_module_get_name(r->mod), MODNAME);
		ret = CTL_FAIL;
	}
	free(name);
	return ret;
}

/* The module object for --module PATH. */
static int module_from_path(struct kmod_ctx *ctx, struct load_req *r)
{
	int err = kmod_module_new_from_path(ctx, r->path, &r->mod);

	if (err == -ENOENT || err == -ENOTDIR) {
		err_msg("module file %s not found: build it with `make module` "
			"or give a correct --module PATH", r->path);
		return CTL_NOT_FOUND;
	}
	if (err < 0) {
		err_msg("%s: %s", r->path, strerror(-err));
		return CTL_FAIL;
	}
	return check_module_file(r);
}

/* The module object for "shmring" found through modules.dep. */
static int module_from_lookup(struct kmod_ctx *ctx, struct load_req *r)
{
	struct kmod_list *list = NULL;
	const char *path;
	int err = kmod_module_new_from_lookup(ctx, MODNAME, &list);

	if (err >= 0 && list) {
		r->mod = kmod_module_get_module(list);
		kmod_module_unref_list(list);
		path = kmod_module_get_path(r->mod);
		if (path && access(path, F_OK) == 0)
			return CTL_OK;
		if (path) {
			err_msg("module %s is listed in %s/modules.dep as %s, but that file "
				"is missing: reinstall it and run depmod, or give --module PATH",
				MODNAME, kmod_get_dirname(ctx), path);
			return CTL_NOT_FOUND;
		}
	}
	err_msg("module %s not found for kernel %s: build it with `make module` "
		"or give --module PATH", MODNAME, r->release);
	return CTL_NOT_FOUND;
}

static void print_action(struct kmod_module *m, bool install, const char *options)
{
	if (install)
		printf("install %s %s\n", kmod_module_get_install_commands(m), options);
	else
		printf("insmod %s %s\n", kmod_module_get_path(m), options);
	fflush(stdout);	/* before any error on stderr */
}

/* ENOEXEC: say which kernel the file was built for, if it says. */
static int bad_kernel_error(const struct load_req *r)
{
	const char *path = kmod_module_get_path(r->mod);
	char *vermagic;

	modinfo_get(r->mod, "vermagic", &vermagic);
	if (vermagic) {
		/* vermagic ends with a space */
		size_t n = strlen(vermagic);

		while (n && vermagic[n - 1] == ' ')
			vermagic[--n] = '\0';
		err_msg("%s was built for a different kernel (vermagic %s, running %s): "
			"rebuild it with `make module` against this kernel's headers",
			path, vermagic, r->release);
	} else {
		err_msg("%s is not a loadable module for kernel %s (bad format)",
			path, r->release);
	}
	free(vermagic);
	return CTL_BAD_KERNEL;
}

/* Turn a failed insert (-errno) into a sentence and an exit status. */
static int load_error(int err, const struct load_req *r)
{
	switch (err) {
	case -EEXIST:
	case -EBUSY:
		err_msg("%s is already loaded; use `%s unload` first", MODNAME, PROG);
		return CTL_ALREADY;
	case -ENOEXEC:
		return bad_kernel_error(r);
	case -EINVAL:
	case -ERANGE:
	case -ENOSPC:
		err_msg("the kernel rejected a parameter; see dmesg%s%s%s",
			r->options ? " (options: " : "", r->options ? r->options : "",
			r->options ? ")" : "");
		return CTL_BAD_PARAM;
	case -ENOENT:
		err_msg("%s refers to a symbol this kernel does not export (unknown "
			"symbol; see dmesg): was it built for kernel %s?",
			kmod_module_get_path(r->mod), r->release);
		return CTL_BAD_SYMBOL;
	case -ENOSYS:
		err_msg("kernel %s has no loadable module support (CONFIG_MODULES=n)",
			r->release);
		return CTL_NO_MODULES;
	case -EPERM:
		err_msg("the kernel refused to load modules (no CAP_SYS_MODULE, "
			"kernel.modules_disabled=1 or lockdown)");
		return CTL_NOT_ROOT;
	case -EKEYREJECTED:
	case -ENOKEY:
	case -EKEYEXPIRED:
	case -EBADMSG:
		err_msg("the kernel rejected the signature of %s: this kernel loads "
			"only modules signed with a trusted key (%s)",
			kmod_module_get_path(r->mod), strerror(-err));
		return CTL_FAIL;
	default:
		if (err > 0)
			err_msg("%s is blacklisted by the modprobe configuration", MODNAME);
		else
			err_msg("could not load %s: %s", kmod_module_get_path(r->mod),
				strerror(-err));
		return CTL_FAIL;
	}
}

/* misc_register() creates the node; udev may take a moment to settle it. */
static void wait_for_device(void)
{
	const struct timespec tick = { .tv_nsec = 20 * 1000 * 1000 };

	for (int i = 0; i < 100; i++) {
		if (access(SHMRING_DEVICE, F_OK) == 0)
			return;
		nanosleep(&tick, NULL);
	}
	warn_msg("%s is loaded but %s did not appear (is devtmpfs mounted?)",
		 MODNAME, SHMRING_DEVICE);
}

static int do_insert(struct load_req *r, const struct ctl_opts *o)
{
	int err;

	if (r->path) {
		if (o->verbose)
			print_action(r->mod, false, r->options ? r->options : "");
		err = kmod_module_insert_module(r->mod, 0, r->options);
	} else {
		/* dependencies, softdeps, options and install commands of modprobe.d */
		err = kmod_module_probe_insert_module(r->mod, KMOD_PROBE_FAIL_ON_LOADED,
						      r->options, NULL, NULL,
						      o->verbose ? print_action : NULL);
	}
	return err;
}

static int load_module(struct kmod_ctx *ctx, struct load_req *r, const struct ctl_opts *o)
{
	struct kmod_module *cur;
	int ret, err, kmsg;

	ret = module_state(ctx, &cur);
	kmod_module_unref(cur);
	if (ret == KMOD_MODULE_BUILTIN) {
		err_msg("%s is built into kernel %s; there is nothing to load",
			MODNAME, r->release);
		return CTL_ALREADY;
	}
	if (ret >= 0) {
		err_msg("%s is already loaded; use `%s unload` first", MODNAME, PROG);
		return CTL_ALREADY;
	}
	ret = r->path ? module_from_path(ctx, r) : module_from_lookup(ctx, r);
	if (ret != CTL_OK)
		return ret;
	warn_unknown_params(r);
	kmsg = kmsg_mark();
	err = do_insert(r, o);
	if (err != 0) {
		ret = load_error(err, r);
		kmsg_show(kmsg);
		return ret;
	}
	if (kmsg >= 0)
		close(kmsg);
	wait_for_device();
	return CTL_OK;
}

static int cmd_load(const struct ctl_cmd *cmd, const struct ctl_opts *o,
		    int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct load_req r = { 0 };
	struct utsname u;
	struct kmod_ctx *ctx;
	int c, ret;

	while ((c = getopt_long(argc, argv, "m:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			r.path = optarg;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return CTL_OK;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	r.params = argv + optind;
	r.nparams = argc - optind;
	ret = build_options(r.nparams, r.params, &r.options);
	if (ret != CTL_OK)
		return ret;
	r.release = kernel_release(&u);
	ret = need_root("loading");
	if (ret == CTL_OK && !kernel_has_modules()) {
		err_msg("kernel %s has no loadable module support (CONFIG_MODULES=n)",
			r.release);
		ret = CTL_NO_MODULES;
	}
	ctx = ret == CTL_OK ? ctl_kmod_new(o) : NULL;
	if (ctx) {
		ret = load_module(ctx, &r, o);
		kmod_module_unref(r.mod);
		kmod_unref(ctx);
	} else if (ret == CTL_OK) {
		ret = CTL_FAIL;
	}
	free(r.options);
	return ret;
}

/* ---- unload ---------------------------------------------------------------------- */

/* Names of the modules that depend on shmring, "a, b"; NULL if none. */
static char *holders_str(const struct kmod_module *mod)
{
	struct kmod_list *holders = kmod_module_get_holders(mod), *l;
	char *s = NULL;
	size_t len = 0;
	FILE *f;

	if (!holders)
		return NULL;
	f = open_memstream(&s, &len);
	if (f) {
		kmod_list_foreach(l, holders) {
			struct kmod_module *h = kmod_module_get_module(l);

			fprintf(f, "%s%s", l == holders ? "" : ", ", kmod_module_get_name(h));
			kmod_module_unref(h);
		}
		fclose(f);
	}
	kmod_module_unref_list(holders);
	return s;
}

static int busy_error(const struct kmod_module *mod)
{
	int refcnt = kmod_module_get_refcnt(mod);
	char *holders = holders_str(mod);

	if (holders)
		err_msg("%s is in use by the module(s) %s; unload them first",
			MODNAME, holders);
	else if (refcnt > 0)
		err_msg("%s is in use by %d user%s (open rings or mappings); close them first",
			MODNAME, refcnt, refcnt == 1 ? "" : "s");
	else
		err_msg("%s is in use (open rings or mappings); close them first", MODNAME);
	free(holders);
	return CTL_BUSY;
}

static int unload_module(struct kmod_ctx *ctx, bool force)
{
	struct kmod_module *mod;
	int state = module_state(ctx, &mod);
	int err, ret = CTL_OK;

	if (state == -ENOENT) {
		err_msg("%s is not loaded", MODNAME);
		ret = CTL_NOT_LOADED;
	} else if (state < 0) {
		err_msg("cannot read the state of %s: %s", MODNAME, strerror(-state));
		ret = CTL_FAIL;
	} else if (state == KMOD_MODULE_BUILTIN) {
		err_msg("%s is built into the kernel and cannot be unloaded", MODNAME);
		ret = CTL_FAIL;
	}
	if (ret != CTL_OK) {
		kmod_module_unref(mod);
		return ret;
	}
	err = kmod_module_remove_module(mod, KMOD_REMOVE_NOLOG |
					(force ? KMOD_REMOVE_FORCE : 0));
	switch (err) {
	case 0:
		break;
	case -EBUSY:
	case -EAGAIN:
		ret = busy_error(mod);
		break;
	case -ENOENT:
		err_msg("%s is not loaded", MODNAME);
		ret = CTL_NOT_LOADED;
		break;
	case -EPERM:
		err_msg("the kernel refused to unload %s (no CAP_SYS_MODULE?)", MODNAME);
		ret = CTL_NOT_ROOT;
		break;
	default:
		err_msg("could not unload %s: %s", MODNAME, strerror(-err));
		ret = CTL_FAIL;
	}
	kmod_module_unref(mod);
	return ret;
}

static int cmd_unload(const struct ctl_cmd *cmd, const struct ctl_opts *o,
		      int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kmod_ctx *ctx;
	bool force = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "fh", lopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return CTL_OK;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	if (optind < argc) {
		err_msg("unload takes no arguments");
		return cmd_bad_usage(cmd);
	}
	ret = need_root("unloading");
	if (ret != CTL_OK)
		return ret;
	ctx = ctl_kmod_new(o);
	if (!ctx)
		return CTL_FAIL;
	ret = unload_module(ctx, force);
	kmod_unref(ctx);
	return ret;
}

/* ---- status ---------------------------------------------------------------------- */

struct status {
	int state;		/* kmod_module_initstate, or -errno */
	int refcnt;		/* or -errno */
	char version[64];	/* "" if unknown */
	char *holders;		/* NULL if none */
	char *file;		/* what `load` would insert, NULL if none */
	bool dev_exists;
	struct stat dev;
	struct dirent **params;	/* /sys/module/shmring/parameters/ */
	int nparams;
};

static int param_filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static void status_collect(struct kmod_ctx *ctx, struct status *s)
{
	struct kmod_module *mod;
	struct kmod_list *list = NULL;

	memset(s, 0, sizeof(*s));
	s->state = module_state(ctx, &mod);
	s->refcnt = -ENOENT;
	if (s->state >= 0) {
		s->refcnt = kmod_module_get_refcnt(mod);
		s->holders = holders_str(mod);
		read_line(SYSFS_MODULE "/version", s->version, sizeof(s->version));
		s->nparams = scandir(SYSFS_MODULE "/parameters", &s->params,
				     param_filter, alphasort);
		if (s->nparams < 0)
			s->nparams = 0;
	}
	kmod_module_unref(mod);
	if (kmod_module_new_from_lookup(ctx, MODNAME, &list) >= 0 && list) {
		mod = kmod_module_get_module(list);
		if (kmod_module_get_path(mod))
			s->file = strdup(kmod_module_get_path(mod));
		kmod_module_unref(mod);
		kmod_module_unref_list(list);
	}
	s->dev_exists = stat(SHMRING_DEVICE, &s->dev) == 0;
}

static void status_free(struct status *s)
{
	for (int i = 0; i < s->nparams; i++)
		free(s->params[i]);
	free(s->params);
	free(s->holders);
	free(s->file);
}

static bool param_value(const char *name, char *buf, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), SYSFS_MODULE "/parameters/%s", name);
	return read_line(path, buf, len);
}

static const char *state_str(int state)
{
	const char *s = state >= 0 ? kmod_module_initstate_str(state) : NULL;

	return s ? s : "unknown";
}

static const char *dev_type(const struct stat *st)
{
	return S_ISCHR(st->st_mode) ? "character device" :
	       S_ISBLK(st->st_mode) ? "block device" : "not a device";
}

static void status_text(const struct status *s, const char *release)
{
	char val[256];

	if (s->state >= 0)
		printf("%s: loaded (%s)\n", MODNAME, state_str(s->state));
	else
		printf("%s: not loaded\n", MODNAME);
	if (s->state >= 0) {
		printf("  version:    %s\n", s->version[0] ? s->version : "unknown");
		if (s->refcnt >= 0)
			printf("  users:      %d (open files and mappings)\n", s->refcnt);
		if (s->holders)
			printf("  used by:    %s\n", s->holders);
		int w = 0;

		for (int i = 0; i < s->nparams; i++)
			if ((int)strlen(s->params[i]->d_name) > w)
				w = (int)strlen(s->params[i]->d_name);
		for (int i = 0; i < s->nparams; i++) {
			const char *name = s->params[i]->d_name;

			printf("  %-11s %-*s = %s\n", i ? "" : "parameters:", w, name,
			       param_value(name, val, sizeof(val)) ? val : "(unreadable)");
		}
	}
	if (s->file)
		printf("  module:     %s\n", s->file);
	else
		printf("  module:     not found for kernel %s\n", release);
	if (s->dev_exists)
		printf("  device:     %s (%s %u:%u, mode %04o)\n", SHMRING_DEVICE,
		       dev_type(&s->dev), major(s->dev.st_rdev), minor(s->dev.st_rdev),
		       (unsigned int)(s->dev.st_mode & 07777));
	else
		printf("  device:     %s missing\n", SHMRING_DEVICE);
}

static void json_str(const char *str)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* A value as a JSON number when it is a plain decimal, else a string. */
static void json_value(const char *v)
{
	size_t n = strspn(v, "0123456789");

	if (n > 0 && n <= 19 && v[n] == '\0' && (v[0] != '0' || n == 1))
		fputs(v, stdout);
	else
		json_str(v);
}

static void json_or_null(const char *v)
{
	if (v)
		json_str(v);
	else
		fputs("null", stdout);
}

static void status_json_params(const struct status *s)
{
	char val[256];

	fputs("  \"parameters\": {", stdout);
	for (int i = 0; i < s->nparams; i++) {
		const char *name = s->params[i]->d_name;

		printf("%s\n    ", i ? "," : "");
		json_str(name);
		fputs(": ", stdout);
		if (param_value(name, val, sizeof(val)))
			json_value(val);
		else
			fputs("null", stdout);
	}
	printf("%s},\n", s->nparams ? "\n  " : "");
}

static void status_json(const struct status *s, const char *release)
{
	printf("{\n  \"module\": \"%s\",\n  \"kernel\": ", MODNAME);
	json_str(release);
	printf(",\n  \"loaded\": %s,\n  \"state\": ", s->state >= 0 ? "true" : "false");
	json_or_null(s->state >= 0 ? state_str(s->state) : NULL);
	fputs(",\n  \"version\": ", stdout);
	json_or_null(s->version[0] ? s->version : NULL);
	if (s->refcnt >= 0)
		printf(",\n  \"refcnt\": %d", s->refcnt);
	else
		fputs(",\n  \"refcnt\": null", stdout);
	fputs(",\n  \"holders\": [", stdout);
	for (const char *h = s->holders; h && *h; ) {
		size_t n = strcspn(h, ",");

		printf("%s\"%.*s\"", h == s->holders ? "" : ", ", (int)n, h);
		h += n;
		h += strspn(h, ", ");
	}
	fputs("],\n", stdout);
	status_json_params(s);
	fputs("  \"module_file\": ", stdout);
	json_or_null(s->file);
	printf(",\n  \"device\": {\n    \"path\": \"%s\",\n    \"exists\": %s",
	       SHMRING_DEVICE, s->dev_exists ? "true" : "false");
	if (s->dev_exists)
		printf(",\n    \"char\": %s,\n    \"major\": %u,\n    \"minor\": %u,\n"
		       "    \"mode\": \"%04o\"", S_ISCHR(s->dev.st_mode) ? "true" : "false",
		       major(s->dev.st_rdev), minor(s->dev.st_rdev),
		       (unsigned int)(s->dev.st_mode & 07777));
	fputs("\n  }\n}\n", stdout);
}

static int cmd_status(const struct ctl_cmd *cmd, const struct ctl_opts *o,
		      int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kmod_ctx *ctx;
	struct status s;
	struct utsname u;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return CTL_OK;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	if (optind < argc) {
		err_msg("status takes no arguments");
		return cmd_bad_usage(cmd);
	}
	ctx = ctl_kmod_new(o);
	if (!ctx)
		return CTL_FAIL;
	status_collect(ctx, &s);
	if (s.state < 0 && s.state != -ENOENT)
		warn_msg("cannot read the state of %s: %s", MODNAME, strerror(-s.state));
	if (json)
		status_json(&s, kernel_release(&u));
	else
		status_text(&s, kernel_release(&u));
	kmod_unref(ctx);
	status_free(&s);
	if (fflush(stdout) != 0) {
		err_msg("write error: %s", strerror(errno));
		return CTL_FAIL;
	}
	return s.state >= 0 ? CTL_OK : CTL_NOT_LOADED;
}

/* ---- rings: names, numbers, errors ---------------------------------------------- */

#define PROC_SHMRING	"/proc/shmring"
#define MAX_SUBS	64	/* durable subscriptions per ring (docs/design.md) */
#define TABLE_COLS	16

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

static int check_name(const struct ctl_cmd *cmd, const char *what, const char *s,
		      size_t max)
{
	if (name_ok(s, max))
		return CTL_OK;
	err_msg("invalid %s name '%s': 1 to %zu characters of A-Z a-z 0-9 . _ - "
		"(not '.' or '..')", what, s, max - 1);
	return cmd_bad_usage(cmd);
}

/* The one ring NAME operand left after the options. */
static int ring_operand(const struct ctl_cmd *cmd, int argc, char **argv,
			const char **name)
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

/* Decimal, or hexadecimal with 0x; false without digits or on overflow. */
static bool parse_u64(const char *s, uint64_t *v, const char **end)
{
	int base = 10;
	char *e;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!isxdigit((unsigned char)s[0]) || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
			return false;
	} else if (!isdigit((unsigned char)s[0])) {
		return false;
	}
	errno = 0;
	*v = strtoull(s, &e, base);
	*end = e;
	return errno == 0;
}

/* BYTES, with an optional k, M or G suffix (binary: 4k = 4096; kB, KiB too). */
static bool parse_size(const char *s, uint64_t *out)
{
	unsigned int shift = 0;
	const char *end;
	uint64_t v;

	if (!parse_u64(s, &v, &end))
		return false;
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	}
	if (shift) {
		end++;
		if (!strcmp(end, "B") || !strcmp(end, "iB"))
			end += strlen(end);
	}
	if (*end || (v << shift) >> shift != v)
		return false;
	*out = v << shift;
	return true;
}

static bool parse_u32(const char *s, uint32_t *out)
{
	const char *end;
	uint64_t v;

	if (!parse_u64(s, &v, &end) || *end || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* A module parameter for a message, "?" if unreadable. */
static const char *param_or_unknown(const char *name, char *buf, size_t len)
{
	return param_value(name, buf, len) ? buf : "?";
}

/* A libshmring error about ring NAME as one sentence; returns the exit status. */
static int ring_error(const char *name, int err)
{
	char a[32], b[32];

	switch (err) {
	case -ENODEV:
		err_msg("%s is not loaded (no %s): load it with `%s load`",
			MODNAME, SHMRING_DEVICE, PROG);
		return CTL_NOT_LOADED;
	case -ENOENT:
		err_msg("%s: no ring by that name (`%s list` shows the rings)", name, PROG);
		return CTL_NO_RING;
	case -EEXIST:
		err_msg("%s: a ring by that name already exists", name);
		return CTL_EXISTS;
	case -EACCES:
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

static int flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		err_msg("write error: %s", strerror(errno));
		return CTL_FAIL;
	}
	return CTL_OK;
}

/* ---- rings: output helpers -------------------------------------------------------- */

/* ISO-8601 UTC with microseconds, as shmring-dump prints record times. */
static const char *iso_time(uint64_t ns, char *buf, size_t size)
{
	time_t secs = (time_t)(ns / 1000000000ULL);
	unsigned int usec = (unsigned int)(ns % 1000000000ULL / 1000);
	struct tm tm;

	if (!ns)
		return "never";
	if (!gmtime_r(&secs, &tm))
		memset(&tm, 0, sizeof(tm));
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
	return buf;
}

/* "ISO" or null: a JSON value for a time in ns (0 = never). */
static void json_time(uint64_t ns)
{
	char buf[40];

	if (ns)
		printf("\"%s\"", iso_time(ns, buf, sizeof(buf)));
	else
		fputs("null", stdout);
}

/* 65536 -> "64K": sizes are powers of two, so exact units read best. */
static const char *size_str(uint64_t v, char *buf, size_t size)
{
	static const char units[] = "KMGTPE";
	int u = -1;

	while (v >= 1024 && v % 1024 == 0 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%" PRIu64, v);
	else
		snprintf(buf, size, "%" PRIu64 "%c", v, units[u]);
	return buf;
}

static const char *user_str(uint64_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid((uid_t)uid);

	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%" PRIu64, uid);
	return buf;
}

static const char *group_str(uint64_t gid, char *buf, size_t size)
{
	struct group *gr = getgrgid((gid_t)gid);

	if (gr)
		snprintf(buf, size, "%s", gr->gr_name);
	else
		snprintf(buf, size, "%" PRIu64, gid);
	return buf;
}

/*
 * A text table: rows are printf'ed with cells separated by tabs, then
 * printed with columns padded to their widest cell, two spaces apart.
 */
struct table {
	unsigned int right;	/* bit i: column i is right-aligned (numbers) */
	size_t nrows;
	char **rows;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) table_add(struct table *t, const char *fmt, ...)
{
	char **rows, *row;
	va_list ap;
	int n;

	rows = realloc(t->rows, (t->nrows + 1) * sizeof(*rows));
	if (!rows) {
		t->oom = true;
		return;
	}
	t->rows = rows;
	va_start(ap, fmt);
	n = vasprintf(&row, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->oom = true;
		return;
	}
	t->rows[t->nrows++] = row;
}

static int table_print(struct table *t)
{
	int width[TABLE_COLS] = { 0 };
	int ret = CTL_OK;

	for (size_t r = 0; r < t->nrows; r++) {
		const char *p = t->rows[r];

		for (int c = 0; c < TABLE_COLS && *p; c++) {
			int n = (int)strcspn(p, "\t");

			if (n > width[c])
				width[c] = n;
			p += n + (p[n] == '\t');
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		const char *p = t->rows[r];

		for (int c = 0; c < TABLE_COLS && *p; c++) {
			int n = (int)strcspn(p, "\t");
			bool last = p[n] != '\t';
			bool right = t->right & (1U << c);

			printf("%*s%.*s%*s", right ? width[c] - n : 0, "", n, p,
			       right || last ? 0 : width[c] - n + 2, "");
			if (right && !last)
				fputs("  ", stdout);
			p += n + !last;
		}
		putchar('\n');
	}
	if (t->oom) {
		err_msg("out of memory");
		ret = CTL_FAIL;
	}
	for (size_t r = 0; r < t->nrows; r++)
		free(t->rows[r]);
	free(t->rows);
	return ret;
}

/* ---- rings: /proc/shmring ------------------------------------------------------------ */

/*
 * /proc/shmring (docs/design.md): "ring NAME key=value..." per ring of the
 * caller's IPC namespace, then "  reader|sub|sub+ NAME key=value..." per
 * cursor. Keys are looked up by name: unknown (newer) keys are skipped and
 * missing ones read as 0.
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
		 readers, subs;
	struct pcursor *cur;
	size_t ncur;
};

struct pview {
	struct pring *rings;
	size_t n;
};

struct pfield {
	const char *key;
	size_t off;
};

#define RING_FIELD(f)	{ #f, offsetof(struct pring, f) }
static const struct pfield ring_fields[] = {
	RING_FIELD(size), RING_FIELD(max_record), RING_FIELD(flags), RING_FIELD(mode),
	RING_FIELD(uid), RING_FIELD(gid), RING_FIELD(head), RING_FIELD(tail),
	RING_FIELD(head_seq), RING_FIELD(tail_seq), RING_FIELD(bytes),
	RING_FIELD(records), RING_FIELD(lost), RING_FIELD(writer_waits),
	RING_FIELD(last_write_ns), RING_FIELD(readers), RING_FIELD(subs),
};

#define CURSOR_FIELD(f)	{ #f, offsetof(struct pcursor, f) }
static const struct pfield cursor_fields[] = {
	CURSOR_FIELD(pid), CURSOR_FIELD(pos), CURSOR_FIELD(seq),
	CURSOR_FIELD(lag_bytes), CURSOR_FIELD(lag_records), CURSOR_FIELD(read),
	CURSOR_FIELD(lost), CURSOR_FIELD(last_read_ns),
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* The next blank-separated word of *p, NUL-terminated in place; NULL at the end. */
static char *next_word(char **p)
{
	char *w = *p + strspn(*p, " "), *e;

	if (!*w)
		return NULL;
	e = w + strcspn(w, " ");
	if (*e)
		*e++ = '\0';
	*p = e;
	return w;
}

/* key=value words into the uint64_t fields of obj (mode=0600 is octal). */
static void parse_fields(char *s, const struct pfield *f, size_t nf, void *obj,
			 char *policy, size_t plen)
{
	char *w;

	while ((w = next_word(&s))) {
		char *val = strchr(w, '=');

		if (!val)
			continue;
		*val++ = '\0';
		if (policy && !strcmp(w, "policy")) {
			snprintf(policy, plen, "%s", val);
			continue;
		}
		for (size_t i = 0; i < nf; i++) {
			if (!strcmp(w, f[i].key)) {
				*(uint64_t *)((char *)obj + f[i].off) = strtoull(val, NULL, 0);
				break;
			}
		}
	}
}

static int proc_ring(struct pview *v, const char *name, char *rest)
{
	struct pring *rings = realloc(v->rings, (v->n + 1) * sizeof(*rings));
	struct pring *r;

	if (!rings)
		return -ENOMEM;
	v->rings = rings;
	r = &rings[v->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	parse_fields(rest, ring_fields, ARRAY_SIZE(ring_fields), r, r->policy,
		     sizeof(r->policy));
	return 0;
}

static int proc_cursor(struct pring *r, const char *kind, const char *name, char *rest)
{
	struct pcursor *cur = realloc(r->cur, (r->ncur + 1) * sizeof(*cur));
	struct pcursor *c;

	if (!cur)
		return -ENOMEM;
	r->cur = cur;
	c = &cur[r->ncur++];
	memset(c, 0, sizeof(*c));
	snprintf(c->kind, sizeof(c->kind), "%s", kind);
	snprintf(c->name, sizeof(c->name), "%s", name);
	parse_fields(rest, cursor_fields, ARRAY_SIZE(cursor_fields), c, NULL, 0);
	return 0;
}

static int proc_line(struct pview *v, char *line)
{
	bool indented = line[0] == ' ';
	char *kind, *name;

	line[strcspn(line, "\n")] = '\0';
	kind = next_word(&line);
	name = kind ? next_word(&line) : NULL;
	if (!name)
		return 0;
	if (!indented && !strcmp(kind, "ring"))
		return proc_ring(v, name, line);
	if (indented && v->n && (!strcmp(kind, "reader") || !strcmp(kind, "sub") ||
				 !strcmp(kind, "sub+")))
		return proc_cursor(&v->rings[v->n - 1], kind, name, line);
	return 0;	/* the header line, or something newer */
}

static void proc_free(struct pview *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->rings[i].cur);
	free(v->rings);
}

/*
 * One snapshot of /proc/shmring (the module prints it in one go under its
 * lock). Returns an exit status, with the message printed.
 */
static int proc_load(struct pview *v)
{
	FILE *f = fopen(PROC_SHMRING, "re");
	char *line = NULL;
	size_t cap = 0;
	int err = 0;

	memset(v, 0, sizeof(*v));
	if (!f) {
		if (errno == ENOENT)
			return ring_error(NULL, -ENODEV);
		err_msg("cannot open %s: %s", PROC_SHMRING, strerror(errno));
		return CTL_FAIL;
	}
	while (!err && getline(&line, &cap, f) > 0)
		err = proc_line(v, line);
	if (!err && ferror(f))
		err = -EIO;
	free(line);
	fclose(f);
	if (err) {
		err_msg("cannot read %s: %s", PROC_SHMRING, strerror(-err));
		proc_free(v);
		return CTL_FAIL;
	}
	return CTL_OK;
}

static const struct pring *proc_find(const struct pview *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->rings[i].name, name))
			return &v->rings[i];
	return NULL;
}

/* The pid of the reader attached to subscription SUB, or 0. */
static uint64_t sub_reader_pid(const struct pring *r, const char *sub)
{
	for (size_t i = 0; i < r->ncur; i++)
		if (!strcmp(r->cur[i].kind, "reader") && !strcmp(r->cur[i].name, sub))
			return r->cur[i].pid;
	return 0;
}

/* ---- create ------------------------------------------------------------------------------ */

struct create_req {
	const char *name;
	struct shmring_attr attr;
	unsigned int mode;
	bool excl;
	bool size_set, policy_set, max_set, csum_set;
};

static int create_parse(const struct ctl_cmd *cmd, struct create_req *c,
			int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "max-record", required_argument, NULL, 'r' },
		{ "csum", no_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "exclusive", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "s:p:r:cm:xh", lopts, NULL)) != -1) {
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
	err_msg("%s: the kernel rejected the ring's attributes (size %" PRIu64
		", max_record %u): %s", c->name, size, c->attr.max_record, strerror(EINVAL));
	return CTL_FAIL;
}

static void print_attr(const char *what, const char *name, const struct shmring_attr *a)
{
	char sz[32];

	printf("%s %s: size %s, policy %s, max_record %u%s\n", what, name,
	       size_str(a->data_size, sz, sizeof(sz)),
	       a->policy == SHMRING_POLICY_LOSSLESS ? "lossless" : "overwrite",
	       a->max_record, a->flags & SHMRING_ATTR_CSUM ? ", csum" : "");
}

/* An existing ring is left as it is: say so if it differs from what was asked. */
static void create_compare(const struct create_req *c, const struct shmring_attr *a)
{
	char sz[32];

	if ((c->size_set && a->data_size != c->attr.data_size) ||
	    (c->policy_set && a->policy != c->attr.policy) ||
	    (c->max_set && c->attr.max_record && a->max_record != c->attr.max_record) ||
	    (c->csum_set && !(a->flags & SHMRING_ATTR_CSUM)))
		warn_msg("ring %s already exists with size %s, policy %s, max_record %u%s; "
			 "it was left as it is (--exclusive makes this an error)", c->name,
			 size_str(a->data_size, sz, sizeof(sz)),
			 a->policy == SHMRING_POLICY_LOSSLESS ? "lossless" : "overwrite",
			 a->max_record, a->flags & SHMRING_ATTR_CSUM ? ", csum" : ", no csum");
}

static int cmd_create(const struct ctl_cmd *cmd, const struct ctl_opts *o,
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

static int cmd_delete(const struct ctl_cmd *cmd, const struct ctl_opts *o,
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

/* ---- list --------------------------------------------------------------------------------- */

/* Options: --json and --help only. 1 for --json, 0 for text, -1 after --help. */
static int json_opt(const struct ctl_cmd *cmd, int argc, char **argv, int *json)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*json = 0;
	while ((c = getopt_long(argc, argv, "jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = 1;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return -1;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	return CTL_OK;
}

static void list_text(const struct pview *v, struct table *t)
{
	char sz[32], own[64];

	/* right-aligned: SIZE, RECORDS, LOST, READERS, SUBS */
	t->right = 1U << 1 | 1U << 3 | 1U << 4 | 1U << 5 | 1U << 6;
	table_add(t, "NAME\tSIZE\tPOLICY\tRECORDS\tLOST\tREADERS\tSUBS\tMODE\tOWNER");
	for (size_t i = 0; i < v->n; i++) {
		const struct pring *r = &v->rings[i];

		table_add(t, "%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
			  "\t%04" PRIo64 "\t%s", r->name, size_str(r->size, sz, sizeof(sz)),
			  r->policy, r->head_seq - r->tail_seq, r->lost, r->readers, r->subs,
			  r->mode, user_str(r->uid, own, sizeof(own)));
	}
}

/* The fields list and stat share, without braces. */
static void ring_json_common(const struct pring *r)
{
	char buf[64];

	fputs("\"name\": ", stdout);
	json_str(r->name);
	printf(", \"size\": %" PRIu64 ", \"policy\": ", r->size);
	json_str(r->policy);
	printf(", \"max_record\": %" PRIu64 ", \"csum\": %s, \"mode\": \"%04" PRIo64
	       "\", \"uid\": %" PRIu64 ", \"gid\": %" PRIu64 ", \"owner\": ", r->max_record,
	       r->flags & SHMRING_ATTR_CSUM ? "true" : "false", r->mode, r->uid, r->gid);
	json_str(user_str(r->uid, buf, sizeof(buf)));
	fputs(", \"group\": ", stdout);
	json_str(group_str(r->gid, buf, sizeof(buf)));
	printf(", \"records\": %" PRIu64 ", \"records_written\": %" PRIu64
	       ", \"lost\": %" PRIu64 ", \"readers\": %" PRIu64 ", \"subs\": %" PRIu64,
	       r->head_seq - r->tail_seq, r->records, r->lost, r->readers, r->subs);
}

/* A JSON array, one ring object per line. */
static void list_json(const struct pview *v)
{
	putchar('[');
	for (size_t i = 0; i < v->n; i++) {
		fputs(i ? ",\n  {" : "\n  {", stdout);
		ring_json_common(&v->rings[i]);
		putchar('}');
	}
	fputs(v->n ? "\n]\n" : "]\n", stdout);
}

static int cmd_list(const struct ctl_cmd *cmd, const struct ctl_opts *o,
		    int argc, char **argv)
{
	struct table t = { 0 };
	struct pview v;
	int json, ret;

	(void)o;
	ret = json_opt(cmd, argc, argv, &json);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	if (optind < argc) {
		err_msg("list takes no arguments");
		return cmd_bad_usage(cmd);
	}
	ret = proc_load(&v);
	if (ret)
		return ret;
	if (json) {
		list_json(&v);
	} else {
		list_text(&v, &t);
		ret = table_print(&t);
	}
	proc_free(&v);
	return ret ? ret : flush_stdout();
}

/* ---- stat --------------------------------------------------------------------------------- */

static void __attribute__((format(printf, 2, 3))) stat_line(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%-15s ", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Plain readers, then subscriptions with the pid of their reader if attached. */
static void stat_cursors(const struct pring *r, struct table *t)
{
	char when[40], pid[24];

	/* right-aligned: PID .. LOST */
	t->right = 0x3fU << 2;
	table_add(t, "CURSOR\tNAME\tPID\tSEQ\tLAG_RECORDS\tLAG_BYTES\tREAD\tLOST\tLAST_READ");
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < r->ncur; i++) {
			const struct pcursor *c = &r->cur[i];
			bool reader = !strcmp(c->kind, "reader");
			uint64_t p = reader ? c->pid : sub_reader_pid(r, c->name);

			/* a reader of a subscription is shown on the sub's row */
			if (pass == 0 ? !reader || strcmp(c->name, "-") : reader)
				continue;
			if (p)
				snprintf(pid, sizeof(pid), "%" PRIu64, p);
			else
				snprintf(pid, sizeof(pid), "-");
			table_add(t, "%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%"
				  PRIu64 "\t%" PRIu64 "\t%s", reader ? "reader" : "sub", c->name,
				  pid, c->seq, c->lag_records, c->lag_bytes, c->read, c->lost,
				  iso_time(c->last_read_ns, when, sizeof(when)));
		}
	}
}

static int stat_text(const struct pring *r)
{
	char a[64], b[64], sz[32];
	struct table t = { 0 };

	stat_line("name:", "%s", r->name);
	stat_line("size:", "%" PRIu64 " bytes (%s)", r->size, size_str(r->size, sz, sizeof(sz)));
	stat_line("policy:", "%s", r->policy);
	stat_line("max record:", "%" PRIu64 " bytes", r->max_record);
	stat_line("checksums:", "%s", r->flags & SHMRING_ATTR_CSUM ? "crc32c" : "no");
	stat_line("mode:", "%04" PRIo64, r->mode);
	stat_line("owner:", "%s (uid %" PRIu64 "), group %s (gid %" PRIu64 ")",
		  user_str(r->uid, a, sizeof(a)), r->uid, group_str(r->gid, b, sizeof(b)),
		  r->gid);
	stat_line("head:", "seq %" PRIu64 ", byte %" PRIu64, r->head_seq, r->head);
	stat_line("tail:", "seq %" PRIu64 ", byte %" PRIu64, r->tail_seq, r->tail);
	stat_line("held:", "%" PRIu64 " records, %" PRIu64 " bytes",
		  r->head_seq - r->tail_seq, r->head - r->tail);
	stat_line("written:", "%" PRIu64 " records, %" PRIu64 " payload bytes",
		  r->records, r->bytes);
	stat_line("lost:", "%" PRIu64 " records", r->lost);
	stat_line("writer waits:", "%" PRIu64, r->writer_waits);
	stat_line("last write:", "%s", iso_time(r->last_write_ns, a, sizeof(a)));
	stat_line("readers:", "%" PRIu64, r->readers);
	stat_line("subscriptions:", "%" PRIu64, r->subs);
	putchar('\n');
	stat_cursors(r, &t);
	return table_print(&t);
}

static void stat_json_cursor(const struct pring *r, const struct pcursor *c, bool first)
{
	bool reader = !strcmp(c->kind, "reader");
	uint64_t pid = reader ? c->pid : sub_reader_pid(r, c->name);

	printf("%s\n    {\"kind\": \"%s\", \"name\": ", first ? "" : ",",
	       reader ? "reader" : "sub");
	if (reader)
		fputs("null", stdout);
	else
		json_str(c->name);
	if (pid)
		printf(", \"pid\": %" PRIu64, pid);
	else
		fputs(", \"pid\": null", stdout);
	printf(", \"attached\": %s, \"pos\": %" PRIu64 ", \"seq\": %" PRIu64
	       ", \"lag_bytes\": %" PRIu64 ", \"lag_records\": %" PRIu64 ", \"read\": %"
	       PRIu64 ", \"lost\": %" PRIu64 ", \"last_read_ns\": %" PRIu64
	       ", \"last_read\": ", reader || !strcmp(c->kind, "sub+") ? "true" : "false",
	       c->pos, c->seq, c->lag_bytes, c->lag_records, c->read, c->lost,
	       c->last_read_ns);
	json_time(c->last_read_ns);
	putchar('}');
}

static void stat_json(const struct pring *r)
{
	bool first = true;

	fputs("{\n  ", stdout);
	ring_json_common(r);
	printf(",\n  \"head\": %" PRIu64 ", \"tail\": %" PRIu64 ", \"head_seq\": %" PRIu64
	       ", \"tail_seq\": %" PRIu64 ", \"held_bytes\": %" PRIu64 ",\n  \"bytes_written\": %"
	       PRIu64 ", \"writer_waits\": %" PRIu64 ", \"last_write_ns\": %" PRIu64
	       ", \"last_write\": ", r->head, r->tail, r->head_seq, r->tail_seq,
	       r->head - r->tail, r->bytes, r->writer_waits, r->last_write_ns);
	json_time(r->last_write_ns);
	fputs(",\n  \"cursors\": [", stdout);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < r->ncur; i++) {
			const struct pcursor *c = &r->cur[i];
			bool reader = !strcmp(c->kind, "reader");

			if (pass == 0 ? !reader || strcmp(c->name, "-") : reader)
				continue;
			stat_json_cursor(r, c, first);
			first = false;
		}
	}
	fputs(first ? "]\n}\n" : "\n  ]\n}\n", stdout);
}

static int cmd_stat(const struct ctl_cmd *cmd, const struct ctl_opts *o,
		    int argc, char **argv)
{
	const struct pring *r;
	const char *name;
	struct pview v;
	int json, ret;

	(void)o;
	ret = json_opt(cmd, argc, argv, &json);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	ret = ring_operand(cmd, argc, argv, &name);
	if (ret)
		return ret;
	ret = proc_load(&v);
	if (ret)
		return ret;
	r = proc_find(&v, name);
	if (!r)
		ret = ring_error(name, -ENOENT);
	else if (json)
		stat_json(r);
	else
		ret = stat_text(r);
	proc_free(&v);
	return ret ? ret : flush_stdout();
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

static void subs_print(const struct shmring_sub_info *s, unsigned int n,
		       const struct shmring_info *info, bool json)
{
	struct table t = { .right = 0xfU << 2 };
	char when[40];

	if (!json)
		table_add(&t, "NAME\tATTACHED\tPOS\tSEQ\tLAG_RECORDS\tLAG_BYTES\tLAST_READ");
	else
		putchar('[');
	for (unsigned int i = 0; i < n; i++) {
		uint64_t lag_rec = info->head_seq - s[i].seq, lag_bytes = info->head - s[i].pos;

		if (!json) {
			table_add(&t, "%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
				  "\t%s", s[i].name, s[i].attached ? "yes" : "no", (uint64_t)s[i].pos,
				  (uint64_t)s[i].seq, lag_rec, lag_bytes,
				  iso_time(s[i].last_read_ns, when, sizeof(when)));
			continue;
		}
		fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", stdout);
		json_str(s[i].name);
		printf(", \"attached\": %s, \"pos\": %" PRIu64 ", \"seq\": %" PRIu64
		       ", \"lag_records\": %" PRIu64 ", \"lag_bytes\": %" PRIu64
		       ", \"last_read_ns\": %" PRIu64 ", \"last_read\": ",
		       s[i].attached ? "true" : "false", (uint64_t)s[i].pos, (uint64_t)s[i].seq,
		       lag_rec, lag_bytes, (uint64_t)s[i].last_read_ns);
		json_time(s[i].last_read_ns);
		putchar('}');
	}
	if (json)
		fputs(n ? "\n]\n" : "]\n", stdout);
	else
		table_print(&t);
}

static int subs_list(const char *name, bool json)
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
	subs_print(subs, (unsigned int)n, &info, json);
	if (total > (unsigned int)n)
		warn_msg("%u more subscriptions not shown", total - (unsigned int)n);
	return flush_stdout();
}

static int cmd_subs(const struct ctl_cmd *cmd, const struct ctl_opts *o,
		    int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "delete", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name, *del = NULL;
	bool json = false;
	int c, ret;

	(void)o;
	while ((c = getopt_long(argc, argv, "jd:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'd':
			del = optarg;
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
	if (del) {
		ret = check_name(cmd, "subscription", del, SHMRING_SUB_NAME_MAX);
		return ret ? ret : subs_delete(name, del);
	}
	return subs_list(name, json);
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
	int ret = shmring_write(w->r, w->type, data, len);

	if (ret >= 0)
		return CTL_OK;
	snprintf(subject, sizeof(subject), "%s%s%s", w->name, what ? ": " : "", what ? what : "");
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

static int cmd_write(const struct ctl_cmd *cmd, const struct ctl_opts *o,
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

/* ---- main --------------------------------------------------------------------------- */

static const struct ctl_cmd ctl_commands[] = {
	{
		"load", cmd_load, "[-m|--module PATH] [PARAM=VALUE]...",
		"Insert the shmring module with the given parameters",
		"Without --module, the module is found like modprobe finds it (modules.dep\n"
		"of the running kernel) and inserted with its dependencies and softdeps;\n"
		"options from modprobe.d come first, then PARAM=VALUE.\n\n"
		"  -m, --module PATH  insert this shmring.ko instead of looking the module\n"
		"                     up in /lib/modules/$(uname -r)/modules.dep\n"
		"  -h, --help         show this help\n\n"
		"Parameters: default_size, max_size, max_total, max_user (bytes) and\n"
		"max_rings; see shmring-ctl(8).\n",
	},
	{
		"unload", cmd_unload, "[-f|--force]",
		"Remove the shmring module from the kernel",
		"Fails while rings are open or mapped.\n\n"
		"  -f, --force  force removal even if in use (needs\n"
		"               CONFIG_MODULE_FORCE_UNLOAD; dangerous)\n"
		"  -h, --help   show this help\n",
	},
	{
		"status", cmd_status, "[--json]",
		"Show whether shmring is loaded, its parameters and /dev/shmring",
		"Exit status 0 if shmring is loaded, 3 if not.\n\n"
		"  -j, --json  print a JSON object instead of text\n"
		"  -h, --help  show this help\n",
	},
	{
		"create", cmd_create,
		"NAME [-s SIZE] [-p overwrite|lossless] [-r BYTES] [-c] [-m MODE] [-x]",
		"Create a ring (nothing happens if it exists, unless --exclusive)",
		"  -s, --size BYTES        data size: a power of two, at least 4096; k, M, G\n"
		"                          suffixes (64k, 1M); default: the module's default_size\n"
		"  -p, --policy POLICY     overwrite (default: writers never wait, the oldest\n"
		"                          records are lost) or lossless (writers wait for\n"
		"                          the slowest reader)\n"
		"  -r, --max-record BYTES  largest payload; default a quarter of the size\n"
		"  -c, --csum              the kernel stores a crc32c of every payload\n"
		"  -m, --mode MODE         octal permission bits, umask applied (default 0644)\n"
		"  -x, --exclusive         fail (exit 13) if the ring already exists\n"
		"  -h, --help              show this help\n\n"
		"An existing ring is left as it is; a warning says so when its attributes\n"
		"differ from the ones given. Silent on success (-v says what happened).\n",
	},
	{
		"delete", cmd_delete, "NAME...",
		"Unlink rings (open handles keep working until closed)",
		"  -h, --help  show this help\n\n"
		"Needs the ring's owner or CAP_IPC_OWNER. Every NAME is tried; the exit\n"
		"status is that of the first failure.\n",
	},
	{
		"list", cmd_list, "[--json]",
		"List the rings of this IPC namespace",
		"Columns: NAME SIZE POLICY RECORDS (held now) LOST READERS SUBS MODE OWNER,\n"
		"from /proc/shmring.\n\n"
		"  -j, --json  print a JSON array, one ring object per line\n"
		"  -h, --help  show this help\n",
	},
	{
		"stat", cmd_stat, "NAME [--json]",
		"Show one ring: counters, positions, readers, subscriptions",
		"Read from /proc/shmring: no handle is opened, so the ring and its\n"
		"readers are seen as they are, and no permission on the ring is needed.\n\n"
		"  -j, --json  print a JSON object instead of text\n"
		"  -h, --help  show this help\n",
	},
	{
		"subs", cmd_subs, "NAME [--json | -d|--delete SUB]",
		"List or delete the durable subscriptions of a ring",
		"  -j, --json        print a JSON array instead of text\n"
		"  -d, --delete SUB  delete subscription SUB (not while a reader uses it;\n"
		"                    needs its creator, the ring's owner or CAP_IPC_OWNER)\n"
		"  -h, --help        show this help\n\n"
		"Needs read or write permission on the ring.\n",
	},
	{
		"write", cmd_write, "NAME [-t TYPE] [-n] {DATA | - | -l|--lines}",
		"Write records to a ring",
		"DATA is one record; - writes all of standard input as one record; --lines\n"
		"writes one record per line of standard input, without the newline.\n\n"
		"  -t, --type TYPE  record type (command code), decimal or 0x hex; default 0\n"
		"  -l, --lines      one record per line of standard input\n"
		"  -n, --nonblock   fail instead of waiting when a lossless ring is full\n"
		"  -h, --help       show this help\n\n"
		"Input above the ring's max_record is never cut or dropped silently: the\n"
		"record (with --lines: each such line, by number) is reported, the rest is\n"
		"written, and the exit status is 1.\n",
	},
};

#define NR_COMMANDS (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [-v] COMMAND [ARGS]...\n"
		"       %s COMMAND --help\n\n"
		"Load, unload and inspect the shmring kernel module; create, inspect,\n"
		"write and delete its rings.\n\nCommands:\n",
		PROG, PROG);
	for (size_t i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "  %-8s %s\n", ctl_commands[i].name, ctl_commands[i].help);
	fputs("\nOptions:\n"
	      "  -v, --verbose  show what is inserted and libkmod's messages; what\n"
	      "                 create and delete did\n"
	      "  -h, --help     show this help\n"
	      "  -V, --version  show the version\n\n"
	      "See shmring-ctl(8) for exit statuses, module parameters and output formats.\n", f);
}

static const struct ctl_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < NR_COMMANDS; i++)
		if (strcmp(ctl_commands[i].name, name) == 0)
			return &ctl_commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_opts o = { 0 };
	const struct ctl_cmd *cmd;
	char prog[] = PROG, cmd_name[64];
	int c;

	argv[0] = prog;		/* getopt's messages start with it */
	/* '+': stop at the subcommand, its options are its own */
	while ((c = getopt_long(argc, argv, "+vhV", lopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		case 'V':
			printf("%s %s\n", PROG, SHMRING_VERSION);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		err_msg("no command given");
		usage(stderr);
		return CTL_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		err_msg("unknown command '%s'", argv[optind]);
		usage(stderr);
		return CTL_USAGE;
	}
	argc -= optind;
	argv += optind;
	snprintf(cmd_name, sizeof(cmd_name), "%s %s", PROG, cmd->name);
	argv[0] = cmd_name;
	optind = 0;	/* reinitialise getopt for the subcommand's options */
	return cmd->fn(cmd, &o, argc, argv);
}
