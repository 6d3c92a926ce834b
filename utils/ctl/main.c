// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl: load, unload and inspect the shmring kernel module, and
 * manage its rings.
 *
 *   shmring-ctl [-v] load [-m PATH] [PARAM=VALUE]...
 *   shmring-ctl [-v] unload [-f]
 *   shmring-ctl [-j [-p]] status [--json]
 *   shmring-ctl [-v] create NAME [-s SIZE] [-p POLICY] [-r BYTES] [-c] [-z [-k SIZE]]
 *                           [-m MODE] [-x]
 *   shmring-ctl [-v] delete NAME...
 *   shmring-ctl [-j [-p]] list [--json] [-i|--interval SECS [-c COUNT]]
 *   shmring-ctl [-j [-p]] stat NAME [--json] [-i|--interval SECS [-c COUNT]]
 *   shmring-ctl metrics [-o FILE]
 *   shmring-ctl [-j [-p]] subs NAME [--json | --delete SUB | --reset SUB --to POS]
 *   shmring-ctl [-v] chown NAME USER[:GROUP]
 *   shmring-ctl [-v] chmod NAME MODE
 *   shmring-ctl write NAME [-t TYPE] [-n] {DATA | - | --lines}
 *   shmring-ctl [-v] apply [--check] [--recreate] FILE...
 *   shmring-ctl replay [--time-map keep|now] [--from-seq N] [-n COUNT] FILE... RING
 *
 * Module management is module.c (libkmod), ring administration rings.c
 * (libshmring), the views of the rings views.c (see ctl.h). Every
 * failure is turned into one readable sentence and its own exit status
 * (enum ctl_exit, documented in man/shmring-ctl.8). Subcommands are rows
 * of the command table below.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

void cmd_usage(const struct ctl_cmd *cmd, FILE *f)
{
	fprintf(f, "Usage: %s %s %s\n\n%s.\n\n%s", PROG, cmd->name, cmd->args,
		cmd->help, cmd->details);
}

/* Try `shmring-ctl CMD --help`: for option errors inside a subcommand. */
int cmd_bad_usage(const struct ctl_cmd *cmd)
{
	fprintf(stderr, "Try '%s %s --help' for more information.\n", PROG, cmd->name);
	return CTL_USAGE;
}

bool read_line(const char *path, char *buf, size_t len)
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

bool param_value(const char *name, char *buf, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), SYSFS_MODULE "/parameters/%s", name);
	return read_line(path, buf, len);
}

void ctl_json(struct json *j, const struct ctl_opts *o)
{
	json_init(j, stdout, o->pretty ? JSON_PRETTY : JSON_SPACED);
}

int ctl_json_end(struct json *j)
{
	if (json_end(j)) {
		err_msg("write error: %s", strerror(errno));
		return CTL_FAIL;
	}
	return flush_stdout();
}

int flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		err_msg("write error: %s", strerror(errno));
		return CTL_FAIL;
	}
	return CTL_OK;
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
		"  -j, --json  print a JSON object instead of text (as the global -j)\n"
		"  -h, --help  show this help\n",
	},
	{
		"create", cmd_create,
		"NAME [-s SIZE] [-p overwrite|lossless] [-r BYTES] [-c] [-z [-k SIZE]] [-m MODE] [-x]",
		"Create a ring (nothing happens if it exists, unless --exclusive)",
		"  -s, --size BYTES        data size: a power of two, at least 4096; k, M, G\n"
		"                          suffixes (64k, 1M); default: the module's default_size\n"
		"  -p, --policy POLICY     overwrite (default: writers never wait, the oldest\n"
		"                          records are lost) or lossless (writers wait for\n"
		"                          the slowest reader)\n"
		"  -r, --max-record BYTES  largest payload; default a quarter of the size\n"
		"  -c, --csum              every record carries a crc32c of its payload\n"
		"  -z, --zerocopy          a zero-copy ring: writers fill records in place in\n"
		"                          chunks the kernel grants, with no system call per\n"
		"                          record (shmring_zc_reserve(3)); with --csum the\n"
		"                          writers store the checksums\n"
		"  -k, --chunk SIZE        with --zerocopy: bytes per chunk, a power of two from\n"
		"                          the page size to half the ring (default: a sixteenth\n"
		"                          of the ring within [page, 256k], raised to fit\n"
		"                          --max-record)\n"
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
		"list", cmd_list, "[--json] [-i|--interval SECS [-c|--count COUNT]]",
		"List the rings of this IPC namespace",
		"Columns: NAME SIZE POLICY RECORDS (held now) LOST READERS SUBS MODE OWNER.\n"
		"Only the rings you may read are listed (SHMRING_IOC_LIST; /proc/shmring\n"
		"on kernels without it).\n\n"
		"  -j, --json            print a JSON array, one ring object per line (as\n"
		"                        the global -j); with --interval, one JSON object\n"
		"                        per line\n"
		"  -i, --interval SECS   like vmstat: every SECS seconds (decimals allowed),\n"
		"                        one line per ring with the rates since the sample\n"
		"                        before: records/s, bytes/s, lost/s, writer waits/s.\n"
		"                        The first line comes after SECS seconds (rates\n"
		"                        over the first interval). Rings that appear or\n"
		"                        disappear are marked new or gone, a ring whose\n"
		"                        counters went back (deleted and created again,\n"
		"                        module reloaded) reset, with no rates that time.\n"
		"                        Stops on SIGINT or SIGTERM (exit status 0)\n"
		"  -c, --count COUNT     with --interval: stop after COUNT intervals\n"
		"  -h, --help            show this help\n",
	},
	{
		"stat", cmd_stat, "NAME [--json] [-i|--interval SECS [-c|--count COUNT]]",
		"Show one ring: counters, positions, readers, subscriptions",
		"Read from /proc/shmring: no handle is opened, so the ring and its\n"
		"readers are seen as they are, and no permission on the ring is needed\n"
		"beyond being allowed to see it.\n\n"
		"  -j, --json           print a JSON object instead of text (as the global\n"
		"                       -j); with --interval, one JSON object per line\n"
		"  -i, --interval SECS  rates of NAME every SECS seconds, as list --interval\n"
		"                       (NAME must exist at the start)\n"
		"  -c, --count COUNT    with --interval: stop after COUNT intervals\n"
		"  -h, --help           show this help\n",
	},
	{
		"metrics", cmd_metrics, "[-o|--output FILE]",
		"Print every ring's counters in the Prometheus text format",
		"For node_exporter's textfile collector (-o DIR/shmring.prom from a timer)\n"
		"or any HTTP wrapper. Metric names start with shmring_, counters end in\n"
		"_total, sizes are bytes, times seconds; each ring is labelled\n"
		"ring=\"NAME\". When the module is not loaded, only\n"
		"shmring_module_loaded 0 is printed (exit status 0). The rings are\n"
		"those of the caller's IPC namespace that the caller may read.\n\n"
		"  -o, --output FILE  write FILE atomically (a temporary file beside it,\n"
		"                     then rename), mode 0644, instead of standard output\n"
		"  -h, --help         show this help\n",
	},
	{
		"subs", cmd_subs, "NAME [--json | -d|--delete SUB | -r|--reset SUB --to POS]",
		"List, delete or move the durable subscriptions of a ring",
		"  -j, --json        print a JSON array instead of text (as the global -j);\n"
		"                    with --reset, a JSON object with the new position\n"
		"  -d, --delete SUB  delete subscription SUB (not while a reader uses it;\n"
		"                    needs its creator, the ring's owner or CAP_IPC_OWNER)\n"
		"  -r, --reset SUB   move subscription SUB (which must exist, with no reader\n"
		"                    attached) to --to POS; silent unless -v or --json\n"
		"      --to POS      oldest (the oldest record held), end (after the newest:\n"
		"                    only records written from now on), seq=N (the record\n"
		"                    numbered N, still held), or time=WHEN (the first record\n"
		"                    committed at or after WHEN: wall-clock time, ISO-8601\n"
		"                    as shmring-dump prints it, e.g. 2026-12-01T12:00:00Z,\n"
		"                    or nanoseconds since the epoch)\n"
		"  -h, --help        show this help\n\n"
		"Needs read or write permission on the ring; --reset also needs to be\n"
		"allowed to attach SUB (its creator, a shared subscription, or\n"
		"CAP_IPC_OWNER).\n",
	},
	{
		"chown", cmd_chown, "NAME USER[:GROUP] | NAME :GROUP",
		"Change the owner and/or group of a ring",
		"USER and GROUP are names or numbers; USER: (with the colon) also sets the\n"
		"group to USER's login group, :GROUP changes only the group.\n\n"
		"  -h, --help  show this help\n\n"
		"Needs the ring's owner or CAP_IPC_OWNER. The ring's memory stays charged\n"
		"to the user who created it. Silent on success (-v says what changed).\n",
	},
	{
		"chmod", cmd_chmod, "NAME MODE",
		"Change the permission bits of a ring",
		"MODE is octal, at most 0777 (no umask is applied). Read permission lets\n"
		"a user attach readers and see the ring in list, stat and /proc/shmring;\n"
		"write permission lets a user write records.\n\n"
		"  -h, --help  show this help\n\n"
		"Needs the ring's owner or CAP_IPC_OWNER. Silent on success (-v says what\n"
		"changed).\n",
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
		"written, and the exit status is 1. A zero-copy ring is written in place\n"
		"(shmring_zc_write(3)), which needs read permission on the ring too.\n",
	},
	{
		"apply", cmd_apply, "[-c|--check] [-R|--recreate] FILE...",
		"Create or fix the rings described by configuration files",
		"Each FILE describes one ring (shmring-ring.conf(5)): name, size, policy,\n"
		"max_record, csum, zerocopy, chunk, owner and mode. Every FILE is parsed\n"
		"first; any bad line (reported as FILE:LINE) stops the run before anything\n"
		"is changed (exit 2). Then a missing ring is created and an existing\n"
		"one gets the configured owner, group and mode, keeping its records. A ring\n"
		"whose size, policy, max_record, csum or zero-copy attributes differ from\n"
		"its file is reported and left as it is (exit 1). Prints one line per\n"
		"change; nothing when every ring is already as configured.\n\n"
		"  -c, --check     only parse and validate the files; touch no ring\n"
		"                  (-v prints what each file describes)\n"
		"  -R, --recreate  delete and re-create a ring whose attributes differ\n"
		"                  (its records are lost)\n"
		"  -h, --help      show this help\n",
	},
	{
		"replay", cmd_replay,
		"[--time-map keep|now] [--from-seq N] [-n COUNT] FILE... RING",
		"Write the records of captures (shmring-dump -w) into a ring",
		"Records are written in file order with their types and payloads; the\n"
		"kernel gives them new sequence numbers and timestamps (docs/replay.md).\n\n"
		"      --time-map now   (default) only order, types and payloads are kept;\n"
		"                       the original times stay in the capture files\n"
		"      --time-map keep  before each record, a time-map record (type\n"
		"                       0xffff5254) carries its original sequence number,\n"
		"                       timestamp and writer pid\n"
		"      --from-seq N     skip records numbered below N in the captures\n"
		"  -n, --count COUNT    replay at most COUNT records\n"
		"      --nonblock       fail instead of waiting when a lossless ring is full\n"
		"  -h, --help           show this help\n\n"
		"A lossless ring makes replay wait for its readers; nothing is dropped. A\n"
		"file cut short (a dumper killed mid-frame) is replayed up to its last\n"
		"whole record, with a warning. Prints the counts on standard error.\n",
	},
};

