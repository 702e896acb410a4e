/*
 * extent.c -- the extent allocator: near-best-fit free bins, split, coalesce,
 * descriptors in metadata chunks, and decay-based purging
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/extent.h"
#include "alloc/ph.h"
#include "common/errmsg.h"
#include "common/options.h"

#define META_CHUNK_PAGES 16     /* pages carved for descriptors at a time */

static _Atomic long decay_ms = -1;  /* -1: not read from the environment yet */

API long
pmalloc_set_decay_ms(long ms)
{
	long old = extent_decay_ms();
	atomic_store(&decay_ms, ms < 0 ? 0 : ms);
	return old;
}

int
extent_decay_check(void)
{
	return options_check(OPT_DECAY_MS);
}

long
extent_decay_ms(void)
{
	long ms = atomic_load_explicit(&decay_ms, memory_order_relaxed);
	if (unlikely(ms < 0)) {
		ms = (long)options_num(OPT_DECAY_MS);  /* heap_create refused a bad value */
		atomic_store(&decay_ms, ms);
	}
	return ms;
}

/* decay_of -- x's own decay time if it has one, else the process's */
static inline uint64_t
decay_of(const struct extents *x)
{
	long own = atomic_load_explicit(&x->decay_ms, memory_order_relaxed);
	return (uint64_t)(own >= 0 ? own : extent_decay_ms());
}

void
extents_set_decay(struct extents *x, long ms)
{
	atomic_store(&x->decay_ms, ms);
}

/* ---- page size classes of free runs ------------------------------------- */

static unsigned
pind_floor(size_t n)
{
	if (n < 4)
		return (unsigned)n - 1;
	unsigned lg = 63u - (unsigned)__builtin_clzll(n);
	return 3 + (lg - 2) * 4 + (unsigned)((n >> (lg - 2)) & 3);
}

/* ---- lists -------------------------------------------------------------- */

static void
lru_append(struct extents *x, struct extent *e)
{
	e->lru_next = NULL;
	e->lru_prev = x->lru_tail;
	if (x->lru_tail)
		x->lru_tail->lru_next = e;
	else
		x->lru_head = e;
	x->lru_tail = e;
	atomic_store_explicit(&x->has_dirty, true, memory_order_relaxed);
}

static void
lru_remove(struct extents *x, struct extent *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		x->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		x->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
	if (!x->lru_head)
		atomic_store_explicit(&x->has_dirty, false, memory_order_relaxed);
}

/* ---- page map ----------------------------------------------------------- */

static inline size_t
page_of(const struct extents *x, uintptr_t addr)
{
	return (addr - x->pm.base) >> LG_PAGE;
}

/* Map the first and last page of e to it (free, large and meta extents). */
static void
pm_bound(struct extents *x, struct extent *e, unsigned szind)
{
	size_t first = page_of(x, e->addr);
	x->pm.map[first] = pm_entry(e, szind);
	x->pm.map[first + e->npages - 1] = pm_entry(e, szind);
}

/* Map every page of e to it (slabs). */
static void
pm_fill(struct extents *x, struct extent *e, unsigned szind)
{
	size_t first = page_of(x, e->addr);
	uint64_t ent = pm_entry(e, szind);
	for (size_t i = 0; i < e->npages; i++)
		x->pm.map[first + i] = ent;
}

/* Zero the entries of e's interior pages. */
static void
pm_clear_interior(struct extents *x, struct extent *e)
{
	size_t first = page_of(x, e->addr);
	for (size_t i = 1; i + 1 < e->npages; i++)
		x->pm.map[first + i] = 0;
}

/* ---- reservation (region.h) ---------------------------------------------- */

/* reserve -- region_reserve, counted (called with or without the lock) */
static int
reserve(struct extents *x, void *addr, size_t len)
{
	atomic_fetch_add_explicit(&x->reserve_calls, 1, memory_order_relaxed);
	return region_reserve(x->region, addr, len);
}

/* pm_backed_run -- the last page-map page q in [p, hi] such that p..q all have
 * the reserved bit `set` (p itself has it) */
static size_t
pm_backed_run(const struct extents *x, size_t p, size_t hi, bool set)
{
	while (p < hi && (bool)((x->pm_backed[(p + 1) / 64] >> ((p + 1) % 64)) & 1) == set)
		p++;
	return p;
}

