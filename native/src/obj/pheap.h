/*
 * pheap.h -- the persistent heap's volatile index: which pages and objects are free
 *
 * The truth is on the media (obj_layout.h: page descriptors, slab bitmaps); this
 * module rebuilds an index of it at open, reading descriptors below top only,
 * and hands out reservations: objects nobody else gets that are not allocated
 * until a redo record makes them so (pheap_publish_ops + redo_commit). Frees are
 * the other way round: the record first (pheap_free_ops), then pheap_freed gives
 * the object back to the index. An empty slab leaves the media as it is (a
 * zero bitmap is an empty slab, which opening reads as one free page) and its
 * pages go back to the free runs.
 *
 * Threads: objects come from arenas (a lock each, bins by size class and type
 * number); pages from one page lock, taken rarely (a new slab, a run). Lock
 * order: arena, then pages.
 *
 * Glossary: reservation = an object handed out but not yet published; run = an
 * object of whole pages; vslab = a slab's volatile state (allocated or reserved
 * bits).
 */
#ifndef PMALLOC_OBJ_PHEAP_H
#define PMALLOC_OBJ_PHEAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obj/obj_layout.h"
#include "obj/ulog.h"

#define PHEAP_ARENAS 8
#define PHEAP_BUCKETS 96

struct vslab;
struct pbin;

struct parena {
	pthread_mutex_t lock;                 /* its bins and their slabs */
	struct pbin **bins;                   /* open addressing by (type, class) */
	size_t nbins, cap;
};

struct pheap {
	char *base;                           /* the pool (fixed) */
	uint64_t heap_off;                    /* first heap page's offset */
	uint32_t npages;
	struct obj_page *desc;                /* descriptors on the media */
	struct obj_state *state;              /* top lives there */
	const struct pmem_ops *ops;
	pthread_mutex_t pages_lock;           /* guards everything up to arenas */
	uint8_t *kind;                        /* per page: VK_* */
	uint32_t *head;                       /* per page in a slab or run: its head */
	uint32_t *len;                        /* head: pages of the unit; free run: at both ends */
	uint32_t *fnext, *fprev;              /* free runs' bucket links (UINT32_MAX: none) */
	struct vslab **slab;                  /* per slab head */
	uint32_t buckets[PHEAP_BUCKETS];      /* free runs by size */
	uint32_t vtop;                        /* pages below were handed out at some time */
	uint64_t free_pages;
	struct parena arenas[PHEAP_ARENAS];
	_Atomic unsigned next_arena;
};

/* A reservation (or, after publishing, an allocation). */
struct pres {
	uint64_t off;                         /* the object */
	size_t usable;
	uint64_t type;
	struct vslab *slab;                   /* NULL: a run */
	uint32_t page;                        /* head page */
	uint32_t npages;                      /* run pages */
	unsigned slot;
	bool internal;                        /* a log extension, invisible to users */
};

/* Build the index of the heap described at desc; 0, or -1 + EINVAL + message
 * when a descriptor does not check. */
int pheap_boot(struct pheap *h, char *base, const struct pmem_ops *ops, struct obj_page *desc,
		uint64_t heap_off, uint32_t npages, struct obj_state *state);

/* Free the index. */
void pheap_fini(struct pheap *h);

/* Reserve an object of size bytes of type; 0, or -1 + ENOMEM. */
int pheap_reserve(struct pheap *h, size_t size, uint64_t type, bool internal, struct pres *r);

/* Add to b what publishes r. 0 or -1 (ENOMEM). */
int pheap_publish_ops(struct pheap *h, const struct pres *r, struct redo_buf *b);

/* After the record that published r is durable. */
void pheap_published(struct pheap *h, const struct pres *r);

/* Give a reservation back. */
void pheap_cancel(struct pheap *h, const struct pres *r);

/* The allocated object at off (internal ones only if internal; reservations
 * too if reserved): r filled; 0, or -1 + EINVAL + message when off is not one. */
int pheap_lookup(struct pheap *h, uint64_t off, bool internal, bool reserved, struct pres *r);

/* Add to b what frees r (from pheap_lookup). 0 or -1. */
int pheap_free_ops(struct pheap *h, const struct pres *r, struct redo_buf *b);

/* After the record that freed r is durable: the object can be handed out again. */
void pheap_freed(struct pheap *h, const struct pres *r);

/* Add to b what changes run r's type number (a run keeps it in its descriptor). */
int pheap_retype_ops(struct pheap *h, const struct pres *r, uint64_t type, struct redo_buf *b);

/* The first allocated user object at or after off (0: from the start); 0 when
 * none. Objects reserved but unpublished are not listed. */
uint64_t pheap_next(struct pheap *h, uint64_t off);

/* Walk every allocated object and free run; 1 consistent, 0 not (message).
 * internal_blocks: offsets the lanes reference (they must be internal runs). */
int pheap_check(struct pheap *h, const uint64_t *internal_blocks, size_t n);

/* Pages free and bytes in use by user objects (stats for tests and benchmarks). */
void pheap_usage(struct pheap *h, uint64_t *free_pages, uint64_t *used_bytes, uint64_t *objects);

#endif
