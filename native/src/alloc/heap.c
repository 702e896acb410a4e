/*
 * heap.c -- heaps: creation over a region, the registry, each thread's caches,
 * the lock order, reclaim, and fork handling
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc/heap.h"
#include "alloc/rtree.h"
#include "common/errmsg.h"

static pthread_mutex_t heap_registry_lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic(struct heap *) heap_table[HEAP_MAX_IDS + 1];
_Atomic unsigned heap_generation;
static unsigned heap_max_id;          /* highest id in use (registry lock) */
static uint64_t heap_serial;          /* last serial handed out (registry lock) */
static pthread_once_t heap_atfork_once = PTHREAD_ONCE_INIT;
static struct region_copy heap_fork_copy[HEAP_MAX_IDS + 1];  /* per fork: the child's copies */

/* ---- lock order ---------------------------------------------------------- */

void
heap_lock_all(struct heap *h)
{
	pthread_mutex_lock(&h->tcs.lock);
	for (unsigned a = 0; a < h->narenas; a++)
		for (unsigned i = 0; i < NSMALL; i++)
			pthread_mutex_lock(&h->arenas[a].bins[i].lock);
	pthread_mutex_lock(&h->ext.lock);
}

void
heap_unlock_all(struct heap *h)
{
	pthread_mutex_unlock(&h->ext.lock);
	for (unsigned a = h->narenas; a-- > 0;)
		for (unsigned i = NSMALL; i-- > 0;)
			pthread_mutex_unlock(&h->arenas[a].bins[i].lock);
	pthread_mutex_unlock(&h->tcs.lock);
}

/* After fork or a copy taken locked: every lock new, and free. */
static void
heap_reinit_locks(struct heap *h)
{
	pthread_mutex_init(&h->tcs.lock, NULL);
	for (unsigned a = 0; a < h->narenas; a++)
		for (unsigned i = 0; i < NSMALL; i++)
			pthread_mutex_init(&h->arenas[a].bins[i].lock, NULL);
	pthread_mutex_init(&h->ext.lock, NULL);
	pthread_cond_init(&h->ext.purged, NULL);
}

void
heap_reclaim(struct heap *h)
{
	tcache_reclaim(&h->tcs, heap_tcache_peek(h));
	for (unsigned a = 0; a < h->narenas; a++)
		for (unsigned i = 0; i < NSMALL; i++)
			bin_release_empty(&h->arenas[a].bins[i], &h->ext, i);
}

/* ---- each thread's caches ------------------------------------------------ */

__thread struct tsd tsd_tls TLS_HOT;

static pthread_key_t tsd_key;
static pthread_once_t tsd_key_once = PTHREAD_ONCE_INIT;
static bool tsd_key_ok;

static void tsd_cleanup(void *arg);

static void
tsd_key_init(void)
{
	tsd_key_ok = pthread_key_create(&tsd_key, tsd_cleanup) == 0;
}

/* Grow the thread's slot array to hold heap id `id`. */
static bool
tsd_grow(struct tsd *t, unsigned id)
{
	unsigned n = t->nslots ? t->nslots : 256;
	while (n <= id)
		n *= 2;
	void *p = mmap(NULL, n * sizeof(struct tsd_slot), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	if (t->slots) {
		memcpy(p, t->slots, t->nslots * sizeof(struct tsd_slot));
		munmap(t->slots, t->nslots * sizeof(struct tsd_slot));
	}
	t->slots = p;
	t->nslots = n;
	return true;
}

struct tcache *
heap_tcache_peek(struct heap *h)
{
	struct tsd *t = &tsd_tls;
	if (h->id < t->nslots && t->slots[h->id].serial == h->serial)
		return t->slots[h->id].tc;
	return NULL;
}

struct tcache *
heap_tcache_slow(struct heap *h)
{
	struct tsd *t = &tsd_tls;
	if (t->serial == h->serial)
		return t->tc;
	if (t->state == TSD_DEAD)
		return NULL;
	struct tcache *tc = heap_tcache_peek(h);
	if (!tc) {
		pthread_once(&tsd_key_once, tsd_key_init);
		if (!tsd_key_ok || (h->id >= t->nslots && !tsd_grow(t, h->id)))
			return NULL;
		tc = tcache_create(&h->tcs);
		if (!tc)
			return NULL;
		t->slots[h->id].serial = h->serial;
		t->slots[h->id].tc = tc;
		pthread_setspecific(tsd_key, t);
	}
	t->serial = h->serial;
	t->tc = tc;
	return tc;
}

/* Destroy the caches t holds for heaps still alive and drop its slots. */
static void
tsd_release(struct tsd *t)
{
	t->serial = 0;
	t->tc = NULL;
	pthread_mutex_lock(&heap_registry_lock);
	for (unsigned id = 0; id < t->nslots; id++) {
		struct tsd_slot *s = &t->slots[id];
		if (!s->tc)
			continue;
		struct heap *h = heap_by_id(id);
		if (h && h->serial == s->serial)
			tcache_destroy(&h->tcs, s->tc);
	}
	pthread_mutex_unlock(&heap_registry_lock);
	if (t->slots)
		munmap(t->slots, t->nslots * sizeof(struct tsd_slot));
	t->slots = NULL;
	t->nslots = 0;
}

/* tsd_cleanup -- thread exit: no caches any more, not even new ones */
static void
tsd_cleanup(void *arg)
{
	struct tsd *t = arg;
	t->state = TSD_DEAD;
	tsd_release(t);
}

void
heap_thread_flush(void)
{
	tsd_release(&tsd_tls);
}

/* ---- fork --------------------------------------------------------------- */

/* heap_copy_live -- the header, then what the extents hold in use, into c */
static int
heap_copy_live(struct heap *h, const struct region_copy *c)
{
	size_t hdr = (uintptr_t)h->ext.pm.map - (uintptr_t)h->region.base;
	if (region_copy_out(&h->region, c, 0, hdr) != 0)
		return -1;
	return extents_fork_copy(&h->ext, c);
}

/* heap_rehome -- back onto a file of its own once default-mode forks, which
 * made the region copy-on-write, have stopped (region_rehome_begin says when):
 * the process has one thread, and with every lock held and every signal
 * blocked nothing writes the memory while its live pages are copied */
void
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
		extents_remapped(&h->ext, true);
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
		extents_remapped(&h->ext, copied);
		struct tcache *mine = heap_tcache_peek(h);
		struct tcache *tc = h->tcs.head, *next;
		for (; tc; tc = next) {
			next = tc->next;
			if (tc != mine)
				tcache_destroy(&h->tcs, tc);
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
	struct pagemap pm = {
		.map = (uint64_t *)((char *)r->base + hdr),
		.base = (uintptr_t)r->base + hdr + pm_bytes,
		.limit = data_pages * PAGE,
	};
	h->narenas = narenas;
	for (unsigned i = 0; i < narenas; i++)
		arena_init(&h->arenas[i], i);
	if (extents_init(&h->ext, &h->region, &pm, zero,
			(uint64_t *)(void *)((char *)r->base + bitmap_off)) != 0)
		return NULL;
	tcache_set_init(&h->tcs, &h->ext, h->arenas, narenas, &h->large, r->size);
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
	atomic_fetch_add_explicit(&heap_generation, 1, memory_order_release);
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

