// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl replay: write the records of captures (shmring-dump -w,
 * docs/capture-format.md) into a ring again, in file order, with their
 * types and payloads. The design, and the time-map records of
 * --time-map keep, are in docs/replay.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "replay.h"
#include "../capture.h"

struct replay_req {
	const char *ring;
	bool keep_time;
	bool nonblock;
	uint64_t from_seq;
	bool have_count;
	uint64_t count;
	struct shmring *r;
	uint32_t max_record;
	bool zc;
	/* counts */
	uint64_t written, maps, skipped, lost_notes, files;
};

static int replay_parse(const struct ctl_cmd *cmd, struct replay_req *q, int argc, char **argv)
{
	enum { OPT_TIME_MAP = 256, OPT_FROM_SEQ, OPT_NONBLOCK };
	static const struct option lopts[] = {
		{ "time-map", required_argument, NULL, OPT_TIME_MAP },
		{ "from-seq", required_argument, NULL, OPT_FROM_SEQ },
		{ "count", required_argument, NULL, 'n' },
		{ "nonblock", no_argument, NULL, OPT_NONBLOCK },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "n:h", lopts, NULL)) != -1) {
		switch (c) {
		case OPT_TIME_MAP:
			if (!strcmp(optarg, "keep")) {
				q->keep_time = true;
			} else if (!strcmp(optarg, "now")) {
				q->keep_time = false;
			} else {
				err_msg("invalid --time-map '%s': keep or now", optarg);
				return cmd_bad_usage(cmd);
			}
			break;
		case OPT_FROM_SEQ:
			if (!parse_u64(optarg, &q->from_seq)) {
				err_msg("invalid --from-seq '%s': a sequence number", optarg);
				return cmd_bad_usage(cmd);
			}
			break;
		case 'n':
			if (!parse_u64(optarg, &q->count)) {
				err_msg("invalid count '%s': a number of records", optarg);
				return cmd_bad_usage(cmd);
			}
			q->have_count = true;
			break;
		case OPT_NONBLOCK:
			q->nonblock = true;
			break;
		case 'h':
			cmd_usage(cmd, stdout);
			return -1;
		default:
			return cmd_bad_usage(cmd);
		}
	}
	if (argc - optind < 2) {
		err_msg("replay: missing %s", optind < argc ? "RING (after the FILEs)" :
			"FILE and RING");
		return cmd_bad_usage(cmd);
	}
	q->ring = argv[argc - 1];
	return check_name(cmd, "ring", q->ring, SHMRING_NAME_MAX);
}

void replay_map_encode(const struct shmring_record *rec, unsigned char *buf)
{
	memset(buf, 0, REPLAY_MAP_LEN);
	put32(buf + 0, REPLAY_MAP_MAGIC);
	put32(buf + 4, rec->type);
	put64(buf + 8, rec->seq);
	put64(buf + 16, rec->realtime_ns);
	put32(buf + 24, rec->pid);
	put32(buf + 28, rec->len);
	put32(buf + 32, shmring_crc32c(rec->data, rec->len));
}

static int put_one(struct replay_req *q, uint32_t type, const void *data, uint32_t len)
{
	int ret = q->zc ? shmring_zc_write(q->r, type, data, len)
			: shmring_write(q->r, type, data, len);

	if (ret >= 0)
		return CTL_OK;
	if (ret == -EAGAIN && q->nonblock) {
		err_msg("%s: the lossless ring is full (a reader or subscription is behind) "
			"and --nonblock was given: stopped", q->ring);
		return CTL_FAIL;
	}
	if (ret == -EACCES && q->zc) {
		err_msg("%s: a zero-copy ring is written in place, which needs read "
			"permission on it as well as write permission", q->ring);
		return CTL_DENIED;
	}
	return ring_error(q->ring, ret);
}

static int replay_record(struct replay_req *q, const char *file, const struct shmring_record *rec)
{
	unsigned char map[REPLAY_MAP_LEN];
	int ret;

	if (rec->len > q->max_record) {
		err_msg("%s: record seq %" PRIu64 " has %" PRIu32 " bytes, more than ring %s's "
			"max_record (%" PRIu32 "): stopped (create the ring with a larger "
			"max_record)", file, rec->seq, rec->len, q->ring, q->max_record);
		return CTL_FAIL;
	}
	if (q->keep_time) {
		replay_map_encode(rec, map);
		ret = put_one(q, REPLAY_MAP_TYPE, map, sizeof(map));
		if (ret)
			return ret;
		q->maps++;
	}
	ret = put_one(q, rec->type, rec->data, rec->len);
	if (!ret)
		q->written++;
	return ret;
}

