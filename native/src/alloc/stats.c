/*
 * stats.c -- statistics of a heap: whole-heap and per-class figures
 */
#include <string.h>

#include "alloc/stats.h"

/* Objects held in thread caches, per class (the caller holds the set's lock). */
static void
count_cached(struct heap *h, uint64_t cached[NCLASSES])
{
	memset(cached, 0, NCLASSES * sizeof(uint64_t));
	for (struct tcache *tc = h->tcs.head; tc; tc = tc->next)
		for (unsigned i = 0; i < NCACHED; i++)
			cached[i] += atomic_load_explicit(&tc->bins[i].ncached,
					memory_order_relaxed);
}

/* Live large extents and slabs per class, from a walk of the page map. */
static void
count_extents(struct heap *h, uint64_t large[NCLASSES], uint64_t slabs[NCLASSES])
{
	memset(large, 0, NCLASSES * sizeof(uint64_t));
	memset(slabs, 0, NCLASSES * sizeof(uint64_t));
	size_t npages = h->ext.pm.limit >> LG_PAGE;
	for (size_t p = 0; p < npages;) {
		struct extent *e = pm_extent(h->ext.pm.map[p]);
		if (!e || e->npages == 0)
			break;
		if (e->state == EXTENT_LARGE && e->szind < NCLASSES)
			large[e->szind]++;
		else if (e->state == EXTENT_SLAB && e->szind < NSMALL)
			slabs[e->szind]++;
		p += e->npages;
	}
}

/*
 * stats_get -- whole-heap figures. Every lock is held so no cache flushes or
 * refills in between the counts; what threads do on their lock-free paths
 * meanwhile is real activity. Large frees move bytes before the cached count
 * drops, so the sum is computed signed and clamped.
 */
void
stats_get(struct heap *h, struct pmalloc_stats *st)
{
	uint64_t cached[NCLASSES];
	memset(st, 0, sizeof(*st));
	st->size = h->region.size;
	st->narenas = h->narenas;
	st->nclasses = NCLASSES;
	/* the header, and the page map as far as pages in use reach into it */
	size_t header = (uintptr_t)h->ext.pm.map - (uintptr_t)h->region.base;
	int64_t allocated = 0;
	heap_lock_all(h);
	count_cached(h, cached);
	for (unsigned a = 0; a < h->narenas; a++)
		for (unsigned i = 0; i < NSMALL; i++) {
			struct bin *b = &h->arenas[a].bins[i];
			allocated += (int64_t)(b->nused * sz_classes[i].size);
			st->nmalloc += b->nmalloc;
			st->nfree += b->nfree;
		}
	for (unsigned i = 0; i < NCACHED; i++)
		allocated -= (int64_t)(cached[i] * sz_classes[i].size);
	allocated += (int64_t)atomic_load(&h->large.bytes);
	st->allocated = allocated > 0 ? (uint64_t)allocated : 0;
	st->nmalloc += atomic_load(&h->large.nmalloc);
	st->nfree += atomic_load(&h->large.nfree);
	st->active = h->ext.active_pages * PAGE;
	st->dirty = h->ext.dirty_pages * PAGE;
	size_t used_pages = h->ext.active_pages + h->ext.dirty_pages + h->ext.meta_pages;
	st->metadata = h->ext.meta_pages * PAGE + header
		+ ALIGN_UP(used_pages * sizeof(uint64_t), PAGE);
	st->purged = h->ext.purged_bytes;
	st->purge_calls = h->ext.purge_calls;
	st->reserve_calls = atomic_load(&h->ext.reserve_calls);
	heap_unlock_all(h);
	st->resident = st->active + st->dirty + st->metadata;
	st->file_allocated = region_file_allocated(&h->region);
}

int
stats_classes(struct heap *h, struct pmalloc_class_stats *rows, size_t n)
{
	uint64_t cached[NCLASSES], large[NCLASSES], slabs[NCLASSES];
	uint64_t used[NSMALL] = {0};
	heap_lock_all(h);
	count_cached(h, cached);
	count_extents(h, large, slabs);
	for (unsigned a = 0; a < h->narenas; a++)
		for (unsigned i = 0; i < NSMALL; i++)
			used[i] += h->arenas[a].bins[i].nused;
	heap_unlock_all(h);
	for (unsigned i = 0; i < NCLASSES && i < n; i++) {
		struct pmalloc_class_stats *r = &rows[i];
		uint64_t live = i < NSMALL ? used[i] : large[i];
		memset(r, 0, sizeof(*r));
		r->size = sz_classes[i].size;
		r->cached = cached[i];
		r->live = live > cached[i] ? live - cached[i] : 0;
		if (i < NSMALL) {
			r->slab_size = sz_classes[i].npages * PAGE;
			r->slabs = slabs[i];
		}
	}
	return NCLASSES;
}
