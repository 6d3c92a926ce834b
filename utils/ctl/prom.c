// SPDX-License-Identifier: GPL-2.0
/*
 * shmring-ctl metrics: a snapshot of /proc/shmring in the Prometheus text
 * exposition format (version 0.0.4), as node_exporter's textfile collector
 * reads it. Every family has its HELP and TYPE lines, names start with
 * shmring_, counters end in _total, sizes are in bytes and times in
 * seconds, label values are escaped. shmring-ctl(8) lists the families,
 * docs/monitoring.md shows how to serve them.
 *
 * Only formatting: no file is opened here, so tests/unit/t_prom.c checks
 * this output with its own strict parser (and promtool when installed).
 */
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

const char *const prom_param_names[PROM_NPARAMS] = {
	"default_size", "max_size", "max_total", "max_user", "max_rings",
	"max_readers", "max_user_readers", "zc_idle_ms",
};

void prom_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{ring="R"} (the caller prints the value) */
static void ring_sample(FILE *f, const char *name, const struct pring *r)
{
	fprintf(f, "%s{ring=\"", name);
	prom_label_value(f, r->name);
	fputs("\"} ", f);
}

/* Nanoseconds as seconds, exactly: "1796126400.123456789". */
static void seconds(FILE *f, uint64_t ns)
{
	fprintf(f, "%" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000, ns % 1000000000);
}

/* ---- per ring -------------------------------------------------------------------------- */

enum ring_value {
	RV_SIZE, RV_MAX_RECORD, RV_USED, RV_HELD, RV_RECORDS, RV_BYTES, RV_LOST,
	RV_WAITS, RV_READERS, RV_SUBS, RV_MAX_LAG_RECORDS, RV_MAX_LAG_BYTES,
	RV_ZC_CHUNK, RV_ZC_OPEN, RV_ZC_SLEEPERS, RV_ZC_DISCARDED,
};

struct ring_family {
	enum ring_value v;
	const char *name, *type, *help;
	bool zc;		/* zero-copy rings only */
};

static const struct ring_family ring_families[] = {
	{ RV_SIZE, "shmring_ring_size_bytes", "gauge",
	  "Data area of the ring in bytes.", false },
	{ RV_MAX_RECORD, "shmring_ring_max_record_bytes", "gauge",
	  "Largest payload a record of the ring may carry, in bytes.", false },
	{ RV_USED, "shmring_ring_used_bytes", "gauge",
	  "Bytes the ring holds now (head - tail), record headers included.", false },
	{ RV_HELD, "shmring_ring_held_records", "gauge",
	  "Records the ring holds now (head_seq - tail_seq).", false },
	{ RV_RECORDS, "shmring_ring_records_written_total", "counter",
	  "Records committed to the ring since it was created.", false },
	{ RV_BYTES, "shmring_ring_written_bytes_total", "counter",
	  "Payload bytes committed to the ring since it was created.", false },
	{ RV_LOST, "shmring_ring_records_lost_total", "counter",
	  "Records overwritten before every reader had them (overwrite policy), summed over readers and subscriptions.",
	  false },
	{ RV_WAITS, "shmring_ring_writer_waits_total", "counter",
	  "Times a writer waited for room (lossless policy, or a zero-copy chunk).", false },
	{ RV_READERS, "shmring_ring_readers", "gauge",
	  "Readers attached to the ring now.", false },
	{ RV_SUBS, "shmring_ring_subscriptions", "gauge",
	  "Durable subscriptions of the ring.", false },
	{ RV_MAX_LAG_RECORDS, "shmring_ring_max_lag_records", "gauge",
	  "Records the slowest reader or subscription has not read yet.", false },
	{ RV_MAX_LAG_BYTES, "shmring_ring_max_lag_bytes", "gauge",
	  "Bytes the slowest reader or subscription has not read yet.", false },
	{ RV_ZC_CHUNK, "shmring_ring_zc_chunk_bytes", "gauge",
	  "Zero-copy rings: bytes per chunk the kernel grants to writers.", true },
	{ RV_ZC_OPEN, "shmring_ring_zc_open_chunks", "gauge",
	  "Zero-copy rings: chunks granted to writers and not closed yet.", true },
	{ RV_ZC_SLEEPERS, "shmring_ring_zc_sleepers", "gauge",
	  "Zero-copy rings: readers about to sleep for data.", true },
	{ RV_ZC_DISCARDED, "shmring_ring_zc_discarded_total", "counter",
	  "Zero-copy rings: reservations the kernel discarded (a writer died, closed or was revoked mid-record); not losses.",
	  true },
};

