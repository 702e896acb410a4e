/*
 * heap.c -- heaps: creation over a region, the registry, the slow paths of the
 * malloc family, and fork handling
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "alloc/heap.h"
#include "alloc/rtree.h"
#include "common/errmsg.h"

pthread_mutex_t heap_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct heap *) heap_table[HEAP_MAX_IDS + 1];
static unsigned heap_max_id;          /* highest id in use (registry lock) */
static uint64_t heap_serial;          /* last serial handed out (registry lock) */
static pthread_once_t heap_atfork_once = PTHREAD_ONCE_INIT;
static struct region_copy heap_fork_copy[HEAP_MAX_IDS + 1];  /* per fork: the child's copies */

struct heap *
heap_by_id(unsigned id)
{
	if (id == 0 || id > HEAP_MAX_IDS)
		return NULL;
	return atomic_load_explicit(&heap_table[id], memory_order_acquire);
}

struct heap *
heap_of(const void *p)
{
	struct heap *h = heap_by_id(rtree_lookup(p));
	if (!h)
		return NULL;
	uintptr_t off = (uintptr_t)p - (uintptr_t)h->region.base;
	return off < h->region.size ? h : NULL;
}

/* ---- fork --------------------------------------------------------------- */

/* heap_copy_live -- the header, then what the extents hold in use, into c */
static int
heap_copy_live(struct heap *h, const struct region_copy *c)
{
	size_t hdr = (uintptr_t)h->pm.map - (uintptr_t)h->region.base;
	if (region_copy_out(&h->region, c, 0, hdr) != 0)
		return -1;
	return extents_fork_copy(h, c);
}

/* heap_rehome -- back onto a file of its own once default-mode forks, which
 * made the region copy-on-write, have stopped (region_rehome_begin says when):
 * the process has one thread, and with every lock held and every signal
 * blocked nothing writes the memory while its live pages are copied */
