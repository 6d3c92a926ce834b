/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A strict parser of the Prometheus text exposition format 0.0.4, for the
 * tests of shmring-ctl metrics (promtool is not always installed). Beyond
 * the format's syntax it enforces what `promtool check metrics` lints:
 * every family has one HELP and one TYPE line before its samples, counter
 * names end in _total, a family's lines are not split, no series appears
 * twice. tests/unit/t_prom.c tests the parser itself.
 */
#ifndef SHMRING_TESTS_PROMPARSE_H
#define SHMRING_TESTS_PROMPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct prom_label {
	char *name, *value;	/* value unescaped */
};

struct prom_sample {
	char *name;
	size_t family;		/* index in prom_doc.families */
	struct prom_label *labels;
	size_t nlabels;
	double value;
	bool has_ts;
	int64_t ts;
};

struct prom_family {
	char *name, *help, *type;	/* help unescaped; NULL if absent */
	size_t nsamples;
};

struct prom_doc {
	struct prom_family *families;
	size_t nfamilies;
	struct prom_sample *samples;
	size_t nsamples;
	int err_line;		/* 1-based line of the first error */
	char err[256];		/* the error, "" if none */
};

/* Parse len bytes of text: 0, or -1 with d->err and d->err_line set. */
int prom_parse(const char *text, size_t len, struct prom_doc *d);
void prom_doc_free(struct prom_doc *d);

/*
 * The sample called name whose label lname is lvalue (lname NULL: the
 * sample without labels), or NULL.
 */
const struct prom_sample *prom_find(const struct prom_doc *d, const char *name,
				    const char *lname, const char *lvalue);
/* The value of a label of s, or NULL. */
const char *prom_label(const struct prom_sample *s, const char *lname);
const struct prom_family *prom_family(const struct prom_doc *d, const char *name);

#endif /* SHMRING_TESTS_PROMPARSE_H */
