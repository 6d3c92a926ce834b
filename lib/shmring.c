// SPDX-License-Identifier: MIT
/*
 * libshmring: see shmring.h for the API and its rules.
 *
 * Opening, writing, administration; the reader (peek, consume, read,
 * wait) is lib/reader.c, the zero-copy writer lib/zc.c, shmring_crc32c()
 * lib/crc32c.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

int shmring_sys_ioctl(int fd, unsigned long req, void *arg)
{
	return KEEP_ERRNO(ioctl(fd, req, arg) < 0 ? -errno : 0);
}

static void *sys_mmap(size_t len, int prot, int fd, uint64_t off, int *err)
{
	void *p = KEEP_ERRNO(({ void *m = mmap(NULL, len, prot, MAP_SHARED, fd,
					       (off_t)off);
				*err = m == MAP_FAILED ? -errno : 0; m; }));

	return *err ? NULL : p;
}

int shmring_fd(const struct shmring *r)
{
	return r->fd;
}

int shmring_version_major(void)
{
	return SHMRING_LIB_VERSION_MAJOR;
}

int shmring_version_minor(void)
{
	return SHMRING_LIB_VERSION_MINOR;
}

static int name_copy(char *dst, size_t size, const char *src)
{
	size_t len;

	if (!src)
		return -EINVAL;
	len = strlen(src);
	if (len == 0 || len >= size)
		return -EINVAL;
	memcpy(dst, src, len + 1);
	return 0;
}

static int dev_open(unsigned int flags)
{
	int oflags = O_RDWR | O_CLOEXEC;
	int fd;

	if (flags & SHMRING_O_NONBLOCK)
		oflags |= O_NONBLOCK;
	fd = KEEP_ERRNO(({ int f = open(SHMRING_DEVICE, oflags);
			   f < 0 ? (errno == ENOENT ? -ENODEV : -errno) : f; }));
	return fd;
}

static int map_reader(struct shmring *r)
{
	struct shmring_info info = { .size = sizeof(info) };
	struct shmring_rd *rd = &r->rd;
	void *p;

	int ret = shmring_sys_ioctl(r->fd, SHMRING_IOC_INFO, &info);

	if (ret)
		return ret;
	p = sys_mmap(info.page_size, PROT_READ | PROT_WRITE, r->fd,
		     info.map_reader_off, &ret);
	if (!p)
		return ret;
	rd->rp = p;
	r->map_len = info.map_ring_len;
	p = sys_mmap(r->map_len, PROT_READ, r->fd, info.map_ring_off, &ret);
	if (!p)
		return ret;
	r->map = p;
	rd->hdr = p;
	rd->data = (const unsigned char *)p + info.page_size;
	rd->data_size = r->attr.data_size;
	rd->max_record = r->attr.max_record;
	rd->wait_pos = !!(info.features & SHMRING_FEAT_WAIT_POS);
	/* Also finishes a cursor commit a killed reader left half done. */
	ret = shmring_rd_attach(rd);
	if (ret)
		return ret;
	/* The header page and the open agree on zero-copy geometry. */
	if (!(r->attr.flags & SHMRING_ATTR_ZEROCOPY) != !rd->zc_chunk ||
	    (rd->zc_chunk && rd->zc_chunk != r->attr.zc_chunk))
		return -EPROTO;
	return 0;
}

static int open_common(struct shmring_open *o, unsigned int flags,
		       struct shmring **ringp)
{
	struct shmring *r;
	int ret;

	*ringp = NULL;
	r = KEEP_ERRNO(calloc(1, sizeof(*r)));
	if (!r)
		return -ENOMEM;
	r->fd = dev_open(flags);
	if (r->fd < 0) {
		ret = r->fd;
		free(r);
		return ret;
	}
	r->flags = o->flags;
	ret = shmring_sys_ioctl(r->fd, SHMRING_IOC_OPEN, o);
	if (ret)
		goto err;
	r->attr = o->attr;
	if (o->flags & SHMRING_O_READ) {
		ret = map_reader(r);
		if (ret)
			goto err;
	}
	*ringp = r;
	return 0;
err:
	shmring_close(r);
	return ret;
}

int shmring_open(const char *name, unsigned int flags, mode_t mode,
		 const struct shmring_attr *attr, struct shmring **ringp)
{
	struct shmring_open o;
	int ret;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = flags & ~SHMRING_O_NONBLOCK;
	o.mode = mode;
	ret = name_copy(o.name, sizeof(o.name), name);
	if (ret)
		return ret;
	if (attr && (flags & SHMRING_O_CREAT))
		o.attr = *attr;
	return open_common(&o, flags, ringp);
}

int shmring_subscribe(const char *name, const char *sub, unsigned int flags,
		      struct shmring **ringp)
{
	struct shmring_open o;
	int ret;

