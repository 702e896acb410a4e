/*
 * heap_alloc.c -- the malloc family over a heap: the slow paths behind the
 * inline ones, and reclaim-and-retry when the heap runs short
 */
#include <errno.h>
#include <string.h>

#include "alloc/heap_alloc.h"
#include "alloc/purger.h"
#include "alloc/slab.h"
#include "common/errmsg.h"

/* ---- slow paths --------------------------------------------------------- */

static void *
enomem_too_big(size_t size)
{
	errmsg_set(ENOMEM, "a request of %zu bytes exceeds the pool", size);
	return NULL;
}

/* A large or huge allocation of at least size bytes (size > SMALL_MAX). */
static void *
heap_large(struct heap *h, size_t size, size_t align, bool zero)
{
	if (size > h->ext.pm.limit)
		return enomem_too_big(size);
	size_t npages = sz_usable(size) >> LG_PAGE;
	unsigned ind = size <= LARGE_MAX ? sz_size2ind(size) : SZIND_HUGE;
	void *p = large_alloc(&h->ext, &h->large, npages, align, zero, ind);
	if (!p) {
		heap_reclaim(h);
		p = large_alloc(&h->ext, &h->large, npages, align, zero, ind);
	}
	return p;
}

/* After a cache miss: a refill, or a large extent; reclaim and retry once. */
static void *
heap_cache_miss(struct heap *h, struct tcache *tc, unsigned ind)
{
	void *p = tcache_alloc_slow(&h->tcs, tc, ind);
	if (!p) {
		heap_reclaim(h);
		p = tcache_alloc_slow(&h->tcs, tc, ind);
	}
	return p;
}

/* One small object without a thread cache (thread exiting, or no memory for one). */
static void *
heap_small_uncached(struct heap *h, unsigned ind)
{
	struct arena *a = &h->arenas[((uintptr_t)&tsd_tls >> 12) % h->narenas];
	void *p;
	if (bin_fill(&a->bins[ind], &h->ext, a->ind, ind, &p, 1) == 1)
		return p;
	heap_reclaim(h);
	return bin_fill(&a->bins[ind], &h->ext, a->ind, ind, &p, 1) == 1 ? p : NULL;
}

void *
heap_malloc_slow(struct heap *h, size_t size)
{
	if (unlikely(h->region.rehome))
		heap_rehome(h);
	if (size <= TCACHE_MAX) {
		unsigned ind = sz_size2ind(size);
		struct tcache *tc = heap_tcache(h);
		if (tc) {
			void *p = tcache_pop(tc, ind);
			return likely(p != NULL) ? p : heap_cache_miss(h, tc, ind);
		}
		if (size <= SMALL_MAX)
			return heap_small_uncached(h, ind);
	}
	return heap_large(h, size, PAGE, false);
}

void
heap_free_slow(struct heap *h, void *p)
{
	if (!p)
		return;
	if (unlikely(h->region.rehome))
		heap_rehome(h);
	uint64_t ent = pm_lookup(&h->ext.pm, p);
	unsigned ind = pm_szind(ent);
	struct extent *e = pm_extent(ent);
	if (ind >= NSMALL && (!e || e->state != EXTENT_LARGE || e->addr != (uintptr_t)p)) {
		errmsg_set(EINVAL, "free of %p: not allocated from this pool", p);
		return;
	}
	struct tcache *tc = ind < NCACHED ? heap_tcache(h) : NULL;
	if (!tc) {
		if (ind < NSMALL)
			arena_flush(h->arenas, &h->ext, ind, &p, 1);
		else
			large_free(&h->ext, &h->large, e, false);
		purger_poke(&h->ext);
		return;
	}
	if (!tcache_push(tc, ind, p))
		tcache_free_slow(&h->tcs, tc, ind, p);
	purger_poke(&h->ext);      /* the flush or free above may have left pages dirty */
}

void *
heap_calloc(struct heap *h, size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errmsg_set(ENOMEM, "calloc of %zu x %zu bytes overflows", nmemb, size);
		return NULL;
	}
	if (total <= SMALL_MAX) {
		void *p = heap_malloc(h, total);
		if (p)
			memset(p, 0, total);
		return p;
	}
	/* straight from the extents: purged or fresh pages need no zeroing */
	return heap_large(h, total, PAGE, true);
}

