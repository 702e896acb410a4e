/*
 * vmem.c -- libvmem's API over the heap: volatile pools in files or caller memory
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "alloc/check.h"
#include "alloc/heap_alloc.h"
#include "alloc/purger.h"
#include "alloc/stats.h"
#include "common/errmsg.h"
#include "libvmem.h"
#include "pmalloc.h"

static void vmem_default_print(const char *s) { fputs(s, stderr); }
static void (*vmem_print)(const char *s) = vmem_default_print;

/* The heap behind vmp, or NULL + EINVAL for something that is not a live pool. */
static inline struct heap *
heap_arg(VMEM *vmp)
{
	struct heap *h = (struct heap *)(void *)vmp;
	if (unlikely(!h || h->magic != HEAP_MAGIC)) {
		errmsg_set(EINVAL, "not a vmem pool: %p", (void *)vmp);
		return NULL;
	}
	return h;
}

API const char *
vmem_check_version(unsigned major_required, unsigned minor_required)
{
	return errmsg_version("libvmem", VMEM_MAJOR_VERSION, VMEM_MINOR_VERSION, major_required, minor_required);
}

API const char *
vmem_errormsg(void)
{
	return errmsg_get();
}

API VMEM *
vmem_create(const char *dir, size_t size)
{
	if (!dir) {
		errmsg_set(EINVAL, "no pool directory given");
		return NULL;
	}
	if (size < VMEM_MIN_POOL) {
		errmsg_set(EINVAL, "size %zu smaller than %zu", size, VMEM_MIN_POOL);
		return NULL;
	}
	size = ALIGN_DOWN(size, PAGE);
	struct region r;
	if (region_create_tmpfile(&r, dir, size) != 0)
		return NULL;
	struct heap *h = heap_create(&r);
	if (!h) {
		int err = errno;
		region_destroy(&r);
		errno = err;
		return NULL;
	}
	/* decay on time even while the program does not allocate (at worst, with
	 * the table full, on its calls only) */
	int err = errno;
	(void)purger_add(&h->ext);
	errno = err;
	return (VMEM *)(void *)h;
}

API VMEM *
vmem_create_in_region(void *addr, size_t size)
{
	if (!addr) {
		errmsg_set(EINVAL, "no region given");
		return NULL;
	}
	if (size < VMEM_MIN_POOL) {
		errmsg_set(EINVAL, "size %zu smaller than %zu", size, VMEM_MIN_POOL);
		return NULL;
	}
	if ((uintptr_t)addr & PAGE_MASK) {
		errmsg_set(EINVAL, "region %p is not page aligned", addr);
		return NULL;
	}
	size = ALIGN_DOWN(size, PAGE);
	struct region r;
	region_init_caller(&r, addr, size);
	return (VMEM *)(void *)heap_create(&r);
}

API void
vmem_delete(VMEM *vmp)
{
	struct heap *h = heap_arg(vmp);
	if (h) {
		purger_remove(&h->ext);
		heap_destroy(h);
	}
}

API int
vmem_check(VMEM *vmp)
{
	struct heap *h = heap_arg(vmp);
	return h ? check_heap(h) : -1;
}

API void
vmem_set_funcs(void *(*malloc_func)(size_t size), void (*free_func)(void *ptr),
		void *(*realloc_func)(void *ptr, size_t size),
		char *(*strdup_func)(const char *s), void (*print_func)(const char *s))
{
	/* the pool's metadata lives in the pool: only printing is replaceable */
	(void)malloc_func;
	(void)free_func;
	(void)realloc_func;
	(void)strdup_func;
	vmem_print = print_func ? print_func : vmem_default_print;
}

static void
print_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
print_line(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vmem_print(line);
}