static void
heap_rehome(struct heap *h)
{
	struct region_copy c;
	if (!region_rehome_begin(&h->region, &c))
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	heap_lock_all(h);
	if (heap_copy_live(h, &c) == 0 && region_rehome_finish(&h->region, &c)) {
		heap_reinit_locks(h);   /* the copy was taken locked; no other thread */
		extents_remapped(h, true);
	} else {
		region_copy_end(&h->region, &c);
		heap_unlock_all(h);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * Fork: every heap is locked, so its metadata is a consistent snapshot; then a
 * file-backed heap is separated from the child (a copy of its live pages in a
 * new file, or in anonymous memory where the file system has no room, or a
 * copy-on-write remap: region.h), since a shared file would let the two
 * processes corrupt each other. The copies' handles live here, in process
 * memory: the child cannot read the shared header while the parent goes on.
 */
static void
heap_prefork(void)
{
	pthread_mutex_lock(&heap_registry_lock);
	for (unsigned id = 1; id <= heap_max_id; id++) {
		struct heap *h = heap_by_id(id);
		if (!h)
			continue;
		heap_lock_all(h);
		struct region_copy *c = &heap_fork_copy[id];
		if (region_copy_begin(&h->region, c) && heap_copy_live(h, c) != 0
				&& (!region_copy_to_anon(&h->region, c) || heap_copy_live(h, c) != 0)) {
			region_copy_end(&h->region, c);
			region_fork_cow(&h->region);
		}
	}
}

static void
heap_postfork_parent(void)
{
	for (unsigned id = 1; id <= heap_max_id; id++) {
		struct heap *h = heap_by_id(id);
		if (!h)
			continue;
		region_copy_end(&h->region, &heap_fork_copy[id]);
		heap_unlock_all(h);
	}
	pthread_mutex_unlock(&heap_registry_lock);
}

/* The child has one thread: the others' caches can go back to the arenas. */
static void
heap_postfork_child(void)
{
	pthread_mutex_init(&heap_registry_lock, NULL);
	for (unsigned id = 1; id <= heap_max_id; id++) {
		struct heap *h = heap_by_id(id);
		if (!h)
			continue;
		/* the copy's header was taken with every lock held: map it first */
		struct region_copy *c = &heap_fork_copy[id];
		bool copied = (c->fd >= 0 || c->mem) && region_fork_child(&h->region, c);
		heap_reinit_locks(h);
		extents_remapped(h, copied);
		struct tcache *mine = tcache_peek(h);
		struct tcache *tc = h->tcaches, *next;
		for (; tc; tc = next) {
			next = tc->next;
			if (tc != mine)
				tcache_destroy(h, tc);
		}
	}
}

static void
heap_atfork_init(void)
{
	pthread_atfork(heap_prefork, heap_postfork_parent, heap_postfork_child);
}

/* ---- creation ----------------------------------------------------------- */

static unsigned
arenas_for(size_t size)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = (size_t)(ncpu > 0 ? ncpu : 1) * 4;
	n = MIN(n, size / ((size_t)32 << 20));
	return (unsigned)MAX(MIN(n, (size_t)HEAP_MAX_ARENAS), (size_t)1);
}

/* Register h under a free id; false when every id is taken. */
static bool
heap_register(struct heap *h)
{
	bool ok = false;
	pthread_mutex_lock(&heap_registry_lock);
	for (unsigned id = 1; id <= HEAP_MAX_IDS; id++) {
		if (heap_by_id(id))
			continue;
		if (!rtree_set((uintptr_t)h->region.base, h->region.size, id))
			break;
		h->id = id;
		h->serial = ++heap_serial;
		heap_max_id = MAX(heap_max_id, id);
		atomic_store_explicit(&heap_table[id], h, memory_order_release);
		ok = true;
		break;
	}
	pthread_mutex_unlock(&heap_registry_lock);
	return ok;
}

struct heap *
heap_create(const struct region *r)
{
	sz_boot();
	if (extent_decay_check() != 0)
		return NULL;
	pthread_once(&heap_atfork_once, heap_atfork_init);
	unsigned narenas = arenas_for(r->size);
	/* the header holds the heap, its arenas and the page map's reserve bitmap
	 * (sized for a map of every page: a bound on the real one) */
	size_t arenas_end = sizeof(struct heap) + narenas * sizeof(struct arena);
	size_t bitmap_off = ALIGN_UP(arenas_end, sizeof(uint64_t));
	size_t hdr = ALIGN_UP(bitmap_off + extents_pm_words(r->size >> LG_PAGE)
			* sizeof(uint64_t), PAGE);
	if (hdr + 2 * PAGE > r->size) {
		errmsg_set(EINVAL, "pool of %zu bytes is too small", r->size);
		return NULL;
	}
	/* data pages and their page map share what the header leaves */
	size_t data_pages = (r->size - hdr) / (PAGE + sizeof(uint64_t));
	size_t pm_bytes = ALIGN_UP(data_pages * sizeof(uint64_t), PAGE);
	while (data_pages && hdr + pm_bytes + data_pages * PAGE > r->size)
		pm_bytes = ALIGN_UP(--data_pages * sizeof(uint64_t), PAGE);

	if (region_reserve(r, r->base, hdr) != 0)
		return NULL;
	struct heap *h = r->base;
	bool zero = region_fresh_is_zero(r);
	memset(h, 0, zero ? hdr : hdr + pm_bytes);
	h->region = *r;
	h->pm.map = (uint64_t *)((char *)r->base + hdr);
	h->pm.base = (uintptr_t)r->base + hdr + pm_bytes;
	h->pm.limit = data_pages * PAGE;
	h->narenas = narenas;
	pthread_mutex_init(&h->tc_lock, NULL);
	for (unsigned i = 0; i < narenas; i++)
		arena_init(&h->arenas[i], i);
	if (extents_init(h, h->pm.base, data_pages, zero,
			(uint64_t *)(void *)((char *)r->base + bitmap_off)) != 0)
		return NULL;
	if (!heap_register(h)) {
		errmsg_set(ENOMEM, "too many pools");
		return NULL;
	}
	h->magic = HEAP_MAGIC;
	return h;
}

void
heap_destroy(struct heap *h)
{
	pthread_mutex_lock(&heap_registry_lock);
	atomic_store_explicit(&heap_table[h->id], NULL, memory_order_release);
	rtree_clear((uintptr_t)h->region.base, h->region.size, h->id);
	pthread_mutex_unlock(&heap_registry_lock);
	struct tsd *t = &tsd_tls;
	if (t->serial == h->serial) {
		t->serial = 0;
		t->tc = NULL;
	}
	h->magic = 0;
	struct region r = h->region;
	region_destroy(&r);
}

/* ---- slow paths --------------------------------------------------------- */

static void *
enomem_too_big(size_t size)
{
	errmsg_set(ENOMEM, "a request of %zu bytes exceeds the pool", size);
	return NULL;
}

void
heap_reclaim(struct heap *h)
{
	tcache_reclaim(h);
	for (unsigned a = 0; a < h->narenas; a++)
		for (unsigned i = 0; i < NSMALL; i++)
			bin_release_empty(h, &h->arenas[a].bins[i], i);
}

/* A large or huge allocation of at least size bytes (size > SMALL_MAX). */
static void *
large_alloc(struct heap *h, size_t size, size_t align, bool zero)
{
	if (size > h->pm.limit)
		return enomem_too_big(size);
	size_t usize = sz_usable(size);
	unsigned ind = size <= LARGE_MAX ? sz_size2ind(size) : SZIND_HUGE;
	void *p = arena_large_alloc(h, usize >> LG_PAGE, align, zero, ind);
	if (!p) {
		heap_reclaim(h);
		p = arena_large_alloc(h, usize >> LG_PAGE, align, zero, ind);
	}
	return p;
}

void *
heap_malloc_slow(struct heap *h, size_t size)
{
	if (unlikely(h->region.rehome))
		heap_rehome(h);
	if (size <= TCACHE_MAX) {
		unsigned ind = sz_size2ind(size);
		struct tcache *tc = tcache_get(h, h->serial);
		if (tc) {
			void *p = tcache_pop(tc, ind);
			return likely(p != NULL) ? p : tcache_alloc_slow(h, tc, ind);
		}
		if (size <= SMALL_MAX) {
			/* no thread cache (thread exiting, or no memory for one) */
			struct arena *a = &h->arenas[((uintptr_t)&tsd_tls >> 12) % h->narenas];
			void *p;
			return bin_fill(h, a, ind, &p, 1) == 1 ? p : NULL;  /* extent_alloc said why */
		}
	}
	return large_alloc(h, size, PAGE, false);
}

void
heap_free_slow(struct heap *h, void *p)
{
	if (!p)
		return;
	if (unlikely(h->region.rehome))
		heap_rehome(h);
	uint64_t ent = pm_lookup(&h->pm, p);
	unsigned ind = pm_szind(ent);
	struct extent *e = pm_extent(ent);
	if (ind >= NSMALL && (!e || e->state != EXTENT_LARGE || e->addr != (uintptr_t)p)) {
		errmsg_set(EINVAL, "free of %p: not allocated from this pool", p);
		return;
	}
	struct tcache *tc = ind < NCACHED ? tcache_get(h, h->serial) : NULL;
	if (!tc) {
		if (ind < NSMALL)
			bin_flush(h, ind, &p, 1);
		else
			arena_large_free(h, e);
		return;
	}
	if (!tcache_push(tc, ind, p))
		tcache_free_slow(h, tc, ind, p);
}

void *
heap_calloc(struct heap *h, size_t nmemb, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errmsg_set(ENOMEM, "calloc of %zu x %zu bytes overflows", nmemb, size);
		return NULL;
	}
	if (total <= SMALL_MAX) {
		void *p = heap_malloc(h, total);
		if (p)
			memset(p, 0, total);
		return p;
	}
	/* straight from the extents: purged or fresh pages need no zeroing */
	return large_alloc(h, total, PAGE, true);
}

