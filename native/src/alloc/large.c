/*
 * large.c -- large and huge allocations: whole extents, counted
 */
#include <string.h>

#include "alloc/large.h"

unsigned
large_szind(size_t usize)
{
	return usize <= LARGE_MAX ? sz_size2ind(usize) : SZIND_HUGE;
}

void *
large_alloc(struct extents *x, struct large_stats *ls, size_t npages, size_t align, bool zero,
		unsigned szind)
{
	struct extent *e = extent_alloc(x, npages, MAX(align, PAGE), EXTENT_LARGE, szind);
	if (!e)
		return NULL;
	if (zero && !e->zeroed)
		memset((void *)e->addr, 0, npages * PAGE);
	e->zeroed = 0;
	atomic_fetch_add_explicit(&ls->nmalloc, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ls->bytes, npages * PAGE, memory_order_relaxed);
	return (void *)e->addr;
}

void
large_free(struct extents *x, struct large_stats *ls, struct extent *e, bool discard)
{
	atomic_fetch_add_explicit(&ls->nfree, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&ls->bytes, e->npages * PAGE, memory_order_relaxed);
	if (discard)
		extent_discard(x, e);
	else
		extent_free(x, e);
}

bool
large_resize(struct extents *x, struct large_stats *ls, struct extent *e, size_t usize)
{
	size_t npages = usize >> LG_PAGE;
	size_t old = e->npages;
	if (npages == old)
		return true;
	if (npages > old) {
		if (!extent_grow(x, e, npages, large_szind(usize)))
			return false;
		atomic_fetch_add_explicit(&ls->bytes, (npages - old) * PAGE, memory_order_relaxed);
	} else {
		if (!extent_shrink(x, e, npages, large_szind(usize)))
			return false;
		atomic_fetch_sub_explicit(&ls->bytes, (old - npages) * PAGE, memory_order_relaxed);
	}
	return true;
}
