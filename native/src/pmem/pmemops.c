/*
 * pmemops.c -- the pmem, msync, volatile and sim persist-ops tables, and their public wrappers
 */
#include "pmem/pmemops.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "libpmem.h"
#include "pmalloc.h"
#include "pmem/map.h"
#include "pmem/sim.h"

/* ---- pmem: the libpmem functions (they route a simulated range to its sim) ---- */

static int
ops_pmem_persist(void *ctx, const void *addr, size_t len)
{
	(void)ctx;
	pmem_persist(addr, len);
	return 0;
}

static int
ops_pmem_flush(void *ctx, const void *addr, size_t len)
{
	(void)ctx;
	pmem_flush(addr, len);
	return 0;
}

static int
ops_pmem_drain(void *ctx)
{
	(void)ctx;
	pmem_drain();
	return 0;
}

static void *
ops_pmem_copy(void *ctx, void *dst, const void *src, size_t len, unsigned flags)
{
	(void)ctx;
	return pmem_memmove(dst, src, len, flags);
}

static void *
ops_pmem_fill(void *ctx, void *dst, int c, size_t len, unsigned flags)
{
	(void)ctx;
	return pmem_memset(dst, c, len, flags);
}

const struct pmem_ops pmemops_pmem = {
	ops_pmem_persist, ops_pmem_flush, ops_pmem_drain, ops_pmem_copy, ops_pmem_fill,
	NULL, "pmem",
};

/* ---- msync: page-granular, synchronous ---- */

/* Failures injected into the msync table (pmalloc_ops_inject_failure): how many are
 * still due, and their errno. */
static _Atomic unsigned ops_inject_left;
static _Atomic int ops_inject_err;

/* ops_injected -- the errno of an injected failure due now (counted down), else 0 */
static int
ops_injected(void)
{
	unsigned n = atomic_load_explicit(&ops_inject_left, memory_order_relaxed);
	while (n != 0) {
		if (atomic_compare_exchange_weak(&ops_inject_left, &n, n - 1))
			return atomic_load(&ops_inject_err);
	}
	return 0;
}

static int
ops_msync_persist(void *ctx, const void *addr, size_t len)
{
	(void)ctx;
	if (len == 0)
		return 0;
	int err = ops_injected();
	if (unlikely(err != 0)) {
		errmsg_set_sys(err, "msync(%p, %zu) (injected failure)", addr, len);
		return -1;
	}
	return map_sync(addr, len);
}

static int
ops_nop_drain(void *ctx)
{
	(void)ctx;
	return 0;
}

static void *
ops_msync_copy(void *ctx, void *dst, const void *src, size_t len, unsigned flags)
{
	memmove(dst, src, len);
	if (!(flags & PMEM_F_MEM_NOFLUSH) && ops_msync_persist(ctx, dst, len) != 0)
		return NULL;
	return dst;
}

static void *
ops_msync_fill(void *ctx, void *dst, int c, size_t len, unsigned flags)
{
	memset(dst, c, len);
	if (!(flags & PMEM_F_MEM_NOFLUSH) && ops_msync_persist(ctx, dst, len) != 0)
		return NULL;
	return dst;
}

const struct pmem_ops pmemops_msync = {
	ops_msync_persist, ops_msync_persist, ops_nop_drain, ops_msync_copy, ops_msync_fill,
	NULL, "msync",
};

/* ---- msync, batched: flush notes pages, drain syncs them ---- */

/* Each thread's pages flushed since its last drain: page-aligned ranges, merged
 * when they touch, so a drain makes one system call per separate run of pages
 * instead of one per flush. */
#define BATCH_RANGES 16

static __thread struct {
	uintptr_t lo[BATCH_RANGES], hi[BATCH_RANGES];
	unsigned n;
} batch;

static int
ops_batch_drain(void *ctx)
{
	int ret = 0;
	for (unsigned i = 0; i < batch.n; i++)
		ret |= ops_msync_persist(ctx, (void *)batch.lo[i], batch.hi[i] - batch.lo[i]);
	batch.n = 0;
	return ret ? -1 : 0;
}

