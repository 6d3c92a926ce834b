// SPDX-License-Identifier: MIT
/*
 * shmring-bridge: the pure parts (see util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static bool plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int bridge_escape(const char *name, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!name || !*name || !cap)
		return -1;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (plain(*p)) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)*p;
		} else {
			if (o + 3 >= cap)
				return -1;
			out[o++] = '=';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = 0;
	return (int)o;
}

bool bridge_subject_match(const char *pattern, const char *subj)
{
	const char *p = pattern, *q = subj;

	for (;;) {
		const char *pe = strchr(p, '.'), *qe = strchr(q, '.');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t ql = qe ? (size_t)(qe - q) : strlen(q);

		if (pl == 1 && *p == '>' && !pe)
			return ql > 0;
		if (!ql)
			return false;
		if (!(pl == 1 && *p == '*') && (pl != ql || memcmp(p, q, pl)))
			return false;
		if (!pe || !qe)
			return !pe && !qe;
		p = pe + 1;
		q = qe + 1;
	}
}

int bridge_msgid_format(char *out, size_t cap, const char *ring, const char *inc,
			uint64_t seq)
{
	int n = snprintf(out, cap, "%s:%s:%" PRIu64, ring, inc, seq);

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

bool bridge_parse_dec(const char *s, uint64_t *v)
{
	uint64_t x = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return true;
}

int bridge_msgid_parse(const char *id, char *ring, size_t ringcap, char *inc,
		       size_t inccap, uint64_t *seq)
{
	const char *c2 = strrchr(id, ':'), *c1;
	size_t rl, il;

	if (!c2 || c2 == id)
		return -1;
	for (c1 = c2 - 1; c1 > id && *c1 != ':'; c1--)
		;
	if (*c1 != ':' || c1 == id)
		return -1;
	rl = (size_t)(c1 - id);
	il = (size_t)(c2 - c1 - 1);
	if (!il || rl >= ringcap || il >= inccap)
		return -1;
	if (!bridge_parse_dec(c2 + 1, seq))
		return -1;
	memcpy(ring, id, rl);
	ring[rl] = 0;
	memcpy(inc, c1 + 1, il);
	inc[il] = 0;
	return 0;
}

bool bridge_url_ok(const char *url, char *why, size_t cap)
{
	const char *p = url, *at, *host, *colon, *end;
	uint64_t port;
	char buf[8];
	size_t hl;

	if (!*p) {
		snprintf(why, cap, "empty server URL");
		return false;
	}
	if (strstr(p, "://")) {
		if (!strncmp(p, "nats://", 7))
			p += 7;
		else if (!strncmp(p, "tls://", 6))
			p += 6;
		else {
			snprintf(why, cap, "unknown scheme (nats:// or tls://)");
			return false;
		}
	}
	at = strrchr(p, '@');
	host = at ? at + 1 : p;
	end = host + strlen(host);
	if (end > host && end[-1] == '/')
		end--;
	colon = NULL;
	if (*host == '[') {	/* [IPv6]:port */
		const char *rb = memchr(host, ']', (size_t)(end - host));

		if (!rb || rb == host + 1) {
			snprintf(why, cap, "bad IPv6 address");
			return false;
		}
		if (rb + 1 < end) {
			if (rb[1] != ':') {
				snprintf(why, cap, "junk after the IPv6 address");
				return false;
			}
			colon = rb + 1;
		}
		hl = (size_t)(rb + 1 - host);
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		hl = colon ? (size_t)(colon - host) : (size_t)(end - host);
		for (const char *q = host; q < host + hl; q++)
			if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
			      (*q >= '0' && *q <= '9') || *q == '.' || *q == '-' || *q == '_')) {
				snprintf(why, cap, "bad character '%c' in the host name", *q);
				return false;
			}
	}
	if (!hl) {
		snprintf(why, cap, "no host");
		return false;
	}
	if (colon) {
		size_t pl = (size_t)(end - colon - 1);

		if (!pl || pl >= sizeof(buf)) {
			snprintf(why, cap, "bad port");
			return false;
		}
		memcpy(buf, colon + 1, pl);
		buf[pl] = 0;
		if (!bridge_parse_dec(buf, &port) || !port || port > 65535) {
			snprintf(why, cap, "bad port '%s' (1 to 65535)", buf);
			return false;
		}
	}
	return true;
}

void bridge_url_redact(const char *url, char *out, size_t cap)
{
	const char *start = strstr(url, "://"), *at, *colon;

	start = start ? start + 3 : url;
	at = strrchr(start, '@');
	colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
	if (!colon) {
		snprintf(out, cap, "%s", url);
		return;
	}
	snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
}