static uint64_t max_lag(const struct pring *r, bool bytes)
{
	uint64_t m = 0;

	for (size_t i = 0; i < r->ncur; i++) {
		uint64_t l = bytes ? r->cur[i].lag_bytes : r->cur[i].lag_records;

		if (l > m)
			m = l;
	}
	return m;
}

static uint64_t ring_value(const struct pring *r, enum ring_value v)
{
	switch (v) {
	case RV_SIZE: return r->size;
	case RV_MAX_RECORD: return r->max_record;
	case RV_USED: return r->head - r->tail;
	case RV_HELD: return r->head_seq - r->tail_seq;
	case RV_RECORDS: return r->records;
	case RV_BYTES: return r->bytes;
	case RV_LOST: return r->lost;
	case RV_WAITS: return r->writer_waits;
	case RV_READERS: return r->readers;
	case RV_SUBS: return r->subs;
	case RV_MAX_LAG_RECORDS: return max_lag(r, false);
	case RV_MAX_LAG_BYTES: return max_lag(r, true);
	case RV_ZC_CHUNK: return r->zc_chunk;
	case RV_ZC_OPEN: return r->zc_open;
	case RV_ZC_SLEEPERS: return r->zc_sleepers;
	case RV_ZC_DISCARDED: return r->discarded;
	}
	return 0;
}

static void ring_info(FILE *f, const struct pview *v)
{
	family(f, "shmring_ring_info", "gauge",
	       "Attributes of a ring as labels; the value is always 1.");
	for (size_t i = 0; i < v->n; i++) {
		const struct pring *r = &v->rings[i];

		fputs("shmring_ring_info{ring=\"", f);
		prom_label_value(f, r->name);
		fputs("\",policy=\"", f);
		prom_label_value(f, r->policy);
		fprintf(f, "\",csum=\"%s\",zerocopy=\"%s\",mode=\"%04" PRIo64 "\",uid=\"%"
			PRIu64 "\",gid=\"%" PRIu64 "\"} 1\n",
			r->flags & SHMRING_ATTR_CSUM ? "true" : "false",
			r->flags & SHMRING_ATTR_ZEROCOPY ? "true" : "false",
			r->mode, r->uid, r->gid);
	}
}

/* ---- per subscription ---------------------------------------------------------------- */

enum sub_value { SV_ATTACHED, SV_LAG_RECORDS, SV_LAG_BYTES, SV_READ, SV_LOST, SV_LAST_READ };

static const struct {
	enum sub_value v;
	const char *name, *type, *help;
} sub_families[] = {
	{ SV_ATTACHED, "shmring_subscription_attached", "gauge",
	  "1 if a reader is attached to the durable subscription, else 0." },
	{ SV_LAG_RECORDS, "shmring_subscription_lag_records", "gauge",
	  "Records the subscription has not read yet." },
	{ SV_LAG_BYTES, "shmring_subscription_lag_bytes", "gauge",
	  "Bytes the subscription has not read yet." },
	{ SV_READ, "shmring_subscription_records_read_total", "counter",
	  "Records read through the subscription since it was created." },
	{ SV_LOST, "shmring_subscription_records_lost_total", "counter",
	  "Records the subscription lost (overwritten before it read them)." },
	{ SV_LAST_READ, "shmring_subscription_last_read_timestamp_seconds", "gauge",
	  "When the subscription last read, seconds since the epoch (0: never)." },
};

static bool is_sub(const struct pcursor *c)
{
	return !strcmp(c->kind, "sub") || !strcmp(c->kind, "sub+");
}

static void sub_family(FILE *f, const struct pview *v, size_t fi)
{
	family(f, sub_families[fi].name, sub_families[fi].type, sub_families[fi].help);
	for (size_t i = 0; i < v->n; i++) {
		const struct pring *r = &v->rings[i];

		for (size_t k = 0; k < r->ncur; k++) {
			const struct pcursor *c = &r->cur[k];

			if (!is_sub(c))
				continue;
			fprintf(f, "%s{ring=\"", sub_families[fi].name);
			prom_label_value(f, r->name);
			fputs("\",subscription=\"", f);
			prom_label_value(f, c->name);
			fputs("\"} ", f);
			switch (sub_families[fi].v) {
			case SV_ATTACHED:
				fprintf(f, "%d\n", !strcmp(c->kind, "sub+"));
				break;
			case SV_LAG_RECORDS:
				fprintf(f, "%" PRIu64 "\n", c->lag_records);
				break;
			case SV_LAG_BYTES:
				fprintf(f, "%" PRIu64 "\n", c->lag_bytes);
				break;
			case SV_READ:
				fprintf(f, "%" PRIu64 "\n", c->read);
				break;
			case SV_LOST:
				fprintf(f, "%" PRIu64 "\n", c->lost);
				break;
			case SV_LAST_READ:
				seconds(f, c->last_read_ns);
				break;
			}
		}
	}
}

