/* SPDX-License-Identifier: MIT */
/*
 * shmring capture files (docs/capture-format.md) and the record printer of
 * shmring-dump.  capture.c is linked into shmring-dump and
 * tests/unit/t_capture, and compiled into tests/fuzz/fuzz_capture.c.
 *
 * Writing: cap_writer_open() writes the file header, then every
 * cap_write_record()/cap_write_lost() appends one complete frame with a
 * single write(2), so a dumper that dies leaves a file that is readable up
 * to its last complete frame.
 *
 * Reading: capture files are untrusted input.  cap_reader_next() checks
 * every length against the header's bounds before using it, grows its
 * buffer only as bytes actually arrive, and verifies each frame's crc32c
 * before it decodes anything in it.
 */
#ifndef SHMRING_CAPTURE_H
#define SHMRING_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "shmring.h"

/* File header. */
#define CAP_MAGIC		"\x89SHMRCAP"	/* 8 bytes, no NUL */
#define CAP_MAGIC_LEN		8
#define CAP_VERSION		1
#define CAP_HDR_LEN_V1		136	/* header length this version writes */
#define CAP_HDR_LEN_MAX		4096	/* longest header a reader accepts */
#define CAP_F_FILTERED		(1U << 0)	/* records were left out on purpose */

/* Frames. */
#define CAP_FRAME_RECORD	1
#define CAP_FRAME_LOST		2
#define CAP_FRAME_OVERHEAD	16	/* kind + length, crc + length */
#define CAP_REC_HDR_LEN		40	/* the ring's struct shmring_rec fields */
#define CAP_LOST_BODY_LEN	16
#define CAP_MAX_RECORD		(1U << 30)	/* largest max_record v1 can carry */
#define CAP_ALIGN8(x)		(((x) + 7ULL) & ~7ULL)
/* Total bytes of a record frame with @len payload bytes. */
#define CAP_RECORD_FRAME_LEN(len) \
	(CAP_FRAME_OVERHEAD + CAP_REC_HDR_LEN + CAP_ALIGN8((uint64_t)(len)))

/*
 * The layout of version 1 (docs/capture-format.md): field offsets and
 * little-endian accessors, for capture.c and the tests that forge files.
 */
/* Header field offsets (version 1). */
enum {
	H_MAGIC = 0,
	H_VERSION = 8,
	H_HDR_LEN = 12,
	H_FLAGS = 16,
	H_RESERVED0 = 20,
	H_NAME = 24,
	H_DATA_SIZE = 88,
	H_MAX_RECORD = 96,
	H_POLICY = 100,
	H_RING_FLAGS = 104,
	H_ABI_VERSION = 108,
	H_START_NS = 112,
	H_START_SEQ = 120,
	H_RESERVED1 = 128,
	H_CRC = 132,		/* always at hdr_len - 4 */
	H_FIXED = 16,		/* magic, version, hdr_len: read first */
};

/* Frame field offsets. */
enum {
	F_KIND = 0,
	F_LEN = 4,
	F_BODY = 8,
	/* record body */
	R_LEN = F_BODY + 0,
	R_TYPE = F_BODY + 4,
	R_SEQ = F_BODY + 8,
	R_TSTAMP = F_BODY + 16,
	R_PID = F_BODY + 24,
	R_FLAGS = F_BODY + 28,
	R_RESERVED0 = F_BODY + 30,
	R_CSUM = F_BODY + 32,
	R_RESERVED1 = F_BODY + 36,
	R_PAYLOAD = F_BODY + CAP_REC_HDR_LEN,
	/* lost body */
	L_FROM = F_BODY + 0,
	L_TO = F_BODY + 8,
};

static inline void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void put32(unsigned char *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static inline void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (unsigned int)p[1] << 8);
}

