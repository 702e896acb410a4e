/*
 * bin.h -- the slabs of one small size class in one arena
 *
 * Glossary: cur = the slab objects are taken from; nonfull = the arena's other
 * slabs of the class with free objects (full slabs are in no list; an empty slab
 * goes back to the extent allocator). fill = objects to a thread cache; flush =
 * objects back from one.
 */
#ifndef PMALLOC_BIN_H
#define PMALLOC_BIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "alloc/extent.h"

struct bin {
	pthread_mutex_t lock;     /* guards the bin and its slabs' bitmaps */
	struct extent *cur;       /* slab being allocated from */
	struct extent *nonfull;   /* other slabs with free objects */
	uint64_t nslabs;          /* slabs of this bin */
	uint64_t nused;           /* objects handed out (incl. thread caches) */
	uint64_t nmalloc;         /* objects ever handed out */
	uint64_t nfree;           /* objects ever returned */
};

/* Take up to n objects of class szind from bin b of arena number arena into out,
 * new slabs from x; returns how many (0: extent_alloc said why). */
unsigned bin_fill(struct bin *b, struct extents *x, unsigned arena, unsigned szind, void **out,
		unsigned n);

#define BIN_FLUSH_MAX 256

/* Return m objects of class szind (slot reg[i] of slab ext[i], every slab b's) to
 * their slabs; empty slabs go back to x. */
void bin_flush(struct bin *b, struct extents *x, unsigned szind, struct extent *const *ext,
		const long *reg, unsigned m);

/* Give back the bin's current slab if it is empty (explicit purge). */
/* Whether an object of slab e (of this bin) would be better elsewhere: e is not the
 * slab being allocated from, and holds fewer objects than the bin's slabs on average. */
bool bin_defrag_hint(struct bin *b, const struct extent *e);

void bin_release_empty(struct bin *b, struct extents *x, unsigned szind);

#endif
