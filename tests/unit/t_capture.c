// SPDX-License-Identifier: GPL-2.0
/*
 * Native tests of shmring-dump's capture format and printer (utils/capture.c):
 * round trip through a file, one write(2) per frame, truncated and corrupt
 * files, absurd lengths, lost-record frames and lines, the output formats;
 * and of the core the tools share (utils/common.c, utils/json.c): number
 * parsing with size suffixes, ISO times, the JSON writer's layouts.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmring.h"
#include "../tap.h"
#include "../../utils/capture.h"
#include "../../utils/common.h"
#include "../../utils/json.h"

#define MAX_RECORD	(1U << 20)

struct mem {
	const unsigned char *p;
	size_t len, off;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct mem *m = ctx;
	size_t n = m->len - m->off < len ? m->len - m->off : len;

	memcpy(buf, m->p + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

static struct cap_info test_info(void)
{
	struct cap_info info;

	memset(&info, 0, sizeof(info));
	strcpy(info.name, "orders.v2");
	info.data_size = 4 * MAX_RECORD;
	info.max_record = MAX_RECORD;
	info.policy = SHMRING_POLICY_OVERWRITE;
	info.ring_flags = SHMRING_ATTR_CSUM;
	info.abi_version = SHMRING_ABI_VERSION;
	info.start_ns = 1714566896123456789ULL;
	info.start_seq = 100;
	return info;
}

static struct shmring_record mkrec(uint64_t seq, const void *data, uint32_t len)
{
	struct shmring_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.data = data;
	rec.len = len;
	rec.type = (uint32_t)(seq * 7 % 5);
	rec.seq = seq;
	rec.tstamp_ns = 1714566896123456789ULL + seq;
	rec.realtime_ns = rec.tstamp_ns;
	rec.pid = 4242;
	if (seq & 1) {
		rec.flags = SHMRING_REC_CSUM;
		rec.csum = shmring_crc32c(data, len);
	}
	return rec;
}

/* The sample capture: records of awkward sizes and one lost frame. */
#define NR_SAMPLE 8
static const uint32_t sample_len[NR_SAMPLE] = { 0, 1, 7, 8, 9, 100, 4095, 70000 };
static unsigned char payload[70000];

/* Frame end offsets of the sample file, for the truncation test. */
static size_t frame_end[NR_SAMPLE + 1];

static char *write_sample(size_t *size)
{
	struct cap_info info = test_info();
	struct shmring_record rec;
	struct cap_writer w;
	char *path = strdup("/tmp/t_capture.XXXXXX");
	int fd, i, ret = 0;

	fd = mkstemp(path);
	if (fd < 0)
		bail_out("mkstemp: %s", strerror(errno));
	is_int(cap_writer_open(&w, fd, &info), 0, "writer writes the header");
	is_int(w.bytes, CAP_HDR_LEN_V1, "header is %d bytes", CAP_HDR_LEN_V1);
	for (i = 0; i < NR_SAMPLE; i++) {
		if (i == 4) {
			ret |= cap_write_lost(&w, 104, 120);
			frame_end[NR_SAMPLE] = (size_t)w.bytes;	/* the lost frame */
		}
		rec = mkrec(100 + (uint64_t)i + (i >= 4 ? 17 : 0), payload, sample_len[i]);
		ret |= cap_write_record(&w, &rec);
		frame_end[i] = (size_t)w.bytes;
	}
	is_int(ret, 0, "%d records and a lost frame written", NR_SAMPLE);
	is_int(lseek(fd, 0, SEEK_END), (long long)w.bytes, "file size is what the writer counted");
	*size = (size_t)w.bytes;
	cap_writer_close(&w);
	close(fd);
	return path;
}

static unsigned char *slurp(const char *path, size_t size)
{
	unsigned char *buf = malloc(size);
	FILE *f = fopen(path, "rb");

	if (!buf || !f || fread(buf, 1, size, f) != size)
		bail_out("reading %s back failed", path);
	fclose(f);
	return buf;
}

