/*
 * sizeclass.h -- size classes: how request sizes round to object sizes
 *
 * Glossary: szind = size class index; small = served from slabs (<= SMALL_MAX);
 * large = whole-page extents rounded to a class and kept in thread caches
 * (<= LARGE_MAX, 64 KiB); huge = page-rounded extents beyond, never cached: a
 * class there would only add untouched (or, reused, resident) tail pages. Classes: 8, then every 16 bytes to 256, then four per doubling
 * (eight from 4 to 8 KiB), so a request wastes at most 25 % above 64 bytes. Cached = classes a thread
 * cache keeps (<= TCACHE_MAX).
 */
#ifndef PMALLOC_SIZECLASS_H
#define PMALLOC_SIZECLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define SMALL_MAX ((size_t)14336)
#define TCACHE_MAX ((size_t)65536)
#define LARGE_MAX TCACHE_MAX
#define LUT_MAX ((size_t)16384)      /* sizes served by the lookup table */

#define NSMALL 44                    /* slab classes */
#define NCACHED 53                   /* NSMALL + large classes up to TCACHE_MAX */
#define NCLASSES NCACHED             /* every class is cached */
#define SZIND_NONE 0xff              /* page map: not an allocated object */

#define SLAB_MAXREGS 512             /* objects per slab: bitmap of 8 words */
#define SLAB_BITMAP_WORDS (SLAB_MAXREGS / 64)

struct sizeclass {
	uint32_t size;     /* object size */
	uint16_t nregs;    /* objects per slab (small only) */
	uint16_t npages;   /* pages per slab (small) or per extent (large) */
	uint16_t ncache;   /* thread cache capacity (cached classes) */
	uint32_t magic;    /* ceil(2^32 / size): offset / size without dividing */
};

extern struct sizeclass sz_classes[NCLASSES];
extern uint8_t sz_lut[(LUT_MAX >> 3) + 1];

/* Build the tables once (idempotent, thread-safe). */
void sz_boot(void);

/* The class index of a request of `size` bytes, for size <= LARGE_MAX. */
static inline unsigned
sz_size2ind(size_t size)
{
	if (likely(size <= LUT_MAX))
		return sz_lut[(size + 7) >> 3];
	size_t x = size - 1;
	unsigned lg = 63u - (unsigned)__builtin_clzll(x);
	return NSMALL + 1 + (lg - 14) * 4 + (unsigned)((x >> (lg - 2)) & 3);
}

/* The usable size a request of `size` bytes gets (huge: page-rounded). */
static inline size_t
sz_usable(size_t size)
{
	if (size <= LARGE_MAX)
		return sz_classes[sz_size2ind(size)].size;
	return ALIGN_UP(size, PAGE);
}

#endif
