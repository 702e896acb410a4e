/*
 * hash.h -- the keyed hash of keys: SipHash-1-3
 *
 * Keyed by a random per-store seed, so a client that picks keys cannot
 * aim them at one bucket (hash flooding). 1-3: one compression round per
 * word, three at the end, as Redis uses for its keyspace.
 */
#ifndef PMALLOC_KV_HASH_H
#define PMALLOC_KV_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The hash of len bytes at p under the 128-bit key seed[0..1]. */
uint64_t hash_key(const uint64_t seed[2], const void *p, size_t len);

#endif
