/*
 * memkind.h -- pmalloc's kinds, under memkind's names and signatures
 *
 * A kind is a heap of pmalloc's allocator (thread caches included) over one
 * source of memory: static kinds over anonymous memory, bound to NUMA nodes
 * chosen from sysfs; pmem kinds over an unlinked file in a directory. A program
 * written for memkind compiles against this header and links with -lpmalloc.
 * What memkind has and we do not (memkind_create_kind with custom operations,
 * fixed kinds, the deprecated API) is absent, so such programs fail to build
 * rather than misbehave.
 *
 * Errors: functions returning int return 0 or a MEMKIND_ERROR_* code (negative);
 * allocation functions return NULL with errno set (ENOMEM, EINVAL). Either way
 * pmalloc_errormsg() (pmalloc.h) holds a message that says what went wrong.
 */
#ifndef PMALLOC_MEMKIND_H
#define PMALLOC_MEMKIND_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMKIND_MALLOC_USABLE_SIZE_CONST

typedef struct memkind *memkind_t;

enum memkind_const {
	MEMKIND_MAX_KIND = 512,                      /* kinds alive at once */
	MEMKIND_ERROR_MESSAGE_SIZE = 128,            /* memkind_error_message's buffer */
	MEMKIND_PMEM_MIN_SIZE = (1024 * 1024 * 16),  /* smallest limited pmem kind */
};

enum {
	MEMKIND_SUCCESS = 0,
	MEMKIND_ERROR_UNAVAILABLE = -1,             /* the memory this kind needs is not here */
	MEMKIND_ERROR_MBIND = -2,
	MEMKIND_ERROR_MMAP = -3,
	MEMKIND_ERROR_MALLOC = -6,
	MEMKIND_ERROR_ENVIRON = -12,                /* a bad MEMKIND_* variable */
	MEMKIND_ERROR_INVALID = -13,                /* a bad argument */
	MEMKIND_ERROR_TOOMANY = -15,                /* MEMKIND_MAX_KIND kinds alive */
	MEMKIND_ERROR_BADOPS = -17,
	MEMKIND_ERROR_HUGETLB = -18,                /* no huge pages reserved */
	MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE = -20,
	MEMKIND_ERROR_OPERATION_FAILED = -21,
	MEMKIND_ERROR_ARENAS_CREATE = -22,
	MEMKIND_ERROR_RUNTIME = -255,
};

typedef enum memkind_mem_usage_policy {
	MEMKIND_MEM_USAGE_POLICY_DEFAULT = 0,       /* free pages go back after the decay time */
	MEMKIND_MEM_USAGE_POLICY_CONSERVATIVE = 1,  /* free pages go back at once */
	MEMKIND_MEM_USAGE_POLICY_MAX_VALUE
} memkind_mem_usage_policy;

typedef enum memkind_stat_type {
	MEMKIND_STAT_TYPE_RESIDENT = 0,   /* pages that may hold memory (active, dirty, metadata) */
	MEMKIND_STAT_TYPE_ACTIVE = 1,     /* pages of slabs and large blocks */
	MEMKIND_STAT_TYPE_ALLOCATED = 2,  /* bytes of live allocations */
	MEMKIND_STAT_TYPE_MAX_VALUE
} memkind_stat_type;

/* Static kinds. DEFAULT: any memory, no binding. REGULAR: the NUMA nodes that are
 * neither high-bandwidth nor kmem DAX. HUGETLB: 2 MiB pages from the reserved
 * pool (vm.nr_hugepages). DAX_KMEM: the kmem DAX node nearest the CPU; _ALL: every
 * one; _PREFERRED: nearest first, then other memory; _INTERLEAVE: spread over
 * them. HBW: high-bandwidth nodes (MEMKIND_HBW_NODES, else the HMAT bandwidths
 * in sysfs), same suffixes. INTERLEAVE: every node with memory. HIGHEST_CAPACITY:
 * the nodes with the most memory. The _LOCAL kinds rank the nodes nearest the
 * CPU by the HMAT figures. A kind whose nodes do not exist here fails clearly
 * (memkind_check_available says what is missing); _PREFERRED kinds fall back to
 * other memory instead. */
extern memkind_t MEMKIND_DEFAULT;
extern memkind_t MEMKIND_REGULAR;
extern memkind_t MEMKIND_HUGETLB;
extern memkind_t MEMKIND_INTERLEAVE;
extern memkind_t MEMKIND_DAX_KMEM;
extern memkind_t MEMKIND_DAX_KMEM_ALL;
extern memkind_t MEMKIND_DAX_KMEM_PREFERRED;
extern memkind_t MEMKIND_DAX_KMEM_INTERLEAVE;
extern memkind_t MEMKIND_HBW;
extern memkind_t MEMKIND_HBW_ALL;
extern memkind_t MEMKIND_HBW_PREFERRED;
extern memkind_t MEMKIND_HBW_INTERLEAVE;
extern memkind_t MEMKIND_HBW_HUGETLB;
extern memkind_t MEMKIND_HBW_ALL_HUGETLB;
extern memkind_t MEMKIND_HBW_PREFERRED_HUGETLB;
extern memkind_t MEMKIND_HIGHEST_CAPACITY;
extern memkind_t MEMKIND_HIGHEST_CAPACITY_PREFERRED;
extern memkind_t MEMKIND_HIGHEST_CAPACITY_LOCAL;
extern memkind_t MEMKIND_HIGHEST_CAPACITY_LOCAL_PREFERRED;
extern memkind_t MEMKIND_LOWEST_LATENCY_LOCAL;
extern memkind_t MEMKIND_LOWEST_LATENCY_LOCAL_PREFERRED;
extern memkind_t MEMKIND_HIGHEST_BANDWIDTH_LOCAL;
extern memkind_t MEMKIND_HIGHEST_BANDWIDTH_LOCAL_PREFERRED;

