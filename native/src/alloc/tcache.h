/*
 * tcache.h -- thread caches: the lock-free common path of malloc and free
 *
 * Glossary: tcache = one thread's cache for one heap (a stack of free objects per
 * cached class); tsd = the thread's state: a one-entry cache of its last heap's
 * tcache plus a slot per heap id; serial = a heap's never-reused number, so a slot
 * of a deleted heap is recognised and never touched.
 */
#ifndef PMALLOC_TCACHE_H
#define PMALLOC_TCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "alloc/sizeclass.h"

struct heap;
struct arena;
struct extent;

struct tcache_bin {
	void **stack;                 /* cached objects, most recent last */
	_Atomic uint16_t ncached;     /* objects in stack (relaxed: read by stats) */
	uint16_t ncache_max;          /* capacity */
};

#define TCACHE_NCACHE_MAX 128         /* the largest bin capacity */

struct tcache {
	_Atomic int busy;             /* the owner is touching its bins */
	_Atomic int steal;            /* a reclaimer is emptying them */
	struct heap *heap;            /* owner */
	struct arena *arena;          /* where small fills come from */
	struct tcache *prev, *next;   /* the heap's list of caches */
	struct extent *ext;           /* the pages this cache lives in */
	struct tcache_bin bins[NCACHED];
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

/* tcache_get's slow path: another heap's cache was the last one used, or none. */
struct tcache *tcache_get_slow(struct heap *h);

/* The calling thread's cache for h (whose serial is given), created on first use;
 * NULL if none can be. */
static inline struct tcache *
tcache_get(struct heap *h, uint64_t serial)
{
	struct tsd *t = &tsd_tls;
	if (likely(t->serial == serial))
		return t->tc;
	return tcache_get_slow(h);
}

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
 * large extent made); NULL + ENOMEM. */
void *tcache_alloc_slow(struct heap *h, struct tcache *tc, unsigned szind);

/* After tcache_push failed: cache p, flushing the oldest half of a full bin. */
void tcache_free_slow(struct heap *h, struct tcache *tc, unsigned szind, void *p);

/* Return every object cached by any thread for h to the arenas: the calling
 * thread's cache, and every other thread's (see Reclaim above). */
void tcache_reclaim(struct heap *h);

/* The calling thread's cache for h if it has one (no creation). */
struct tcache *tcache_peek(struct heap *h);

/* Flush and free tc, which belongs to h (thread exit; forked child). */
void tcache_destroy(struct heap *h, struct tcache *tc);

/* Flush and free the calling thread's caches of every heap, as at thread exit,
 * though the thread goes on (it gets new caches if it allocates again). */
void tcache_thread_flush(void);

#endif
