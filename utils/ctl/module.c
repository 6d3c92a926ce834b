// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl: module management through libkmod (load, unload, status).
 *
 * Modules are found and inserted through libkmod, as modprobe does. Every
 * failure is turned into one readable sentence and its own exit status
 * (enum ctl_exit).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libkmod.h>

#include "ctl.h"

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

int cmd_load(const struct ctl_cmd *cmd, const struct ctl_opts *o,
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

int cmd_unload(const struct ctl_cmd *cmd, const struct ctl_opts *o,
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

/* A value as a JSON number when it is a plain decimal, else a string. */
static void json_value(struct json *j, const char *v)
{
	size_t n = strspn(v, "0123456789");

	if (n > 0 && n <= 19 && v[n] == '\0' && (v[0] != '0' || n == 1))
		json_printf(j, "%s", v);
	else
		json_str(j, v);
}

static void status_json_params(struct json *j, const struct status *s)
{
	char val[256];

	json_key(j, "parameters");
	json_obj_open(j, JSON_BREAK);
	for (int i = 0; i < s->nparams; i++) {
		const char *name = s->params[i]->d_name;

		json_key(j, name);
		if (param_value(name, val, sizeof(val)))
			json_value(j, val);
		else
			json_null(j);
	}
	json_obj_close(j);
}

static int status_json(const struct status *s, const char *release, const struct ctl_opts *o)
{
	struct json j;

	ctl_json(&j, o);
	json_obj_open(&j, JSON_BREAK);
	json_kstr(&j, "module", MODNAME);
	json_kstr(&j, "kernel", release);
	json_kbool(&j, "loaded", s->state >= 0);
	json_key(&j, "state");
	json_str_or_null(&j, s->state >= 0 ? state_str(s->state) : NULL);
	json_key(&j, "version");
	json_str_or_null(&j, s->version[0] ? s->version : NULL);
	json_key(&j, "refcnt");
	if (s->refcnt >= 0)
		json_i64(&j, s->refcnt);
	else
		json_null(&j);
	json_key(&j, "holders");
	json_arr_open(&j, JSON_FLOW);
	for (const char *h = s->holders; h && *h; ) {
		size_t n = strcspn(h, ",");

		json_strn(&j, h, n);
		h += n;
		h += strspn(h, ", ");
	}
	json_arr_close(&j);
	status_json_params(&j, s);
	json_key(&j, "module_file");
	json_str_or_null(&j, s->file);
	json_key(&j, "device");
	json_obj_open(&j, JSON_BREAK);
	json_kstr(&j, "path", SHMRING_DEVICE);
	json_kbool(&j, "exists", s->dev_exists);
	if (s->dev_exists) {
		json_kbool(&j, "char", S_ISCHR(s->dev.st_mode));
		json_ku64(&j, "major", major(s->dev.st_rdev));
		json_ku64(&j, "minor", minor(s->dev.st_rdev));
		json_key(&j, "mode");
		json_printf(&j, "\"%04o\"", (unsigned int)(s->dev.st_mode & 07777));
	}
	json_obj_close(&j);
	json_obj_close(&j);
	return ctl_json_end(&j);
}

int cmd_status(const struct ctl_cmd *cmd, const struct ctl_opts *o,
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
	bool json = o->json;
	int c, ret;

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
	if (json) {
		ret = status_json(&s, kernel_release(&u), o);
	} else {
		status_text(&s, kernel_release(&u));
		ret = flush_stdout();
	}
	kmod_unref(ctx);
	status_free(&s);
	if (ret)
		return ret;
	return s.state >= 0 ? CTL_OK : CTL_NOT_LOADED;
}

