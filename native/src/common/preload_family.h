/*
 * preload_family.h -- the entry points both preload libraries (shim/, tiershim/)
 * derive the same way: reallocarray over realloc, and posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc over one aligned(align, size).
 *
 * Include it once, in the library's front, after defining
 *     static void *aligned(size_t align, size_t size);         NULL + errno
 *     static void *preload_realloc(void *p, size_t size);      the library's realloc
 * The functions are defined here, exported. They call those static functions, never
 * an exported name: a call through the PLT binds to whichever realloc the loader
 * found first, not this library's when it is dlopen'ed after another allocator.
 */
#ifndef PMALLOC_PRELOAD_FAMILY_H
#define PMALLOC_PRELOAD_FAMILY_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/util.h"

#define PRELOAD_EXPORT __attribute__((visibility("default")))

PRELOAD_EXPORT void *
reallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return preload_realloc(p, total);
}

PRELOAD_EXPORT int
posix_memalign(void **out, size_t align, size_t size)
{
	if (!IS_POW2(align) || align % sizeof(void *))
		return EINVAL;
	int err = errno;
	void *p = aligned(align, size);
	int ret = p ? 0 : errno;
	errno = err;
	if (p)
		*out = p;
	return ret;
}

PRELOAD_EXPORT void *
aligned_alloc(size_t align, size_t size)
{
	return aligned(align, size);
}

PRELOAD_EXPORT void *
memalign(size_t align, size_t size)
{
	return aligned(align, size);
}

PRELOAD_EXPORT void *
valloc(size_t size)
{
	return aligned(PAGE, size);
}

PRELOAD_EXPORT void *
pvalloc(size_t size)
{
	if (size > SIZE_MAX - PAGE) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned(PAGE, ALIGN_UP(size ? size : 1, PAGE));
}

#endif
