// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the reader-side record validator: the input is a
 * would-be ring data area (as a hostile or corrupted ring could present
 * it), walked record by record the way shmring_peek() walks a mapping.
 * The first 4 bytes choose max_record. Nothing may be read out of bounds
 * and every accepted record must lie inside the committed bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shmring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t max_record;
	size_t pos = 0;
	int total;

	if (size < sizeof(max_record))
		return 0;
	memcpy(&max_record, data, sizeof(max_record));
	data += sizeof(max_record);
	size -= sizeof(max_record);
	while (size - pos >= sizeof(struct shmring_rec)) {
		struct shmring_rec h;

		memcpy(&h, data + pos, sizeof(h));
		total = shmring_rec_validate(&h, size - pos, max_record);
		if (total < 0)
			break;
		if ((size_t)total > size - pos || (size_t)total < sizeof(h) + h.len ||
		    h.len > max_record || (total & 7))
			abort();	/* the validator let a bad record through */
		/* Touch the payload as a reader would. */
		if (h.len && data[pos + sizeof(h) + h.len - 1] == 0xff &&
		    shmring_crc32c(data + pos + sizeof(h), h.len) == 0x12345678)
			pos += 0;
		pos += (size_t)total;
	}
	return 0;
}
