// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the capture reader of shmring-dump (utils/capture.c):
 * header and frame parsing, then every output format of whatever it
 * accepts.  Input is the whole capture file.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *         -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -DSHMRING_VERSION='"x"' \
 *         -Iinclude/uapi -Ilib -Ibuild/include tests/fuzz/fuzz_capture.c \
 *         utils/capture.c utils/common.c utils/json.c lib/*.c -o build/fuzz_capture
 *   (`make fuzz` does this)
 *   mkdir -p build/fuzz-corpus
 *   build/fuzz_capture -max_total_time=30 build/fuzz-corpus tests/fuzz/corpus-capture
 *
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION makes the reader accept any
 * CRC (see crc_ok() in capture.c), so the fuzzer gets past the checksums
 * to the length checks and printers behind them; without it the same
 * target fuzzes what a real reader sees, CRCs included.
 *
 * Invariants checked besides the sanitizers: a record never exceeds the
 * header's max_record, the reader's buffer never grows past about twice
 * the input, and every record it returns survives an encode/decode round
 * trip.
 *
 * Built with -DFUZZ_MAIN instead of -fsanitize=fuzzer it has a main():
 *   fuzz_capture gen DIR      write the seed corpus (tests/fuzz/corpus-capture)
 *   fuzz_capture FILE...      run the target on files (regression, any compiler)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmring.h"
#include "../../utils/capture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
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

static void check_round_trip(const struct cap_reader *r, const struct cap_frame *fr)
{
	size_t len = (size_t)CAP_RECORD_FRAME_LEN(fr->rec.len);
	unsigned char *buf = malloc(len);
	struct cap_reader r2;
	struct cap_frame fr2;
	struct mem m;

	if (!buf)
		abort();
	if (cap_record_encode(&fr->rec, buf) != len)
		abort();
	/* Decode that frame alone with the same limits. */
	memset(&r2, 0, sizeof(r2));
	m.p = buf;
	m.len = len;
	m.off = 0;
	r2.read = mem_read;
	r2.ctx = &m;
	r2.info = r->info;
	r2.max_frame = r->max_frame;
	r2.buf_size = 4096;
	r2.buf = malloc(r2.buf_size);
	if (!r2.buf)
		abort();
	if (cap_reader_next(&r2, &fr2) != CAP_RECORD ||
	    fr2.rec.len != fr->rec.len || fr2.rec.seq != fr->rec.seq ||
	    fr2.rec.type != fr->rec.type || fr2.rec.pid != fr->rec.pid ||
	    fr2.rec.realtime_ns != fr->rec.realtime_ns || fr2.rec.csum != fr->rec.csum ||
	    fr2.rec.flags != fr->rec.flags ||
	    memcmp(fr2.rec.data, fr->rec.data, fr->rec.len))
		abort();
	cap_reader_close(&r2);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dump_fmt fmts[] = {
		{ 0 }, { .json = true }, { .json = true, .pretty = true }, { .hex = true },
	};
	static FILE *devnull;
	struct mem m = { .p = data, .len = size };
	struct cap_reader r;
	struct cap_frame fr;
	struct cap_info info;
	unsigned int n = 0;
	char err[200];
	int ret;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	cap_header_decode(data, size, &info, err, sizeof(err));
	if (cap_reader_open(&r, mem_read, &m) != CAP_OK) {
		cap_reader_close(&r);
		return 0;
	}
	while ((ret = cap_reader_next(&r, &fr)) > 0) {
		const struct dump_fmt *f = &fmts[n++ % (sizeof(fmts) / sizeof(fmts[0]))];

		if (ret == CAP_RECORD) {
			if (fr.rec.len > r.info.max_record)
				abort();
			if ((const unsigned char *)fr.rec.data + fr.rec.len > r.buf + r.buf_size)
				abort();
			dump_record(devnull, f, &fr.rec);
			check_round_trip(&r, &fr);
		} else {
			if (fr.lost_to < fr.lost_from)
				abort();
			dump_lost(devnull, f, fr.lost_from, fr.lost_to);
		}
	}
	if (ret < 0 && !r.err[0])
		abort();	/* every failure explains itself */
	if (r.buf_size > 2 * size + 4096)
		abort();	/* memory follows the input, not its length fields */
	cap_reader_close(&r);
	return 0;
}

