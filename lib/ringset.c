// SPDX-License-Identifier: MIT
/*
 * Ring sets: many reader handles waited on through one epoll fd, each
 * ring's handler called only when that ring is ready.
 *
 * The rings' fds are in the epoll set level-triggered, for EPOLLIN. The
 * kernel's poll reports a reader readable while records are pending
 * after its *stored* position (at or past its watermark), and
 * shmring_consume_n() stores the position before it returns, so a ring
 * that epoll reported and that we drained is polled again by the next
 * epoll_wait() (level-triggered items stay on the ready list until a
 * poll finds them idle), and a ring that a poll found idle is woken by
 * the first publish that makes it ready. docs/design.md, "Bulk reads
 * and ring sets", has the argument in full.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SET_EVENTS	64	/* events per epoll_wait(); the rest wait their turn */

struct set_entry {
	struct shmring *r;
	shmring_handler_t fn;
	void *ctx;
	uint32_t gen;		/* tells this entry's events from a removed one's */
	int waited;		/* in the epoll set (not once unlinked and drained) */
};

struct shmring_set {
	int epfd;
	unsigned int len;	/* slots in use or freed, up to the last used */
	unsigned int cap;
	struct set_entry **slot;	/* NULL: a free slot */
	uint32_t gen;
	unsigned int turn;	/* rotates where a drain starts: fair under limits */
};

int shmring_set_new(unsigned int flags, struct shmring_set **setp)
{
	struct shmring_set *s;
	int ret;

	*setp = NULL;
	if (flags)
		return -EINVAL;
	s = KEEP_ERRNO(calloc(1, sizeof(*s)));
	if (!s)
		return -ENOMEM;
	s->epfd = KEEP_ERRNO(({ int f = epoll_create1(EPOLL_CLOEXEC); f < 0 ? -errno : f; }));
	if (s->epfd < 0) {
		ret = s->epfd;
		free(s);
		return ret;
	}
	*setp = s;
	return 0;
}

void shmring_set_free(struct shmring_set *s)
{
	int saved = errno;
	unsigned int i;

	if (!s)
		return;
	for (i = 0; i < s->len; i++)
		free(s->slot[i]);
	free(s->slot);
	close(s->epfd);
	free(s);
	errno = saved;
}

int shmring_set_fd(const struct shmring_set *s)
{
	return s->epfd;
}

static int set_ctl(struct shmring_set *s, int op, struct shmring *r, uint64_t data)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = data };

	return KEEP_ERRNO(epoll_ctl(s->epfd, op, r->fd, &ev) < 0 ? -errno : 0);
}

static int set_find(const struct shmring_set *s, const struct shmring *r)
{
	unsigned int i;

	for (i = 0; i < s->len; i++)
		if (s->slot[i] && s->slot[i]->r == r)
			return (int)i;
	return -1;
}

/* A free slot's index, growing the table if needed; -ENOMEM. */
static int set_free_slot(struct shmring_set *s)
{
	struct set_entry **p;
	unsigned int i, cap;

	for (i = 0; i < s->len; i++)
		if (!s->slot[i])
			return (int)i;
	if (s->len == s->cap) {
		if (s->cap >= INT_MAX / 2)
			return -ENOMEM;
		cap = s->cap ? 2 * s->cap : 8;
		p = KEEP_ERRNO(realloc(s->slot, cap * sizeof(*p)));
		if (!p)
			return -ENOMEM;
		s->slot = p;
		s->cap = cap;
	}
	s->slot[s->len] = NULL;
	return (int)s->len++;
}

static uint64_t event_data(const struct set_entry *e, unsigned int i)
{
	return (uint64_t)e->gen << 32 | i;
}

int shmring_set_add(struct shmring_set *s, struct shmring *r,
		    shmring_handler_t fn, void *ctx)
{
	struct set_entry *e;
	int i, ret;

	if (!r || !fn)
		return -EINVAL;
	if (!r->rd.hdr)
		return -EBADF;		/* not a reader */
	if (set_find(s, r) >= 0)
		return -EEXIST;
	i = set_free_slot(s);
	if (i < 0)
		return i;
	e = KEEP_ERRNO(calloc(1, sizeof(*e)));
	if (!e)
		return -ENOMEM;
	e->r = r;
	e->fn = fn;
	e->ctx = ctx;
	e->gen = ++s->gen;
	ret = set_ctl(s, EPOLL_CTL_ADD, r, event_data(e, (unsigned int)i));
	if (ret) {
		free(e);
		return ret;
	}
	e->waited = 1;
	s->slot[i] = e;
	return 0;
}

