// SPDX-License-Identifier: GPL-2.0
/*
 * A strict Prometheus text format (0.0.4) parser for the tests; see
 * promparse.h for what it enforces. The grammar, after
 * https://prometheus.io/docs/instrumenting/exposition_formats/:
 *
 *   line    = comment | sample | ""            (every line ends in '\n')
 *   comment = "# HELP " name " " docstring      (escapes: \\ \n)
 *           | "# TYPE " name " " type          (counter gauge histogram
 *           | "#" anything                       summary untyped)
 *   sample  = name [ "{" [ label { "," label } [","] ] "}" ] blanks value
 *             [ blanks timestamp ]
 *   label   = lname "=" '"' escaped-value '"'   (escapes: \\ \" \n)
 *   name    = [a-zA-Z_:][a-zA-Z0-9_:]*,  lname = [a-zA-Z_][a-zA-Z0-9_]*
 *   value   = a Go ParseFloat number, NaN, +Inf, -Inf; timestamp an int64
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promparse.h"

struct cur {
	const char *p, *end;	/* the rest of the line (end: its '\n') */
	struct prom_doc *d;
	int line;
};

static int fail(struct cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct cur *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->d->err[0]) {
		va_start(ap, fmt);
		vsnprintf(c->d->err, sizeof(c->d->err), fmt, ap);
		va_end(ap);
		c->d->err_line = c->line;
	}
	return -1;
}

static bool name_start(char ch, bool colon)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (colon && ch == ':');
}

static bool name_char(char ch, bool colon)
{
	return name_start(ch, colon) || (ch >= '0' && ch <= '9');
}

/* A metric name (colon true) or label name at c->p, malloc'ed; NULL if none. */
static char *take_name(struct cur *c, bool colon)
{
	const char *s = c->p;
	char *n;

	if (s >= c->end || !name_start(*s, colon))
		return NULL;
	while (s < c->end && name_char(*s, colon))
		s++;
	n = strndup(c->p, (size_t)(s - c->p));
	c->p = s;
	return n;
}

static size_t blanks(struct cur *c)
{
	const char *s = c->p;

	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	return (size_t)(c->p - s);
}

/*
 * An escaped string up to the closing quote (quoted) or the end of the
 * line, malloc'ed and unescaped into *out; allowed escapes: \\, \n, and
 * \" when quoted.
 */
static int take_escaped(struct cur *c, bool quoted, char **out)
{
	char *buf = malloc((size_t)(c->end - c->p) + 1), *o = buf;

	if (!buf)
		return fail(c, "out of memory");
	for (;;) {
		char ch;

		if (c->p >= c->end) {
			if (quoted) {
				free(buf);
				return fail(c, "label value without its closing quote");
			}
			break;
		}
		ch = *c->p++;
		if (quoted && ch == '"')
			break;
		if (ch == '\\') {
			char e = c->p < c->end ? *c->p++ : '\0';

			if (e == '\\')
				*o++ = '\\';
			else if (e == 'n')
				*o++ = '\n';
			else if (e == '"' && quoted)
				*o++ = '"';
			else {
				free(buf);
				return fail(c, "invalid escape '\\%c' in %s", e ? e : '0',
					    quoted ? "a label value" : "a HELP text");
			}
			continue;
		}
		*o++ = ch;
	}
	*o = '\0';
	*out = buf;
	return 0;
}

static struct prom_family *find_family(struct prom_doc *d, const char *name)
{
	for (size_t i = 0; i < d->nfamilies; i++)
		if (!strcmp(d->families[i].name, name))
			return &d->families[i];
	return NULL;
}

const struct prom_family *prom_family(const struct prom_doc *d, const char *name)
{
	return find_family((struct prom_doc *)d, name);
}

/*
 * The family line of c->line opens or continues: name. A family's lines
 * are consecutive, so only the last family may continue; a new one is
 * appended.
 */
