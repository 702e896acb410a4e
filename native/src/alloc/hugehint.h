/*
 * hugehint.h -- NumPy's huge-page hint, for the NEP 49 adapters (vmem/nep49.c,
 * kind/nep49.c): its default allocator asks for transparent huge pages on the
 * whole pages of an array of 4 MiB or more; ours do the same. A mapping that
 * cannot have them (a file on tmpfs without huge=) refuses, harmlessly.
 */
#ifndef PMALLOC_HUGEHINT_H
#define PMALLOC_HUGEHINT_H

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "alloc/heap.h"
#include "common/util.h"

#define HUGEHINT_MIN ((size_t)4 << 20)

/* p (of size bytes, or NULL) with the hint given on its whole pages; errno kept. */
static inline void *
huge_hint(void *p, size_t size)
{
	struct heap *h = p && size >= HUGEHINT_MIN ? heap_of(p) : NULL;
	if (h && h->region.kind == REGION_ANON) {
		int err = errno;
		uintptr_t lo = ALIGN_UP((uintptr_t)p, PAGE);
		uintptr_t hi = ALIGN_DOWN((uintptr_t)p + size, PAGE);
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
		errno = err;
	}
	return p;
}

#endif
