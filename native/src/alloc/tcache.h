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

struct tcache {
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

/* The calling thread's cache for h, created on first use; NULL if none can be. */
struct tcache *tcache_get(struct heap *h);

/* Refill the bin of szind and return one object; NULL + ENOMEM. */
void *tcache_alloc_slow(struct heap *h, struct tcache *tc, unsigned szind);

/* Flush the full bin of szind down to half and cache p. */
void tcache_free_slow(struct heap *h, struct tcache *tc, unsigned szind, void *p);

/* Return every cached object to the arenas. */
void tcache_flush_all(struct heap *h, struct tcache *tc);

/* The calling thread's cache for h if it has one (no creation). */
struct tcache *tcache_peek(struct heap *h);

/* Flush and free tc, which belongs to h (thread exit; forked child). */
void tcache_destroy(struct heap *h, struct tcache *tc);

#endif
