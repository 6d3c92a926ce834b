// SPDX-License-Identifier: MIT
/*
 * libshmring: CRC-32C (Castagnoli), reflected, initial value and final XOR
 * 0xFFFFFFFF: the kernel's crc32c() convention, the value the module stores
 * in a record's csum and the capture format's frame CRC.
 *
 * Three implementations with identical results for every input:
 *  - x86-64: the SSE4.2 crc32 instruction, 8 bytes at a time;
 *  - aarch64: the ARMv8 CRC32C instructions (optional in ARMv8.0), likewise;
 *  - anywhere: slicing-by-8 tables, 8 bytes per step, no special CPU.
 * shmring_crc32c() picks the hardware one when the CPU has it, on its first
 * call, through an atomic function pointer that starts out pointing at the
 * resolver: threads racing through the first call each run the resolver,
 * reach the same choice, store the same pointer and compute their CRC with
 * it, so every caller gets the right CRC whatever the interleaving. Later
 * calls cost one relaxed load and an indirect call. No ifunc and no
 * constructor, so it also works when called from another constructor, in
 * a static binary and under the sanitizers.
 *
 * tests/unit/t_crc32c.c compares all of them against a bit-at-a-time
 * reference through the entry points of internal.h.
 */
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Little-endian 64-bit load from any address (one mov where allowed). */
static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* --- slicing-by-8 -------------------------------------------------------- */

/*
 * The tables are constant data (lib/crc32c_table.h, written by
 * lib/gen_crc32c_table.py): 8 KiB of read-only memory shared by every
 * process, nothing to fill in at run time and so nothing to race on.
 */
#include "crc32c_table.h"

uint32_t shmring_crc32c_sw(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t crc = ~0U;
	uint64_t v;

	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	for (; len >= 8; len -= 8, p += 8) {
		v = load_le64(p) ^ crc;
		crc = crc32c_table[7][v & 0xff] ^
		      crc32c_table[6][(v >> 8) & 0xff] ^
		      crc32c_table[5][(v >> 16) & 0xff] ^
		      crc32c_table[4][(v >> 24) & 0xff] ^
		      crc32c_table[3][(v >> 32) & 0xff] ^
		      crc32c_table[2][(v >> 40) & 0xff] ^
		      crc32c_table[1][(v >> 48) & 0xff] ^
		      crc32c_table[0][v >> 56];
	}
	while (len--)
		crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/* --- hardware ------------------------------------------------------------ */

#if defined(__x86_64__)
#include <nmmintrin.h>

#define CRC32C_HW 1

__attribute__((target("sse4.2")))
uint32_t shmring_crc32c_hw(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t crc = ~0U;

	while (len && ((uintptr_t)p & 7)) {
		crc = _mm_crc32_u8((uint32_t)crc, *p++);
		len--;
	}
	for (; len >= 8; len -= 8, p += 8)
		crc = _mm_crc32_u64(crc, load_le64(p));
	while (len--)
		crc = _mm_crc32_u8((uint32_t)crc, *p++);
	return ~(uint32_t)crc;
}

static int crc32c_cpu_has_hw(void)
{
	/* Needed when the first call comes from another constructor. */
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}

#elif defined(__aarch64__) && defined(__linux__)
#include <arm_acle.h>
#include <sys/auxv.h>

#define CRC32C_HW 1

#ifndef HWCAP_CRC32
#define HWCAP_CRC32	(1 << 7)	/* arch/arm64/include/uapi/asm/hwcap.h */
#endif

/*
 * gcc spells the feature "+crc", clang "crc". Clang's <arm_acle.h> (14)
 * declares __crc32c*() only when the whole file is built with +crc, so
 * with clang the builtins behind them are called directly.
 */
#if defined(__clang__)
#define CRC32C_TARGET		__attribute__((target("crc")))
#define crc32c_u8(crc, b)	__builtin_arm_crc32cb(crc, b)
#define crc32c_u64(crc, v)	__builtin_arm_crc32cd(crc, v)
#else
#define CRC32C_TARGET		__attribute__((target("+crc")))
#define crc32c_u8(crc, b)	__crc32cb(crc, b)
#define crc32c_u64(crc, v)	__crc32cd(crc, v)
#endif

CRC32C_TARGET
uint32_t shmring_crc32c_hw(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t crc = ~0U;

	while (len && ((uintptr_t)p & 7)) {
		crc = crc32c_u8(crc, *p++);
		len--;
	}
	for (; len >= 8; len -= 8, p += 8)
		crc = crc32c_u64(crc, load_le64(p));
	while (len--)
		crc = crc32c_u8(crc, *p++);
	return ~crc;
}

static int crc32c_cpu_has_hw(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}

#else

#define CRC32C_HW 0

/* No CRC instruction known here: the "hardware" entry point is the tables. */
uint32_t shmring_crc32c_hw(const void *data, size_t len)
{
	return shmring_crc32c_sw(data, len);
}

static int crc32c_cpu_has_hw(void)
{
	return 0;
}

#endif

int shmring_crc32c_hw_available(void)
{
	return CRC32C_HW && crc32c_cpu_has_hw();
}

/* --- selection ----------------------------------------------------------- */

typedef uint32_t (*crc32c_fn)(const void *data, size_t len);

static uint32_t crc32c_resolve(const void *data, size_t len);

/* The resolver until the first call has chosen. */
static crc32c_fn crc32c_impl = crc32c_resolve;

static uint32_t crc32c_resolve(const void *data, size_t len)
{
	crc32c_fn fn = shmring_crc32c_hw_available() ? shmring_crc32c_hw : shmring_crc32c_sw;

	__atomic_store_n(&crc32c_impl, fn, __ATOMIC_RELAXED);
	return fn(data, len);
}

uint32_t shmring_crc32c(const void *data, size_t len)
{
	return __atomic_load_n(&crc32c_impl, __ATOMIC_RELAXED)(data, len);
}
