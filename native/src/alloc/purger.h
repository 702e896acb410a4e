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

#include <stdatomic.h>

#include "alloc/extent.h"

/* Purge x on time from now on; 0, or -1 + ENOMEM when the table is full. */
int purger_add(struct extents *x);

/* Stop purging x (before its memory goes away); waits out a pass over it. */
void purger_remove(struct extents *x);

/* Start the thread unless it runs (purger_poke's slow part). */
void purger_start(void);

/* After frees into x: start the thread if x is registered, has dirty runs and
 * the thread is not running. Cheap: a relaxed load or two. */
static inline void
purger_poke(struct extents *x)
{
	if (atomic_load_explicit(&x->background, memory_order_relaxed)
			&& atomic_load_explicit(&x->has_dirty, memory_order_relaxed))
		purger_start();
}

#endif
