/*
 * obj.h -- an open object pool (the struct behind PMEMobjpool) and its lanes
 *
 * pool.c creates, opens, recovers and closes pools and keeps the registry that
 * maps a PMEMoid's pool_uuid_lo or an address to its pool; everything above it
 * (palloc.c, oid.c, tx.c, action.c, sync.c) takes a pool from there.
 *
 * Glossary: lane = one of nlanes log areas; a thread holds one for a change
 * (an atomic allocation, or a transaction from its first logged change to its
 * end); run_id = a random number per open: a PMEMmutex whose runid differs was
 * last used by an earlier open and is initialised again.
 */
#ifndef PMALLOC_OBJ_H
#define PMALLOC_OBJ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obj/obj_layout.h"
#include "obj/pheap.h"
#include "obj/ulog.h"
#include "pmem/pmemops.h"

struct pmemobjpool {
	char *base;                           /* the mapping */
	size_t size;
	bool unmap;                           /* close unmaps (pmemobj_open/create) */
	const struct pmem_ops *ops;
	struct obj_header *hdr;
	struct obj_state *state;
	uint64_t uuid_lo;                     /* what PMEMoids of this pool carry */
	uint64_t run_id;
	unsigned nlanes;
	struct lane_layout *lanes;
	atomic_int *lane_busy;
	_Atomic uint64_t *stale;              /* per lane: its stale record's token, or 0 */
	_Atomic uint64_t seq;                 /* the next record's sequence number */
	struct pheap heap;
	pthread_mutex_t root_lock;            /* root creation and growth */
	atomic_uint txs;                      /* transactions open on it (all threads) */
	void *user_data;
};

/* ---- pool.c ---------------------------------------------------------------- */

/* Bumped when a pool closes: caches of pool addresses compare it. */
extern atomic_uint pool_reg_gen;

/* The open pool whose PMEMoids carry uuid_lo, or NULL. */
struct pmemobjpool *pool_by_uuid(uint64_t uuid_lo);

/* The open pool mapping addr, or NULL. */
struct pmemobjpool *pool_by_addr(const void *addr);

/* A free lane, held until lane_release (waits while all are held). */
unsigned lane_hold(struct pmemobjpool *pop);

void lane_release(struct pmemobjpool *pop, unsigned lane);

/* The logs of lane i. */
static inline struct ulog_ctx
lane_ctx(const struct pmemobjpool *pop, unsigned i)
{
	return (struct ulog_ctx){ .base = pop->base, .size = pop->size, .ops = pop->ops,
		.lane = &pop->lanes[i], .heap_off = pop->hdr->heap_off };
}

static inline uint64_t
pool_off(const struct pmemobjpool *pop, const void *p)
{
	return (uint64_t)((const char *)p - pop->base);
}

/* Whether [p, p + len) lies in the pool. */
static inline bool
pool_holds(const struct pmemobjpool *pop, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)pop->base;
	return a >= b && a - b <= pop->size && len <= pop->size - (a - b);
}

#endif
