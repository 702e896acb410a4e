/*
 * memops.h -- copying and filling pmem: pmem_memmove, pmem_memcpy, pmem_memset
 *
 * A copy below cpu_cfg.movnt_threshold (or with PMEM_F_MEM_TEMPORAL/WB) is an
 * ordinary memmove followed by a flush of the lines it wrote. A larger one (or
 * with PMEM_F_MEM_NONTEMPORAL/WC) writes the partial lines at either end with
 * ordinary stores and flushes them, and streams the whole lines between with
 * non-temporal stores, which need no flush, only the final fence.
 *
 * Glossary:
 *   head, tail -- the bytes before the first and after the last whole
 *                 64-byte line of the destination.
 *   body       -- the whole lines in between, written non-temporally.
 *   backward   -- the destination overlaps the source from above: copy from
 *                 the end, as memmove does.
 */
#ifndef PMALLOC_PMEM_MEMOPS_H
#define PMALLOC_PMEM_MEMOPS_H

#include <stddef.h>

/* memmove to pmem per PMEM_F_MEM_* flags, with the hardware flush and fence (no sim routing). */
void memops_move(void *dst, const void *src, size_t len, unsigned flags);

/* memset of pmem per PMEM_F_MEM_* flags, with the hardware flush and fence (no sim routing). */
void memops_set(void *dst, int c, size_t len, unsigned flags);

#endif
