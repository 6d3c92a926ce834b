// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the shmring ring core (kmod/shmring_ring.c): attribute
 * and name validation, record framing, checksums, the doubly mapped data
 * area at every offset, overwrite and lossless reclaim, positions and
 * sequence numbers across 2^64, and the read(2) error paths.
 *
 * The suite drives the core through the functions shmring.ko exports with
 * EXPORT_SYMBOL_IF_KUNIT(). Readers are set up the way
 * shmring_attach_reader() does it. Rings are small on purpose: the debug
 * kernel runs under software emulation with KASAN.
 */

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/limits.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/prandom.h>
#include <linux/random.h>
#include <linux/sched/task.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <linux/uio.h>

#include "shmring_internal.h"

#define TEST_PID	4242
#define TEST_TYPE	0x5eed
#define HDR_LEN		((u32)sizeof(struct shmring_rec))
/* Payload seeds: the record with sequence s carries pattern + s % SEEDS. */
#define PAT_SEEDS	256
#define BUF_LEN		(2 * SZ_4K)
#define PAT_LEN		(BUF_LEN + PAT_SEEDS)
/* A record of this payload takes 512 bytes: eight fill a 4 KiB ring. */
#define LEN_512		(512 - HDR_LEN)

struct shmring_test_ctx {
	u8 *pat;		/* PAT_LEN bytes of payload pattern */
	u8 *buf;		/* BUF_LEN bytes to read into */
};

/* A reader attached to a ring, as a file opened with SHMRING_O_READ. */
struct shmring_test_reader {
	struct shmring_cursor c;
	struct shmring_ring *ring;
};

KUNIT_DEFINE_ACTION_WRAPPER(shmring_test_ring_free, shmring_ring_free,
			    struct shmring_ring *);

static const struct shmring_limits shmring_test_limits = {
	.default_size	= SZ_16K,
	.max_size	= SZ_4M,
	.max_total	= SZ_64M,
	.max_user	= SZ_64M,
	.max_rings	= 16,
};

/* A ring of @attr, which must pass shmring_attr_check(), freed at the end. */
static struct shmring_ring *shmring_test_ring_attr(struct kunit *test,
						   struct shmring_attr *attr)
{
	struct shmring_ring *ring;

	KUNIT_ASSERT_EQ(test, shmring_attr_check(attr, &shmring_test_limits), 0);
	ring = shmring_ring_alloc(attr, "kunit");
	KUNIT_ASSERT_NOT_NULL(test, ring);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							shmring_test_ring_free,
							ring), 0);
	return ring;
}

static struct shmring_ring *shmring_test_ring(struct kunit *test, u64 size,
					      u32 max_record, u32 policy,
					      u32 flags)
{
	struct shmring_attr attr = {
		.data_size = size,
		.max_record = max_record,
		.policy = policy,
		.flags = flags,
	};

	return shmring_test_ring_attr(test, &attr);
}

static void shmring_test_reader_release(void *data)
{
	struct shmring_test_reader *r = data;

	shmring_detach_cursor(r->ring, &r->c);
	__free_page(r->c.page);
}

/* Attach a reader at the tail (or the head); detached when the test ends. */
static struct shmring_test_reader *
shmring_test_reader(struct kunit *test, struct shmring_ring *ring,
		    bool from_head)
{
	struct shmring_test_reader *r;
	struct page *page;
	int ret;

	r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, r);
	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	KUNIT_ASSERT_NOT_NULL(test, page);
	r->ring = ring;
	shmring_cursor_init(&r->c, page_address(page), page);
	r->c.pid = TEST_PID;
	ret = shmring_attach_cursor(ring, &r->c, from_head);
	if (ret)
		__free_page(page);
	KUNIT_ASSERT_EQ(test, ret, 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							shmring_test_reader_release,
							r), 0);
	return r;
}

static ssize_t shmring_test_write_buf(struct shmring_ring *ring, const void *p,
				      size_t len, u32 type, bool nonblock)
{
	struct kvec kv = { .iov_base = (void *)p, .iov_len = len };
	struct iov_iter it;

	iov_iter_kvec(&it, ITER_SOURCE, &kv, 1, len);
	return shmring_ring_write(ring, &it, type, TEST_PID, nonblock);
}

static const u8 *shmring_test_payload(struct kunit *test, u64 seq)
{
	struct shmring_test_ctx *ctx = test->priv;

	return ctx->pat + seq % PAT_SEEDS;
}

/* Write the pattern record that gets the ring's next sequence number. */
static ssize_t shmring_test_write(struct kunit *test, struct shmring_ring *ring,
				  u32 len, bool nonblock)
{
	return shmring_test_write_buf(ring,
				      shmring_test_payload(test, ring->head_seq),
				      len, TEST_TYPE, nonblock);
}

static ssize_t shmring_test_read_buf(struct shmring_test_reader *r, void *p,
				     size_t size, bool nonblock)
{
	struct kvec kv = { .iov_base = p, .iov_len = size };
	struct iov_iter it;

	iov_iter_kvec(&it, ITER_DEST, &kv, 1, size);
	return shmring_ring_read(r->ring, &r->c, &it, nonblock);
}

/*
 * Nonblocking read into the context buffer, poisoned first so that the
 * zero padding is known to come from the ring and nothing is written past
 * what the read returns.
 */
static ssize_t shmring_test_read(struct kunit *test,
				 struct shmring_test_reader *r, size_t size)
{
	struct shmring_test_ctx *ctx = test->priv;
	size_t done;
	ssize_t ret;

	memset(ctx->buf, 0xa5, BUF_LEN);
	ret = shmring_test_read_buf(r, ctx->buf, size, true);
	done = ret > 0 ? ret : 0;
	KUNIT_ASSERT_NULL_MSG(test, memchr_inv(ctx->buf + done, 0xa5,
					       BUF_LEN - done),
			      "read returned %zd but wrote more", ret);
	return ret;
}

/*
 * Check a record written by shmring_test_write(): every header field, the
 * payload and the zero padding up to 8 bytes. Returns its total size.
 */
static u64 shmring_test_check_rec(struct kunit *test,
				  const struct shmring_ring *ring,
				  const u8 *p, u32 len, u64 seq,
				  const char *where)
{
	const u8 *payload = shmring_test_payload(test, seq);
	u64 total = shmring_rec_total(len);
	struct shmring_rec rec;
	u64 i;

	memcpy(&rec, p, sizeof(rec));
	KUNIT_ASSERT_EQ_MSG(test, rec.len, len, "%s", where);
	KUNIT_ASSERT_EQ_MSG(test, rec.seq, seq, "%s", where);
	KUNIT_ASSERT_EQ_MSG(test, rec.type, TEST_TYPE, "%s", where);
	KUNIT_ASSERT_EQ_MSG(test, rec.pid, TEST_PID, "%s", where);
	KUNIT_ASSERT_NE_MSG(test, rec.tstamp_ns, 0, "%s", where);
	KUNIT_ASSERT_EQ_MSG(test, rec.__reserved0, 0, "%s", where);
	KUNIT_ASSERT_EQ_MSG(test, rec.__reserved1, 0, "%s", where);
	if (ring->flags & SHMRING_ATTR_CSUM) {
		KUNIT_ASSERT_EQ_MSG(test, rec.flags, SHMRING_REC_CSUM, "%s", where);
		KUNIT_ASSERT_EQ_MSG(test, rec.csum, shmring_crc32c(payload, len),
				    "%s", where);
	} else {
		KUNIT_ASSERT_EQ_MSG(test, rec.flags, 0, "%s", where);
		KUNIT_ASSERT_EQ_MSG(test, rec.csum, 0, "%s", where);
	}
	KUNIT_ASSERT_EQ_MSG(test, memcmp(p + sizeof(rec), payload, len), 0,
			    "%s: payload differs", where);
	for (i = sizeof(rec) + len; i < total; i++)
		KUNIT_ASSERT_EQ_MSG(test, p[i], 0, "%s: padding byte %llu",
				    where, i);
	return total;
}

/* Check @nr consecutive records of @len bytes from @seq in the buffer. */
static void shmring_test_check_recs(struct kunit *test,
				    const struct shmring_ring *ring,
				    u64 nr, u32 len, u64 seq)
{
	struct shmring_test_ctx *ctx = test->priv;
	u64 i, off = 0;

	for (i = 0; i < nr; i++)
		off += shmring_test_check_rec(test, ring, ctx->buf + off, len,
					      seq + i, "record in a batch");
}

/* Write one record and read it straight back. */
static void shmring_test_write_read(struct kunit *test,
				    struct shmring_test_reader *r, u32 len,
				    const char *where)
{
	struct shmring_test_ctx *ctx = test->priv;
	struct shmring_ring *ring = r->ring;
	u64 total = shmring_rec_total(len);

	KUNIT_ASSERT_EQ_MSG(test, shmring_test_write(test, ring, len, true),
			    (ssize_t)len, "%s: write", where);
	KUNIT_ASSERT_EQ_MSG(test, ring->head % 8, 0, "%s: head", where);
	KUNIT_ASSERT_EQ_MSG(test, shmring_test_read(test, r, BUF_LEN),
			    (ssize_t)total, "%s: read", where);
	KUNIT_ASSERT_EQ_MSG(test, r->c.rp->pos, ring->head, "%s: pos", where);
	shmring_test_check_rec(test, ring, ctx->buf, len, ring->head_seq - 1,
			       where);
}

/* ---- parameter and attribute validation --------------------------------- */

static void shmring_size_valid_bounds(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, shmring_size_valid(SZ_4K, SZ_64K));
	KUNIT_EXPECT_TRUE(test, shmring_size_valid(SZ_8K, SZ_64K));
	KUNIT_EXPECT_TRUE(test, shmring_size_valid(SZ_64K, SZ_64K));
	KUNIT_EXPECT_FALSE(test, shmring_size_valid(0, SZ_64K));
	KUNIT_EXPECT_FALSE(test, shmring_size_valid(SZ_2K, SZ_64K));
	KUNIT_EXPECT_FALSE(test, shmring_size_valid(4095, SZ_64K));
	KUNIT_EXPECT_FALSE(test, shmring_size_valid(4097, SZ_64K));
	KUNIT_EXPECT_FALSE(test, shmring_size_valid(6000, SZ_64K));
	KUNIT_EXPECT_FALSE(test, shmring_size_valid(SZ_128K, SZ_64K));
	KUNIT_EXPECT_FALSE(test, shmring_size_valid(1ULL << 63, SZ_64K));
	KUNIT_EXPECT_FALSE(test, shmring_size_valid(U64_MAX, U64_MAX));
}

static void shmring_attr_check_fills_defaults(struct kunit *test)
{
	struct shmring_attr attr = {};

	KUNIT_ASSERT_EQ(test, shmring_attr_check(&attr, &shmring_test_limits), 0);
	KUNIT_EXPECT_EQ(test, attr.data_size, shmring_test_limits.default_size);
	KUNIT_EXPECT_EQ(test, attr.max_record,
			shmring_test_limits.default_size / 4);
	KUNIT_EXPECT_EQ(test, attr.policy, SHMRING_POLICY_OVERWRITE);
	KUNIT_EXPECT_EQ(test, attr.flags, 0);

	attr = (struct shmring_attr){ .data_size = SZ_4K };
	KUNIT_ASSERT_EQ(test, shmring_attr_check(&attr, &shmring_test_limits), 0);
	KUNIT_EXPECT_EQ(test, attr.data_size, SZ_4K);
	KUNIT_EXPECT_EQ(test, attr.max_record, SZ_4K / 4);

	/* Given values are kept: the largest record fills the ring exactly. */
	attr = (struct shmring_attr){
		.data_size = SZ_4K,
		.max_record = SZ_4K - HDR_LEN,
		.policy = SHMRING_POLICY_LOSSLESS,
		.flags = SHMRING_ATTR_CSUM,
	};
	KUNIT_ASSERT_EQ(test, shmring_attr_check(&attr, &shmring_test_limits), 0);
	KUNIT_EXPECT_EQ(test, attr.data_size, SZ_4K);
	KUNIT_EXPECT_EQ(test, attr.max_record, SZ_4K - HDR_LEN);
	KUNIT_EXPECT_EQ(test, attr.policy, SHMRING_POLICY_LOSSLESS);
	KUNIT_EXPECT_EQ(test, attr.flags, SHMRING_ATTR_CSUM);

	attr = (struct shmring_attr){ .max_record = 1 };
	KUNIT_ASSERT_EQ(test, shmring_attr_check(&attr, &shmring_test_limits), 0);
	KUNIT_EXPECT_EQ(test, attr.max_record, 1);
}

