/*
 * shim.c -- libvmmalloc.so: an unmodified program's whole heap in a pool file
 *
 * Preloaded (LD_PRELOAD, `pmalloc run`), it replaces the malloc family and
 * forwards every call to one heap over a pool file; it holds no allocator logic.
 * The heap is created at the first call, which may come from the dynamic loader
 * before any constructor: until it exists, calls made while creating it (from
 * the same thread) are served from a static bootstrap arena, and other threads
 * wait. Settings come from PMALLOC_* and libvmmalloc's VMMALLOC_* variables; an
 * invalid one stops the program with a message, never a silent fallback.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc/heap_alloc.h"
#include "alloc/purger.h"
#include "alloc/stats.h"
#include "alloc/region.h"
#include "common/boot.h"
#include "common/errmsg.h"
#include "common/options.h"

#define SHIM_EXPORT __attribute__((visibility("default")))


static _Atomic(struct heap *) shim_heap;  /* the pool's heap once ready */
static _Atomic(struct heap *) shim_fallback; /* anonymous heap (PMALLOC_FALLBACK=1) */
static bool shim_fallback_on;
static bool shim_stats;

/* ---- settings ----------------------------------------------------------- */

/* Check every setting (a bad one stops the program); the pool's size. */
static size_t
shim_settings(void)
{
	static const enum option_id checked[] = { OPT_POOL_DIR, OPT_POOL_SIZE, OPT_FORK,
		OPT_DECAY_MS, OPT_FALLBACK, OPT_STATS, OPT_BACKGROUND };
	for (size_t i = 0; i < ARRAY_SIZE(checked); i++)
		if (options_check(checked[i]) != 0)
			boot_die("%s", errmsg_get());
	shim_fallback_on = options_num(OPT_FALLBACK) == 1;
	shim_stats = options_num(OPT_STATS) == 1;
	return (size_t)options_num(OPT_POOL_SIZE);
}

/* ---- start-up ----------------------------------------------------------- */

static void shim_report(void);

/* shim_start -- create the heap (once); false while this thread is creating it */
static bool
shim_start(void)
{
	enum boot_step step = boot_begin();
	if (step != BOOT_RUN)
		return step == BOOT_READY;
	size_t size = ALIGN_DOWN(shim_settings(), PAGE);
	struct region r;
	if (region_create_tmpfile(&r, options_str(OPT_POOL_DIR), size) != 0)
		boot_die("cannot create a %zu-byte pool in %s: %s", size, options_str(OPT_POOL_DIR), errmsg_get());
	struct heap *h = heap_create(&r);
	if (!h)
		boot_die("cannot set up the pool: %s", errmsg_get());
	atomic_store_explicit(&shim_heap, h, memory_order_release);
	if (options_num(OPT_BACKGROUND) == 1)
		(void)purger_add(&h->ext);
	if (shim_stats)
		atexit(shim_report);
	boot_end();
	return true;
}

/* At load time, so a bad setting stops even a program that never allocates. */
__attribute__((constructor)) static void
shim_load(void)
{
	shim_start();
}

/* The pool's heap, or NULL before it exists (an acquire load: a plain mov). */
static inline struct heap *
pool(void)
{
	return atomic_load_explicit(&shim_heap, memory_order_acquire);
}

static inline bool
holds(const struct heap *h, const void *p)
{
	return h && (uintptr_t)p - h->ext.pm.base < h->ext.pm.limit;
}

/* The fallback heap, or NULL (made at most once, under a lock). */
static inline struct heap *
fallback(void)
{
	return atomic_load_explicit(&shim_fallback, memory_order_acquire);
}

/* The heap holding p: the pool, the fallback, or NULL (bootstrap or foreign). */
static inline struct heap *
owner(const void *p)
{
	struct heap *h = pool();
	if (holds(h, p))
		return h;
	return holds(fallback(), p) ? fallback() : NULL;
}

/* On exhaustion: NULL + ENOMEM, or anonymous memory when PMALLOC_FALLBACK=1. */
static void *
exhausted(size_t size, size_t align)
{
	if (!shim_fallback_on)
		return NULL;
	if (!fallback()) {
		static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
		pthread_mutex_lock(&lock);
		if (!fallback()) {
			/* as large as memory (or the pool, if larger): the pool's
			 * size would only double the room, not lift the limit */
			size_t mem = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
			size_t size = ALIGN_DOWN(MAX(pool()->region.size, mem), PAGE);
			struct region r;
			if (region_create_anon(&r, size) == 0) {
				struct heap *h = heap_create(&r);
				if (h)
					atomic_store_explicit(&shim_fallback, h, memory_order_release);
				else
					region_destroy(&r);
			}
		}
		pthread_mutex_unlock(&lock);
		if (!fallback()) {
			errno = ENOMEM;
			return NULL;
		}
	}
	return align ? heap_aligned_alloc(fallback(), align, size)
		: heap_malloc(fallback(), size);
}

