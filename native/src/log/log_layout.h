/*
 * log_layout.h -- a log pool on media (libpmemlog's format here, not PMDK's)
 *
 *   page 0      struct log_header: written once at create; checksummed
 *   [data_offset, data_end)   the log's bytes, appended in order
 *
 * The one field appends change is `write_word`, on a cache line of its own: the
 * end of the log (an offset below 2^48) and a 16-bit tag of that offset and the
 * pool's UUID, stored by one aligned 8-byte store after the bytes it covers are
 * persisted. A crash leaves the old word or the new one, never a mix; a flipped
 * word fails its tag or its bounds.
 */
#ifndef PMALLOC_LOG_LAYOUT_H
#define PMALLOC_LOG_LAYOUT_H

#include <stdint.h>

#include "common/checksum.h"

#define LOG_SIGNATURE "PMALLOCL"
#define LOG_MAJOR 1
#define LOG_MINOR 0
#define LOG_HDR_SIZE 4096          /* the data starts on the next page */
#define LOG_OFFSET_BITS 48

struct log_header {
	char signature[8];         /* LOG_SIGNATURE */
	uint32_t major, minor;     /* format version */
	uint8_t uuid[16];          /* this pool's */
	uint64_t pool_size;        /* bytes, as created */
	uint64_t data_offset;      /* the log's first byte */
	uint64_t data_end;         /* one past its last */
	uint64_t checksum;         /* checksum64 of the bytes above */
	uint8_t unused[128 - 72];
	_Alignas(64) uint64_t write_word;   /* end offset | tag << 48 */
};

_Static_assert(sizeof(struct log_header) <= LOG_HDR_SIZE, "the header fits its page");
_Static_assert(__builtin_offsetof(struct log_header, write_word) == 128, "its own line");

#define LOG_CHECKSUMMED __builtin_offsetof(struct log_header, checksum)

/* The tag of end offset off in the pool with this UUID. */
static inline uint64_t
log_tag(uint64_t off, const uint8_t uuid[16])
{
	uint64_t u;
	__builtin_memcpy(&u, uuid, 8);
	return (mix64(off ^ u) >> 48) & 0xffff;
}

static inline uint64_t
log_word(uint64_t off, const uint8_t uuid[16])
{
	return off | log_tag(off, uuid) << LOG_OFFSET_BITS;
}

#endif