static void shmring_attr_check_rejects_invalid(struct kunit *test)
{
	const struct shmring_attr good = { .data_size = SZ_4K };
	struct shmring_attr attr;

#define EXPECT_ATTR_EINVAL(field, value)					\
	do {								\
		attr = good;						\
		attr.field = (value);					\
		KUNIT_EXPECT_EQ_MSG(test,				\
			shmring_attr_check(&attr, &shmring_test_limits),\
			-EINVAL, "%s = %llu", #field, (u64)(value));	\
	} while (0)

	attr = good;
	KUNIT_ASSERT_EQ(test, shmring_attr_check(&attr, &shmring_test_limits), 0);

	EXPECT_ATTR_EINVAL(zc_chunk, 4096);
	EXPECT_ATTR_EINVAL(__reserved1[0], 1);
	EXPECT_ATTR_EINVAL(__reserved1[1], 1ULL << 63);
	EXPECT_ATTR_EINVAL(flags, 1U << 1);
	EXPECT_ATTR_EINVAL(flags, 1U << 31);
	EXPECT_ATTR_EINVAL(flags, SHMRING_ATTR_CSUM | (1U << 7));
	EXPECT_ATTR_EINVAL(policy, 2);
	EXPECT_ATTR_EINVAL(policy, U32_MAX);
	EXPECT_ATTR_EINVAL(data_size, 4095);
	EXPECT_ATTR_EINVAL(data_size, 6000);
	EXPECT_ATTR_EINVAL(data_size, SZ_2K);
	EXPECT_ATTR_EINVAL(data_size, shmring_test_limits.max_size * 2);
	/* A record of max_record payload bytes must fit in the ring. */
	EXPECT_ATTR_EINVAL(max_record, SZ_4K - HDR_LEN + 1);
	EXPECT_ATTR_EINVAL(max_record, SZ_4K);
	EXPECT_ATTR_EINVAL(max_record, U32_MAX);
#undef EXPECT_ATTR_EINVAL
}

static void shmring_name_valid_alphabet_and_length(struct kunit *test)
{
	char name[SHMRING_NAME_MAX + 1];

	KUNIT_EXPECT_TRUE(test, shmring_name_valid("a", SHMRING_NAME_MAX));
	KUNIT_EXPECT_TRUE(test, shmring_name_valid("ring-1", SHMRING_NAME_MAX));
	KUNIT_EXPECT_TRUE(test, shmring_name_valid("Log_2.v9", SHMRING_NAME_MAX));
	KUNIT_EXPECT_TRUE(test, shmring_name_valid(".hidden", SHMRING_NAME_MAX));
	KUNIT_EXPECT_TRUE(test, shmring_name_valid("a..b", SHMRING_NAME_MAX));

	KUNIT_EXPECT_FALSE(test, shmring_name_valid("", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid(".", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("..", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("a/b", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("/", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("a b", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("a\nb", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("a:b", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("a\x7f", SHMRING_NAME_MAX));
	/* Not ASCII: the kernel's isalnum() takes Latin-1 letters. */
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("caf\xe9", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("\xc0", SHMRING_NAME_MAX));
	KUNIT_EXPECT_FALSE(test, shmring_name_valid("\xc3\xa9", SHMRING_NAME_MAX));

	/* 63 characters and the NUL fit; 64 without a NUL do not. */
	memset(name, 'x', sizeof(name));
	name[SHMRING_NAME_MAX - 1] = '\0';
	KUNIT_EXPECT_TRUE(test, shmring_name_valid(name, SHMRING_NAME_MAX));
	name[SHMRING_NAME_MAX - 1] = 'x';
	name[SHMRING_NAME_MAX] = '\0';
	KUNIT_EXPECT_FALSE(test, shmring_name_valid(name, SHMRING_NAME_MAX));

	/* Subscription names: the same rule with their own maximum. */
	name[SHMRING_SUB_NAME_MAX - 1] = '\0';
	KUNIT_EXPECT_TRUE(test, shmring_name_valid(name, SHMRING_SUB_NAME_MAX));
	name[SHMRING_SUB_NAME_MAX - 1] = 'x';
	KUNIT_EXPECT_FALSE(test, shmring_name_valid(name, SHMRING_SUB_NAME_MAX));
}

/* ---- framing ------------------------------------------------------------ */

static void shmring_write_read_header_fields(struct kunit *test)
{
	struct shmring_test_ctx *ctx = test->priv;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_rec rec;
	ssize_t ret;

	KUNIT_ASSERT_EQ(test, shmring_test_write_buf(ring, "hello", 5, 7, true), 5);
	KUNIT_EXPECT_EQ(test, ring->head, shmring_rec_total(5));
	KUNIT_EXPECT_EQ(test, ring->head, 48);
	KUNIT_EXPECT_EQ(test, ring->head_seq, 1);
	KUNIT_EXPECT_EQ(test, ring->bytes_written, 5);
	KUNIT_EXPECT_EQ(test, ring->records_written, 1);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), 48);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head_seq), 1);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->last_write_len), 5);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->tail), 0);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->tail_seq), 0);
	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 3, true), 3);

	/* One read returns both records, each header + payload + padding. */
	ret = shmring_test_read(test, r, BUF_LEN);
	KUNIT_ASSERT_EQ(test, ret, 48 + 48);
	memcpy(&rec, ctx->buf, sizeof(rec));
	KUNIT_EXPECT_EQ(test, rec.len, 5);
	KUNIT_EXPECT_EQ(test, rec.type, 7);
	KUNIT_EXPECT_EQ(test, rec.seq, 0);
	KUNIT_EXPECT_EQ(test, rec.pid, TEST_PID);
	KUNIT_EXPECT_EQ(test, rec.flags, 0);
	KUNIT_EXPECT_EQ(test, rec.__reserved0, 0);
	KUNIT_EXPECT_EQ(test, rec.csum, 0);
	KUNIT_EXPECT_EQ(test, rec.__reserved1, 0);
	KUNIT_EXPECT_NE(test, rec.tstamp_ns, 0);
	KUNIT_EXPECT_LE(test, rec.tstamp_ns, READ_ONCE(ring->hdr->last_write_ns));
	KUNIT_EXPECT_EQ(test, memcmp(ctx->buf + sizeof(rec), "hello", 5), 0);
	KUNIT_EXPECT_EQ(test, ctx->buf[45], 0);
	KUNIT_EXPECT_EQ(test, ctx->buf[46], 0);
	KUNIT_EXPECT_EQ(test, ctx->buf[47], 0);
	shmring_test_check_rec(test, ring, ctx->buf + 48, 3, 1, "second record");

	/* The cursor moved past both; its statistics say so. */
	KUNIT_EXPECT_EQ(test, r->c.rp->pos, 96);
	KUNIT_EXPECT_EQ(test, r->c.rp->seq, 2);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_read, 2);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_lost, 0);
	KUNIT_EXPECT_NE(test, r->c.rp->last_read_ns, 0);
}

/*
 * Records of every length 0..64 land on 8-byte aligned positions, and
 * their padding is zeroed even over bytes an older record left behind.
 */
static void shmring_write_aligns_and_zero_pads(struct kunit *test)
{
	struct shmring_test_ctx *ctx = test->priv;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K,
						      SZ_4K - HDR_LEN,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	u64 head;
	u32 len;

	/* Dirty the whole data area first. */
	memset(ctx->buf, 0xff, SZ_4K);
	KUNIT_ASSERT_EQ(test, shmring_test_write_buf(ring, ctx->buf,
						     SZ_4K - HDR_LEN, 1, true),
			SZ_4K - HDR_LEN);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);

	for (len = 0; len <= 64; len++) {
		head = ring->head;
		shmring_test_write_read(test, r, len, "aligned record");
		KUNIT_EXPECT_EQ(test, ring->head - head, shmring_rec_total(len));
		KUNIT_EXPECT_EQ(test, shmring_rec_total(len) % 8, 0);
		KUNIT_EXPECT_GE(test, shmring_rec_total(len), HDR_LEN + len);
		KUNIT_EXPECT_LT(test, shmring_rec_total(len), HDR_LEN + len + 8);
		KUNIT_EXPECT_EQ(test, r->c.rp->pos % 8, 0);
		KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->tail) % 8, 0);
	}
}

static void shmring_write_zero_length_record(struct kunit *test)
{
	struct shmring_test_ctx *ctx = test->priv;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);

	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 0, true), 0);
	KUNIT_EXPECT_EQ(test, ring->head, HDR_LEN);
	KUNIT_EXPECT_EQ(test, ring->head_seq, 1);
	KUNIT_EXPECT_EQ(test, ring->bytes_written, 0);
	KUNIT_EXPECT_EQ(test, ring->records_written, 1);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), HDR_LEN);
	shmring_test_check_rec(test, ring, ctx->buf, 0, 0, "empty record");
	/* It fits in a buffer of exactly the header size. */
	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 0, true), 0);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, HDR_LEN), HDR_LEN);
	shmring_test_check_rec(test, ring, ctx->buf, 0, 1, "empty record");
}

static void shmring_write_largest_record_in_smallest_ring(struct kunit *test)
{
	struct shmring_test_ctx *ctx = test->priv;
	const u32 max = SZ_4K - HDR_LEN;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, max,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	int i;

	KUNIT_ASSERT_EQ(test, shmring_rec_total(max), SZ_4K);
	/* Each one takes the whole ring and reclaims the one before. */
	for (i = 0; i < 3; i++) {
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, max, true),
				max);
		KUNIT_EXPECT_EQ(test, ring->head - ring->tail, SZ_4K);
		KUNIT_EXPECT_EQ(test, ring->head_seq - ring->tail_seq, 1);
		KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);
		shmring_test_check_rec(test, ring, ctx->buf, max, i, "largest");
	}
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);

	/* One byte more is refused and changes nothing. */
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, max + 1, true),
			-EMSGSIZE);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, max + 1, false),
			-EMSGSIZE);
	KUNIT_EXPECT_EQ(test, ring->head, 3 * SZ_4K);
	KUNIT_EXPECT_EQ(test, ring->head_seq, 3);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, 2);
	KUNIT_EXPECT_EQ(test, ring->records_written, 3);
	KUNIT_EXPECT_EQ(test, ring->writer_waits, 0);
	KUNIT_EXPECT_EQ(test, shmring_test_read_buf(r, ctx->buf, BUF_LEN, true),
			-EAGAIN);
}

static void shmring_write_default_max_record(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);

	KUNIT_ASSERT_EQ(test, ring->max_record, SZ_4K / 4);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, SZ_1K, true), SZ_1K);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, SZ_1K + 1, true),
			-EMSGSIZE);
	KUNIT_EXPECT_EQ(test, ring->head_seq, 1);
}

/* ---- the data area is mapped twice ---------------------------------------- */

/* Write and consume filler records until the head is at offset @off. */
static void shmring_test_seek(struct kunit *test, struct shmring_test_reader *r,
			      u64 off)
{
	struct shmring_ring *ring = r->ring;
	u64 gap, total;

	while ((gap = (off - ring->head) & ring->mask)) {
		/* Too small for a header: go round through half the ring. */
		total = gap < HDR_LEN ? gap + ring->data_size / 2 : gap;
		shmring_test_write_read(test, r, total - HDR_LEN, "filler");
	}
}

/*
 * For every 8-byte offset of a 4 KiB ring, records that end exactly at
 * the end of the data area and records whose payload, padding or header
 * straddle it read back intact, from the double mapping and through read.
 */
static void shmring_wrap_at_every_offset(struct kunit *test)
{
	static const u32 overhang[] = { 0, 1, 7, 8, 9, 39, 40, 41, 1001 };
	struct shmring_test_ctx *ctx = test->priv;
	const u64 size = SZ_4K;
	struct shmring_ring *ring = shmring_test_ring(test, size,
						      size - HDR_LEN,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	u64 off, rem, end, straddled = 0;
	const u8 *data = ring->data;
	char where[48];
	unsigned int i;
	u32 len;

	for (off = 0; off < size; off += 8) {
		rem = size - off;
		for (i = 0; i < ARRAY_SIZE(overhang); i++) {
			/* The record ends @overhang bytes past the area's end. */
			end = rem + overhang[i];
			if (end < HDR_LEN || end - HDR_LEN > ring->max_record)
				continue;
			len = end - HDR_LEN;
			snprintf(where, sizeof(where), "offset %llu length %u",
				 off, len);
			shmring_test_seek(test, r, off);
			KUNIT_ASSERT_EQ_MSG(test, shmring_test_write(test, ring,
								     len, true),
					    (ssize_t)len, "%s", where);
			/* The record is contiguous in the second mapping. */
			KUNIT_ASSERT_EQ_MSG(test,
					    memcmp(data + off + HDR_LEN,
						   shmring_test_payload(test,
									ring->head_seq - 1),
						   len), 0, "%s", where);
			KUNIT_ASSERT_EQ_MSG(test, shmring_test_read(test, r,
								    BUF_LEN),
					    (ssize_t)shmring_rec_total(len),
					    "%s", where);
			shmring_test_check_rec(test, ring, ctx->buf, len,
					       ring->head_seq - 1, where);
			if (off + shmring_rec_total(len) > size)
				straddled++;
		}
	}
	/* Every offset but 0 had at least one straddling record. */
	KUNIT_EXPECT_GE(test, straddled, size / 8 - 1);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_lost, 0);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_read, ring->records_written);
	KUNIT_EXPECT_EQ(test, memcmp(data, data + size, size), 0);
}

/* ---- checksums ---------------------------------------------------------- */

static void shmring_csum_is_crc32c_of_payload(struct kunit *test)
{
	struct shmring_test_ctx *ctx = test->priv;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K,
						      SZ_4K - HDR_LEN,
						      SHMRING_POLICY_OVERWRITE,
						      SHMRING_ATTR_CSUM);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_rec rec;
	u32 len;

	KUNIT_EXPECT_EQ(test, ring->hdr->flags, SHMRING_ATTR_CSUM);
	KUNIT_ASSERT_EQ(test, shmring_test_write_buf(ring, "123456789", 9,
						     TEST_TYPE, true), 9);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN),
			shmring_rec_total(9));
	memcpy(&rec, ctx->buf, sizeof(rec));
	KUNIT_EXPECT_EQ(test, rec.flags, SHMRING_REC_CSUM);
	KUNIT_EXPECT_EQ(test, rec.csum, 0xE3069283);
	KUNIT_EXPECT_EQ(test, memcmp(ctx->buf + sizeof(rec), "123456789", 9), 0);

	/* crc32c of nothing is 0, still flagged as valid. */
	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 0, true), 0);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), HDR_LEN);
	memcpy(&rec, ctx->buf, sizeof(rec));
	KUNIT_EXPECT_EQ(test, rec.flags, SHMRING_REC_CSUM);
	KUNIT_EXPECT_EQ(test, rec.csum, 0);

	/* Pattern records of many lengths... */
	for (len = 1; len <= SZ_1K; len = len * 3 + 1)
		shmring_test_write_read(test, r, len, "checksummed record");
	/* ... and across the end of the area: header, then payload. */
	shmring_test_seek(test, r, SZ_4K - 16);
	shmring_test_write_read(test, r, 100, "checksum, header straddles");
	shmring_test_seek(test, r, SZ_4K - 64);
	shmring_test_write_read(test, r, 200, "checksum, payload straddles");
	KUNIT_EXPECT_GT(test, ring->head, SZ_4K);
}

