// SPDX-License-Identifier: MIT
/*
 * shmring-bridge out: ring -> JetStream, exactly once (docs/bridge.md).
 *
 * Two handles on the ring: the durable subscription SUB, which moves only
 * over records JetStream acknowledged, and a tap that reads ahead of it
 * (a tap never holds writers back; SUB does, in a lossless ring). A round
 * copies up to --batch records from the tap, publishes them asynchronously
 * with the message id RING:INCARNATION:SEQ, waits for every PubAck, then
 * consumes them from SUB. Any failure rewinds the tap to SUB and publishes
 * again: what the stream already holds is dropped by its duplicate window,
 * and at start the stream's last message says where we were, for restarts
 * beyond that window.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "shmring.h"
#include "bridge.h"
#include "snap.h"
#include "../common.h"

struct pend {
	uint64_t seq, tstamp;
	uint32_t type, pid, len;
	char *data;
	size_t cap;
};

static struct pend *pend;
static int npend;
static char subject[512];
static char inc[BRIDGE_INC_LEN + 1];
static char esc_ring[SHMRING_NAME_MAX * 3 + 1];

/* Written by the ack handler (a libnats thread). */
static atomic_uint_fast64_t pub_errors, dups;
static atomic_int last_err;
static pthread_mutex_t ack_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t acked_ring_seq = UINT64_MAX, acked_stream_seq;	/* the newest acked record */
/* Stream seqs of recently acked records, by ring seq modulo the size. */
#define ACK_MAP_SIZE	65536
static struct { uint64_t ring_seq, stream_seq; } *ack_map;

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	const char *v = NULL;
	uint64_t seq;

	(void)js;
	(void)closure;
	if (pa) {
		if (pa->Duplicate)
			atomic_fetch_add(&dups, 1);
		if (natsMsgHeader_Get(msg, HDR_SEQ, &v) == NATS_OK && bridge_parse_dec(v, &seq)) {
			pthread_mutex_lock(&ack_lock);
			if (ack_map) {
				ack_map[seq % ACK_MAP_SIZE].ring_seq = seq;
				ack_map[seq % ACK_MAP_SIZE].stream_seq = pa->Sequence;
			}
			if (acked_ring_seq == UINT64_MAX || seq > acked_ring_seq) {
				acked_ring_seq = seq;
				acked_stream_seq = pa->Sequence;
			}
			pthread_mutex_unlock(&ack_lock);
		}
	} else if (pae) {
		atomic_fetch_add(&pub_errors, 1);
		atomic_store(&last_err, (int)pae->Err);
	}
	natsMsg_Destroy(msg);
}

bool out_stream_seq_of(uint64_t ring_seq, uint64_t *stream_seq)
{
	bool found;

	pthread_mutex_lock(&ack_lock);
	found = ack_map && ack_map[ring_seq % ACK_MAP_SIZE].ring_seq == ring_seq &&
		ack_map[ring_seq % ACK_MAP_SIZE].stream_seq;
	if (found)
		*stream_seq = ack_map[ring_seq % ACK_MAP_SIZE].stream_seq;
	pthread_mutex_unlock(&ack_lock);
	return found;
}

const char *out_incarnation(void)
{
	return inc;
}

void out_acked_pos(uint64_t *ring_seq, uint64_t *stream_seq)
{
	pthread_mutex_lock(&ack_lock);
	*ring_seq = acked_ring_seq;
	*stream_seq = acked_stream_seq;
	pthread_mutex_unlock(&ack_lock);
}

static int ring_error(int ret, const char *what)
{
	if (ret == -ENODEV)
		return not_loaded();
	if (ret == -ENOENT)
		die(EXIT_RUNTIME, "ring %s does not exist", opt.ring);
	die(EXIT_RUNTIME, "%s %s: %s", what, opt.ring, shmring_strerror(ret));
}

