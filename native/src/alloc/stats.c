/*
 * stats.c -- statistics and the consistency check of a heap, and its lock order
 *
 * Lock order: registry, a heap's tc_lock, its bins (arena by arena), its extents.
 */
#include <errno.h>
#include <string.h>

#include "alloc/heap.h"
#include "alloc/slab.h"
#include "common/errmsg.h"

void
heap_lock_all(struct heap *h)
{
	pthread_mutex_lock(&h->tc_lock);
	for (unsigned a = 0; a < h->narenas; a++)
		for (unsigned i = 0; i < NSMALL; i++)
			pthread_mutex_lock(&h->arenas[a].bins[i].lock);
	pthread_mutex_lock(&h->ext.lock);
}

void
heap_unlock_all(struct heap *h)
{
	pthread_mutex_unlock(&h->ext.lock);
	for (unsigned a = h->narenas; a-- > 0;)
		for (unsigned i = NSMALL; i-- > 0;)
			pthread_mutex_unlock(&h->arenas[a].bins[i].lock);
	pthread_mutex_unlock(&h->tc_lock);
}

void
heap_reinit_locks(struct heap *h)
{
	pthread_mutex_init(&h->tc_lock, NULL);
	for (unsigned a = 0; a < h->narenas; a++)
		for (unsigned i = 0; i < NSMALL; i++)
			pthread_mutex_init(&h->arenas[a].bins[i].lock, NULL);
	pthread_mutex_init(&h->ext.lock, NULL);
	pthread_cond_init(&h->ext.purged, NULL);
}

/* Objects held in thread caches, per class (the caller holds tc_lock). */
static void
count_cached(struct heap *h, uint64_t cached[NCLASSES])
{
	memset(cached, 0, NCLASSES * sizeof(uint64_t));
	for (struct tcache *tc = h->tcaches; tc; tc = tc->next)
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
	size_t npages = h->pm.limit >> LG_PAGE;
	for (size_t p = 0; p < npages;) {
		struct extent *e = pm_extent(h->pm.map[p]);
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
 * heap_stats -- whole-heap figures. Every lock is held so no cache flushes or
 * refills in between the counts; what threads do on their lock-free paths
 * meanwhile is real activity. Large frees move bytes before the cached count
 * drops, so the sum is computed signed and clamped.
 */
void
heap_stats(struct heap *h, struct pmalloc_stats *st)
{
	uint64_t cached[NCLASSES];
	memset(st, 0, sizeof(*st));
	st->size = h->region.size;
	st->narenas = h->narenas;
	st->nclasses = NCLASSES;
	/* the header, and the page map as far as pages in use reach into it */
	size_t header = (uintptr_t)h->pm.map - (uintptr_t)h->region.base;
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
	allocated += (int64_t)atomic_load(&h->large_bytes);
	st->allocated = allocated > 0 ? (uint64_t)allocated : 0;
	st->nmalloc += atomic_load(&h->large_nmalloc);
	st->nfree += atomic_load(&h->large_nfree);
	st->active = h->ext.active_pages * PAGE;
	st->dirty = h->ext.dirty_pages * PAGE;
	size_t used_pages = h->ext.active_pages + h->ext.dirty_pages + h->ext.meta_pages;
	st->metadata = h->ext.meta_pages * PAGE + header
		+ ALIGN_UP(used_pages * sizeof(uint64_t), PAGE);
	st->purged = h->ext.purged_bytes;
	heap_unlock_all(h);
	st->resident = st->active + st->dirty + st->metadata;
	st->file_allocated = region_file_allocated(&h->region);
}

int
heap_class_stats(struct heap *h, struct pmalloc_class_stats *rows, size_t n)
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

#define CHECK(cond, ...) do { if (!(cond)) { errmsg_set(EINVAL, __VA_ARGS__); goto bad; } } while (0)

static unsigned
popcount_bitmap(const struct extent *e)
{
	unsigned n = 0;
	for (unsigned w = 0; w < SLAB_BITMAP_WORDS; w++)
		n += (unsigned)__builtin_popcountll(e->bitmap[w]);
	return n;
}

/* A slab listed by bin b (class i, arena a) is consistent. */
static bool
slab_ok(struct extent *e, unsigned a, unsigned i)
{
	return e->state == EXTENT_SLAB && e->szind == i && e->arena == a
		&& popcount_bitmap(e) == e->nfree && e->nfree <= sz_classes[i].nregs;
}

int
heap_check(struct heap *h)
{
	heap_lock_all(h);
	uint64_t used[NSMALL] = {0}, inslabs[NSMALL] = {0};
	if (!extents_check(h))
		goto bad;
	size_t npages = h->pm.limit >> LG_PAGE;
	for (size_t p = 0; p < npages; p += pm_extent(h->pm.map[p])->npages) {
		struct extent *e = pm_extent(h->pm.map[p]);
		if (e->state != EXTENT_SLAB)
			continue;
		CHECK(popcount_bitmap(e) == e->nfree, "slab at %#lx: bitmap holds %u free, "
				"count says %u", (unsigned long)e->addr, popcount_bitmap(e), e->nfree);
		inslabs[e->szind] += sz_classes[e->szind].nregs - e->nfree;
	}
	for (unsigned a = 0; a < h->narenas; a++)
		for (unsigned i = 0; i < NSMALL; i++) {
			struct bin *b = &h->arenas[a].bins[i];
			CHECK(!b->cur || slab_ok(b->cur, a, i), "arena %u class %u: bad current slab",
					a, i);
			uint64_t listed = 0;
			for (struct extent *e = b->nonfull; e; e = e->next) {
				CHECK(slab_ok(e, a, i) && e->nfree > 0 && e != b->cur,
						"arena %u class %u: bad non-full slab", a, i);
				CHECK(++listed <= b->nslabs, "arena %u class %u: non-full list "
						"longer than the bin's slabs (a cycle?)", a, i);
			}
			used[i] += b->nused;
		}
	for (unsigned i = 0; i < NSMALL; i++)
		CHECK(used[i] == inslabs[i], "class %u: %lu objects handed out, %lu in slabs",
				i, (unsigned long)used[i], (unsigned long)inslabs[i]);
	/* the calling thread's cache: every object allocated in its slab */
	struct tcache *tc = tcache_peek(h);
	for (unsigned i = 0; tc && i < NCACHED; i++) {
		struct tcache_bin *b = &tc->bins[i];
		uint16_t n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
		for (unsigned k = 0; k < n; k++) {
			uint64_t ent = pm_lookup(&h->pm, b->stack[k]);
			struct extent *e = pm_extent(ent);
			CHECK(e && pm_szind(ent) == i, "cached %p of class %u: wrong page map entry",
					b->stack[k], i);
			if (i < NSMALL) {
				long reg = slab_index(e, i, b->stack[k]);
				CHECK(reg >= 0 && slab_is_allocated(e, reg),
						"cached %p: not an allocated object", b->stack[k]);
			} else {
				CHECK(e->state == EXTENT_LARGE && e->addr == (uintptr_t)b->stack[k],
						"cached %p: not a large extent", b->stack[k]);
			}
		}
	}
	heap_unlock_all(h);
	return 1;
bad:
	heap_unlock_all(h);
	return 0;
}
