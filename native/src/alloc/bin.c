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
	struct extent *ext[BIN_FLUSH_MAX];
	long reg[BIN_FLUSH_MAX];
	struct extent *empty = NULL;
	unsigned nregs = sz_classes[szind].nregs;
	/* what needs no lock first (a slab's place and arena are fixed while it holds
	 * an object): the critical sections below only touch bitmaps and lists */
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		struct extent *e = pm_extent(pm_lookup(&h->pm, ptrs[i]));
		long r = slab_index(e, szind, ptrs[i]);
		if (r < 0) {
			errmsg_set(EINVAL, "free of %p: not an object start", ptrs[i]);
			continue;
		}
		ext[m] = e;
		reg[m++] = r;
	}
	while (m) {
		unsigned arena = ext[0]->arena;
		struct bin *b = &h->arenas[arena].bins[szind];
		unsigned keep = 0, done = 0;
		pthread_mutex_lock(&b->lock);
		for (unsigned i = 0; i < m; i++) {
			struct extent *e = ext[i];
			if (e->arena != arena) {
				ext[keep] = e;
				reg[keep++] = reg[i];
				continue;
			}
			if (!slab_is_allocated(e, reg[i])) {
				errmsg_set(EINVAL, "free of %p: already free",
						(void *)(e->addr + (uintptr_t)reg[i] * sz_classes[szind].size));
				continue;
			}
			slab_put(e, reg[i]);
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
		m = keep;
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