static inline uint32_t get32(const unsigned char *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static inline uint64_t get64(const unsigned char *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The header, decoded (host byte order). */
struct cap_info {
	uint32_t version;
	uint32_t hdr_len;
	uint32_t flags;			/* CAP_F_* */
	char name[SHMRING_NAME_MAX];	/* NUL-terminated, valid ring name */
	uint64_t data_size;
	uint32_t max_record;
	uint32_t policy;		/* SHMRING_POLICY_* */
	uint32_t ring_flags;		/* SHMRING_ATTR_* */
	uint32_t abi_version;		/* the ring's SHMRING_ABI_VERSION */
	uint64_t start_ns;		/* CLOCK_REALTIME when the capture began */
	uint64_t start_seq;		/* first sequence number it could hold */
};

/* Results of cap_reader_open() and cap_reader_next(). */
enum cap_status {
	CAP_RECORD = 1,		/* next(): a record */
	CAP_LOST = 2,		/* next(): a lost-records note */
	CAP_OK = 0,		/* open(): header valid; next(): clean end of file */
	CAP_ETRUNC = -1,	/* file ends inside a header or frame */
	CAP_EBAD = -2,		/* not a capture, or a corrupt header or frame */
	CAP_EVERSION = -3,	/* a capture of a version this reader lacks */
	CAP_EIO = -4,		/* read error (errno in cap_reader.sys_errno) */
	CAP_ENOMEM = -5,
};

/* Reads up to @len bytes; returns bytes read, 0 at end of input, -1 on error. */
typedef ssize_t (*cap_read_fn)(void *ctx, void *buf, size_t len);

struct cap_frame {
	int kind;			/* CAP_RECORD or CAP_LOST */
	struct shmring_record rec;	/* CAP_RECORD: data points into the reader */
	uint64_t lost_from, lost_to;	/* CAP_LOST: inclusive range */
};

struct cap_reader {
	cap_read_fn read;
	void *ctx;
	struct cap_info info;
	uint64_t max_frame;		/* from info.max_record */
	uint64_t off;			/* bytes of input consumed */
	uint64_t frame_off;		/* offset of the frame last returned */
	unsigned char *buf;
	size_t buf_size;
	int sys_errno;
	char err[200];			/* why open()/next() failed */
};

struct cap_writer {
	int fd;
	uint32_t max_record;
	unsigned char *buf;
	size_t buf_size;
	uint64_t records, lost_frames, bytes;
};

/* Header. */
size_t cap_header_encode(const struct cap_info *info, unsigned char *buf,
			 size_t size);
int cap_header_decode(const unsigned char *buf, size_t len,
		      struct cap_info *info, char *err, size_t errsize);

/* Frames, encoded into @buf of at least CAP_RECORD_FRAME_LEN(rec->len). */
size_t cap_record_encode(const struct shmring_record *rec, unsigned char *buf);
size_t cap_lost_encode(uint64_t from, uint64_t to, unsigned char *buf);

/* Writer: -errno on failure. */
int cap_writer_open(struct cap_writer *w, int fd, const struct cap_info *info);
int cap_write_record(struct cap_writer *w, const struct shmring_record *rec);
int cap_write_lost(struct cap_writer *w, uint64_t from, uint64_t to);
void cap_writer_close(struct cap_writer *w);

/* Reader. */
int cap_reader_open(struct cap_reader *r, cap_read_fn fn, void *ctx);
int cap_reader_next(struct cap_reader *r, struct cap_frame *frame);
void cap_reader_close(struct cap_reader *r);
ssize_t cap_read_stdio(void *ctx, void *buf, size_t len);	/* ctx: FILE * */

/* Ring names: [A-Za-z0-9._-]{1,63}. */
bool cap_name_valid(const char *name, size_t size);

/*
 * Lost-record detection from sequence numbers: next is the sequence number
 * expected next.  seq_track_see() returns how many records were skipped
 * before @seq (0 when none) and their inclusive range.
 */
struct seq_track {
	uint64_t next;
};
uint64_t seq_track_see(struct seq_track *t, uint64_t seq, uint64_t *from,
		       uint64_t *to);

/* Output of shmring-dump (see man/shmring-dump.1, OUTPUT FORMAT). */
struct dump_fmt {
	bool json;
	bool pretty;	/* with json: indented objects (-p) */
	bool hex;
};
bool dump_is_text(const void *data, size_t len);
int dump_record(FILE *out, const struct dump_fmt *f,
		const struct shmring_record *rec);
int dump_lost(FILE *out, const struct dump_fmt *f, uint64_t from, uint64_t to);

#endif /* SHMRING_CAPTURE_H */
