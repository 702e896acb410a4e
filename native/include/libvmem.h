/*
 * libvmem.h -- volatile memory pools on a pmem or file-backed region
 *
 * The function API of PMDK's libvmem (1.x), implemented by pmalloc's slab
 * allocator. A C program written against libvmem's documented API compiles
 * against this header and links with libpmalloc.so.
 */
#ifndef LIBVMEM_H
#define LIBVMEM_H 1

#include <stddef.h>
#include <wchar.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMEM_MAJOR_VERSION 1
#define VMEM_MINOR_VERSION 1

/* The smallest pool vmem_create and vmem_create_in_region accept. */
#define VMEM_MIN_POOL ((size_t)(1024 * 1024 * 14))

typedef struct vmem VMEM;

/* ---- Versioning and errors ---------------------------------------------- */

/* NULL when this library satisfies the required version, else a message. */
const char *vmem_check_version(unsigned major_required, unsigned minor_required);

/* The last error message of the calling thread (same as pmalloc_errormsg). */
const char *vmem_errormsg(void);

/* ---- Pools -------------------------------------------------------------- */

/* A pool of `size` bytes in an unlinked temporary file in `dir`; NULL + errno. */
VMEM *vmem_create(const char *dir, size_t size);

/* A pool inside the caller's memory [addr, addr+size); NULL + errno. */
VMEM *vmem_create_in_region(void *addr, size_t size);

/* Release a pool and everything allocated from it. */
void vmem_delete(VMEM *vmp);

/* Walk the pool's metadata: 1 consistent, 0 inconsistent, -1 error. */
int vmem_check(VMEM *vmp);

/* Print statistics through the print function; opts "a" omits per-class rows. */
void vmem_stats_print(VMEM *vmp, const char *opts);

/* Replace the functions used for metadata and printing (NULL keeps the default). */
void vmem_set_funcs(void *(*malloc_func)(size_t size),
		void (*free_func)(void *ptr),
		void *(*realloc_func)(void *ptr, size_t size),
		char *(*strdup_func)(const char *s),
		void (*print_func)(const char *s));

/* ---- Allocation --------------------------------------------------------- */

/* `size` bytes from the pool; NULL + ENOMEM when exhausted. */
void *vmem_malloc(VMEM *vmp, size_t size);

/* Release memory from vmem_malloc and friends; NULL is ignored. */
void vmem_free(VMEM *vmp, void *ptr);

/* Zeroed memory for nmemb*size bytes; NULL + ENOMEM on overflow or exhaustion. */
void *vmem_calloc(VMEM *vmp, size_t nmemb, size_t size);

/* Resize, in place where possible; NULL + ENOMEM leaves ptr untouched. */
void *vmem_realloc(VMEM *vmp, void *ptr, size_t size);

/* `size` bytes aligned to `alignment` (a power of two); NULL + EINVAL/ENOMEM. */
void *vmem_aligned_alloc(VMEM *vmp, size_t alignment, size_t size);

/* A copy of the string in the pool. */
char *vmem_strdup(VMEM *vmp, const char *s);

/* A copy of the wide string in the pool. */
wchar_t *vmem_wcsdup(VMEM *vmp, const wchar_t *s);

/* The usable size of an allocation (>= the size asked for); 0 for NULL. */
size_t vmem_malloc_usable_size(VMEM *vmp, void *ptr);

#ifdef __cplusplus
}
#endif
#endif /* LIBVMEM_H */
