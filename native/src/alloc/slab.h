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

struct extent;

/* Mark every object of the new slab e (class szind, arena) free. */
void slab_init(struct extent *e, unsigned szind, unsigned arena);

/* Take up to n free objects, lowest addresses first; returns how many. */
unsigned slab_take(struct extent *e, unsigned szind, void **out, unsigned n);

/* The slot index of p, or -1 when p is not the start of a slot. */
long slab_index(const struct extent *e, unsigned szind, const void *p);

/* True when slot i is allocated (its bit is clear). */
bool slab_is_allocated(const struct extent *e, long i);

/* Mark slot i free again. */
void slab_put(struct extent *e, long i);

#endif