/* ---- module ------------------------------------------------------------------------------ */

static const char *const param_help[PROM_NPARAMS] = {
	"Module parameter default_size: data size of a ring created without one, bytes.",
	"Module parameter max_size: largest ring data size, bytes.",
	"Module parameter max_total: memory of all rings together, bytes.",
	"Module parameter max_user: memory of the rings one user created, bytes.",
	"Module parameter max_rings: named rings per IPC namespace.",
	"Module parameter max_readers: attached readers per ring.",
	"Module parameter max_user_readers: attached readers of one user, all rings.",
	"Module parameter zc_idle_ms: idle time before a zero-copy chunk is revoked, seconds (0: never).",
};

static const char *const param_metric[PROM_NPARAMS] = {
	"shmring_param_default_size_bytes", "shmring_param_max_size_bytes",
	"shmring_param_max_total_bytes", "shmring_param_max_user_bytes",
	"shmring_param_max_rings", "shmring_param_max_readers",
	"shmring_param_max_user_readers", "shmring_param_zc_idle_seconds",
};

static void params(FILE *f, const struct prom_param *p, size_t np)
{
	for (size_t k = 0; k < PROM_NPARAMS; k++) {
		for (size_t i = 0; i < np; i++) {
			if (!p[i].have || strcmp(p[i].name, prom_param_names[k]))
				continue;
			family(f, param_metric[k], "gauge", param_help[k]);
			if (!strcmp(p[i].name, "zc_idle_ms"))
				fprintf(f, "%s %" PRIu64 ".%03" PRIu64 "\n", param_metric[k],
					p[i].value / 1000, p[i].value % 1000);
			else
				fprintf(f, "%s %" PRIu64 "\n", param_metric[k], p[i].value);
			break;
		}
	}
}

void prom_write(FILE *f, const struct pview *v, const struct prom_param *p, size_t np)
{
	family(f, "shmring_module_loaded", "gauge",
	       "1 if the shmring kernel module is loaded, else 0.");
	fprintf(f, "shmring_module_loaded %d\n", v != NULL);
	if (!v)
		return;
	family(f, "shmring_module_info", "gauge",
	       "Version and ABI of the loaded module as labels; the value is always 1.");
	fputs("shmring_module_info{version=\"", f);
	prom_label_value(f, v->version);
	fprintf(f, "\",abi=\"%" PRIu64 "\"} 1\n", v->abi);
	family(f, "shmring_module_memory_bytes", "gauge",
	       "Memory the module's rings, subscriptions and readers pin, every namespace, bytes.");
	fprintf(f, "shmring_module_memory_bytes %" PRIu64 "\n", v->total_bytes);
	params(f, p, np);
	family(f, "shmring_rings", "gauge",
	       "Rings of this IPC namespace that the scraper may read.");
	fprintf(f, "shmring_rings %zu\n", v->n);

	ring_info(f, v);
	for (size_t k = 0; k < ARRAY_SIZE(ring_families); k++) {
		const struct ring_family *rf = &ring_families[k];

		family(f, rf->name, rf->type, rf->help);
		for (size_t i = 0; i < v->n; i++) {
			const struct pring *r = &v->rings[i];

			if (rf->zc && !(r->flags & SHMRING_ATTR_ZEROCOPY))
				continue;
			ring_sample(f, rf->name, r);
			fprintf(f, "%" PRIu64 "\n", ring_value(r, rf->v));
		}
	}
	family(f, "shmring_ring_last_write_timestamp_seconds", "gauge",
	       "When a record was last committed, seconds since the epoch (0: never).");
	for (size_t i = 0; i < v->n; i++) {
		ring_sample(f, "shmring_ring_last_write_timestamp_seconds", &v->rings[i]);
		seconds(f, v->rings[i].last_write_ns);
	}
	for (size_t k = 0; k < ARRAY_SIZE(sub_families); k++)
		sub_family(f, v, k);
}
