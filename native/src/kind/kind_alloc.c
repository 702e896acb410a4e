/*
 * kind_alloc.c -- memkind's malloc family over the kinds' heaps; free and realloc
 * without a kind find the owner from the address
 */
#include <errno.h>
#include <string.h>

#include "alloc/heap_alloc.h"
#include "common/errmsg.h"
#include "kind/kind.h"
API void *
memkind_malloc(memkind_t kind, size_t size)
{
	struct heap *h = kind_heap(kind);
	if (unlikely(!h || !size)) {
		if (!h)
			errno = kind && kind->magic == KIND_MAGIC ? ENOMEM : EINVAL;
		return NULL;
	}
	return heap_malloc(h, size);
}

API void *
memkind_calloc(memkind_t kind, size_t num, size_t size)
{
	struct heap *h = kind_heap(kind);
	if (unlikely(!h || !num || !size)) {
		if (!h)
			errno = kind && kind->magic == KIND_MAGIC ? ENOMEM : EINVAL;
		return NULL;
	}
	return heap_calloc(h, num, size);
}

API int
memkind_posix_memalign(memkind_t kind, void **memptr, size_t alignment, size_t size)
{
	if (!memptr || !IS_POW2(alignment) || alignment % sizeof(void *)) {
		errmsg_set(EINVAL, "memkind_posix_memalign: alignment %zu is not a power of two "
				"multiple of %zu (or no memptr)", alignment, sizeof(void *));
		return EINVAL;
	}
	*memptr = NULL;
	struct heap *h = kind_heap(kind);
	if (!h)
		return kind && kind->magic == KIND_MAGIC ? ENOMEM : EINVAL;
	if (!size)
		return 0;
	int err = errno;
	void *p = heap_aligned_alloc(h, alignment, size);
	int ret = p ? 0 : errno;
	errno = err;
	*memptr = p;
	return ret;
}

/* The heap a thread last freed into without a kind, for the next such free: one
 * range check instead of the radix lookup, while no heap has been destroyed. */
static __thread struct {
	uintptr_t base;
	size_t size;
	struct heap *heap;
	unsigned generation;
} last_owner TLS_HOT;

/* owner_of -- heap_of(ptr), through the thread's last owner */
static inline struct heap *
owner_of(void *ptr)
{
	unsigned gen = atomic_load_explicit(&heap_generation, memory_order_acquire);
	if (likely((uintptr_t)ptr - last_owner.base < last_owner.size
			&& last_owner.generation == gen))
		return last_owner.heap;
	struct heap *h = heap_of(ptr);
	if (h) {
		last_owner.base = (uintptr_t)h->region.base;
		last_owner.size = h->region.size;
		last_owner.heap = h;
		last_owner.generation = gen;
	}
	return h;
}

API void
memkind_free(memkind_t kind, void *ptr)
{
	if (!ptr)
		return;
	struct heap *h = kind && kind->magic == KIND_MAGIC ? atomic_load_explicit(&kind->heap,
			memory_order_acquire) : NULL;
	if (!h || (uintptr_t)ptr - (uintptr_t)h->region.base >= h->region.size)
		h = owner_of(ptr);   /* no kind, or not this kind's: its owner */
	if (likely(h != NULL))
		heap_free(h, ptr);
	else
		errmsg_set(EINVAL, "memkind_free of %p: no kind allocated it", ptr);
}

API void *
memkind_realloc(memkind_t kind, void *ptr, size_t size)
{
	if (!ptr)
		return memkind_malloc(kind ? kind : MEMKIND_DEFAULT, size);
	struct heap *owner = heap_of(ptr);
	if (!owner) {
		errmsg_set(EINVAL, "memkind_realloc of %p: no kind allocated it", ptr);
		errno = EINVAL;
		return NULL;
	}
	if (!size) {
		heap_free(owner, ptr);
		return NULL;
	}
	struct heap *h = kind ? kind_heap(kind) : owner;
	if (!h) {
		errno = kind->magic == KIND_MAGIC ? ENOMEM : EINVAL;
		return NULL;
	}
	if (h == owner)
		return heap_realloc(h, ptr, size);
	void *q = heap_malloc(h, size);       /* into another kind: move */
	if (q) {
		size_t old = heap_usable_size(owner, ptr);
		memcpy(q, ptr, MIN(old, size));
		heap_free(owner, ptr);
	}
	return q;
}

API size_t
memkind_malloc_usable_size(memkind_t kind, MEMKIND_MALLOC_USABLE_SIZE_CONST void *ptr)
{
	(void)kind;          /* the owner is known from the address */
	struct heap *h = ptr ? heap_of(ptr) : NULL;
	return h ? heap_usable_size(h, ptr) : 0;
}

API void *
memkind_defrag_reallocate(memkind_t kind, void *ptr)
{
	(void)kind;
	struct heap *h = ptr ? heap_of(ptr) : NULL;
	return h ? heap_defrag(h, ptr) : NULL;
}