/* ---- reclaim: overwrite -------------------------------------------------- */

/*
 * A reader that reads nothing loses exactly the records overwritten, sees
 * the gap in the sequence numbers and counts it in its cursor.
 */
static void shmring_overwrite_counts_lost_records(struct kunit *test)
{
	const u64 fit = SZ_4K / 512, n = 20;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_reader *rp = r->c.rp;
	u64 i, recs;

	for (i = 0; i < n; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	KUNIT_EXPECT_EQ(test, ring->records_lost, n - fit);
	KUNIT_EXPECT_EQ(test, ring->records_written, n);
	KUNIT_EXPECT_EQ(test, ring->head_seq, n);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, n - fit);
	KUNIT_EXPECT_EQ(test, ring->head_seq - ring->tail_seq, fit);
	KUNIT_EXPECT_EQ(test, ring->head, n * 512);
	KUNIT_EXPECT_EQ(test, ring->tail, (n - fit) * 512);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->tail), ring->tail);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->tail_seq), ring->tail_seq);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), ring->head);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head_seq), ring->head_seq);
	KUNIT_EXPECT_EQ(test, ring->writer_waits, 0);

	/*
	 * The cursor was left behind: the writer swapped it to the tail
	 * (marked lapped), its seq untouched; it reads from there.
	 */
	KUNIT_EXPECT_EQ(test, rp->pos, ring->tail | SHMRING_POS_LAPPED);
	KUNIT_EXPECT_EQ(test, rp->seq, 0);
	KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, rp, &recs), SZ_4K);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);
	shmring_test_check_recs(test, ring, fit, LEN_512, n - fit);
	KUNIT_EXPECT_EQ(test, rp->records_lost, n - fit);
	KUNIT_EXPECT_EQ(test, rp->records_read, fit);
	KUNIT_EXPECT_EQ(test, rp->seq, n);
	KUNIT_EXPECT_EQ(test, rp->pos, ring->head);
	KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, rp, &recs), 0);
	KUNIT_EXPECT_EQ(test, recs, 0);

	/*
	 * Caught up: of the next ten records' reclaim, the eight records
	 * already read are not lost, the two new ones overwritten are.
	 */
	for (i = 0; i < 10; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	KUNIT_EXPECT_EQ(test, ring->records_lost, n - fit + 2);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, n + 2);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);
	shmring_test_check_recs(test, ring, fit, LEN_512, n + 2);
	KUNIT_EXPECT_EQ(test, rp->records_lost, n - fit + 2);
	KUNIT_EXPECT_EQ(test, rp->records_read, 2 * fit);
	KUNIT_EXPECT_EQ(test, rp->seq, n + 10);
}

/*
 * shmring_cursor_lap(): a cursor the tail passes is swapped to the new
 * tail with SHMRING_POS_LAPPED and its losses start where it was; one not
 * passed is left alone; a scribbled one is clamped.
 */
static void shmring_lap_swaps_passed_cursors(struct kunit *test)
{
	struct shmring_reader *rp = kunit_kzalloc(test, sizeof(*rp), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, rp);
	rp->pos = 128;
	KUNIT_EXPECT_EQ(test, shmring_cursor_lap(rp, 64, 256, 7, 1024, 4), 128);
	KUNIT_EXPECT_EQ(test, rp->pos, 256 | SHMRING_POS_LAPPED);
	KUNIT_EXPECT_EQ(test, rp->lap_seq, 7);
	KUNIT_EXPECT_EQ(test, rp->lap_from, 128);
	/* Lapped again before it read anything: from the last lap. */
	KUNIT_EXPECT_EQ(test, shmring_cursor_lap(rp, 256, 512, 7, 1024, 4), 256);
	KUNIT_EXPECT_EQ(test, rp->pos, 512 | SHMRING_POS_LAPPED);
	/* At the new tail: not passed, left alone. */
	rp->pos = 600;
	KUNIT_EXPECT_EQ(test, shmring_cursor_lap(rp, 512, 600, 7, 1024, 4), 600);
	KUNIT_EXPECT_EQ(test, rp->pos, 600);
	/* Scribbled below the old tail: all of the reclaim is its loss. */
	rp->pos = 8;
	KUNIT_EXPECT_EQ(test, shmring_cursor_lap(rp, 600, 704, 7, 1024, 4), 600);
	KUNIT_EXPECT_EQ(test, rp->pos, 704 | SHMRING_POS_LAPPED);
	/* Unaligned: scribbled, overwritten, all of the reclaim its loss. */
	rp->pos = 804;
	KUNIT_EXPECT_EQ(test, shmring_cursor_lap(rp, 800, 896, 7, 1024, 4), 800);
	KUNIT_EXPECT_EQ(test, rp->pos, 896 | SHMRING_POS_LAPPED);
	KUNIT_EXPECT_EQ(test, rp->lap_from, SHMRING_TXN_NONE);
	/* Scribbled past head: clamped to head, not passed. */
	rp->pos = 1024 + SZ_1M;
	KUNIT_EXPECT_EQ(test, shmring_cursor_lap(rp, 896, 960, 7, 1024, 4), 1024);
	KUNIT_EXPECT_EQ(test, rp->pos, 1024 + SZ_1M);
}

/* With nobody reading, overwriting old records loses nothing. */
static void shmring_overwrite_without_reader_loses_nothing(struct kunit *test)
{
	const u64 fit = SZ_4K / 512, n = 20;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r;
	u64 i;

	for (i = 0; i < n; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, n - fit);
	KUNIT_EXPECT_EQ(test, ring->head_seq, n);
	KUNIT_EXPECT_EQ(test, ring->head - ring->tail, SZ_4K);

	/* A reader attached now starts at the tail with nothing lost. */
	r = shmring_test_reader(test, ring, false);
	KUNIT_EXPECT_EQ(test, r->c.rp->pos, ring->tail);
	KUNIT_EXPECT_EQ(test, r->c.rp->seq, ring->tail_seq);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);
	shmring_test_check_recs(test, ring, fit, LEN_512, n - fit);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_lost, 0);
}

/* A reader started at the head does not see the records before it. */
static void shmring_cursor_start_from_head(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_ctx *ctx = test->priv;
	struct shmring_test_reader *r;
	u64 recs;

	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 10, true), 10);
	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 20, true), 20);
	r = shmring_test_reader(test, ring, true);
	KUNIT_EXPECT_EQ(test, r->c.rp->pos, ring->head);
	KUNIT_EXPECT_EQ(test, r->c.rp->seq, 2);
	KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, r->c.rp, &recs), 0);
	KUNIT_EXPECT_EQ(test, recs, 0);
	KUNIT_EXPECT_FALSE(test, shmring_cursor_ready(ring, &r->c));
	KUNIT_EXPECT_EQ(test, shmring_test_read(test, r, BUF_LEN), -EAGAIN);
	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 30, true), 30);
	KUNIT_EXPECT_TRUE(test, shmring_cursor_ready(ring, &r->c));
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN),
			shmring_rec_total(30));
	shmring_test_check_rec(test, ring, ctx->buf, 30, 2, "from head");
}

/* ---- reclaim: lossless --------------------------------------------------- */

static void shmring_lossless_nonblock_write_gets_eagain(struct kunit *test)
{
	const u64 fit = SZ_4K / 512;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	u64 i;

	for (i = 0; i < fit; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	KUNIT_EXPECT_FALSE(test, shmring_can_write(ring));

	/* Full of unread records: no room, nothing reclaimed. */
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, ring->writer_waits, 1);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, 0, true), -EAGAIN);
	KUNIT_EXPECT_EQ(test, ring->writer_waits, 2);
	KUNIT_EXPECT_EQ(test, ring->head_seq, fit);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, 0);
	KUNIT_EXPECT_EQ(test, ring->tail, 0);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->tail), 0);
	KUNIT_EXPECT_EQ(test, ring->records_written, fit);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);

	/* The reader consumes one record: exactly one fits again. */
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, 512), 512);
	shmring_test_check_recs(test, ring, 1, LEN_512, 0);
	KUNIT_EXPECT_EQ(test, r->c.rp->pos, 512);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
			LEN_512);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, 1);
	KUNIT_EXPECT_EQ(test, ring->writer_waits, 2);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, 0, true), -EAGAIN);
	KUNIT_EXPECT_EQ(test, ring->writer_waits, 3);

	/* Everything committed is still there, in order. */
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);
	shmring_test_check_recs(test, ring, fit, LEN_512, 1);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_lost, 0);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_read, fit + 1);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
	KUNIT_EXPECT_TRUE(test, shmring_can_write(ring));

	/* Once the lagging reader is gone the ring reclaims freely. */
	for (i = 0; i < fit; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
			-EAGAIN);
	kunit_release_action(test, shmring_test_reader_release, r);
	KUNIT_EXPECT_EQ(test, ring->nr_readers, 0);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
			LEN_512);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
}

/* ---- batches: committed one by one, visible together ----------------------- */

static ssize_t shmring_test_batch_add(struct kunit *test, struct shmring_ring *ring,
				      struct shmring_wbatch *wb, u32 len,
				      bool nonblock)
{
	struct kvec kv = {
		.iov_base = (void *)shmring_test_payload(test, ring->head_seq),
		.iov_len = len,
	};
	struct iov_iter it;

	iov_iter_kvec(&it, ITER_SOURCE, &kv, 1, len);
	return shmring_wbatch_add(ring, wb, &it, TEST_TYPE, TEST_PID, nonblock);
}

/* A sleeper on a reader's wait queue that only counts its wakeups. */
struct shmring_test_sleeper {
	struct wait_queue_entry wq;
	int woken;
};

static int shmring_test_sleeper_wake(struct wait_queue_entry *wq,
				     unsigned int mode, int flags, void *key)
{
	container_of(wq, struct shmring_test_sleeper, wq)->woken++;
	return 0;
}

static void shmring_test_sleeper_release(void *data)
{
	struct shmring_test_sleeper *s = data;

	remove_wait_queue(s->wq.private, &s->wq);
}

static struct shmring_test_sleeper *
shmring_test_sleep_on(struct kunit *test, struct shmring_test_reader *r)
{
	struct shmring_test_sleeper *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, s);
	init_waitqueue_func_entry(&s->wq, shmring_test_sleeper_wake);
	s->wq.private = &r->c.wq;
	add_wait_queue(&r->c.wq, &s->wq);
	shmring_cursor_will_wait(r->ring, &r->c);	/* as poll does */
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							shmring_test_sleeper_release,
							s), 0);
	return s;
}

/* Commit @n records of @len bytes as one batch (one publish). */
static void shmring_test_batch(struct kunit *test, struct shmring_ring *ring,
			       int n, u32 len)
{
	struct shmring_wbatch wb;
	int i;

	KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
	for (i = 0; i < n; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_batch_add(test, ring, &wb, len, true),
				len);
	shmring_wbatch_end(ring, &wb);
}

/* The record at ring position @pos. */
static const struct shmring_rec *shmring_test_rec(struct shmring_ring *ring,
						  u64 pos)
{
	return ring->data + (pos & ring->mask);
}

/*
 * The clock is read once per batch, outside wlock: a batch's records
 * share a timestamp, and timestamps never go back in ring order even
 * when a writer read its clock before another writer's batch went in.
 */
static void shmring_batch_one_timestamp(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	const u64 total = shmring_rec_total(8);
	u64 t0, t2;

	shmring_test_batch(test, ring, 3, 8);
	t0 = shmring_test_rec(ring, 0)->tstamp_ns;
	KUNIT_EXPECT_EQ(test, shmring_test_rec(ring, total)->tstamp_ns, t0);
	KUNIT_EXPECT_EQ(test, shmring_test_rec(ring, 2 * total)->tstamp_ns, t0);
	KUNIT_EXPECT_EQ(test, ring->last_tstamp, t0);
	/* A writer whose clock read is older than the last record's. */
	ring->last_tstamp = t0 + NSEC_PER_SEC;
	shmring_test_batch(test, ring, 1, 8);
	t2 = shmring_test_rec(ring, 3 * total)->tstamp_ns;
	KUNIT_EXPECT_EQ(test, t2, t0 + NSEC_PER_SEC);
	KUNIT_EXPECT_EQ(test, ring->hdr->realtime_offset_ns != 0, true);
}

/* A tap never holds a lossless writer back; a normal reader does. */
static void shmring_tap_never_holds_writers(struct kunit *test)
{
	const u64 fit = SZ_4K / 512;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	struct shmring_test_reader *tap;
	struct page *page;
	u64 i;

	tap = kunit_kzalloc(test, sizeof(*tap), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, tap);
	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	KUNIT_ASSERT_NOT_NULL(test, page);
	tap->ring = ring;
	shmring_cursor_init(&tap->c, page_address(page), page);
	tap->c.tap = true;
	KUNIT_ASSERT_EQ(test, shmring_attach_cursor(ring, &tap->c, false), 0);
	for (i = 0; i < 3 * fit; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	KUNIT_EXPECT_EQ(test, ring->head_seq, 3 * fit);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);	/* taps are not counted */
	KUNIT_EXPECT_TRUE(test, shmring_can_write(ring));
	shmring_test_reader(test, ring, false);
	for (i = 0; i < fit; i++)
		shmring_test_write(test, ring, LEN_512, true);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, LEN_512, true), -EAGAIN);
	shmring_detach_cursor(ring, &tap->c);
	__free_page(page);
}

