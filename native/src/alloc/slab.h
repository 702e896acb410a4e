/*
 * slab.h -- slabs: an extent carved into objects of one small class
 *
 * A slab's bitmap (in its descriptor, bit set = free) is guarded by the lock of
 * the bin the slab belongs to. Glossary: reg = one object slot.
 */
#ifndef PMALLOC_SLAB_H
#define PMALLOC_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/extent.h"
#include "alloc/sizeclass.h"

/* Mark every object of the new slab e (class szind, arena) free. */
void slab_init(struct extent *e, unsigned szind, unsigned arena);

/* Take up to n free objects, lowest addresses first; returns how many. */
unsigned slab_take(struct extent *e, unsigned szind, void **out, unsigned n);

/* The slot index of p, or -1 when p is not the start of a slot. */
static inline long
slab_index(const struct extent *e, unsigned szind, const void *p)
{
	const struct sizeclass *c = &sz_classes[szind];
	uintptr_t off = (uintptr_t)p - e->addr;
	uint64_t i = ((uint64_t)off * c->magic) >> 32;
	if (off >= e->npages * PAGE || i * c->size != off || i >= c->nregs)
		return -1;
	return (long)i;
}

/* True when slot i is allocated (its bit is clear). */
static inline bool
slab_is_allocated(const struct extent *e, long i)
{
	return !((e->bitmap[i / 64] >> (i % 64)) & 1);
}

/* Mark slot i free again. */
static inline void
slab_put(struct extent *e, long i)
{
	e->bitmap[i / 64] |= UINT64_C(1) << (i % 64);
	e->nfree++;
}

#endif