static void test_round_trip(const char *path)
{
	struct cap_info want = test_info();
	struct shmring_record rec;
	struct cap_reader r;
	struct cap_frame fr;
	int i, ret, good = 0;
	FILE *f = fopen(path, "rb");

	if (!f)
		bail_out("fopen %s: %s", path, strerror(errno));
	is_int(cap_reader_open(&r, cap_read_stdio, f), CAP_OK, "reader accepts the header");
	ok(!strcmp(r.info.name, want.name) && r.info.data_size == want.data_size &&
	   r.info.max_record == want.max_record && r.info.policy == want.policy &&
	   r.info.ring_flags == want.ring_flags && r.info.start_ns == want.start_ns &&
	   r.info.start_seq == want.start_seq && r.info.abi_version == want.abi_version &&
	   r.info.version == CAP_VERSION && r.info.hdr_len == CAP_HDR_LEN_V1,
	   "header fields survive the round trip");
	for (i = 0; i < NR_SAMPLE; i++) {
		if (i == 4) {
			ret = cap_reader_next(&r, &fr);
			ok(ret == CAP_LOST && fr.lost_from == 104 && fr.lost_to == 120,
			   "lost frame 104..120 read back");
		}
		rec = mkrec(100 + (uint64_t)i + (i >= 4 ? 17 : 0), payload, sample_len[i]);
		ret = cap_reader_next(&r, &fr);
		if (ret == CAP_RECORD && fr.rec.len == rec.len && fr.rec.seq == rec.seq &&
		    fr.rec.type == rec.type && fr.rec.realtime_ns == rec.realtime_ns &&
		    fr.rec.pid == rec.pid && fr.rec.flags == rec.flags &&
		    fr.rec.csum == rec.csum && !memcmp(fr.rec.data, payload, rec.len) &&
		    shmring_record_csum_ok(&fr.rec))
			good++;
		else
			diag("record %d: ret %d len %u seq %llu", i, ret, fr.rec.len,
			     (unsigned long long)fr.rec.seq);
	}
	is_int(good, NR_SAMPLE, "every record's fields and payload survive");
	is_int(cap_reader_next(&r, &fr), CAP_OK, "then a clean end of file");
	ok(r.buf_size <= 2 * 70000 + 4096, "reader buffer stays near the largest frame (%zu)",
	   r.buf_size);
	cap_reader_close(&r);
	fclose(f);
}

/* Read everything; returns the last status and counts frames. */
static int read_all(const unsigned char *p, size_t len, int *records, int *lost,
		    struct cap_reader *out)
{
	struct mem m = { .p = p, .len = len };
	struct cap_reader r;
	struct cap_frame fr;
	int ret;

	*records = *lost = 0;
	ret = cap_reader_open(&r, mem_read, &m);
	if (ret == CAP_OK) {
		while ((ret = cap_reader_next(&r, &fr)) > 0) {
			if (ret == CAP_RECORD)
				++*records;
			else
				++*lost;
		}
	}
	if (out)
		*out = r;
	else
		cap_reader_close(&r);
	return ret;
}

static void test_truncation(const unsigned char *file, size_t size)
{
	int records, lost, want, ret, bad = 0, i;
	struct cap_reader r;
	bool boundary;
	size_t len;

	/* Inside the header: never accepted. */
	for (len = 0; len < CAP_HDR_LEN_V1; len++) {
		if (read_all(file, len, &records, &lost, NULL) != CAP_EBAD)
			bad++;
	}
	is_int(bad, 0, "a file cut inside the header is refused, at every length");

	/*
	 * Every other length: all complete frames, then a note, never more.
	 * SHMRING_TEST_QUICK (set for the valgrind pass) takes every 7th.
	 */
	bad = 0;
	for (len = CAP_HDR_LEN_V1; len < size; len += getenv("SHMRING_TEST_QUICK") ? 7 : 1) {
		want = 0;
		for (i = 0; i < NR_SAMPLE; i++)
			want += frame_end[i] <= len;
		ret = read_all(file, len, &records, &lost, NULL);
		boundary = len == CAP_HDR_LEN_V1 || len == frame_end[NR_SAMPLE];

		for (i = 0; i < NR_SAMPLE; i++)
			boundary |= len == frame_end[i];
		if (records != want || ret != (boundary ? CAP_OK : CAP_ETRUNC) ||
		    lost != (len >= frame_end[NR_SAMPLE]))
			bad++;
	}
	is_int(bad, 0, "cut at any of %zu lengths: readable up to the last complete frame",
	       size - CAP_HDR_LEN_V1);

	ret = read_all(file, frame_end[2] + 20, &records, &lost, &r);
	is_int(ret, CAP_ETRUNC, "cut inside record 4: truncated");
	diag("message: %s", r.err);
	ok(strstr(r.err, "truncated frame at byte offset") != NULL, "message says where");
	cap_reader_close(&r);
}

