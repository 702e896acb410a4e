/*
 * tcache.c -- thread caches: refill, flush, per-thread slots and thread exit
 */
#include <errno.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/membarrier.h>

#include "alloc/bin.h"
#include "alloc/extent.h"
#include "alloc/heap.h"
#include "alloc/tcache.h"

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
tcache_get_slow(struct heap *h)
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

/* Every cached object of tc back to the arenas (the owner is not in its bins:
 * it is the caller, or a reclaim holds it off). */
static void
flush_all(struct heap *h, struct tcache *tc)
{
	for (unsigned i = 0; i < NCACHED; i++) {
		struct tcache_bin *b = &tc->bins[i];
		uint16_t n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
		/* objects reach the arenas before they leave the count (stats) */
		flush_objects(h, i, b->stack, n);
		atomic_store_explicit(&b->ncached, 0, memory_order_relaxed);
	}
}

/* Become busy in tc, waiting out a reclaim of it (which holds tc_lock). */
static void
enter_wait(struct heap *h, struct tcache *tc)
{
	while (!tcache_enter(tc)) {
		pthread_mutex_lock(&h->tc_lock);
		pthread_mutex_unlock(&h->tc_lock);
	}
}

/* A refill of the small bin ind: objects taken outside the busy section (the
 * fill takes locks, and may reclaim), then handed to the bin inside it. */
static void *
refill(struct heap *h, struct tcache *tc, unsigned ind)
{
	struct tcache_bin *b = &tc->bins[ind];
	void *objs[TCACHE_NCACHE_MAX];
	unsigned want = MAX(b->ncache_max / 2, 1u);
	unsigned got = bin_fill(h, tc->arena, ind, objs, want);
	if (!got) {
		heap_reclaim(h);
		got = bin_fill(h, tc->arena, ind, objs, want);
		if (!got)
			return NULL;        /* extent_alloc said why */
	}
	enter_wait(h, tc);
	/* the bin is empty (only a reclaim took from it meanwhile); lowest
	 * address on top: pop order follows the slab */
	for (unsigned i = 0; i + 1 < got; i++)
		b->stack[i] = objs[got - 1 - i];
	atomic_store_explicit(&b->ncached, (uint16_t)(got - 1), memory_order_relaxed);
	tcache_leave(tc);
	return objs[0];
}

void *
tcache_alloc_slow(struct heap *h, struct tcache *tc, unsigned ind)
{
	struct tcache_bin *b = &tc->bins[ind];
	enter_wait(h, tc);
	uint16_t n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
	if (n) {
		atomic_store_explicit(&b->ncached, (uint16_t)(n - 1), memory_order_relaxed);
		void *p = b->stack[n - 1];
		tcache_leave(tc);
		return p;
	}
	tcache_leave(tc);
	if (ind < NSMALL)
		return refill(h, tc, ind);
	void *p = arena_large_alloc(h, sz_classes[ind].npages, PAGE, false, ind);
	if (!p) {
		heap_reclaim(h);
		p = arena_large_alloc(h, sz_classes[ind].npages, PAGE, false, ind);
	}
	return p;
}

void
tcache_free_slow(struct heap *h, struct tcache *tc, unsigned ind, void *p)
{
	struct tcache_bin *b = &tc->bins[ind];
	void *out[TCACHE_NCACHE_MAX + 1];
	unsigned nout = 0;
	enter_wait(h, tc);
	unsigned n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
	if (n >= b->ncache_max) {
		/* the oldest half goes: the rest is likelier to be reused while warm */
		nout = n - n / 2;
		memcpy(out, b->stack, nout * sizeof(void *));
		memmove(b->stack, b->stack + nout, (n - nout) * sizeof(void *));
		n -= nout;
	}
	if (n < b->ncache_max)
		b->stack[n++] = p;
	else
		out[nout++] = p;          /* a bin of capacity 0 */
	atomic_store_explicit(&b->ncached, (uint16_t)n, memory_order_relaxed);
	tcache_leave(tc);
	flush_objects(h, ind, out, nout);
}

/* fence_others -- a full memory fence on every thread of the process, or false
 * where the kernel cannot (no reclaim of other threads' caches then). A forked
 * child is not registered: it registers on its first EPERM. */
static bool
fence_others(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
		return true;
	if (errno != EPERM
			|| syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0)
		return false;
	return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

void
tcache_reclaim(struct heap *h)
{
	struct tcache *mine = tcache_peek(h);
	int err = errno;
	pthread_mutex_lock(&h->tc_lock);
	bool others = false;
	for (struct tcache *tc = h->tcaches; tc; tc = tc->next)
		if (tc != mine) {
			atomic_store_explicit(&tc->steal, 1, memory_order_relaxed);
			others = true;
		}
	bool fenced = others && fence_others();
	for (struct tcache *tc = h->tcaches; tc; tc = tc->next) {
		if (tc != mine) {
			if (!fenced)
				continue;
			while (atomic_load_explicit(&tc->busy, memory_order_acquire))
				sched_yield();
		}
		flush_all(h, tc);
	}
	for (struct tcache *tc = h->tcaches; tc; tc = tc->next)
		atomic_store_explicit(&tc->steal, 0, memory_order_release);
	pthread_mutex_unlock(&h->tc_lock);
	errno = err;
}

void
tcache_destroy(struct heap *h, struct tcache *tc)
{
	pthread_mutex_lock(&h->tc_lock);
	flush_all(h, tc);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		h->tcaches = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	pthread_mutex_unlock(&h->tc_lock);
	extent_free(h, tc->ext);
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
			tcache_destroy(h, s->tc);
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
tcache_thread_flush(void)
{
	tsd_release(&tsd_tls);
}
