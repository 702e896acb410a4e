/*
 * check.c -- the consistency check of a heap: every structure walked, locked
 */
#include <errno.h>

#include "alloc/check.h"
#include "alloc/slab.h"
#include "common/errmsg.h"

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
check_heap(struct heap *h)
{
	heap_lock_all(h);
	uint64_t used[NSMALL] = {0}, inslabs[NSMALL] = {0};
	if (!extents_check(&h->ext))
		goto bad;
	size_t npages = h->ext.pm.limit >> LG_PAGE;
	for (size_t p = 0; p < npages; p += pm_extent(h->ext.pm.map[p])->npages) {
		struct extent *e = pm_extent(h->ext.pm.map[p]);
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
	struct tcache *tc = heap_tcache_peek(h);
	for (unsigned i = 0; tc && i < NCACHED; i++) {
		struct tcache_bin *b = &tc->bins[i];
		uint16_t n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
		for (unsigned k = 0; k < n; k++) {
			uint64_t ent = pm_lookup(&h->ext.pm, b->stack[k]);
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
