/*
 * heap.h -- heaps: what a pool, a kind or the preload shim owns
 *
 * A heap is arenas, thread caches and an extent allocator over one region. Its
 * header sits at the start of the region, then the page map, then data pages.
 * heap.c makes, registers and destroys heaps, gives each thread its caches, owns
 * the lock order and handles fork; heap_alloc.c is the malloc family over them.
 *
 * Glossary: id = small reusable number (registry slot, owner radix tree);
 * serial = never reused (thread slots); magic = marks a live heap header; tsd =
 * a thread's state: a one-entry cache of its last heap's tcache plus a slot per
 * heap id.
 *
 * Lock order: registry, a heap's cache set, its bins (arena by arena), its extents.
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
#include "alloc/large.h"
#include "alloc/region.h"
#include "alloc/rtree.h"
#include "alloc/tcache.h"

#define HEAP_MAGIC UINT64_C(0x706d616c6c6f6348)  /* "pmallocH" */
#define HEAP_MAX_ARENAS 64
#define HEAP_MAX_IDS 65535

struct heap {
	uint64_t magic;             /* HEAP_MAGIC while alive */
	uint64_t serial;            /* never reused */
	unsigned id;                /* registry slot, 1..HEAP_MAX_IDS */
	struct region region;       /* the memory (the header is inside it) */
	struct extents ext;         /* page map and free pages */
	struct tcache_set tcs;      /* every thread's cache of this heap */
	struct large_stats large;   /* large allocations */
	unsigned narenas;
	struct arena arenas[];      /* narenas of them */
};

struct tsd_slot {
	uint64_t serial;              /* heap serial the cache belongs to */
	struct tcache *tc;
};

enum tsd_state { TSD_LIVE, TSD_DEAD };

struct tsd {
	uint64_t serial;              /* heap serial of tc (0: none) */
	struct tcache *tc;            /* the last heap's cache */
	struct tsd_slot *slots;       /* by heap id (mmap'ed) */
	unsigned nslots;
	int state;                    /* enum tsd_state: DEAD after thread exit */
};

extern __thread struct tsd tsd_tls TLS_HOT;

/* A heap over the region r (copied into the header); NULL + errno. */
struct heap *heap_create(const struct region *r);

/* Tear h down and release its region. */
void heap_destroy(struct heap *h);

/* Every live heap by id (the registry's; readers need no lock). */
extern _Atomic(struct heap *) heap_table[HEAP_MAX_IDS + 1];

/* Bumped by every heap_destroy: a cache of "the heap at this address" taken at an
 * older generation may name a heap that is gone. */
extern _Atomic unsigned heap_generation;

/* The heap with this id, or NULL. */
static inline struct heap *
heap_by_id(unsigned id)
{
	if (id == 0 || id > HEAP_MAX_IDS)
		return NULL;
	return atomic_load_explicit(&heap_table[id], memory_order_acquire);
}

/* The live heap whose region holds p, or NULL: a lock-free radix lookup, inline
 * because free() without a heap argument takes it on every call. */
static inline struct heap *
heap_of(const void *p)
{
	struct heap *h = heap_by_id(rtree_lookup(p));
	if (!h)
		return NULL;
	uintptr_t off = (uintptr_t)p - (uintptr_t)h->region.base;
	return off < h->region.size ? h : NULL;
}

/* heap_tcache's slow path: another heap's cache was the last one used, or none. */
struct tcache *heap_tcache_slow(struct heap *h);

/* The calling thread's cache of h, created on first use; NULL if none can be. */
static inline struct tcache *
heap_tcache(struct heap *h)
{
	struct tsd *t = &tsd_tls;
	if (likely(t->serial == h->serial))
		return t->tc;
	return heap_tcache_slow(h);
}

/* The calling thread's cache of h if it has one (no creation). */
struct tcache *heap_tcache_peek(struct heap *h);

/* Flush and free the calling thread's caches of every heap, as at thread exit,
 * though the thread goes on (it gets new caches if it allocates again). */
void heap_thread_flush(void);

/* Give back what every thread holds idle: cached objects and every empty
 * current slab (exhaustion, explicit purge). */
void heap_reclaim(struct heap *h);

/* Move h back onto a file of its own if forks made it copy-on-write and have
 * stopped (region.h: rehome); the slow paths call it when region.rehome is set. */
void heap_rehome(struct heap *h);

/* Lock and unlock every lock of h, in order (stats, check, fork). */
void heap_lock_all(struct heap *h);
void heap_unlock_all(struct heap *h);

#endif
