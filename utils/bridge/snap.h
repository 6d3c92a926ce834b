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

/*
 * in --bootstrap, RING empty and no state: load the bucket's snapshot of
 * RING, check it, publish it into RING's snapshot file, and set st->last
 * to the stream sequence it reflects.
 */
void snap_in_bootstrap(struct bridge_nats *bn, struct shmring *ring,
		       struct bridge_in_state *st);

#endif /* SHMRING_BRIDGE_SNAP_H */
