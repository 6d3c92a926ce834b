/* SPDX-License-Identifier: MIT */
/*
 * Reader positions as the tools take them on the command line
 * (utils/position.c): "oldest", "end", "seq=N", "time=WHEN", and moving a
 * libshmring reader there with shmring_seek().
 *
 * WHEN is wall-clock time, as the tools print it: ISO-8601
 * (2026-12-01T12:00:00Z, optional fraction, Z or +HH:MM; none means UTC)
 * or nanoseconds since the epoch (the tstamp_ns of shmring-dump -j). It is
 * converted to the record clock (CLOCK_BOOTTIME, SHMRING_REC_CLOCK) with
 * the realtime_offset_ns the ring's header publishes.
 */
#ifndef SHMRING_UTILS_POSITION_H
#define SHMRING_UTILS_POSITION_H

#include <stdbool.h>
#include <stdint.h>

struct shmring;

struct ring_pos {
	unsigned int whence;	/* SHMRING_SEEK_* */
	uint64_t val;		/* SEQ: the sequence number; TIME: CLOCK_REALTIME ns */
};

/* The accepted forms, for messages. */
#define RING_POS_FORMS	"oldest, end, seq=N or time=ISO-8601|NS"

/* false on anything but the forms above. */
bool ring_pos_parse(const char *s, struct ring_pos *p);

/*
 * ISO-8601 wall time (see above) in nanoseconds since the epoch; false if
 * s is not one.
 */
bool parse_iso_time(const char *s, uint64_t *ns);

/*
 * CLOCK_REALTIME - CLOCK_BOOTTIME as the ring's header has it (r is a
 * reader: its ring is mapped); the current difference of the two clocks
 * when the header has none yet (no record committed, or a kernel without
 * SHMRING_FEAT_CLOCK).
 */
int64_t ring_realtime_offset(struct shmring *r);

/* shmring_seek() of reader r to p; 0 or -errno. */
int ring_pos_seek(struct shmring *r, const struct ring_pos *p);

#endif /* SHMRING_UTILS_POSITION_H */