int64_t bridge_backoff_ms(int attempt)
{
	int64_t d = 100;

	for (int i = 1; i < attempt && d < 5000; i++)
		d *= 2;
	return d > 5000 ? 5000 : d;
}

void bridge_inc_format(uint64_t v, char out[BRIDGE_INC_LEN + 1])
{
	snprintf(out, BRIDGE_INC_LEN + 1, "%016" PRIx64, v);
}

bool bridge_inc_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == BRIDGE_INC_LEN;
}

int bridge_out_state_format(char *out, size_t cap, const char *inc)
{
	int n = snprintf(out, cap, "shmring-bridge-out 1\ninc %s\nend\n", inc);

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int bridge_out_state_parse(const char *text, char inc[BRIDGE_INC_LEN + 1])
{
	char buf[BRIDGE_INC_LEN + 2];
	int off = 0;

	if (sscanf(text, "shmring-bridge-out 1\ninc %17[0-9a-f]\nend\n%n", buf, &off) != 1 ||
	    !off || text[off] || !bridge_inc_valid(buf))
		return -1;
	memcpy(inc, buf, BRIDGE_INC_LEN + 1);
	return 0;
}

size_t bridge_in_state_size(uint32_t n)
{
	return 128 + (size_t)n * 21;
}

int bridge_in_state_format(char *out, size_t cap, const struct bridge_in_state *st)
{
	size_t o;
	int n;

	if (st->n > BRIDGE_IN_MAX_BATCH)
		return -1;
	n = snprintf(out, cap, "shmring-bridge-in 1\nlast %" PRIu64 "\n", st->last);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	o = (size_t)n;
	if (st->n) {
		n = snprintf(out + o, cap - o, "intent %" PRIu32 " %" PRIu64 " %" PRIu32 "\n",
			     st->pid, st->head, st->n);
		if (n < 0 || (size_t)n >= cap - o)
			return -1;
		o += (size_t)n;
		for (uint32_t i = 0; i < st->n; i++) {
			n = snprintf(out + o, cap - o, "%" PRIu64 "%c", st->sseq[i],
				     i + 1 == st->n ? '\n' : ' ');
			if (n < 0 || (size_t)n >= cap - o)
				return -1;
			o += (size_t)n;
		}
	}
	n = snprintf(out + o, cap - o, "end\n");
	if (n < 0 || (size_t)n >= cap - o)
		return -1;
	return (int)(o + (size_t)n);
}

/* The next token of TEXT at *P ending in SEP; false if absent. */
static bool token(const char **p, char sep, char *buf, size_t cap)
{
	const char *e = strchr(*p, sep);
	size_t l;

	if (!e)
		return false;
	l = (size_t)(e - *p);
	if (!l || l >= cap)
		return false;
	memcpy(buf, *p, l);
	buf[l] = 0;
	*p = e + 1;
	return true;
}

static bool num(const char **p, char sep, uint64_t *v)
{
	char buf[24];

	return token(p, sep, buf, sizeof(buf)) && bridge_parse_dec(buf, v);
}

int bridge_in_state_parse(const char *text, struct bridge_in_state *st)
{
	const char *p = text;
	uint64_t v, pid, n;

	memset(st, 0, offsetof(struct bridge_in_state, sseq));
	if (strncmp(p, "shmring-bridge-in 1\nlast ", 25))
		return -1;
	p += 25;
	if (!num(&p, '\n', &st->last))
		return -1;
	if (!strncmp(p, "intent ", 7)) {
		p += 7;
		if (!num(&p, ' ', &pid) || !num(&p, ' ', &st->head) || !num(&p, '\n', &n) ||
		    !pid || pid > UINT32_MAX || !n || n > BRIDGE_IN_MAX_BATCH)
			return -1;
		st->pid = (uint32_t)pid;
		for (uint64_t i = 0; i < n; i++) {
			if (!num(&p, i + 1 == n ? '\n' : ' ', &v))
				return -1;
			if (v <= (i ? st->sseq[i - 1] : st->last))
				return -1;
			st->sseq[i] = v;
		}
		st->n = (uint32_t)n;
	}
	if (strcmp(p, "end\n")) {
		st->n = 0;
		return -1;
	}
	return 0;
}

void bridge_in_state_resolve(struct bridge_in_state *st, uint32_t committed)
{
	if (committed > st->n)
		committed = st->n;
	if (committed)
		st->last = st->sseq[committed - 1];
	st->n = 0;
	st->pid = 0;
	st->head = 0;
}

int bridge_snap_manifest_format(char *out, size_t cap, const struct bridge_snap_manifest *m)
{
	char seq[24];
	int n;

	if (m->seq == UINT64_MAX)
		snprintf(seq, sizeof(seq), "none");
	else
		snprintf(seq, sizeof(seq), "%" PRIu64, m->seq);
	n = snprintf(out, cap, "shmring-snap 1\nring %s\ninc %s\nseq %s\nstream %" PRIu64
		     "\nlen %" PRIu64 "\ncrc %" PRIu32 "\ngen %" PRIu64 "\nchunks %" PRIu32
		     "\ntime %" PRIu64 "\nend\n", m->ring, m->inc, seq, m->stream_seq, m->len,
		     m->crc, m->gen, m->chunks, m->time_ns);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* "KEY VALUE\n" at *P: VALUE into buf. */
static bool field(const char **p, const char *key, char *buf, size_t cap)
{
	size_t kl = strlen(key);

	if (strncmp(*p, key, kl) || (*p)[kl] != ' ')
		return false;
	*p += kl + 1;
	return token(p, '\n', buf, cap);
}

static bool field_num(const char **p, const char *key, uint64_t *v)
{
	char buf[24];

	return field(p, key, buf, sizeof(buf)) && bridge_parse_dec(buf, v);
}

int bridge_snap_manifest_parse(const char *text, size_t len, struct bridge_snap_manifest *m)
{
	char buf[512], seq[24];
	const char *p = buf;
	uint64_t crc, chunks;

	if (len >= sizeof(buf) || memchr(text, 0, len))
		return -1;
	memcpy(buf, text, len);
	buf[len] = 0;
	memset(m, 0, sizeof(*m));
	if (strncmp(p, "shmring-snap 1\n", 15))
		return -1;
	p += 15;
	if (!field(&p, "ring", m->ring, sizeof(m->ring)) ||
	    !field(&p, "inc", m->inc, sizeof(m->inc)) || !bridge_inc_valid(m->inc) ||
	    !field(&p, "seq", seq, sizeof(seq)) ||
	    !field_num(&p, "stream", &m->stream_seq) || !field_num(&p, "len", &m->len) ||
	    !field_num(&p, "crc", &crc) || crc > UINT32_MAX || !field_num(&p, "gen", &m->gen) ||
	    !field_num(&p, "chunks", &chunks) || !chunks || chunks > UINT32_MAX ||
	    !field_num(&p, "time", &m->time_ns) || strcmp(p, "end\n"))
		return -1;
	if (!strcmp(seq, "none"))
		m->seq = UINT64_MAX;
	else if (!bridge_parse_dec(seq, &m->seq) || m->seq == UINT64_MAX)
		return -1;
	m->crc = (uint32_t)crc;
	m->chunks = (uint32_t)chunks;
	return 0;
}

uint32_t bridge_snap_chunks(uint64_t len, uint32_t chunk)
{
	uint64_t n = chunk ? (len + chunk - 1) / chunk : 0;

	return n ? (uint32_t)n : 1;
}

/*
 * The files live in /dev/shm, a directory every user may write: the
 * temporary file gets a fresh name, created exclusively (never a file or
 * a symlink someone put there), and the rename does not replace a file
 * another user owns there (the directory is sticky: EPERM).
 */
int bridge_write_file(const char *path, const char *text, size_t len)
{
	char tmp[4096];
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);	/* O_CREAT | O_EXCL, mode 0600 */
	if (fd < 0)
		return -errno;
	for (size_t o = 0; o < len;) {
		ssize_t w = write(fd, text + o, len - o);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		o += (size_t)w;
	}
	if (!err && fdatasync(fd) && errno != EINVAL)
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/*
 * Only a regular file of ours that nobody else may write is read (not a
 * symlink: -ELOOP; another owner's, or writable by others: -EPERM), so
 * another user cannot make the bridge skip or repeat messages by planting
 * a state file.
 */
const char *bridge_file_error(int err)
{
	switch (err) {
	case -EPERM:
		return "not a regular file of this user that only it may write, or another "
		       "user's file in the way (planted?): check it and remove it";
	case -ELOOP:
		return "a symbolic link, refused: remove it";
	default:
		return strerror(-err);
	}
}

int bridge_read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), err = 0;
	struct stat st;
	size_t o = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st))
		err = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		err = -EPERM;
	if (err) {
		close(fd);
		return err;
	}
	for (;;) {
		ssize_t r;

		if (o + 1 >= cap) {
			err = -EFBIG;
			break;
		}
		r = read(fd, buf + o, cap - 1 - o);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (!r)
			break;
		o += (size_t)r;
	}
	close(fd);
	if (err)
		return err;
	buf[o] = 0;
	if (memchr(buf, 0, o))
		return -EBADMSG;
	return (int)o;
}