/* The incarnation of the ring as this subscription knows it (docs/bridge.md). */
static void load_incarnation(struct shmring *tap)
{
	struct shmring_sub_info subs[SHMRING_MAX_SUBS];
	char path[4096], esc_sub[SHMRING_SUB_NAME_MAX * 3 + 1], text[128];
	unsigned int total = 0;
	bool have_sub = false;
	uint64_t r;
	int ret;

	bridge_escape(opt.sub, esc_sub, sizeof(esc_sub));
	snprintf(path, sizeof(path), "%s/out.%s.%s", state_dir(), esc_ring, esc_sub);
	lock_state(path);
	ret = shmring_sub_list(tap, subs, SHMRING_MAX_SUBS, &total);
	if (ret < 0)
		ring_error(ret, "cannot list the subscriptions of ring");
	for (unsigned int i = 0; i < (unsigned int)ret; i++)
		if (!strncmp(subs[i].name, opt.sub, sizeof(subs[i].name)))
			have_sub = true;
	if (have_sub) {
		ret = bridge_read_file(path, text, sizeof(text));
		if (ret >= 0 && !bridge_out_state_parse(text, inc))
			return;
		warn_msg("%s: %s; a new ring incarnation: records of ring %s that the stream "
			 "already holds may be published again", path,
			 ret < 0 ? bridge_file_error(ret) : "not an incarnation file", opt.ring);
	}
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		die(EXIT_RUNTIME, "getrandom: %s", strerror(errno));
	bridge_inc_format(r, inc);
	ret = bridge_out_state_format(text, sizeof(text), inc);
	ret = bridge_write_file(path, text, (size_t)ret);
	if (ret)
		die(EXIT_RUNTIME, "%s: %s", path, bridge_file_error(ret));
	vlog("ring %s: incarnation %s", opt.ring, inc);
}

struct advance {
	uint64_t upto;
	uint64_t bytes;
};

static int advance_fn(void *ctx, const struct shmring_record *rec)
{
	struct advance *a = ctx;

	if (rec->seq > a->upto)
		return -ECANCELED;
	return 0;
}

/* Consume SUB through record UPTO (acked). */
static void advance_sub(struct shmring *sub, uint64_t upto)
{
	struct advance a = { upto, 0 };
	int ret;

	do {
		ret = shmring_consume_n(sub, advance_fn, &a, -1);
	} while (ret == -EINTR);
	if (ret < 0 && ret != -ECANCELED && ret != -EAGAIN)
		die(EXIT_RUNTIME, "ring %s: subscription %s: %s", opt.ring, opt.sub,
		    shmring_strerror(ret));
}

static uint64_t sub_next(struct shmring *sub)
{
	struct shmring_info info = { .size = sizeof(info) };
	int ret = shmring_info(sub, &info);

	if (ret < 0)
		die(EXIT_RUNTIME, "ring %s: %s", opt.ring, shmring_strerror(ret));
	return info.reader_seq;
}

/* Put the tap where SUB is: the first record not acked. */
static void rewind_tap(struct shmring *tap, struct shmring *sub)
{
	uint64_t seq = sub_next(sub);
	int ret = shmring_seek(tap, SHMRING_SEEK_SEQ, seq);

	if (ret == -ENOENT)
		ret = shmring_seek(tap, SHMRING_SEEK_OLDEST, 0);
	if (ret < 0)
		die(EXIT_RUNTIME, "ring %s: seek: %s", opt.ring, shmring_strerror(ret));
	npend = 0;
}

/*
 * Order (docs/bridge.md, "Order"): when the stream holds only SUBJ, each
 * message of a round carries ExpectLastSeq = the stream seq its
 * predecessor gets, so the server stores a round only as an unbroken
 * prefix, in order: a record lost in a broken connection (or sent while a
 * replicated stream had no leader) makes every later one of the round fail
 * too (libnats would otherwise send those it buffered while reconnecting,
 * ahead of the lost one published again). The stream-wide sequence, not
 * the subject's: a replicated stream checks it as each replica applies its
 * log, in log order, so a pipelined round passes; nats-server 2.9 checks
 * the subject's against what it has applied before proposing, which lags
 * the pipeline (it refused every message of a round but the first).
 */
