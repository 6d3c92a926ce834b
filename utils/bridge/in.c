// SPDX-License-Identifier: MIT
/*
 * shmring-bridge in: JetStream -> ring, acknowledged after commit, never
 * twice (docs/bridge.md).
 *
 * The state file (default /dev/shm/shmring-bridge-UID/in.RING.DURABLE) holds
 * the stream sequence of the last message committed into the ring, and,
 * while a batch is being written, the batch: the bridge's pid, the ring's
 * head_seq before it and the stream sequences of its messages. It is
 * saved before and after each batch. After a crash in between, the records
 * the dead bridge's pid wrote from that head_seq on say how much of the
 * batch was committed. At start the durable consumer is put right after
 * the last committed message (recreated if it is elsewhere or has
 * unacknowledged messages), so that redelivery never reorders; a message
 * at or below it is acknowledged and not written.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmring.h"
#include "bridge.h"
#include "snap.h"
#include "../common.h"

static struct bridge_in_state *st;
static char state_path[4096];
static char *state_buf;
static size_t state_cap;
static char esc_ring[SHMRING_NAME_MAX * 3 + 1];

static void save_state(void)
{
	int len = bridge_in_state_format(state_buf, state_cap, st), ret;

	if (len < 0)
		die(EXIT_RUNTIME, "%s: state too large", state_path);
	ret = bridge_write_file(state_path, state_buf, (size_t)len);
	if (ret)
		die(EXIT_RUNTIME, "%s: %s", state_path, bridge_file_error(ret));
}

/*
 * How much of the interrupted batch (MAX records from ring seq HEAD) was
 * committed: the records PID wrote from HEAD on, plus, if the ring
 * reclaimed some of them already, those (bridge_in_committed()).
 */
static uint32_t count_committed(uint32_t pid, uint64_t head, uint32_t max, bool *sure)
{
	struct shmring *r;
	struct shmring_record rec;
	struct shmring_info info = { .size = sizeof(info) };
	uint64_t oldest = head;
	uint32_t n = 0;
	int ret;

	*sure = true;
	ret = shmring_open(opt.ring, SHMRING_O_READ | SHMRING_O_TAP, 0, NULL, &r);
	if (ret < 0)
		die(EXIT_RUNTIME, "ring %s: %s", opt.ring, shmring_strerror(ret));
	if (shmring_info(r, &info) < 0 || info.head_seq <= head) {
		shmring_close(r);
		return 0;	/* nothing written since */
	}
	ret = shmring_seek(r, SHMRING_SEEK_SEQ, head);
	if (ret == -ENOENT) {
		/* Reclaimed already: count from the oldest, and say we cannot be sure. */
		*sure = false;
		ret = shmring_seek(r, SHMRING_SEEK_OLDEST, 0);
		oldest = info.head_seq;		/* all of it reclaimed, unless a record says */
	}
	if (ret < 0)
		die(EXIT_RUNTIME, "ring %s: seek: %s", opt.ring, shmring_strerror(ret));
	for (bool first = true; n < max; first = false) {
		ret = shmring_peek(r, &rec);
		if (ret == -EAGAIN)
			break;		/* no more records */
		if (ret < 0)
			die(EXIT_RUNTIME, "ring %s: reading the records of the interrupted batch: "
			    "%s", opt.ring, shmring_strerror(ret));
		if (first && !*sure)
			oldest = rec.seq;
		if (rec.seq >= head && rec.pid == pid)
			n++;
		ret = shmring_consume(r);
		if (ret == -ESTALE) {
			*sure = false;	/* overwritten under us: counted anyway */
			continue;
		}
		if (ret < 0)
			die(EXIT_RUNTIME, "ring %s: reading the records of the interrupted batch: "
			    "%s", opt.ring, shmring_strerror(ret));
	}
	shmring_close(r);
	return *sure ? n : bridge_in_committed(head, oldest, n, max);
}

static bool load_state(void)
{
	int ret = bridge_read_file(state_path, state_buf, state_cap);
	bool sure;
	uint32_t c;

	if (ret == -ENOENT)
		return false;
	if (ret < 0)
		die(EXIT_RUNTIME, "%s: %s", state_path, bridge_file_error(ret));
	if (bridge_in_state_parse(state_buf, st))
		die(EXIT_RUNTIME, "%s: not a state file of " PROG " in (remove it to start "
		    "over; messages may then be written twice)", state_path);
	if (st->n) {
		c = count_committed(st->pid, st->head, st->n, &sure);
		logmsg("%s: the last run (pid %" PRIu32 ") stopped writing a batch of %" PRIu32
		       ": %" PRIu32 " of it committed%s", state_path, st->pid, st->n, c,
		       sure ? "" : " (assumed: the ring no longer holds those records)");
		bridge_in_state_resolve(st, c);
		save_state();
	}
	return true;
}