static void test_zero_tail(const unsigned char *file, size_t size)
{
	unsigned char *buf = calloc(1, size + 4096);
	struct cap_reader r;
	int records, lost;

	if (!buf)
		bail_out("out of memory");
	memcpy(buf, file, frame_end[1]);
	is_int(read_all(buf, frame_end[1] + 4096, &records, &lost, &r), CAP_ETRUNC,
	       "zero-filled tail (system crash) reads as truncation");
	is_int(records, 2, "records before it are read");
	cap_reader_close(&r);
	free(buf);
}

static void test_corrupt_header(const unsigned char *file)
{
	unsigned char buf[CAP_HDR_LEN_V1 + 64];
	int records, lost, bad = 0, ret;
	struct cap_reader r;
	size_t i;

	for (i = 0; i < CAP_HDR_LEN_V1; i++) {
		memcpy(buf, file, sizeof(buf));
		buf[i] ^= 0xff;
		ret = read_all(buf, sizeof(buf), &records, &lost, NULL);
		if (ret != CAP_EBAD && ret != CAP_EVERSION)
			bad++;
	}
	is_int(bad, 0, "any byte of the header flipped: refused");

	memcpy(buf, file, sizeof(buf));
	buf[30] ^= 1;	/* ring name */
	is_int(read_all(buf, sizeof(buf), &records, &lost, &r), CAP_EBAD, "flipped name bit");
	ok(strstr(r.err, "crc32c mismatch") != NULL, "header crc message: %s", r.err);

	memcpy(buf, "GARBAGE!", 8);
	is_int(read_all(buf, sizeof(buf), &records, &lost, &r), CAP_EBAD, "bad magic");
	ok(strstr(r.err, "not a shmring capture") != NULL, "message: %s", r.err);
	is_int(read_all(buf, 0, &records, &lost, &r), CAP_EBAD, "empty file");
	ok(strstr(r.err, "empty file") != NULL, "message: %s", r.err);

	memcpy(buf, file, sizeof(buf));
	put32(buf + H_VERSION, 2);
	is_int(read_all(buf, sizeof(buf), &records, &lost, &r), CAP_EVERSION,
	       "version 2 is refused as such");
	ok(strstr(r.err, "version 2 is not supported") != NULL, "message: %s", r.err);
}

/* Re-seal a header after editing it, so only the semantic checks remain. */
static void reseal_header(unsigned char *h, uint32_t hdr_len)
{
	put32(h + hdr_len - 4, shmring_crc32c(h, hdr_len - 4));
}

static void reseal_frame(unsigned char *f, size_t frame_len)
{
	put32(f + frame_len - 8, shmring_crc32c(f, frame_len - 8));
}

static void test_corrupt_frames(const unsigned char *file, size_t size)
{
	unsigned char *buf = malloc(size);
	size_t start = frame_end[0], end = frame_end[1], i;
	int records, lost, ret, bad = 0;
	struct cap_reader r;

	if (!buf)
		bail_out("out of memory");
	/* Every byte of record 2's frame: record 1 comes back, then a stop. */
	for (i = start; i < end; i++) {
		memcpy(buf, file, size);
		buf[i] ^= 0x5a;
		ret = read_all(buf, size, &records, &lost, NULL);
		if (records != 1 || (ret != CAP_EBAD && ret != CAP_ETRUNC))
			bad++;
	}
	is_int(bad, 0, "any byte of a frame flipped: detected, earlier records kept");

	memcpy(buf, file, size);
	buf[frame_end[5] + 60] ^= 1;	/* payload of record 7 */
	ret = read_all(buf, size, &records, &lost, &r);
	is_int(ret, CAP_EBAD, "payload bit flip: corrupt");
	is_int(records, 6, "the six records before it are read");
	ok(strstr(r.err, "crc32c mismatch") != NULL, "message: %s", r.err);
	cap_reader_close(&r);
	free(buf);
}