static bool chain;		/* the stream holds only SUBJ: chain the rounds */
static uint64_t chain_last;	/* the stream's last sequence (0: none yet) */
static bool need_sync = true;	/* learn chain_last and skip what is stored */
static int chain_refused;	/* failed rounds in a row with refusals */

/*
 * Where the stream says we are: its last message on SUBJ. Records of this
 * incarnation it holds are skipped (consumed from SUB). false if the
 * stream cannot be asked now.
 */
/* The stream's last message claims ring seq SEQ: believable? (bridge_resume_check) */
static bool trusted(struct shmring *sub, natsMsg *m, uint64_t seq)
{
	struct shmring_info info = { .size = sizeof(info) };
	const char *h = NULL;
	int ret;

	if (shmring_info(sub, &info) < 0)
		return false;
	if (natsMsgHeader_Get(m, HDR_SEQ, &h) != NATS_OK)
		h = NULL;
	ret = bridge_resume_check(seq, h, info.head_seq);
	if (ret == -1)
		logmsg("warning: stream %s: the last message on %s (stream seq %" PRIu64 ") has "
		       "a message id of ring %s whose seq its " HDR_SEQ " header does not "
		       "match: not ours, ignored", opt.stream, subject, natsMsg_GetSequence(m),
		       opt.ring);
	else if (ret == -2)
		logmsg("warning: stream %s: the last message on %s claims ring %s seq %" PRIu64
		       ", which the ring has not written (its head is %" PRIu64 "): forged? "
		       "ignored", opt.stream, subject, opt.ring, seq, (uint64_t)info.head_seq);
	return ret == 0;
}

/*
 * Learn the stream's last sequence (chain_last) and its last message on
 * SUBJ, and, if @skip, skip the ring records that message says the
 * stream holds. After a failed round
 * skipping is right only under the order guard (chain): without it the
 * server may have stored the end of the round and lost the middle, and
 * the round is published again instead (the duplicate window drops what
 * was stored).
 */
static bool sync_with_stream(struct bridge_nats *bn, struct shmring *sub, bool skip)
{
	static uint64_t rl;
	char ring[SHMRING_NAME_MAX + 1], minc[BRIDGE_INC_LEN + 2];
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	const char *id = NULL;
	jsStreamInfo *si = NULL;
	uint64_t seq, next;
	natsStatus s;

	/*
	 * The stream's last sequence, which ExpectLastSeq is checked against:
	 * with SUBJ its only subject, SUBJ's last message unless that one was
	 * deleted (interest or work-queue retention).
	 */
	s = js_GetStreamInfo(&si, bn->js, opt.stream, NULL, &jerr);
	if (s != NATS_OK) {
		logrl(&rl, "stream %s: %s; retrying", opt.stream, NERR(s));
		return false;
	}
	chain_last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	s = js_GetLastMsg(&m, bn->js, opt.stream, subject, NULL, &jerr);
	if (s == NATS_NOT_FOUND)
		return true;
	if (s != NATS_OK) {
		logrl(&rl, "stream %s: the last message on %s: %s; retrying", opt.stream,
		      subject, NERR(s));
		return false;
	}
	if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK &&
	    !bridge_msgid_parse(id, ring, sizeof(ring), minc, sizeof(minc), &seq) &&
	    !strcmp(ring, opt.ring) && !strcmp(minc, inc) && trusted(sub, m, seq)) {
		uint64_t sseq = natsMsg_GetSequence(m);

		/* The stream seq of that record: for a snapshot that reflects it. */
		if (sseq) {
			pthread_mutex_lock(&ack_lock);
			if (acked_ring_seq == UINT64_MAX || seq >= acked_ring_seq) {
				acked_ring_seq = seq;
				acked_stream_seq = sseq;
			}
			if (ack_map) {
				ack_map[seq % ACK_MAP_SIZE].ring_seq = seq;
				ack_map[seq % ACK_MAP_SIZE].stream_seq = sseq;
			}
			pthread_mutex_unlock(&ack_lock);
		}
		next = sub_next(sub);
		if (skip && seq >= next) {
			logmsg("stream %s holds ring %s up to seq %" PRIu64 ": resuming after it",
			       opt.stream, opt.ring, seq);
			advance_sub(sub, seq);
		}
	}
	natsMsg_Destroy(m);
	return true;
}

