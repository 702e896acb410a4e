/*
 * checksum.h -- Fletcher-64 over 32-bit little-endian words, for on-media headers
 */
#ifndef PMALLOC_CHECKSUM_H
#define PMALLOC_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The checksum of len bytes at p (len a multiple of 4). */
static inline uint64_t
checksum64(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t lo = 0, hi = 0;
	for (size_t i = 0; i + 4 <= len; i += 4) {
		uint32_t w;
		memcpy(&w, b + i, 4);
		lo = (lo + w) % UINT32_MAX;
		hi = (hi + lo) % UINT32_MAX;
	}
	return hi << 32 | lo;
}

/* A 64-bit mix of x (splitmix64's finaliser): tags and seeds. */
static inline uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

#endif
