/* SPDX-License-Identifier: MIT */
/*
 * shmring-bridge: the pure parts (no libnats, no ring), unit-tested by
 * tests/unit/t_bridge_*.c: name escaping for subjects, KV keys and file
 * names, message ids, strict numbers, server URLs, the reconnect backoff,
 * and the state files of out (ring incarnation) and in (committed stream
 * sequence and the intent of the batch being written). docs/bridge.md.
 */
#ifndef SHMRING_BRIDGE_UTIL_H
#define SHMRING_BRIDGE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header names (docs/bridge.md). */
#define HDR_TYPE	"Shmring-Type"
#define HDR_SEQ		"Shmring-Seq"
#define HDR_TIME	"Shmring-Time"
#define HDR_PID		"Shmring-Pid"
#define HDR_RING	"Shmring-Ring"
#define HDR_SNAP_SEQ	"Shmring-Snap-Seq"	/* not a header: KV value fields */

/* The KV bucket of snapshots. */
#define BRIDGE_KV_BUCKET	"shmring-snap"

/* Incarnation ids: 16 lower-case hex digits. */
#define BRIDGE_INC_LEN	16

/*
 * Escape NAME for a NATS subject token, a KV key or a file name: bytes of
 * [A-Za-z0-9_-] stay, every other byte becomes "=XX" (upper-case hex).
 * Injective; the result is never empty for a non-empty NAME. Returns the
 * length written (without the NUL), or -1 if it does not fit in CAP
 * (including the NUL) or NAME is empty.
 */
int bridge_escape(const char *name, char *out, size_t cap);

/*
 * Whether subject SUBJ matches the stream subject PATTERN (tokens split
 * at '.'; '*' matches one token, '>' as the last token one or more).
 */
bool bridge_subject_match(const char *pattern, const char *subj);

/* "<ring>:<inc>:<seq>"; the length, or -1 if it does not fit. */
int bridge_msgid_format(char *out, size_t cap, const char *ring, const char *inc,
			uint64_t seq);
/*
 * The parts of a message id (the ring name may contain ':': the last two
 * fields are taken from the right). 0, or -1 if malformed or too long.
 */
int bridge_msgid_parse(const char *id, char *ring, size_t ringcap, char *inc,
		       size_t inccap, uint64_t *seq);

/* A decimal number, digits only, no sign, no blanks, no overflow. */
bool bridge_parse_dec(const char *s, uint64_t *v);

/*
 * A server URL as -s takes it: [nats://|tls://][user[:pass]@]host[:port],
 * host non-empty, port 1..65535. true if acceptable; else false and WHY
 * says what is wrong.
 */
bool bridge_url_ok(const char *url, char *why, size_t cap);

/* URL for messages: a password in it replaced by "***". */
void bridge_url_redact(const char *url, char *out, size_t cap);

/* Reconnect delay of attempt N (1 = first): 100 ms doubling, at most 5 s. */
int64_t bridge_backoff_ms(int attempt);

/* A new incarnation id (16 hex digits + NUL) from 64 random bits. */
void bridge_inc_format(uint64_t v, char out[BRIDGE_INC_LEN + 1]);
bool bridge_inc_valid(const char *s);

/* --- out: the incarnation file ------------------------------------------ */

/*
 * The text of the incarnation file ("shmring-bridge-out 1\ninc HEX\nend\n")
 * into OUT; its length, or -1 if it does not fit. parse: 0, or -1.
 */
int bridge_out_state_format(char *out, size_t cap, const char *inc);
int bridge_out_state_parse(const char *text, char inc[BRIDGE_INC_LEN + 1]);

/* --- in: the state file ------------------------------------------------- */

#define BRIDGE_IN_MAX_BATCH	4096

struct bridge_in_state {
	uint64_t last;		/* stream sequence of the last message committed, 0: none */
	/* The batch being written when the state was saved (n == 0: none). */
	uint32_t pid;		/* the writing bridge's pid */
	uint64_t head;		/* the ring's head_seq before the batch */
	uint32_t n;		/* messages in the batch */
	uint64_t sseq[BRIDGE_IN_MAX_BATCH];	/* their stream sequences, ascending */
};

/*
 * Text form: "shmring-bridge-in 1\nlast L\nintent PID HEAD N\nS S ...\nend\n"
 * (the intent line and the sequences only when n > 0). format: the length,
 * or -1 if it does not fit; parse: 0, or -1 if malformed (sequences not
 * ascending, or not above last, count wrong, missing "end").
 */
int bridge_in_state_format(char *out, size_t cap, const struct bridge_in_state *st);
int bridge_in_state_parse(const char *text, struct bridge_in_state *st);
/* Bytes bridge_in_state_format() needs at most for N sequences. */
size_t bridge_in_state_size(uint32_t n);

/*
 * Recovery: the intent's batch was found to have COMMITTED records of it in
 * the ring (records written by the intent's pid from its head on). The
 * first COMMITTED messages are done: last becomes the sequence of the
 * last of them (unchanged for 0), and the intent is cleared.
 */
void bridge_in_state_resolve(struct bridge_in_state *st, uint32_t committed);

/* --- snapshots in the KV bucket ---------------------------------------- */

/*
 * The manifest of a snapshot, the value of key ESCAPED-RING; the payload
 * is in keys ESCAPED-RING.GEN.I for I in [0, chunks), put before it.
 */
struct bridge_snap_manifest {
	char ring[64 * 3 + 1];		/* escaped ring name */
	char inc[BRIDGE_INC_LEN + 1];	/* incarnation of the ring */
	uint64_t seq;			/* ring seq it reflects (UINT64_MAX: none) */
	uint64_t stream_seq;		/* stream seq of that record (0: none) */
	uint64_t len;			/* payload bytes */
	uint32_t crc;			/* crc32c of the payload */
	uint64_t gen;			/* generation: the chunks' key part */
	uint32_t chunks;
	uint64_t time_ns;		/* CLOCK_REALTIME of the local publish */
};

/* Text form (format: length or -1; parse: 0 or -1 if malformed). */
int bridge_snap_manifest_format(char *out, size_t cap, const struct bridge_snap_manifest *m);
int bridge_snap_manifest_parse(const char *text, size_t len, struct bridge_snap_manifest *m);
/* Chunks for LEN bytes of CHUNK bytes each (at least 1). */
uint32_t bridge_snap_chunks(uint64_t len, uint32_t chunk);

/* --- files -------------------------------------------------------------- */

/* Write TEXT to PATH atomically (PATH.XXXXXX made exclusively, fsync, rename). 0 or -errno. */
int bridge_write_file(const char *path, const char *text, size_t len);
/*
 * Read a small file (at most CAP - 1 bytes) NUL-terminated. length or
 * -errno: -ELOOP for a symlink, -EPERM unless a regular file of our euid
 * that group and others may not write.
 */
int bridge_read_file(const char *path, char *buf, size_t cap);
/* What an error of the two above means, as text for "PATH: TEXT". */
const char *bridge_file_error(int err);

#endif /* SHMRING_BRIDGE_UTIL_H */