	if (flags & ~(SHMRING_O_FROM_HEAD | SHMRING_O_SUB_SHARED | SHMRING_O_NONBLOCK))
		return -EINVAL;	/* a subscription only reads an existing ring */
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.flags = flags | SHMRING_O_READ | SHMRING_O_SUB;
	o.flags &= ~SHMRING_O_NONBLOCK;
	ret = name_copy(o.name, sizeof(o.name), name);
	if (!ret)
		ret = name_copy(o.sub_name, sizeof(o.sub_name), sub);
	if (ret)
		return ret;
	return open_common(&o, flags, ringp);
}

void shmring_close(struct shmring *r)
{
	int saved = errno;

	if (!r)
		return;
	shmring_zc_release(r);	/* before the header it may share is unmapped */
	if (r->map)
		munmap(r->map, r->map_len);
	if (r->rd.rp)
		munmap(r->rd.rp, sysconf(_SC_PAGESIZE));
	if (r->fd >= 0)
		close(r->fd);
	free(r);
	errno = saved;
}

int shmring_unlink(const char *name)
{
	struct shmring_name n;
	int fd, ret = 0;

	memset(&n, 0, sizeof(n));
	n.size = sizeof(n);
	ret = name_copy(n.name, sizeof(n.name), name);
	if (ret)
		return ret;
	fd = dev_open(0);
	if (fd < 0)
		return fd;
	ret = shmring_sys_ioctl(fd, SHMRING_IOC_UNLINK, &n);
	KEEP_ERRNO(close(fd));
	return ret;
}

int shmring_set_write_type(struct shmring *r, uint32_t type)
{
	struct shmring_opt opt = {
		.size = sizeof(opt), .opt = SHMRING_OPT_WRITE_TYPE, .val = type
	};

	return shmring_sys_ioctl(r->fd, SHMRING_IOC_SET_OPT, &opt);
}

/* One record through a one-entry batch, which carries its own type. */
static int write_one(struct shmring *r, uint32_t type, const void *data,
		     size_t len)
{
	struct shmring_batch_rec rec;
	struct shmring_batch b;
	int ret;

	if (len > UINT32_MAX)
		return -EMSGSIZE;
	memset(&rec, 0, sizeof(rec));
	rec.data = (uintptr_t)data;
	rec.len = (uint32_t)len;
	rec.type = type;
	memset(&b, 0, sizeof(b));
	b.size = sizeof(b);
	b.recs = (uintptr_t)&rec;
	b.nr = 1;
	ret = shmring_sys_ioctl(r->fd, SHMRING_IOC_WRITE_BATCH, &b);
	return ret ? ret : (int)rec.len;
}

/*
 * Several segments are gathered into one buffer first, so the record's
 * type travels with it and threads sharing the handle cannot race on a
 * per-file write type.
 */
static int do_writev(struct shmring *r, uint32_t type, const struct iovec *iov,
		     int iovcnt)
{
	size_t total = 0, off = 0;
	char *buf;
	int i, ret;

	if (iovcnt < 0)
		return -EINVAL;
	if (iovcnt == 1)
		return write_one(r, type, iov[0].iov_base, iov[0].iov_len);
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT32_MAX - total)
			return -EMSGSIZE;
		total += iov[i].iov_len;
	}
	buf = KEEP_ERRNO(malloc(total ? total : 1));
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	ret = write_one(r, type, buf, total);
	free(buf);
	return ret;
}

int shmring_write(struct shmring *r, uint32_t type, const void *data,
		  size_t len)
{
	return write_one(r, type, data, len);
}

int shmring_writev(struct shmring *r, uint32_t type, const struct iovec *iov,
		   int iovcnt)
{
	return do_writev(r, type, iov, iovcnt);
}

int shmring_write_batch(struct shmring *r, const struct shmring_msg *msgs,
			unsigned int nr)
{
	struct shmring_batch_rec recs[64];
	unsigned int done = 0, i, n;
	struct shmring_batch b;
	int ret;

	while (done < nr) {
		n = nr - done < 64 ? nr - done : 64;
		memset(recs, 0, n * sizeof(recs[0]));
		for (i = 0; i < n; i++) {
			recs[i].data = (uintptr_t)msgs[done + i].data;
			recs[i].len = msgs[done + i].len;
			recs[i].type = msgs[done + i].type;
		}
		memset(&b, 0, sizeof(b));
		b.size = sizeof(b);
		b.recs = (uintptr_t)recs;
		b.nr = n;
		ret = shmring_sys_ioctl(r->fd, SHMRING_IOC_WRITE_BATCH, &b);
		if (ret)
			return done ? (int)done : ret;
		done += b.done;
		if (b.done < n)
			break;
	}
	return (int)done;
}

/*
 * Check a record header found at a position with @avail committed bytes
 * after it. Returns the record's total size or -EBADMSG.
 */