/*
 * The consumer seq the next delivery must carry (0: any), whether the next
 * delivery is the consumer's first since we set it up, and whether the
 * stream holds only our subject (its seqs then follow each other): see
 * bridge_in_check().
 */
static uint64_t next_cseq;
static bool fresh, contiguous;

/*
 * The consumer, positioned right after st->last (see the top). At start
 * (FATAL) an error is a message and exit 1; later (a resync) it is logged
 * and NULL returned, to be tried again.
 */
#define SETUP_FAIL(...) do {						\
		if (fatal)						\
			die(EXIT_RUNTIME, __VA_ARGS__);			\
		logmsg(__VA_ARGS__);					\
		return NULL;						\
	} while (0)
/*
 * Idle (a fetch found nothing): deliveries lost at the stream's end show
 * no later message to reveal the gap, so ask the consumer whether it
 * delivered or acked past the last message committed. true: recreate it.
 */
static bool consumer_moved_on(struct bridge_nats *bn)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	bool moved;

	if (js_GetConsumerInfo(&ci, bn->js, opt.stream, opt.durable, NULL, &jerr) != NATS_OK)
		return false;	/* a fetch error will tell */
	moved = ci->AckFloor.Stream != st->last || ci->NumAckPending != 0;
	jsConsumerInfo_Destroy(ci);
	return moved;
}

static natsSubscription *setup_consumer(struct bridge_nats *bn, const char *subject,
					const char *durable, bool have_state, bool fatal)
{
	jsConsumerInfo *ci = NULL;
	jsConsumerConfig cc;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsSubscription *sub = NULL;
	natsStatus s;
	bool create = true;

	s = js_GetConsumerInfo(&ci, bn->js, opt.stream, durable, NULL, &jerr);
	if (s == NATS_OK) {
		if (!have_state)
			st->last = ci->AckFloor.Stream;
		if (ci->AckFloor.Stream == st->last && ci->NumAckPending == 0) {
			/*
			 * Nothing beyond last delivered: its next delivery is the
			 * next message, with the consumer sequence after the last
			 * one it delivered. Another consumer of the durable taking
			 * deliveries before our first fetch shows as a gap there.
			 */
			create = false;
			next_cseq = ci->Delivered.Consumer + 1;
		} else
			logmsg("consumer %s: acked up to %" PRIu64 " with %" PRId64 " pending; "
			       "recreating it after %" PRIu64 ", the last message committed",
			       durable, ci->AckFloor.Stream, ci->NumAckPending, st->last);
		jsConsumerInfo_Destroy(ci);
		if (create) {
			s = js_DeleteConsumer(bn->js, opt.stream, durable, NULL, &jerr);
			if (s != NATS_OK && s != NATS_NOT_FOUND)
				SETUP_FAIL("cannot delete consumer %s: %s", durable, NERR(s));
		}
	} else if (s != NATS_NOT_FOUND) {
		SETUP_FAIL("consumer %s of stream %s: %s", durable, opt.stream, NERR(s));
	}
	if (create) {
		jsConsumerConfig_Init(&cc);
		cc.Durable = durable;
		cc.AckPolicy = js_AckExplicit;
		cc.AckWait = 30LL * 1000000000LL;
		cc.MaxAckPending = opt.batch * 4 > 1000 ? opt.batch * 4 : 1000;
		cc.FilterSubject = subject;
		if (st->last) {
			cc.DeliverPolicy = js_DeliverByStartSequence;
			cc.OptStartSeq = st->last + 1;
		} else {
			cc.DeliverPolicy = js_DeliverAll;
		}
		s = js_AddConsumer(&ci, bn->js, opt.stream, &cc, NULL, &jerr);
		if (s != NATS_OK)
			SETUP_FAIL("cannot create consumer %s of stream %s: %s", durable,
				   opt.stream, NERR(s));
		jsConsumerInfo_Destroy(ci);
		vlog("consumer %s created, from stream seq %" PRIu64, durable, st->last + 1);
	}
	jsSubOptions_Init(&so);
	so.Stream = opt.stream;
	so.Consumer = durable;
	s = js_PullSubscribe(&sub, bn->js, subject, durable, NULL, &so, &jerr);
	if (s != NATS_OK)
		SETUP_FAIL("consumer %s of stream %s: %s", durable, opt.stream, NERR(s));
	if (create)
		next_cseq = 1;	/* a new consumer's first delivery */
	fresh = true;
	return sub;
}
#undef SETUP_FAIL

