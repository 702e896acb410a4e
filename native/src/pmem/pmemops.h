/*
 * pmemops.h -- the persist-ops table: how a layer makes its stores durable
 *
 * log/, blk/ and obj/ never call pmem_persist or msync themselves: they hold a
 * `const struct pmem_ops *` chosen when their pool is opened (pmemops_for) and
 * call through it, so one code path serves real pmem (flush instructions),
 * files that need msync, volatile memory (no-ops) and the crash simulator.
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
	void (*persist)(void *ctx, const void *addr, size_t len);   /* flush + drain */
	void (*flush)(void *ctx, const void *addr, size_t len);     /* start write-back */
	void (*drain)(void *ctx);                                   /* complete write-backs */
	void *(*copy)(void *ctx, void *dst, const void *src, size_t len, unsigned flags); /* memcpy */
	void *(*fill)(void *ctx, void *dst, int c, size_t len, unsigned flags);           /* memset */
	void *ctx;              /* first argument of each function */
	const char *name;       /* "pmem", "msync", "volatile" or "sim" */
};

/* Flush instructions + fence (pmem_persist, pmem_memcpy ...): for pmem. */
extern const struct pmem_ops pmemops_pmem;

/* msync for persist and flush, no drain: for files that are not pmem. */
extern const struct pmem_ops pmemops_msync;

/* Nothing to flush: for volatile memory. */
extern const struct pmem_ops pmemops_volatile;

/* The table for [addr, addr+len): a simulator's if one holds it, pmem if pmem_is_pmem, else msync. */
const struct pmem_ops *pmemops_for(const void *addr, size_t len);

/* Shorthands: call through the table. */
static inline void
pmemops_persist(const struct pmem_ops *ops, const void *addr, size_t len)
{
	ops->persist(ops->ctx, addr, len);
}

static inline void
pmemops_flush(const struct pmem_ops *ops, const void *addr, size_t len)
{
	ops->flush(ops->ctx, addr, len);
}

static inline void
pmemops_drain(const struct pmem_ops *ops)
{
	ops->drain(ops->ctx);
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