/* One capture file; CTL_OK also when it ends in a partial frame. */
static int replay_file(struct replay_req *q, const char *file)
{
	struct cap_reader cr;
	struct cap_frame fr;
	int ret, status = CTL_OK;
	FILE *in;

	in = strcmp(file, "-") ? fopen(file, "rbe") : stdin;
	if (!in) {
		err_msg("%s: %s", file, strerror(errno));
		return CTL_FAIL;
	}
	ret = cap_reader_open(&cr, cap_read_stdio, in);
	if (ret) {
		err_msg("%s: %s", file, ret == CAP_EIO ? strerror(cr.sys_errno) : cr.err);
		status = CTL_FAIL;
		goto out;
	}
	q->files++;
	while (!q->have_count || q->written < q->count) {
		ret = cap_reader_next(&cr, &fr);
		if (ret == CAP_OK)
			break;
		if (ret == CAP_ETRUNC) {
			warn_msg("%s: %s: the file was cut short (a dumper stopped mid-write?); "
				 "the records before it were replayed", file, cr.err);
			break;
		}
		if (ret < 0) {
			err_msg("%s: %s; stopped there", file,
				ret == CAP_EIO ? strerror(cr.sys_errno) : cr.err);
			status = CTL_FAIL;
			break;
		}
		if (fr.kind == CAP_LOST) {
			q->lost_notes++;
			continue;
		}
		if (fr.rec.seq < q->from_seq || (fr.rec.flags & SHMRING_REC_DISCARD)) {
			q->skipped++;
			continue;
		}
		status = replay_record(q, file, &fr.rec);
		if (status)
			break;
	}
	cap_reader_close(&cr);
out:
	if (in != stdin)
		fclose(in);
	return status;
}

int cmd_replay(const struct ctl_cmd *cmd, const struct ctl_opts *o, int argc, char **argv)
{
	struct replay_req q = { 0 };
	struct shmring_info info;
	int ret, status = CTL_OK;

	(void)o;
	ret = replay_parse(cmd, &q, argc, argv);
	if (ret)
		return ret < 0 ? CTL_OK : ret;
	ret = shmring_open(q.ring, SHMRING_O_WRITE | (q.nonblock ? SHMRING_O_NONBLOCK : 0),
			   0, NULL, &q.r);
	if (ret)
		return ring_error(q.ring, ret);
	ret = shmring_info(q.r, &info);
	if (ret) {
		shmring_close(q.r);
		return ring_error(q.ring, ret);
	}
	q.max_record = info.attr.max_record;
	q.zc = info.attr.flags & SHMRING_ATTR_ZEROCOPY;
	if (q.keep_time && q.max_record < REPLAY_MAP_LEN) {
		err_msg("%s: --time-map keep needs a max_record of at least %d bytes (it is "
			"%" PRIu32 ")", q.ring, REPLAY_MAP_LEN, q.max_record);
		shmring_close(q.r);
		return CTL_FAIL;
	}
	for (int i = optind; i < argc - 1 && status == CTL_OK; i++) {
		if (q.have_count && q.written >= q.count)
			break;
		status = replay_file(&q, argv[i]);
	}
	shmring_close(q.r);
	fprintf(stderr, "%s: replayed %" PRIu64 " record%s from %" PRIu64 " file%s into %s",
		PROG, q.written, q.written == 1 ? "" : "s", q.files, q.files == 1 ? "" : "s",
		q.ring);
	if (q.maps)
		fprintf(stderr, ", with %" PRIu64 " time-map record%s", q.maps,
			q.maps == 1 ? "" : "s");
	if (q.skipped)
		fprintf(stderr, ", %" PRIu64 " skipped (--from-seq, discarded)", q.skipped);
	if (q.lost_notes)
		fprintf(stderr, ", %" PRIu64 " lost-records note%s not replayable", q.lost_notes,
			q.lost_notes == 1 ? "" : "s");
	fputc('\n', stderr);
	return status;
}
