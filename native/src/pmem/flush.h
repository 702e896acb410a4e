/*
 * flush.h -- cache flushing and draining: the instructions under pmem_persist
 *
 * Glossary:
 *   line   -- a 64-byte cache line, the unit a flush instruction acts on.
 *   flush  -- write the lines of a range back (cpu_cfg.flush picks CLWB,
 *             CLFLUSHOPT, CLFLUSH or nothing).
 *   drain  -- SFENCE: earlier flushes and non-temporal stores are done.
 * These are the raw hardware operations: they know no mapping, no simulator
 * and export nothing; libpmem.c routes simulated ranges to sim.c before them,
 * and the mechanisms (map.c, sim.c) fence with flush_fence.
 */
#ifndef PMALLOC_PMEM_FLUSH_H
#define PMALLOC_PMEM_FLUSH_H

#include <stddef.h>

#include "pmem/cpu.h"

#define FLUSH_LINE ((size_t)64)

/* Write back every line of [addr, addr+len) with instruction f (no fence). */
void flush_lines(enum cpu_flush f, const void *addr, size_t len);

/* Write back every line of the range with the configured instruction (no fence). */
void flush_range(const void *addr, size_t len);

/* The fence that completes flushes and non-temporal stores. */
static inline void
flush_fence(void)
{
	__asm__ volatile("sfence" ::: "memory");
}

#endif
