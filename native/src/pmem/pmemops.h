/*
 * pmemops.h -- the persist-ops table: how a layer makes its stores durable
 *
 * log/, blk/ and obj/ never call pmem_persist or msync themselves: they hold a
 * `const struct pmem_ops *` chosen when their pool is opened (pmemops_for) and
 * call through it, so one code path serves real pmem (flush instructions),
 * files that need msync, volatile memory (no-ops) and the crash simulator.
 * pmemops.c sits beside the front: its pmem table is libpmem.c's functions,
 * the others call the mechanisms (map.c's msync, sim.c's flush and drain).
 *
 * Every op reports failure: persist, flush and drain return 0, or -1 with
 * errno and the thread-local message (pmalloc_errormsg()); copy and fill
 * return dst, or NULL with errno and the message when their flush or persist
 * failed (the bytes are copied even then). Only the msync table fails today
 * (msync's EIO, ENOMEM ...), or when a failure is injected
 * (pmalloc_ops_inject_failure, a test hook).
 *
 * Glossary:
 *   persist -- flush + drain: the range is durable on return.
 *   flush   -- start writing the range back; durable only after a drain.
 *   drain   -- wait for every earlier flush (of this table's memory).
 *   copy    -- memmove into the memory, flushed (and drained) per the
 *              PMEM_F_MEM_* flags: the table's memcpy.
 *   fill    -- memset likewise: the table's memset.
 *   ctx     -- the table's own state (the simulator for a sim table), passed
 *              first to every function.
 */
#ifndef PMALLOC_PMEM_PMEMOPS_H
#define PMALLOC_PMEM_PMEMOPS_H

#include <stddef.h>

/* A persist-ops table; every field set, never NULL. */
struct pmem_ops {
	int (*persist)(void *ctx, const void *addr, size_t len);    /* flush + drain; 0 or -1 */
	int (*flush)(void *ctx, const void *addr, size_t len);      /* start write-back; 0 or -1 */
	int (*drain)(void *ctx);                                    /* complete write-backs; 0 or -1 */
	void *(*copy)(void *ctx, void *dst, const void *src, size_t len, unsigned flags); /* dst or NULL */
	void *(*fill)(void *ctx, void *dst, int c, size_t len, unsigned flags);           /* dst or NULL */
	void *ctx;              /* first argument of each function */
	const char *name;       /* "pmem", "msync", "volatile" or "sim" */
};

/* Flush instructions + fence (pmem_persist, pmem_memcpy ...): for pmem. */
extern const struct pmem_ops pmemops_pmem;

/* msync for persist and flush, no drain: for files that are not pmem. */
extern const struct pmem_ops pmemops_msync;

/* msync too, but flush only notes the pages and drain syncs them, merged: for
 * layers that flush several ranges and then drain (obj/). */
extern const struct pmem_ops pmemops_msync_batch;

/* Nothing to flush: for volatile memory. */
extern const struct pmem_ops pmemops_volatile;

/* The table for [addr, addr+len): a simulator's if one holds it, pmem if pmem_is_pmem, else msync. */
const struct pmem_ops *pmemops_for(const void *addr, size_t len);

/* Shorthands: call through the table. */
static inline int
pmemops_persist(const struct pmem_ops *ops, const void *addr, size_t len)
{
	return ops->persist(ops->ctx, addr, len);
}

static inline int
pmemops_flush(const struct pmem_ops *ops, const void *addr, size_t len)
{
	return ops->flush(ops->ctx, addr, len);
}

static inline int
pmemops_drain(const struct pmem_ops *ops)
{
	return ops->drain(ops->ctx);
}

static inline void *
pmemops_memcpy(const struct pmem_ops *ops, void *dst, const void *src, size_t len, unsigned flags)
{
	return ops->copy(ops->ctx, dst, src, len, flags);
}

static inline void *
pmemops_memset(const struct pmem_ops *ops, void *dst, int c, size_t len, unsigned flags)
{
	return ops->fill(ops->ctx, dst, c, len, flags);
}

#endif