static void test_absurd_lengths(const unsigned char *file, size_t size)
{
	unsigned char *buf = malloc(size + 64);
	struct cap_info info;
	struct cap_reader r;
	int records, lost, ret;
	char err[200];

	if (!buf)
		bail_out("out of memory");

	/* Header: max_record beyond data_size, data_size not a power of two... */
	memcpy(buf, file, size);
	put32(buf + H_MAX_RECORD, UINT32_MAX);
	reseal_header(buf, CAP_HDR_LEN_V1);
	is_int(read_all(buf, size, &records, &lost, &r), CAP_EBAD, "max_record 4 GiB refused");
	diag("message: %s", r.err);
	memcpy(buf, file, size);
	put64(buf + H_DATA_SIZE, 3 << 20);
	reseal_header(buf, CAP_HDR_LEN_V1);
	is_int(read_all(buf, size, &records, &lost, NULL), CAP_EBAD, "data_size 3 MiB refused");
	memcpy(buf, file, size);
	put64(buf + H_DATA_SIZE, 1ULL << 62);
	put32(buf + H_MAX_RECORD, CAP_MAX_RECORD);
	reseal_header(buf, CAP_HDR_LEN_V1);
	is_int(read_all(buf, size, &records, &lost, NULL), CAP_EBAD, "data_size 2^62 refused");
	memcpy(buf, file, size);
	put32(buf + H_HDR_LEN, 0xfffffff0);
	is_int(read_all(buf, size, &records, &lost, &r), CAP_EBAD, "hdr_len 4 GiB refused");
	ok(strstr(r.err, "header length") != NULL, "message: %s", r.err);
	memcpy(buf, file, size);
	memset(buf + H_NAME, 'x', SHMRING_NAME_MAX);
	reseal_header(buf, CAP_HDR_LEN_V1);
	is_int(read_all(buf, size, &records, &lost, NULL), CAP_EBAD, "unterminated ring name refused");
	memcpy(buf, file, size);
	buf[H_NAME] = '/';
	reseal_header(buf, CAP_HDR_LEN_V1);
	is_int(cap_header_decode(buf, CAP_HDR_LEN_V1, &info, err, sizeof(err)), CAP_EBAD,
	       "ring name with '/' refused");

	/* A longer header from a later revision is accepted, extras ignored. */
	memcpy(buf, file, CAP_HDR_LEN_V1);
	memset(buf + CAP_HDR_LEN_V1 - 4, 0xab, 64);
	put32(buf + H_HDR_LEN, CAP_HDR_LEN_V1 + 64);
	reseal_header(buf, CAP_HDR_LEN_V1 + 64);
	memcpy(buf + CAP_HDR_LEN_V1 + 64, file + CAP_HDR_LEN_V1, size - CAP_HDR_LEN_V1);
	ret = read_all(buf, size + 64, &records, &lost, NULL);
	ok(ret == CAP_OK && records == NR_SAMPLE, "a longer header (+64 bytes) is skipped");

	/* Frame lengths. */
	memcpy(buf, file, size);
	put32(buf + frame_end[0] + F_LEN, 0xfffffff8);
	ret = read_all(buf, size, &records, &lost, &r);
	ok(ret == CAP_EBAD && records == 1, "frame length 4 GiB: refused before reading it");
	ok(strstr(r.err, "out of range") != NULL, "message: %s", r.err);
	ok(r.buf_size <= 4096, "and nothing was allocated for it (%zu)", r.buf_size);
	cap_reader_close(&r);

	memcpy(buf, file, size);
	put32(buf + frame_end[0] + F_LEN, 12);
	ok(read_all(buf, size, &records, &lost, NULL) == CAP_EBAD && records == 1,
	   "frame length 12 refused");

	/* Within max_frame but the file ends: a truncation, memory bounded. */
	memcpy(buf, file, size);
	put32(buf + frame_end[0] + F_LEN, (uint32_t)CAP_RECORD_FRAME_LEN(MAX_RECORD));
	ret = read_all(buf, frame_end[1], &records, &lost, &r);
	ok(ret == CAP_ETRUNC && records == 1, "1 MiB frame in a short file: truncated");
	ok(r.buf_size <= 4096, "buffer grew only with the input (%zu)", r.buf_size);
	cap_reader_close(&r);

	/* A sealed frame whose record length disagrees with the frame length. */
	memcpy(buf, file, size);
	put32(buf + frame_end[1] + R_LEN, 9);	/* record 3 has 7 bytes, frame 64 */
	reseal_frame(buf + frame_end[1], frame_end[2] - frame_end[1]);
	ok(read_all(buf, size, &records, &lost, NULL) == CAP_EBAD && records == 2,
	   "record length disagreeing with its frame refused");
	memcpy(buf, file, size);
	put32(buf + frame_end[1] + R_LEN, 0xffffffff);
	reseal_frame(buf + frame_end[1], frame_end[2] - frame_end[1]);
	ok(read_all(buf, size, &records, &lost, NULL) == CAP_EBAD && records == 2,
	   "record length 4 GiB in a sealed frame refused");

	/* A lost frame with an inverted range. */
	memcpy(buf, file, size);
	put64(buf + frame_end[3] + L_FROM, 500);
	reseal_frame(buf + frame_end[3], frame_end[NR_SAMPLE] - frame_end[3]);
	ok(read_all(buf, size, &records, &lost, NULL) == CAP_EBAD && records == 4,
	   "lost frame with from > to refused");

	/* An unknown frame kind, intact: skipped. */
	memcpy(buf, file, size);
	put32(buf + frame_end[3] + F_KIND, 77);
	reseal_frame(buf + frame_end[3], frame_end[NR_SAMPLE] - frame_end[3]);
	ret = read_all(buf, size, &records, &lost, NULL);
	ok(ret == CAP_OK && records == NR_SAMPLE && lost == 0, "unknown frame kind skipped");
	free(buf);
}