static int
ops_batch_flush(void *ctx, const void *addr, size_t len)
{
	if (len == 0)
		return 0;
	uintptr_t lo = ALIGN_DOWN((uintptr_t)addr, PAGE);
	uintptr_t hi = ALIGN_UP((uintptr_t)addr + len, PAGE);
	for (unsigned i = 0; i < batch.n; i++) {
		if (lo <= batch.hi[i] && hi >= batch.lo[i]) {
			batch.lo[i] = MIN(lo, batch.lo[i]);
			batch.hi[i] = MAX(hi, batch.hi[i]);
			return 0;
		}
	}
	if (batch.n == BATCH_RANGES && ops_batch_drain(ctx) != 0)
		return -1;
	batch.lo[batch.n] = lo;
	batch.hi[batch.n] = hi;
	batch.n++;
	return 0;
}

static int
ops_batch_persist(void *ctx, const void *addr, size_t len)
{
	if (ops_batch_flush(ctx, addr, len) != 0)
		return -1;
	return ops_batch_drain(ctx);
}

static void *
ops_batch_copy(void *ctx, void *dst, const void *src, size_t len, unsigned flags)
{
	memmove(dst, src, len);
	if (flags & PMEM_F_MEM_NOFLUSH)
		return dst;
	int r = flags & PMEM_F_MEM_NODRAIN ? ops_batch_flush(ctx, dst, len)
		: ops_batch_persist(ctx, dst, len);
	return r ? NULL : dst;
}

static void *
ops_batch_fill(void *ctx, void *dst, int c, size_t len, unsigned flags)
{
	memset(dst, c, len);
	if (flags & PMEM_F_MEM_NOFLUSH)
		return dst;
	int r = flags & PMEM_F_MEM_NODRAIN ? ops_batch_flush(ctx, dst, len)
		: ops_batch_persist(ctx, dst, len);
	return r ? NULL : dst;
}

const struct pmem_ops pmemops_msync_batch = {
	ops_batch_persist, ops_batch_flush, ops_batch_drain, ops_batch_copy, ops_batch_fill,
	NULL, "msync",
};

/* ---- volatile: nothing to make durable ---- */

static int
ops_nop_range(void *ctx, const void *addr, size_t len)
{
	(void)ctx;
	(void)addr;
	(void)len;
	return 0;
}

static void *
ops_volatile_copy(void *ctx, void *dst, const void *src, size_t len, unsigned flags)
{
	(void)ctx;
	(void)flags;
	return memmove(dst, src, len);
}

static void *
ops_volatile_fill(void *ctx, void *dst, int c, size_t len, unsigned flags)
{
	(void)ctx;
	(void)flags;
	return memset(dst, c, len);
}

const struct pmem_ops pmemops_volatile = {
	ops_nop_range, ops_nop_range, ops_nop_drain, ops_volatile_copy, ops_volatile_fill,
	NULL, "volatile",
};

/* ---- sim: one table per simulator, its ctx the sim ---- */

static int
ops_sim_persist(void *ctx, const void *addr, size_t len)
{
	sim_flush(ctx, addr, len);
	sim_drain(ctx);
	return 0;
}

static int
ops_sim_flush(void *ctx, const void *addr, size_t len)
{
	sim_flush(ctx, addr, len);
	return 0;
}

static int
ops_sim_drain(void *ctx)
{
	sim_drain(ctx);
	return 0;
}

/* ops_sim_done -- after a store into the sim: flush (and drain) as the flags say */
static void
ops_sim_done(void *ctx, void *dst, size_t len, unsigned flags)
{
	if (flags & PMEM_F_MEM_NOFLUSH)
		return;
	sim_flush(ctx, dst, len);
	if (!(flags & PMEM_F_MEM_NODRAIN))
		sim_drain(ctx);
}

static void *
ops_sim_copy(void *ctx, void *dst, const void *src, size_t len, unsigned flags)
{
	memmove(dst, src, len);
	ops_sim_done(ctx, dst, len, flags);
	return dst;
}

static void *
ops_sim_fill(void *ctx, void *dst, int c, size_t len, unsigned flags)
{
	memset(dst, c, len);
	ops_sim_done(ctx, dst, len, flags);
	return dst;
}