/* Copy up to --batch records from the tap into pend[]. */
/* The server's max_payload, and what our headers may take of it at most. */
static int64_t max_payload;
static uint32_t hdr_bytes;

static int fill(struct shmring *tap)
{
	struct shmring_record rec;
	int ret;

	while (npend < opt.batch) {
		struct pend *p = &pend[npend];

		ret = shmring_peek(tap, &rec);
		if (ret == -EAGAIN)
			break;
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			static uint64_t rl;

			logrl(&rl, "ring %s: %s", opt.ring, shmring_strerror(ret));
			if (ret == -EBADMSG || ret == -ESTALE) {
				shmring_consume(tap);
				continue;
			}
			break;
		}
		if (max_payload > 0 && (int64_t)rec.len + hdr_bytes > max_payload)
			die(EXIT_RUNTIME, "ring %s, record seq %" PRIu64 ": %" PRIu32 " bytes, with "
			    "its headers (up to %" PRIu32 ") more than the server takes "
			    "(max_payload %" PRId64 "): not published, nothing skipped; raise the "
			    "server's max_payload or write smaller records", opt.ring, rec.seq,
			    rec.len, hdr_bytes, max_payload);
		if (rec.len > p->cap) {
			char *d = realloc(p->data, rec.len);

			if (!d)
				die(EXIT_RUNTIME, "out of memory");
			p->data = d;
			p->cap = rec.len;
		}
		memcpy(p->data, rec.data, rec.len);
		p->seq = rec.seq;
		p->tstamp = rec.tstamp_ns;
		p->type = rec.type;
		p->pid = rec.pid;
		p->len = rec.len;
		ret = shmring_consume(tap);
		if (ret == -ESTALE)	/* overwritten while we copied */
			continue;
		if (ret < 0 && ret != -EINTR)
			die(EXIT_RUNTIME, "ring %s: %s", opt.ring, shmring_strerror(ret));
		npend++;
	}
	return npend;
}

static natsStatus publish(struct bridge_nats *bn, const struct pend *p, int i)
{
	char id[SHMRING_NAME_MAX + BRIDGE_INC_LEN + 32], num[24];
	jsPubOptions po;
	natsMsg *m = NULL;
	natsStatus s;

	s = natsMsg_Create(&m, subject, NULL, p->data, (int)p->len);
	if (s != NATS_OK)
		return s;
	snprintf(num, sizeof(num), "%" PRIu32, p->type);
	s = natsMsgHeader_Set(m, HDR_TYPE, num);
	if (s == NATS_OK) {
		snprintf(num, sizeof(num), "%" PRIu64, p->seq);
		s = natsMsgHeader_Set(m, HDR_SEQ, num);
	}
	if (s == NATS_OK) {
		snprintf(num, sizeof(num), "%" PRIu64, p->tstamp);
		s = natsMsgHeader_Set(m, HDR_TIME, num);
	}
	if (s == NATS_OK) {
		snprintf(num, sizeof(num), "%" PRIu32, p->pid);
		s = natsMsgHeader_Set(m, HDR_PID, num);
	}
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, HDR_RING, opt.ring);
	if (s == NATS_OK)
		s = jsPubOptions_Init(&po);
	if (s == NATS_OK) {
		bridge_msgid_format(id, sizeof(id), opt.ring, inc, p->seq);
		po.MsgId = id;
		/* 0: the subject has no message yet; the first goes unguarded. */
		if (chain && chain_last + (uint64_t)i)
			po.ExpectLastSeq = chain_last + (uint64_t)i;
		s = js_PublishMsgAsync(bn->js, &m, &po);
	}
	natsMsg_Destroy(m);	/* NULL once the library owns it */
	return s;
}

/* Forget what is still in flight: it will be published again. */
static void drop_pending(struct bridge_nats *bn)
{
	natsMsgList list;

	if (js_PublishAsyncGetPendingList(&list, bn->js) == NATS_OK)
		natsMsgList_Destroy(&list);
}

