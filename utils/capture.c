// SPDX-License-Identifier: MIT
/*
 * shmring capture files and shmring-dump's record printer: see capture.h
 * for the API and docs/capture-format.md for the format.
 *
 * Compiled once and linked into shmring-dump and tests/unit/t_capture; the
 * fuzz target compiles it in fuzzing mode (crc checks pass, see crc_ok()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "common.h"
#include "json.h"

#define CAP_DATA_SIZE_MAX	(1ULL << 40)

/*
 * Fuzzing builds (-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, the libFuzzer
 * convention) accept any CRC so the fuzzer reaches the checks behind it.
 */
static bool crc_ok(const unsigned char *p, size_t len, uint32_t want)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	(void)shmring_crc32c(p, len);
	(void)want;
	return true;
#else
	return shmring_crc32c(p, len) == want;
#endif
}

bool cap_name_valid(const char *name, size_t size)
{
	size_t i;

	for (i = 0; i < size && name[i]; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return i > 0 && i < size && i < SHMRING_NAME_MAX;
}

/* The header fields a reader depends on; NULL when they are sane. */
static const char *info_problem(const struct cap_info *info)
{
	if (!cap_name_valid(info->name, sizeof(info->name)))
		return "ring name is not a valid shmring name";
	if (info->data_size < SHMRING_MIN_DATA_SIZE ||
	    info->data_size > CAP_DATA_SIZE_MAX ||
	    (info->data_size & (info->data_size - 1)))
		return "ring data_size is not a power of two between 4 KiB and 1 TiB";
	if (info->max_record > info->data_size || info->max_record > CAP_MAX_RECORD)
		return "ring max_record is larger than data_size or 1 GiB";
	return NULL;
}

size_t cap_header_encode(const struct cap_info *info, unsigned char *buf,
			 size_t size)
{
	if (size < CAP_HDR_LEN_V1)
		return 0;
	memset(buf, 0, CAP_HDR_LEN_V1);
	memcpy(buf + H_MAGIC, CAP_MAGIC, CAP_MAGIC_LEN);
	put32(buf + H_VERSION, CAP_VERSION);
	put32(buf + H_HDR_LEN, CAP_HDR_LEN_V1);
	put32(buf + H_FLAGS, info->flags);
	memcpy(buf + H_NAME, info->name, strnlen(info->name, SHMRING_NAME_MAX - 1));
	put64(buf + H_DATA_SIZE, info->data_size);
	put32(buf + H_MAX_RECORD, info->max_record);
	put32(buf + H_POLICY, info->policy);
	put32(buf + H_RING_FLAGS, info->ring_flags);
	put32(buf + H_ABI_VERSION, info->abi_version);
	put64(buf + H_START_NS, info->start_ns);
	put64(buf + H_START_SEQ, info->start_seq);
	put32(buf + H_CRC, shmring_crc32c(buf, H_CRC));
	return CAP_HDR_LEN_V1;
}

static int fail(char *err, size_t errsize, int status, const char *msg)
{
	snprintf(err, errsize, "%s", msg);
	return status;
}

/*
 * The first H_FIXED bytes: magic, then version (checked before anything
 * else of the layout, so a newer file gets the right message), then the
 * header length.
 */
static int prefix_check(const unsigned char *buf, size_t len, uint32_t *hdr_len,
			char *err, size_t errsize)
{
	uint32_t version;

	if (memcmp(buf + H_MAGIC, CAP_MAGIC, len < CAP_MAGIC_LEN ? len : CAP_MAGIC_LEN))
		return fail(err, errsize, CAP_EBAD,
			    "not a shmring capture file (bad magic)");
	if (len < H_FIXED)
		return fail(err, errsize, CAP_EBAD,
			    "file too short for a shmring capture header");
	version = get32(buf + H_VERSION);
	if (version != CAP_VERSION) {
		snprintf(err, errsize,
			 "capture format version %" PRIu32 " is not supported (this reader knows version %d)",
			 version, CAP_VERSION);
		return CAP_EVERSION;
	}
	*hdr_len = get32(buf + H_HDR_LEN);
	if (*hdr_len < CAP_HDR_LEN_V1 || *hdr_len > CAP_HDR_LEN_MAX || (*hdr_len & 7)) {
		snprintf(err, errsize, "bad capture header length %" PRIu32, *hdr_len);
		return CAP_EBAD;
	}
	return CAP_OK;
}

/*
 * Check and decode a complete header of @len bytes (len is the header's own
 * hdr_len).  Returns CAP_OK or CAP_EBAD/CAP_EVERSION with a reason in @err.
 */
int cap_header_decode(const unsigned char *buf, size_t len,
		      struct cap_info *info, char *err, size_t errsize)
{
	uint32_t hdr_len;
	const char *why;
	int ret;

	memset(info, 0, sizeof(*info));
	ret = prefix_check(buf, len, &hdr_len, err, errsize);
	if (ret)
		return ret;
	if (len != hdr_len)
		return fail(err, errsize, CAP_EBAD, "capture header is incomplete");
	if (!crc_ok(buf, hdr_len - 4, get32(buf + hdr_len - 4)))
		return fail(err, errsize, CAP_EBAD,
			    "capture header is corrupt (crc32c mismatch)");
	info->version = CAP_VERSION;
	info->hdr_len = hdr_len;
	info->flags = get32(buf + H_FLAGS);
	memcpy(info->name, buf + H_NAME, SHMRING_NAME_MAX);
	info->data_size = get64(buf + H_DATA_SIZE);
	info->max_record = get32(buf + H_MAX_RECORD);
	info->policy = get32(buf + H_POLICY);
	info->ring_flags = get32(buf + H_RING_FLAGS);
	info->abi_version = get32(buf + H_ABI_VERSION);
	info->start_ns = get64(buf + H_START_NS);
	info->start_seq = get64(buf + H_START_SEQ);
	why = info_problem(info);
	if (why) {
		info->name[0] = 0;
		snprintf(err, errsize, "bad capture header: %s", why);
		return CAP_EBAD;
	}
	return CAP_OK;
}

static void frame_finish(unsigned char *buf, uint32_t kind, size_t frame_len)
{
	put32(buf + F_KIND, kind);
	put32(buf + F_LEN, (uint32_t)frame_len);
	put32(buf + frame_len - 8, shmring_crc32c(buf, frame_len - 8));
	put32(buf + frame_len - 4, (uint32_t)frame_len);
}

size_t cap_record_encode(const struct shmring_record *rec, unsigned char *buf)
{
	size_t frame_len = CAP_RECORD_FRAME_LEN(rec->len);

	memset(buf, 0, frame_len);
	put32(buf + R_LEN, rec->len);
	put32(buf + R_TYPE, rec->type);
	put64(buf + R_SEQ, rec->seq);
	put64(buf + R_TSTAMP, rec->realtime_ns);	/* wall time: captures outlive boots */
	put32(buf + R_PID, rec->pid);
	put16(buf + R_FLAGS, (uint16_t)rec->flags);
	put32(buf + R_CSUM, rec->csum);
	if (rec->len)
		memcpy(buf + R_PAYLOAD, rec->data, rec->len);
	frame_finish(buf, CAP_FRAME_RECORD, frame_len);
	return frame_len;
}

size_t cap_lost_encode(uint64_t from, uint64_t to, unsigned char *buf)
{
	size_t frame_len = CAP_FRAME_OVERHEAD + CAP_LOST_BODY_LEN;

	memset(buf, 0, frame_len);
	put64(buf + L_FROM, from);
	put64(buf + L_TO, to);
	frame_finish(buf, CAP_FRAME_LOST, frame_len);
	return frame_len;
}

/* --- Writer ------------------------------------------------------------- */

/*
 * One write(2) per frame: a regular file gets the whole frame or (disk
 * full) a prefix of it; the loop only continues after a short write.
 */
static int write_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cap_writer_open(struct cap_writer *w, int fd, const struct cap_info *info)
{
	unsigned char hdr[CAP_HDR_LEN_V1];
	size_t len;
	int ret;

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	if (info_problem(info))
		return -EINVAL;
	w->max_record = info->max_record;
	len = cap_header_encode(info, hdr, sizeof(hdr));
	ret = write_all(fd, hdr, len);
	if (!ret)
		w->bytes = len;
	return ret;
}

static int writer_room(struct cap_writer *w, size_t need)
{
	unsigned char *p;

	if (need <= w->buf_size)
		return 0;
	p = realloc(w->buf, need);
	if (!p)
		return -ENOMEM;
	w->buf = p;
	w->buf_size = need;
	return 0;
}

int cap_write_record(struct cap_writer *w, const struct shmring_record *rec)
{
	size_t len;
	int ret;

	if (rec->len > w->max_record)
		return -EMSGSIZE;
	ret = writer_room(w, CAP_RECORD_FRAME_LEN(rec->len));
	if (ret)
		return ret;
	len = cap_record_encode(rec, w->buf);
	ret = write_all(w->fd, w->buf, len);
	if (ret)
		return ret;
	w->records++;
	w->bytes += len;
	return 0;
}

int cap_write_lost(struct cap_writer *w, uint64_t from, uint64_t to)
{
	unsigned char buf[CAP_FRAME_OVERHEAD + CAP_LOST_BODY_LEN];
	size_t len;
	int ret;

	if (to < from || (from == 0 && to == UINT64_MAX))
		return -EINVAL;
	len = cap_lost_encode(from, to, buf);
	ret = write_all(w->fd, buf, len);
	if (ret)
		return ret;
	w->lost_frames++;
	w->bytes += len;
	return 0;
}

void cap_writer_close(struct cap_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->buf_size = 0;
}

/* --- Reader ------------------------------------------------------------- */

ssize_t cap_read_stdio(void *ctx, void *buf, size_t len)
{
	FILE *f = ctx;
	size_t n = fread(buf, 1, len, f);

	if (n == 0 && ferror(f))
		return -1;
	return (ssize_t)n;
}

/* Read up to @len bytes; fewer only at end of input. -1 on a read error. */
static ssize_t read_full(struct cap_reader *r, unsigned char *p, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = r->read(r->ctx, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r->sys_errno = errno;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	r->off += got;
	return (ssize_t)got;
}

static int read_error(struct cap_reader *r)
{
	snprintf(r->err, sizeof(r->err), "read error at byte offset %" PRIu64 ": %s",
		 r->off, strerror(r->sys_errno));
	return CAP_EIO;
}

int cap_reader_open(struct cap_reader *r, cap_read_fn fn, void *ctx)
{
	unsigned char hdr[CAP_HDR_LEN_MAX];
	uint32_t hdr_len;
	ssize_t n;
	int ret;

	memset(r, 0, sizeof(*r));
	r->read = fn;
	r->ctx = ctx;
	n = read_full(r, hdr, H_FIXED);
	if (n < 0)
		return read_error(r);
	if (n == 0)
		return fail(r->err, sizeof(r->err), CAP_EBAD,
			    "empty file, not a shmring capture");
	ret = prefix_check(hdr, (size_t)n, &hdr_len, r->err, sizeof(r->err));
	if (ret)
		return ret;
	n = read_full(r, hdr + H_FIXED, hdr_len - H_FIXED);
	if (n < 0)
		return read_error(r);
	if ((size_t)n < hdr_len - H_FIXED)
		return fail(r->err, sizeof(r->err), CAP_EBAD,
			    "capture header is truncated");
	ret = cap_header_decode(hdr, hdr_len, &r->info, r->err, sizeof(r->err));
	if (ret)
		return ret;
	r->max_frame = CAP_RECORD_FRAME_LEN(r->info.max_record);
	r->buf_size = 4096;
	r->buf = malloc(r->buf_size);
	if (!r->buf)
		return fail(r->err, sizeof(r->err), CAP_ENOMEM, "out of memory");
	return CAP_OK;
}

static int truncated(struct cap_reader *r, uint64_t have, uint64_t want)
{
	snprintf(r->err, sizeof(r->err),
		 "truncated frame at byte offset %" PRIu64 " (%" PRIu64 " of %" PRIu64 " bytes)",
		 r->frame_off, have, want);
	return CAP_ETRUNC;
}

static int corrupt(struct cap_reader *r, const char *why)
{
	snprintf(r->err, sizeof(r->err), "corrupt frame at byte offset %" PRIu64 ": %s",
		 r->frame_off, why);
	return CAP_EBAD;
}

/*
 * Read the rest of a frame of @frame_len bytes whose first @have bytes are
 * in r->buf.  The buffer grows at most to twice what has arrived, so a
 * lying length field costs no memory the input has not paid for.
 */
static int read_frame(struct cap_reader *r, size_t have, size_t frame_len)
{
	unsigned char *p;
	size_t want, size;
	ssize_t n;

	while (have < frame_len) {
		if (have == r->buf_size) {
			size = r->buf_size * 2 < frame_len ? r->buf_size * 2 : frame_len;
			p = realloc(r->buf, size);
			if (!p)
				return fail(r->err, sizeof(r->err), CAP_ENOMEM, "out of memory");
			r->buf = p;
			r->buf_size = size;
		}
		want = (r->buf_size < frame_len ? r->buf_size : frame_len) - have;
		n = read_full(r, r->buf + have, want);
		if (n < 0)
			return read_error(r);
		have += (size_t)n;
		if ((size_t)n < want)
			return truncated(r, have, frame_len);
	}
	return CAP_OK;
}

int cap_reader_next(struct cap_reader *r, struct cap_frame *fr)
{
	uint64_t frame_len;
	uint32_t kind, len;
	ssize_t n;
	int ret;

	memset(fr, 0, sizeof(*fr));
	if (!r->buf)
		return fail(r->err, sizeof(r->err), CAP_EBAD, "capture not open");
	for (;;) {
		r->frame_off = r->off;
		n = read_full(r, r->buf, 8);
		if (n < 0)
			return read_error(r);
		if (n == 0)
			return CAP_OK;
		if (n < 8)
			return truncated(r, (uint64_t)n, 8);
		kind = get32(r->buf + F_KIND);
		frame_len = get32(r->buf + F_LEN);
		if (kind == 0 && frame_len == 0) {
			/* A crashed system can leave a zero-filled tail. */
			snprintf(r->err, sizeof(r->err),
				 "truncated: zero bytes instead of a frame at byte offset %" PRIu64,
				 r->frame_off);
			return CAP_ETRUNC;
		}
		if (frame_len < CAP_FRAME_OVERHEAD || (frame_len & 7) ||
		    frame_len > r->max_frame)
			return corrupt(r, "frame length out of range");
		ret = read_frame(r, 8, (size_t)frame_len);
		if (ret)
			return ret;
		if (get32(r->buf + frame_len - 4) != frame_len ||
		    !crc_ok(r->buf, (size_t)frame_len - 8, get32(r->buf + frame_len - 8)))
			return corrupt(r, "crc32c mismatch");

		switch (kind) {
		case CAP_FRAME_RECORD:
			if (frame_len < CAP_RECORD_FRAME_LEN(0))
				return corrupt(r, "record frame too short");
			len = get32(r->buf + R_LEN);
			if (len > r->info.max_record ||
			    CAP_RECORD_FRAME_LEN(len) != frame_len)
				return corrupt(r, "record length does not match its frame");
			fr->kind = CAP_RECORD;
			fr->rec.len = len;
			fr->rec.type = get32(r->buf + R_TYPE);
			fr->rec.seq = get64(r->buf + R_SEQ);
			fr->rec.realtime_ns = get64(r->buf + R_TSTAMP);
			fr->rec.tstamp_ns = fr->rec.realtime_ns;
			fr->rec.pid = get32(r->buf + R_PID);
			fr->rec.flags = get16(r->buf + R_FLAGS);
			fr->rec.csum = get32(r->buf + R_CSUM);
			fr->rec.data = r->buf + R_PAYLOAD;
			return CAP_RECORD;
		case CAP_FRAME_LOST:
			if (frame_len < CAP_FRAME_OVERHEAD + CAP_LOST_BODY_LEN)
				return corrupt(r, "lost frame too short");
			fr->kind = CAP_LOST;
			fr->lost_from = get64(r->buf + L_FROM);
			fr->lost_to = get64(r->buf + L_TO);
			if (fr->lost_to < fr->lost_from ||
			    (fr->lost_from == 0 && fr->lost_to == UINT64_MAX))
				return corrupt(r, "lost frame with a bad range");
			return CAP_LOST;
		default:
			/* A kind from a later revision: intact, so skip it. */
			continue;
		}
	}
}

void cap_reader_close(struct cap_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->buf_size = 0;
}

/* --- Sequence tracking -------------------------------------------------- */

uint64_t seq_track_see(struct seq_track *t, uint64_t seq, uint64_t *from,
		       uint64_t *to)
{
	uint64_t lost = 0;

	if (seq > t->next) {
		*from = t->next;
		*to = seq - 1;
		lost = seq - t->next;
	}
	if (seq >= t->next)
		t->next = seq + 1;
	return lost;
}

/* --- Output ------------------------------------------------------------- */

/*
 * Valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) without control characters other than tab: safe to print on
 * one line of a terminal and to put in a JSON string.
 */
bool dump_is_text(const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;
	uint32_t cp;
	int n, i;

	while (p < end) {
		unsigned char c = *p;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return false;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (end - p <= n)
			return false;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp <= 0x9f))
			return false;
		p += n + 1;
	}
	return true;
}

