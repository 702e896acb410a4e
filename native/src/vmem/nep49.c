/*
 * nep49.c -- a pool's allocator in the shape NumPy's array data handler (NEP 49)
 * calls: ctx is the VMEM *. No Python here: pmalloc.numpy puts these functions in
 * the handler it installs.
 */
#include "libvmem.h"
#include "pmalloc.h"
#include "alloc/hugehint.h"

/* NumPy asks for 0 bytes for empty arrays; a 1-byte block keeps the pointer
 * distinct and non-NULL (NULL means "out of memory" to NumPy). */
static inline size_t
at_least_one(size_t n)
{
	return n ? n : 1;
}

void *
pmalloc_np_vmem_malloc(void *ctx, size_t size)
{
	return huge_hint(vmem_malloc((VMEM *)ctx, at_least_one(size)), size);
}

void *
pmalloc_np_vmem_calloc(void *ctx, size_t nelem, size_t elsize)
{
	if (nelem == 0 || elsize == 0)
		nelem = elsize = 1;
	return huge_hint(vmem_calloc((VMEM *)ctx, nelem, elsize), nelem * elsize);
}

void *
pmalloc_np_vmem_realloc(void *ctx, void *ptr, size_t size)
{
	return huge_hint(vmem_realloc((VMEM *)ctx, ptr, at_least_one(size)), size);
}

void
pmalloc_np_vmem_free(void *ctx, void *ptr, size_t size)
{
	(void)size;     /* a hint only: NumPy passes a wrong one for some shapes */
	vmem_free((VMEM *)ctx, ptr);
}