/* reserve_pm -- storage for the page-map entries [first, first + n) (clamped to
 * the map); false + message. Each page of the map is reserved once, and the
 * next few with it (best effort: one call per PM_AHEAD pages of map, 32 MiB of
 * data, as a heap grows). */
#define PM_AHEAD 16

static bool
reserve_pm(struct extents *x, size_t first, size_t n)
{
	size_t limit = x->pm.limit >> LG_PAGE;
	if (!x->reserve || first >= limit || n == 0)
		return true;
	n = MIN(n, limit - first);
	size_t lo = (first * sizeof(uint64_t)) >> LG_PAGE;
	size_t hi = ((first + n) * sizeof(uint64_t) - 1) >> LG_PAGE;
	for (size_t p = lo; p <= hi; p++) {
		if ((x->pm_backed[p / 64] >> (p % 64)) & 1)
			continue;
		size_t q = pm_backed_run(x, p, hi, false);
		size_t last = ((limit * sizeof(uint64_t)) - 1) >> LG_PAGE;
		size_t more = q == hi ? pm_backed_run(x, q, MIN(q + PM_AHEAD - 1, last), false) : q;
		int err = errno;
		char *at = (char *)x->pm.map + p * PAGE;
		if (more > q && reserve(x, at, (more - p + 1) * PAGE) == 0) {
			q = more;
		} else {
			errno = err;
			if (reserve(x, at, (q - p + 1) * PAGE) != 0)
				return false;
		}
		for (size_t b = p; b <= q; b++)
			x->pm_backed[b / 64] |= UINT64_C(1) << (b % 64);
		p = q;
	}
	return true;
}

/* reserve_range -- storage for npages data pages at addr (unless backed) and
 * for their page-map entries plus the one after (a split's new bound) */
static bool
reserve_range(struct extents *x, uintptr_t addr, size_t npages, bool backed)
{
	if (!x->reserve)
		return true;
	if (!reserve_pm(x, page_of(x, addr), npages + 1))
		return false;
	return backed || reserve(x, (void *)addr, npages * PAGE) == 0;
}

/* ---- free bins ---------------------------------------------------------- */

static void
bin_insert(struct extents *x, struct extent *e)
{
	int clean = e->state == EXTENT_CLEAN;
	unsigned i = pind_floor(e->npages);
	ph_insert(&x->bins[clean][i], e);
	x->nonempty[clean][i / 64] |= UINT64_C(1) << (i % 64);
	if (!clean) {
		x->dirty_pages += e->npages;
		if (x->can_purge)
			lru_append(x, e);
	}
}

static void
bin_remove(struct extents *x, struct extent *e)
{
	int clean = e->state == EXTENT_CLEAN;
	unsigned i = pind_floor(e->npages);
	ph_remove(&x->bins[clean][i], e);
	if (!x->bins[clean][i])
		x->nonempty[clean][i / 64] &= ~(UINT64_C(1) << (i % 64));
	if (!clean) {
		x->dirty_pages -= e->npages;
		if (x->can_purge)
			lru_remove(x, e);
	}
}

/* The first non-empty bin at or above i, or NPBINS. */
static unsigned
bin_next(const struct extents *x, int clean, unsigned i)
{
	while (i < NPBINS) {
		uint64_t w = x->nonempty[clean][i / 64] >> (i % 64);
		if (w)
			return i + (unsigned)__builtin_ctzll(w);
		i = (i / 64 + 1) * 64;
	}
	return NPBINS;
}

/*
 * bin_find -- a low-addressed free extent of at least npages: the lowest of
 * the roots of the request's own bin (if it fits) and of the next few larger
 * bins (whose every member fits). Address order packs live memory low
 * (ph.h); looking at a few bins, not all, bounds the cost.
 */
#define BIN_FIND_BINS 4

static struct extent *
bin_find(struct extents *x, int clean, size_t npages)
{
	unsigned i = pind_floor(npages);
	struct extent *best = x->bins[clean][i];
	if (best && best->npages < npages)
		best = NULL;
	unsigned j = bin_next(x, clean, i + 1);
	for (int left = BIN_FIND_BINS; j < NPBINS && left--; j = bin_next(x, clean, j + 1)) {
		struct extent *e = x->bins[clean][j];
		if (!best || e->addr < best->addr)
			best = e;
	}
	return best;
}

