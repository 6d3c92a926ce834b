// SPDX-License-Identifier: MIT
/*
 * shmring-bridge: snapshots through the JetStream KV bucket shmring-snap
 * (docs/bridge.md, "Snapshots").
 *
 * out --snapshots polls RING's snapshot file (libshmring shmring_snap_*).
 * A new snapshot is put once the record it reflects has been acknowledged
 * into the stream: its payload in chunks (keys RING.GEN.I, each below the
 * server's max_payload), then the manifest (key RING: ring, incarnation,
 * ring seq, stream seq of that record, length, crc32c, GEN, chunks). The
 * manifest is written last, so a reader that follows it finds whole
 * chunks; the previous generation's chunks are purged after it.
 *
 * in --bootstrap on an empty RING reads the manifest and its chunks,
 * checks length and crc32c (a snapshot replaced meanwhile fails the
 * check: read again), publishes the payload into RING's own snapshot
 * file, and starts after the stream seq of the manifest; messages of the
 * same ring incarnation at or below the snapshot's ring seq are skipped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snap.h"
#include "../common.h"

struct snap_out {
	struct shmring_snap *s;		/* NULL until RING's snapshot file exists */
	kvStore *kv;
	char key[SHMRING_NAME_MAX * 3 + 1];
	uint64_t put_gen;		/* local generation last put */
	uint64_t prev_gen;		/* chunks of the manifest in the bucket */
	uint32_t prev_chunks;
	uint64_t next_ns;		/* next poll */
	void *buf;
	size_t cap;
	bool warned_unknown;
};

static kvStore *bucket(struct bridge_nats *bn, bool create)
{
	kvStore *kv = NULL;
	kvConfig kc;
	natsStatus s;

	s = js_KeyValue(&kv, bn->js, BRIDGE_KV_BUCKET);
	if (s == NATS_OK)
		return kv;
	if (s != NATS_NOT_FOUND)
		die(EXIT_RUNTIME, "KV bucket " BRIDGE_KV_BUCKET ": %s", NERR(s));
	if (!create)
		return NULL;
	kvConfig_Init(&kc);
	kc.Bucket = BRIDGE_KV_BUCKET;
	kc.History = 1;
	kc.StorageType = js_FileStorage;
	kc.Replicas = opt.replicas;
	s = js_CreateKeyValue(&kv, bn->js, &kc);
	if (s != NATS_OK)
		die(EXIT_RUNTIME, "cannot create KV bucket " BRIDGE_KV_BUCKET ": %s", NERR(s));
	logmsg("created KV bucket " BRIDGE_KV_BUCKET " (%d replica%s)", opt.replicas,
	       opt.replicas > 1 ? "s" : "");
	return kv;
}

struct snap_out *snap_out_start(struct bridge_nats *bn)
{
	struct snap_out *so = calloc(1, sizeof(*so));

	if (!so)
		die(EXIT_RUNTIME, "out of memory");
	if (bridge_escape(opt.ring, so->key, sizeof(so->key)) < 0)
		die(EXIT_RUNTIME, "bad ring name '%s'", opt.ring);
	so->kv = bucket(bn, true);
	if (so->kv) {
		/* The manifest a previous run put: its chunks go once a new one is in (#15). */
		kvEntry *e = NULL;
		struct bridge_snap_manifest m;

		if (kvStore_Get(&e, so->kv, so->key) == NATS_OK) {
			if (!bridge_snap_manifest_parse(kvEntry_Value(e),
							(size_t)kvEntry_ValueLen(e), &m) &&
			    !strcmp(m.ring, so->key)) {
				so->prev_gen = m.gen;
				so->prev_chunks = m.chunks;
			}
			kvEntry_Destroy(e);
		}
	}
	return so;
}