/* max_readers limits readers of users who do not own the ring, not its owner. */
static void shmring_max_readers_spares_the_owner(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	u32 saved = shmring_limits.max_readers;
	struct shmring_test_reader *r[4];
	struct page *pages[4];
	int i, ret[4];

	shmring_limits.max_readers = 2;
	for (i = 0; i < 4; i++) {
		r[i] = kunit_kzalloc(test, sizeof(*r[i]), GFP_KERNEL);
		pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!r[i] || !pages[i])
			break;
		shmring_cursor_init(&r[i]->c, page_address(pages[i]), pages[i]);
		r[i]->c.other = i < 3;	/* three others, then the owner */
		ret[i] = shmring_attach_cursor(ring, &r[i]->c, false);
	}
	shmring_limits.max_readers = saved;
	KUNIT_ASSERT_EQ(test, i, 4);
	KUNIT_EXPECT_EQ(test, ret[0], 0);
	KUNIT_EXPECT_EQ(test, ret[1], 0);
	KUNIT_EXPECT_EQ(test, ret[2], -EUSERS);
	KUNIT_EXPECT_EQ(test, ret[3], 0);
	KUNIT_EXPECT_EQ(test, ring->nr_readers, 3);
	KUNIT_EXPECT_EQ(test, ring->nr_readers_other, 2);
	for (i = 0; i < 4; i++) {
		if (!ret[i])
			shmring_detach_cursor(ring, &r[i]->c);
		__free_page(pages[i]);
	}
	KUNIT_EXPECT_EQ(test, ring->nr_readers_other, 0);
}

/*
 * Review bug 2: a reader waiting for a records watermark is woken by the
 * publish that crosses it, also when that publish adds many records.
 */
static void shmring_batch_wakes_records_watermark(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_16K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_sleeper *s = shmring_test_sleep_on(test, r);

	r->c.wm_recs = 3;
	shmring_test_batch(test, ring, 4, 16);
	KUNIT_EXPECT_EQ_MSG(test, s->woken, 1, "0 -> 4 records crosses 3");
	shmring_test_batch(test, ring, 2, 16);
	KUNIT_EXPECT_EQ_MSG(test, s->woken, 1, "4 -> 6: was ready already");
	KUNIT_ASSERT_GT(test, shmring_test_read(test, r, BUF_LEN), 0);
	shmring_test_batch(test, ring, 2, 16);
	KUNIT_EXPECT_EQ_MSG(test, s->woken, 1, "0 -> 2 stays below 3");
	shmring_test_batch(test, ring, 2, 16);
	KUNIT_EXPECT_EQ_MSG(test, s->woken, 2, "2 -> 4 crosses 3");
	/* Bytes watermark likewise. */
	KUNIT_ASSERT_GT(test, shmring_test_read(test, r, BUF_LEN), 0);
	r->c.wm_recs = 0;
	r->c.wm_bytes = 3 * 64;
	shmring_test_batch(test, ring, 4, 64 - HDR_LEN);
	KUNIT_EXPECT_EQ_MSG(test, s->woken, 3, "0 -> 256 bytes crosses 192");
}

/*
 * A commit walks only readers that waited: one that never did is not on
 * the waiters list, one whose wait queue emptied is dropped at the next
 * commit and joins again when it waits again (and is woken).
 */
static void shmring_commit_walks_only_waiters(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *idle = shmring_test_reader(test, ring, false);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_sleeper *s;

	KUNIT_EXPECT_TRUE(test, list_empty(&idle->c.wnode));
	KUNIT_EXPECT_TRUE(test, list_empty(&ring->waiters));
	s = shmring_test_sleep_on(test, r);
	KUNIT_EXPECT_FALSE(test, list_empty(&r->c.wnode));
	KUNIT_EXPECT_TRUE(test, list_empty(&idle->c.wnode));
	shmring_test_batch(test, ring, 1, 8);
	KUNIT_EXPECT_EQ(test, s->woken, 1);
	/* The sleeper leaves its queue (poll returned): dropped lazily. */
	remove_wait_queue(&r->c.wq, &s->wq);
	shmring_test_batch(test, ring, 1, 8);
	KUNIT_EXPECT_TRUE(test, list_empty(&r->c.wnode));
	KUNIT_EXPECT_TRUE(test, list_empty(&ring->waiters));
	/* It waits again (drained first): listed, and woken by a commit. */
	KUNIT_ASSERT_GT(test, shmring_test_read(test, r, BUF_LEN), 0);
	add_wait_queue(&r->c.wq, &s->wq);
	shmring_cursor_will_wait(ring, &r->c);
	shmring_test_batch(test, ring, 1, 8);
	KUNIT_EXPECT_EQ(test, s->woken, 2);
}

/* An overwrite batch larger than the ring wakes readers as it publishes. */
static void shmring_big_batch_wakes_midway(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_sleeper *s = shmring_test_sleep_on(test, r);
	struct shmring_wbatch wb;
	int i, woke_at = -1;

	KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
	for (i = 0; i < 3 * SZ_4K / 512; i++) {
		KUNIT_ASSERT_EQ(test, shmring_test_batch_add(test, ring, &wb,
							     LEN_512, true),
				LEN_512);
		if (s->woken && woke_at < 0)
			woke_at = i;
	}
	KUNIT_EXPECT_GE_MSG(test, woke_at, 0,
			    "records became visible mid-batch without a wakeup");
	shmring_wbatch_end(ring, &wb);
}

static void shmring_batch_visible_at_end(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_wbatch wb;
	u64 i, recs;

	KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
	for (i = 0; i < 3; i++) {
		KUNIT_ASSERT_EQ(test, shmring_test_batch_add(test, ring, &wb,
							     LEN_512, true),
				LEN_512);
		/* Committed, not yet published: readers see nothing. */
		KUNIT_EXPECT_EQ(test, ring->head, (i + 1) * 512);
		KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), 0);
		KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head_seq), 0);
		KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, r->c.rp, &recs), 0);
	}
	shmring_wbatch_end(ring, &wb);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), 3 * 512);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head_seq), 3);
	KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, r->c.rp, &recs), 3 * 512);
	KUNIT_EXPECT_EQ(test, recs, 3);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), 3 * 512);
	shmring_test_check_recs(test, ring, 3, LEN_512, 0);
	KUNIT_EXPECT_EQ(test, ring->records_written, 3);
	/* wlock was released: a plain write goes through. */
	shmring_test_write_read(test, r, 100, "write after a batch");
}

/*
 * Records copied with wlock dropped (shmring_batch_copy()): published in
 * ring order whatever order their runs' copies end in, a run at once; a
 * reader attached at the end meanwhile starts at the first copy in
 * flight; a copy that faulted leaves a DISCARD record that read(2) skips,
 * with no gap, and that the ring's counters do not count.
 */
static void shmring_copies_publish_in_order(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_ctx *ctx = test->priv;
	u64 ta = shmring_rec_total(100), tb = shmring_rec_total(200);
	u64 tc = shmring_rec_total(300), pos, seq;
	struct shmring_copy a = {}, b = {}, o = {};
	struct shmring_rec *ra, *rb, *rc, h;
	struct shmring_test_reader *late;
	struct shmring_wbatch wb;

	/* Run a: one record; run b: two, the second taking only free room. */
	KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
	KUNIT_ASSERT_EQ(test, shmring_wbatch_reserve(ring, &wb, 100, 7, TEST_PID,
						     true, &a, &ra), 0);
	KUNIT_ASSERT_EQ(test, shmring_wbatch_reserve(ring, &wb, 200, 8, TEST_PID,
						     true, &b, &rb), 0);
	KUNIT_ASSERT_EQ(test, shmring_wbatch_reserve(ring, &wb, 300, 9, TEST_PID,
						     true, &b, &rc), 0);
	shmring_wbatch_end(ring, &wb);
	KUNIT_EXPECT_EQ(test, a.nr, 1);
	KUNIT_EXPECT_EQ(test, b.nr, 2);
	KUNIT_EXPECT_EQ(test, ring->head, ta + tb + tc);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), 0);
	KUNIT_EXPECT_EQ(test, b.start, ta);
	KUNIT_EXPECT_EQ(test, b.seq, 1);

	late = shmring_test_reader(test, ring, true);
	KUNIT_EXPECT_EQ(test, late->c.rp->pos, 0);
	KUNIT_EXPECT_EQ(test, late->c.rp->seq, 0);
	mutex_lock(&ring->wlock);
	shmring_frontier(ring, &pos, &seq);
	mutex_unlock(&ring->wlock);
	KUNIT_EXPECT_EQ(test, pos, 0);
	KUNIT_EXPECT_EQ(test, seq, 0);

	/* Run b's copies end first: nothing is published yet. */
	memset(rb + 1, 0xbb, 200);
	memset(rc + 1, 0xcc, 300);
	shmring_copy_done(ring, &b, 0, 0);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), 0);
	KUNIT_EXPECT_EQ(test, shmring_test_read(test, r, BUF_LEN), -EAGAIN);

	/* Run a's copy faulted: DISCARD; now all three are published. */
	memset(ra + 1, 0, 100);
	ra->flags = SHMRING_REC_DISCARD;
	shmring_copy_done(ring, &a, 1, 100);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), ta + tb + tc);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head_seq), 3);
	KUNIT_EXPECT_EQ(test, ring->records_written, 2);
	KUNIT_EXPECT_EQ(test, ring->bytes_written, 500);

	/* read(2) skips the DISCARD record: the other two, numbered 1 and 2. */
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), tb + tc);
	memcpy(&h, ctx->buf, sizeof(h));
	KUNIT_EXPECT_EQ(test, h.len, 200);
	KUNIT_EXPECT_EQ(test, h.type, 8);
	KUNIT_EXPECT_EQ(test, h.seq, 1);
	KUNIT_EXPECT_EQ(test, h.flags, 0);
	KUNIT_EXPECT_NULL(test, memchr_inv(ctx->buf + sizeof(h), 0xbb, 200));
	memcpy(&h, ctx->buf + tb, sizeof(h));
	KUNIT_EXPECT_EQ(test, h.len, 300);
	KUNIT_EXPECT_EQ(test, h.seq, 2);
	KUNIT_EXPECT_NULL(test, memchr_inv(ctx->buf + tb + sizeof(h), 0xcc, 300));
	KUNIT_EXPECT_EQ(test, r->c.rp->records_lost, 0);
	KUNIT_EXPECT_EQ(test, r->c.rp->seq, 3);

	/* Overwrite rings copy under wlock: their reclaim cannot wait. */
	ring = shmring_test_ring(test, SZ_4K, 0, SHMRING_POLICY_OVERWRITE, 0);
	KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
	KUNIT_EXPECT_EQ(test, shmring_wbatch_reserve(ring, &wb, 100, 7, TEST_PID,
						     true, &o, &ra), -EOPNOTSUPP);
	shmring_wbatch_end(ring, &wb);
	KUNIT_EXPECT_EQ(test, ring->head, 0);
	KUNIT_EXPECT_EQ(test, o.nr, 0);
}

/*
 * An overwrite batch bigger than the ring: the tail may only move over
 * published records, so readers never find the tail ahead of the head.
 */
static void shmring_batch_overwrite_tail_never_passes_head(struct kunit *test)
{
	const u64 fit = SZ_4K / 512, n = 20;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_wbatch wb;
	u64 i, head, tail;

	KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
	for (i = 0; i < n; i++) {
		KUNIT_ASSERT_EQ(test, shmring_test_batch_add(test, ring, &wb,
							     LEN_512, true),
				LEN_512);
		head = READ_ONCE(ring->hdr->head);
		tail = READ_ONCE(ring->hdr->tail);
		KUNIT_ASSERT_GE_MSG(test, (s64)(head - tail), 0,
				    "record %llu: tail %llu past head %llu", i, tail, head);
		KUNIT_ASSERT_LE(test, head - tail, (u64)SZ_4K);
	}
	shmring_wbatch_end(ring, &wb);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), n * 512);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head_seq), n);
	KUNIT_EXPECT_EQ(test, ring->records_lost, n - fit);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);
	shmring_test_check_recs(test, ring, fit, LEN_512, n - fit);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_lost, n - fit);
}

/* A lossless batch that runs out of room keeps (and shows) what fitted. */
static void shmring_batch_lossless_nonblock_keeps_what_fits(struct kunit *test)
{
	const u64 fit = SZ_4K / 512;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_wbatch wb;
	u64 i;

	KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
	for (i = 0; i < fit; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_batch_add(test, ring, &wb,
							     LEN_512, true),
				LEN_512);
	KUNIT_EXPECT_EQ(test, shmring_test_batch_add(test, ring, &wb, LEN_512, true),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, shmring_test_batch_add(test, ring, &wb, BUF_LEN, true),
			-EMSGSIZE);
	shmring_wbatch_end(ring, &wb);
	KUNIT_EXPECT_EQ(test, ring->writer_waits, 1);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), SZ_4K);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head_seq), fit);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);
	shmring_test_check_recs(test, ring, fit, LEN_512, 0);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
}

/* Stage @n pattern records of @len bytes (the ring's next seqs) in @st. */
static void shmring_test_stage(struct kunit *test, struct shmring_ring *ring,
			       struct shmring_stage *st, int n, u32 len)
{
	void *payload;
	int i;

	for (i = 0; i < n; i++) {
		payload = shmring_stage_room(st, len);
		KUNIT_ASSERT_NOT_NULL(test, payload);
		memcpy(payload, shmring_test_payload(test, ring->head_seq + st->nr),
		       len);
		shmring_stage_seal(ring, st, len, TEST_TYPE, TEST_PID);
	}
}

static struct shmring_stage *shmring_test_stage_new(struct kunit *test)
{
	struct shmring_stage *st = kunit_kzalloc(test, sizeof(*st), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, st);
	st->cap = 8192;
	st->buf = kunit_kzalloc(test, st->cap, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, st->buf);
	return st;
}

/*
 * WRITE_BATCH's staged records (copied in outside wlock, put in with one
 * copy under it) land at every offset of the ring, straddling its end,
 * with every header field, payload, padding and checksum as write(2)
 * gives them, one timestamp per put, and the counters moved.
 */