static struct prom_family *family_for(struct cur *c, const char *name)
{
	struct prom_doc *d = c->d;
	struct prom_family *f = find_family(d, name), *fams;

	if (f) {
		if (f != &d->families[d->nfamilies - 1]) {
			fail(c, "metric family %s continues after another family began", name);
			return NULL;
		}
		return f;
	}
	fams = realloc(d->families, (d->nfamilies + 1) * sizeof(*fams));
	if (!fams) {
		fail(c, "out of memory");
		return NULL;
	}
	d->families = fams;
	f = &fams[d->nfamilies++];
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	return f;
}

static const char *const types[] = { "counter", "gauge", "histogram", "summary", "untyped" };

static int comment(struct cur *c)
{
	bool help = false;
	struct prom_family *f;
	char *name, *word;
	int ret = 0;

	c->p++;			/* '#' */
	if (!blanks(c))
		return 0;	/* "#text": a comment */
	if (c->end - c->p >= 5 && !strncmp(c->p, "HELP", 4) &&
	    (c->p[4] == ' ' || c->p[4] == '\t'))
		help = true;
	else if (!(c->end - c->p >= 5 && !strncmp(c->p, "TYPE", 4) &&
		   (c->p[4] == ' ' || c->p[4] == '\t')))
		return 0;	/* another comment */
	c->p += 4;
	blanks(c);
	name = take_name(c, true);
	if (!name)
		return fail(c, "%s without a valid metric name", help ? "HELP" : "TYPE");
	if (c->p < c->end && !blanks(c)) {
		fail(c, "invalid character '%c' in metric name after %s", *c->p, name);
		free(name);
		return -1;
	}
	f = family_for(c, name);
	if (!f) {
		free(name);
		return -1;
	}
	if (help) {
		if (f->help)
			ret = fail(c, "second HELP line for %s", name);
		else if (take_escaped(c, false, &word) == 0)
			f->help = word;
		else
			ret = -1;
	} else {
		size_t i;

		if (f->type)
			ret = fail(c, "second TYPE line for %s", name);
		else if (f->nsamples)
			ret = fail(c, "TYPE line for %s after its samples", name);
		else {
			const char *s = c->p;

			while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
				c->p++;
			for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
				if ((size_t)(c->p - s) == strlen(types[i]) &&
				    !strncmp(s, types[i], strlen(types[i])))
					break;
			blanks(c);
			if (i == sizeof(types) / sizeof(types[0]) || c->p != c->end)
				ret = fail(c, "invalid type '%.*s' for %s", (int)(c->end - s), s,
					   name);
			else
				f->type = strdup(types[i]);
		}
		if (!ret && !strcmp(f->type, "counter") &&
		    (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total")))
			ret = fail(c, "counter %s does not end in _total", name);
	}
	free(name);
	return ret;
}

/* A float as Go's strconv.ParseFloat takes it, plus NaN, +Inf, -Inf. */
static bool parse_value(const char *s, size_t n, double *v)
{
	char buf[64], *end;

	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strcmp(buf, "NaN")) {
		*v = NAN;
		return true;
	}
	if (!strcmp(buf, "+Inf") || !strcmp(buf, "Inf")) {
		*v = INFINITY;
		return true;
	}
	if (!strcmp(buf, "-Inf")) {
		*v = -INFINITY;
		return true;
	}
	/* strtod takes more (hex floats, "inf", "nan(...)", leading blanks) */
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789+-.eE", buf[i]))
			return false;
	errno = 0;
	*v = strtod(buf, &end);
	return *end == '\0' && end != buf && errno != ERANGE;
}

static bool parse_ts(const char *s, size_t n, int64_t *ts)
{
	char buf[32], *end;
	long long v;

	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strchr("-0123456789", buf[0]) || (buf[0] == '-' && !buf[1]))
		return false;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (*end || errno)
		return false;
	*ts = v;
	return true;
}

static const char *const suffixes[] = { "_bucket", "_sum", "_count" };

