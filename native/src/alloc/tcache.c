/*
 * tcache.c -- thread caches: refill, flush, per-thread slots and thread exit
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc/bin.h"
#include "alloc/extent.h"
#include "alloc/heap.h"
#include "alloc/tcache.h"
#include "common/errmsg.h"

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

static size_t
tcache_bytes(void)
{
	size_t slots = 0;
	for (unsigned i = 0; i < NCACHED; i++)
		slots += sz_classes[i].ncache;
	return sizeof(struct tcache) + slots * sizeof(void *);
}

static struct tcache *
tcache_create(struct heap *h)
{
	size_t bytes = tcache_bytes();
	struct extent *e = extent_alloc(h, ALIGN_UP(bytes, PAGE) >> LG_PAGE, PAGE,
			EXTENT_META, SZIND_NONE);
	if (!e)
		return NULL;
	struct tcache *tc = (struct tcache *)e->addr;
	memset(tc, 0, sizeof(*tc));
	tc->heap = h;
	tc->ext = e;
	unsigned a = atomic_fetch_add_explicit(&h->next_arena, 1, memory_order_relaxed);
	tc->arena = &h->arenas[a % h->narenas];
	/* large classes: at most pool/256 bytes a class (256 KiB to 4 MiB) */
	size_t large_bytes = MIN(MAX(h->region.size / 256, (size_t)256 << 10), (size_t)4 << 20);
	void **slot = (void **)(tc + 1);
	for (unsigned i = 0; i < NCACHED; i++) {
		unsigned n = sz_classes[i].ncache;
		if (i >= NSMALL)
			n = (unsigned)MIN((size_t)n, MAX(large_bytes / sz_classes[i].size, (size_t)4));
		tc->bins[i].stack = slot;
		tc->bins[i].ncache_max = (uint16_t)n;
		slot += sz_classes[i].ncache;
	}
	pthread_mutex_lock(&h->tc_lock);
	tc->next = h->tcaches;
	if (h->tcaches)
		h->tcaches->prev = tc;
	h->tcaches = tc;
	pthread_mutex_unlock(&h->tc_lock);
	return tc;
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
tcache_peek(struct heap *h)
{
	struct tsd *t = &tsd_tls;
	if (h->id < t->nslots && t->slots[h->id].serial == h->serial)
		return t->slots[h->id].tc;
	return NULL;
}

struct tcache *
tcache_get(struct heap *h)
{
	struct tsd *t = &tsd_tls;
	if (t->serial == h->serial)
		return t->tc;
	if (t->state == TSD_DEAD)
		return NULL;
	struct tcache *tc = tcache_peek(h);
	if (!tc) {
		pthread_once(&tsd_key_once, tsd_key_init);
		if (!tsd_key_ok || (h->id >= t->nslots && !tsd_grow(t, h->id)))
			return NULL;
		tc = tcache_create(h);
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

/* Return the first n objects of bin ind to where they came from. */
static void
flush_objects(struct heap *h, unsigned ind, void **objs, unsigned n)
{
	if (ind < NSMALL) {
		for (unsigned i = 0; i < n; i += BIN_FLUSH_MAX)
			bin_flush(h, ind, objs + i, MIN(n - i, (unsigned)BIN_FLUSH_MAX));
		return;
	}
	for (unsigned i = 0; i < n; i++)
		arena_large_free(h, pm_extent(pm_lookup(&h->pm, objs[i])));
}

void
tcache_flush_all(struct heap *h, struct tcache *tc)
{
	for (unsigned i = 0; i < NCACHED; i++) {
		struct tcache_bin *b = &tc->bins[i];
		uint16_t n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
		/* objects reach the arenas before they leave the count (stats) */
		flush_objects(h, i, b->stack, n);
		atomic_store_explicit(&b->ncached, 0, memory_order_relaxed);
	}
}

void *
tcache_alloc_slow(struct heap *h, struct tcache *tc, unsigned ind)
{
	struct tcache_bin *b = &tc->bins[ind];
	if (ind >= NSMALL) {
		void *p = arena_large_alloc(h, sz_classes[ind].npages, PAGE, false, ind);
		if (!p) {
			heap_reclaim(h);
			p = arena_large_alloc(h, sz_classes[ind].npages, PAGE, false, ind);
		}
		return p;
	}
	unsigned want = MAX(b->ncache_max / 2, 1u);
	unsigned got = bin_fill(h, tc->arena, ind, b->stack, want);
	if (!got) {
		heap_reclaim(h);
		got = bin_fill(h, tc->arena, ind, b->stack, want);
		if (!got) {
			errmsg_set(ENOMEM, "pool exhausted: no memory for %u-byte objects",
					sz_classes[ind].size);
			return NULL;
		}
	}
	/* lowest address on top: pop order follows the slab */
	for (unsigned i = 0, j = got - 1; i < j; i++, j--) {
		void *tmp = b->stack[i];
		b->stack[i] = b->stack[j];
		b->stack[j] = tmp;
	}
	atomic_store_explicit(&b->ncached, (uint16_t)(got - 1), memory_order_relaxed);
	return b->stack[got - 1];
}

void
tcache_free_slow(struct heap *h, struct tcache *tc, unsigned ind, void *p)
{
	struct tcache_bin *b = &tc->bins[ind];
	unsigned n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
	unsigned nflush = n - n / 2;
	/* the oldest half goes: the rest is likelier to be reused while warm */
	flush_objects(h, ind, b->stack, nflush);
	memmove(b->stack, b->stack + nflush, (n - nflush) * sizeof(void *));
	n -= nflush;
	if (n < b->ncache_max) {
		b->stack[n++] = p;
	} else {
		flush_objects(h, ind, &p, 1);
	}
	atomic_store_explicit(&b->ncached, (uint16_t)n, memory_order_relaxed);
}

void
tcache_destroy(struct heap *h, struct tcache *tc)
{
	tcache_flush_all(h, tc);
	pthread_mutex_lock(&h->tc_lock);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		h->tcaches = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	pthread_mutex_unlock(&h->tc_lock);
	extent_free(h, tc->ext);
}

/* tsd_cleanup -- thread exit: flush and free the caches of heaps still alive */
static void
tsd_cleanup(void *arg)
{
	struct tsd *t = arg;
	t->state = TSD_DEAD;
	t->serial = 0;
	t->tc = NULL;
	pthread_mutex_lock(&heap_registry_lock);
	for (unsigned id = 0; id < t->nslots; id++) {
		struct tsd_slot *s = &t->slots[id];
		if (!s->tc)
			continue;
		struct heap *h = heap_by_id(id);
		if (h && h->serial == s->serial)
			tcache_destroy(h, s->tc);
	}
	pthread_mutex_unlock(&heap_registry_lock);
	if (t->slots)
		munmap(t->slots, t->nslots * sizeof(struct tsd_slot));
	t->slots = NULL;
	t->nslots = 0;
}