static void shmring_stage_put_at_every_offset(struct kunit *test)
{
	static const u32 lens[] = { 0, 1, 7, 8, 9, 57, 300 };
	const u64 size = SZ_4K;
	struct shmring_ring *ring = shmring_test_ring(test, size,
						      size - HDR_LEN,
						      SHMRING_POLICY_OVERWRITE,
						      SHMRING_ATTR_CSUM);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_stage *st = shmring_test_stage_new(test);
	u64 off, seq, written, bytes, straddled = 0;
	struct shmring_wbatch wb;
	char where[48];
	u32 len;

	for (off = 0; off < size; off += 8) {
		len = lens[(off / 8) % ARRAY_SIZE(lens)];
		snprintf(where, sizeof(where), "offset %llu length %u", off, len);
		shmring_test_seek(test, r, off);
		seq = ring->head_seq;
		written = ring->records_written;
		bytes = ring->bytes_written;
		shmring_test_stage(test, ring, st, 3, len);
		KUNIT_ASSERT_EQ(test, st->bytes, 3 * shmring_rec_total(len));
		KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
		KUNIT_ASSERT_EQ_MSG(test, shmring_wbatch_put(ring, &wb, st, true),
				    0, "%s", where);
		/* Not visible before the batch is published. */
		KUNIT_EXPECT_EQ_MSG(test, READ_ONCE(ring->hdr->head_seq), seq,
				    "%s", where);
		shmring_wbatch_end(ring, &wb);
		KUNIT_EXPECT_EQ_MSG(test, st->nr, 0, "%s: stage emptied", where);
		KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head_seq), seq + 3);
		KUNIT_EXPECT_EQ(test, ring->records_written, written + 3);
		KUNIT_EXPECT_EQ(test, ring->bytes_written, bytes + 3 * len);
		KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->last_write_len), len);
		if (off + 3 * shmring_rec_total(len) > size)
			straddled++;
		KUNIT_ASSERT_EQ_MSG(test, shmring_test_read(test, r, BUF_LEN),
				    (ssize_t)(3 * shmring_rec_total(len)),
				    "%s", where);
		shmring_test_check_recs(test, ring, 3, len, seq);
		KUNIT_EXPECT_EQ_MSG(test, shmring_test_rec(ring, off)->tstamp_ns,
				    shmring_test_rec(ring, off + 2 *
						     shmring_rec_total(len))->tstamp_ns,
				    "%s: one timestamp per put", where);
	}
	KUNIT_EXPECT_GE(test, straddled, 10);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_lost, 0);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_read, ring->records_written);
}

/* A staged run that does not fit whole in a lossless ring commits nothing. */
static void shmring_stage_put_lossless_all_or_nothing(struct kunit *test)
{
	const u64 fit = SZ_4K / 512;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_stage *st = shmring_test_stage_new(test);
	struct shmring_wbatch wb;
	u64 i;

	for (i = 0; i < fit - 1; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	shmring_test_stage(test, ring, st, 2, LEN_512);
	KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
	KUNIT_EXPECT_EQ(test, shmring_wbatch_put(ring, &wb, st, true), -EAGAIN);
	shmring_wbatch_end(ring, &wb);
	KUNIT_EXPECT_EQ(test, ring->head_seq, fit - 1);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->head), SZ_4K - 512);
	KUNIT_EXPECT_EQ(test, st->nr, 2);	/* still staged */
	KUNIT_EXPECT_EQ(test, ring->writer_waits, 1);
	/* Room for both once the reader consumed one. */
	KUNIT_ASSERT_EQ(test, shmring_test_read_buf(r, ((struct shmring_test_ctx *)test->priv)->buf,
						    512, true), 512);
	KUNIT_ASSERT_EQ(test, shmring_wbatch_begin(ring, &wb), 0);
	KUNIT_EXPECT_EQ(test, shmring_wbatch_put(ring, &wb, st, true), 0);
	shmring_wbatch_end(ring, &wb);
	KUNIT_EXPECT_EQ(test, ring->head_seq, fit + 1);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);
	shmring_test_check_recs(test, ring, fit, LEN_512, 1);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
}

/* A waiter on a ring's write_wq that counts its wakeups, as autoremove does. */
struct shmring_test_wwaiter {
	struct wait_queue_entry wq;
	int woken;
};

static int shmring_test_wwaiter_wake(struct wait_queue_entry *wq,
				     unsigned int mode, int flags, void *key)
{
	container_of(wq, struct shmring_test_wwaiter, wq)->woken++;
	list_del_init(&wq->entry);
	return 1;
}

static void shmring_test_wwait(struct shmring_ring *ring,
			       struct shmring_test_wwaiter *w, bool exclusive)
{
	init_waitqueue_func_entry(&w->wq, shmring_test_wwaiter_wake);
	if (exclusive)
		add_wait_queue_exclusive(&ring->write_wq, &w->wq);
	else
		add_wait_queue(&ring->write_wq, &w->wq);
}

/*
 * Writers blocked for room wait exclusively: a kick wakes the first of
 * them (and every poller), not the herd; each woken writer passes the
 * baton on to the next when it is done.
 */
static void shmring_blocked_writers_pass_the_baton(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	struct shmring_test_wwaiter w[3] = {}, poller = {};
	int i;

	for (i = 0; i < 3; i++)
		shmring_test_wwait(ring, &w[i], true);
	shmring_test_wwait(ring, &poller, false);
	shmring_kick(ring);
	KUNIT_EXPECT_EQ(test, w[0].woken, 1);
	KUNIT_EXPECT_EQ(test, w[1].woken, 0);
	KUNIT_EXPECT_EQ(test, w[2].woken, 0);
	KUNIT_EXPECT_EQ(test, poller.woken, 1);
	shmring_pass_room(ring);
	KUNIT_EXPECT_EQ(test, w[1].woken, 1);
	KUNIT_EXPECT_EQ(test, w[2].woken, 0);
	shmring_wake_writers(ring);	/* a reader freed room (read(2), close) */
	KUNIT_EXPECT_EQ(test, w[2].woken, 1);
	shmring_pass_room(ring);	/* nobody left: nothing happens */
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, w[i].woken, 1);
	KUNIT_EXPECT_FALSE(test, wq_has_sleeper(&ring->write_wq));
	/* Unlinking wakes every writer at once. */
	for (i = 0; i < 3; i++)
		shmring_test_wwait(ring, &w[i], true);
	shmring_ring_kill(ring);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, w[i].woken, 2);
}

static void shmring_lossless_without_reader_reclaims(struct kunit *test)
{
	const u64 fit = SZ_4K / 512, n = 20;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	u64 i;

	KUNIT_EXPECT_TRUE(test, shmring_can_write(ring));
	for (i = 0; i < n; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	KUNIT_EXPECT_EQ(test, ring->writer_waits, 0);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
	KUNIT_EXPECT_EQ(test, ring->head_seq, n);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, n - fit);
	KUNIT_EXPECT_TRUE(test, shmring_can_write(ring));
}

/* Detach a cursor attached through shmring_sub_attach() in a test. */
static void shmring_test_sub_cursor_release(void *data)
{
	struct shmring_test_reader *r = data;

	shmring_detach_cursor(r->ring, &r->c);
}

/*
 * Attach a test cursor to subscription @name as @uid (owning the ring or
 * not); returns 0 or -errno. A created subscription belongs to the ring.
 */
static int shmring_test_sub_attach(struct kunit *test, struct shmring_ring *ring,
				   struct shmring_test_reader *r, const char *name,
				   kuid_t uid, bool ring_owner)
{
	struct shmring_sub_req req = {
		.name = name,
		.uid = uid,
		.ring_owner = ring_owner,
	};
	int ret;

	r->ring = ring;
	shmring_cursor_init(&r->c, NULL, NULL);
	req.fresh = shmring_sub_alloc();
	KUNIT_ASSERT_NOT_NULL(test, req.fresh);
	ret = shmring_sub_attach(ring, &r->c, &req);
	shmring_sub_free(req.fresh);
	return ret;
}

/* A subscription created by @uid and detached again, as after a crash. */
static struct shmring_sub *shmring_test_detached_sub(struct kunit *test,
						     struct shmring_ring *ring,
						     const char *name, kuid_t uid,
						     bool ring_owner)
{
	struct shmring_test_reader *r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	struct shmring_sub *sub;

	KUNIT_ASSERT_NOT_NULL(test, r);
	KUNIT_ASSERT_EQ(test, shmring_test_sub_attach(test, ring, r, name, uid,
						      ring_owner), 0);
	sub = r->c.sub;
	shmring_detach_cursor(ring, &r->c);
	KUNIT_EXPECT_FALSE(test, sub->attached);
	return sub;
}

/*
 * Subscriptions belong to their creator: another user gets EACCES unless
 * it is shared; a user who does not own the ring gets at most
 * SHMRING_MAX_SUBS_OTHER of them (EDQUOT), all such users together
 * SHMRING_MAX_SUBS_OTHERS (ENOSPC), and the owner still has room.
 */
static void shmring_sub_owner_and_slots(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	kuid_t owner = KUIDT_INIT(1000), other = KUIDT_INIT(1001);
	char name[SHMRING_SUB_NAME_MAX];
	unsigned int u, i;

	KUNIT_ASSERT_NOT_NULL(test, r);
	shmring_test_detached_sub(test, ring, "mine", owner, true);
	KUNIT_EXPECT_EQ(test, shmring_test_sub_attach(test, ring, r, "mine",
						      other, false), -EACCES);
	KUNIT_EXPECT_EQ(test, shmring_test_sub_attach(test, ring, r, "mine",
						      owner, true), 0);
	KUNIT_EXPECT_EQ(test, shmring_test_sub_attach(test, ring,
						      kunit_kzalloc(test, sizeof(*r), GFP_KERNEL),
						      "mine", owner, true), -EBUSY);
	shmring_test_sub_cursor_release(r);

	for (i = 0; i < SHMRING_MAX_SUBS_OTHER; i++) {
		snprintf(name, sizeof(name), "o%u", i);
		shmring_test_detached_sub(test, ring, name, other, false);
	}
	KUNIT_EXPECT_EQ(test, shmring_test_sub_attach(test, ring, r, "one-more",
						      other, false), -EDQUOT);
	for (u = 1; ring->nr_subs_other < SHMRING_MAX_SUBS_OTHERS; u++) {
		for (i = 0; i < SHMRING_MAX_SUBS_OTHER &&
		     ring->nr_subs_other < SHMRING_MAX_SUBS_OTHERS; i++) {
			snprintf(name, sizeof(name), "u%u-%u", u, i);
			shmring_test_detached_sub(test, ring, name,
						  KUIDT_INIT(2000 + u), false);
		}
	}
	KUNIT_EXPECT_EQ(test, shmring_test_sub_attach(test, ring, r, "late",
						      KUIDT_INIT(3000), false),
			-ENOSPC);
	/* The owner still has every remaining slot. */
	while (ring->nr_subs < SHMRING_MAX_SUBS) {
		snprintf(name, sizeof(name), "own%u", ring->nr_subs);
		shmring_test_detached_sub(test, ring, name, owner, true);
	}
	KUNIT_EXPECT_EQ(test, shmring_test_sub_attach(test, ring, r, "full",
						      owner, true), -ENOSPC);
	/* Deleting: the creator or whoever may delete any; not others. */
	KUNIT_EXPECT_EQ(test, PTR_ERR(shmring_sub_remove(ring, "o0", owner, false)),
			-EPERM);
	shmring_sub_free(shmring_sub_remove(ring, "o0", other, false));
	shmring_sub_free(shmring_sub_remove(ring, "o1", owner, true));
	KUNIT_EXPECT_EQ(test, ring->nr_subs, SHMRING_MAX_SUBS - 2);
	KUNIT_EXPECT_EQ(test, PTR_ERR(shmring_sub_remove(ring, "o1", owner, true)),
			-ENOENT);
}

/*
 * A detached durable subscription holds a lossless ring back like an
 * attached reader; consuming in place (moving its page's position) and
 * kicking makes room.
 */
static void shmring_lossless_waits_for_detached_sub(struct kunit *test)
{
	const u64 fit = SZ_4K / 512;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	struct shmring_sub *sub;
	u64 i;

	/* Owned by the ring from here: shmring_ring_free() frees it. */
	sub = shmring_test_detached_sub(test, ring, "kunit-sub", GLOBAL_ROOT_UID,
					true);

	for (i = 0; i < fit; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
			-EAGAIN);
	KUNIT_EXPECT_FALSE(test, shmring_can_write(ring));

	/* Consume two records in place, as libshmring does through mmap. */
	WRITE_ONCE(sub->rp->seq, 2);
	/* [R3] as a reader does: done with the bytes before pos. */
	smp_store_release(&sub->rp->pos, 2 * 512);
	shmring_kick(ring);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->writers_waiting), 0);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
			LEN_512);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
			LEN_512);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, 2);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);

	/* A position the subscriber scribbled past head is clamped. */
	WRITE_ONCE(sub->rp->pos, ring->head + SZ_1M);
	KUNIT_EXPECT_TRUE(test, shmring_can_write(ring));
	WRITE_ONCE(sub->rp->pos, 0);
	KUNIT_EXPECT_FALSE(test, shmring_can_write(ring));
}

struct shmring_test_writer {
	struct shmring_ring *ring;
	const u8 *p;
	u32 len;
	ssize_t ret;
	struct completion done;
};

static int shmring_test_writer_fn(void *data)
{
	struct shmring_test_writer *w = data;

	w->ret = shmring_test_write_buf(w->ring, w->p, w->len, TEST_TYPE, false);
	complete(&w->done);
	return 0;
}

