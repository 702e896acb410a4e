/*
 * heap.h -- heaps: what a pool, a kind or the preload shim owns
 *
 * A heap is arenas, thread caches and an extent allocator over one region. Its
 * header sits at the start of the region, then the page map, then data pages.
 * Glossary: id = small reusable number (registry slot, owner radix tree);
 * serial = never reused (thread caches); magic = marks a live heap header.
 */
#ifndef PMALLOC_HEAP_H
#define PMALLOC_HEAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/arena.h"
#include "alloc/extent.h"
#include "alloc/region.h"
#include "alloc/tcache.h"
#include "pmalloc.h"

#define HEAP_MAGIC UINT64_C(0x706d616c6c6f6348)  /* "pmallocH" */
#define HEAP_MAX_ARENAS 64
#define HEAP_MAX_IDS 65535

struct heap {
	uint64_t magic;             /* HEAP_MAGIC while alive */
	uint64_t serial;            /* never reused */
	unsigned id;                /* registry slot, 1..HEAP_MAX_IDS */
	struct region region;       /* the memory (the header is inside it) */
	struct pagemap pm;          /* address -> extent */
	struct extents ext;         /* free pages */
	pthread_mutex_t tc_lock;    /* guards tcaches */
	struct tcache *tcaches;     /* every thread's cache of this heap */
	_Atomic uint64_t large_nmalloc; /* large allocations made */
	_Atomic uint64_t large_nfree;   /* large allocations freed */
	_Atomic uint64_t large_bytes;   /* usable bytes of live large allocations */
	_Atomic unsigned next_arena;    /* round robin for new caches */
	unsigned narenas;
	struct arena arenas[];      /* narenas of them */
};

/* A heap over the region r (copied into the header); NULL + errno. */
struct heap *heap_create(const struct region *r);

/* Tear h down and release its region. */
void heap_destroy(struct heap *h);

/* The live heap whose region holds p, or NULL. */
struct heap *heap_of(const void *p);

/* The live heap with registry id `id`, or NULL (caller holds heap_registry_lock). */
struct heap *heap_by_id(unsigned id);

/* Guards heap creation, destruction and thread-exit cache teardown. */
extern pthread_mutex_t heap_registry_lock;

/* Everything the inline paths below do not: caches to create, refill or flush,
 * large and huge sizes, pointers to check. Called as tail calls, so the fast
 * paths keep no registers across a call. */
void *heap_malloc_slow(struct heap *h, size_t size);
void heap_free_slow(struct heap *h, void *p);

/* malloc: NULL + ENOMEM when exhausted. */
static inline void *
heap_malloc(struct heap *h, size_t size)
{
	struct tsd *t = &tsd_tls;
	if (likely(size <= LUT_MAX && t->serial == h->serial)) {
		void *p = tcache_pop(t->tc, sz_lut[(size + 7) >> 3]);
		if (likely(p != NULL))
			return p;
	}
	return heap_malloc_slow(h, size);
}

/* free: NULL is ignored; a pointer h did not hand out sets errno EINVAL. */
static inline void
heap_free(struct heap *h, void *p)
{
	struct tsd *t = &tsd_tls;
	unsigned ind = pm_szind(pm_lookup(&h->pm, p));
	if (likely(ind < NSMALL && t->serial == h->serial && tcache_push(t->tc, ind, p)))
		return;
	heap_free_slow(h, p);
}

/* Give back what every thread holds idle: cached objects and every empty
 * current slab (exhaustion, explicit purge). */
void heap_reclaim(struct heap *h);

void *heap_calloc(struct heap *h, size_t nmemb, size_t size);
void *heap_realloc(struct heap *h, void *p, size_t size);
void *heap_aligned_alloc(struct heap *h, size_t align, size_t size);

/* The usable size of p, 0 for NULL or a pointer h did not hand out. */
size_t heap_usable_size(struct heap *h, const void *p);

/* ---- stats.c ------------------------------------------------------------ */

/* Whole-heap and per-class figures. */
void heap_stats(struct heap *h, struct pmalloc_stats *st);
int heap_class_stats(struct heap *h, struct pmalloc_class_stats *rows, size_t n);

/* Walk every structure: 1 consistent, 0 not (message set). */
int heap_check(struct heap *h);

/* Lock and unlock every lock of h, in order (fork, check). */
void heap_lock_all(struct heap *h);
void heap_unlock_all(struct heap *h);
void heap_reinit_locks(struct heap *h);

#endif
