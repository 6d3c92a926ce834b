// SPDX-License-Identifier: MIT
/*
 * shmring-bridge: the NATS connection. Servers that do not answer are
 * retried with backoff (100 ms doubling to 5 s), at start as after a
 * disconnect, forever: an outage never ends the bridge. A bad URL or an
 * authorization failure ends it (exit 1): waiting would not help.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "../common.h"

atomic_bool nats_connected;
static atomic_bool closing;	/* our own close: no "disconnected" line */

static int64_t reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
	(void)nc;
	(void)closure;
	return bridge_backoff_ms(attempts);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	if (atomic_exchange(&nats_connected, false) && !atomic_load(&closing))
		logmsg("disconnected from the NATS server; reconnecting");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	char url[256] = "", shown[300];

	(void)closure;
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	bridge_url_redact(url, shown, sizeof(shown));
	atomic_store(&nats_connected, true);
	logmsg("reconnected to %s", shown);
}

static void on_closed(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	atomic_store(&nats_connected, false);
	vlog("connection closed");
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	static uint64_t last;

	(void)nc;
	(void)sub;
	(void)closure;
	logrl(&last, "NATS: %s", natsStatus_GetText(err));
}

static void check(natsStatus s, const char *what)
{
	if (s != NATS_OK)
		die(EXIT_RUNTIME, "%s: %s", what, NERR(s));
}

/* An authorization failure, whatever status carries it. */
static bool auth_failure(natsStatus s)
{
	const char *last = nats_GetLastError(NULL);

	return s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED ||
	       (last && (strstr(last, "uthorization") || strstr(last, "uthentication")));
}

bool bridge_connect(struct bridge_nats *bn, jsPubAckHandler ah, void *ah_closure)
{
	jsOptions jo;
	natsStatus s;
	char name[128];
	int attempt = 0;

	memset(bn, 0, sizeof(*bn));
	check(natsOptions_Create(&bn->opts), "NATS options");
	check(natsOptions_SetServers(bn->opts, (const char **)opt.urls, opt.nurls),
	      "server URLs");
	snprintf(name, sizeof(name), PROG " %s %s", opt.out ? "out" : "in", opt.ring);
	check(natsOptions_SetName(bn->opts, name), "NATS options");
	check(natsOptions_SetTimeout(bn->opts, 2000), "NATS options");
	check(natsOptions_SetMaxReconnect(bn->opts, -1), "NATS options");
	check(natsOptions_SetCustomReconnectDelay(bn->opts, reconnect_delay, NULL),
	      "NATS options");
	check(natsOptions_SetDisconnectedCB(bn->opts, on_disconnected, NULL), "NATS options");
	check(natsOptions_SetReconnectedCB(bn->opts, on_reconnected, NULL), "NATS options");
	check(natsOptions_SetClosedCB(bn->opts, on_closed, NULL), "NATS options");
	check(natsOptions_SetErrorHandler(bn->opts, on_error, NULL), "NATS options");
	if (opt.creds)
		check(natsOptions_SetUserCredentialsFromFiles(bn->opts, opt.creds, NULL),
		      opt.creds);
	if (opt.user)
		check(natsOptions_SetUserInfo(bn->opts, opt.user, opt.password), "NATS options");
	if (opt.token)
		check(natsOptions_SetToken(bn->opts, opt.token), "NATS options");
	for (;;) {
		s = natsConnection_Connect(&bn->nc, bn->opts);
		if (s == NATS_OK)
			break;
		if (auth_failure(s))
			die(EXIT_RUNTIME, "authorization failed at %s: %s", opt.shown_url, NERR(s));
		if (s == NATS_INVALID_ARG)
			die(EXIT_RUNTIME, "cannot connect to %s: %s", opt.shown_url, NERR(s));
		if (!attempt)
			logmsg("cannot connect to %s%s: %s; retrying", opt.shown_url,
			       opt.nurls > 1 ? " (and the others)" : "", NERR(s));
		else
			vlog("connect: %s", NERR(s));
		sleep_ms(bridge_backoff_ms(++attempt));
		if (stop_sig) {
			natsOptions_Destroy(bn->opts);
			bn->opts = NULL;
			return false;
		}
	}
	{
		char url[256] = "", shown[300];

		natsConnection_GetConnectedUrl(bn->nc, url, sizeof(url));
		bridge_url_redact(url, shown, sizeof(shown));
		logmsg("connected to %s", shown);
	}
	atomic_store(&nats_connected, true);
	check(jsOptions_Init(&jo), "JetStream options");
	jo.Wait = 5000;
	if (ah) {
		jo.PublishAsync.AckHandler = ah;
		jo.PublishAsync.AckHandlerClosure = ah_closure;
		jo.PublishAsync.MaxPending = opt.batch * 2;
	}
	check(natsConnection_JetStream(&bn->js, bn->nc, &jo), "JetStream context");
	return true;
}

void bridge_disconnect(struct bridge_nats *bn)
{
	if (bn->nc) {
		natsStatus s = natsConnection_FlushTimeout(bn->nc, 2000);

		if (s != NATS_OK && atomic_load(&nats_connected))
			logmsg("flush at exit: %s", NERR(s));
	}
	atomic_store(&closing, true);
	jsCtx_Destroy(bn->js);
	natsConnection_Destroy(bn->nc);
	natsOptions_Destroy(bn->opts);
	memset(bn, 0, sizeof(*bn));
}

jsStreamInfo *bridge_stream(struct bridge_nats *bn, const char *subject)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	int attempt = 0;

	for (;;) {
		s = js_GetStreamInfo(&si, bn->js, opt.stream, NULL, &jerr);
		if (s == NATS_OK) {
			/* out's exactly-once leans on the duplicate window (review #16). */
			if (opt.out && si->Config && si->Config->Duplicates < 30LL * 1000000000LL)
				logmsg("warning: stream %s drops duplicates over only %" PRId64
				       " ms: a round republished after a longer outage relies on "
				       "the stream's last message alone (2 minutes or more is "
				       "advised)", opt.stream, si->Config->Duplicates / 1000000);
			return si;
		}
		if (s == NATS_NOT_FOUND)
			break;
		if (s == NATS_NOT_PERMITTED || auth_failure(s))
			die(EXIT_RUNTIME, "stream %s: %s", opt.stream, NERR(s));
		/* JetStream not ready yet (a cluster electing), or the server went away. */
		if (!attempt)
			logmsg("stream %s: %s; retrying", opt.stream, NERR(s));
		sleep_ms(bridge_backoff_ms(++attempt));
		if (stop_sig)
			return NULL;
	}
	if (!opt.create_stream || !subject)
		die(EXIT_RUNTIME, "stream %s does not exist%s", opt.stream,
		    opt.out ? " (create it, or run with --create-stream)" : "");
	{
		jsStreamConfig cfg;
		const char *subjects[1] = { subject };

		check(jsStreamConfig_Init(&cfg), "stream config");
		cfg.Name = opt.stream;
		cfg.Subjects = subjects;
		cfg.SubjectsLen = 1;
		cfg.Storage = js_FileStorage;
		cfg.Replicas = opt.replicas;
		cfg.Duplicates = 120LL * 1000000000LL;	/* 2 minutes, the server's default */
		s = js_AddStream(&si, bn->js, &cfg, NULL, &jerr);
		if (s != NATS_OK)
			die(EXIT_RUNTIME, "cannot create stream %s: %s", opt.stream, NERR(s));
		logmsg("created stream %s (subject %s, %d replica%s)", opt.stream, subject,
		       opt.replicas, opt.replicas > 1 ? "s" : "");
	}
	return si;
}
