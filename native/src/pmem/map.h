/*
 * map.h -- file mappings made for pmem_map_file, and what is pmem among them
 *
 * A mechanism under libpmem.c: it opens, sizes and maps files (MAP_SYNC
 * first, a plain shared mapping where the file system refuses it), remembers
 * each mapping, and msyncs ranges. It knows no public flag and no simulator;
 * libpmem.c checks the caller's arguments and turns PMEM_FILE_* into map_how.
 *
 * Glossary:
 *   mapping  -- one [start, end) range mmap'ed by map_file, remembered in a
 *               small table under a lock until map_unmap takes it away.
 *   dax      -- a mapping made with MAP_SYNC (a DAX file: stores reach the
 *               media through flush + fence alone).
 *   force    -- PMEM_IS_PMEM_FORCE: when set, every range is pmem (1) or none (0).
 */
#ifndef PMALLOC_PMEM_MAP_H
#define PMALLOC_PMEM_MAP_H

#include <stddef.h>
#include <sys/types.h>

/* What map_file does with its path (the PMEM_FILE_* flags, checked). */
struct map_how {
	int create;             /* create the file if missing, resize it to len */
	int excl;               /* with create: fail with EEXIST if path exists */
	int sparse;             /* with create: ftruncate only, no posix_fallocate */
	int tmpfile;            /* with create: path is a directory; the file has no name */
};

/* Open (or create) and map a file; the address, its length to *lenp, MAP_SYNC to *daxp; NULL + errno. */
void *map_file(const char *path, size_t len, const struct map_how *how, mode_t mode,
	size_t *lenp, int *daxp);

/* munmap [addr, addr+len) (len > 0) and forget it; 0, or -1 + errno and message. */
int map_unmap(void *addr, size_t len);

/* msync(MS_SYNC) the pages holding [addr, addr+len); 0, or -1 + errno and message. */
int map_sync(const void *addr, size_t len);

/* 1 if [addr, addr+len) lies wholly inside mappings of map_file, else 0. */
int map_covers(const void *addr, size_t len);

/* 1 if [addr, addr+len) lies wholly inside MAP_SYNC mappings, else 0 (ignores the force switch). */
int map_is_dax(const void *addr, size_t len);

/* PMEM_IS_PMEM_FORCE as read on first use: 1, 0, or -1 when unset. */
int map_force(void);

#endif
