/*
 * rtree.h -- owner lookup: address -> heap id, lock-free for readers
 *
 * A two-level radix tree over 2 MiB chunks of the 48-bit address space. A chunk
 * can hold the tail of one region and the head of the next (regions are at least
 * 14 MiB), so an entry is two ids and the page where the second begins.
 */
#ifndef PMALLOC_RTREE_H
#define PMALLOC_RTREE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/* Map [base, base + size) to id; false when a leaf cannot be allocated.
 * Writers are serialised by the caller (the heap registry lock). */
bool rtree_set(uintptr_t base, size_t size, unsigned id);

/* Forget id over [base, base + size). */
void rtree_clear(uintptr_t base, size_t size, unsigned id);

#define RT_LG_CHUNK 21
#define RT_L2_BITS 14
#define RT_L1_BITS (48 - RT_LG_CHUNK - RT_L2_BITS)
#define RT_CHUNK_PAGES ((uintptr_t)1 << (RT_LG_CHUNK - LG_PAGE))

/* The root: leaves of 2^RT_L2_BITS entries, one per 2 MiB chunk. An entry is
 * lo id | hi id << 16 | split page << 32; pages below split are lo's. */
extern _Atomic(_Atomic uint64_t *) rt_root[(size_t)1 << RT_L1_BITS];

/* The id of the region that may hold p (0: none); the caller checks bounds. Inline:
 * free() without a heap takes it on every call. */
static inline unsigned
rtree_lookup(const void *p)
{
	uintptr_t chunk = (uintptr_t)p >> RT_LG_CHUNK, i = chunk >> RT_L2_BITS;
	if (i >= ((uintptr_t)1 << RT_L1_BITS))
		return 0;
	_Atomic uint64_t *leaf = atomic_load_explicit(&rt_root[i], memory_order_acquire);
	if (!leaf)
		return 0;
	uint64_t e = atomic_load_explicit(&leaf[chunk & (((uintptr_t)1 << RT_L2_BITS) - 1)],
			memory_order_acquire);
	unsigned page = (unsigned)(((uintptr_t)p >> LG_PAGE) & (RT_CHUNK_PAGES - 1));
	return page < (unsigned)(e >> 32) ? (unsigned)(e & 0xffff) : (unsigned)((e >> 16) & 0xffff);
}

#endif
