/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version difference shmring cares about, in one place.
 * Supported: Debian's 6.1 and the 6.12 tree.
 */
#ifndef SHMRING_COMPAT_H
#define SHMRING_COMPAT_H

#include <linux/version.h>
#include <linux/mm.h>
#include <linux/uio.h>
#include <linux/crc32.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
/* vm_flags became read-only behind helpers in 6.3. */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#ifndef ITER_SOURCE
/* 6.2 renamed the iov_iter directions. */
#define ITER_SOURCE	WRITE
#define ITER_DEST	READ
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#include <kunit/visibility.h>
#else
#define EXPORT_SYMBOL_IF_KUNIT(symbol)
#endif

/* crc32c of a buffer, from the always-built-in lib/crc32.c. */
static inline u32 shmring_crc32c(const void *p, size_t len)
{
	return __crc32c_le(~0U, p, len) ^ ~0U;
}

#endif /* SHMRING_COMPAT_H */
