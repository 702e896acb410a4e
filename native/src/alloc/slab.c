/*
 * slab.c -- slab bitmaps: taking and returning objects
 */
#include <string.h>

#include "alloc/extent.h"
#include "alloc/slab.h"

void
slab_init(struct extent *e, unsigned szind, unsigned arena)
{
	unsigned nregs = sz_classes[szind].nregs;
	memset(e->bitmap, 0, sizeof(e->bitmap));
	for (unsigned w = 0; w < nregs / 64; w++)
		e->bitmap[w] = ~UINT64_C(0);
	if (nregs % 64)
		e->bitmap[nregs / 64] = (UINT64_C(1) << (nregs % 64)) - 1;
	e->nfree = (uint16_t)nregs;
	e->arena = (uint8_t)arena;
	e->szind = (uint8_t)szind;
}

unsigned
slab_take(struct extent *e, unsigned szind, void **out, unsigned n)
{
	size_t size = sz_classes[szind].size;
	unsigned got = 0;
	n = MIN(n, (unsigned)e->nfree);
	for (unsigned w = 0; got < n && w < SLAB_BITMAP_WORDS; w++) {
		uint64_t bits = e->bitmap[w];
		while (bits && got < n) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			out[got++] = (void *)(e->addr + (w * 64 + b) * size);
		}
		e->bitmap[w] = bits;
	}
	e->nfree = (uint16_t)(e->nfree - got);
	return got;
}

