/*
 * arena.c -- arena set-up and large allocations (whole extents)
 */
#include <string.h>

#include "alloc/arena.h"
#include "alloc/extent.h"
#include "alloc/heap.h"

void
arena_init(struct arena *a, unsigned ind)
{
	memset(a, 0, sizeof(*a));
	a->ind = ind;
	for (unsigned i = 0; i < NSMALL; i++)
		pthread_mutex_init(&a->bins[i].lock, NULL);
}

void *
arena_large_alloc(struct heap *h, size_t npages, size_t align, bool zero, unsigned szind)
{
	struct extent *e = extent_alloc(h, npages, MAX(align, PAGE), EXTENT_LARGE, szind);
	if (!e)
		return NULL;
	if (zero && !e->zeroed)
		memset((void *)e->addr, 0, npages * PAGE);
	e->zeroed = 0;
	atomic_fetch_add_explicit(&h->large_nmalloc, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->large_bytes, npages * PAGE, memory_order_relaxed);
	return (void *)e->addr;
}

void
arena_large_free(struct heap *h, struct extent *e)
{
	atomic_fetch_add_explicit(&h->large_nfree, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&h->large_bytes, e->npages * PAGE, memory_order_relaxed);
	extent_free(h, e);
}

/* The class index and page count of a large or huge usable size. */
static unsigned
large_szind(size_t usize)
{
	return usize <= LARGE_MAX ? sz_size2ind(usize) : SZIND_HUGE;
}

bool
arena_large_resize(struct heap *h, struct extent *e, size_t usize)
{
	size_t npages = usize >> LG_PAGE;
	size_t old = e->npages;
	bool ok;
	if (npages == old)
		return true;
	if (npages > old)
		ok = extent_grow(h, e, npages, large_szind(usize));
	else
		ok = extent_shrink(h, e, npages, large_szind(usize));
	if (ok) {
		if (npages > old)
			atomic_fetch_add_explicit(&h->large_bytes, (npages - old) * PAGE,
					memory_order_relaxed);
		else
			atomic_fetch_sub_explicit(&h->large_bytes, (old - npages) * PAGE,
					memory_order_relaxed);
	}
	return ok;
}
