// SPDX-License-Identifier: GPL-2.0
/*
 * Native tests of libshmring's CRC-32C (lib/crc32c.c): the known vectors
 * (RFC 3720 B.4, the check value, no bytes) through every implementation,
 * then the hardware one (SSE4.2 / ARMv8 CRC, skipped where the CPU lacks
 * it), slicing-by-8 and shmring_crc32c() against a bit-at-a-time reference
 * for every length 0..1100 at every start alignment 0..15 over random
 * bytes, and threads racing through the first call, which picks the
 * implementation.
 *
 *	t_crc32c [--seed N]		the tests (TAP)
 *	t_crc32c --bench [SECONDS]	MB/s of each implementation at 64 B
 *					and 64 KiB, SECONDS (default 1) per
 *					cell (no test, nothing asserted)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "../tap.h"

#define MAX_LEN		1100
#define ALIGNS		16
#define THREADS		8

/* The reference: CRC-32C one bit at a time, as libshmring had it. */
static uint32_t crc_bitwise(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t crc = ~0U;
	int k;

	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78U & (0U - (crc & 1)));
	}
	return ~crc;
}

typedef uint32_t (*crc_fn)(const void *data, size_t len);

struct impl {
	const char *name;
	crc_fn fn;
	int hw;		/* needs shmring_crc32c_hw_available() */
};

static const struct impl impls[] = {
	{ "shmring_crc32c", shmring_crc32c, 0 },
	{ "slicing-by-8", shmring_crc32c_sw, 0 },
	{ "hardware", shmring_crc32c_hw, 1 },
	{ "bitwise reference", crc_bitwise, 0 },
};
#define NIMPLS	(sizeof(impls) / sizeof(impls[0]))

static int hw_ok;

static uint64_t rng_state;

/* xorshift64*: reproducible bytes from --seed. */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void fill_random(unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(rng() >> 56);
}

/* --- the first call, from many threads at once ---------------------------- */

static pthread_barrier_t race_barrier;
static uint32_t race_got[THREADS];

static void *race_thread(void *arg)
{
	uint32_t *got = arg;

	pthread_barrier_wait(&race_barrier);
	*got = shmring_crc32c("123456789", 9);
	return NULL;
}

/* Must run before anything else calls shmring_crc32c() in this process. */
static void test_first_call_race(void)
{
	pthread_t th[THREADS];
	int i, n, bad = 0;

	pthread_barrier_init(&race_barrier, NULL, THREADS);
	for (n = 0; n < THREADS; n++)
		if (pthread_create(&th[n], NULL, race_thread, &race_got[n]))
			bail_out("pthread_create failed");
	for (i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		bad += race_got[i] != 0xE3069283;
	}
	pthread_barrier_destroy(&race_barrier);
	is_int(bad, 0, "%d threads in the first shmring_crc32c() call at once: all get 0xE3069283",
	       THREADS);
}

/* --- known vectors ---------------------------------------------------------- */

static void test_vectors(void)
{
	unsigned char zeros[32], ones[32], up[32], down[32];
	const struct {
		const char *what;
		const void *data;
		size_t len;
		uint32_t crc;
	} v[] = {
		{ "32 bytes of 0x00 (RFC 3720 B.4)", zeros, 32, 0x8A9136AA },
		{ "32 bytes of 0xFF (RFC 3720 B.4)", ones, 32, 0x62A8AB43 },
		{ "0x00..0x1F (RFC 3720 B.4)", up, 32, 0x46DD794E },
		{ "0x1F..0x00 (RFC 3720 B.4)", down, 32, 0x113FDB5C },
		{ "\"123456789\" (check value)", "123456789", 9, 0xE3069283 },
		{ "no bytes", "", 0, 0 },
	};
	size_t i, k;

	memset(zeros, 0, sizeof(zeros));
	memset(ones, 0xff, sizeof(ones));
	for (i = 0; i < 32; i++) {
		up[i] = (unsigned char)i;
		down[i] = (unsigned char)(31 - i);
	}
	for (k = 0; k < NIMPLS; k++) {
		if (impls[k].hw && !hw_ok) {
			skip((int)(sizeof(v) / sizeof(v[0])), "%s: this CPU has no CRC32C instructions",
			     impls[k].name);
			continue;
		}
		for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			is_int(impls[k].fn(v[i].data, v[i].len), v[i].crc, "%s: %s -> 0x%08X",
			       impls[k].name, v[i].what, v[i].crc);
	}
}

/* --- every length at every alignment ---------------------------------------- */