/* A blocking writer sleeps until the lagging reader reads, then commits. */
static void shmring_lossless_writer_wakes_after_read(struct kunit *test)
{
	const u64 fit = SZ_4K / 512;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_LOSSLESS, 0);
	struct shmring_test_ctx *ctx = test->priv;
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_writer *w;
	struct task_struct *task;
	unsigned long woke;
	u32 waiting = 0;
	ssize_t got;
	int i;

	for (i = 0; i < fit; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, LEN_512, true),
				LEN_512);
	w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	w->ring = ring;
	w->p = shmring_test_payload(test, fit);
	w->len = LEN_512;
	init_completion(&w->done);
	task = kthread_create(shmring_test_writer_fn, w, "shmring-kunit-w");
	KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	get_task_struct(task);
	wake_up_process(task);

	/* No assertions until the writer is stopped: it uses @w and @ring. */
	for (i = 0; i < 1500 && !waiting; i++) {
		waiting = READ_ONCE(ring->hdr->writers_waiting);
		if (!waiting)
			msleep(20);
	}
	KUNIT_EXPECT_EQ(test, waiting, 1);
	/* It fits once the reader is past the first record; kick 256 later. */
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->wait_pos), 512 + SZ_4K / 16);
	KUNIT_EXPECT_GE(test, READ_ONCE(ring->hdr->wait_gen), 1);
	KUNIT_EXPECT_FALSE(test, completion_done(&w->done));
	KUNIT_EXPECT_EQ(test, ring->head_seq, fit);

	got = shmring_test_read_buf(r, ctx->buf, 512, true);
	KUNIT_EXPECT_EQ(test, got, 512);
	woke = wait_for_completion_timeout(&w->done, 60 * HZ);
	if (!woke) {
		/* Not woken: unlinking wakes it with EIDRM. */
		shmring_ring_kill(ring);
		wait_for_completion(&w->done);
	}
	kthread_stop(task);
	put_task_struct(task);

	KUNIT_EXPECT_NE_MSG(test, woke, 0, "the reader's read did not wake the writer");
	KUNIT_EXPECT_EQ(test, w->ret, LEN_512);
	KUNIT_EXPECT_GE(test, ring->writer_waits, 1);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->writers_waiting), 0);
	KUNIT_EXPECT_EQ(test, ring->nr_blocked, 0);
	KUNIT_EXPECT_EQ(test, ring->head_seq, fit + 1);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), SZ_4K);
	shmring_test_check_recs(test, ring, fit, LEN_512, 1);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
}

/* ---- positions and sequence numbers across 2^64 --------------------------- */

static void shmring_positions_wrap_at_2_64(struct kunit *test)
{
	const u64 pos0 = (U64_MAX - 100) & ~7ULL;
	const u64 seq0 = U64_MAX - 3;
	const u32 len = 28;		/* 72 bytes a record */
	const u64 total = shmring_rec_total(len), fit = SZ_4K / total;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r;
	struct shmring_reader *rp;
	u64 i, head, recs;

	shmring_ring_set_start(ring, pos0, seq0);
	r = shmring_test_reader(test, ring, false);
	rp = r->c.rp;
	KUNIT_EXPECT_EQ(test, rp->pos, pos0);
	KUNIT_EXPECT_EQ(test, rp->seq, seq0);
	KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, rp, &recs), 0);
	KUNIT_EXPECT_EQ(test, recs, 0);

	/* Record 1 straddles both 2^64 and the end of the area (header too). */
	for (i = 0; i < 8; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, len, true), len);
	head = pos0 + 8 * total;
	KUNIT_EXPECT_EQ(test, ring->head, head);
	KUNIT_EXPECT_EQ(test, head, 8 * total - 104);
	KUNIT_EXPECT_EQ(test, ring->head_seq, seq0 + 8);
	KUNIT_EXPECT_EQ(test, ring->head_seq, 4);
	KUNIT_EXPECT_EQ(test, ring->tail, pos0);
	KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, rp, &recs), 8 * total);
	KUNIT_EXPECT_EQ(test, recs, 8);
	KUNIT_EXPECT_TRUE(test, shmring_cursor_ready(ring, &r->c));

	/* Clamping into [tail, head] when that range spans 2^64. */
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(pos0, pos0, head), pos0);
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(head, pos0, head), head);
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(0, pos0, head), 0);
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(U64_MAX - 7, pos0, head),
			U64_MAX - 7);
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(pos0 - 8, pos0, head), pos0);
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(pos0 - SZ_1M, pos0, head), pos0);
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(head + 8, pos0, head), head);
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(head + SZ_1M, pos0, head), head);
	/* ... and when it does not: U64_MAX is just before 0. */
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(U64_MAX, 0, 64), 0);
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(32, 0, 64), 32);
	KUNIT_EXPECT_EQ(test, shmring_clamp_pos(72, 0, 64), 64);

	/* Read three (up to the sequence number U64_MAX), then the rest. */
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, 3 * total), 3 * total);
	shmring_test_check_recs(test, ring, 3, len, seq0);
	KUNIT_EXPECT_EQ(test, rp->pos, pos0 + 3 * total);
	KUNIT_EXPECT_LT(test, rp->pos, pos0);
	KUNIT_EXPECT_EQ(test, rp->seq, U64_MAX);
	KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, rp, &recs), 5 * total);
	KUNIT_EXPECT_EQ(test, recs, 5);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), 5 * total);
	shmring_test_check_recs(test, ring, 5, len, U64_MAX);
	KUNIT_EXPECT_EQ(test, rp->seq, 4);
	KUNIT_EXPECT_EQ(test, rp->pos, head);
	KUNIT_EXPECT_EQ(test, rp->records_lost, 0);
	KUNIT_EXPECT_EQ(test, rp->records_read, 8);
	KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, rp, &recs), 0);
	KUNIT_EXPECT_EQ(test, recs, 0);

	/* Reclaim moves the tail across 2^64: read records are not lost. */
	for (i = 0; i < fit; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, len, true), len);
	KUNIT_EXPECT_EQ(test, ring->tail, pos0 + 8 * total);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, 4);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
	/* One more overwrites a record the reader has not read. */
	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, len, true), len);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 1);
	KUNIT_EXPECT_EQ(test, ring->tail_seq, 5);
	KUNIT_EXPECT_EQ(test, ring->head_seq - ring->tail_seq, fit);
	KUNIT_EXPECT_EQ(test, shmring_cursor_pending(ring, rp, NULL),
			fit * total);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, BUF_LEN), fit * total);
	shmring_test_check_recs(test, ring, fit, len, 5);
	KUNIT_EXPECT_EQ(test, rp->records_lost, 1);
	KUNIT_EXPECT_EQ(test, rp->seq, ring->head_seq);
}

/* ---- allocation ---------------------------------------------------------- */

static void shmring_test_check_geometry(struct kunit *test,
					struct shmring_ring *ring, u64 size,
					u32 max_record)
{
	const struct shmring_hdr *hdr = ring->hdr;
	u8 *data = ring->data;
	u64 at[] = { 0, 1, size / 2, size - 1 };
	unsigned int i;

	KUNIT_EXPECT_EQ(test, ring->data_size, size);
	KUNIT_EXPECT_EQ(test, ring->mask, size - 1);
	KUNIT_EXPECT_EQ(test, ring->nr_pages, size >> PAGE_SHIFT);
	KUNIT_EXPECT_EQ(test, ring->max_record, max_record);
	KUNIT_EXPECT_STREQ(test, ring->name, "kunit");
	KUNIT_EXPECT_EQ(test, hdr->magic, SHMRING_MAGIC);
	KUNIT_EXPECT_EQ(test, hdr->abi_version, SHMRING_ABI_VERSION);
	KUNIT_EXPECT_EQ(test, hdr->hdr_size, sizeof(*hdr));
	KUNIT_EXPECT_EQ(test, hdr->data_size, size);
	KUNIT_EXPECT_EQ(test, hdr->max_record, max_record);
	KUNIT_EXPECT_EQ(test, hdr->policy, SHMRING_POLICY_OVERWRITE);
	KUNIT_EXPECT_EQ(test, hdr->flags, 0);
	KUNIT_EXPECT_EQ(test, hdr->head, 0);
	KUNIT_EXPECT_EQ(test, hdr->tail, 0);
	KUNIT_EXPECT_EQ(test, ring->nr_readers, 0);
	KUNIT_EXPECT_TRUE(test, list_empty(&ring->readers));
	KUNIT_EXPECT_TRUE(test, list_empty(&ring->subs));
	KUNIT_EXPECT_PTR_EQ(test, ring->pages[0], ring->hdr_page);
	KUNIT_EXPECT_PTR_EQ(test, ring->pages[1], ring->pages[1 + ring->nr_pages]);
	KUNIT_EXPECT_PTR_EQ(test, ring->pages[ring->nr_pages],
			    ring->pages[2 * ring->nr_pages]);

	/* The data area is zeroed and mapped twice in a row. */
	KUNIT_EXPECT_NULL(test, memchr_inv(data, 0, size));
	for (i = 0; i < ARRAY_SIZE(at); i++) {
		data[at[i]] = 0x5a + i;
		KUNIT_EXPECT_EQ(test, data[size + at[i]], 0x5a + i);
		data[size + at[i]] = 0;
		KUNIT_EXPECT_EQ(test, data[at[i]], 0);
	}
}

static void shmring_alloc_smallest_ring(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r;

	shmring_test_check_geometry(test, ring, SZ_4K, SZ_1K);
	r = shmring_test_reader(test, ring, false);
	KUNIT_EXPECT_EQ(test, ring->nr_readers, 1);
	shmring_test_write_read(test, r, SZ_1K, "small ring");
	kunit_release_action(test, shmring_test_reader_release, r);
	KUNIT_EXPECT_EQ(test, ring->nr_readers, 0);
	KUNIT_EXPECT_TRUE(test, list_empty(&ring->readers));
}

static void shmring_alloc_large_ring(struct kunit *test)
{
	const u64 size = SZ_4M;
	struct shmring_ring *ring = shmring_test_ring(test, size, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r;

	shmring_test_check_geometry(test, ring, size, size / 4);
	/* Start just before the end of the area: the record straddles it. */
	shmring_ring_set_start(ring, size - 64, 0);
	r = shmring_test_reader(test, ring, false);
	shmring_test_write_read(test, r, SZ_4K, "large ring");
	KUNIT_EXPECT_EQ(test, ring->head, size - 64 + shmring_rec_total(SZ_4K));
	KUNIT_EXPECT_EQ(test, memcmp(ring->data, ring->data + size, SZ_8K), 0);
	kunit_release_action(test, shmring_test_reader_release, r);
	KUNIT_EXPECT_EQ(test, ring->nr_readers, 0);
}

/* ---- read errors and unlinking ------------------------------------------- */

static void shmring_read_buffer_too_small(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_reader *rp = r->c.rp;
	const u64 total = shmring_rec_total(100);

	KUNIT_ASSERT_EQ(test, total, 144);
	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 100, true), 100);
	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 100, true), 100);

	KUNIT_EXPECT_EQ(test, shmring_test_read(test, r, total - 1), -EMSGSIZE);
	KUNIT_EXPECT_EQ(test, shmring_test_read(test, r, HDR_LEN), -EMSGSIZE);
	KUNIT_EXPECT_EQ(test, shmring_test_read(test, r, 1), -EMSGSIZE);
	KUNIT_EXPECT_EQ(test, rp->pos, 0);
	KUNIT_EXPECT_EQ(test, rp->seq, 0);
	KUNIT_EXPECT_EQ(test, rp->records_read, 0);
	KUNIT_EXPECT_EQ(test, rp->last_read_ns, 0);

	/* Only whole records are returned: one, then the other. */
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, 2 * total - 1), total);
	shmring_test_check_recs(test, ring, 1, 100, 0);
	KUNIT_EXPECT_EQ(test, rp->pos, total);
	KUNIT_EXPECT_EQ(test, rp->seq, 1);
	KUNIT_ASSERT_EQ(test, shmring_test_read(test, r, total), total);
	shmring_test_check_recs(test, ring, 1, 100, 1);
	KUNIT_EXPECT_EQ(test, rp->records_read, 2);
}

static void shmring_read_nonblock_empty(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);

	KUNIT_EXPECT_FALSE(test, shmring_cursor_ready(ring, &r->c));
	KUNIT_EXPECT_EQ(test, shmring_test_read(test, r, BUF_LEN), -EAGAIN);
	KUNIT_EXPECT_EQ(test, r->c.rp->pos, 0);
	shmring_test_write_read(test, r, 8, "one record");
	KUNIT_EXPECT_FALSE(test, shmring_cursor_ready(ring, &r->c));
	KUNIT_EXPECT_EQ(test, shmring_test_read(test, r, BUF_LEN), -EAGAIN);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_read, 1);
}

static void shmring_kill_fails_writes_and_drains_reads(struct kunit *test)
{
	struct shmring_test_ctx *ctx = test->priv;
	struct shmring_ring *ring = shmring_test_ring(test, SZ_4K, 0,
						      SHMRING_POLICY_OVERWRITE, 0);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);

	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 10, true), 10);
	KUNIT_ASSERT_EQ(test, shmring_test_write(test, ring, 20, true), 20);
	shmring_ring_kill(ring);

	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, 10, true), -EIDRM);
	KUNIT_EXPECT_EQ(test, shmring_test_write(test, ring, 10, false), -EIDRM);
	KUNIT_EXPECT_EQ(test, ring->head_seq, 2);
	KUNIT_EXPECT_EQ(test, ring->records_written, 2);
	KUNIT_EXPECT_FALSE(test, shmring_can_write(ring));

	/* What was committed is still read; then end of file, not a wait. */
	KUNIT_ASSERT_EQ(test, shmring_test_read_buf(r, ctx->buf, BUF_LEN, false),
			shmring_rec_total(10) + shmring_rec_total(20));
	KUNIT_EXPECT_EQ(test, shmring_test_read_buf(r, ctx->buf, BUF_LEN, false), 0);
	KUNIT_EXPECT_EQ(test, shmring_test_read_buf(r, ctx->buf, BUF_LEN, true), 0);
	KUNIT_EXPECT_EQ(test, r->c.rp->records_read, 2);
}

