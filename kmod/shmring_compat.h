/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version difference shmring cares about, in one place.
 * Supported: Debian's 6.1 and the 6.12 tree. kmod/Kbuild detects what the
 * target tree has (SHMRING_HAVE_*) from its headers, so nothing here
 * depends on a version number. The module itself builds on both; the
 * KUnit suite (shmring_kunit.c) needs the KUnit of 6.8 or later
 * (kunit_add_action_or_reset, KUNIT_DEFINE_ACTION_WRAPPER), and Kbuild
 * builds it only where the tree has them (Debian's 6.1 has no KUnit).
 */
#ifndef SHMRING_COMPAT_H
#define SHMRING_COMPAT_H

#include <linux/mm.h>
#include <linux/uio.h>
#include <linux/crc32.h>

#ifndef SHMRING_HAVE_VM_FLAGS_SET
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

/*
 * __assign_str() lost its source argument in 6.10 (the source is taken
 * from __string(), so @src is only evaluated); shmring_trace.h uses
 * this instead.
 */
#ifdef SHMRING_HAVE_ASSIGN_STR_1
#define shmring_assign_str(dst, src)	do { __assign_str(dst); (void)(src); } while (0)
#else
#define shmring_assign_str(dst, src)	__assign_str(dst, src)
#endif

#include <kunit/visibility.h>	/* present in both supported trees */

/* crc32c of a buffer, from the always-built-in lib/crc32.c. */
static inline u32 shmring_crc32c(const void *p, size_t len)
{
	return __crc32c_le(~0U, p, len) ^ ~0U;
}

#endif /* SHMRING_COMPAT_H */
