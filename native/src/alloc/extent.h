/*
 * extent.h -- extents: page runs of a heap's region, and the allocator over them
 *
 * Glossary: extent = a run of whole pages, described by a descriptor (struct
 * extent) kept off the data in metadata chunks; pagemap = one word per data page
 * (descriptor | ~szind << 56) that turns an address into its extent; pind = page
 * size class of a free run (four per doubling), the index of its free bin;
 * dirty = free pages that may hold data and memory; clean = purged (or never
 * used) pages; LRU = dirty extents, oldest first, the order decay purges them in;
 * backed = the pages have storage in the region's file (region.h: reserve): a
 * region that needs it gets every page reserved before it is handed out, and
 * every page of the page map before an entry on it is written.
 *
 * Page map invariants: every page of a slab maps to the slab; the first and last
 * page of any other extent map to it; every other page maps to 0.
 */
#ifndef PMALLOC_EXTENT_H
#define PMALLOC_EXTENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/region.h"
#include "alloc/sizeclass.h"
#include "common/util.h"

struct heap;

enum extent_state {
	EXTENT_DIRTY,    /* free, may hold stale data */
	EXTENT_CLEAN,    /* free, purged or never touched */
	EXTENT_PURGING,  /* taken off the free lists while its pages are punched */
	EXTENT_SLAB,     /* objects of one small class */
	EXTENT_LARGE,    /* one large or huge allocation */
	EXTENT_META,     /* descriptors or a thread cache */
};

#define SZIND_HUGE NCLASSES    /* page-map szind of a huge allocation */
#define NPBINS 144             /* free bins: page counts up to 2^36 */
#define PBIN_WORDS ((NPBINS + 63) / 64)

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

struct extents {
	pthread_mutex_t lock;                  /* guards everything below */
	pthread_cond_t purged;                 /* signalled when a purge batch is back */
	struct extent *bins[2][NPBINS];        /* [clean][pind] free heaps (ph.h) */
	uint64_t nonempty[2][PBIN_WORDS];      /* which bins hold extents */
	struct extent *lru_head, *lru_tail;    /* dirty extents, oldest first */
	struct extent *desc_free;              /* unused descriptors */
	size_t dirty_pages;                    /* pages in dirty extents */
	size_t active_pages;                   /* pages in slabs and large extents */
	size_t meta_pages;                     /* pages in metadata extents */
	size_t purging_pages;                  /* pages off the lists while punched */
	size_t dirty_min_pages;                /* dirty pages always tolerated */
	uint64_t next_decay_ms;                /* next time decay looks at the LRU */
	uint64_t purged_bytes;                 /* punched out since creation */
	bool can_purge;                        /* the region gives pages back */
	bool reserve;                          /* pages must be reserved before use */
	uint64_t *pm_backed;                   /* a bit per page-map page: reserved */
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

/* ---- extent.c ----------------------------------------------------------- */

/* Words of the pm_backed bitmap for a page map of npages entries. */
static inline size_t
extents_pm_words(size_t npages)
{
	size_t pm_pages = (npages * sizeof(uint64_t) + PAGE - 1) >> LG_PAGE;
	return (pm_pages + 63) / 64;
}

/* Set up the allocator over [base, base + npages pages), with pm_backed (zeroed,
 * extents_pm_words long); 0, or -1 + errno + message (too small; no room to
 * reserve the first pages). */
int extents_init(struct heap *h, uintptr_t base, size_t npages, bool zeroed,
		uint64_t *pm_backed);

/* Pages aligned to align bytes (a power of two >= PAGE), in `state`, registered
 * in the page map with szind, reserved; NULL + ENOMEM when nothing fits or the
 * region's file system has no room. */
struct extent *extent_alloc(struct heap *h, size_t npages, size_t align,
		enum extent_state state, unsigned szind);

/* Return an extent to the free pages (dirty), coalescing; may purge. */
void extent_free(struct heap *h, struct extent *e);

/* Grow a large extent in place to npages, taking free pages after it. */
bool extent_grow(struct heap *h, struct extent *e, size_t npages, unsigned szind);

/* Shrink a large extent in place to npages, freeing its tail. */
bool extent_shrink(struct heap *h, struct extent *e, size_t npages, unsigned szind);

/* Purge dirty pages: all of them, or only what decay and the dirty cap ask. */
void extent_purge(struct heap *h, bool all);

/* Milliseconds a dirty page may wait before decay purges it. */
long extent_decay_ms(void);

/* 0 when PMALLOC_DECAY_MS is unset or valid; else -1 + EINVAL + message. */
int extent_decay_check(void);

/* Before fork, every lock held: copy the reserved page-map pages and the pages
 * of every extent in use into c, the child's copy; 0 or -1. */
int extents_fork_copy(struct heap *h, const struct region_copy *c);

/* The region was remapped (a forked child, or a heap moved back onto a file):
 * runs a thread was punching (not here any more) go back to the free runs;
 * after a copy (extents_fork_copy) every free run is a clean hole. */
void extents_remapped(struct heap *h, bool copied);

/* Walk the page map and the free bins; 1 consistent, 0 not (message set). */
int extents_check(struct heap *h);

#endif
