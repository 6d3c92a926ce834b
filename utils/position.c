// SPDX-License-Identifier: MIT
/*
 * Reader positions of the command line and moving a reader there: see
 * position.h.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "shmring.h"
#include "common.h"
#include "position.h"

bool parse_iso_time(const char *s, uint64_t *ns)
{
	uint64_t frac = 0, scale = 1000000000ULL;
	struct tm tm;
	int64_t secs, off = 0;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!p)
		return false;
	if (*p == '.' || *p == ',') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (; isdigit((unsigned char)*p); p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;

		if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
			return false;
		off = (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
		if (*p == ':')
			p++;
		if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
			return false;
		off = off * 60 + (p[0] - '0') * 10 + (p[1] - '0');
		p += 2;
		off *= 60 * sign;
	}
	if (*p)
		return false;
	secs = (int64_t)timegm(&tm) - off;
	if (secs < 0)
		return false;
	*ns = (uint64_t)secs * 1000000000ULL + frac;
	return true;
}

bool ring_pos_parse(const char *s, struct ring_pos *p)
{
	p->val = 0;
	if (!strcmp(s, "oldest")) {
		p->whence = SHMRING_SEEK_OLDEST;
		return true;
	}
	if (!strcmp(s, "end")) {
		p->whence = SHMRING_SEEK_END;
		return true;
	}
	if (!strncmp(s, "seq=", 4)) {
		p->whence = SHMRING_SEEK_SEQ;
		return parse_u64(s + 4, &p->val);
	}
	if (!strncmp(s, "time=", 5)) {
		p->whence = SHMRING_SEEK_TIME;
		return parse_u64(s + 5, &p->val) || parse_iso_time(s + 5, &p->val);
	}
	return false;
}

static uint64_t clock_now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int64_t ring_realtime_offset(struct shmring *r)
{
	struct shmring_info info;
	const struct shmring_hdr *hdr;
	int64_t off = 0;
	void *map;

	/* The header is the first page of the read-only ring mapping. */
	if (shmring_info(r, &info) == 0) {
		map = mmap(NULL, info.map_ring_len, PROT_READ, MAP_SHARED,
			   shmring_fd(r), (off_t)info.map_ring_off);
		if (map != MAP_FAILED) {
			hdr = map;
			if (hdr->hdr_size >= offsetof(struct shmring_hdr, __pad2))
				off = (int64_t)__atomic_load_n(&hdr->realtime_offset_ns,
							       __ATOMIC_RELAXED);
			munmap(map, info.map_ring_len);
		}
	}
	if (!off)
		off = (int64_t)(clock_now(CLOCK_REALTIME) - clock_now(CLOCK_BOOTTIME));
	return off;
}

int ring_pos_seek(struct shmring *r, const struct ring_pos *p)
{
	uint64_t val = p->val;

	if (p->whence == SHMRING_SEEK_TIME) {
		int64_t off = ring_realtime_offset(r);

		/* Before the ring's clock began: its oldest record onwards. */
		val = (int64_t)val > off ? (uint64_t)((int64_t)val - off) : 0;
	}
	return shmring_seek(r, p->whence, val);
}
