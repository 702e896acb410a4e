/*
 * stats.h -- statistics of a heap, read with every lock held
 */
#ifndef PMALLOC_STATS_H
#define PMALLOC_STATS_H

#include <stddef.h>

#include "alloc/heap.h"
#include "pmalloc.h"

/* Whole-heap figures into *st. */
void stats_get(struct heap *h, struct pmalloc_stats *st);

/* Up to n per-class rows; returns the number of classes. */
int stats_classes(struct heap *h, struct pmalloc_class_stats *rows, size_t n);

#endif
