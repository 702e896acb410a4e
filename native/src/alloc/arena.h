/*
 * arena.h -- arenas: independently locked sets of bins
 *
 * Threads are spread over a heap's arenas so their slab traffic rarely meets on
 * a lock. A slab belongs to one arena (its descriptor says which), so objects
 * go back to the arena they came from, whoever frees them.
 */
#ifndef PMALLOC_ARENA_H
#define PMALLOC_ARENA_H

#include "alloc/bin.h"
#include "alloc/extent.h"
#include "alloc/sizeclass.h"

struct arena {
	unsigned ind;             /* index in the heap's arena array */
	struct bin bins[NSMALL];  /* one per small class */
};

/* Initialise arena number ind. */
void arena_init(struct arena *a, unsigned ind);

/* Return n objects of small class szind, allocated from the arenas, to their slabs. */
void arena_flush(struct arena *arenas, struct extents *x, unsigned szind, void *const *ptrs,
		unsigned n);

#endif
