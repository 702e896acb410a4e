/*
 * check.h -- the consistency check of a heap (vmem_check)
 */
#ifndef PMALLOC_CHECK_H
#define PMALLOC_CHECK_H

#include "alloc/heap.h"

/* Walk every structure of h: 1 consistent, 0 not (message set). */
int check_heap(struct heap *h);

#endif
