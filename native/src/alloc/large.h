/*
 * large.h -- large and huge allocations: one extent each
 *
 * Sizes above the slab classes are whole page runs straight from the extent
 * allocator. Glossary: large = a page-run class (up to LARGE_MAX), cached by
 * thread caches; huge = beyond, page-map szind SZIND_HUGE, never cached.
 */
#ifndef PMALLOC_LARGE_H
#define PMALLOC_LARGE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/extent.h"

/* Counters of a heap's large allocations (relaxed: read by stats). */
struct large_stats {
	_Atomic uint64_t nmalloc;     /* allocations made */
	_Atomic uint64_t nfree;       /* allocations freed */
	_Atomic uint64_t bytes;       /* usable bytes of live allocations */
};

/* The page-map szind of a large or huge usable size. */
unsigned large_szind(size_t usize);

/* npages pages aligned to align, zeroed when zero, registered with szind; NULL + ENOMEM. */
void *large_alloc(struct extents *x, struct large_stats *ls, size_t npages, size_t align,
		bool zero, unsigned szind);

/* Free the large extent e: dirty for reuse, or punched at once (discard). */
void large_free(struct extents *x, struct large_stats *ls, struct extent *e, bool discard);

/* Resize the large extent e in place to usize bytes; false if it cannot. */
bool large_resize(struct extents *x, struct large_stats *ls, struct extent *e, size_t usize);

#endif