#define NR_COMMANDS ARRAY_SIZE(ctl_commands)

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [-v] [-j [-p]] COMMAND [ARGS]...\n"
		"       %s COMMAND --help\n\n"
		"Load, unload and inspect the shmring kernel module; create, inspect,\n"
		"write, change and delete its rings.\n\nCommands:\n",
		PROG, PROG);
	for (size_t i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "  %-8s %s\n", ctl_commands[i].name, ctl_commands[i].help);
	fputs("\nOptions (before the command):\n"
	      "  -v, --verbose  show what is inserted and libkmod's messages; what\n"
	      "                 create, delete, chown, chmod and subs --reset did;\n"
	      "                 apply --check: what each file describes\n"
	      "  -j, --json     JSON output (status, list, stat, subs, subs --reset; the\n"
	      "                 others print nothing to format and ignore it, metrics\n"
	      "                 prints the Prometheus format)\n"
	      "  -p, --pretty   indented JSON, one member per line (implies -j)\n"
	      "  -h, --help     show this help\n"
	      "  -V, --version  show the version\n\n"
	      "Exit status: 0 ok, 1 failure, 2 usage error, 3 the module is not loaded\n"
	      "(`shmring-ctl load` loads it; the same status in every shmring tool),\n"
	      "4-14 see shmring-ctl(8).\n\n"
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
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_opts o = { 0 };
	const struct ctl_cmd *cmd;
	char prog[] = PROG, cmd_name[64];
	int c;

	prog_name = PROG;
	argv[0] = prog;		/* getopt's messages start with it */
	/* '+': stop at the subcommand, its options are its own */
	while ((c = getopt_long(argc, argv, "+vjphV", lopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			o.verbose = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'p':
			o.json = o.pretty = true;	/* as bpftool -p */
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		case 'V':
			print_version();
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