#ifdef FUZZ_MAIN
static int write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, p, len) != (ssize_t)len) {
		perror(path);
		return 1;
	}
	close(fd);
	return 0;
}

/* A capture in memory through a pipe-less temp file. */
static unsigned char *build(const char *tmpdir, int variant, size_t *len)
{
	struct cap_info info;
	struct shmring_record rec;
	struct cap_writer w;
	char path[4096];
	unsigned char *buf;
	static const unsigned char bin[] = { 0, 1, 2, 0xff, 0xfe, 0x1b, '[', 'm' };
	const char *texts[] = { "command 0 from pid 7", "buy 10", "h\xc3\xa9llo \"q\"" };
	int fd, i;

	snprintf(path, sizeof(path), "%s/.gen.tmp", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return NULL;
	memset(&info, 0, sizeof(info));
	strcpy(info.name, variant ? "orders" : "empty");
	info.data_size = 1 << 16;
	info.max_record = variant == 3 ? 64 : 1 << 14;
	info.policy = variant & 1;
	info.ring_flags = variant == 2 ? SHMRING_ATTR_CSUM : 0;
	info.abi_version = SHMRING_ABI_VERSION;
	info.start_ns = 1714566896123456789ULL;
	info.start_seq = 5;
	if (cap_writer_open(&w, fd, &info))
		return NULL;
	for (i = 0; variant && i < 3; i++) {
		memset(&rec, 0, sizeof(rec));
		rec.seq = 5 + (uint64_t)i + (i == 2 && variant >= 2 ? 10 : 0);
		if (i == 2 && variant >= 2)
			cap_write_lost(&w, 7, 16);
		rec.type = (uint32_t)i + 1;
		rec.pid = 1234;
		rec.tstamp_ns = info.start_ns + (uint64_t)i * 1000;
		rec.data = variant == 3 && i == 1 ? (const void *)bin : texts[i];
		rec.len = (uint32_t)(variant == 3 && i == 1 ? sizeof(bin) : strlen(texts[i]));
		if (variant == 2) {
			rec.flags = SHMRING_REC_CSUM;
			rec.csum = shmring_crc32c(rec.data, rec.len) ^ (i == 1);
		}
		cap_write_record(&w, &rec);
	}
	*len = (size_t)w.bytes;
	cap_writer_close(&w);
	buf = malloc(*len);
	if (!buf || pread(fd, buf, *len, 0) != (ssize_t)*len)
		return NULL;
	close(fd);
	unlink(path);
	return buf;
}

static int gen(const char *dir)
{
	static const char *names[] = { "empty", "text", "csum-lost", "binary-lost" };
	unsigned char *buf;
	char name[64];
	size_t len;
	int v, bad = 0;

	for (v = 0; v < 4; v++) {
		buf = build(dir, v, &len);
		if (!buf)
			return 1;
		snprintf(name, sizeof(name), "%s.cap", names[v]);
		bad |= write_file(dir, name, buf, len);
		if (v) {
			snprintf(name, sizeof(name), "%s-cut-frame.cap", names[v]);
			bad |= write_file(dir, name, buf, len - 13);
		}
		if (v == 1) {
			bad |= write_file(dir, "text-cut-header.cap", buf, 100);
			buf[CAP_HDR_LEN_V1 + 60] ^= 0x20;
			bad |= write_file(dir, "text-bad-crc.cap", buf, len);
		}
		free(buf);
	}
	return bad;
}

static int run_file(const char *path)
{
	unsigned char *buf;
	long len;
	FILE *f = fopen(path, "rb");

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		return 1;
	}
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		perror(path);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int i, bad = 0;

	if (argc == 3 && !strcmp(argv[1], "gen"))
		return gen(argv[2]);
	for (i = 1; i < argc; i++)
		bad |= run_file(argv[i]);
	printf("%d file%s ran\n", argc - 1, argc == 2 ? "" : "s");
	return bad;
}
#endif
