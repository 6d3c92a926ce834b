/* SPDX-License-Identifier: MIT */
/*
 * shmring-bridge: snapshots through the JetStream KV bucket shmring-snap
 * (docs/bridge.md, "Snapshots").
 */
#ifndef SHMRING_BRIDGE_SNAP_H
#define SHMRING_BRIDGE_SNAP_H

#include "shmring.h"
#include "bridge.h"

struct snap_out;
/* out --snapshots: watch RING's snapshot file; NULL if off. */
struct snap_out *snap_out_start(struct bridge_nats *bn);
/* Put a newer snapshot into the bucket once its record is in the stream. */
void snap_out_poll(struct snap_out *so, struct bridge_nats *bn);
void snap_out_stop(struct snap_out *so);
/* The newest acked record of out: ring seq and its stream seq (out.c). */
void out_acked_pos(uint64_t *ring_seq, uint64_t *stream_seq);
/* The stream seq of a recently acked record; false if not known. */
bool out_stream_seq_of(uint64_t ring_seq, uint64_t *stream_seq);
const char *out_incarnation(void);

/* Messages a bootstrap skips: of ring incarnation inc, seq <= seq. */
struct snap_skip {
	bool on;
	char ring[SHMRING_NAME_MAX + 1];	/* in: the source ring (the stream says) */
	char inc[BRIDGE_INC_LEN + 1];
	uint64_t seq;
};

/*
 * in --bootstrap, RING empty and no state: load the bucket's snapshot of
 * skip->ring, check it, publish it into RING's snapshot file, set st->last
 * to the stream seq it reflects and fill *skip. false if there was none
 * (the stream from its start).
 */
bool snap_in_bootstrap(struct bridge_nats *bn, struct shmring *ring,
		       struct bridge_in_state *st, struct snap_skip *skip);
bool snap_skip_msg(const struct snap_skip *skip, natsMsg *msg);

#endif /* SHMRING_BRIDGE_SNAP_H */
