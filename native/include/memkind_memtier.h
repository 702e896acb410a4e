/*
 * memkind_memtier.h -- tiering: one heap spread over several kinds, under
 * memkind's memtier names and signatures
 *
 * A builder collects tiers (a kind and its ratio) and a policy, then makes a
 * memtier_memory. STATIC_RATIO places each allocation in the tier furthest below
 * its share of the bytes (DRAM:1, PMEM:4 keeps a fifth in DRAM). DYNAMIC_THRESHOLD
 * sends sizes below a threshold to the lower tier and moves the thresholds as it
 * goes to keep the ratio (memtier_ctl_set tunes them). Frees find the tier from
 * the address. Errors: NULL or non-zero, errno and pmalloc_errormsg() set.
 */
#ifndef PMALLOC_MEMKIND_MEMTIER_H
#define PMALLOC_MEMKIND_MEMTIER_H

#include <memkind.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

struct memtier_builder;
struct memtier_memory;

typedef enum memtier_policy_t {
	MEMTIER_POLICY_STATIC_RATIO = 0,       /* by bytes, to the ratio */
	MEMTIER_POLICY_DYNAMIC_THRESHOLD = 1,  /* by size, thresholds adjusted to the ratio */
	MEMTIER_POLICY_MAX_VALUE
} memtier_policy_t;

/* A builder for policy; NULL + errno (EINVAL: unknown policy; ENOMEM). */
struct memtier_builder *memtier_builder_new(memtier_policy_t policy);

/* Free a builder (NULL is ignored). */
void memtier_builder_delete(struct memtier_builder *builder);

/* Add a tier: kind, and its share kind_ratio (at least 1); 0 or -1 + errno. */
int memtier_builder_add_tier(struct memtier_builder *builder, memkind_t kind,
		unsigned kind_ratio);

/* Set a DYNAMIC_THRESHOLD tunable: "policy.dynamic_threshold.thresholds[N].val",
 * ".min", ".max" (size_t), "policy.dynamic_threshold.check_cnt" (unsigned),
 * ".trigger", ".degree" (float); 0 or -1 + errno. */
int memtier_ctl_set(struct memtier_builder *builder, const char *name, const void *val);

/* The memory the builder describes (the builder may be deleted after); NULL + errno. */
struct memtier_memory *memtier_builder_construct_memtier_memory(struct memtier_builder *builder);

/* Free a memtier_memory (not what was allocated from it). */
void memtier_delete_memtier_memory(struct memtier_memory *memory);

/* malloc, calloc, realloc, posix_memalign across the tiers of memory. */
void *memtier_malloc(struct memtier_memory *memory, size_t size);
void *memtier_calloc(struct memtier_memory *memory, size_t num, size_t size);
void *memtier_realloc(struct memtier_memory *memory, void *ptr, size_t size);
int memtier_posix_memalign(struct memtier_memory *memory, void **memptr, size_t alignment,
		size_t size);

/* The same in one kind, counted as memtier's (memtier_kind_allocated_size). */
void *memtier_kind_malloc(memkind_t kind, size_t size);
void *memtier_kind_calloc(memkind_t kind, size_t num, size_t size);
void *memtier_kind_realloc(memkind_t kind, void *ptr, size_t size);
int memtier_kind_posix_memalign(memkind_t kind, void **memptr, size_t alignment, size_t size);

/* The usable size of ptr, 0 for NULL or a pointer no kind owns. */
size_t memtier_usable_size(void *ptr);

/* Free ptr (kind NULL: found from the address). */
void memtier_kind_free(memkind_t kind, void *ptr);

/* Free ptr, allocated by any memtier_* call. */
static inline void
memtier_free(void *ptr)
{
	memtier_kind_free(NULL, ptr);
}

/* Bytes memtier calls hold in kind now (usable sizes). */
size_t memtier_kind_allocated_size(memkind_t kind);

#ifdef __cplusplus
}
#endif

#endif