/* The family a sample called name belongs to (histograms, summaries: suffixes). */
static struct prom_family *sample_family(struct cur *c, const char *name)
{
	struct prom_doc *d = c->d;
	struct prom_family *last = d->nfamilies ? &d->families[d->nfamilies - 1] : NULL;

	if (last && last->type && (!strcmp(last->type, "histogram") ||
				   !strcmp(last->type, "summary"))) {
		size_t ln = strlen(last->name);

		for (size_t i = 0; i < 3; i++)
			if (!strncmp(name, last->name, ln) && !strcmp(name + ln, suffixes[i]) &&
			    (i != 0 || !strcmp(last->type, "histogram")))
				return last;
		if (!strcmp(name, last->name) && !strcmp(last->type, "summary"))
			return last;
	}
	return family_for(c, name);
}

static void sample_free(struct prom_sample *s)
{
	free(s->name);
	for (size_t i = 0; i < s->nlabels; i++) {
		free(s->labels[i].name);
		free(s->labels[i].value);
	}
	free(s->labels);
}

static bool same_series(const struct prom_sample *a, const struct prom_sample *b)
{
	if (strcmp(a->name, b->name) || a->nlabels != b->nlabels)
		return false;
	for (size_t i = 0; i < a->nlabels; i++) {
		const char *v = prom_label(b, a->labels[i].name);

		if (!v || strcmp(v, a->labels[i].value))
			return false;
	}
	return true;
}

static int labels(struct cur *c, struct prom_sample *s)
{
	c->p++;		/* '{' */
	for (;;) {
		struct prom_label *ls;
		char *ln;

		blanks(c);
		if (c->p < c->end && *c->p == '}') {
			c->p++;
			return 0;
		}
		ln = take_name(c, false);
		if (!ln)
			return fail(c, "invalid label name in %s", s->name);
		if (!strncmp(ln, "__", 2)) {
			fail(c, "label name %s is reserved (starts with __)", ln);
			free(ln);
			return -1;
		}
		if (prom_label(s, ln)) {
			fail(c, "label %s twice in %s", ln, s->name);
			free(ln);
			return -1;
		}
		ls = realloc(s->labels, (s->nlabels + 1) * sizeof(*ls));
		if (!ls) {
			free(ln);
			return fail(c, "out of memory");
		}
		s->labels = ls;
		ls[s->nlabels].name = ln;
		ls[s->nlabels].value = NULL;
		s->nlabels++;
		blanks(c);
		if (c->p >= c->end || *c->p != '=')
			return fail(c, "label %s without '='", ln);
		c->p++;
		blanks(c);
		if (c->p >= c->end || *c->p != '"')
			return fail(c, "label %s: value not quoted", ln);
		c->p++;
		if (take_escaped(c, true, &ls[s->nlabels - 1].value))
			return -1;
		blanks(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == '}') {
			c->p++;
			return 0;
		}
		return fail(c, "expected ',' or '}' after label %s", ln);
	}
}

