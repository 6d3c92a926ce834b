// SPDX-License-Identifier: GPL-2.0
/*
 * utils/position.c natively: the --from/--to positions of shmring-dump
 * and shmring-ctl subs --reset, and ISO-8601 wall times. TAP.
 */
#include <stdint.h>

#include "shmring.h"
#include "../tap.h"
#include "../../utils/position.h"

static void pos_is(const char *s, unsigned int whence, uint64_t val)
{
	struct ring_pos p = { 99, 99 };
	bool parsed = ring_pos_parse(s, &p);

	ok(parsed && p.whence == whence && p.val == val,
	   "'%s': whence %u val %llu (got %d, %u, %llu)", s, whence,
	   (unsigned long long)val, parsed, p.whence, (unsigned long long)p.val);
}

static void pos_bad(const char *s)
{
	struct ring_pos p;

	ok(!ring_pos_parse(s, &p), "'%s' is refused", s);
}

int main(void)
{
	const uint64_t t0 = 1796126400ULL * 1000000000ULL;	/* 2026-12-01T12:00:00Z */

	plan_no_plan();
	pos_is("oldest", SHMRING_SEEK_OLDEST, 0);
	pos_is("end", SHMRING_SEEK_END, 0);
	pos_is("seq=0", SHMRING_SEEK_SEQ, 0);
	pos_is("seq=42", SHMRING_SEEK_SEQ, 42);
	pos_is("seq=0x10", SHMRING_SEEK_SEQ, 16);
	pos_is("time=123456789", SHMRING_SEEK_TIME, 123456789);
	pos_is("time=2026-12-01T12:00:00Z", SHMRING_SEEK_TIME, t0);
	pos_is("time=2026-12-01T12:00:00", SHMRING_SEEK_TIME, t0);
	pos_is("time=2026-12-01 12:00:00Z", SHMRING_SEEK_TIME, t0);
	pos_is("time=2026-12-01T12:00:00.5Z", SHMRING_SEEK_TIME, t0 + 500000000);
	pos_is("time=2026-12-01T12:00:00.123456789Z", SHMRING_SEEK_TIME, t0 + 123456789);
	pos_is("time=2026-12-01T12:00:00.1234567891Z", SHMRING_SEEK_TIME, t0 + 123456789);
	pos_is("time=2026-12-01T14:00:00+02:00", SHMRING_SEEK_TIME, t0);
	pos_is("time=2026-12-01T07:00:00-0500", SHMRING_SEEK_TIME, t0);
	pos_bad("");
	pos_bad("start");
	pos_bad("Oldest");
	pos_bad("seq=");
	pos_bad("seq=-1");
	pos_bad("seq=1x");
	pos_bad("time=");
	pos_bad("time=yesterday");
	pos_bad("time=2026-12-01");
	pos_bad("time=2026-12-01T12:00:00.Z");
	pos_bad("time=2026-12-01T12:00:00Zjunk");
	pos_bad("time=2026-12-01T12:00:00+2");
	pos_bad("time=1969-12-31T23:59:59Z");
	return done_testing();
}
