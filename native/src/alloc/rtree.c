/*
 * rtree.c -- the owner radix tree (2 MiB chunks -> two heap ids and a split page)
 */
#include <stdatomic.h>
#include <sys/mman.h>

#include "alloc/rtree.h"
#include "common/util.h"

_Atomic(_Atomic uint64_t *) rt_root[(size_t)1 << RT_L1_BITS];

static _Atomic uint64_t *
leaf_of(uintptr_t chunk, bool create)
{
	size_t i = chunk >> RT_L2_BITS;
	if (i >= ((size_t)1 << RT_L1_BITS))
		return NULL;
	_Atomic uint64_t *leaf = atomic_load_explicit(&rt_root[i], memory_order_acquire);
	if (!leaf && create) {
		void *p = mmap(NULL, sizeof(uint64_t) << RT_L2_BITS, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		leaf = p;
		atomic_store_explicit(&rt_root[i], leaf, memory_order_release);
	}
	return leaf ? &leaf[chunk & (((uintptr_t)1 << RT_L2_BITS) - 1)] : NULL;
}

static uint64_t
pack(unsigned lo, unsigned hi, unsigned split)
{
	return (uint64_t)lo | (uint64_t)hi << 16 | (uint64_t)split << 32;
}

bool
rtree_set(uintptr_t base, size_t size, unsigned id)
{
	uintptr_t end = base + size;
	uintptr_t first = base >> RT_LG_CHUNK, last = (end - 1) >> RT_LG_CHUNK;
	for (uintptr_t c = first; c <= last; c++)
		if (!leaf_of(c, true))
			return false;
	for (uintptr_t c = first; c <= last; c++) {
		_Atomic uint64_t *slot = leaf_of(c, false);
		uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
		unsigned lo = old & 0xffff, hi = (old >> 16) & 0xffff, split = (unsigned)(old >> 32);
		unsigned sp = c == first ? (unsigned)((base >> LG_PAGE) & (RT_CHUNK_PAGES - 1)) : 0;
		unsigned ep = c == last && (end & (((uintptr_t)1 << RT_LG_CHUNK) - 1))
			? (unsigned)((end >> LG_PAGE) & (RT_CHUNK_PAGES - 1)) : (unsigned)RT_CHUNK_PAGES;
		if (sp == 0 && ep == RT_CHUNK_PAGES)
			lo = hi = id, split = 0;
		else if (sp > 0 && ep == RT_CHUNK_PAGES)
			hi = id, split = sp;
		else if (sp == 0)
			lo = id, split = ep;
		else            /* a region inside one chunk: below the 14 MiB minimum */
			lo = hi = id, split = 0;
		atomic_store_explicit(slot, pack(lo, hi, split), memory_order_release);
	}
	return true;
}

void
rtree_clear(uintptr_t base, size_t size, unsigned id)
{
	uintptr_t first = base >> RT_LG_CHUNK, last = (base + size - 1) >> RT_LG_CHUNK;
	for (uintptr_t c = first; c <= last; c++) {
		_Atomic uint64_t *slot = leaf_of(c, false);
		if (!slot)
			continue;
		uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
		unsigned lo = old & 0xffff, hi = (old >> 16) & 0xffff, split = (unsigned)(old >> 32);
		if (lo == id)
			lo = 0;
		if (hi == id)
			hi = 0;
		atomic_store_explicit(slot, pack(lo, hi, split), memory_order_release);
	}
}