/* ---- descriptors -------------------------------------------------------- */

static void
desc_put(struct extents *x, struct extent *e)
{
	e->state = EXTENT_META;
	e->next = x->desc_free;
	x->desc_free = e;
}

/* Turn [addr, addr + pages) into a metadata chunk of free descriptors. */
static void
desc_carve(struct extents *x, uintptr_t addr, size_t pages)
{
	struct extent *descs = (struct extent *)addr;
	size_t n = pages * PAGE / sizeof(struct extent);
	struct extent *chunk = &descs[0];
	memset(chunk, 0, sizeof(*chunk));
	chunk->addr = addr;
	chunk->npages = pages;
	chunk->state = EXTENT_META;
	chunk->szind = SZIND_NONE;
	pm_bound(x, chunk, SZIND_NONE);
	x->meta_pages += pages;
	for (size_t i = n; i-- > 1;)
		desc_put(x, &descs[i]);
}

static unsigned
desc_count(const struct extents *x, unsigned upto)
{
	unsigned have = 0;
	for (struct extent *d = x->desc_free; d && have < upto; d = d->next)
		have++;
	return have;
}

static struct extent *
find_any(struct extents *x, size_t npages)
{
	struct extent *e = bin_find(x, 0, npages);
	return e ? e : bin_find(x, 1, npages);
}

/* The free extent nearest the top of the pool, looking past at most 64
 * extents (the metadata packed there), or NULL. */
static struct extent *
top_free(struct extents *x)
{
	size_t p = x->pm.limit >> LG_PAGE;
	for (int budget = 64; p > 0 && budget--;) {
		struct extent *e = pm_extent(x->pm.map[p - 1]);
		if (!e)
			return NULL;
		if (e->state == EXTENT_DIRTY || e->state == EXTENT_CLEAN)
			return e;
		p = page_of(x, e->addr);
	}
	return NULL;
}

/*
 * desc_reserve -- make sure at least `need` descriptors are free; false when no
 * page is left. Chunks are cut from the end of the highest free run, so the
 * long-lived metadata stays packed at the top of the pool and splits no run.
 */
static bool
desc_reserve(struct extents *x, unsigned need)
{
	while (desc_count(x, need) < need) {
		struct extent *src = top_free(x);
		if (!src)
			src = find_any(x, 1);
		if (!src)
			return false;
		size_t pages = MIN(src->npages, (size_t)META_CHUNK_PAGES);
		uintptr_t chunk = src->addr + (src->npages - pages) * PAGE;
		/* from the entry before the chunk: src's new last page */
		if (!reserve_pm(x, page_of(x, chunk) - (chunk > x->pm.base), pages + 1)
				|| !reserve_range(x, chunk, pages, src->backed))
			return false;
		bin_remove(x, src);
		src->npages -= pages;
		desc_carve(x, src->addr + src->npages * PAGE, pages);
		if (src->npages) {
			pm_bound(x, src, SZIND_NONE);
			bin_insert(x, src);
		} else {
			desc_put(x, src);
		}
	}
	return true;
}

static struct extent *
desc_get(struct extents *x)
{
	struct extent *d = x->desc_free;
	x->desc_free = d->next;
	memset(d, 0, sizeof(*d));
	return d;
}

/* ---- split and coalesce ------------------------------------------------- */

/* Cut e after npages; the tail gets a descriptor (reserved), e's state and bins. */
static struct extent *
split_tail(struct extents *x, struct extent *e, size_t npages)
{
	struct extent *t = desc_get(x);
	t->addr = e->addr + npages * PAGE;
	t->npages = e->npages - npages;
	t->state = e->state;
	t->zeroed = e->zeroed;
	t->backed = e->backed;
	t->tstamp = e->tstamp;
	t->szind = SZIND_NONE;
	e->npages = npages;
	pm_bound(x, t, SZIND_NONE);
	return t;
}

