// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl metrics [-o FILE]: every ring's counters in the Prometheus
 * text format (prom.c), from one read of /proc/shmring, like stat. With
 * -o the file is replaced atomically (a temporary file in the same
 * directory, then rename(2)), as node_exporter's textfile collector
 * wants: a scrape never sees half a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

static size_t read_params(struct prom_param *p)
{
	char buf[64];
	size_t n = 0;

	for (size_t i = 0; i < PROM_NPARAMS; i++) {
		p[n].name = prom_param_names[i];
		p[n].have = param_value(prom_param_names[i], buf, sizeof(buf)) &&
			    parse_u64(buf, &p[n].value);
		n++;
	}
	return n;
}

/* FILE.XXXXXX beside FILE, filled, synced, renamed over FILE: an exit status. */
static int write_atomic(const char *path, const struct pview *v,
			const struct prom_param *p, size_t np)
{
	size_t len = strlen(path);
	char *tmp = malloc(len + 8);
	int fd, ret = CTL_FAIL;
	FILE *f;

	if (!tmp) {
		err_msg("out of memory");
		return CTL_FAIL;
	}
	memcpy(tmp, path, len);
	memcpy(tmp + len, ".XXXXXX", 8);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err_msg("cannot create a temporary file beside %s: %s", path, strerror(errno));
		free(tmp);
		return CTL_FAIL;
	}
	/* mkstemp makes it 0600; a collector running as another user must read it. */
	if (fchmod(fd, 0644) < 0) {
		err_msg("cannot chmod %s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err_msg("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	prom_write(f, v, p, np);
	if (fflush(f) != 0 || ferror(f) || fsync(fd) < 0) {
		err_msg("cannot write %s: %s", tmp, strerror(errno));
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0) {
		err_msg("cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		err_msg("cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	ret = CTL_OK;
out:
	if (ret)
		unlink(tmp);
	free(tmp);
	return ret;
}

int cmd_metrics(const struct ctl_cmd *cmd, const struct ctl_opts *o,
		int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct prom_param p[PROM_NPARAMS];
	const char *out = NULL;
	struct pview v;
	bool absent;
	size_t np;
	int c, ret;

	(void)o;
	while ((c = getopt_long(argc, argv, "o:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return CTL_OK;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	if (optind < argc) {
		err_msg("metrics takes no arguments");
		return cmd_bad_usage(cmd);
	}
	if (out && !*out) {
		err_msg("metrics: -o needs a file name");
		return cmd_bad_usage(cmd);
	}
	/* Not loaded is a state to report (shmring_module_loaded 0), not a failure. */
	ret = proc_read(&v, &absent);
	if (ret && !absent)
		return ret;
	np = absent ? 0 : read_params(p);
	if (out) {
		ret = write_atomic(out, absent ? NULL : &v, p, np);
	} else {
		prom_write(stdout, absent ? NULL : &v, p, np);
		ret = flush_stdout();
	}
	if (!absent)
		proc_free(&v);
	return ret;
}
