/*
 * sizeclass.c -- the size class table and the slab geometry of each class
 */
#include <pthread.h>

#include "alloc/sizeclass.h"

struct sizeclass sz_classes[NCLASSES];
uint8_t sz_lut[(LUT_MAX >> 3) + 1];

static pthread_once_t sz_once = PTHREAD_ONCE_INIT;

/*
 * slab_pages -- pages per slab for objects of `size`: the first count whose tail
 * waste is at most 1/64, with a slab of at least 16 KiB when 512 objects allow it
 * (fewer descriptors per byte), else the least wasteful count up to 16 pages.
 */
static unsigned
slab_pages(size_t size)
{
	size_t want = MIN((size_t)16384, size * SLAB_MAXREGS);
	unsigned best = 1;
	size_t best_waste = (size_t)-1;
	for (unsigned p = 1; p <= 16; p++) {
		size_t bytes = p * PAGE;
		size_t nregs = MIN(bytes / size, (size_t)SLAB_MAXREGS);
		if (nregs == 0)
			continue;
		size_t waste = bytes - nregs * size;
		if (bytes >= want && waste * 64 <= bytes)
			return p;
		if (waste * 1024 / bytes < best_waste) {
			best_waste = waste * 1024 / bytes;
			best = p;
		}
	}
	return best;
}

static void
sz_boot_once(void)
{
	unsigned ind = 0;
	sz_classes[ind++].size = 8;
	for (uint32_t s = 16; s <= 256; s += 16)
		sz_classes[ind++].size = s;
	for (unsigned lg = 8; ind < NCLASSES; lg++) {
		/* eight per doubling from 4 to 8 KiB: page-sized records plus a header
		 * (a database's page cache) would waste up to 20 % at four */
		uint32_t per = lg == 12 ? 8 : 4;
		for (uint32_t k = 1; k <= per && ind < NCLASSES; k++)
			sz_classes[ind++].size = (1u << lg) + k * ((1u << lg) / per);
	}

	for (unsigned i = 0; i < NCLASSES; i++) {
		struct sizeclass *c = &sz_classes[i];
		c->magic = (uint32_t)(((UINT64_C(1) << 32) + c->size - 1) / c->size);
		if (i < NSMALL) {
			c->npages = (uint16_t)slab_pages(c->size);
			c->nregs = (uint16_t)MIN(c->npages * PAGE / c->size,
					(size_t)SLAB_MAXREGS);
			unsigned n = 2u * c->nregs;
			c->ncache = (uint16_t)(n < 16 ? 16 : n > 128 ? 128 : n);
		} else {
			c->npages = (uint16_t)(c->size / PAGE);
			c->nregs = 1;
			c->ncache = i < NCACHED ? 64 : 0;  /* bounded by bytes per tcache */
		}
	}
	unsigned s = 0;
	for (size_t i = 0; i <= (LUT_MAX >> 3); i++) {
		size_t size = i << 3;
		while (sz_classes[s].size < size)
			s++;
		sz_lut[i] = (uint8_t)s;
	}
}

void
sz_boot(void)
{
	pthread_once(&sz_once, sz_boot_once);
}