/* The free neighbour of e on one side in the same state, or NULL. */
static struct extent *
neighbour(struct extents *x, struct extent *e, bool after)
{
	size_t first = page_of(x, e->addr);
	size_t npages = x->pm.limit >> LG_PAGE;
	size_t p;
	if (after) {
		p = first + e->npages;
		if (p >= npages)
			return NULL;
	} else {
		if (first == 0)
			return NULL;
		p = first - 1;
	}
	uint64_t ent = x->pm.map[p];
	struct extent *n = pm_extent(ent);
	if (!n || n->state != e->state)
		return NULL;
	return n;
}

/* Merge e with its free neighbours of the same state and file it in its bin;
 * the merged extent. */
static struct extent *
coalesce_insert(struct extents *x, struct extent *e)
{
	struct extent *n;
	while ((n = neighbour(x, e, false)) != NULL) {
		bin_remove(x, n);
		x->pm.map[page_of(x, n->addr) + n->npages - 1] = 0;
		x->pm.map[page_of(x, e->addr)] = 0;
		n->npages += e->npages;
		n->zeroed = n->zeroed && e->zeroed;
		n->backed = n->backed && e->backed;
		n->tstamp = MAX(n->tstamp, e->tstamp);
		desc_put(x, e);
		e = n;
	}
	while ((n = neighbour(x, e, true)) != NULL) {
		bin_remove(x, n);
		x->pm.map[page_of(x, e->addr) + e->npages - 1] = 0;
		x->pm.map[page_of(x, n->addr)] = 0;
		e->npages += n->npages;
		e->zeroed = e->zeroed && n->zeroed;
		e->backed = e->backed && n->backed;
		e->tstamp = MAX(n->tstamp, e->tstamp);
		desc_put(x, n);
	}
	e->szind = SZIND_NONE;
	pm_bound(x, e, SZIND_NONE);
	bin_insert(x, e);
	return e;
}

/* ---- purging ------------------------------------------------------------ */

/* punch_locked -- punch out a batch of PURGING extents (linked by next), the
 * lock dropped around the system calls, and file them as clean runs */
static void
punch_locked(struct extents *x, struct extent *batch)
{
	if (!batch)
		return;
	pthread_mutex_unlock(&x->lock);
	unsigned calls = 0;
	struct extent *e;
	for (e = batch; e; e = e->next, calls++)
		e->zeroed = region_purge(x->region, (void *)e->addr, e->npages * PAGE);
	pthread_mutex_lock(&x->lock);
	x->purge_calls += calls;
	while ((e = batch) != NULL) {
		batch = e->next;
		x->purged_bytes += e->npages * PAGE;
		x->purging_pages -= e->npages;
		e->state = EXTENT_CLEAN;
		e->backed = !x->reserve || !e->zeroed;    /* a hole now, unless not punched */
		coalesce_insert(x, e);
	}
	pthread_cond_broadcast(&x->purged);
}

/*
 * purge_locked -- punch out dirty extents: every one (all), else those that have
 * stayed dirty for the decay time (oldest first: the LRU's order). No cap on the
 * dirty pages: what a program frees is reused dirty, first, for the decay time
 * (as mimalloc's purge delay; jemalloc's default dirty decay is the same 10 s),
 * and a run is punched once, coalesced with its dirty neighbours. The lock is
 * dropped around the system calls; the extents are PURGING meanwhile.
 */
static void
purge_locked(struct extents *x, bool all, uint64_t now)
{
	if (!x->can_purge)
		return;
	uint64_t decay = decay_of(x);
	struct extent *batch = NULL;
	struct extent *e;
	while ((e = x->lru_head) != NULL) {
		if (!all && e->tstamp + decay > now)
			break;
		bin_remove(x, e);
		e->state = EXTENT_PURGING;
		e->next = batch;
		batch = e;
		x->purging_pages += e->npages;
	}
	punch_locked(x, batch);
}

/* due_locked -- when the oldest dirty run is due, UINT64_MAX if none */
static uint64_t
due_locked(const struct extents *x)
{
	return x->lru_head ? x->lru_head->tstamp + decay_of(x) : UINT64_MAX;
}

/* maybe_purge -- the amortized tick: purge when the oldest dirty run is due */
static void
maybe_purge(struct extents *x)
{
	uint64_t now;
	if (x->lru_head && (now = util_now_ms()) >= due_locked(x))
		purge_locked(x, false, now);
}