static void purge_chunks(struct snap_out *so, uint64_t gen, uint32_t chunks)
{
	char key[sizeof(so->key) + 48];

	/* Each purge may wait for the server (5 s): a stop signal cuts it short. */
	for (uint32_t i = 0; i < chunks && !stop_sig; i++) {
		natsStatus s;

		snprintf(key, sizeof(key), "%s.%" PRIu64 ".%" PRIu32, so->key, gen, i);
		s = kvStore_Purge(so->kv, key, NULL);
		if (s != NATS_OK)
			vlog("KV purge %s: %s", key, NERR(s));
	}
}

/* Put the loaded snapshot (META, so->buf) as generation GEN. */
static bool put(struct snap_out *so, struct bridge_nats *bn,
		const struct shmring_snap_meta *meta, uint64_t stream_seq)
{
	static uint64_t rl;
	struct bridge_snap_manifest m;
	char key[sizeof(so->key) + 48], text[512];
	int64_t maxp = natsConnection_GetMaxPayload(bn->nc);
	uint32_t chunk = maxp > 4096 ? (uint32_t)(maxp - 1024) : 1024;
	uint64_t rev, off = 0;
	natsStatus s;
	int len;

	memset(&m, 0, sizeof(m));
	snprintf(m.ring, sizeof(m.ring), "%s", so->key);
	snprintf(m.inc, sizeof(m.inc), "%s", out_incarnation());
	m.seq = meta->seq;
	m.stream_seq = stream_seq;
	m.len = meta->len;
	m.crc = meta->crc;
	m.gen = realtime_ns();
	m.chunks = bridge_snap_chunks(meta->len, chunk);
	m.time_ns = meta->time_ns;
	for (uint32_t i = 0; i < m.chunks; i++) {
		uint64_t n = m.len - off < chunk ? m.len - off : chunk;

		snprintf(key, sizeof(key), "%s.%" PRIu64 ".%" PRIu32, so->key, m.gen, i);
		s = kvStore_Put(&rev, so->kv, key, (const char *)so->buf + off, (int)n);
		if (s != NATS_OK) {
			logrl(&rl, "snapshot of ring %s: KV put %s: %s; retrying", opt.ring, key,
			      NERR(s));
			purge_chunks(so, m.gen, i);
			return false;
		}
		off += n;
	}
	len = bridge_snap_manifest_format(text, sizeof(text), &m);
	s = len < 0 ? NATS_ERR : kvStore_Put(&rev, so->kv, so->key, text, len);
	if (s != NATS_OK) {
		logrl(&rl, "snapshot of ring %s: KV put %s: %s; retrying", opt.ring, so->key,
		      NERR(s));
		purge_chunks(so, m.gen, m.chunks);
		return false;
	}
	if (so->prev_gen)
		purge_chunks(so, so->prev_gen, so->prev_chunks);
	so->prev_gen = m.gen;
	so->prev_chunks = m.chunks;
	logmsg("snapshot of ring %s (seq %s%" PRIu64 ", %" PRIu64 " bytes) put into KV "
	       BRIDGE_KV_BUCKET " key %s (stream seq %" PRIu64 ")", opt.ring,
	       m.seq == UINT64_MAX ? "none, " : "", m.seq == UINT64_MAX ? 0 : m.seq, m.len,
	       so->key, m.stream_seq);
	return true;
}

