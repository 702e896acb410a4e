/*
 * pheap.c -- the persistent heap's volatile index (pheap.h)
 *
 * Rebuilt at open from the descriptors below top: a slab head with objects owns
 * its class's pages; a run head owns its pages; anything else (a zero word, or
 * the head of a slab whose bitmap is zero) is one free page. So releasing an
 * empty slab needs no record, and a page inside a unit is never read.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/checksum.h"
#include "common/errmsg.h"
#include "obj/pheap.h"

#define NONE UINT32_MAX
#define TOP_STEP 256                     /* pages top advances by at least */

enum { VK_FREE = 0, VK_SLAB = 1, VK_RUN = 2, VK_KIND = 3, KF_START = 4, KF_END = 8 };

struct vslab {
	uint32_t page;                        /* head page */
	uint8_t szind;
	bool persisted;                       /* its head word is on the media */
	bool listed;                          /* in its bin's avail list */
	struct parena *arena;
	struct pbin *bin;
	uint64_t type;
	unsigned nused;                       /* bits set in bits */
	uint64_t bits[SLAB_BITMAP_WORDS];     /* allocated or reserved */
	struct vslab *next, *prev;            /* avail list */
};

struct pbin {
	uint64_t type;
	unsigned szind;
	struct vslab *avail;                  /* slabs with a free object */
};

/* ---- free runs (pages lock held) ----------------------------------------- */

static unsigned
bucket_of(uint64_t n)
{
	if (n <= 64)
		return (unsigned)n - 1;
	unsigned b = 64 + (63u - (unsigned)__builtin_clzll(n)) - 6;
	return MIN(b, PHEAP_BUCKETS - 1);
}

static void
fr_link(struct pheap *h, uint32_t p, uint32_t n)
{
	unsigned b = bucket_of(n);
	__atomic_store_n(&h->len[p], n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->len[p + n - 1], n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->kind[p], VK_FREE | KF_START | (n == 1 ? KF_END : 0), __ATOMIC_RELAXED);
	if (n > 1)
		__atomic_store_n(&h->kind[p + n - 1], VK_FREE | KF_END, __ATOMIC_RELAXED);
	h->fprev[p] = NONE;
	h->fnext[p] = h->buckets[b];
	if (h->buckets[b] != NONE)
		h->fprev[h->buckets[b]] = p;
	h->buckets[b] = p;
}

static void
fr_unlink(struct pheap *h, uint32_t p)
{
	uint32_t n = h->len[p];
	if (h->fprev[p] != NONE)
		h->fnext[h->fprev[p]] = h->fnext[p];
	else
		h->buckets[bucket_of(n)] = h->fnext[p];
	if (h->fnext[p] != NONE)
		h->fprev[h->fnext[p]] = h->fprev[p];
	__atomic_store_n(&h->kind[p], VK_FREE, __ATOMIC_RELAXED);
	__atomic_store_n(&h->kind[p + n - 1], VK_FREE, __ATOMIC_RELAXED);
}

/* fr_insert -- pages [p, p + n) are free: coalesce, or give back to vtop */
static void
fr_insert(struct pheap *h, uint32_t p, uint32_t n)
{
	h->free_pages += n;
	for (uint32_t i = p; i < p + n; i++)
		__atomic_store_n(&h->kind[i], VK_FREE, __ATOMIC_RELAXED);
	if (p > 0 && (h->kind[p - 1] & KF_END)) {
		uint32_t ln = h->len[p - 1], lp = p - ln;
		fr_unlink(h, lp);
		p = lp;
		n += ln;
	}
	if (p + n < h->vtop && (h->kind[p + n] & KF_START)) {
		uint32_t rn = h->len[p + n];
		fr_unlink(h, p + n);
		n += rn;
	}
	if (p + n == h->vtop) {
		h->vtop = p;                         /* pages above vtop are free by definition */
		return;
	}
	fr_link(h, p, n);
}

/* raise_top -- make the media's top cover vtop; 0 or -1 */
static int
raise_top(struct pheap *h)
{
	if (h->state->top >= h->vtop)
		return 0;
	uint64_t top = MIN((uint64_t)h->npages, (uint64_t)h->vtop + TOP_STEP);
	__atomic_store_n(&h->state->top, top, __ATOMIC_RELAXED);
	return pmemops_persist(h->ops, &h->state->top, 8);
}