uint64_t
extent_purge(struct extents *x, bool all)
{
	pthread_mutex_lock(&x->lock);
	purge_locked(x, all, util_now_ms());
	uint64_t due = due_locked(x);
	pthread_mutex_unlock(&x->lock);
	return due;
}

/* ---- the allocator ------------------------------------------------------ */

int
extents_init(struct extents *x, struct region *r, const struct pagemap *pm, bool zeroed,
		uint64_t *pm_backed)
{
	uintptr_t base = pm->base;
	size_t npages = pm->limit >> LG_PAGE;
	if (npages < META_CHUNK_PAGES + 1) {
		errmsg_set(EINVAL, "pool of %zu bytes is too small", r->size);
		return -1;
	}
	x->region = r;
	x->pm = *pm;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->purged, NULL);
	x->can_purge = region_can_purge(x->region);
	x->reserve = region_needs_reserve(x->region);
	x->pm_backed = pm_backed;
	atomic_store(&x->decay_ms, -1);
	/* the first chunk, and the entry of the last page (the free run's bound) */
	if (!reserve_range(x, base, META_CHUNK_PAGES, false)
			|| !reserve_pm(x, npages - 1, 1))
		return -1;
	desc_carve(x, base, META_CHUNK_PAGES);
	struct extent *d = desc_get(x);
	d->addr = base + META_CHUNK_PAGES * PAGE;
	d->npages = npages - META_CHUNK_PAGES;
	/* a region that cannot purge keeps one free state, so every run merges */
	d->state = x->can_purge ? EXTENT_CLEAN : EXTENT_DIRTY;
	d->zeroed = zeroed;
	d->backed = !x->reserve;
	d->szind = SZIND_NONE;
	pm_bound(x, d, SZIND_NONE);
	bin_insert(x, d);
	return 0;
}

/*
 * fit_locked -- a free run of npages, trying harder before giving up: dirty and
 * clean runs do not merge, so purging every dirty run may make one; and runs
 * another thread is punching are off the lists only for the moment, so wait
 * for them rather than report an exhaustion that is not there.
 */
static struct extent *
fit_locked(struct extents *x, size_t npages)
{
	desc_reserve(x, 2);     /* best effort: an exact fit needs none */
	struct extent *e;
	for (int round = 0; !(e = find_any(x, npages)); round++) {
		if (round == 8)         /* others keep freeing and purging: enough */
			return NULL;
		if (x->lru_head)
			purge_locked(x, true, util_now_ms());
		else if (x->purging_pages)
			pthread_cond_wait(&x->purged, &x->lock);
		else
			return NULL;
		desc_reserve(x, 2);
	}
	return e;
}

static void
account(struct extents *x, enum extent_state state, long npages)
{
	if (state == EXTENT_META)
		x->meta_pages += (size_t)npages;
	else
		x->active_pages += (size_t)npages;
}

/*
 * ahead_pages -- how many clean pages past a request on a file to reserve with
 * it: a sixteenth of the active pages, 256 KiB to 4 MiB, so that a growing heap
 * makes a system call per stretch, not one per slab. The stretch is filed as a
 * dirty run (backed, zeroed): reused first, and punched by decay if not.
 */
static size_t
ahead_pages(const struct extents *x)
{
	return MIN(MAX(x->active_pages / 16, (size_t)64), (size_t)1024);
}

/* settle_ahead -- the stretch reserved with an extent (PURGING meanwhile) goes
 * back to the free runs: dirty and backed if the reservation took, else clean */
static void
settle_ahead(struct extents *x, struct extent *a, bool reserved)
{
	pthread_mutex_lock(&x->lock);
	x->purging_pages -= a->npages;
	a->state = reserved ? EXTENT_DIRTY : EXTENT_CLEAN;
	a->backed = reserved;
	a->tstamp = util_now_ms();
	coalesce_insert(x, a);
	pthread_cond_broadcast(&x->purged);
	pthread_mutex_unlock(&x->lock);
}