static int put_hex(FILE *out, const unsigned char *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char chunk[256];
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		chunk[n++] = digits[p[i] >> 4];
		chunk[n++] = digits[p[i] & 15];
		if (n == sizeof(chunk)) {
			if (fwrite(chunk, 1, n, out) != n)
				return -1;
			n = 0;
		}
	}
	return n && fwrite(chunk, 1, n, out) != n ? -1 : 0;
}

/* hexdump -C lines, indented by two spaces. */
static int put_hexdump(FILE *out, const unsigned char *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char line[96];
	size_t off, i, n;

	for (off = 0; off < len; off += 16) {
		n = (size_t)snprintf(line, sizeof(line), "  %08zx  ", off);
		for (i = 0; i < 16; i++) {
			if (off + i < len) {
				line[n++] = digits[p[off + i] >> 4];
				line[n++] = digits[p[off + i] & 15];
			} else {
				line[n++] = ' ';
				line[n++] = ' ';
			}
			line[n++] = ' ';
			if (i == 7)
				line[n++] = ' ';
		}
		line[n++] = ' ';
		line[n++] = '|';
		for (i = 0; i < 16 && off + i < len; i++) {
			unsigned char c = p[off + i];

			line[n++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
		}
		line[n++] = '|';
		line[n++] = '\n';
		if (fwrite(line, 1, n, out) != n)
			return -1;
	}
	return 0;
}

static int put_base64(FILE *out, const unsigned char *p, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char chunk[256];
	size_t i, n = 0;
	uint32_t v;

	for (i = 0; i < len; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		chunk[n++] = tab[v >> 18 & 63];
		chunk[n++] = tab[v >> 12 & 63];
		chunk[n++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		chunk[n++] = i + 2 < len ? tab[v & 63] : '=';
		if (n + 4 > sizeof(chunk)) {
			if (fwrite(chunk, 1, n, out) != n)
				return -1;
			n = 0;
		}
	}
	return n && fwrite(chunk, 1, n, out) != n ? -1 : 0;
}

/* One record as a JSON object (compact, or pretty with -p). */
static int dump_record_json(FILE *out, const struct dump_fmt *f,
			    const struct shmring_record *rec, const char *when, bool text)
{
	struct json j;
	FILE *raw;

	json_init(&j, out, f->pretty ? JSON_PRETTY : JSON_COMPACT);
	json_obj_open(&j, JSON_FLOW);
	json_ku64(&j, "seq", rec->seq);
	json_kstr(&j, "time", when);
	json_ku64(&j, "tstamp_ns", rec->realtime_ns);	/* wall clock, as "time" */
	json_ku64(&j, "pid", rec->pid);
	json_ku64(&j, "type", rec->type);
	json_ku64(&j, "len", rec->len);
	if (rec->flags & SHMRING_REC_CSUM)
		json_kbool(&j, "csum_ok", shmring_record_csum_ok(rec));
	if (text) {
		json_key(&j, "text");
		json_strn(&j, rec->data, rec->len);
	} else {
		json_key(&j, "base64");
		raw = json_raw(&j);
		if (fputc('"', raw) == EOF || put_base64(raw, rec->data, rec->len) < 0 ||
		    fputc('"', raw) == EOF)
			return -1;
	}
	json_obj_close(&j);
	return json_end(&j);
}

int dump_record(FILE *out, const struct dump_fmt *f,
		const struct shmring_record *rec)
{
	const unsigned char *data = rec->data;
	bool text = dump_is_text(data, rec->len);
	bool has_csum = rec->flags & SHMRING_REC_CSUM;
	bool csum_ok = shmring_record_csum_ok(rec);
	char when[ISO_TIME_LEN];

	iso_time(rec->realtime_ns, when, sizeof(when));
	if (f->json)
		return dump_record_json(out, f, rec, when, text);
	if (fprintf(out, "%" PRIu64 " %s pid=%" PRIu32 " type=%" PRIu32 " len=%" PRIu32 "%s",
		    rec->seq, when, rec->pid, rec->type, rec->len,
		    has_csum && !csum_ok ? " csum=BAD" : "") < 0)
		return -1;
	if (f->hex) {
		if (fputc('\n', out) == EOF)
			return -1;
		return put_hexdump(out, data, rec->len);
	}
	if (rec->len) {
		if (fputc(' ', out) == EOF)
			return -1;
		if (text) {
			if (fwrite(data, 1, rec->len, out) != rec->len)
				return -1;
		} else if (fputs("hex:", out) < 0 || put_hex(out, data, rec->len) < 0) {
			return -1;
		}
	}
	return fputc('\n', out) == EOF ? -1 : 0;
}

int dump_lost(FILE *out, const struct dump_fmt *f, uint64_t from, uint64_t to)
{
	uint64_t n = to - from + 1;
	struct json j;

	if (f->json) {
		json_init(&j, out, f->pretty ? JSON_PRETTY : JSON_COMPACT);
		json_obj_open(&j, JSON_FLOW);
		json_ku64(&j, "lost", n);
		json_ku64(&j, "from", from);
		json_ku64(&j, "to", to);
		json_obj_close(&j);
		return json_end(&j);
	}
	return fprintf(out, "-- lost %" PRIu64 " record%s (seq %" PRIu64 "..%" PRIu64 ") --\n",
		       n, n == 1 ? "" : "s", from, to) < 0 ? -1 : 0;
}
