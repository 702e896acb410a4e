/*
 * pmalloc.h -- pmalloc's own extras beside the PMDK/memkind-compatible APIs
 *
 * Error messages, statistics, purging and owner lookup for vmem pools.
 */
#ifndef PMALLOC_H
#define PMALLOC_H 1

#include <stddef.h>
#include <stdint.h>

#include "libvmem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ------------------------------------------------------------- */

/* The calling thread's last error message ("" when none). */
const char *pmalloc_errormsg(void);

/* ---- Statistics --------------------------------------------------------- */

/* Whole-pool figures, in bytes unless named otherwise. */
struct pmalloc_stats {
	uint64_t size;          /* the pool's size as created */
	uint64_t allocated;     /* usable bytes of live allocations */
	uint64_t active;        /* pages in slabs and large extents */
	uint64_t metadata;      /* header, page map and descriptors in use */
	uint64_t dirty;         /* free pages not yet purged */
	uint64_t resident;      /* active + dirty + metadata: what may hold memory */
	uint64_t file_allocated;/* blocks the backing file holds (0 if no file) */
	uint64_t purged;        /* bytes punched out since creation */
	uint64_t nmalloc;       /* allocations served by the arenas */
	uint64_t nfree;         /* frees returned to the arenas */
	uint32_t narenas;       /* arenas in the pool */
	uint32_t nclasses;      /* size classes (slab and cached large) */
};

/* Figures for one size class. */
struct pmalloc_class_stats {
	uint64_t size;          /* object size of the class */
	uint64_t slab_size;     /* bytes per slab, 0 for a large class */
	uint64_t live;          /* objects in use (not counting thread caches) */
	uint64_t cached;        /* objects held in thread caches */
	uint64_t slabs;         /* slabs of this class */
};

/* Fill *st with the pool's figures; 0, or -1 + errno. */
int pmalloc_vmem_stats(VMEM *vmp, struct pmalloc_stats *st);

/* Fill up to n per-class rows; returns the number of classes, or -1 + errno. */
int pmalloc_vmem_class_stats(VMEM *vmp, struct pmalloc_class_stats *rows, size_t n);

/* Flush the calling thread's cache and punch out every free page now; 0 or -1. */
int pmalloc_vmem_purge(VMEM *vmp);

/* ---- Owner lookup ------------------------------------------------------- */

/* The pool whose region holds ptr, or NULL (a lock-free radix lookup). */
VMEM *pmalloc_vmem_of(const void *ptr);

/* Free ptr into whichever pool owns it; -1 + EINVAL for a foreign pointer. */
int pmalloc_free(void *ptr);

/* ---- Tunables ----------------------------------------------------------- */

/* Milliseconds a free page may stay dirty before it is purged (default 10000,
 * environment PMALLOC_DECAY_MS); returns the previous value. */
long pmalloc_set_decay_ms(long ms);

#ifdef __cplusplus
}
#endif
#endif /* PMALLOC_H */