void snap_out_poll(struct snap_out *so, struct bridge_nats *bn)
{
	static uint64_t rl;
	struct shmring_snap_meta meta;
	uint64_t now = monotonic_ns(), ar, as, sseq = 0;
	int ret;

	if (!so || now < so->next_ns || !atomic_load(&nats_connected))
		return;
	so->next_ns = now + 500000000ULL;
	if (!so->s) {
		ret = shmring_snap_open(opt.ring, 0, 0, &so->s);
		if (ret == -ENOENT)
			return;
		if (ret < 0) {
			logrl(&rl, "snapshot file of ring %s: %s", opt.ring, shmring_strerror(ret));
			return;
		}
	}
	ret = shmring_snap_load(so->s, NULL, 0, &meta);
	if (ret == -ENODATA)
		return;
	if (ret < 0 && ret != -EMSGSIZE) {
		logrl(&rl, "snapshot of ring %s: %s", opt.ring, shmring_strerror(ret));
		return;
	}
	if (meta.gen == so->put_gen)
		return;
	if (meta.len > so->cap) {
		void *b = realloc(so->buf, meta.len);

		if (!b) {
			logrl(&rl, "snapshot of ring %s: %" PRIu64 " bytes: out of memory",
			      opt.ring, meta.len);
			return;
		}
		so->buf = b;
		so->cap = meta.len;
	}
	ret = shmring_snap_load(so->s, so->buf, so->cap, &meta);
	if (ret == -EMSGSIZE)	/* grew meanwhile: next time */
		return;
	if (ret < 0) {
		logrl(&rl, "snapshot of ring %s: %s", opt.ring, shmring_strerror(ret));
		return;
	}
	if (meta.seq != SHMRING_SNAP_SEQ_NONE) {
		out_acked_pos(&ar, &as);
		if (ar == UINT64_MAX || ar < meta.seq)
			return;	/* its record is not in the stream yet */
		if (!out_stream_seq_of(meta.seq, &sseq)) {
			sseq = 0;
			if (!so->warned_unknown)
				logmsg("snapshot of ring %s reflects seq %" PRIu64 ", acknowledged "
				       "before this run: its stream seq is unknown, a bootstrap "
				       "will read the stream from its start", opt.ring, meta.seq);
			so->warned_unknown = true;
		}
	}
	if (put(so, bn, &meta, sseq))
		so->put_gen = meta.gen;
}

void snap_out_stop(struct snap_out *so)
{
	if (!so)
		return;
	shmring_snap_close(so->s);
	kvStore_Destroy(so->kv);
	free(so->buf);
	free(so);
}

/*
 * Load the manifest and its chunks into *BUF; 0, -EAGAIN (torn), -ENOENT,
 * -EBADMSG (not a manifest of this key: logged).
 */
static int kv_load(kvStore *kv, const char *key, struct bridge_snap_manifest *m, char **buf)
{
	kvEntry *e = NULL;
	natsStatus s;
	uint64_t off = 0;
	char ck[SHMRING_NAME_MAX * 3 + 48];

	s = kvStore_Get(&e, kv, key);
	if (s == NATS_NOT_FOUND)
		return -ENOENT;
	if (s != NATS_OK)
		die(EXIT_RUNTIME, "KV " BRIDGE_KV_BUCKET " key %s: %s", key, NERR(s));
	if (bridge_snap_manifest_parse(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), m)) {
		kvEntry_Destroy(e);
		logmsg("--bootstrap: KV " BRIDGE_KV_BUCKET " key %s: not a snapshot manifest", key);
		return -EBADMSG;
	}
	kvEntry_Destroy(e);
	if (strcmp(m->ring, key)) {
		logmsg("--bootstrap: KV " BRIDGE_KV_BUCKET " key %s: the manifest is of another "
		       "ring", key);
		return -EBADMSG;
	}
	if (m->len > SHMRING_SNAP_MAX_LEN || m->chunks > m->len + 1) {
		logmsg("--bootstrap: KV " BRIDGE_KV_BUCKET " key %s: snapshot of %" PRIu64
		       " bytes in %" PRIu32 " chunks, more than %u or more chunks than bytes",
		       key, m->len, m->chunks, SHMRING_SNAP_MAX_LEN);
		return -EBADMSG;
	}
	*buf = malloc(m->len ? m->len : 1);
	if (!*buf)
		die(EXIT_RUNTIME, "out of memory");
	for (uint32_t i = 0; i < m->chunks; i++) {
		int n;

		snprintf(ck, sizeof(ck), "%s.%" PRIu64 ".%" PRIu32, key, m->gen, i);
		s = kvStore_Get(&e, kv, ck);
		if (s != NATS_OK) {
			vlog("KV %s: %s (replaced meanwhile?)", ck, NERR(s));
			return -EAGAIN;
		}
		n = kvEntry_ValueLen(e);
		if (n < 0 || (uint64_t)n > m->len - off) {
			kvEntry_Destroy(e);
			return -EAGAIN;
		}
		memcpy(*buf + off, kvEntry_Value(e), (size_t)n);
		off += (uint64_t)n;
		kvEntry_Destroy(e);
	}
	if (off != m->len || shmring_crc32c(*buf, m->len) != m->crc)
		return -EAGAIN;
	return 0;
}

