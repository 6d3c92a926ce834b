/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The time-map record of `shmring-ctl replay --time-map keep`
 * (docs/replay.md): written just before each replayed record by the same
 * writer (pid), it carries what the kernel cannot keep: the record's
 * original sequence number, timestamp and writer. All little-endian:
 *
 *   0  u32 magic   0x4d545253 ("SRTM")
 *   4  u32 type    the replayed record's type
 *   8  u64 seq     its sequence number in the captured ring
 *  16  u64 time    its original wall time (ns since the epoch, CLOCK_REALTIME)
 *  24  u32 pid     its original writer
 *  28  u32 len     its payload length
 *  32  u32 crc     crc32c of its payload
 *  36  u32 0       reserved
 */
#ifndef SHMRING_REPLAY_H
#define SHMRING_REPLAY_H

#include "shmring.h"

#define REPLAY_MAP_TYPE		0xffff5254U	/* record type of time-map records */
#define REPLAY_MAP_MAGIC	0x4d545253U
#define REPLAY_MAP_LEN		40

void replay_map_encode(const struct shmring_record *rec, unsigned char *buf);

#endif /* SHMRING_REPLAY_H */