struct extent *
extent_alloc(struct extents *x, size_t npages, size_t align, enum extent_state state,
		unsigned szind)
{
	size_t limit_pages = x->pm.limit >> LG_PAGE;
	size_t align_pages = align > PAGE ? align >> LG_PAGE : 1;
	if (npages > limit_pages || align_pages > limit_pages
			|| npages + align_pages - 1 > limit_pages) {
		errmsg_set(ENOMEM, "pool exhausted: %zu pages asked, %zu in the pool",
				npages, limit_pages);
		return NULL;
	}
	size_t need = npages + align_pages - 1;
	pthread_mutex_lock(&x->lock);
	struct extent *e = fit_locked(x, need);
	size_t lead = e ? (ALIGN_UP(e->addr, align_pages * PAGE) - e->addr) >> LG_PAGE : 0;
	if (!e || desc_count(x, 2) < (unsigned)(lead != 0) + (e->npages - lead > npages)) {
		pthread_mutex_unlock(&x->lock);
		errmsg_set(ENOMEM, "pool exhausted: no run of %zu free pages", need);
		return NULL;
	}
	size_t spare = e->npages - lead - npages, ahead = 0;
	if (x->reserve && !e->backed) {
		ahead = MIN(spare, ahead_pages(x));
		if (ahead && desc_count(x, 3) < (unsigned)(lead != 0) + 1 + (spare > ahead))
			ahead = 0;
	}
	if (!reserve_pm(x, page_of(x, e->addr), lead + npages + ahead + 1)) {
		pthread_mutex_unlock(&x->lock);
		return NULL;
	}
	bin_remove(x, e);
	if (lead) {
		struct extent *rest = split_tail(x, e, lead);
		pm_bound(x, e, SZIND_NONE);
		bin_insert(x, e);
		e = rest;
	}
	if (spare > ahead)
		bin_insert(x, split_tail(x, e, npages + ahead));
	struct extent *stretch = NULL;
	if (ahead) {
		stretch = split_tail(x, e, npages);
		stretch->state = EXTENT_PURGING;
		x->purging_pages += ahead;
	}
	e->state = (uint8_t)state;
	e->szind = (uint8_t)szind;
	e->prev = e->next = NULL;
	account(x, state, (long)npages);
	if (state == EXTENT_SLAB)
		pm_fill(x, e, szind);
	else
		pm_bound(x, e, szind);
	bool backed = e->backed;
	e->backed = 1;
	pthread_mutex_unlock(&x->lock);
	/* the extent (and the stretch) are ours, out of the bins: their pages are
	 * reserved without the lock, and they go back should that fail */
	if (backed)
		return e;
	int err = errno;
	bool both = stretch && reserve(x, (void *)e->addr,
			(npages + ahead) * PAGE) == 0;
	if (stretch)
		settle_ahead(x, stretch, both);
	errno = err;
	if (!both && reserve(x, (void *)e->addr, npages * PAGE) != 0) {
		pthread_mutex_lock(&x->lock);
		account(x, state, -(long)npages);
		if (state == EXTENT_SLAB)
			pm_clear_interior(x, e);
		e->state = EXTENT_CLEAN;
		e->backed = 0;
		coalesce_insert(x, e);
		pthread_mutex_unlock(&x->lock);
		return NULL;
	}
	return e;
}

static void
free_locked(struct extents *x, struct extent *e)
{
	account(x, (enum extent_state)e->state, -(long)e->npages);
	if (e->state == EXTENT_SLAB)
		pm_clear_interior(x, e);
	e->state = EXTENT_DIRTY;
	e->zeroed = 0;
	e->backed = 1;
	e->tstamp = util_now_ms();
	coalesce_insert(x, e);
}

void
extent_free(struct extents *x, struct extent *e)
{
	pthread_mutex_lock(&x->lock);
	free_locked(x, e);
	maybe_purge(x);
	pthread_mutex_unlock(&x->lock);
}

void
extent_discard(struct extents *x, struct extent *e)
{
	pthread_mutex_lock(&x->lock);
	if (!x->can_purge) {
		free_locked(x, e);
	} else {
		account(x, (enum extent_state)e->state, -(long)e->npages);
		if (e->state == EXTENT_SLAB)
			pm_clear_interior(x, e);
		e->state = EXTENT_PURGING;
		e->next = NULL;
		x->purging_pages += e->npages;
		punch_locked(x, e);
	}
	pthread_mutex_unlock(&x->lock);
}

