// SPDX-License-Identifier: MIT
/*
 * shmring-bridge: snapshots through the JetStream KV bucket (snap.h).
 */
#include "snap.h"
#include "../common.h"

struct snap_out *snap_out_start(struct bridge_nats *bn)
{
	(void)bn;
	warn_msg("--snapshots: not implemented yet");
	return NULL;
}

void snap_out_poll(struct snap_out *so, struct bridge_nats *bn)
{
	(void)so;
	(void)bn;
}

void snap_out_stop(struct snap_out *so)
{
	(void)so;
}

void snap_in_bootstrap(struct bridge_nats *bn, struct shmring *ring,
		       struct bridge_in_state *st)
{
	(void)bn;
	(void)ring;
	(void)st;
	warn_msg("--bootstrap: not implemented yet");
}