static uint32_t msg_type(natsMsg *m, uint64_t sseq)
{
	static uint64_t rl;
	const char *v = NULL;
	uint64_t t;

	if (natsMsgHeader_Get(m, HDR_TYPE, &v) == NATS_OK && bridge_parse_dec(v, &t) &&
	    t <= UINT32_MAX)
		return (uint32_t)t;
	logrl(&rl, "stream %s seq %" PRIu64 ": no valid " HDR_TYPE " header; type 0",
	      opt.stream, sseq);
	return 0;
}

/*
 * Write MSGS[0..N) (stream sequences SSEQ) into the ring, committing st;
 * how many were committed: N, or fewer if a signal came while the ring
 * was full (the handle is non-blocking: a full lossless ring is waited
 * for here, in steps that look at stop_sig).
 */
static unsigned int commit(struct shmring *ring, struct shmring_msg *msgs, uint64_t *sseq,
			   unsigned int n)
{
	static uint64_t rl;
	struct shmring_info info = { .size = sizeof(info) };
	unsigned int done = 0;
	int ret;

	ret = shmring_info(ring, &info);
	if (ret < 0)
		die(EXIT_RUNTIME, "ring %s: %s", opt.ring, shmring_strerror(ret));
	st->pid = (uint32_t)getpid();
	st->head = info.head_seq;
	st->n = n;
	memcpy(st->sseq, sseq, n * sizeof(*sseq));
	save_state();
	while (done < n) {
		ret = shmring_write_batch(ring, msgs + done, n - done);
		if (ret == -EINTR)
			continue;
		if (ret == -EAGAIN) {
			if (stop_sig)
				break;
			logrl(&rl, "ring %s is full: waiting for its readers", opt.ring);
			sleep_ms(10);
			continue;
		}
		if (ret < 0)
			die(EXIT_RUNTIME, "ring %s: write: %s (stream seq %" PRIu64 ")", opt.ring,
			    shmring_strerror(ret), sseq[done]);
		done += (unsigned int)ret;
	}
	bridge_in_state_resolve(st, done);
	save_state();
	return done;
}

/* The ring the stream's messages come from (its last message says). */
static bool source_ring(struct bridge_nats *bn, const char *subject, char *ring, size_t cap)
{
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	const char *v = NULL;
	natsStatus s;

	s = js_GetLastMsg(&m, bn->js, opt.stream, subject, NULL, &jerr);
	if (s == NATS_NOT_FOUND) {
		logmsg("--bootstrap: stream %s is empty: nothing to bootstrap from", opt.stream);
		return false;
	}
	if (s != NATS_OK)
		die(EXIT_RUNTIME, "--bootstrap: stream %s: %s", opt.stream, NERR(s));
	if (natsMsgHeader_Get(m, HDR_RING, &v) != NATS_OK || !*v || strlen(v) >= cap) {
		natsMsg_Destroy(m);
		logmsg("--bootstrap: the messages of stream %s carry no " HDR_RING " header: "
		       "no bootstrap", opt.stream);
		return false;
	}
	snprintf(ring, cap, "%s", v);
	natsMsg_Destroy(m);
	return true;
}