/* ---- configuration of a pmem kind ---------------------------------------- */

struct memkind_config;

/* A configuration with no path, size 0 (unlimited) and the default policy; NULL if no memory. */
struct memkind_config *memkind_config_new(void);

/* Free a configuration (NULL is ignored). */
void memkind_config_delete(struct memkind_config *cfg);

/* The directory the kind's file is made in (copied). */
void memkind_config_set_path(struct memkind_config *cfg, const char *pmem_dir);

/* The kind's limit in bytes; 0 = as much as the file system holds. */
void memkind_config_set_size(struct memkind_config *cfg, size_t pmem_size);

/* When free pages go back to the file system (see memkind_mem_usage_policy). */
void memkind_config_set_memory_usage_policy(struct memkind_config *cfg,
		memkind_mem_usage_policy policy);

/* ---- kinds --------------------------------------------------------------- */

/* A kind over an unlinked file in dir, holding up to max_size bytes (0: as much as
 * the file system has; else at least MEMKIND_PMEM_MIN_SIZE); 0 or MEMKIND_ERROR_*. */
int memkind_create_pmem(const char *dir, size_t max_size, memkind_t *kind);

/* The same from a configuration; 0 or MEMKIND_ERROR_*. */
int memkind_create_pmem_with_config(struct memkind_config *cfg, memkind_t *kind);

/* Destroy a pmem kind and everything allocated from it; static kinds refuse
 * (MEMKIND_ERROR_OPERATION_FAILED). 0 or MEMKIND_ERROR_*. */
int memkind_destroy_kind(memkind_t kind);

/* 0 when the kind's memory exists on this machine, else
 * MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE (no such NUMA nodes; a _PREFERRED kind still
 * allocates, from other memory) or MEMKIND_ERROR_HUGETLB, with a message naming
 * what is missing. */
int memkind_check_available(memkind_t kind);

/* 0 when pmem_dir is on a file system mounted with DAX, else MEMKIND_ERROR_*. */
int memkind_check_dax_path(const char *pmem_dir);

/* The kind that allocated ptr, or NULL (a lock-free lookup by address). */
memkind_t memkind_detect_kind(void *ptr);

/* The library's version as major * 1000000 + minor * 1000 + patch. */
int memkind_get_version(void);

/* The text of a MEMKIND_ERROR_* code, truncated to size bytes (at most
 * MEMKIND_ERROR_MESSAGE_SIZE are ever needed). */
void memkind_error_message(int err, char *msg, size_t size);

/* Background purging threads on (true) or off; 0. */
int memkind_set_bg_threads(bool state);

/* ---- statistics ---------------------------------------------------------- */

/* Refresh the figures memkind_get_stat reads; 0. */
int memkind_update_cached_stats(void);

/* One figure of kind (NULL: all kinds together) as of the last update; 0 or
 * MEMKIND_ERROR_INVALID. */
int memkind_get_stat(memkind_t kind, memkind_stat_type stat, size_t *value);

/* ---- allocation ---------------------------------------------------------- */

/* size bytes from kind; NULL + ENOMEM (or EINVAL for a kind that is not one). */
void *memkind_malloc(memkind_t kind, size_t size);

/* num * size zeroed bytes; NULL + ENOMEM on exhaustion or overflow. */
void *memkind_calloc(memkind_t kind, size_t num, size_t size);

/* size bytes aligned to alignment (a power of two, a multiple of sizeof(void *))
 * in *memptr; 0, EINVAL or ENOMEM (as posix_memalign). */
int memkind_posix_memalign(memkind_t kind, void **memptr, size_t alignment, size_t size);

/* C's realloc within the kind; kind NULL: the kind that owns ptr. */
void *memkind_realloc(memkind_t kind, void *ptr, size_t size);

/* Free ptr; kind NULL: the kind that owns ptr (as fast as naming it). */
void memkind_free(memkind_t kind, void *ptr);

/* The usable size of ptr (0 for NULL or a pointer no kind owns); kind may be NULL. */
size_t memkind_malloc_usable_size(memkind_t kind, MEMKIND_MALLOC_USABLE_SIZE_CONST void *ptr);

/* When ptr sits in a sparsely used slab, a copy in a fuller one (ptr freed);
 * else NULL, ptr unchanged. kind may be NULL. */
void *memkind_defrag_reallocate(memkind_t kind, void *ptr);

#ifdef __cplusplus
}
#endif

#endif
