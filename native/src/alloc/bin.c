/*
 * bin.c -- bins: filling thread caches from slabs and flushing objects back
 */
#include <errno.h>

#include "alloc/arena.h"
#include "alloc/bin.h"
#include "alloc/extent.h"
#include "alloc/heap.h"
#include "alloc/slab.h"
#include "common/errmsg.h"

/* A new slab for bin b of arena a; the bin lock is dropped meanwhile. */
static struct extent *
slab_new(struct heap *h, struct arena *a, struct bin *b, unsigned szind)
{
	pthread_mutex_unlock(&b->lock);
	struct extent *e = extent_alloc(h, sz_classes[szind].npages, PAGE, EXTENT_SLAB, szind);
	if (e)
		slab_init(e, szind, a->ind);
	pthread_mutex_lock(&b->lock);
	if (e)
		b->nslabs++;
	return e;
}

unsigned
bin_fill(struct heap *h, struct arena *a, unsigned szind, void **out, unsigned n)
{
	struct bin *b = &a->bins[szind];
	unsigned got = 0;
	pthread_mutex_lock(&b->lock);
	while (got < n) {
		struct extent *e = b->cur;
		if (!e || e->nfree == 0) {
			b->cur = NULL;           /* a full slab leaves every list */
			e = b->nonfull;
			if (e) {
				extent_list_remove(&b->nonfull, e);
			} else {
				e = slab_new(h, a, b, szind);
				if (!e)
					break;
				if (b->cur) {    /* another fill installed one meanwhile */
					extent_list_push(&b->nonfull, e);
					continue;
				}
			}
			b->cur = e;
		}
		got += slab_take(e, szind, out + got, n - got);
	}
	b->nused += got;
	b->nmalloc += got;
	pthread_mutex_unlock(&b->lock);
	return got;
}

void
bin_flush(struct heap *h, unsigned szind, void *const *ptrs, unsigned n)
{
	void *rest[BIN_FLUSH_MAX];
	struct extent *empty = NULL;
	unsigned nregs = sz_classes[szind].nregs;
	while (n) {
		struct arena *a = &h->arenas[pm_extent(pm_lookup(&h->pm, ptrs[0]))->arena];
		struct bin *b = &a->bins[szind];
		unsigned keep = 0, done = 0;
		pthread_mutex_lock(&b->lock);
		for (unsigned i = 0; i < n; i++) {
			struct extent *e = pm_extent(pm_lookup(&h->pm, ptrs[i]));
			if (e->arena != a->ind) {
				rest[keep++] = ptrs[i];
				continue;
			}
			long reg = slab_index(e, szind, ptrs[i]);
			if (reg < 0 || !slab_is_allocated(e, reg)) {
				errmsg_set(EINVAL, "free of %p: %s", ptrs[i],
						reg < 0 ? "not an object start" : "already free");
				continue;
			}
			slab_put(e, reg);
			done++;
			if (e == b->cur)
				continue;
			if (e->nfree == nregs) {
				if (nregs > 1)
					extent_list_remove(&b->nonfull, e);
				b->nslabs--;
				e->next = empty;
				empty = e;
			} else if (e->nfree == 1) {
				extent_list_push(&b->nonfull, e);
			}
		}
		b->nused -= done;
		b->nfree += done;
		pthread_mutex_unlock(&b->lock);
		ptrs = rest;
		n = keep;
	}
	while (empty) {
		struct extent *e = empty;
		empty = e->next;
		extent_free(h, e);
	}
}

void
bin_release_empty(struct heap *h, struct bin *b, unsigned szind)
{
	pthread_mutex_lock(&b->lock);
	struct extent *e = b->cur;
	if (e && e->nfree == sz_classes[szind].nregs) {
		b->cur = NULL;
		b->nslabs--;
	} else {
		e = NULL;
	}
	pthread_mutex_unlock(&b->lock);
	if (e)
		extent_free(h, e);
}
