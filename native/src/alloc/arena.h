/*
 * arena.h -- arenas: independently locked sets of bins, and large allocations
 *
 * Threads are spread over a heap's arenas so their slab traffic rarely meets on
 * a lock. Large and huge allocations are whole extents and need no arena.
 */
#ifndef PMALLOC_ARENA_H
#define PMALLOC_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "alloc/bin.h"
#include "alloc/sizeclass.h"

struct heap;
struct extent;

struct arena {
	unsigned ind;             /* index in the heap's arena array */
	struct bin bins[NSMALL];  /* one per small class */
};

/* Initialise arena number ind. */
void arena_init(struct arena *a, unsigned ind);

/* A large (szind < NCLASSES) or huge (SZIND_HUGE) allocation of npages pages
 * aligned to align; zeroed when zero. NULL + ENOMEM. */
void *arena_large_alloc(struct heap *h, size_t npages, size_t align, bool zero,
		unsigned szind);

/* Free the large extent e. */
void arena_large_free(struct heap *h, struct extent *e);

/* Resize a large allocation in place to usize bytes; false if it cannot. */
bool arena_large_resize(struct heap *h, struct extent *e, size_t usize);

#endif
