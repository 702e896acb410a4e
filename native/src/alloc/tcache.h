/*
 * tcache.h -- thread caches: the lock-free common path of malloc and free
 *
 * Glossary: tcache = one thread's cache for one heap (a stack of free objects per
 * cached class); set = a heap's caches and what they draw on; fill = objects
 * from the arena's bin into an empty stack; flush = the oldest half of a full
 * stack back to the slabs. Which thread owns which cache is the heap's business.
 *
 * Reclaim: when a heap runs short, it empties every thread's cache. The owner
 * marks itself busy around each touch of its bins; a reclaimer sets `steal` on
 * the others, issues a process-wide fence (membarrier) so each owner either sees
 * steal or has shown busy, waits out busy, and empties the bins. An owner that
 * sees steal takes its slow path, which waits on the set's lock.
 */
#ifndef PMALLOC_TCACHE_H
#define PMALLOC_TCACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "alloc/arena.h"
#include "alloc/extent.h"
#include "alloc/large.h"
#include "alloc/sizeclass.h"

struct tcache;

/* A heap's caches, and what they fill from and flush to. */
struct tcache_set {
	pthread_mutex_t lock;         /* guards the list; held through a reclaim */
	struct tcache *head;          /* every thread's cache of the heap */
	struct extents *ext;          /* where caches live and large objects come from */
	struct arena *arenas;         /* where small objects come from and go back to */
	unsigned narenas;
	_Atomic unsigned next_arena;  /* round robin for new caches */
	struct large_stats *large;    /* counters of large allocations */
	size_t large_bytes;           /* capacity of a large class's bin, in bytes */
};

struct tcache_bin {
	void **stack;                 /* cached objects, most recent last */
	_Atomic uint16_t ncached;     /* objects in stack (relaxed: read by stats) */
	uint16_t ncache_max;          /* capacity */
};

#define TCACHE_NCACHE_MAX 128         /* the largest bin capacity */

struct tcache {
	_Atomic int busy;             /* the owner is touching its bins */
	_Atomic int steal;            /* a reclaimer is emptying them */
	struct arena *arena;          /* where small fills come from */
	struct tcache *prev, *next;   /* the set's list */
	struct extent *ext;           /* the pages this cache lives in */
	struct tcache_bin bins[NCACHED];
};

/* Set up s over a heap's extents, arenas and large counters (region_size bytes). */
void tcache_set_init(struct tcache_set *s, struct extents *x, struct arena *arenas,
		unsigned narenas, struct large_stats *large, size_t region_size);

/* A new cache in s, for the calling thread; NULL + ENOMEM. */
struct tcache *tcache_create(struct tcache_set *s);

/* tcache_enter -- the owner is about to touch its bins; false (not busy) while a
 * reclaim empties them: then take a slow path, which waits for it. */
static inline bool
tcache_enter(struct tcache *tc)
{
	atomic_store_explicit(&tc->busy, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	if (likely(!atomic_load_explicit(&tc->steal, memory_order_relaxed)))
		return true;
	atomic_store_explicit(&tc->busy, 0, memory_order_release);
	return false;
}

/* tcache_leave -- the owner is done with its bins. */
static inline void
tcache_leave(struct tcache *tc)
{
	atomic_store_explicit(&tc->busy, 0, memory_order_release);
}

/* tcache_pop -- the owner takes an object of class ind from its cache; NULL
 * when the bin is empty or a reclaim is under way (then: tcache_alloc_slow). */
static inline void *
tcache_pop(struct tcache *tc, unsigned ind)
{
	void *p = NULL;
	if (likely(tcache_enter(tc))) {
		struct tcache_bin *b = &tc->bins[ind];
		uint16_t n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
		if (likely(n != 0)) {
			atomic_store_explicit(&b->ncached, (uint16_t)(n - 1), memory_order_relaxed);
			p = b->stack[n - 1];
			if (p == NULL)          /* never cached: spares the caller a test */
				__builtin_unreachable();
		}
		tcache_leave(tc);
	}
	return p;
}

/* tcache_push -- the owner caches p of class ind; false when the bin is full or
 * a reclaim is under way (then: tcache_free_slow). */
static inline bool
tcache_push(struct tcache *tc, unsigned ind, void *p)
{
	bool done = false;
	if (likely(tcache_enter(tc))) {
		struct tcache_bin *b = &tc->bins[ind];
		uint16_t n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
		if (likely(n < b->ncache_max)) {
			b->stack[n] = p;
			atomic_store_explicit(&b->ncached, (uint16_t)(n + 1), memory_order_relaxed);
			done = true;
		}
		tcache_leave(tc);
	}
	return done;
}

/* After tcache_pop failed: an object of class szind, the bin refilled (or a
 * large extent made); NULL + ENOMEM (the heap reclaims and retries). */
void *tcache_alloc_slow(struct tcache_set *s, struct tcache *tc, unsigned szind);

/* After tcache_push failed: cache p, flushing the oldest half of a full bin. */
void tcache_free_slow(struct tcache_set *s, struct tcache *tc, unsigned szind, void *p);

/* Return every object cached in s to the arenas: mine (the caller's cache, or
 * NULL) directly, every other cache through the steal handshake. */
void tcache_reclaim(struct tcache_set *s, struct tcache *mine);

/* Flush tc, take it off s's list and free it (thread exit; forked child). */
void tcache_destroy(struct tcache_set *s, struct tcache *tc);

#endif
