/*
 * bin.c -- bins: filling thread caches from slabs and flushing objects back
 */
#include <errno.h>

#include "alloc/bin.h"
#include "alloc/slab.h"
#include "common/errmsg.h"

/* A new slab for bin b of arena number arena; the bin lock is dropped meanwhile. */
static struct extent *
slab_new(struct bin *b, struct extents *x, unsigned arena, unsigned szind)
{
	pthread_mutex_unlock(&b->lock);
	struct extent *e = extent_alloc(x, sz_classes[szind].npages, PAGE, EXTENT_SLAB, szind);
	if (e)
		slab_init(e, szind, arena);
	pthread_mutex_lock(&b->lock);
	if (e)
		b->nslabs++;
	return e;
}

unsigned
bin_fill(struct bin *b, struct extents *x, unsigned arena, unsigned szind, void **out,
		unsigned n)
{
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
				e = slab_new(b, x, arena, szind);
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

bool
bin_defrag_hint(struct bin *b, const struct extent *e)
{
	pthread_mutex_lock(&b->lock);
	uint64_t used = sz_classes[e->szind].nregs - e->nfree;
	bool move = e != b->cur && b->nslabs > 1 && used * b->nslabs < b->nused;
	pthread_mutex_unlock(&b->lock);
	return move;
}

void
bin_flush(struct bin *b, struct extents *x, unsigned szind, struct extent *const *ext,
		const long *reg, unsigned m)
{
	struct extent *empty = NULL;
	unsigned nregs = sz_classes[szind].nregs, done = 0;
	pthread_mutex_lock(&b->lock);
	for (unsigned i = 0; i < m; i++) {
		struct extent *e = ext[i];
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
	while (empty) {
		struct extent *e = empty;
		empty = e->next;
		extent_free(x, e);
	}
}

void
bin_release_empty(struct bin *b, struct extents *x, unsigned szind)
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
		extent_free(x, e);
}
