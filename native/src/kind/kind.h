/*
 * kind.h -- kinds inside pmalloc: what kind.c (the kinds, static kinds, the
 * registry) offers pmem_kind.c, kind_alloc.c and the tiering above them
 *
 * Glossary: static kind = one of memkind's MEMKIND_* kinds, its heap made at first
 * use; pmem kind = a heap over an unlinked file; registry = the kind of each heap
 * id, for detection by address.
 */
#ifndef PMALLOC_KIND_H
#define PMALLOC_KIND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "alloc/heap.h"
#include "common/errmsg.h"
#include "memkind.h"
#include "pmalloc.h"

#define KIND_MAGIC UINT64_C(0x706d616c6c6f634b)  /* "pmallocK" */
#define KIND_STATIC 23                           /* static kinds; index of a pmem kind */

struct memkind {
	uint64_t magic;                 /* KIND_MAGIC while alive */
	struct heap *_Atomic heap;      /* NULL until a static kind's first use */
	int index;                      /* the static kind's number, else KIND_STATIC */
	int error;                      /* a static kind's sticky MEMKIND_ERROR_*, or 0 */
	char why[256];                  /* ... and its message */
	struct pmalloc_stats cached;    /* memkind_update_cached_stats' snapshot */
	_Atomic long long tiered;       /* bytes memtier placed here and not yet freed */
};

/* Make static kind k's heap, once; NULL + errno + message (its memory is not here). */
struct heap *kind_static_heap(struct memkind *k);

/* The heap behind kind; NULL + errno + message (not a kind, or a static kind
 * whose memory is not here). */
static inline struct heap *
kind_heap(memkind_t kind)
{
	if (unlikely(!kind || kind->magic != KIND_MAGIC)) {
		errmsg_set(EINVAL, "not a kind: %p", (void *)kind);
		return NULL;
	}
	struct heap *h = atomic_load_explicit(&kind->heap, memory_order_acquire);
	return likely(h != NULL) ? h : kind->index < KIND_STATIC ? kind_static_heap(kind) : NULL;
}

/* The kind a heap belongs to, or NULL. */
struct memkind *kind_of_heap(const struct heap *h);

/* Register the new pmem kind k over h; false when MEMKIND_MAX_KIND kinds exist. */
bool kind_add_pmem(struct memkind *k, struct heap *h);

/* Unregister pmem kind k (no longer a kind); its heap, for the caller to destroy. */
struct heap *kind_remove_pmem(struct memkind *k);

/* Set EINVAL and the message what; MEMKIND_ERROR_INVALID. */
int kind_invalid(const char *what);

/* Add delta bytes to what memtier placed in kind (negative on free). */
void kind_account(memkind_t kind, long long delta);

/* The bytes memtier placed in kind and not yet freed. */
long long kind_accounted(memkind_t kind);

/* Whether kind is a live kind (static or pmem). */
bool kind_valid(memkind_t kind);

#endif