static void test_writer(void)
{
	struct cap_info info = test_info();
	struct shmring_record rec;
	unsigned char buf[8192];
	struct cap_writer w;
	int p[2], i, ret, one_read = 0;
	ssize_t n;

	if (pipe(p))
		bail_out("pipe: %s", strerror(errno));
	is_int(cap_writer_open(&w, p[1], &info), 0, "writer to a pipe");
	n = read(p[0], buf, sizeof(buf));
	is_int(n, CAP_HDR_LEN_V1, "header arrives in one piece");
	/* A pipe returns what one write() put in (frames < PIPE_BUF). */
	for (i = 0; i < 6; i++) {
		rec = mkrec((uint64_t)i, payload, sample_len[i]);
		ret = cap_write_record(&w, &rec);
		n = read(p[0], buf, sizeof(buf));
		if (ret == 0 && n == (ssize_t)CAP_RECORD_FRAME_LEN(rec.len))
			one_read++;
	}
	is_int(one_read, 6, "each frame is one write() of the whole frame");
	rec = mkrec(9, payload, 0);
	rec.len = MAX_RECORD + 1;
	is_int(cap_write_record(&w, &rec), -EMSGSIZE, "record above max_record refused");
	is_int(cap_write_lost(&w, 9, 8), -EINVAL, "lost range from > to refused");
	cap_writer_close(&w);
	close(p[0]);
	is_int(cap_write_lost(&w, 1, 2), -EPIPE, "reader gone: -EPIPE (SIGPIPE ignored)");
	close(p[1]);

	strcpy(info.name, "bad/name");
	is_int(cap_writer_open(&w, -1, &info), -EINVAL, "bad ring name refused by the writer");
	info = test_info();
	info.max_record = CAP_MAX_RECORD + 1;
	info.data_size = 1ULL << 32;
	is_int(cap_writer_open(&w, -1, &info), -EINVAL, "max_record above 1 GiB refused");
}

static void test_seq_track(void)
{
	struct seq_track t = { .next = 100 };
	uint64_t from = 0, to = 0;

	is_int(seq_track_see(&t, 100, &from, &to), 0, "expected record: no loss");
	is_int(seq_track_see(&t, 118, &from, &to), 17, "gap: 17 lost");
	ok(from == 101 && to == 117, "range 101..117");
	is_int(t.next, 119, "next follows the record");
	is_int(seq_track_see(&t, 50, &from, &to), 0, "an older record is no loss");
	is_int(t.next, 119, "and does not move next back");
}

