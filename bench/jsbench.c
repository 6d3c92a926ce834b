// SPDX-License-Identifier: GPL-2.0
/*
 * jsbench: a raw JetStream publisher with libnats, the baseline that
 * shmring-bridge's records/s are compared with (make bench-bridge,
 * bench/bridge.sh, docs/bench-bridge.md).
 *
 *   jsbench -s URL [--stream NAME] [--subject SUBJ] [-n N] [--size B]...
 *           [--mode sync|async|async-hdr]... [--replicas R] [--keep]
 *   jsbench -s URL [--stream NAME] --delete
 *
 * For every size and mode, publishes N records of that size to SUBJ (the
 * stream is created if missing, file storage, and purged before each run)
 * and prints one JSON line:
 *   {"kind":"jsbench","mode":"async","size":64,"records":N,"seconds":S,
 *    "records_per_s":R,"mb_per_s":M}
 * sync: js_Publish, one PubAck awaited per record. async: js_PublishAsync
 * with at most --pending unacknowledged (default 256, the bridge's batch),
 * then js_PublishAsyncComplete. async-hdr: as async, with the headers
 * shmring-bridge out sets (Nats-Msg-Id and five Shmring-*), so the
 * server's duplicate detection is paid as the bridge pays it.
 * The stream is deleted at the end unless --keep.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#define MAX_LIST 8

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die_nats(const char *what, natsStatus s, jsErrCode jerr)
{
	fprintf(stderr, "jsbench: %s: %s", what, natsStatus_GetText(s));
	if (jerr)
		fprintf(stderr, " (JetStream error %d)", (int)jerr);
	fprintf(stderr, "\n");
	exit(1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: jsbench -s URL [OPTION]...\n"
		"Publish records to a JetStream stream and print records/s (JSON lines).\n\n"
		"  -s, --server=URL[,URL]  NATS servers\n"
		"      --stream=NAME       the stream (default JSBENCH)\n"
		"      --subject=SUBJ      the subject (default jsbench.records)\n"
		"  -n, --records=N         records per run (default 10000)\n"
		"      --size=B            payload size; repeatable (default 64 and 4096)\n"
		"      --mode=M            sync, async or async-hdr; repeatable (default all)\n"
		"      --pending=N         async: unacknowledged at most (default 256)\n"
		"      --replicas=R        replicas of a created stream (default 1)\n"
		"      --keep              do not delete the stream at the end\n"
		"      --delete            only delete the stream, then exit\n"
		"  -h, --help              this help\n");
}

/* run: one mode and size; returns the seconds it took. */
static double run(jsCtx *js, const char *subj, const char *mode, size_t size, long n)
{
	char *data = malloc(size ? size : 1);
	jsErrCode jerr = 0;
	natsStatus s;
	double t0, t;
	long i;

	if (!data) {
		fprintf(stderr, "jsbench: out of memory\n");
		exit(1);
	}
	for (size_t k = 0; k < size; k++)
		data[k] = (char)('a' + k % 26);
	t0 = now();
	for (i = 0; i < n; i++) {
		if (!strcmp(mode, "sync")) {
			jsPubAck *pa = NULL;

			s = js_Publish(&pa, js, subj, data, (int)size, NULL, &jerr);
			if (s != NATS_OK)
				die_nats("js_Publish", s, jerr);
			jsPubAck_Destroy(pa);
		} else if (!strcmp(mode, "async")) {
			s = js_PublishAsync(js, subj, data, (int)size, NULL);
			if (s != NATS_OK)
				die_nats("js_PublishAsync", s, 0);
		} else {
			natsMsg *m = NULL;
			char v[64];

			s = natsMsg_Create(&m, subj, NULL, data, (int)size);
			if (s == NATS_OK) {
				snprintf(v, sizeof(v), "jsbench:1:%ld", i);
				s = natsMsgHeader_Set(m, "Nats-Msg-Id", v);
			}
			snprintf(v, sizeof(v), "%ld", i);
			if (s == NATS_OK)
				s = natsMsgHeader_Set(m, "Shmring-Seq", v);
			if (s == NATS_OK)
				s = natsMsgHeader_Set(m, "Shmring-Type", "1");
			if (s == NATS_OK)
				s = natsMsgHeader_Set(m, "Shmring-Time", "1764700000000000000");
			if (s == NATS_OK)
				s = natsMsgHeader_Set(m, "Shmring-Pid", "4242");
			if (s == NATS_OK)
				s = natsMsgHeader_Set(m, "Shmring-Ring", "jsbench");
			if (s == NATS_OK)
				s = js_PublishMsgAsync(js, &m, NULL);
			natsMsg_Destroy(m);	/* NULL once the library owns it */
			if (s != NATS_OK)
				die_nats("js_PublishMsgAsync", s, 0);
		}
	}
	if (strcmp(mode, "sync")) {
		jsPubOptions po;
		natsMsgList pending = { 0 };

		jsPubOptions_Init(&po);
		po.MaxWait = 60000;
		s = js_PublishAsyncComplete(js, &po);
		if (s != NATS_OK)
			die_nats("js_PublishAsyncComplete", s, 0);
		if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK && pending.Count) {
			fprintf(stderr, "jsbench: %d records not acknowledged\n", pending.Count);
			natsMsgList_Destroy(&pending);
			exit(1);
		}
	}
	t = now() - t0;
	free(data);
	return t;
}

