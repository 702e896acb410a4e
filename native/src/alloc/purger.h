/*
 * purger.h -- a background thread that purges on time, for idle programs
 *
 * Decay purges a dirty run once it has stayed dirty for PMALLOC_DECAY_MS; the
 * allocator's slow paths do it as they pass (amortized), but a program that
 * stops allocating never passes them. The purger thread does it for the
 * extents registered with it: it sleeps until the oldest dirty run is due,
 * purges, and ends once nothing is dirty (a later poke starts it again).
 * Only explicit pools register: a preloaded program gets no thread it did not
 * make (fork, /proc thread counts) unless PMALLOC_BACKGROUND=1.
 */
#ifndef PMALLOC_PURGER_H
#define PMALLOC_PURGER_H

#include "alloc/extent.h"

/* Purge x on time from now on; 0, or -1 + ENOMEM when the table is full. */
int purger_add(struct extents *x);

/* Stop purging x (before its memory goes away); waits out a pass over it. */
void purger_remove(struct extents *x);

/* After frees: start the thread if some registered extents may be dirty and it
 * is not running. Cheap: one relaxed load when it runs or nothing registered. */
void purger_poke(void);

#endif