static char *render(int (*fn)(FILE *, const struct dump_fmt *, const struct shmring_record *),
		    const struct dump_fmt *f, const struct shmring_record *rec)
{
	char *s = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&s, &len);

	if (!m)
		bail_out("open_memstream");
	if (fn(m, f, rec))
		diag("printer failed");
	fclose(m);
	return s;
}

static char *render_lost(const struct dump_fmt *f, uint64_t from, uint64_t to)
{
	char *s = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&s, &len);

	if (!m)
		bail_out("open_memstream");
	dump_lost(m, f, from, to);
	fclose(m);
	return s;
}

static void is_str(char *got, const char *want, const char *desc)
{
	if (!ok(got && !strcmp(got, want), "%s", desc)) {
		diag("got:  '%s'", got ? got : "(null)");
		diag("want: '%s'", want);
	}
	free(got);
}

static void test_output(void)
{
	const struct dump_fmt plain = { 0 }, json = { .json = true }, hex = { .hex = true };
	struct shmring_record rec;
	char when[64];

	iso_time(1714566896123456789ULL, when, sizeof(when));
	is_str(strdup(when), "2024-05-01T12:34:56.123456Z", "ISO-8601 UTC with microseconds");

	is_str(render_lost(&plain, 100, 116), "-- lost 17 records (seq 100..116) --\n",
	       "lost line");
	is_str(render_lost(&plain, 5, 5), "-- lost 1 record (seq 5..5) --\n", "one lost record");
	is_str(render_lost(&json, 100, 116), "{\"lost\":17,\"from\":100,\"to\":116}\n",
	       "lost line in JSON");

	rec = mkrec(42, "command 0 from pid 7", 20);
	rec.type = 3;
	rec.flags = 0;
	rec.tstamp_ns = 1714566896123456789ULL;
	rec.realtime_ns = rec.tstamp_ns;
	is_str(render(dump_record, &plain, &rec),
	       "42 2024-05-01T12:34:56.123456Z pid=4242 type=3 len=20 command 0 from pid 7\n",
	       "text record line");
	is_str(render(dump_record, &json, &rec),
	       "{\"seq\":42,\"time\":\"2024-05-01T12:34:56.123456Z\",\"tstamp_ns\":1714566896123456789,"
	       "\"pid\":4242,\"type\":3,\"len\":20,\"text\":\"command 0 from pid 7\"}\n",
	       "text record in JSON");
	is_str(render(dump_record, &hex, &rec),
	       "42 2024-05-01T12:34:56.123456Z pid=4242 type=3 len=20\n"
	       "  00000000  63 6f 6d 6d 61 6e 64 20  30 20 66 72 6f 6d 20 70  |command 0 from p|\n"
	       "  00000010  69 64 20 37                                       |id 7|\n",
	       "hexdump -C style lines");

	rec.data = "a\001b";
	rec.len = 3;
	is_str(render(dump_record, &plain, &rec),
	       "42 2024-05-01T12:34:56.123456Z pid=4242 type=3 len=3 hex:610162\n",
	       "binary payload in hex");
	is_str(render(dump_record, &json, &rec),
	       "{\"seq\":42,\"time\":\"2024-05-01T12:34:56.123456Z\",\"tstamp_ns\":1714566896123456789,"
	       "\"pid\":4242,\"type\":3,\"len\":3,\"base64\":\"YQFi\"}\n",
	       "binary payload in base64");

	rec.data = "say \"hi\"\t\\ h\xc3\xa9";
	rec.len = (uint32_t)strlen(rec.data);
	is_str(render(dump_record, &json, &rec),
	       "{\"seq\":42,\"time\":\"2024-05-01T12:34:56.123456Z\",\"tstamp_ns\":1714566896123456789,"
	       "\"pid\":4242,\"type\":3,\"len\":14,\"text\":\"say \\\"hi\\\"\\t\\\\ h\xc3\xa9\"}\n",
	       "JSON escapes quote, backslash, tab; UTF-8 kept");

	rec.data = "";
	rec.len = 0;
	is_str(render(dump_record, &plain, &rec),
	       "42 2024-05-01T12:34:56.123456Z pid=4242 type=3 len=0\n", "empty payload");

	rec.data = "ok";
	rec.len = 2;
	rec.flags = SHMRING_REC_CSUM;
	rec.csum = shmring_crc32c("ok", 2) ^ 1;
	is_str(render(dump_record, &plain, &rec),
	       "42 2024-05-01T12:34:56.123456Z pid=4242 type=3 len=2 csum=BAD ok\n",
	       "bad payload checksum flagged");
	rec.csum ^= 1;
	is_str(render(dump_record, &json, &rec),
	       "{\"seq\":42,\"time\":\"2024-05-01T12:34:56.123456Z\",\"tstamp_ns\":1714566896123456789,"
	       "\"pid\":4242,\"type\":3,\"len\":2,\"csum_ok\":true,\"text\":\"ok\"}\n",
	       "good checksum in JSON");

	ok(dump_is_text("plain ascii", 11), "ASCII is text");
	ok(dump_is_text("\xe2\x82\xac \xf0\x9f\x98\x80", 8), "euro sign and emoji are text");
	ok(!dump_is_text("a\nb", 3), "newline is not");
	ok(!dump_is_text("\x1b[31m", 5), "escape sequence is not");
	ok(!dump_is_text("\xc0\x80", 2), "overlong NUL is not");
	ok(!dump_is_text("\xed\xa0\x80", 3), "surrogate is not");
	ok(!dump_is_text("\xf4\x90\x80\x80", 4), "above U+10FFFF is not");
	ok(!dump_is_text("\xc2\x9b", 2), "C1 control (CSI) is not");
	ok(!dump_is_text("\xe2\x82", 2), "cut multibyte sequence is not");
	ok(!dump_is_text("x\0", 2), "NUL is not");
}