/* One round: publish pend[], wait for the acks. true if all were acked. */
static bool round_trip(struct bridge_nats *bn)
{
	static uint64_t rl;
	jsPubOptions co;
	natsStatus s = NATS_OK;
	int i;

	atomic_store(&pub_errors, 0);
	for (i = 0; i < npend && s == NATS_OK; i++)
		s = publish(bn, &pend[i], i);
	if (s != NATS_OK) {
		logrl(&rl, "publish to %s: %s; retrying", subject, NERR(s));
		drop_pending(bn);
		return false;
	}
	jsPubOptions_Init(&co);
	co.MaxWait = 10000;
	s = js_PublishAsyncComplete(bn->js, &co);
	if (s != NATS_OK) {
		logrl(&rl, "publish to %s: no acknowledgment: %s; retrying", subject, NERR(s));
		drop_pending(bn);
		return false;
	}
	if (atomic_load(&pub_errors)) {
		logrl(&rl, "publish to %s: %" PRIuFAST64 " of %d refused: %s; retrying", subject,
		      atomic_load(&pub_errors), npend,
		      natsStatus_GetText((natsStatus)atomic_load(&last_err)));
		return false;
	}
	return true;
}

int run_out(void)
{
	struct bridge_nats bn;
	struct shmring *tap = NULL, *sub = NULL;
	struct snap_out *so = NULL;
	char defsub[SHMRING_SUB_NAME_MAX + 16];
	jsStreamInfo *si;
	int ret, attempt = 0;

	if (bridge_escape(opt.ring, esc_ring, sizeof(esc_ring)) < 0)
		die(EXIT_RUNTIME, "bad ring name '%s'", opt.ring);
	if (opt.subject)
		snprintf(subject, sizeof(subject), "%s", opt.subject);
	else
		snprintf(subject, sizeof(subject), "shmring.%s", esc_ring);
	if (!opt.sub) {
		snprintf(defsub, sizeof(defsub), "bridge-%s", opt.stream);
		if (strlen(defsub) >= SHMRING_SUB_NAME_MAX)
			die(EXIT_RUNTIME, "the default subscription name %s is too long: "
			    "give one with --sub", defsub);
		opt.sub = defsub;
	}
	pend = calloc((size_t)opt.batch, sizeof(*pend));
	if (opt.snapshots)
		ack_map = calloc(ACK_MAP_SIZE, sizeof(*ack_map));
	if (!pend || (opt.snapshots && !ack_map))
		die(EXIT_RUNTIME, "out of memory");

	ret = shmring_open(opt.ring, SHMRING_O_READ | SHMRING_O_TAP, 0, NULL, &tap);
	if (ret < 0)
		return ring_error(ret, "cannot open ring");
	load_incarnation(tap);
	ret = shmring_subscribe(opt.ring, opt.sub, 0, &sub);
	if (ret == -EINVAL)
		die(EXIT_RUNTIME, "'%s' cannot name a ring subscription (1 to 31 bytes of "
		    "[A-Za-z0-9._-])%s", opt.sub, opt.sub == defsub ? ": give one with --sub" : "");
	if (ret < 0)
		die(EXIT_RUNTIME, "ring %s: subscription %s: %s", opt.ring, opt.sub,
		    shmring_strerror(ret));

	if (!bridge_connect(&bn, on_ack, NULL))
		goto out;
	si = bridge_stream(&bn, subject);
	if (!si)
		goto out;
	{
		bool takes = false;
		char list[512] = "";
		size_t o = 0;

		for (int i = 0; si->Config && i < si->Config->SubjectsLen; i++) {
			takes |= bridge_subject_match(si->Config->Subjects[i], subject);
			if (o < sizeof(list))
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? " " : "",
						      si->Config->Subjects[i]);
		}
		/* Replicated or not: see "Order" above. */
		chain = si->Config && si->Config->SubjectsLen == 1 &&
			!strcmp(si->Config->Subjects[0], subject);
		jsStreamInfo_Destroy(si);
		if (!takes)
			die(EXIT_RUNTIME, "stream %s does not take subject %s (its subjects: %s): "
			    "give --subject, or another stream", opt.stream, subject,
			    *list ? list : "none");
	}
	{
		struct shmring_info info = { .size = sizeof(info) };

		/* NATS/1.0, six headers with numbers of up to 20 digits, the ring twice. */
		hdr_bytes = (uint32_t)(320 + 6 * strlen(opt.ring));
		max_payload = natsConnection_GetMaxPayload(bn.nc);
		if (shmring_info(tap, &info) == 0 && max_payload > 0 &&
		    (int64_t)info.attr.max_record + hdr_bytes > max_payload)
			logmsg("warning: ring %s takes records of up to %" PRIu32 " bytes, the "
			       "server at most %" PRId64 " with headers: a record that large "
			       "will stop " PROG " out (raise the server's max_payload)",
			       opt.ring, info.attr.max_record, max_payload - hdr_bytes);
	}
	while (!sync_with_stream(&bn, sub, true)) {
		sleep_ms(bridge_backoff_ms(++attempt));
		if (stop_sig)
			goto out;
	}
	need_sync = false;
	attempt = 0;
	rewind_tap(tap, sub);
	if (opt.snapshots)
		so = snap_out_start(&bn);
	logmsg("out: ring %s (incarnation %s, seq %" PRIu64 ") -> stream %s subject %s",
	       opt.ring, inc, sub_next(sub), opt.stream, subject);

	while (!stop_sig) {
		struct shmring_info info = { .size = sizeof(info) };

		if (shmring_info(tap, &info) == 0)
			stats.lag = info.head_seq - sub_next(sub);
		stats_tick();
		if (so)
			snap_out_poll(so, &bn);
		if (!atomic_load(&nats_connected)) {
			sleep_ms(100);
			continue;
		}
		if (need_sync) {
			/* After a failed round: skip what the stream stored of it. */
			if (!sync_with_stream(&bn, sub, chain)) {
				sleep_ms(bridge_backoff_ms(++attempt));
				continue;
			}
			need_sync = false;
			rewind_tap(tap, sub);
		}
		if (!fill(tap)) {
			ret = shmring_wait(tap, 200);
			if (ret == -EIDRM)
				die(EXIT_RUNTIME, "ring %s was deleted (everything it held is "
				    "published)", opt.ring);
			if (ret < 0 && ret != -EINTR && ret != -ETIMEDOUT && ret != -EAGAIN)
				die(EXIT_RUNTIME, "ring %s: %s", opt.ring, shmring_strerror(ret));
			continue;
		}
		if (!round_trip(&bn)) {
			/* Refused rounds again and again: the server cannot chain. */
			if (chain && atomic_load(&pub_errors) && ++chain_refused >= 5) {
				chain = false;
				logmsg("stream %s refuses chained publishes: publishing without "
				       "the order guard (docs/bridge.md)", opt.stream);
			}
			need_sync = true;
			npend = 0;
			sleep_ms(bridge_backoff_ms(++attempt));
			continue;
		}
		attempt = 0;
		chain_refused = 0;
		advance_sub(sub, pend[npend - 1].seq);
		{
			uint64_t ar, as;

			out_acked_pos(&ar, &as);
			if (ar == pend[npend - 1].seq)
				chain_last = as;
			else
				need_sync = true;
		}
		stats.acked += (uint64_t)npend;
		for (int i = 0; i < npend; i++) {
			stats.records++;
			stats.bytes += pend[i].len;
		}
		npend = 0;
	}
	logmsg("stopping (%s): %" PRIu64 " records published, %" PRIuFAST64
	       " already in the stream", strsignal(stop_sig), stats.acked, atomic_load(&dups));
out:
	snap_out_stop(so);
	bridge_disconnect(&bn);
	shmring_close(sub);
	shmring_close(tap);
	for (int i = 0; i < opt.batch; i++)
		free(pend[i].data);
	free(pend);
	free(ack_map);
	return stop_sig ? 0 : EXIT_RUNTIME;
}