/* ---- zero-copy rings ------------------------------------------------------ */

/* A zero-copy writer as libshmring drives one, in kernel memory. */
struct shmring_test_zcw {
	struct shmring_zc_writer w;
	struct shmring_ring *ring;
	u64 pos, end;			/* fill point, chunk end; 0, 0: none */
	u64 seq;			/* pattern seed of the next record */
	u32 revoked;			/* chunks the kernel took back */
};

static void shmring_test_zcw_release(void *data)
{
	struct shmring_test_zcw *zw = data;

	shmring_zc_release(zw->ring, &zw->w);
}

static struct shmring_test_zcw *shmring_test_zcw(struct kunit *test,
						 struct shmring_ring *ring)
{
	struct shmring_test_zcw *zw = kunit_kzalloc(test, sizeof(*zw), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, zw);
	INIT_LIST_HEAD(&zw->w.node);
	zw->ring = ring;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							shmring_test_zcw_release,
							zw), 0);
	return zw;
}

static u64 *shmring_test_word(struct shmring_ring *ring, u64 pos)
{
	return &((struct shmring_rec *)(ring->data + (pos & ring->mask)))->seq;
}

/*
 * The writer's swap from what it finds, unless the word names @pos (the
 * chunk was closed) or the same offset in a later lap up to head (the
 * space was granted again).
 */
static bool shmring_test_zc_swap(struct shmring_ring *ring, u64 pos, u64 state)
{
	u64 *word = shmring_test_word(ring, pos), old = READ_ONCE(*word);
	u64 named = old & ~SHMRING_ZC_STATE;

	if (old && !((named - pos) & ring->mask) &&
	    (s64)(named - pos) >= 0 && (s64)(named - READ_ONCE(ring->head)) < 0)
		return false;
	return cmpxchg(word, old, pos | state) == old;
}

static int shmring_test_zc_grant(struct shmring_test_zcw *zw, u32 flags)
{
	struct shmring_zc_chunk a = { .size = sizeof(a), .flags = flags };
	int ret;

	if (zw->end && zw->end - zw->pos >= sizeof(struct shmring_rec))
		shmring_test_zc_swap(zw->ring, zw->pos, SHMRING_ZC_END);
	ret = shmring_zc_grant(zw->ring, &zw->w, &a, true);
	zw->revoked += a.revoked;
	zw->pos = a.start;
	zw->end = a.end;
	return ret;
}

/*
 * Reserve and fill a pattern record of @len bytes as libshmring does
 * (a new chunk when it does not fit), but leave it BUSY. Returns its
 * position, or 0 with *err set.
 */
static u64 shmring_test_zc_fill(struct kunit *test, struct shmring_test_zcw *zw,
				u32 len, int *err)
{
	struct shmring_ring *ring = zw->ring;
	u64 total = shmring_rec_total(len), pos;
	struct shmring_rec *rec;
	int tries = 0;

	*err = 0;
	while (!zw->end || zw->end - zw->pos < total ||
	       !shmring_test_zc_swap(ring, zw->pos, SHMRING_ZC_BUSY)) {
		/* Garbage naming later positions: not ours, try the next. */
		if (++tries > 8) {
			*err = -EIO;
			return 0;
		}
		*err = shmring_test_zc_grant(zw, 0);
		if (*err)
			return 0;
	}
	pos = zw->pos;
	rec = ring->data + (pos & ring->mask);
	rec->len = len;
	rec->type = TEST_TYPE;
	rec->tstamp_ns = ktime_get_boottime_ns();
	rec->pid = TEST_PID;
	rec->flags = 0;
	rec->__reserved0 = 0;
	rec->csum = 0;
	rec->__reserved1 = 0;
	memcpy(rec + 1, shmring_test_payload(test, zw->seq), len);
	memset((char *)(rec + 1) + len, 0, total - sizeof(*rec) - len);
	zw->pos += total;
	return pos;
}

static bool shmring_test_zc_commit(struct shmring_ring *ring, u64 pos)
{
	u64 *word = shmring_test_word(ring, pos);

	return cmpxchg(word, pos | SHMRING_ZC_BUSY, pos | SHMRING_ZC_DONE) ==
	       (pos | SHMRING_ZC_BUSY);
}

/* Write one pattern record; its pattern seed is the writer's count. */
static int shmring_test_zc_write(struct kunit *test, struct shmring_test_zcw *zw,
				 u32 len)
{
	int err;
	u64 pos = shmring_test_zc_fill(test, zw, len, &err);

	if (err)
		return err;
	KUNIT_ASSERT_TRUE(test, shmring_test_zc_commit(zw->ring, pos));
	zw->seq++;
	return 0;
}

static struct shmring_ring *shmring_test_zc_ring(struct kunit *test, u64 size,
						 u32 chunk, u32 policy)
{
	struct shmring_attr attr = {
		.data_size = size,
		.policy = policy,
		.flags = SHMRING_ATTR_ZEROCOPY,
		.zc_chunk = chunk,
	};

	return shmring_test_ring_attr(test, &attr);
}

static void shmring_zc_attr_check_chunks(struct kunit *test)
{
	struct shmring_attr a = { .data_size = SZ_64K,
				  .flags = SHMRING_ATTR_ZEROCOPY };

	KUNIT_EXPECT_EQ(test, shmring_attr_check(&a, &shmring_test_limits), 0);
	KUNIT_EXPECT_EQ(test, a.zc_chunk, SZ_4K);
	KUNIT_EXPECT_EQ(test, a.max_record, SZ_4K - HDR_LEN);
	/* A record larger than the default chunk raises the chunk. */
	a = (struct shmring_attr){ .data_size = SZ_1M, .max_record = SZ_128K,
				   .flags = SHMRING_ATTR_ZEROCOPY };
	KUNIT_EXPECT_EQ(test, shmring_attr_check(&a, &shmring_test_limits), 0);
	KUNIT_EXPECT_EQ(test, a.zc_chunk, SZ_256K);
	KUNIT_EXPECT_EQ(test, a.max_record, SZ_128K);
	/*
	 * 64 records of max_record per chunk, where 16 such chunks fit
	 * (larger than the test limits: the zero-copy check alone).
	 */
	a = (struct shmring_attr){ .data_size = SZ_16M, .max_record = SZ_4K,
				   .flags = SHMRING_ATTR_ZEROCOPY };
	KUNIT_EXPECT_EQ(test, shmring_zc_attr_check(&a, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, a.zc_chunk, SZ_512K);
	/* ...not where they would not: a 1 MiB ring keeps a sixteenth. */
	a = (struct shmring_attr){ .data_size = SZ_1M, .max_record = SZ_4K,
				   .flags = SHMRING_ATTR_ZEROCOPY };
	KUNIT_EXPECT_EQ(test, shmring_zc_attr_check(&a, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, a.zc_chunk, SZ_64K);
	/* Small records change nothing. */
	a = (struct shmring_attr){ .data_size = SZ_16M, .max_record = 64,
				   .flags = SHMRING_ATTR_ZEROCOPY };
	KUNIT_EXPECT_EQ(test, shmring_zc_attr_check(&a, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, a.zc_chunk, SZ_256K);
	/* Not a power of two, below a page, more than half the ring. */
	a = (struct shmring_attr){ .data_size = SZ_64K, .zc_chunk = 12288,
				   .flags = SHMRING_ATTR_ZEROCOPY };
	KUNIT_EXPECT_EQ(test, shmring_attr_check(&a, &shmring_test_limits), -EINVAL);
	a.zc_chunk = 2048;
	KUNIT_EXPECT_EQ(test, shmring_attr_check(&a, &shmring_test_limits), -EINVAL);
	a.zc_chunk = SZ_64K;
	KUNIT_EXPECT_EQ(test, shmring_attr_check(&a, &shmring_test_limits), -EINVAL);
	/* A smallest ring has no room for two chunks. */
	a = (struct shmring_attr){ .data_size = SZ_4K,
				   .flags = SHMRING_ATTR_ZEROCOPY };
	KUNIT_EXPECT_EQ(test, shmring_attr_check(&a, &shmring_test_limits), -EINVAL);
	/* An explicit chunk too small for max_record. */
	a = (struct shmring_attr){ .data_size = SZ_64K, .zc_chunk = SZ_4K,
				   .max_record = SZ_4K,
				   .flags = SHMRING_ATTR_ZEROCOPY };
	KUNIT_EXPECT_EQ(test, shmring_attr_check(&a, &shmring_test_limits), -EINVAL);
}

/*
 * Read everything pending with read(2) and check it: returns records.
 * *seq is the next expected; a jump (a lap) must be the reader's loss.
 */
static u64 shmring_test_zc_drain(struct kunit *test,
				 struct shmring_test_reader *r, u64 *seq)
{
	struct shmring_test_ctx *ctx = test->priv;
	const u8 *p;
	ssize_t ret;
	u64 n = 0;
	char where[48];

	for (;;) {
		ret = shmring_test_read(test, r, BUF_LEN);
		if (ret == -EAGAIN)
			return n;
		KUNIT_ASSERT_GT(test, ret, 0);
		for (p = ctx->buf; p < ctx->buf + ret; n++, (*seq)++) {
			const struct shmring_rec *rec = (const void *)p;

			KUNIT_ASSERT_GE(test, rec->seq, *seq);
			*seq = rec->seq;
			snprintf(where, sizeof(where), "record %llu", *seq);
			p += shmring_test_check_rec(test, r->ring, p, rec->len,
						    *seq, where);
		}
	}
}

/*
 * Records of every size fill chunks at every offset across several laps,
 * on both policies; read(2) sees each once with the counted sequence
 * number, and the kernel counted the same.
 */
static void shmring_zc_write_read_every_offset(struct kunit *test)
{
	u32 policy;

	for (policy = 0; policy <= SHMRING_POLICY_LOSSLESS; policy++) {
		struct shmring_ring *ring = shmring_test_zc_ring(test, SZ_16K,
								 SZ_4K, policy);
		struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
		struct shmring_test_zcw *zw = shmring_test_zcw(test, ring);
		u64 seq = 0, n = 0, i;

		for (i = 0; i < 600; i++) {
			u32 len = (i * 37) % (ring->max_record + 1);
			int ret = shmring_test_zc_write(test, zw, len);

			if (ret == -EAGAIN) {
				/* Lossless and full: the request closed the chunk. */
				n += shmring_test_zc_drain(test, r, &seq);
				ret = shmring_test_zc_write(test, zw, len);
			}
			KUNIT_ASSERT_EQ(test, ret, 0);
			if (i % 7 == 6)
				n += shmring_test_zc_drain(test, r, &seq);
		}
		/* The open chunk is readable up to its fill point. */
		n += shmring_test_zc_drain(test, r, &seq);
		KUNIT_EXPECT_EQ(test, seq, 600);
		KUNIT_ASSERT_EQ(test, shmring_test_zc_grant(zw, SHMRING_ZC_RELEASE), 0);
		KUNIT_EXPECT_EQ(test, ring->records_written, 600);
		KUNIT_EXPECT_EQ(test, ring->head_seq, 600);
		/* Lossless loses nothing; overwrite what it counted. */
		KUNIT_EXPECT_EQ(test, n + ring->records_lost, 600);
		KUNIT_EXPECT_EQ(test, READ_ONCE(r->c.rp->records_lost),
				ring->records_lost);
		if (policy == SHMRING_POLICY_LOSSLESS)
			KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
		else
			KUNIT_EXPECT_GT(test, ring->records_lost, 0);
		KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_closed), ring->head);
		KUNIT_EXPECT_EQ(test, shmring_test_zc_drain(test, r, &seq), 0);
	}
}

/*
 * A writer killed mid-record: release() voids it at once, readers skip
 * it, and the records before it stay.
 */
static void shmring_zc_release_voids_record_in_progress(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_zc_ring(test, SZ_16K, SZ_4K,
							 SHMRING_POLICY_LOSSLESS);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_zcw *a = shmring_test_zcw(test, ring);
	struct shmring_test_zcw *b = shmring_test_zcw(test, ring);
	u64 seq = 0, busy;
	int err;

	KUNIT_ASSERT_EQ(test, shmring_test_zc_write(test, a, 100), 0);
	busy = shmring_test_zc_fill(test, a, 200, &err);
	KUNIT_ASSERT_EQ(test, err, 0);
	/* b's chunk comes after a's: held back while a's is open. */
	b->seq = 1;
	KUNIT_ASSERT_EQ(test, shmring_test_zc_write(test, b, 50), 0);
	KUNIT_EXPECT_EQ(test, shmring_test_zc_drain(test, r, &seq), 1);
	KUNIT_EXPECT_FALSE(test, shmring_cursor_ready(ring, &r->c));
	shmring_zc_release(ring, &a->w);
	KUNIT_EXPECT_EQ(test, READ_ONCE(*shmring_test_word(ring, busy)),
			busy | SHMRING_ZC_VOID);
	/* The writer's commit loses to the kernel's swap. */
	KUNIT_EXPECT_FALSE(test, shmring_test_zc_commit(ring, busy));
	KUNIT_EXPECT_TRUE(test, shmring_cursor_ready(ring, &r->c));
	KUNIT_EXPECT_EQ(test, shmring_test_zc_drain(test, r, &seq), 1);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_closed), b->w.start);
	KUNIT_EXPECT_EQ(test, ring->head_seq, 1);
}

/*
 * Overwrite: a writer that keeps its chunk while others lap the ring has
 * it revoked; a reader that was passed counts exactly what the ring did.
 */