int shmring_rec_validate(const struct shmring_rec *h, uint64_t avail,
			 uint32_t max_record)
{
	uint64_t total = SHMRING_REC_TOTAL((uint64_t)h->len);

	if (h->len > max_record || total > avail)
		return -EBADMSG;
	if (h->flags & ~SHMRING_REC_FLAGS_ALL)
		return -EBADMSG;
	if (h->__reserved0 || h->__reserved1)
		return -EBADMSG;
	if (total > INT32_MAX)
		return -EBADMSG;
	return (int)total;
}

int shmring_set_watermark(struct shmring *r, uint64_t bytes, uint64_t records)
{
	struct shmring_opt opt = {
		.size = sizeof(opt), .opt = SHMRING_OPT_WATERMARK_BYTES, .val = bytes
	};

	if (records) {
		opt.opt = SHMRING_OPT_WATERMARK_RECS;
		opt.val = records;
	}
	return shmring_sys_ioctl(r->fd, SHMRING_IOC_SET_OPT, &opt);
}

int shmring_set_zc_wake(struct shmring *r, unsigned int mode)
{
	struct shmring_opt opt = {
		.size = sizeof(opt), .opt = SHMRING_OPT_ZC_WAKE, .val = mode
	};

	return shmring_sys_ioctl(r->fd, SHMRING_IOC_SET_OPT, &opt);
}

int shmring_info(struct shmring *r, struct shmring_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return shmring_sys_ioctl(r->fd, SHMRING_IOC_INFO, info);
}

int shmring_sub_list(struct shmring *r, struct shmring_sub_info *subs,
		     unsigned int nr, unsigned int *total)
{
	struct shmring_sub_list l;

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.nr = nr;
	l.subs = (uintptr_t)subs;
	int ret;

	ret = shmring_sys_ioctl(r->fd, SHMRING_IOC_SUB_LIST, &l);
	if (ret)
		return ret;
	if (total)
		*total = l.total;
	return (int)l.nr;
}

int shmring_sub_delete(struct shmring *r, const char *sub)
{
	struct shmring_name n;
	int ret;

	memset(&n, 0, sizeof(n));
	n.size = sizeof(n);
	ret = name_copy(n.name, SHMRING_SUB_NAME_MAX, sub);
	if (ret)
		return ret;
	return shmring_sys_ioctl(r->fd, SHMRING_IOC_SUB_DEL, &n);
}

int shmring_record_csum_ok(const struct shmring_record *rec)
{
	if (!(rec->flags & SHMRING_REC_CSUM))
		return 1;
	return shmring_crc32c(rec->data, rec->len) == rec->csum;
}

/*
 * Is it /dev/shmring itself that refuses us (a udev rule's 0660 and
 * group), rather than a ring's mode? errno is left as it was.
 */
static int device_refuses(void)
{
	int saved = errno, ret;

	ret = access(SHMRING_DEVICE, R_OK | W_OK) && errno == EACCES;
	errno = saved;
	return ret;
}

const char *shmring_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -ENODEV:
		return "shmring module not loaded (no " SHMRING_DEVICE "): load it with `shmring-ctl load`";
	case -ENOENT:
		return "no ring by that name";
	case -EEXIST:
		return "a ring by that name already exists";
	case -EACCES:
		if (device_refuses())
			return "permission denied by " SHMRING_DEVICE " itself: its group and mode "
			       "(`ls -l " SHMRING_DEVICE "`) leave you out; join its group";
		return "permission denied by the ring's mode (or the subscription belongs to another user)";
	case -EPERM:
		return "only the ring's owner (or the subscription's creator) may do that";
	case -EMSGSIZE:
		return "record larger than the ring's max_record (or buffer too small for a record)";
	case -EIDRM:
		return "the ring was unlinked";
	case -EAGAIN:
		return "no record pending / no room without waiting";
	case -ESTALE:
		return "record was overwritten while it was being read";
	case -EBADMSG:
		return "corrupt record in ring";
	case -EDQUOT:
		return "per-user limit reached: memory of rings, subscriptions and readers (max_user), "
		       "attached readers (max_user_readers), or 8 subscriptions on a ring you do not own";
	case -ENOSPC:
		return "limit reached: all rings' memory (max_total), rings per namespace (max_rings), "
		       "or the ring's subscription slots (64; 32 for users who do not own it)";
	case -EUSERS:
		return "the ring has its maximum of attached readers (max_readers)";
	case -E2BIG:
		return "a struct larger than this kernel knows, with non-zero bytes it does not";
	case -EBUSY:
		return "subscription already in use by another reader";
	case -ENOTCONN:
		return "handle is not bound to a ring";
	case -ETIMEDOUT:
		return "timed out";
	default:
		return strerror(-err);
	}
}