int run_in(void)
{
	struct bridge_nats bn;
	struct shmring *ring = NULL;
	struct shmring_info info = { .size = sizeof(info) };
	natsSubscription *sub = NULL;
	struct shmring_msg *msgs;
	uint64_t *sseq;
	natsMsg **todo;
	char defdur[256], subject[512];
	jsStreamInfo *si;
	bool have_state;
	int ret, attempt = 0;
	struct snap_skip skip = { 0 };

	if (bridge_escape(opt.ring, esc_ring, sizeof(esc_ring)) < 0)
		die(EXIT_RUNTIME, "bad ring name '%s'", opt.ring);
	if (!opt.durable) {
		snprintf(defdur, sizeof(defdur), "bridge-%s", esc_ring);
		opt.durable = defdur;
	}
	ret = shmring_open(opt.ring, SHMRING_O_WRITE | SHMRING_O_NONBLOCK, 0, NULL, &ring);
	if (ret == -ENODEV)
		return not_loaded();
	if (ret == -ENOENT)
		die(EXIT_RUNTIME, "ring %s does not exist (create it: shmring-ctl create %s)",
		    opt.ring, opt.ring);
	if (ret < 0)
		die(EXIT_RUNTIME, "cannot open ring %s: %s", opt.ring, shmring_strerror(ret));
	ret = shmring_info(ring, &info);
	if (ret < 0)
		die(EXIT_RUNTIME, "ring %s: %s", opt.ring, shmring_strerror(ret));
	if (info.attr.flags & SHMRING_ATTR_ZEROCOPY)
		die(EXIT_RUNTIME, "ring %s is a zero-copy ring: " PROG " in writes with "
		    "shmring_write_batch(), use an ordinary ring", opt.ring);

	st = calloc(1, sizeof(*st));
	state_cap = bridge_in_state_size(BRIDGE_IN_MAX_BATCH);
	state_buf = malloc(state_cap);
	msgs = calloc((size_t)opt.batch, sizeof(*msgs));
	sseq = calloc((size_t)opt.batch, sizeof(*sseq));
	todo = calloc((size_t)opt.batch, sizeof(*todo));
	if (!st || !state_buf || !msgs || !sseq || !todo)
		die(EXIT_RUNTIME, "out of memory");
	if (opt.state) {
		snprintf(state_path, sizeof(state_path), "%s", opt.state);
	} else {
		char esc_dur[256 * 3 + 1];

		if (bridge_escape(opt.durable, esc_dur, sizeof(esc_dur)) < 0)
			die(EXIT_RUNTIME, "bad consumer name '%s'", opt.durable);
		snprintf(state_path, sizeof(state_path), "%s/in.%s.%s", state_dir(), esc_ring,
			 esc_dur);
	}
	lock_state(state_path);
	have_state = load_state();

	if (!bridge_connect(&bn, NULL, NULL))
		goto out;
	si = bridge_stream(&bn, NULL);
	if (!si)
		goto out;
	if (si->Config->SubjectsLen < 1)
		die(EXIT_RUNTIME, "stream %s has no subjects", opt.stream);
	snprintf(subject, sizeof(subject), "%s", si->Config->Subjects[0]);
	/* Our filter is the stream's only subject: every message is ours. */
	contiguous = si->Config->SubjectsLen == 1;
	{
		char esc_stream[sizeof(st->stream)], why[256];
		uint64_t created = si->Created > 0 ? (uint64_t)si->Created : 0;

		if (bridge_escape(opt.stream, esc_stream, sizeof(esc_stream)) < 0)
			die(EXIT_RUNTIME, "bad stream name '%s'", opt.stream);
		if (have_state && !bridge_in_state_matches(st, esc_stream, created,
							    si->State.LastSeq, why, sizeof(why)))
			die(EXIT_RUNTIME, "%s: %s: refusing to skip or repeat messages (remove "
			    "the state file to start over from the consumer's position)",
			    state_path, why);
		snprintf(st->stream, sizeof(st->stream), "%s", esc_stream);
		st->created = created;
	}
	jsStreamInfo_Destroy(si);
	if (opt.bootstrap && !have_state &&
	    source_ring(&bn, subject, skip.ring, sizeof(skip.ring)) &&
	    snap_in_bootstrap(&bn, ring, st, &skip))
		have_state = true;	/* the consumer goes after the snapshot */
	sub = setup_consumer(&bn, subject, opt.durable, have_state, true);
	save_state();
	logmsg("in: stream %s (%s, consumer %s, after seq %" PRIu64 ") -> ring %s",
	       opt.stream, subject, opt.durable, st->last, opt.ring);

	while (!stop_sig) {
		static uint64_t rl;
		natsMsgList list = { 0 };
		jsErrCode jerr = 0;
		natsStatus s;
		unsigned int n = 0, queued;
		uint64_t skipped = 0;
		bool resync = false;

		stats_tick();
		if (!atomic_load(&nats_connected)) {
			sleep_ms(100);
			continue;
		}
		if (!sub) {
			/* Put the consumer right after the last committed message again. */
			sub = setup_consumer(&bn, subject, opt.durable, true, false);
			if (!sub) {
				sleep_ms(bridge_backoff_ms(++attempt));
				continue;
			}
		}
		s = natsSubscription_Fetch(&list, sub, opt.batch, 1000, &jerr);
		if (s == NATS_TIMEOUT) {
			if (consumer_moved_on(&bn)) {
				natsSubscription_Destroy(sub);
				sub = NULL;	/* setup_consumer() says why */
			}
			continue;
		}
		if (s != NATS_OK) {
			logrl(&rl, "fetch from %s: %s; checking the consumer and retrying",
			      opt.durable, NERR(s));
			natsMsgList_Destroy(&list);
			/*
			 * Messages of a broken fetch count as delivered to us: look at
			 * the consumer again (recreated after st->last if anything is
			 * pending, or if it was deleted).
			 */
			natsSubscription_Destroy(sub);
			sub = NULL;
			sleep_ms(bridge_backoff_ms(++attempt));
			continue;
		}
		attempt = 0;
		for (int i = 0; i < list.Count && !resync; i++) {
			natsMsg *m = list.Msgs[i];
			jsMsgMetaData *md = NULL;
			enum bridge_in_verdict v;
			uint64_t q, last = n ? sseq[n - 1] : st->last;

			if (skipped > last)
				last = skipped;
			s = natsMsg_GetMetaData(&md, m);
			if (s != NATS_OK) {
				logrl(&rl, "a message without JetStream metadata: %s", NERR(s));
				continue;
			}
			q = md->Sequence.Stream;
			stats.lag = md->NumPending;
			v = bridge_in_check(last, &next_cseq, q, md->Sequence.Consumer,
					    md->NumDelivered, contiguous, fresh);
			fresh = false;
			switch (v) {
			case BRIDGE_IN_RESYNC:
				logmsg("consumer %s: stream seq %" PRIu64 " came as delivery %" PRIu64
				       " (#%" PRIu64 ") after a lost one; recreating the consumer "
				       "after the last message committed", opt.durable, q,
				       md->Sequence.Consumer, md->NumDelivered);
				resync = true;
				break;
			case BRIDGE_IN_DONE:
				if (q <= st->last)
					natsMsg_Ack(m, NULL);	/* committed already */
				/* else: in this batch; its redelivery is acked later */
				break;
			case BRIDGE_IN_WRITE:
				if (snap_skip_msg(&skip, m)) {
					/* in the snapshot: like committed, saved below */
					natsMsg_Ack(m, NULL);
					skipped = q;
					break;
				}
				msgs[n].data = natsMsg_GetData(m);
				msgs[n].len = (uint32_t)natsMsg_GetDataLength(m);
				msgs[n].type = msg_type(m, q);
				if (msgs[n].len > info.attr.max_record) {
					logmsg("stream %s seq %" PRIu64 ": %" PRIu32 " bytes, more than "
					       "ring %s takes (%" PRIu32 "): dropped", opt.stream, q,
					       msgs[n].len, opt.ring, info.attr.max_record);
					natsMsg_Term(m, NULL);
					skipped = q;	/* past it, after the commit */
					break;
				}
				sseq[n] = q;
				todo[n++] = m;
				break;
			}
			jsMsgMetaData_Destroy(md);
		}
		queued = n;
		if (n) {
			/* Stopped while the ring was full: the rest is not acked. */
			n = commit(ring, msgs, sseq, n);
			for (unsigned int i = 0; i < n; i++) {
				s = natsMsg_Ack(todo[i], NULL);
				if (s != NATS_OK)
					logrl(&rl, "ack of stream seq %" PRIu64 ": %s (redelivery will "
					      "be skipped)", sseq[i], NERR(s));
				stats.records++;
				stats.bytes += msgs[i].len;
			}
			stats.acked += n;
		}
		/*
		 * Dropped and snapshot-skipped messages count as committed, so
		 * that a restart does not write them (only if all before them
		 * were: a stop while the ring was full leaves them to redelivery).
		 */
		if (skipped > st->last && (n == queued || skipped < sseq[n])) {
			st->last = skipped;
			save_state();
		}
		natsMsgList_Destroy(&list);
		if (resync) {
			natsSubscription_Destroy(sub);
			sub = NULL;
		}
	}
	logmsg("stopping (%s): %" PRIu64 " records written, up to stream seq %" PRIu64,
	       strsignal(stop_sig), stats.records, st->last);
out:
	/* Not Unsubscribe: that could delete the durable consumer. */
	natsSubscription_Destroy(sub);
	bridge_disconnect(&bn);
	shmring_close(ring);
	free(st);
	free(state_buf);
	free(msgs);
	free(sseq);
	free(todo);
	return stop_sig ? 0 : EXIT_RUNTIME;
}