bool
extent_grow(struct extents *x, struct extent *e, size_t npages, unsigned szind)
{
	bool ok = false;
	pthread_mutex_lock(&x->lock);
	size_t more = npages - e->npages;
	size_t next_page = page_of(x, e->addr) + e->npages;
	struct extent *n = next_page < (x->pm.limit >> LG_PAGE)
		? pm_extent(x->pm.map[next_page]) : NULL;
	if (n && (n->state == EXTENT_DIRTY || n->state == EXTENT_CLEAN)
			&& n->npages >= more && desc_reserve(x, 1)
			&& reserve_range(x, n->addr, more, n->backed)) {
		/* desc_reserve may have carved n: look again */
		n = pm_extent(x->pm.map[next_page]);
		if (n && (n->state == EXTENT_DIRTY || n->state == EXTENT_CLEAN)
				&& n->npages >= more) {
			bin_remove(x, n);
			if (n->npages > more)
				bin_insert(x, split_tail(x, n, more));
			x->pm.map[next_page] = 0;
			if (e->npages > 1)
				x->pm.map[next_page - 1] = 0;
			e->npages = npages;
			e->szind = (uint8_t)szind;
			desc_put(x, n);
			account(x, (enum extent_state)e->state, (long)more);
			pm_bound(x, e, szind);
			ok = true;
		}
	}
	pthread_mutex_unlock(&x->lock);
	return ok;
}

bool
extent_shrink(struct extents *x, struct extent *e, size_t npages, unsigned szind)
{
	pthread_mutex_lock(&x->lock);
	if (!desc_reserve(x, 1)) {
		pthread_mutex_unlock(&x->lock);
		return false;
	}
	x->pm.map[page_of(x, e->addr) + e->npages - 1] = 0;
	struct extent *tail = split_tail(x, e, npages);
	tail->state = e->state;
	e->szind = (uint8_t)szind;
	pm_bound(x, e, szind);
	free_locked(x, tail);
	maybe_purge(x);
	pthread_mutex_unlock(&x->lock);
	return true;
}

/* ---- fork --------------------------------------------------------------- */

static bool
in_use(const struct extent *e)
{
	return e->state == EXTENT_SLAB || e->state == EXTENT_LARGE || e->state == EXTENT_META;
}

int
extents_fork_copy(struct extents *x, const struct region_copy *c)
{
	size_t map_off = (uintptr_t)x->pm.map - (uintptr_t)x->region->base;
	size_t pm_pages = ((x->pm.limit >> LG_PAGE) * sizeof(uint64_t) + PAGE - 1) >> LG_PAGE;
	for (size_t p = 0; p < pm_pages; p++) {
		if (!((x->pm_backed[p / 64] >> (p % 64)) & 1))
			continue;
		size_t q = pm_backed_run(x, p, pm_pages - 1, true);
		if (region_copy_out(x->region, c, map_off + p * PAGE, (q - p + 1) * PAGE))
			return -1;
		p = q;
	}
	/* runs of extents in use, in one write each */
	size_t data_off = x->pm.base - (uintptr_t)x->region->base;
	size_t np = x->pm.limit >> LG_PAGE, run = 0, start = 0;
	for (size_t p = 0; p < np;) {
		struct extent *e = pm_extent(x->pm.map[p]);
		if (in_use(e)) {
			if (!run)
				start = p;
			run += e->npages;
		} else if (run) {
			if (region_copy_out(x->region, c, data_off + start * PAGE, run * PAGE))
				return -1;
			run = 0;
		}
		p += e->npages;
	}
	return run ? region_copy_out(x->region, c, data_off + start * PAGE, run * PAGE) : 0;
}

void
extents_remapped(struct extents *x, bool copied)
{
	size_t np = x->pm.limit >> LG_PAGE;
	x->purging_pages = 0;
	for (size_t p = 0; p < np;) {
		struct extent *e = pm_extent(x->pm.map[p]);
		if (in_use(e) || (!copied && e->state != EXTENT_PURGING)) {
			p += e->npages;
			continue;
		}
		if (e->state != EXTENT_PURGING)
			bin_remove(x, e);
		if (copied) {          /* not copied: a hole */
			e->state = EXTENT_CLEAN;
			e->zeroed = 1;
			e->backed = !x->reserve;
		} else {               /* its punch went with the thread: may hold data */
			e->state = EXTENT_DIRTY;
			e->zeroed = 0;
			e->backed = 1;
			e->tstamp = util_now_ms();
		}
		e = coalesce_insert(x, e);
		p = page_of(x, e->addr) + e->npages;
	}
}