/* ---- the malloc family -------------------------------------------------- */

/*
 * The exported functions call each other only through these static ones: a
 * call to an exported name would go through the PLT and bind to whichever
 * malloc the loader found first, which is not this one when the shim is
 * dlopen'ed or preloaded after another allocator, and would hand out memory
 * its own free and malloc_usable_size do not know.
 */
static void *shim_malloc(size_t size);
static void *shim_malloc_slow(struct heap *h, size_t size);
static void shim_free(void *p);
static void *shim_realloc(void *p, size_t size);

SHIM_EXPORT void *
malloc(size_t size)
{
	return shim_malloc(size);
}

static inline void *
shim_malloc(size_t size)
{
	struct heap *h = pool();
	void *p = likely(h != NULL) ? heap_malloc_fast(h, size) : NULL;
	return likely(p != NULL) ? p : shim_malloc_slow(h, size);
}

/* Out of line, so that malloc's fast path keeps nothing across a call: the
 * heap made at the first call, a cache refill, a large block, exhaustion. */
static __attribute__((noinline)) void *
shim_malloc_slow(struct heap *h, size_t size)
{
	if (unlikely(!h)) {
		if (!shim_start())
			return boot_alloc(size, 16);
		h = pool();
	}
	void *p = heap_malloc_slow(h, size);
	return likely(p != NULL) ? p : exhausted(size, 0);
}

SHIM_EXPORT void
free(void *p)
{
	shim_free(p);
}

static inline void
shim_free(void *p)
{
	struct heap *h = pool();
	if (likely(holds(h, p)))
		heap_free(h, p);
	else if (p && holds(fallback(), p))
		heap_free(fallback(), p);
	/* NULL, bootstrap or foreign (the loader's early) memory: nothing to do */
}

SHIM_EXPORT void
cfree(void *p)
{
	shim_free(p);
}

SHIM_EXPORT void *
calloc(size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	struct heap *h = pool();
	if (unlikely(!h)) {
		if (!shim_start())
			return boot_alloc(total, 16);   /* static memory: already zero */
		h = pool();
	}
	void *p = heap_calloc(h, n, size);
	if (likely(p != NULL))
		return p;
	p = exhausted(total, 0);
	if (p)
		memset(p, 0, total);
	return p;
}

SHIM_EXPORT size_t
malloc_usable_size(void *p)
{
	struct heap *h = owner(p);
	if (h)
		return heap_usable_size(h, p);
	return p && is_boot(p) ? boot_size(p) : 0;
}

SHIM_EXPORT void *
realloc(void *p, size_t size)
{
	return shim_realloc(p, size);
}

static void *
shim_realloc(void *p, size_t size)
{
	if (!p)
		return shim_malloc(size);
	struct heap *h = owner(p);
	if (h) {
		void *q = heap_realloc(h, p, size);
		if (q || size == 0 || h != pool())
			return q;
		/* the pool is exhausted: the fallback, if allowed, takes it */
	} else if (!is_boot(p)) {
		errno = ENOMEM;       /* foreign memory: its size is unknown */
		return NULL;
	}
	size_t old = h ? heap_usable_size(h, p) : boot_size(p);
	void *q = h ? exhausted(size, 0) : shim_malloc(size ? size : 1);
	if (!q)
		return NULL;
	memcpy(q, p, MIN(old, size));
	shim_free(p);
	return q;
}

static void *
aligned(size_t align, size_t size)
{
	struct heap *h = pool();
	if (unlikely(!h)) {
		if (!shim_start())
			return boot_alloc(size, align);
		h = pool();
	}
	void *p = heap_aligned_alloc(h, align, size);
	return p || errno == EINVAL ? p : exhausted(size, align);
}

#define preload_realloc shim_realloc
#include "common/preload_family.h"

/* ---- PMALLOC_STATS=1: the pool's usage at exit --------------------------- */

static void
shim_report(void)
{
	struct pmalloc_stats st;
	struct heap *h = pool();
	stats_get(h, &st);
	char line[512];
	int n = snprintf(line, sizeof(line),
		"pmalloc: pool %s (%zu bytes, pid %ld): allocated %llu active %llu "
		"resident %llu file %llu nmalloc %llu nfree %llu%s\n",
		options_str(OPT_POOL_DIR), h->region.size, (long)getpid(),
		(unsigned long long)st.allocated, (unsigned long long)st.active,
		(unsigned long long)st.resident, (unsigned long long)st.file_allocated,
		(unsigned long long)st.nmalloc, (unsigned long long)st.nfree,
		fallback() ? " (fallback heap in use)" : "");
	if (n > 0) {
		ssize_t w = write(STDERR_FILENO, line, (size_t)MIN(n, (int)sizeof(line) - 1));
		(void)w;
	}
}
