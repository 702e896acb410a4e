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
	REGION_HUGETLB,        /* private anonymous 2 MiB pages (kept: 4 KiB runs cannot go back) */
	REGION_CALLER,         /* the caller's memory */
};

struct region {
	void *base;            /* first byte */
	size_t size;           /* bytes mapped */
	enum region_kind kind; /* where the memory comes from */
	void *cow;             /* a file region's spare private mapping of its file
	                          (PROT_NONE), for region_fork_cow; or NULL */
	bool rehome;           /* copy-on-write since a fork: back onto a file when quiet */
	uint64_t cow_since;    /* when the last fork found it copy-on-write (ms) */
	char dir[256];         /* where the file was made (copies go there too) */
};

/* Map `size` bytes of a new unlinked file in `dir`; 0, or -1 + errno + message. */
int region_create_tmpfile(struct region *r, const char *dir, size_t size);

/* Map `size` bytes of anonymous memory; 0 or -1. */
int region_create_anon(struct region *r, size_t size);

/* Map `size` bytes (a multiple of 2 MiB) of huge pages from the reserved pool; 0,
 * or -1 + errno + a message saying how to reserve them. */
int region_create_hugetlb(struct region *r, size_t size);

/* Whether pages of r can be given back (not a caller's region, not huge pages). */
bool region_can_purge(const struct region *r);

/* Describe the caller's memory [addr, addr+size). */
void region_init_caller(struct region *r, void *addr, size_t size);

/* Unmap and close what region_create_* made (nothing for a caller region). */
void region_destroy(struct region *r);

/* Where a fork's copy of a region goes: a new unlinked file in the region's
 * directory, or, where that has no room, private anonymous memory that the
 * child moves in place of the region. */
struct region_copy {
	int fd;                /* the child's new pool file, or -1 */
	void *mem;             /* else the anonymous copy, or NULL */
};

/* Before fork, with the heap quiescent: a destination for the child's copy of
 * the live pages (region_copy_out); false when none is wanted: the region is no
 * shared file, or it was remapped copy-on-write (region_fork_cow). Which: the
 * copy under PMALLOC_FORK (VMMALLOC_FORK) = 2 or 3; copy-on-write for good
 * under 1; by default copy-on-write while the process has one thread (then
 * back onto a file of its own once forks stop: region_rehome_begin), else the
 * copy. Either way parent and child never share the file. */
bool region_copy_begin(struct region *r, struct region_copy *c);

/* Whether a region made copy-on-write by a default-mode fork should go back onto
 * a file of its own now: REGION_REHOME_MS without a fork, and one thread in the
 * process (nobody else writes the memory while it is copied); then c is the new
 * file, for the live pages (region_copy_out) and region_rehome_finish. */
bool region_rehome_begin(struct region *r, struct region_copy *c);

/* Map c's file in place of the copy-on-write region; false (c released, the
 * region as it was) if it cannot. */
bool region_rehome_finish(struct region *r, struct region_copy *c);

/* Copy [off, off+len) of the region into c at the same offset; 0 or -1. */
int region_copy_out(const struct region *r, const struct region_copy *c, size_t off,
		size_t len);

/* A copy into c's file failed (no room): start again in anonymous memory; false
 * when that cannot be had either. */
bool region_copy_to_anon(const struct region *r, struct region_copy *c);

/* Release c (the parent, after fork; or a copy given up). */
void region_copy_end(const struct region *r, struct region_copy *c);

/* Remap the region copy-on-write over its own file (its spare private mapping,
 * made while the file was open, moves into place): neither process writes the
 * file again. */
void region_fork_cow(struct region *r);

/* After fork, in the child: put the copy in place of the region; false if it
 * could not (the region is then remapped copy-on-write where possible). */
bool region_fork_child(struct region *r, const struct region_copy *c);

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
