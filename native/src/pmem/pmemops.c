/*
 * pmemops.c -- the pmem, msync and volatile persist-ops tables, and their public wrappers
 */
#include "pmem/pmemops.h"

#include <errno.h>
#include <string.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "libpmem.h"
#include "pmalloc.h"
#include "pmem/cpu.h"
#include "pmem/map.h"
#include "pmem/sim.h"

/* ---- pmem: the libpmem functions ---- */

static void
ops_pmem_persist(void *ctx, const void *addr, size_t len)
{
	(void)ctx;
	pmem_persist(addr, len);
}

static void
ops_pmem_flush(void *ctx, const void *addr, size_t len)
{
	(void)ctx;
	pmem_flush(addr, len);
}

static void
ops_pmem_drain(void *ctx)
{
	(void)ctx;
	pmem_drain();
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

static void
ops_msync_persist(void *ctx, const void *addr, size_t len)
{
	(void)ctx;
	if (len != 0)
		(void)pmem_msync(addr, len); /* a failure leaves its message */
}

static void
ops_nop_drain(void *ctx)
{
	(void)ctx;
}

static void *
ops_msync_copy(void *ctx, void *dst, const void *src, size_t len, unsigned flags)
{
	memmove(dst, src, len);
	if (!(flags & PMEM_F_MEM_NOFLUSH))
		ops_msync_persist(ctx, dst, len);
	return dst;
}

static void *
ops_msync_fill(void *ctx, void *dst, int c, size_t len, unsigned flags)
{
	memset(dst, c, len);
	if (!(flags & PMEM_F_MEM_NOFLUSH))
		ops_msync_persist(ctx, dst, len);
	return dst;
}

const struct pmem_ops pmemops_msync = {
	ops_msync_persist, ops_msync_persist, ops_nop_drain, ops_msync_copy, ops_msync_fill,
	NULL, "msync",
};

/* ---- volatile: nothing to make durable ---- */

static void
ops_nop_range(void *ctx, const void *addr, size_t len)
{
	(void)ctx;
	(void)addr;
	(void)len;
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

const struct pmem_ops *
pmemops_for(const void *addr, size_t len)
{
	const struct pmem_ops *ops = sim_ops_for(addr, len);
	if (ops != NULL)
		return ops;
	return pmem_is_pmem(addr, len) ? &pmemops_pmem : &pmemops_msync;
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
	pmemops_persist(ops, addr, len);
	return 0;
}

API int
pmalloc_ops_flush(const struct pmem_ops *ops, const void *addr, size_t len)
{
	if (ops_bad(ops, __func__))
		return -1;
	pmemops_flush(ops, addr, len);
	return 0;
}

API int
pmalloc_ops_drain(const struct pmem_ops *ops)
{
	if (ops_bad(ops, __func__))
		return -1;
	pmemops_drain(ops);
	return 0;
}

API void *
pmalloc_ops_memcpy(const struct pmem_ops *ops, void *dst, const void *src, size_t len,
	unsigned flags)
{
	if (ops_bad(ops, __func__))
		return dst;
	return pmemops_memcpy(ops, dst, src, len, flags & PMEM_F_MEM_VALID_FLAGS);
}

API void *
pmalloc_ops_memset(const struct pmem_ops *ops, void *dst, int c, size_t len, unsigned flags)
{
	if (ops_bad(ops, __func__))
		return dst;
	return pmemops_memset(ops, dst, c, len, flags & PMEM_F_MEM_VALID_FLAGS);
}

API int
pmalloc_pmem_info(struct pmalloc_pmem_info *info)
{
	if (info == NULL) {
		errmsg_set(EINVAL, "pmalloc_pmem_info: info is NULL");
		return -1;
	}
	cpu_init();
	info->flush = cpu_flush_name(cpu_cfg.flush);
	info->deep_flush = cpu_flush_name(cpu_cfg.deep_flush);
	info->movnt = cpu_movnt_name(cpu_cfg.movnt);
	info->movnt_threshold = cpu_cfg.movnt_threshold;
	info->is_pmem_force = map_force();
	info->auto_flush = cpu_cfg.auto_flush;
	return 0;
}
