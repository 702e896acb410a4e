/*
 * pagemap.h -- extent descriptors, and the page map that finds them
 *
 * Glossary: extent = a run of whole pages, described by a descriptor (struct
 * extent) kept off the data in metadata chunks; pagemap = one word per data page
 * (descriptor | ~szind << 56) that turns an address into its extent.
 *
 * Page map invariants: every page of a slab maps to the slab; the first and last
 * page of any other extent map to it; every other page maps to 0.
 */
#ifndef PMALLOC_PAGEMAP_H
#define PMALLOC_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "alloc/sizeclass.h"
#include "common/util.h"

enum extent_state {
	EXTENT_DIRTY,    /* free, may hold stale data */
	EXTENT_CLEAN,    /* free, purged or never touched */
	EXTENT_PURGING,  /* taken off the free lists while its pages are punched */
	EXTENT_SLAB,     /* objects of one small class */
	EXTENT_LARGE,    /* one large or huge allocation */
	EXTENT_META,     /* descriptors or a thread cache */
};

#define SZIND_HUGE NCLASSES    /* page-map szind of a huge allocation */
struct extent {
	uintptr_t addr;               /* first byte */
	size_t npages;                /* length in pages */
	struct extent *prev, *next;   /* free bin heap (ph.h), or the bin's non-full slab list */
	struct extent *lru_prev, *lru_next; /* dirty LRU */
	uint64_t tstamp;              /* when it became dirty (ms) */
	uint8_t state;                /* enum extent_state */
	uint8_t szind;                /* class of a slab or large extent */
	uint8_t zeroed;               /* contents known to be zero */
	uint8_t arena;                /* owning arena of a slab */
	uint8_t backed;               /* pages reserved (always, once in use) */
	uint16_t nfree;               /* free objects of a slab */
	union {
		uint64_t bitmap[SLAB_BITMAP_WORDS]; /* slab: 1 = free object */
		struct extent *child;         /* free bin heap: first child */
	};
};

struct pagemap {
	uint64_t *map;     /* one entry per data page */
	uintptr_t base;    /* first data byte */
	size_t limit;      /* data bytes */
};

/* ---- page map ----------------------------------------------------------- */

/* szind is stored complemented so that an empty entry (0) reads as SZIND_NONE */
static inline uint64_t
pm_entry(struct extent *e, unsigned szind)
{
	return (uint64_t)(uintptr_t)e | ((uint64_t)(uint8_t)~szind << 56);
}

static inline struct extent *
pm_extent(uint64_t ent)
{
	return (struct extent *)(uintptr_t)(ent & ((UINT64_C(1) << 56) - 1));
}

static inline unsigned
pm_szind(uint64_t ent)
{
	return (unsigned)(uint8_t)~(ent >> 56);
}

/* The entry of the page holding p; 0 when p lies outside the data pages. */
static inline uint64_t
pm_lookup(const struct pagemap *pm, const void *p)
{
	uintptr_t off = (uintptr_t)p - pm->base;
	if (unlikely(off >= pm->limit))
		return 0;
	return pm->map[off >> LG_PAGE];
}

/* ---- lists (free bins, non-full slabs) ---------------------------------- */

static inline void
extent_list_push(struct extent **head, struct extent *e)
{
	e->prev = NULL;
	e->next = *head;
	if (*head)
		(*head)->prev = e;
	*head = e;
}

static inline void
extent_list_remove(struct extent **head, struct extent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		*head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

#endif
