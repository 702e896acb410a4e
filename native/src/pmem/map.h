/*
 * map.h -- file mappings made by pmem_map_file, and what is pmem among them
 *
 * Glossary:
 *   mapping  -- one [start, end) range mmap'ed by pmem_map_file, remembered in
 *               a small table under a lock until pmem_unmap takes it away.
 *   pmem     -- a mapping made with MAP_SYNC (a DAX file: stores reach the
 *               media through flush + fence alone), or any range when
 *               PMEM_IS_PMEM_FORCE=1.
 */
#ifndef PMALLOC_PMEM_MAP_H
#define PMALLOC_PMEM_MAP_H

#include <stddef.h>

/* 1 if [addr, addr+len) lies wholly inside mappings of pmem_map_file, else 0. */
int map_covers(const void *addr, size_t len);

/* 1 if [addr, addr+len) lies wholly inside MAP_SYNC mappings, else 0 (ignores the force switch). */
int map_is_dax(const void *addr, size_t len);

/* PMEM_IS_PMEM_FORCE as read on first use: 1, 0, or -1 when unset. */
int map_force(void);

#endif
