/* SPDX-License-Identifier: MIT */
/*
 * shmring-bridge: what main.c, nats.c, out.c and in.c share.
 * docs/bridge.md has the design, man/shmring-bridge.8 the interface.
 */
#ifndef SHMRING_BRIDGE_H
#define SHMRING_BRIDGE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#include "util.h"

#define PROG "shmring-bridge"

struct bridge_opts {
	bool out;			/* the direction */
	char **urls;			/* -s, split at ',' */
	char *shown_url;		/* the first, for messages (no password) */
	int nurls;
	const char *ring;
	const char *stream;
	const char *subject;		/* out: --subject (or the default) */
	const char *sub;		/* out: --sub */
	const char *durable;		/* in: --durable */
	const char *state;		/* in: --state */
	bool create_stream;
	int replicas;
	bool snapshots;			/* out: --snapshots */
	bool bootstrap;			/* in: --bootstrap */
	int batch;
	int stats;			/* seconds, 0: off */
	int verbose;
	const char *creds, *user, *password;
	const char *password_file;	/* --password-file */
	const char *token;		/* NATS_TOKEN */
};

extern struct bridge_opts opt;

/* Shared counters, for --stats. */
struct bridge_stats {
	uint64_t records, bytes, acked, lag;
	uint64_t last_records;
	uint64_t last_ns;
};
extern struct bridge_stats stats;

/* "shmring-bridge: ..." on stderr, one line; vlog only with -v. */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* At most one line per 5 s for the same KEY (a static int of the caller). */
void logrl(uint64_t *last, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text of a libnats status with its last error, for messages. */
const char *nats_err(natsStatus s, char *buf, size_t cap);
#define NERR(s) nats_err((s), (char[512]){ 0 }, 512)
/* Print the --stats line when its interval has passed. */
void stats_tick(void);
/* Sleep MS milliseconds, or less if a signal stops us. */
void sleep_ms(int64_t ms);

/* --- The connection (nats.c) --- */
struct bridge_nats {
	natsConnection *nc;
	jsCtx *js;
	natsOptions *opts;
};
extern atomic_bool nats_connected;
/*
 * Connect (retrying with backoff while no server answers, unless a signal
 * stops us: returns false then) and make the JetStream context; on an
 * auth failure or a bad URL: a message and exit 1. AH: publish ack
 * handler for async publishing (out), or NULL.
 */
bool bridge_connect(struct bridge_nats *bn, jsPubAckHandler ah, void *ah_closure);
void bridge_disconnect(struct bridge_nats *bn);
/* The stream's info; a missing stream: a message and exit 1 (or created). */
jsStreamInfo *bridge_stream(struct bridge_nats *bn, const char *subject);

/*
 * The private directory of the default state files,
 * /dev/shm/shmring-bridge-UID (created 0700, checked; exit 1 if it is
 * not ours alone).
 */
const char *state_dir(void);
/* Lock STATE.lock for this process's lifetime; exit 1 if another bridge holds it. */
void lock_state(const char *state);

int run_out(void);
int run_in(void);

#endif /* SHMRING_BRIDGE_H */
