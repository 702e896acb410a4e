/*
 * memops.h -- copying and filling pmem: the loops under pmem_memmove and pmem_memset
 *
 * A copy below cpu_cfg.movnt_threshold (or MEMOPS_TEMPORAL) is an ordinary
 * memmove followed by a flush of the lines it wrote. A larger one (or
 * MEMOPS_NONTEMPORAL) writes the partial lines at either end with ordinary
 * stores and flushes them, and streams the whole lines between with
 * non-temporal stores, which need no flush, only the fence that the caller
 * issues (flush_fence) when it drains. Raw hardware: no simulator, no flags
 * of the public API (libpmem.c turns PMEM_F_MEM_* into a memops_how).
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

/* Which stores a copy uses for its whole lines. */
enum memops_how {
	MEMOPS_AUTO,            /* non-temporal from cpu_cfg.movnt_threshold bytes on */
	MEMOPS_TEMPORAL,        /* ordinary stores + flush, whatever the size */
	MEMOPS_NONTEMPORAL,     /* streaming stores, whatever the size (if the CPU has them) */
};

/* memmove to pmem, every line written flushed or streamed; no fence. */
void memops_move(void *dst, const void *src, size_t len, enum memops_how how);

/* memset of pmem, every line written flushed or streamed; no fence. */
void memops_set(void *dst, int c, size_t len, enum memops_how how);

#endif