bool snap_in_bootstrap(struct bridge_nats *bn, struct shmring *ring,
		       struct bridge_in_state *st, struct snap_skip *skip)
{
	struct shmring_info info = { .size = sizeof(info) };
	struct bridge_snap_manifest m;
	struct shmring_snap *ls = NULL;
	char key[SHMRING_NAME_MAX * 3 + 1], *buf = NULL;
	kvStore *kv;
	int ret = -EAGAIN;

	if (shmring_info(ring, &info) < 0 || info.head_seq != info.tail_seq) {
		logmsg("--bootstrap: ring %s holds records: no bootstrap, the stream from "
		       "the consumer's position", opt.ring);
		return false;
	}
	kv = bucket(bn, false);
	if (!kv) {
		logmsg("--bootstrap: no KV bucket " BRIDGE_KV_BUCKET ": the stream from its "
		       "start");
		return false;
	}
	/* The key is the source ring's name: the stream's messages say it. */
	if (bridge_escape(skip->ring[0] ? skip->ring : opt.ring, key, sizeof(key)) < 0)
		die(EXIT_RUNTIME, "bad ring name");
	for (int i = 0; i < 5 && ret == -EAGAIN; i++) {
		free(buf);
		buf = NULL;
		ret = kv_load(kv, key, &m, &buf);
	}
	kvStore_Destroy(kv);
	if (ret == -ENOENT) {
		logmsg("--bootstrap: no snapshot of ring %s in KV " BRIDGE_KV_BUCKET ": the "
		       "stream from its start", key);	/* escaped: the header is untrusted */
		free(buf);
		return false;
	}
	if (ret) {
		/* Not fatal: a restart would meet the same snapshot (review #10). */
		logmsg("--bootstrap: the snapshot of %s %s: no bootstrap, the stream from its "
		       "start", key, ret == -EBADMSG ? "is unusable" :
		       "kept changing or does not match its checksum (5 tries)");
		free(buf);
		return false;
	}
	ret = shmring_snap_open(opt.ring, SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT, 0644, &ls);
	if (ret == 0)
		ret = shmring_snap_publish(ls, buf, m.len,
					   info.head_seq ? info.head_seq - 1 : SHMRING_SNAP_SEQ_NONE);
	shmring_snap_close(ls);
	free(buf);
	if (ret < 0)
		die(EXIT_RUNTIME, "--bootstrap: snapshot file of ring %s: %s", opt.ring,
		    shmring_strerror(ret));
	st->last = m.stream_seq;
	skip->on = m.seq != UINT64_MAX;
	snprintf(skip->inc, sizeof(skip->inc), "%s", m.inc);
	skip->seq = m.seq;
	logmsg("--bootstrap: snapshot of %s (seq %" PRIu64 ", %" PRIu64 " bytes, crc ok) "
	       "published into ring %s's snapshot file; the stream after seq %" PRIu64,
	       key, m.seq == UINT64_MAX ? 0 : m.seq, m.len, opt.ring, m.stream_seq);
	return true;
}

bool snap_skip_msg(const struct snap_skip *skip, natsMsg *msg)
{
	char ring[SHMRING_NAME_MAX + 1], inc[BRIDGE_INC_LEN + 2];
	const char *id = NULL;
	uint64_t seq;

	if (!skip->on || natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK ||
	    bridge_msgid_parse(id, ring, sizeof(ring), inc, sizeof(inc), &seq))
		return false;
	return !strcmp(inc, skip->inc) && seq <= skip->seq;
}