int shmring_set_remove(struct shmring_set *s, struct shmring *r)
{
	int i = set_find(s, r);

	if (i < 0)
		return -ENOENT;
	/* An fd already closed left the epoll set with its last reference. */
	if (s->slot[i]->waited)
		set_ctl(s, EPOLL_CTL_DEL, r, 0);
	free(s->slot[i]);
	s->slot[i] = NULL;
	while (s->len && !s->slot[s->len - 1])
		s->len--;
	return 0;
}

/*
 * Drain one ring. An unlinked ring (@hup) stays readable for ever, so
 * once it is drained it leaves the epoll set: a set whose rings are all
 * gone must not spin.
 */
static int entry_drain(struct shmring_set *s, struct set_entry *e, int limit, int hup,
		       int *drained)
{
	int ret = shmring_drain(e->r, e->fn, e->ctx, limit, drained);

	if (ret >= 0 && *drained && hup && e->waited) {
		set_ctl(s, EPOLL_CTL_DEL, e->r, 0);
		e->waited = 0;
	}
	return ret;
}

/*
 * Drain the @n entries of @ents (NULL ones skipped) in turn, from a
 * rotating start, each to a fair share of what is left of @limit, and
 * again while some stopped at their share and the limit is not reached.
 * Returns records handled or the first error.
 */
static int drain_entries(struct shmring_set *s, struct set_entry *const *ents,
			 const unsigned char *hup, unsigned int n, int limit)
{
	unsigned int i, k, start;
	int done = 0, more, ret, left, share, drained;

	if (!n || !limit)
		return 0;
	if (limit < 0)
		limit = INT_MAX;
	start = s->turn++ % n;
	do {
		more = 0;
		for (k = 0; k < n && done < limit; k++) {
			i = (start + k) % n;
			if (!ents[i])
				continue;
			left = limit - done;
			share = left / (int)(n - k) + (left % (int)(n - k) != 0);
			ret = entry_drain(s, ents[i], share, hup ? hup[i] : 0, &drained);
			if (ret < 0)
				return ret;
			done += ret;
			if (!drained)
				more = 1;
		}
	} while (more && done < limit);
	return done;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The entries behind @n events (stale ones dropped); how many. */
static unsigned int ready_entries(const struct shmring_set *s, const struct epoll_event *ev,
				  int n, struct set_entry **ents, unsigned char *hup)
{
	unsigned int m = 0, i;
	int k;

	for (k = 0; k < n; k++) {
		i = (uint32_t)ev[k].data.u64;
		if (i >= s->len || !s->slot[i] || s->slot[i]->gen != ev[k].data.u64 >> 32)
			continue;
		ents[m] = s->slot[i];
		hup[m] = !!(ev[k].events & (EPOLLHUP | EPOLLERR));
		m++;
	}
	return m;
}

int shmring_set_poll(struct shmring_set *s, int limit, int timeout_ms)
{
	struct epoll_event ev[SET_EVENTS];
	struct set_entry *ents[SET_EVENTS];
	unsigned char hup[SET_EVENTS];
	int64_t end = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;
	int n, ret, wait = timeout_ms;

	if (!limit)
		return 0;
	for (;;) {
		n = KEEP_ERRNO(({ int k = epoll_wait(s->epfd, ev, SET_EVENTS, wait);
				  k < 0 ? -errno : k; }));
		if (n <= 0)
			return n;
		ret = drain_entries(s, ents, hup, ready_entries(s, ev, n, ents, hup), limit);
		if (ret || !wait)
			return ret;
		/*
		 * Ready, nothing handed over (DISCARD, a zero-copy ring's chunk
		 * ends and skips, an unlinked ring's end): wait on.
		 */
		if (wait > 0) {
			int64_t left = end - mono_ms();

			if (left <= 0)
				return 0;
			wait = (int)left;
		}
	}
}

int shmring_set_consume(struct shmring_set *s, int limit)
{
	return drain_entries(s, s->slot, NULL, s->len, limit);
}
