/*
 * nep49.c -- tiers in the shape NumPy's array data handler (NEP 49) calls: ctx is
 * the struct memtier_memory * (pmalloc.numpy installs these for a tiered kind)
 */
#include "memkind_memtier.h"
#include "pmalloc.h"
#include "alloc/hugehint.h"

void *
pmalloc_np_memtier_malloc(void *ctx, size_t size)
{
	return huge_hint(memtier_malloc(ctx, size ? size : 1), size);
}

void *
pmalloc_np_memtier_calloc(void *ctx, size_t nelem, size_t elsize)
{
	if (nelem == 0 || elsize == 0)
		nelem = elsize = 1;
	return huge_hint(memtier_calloc(ctx, nelem, elsize), nelem * elsize);
}

void *
pmalloc_np_memtier_realloc(void *ctx, void *ptr, size_t size)
{
	return huge_hint(memtier_realloc(ctx, ptr, size ? size : 1), size);
}

void
pmalloc_np_memtier_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;     /* a hint only */
	memtier_free(ptr);
}
