/*
 * extent.h -- extents: page runs of a heap's region, and the allocator over them
 *
 * Glossary (extent and page map: pagemap.h): pind = page size class of a free
 * run (four per doubling), the index of its free bin; dirty = free pages that may hold data and memory; clean = purged (or never
 * used) pages; LRU = dirty extents, oldest first, the order decay purges them in;
 * backed = the pages have storage in the region's file (region.h: reserve): a
 * region that needs it gets every page reserved before it is handed out, and
 * every page of the page map before an entry on it is written.
 */
#ifndef PMALLOC_EXTENT_H
#define PMALLOC_EXTENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/pagemap.h"
#include "alloc/region.h"
#include "alloc/sizeclass.h"
#include "common/util.h"

#define NPBINS 144             /* free bins: page counts up to 2^36 */
#define PBIN_WORDS ((NPBINS + 63) / 64)

/* The extent allocator of one region: its page map and free runs. */
struct extents {
	struct pagemap pm;                     /* address -> extent (fixed) */
	struct region *region;                 /* the memory (fixed) */
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
	uint64_t purged_bytes;                 /* punched out since creation */
	uint64_t purge_calls;                  /* system calls that punched them */
	_Atomic uint64_t reserve_calls;        /* system calls that reserved pages */
	_Atomic bool has_dirty;                /* the LRU is not empty (read without the lock) */
	_Atomic bool background;               /* the purger thread looks after it */
	_Atomic long decay_ms;                 /* its own decay time, or -1: the process's */
	bool can_purge;                        /* the region gives pages back */
	bool reserve;                          /* pages must be reserved before use */
	uint64_t *pm_backed;                   /* a bit per page-map page: reserved */
};

/* ---- extent.c ----------------------------------------------------------- */

/* Words of the pm_backed bitmap for a page map of npages entries. */
static inline size_t
extents_pm_words(size_t npages)
{
	size_t pm_pages = (npages * sizeof(uint64_t) + PAGE - 1) >> LG_PAGE;
	return (pm_pages + 63) / 64;
}

/* Set up the allocator over the data pages of pm in region r, with pm_backed
 * (zeroed, extents_pm_words long); 0, or -1 + errno + message (too small; no
 * room to reserve the first pages). */
int extents_init(struct extents *x, struct region *r, const struct pagemap *pm, bool zeroed,
		uint64_t *pm_backed);

/* Pages aligned to align bytes (a power of two >= PAGE), in `state`, registered
 * in the page map with szind, reserved; NULL + ENOMEM when nothing fits or the
 * region's file system has no room. */
struct extent *extent_alloc(struct extents *x, size_t npages, size_t align,
		enum extent_state state, unsigned szind);

/* Return an extent to the free pages (dirty), coalescing; may purge. */
void extent_free(struct extents *x, struct extent *e);

/* Return an extent to the free pages punched out at once (clean): for stale
 * contents nobody will want soon, such as a block realloc moved. */
void extent_discard(struct extents *x, struct extent *e);

/* Grow a large extent in place to npages, taking free pages after it. */
bool extent_grow(struct extents *x, struct extent *e, size_t npages, unsigned szind);

/* Shrink a large extent in place to npages, freeing its tail. */
bool extent_shrink(struct extents *x, struct extent *e, size_t npages, unsigned szind);

/* Purge dirty pages: all of them, or those dirty for the decay time. Returns when
 * the oldest dirty run left is due (ms, util_now_ms's clock), UINT64_MAX if none. */
uint64_t extent_purge(struct extents *x, bool all);

/* Give x a decay time of its own (ms; -1: back to the process's). */
void extents_set_decay(struct extents *x, long ms);

/* Milliseconds a dirty page may wait before decay purges it. */
long extent_decay_ms(void);

/* 0 when PMALLOC_DECAY_MS is unset or valid; else -1 + EINVAL + message. */
int extent_decay_check(void);

/* Before fork, every lock held: copy the reserved page-map pages and the pages
 * of every extent in use into c, the child's copy; 0 or -1. */
int extents_fork_copy(struct extents *x, const struct region_copy *c);

/* The region was remapped (a forked child, or a heap moved back onto a file):
 * runs a thread was punching (not here any more) go back to the free runs;
 * after a copy (extents_fork_copy) every free run is a clean hole. */
void extents_remapped(struct extents *x, bool copied);

/* Walk the page map and the free bins; 1 consistent, 0 not (message set). */
int extents_check(struct extents *x);

#endif
