// SPDX-License-Identifier: MIT
/*
 * libshmring: snapshots for bootstrap (docs/snapshots.md).
 *
 * A snapshot file holds a header page and two slots. A publisher (one at
 * a time: flock(LOCK_EX) on the file) writes the inactive slot's payload,
 * then its descriptor, then the generation word that names the active
 * slot (gen & 1). Readers never lock and never map the file: they read
 * the generation, the active descriptor and the payload with pread(2),
 * read the generation again, and accept only a stable generation, a
 * descriptor written for it and a payload whose crc32c matches. Every
 * length and offset is checked against the file's size: the file is
 * untrusted, corruption is -EBADMSG, never a crash or an endless loop.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SNAP_MAGIC	0x50414e53474e5253ULL	/* "SRNGSNAP" in memory */
#define SNAP_VERSION	1U
#define SNAP_HDR_SIZE	4096U
#define SNAP_NSLOTS	2U
#define SNAP_GEN_OFF	32U
#define SNAP_SLOT_OFF	64U
#define SNAP_PAGE	4096ULL
/* Optimistic read attempts before -EAGAIN (a publisher faster than us). */
#define SNAP_TRIES	1000
/* Reads that saw a stable generation and still a bad slot: corruption. */
#define SNAP_BAD_READS	3

/* The file's first bytes (the rest of the header page is zero). */
struct snap_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint32_t nslots;
	uint32_t flags;
	uint64_t reserved;
	uint64_t gen;		/* SNAP_GEN_OFF: 0 = nothing published */
	uint64_t gen_check;	/* ~gen: a torn read of the pair is seen */
	uint64_t reserved2[2];
};

/* A slot descriptor, at SNAP_SLOT_OFF + i * 64. */
struct snap_slot {
	uint64_t gen;		/* the generation it was written for */
	uint64_t seq;		/* ring sequence the snapshot reflects */
	uint64_t off;		/* payload's offset in the file */
	uint64_t cap;		/* bytes reserved there */
	uint64_t len;		/* payload length */
	uint64_t time_ns;	/* CLOCK_REALTIME at publish */
	uint32_t data_crc;	/* crc32c of the payload */
	uint32_t desc_crc;	/* crc32c of the 52 bytes before */
	uint64_t reserved;
};

_Static_assert(sizeof(struct snap_hdr) == SNAP_SLOT_OFF, "header layout");
_Static_assert(offsetof(struct snap_hdr, gen) == SNAP_GEN_OFF, "gen offset");
_Static_assert(sizeof(struct snap_slot) == 64, "slot layout");

/*
 * flock() serializes open file descriptions, not threads sharing one:
 * publishers of one handle also take its mutex.
 */
struct shmring_snap {
	int fd;
	unsigned int flags;
	pthread_mutex_t lock;
};

static uint32_t desc_crc(const struct snap_slot *d)
{
	return shmring_crc32c(d, offsetof(struct snap_slot, desc_crc));
}

/* pread/pwrite all of it; -errno, or -EBADMSG for a short read. */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int check_hdr(int fd)
{
	struct snap_hdr h;
	struct stat st;
	int ret;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if ((uint64_t)st.st_size < SNAP_HDR_SIZE)
		return -EBADMSG;
	ret = pread_all(fd, &h, sizeof(h), 0);
	if (ret)
		return ret;
	if (h.magic != SNAP_MAGIC || h.version != SNAP_VERSION ||
	    h.hdr_size != SNAP_HDR_SIZE || h.nslots != SNAP_NSLOTS)
		return -EBADMSG;
	return 0;
}

/* The path of @name: itself if it has a '/', else /dev/shm/shmring-snap.NAME. */
static int snap_path(const char *name, char *path, size_t size)
{
	size_t n;

	if (!name || !*name)
		return -EINVAL;
	n = strlen(name);
	if (strchr(name, '/')) {
		if (n + 32 >= size)
			return -ENAMETOOLONG;
		memcpy(path, name, n + 1);
		return 0;
	}
	if (n >= SHMRING_NAME_MAX)
		return -ENAMETOOLONG;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	snprintf(path, size, "%s%s", SHMRING_SNAP_DIR "/shmring-snap.", name);
	return 0;
}