size_t
heap_usable_size(struct heap *h, const void *p)
{
	uint64_t ent = pm_lookup(&h->ext.pm, p);
	unsigned ind = pm_szind(ent);
	if (ind < NSMALL)
		return sz_classes[ind].size;
	struct extent *e = pm_extent(ent);
	if (!e || e->state != EXTENT_LARGE || e->addr != (uintptr_t)p)
		return 0;
	return e->npages * PAGE;
}

/*
 * A huge block that realloc moved is punched out at once, not left dirty for
 * the decay time: a program growing a buffer by doubling (sqlite's sorter)
 * would otherwise hold every smaller copy as well, about as much again, where
 * glibc's mremap holds none. Smaller blocks stay dirty: they are reused soon.
 */
#define REALLOC_DISCARD_MIN (1u << 20)

void *
heap_realloc(struct heap *h, void *p, size_t size)
{
	if (!p)
		return heap_malloc(h, size);
	size_t old = heap_usable_size(h, p);
	if (old == 0) {
		errmsg_set(EINVAL, "realloc of %p: not allocated from this pool", p);
		return NULL;
	}
	if (size == 0) {
		heap_free(h, p);
		return NULL;
	}
	if (size > h->ext.pm.limit)
		return enomem_too_big(size);
	if (size <= SMALL_MAX && old <= SMALL_MAX && sz_usable(size) == old)
		return p;
	if (size > SMALL_MAX && old > SMALL_MAX) {
		size_t usize = sz_usable(size);
		if (usize == old || large_resize(&h->ext, &h->large, pm_extent(pm_lookup(&h->ext.pm, p)), usize))
			return p;
	}
	void *q = heap_malloc(h, size);
	if (!q)
		return NULL;
	memcpy(q, p, MIN(old, size));
	if (old >= REALLOC_DISCARD_MIN)     /* huge: no tcache holds it */
		large_free(&h->ext, &h->large, pm_extent(pm_lookup(&h->ext.pm, p)), true);
	else
		heap_free(h, p);
	return q;
}

void *
heap_aligned_alloc(struct heap *h, size_t align, size_t size)
{
	if (!IS_POW2(align)) {
		errmsg_set(EINVAL, "alignment %zu is not a power of two", align);
		return NULL;
	}
	if (align > h->ext.pm.limit) {	/* name the alignment: the size may be small */
		errmsg_set(ENOMEM, "alignment %zu for a request of %zu bytes exceeds the pool",
			align, size);
		return NULL;
	}
	if (size > h->ext.pm.limit)
		return enomem_too_big(size);
	size = MAX(size, (size_t)1);
	if (align <= 16)
		return heap_malloc(h, align == 16 ? MAX(size, (size_t)16) : size);
	/* a class whose size is a multiple of align, in page-aligned slabs */
	size_t asize = ALIGN_UP(size, align);
	if (align <= PAGE && asize <= TCACHE_MAX)
		return heap_malloc(h, asize);
	return heap_large(h, MAX(size, SMALL_MAX + 1), align, false);
}

void *
heap_defrag(struct heap *h, void *p)
{
	uint64_t ent = pm_lookup(&h->ext.pm, p);
	unsigned ind = pm_szind(ent);
	struct extent *e = pm_extent(ent);
	if (ind >= NSMALL || !e || e->state != EXTENT_SLAB || slab_index(e, ind, p) < 0)
		return NULL;
	struct arena *a = &h->arenas[e->arena];
	if (!bin_defrag_hint(&a->bins[ind], e))
		return NULL;
	/* straight from the bin (its current slab), not the thread cache, whose
	 * objects may come from the very slab being emptied */
	void *q;
	if (bin_fill(&a->bins[ind], &h->ext, a->ind, ind, &q, 1) != 1)
		return NULL;
	if (pm_extent(pm_lookup(&h->ext.pm, q)) == e) {
		arena_flush(h->arenas, &h->ext, ind, &q, 1);
		return NULL;
	}
	memcpy(q, p, sz_classes[ind].size);
	arena_flush(h->arenas, &h->ext, ind, &p, 1);
	return q;
}