static void shmring_zc_overwrite_revokes_and_counts(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_zc_ring(test, SZ_16K, SZ_4K,
							 SHMRING_POLICY_OVERWRITE);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_zcw *slow = shmring_test_zcw(test, ring);
	struct shmring_test_zcw *fast = shmring_test_zcw(test, ring);
	struct shmring_test_ctx *ctx = test->priv;
	u64 busy, i;
	ssize_t ret;
	int err;

	KUNIT_ASSERT_EQ(test, shmring_test_zc_write(test, slow, 10), 0);
	busy = shmring_test_zc_fill(test, slow, 10, &err);
	KUNIT_ASSERT_EQ(test, err, 0);
	for (i = 0; i < 200; i++)
		KUNIT_ASSERT_EQ(test, shmring_test_zc_write(test, fast, 300), 0);
	KUNIT_EXPECT_FALSE(test, shmring_test_zc_commit(ring, busy));
	KUNIT_EXPECT_EQ(test, shmring_test_zc_grant(slow, SHMRING_ZC_RELEASE), 0);
	KUNIT_EXPECT_EQ(test, slow->revoked, 1);
	KUNIT_EXPECT_EQ(test, shmring_test_zc_grant(fast, SHMRING_ZC_RELEASE), 0);
	KUNIT_EXPECT_GT(test, ring->records_lost, 0);
	KUNIT_EXPECT_EQ(test, ring->head_seq, 201);
	/* Read all: what the reader lost is what the ring counted. */
	do {
		ret = shmring_test_read(test, r, BUF_LEN);
	} while (ret > 0);
	KUNIT_EXPECT_EQ(test, ret, -EAGAIN);
	KUNIT_EXPECT_EQ(test, READ_ONCE(r->c.rp->records_lost), ring->records_lost);
	KUNIT_EXPECT_EQ(test, READ_ONCE(r->c.rp->seq), 201);
	KUNIT_EXPECT_EQ(test, READ_ONCE(r->c.rp->records_read) +
			READ_ONCE(r->c.rp->records_lost), 201);
	(void)ctx;
}

/*
 * Garbage over the whole data area, while a chunk is open and after it
 * closed: the kernel's walks stay in bounds and end, read(2) skips what
 * is corrupt, and the ring keeps working.
 */
static void shmring_zc_garbage_is_skipped(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_zc_ring(test, SZ_16K, SZ_4K,
							 SHMRING_POLICY_OVERWRITE);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_zcw *zw = shmring_test_zcw(test, ring);
	struct rnd_state rs;
	u64 round, i, *w;
	ssize_t ret;

	prandom_seed_state(&rs, 42);

	for (round = 0; round < 20; round++) {
		for (i = 0; i < 30; i++)
			KUNIT_ASSERT_EQ(test, shmring_test_zc_write(test, zw, 60), 0);
		/* Words that look right, lengths that do not, random bytes. */
		for (i = 0; i < SZ_16K / 8; i++) {
			w = (u64 *)ring->data + i;
			switch ((i + round) % 4) {
			case 0:
				*w = ((u64)prandom_u32_state(&rs) << 32) |
				     prandom_u32_state(&rs);
				break;
			case 1:
				*w = (ring->head - SZ_4K + i * 8) | SHMRING_ZC_DONE;
				break;
			case 2:
				*w = U64_MAX;
				break;
			}
		}
		if (round & 1)
			KUNIT_ASSERT_EQ(test, shmring_test_zc_grant(zw, SHMRING_ZC_RELEASE), 0);
		for (i = 0; i < 100; i++) {
			ret = shmring_test_read(test, r, BUF_LEN);
			if (ret == -EAGAIN || ret == -EINVAL)
				break;
			KUNIT_ASSERT_GT(test, ret, 0);
		}
		KUNIT_ASSERT_LT(test, i, 100);
		zw->pos = 0;
		zw->end = 0;
	}
	/* Still a ring: a fresh record after the garbage is read whole. */
	KUNIT_ASSERT_EQ(test, shmring_test_zc_grant(zw, SHMRING_ZC_RELEASE), 0);
	KUNIT_ASSERT_EQ(test, shmring_cursor_seek(ring, &r->c, SHMRING_SEEK_END, 0), 0);
	zw->seq = READ_ONCE(r->c.rp->seq);
	KUNIT_ASSERT_EQ(test, shmring_test_zc_write(test, zw, 77), 0);
	KUNIT_ASSERT_EQ(test, shmring_test_zc_grant(zw, SHMRING_ZC_RELEASE), 0);
	i = READ_ONCE(r->c.rp->seq);
	KUNIT_EXPECT_EQ(test, shmring_test_zc_drain(test, r, &i), 1);
}

/* Lossless: a full ring makes the chunk request wait (EAGAIN here). */
static void shmring_zc_lossless_waits_for_readers(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_zc_ring(test, SZ_16K, SZ_4K,
							 SHMRING_POLICY_LOSSLESS);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_zcw *zw = shmring_test_zcw(test, ring);
	u64 seq = 0, n = 0;
	int ret, i;

	for (i = 0; i < 1000; i++) {
		ret = shmring_test_zc_write(test, zw, 500);
		if (ret)
			break;
	}
	KUNIT_EXPECT_EQ(test, ret, -EAGAIN);
	/* Four chunks of seven 544-byte records. */
	KUNIT_EXPECT_EQ(test, i, 4 * 7);
	/* The failed request closed the fourth. */
	n = shmring_test_zc_drain(test, r, &seq);
	KUNIT_EXPECT_EQ(test, n, 4 * 7);
	KUNIT_EXPECT_EQ(test, shmring_test_zc_write(test, zw, 500), 0);
	KUNIT_EXPECT_EQ(test, ring->records_lost, 0);
}

/* zc_sleepers counts readers that wait; a kick wakes and drops ready ones. */
static void shmring_zc_kick_wakes_sleepers(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_zc_ring(test, SZ_16K, SZ_4K,
							 SHMRING_POLICY_OVERWRITE);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_zcw *zw = shmring_test_zcw(test, ring);
	struct wait_queue_entry wqe;
	u64 pos;
	int err;

	init_waitqueue_entry(&wqe, current);
	add_wait_queue(&r->c.wq, &wqe);
	shmring_cursor_will_wait(ring, &r->c);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_sleepers), 1);
	pos = shmring_test_zc_fill(test, zw, 10, &err);
	KUNIT_ASSERT_EQ(test, err, 0);
	/* BUSY is not ready: a kick keeps the sleeper. */
	KUNIT_EXPECT_FALSE(test, shmring_cursor_ready(ring, &r->c));
	shmring_zc_wake(ring);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_sleepers), 1);
	KUNIT_ASSERT_TRUE(test, shmring_test_zc_commit(ring, pos));
	KUNIT_EXPECT_TRUE(test, shmring_cursor_ready(ring, &r->c));
	shmring_zc_wake(ring);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_sleepers), 0);
	KUNIT_EXPECT_TRUE(test, list_empty(&r->c.wnode));
	remove_wait_queue(&r->c.wq, &wqe);
	__set_current_state(TASK_RUNNING);
}

/*
 * A lazy reader (SHMRING_ZC_WAKE_CHUNK) waits without counting in
 * zc_sleepers, so writers never kick for it; a wake after a commit (what
 * a chunk close and the idle work do) still wakes it once it is ready.
 */
static void shmring_zc_lazy_sleepers_not_counted(struct kunit *test)
{
	struct shmring_ring *ring = shmring_test_zc_ring(test, SZ_16K, SZ_4K,
							 SHMRING_POLICY_OVERWRITE);
	struct shmring_test_reader *r = shmring_test_reader(test, ring, false);
	struct shmring_test_reader *e = shmring_test_reader(test, ring, false);
	struct shmring_test_zcw *zw = shmring_test_zcw(test, ring);
	struct wait_queue_entry wqe, wqe2;
	unsigned int idle = shmring_zc_idle_ms;
	u64 pos;
	int err;

	shmring_zc_idle_ms = 10;
	r->c.zc_lazy = true;
	init_waitqueue_entry(&wqe, current);
	add_wait_queue(&r->c.wq, &wqe);
	shmring_cursor_will_wait(ring, &r->c);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_sleepers), 0);
	KUNIT_EXPECT_EQ(test, ring->nr_waiters, 1);
	KUNIT_EXPECT_EQ(test, ring->nr_lazy, 1);
	/* An eager reader beside it is counted. */
	init_waitqueue_entry(&wqe2, current);
	add_wait_queue(&e->c.wq, &wqe2);
	shmring_cursor_will_wait(ring, &e->c);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_sleepers), 1);
	pos = shmring_test_zc_fill(test, zw, 10, &err);
	KUNIT_ASSERT_EQ(test, err, 0);
	KUNIT_ASSERT_TRUE(test, shmring_test_zc_commit(ring, pos));
	shmring_zc_wake(ring);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_sleepers), 0);
	KUNIT_EXPECT_EQ(test, ring->nr_waiters, 0);
	KUNIT_EXPECT_EQ(test, ring->nr_lazy, 0);
	KUNIT_EXPECT_TRUE(test, list_empty(&r->c.wnode));
	/* With zc_idle_ms 0 a lazy reader joins as an eager one. */
	shmring_zc_idle_ms = 0;
	remove_wait_queue(&e->c.wq, &wqe2);
	shmring_cursor_will_wait(ring, &r->c);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_sleepers), 1);
	KUNIT_EXPECT_EQ(test, ring->nr_lazy, 0);
	spin_lock(&ring->lock);
	shmring_waiter_del(ring, &r->c);
	spin_unlock(&ring->lock);
	KUNIT_EXPECT_EQ(test, READ_ONCE(ring->hdr->zc_sleepers), 0);
	shmring_zc_idle_ms = idle;
	remove_wait_queue(&r->c.wq, &wqe);
	__set_current_state(TASK_RUNNING);
}

static int shmring_test_init(struct kunit *test)
{
	struct shmring_test_ctx *ctx;
	size_t i;

	/* The sizes and offsets below assume 4 KiB pages (x86-64). */
	if (PAGE_SIZE != SZ_4K)
		kunit_skip(test, "needs 4 KiB pages");
	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->pat = kunit_kmalloc(test, PAT_LEN, GFP_KERNEL);
	ctx->buf = kunit_kmalloc(test, BUF_LEN, GFP_KERNEL);
	if (!ctx->pat || !ctx->buf)
		return -ENOMEM;
	/* Neighbouring seeds differ at every byte; no byte is ever zero. */
	for (i = 0; i < PAT_LEN; i++)
		ctx->pat[i] = (u8)(i * 7 + (i >> 8) * 3) | 1;
	test->priv = ctx;
	return 0;
}

static struct kunit_case shmring_ring_cases[] = {
	KUNIT_CASE(shmring_size_valid_bounds),
	KUNIT_CASE(shmring_attr_check_fills_defaults),
	KUNIT_CASE(shmring_attr_check_rejects_invalid),
	KUNIT_CASE(shmring_name_valid_alphabet_and_length),
	KUNIT_CASE(shmring_write_read_header_fields),
	KUNIT_CASE(shmring_write_aligns_and_zero_pads),
	KUNIT_CASE(shmring_write_zero_length_record),
	KUNIT_CASE(shmring_write_largest_record_in_smallest_ring),
	KUNIT_CASE(shmring_write_default_max_record),
	KUNIT_CASE(shmring_wrap_at_every_offset),
	KUNIT_CASE(shmring_csum_is_crc32c_of_payload),
	KUNIT_CASE(shmring_overwrite_counts_lost_records),
	KUNIT_CASE(shmring_lap_swaps_passed_cursors),
	KUNIT_CASE(shmring_batch_one_timestamp),
	KUNIT_CASE(shmring_overwrite_without_reader_loses_nothing),
	KUNIT_CASE(shmring_cursor_start_from_head),
	KUNIT_CASE(shmring_lossless_nonblock_write_gets_eagain),
	KUNIT_CASE(shmring_batch_visible_at_end),
	KUNIT_CASE(shmring_copies_publish_in_order),
	KUNIT_CASE(shmring_batch_overwrite_tail_never_passes_head),
	KUNIT_CASE(shmring_batch_lossless_nonblock_keeps_what_fits),
	KUNIT_CASE(shmring_stage_put_at_every_offset),
	KUNIT_CASE(shmring_stage_put_lossless_all_or_nothing),
	KUNIT_CASE(shmring_blocked_writers_pass_the_baton),
	KUNIT_CASE(shmring_lossless_without_reader_reclaims),
	KUNIT_CASE(shmring_lossless_waits_for_detached_sub),
	KUNIT_CASE(shmring_sub_owner_and_slots),
	KUNIT_CASE(shmring_batch_wakes_records_watermark),
	KUNIT_CASE(shmring_tap_never_holds_writers),
	KUNIT_CASE(shmring_max_readers_spares_the_owner),
	KUNIT_CASE(shmring_big_batch_wakes_midway),
	KUNIT_CASE(shmring_commit_walks_only_waiters),
	KUNIT_CASE(shmring_lossless_writer_wakes_after_read),
	KUNIT_CASE(shmring_positions_wrap_at_2_64),
	KUNIT_CASE(shmring_alloc_smallest_ring),
	KUNIT_CASE(shmring_alloc_large_ring),
	KUNIT_CASE(shmring_read_buffer_too_small),
	KUNIT_CASE(shmring_read_nonblock_empty),
	KUNIT_CASE(shmring_kill_fails_writes_and_drains_reads),
	KUNIT_CASE(shmring_zc_attr_check_chunks),
	KUNIT_CASE(shmring_zc_write_read_every_offset),
	KUNIT_CASE(shmring_zc_release_voids_record_in_progress),
	KUNIT_CASE(shmring_zc_overwrite_revokes_and_counts),
	KUNIT_CASE(shmring_zc_garbage_is_skipped),
	KUNIT_CASE(shmring_zc_lossless_waits_for_readers),
	KUNIT_CASE(shmring_zc_kick_wakes_sleepers),
	KUNIT_CASE(shmring_zc_lazy_sleepers_not_counted),
	{}
};

static struct kunit_suite shmring_ring_suite = {
	.name = "shmring_ring",
	.init = shmring_test_init,
	.test_cases = shmring_ring_cases,
};
kunit_test_suite(shmring_ring_suite);

MODULE_DESCRIPTION("KUnit tests for the shmring ring core");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
