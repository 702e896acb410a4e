/*
 * tcache.c -- thread caches: creation, refill, flush, reclaim
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/membarrier.h>

#include "alloc/tcache.h"

void
tcache_set_init(struct tcache_set *s, struct extents *x, struct arena *arenas,
		unsigned narenas, struct large_stats *large, size_t region_size)
{
	pthread_mutex_init(&s->lock, NULL);
	s->head = NULL;
	s->ext = x;
	s->arenas = arenas;
	s->narenas = narenas;
	atomic_store_explicit(&s->next_arena, 0, memory_order_relaxed);
	s->large = large;
	/* large classes: at most pool/256 bytes a class (256 KiB to 4 MiB) */
	s->large_bytes = MIN(MAX(region_size / 256, (size_t)256 << 10), (size_t)4 << 20);
}

static size_t
tcache_bytes(void)
{
	size_t slots = 0;
	for (unsigned i = 0; i < NCACHED; i++)
		slots += sz_classes[i].ncache;
	return sizeof(struct tcache) + slots * sizeof(void *);
}

struct tcache *
tcache_create(struct tcache_set *s)
{
	size_t bytes = tcache_bytes();
	struct extent *e = extent_alloc(s->ext, ALIGN_UP(bytes, PAGE) >> LG_PAGE, PAGE,
			EXTENT_META, SZIND_NONE);
	if (!e)
		return NULL;
	struct tcache *tc = (struct tcache *)e->addr;
	memset(tc, 0, sizeof(*tc));
	tc->ext = e;
	unsigned a = atomic_fetch_add_explicit(&s->next_arena, 1, memory_order_relaxed);
	tc->arena = &s->arenas[a % s->narenas];
	void **slot = (void **)(tc + 1);
	for (unsigned i = 0; i < NCACHED; i++) {
		unsigned n = sz_classes[i].ncache;
		if (i >= NSMALL)
			n = (unsigned)MIN((size_t)n, MAX(s->large_bytes / sz_classes[i].size, (size_t)4));
		tc->bins[i].stack = slot;
		tc->bins[i].ncache_max = (uint16_t)n;
		slot += sz_classes[i].ncache;
	}
	pthread_mutex_lock(&s->lock);
	tc->next = s->head;
	if (s->head)
		s->head->prev = tc;
	s->head = tc;
	pthread_mutex_unlock(&s->lock);
	return tc;
}

/* Return n objects of bin ind to where they came from. */
static void
flush_objects(struct tcache_set *s, unsigned ind, void **objs, unsigned n)
{
	if (ind < NSMALL) {
		arena_flush(s->arenas, s->ext, ind, objs, n);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		large_free(s->ext, s->large, pm_extent(pm_lookup(&s->ext->pm, objs[i])), false);
}

/* Every cached object of tc back to the arenas (the owner is not in its bins:
 * it is the caller, or a reclaim holds it off). */
static void
flush_all(struct tcache_set *s, struct tcache *tc)
{
	for (unsigned i = 0; i < NCACHED; i++) {
		struct tcache_bin *b = &tc->bins[i];
		uint16_t n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
		/* objects reach the arenas before they leave the count (stats) */
		flush_objects(s, i, b->stack, n);
		atomic_store_explicit(&b->ncached, 0, memory_order_relaxed);
	}
}

/* Become busy in tc, waiting out a reclaim of it (which holds the set's lock). */
static void
enter_wait(struct tcache_set *s, struct tcache *tc)
{
	while (!tcache_enter(tc)) {
		pthread_mutex_lock(&s->lock);
		pthread_mutex_unlock(&s->lock);
	}
}

/* A refill of the small bin ind: objects taken outside the busy section (the
 * fill takes locks), then handed to the bin inside it. */
static void *
refill(struct tcache_set *s, struct tcache *tc, unsigned ind)
{
	struct tcache_bin *b = &tc->bins[ind];
	void *objs[TCACHE_NCACHE_MAX];
	unsigned want = MAX(b->ncache_max / 2, 1u);
	unsigned got = bin_fill(&tc->arena->bins[ind], s->ext, tc->arena->ind, ind, objs, want);
	if (!got)
		return NULL;            /* extent_alloc said why */
	enter_wait(s, tc);
	/* the bin is empty (only a reclaim took from it meanwhile); lowest
	 * address on top: pop order follows the slab */
	for (unsigned i = 0; i + 1 < got; i++)
		b->stack[i] = objs[got - 1 - i];
	atomic_store_explicit(&b->ncached, (uint16_t)(got - 1), memory_order_relaxed);
	tcache_leave(tc);
	return objs[0];
}

void *
tcache_alloc_slow(struct tcache_set *s, struct tcache *tc, unsigned ind)
{
	struct tcache_bin *b = &tc->bins[ind];
	enter_wait(s, tc);
	uint16_t n = atomic_load_explicit(&b->ncached, memory_order_relaxed);
	if (n) {
		atomic_store_explicit(&b->ncached, (uint16_t)(n - 1), memory_order_relaxed);
		void *p = b->stack[n - 1];
		tcache_leave(tc);
		return p;
	}
	tcache_leave(tc);
	if (ind < NSMALL)
		return refill(s, tc, ind);
	return large_alloc(s->ext, s->large, sz_classes[ind].npages, PAGE, false, ind);
}

void
tcache_free_slow(struct tcache_set *s, struct tcache *tc, unsigned ind, void *p)
{
	struct tcache_bin *b = &tc->bins[ind];
	void *out[TCACHE_NCACHE_MAX + 1];
	unsigned nout = 0;
	enter_wait(s, tc);
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
	flush_objects(s, ind, out, nout);
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
tcache_reclaim(struct tcache_set *s, struct tcache *mine)
{
	int err = errno;
	pthread_mutex_lock(&s->lock);
	bool others = false;
	for (struct tcache *tc = s->head; tc; tc = tc->next)
		if (tc != mine) {
			atomic_store_explicit(&tc->steal, 1, memory_order_relaxed);
			others = true;
		}
	bool fenced = others && fence_others();
	for (struct tcache *tc = s->head; tc; tc = tc->next) {
		if (tc != mine) {
			if (!fenced)
				continue;
			while (atomic_load_explicit(&tc->busy, memory_order_acquire))
				sched_yield();
		}
		flush_all(s, tc);
	}
	for (struct tcache *tc = s->head; tc; tc = tc->next)
		atomic_store_explicit(&tc->steal, 0, memory_order_release);
	pthread_mutex_unlock(&s->lock);
	errno = err;
}

void
tcache_destroy(struct tcache_set *s, struct tcache *tc)
{
	pthread_mutex_lock(&s->lock);
	flush_all(s, tc);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		s->head = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	pthread_mutex_unlock(&s->lock);
	extent_free(s->ext, tc->ext);
}