/* fr_take -- n free pages, first fit; NONE + message when none */
static uint32_t
fr_take(struct pheap *h, uint32_t n)
{
	for (unsigned b = bucket_of(n); b < PHEAP_BUCKETS; b++) {
		for (uint32_t p = h->buckets[b]; p != NONE; p = h->fnext[p]) {
			uint32_t len = h->len[p];
			if (len < n)
				continue;
			fr_unlink(h, p);
			h->free_pages -= len;
			if (len > n)
				fr_insert(h, p + n, len - n);
			return p;
		}
	}
	if (n > h->npages - h->vtop) {
		errmsg_set(ENOMEM, "the pool is full: no run of %u free pages", n);
		return NONE;
	}
	uint32_t p = h->vtop;
	h->vtop += n;
	h->free_pages -= n;
	if (raise_top(h) != 0) {
		h->vtop -= n;
		h->free_pages += n;
		return NONE;
	}
	return p;
}

/* claim -- mark [p, p + n) as a unit of kind with head p */
static void
claim(struct pheap *h, uint32_t p, uint32_t n, unsigned kind)
{
	for (uint32_t i = p; i < p + n; i++) {
		__atomic_store_n(&h->kind[i], (uint8_t)kind, __ATOMIC_RELAXED);
		__atomic_store_n(&h->head[i], p, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&h->len[p], n, __ATOMIC_RELAXED);
}

/* ---- bins ------------------------------------------------------------------ */

static uint64_t
bin_hash(uint64_t type, unsigned szind)
{
	return mix64(type * 64 + szind);
}

/* bin_find -- the slot of (type, szind) in a table of cap (a power of two) */
static size_t
bin_find(struct pbin **t, size_t cap, uint64_t type, unsigned szind)
{
	size_t i = bin_hash(type, szind) & (cap - 1);
	while (t[i] && (t[i]->type != type || t[i]->szind != szind))
		i = (i + 1) & (cap - 1);
	return i;
}

/* bin_get -- the arena's bin for (type, szind), made if needed; NULL + ENOMEM.
 * Bins never move (slabs point at theirs); the table of pointers grows. */
static struct pbin *
bin_get(struct parena *a, uint64_t type, unsigned szind)
{
	if (a->cap) {
		struct pbin *b = a->bins[bin_find(a->bins, a->cap, type, szind)];
		if (b)
			return b;
	}
	if (2 * (a->nbins + 1) > a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 16;
		struct pbin **t = calloc(cap, sizeof(*t));
		if (!t)
			return errmsg_set(ENOMEM, "no memory for an arena's bins"), NULL;
		for (size_t i = 0; i < a->cap; i++)
			if (a->bins[i])
				t[bin_find(t, cap, a->bins[i]->type, a->bins[i]->szind)] = a->bins[i];
		free(a->bins);
		a->bins = t;
		a->cap = cap;
	}
	struct pbin *b = calloc(1, sizeof(*b));
	if (!b)
		return errmsg_set(ENOMEM, "no memory for an arena's bins"), NULL;
	b->type = type;
	b->szind = szind;
	a->bins[bin_find(a->bins, a->cap, type, szind)] = b;
	a->nbins++;
	return b;
}

static void
avail_push(struct pbin *b, struct vslab *s)
{
	s->prev = NULL;
	s->next = b->avail;
	if (b->avail)
		b->avail->prev = s;
	b->avail = s;
	s->listed = true;
}

static void
avail_remove(struct pbin *b, struct vslab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		b->avail = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->listed = false;
}

/* ---- boot ------------------------------------------------------------------ */

static void *
vcalloc(size_t n, size_t sz)
{
	return calloc(n ? n : 1, sz);
}

static struct vslab *
vslab_new(struct pheap *h, uint32_t page, unsigned szind, uint64_t type, struct parena *a)
{
	struct vslab *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->page = page;
	s->szind = (uint8_t)szind;
	s->type = type;
	s->arena = a;
	__atomic_store_n(&h->slab[page], s, __ATOMIC_RELEASE);
	return s;
}

/* boot_slab -- index the slab at page p (bitmap not zero); 0 or -1 */
static int
boot_slab(struct pheap *h, uint32_t p, unsigned szind, uint32_t *skip)
{
	const struct sizeclass *c = &sz_classes[szind];
	if (c->npages > h->state->top - p) {
		errmsg_set(EINVAL, "heap page %u: a slab of %u pages runs past the heap's top", p,
				c->npages);
		return -1;
	}
	struct parena *a = &h->arenas[p % PHEAP_ARENAS];
	struct pbin *b = bin_get(a, h->desc[p].type, szind);
	if (!b)
		return -1;
	struct vslab *s = vslab_new(h, p, szind, h->desc[p].type, a);
	if (!s)
		return errmsg_set(ENOMEM, "no memory for the heap's index"), -1;
	s->bin = b;
	s->persisted = true;
	for (unsigned w = 0; w < SLAB_BITMAP_WORDS; w++) {
		uint64_t bits = h->desc[p].bitmap[w];
		unsigned lo = w * 64;
		if (lo + 64 > c->nregs)
			bits &= c->nregs > lo ? (UINT64_C(1) << (c->nregs - lo)) - 1 : 0;
		if (bits != h->desc[p].bitmap[w]) {
			errmsg_set(EINVAL, "heap page %u: a slab's bitmap marks objects past its %u",
					p, c->nregs);
			return -1;
		}
		s->bits[w] = bits;
		s->nused += (unsigned)__builtin_popcountll(bits);
	}
	if (s->nused < c->nregs)
		avail_push(b, s);
	claim(h, p, c->npages, VK_SLAB);
	*skip = c->npages;
	return 0;
}

int
pheap_boot(struct pheap *h, char *base, const struct pmem_ops *ops, struct obj_page *desc,
		uint64_t heap_off, uint32_t npages, struct obj_state *state)
{
	memset(h, 0, sizeof(*h));
	sz_boot();
	h->base = base;
	h->ops = ops;
	h->desc = desc;
	h->heap_off = heap_off;
	h->npages = npages;
	h->state = state;
	pthread_mutex_init(&h->pages_lock, NULL);
	for (unsigned i = 0; i < PHEAP_ARENAS; i++)
		pthread_mutex_init(&h->arenas[i].lock, NULL);
	for (unsigned b = 0; b < PHEAP_BUCKETS; b++)
		h->buckets[b] = NONE;
	h->kind = vcalloc(npages, 1);
	h->head = vcalloc(npages, 4);
	h->len = vcalloc(npages, 4);
	h->fnext = vcalloc(npages, 4);
	h->fprev = vcalloc(npages, 4);
	h->slab = vcalloc(npages, sizeof(*h->slab));
	if (!h->kind || !h->head || !h->len || !h->fnext || !h->fprev || !h->slab) {
		pheap_fini(h);
		return errmsg_set(ENOMEM, "no memory for the index of %u heap pages", npages), -1;
	}
	if (state->top > npages) {
		pheap_fini(h);
		return errmsg_set(EINVAL, "the heap's top (%llu pages) is past its end (%u)",
				(unsigned long long)state->top, npages), -1;
	}
	uint32_t top = (uint32_t)state->top, free_from = NONE;
	h->vtop = top;
	for (uint32_t p = 0; p < top;) {
		uint64_t w = desc[p].word;
		uint32_t skip = 1;
		bool used = false;
		if (PAGE_KIND(w) == PAGE_SLAB) {
			unsigned szind = PAGE_SZIND(w);
			if (szind >= NSMALL || (w & ~(uint64_t)0xff03) != 0) {
				errmsg_set(EINVAL, "heap page %u: a slab head names class %u (word %#llx)",
						p, szind, (unsigned long long)w);
				goto bad;
			}
			bool empty = true;
			for (unsigned i = 0; i < SLAB_BITMAP_WORDS; i++)
				empty &= desc[p].bitmap[i] == 0;
			if (!empty) {
				if (boot_slab(h, p, szind, &skip) != 0)
					goto bad;
				used = true;
			}
		} else if (PAGE_KIND(w) == PAGE_RUN) {
			uint64_t n = PAGE_NPAGES(w);
			if (n == 0 || n > top - p || (w & 0xf8) != 0) {
				errmsg_set(EINVAL, "heap page %u: a run of %llu pages does not fit below "
						"top (%u)", p, (unsigned long long)n, top);
				goto bad;
			}
			claim(h, p, (uint32_t)n, VK_RUN);
			skip = (uint32_t)n;
			used = true;
		} else if (w != 0) {
			errmsg_set(EINVAL, "heap page %u: unknown descriptor word %#llx", p,
					(unsigned long long)w);
			goto bad;
		}
		if (used && free_from != NONE) {
			fr_insert(h, free_from, p - free_from);
			free_from = NONE;
		} else if (!used && free_from == NONE) {
			free_from = p;
		}
		p += skip;
	}
	if (free_from != NONE)
		fr_insert(h, free_from, top - free_from);
	h->free_pages += npages - top;
	return 0;
bad:
	pheap_fini(h);
	return -1;
}

void
pheap_fini(struct pheap *h)
{
	if (h->slab) {
		for (uint32_t p = 0; p < h->npages; p++)
			free(h->slab[p]);
	}
	for (unsigned i = 0; i < PHEAP_ARENAS; i++) {
		for (size_t k = 0; k < h->arenas[i].cap; k++)
			free(h->arenas[i].bins[k]);
		free(h->arenas[i].bins);
		h->arenas[i].bins = NULL;
		h->arenas[i].cap = h->arenas[i].nbins = 0;
		pthread_mutex_destroy(&h->arenas[i].lock);
	}
	pthread_mutex_destroy(&h->pages_lock);
	free(h->kind);
	free(h->head);
	free(h->len);
	free(h->fnext);
	free(h->fprev);
	free(h->slab);
	h->kind = NULL;
	h->head = h->len = h->fnext = h->fprev = NULL;
	h->slab = NULL;
}

/* ---- reserve, publish, cancel --------------------------------------------- */

static inline uint64_t
page_off(const struct pheap *h, uint32_t p)
{
	return h->heap_off + (uint64_t)p * PAGE;
}

static inline uint64_t
desc_off(const struct pheap *h, uint32_t p, const void *field)
{
	(void)p;
	return (uint64_t)((const char *)field - h->base);
}

static __thread unsigned tls_arena_plus1 TLS_HOT;

static struct parena *
my_arena(struct pheap *h)
{
	if (!tls_arena_plus1)
		tls_arena_plus1 = atomic_fetch_add(&h->next_arena, 1) % PHEAP_ARENAS + 1;
	return &h->arenas[tls_arena_plus1 - 1];
}

/* slab_take -- the lowest free object of s (one exists) */
static unsigned
slab_take_one(struct vslab *s)
{
	for (unsigned w = 0;; w++) {
		uint64_t free_bits = ~s->bits[w];
		if (free_bits) {
			unsigned bit = (unsigned)__builtin_ctzll(free_bits);
			s->bits[w] |= UINT64_C(1) << bit;
			s->nused++;
			return w * 64 + bit;
		}
	}
}

static int
reserve_small(struct pheap *h, size_t size, uint64_t type, struct pres *r)
{
	unsigned szind = sz_size2ind(size);
	const struct sizeclass *c = &sz_classes[szind];
	struct parena *a = my_arena(h);
	pthread_mutex_lock(&a->lock);
	struct pbin *b = bin_get(a, type, szind);
	if (!b) {
		pthread_mutex_unlock(&a->lock);
		return -1;
	}
	struct vslab *s = b->avail;
	if (!s) {
		pthread_mutex_lock(&h->pages_lock);
		uint32_t p = fr_take(h, c->npages);
		if (p != NONE) {
			s = vslab_new(h, p, szind, type, a);
			if (s)
				claim(h, p, c->npages, VK_SLAB);
			else
				fr_insert(h, p, c->npages);
		}
		pthread_mutex_unlock(&h->pages_lock);
		if (!s) {
			pthread_mutex_unlock(&a->lock);
			if (p != NONE)
				errmsg_set(ENOMEM, "no memory for a slab's index");
			return -1;
		}
		s->bin = b;
		avail_push(b, s);
	}
	unsigned slot = slab_take_one(s);
	if (s->nused == c->nregs)
		avail_remove(b, s);
	pthread_mutex_unlock(&a->lock);
	r->slab = s;
	r->slot = slot;
	r->page = s->page;
	r->npages = c->npages;
	r->usable = c->size;
	r->off = page_off(h, s->page) + (uint64_t)slot * c->size;
	return 0;
}

static int
reserve_run(struct pheap *h, size_t size, uint64_t type, struct pres *r)
{
	uint64_t n = ALIGN_UP((uint64_t)size, PAGE) >> LG_PAGE;
	if (n > h->npages)
		return errmsg_set(ENOMEM, "%zu bytes do not fit in the heap", size), -1;
	pthread_mutex_lock(&h->pages_lock);
	uint32_t p = fr_take(h, (uint32_t)n);
	if (p != NONE)
		claim(h, p, (uint32_t)n, VK_RUN);
	pthread_mutex_unlock(&h->pages_lock);
	if (p == NONE)
		return -1;
	h->desc[p].type = type;                 /* not durable: the publish record sets it */
	r->slab = NULL;
	r->slot = 0;
	r->page = p;
	r->npages = (uint32_t)n;
	r->usable = n * PAGE;
	r->off = page_off(h, p);
	return 0;
}

int
pheap_reserve(struct pheap *h, size_t size, uint64_t type, bool internal, struct pres *r)
{
	r->type = type;
	r->internal = internal;
	if (size == 0)
		size = 1;
	if (size <= SMALL_MAX && !internal)
		return reserve_small(h, size, type, r);
	return reserve_run(h, size, type, r);
}

int
pheap_publish_ops(struct pheap *h, const struct pres *r, struct redo_buf *b)
{
	struct obj_page *d = &h->desc[r->page];
	int err = 0;
	if (r->slab) {
		if (!__atomic_load_n(&r->slab->persisted, __ATOMIC_ACQUIRE)) {
			err |= redo_buf_add(b, desc_off(h, r->page, &d->type), REDO_SET, r->type);
			err |= redo_buf_add(b, desc_off(h, r->page, &d->word), REDO_SET,
					page_slab_word(r->slab->szind));
		}
		err |= redo_buf_add(b, desc_off(h, r->page, &d->bitmap[r->slot / 64]), REDO_OR,
				UINT64_C(1) << (r->slot % 64));
	} else {
		err |= redo_buf_add(b, desc_off(h, r->page, &d->type), REDO_SET, r->type);
		err |= redo_buf_add(b, desc_off(h, r->page, &d->word), REDO_SET,
				page_run_word(r->npages, r->internal));
	}
	return err ? -1 : 0;
}

void
pheap_published(struct pheap *h, const struct pres *r)
{
	(void)h;
	if (r->slab)
		__atomic_store_n(&r->slab->persisted, true, __ATOMIC_RELEASE);
}

/* slab_put -- slot back to s (arena lock held); an empty slab that is not the
 * bin's only one gives its pages back */
static void
slab_put(struct pheap *h, struct vslab *s, unsigned slot)
{
	const struct sizeclass *c = &sz_classes[s->szind];
	s->bits[slot / 64] &= ~(UINT64_C(1) << (slot % 64));
	s->nused--;
	struct pbin *b = s->bin;
	if (!s->listed)
		avail_push(b, s);
	if (s->nused > 0 || (b->avail == s && !s->next))
		return;
	avail_remove(b, s);
	pthread_mutex_lock(&h->pages_lock);
	__atomic_store_n(&h->slab[s->page], NULL, __ATOMIC_RELAXED);
	fr_insert(h, s->page, c->npages);
	pthread_mutex_unlock(&h->pages_lock);
	free(s);
}

static void
run_put(struct pheap *h, uint32_t p, uint32_t n)
{
	pthread_mutex_lock(&h->pages_lock);
	fr_insert(h, p, n);
	pthread_mutex_unlock(&h->pages_lock);
}

void
pheap_cancel(struct pheap *h, const struct pres *r)
{
	if (r->slab) {
		struct parena *a = r->slab->arena;   /* slab_put may free the slab */
		pthread_mutex_lock(&a->lock);
		slab_put(h, r->slab, r->slot);
		pthread_mutex_unlock(&a->lock);
	} else {
		run_put(h, r->page, r->npages);
	}
}

/* ---- lookup and free ------------------------------------------------------- */

int
pheap_lookup(struct pheap *h, uint64_t off, bool internal, bool reserved, struct pres *r)
{
	if (off < h->heap_off || off >= page_off(h, h->npages))
		return errmsg_set(EINVAL, "offset %llu is not in the pool's heap",
				(unsigned long long)off), -1;
	uint32_t p = (uint32_t)((off - h->heap_off) >> LG_PAGE);
	/* no lock: the unit holding an allocated object cannot go away meanwhile */
	unsigned kind = __atomic_load_n(&h->kind[p], __ATOMIC_RELAXED) & VK_KIND;
	uint32_t head = __atomic_load_n(&h->head[p], __ATOMIC_RELAXED);
	struct vslab *s = kind == VK_SLAB ? __atomic_load_n(&h->slab[head], __ATOMIC_ACQUIRE) : NULL;
	uint32_t n = kind == VK_RUN ? __atomic_load_n(&h->len[head], __ATOMIC_RELAXED) : 0;
	const struct obj_page *d = &h->desc[kind == VK_FREE ? p : head];
	if (kind == VK_SLAB && s) {
		const struct sizeclass *c = &sz_classes[s->szind];
		uint64_t rel = off - page_off(h, head);
		uint64_t slot = rel / c->size;
		bool held = false;
		if (rel % c->size == 0 && slot < c->nregs) {
			held = __atomic_load_n(&d->bitmap[slot / 64], __ATOMIC_RELAXED) >> (slot % 64) & 1;
			if (!held && reserved) {
				pthread_mutex_lock(&s->arena->lock);
				held = s->bits[slot / 64] >> (slot % 64) & 1;
				pthread_mutex_unlock(&s->arena->lock);
			}
		}
		if (held) {
			*r = (struct pres){ .off = off, .usable = c->size, .type = s->type, .slab = s,
				.page = head, .npages = c->npages, .slot = (unsigned)slot };
			return 0;
		}
	} else if (kind == VK_RUN && off == page_off(h, head) &&
			((PAGE_KIND(d->word) == PAGE_RUN && !!(d->word & PAGE_INTERNAL) == internal) ||
			(reserved && !internal))) {
		*r = (struct pres){ .off = off, .usable = (size_t)n * PAGE, .type = d->type,
			.page = head, .npages = n, .internal = internal };
		return 0;
	}
	return errmsg_set(EINVAL, "offset %llu is not an allocated object",
			(unsigned long long)off), -1;
}

int
pheap_free_ops(struct pheap *h, const struct pres *r, struct redo_buf *b)
{
	struct obj_page *d = &h->desc[r->page];
	if (r->slab)
		return redo_buf_add(b, desc_off(h, r->page, &d->bitmap[r->slot / 64]), REDO_ANDNOT,
				UINT64_C(1) << (r->slot % 64));
	return redo_buf_add(b, desc_off(h, r->page, &d->word), REDO_SET, 0);
}

void
pheap_freed(struct pheap *h, const struct pres *r)
{
	pheap_cancel(h, r);
}

int
pheap_retype_ops(struct pheap *h, const struct pres *r, uint64_t type, struct redo_buf *b)
{
	return redo_buf_add(b, desc_off(h, r->page, &h->desc[r->page].type), REDO_SET, type);
}

/* ---- iteration, checks, usage --------------------------------------------- */

uint64_t
pheap_next(struct pheap *h, uint64_t off)
{
	uint32_t p = 0;
	uint64_t from = 0;                   /* first slot offset to consider */
	if (off >= h->heap_off) {
		if (off >= page_off(h, h->npages))
			return 0;
		p = (uint32_t)((off - h->heap_off) >> LG_PAGE);
		from = off;
	}
	pthread_mutex_lock(&h->pages_lock);
	if ((h->kind[p] & VK_KIND) != VK_FREE)
		p = h->head[p];
	uint64_t found = 0;
	while (p < h->vtop && !found) {
		unsigned kind = h->kind[p] & VK_KIND;
		if (kind == VK_FREE) {
			p += (h->kind[p] & KF_START) ? h->len[p] : 1;
			continue;
		}
		const struct obj_page *d = &h->desc[p];
		if (kind == VK_SLAB) {
			const struct sizeclass *c = &sz_classes[h->slab[p]->szind];
			uint64_t base = page_off(h, p);
			uint64_t first = from > base ? (from - base + c->size - 1) / c->size : 0;
			for (uint64_t i = first; i < c->nregs && !found; i++) {
				if (__atomic_load_n(&d->bitmap[i / 64], __ATOMIC_RELAXED) >> (i % 64) & 1)
					found = base + i * c->size;
			}
		} else if (page_off(h, p) >= from && PAGE_KIND(d->word) == PAGE_RUN &&
				!(d->word & PAGE_INTERNAL)) {
			found = page_off(h, p);
		}
		p += h->len[p];
	}
	pthread_mutex_unlock(&h->pages_lock);
	return found;
}

int
pheap_check(struct pheap *h, const uint64_t *internal_blocks, size_t n)
{
	pthread_mutex_lock(&h->pages_lock);
	int ok = 1;
	uint64_t free_seen = h->npages - h->vtop;
	for (uint32_t p = 0; p < h->vtop && ok;) {
		unsigned kind = h->kind[p] & VK_KIND;
		uint32_t len = (kind == VK_FREE && !(h->kind[p] & KF_START)) ? 0 : h->len[p];
		if (len == 0 || len > h->vtop - p) {
			errmsg_set(EINVAL, "heap page %u: the index is inconsistent", p);
			ok = 0;
			break;
		}
		if (kind == VK_FREE)
			free_seen += len;
		else if (kind == VK_SLAB && !h->slab[p])
			ok = 0, errmsg_set(EINVAL, "heap page %u: a slab without its index", p);
		p += len;
	}
	if (ok && free_seen != h->free_pages) {
		errmsg_set(EINVAL, "the heap counts %llu free pages but its runs hold %llu",
				(unsigned long long)h->free_pages, (unsigned long long)free_seen);
		ok = 0;
	}
	for (size_t i = 0; i < n && ok; i++) {
		uint64_t off = internal_blocks[i];
		uint32_t p = (uint32_t)((off - h->heap_off) >> LG_PAGE);
		if (off < h->heap_off || p >= h->npages || (h->kind[p] & VK_KIND) != VK_RUN ||
				!(h->desc[h->head[p]].word & PAGE_INTERNAL)) {
			errmsg_set(EINVAL, "a lane's log block at %llu is not an internal run",
					(unsigned long long)off);
			ok = 0;
		}
	}
	pthread_mutex_unlock(&h->pages_lock);
	return ok;
}

void
pheap_usage(struct pheap *h, uint64_t *free_pages, uint64_t *used_bytes, uint64_t *objects)
{
	uint64_t bytes = 0, count = 0;
	pthread_mutex_lock(&h->pages_lock);
	for (uint32_t p = 0; p < h->vtop;) {
		unsigned kind = h->kind[p] & VK_KIND;
		if (kind == VK_FREE) {
			p += (h->kind[p] & KF_START) ? h->len[p] : 1;
			continue;
		}
		const struct obj_page *d = &h->desc[p];
		if (kind == VK_SLAB) {
			const struct sizeclass *c = &sz_classes[h->slab[p]->szind];
			for (unsigned w = 0; w < SLAB_BITMAP_WORDS; w++) {
				unsigned k = (unsigned)__builtin_popcountll(d->bitmap[w]);
				count += k;
				bytes += (uint64_t)k * c->size;
			}
		} else if (PAGE_KIND(d->word) == PAGE_RUN && !(d->word & PAGE_INTERNAL)) {
			count++;
			bytes += (uint64_t)h->len[p] * PAGE;
		}
		p += h->len[p];
	}
	*free_pages = h->free_pages;
	pthread_mutex_unlock(&h->pages_lock);
	*used_bytes = bytes;
	*objects = count;
}