size_t
heap_usable_size(struct heap *h, const void *p)
{
	uint64_t ent = pm_lookup(&h->pm, p);
	unsigned ind = pm_szind(ent);
	if (ind < NSMALL)
		return sz_classes[ind].size;
	struct extent *e = pm_extent(ent);
	if (!e || e->state != EXTENT_LARGE || e->addr != (uintptr_t)p)
		return 0;
	return e->npages * PAGE;
}

void *
heap_realloc(struct heap *h, void *p, size_t size)
{
	if (!p)
		return heap_malloc(h, size);
	size_t old = heap_usable_size(h, p);
	if (old == 0) {
		errmsg_set(EINVAL, "realloc of %p: not allocated from this pool", p);
		return NULL;
	}
	if (size == 0) {
		heap_free(h, p);
		return NULL;
	}
	if (size > h->pm.limit)
		return enomem_too_big(size);
	if (size <= SMALL_MAX && old <= SMALL_MAX && sz_usable(size) == old)
		return p;
	if (size > SMALL_MAX && old > SMALL_MAX) {
		size_t usize = sz_usable(size);
		if (usize == old || arena_large_resize(h, pm_extent(pm_lookup(&h->pm, p)), usize))
			return p;
	}
	void *q = heap_malloc(h, size);
	if (!q)
		return NULL;
	memcpy(q, p, MIN(old, size));
	heap_free(h, p);
	return q;
}

void *
heap_aligned_alloc(struct heap *h, size_t align, size_t size)
{
	if (!IS_POW2(align)) {
		errmsg_set(EINVAL, "alignment %zu is not a power of two", align);
		return NULL;
	}
	if (align > h->pm.limit) {	/* name the alignment: the size may be small */
		errmsg_set(ENOMEM, "alignment %zu for a request of %zu bytes exceeds the pool",
			align, size);
		return NULL;
	}
	if (size > h->pm.limit)
		return enomem_too_big(size);
	size = MAX(size, (size_t)1);
	if (align <= 16)
		return heap_malloc(h, align == 16 ? MAX(size, (size_t)16) : size);
	/* a class whose size is a multiple of align, in page-aligned slabs */
	size_t asize = ALIGN_UP(size, align);
	if (align <= PAGE && asize <= TCACHE_MAX)
		return heap_malloc(h, asize);
	return large_alloc(h, MAX(size, SMALL_MAX + 1), align, false);
}
