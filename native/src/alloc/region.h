/*
 * region.h -- the memory a heap lives in: where it comes from and how pages go back
 *
 * Sources: a temporary file in a directory (unlinked at once; pages go back by
 * punching holes), anonymous memory (MADV_DONTNEED), or a caller's region (never
 * given back: we do not know what it is).
 *
 * A file region keeps no descriptor once mapped: a program may close or reuse
 * any descriptor number it did not open (daemons close them all), and a child
 * must not see one it did not ask for. Everything goes through the mapping:
 * punching (MADV_REMOVE), reserving (MADV_POPULATE_WRITE), copying for a
 * fork (written from the mapping into a new file).
 *
 * Reserve: pool files are sparse, and a store to a hole of a file whose file
 * system is full kills the process with SIGBUS; the allocator reserves pages
 * before it hands them out, and fails cleanly instead.
 */
#ifndef PMALLOC_REGION_H
#define PMALLOC_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum region_kind {
	REGION_FILE,           /* MAP_SHARED over our unlinked file */
	REGION_FILE_PRIVATE,   /* the file remapped copy-on-write at a fork */
	REGION_ANON,           /* private anonymous memory */
	REGION_CALLER,         /* the caller's memory */
};

struct region {
	void *base;            /* first byte */
	size_t size;           /* bytes mapped */
	enum region_kind kind; /* where the memory comes from */
	char dir[256];         /* where the file was made (copies go there too) */
};

/* Map `size` bytes of a new unlinked file in `dir`; 0, or -1 + errno + message. */
int region_create_tmpfile(struct region *r, const char *dir, size_t size);

/* Map `size` bytes of anonymous memory; 0 or -1. */
int region_create_anon(struct region *r, size_t size);

/* Describe the caller's memory [addr, addr+size). */
void region_init_caller(struct region *r, void *addr, size_t size);

/* Unmap and close what region_create_* made (nothing for a caller region). */
void region_destroy(struct region *r);

/* Before fork, with the heap quiescent: a new unlinked file of the region's
 * size in its directory, for the caller to copy the live pages into
 * (region_copy_out) and the child to map (region_fork_child); -1 where no copy
 * is wanted or none can be made, the region then being remapped copy-on-write
 * (region_fork_cow). PMALLOC_FORK (or VMMALLOC_FORK) = 1 asks for the remap.
 * Either way the two processes never share the file. */
int region_fork_file(struct region *r);

/* Copy [off, off+len) of the region into the same offsets of fd; 0 or -1. */
int region_copy_out(const struct region *r, int fd, size_t off, size_t len);

/* Remap the region copy-on-write over its own file, where the process may open
 * it (/proc/self/map_files): neither process writes the file again. */
void region_fork_cow(struct region *r);

/* After fork, in the child: map the copy fd in place of the shared file (and
 * close fd); false if that failed (the region is then copy-on-write). */
bool region_fork_child(struct region *r, int fd);

/* Give [addr, addr+len) back to the system; true when it now reads as zeros. */
bool region_purge(const struct region *r, void *addr, size_t len);

/* Make sure [addr, addr+len) has storage behind it, so that a store there cannot
 * die of SIGBUS on a full file system; 0, or -1 + ENOMEM + message. Nothing to
 * do for regions other than a shared file (region_needs_reserve). */
int region_reserve(const struct region *r, void *addr, size_t len);

/* True when pages of r must be reserved before use. */
bool region_needs_reserve(const struct region *r);

/* True when fresh pages of this region read as zeros. */
bool region_fresh_is_zero(const struct region *r);

/* Bytes of storage the backing file holds (0 without a file), by page-cache
 * residency of the mapping (mincore): the region has no descriptor to stat. */
uint64_t region_file_allocated(const struct region *r);

#endif