static int async_errors;

static void on_async_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)closure;
	if (async_errors++ < 5)
		fprintf(stderr, "jsbench: asynchronous publish failed: %s\n",
			pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "stream", required_argument, NULL, 'S' },
		{ "subject", required_argument, NULL, 'j' },
		{ "records", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'z' },
		{ "mode", required_argument, NULL, 'm' },
		{ "pending", required_argument, NULL, 'p' },
		{ "replicas", required_argument, NULL, 'R' },
		{ "keep", no_argument, NULL, 'k' },
		{ "delete", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *url = NULL, *stream = "JSBENCH", *subj = "jsbench.records";
	const char *modes[MAX_LIST];
	size_t sizes[MAX_LIST];
	int nmodes = 0, nsizes = 0, replicas = 1, keep = 0, delete_only = 0, c;
	long n = 10000, pending = 256;
	natsConnection *nc = NULL;
	natsOptions *no = NULL;
	jsOptions jo;
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsCtx *js = NULL;
	natsStatus s;

	while ((c = getopt_long(argc, argv, "s:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': url = optarg; break;
		case 'S': stream = optarg; break;
		case 'j': subj = optarg; break;
		case 'n': n = strtol(optarg, NULL, 0); break;
		case 'p': pending = strtol(optarg, NULL, 0); break;
		case 'R': replicas = atoi(optarg); break;
		case 'k': keep = 1; break;
		case 'D': delete_only = 1; break;
		case 'z':
			if (nsizes == MAX_LIST) {
				fprintf(stderr, "jsbench: at most %d sizes\n", MAX_LIST);
				return 2;
			}
			sizes[nsizes++] = strtoul(optarg, NULL, 0);
			break;
		case 'm':
			if (strcmp(optarg, "sync") && strcmp(optarg, "async") &&
			    strcmp(optarg, "async-hdr")) {
				fprintf(stderr, "jsbench: unknown mode '%s' (sync, async, async-hdr)\n",
					optarg);
				return 2;
			}
			if (nmodes == MAX_LIST) {
				fprintf(stderr, "jsbench: at most %d modes\n", MAX_LIST);
				return 2;
			}
			modes[nmodes++] = optarg;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!url || optind != argc || n <= 0 || pending <= 0 || replicas <= 0) {
		usage(stderr);
		return 2;
	}
	if (!nsizes) {
		sizes[nsizes++] = 64;
		sizes[nsizes++] = 4096;
	}
	if (!nmodes) {
		modes[nmodes++] = "sync";
		modes[nmodes++] = "async";
		modes[nmodes++] = "async-hdr";
	}

	s = natsOptions_Create(&no);
	if (s == NATS_OK) {
		/* natsOptions_SetServers wants one URL per entry. */
		char *copy = strdup(url), *save = NULL, *tok;
		const char *list[16];
		int k = 0;

		for (tok = strtok_r(copy, ",", &save); tok && k < 16;
		     tok = strtok_r(NULL, ",", &save))
			list[k++] = tok;
		s = natsOptions_SetServers(no, list, k);
		free(copy);
	}
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, no);
	if (s != NATS_OK)
		die_nats(url, s, 0);
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = pending;
	jo.PublishAsync.ErrHandler = on_async_error;
	s = natsConnection_JetStream(&js, nc, &jo);
	if (s != NATS_OK)
		die_nats("JetStream context", s, 0);

	if (delete_only) {
		s = js_DeleteStream(js, stream, NULL, &jerr);
		if (s != NATS_OK && s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
			die_nats(stream, s, jerr);
		jsCtx_Destroy(js);
		natsConnection_Destroy(nc);
		natsOptions_Destroy(no);
		nats_Close();
		return 0;
	}

	jsStreamConfig_Init(&cfg);
	cfg.Name = stream;
	cfg.Subjects = (const char *[]){ subj };
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = replicas;
	s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
		s = js_AddStream(&si, js, &cfg, NULL, &jerr);
	if (s != NATS_OK)
		die_nats(stream, s, jerr);
	jsStreamInfo_Destroy(si);

	for (int zi = 0; zi < nsizes; zi++) {
		for (int mi = 0; mi < nmodes; mi++) {
			double t;

			s = js_PurgeStream(js, stream, NULL, &jerr);
			if (s != NATS_OK)
				die_nats("purge", s, jerr);
			t = run(js, subj, modes[mi], sizes[zi], n);
			printf("{\"kind\":\"jsbench\",\"mode\":\"%s\",\"size\":%zu,\"records\":%ld,"
			       "\"replicas\":%d,\"seconds\":%.3f,\"records_per_s\":%.0f,"
			       "\"mb_per_s\":%.2f}\n",
			       modes[mi], sizes[zi], n, replicas, t, n / t,
			       n * (double)sizes[zi] / t / 1e6);
			fflush(stdout);
		}
	}
	if (!keep)
		js_DeleteStream(js, stream, NULL, &jerr);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(no);
	nats_Close();
	return async_errors ? 1 : 0;
}