/*
 * Create the file whole or not at all: the header goes into a temporary
 * file of the same directory, which is then linked to @path (EEXIST: a
 * concurrent creator won, use its file).
 */
static int snap_create(const char *path, mode_t mode, unsigned int flags)
{
	static atomic_uint counter;
	char tmp[PATH_MAX];
	struct snap_hdr h = {
		.magic = SNAP_MAGIC, .version = SNAP_VERSION,
		.hdr_size = SNAP_HDR_SIZE, .nslots = SNAP_NSLOTS,
		.gen = 0, .gen_check = ~0ULL,
	};
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
		 atomic_fetch_add(&counter, 1));
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	ret = ftruncate(fd, SNAP_HDR_SIZE) ? -errno : 0;
	if (!ret)
		ret = pwrite_all(fd, &h, sizeof(h), 0);
	if (!ret && (flags & SHMRING_SNAP_SYNC) && fsync(fd))
		ret = -errno;
	close(fd);
	if (!ret && link(tmp, path) && errno != EEXIST)
		ret = -errno;
	unlink(tmp);
	return ret;
}

static int snap_open(const char *name, unsigned int flags, mode_t mode,
		     struct shmring_snap **out)
{
	char path[PATH_MAX];
	struct shmring_snap *s;
	int fd, ret, oflags;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (flags & ~(SHMRING_SNAP_WRITE | SHMRING_SNAP_CREAT | SHMRING_SNAP_SYNC))
		return -EINVAL;
	if ((flags & (SHMRING_SNAP_CREAT | SHMRING_SNAP_SYNC)) && !(flags & SHMRING_SNAP_WRITE))
		return -EINVAL;
	ret = snap_path(name, path, sizeof(path));
	if (ret)
		return ret;
	oflags = (flags & SHMRING_SNAP_WRITE ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	fd = open(path, oflags);
	if (fd < 0 && errno == ENOENT && (flags & SHMRING_SNAP_CREAT)) {
		ret = snap_create(path, mode, flags);
		if (ret)
			return ret;
		fd = open(path, oflags);
	}
	if (fd < 0)
		return -errno;
	ret = check_hdr(fd);
	if (ret) {
		close(fd);
		return ret;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	s->flags = flags;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

int shmring_snap_open(const char *name, unsigned int flags, mode_t mode,
		      struct shmring_snap **out)
{
	int saved = errno, ret = snap_open(name, flags, mode, out);

	errno = saved;
	return ret;
}

void shmring_snap_close(struct shmring_snap *s)
{
	int saved = errno;

	if (!s)
		return;
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	errno = saved;
}

int shmring_snap_fd(const struct shmring_snap *s)
{
	return s ? s->fd : -EINVAL;
}

static uint64_t round_page(uint64_t v)
{
	return (v + SNAP_PAGE - 1) & ~(SNAP_PAGE - 1);
}

/* Does [off, off + cap) lie after the header, inside @fsize, clear of @o? */
static int region_ok(const struct snap_slot *d, uint64_t fsize, const struct snap_slot *o)
{
	if (d->off < SNAP_HDR_SIZE || d->off > fsize || d->cap > fsize - d->off)
		return 0;
	if (o && o->cap && d->cap && d->off < o->off + o->cap && o->off < d->off + d->cap)
		return 0;
	return 1;
}

static int snap_publish_locked(struct shmring_snap *s, const void *data, size_t len,
			       uint64_t seq)
{
	struct snap_slot cur, d;
	struct timespec ts;
	struct stat st;
	uint64_t gen[2], fsize;
	unsigned int i;
	int ret;

	ret = check_hdr(s->fd);
	if (ret)
		return ret;
	ret = pread_all(s->fd, gen, sizeof(gen), SNAP_GEN_OFF);
	if (ret)
		return ret;
	/* We hold the lock: the pair is stable, a mismatch is corruption. */
	if (gen[1] != ~gen[0] || gen[0] == UINT64_MAX)
		return -EBADMSG;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	fsize = (uint64_t)st.st_size;
	i = (unsigned int)((gen[0] + 1) & 1);
	ret = pread_all(s->fd, &d, sizeof(d), SNAP_SLOT_OFF + i * sizeof(d));
	if (!ret)
		ret = pread_all(s->fd, &cur, sizeof(cur), SNAP_SLOT_OFF + (i ^ 1) * sizeof(cur));
	if (ret)
		return ret;
	/* The active slot's region is what we must not touch. */
	if (!gen[0] || cur.gen != gen[0] || desc_crc(&cur) != cur.desc_crc ||
	    !region_ok(&cur, fsize, NULL))
		memset(&cur, 0, sizeof(cur));
	if (!region_ok(&d, fsize, &cur) || d.cap < len) {
		uint64_t cap = round_page(len > d.cap * 2 ? len : d.cap * 2);

		if (!cap)
			cap = SNAP_PAGE;
		/* Grow: a fresh region at the end, clear of the active slot. */
		d.off = round_page(fsize > SNAP_HDR_SIZE ? fsize : SNAP_HDR_SIZE);
		d.cap = round_page(len) > cap ? round_page(len) : cap;
		if (d.cap > SHMRING_SNAP_MAX_LEN * 2ULL)
			d.cap = round_page(len);
		if (ftruncate(s->fd, (off_t)(d.off + d.cap)))
			return -errno;
	}
	/* 1. the payload, into the inactive slot's region */
	ret = pwrite_all(s->fd, data, len, d.off);
	if (ret)
		return ret;
	clock_gettime(CLOCK_REALTIME, &ts);
	d.gen = gen[0] + 1;
	d.seq = seq;
	d.len = len;
	d.time_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	d.data_crc = shmring_crc32c(data, len);
	d.desc_crc = desc_crc(&d);
	d.reserved = 0;
	/* P1: payload before descriptor, descriptor before the generation. */
	atomic_thread_fence(memory_order_release);
	ret = pwrite_all(s->fd, &d, sizeof(d), SNAP_SLOT_OFF + i * sizeof(d));
	if (ret)
		return ret;
	if ((s->flags & SHMRING_SNAP_SYNC) && fdatasync(s->fd))
		return -errno;
	atomic_thread_fence(memory_order_release);
	/* P2: the switch. Before it the old snapshot is whole, after it the new. */
	gen[0] += 1;
	gen[1] = ~gen[0];
	ret = pwrite_all(s->fd, gen, sizeof(gen), SNAP_GEN_OFF);
	if (ret)
		return ret;
	/*
	 * P3: the next publish writes the slot that was active until now;
	 * the new generation must be visible before any of those writes.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if ((s->flags & SHMRING_SNAP_SYNC) && fdatasync(s->fd))
		return -errno;
	return 0;
}

static int snap_publish(struct shmring_snap *s, const void *data, size_t len, uint64_t seq)
{
	int ret;

	if (!s)
		return -EINVAL;
	if (!(s->flags & SHMRING_SNAP_WRITE))
		return -EBADF;
	if (!data && len)
		return -EFAULT;
	if (len > SHMRING_SNAP_MAX_LEN)
		return -EMSGSIZE;
	pthread_mutex_lock(&s->lock);
	while (flock(s->fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			ret = -errno;
			pthread_mutex_unlock(&s->lock);
			return ret;
		}
	}
	ret = snap_publish_locked(s, data ? data : "", len, seq);
	flock(s->fd, LOCK_UN);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int shmring_snap_publish(struct shmring_snap *s, const void *data, size_t len, uint64_t seq)
{
	int saved = errno, ret = snap_publish(s, data, len, seq);

	errno = saved;
	return ret;
}

/*
 * One optimistic read. 0: done (meta and buf filled); 1: the generation
 * moved, try again; 2: a stable generation with a bad slot (corruption,
 * or a torn read of the pair); -errno otherwise (-EMSGSIZE with meta).
 */
static int snap_try_load(struct shmring_snap *s, void *buf, size_t cap,
			 struct shmring_snap_meta *meta)
{
	uint64_t gen[2], gen2[2], fsize;
	struct snap_slot d;
	struct stat st;
	int ret, bad = 0;

	/* R1: the generation, then (acquire) what it names. */
	ret = pread_all(s->fd, gen, sizeof(gen), SNAP_GEN_OFF);
	if (ret)
		return ret;
	atomic_thread_fence(memory_order_acquire);
	if (gen[1] != ~gen[0])
		return 2;
	if (gen[0] == 0)
		return -ENODATA;
	ret = pread_all(s->fd, &d, sizeof(d), SNAP_SLOT_OFF + (gen[0] & 1) * sizeof(d));
	if (ret == -EBADMSG)
		return 2;
	if (ret)
		return ret;
	if (fstat(s->fd, &st) < 0)
		return -errno;
	fsize = (uint64_t)st.st_size;
	if (d.gen != gen[0] || d.desc_crc != desc_crc(&d) || d.len > d.cap ||
	    d.len > SHMRING_SNAP_MAX_LEN || !region_ok(&d, fsize, NULL))
		bad = 1;
	if (!bad && d.len <= cap) {
		ret = pread_all(s->fd, buf, d.len, d.off);
		if (ret == -EBADMSG)
			bad = 1;	/* truncated under us */
		else if (ret)
			return ret;
	}
	/* R2: everything read before the generation is looked at again. */
	atomic_thread_fence(memory_order_acquire);
	ret = pread_all(s->fd, gen2, sizeof(gen2), SNAP_GEN_OFF);
	if (ret)
		return ret;
	if (gen2[0] != gen[0] || gen2[1] != gen[1])
		return 1;
	if (bad)
		return 2;
	meta->seq = d.seq;
	meta->len = d.len;
	meta->time_ns = d.time_ns;
	meta->crc = d.data_crc;
	meta->gen = d.gen;
	if (d.len > cap)
		return -EMSGSIZE;
	if (shmring_crc32c(buf, d.len) != d.data_crc)
		return 2;
	return 0;
}

static int snap_load(struct shmring_snap *s, void *buf, size_t cap,
		     struct shmring_snap_meta *meta)
{
	struct shmring_snap_meta m;
	int i, bad = 0, ret;

	if (!s)
		return -EINVAL;
	if (!buf && cap)
		return -EFAULT;
	for (i = 0; i < SNAP_TRIES; i++) {
		memset(&m, 0, sizeof(m));
		ret = snap_try_load(s, buf, cap, &m);
		if (ret == 1 || (ret == 2 && ++bad < SNAP_BAD_READS)) {
			if (i > 8)
				sched_yield();
			continue;
		}
		if (ret == 2)
			return -EBADMSG;
		if (meta && (ret == 0 || ret == -EMSGSIZE))
			*meta = m;
		return ret;
	}
	return -EAGAIN;
}

int shmring_snap_load(struct shmring_snap *s, void *buf, size_t cap,
		      struct shmring_snap_meta *meta)
{
	int saved = errno, ret = snap_load(s, buf, cap, meta);

	errno = saved;
	return ret;
}

static int snap_bootstrap(struct shmring_snap *s, struct shmring *r, void *buf, size_t cap,
			  struct shmring_snap_meta *meta)
{
	struct shmring_snap_meta m;
	struct shmring_info info;
	int ret;

	if (!s || !r)
		return -EINVAL;
	ret = snap_load(s, buf, cap, &m);
	if (meta && (ret == 0 || ret == -EMSGSIZE))
		*meta = m;
	if (ret)
		return ret;
	ret = shmring_seek(r, SHMRING_SEEK_SEQ, m.seq + 1);
	if (ret != -ENOENT)
		return ret;
	/* Which side of the ring is seq + 1 on? */
	ret = shmring_info(r, &info);
	if (ret)
		return ret;
	return m.seq + 1 < info.tail_seq ? -ESTALE : -ERANGE;
}

int shmring_snap_bootstrap(struct shmring_snap *s, struct shmring *r, void *buf,
			   size_t cap, struct shmring_snap_meta *meta)
{
	int saved = errno, ret = snap_bootstrap(s, r, buf, cap, meta);

	errno = saved;
	return ret;
}
