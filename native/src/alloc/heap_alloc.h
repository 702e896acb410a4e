/*
 * heap_alloc.h -- the malloc family over a heap
 *
 * The fast paths are inline: a thread-cache pop or push when the calling
 * thread's last heap is this one. Everything else is a tail call into a slow
 * path, so the fast paths keep no registers across a call.
 */
#ifndef PMALLOC_HEAP_ALLOC_H
#define PMALLOC_HEAP_ALLOC_H

#include <stddef.h>

#include "alloc/heap.h"

/* Everything the inline paths below do not: caches to create, refill or flush,
 * large and huge sizes, pointers to check. */
void *heap_malloc_slow(struct heap *h, size_t size);
void heap_free_slow(struct heap *h, void *p);

/* The thread cache's object for size, or NULL (then: heap_malloc_slow). */
static inline void *
heap_malloc_fast(struct heap *h, size_t size)
{
	struct tsd *t = &tsd_tls;
	if (likely(size <= TCACHE_MAX && t->serial == h->serial))
		return tcache_pop(t->tc, sz_size2ind(size));
	return NULL;
}

/* malloc: NULL + ENOMEM when exhausted. */
static inline void *
heap_malloc(struct heap *h, size_t size)
{
	void *p = heap_malloc_fast(h, size);
	return likely(p != NULL) ? p : heap_malloc_slow(h, size);
}

/* free: NULL is ignored; a pointer h did not hand out sets errno EINVAL. */
static inline void
heap_free(struct heap *h, void *p)
{
	struct tsd *t = &tsd_tls;
	uint64_t ent = pm_lookup(&h->ext.pm, p);
	unsigned ind = pm_szind(ent);
	if (likely(ind < NSMALL && t->serial == h->serial)) {
		if (likely(tcache_push(t->tc, ind, p)))
			return;
	} else if (ind < NCACHED && t->serial == h->serial
			&& pm_extent(ent)->addr == (uintptr_t)p    /* its last page maps to it too */
			&& tcache_push(t->tc, ind, p)) {
		return;
	}
	heap_free_slow(h, p);
}

/* calloc: zeroed; NULL + ENOMEM when exhausted or nmemb * size overflows. */
void *heap_calloc(struct heap *h, size_t nmemb, size_t size);

/* realloc, as C's: NULL + errno on failure, the old block kept. */
void *heap_realloc(struct heap *h, void *p, size_t size);

/* aligned_alloc for any power-of-two align; NULL + EINVAL or ENOMEM. */
void *heap_aligned_alloc(struct heap *h, size_t align, size_t size);

/* A copy of the small object p in a fuller slab of its heap, p freed, when p's
 * slab is sparse (bin_defrag_hint); else NULL and p unchanged. */
void *heap_defrag(struct heap *h, void *p);

/* The usable size of p, 0 for NULL or a pointer h did not hand out. */
size_t heap_usable_size(struct heap *h, const void *p);

#endif