static void test_pretty(void)
{
	const struct dump_fmt pretty = { .json = true, .pretty = true };
	struct shmring_record rec = mkrec(7, "hi", 2);

	rec.type = 1;
	rec.flags = 0;
	rec.tstamp_ns = 1714566896123456789ULL;
	rec.realtime_ns = rec.tstamp_ns;
	is_str(render(dump_record, &pretty, &rec),
	       "{\n  \"seq\": 7,\n  \"time\": \"2024-05-01T12:34:56.123456Z\",\n"
	       "  \"tstamp_ns\": 1714566896123456789,\n  \"pid\": 4242,\n  \"type\": 1,\n"
	       "  \"len\": 2,\n  \"text\": \"hi\"\n}\n", "-p: a record as indented JSON");
	is_str(render_lost(&pretty, 1, 2),
	       "{\n  \"lost\": 2,\n  \"from\": 1,\n  \"to\": 2\n}\n", "-p: a loss as indented JSON");
}

static void test_numbers(void)
{
	uint64_t v = 0;
	uint32_t u = 0;

	ok(parse_u64("0", &v) && v == 0, "parse_u64 0");
	ok(parse_u64("18446744073709551615", &v) && v == UINT64_MAX, "parse_u64 2^64-1");
	ok(!parse_u64("18446744073709551616", &v), "parse_u64 2^64: overflow");
	ok(parse_u64("0x1F", &v) && v == 31, "parse_u64 0x1F");
	ok(parse_u64("010", &v) && v == 10, "parse_u64 010 is decimal");
	ok(!parse_u64("0x", &v) && !parse_u64("0x0x5", &v) && !parse_u64("", &v) &&
	   !parse_u64("-1", &v) && !parse_u64("+1", &v) && !parse_u64(" 1", &v) &&
	   !parse_u64("1 ", &v) && !parse_u64("1k", &v), "parse_u64 refuses junk");
	ok(parse_u32("4294967295", &u) && u == UINT32_MAX && !parse_u32("4294967296", &u),
	   "parse_u32 bounds");
	ok(parse_size("4096", &v) && v == 4096, "parse_size 4096");
	ok(parse_size("64k", &v) && v == 65536 && parse_size("64K", &v) && v == 65536 &&
	   parse_size("64kB", &v) && v == 65536 && parse_size("64KiB", &v) && v == 65536,
	   "parse_size 64k, 64K, 64kB, 64KiB");
	ok(parse_size("1M", &v) && v == 1 << 20 && parse_size("2G", &v) && v == 2ULL << 30,
	   "parse_size 1M, 2G");
	ok(parse_size("0x10k", &v) && v == 16384, "parse_size 0x10k");
	ok(!parse_size("1T", &v) && !parse_size("1kb", &v) && !parse_size("k", &v) &&
	   !parse_size("17179869184G", &v), "parse_size refuses bad suffixes and overflow");
}