/* ---- consistency -------------------------------------------------------- */

#define CHECK(cond, ...) do { if (!(cond)) { errmsg_set(EINVAL, __VA_ARGS__); return 0; } } while (0)

int
extents_check(struct extents *x)
{
	size_t npages = x->pm.limit >> LG_PAGE;
	size_t nfree_walk = 0, dirty = 0, active = 0, meta = 0;
	for (size_t p = 0; p < npages;) {
		uint64_t ent = x->pm.map[p];
		struct extent *e = pm_extent(ent);
		CHECK(e, "page %zu starts no extent", p);
		CHECK(e->addr == x->pm.base + p * PAGE, "page %zu: extent at %#lx", p,
				(unsigned long)e->addr);
		CHECK(e->npages >= 1 && p + e->npages <= npages, "page %zu: bad length %zu",
				p, e->npages);
		CHECK(pm_extent(x->pm.map[p + e->npages - 1]) == e,
				"page %zu: last page does not map to its extent", p);
		for (size_t i = 1; i + 1 < e->npages; i++) {
			uint64_t in = x->pm.map[p + i];
			if (e->state == EXTENT_SLAB)
				CHECK(pm_extent(in) == e, "slab at page %zu: page %zu unmapped", p, i);
			else
				CHECK(in == 0, "extent at page %zu: stale entry at page %zu", p, i);
		}
		switch (e->state) {
		case EXTENT_DIRTY:
		case EXTENT_CLEAN: {
			nfree_walk++;
			if (e->state == EXTENT_DIRTY)
				dirty += e->npages;
			size_t q = p + e->npages;
			if (q < npages) {
				struct extent *n = pm_extent(x->pm.map[q]);
				CHECK(!n || n->state != e->state,
						"free extents at pages %zu and %zu not coalesced", p, q);
			}
			break;
		}
		case EXTENT_SLAB:
			CHECK(e->szind < NSMALL && e->npages == sz_classes[e->szind].npages,
					"slab at page %zu: class %u, %zu pages", p, e->szind, e->npages);
			active += e->npages;
			break;
		case EXTENT_LARGE:
			active += e->npages;
			break;
		case EXTENT_META:
			meta += e->npages;
			break;
		case EXTENT_PURGING:
			break;
		default:
			CHECK(0, "page %zu: unknown extent state %u", p, e->state);
		}
		p += e->npages;
	}
	size_t nfree_bins = 0;
	for (int c = 0; c < 2; c++)
		for (unsigned i = 0; i < NPBINS; i++) {
			bool bit = (x->nonempty[c][i / 64] >> (i % 64)) & 1;
			CHECK(bit == (x->bins[c][i] != NULL), "free bin %u/%d: bitmap wrong", i, c);
			for (struct extent *e = x->bins[c][i]; e; e = ph_walk_next(e)) {
				CHECK(nfree_bins <= nfree_walk, "free bin %u/%d: list longer than "
						"the free extents (a cycle?)", i, c);
				CHECK(e->state == (c ? EXTENT_CLEAN : EXTENT_DIRTY),
						"free bin %u/%d holds an extent in state %u", i, c, e->state);
				CHECK(pind_floor(e->npages) == i, "free bin %u holds %zu pages",
						i, e->npages);
				nfree_bins++;
			}
		}
	CHECK(nfree_bins == nfree_walk, "%zu free extents in bins, %zu in the page map",
			nfree_bins, nfree_walk);
	CHECK(dirty == x->dirty_pages, "dirty pages: counted %zu, recorded %zu",
			dirty, x->dirty_pages);
	CHECK(active == x->active_pages, "active pages: counted %zu, recorded %zu",
			active, x->active_pages);
	CHECK(meta == x->meta_pages, "metadata pages: counted %zu, recorded %zu",
			meta, x->meta_pages);
	return 1;
}
