// SPDX-License-Identifier: GPL-2.0
/*
 * Native (no VM) tests of libshmring's pure parts: the record validator
 * that guards readers against a corrupt ring, crc32c, error text.
 */
#include <errno.h>
#include <string.h>

#include "shmring.h"
#include "../tap.h"

static struct shmring_rec hdr(uint32_t len)
{
	struct shmring_rec h;

	memset(&h, 0, sizeof(h));
	h.len = len;
	return h;
}

static void test_validate(void)
{
	struct shmring_rec h = hdr(5);

	is_int(shmring_rec_validate(&h, 48, 100), 48, "5-byte payload: total 48 (40 + 8)");
	is_int(shmring_rec_validate(&h, 47, 100), -EBADMSG, "record beyond committed bytes");
	is_int(shmring_rec_validate(&h, 48, 4), -EBADMSG, "len above max_record");
	h = hdr(0);
	is_int(shmring_rec_validate(&h, 40, 0), 40, "zero-length record is 40 bytes");
	h.flags = 0x80;
	is_int(shmring_rec_validate(&h, 40, 0), -EBADMSG, "unknown record flag");
	h = hdr(0);
	h.__reserved0 = 1;
	is_int(shmring_rec_validate(&h, 40, 0), -EBADMSG, "reserved0 set");
	h = hdr(0);
	h.__reserved1 = 1;
	is_int(shmring_rec_validate(&h, 40, 0), -EBADMSG, "reserved1 set");
	h = hdr(UINT32_MAX);
	is_int(shmring_rec_validate(&h, UINT64_MAX, UINT32_MAX), -EBADMSG,
	       "a 4 GiB record is refused, no overflow");
	h = hdr(16);
	h.flags = SHMRING_REC_CSUM;
	is_int(shmring_rec_validate(&h, 56, 16), 56, "CSUM flag is known");
}

static void test_crc(void)
{
	struct shmring_record rec;

	is_int(shmring_crc32c("123456789", 9), 0xE3069283, "crc32c check value");
	is_int(shmring_crc32c("", 0), 0, "crc32c of nothing");
	memset(&rec, 0, sizeof(rec));
	rec.data = "123456789";
	rec.len = 9;
	rec.flags = SHMRING_REC_CSUM;
	rec.csum = 0xE3069283;
	ok(shmring_record_csum_ok(&rec), "matching checksum accepted");
	rec.csum ^= 1;
	ok(!shmring_record_csum_ok(&rec), "flipped checksum refused");
	rec.flags = 0;
	ok(shmring_record_csum_ok(&rec), "no CSUM flag: nothing to check");
}

static void test_text(void)
{
	ok(strstr(shmring_strerror(-ENODEV), "shmring-ctl load") != NULL,
	   "missing device says how to load the module");
	ok(strstr(shmring_strerror(-ESTALE), "overwritten") != NULL, "ESTALE explained");
	ok(strcmp(shmring_strerror(-EIO), strerror(EIO)) == 0, "other codes fall back to strerror");
	is_int(shmring_version_major(), SHMRING_LIB_VERSION_MAJOR, "run-time major matches compile-time");
	is_int(shmring_version_minor(), SHMRING_LIB_VERSION_MINOR, "run-time minor matches compile-time");
}

int main(void)
{
	plan_no_plan();
	test_validate();
	test_crc();
	test_text();
	return done_testing();
}