static void test_exhaustive(void)
{
	static unsigned char buf[ALIGNS + MAX_LEN + ALIGNS];
	/* 16-byte aligned: offset a is at alignment a */
	unsigned char *base = (unsigned char *)(((uintptr_t)buf + 15) & ~(uintptr_t)15);
	unsigned long mismatches[NIMPLS] = { 0 };
	unsigned long cases = 0;
	size_t k, a, len;
	uint32_t want, got;

	fill_random(buf, sizeof(buf));
	for (a = 0; a < ALIGNS; a++) {
		for (len = 0; len <= MAX_LEN; len++) {
			want = crc_bitwise(base + a, len);
			cases++;
			for (k = 0; k + 1 < NIMPLS; k++) {
				if (impls[k].hw && !hw_ok)
					continue;
				got = impls[k].fn(base + a, len);
				if (got != want && !mismatches[k]++)
					diag("%s: first mismatch at alignment %zu, length %zu: 0x%08X, reference 0x%08X",
					     impls[k].name, a, len, got, want);
			}
		}
	}
	for (k = 0; k + 1 < NIMPLS; k++) {
		if (impls[k].hw && !hw_ok) {
			skip(1, "%s against the reference: this CPU has no CRC32C instructions",
			     impls[k].name);
			continue;
		}
		is_int(mismatches[k], 0, "%s equals the bitwise reference on %lu buffers (lengths 0..%d at alignments 0..%d, random bytes)",
		       impls[k].name, cases, MAX_LEN, ALIGNS - 1);
	}
}

/* A large buffer, which only the 8-byte loops see for long. */
static void test_large(void)
{
	size_t len = 1 << 20, k;
	unsigned char *p = malloc(len + 3);
	uint32_t want;

	if (!p)
		bail_out("out of memory");
	fill_random(p, len + 3);
	want = crc_bitwise(p + 3, len);
	for (k = 0; k + 1 < NIMPLS; k++) {
		if (impls[k].hw && !hw_ok) {
			skip(1, "%s on 1 MiB: this CPU has no CRC32C instructions", impls[k].name);
			continue;
		}
		is_int(impls[k].fn(p + 3, len), want, "%s equals the reference on 1 MiB at alignment 3",
		       impls[k].name);
	}
	free(p);
}

/* --- --bench ------------------------------------------------------------------ */

/* CPU time of this thread: what the CRC costs, even on a busy machine. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The best of 5 runs of secs / 5 each, as MB/s. */
static double bench_one(crc_fn fn, const unsigned char *buf, size_t size, double secs)
{
	static volatile uint32_t sink;
	/* calls between two clock reads: a few ms' worth, even bit by bit */
	unsigned long batch = (fn == crc_bitwise ? 65536 : 1 << 22) / size;
	double best = 0, t0, t, rate;
	unsigned long n, i;
	uint32_t acc = 0;
	int rep;

	for (rep = 0; rep < 5; rep++) {
		n = 0;
		t0 = now_s();
		do {
			for (i = 0; i < batch; i++)
				acc ^= fn(buf, size);
			n += batch;
			t = now_s() - t0;
		} while (t < secs / 5);
		rate = (double)n * (double)size / t / 1e6;
		if (rate > best)
			best = rate;
	}
	sink = acc;
	(void)sink;
	return best;
}

static int bench(double secs)
{
	static const size_t sizes[] = { 64, 65536 };
	unsigned char *buf = malloc(65536);
	size_t s, k;

	if (!buf)
		return 1;
	fill_random(buf, 65536);
	printf("# CRC-32C throughput in MB/s (10^6 bytes) per thread CPU second, best of 5 runs of %.2f s, one thread\n",
	       secs / 5);
	printf("# CRC32C instructions on this CPU: %s\n", hw_ok ? "yes" : "no");
	printf("%-18s %10s %10s\n", "implementation", "64 B", "64 KiB");
	for (k = 0; k < NIMPLS; k++) {
		if (impls[k].hw && !hw_ok)
			continue;
		printf("%-18s", impls[k].name);
		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			printf(" %10.1f", bench_one(impls[k].fn, buf, sizes[s], secs));
		printf("\n");
	}
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long seed = 0x5EEDC2C32CULL;
	double secs = 1.0;

	if (argc >= 2 && strcmp(argv[1], "--bench") == 0) {
		if (argc >= 3)
			secs = atof(argv[2]);
		rng_state = seed;
		hw_ok = shmring_crc32c_hw_available();
		return bench(secs > 0 ? secs : 1.0);
	}
	if (argc >= 3 && strcmp(argv[1], "--seed") == 0)
		seed = strtoull(argv[2], NULL, 0);
	rng_state = seed ? seed : 1;

	plan_no_plan();
	/* First, while no call has picked the implementation yet. */
	test_first_call_race();
	hw_ok = shmring_crc32c_hw_available();
	diag("CRC32C instructions on this CPU: %s; random bytes from --seed %#llx",
	     hw_ok ? "yes" : "no", seed);
	test_vectors();
	test_exhaustive();
	test_large();
	return done_testing();
}