static char *json_doc(void (*fn)(struct json *), unsigned int flags)
{
	char *s = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&s, &len);
	struct json j;

	if (!m)
		bail_out("open_memstream");
	json_init(&j, m, flags);
	fn(&j);
	if (json_end(&j))
		diag("json_end failed");
	fclose(m);
	return s;
}

/* The shapes shmring-ctl prints: an array of flow objects, nested breaks. */
static void doc_list(struct json *j)
{
	json_arr_open(j, JSON_BREAK);
	for (int i = 0; i < 2; i++) {
		json_obj_open(j, JSON_FLOW);
		json_kstr(j, "name", i ? "b" : "a\"\\\n\x01");
		json_ku64(j, "n", (uint64_t)i);
		json_key(j, "t");
		json_arr_open(j, JSON_FLOW);
		json_bool(j, true);
		json_null(j);
		json_arr_close(j);
		json_obj_close(j);
	}
	json_arr_close(j);
}

static void doc_grouped(struct json *j)
{
	json_obj_open(j, JSON_FLOW);
	json_break(j);
	json_ku64(j, "a", 1);
	json_ku64(j, "b", 2);
	json_break(j);
	json_key(j, "empty");
	json_obj_open(j, JSON_BREAK);
	json_obj_close(j);
	json_key(j, "c");
	json_arr_open(j, JSON_BREAK);
	json_printf(j, "%.2f", 1.5);
	json_arr_close(j);
	json_obj_close(j);
}

static void doc_empty(struct json *j)
{
	json_arr_open(j, JSON_BREAK);
	json_arr_close(j);
}

static void test_json(void)
{
	is_str(json_doc(doc_list, JSON_SPACED),
	       "[\n  {\"name\": \"a\\\"\\\\\\n\\u0001\", \"n\": 0, \"t\": [true, null]},\n"
	       "  {\"name\": \"b\", \"n\": 1, \"t\": [true, null]}\n]\n",
	       "json: array of flow objects, escapes");
	is_str(json_doc(doc_list, JSON_COMPACT),
	       "[\n  {\"name\":\"a\\\"\\\\\\n\\u0001\",\"n\":0,\"t\":[true,null]},\n"
	       "  {\"name\":\"b\",\"n\":1,\"t\":[true,null]}\n]\n",
	       "json: compact separators");
	is_str(json_doc(doc_grouped, JSON_SPACED),
	       "{\n  \"a\": 1, \"b\": 2,\n  \"empty\": {}, \"c\": [\n    1.50\n  ]\n}\n",
	       "json: json_break groups members, empty container, nested break");
	is_str(json_doc(doc_list, JSON_PRETTY),
	       "[\n  {\n    \"name\": \"a\\\"\\\\\\n\\u0001\",\n    \"n\": 0,\n    \"t\": [\n"
	       "      true,\n      null\n    ]\n  },\n  {\n    \"name\": \"b\",\n    \"n\": 1,\n"
	       "    \"t\": [\n      true,\n      null\n    ]\n  }\n]\n",
	       "json: pretty breaks every container");
	is_str(json_doc(doc_empty, JSON_PRETTY), "[]\n", "json: an empty array stays []");
}

int main(void)
{
	unsigned char *file;
	size_t size, i;
	char *path;

	plan_no_plan();
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (unsigned char)(i * 131 + (i >> 8));
	path = write_sample(&size);
	test_round_trip(path);
	file = slurp(path, size);
	unlink(path);
	free(path);
	test_truncation(file, size);
	test_zero_tail(file, size);
	test_corrupt_header(file);
	test_corrupt_frames(file, size);
	test_absurd_lengths(file, size);
	test_writer();
	test_seq_track();
	test_output();
	test_pretty();
	test_numbers();
	test_json();
	free(file);
	return done_testing();
}
