/*
 * rtree.h -- owner lookup: address -> heap id, lock-free for readers
 *
 * A two-level radix tree over 2 MiB chunks of the 48-bit address space. A chunk
 * can hold the tail of one region and the head of the next (regions are at least
 * 14 MiB), so an entry is two ids and the page where the second begins.
 */
#ifndef PMALLOC_RTREE_H
#define PMALLOC_RTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Map [base, base + size) to id; false when a leaf cannot be allocated.
 * Writers are serialised by the caller (the heap registry lock). */
bool rtree_set(uintptr_t base, size_t size, unsigned id);

/* Forget id over [base, base + size). */
void rtree_clear(uintptr_t base, size_t size, unsigned id);

/* The id of the region that may hold p (0: none); the caller checks bounds. */
unsigned rtree_lookup(const void *p);

#endif