static int sample(struct cur *c)
{
	struct prom_doc *d = c->d;
	struct prom_sample s = { 0 }, *ss;
	struct prom_family *f;
	const char *v;
	size_t sep;

	s.name = take_name(c, true);
	if (!s.name)
		return fail(c, "invalid metric name at '%.*s'",
			    (int)(c->end - c->p > 20 ? 20 : c->end - c->p), c->p);
	/* blanks may come between the name and '{' (as in the Go parser) */
	sep = blanks(c);
	if (c->p < c->end && *c->p == '{') {
		if (labels(c, &s))
			goto bad;
		sep = blanks(c);
	}
	if (!sep) {
		if (c->p < c->end)
			fail(c, "invalid character '%c' after %s", *c->p, s.name);
		else
			fail(c, "%s has no value", s.name);
		goto bad;
	}
	v = c->p;
	while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
		c->p++;
	if (!parse_value(v, (size_t)(c->p - v), &s.value)) {
		fail(c, "invalid value '%.*s' for %s", (int)(c->p - v), v, s.name);
		goto bad;
	}
	if (blanks(c) && c->p < c->end) {
		v = c->p;
		while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
			c->p++;
		if (!parse_ts(v, (size_t)(c->p - v), &s.ts)) {
			fail(c, "invalid timestamp '%.*s' for %s", (int)(c->p - v), v, s.name);
			goto bad;
		}
		s.has_ts = true;
		blanks(c);
	}
	if (c->p != c->end) {
		fail(c, "unexpected text after the sample of %s", s.name);
		goto bad;
	}
	f = sample_family(c, s.name);
	if (!f)
		goto bad;
	if (!f->help || !f->type) {
		fail(c, "%s has no %s line before its samples", f->name, f->help ? "TYPE" : "HELP");
		goto bad;
	}
	if (!strcmp(f->type, "counter") && !(s.value >= 0)) {
		fail(c, "counter %s has a negative or NaN value", s.name);
		goto bad;
	}
	for (size_t i = 0; i < d->nsamples; i++) {
		if (same_series(&s, &d->samples[i])) {
			fail(c, "series %s appears twice", s.name);
			goto bad;
		}
	}
	ss = realloc(d->samples, (d->nsamples + 1) * sizeof(*ss));
	if (!ss) {
		fail(c, "out of memory");
		goto bad;
	}
	d->samples = ss;
	s.family = (size_t)(f - d->families);
	f->nsamples++;
	ss[d->nsamples++] = s;
	return 0;
bad:
	sample_free(&s);
	return -1;
}

int prom_parse(const char *text, size_t len, struct prom_doc *d)
{
	struct cur c = { .p = text, .d = d };
	const char *end = text + len;

	memset(d, 0, sizeof(*d));
	if (len && text[len - 1] != '\n') {
		c.line = 1;
		for (const char *p = text; p < end - 1; p++)
			c.line += *p == '\n';
		return fail(&c, "the last line does not end with a newline");
	}
	if (memchr(text, '\0', len)) {
		c.line = 0;
		return fail(&c, "a NUL byte in the text");
	}
	while (c.p < end) {
		const char *nl = memchr(c.p, '\n', (size_t)(end - c.p));
		int ret = 0;

		c.line++;
		c.end = nl;
		/* blank lines are ignored, as are leading blanks */
		blanks(&c);
		if (c.p == c.end)
			;
		else if (*c.p == '#')
			ret = comment(&c);
		else
			ret = sample(&c);
		if (ret)
			return -1;
		c.p = nl + 1;
	}
	for (size_t i = 0; i < d->nfamilies; i++) {
		if (!d->families[i].nsamples && !d->families[i].type) {
			c.line = 0;
			return fail(&c, "HELP for %s, which has no TYPE", d->families[i].name);
		}
	}
	return 0;
}

void prom_doc_free(struct prom_doc *d)
{
	for (size_t i = 0; i < d->nsamples; i++)
		sample_free(&d->samples[i]);
	free(d->samples);
	for (size_t i = 0; i < d->nfamilies; i++) {
		free(d->families[i].name);
		free(d->families[i].help);
		free(d->families[i].type);
	}
	free(d->families);
	d->samples = NULL;
	d->families = NULL;
	d->nsamples = d->nfamilies = 0;
}

const char *prom_label(const struct prom_sample *s, const char *lname)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (!strcmp(s->labels[i].name, lname))
			return s->labels[i].value;
	return NULL;
}

const struct prom_sample *prom_find(const struct prom_doc *d, const char *name,
				    const char *lname, const char *lvalue)
{
	for (size_t i = 0; i < d->nsamples; i++) {
		const struct prom_sample *s = &d->samples[i];
		const char *v;

		if (strcmp(s->name, name))
			continue;
		if (!lname) {
			if (!s->nlabels)
				return s;
			continue;
		}
		v = prom_label(s, lname);
		if (v && !strcmp(v, lvalue))
			return s;
	}
	return NULL;
}