const struct pmem_ops *
pmemops_for(const void *addr, size_t len)
{
	const struct pmem_ops *ops = sim_table_for(addr, len);
	if (ops != NULL)
		return ops;
	return pmem_is_pmem(addr, len) ? &pmemops_pmem : &pmemops_msync;
}

/* ---- Public: the simulator's life (its table is made here) ---- */

API PMALLOC_SIM *
pmalloc_sim_new(size_t size)
{
	struct pmalloc_sim *sim = sim_new(size);
	if (sim == NULL)
		return NULL;
	struct pmem_ops *table = malloc(sizeof(*table));
	if (table == NULL) {
		sim_delete(sim);
		errmsg_set(ENOMEM, "pmalloc_sim_new: no memory for the persist-ops table");
		return NULL;
	}
	*table = (struct pmem_ops){ ops_sim_persist, ops_sim_flush, ops_sim_drain,
		ops_sim_copy, ops_sim_fill, sim, "sim" };
	sim_publish(sim, table);
	return sim;
}

API void
pmalloc_sim_delete(PMALLOC_SIM *sim)
{
	if (sim != NULL)
		sim_delete(sim);
}

API const struct pmem_ops *
pmalloc_sim_ops(PMALLOC_SIM *sim)
{
	return sim ? sim_table(sim) : NULL;
}

/* ---- Public wrappers (pmalloc.h) ---- */

API const struct pmem_ops *
pmalloc_persist_ops(const void *addr, size_t len, int kind)
{
	switch (kind) {
	case PMALLOC_OPS_AUTO: return pmemops_for(addr, len);
	case PMALLOC_OPS_PMEM: return &pmemops_pmem;
	case PMALLOC_OPS_MSYNC: return &pmemops_msync;
	case PMALLOC_OPS_VOLATILE: return &pmemops_volatile;
	default: break;
	}
	errmsg_set(EINVAL, "pmalloc_persist_ops: unknown kind %d", kind);
	return NULL;
}

/* ops_bad -- a NULL table: leave EINVAL and a message, do nothing (never crash) */
static int
ops_bad(const struct pmem_ops *ops, const char *fn)
{
	if (ops != NULL)
		return 0;
	errmsg_set(EINVAL, "%s: ops is NULL", fn);
	return 1;
}

API const char *
pmalloc_ops_name(const struct pmem_ops *ops)
{
	return ops ? ops->name : "";
}

API int
pmalloc_ops_persist(const struct pmem_ops *ops, const void *addr, size_t len)
{
	if (ops_bad(ops, __func__))
		return -1;
	return pmemops_persist(ops, addr, len);
}

API int
pmalloc_ops_flush(const struct pmem_ops *ops, const void *addr, size_t len)
{
	if (ops_bad(ops, __func__))
		return -1;
	return pmemops_flush(ops, addr, len);
}

API int
pmalloc_ops_drain(const struct pmem_ops *ops)
{
	if (ops_bad(ops, __func__))
		return -1;
	return pmemops_drain(ops);
}

API void *
pmalloc_ops_memcpy(const struct pmem_ops *ops, void *dst, const void *src, size_t len,
	unsigned flags)
{
	if (ops_bad(ops, __func__))
		return NULL;
	return pmemops_memcpy(ops, dst, src, len, flags & PMEM_F_MEM_VALID_FLAGS);
}

API void *
pmalloc_ops_memset(const struct pmem_ops *ops, void *dst, int c, size_t len, unsigned flags)
{
	if (ops_bad(ops, __func__))
		return NULL;
	return pmemops_memset(ops, dst, c, len, flags & PMEM_F_MEM_VALID_FLAGS);
}

API int
pmalloc_ops_inject_failure(int err, unsigned count)
{
	if (count != 0 && err <= 0) {
		errmsg_set(EINVAL, "pmalloc_ops_inject_failure: errno %d is not positive", err);
		return -1;
	}
	/* the errno first: a persist that sees the count sees it too */
	atomic_store(&ops_inject_err, err);
	atomic_store(&ops_inject_left, count);
	return 0;
}
