/*
 * blk_layout.h -- a block pool on media (libpmemblk's format here, not PMDK's):
 * a BTT-style translation table, so every block write is power-fail atomic
 *
 *   [info 4 KiB][flog: 2 slots per lane][map: a 32-bit entry per block][data blocks]
 *   ... [backup info: the last 4 KiB]
 *
 * Glossary (the BTT's): LBA = external block number; ABA = internal data block;
 * map = LBA -> ABA; lane = a writer's slot, owning one free ABA; flog = each lane's
 * log of its last write (lba, old map entry, new map entry, sequence number), two
 * slots written alternately, the newer by sequence (1 -> 2 -> 3 -> 1).
 *
 * A write puts the data in its lane's free block, records {lba, old, new} in the
 * lane's older flog slot (lba and old first; new and seq by one 8-byte store),
 * then stores the map entry (4 bytes); the old block becomes the lane's free one.
 * Recovery reads each lane's newer slot: the map holds `new` (the write finished:
 * `old` is free) or `old` (it did not: `new` is free).
 *
 * A map entry of 0 is the initial state: LBA i -> ABA i, reading zeros (a new pool's
 * map is all zero, so creation writes no map). Otherwise MAP_SET | flags | ABA.
 */
#ifndef PMALLOC_BLK_LAYOUT_H
#define PMALLOC_BLK_LAYOUT_H

#include <stdint.h>

#include "common/checksum.h"

#define BLK_SIGNATURE "PMALLOCB"
#define BLK_MAJOR 1
#define BLK_MINOR 0
#define BLK_INFO_SIZE 4096
#define BLK_MAX_LANES 64

#define MAP_ABA_MASK UINT32_C(0x1fffffff)   /* ABAs below 2^29 */
#define MAP_SET UINT32_C(0x20000000)        /* an explicit entry (else: identity, zero) */
#define MAP_ZERO UINT32_C(0x40000000)       /* reads as zeros */
#define MAP_ERROR UINT32_C(0x80000000)      /* reads fail with EIO until written */

struct blk_info {
	char signature[8];          /* BLK_SIGNATURE */
	uint32_t major, minor;
	uint8_t uuid[16];
	uint64_t pool_size;         /* bytes, as created */
	uint32_t bsize;             /* the block size callers see */
	uint32_t ibsize;            /* a data block's size in the pool (bsize, 64-aligned) */
	uint32_t nlba;              /* blocks callers see */
	uint32_t nlanes;            /* lanes: free blocks, flog pairs */
	uint64_t flog_offset;
	uint64_t map_offset;
	uint64_t data_offset;       /* ABA 0; nlba + nlanes blocks */
	uint64_t backup_offset;     /* this header's copy */
	uint64_t checksum;          /* checksum64 of the bytes above */
};

#define BLK_CHECKSUMMED __builtin_offsetof(struct blk_info, checksum)

struct blk_flog {
	uint32_t lba;
	uint32_t old_map;
	uint32_t new_map;
	uint32_t seq;               /* 0: never written; else 1, 2, 3 */
};

_Static_assert(sizeof(struct blk_flog) == 16, "a flog slot is two 8-byte words");

/* The sequence number after s (1 -> 2 -> 3 -> 1). */
static inline uint32_t
flog_next(uint32_t s)
{
	return s % 3 + 1;
}

#endif
