/*
 * obj_layout.h -- the on-media format of an object pool (libpmemobj.h), version 1.0
 *
 *   [0, 4K)        header: signature, version, layout name, UUID, geometry, checksum
 *   [4K, 8K)       the header's backup copy (what check compares against)
 *   [8K, 12K)      state: the root object and the heap's top, changed only by redo logs
 *   lanes          nlanes x LANE_SIZE: each a redo log and an undo log (ulog.h)
 *   descriptors    one struct obj_page per heap page: what the page holds
 *   heap           heap_pages pages of objects
 *
 * Heap: a page is free, the head of a slab (objects of one size class and type,
 * the allocator core's classes and geometry: sizeclass.h), or the head of a run
 * (one object of whole pages). Only head pages' descriptors say anything; the
 * pages a head covers read as free and are skipped. A slab's bitmap has a bit set
 * per allocated object (an empty slab's bitmap is zero, so a page that is not a
 * slab always has a zero bitmap). A 64-byte object costs 64 bytes and a bit.
 *
 * Glossary: off = a byte offset from the pool's start (what PMEMoid.off holds);
 * top = pages below it have been used; pages at and above it are free and
 * their descriptors zero, so opening reads descriptors up to top only.
 */
#ifndef PMALLOC_OBJ_LAYOUT_H
#define PMALLOC_OBJ_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/sizeclass.h"
#include "common/util.h"

#define OBJ_SIGNATURE "PMALOBJ"     /* 8 bytes with its NUL */
#define OBJ_MAJOR 1
#define OBJ_MINOR 0
#define OBJ_MAX_LAYOUT 1024

#define OBJ_HDR_OFF 0
#define OBJ_BACKUP_OFF PAGE
#define OBJ_STATE_OFF (2 * PAGE)
#define OBJ_LANES_OFF (3 * PAGE)
#define LANE_SIZE ((size_t)4096)
#define OBJ_MAX_LANES 64

struct obj_header {
	char signature[8];
	uint32_t major;
	uint32_t minor;
	char layout[OBJ_MAX_LAYOUT];          /* NUL-terminated, "" for none */
	uint8_t uuid[16];
	uint64_t pool_size;
	uint64_t nlanes;
	uint64_t desc_off;                    /* descriptors */
	uint64_t heap_off;                    /* first heap page */
	uint64_t heap_pages;
	uint64_t created;                     /* seconds since the epoch */
	uint64_t checksum;                    /* of everything above */
};
#define OBJ_HDR_CHECKSUMMED offsetof(struct obj_header, checksum)

/* Mutable pool state: every change goes through a redo log. */
struct obj_state {
	uint64_t root_off;                    /* 0: no root yet */
	uint64_t root_size;                   /* what the user asked for */
	uint64_t top;                         /* heap pages ever used */
};

/* A page descriptor: word and type mean something on head pages only. */
struct obj_page {
	uint64_t word;                        /* PAGE_* kind, flags, class or length */
	uint64_t type;                        /* the objects' type number */
	uint64_t unused[6];
	uint64_t bitmap[SLAB_BITMAP_WORDS];   /* slab: bit set = object allocated */
};
_Static_assert(sizeof(struct obj_page) == 128, "two cache lines, bitmap in the second");

#define PAGE_FREE 0u
#define PAGE_SLAB 1u
#define PAGE_RUN 2u
#define PAGE_KIND(w) ((unsigned)((w) & 3))
#define PAGE_INTERNAL ((uint64_t)1 << 2)   /* the library's own (log extensions) */
#define PAGE_SZIND(w) ((unsigned)(((w) >> 8) & 0xff))
#define PAGE_NPAGES(w) ((w) >> 16)

static inline uint64_t
page_slab_word(unsigned szind)
{
	return PAGE_SLAB | (uint64_t)szind << 8;
}

static inline uint64_t
page_run_word(uint64_t npages, bool internal)
{
	return PAGE_RUN | (internal ? PAGE_INTERNAL : 0) | npages << 16;
}

#endif