API void
vmem_stats_print(VMEM *vmp, const char *opts)
{
	struct heap *h = heap_arg(vmp);
	if (!h)
		return;
	struct pmalloc_stats st;
	stats_get(h, &st);
	print_line("pmalloc vmem pool %p: %" PRIu64 " bytes, %u arenas\n",
			(void *)vmp, st.size, st.narenas);
	print_line("allocated %" PRIu64 " active %" PRIu64 " metadata %" PRIu64
			" dirty %" PRIu64 " resident %" PRIu64 " file %" PRIu64
			" purged %" PRIu64 "\n", st.allocated, st.active, st.metadata,
			st.dirty, st.resident, st.file_allocated, st.purged);
	print_line("nmalloc %" PRIu64 " nfree %" PRIu64 "\n", st.nmalloc, st.nfree);
	if (opts && (strchr(opts, 'a') || strchr(opts, 'b')))
		return;
	struct pmalloc_class_stats rows[NCLASSES];
	int n = stats_classes(h, rows, NCLASSES);
	print_line("%10s %10s %12s %10s %8s\n", "size", "slab", "live", "cached", "slabs");
	for (int i = 0; i < n; i++) {
		if (!rows[i].live && !rows[i].cached && !rows[i].slabs)
			continue;
		print_line("%10" PRIu64 " %10" PRIu64 " %12" PRIu64 " %10" PRIu64 " %8" PRIu64 "\n",
				rows[i].size, rows[i].slab_size, rows[i].live, rows[i].cached,
				rows[i].slabs);
	}
}

/* The two hottest entry points only refuse NULL: the magic number check costs a
 * fifth of their instructions and a stale pool pointer faults either way. */
API void *
vmem_malloc(VMEM *vmp, size_t size)
{
	if (unlikely(!vmp))
		return heap_arg(vmp);
	return heap_malloc((struct heap *)(void *)vmp, size);
}

API void
vmem_free(VMEM *vmp, void *ptr)
{
	if (unlikely(!vmp)) {
		heap_arg(vmp);
		return;
	}
	heap_free((struct heap *)(void *)vmp, ptr);
}

API void *
vmem_calloc(VMEM *vmp, size_t nmemb, size_t size)
{
	struct heap *h = heap_arg(vmp);
	return h ? heap_calloc(h, nmemb, size) : NULL;
}

API void *
vmem_realloc(VMEM *vmp, void *ptr, size_t size)
{
	struct heap *h = heap_arg(vmp);
	return h ? heap_realloc(h, ptr, size) : NULL;
}

API void *
vmem_aligned_alloc(VMEM *vmp, size_t alignment, size_t size)
{
	struct heap *h = heap_arg(vmp);
	return h ? heap_aligned_alloc(h, alignment, size) : NULL;
}

API char *
vmem_strdup(VMEM *vmp, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = vmem_malloc(vmp, len);
	if (p)
		memcpy(p, s, len);
	return p;
}

API wchar_t *
vmem_wcsdup(VMEM *vmp, const wchar_t *s)
{
	size_t len = (wcslen(s) + 1) * sizeof(wchar_t);
	wchar_t *p = vmem_malloc(vmp, len);
	if (p)
		memcpy(p, s, len);
	return p;
}

API size_t
vmem_malloc_usable_size(VMEM *vmp, void *ptr)
{
	struct heap *h = heap_arg(vmp);
	return h && ptr ? heap_usable_size(h, ptr) : 0;
}

/* ---- pmalloc extras ----------------------------------------------------- */

API int
pmalloc_vmem_stats(VMEM *vmp, struct pmalloc_stats *st)
{
	struct heap *h = heap_arg(vmp);
	if (!h)
		return -1;
	stats_get(h, st);
	return 0;
}

API int
pmalloc_vmem_class_stats(VMEM *vmp, struct pmalloc_class_stats *rows, size_t n)
{
	struct heap *h = heap_arg(vmp);
	return h ? stats_classes(h, rows, n) : -1;
}

API int
pmalloc_vmem_purge(VMEM *vmp)
{
	struct heap *h = heap_arg(vmp);
	if (!h)
		return -1;
	heap_reclaim(h);
	(void)extent_purge(&h->ext, true);
	return 0;
}

API void
pmalloc_thread_flush(void)
{
	heap_thread_flush();
}

API VMEM *
pmalloc_vmem_of(const void *ptr)
{
	return (VMEM *)(void *)heap_of(ptr);
}

API int
pmalloc_free(void *ptr)
{
	if (!ptr)
		return 0;
	struct heap *h = heap_of(ptr);
	if (!h) {
		errmsg_set(EINVAL, "free of %p: no pool holds it", ptr);
		return -1;
	}
	heap_free(h, ptr);
	return 0;
}
