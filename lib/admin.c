// SPDX-License-Identifier: MIT
/*
 * libshmring: what the kernel offers, the rings one may see, ownership
 * changes and moving a reader. Each call is one ioctl; the unbound ones
 * open /dev/shmring for the call.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Run @req on a /dev/shmring file bound to no ring. */
static int unbound_ioctl(unsigned long req, void *arg)
{
	int fd = KEEP_ERRNO(({ int f = open(SHMRING_DEVICE, O_RDWR | O_CLOEXEC);
			       f < 0 ? (errno == ENOENT ? -ENODEV : -errno) : f; }));
	int ret;

	if (fd < 0)
		return fd;
	ret = shmring_sys_ioctl(fd, req, arg);
	KEEP_ERRNO(close(fd));
	return ret;
}

int shmring_features(struct shmring_features *f)
{
	memset(f, 0, sizeof(*f));
	f->size = sizeof(*f);
	return unbound_ioctl(SHMRING_IOC_FEATURES, f);
}

int shmring_list(struct shmring_ring_entry *rings, unsigned int nr,
		 unsigned int skip, unsigned int *total)
{
	struct shmring_list l = {
		.size = sizeof(l),
		.nr = nr,
		.rings = (uintptr_t)rings,
		.skip = skip,
	};
	int ret = unbound_ioctl(SHMRING_IOC_LIST, &l);

	if (ret)
		return ret;
	if (total)
		*total = l.total;
	return (int)l.nr;
}

static int setattr(const char *name, struct shmring_setattr *sa)
{
	size_t len = name ? strnlen(name, sizeof(sa->name)) : 0;

	if (!len || len == sizeof(sa->name))
		return -EINVAL;
	memcpy(sa->name, name, len);
	sa->size = sizeof(*sa);
	return unbound_ioctl(SHMRING_IOC_SETATTR, sa);
}

int shmring_chown(const char *name, uid_t uid, gid_t gid)
{
	struct shmring_setattr sa;

	memset(&sa, 0, sizeof(sa));
	if (uid != (uid_t)-1) {
		sa.flags |= SHMRING_SETATTR_UID;
		sa.uid = uid;
	}
	if (gid != (gid_t)-1) {
		sa.flags |= SHMRING_SETATTR_GID;
		sa.gid = gid;
	}
	if (!sa.flags)
		return 0;	/* as chown(2) with both -1 */
	return setattr(name, &sa);
}

int shmring_chmod(const char *name, mode_t mode)
{
	struct shmring_setattr sa;

	memset(&sa, 0, sizeof(sa));
	sa.flags = SHMRING_SETATTR_MODE;
	sa.mode = mode;
	return setattr(name, &sa);
}

int shmring_seek(struct shmring *r, unsigned int whence, uint64_t val)
{
	struct shmring_seek s = { .size = sizeof(s), .whence = whence, .val = val };
	uint64_t lost = r->rd.lost, discarded = r->rd.zc_discarded, corrupt = r->rd.zc_corrupt;
	int ret;

	if (!r->rd.hdr)
		return -EBADF;
	ret = shmring_sys_ioctl(r->fd, SHMRING_IOC_SEEK, &s);
	if (ret)
		return ret;
	/* Take the new position from the reader page; keep this handle's counts. */
	ret = shmring_rd_attach(&r->rd);
	r->rd.lost = lost;
	r->rd.zc_discarded = discarded;
	r->rd.zc_corrupt = corrupt;
	return ret;
}
