/*
 * bench_api.h -- the allocator under test, behind four inline functions
 *
 * The workloads in driver.c call only bench_api_init/fini, bench_malloc,
 * bench_free and bench_api_purge. One macro picks what they call:
 *
 *   BENCH_API_VMEM     pmalloc's libvmem API: a pool from vmem_create(dir, size)
 *   BENCH_API_MEMKIND  memkind's PMEM kind: memkind_create_pmem(dir, size, &kind), built
 *                      against memkind's memkind.h or pmalloc's (then also
 *                      BENCH_FREE_NO_KIND: memkind_free(NULL, p), the owner found by address)
 *   (neither)          plain malloc/free: glibc, or whatever LD_PRELOAD puts first
 *
 * Glossary: "pool" is the file-backed region a pool contender allocates from
 * (an unlinked temporary file in the pool dir); plain malloc has none.
 */
#ifndef BENCH_API_H
#define BENCH_API_H 1

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(BENCH_API_VMEM) && defined(BENCH_API_MEMKIND)
#error "define at most one of BENCH_API_VMEM and BENCH_API_MEMKIND"
#endif

/* ---- pmalloc vmem pool -------------------------------------------------- */
#if defined(BENCH_API_VMEM)

#include <libvmem.h>
#include <pmalloc.h>

#define BENCH_API_NAME "vmem"
#define BENCH_API_HAS_POOL 1

static VMEM *bench_vmp; /* the pool every call goes to */

// bench_api_init -- create the pool; 0, or -1 with a message on stderr
static inline int bench_api_init(const char *dir, size_t size)
{
	bench_vmp = vmem_create(dir, size);
	if (bench_vmp == NULL) {
		fprintf(stderr, "vmem_create(%s, %zu): %s\n", dir, size,
			vmem_errormsg());
		return -1;
	}
	return 0;
}

// bench_api_fini -- delete the pool
static inline void bench_api_fini(void)
{
	vmem_delete(bench_vmp);
	bench_vmp = NULL;
}

static inline void *bench_malloc(size_t size)
{
	return vmem_malloc(bench_vmp, size);
}

static inline void bench_free(void *ptr)
{
	vmem_free(bench_vmp, ptr);
}

// bench_api_purge -- give free pages back now (pmalloc extra); 0, or -1
static inline int bench_api_purge(void)
{
	return pmalloc_vmem_purge(bench_vmp);
}

/* ---- memkind PMEM kind -------------------------------------------------- */
#elif defined(BENCH_API_MEMKIND)

#include <memkind.h>

#define BENCH_API_NAME "memkind"
#define BENCH_API_HAS_POOL 1

static memkind_t bench_kind; /* the PMEM kind every call goes to */

static inline int bench_api_init(const char *dir, size_t size)
{
	int err = memkind_create_pmem(dir, size, &bench_kind);
	if (err != MEMKIND_SUCCESS) {
		char msg[MEMKIND_ERROR_MESSAGE_SIZE];
		memkind_error_message(err, msg, sizeof(msg));
		fprintf(stderr, "memkind_create_pmem(%s, %zu): %s\n", dir, size, msg);
		return -1;
	}
	return 0;
}

static inline void bench_api_fini(void)
{
	memkind_destroy_kind(bench_kind);
	bench_kind = NULL;
}

static inline void *bench_malloc(size_t size)
{
	return memkind_malloc(bench_kind, size);
}

static inline void bench_free(void *ptr)
{
#ifdef BENCH_FREE_NO_KIND
	memkind_free(NULL, ptr);
#else
	memkind_free(bench_kind, ptr);
#endif
}

#ifdef PMALLOC_MEMKIND_H
#include <pmalloc.h>

// bench_api_purge -- give free pages back now, through the kind's heap (pmalloc extra)
static inline int bench_api_purge(void)
{
	return pmalloc_vmem_purge(pmalloc_kind_pool(bench_kind));
}
#else
// bench_api_purge -- memkind has no portable "purge now"; report unsupported
static inline int bench_api_purge(void)
{
	return -1;
}
#endif

/* ---- plain malloc/free -------------------------------------------------- */
#else

#define BENCH_API_NAME "malloc"
#define BENCH_API_HAS_POOL 0

static inline int bench_api_init(const char *dir, size_t size)
{
	(void)dir;
	(void)size;
	return 0;
}

static inline void bench_api_fini(void)
{
}

static inline void *bench_malloc(size_t size)
{
	return malloc(size);
}

static inline void bench_free(void *ptr)
{
	free(ptr);
}

static inline int bench_api_purge(void)
{
	return -1;
}

#endif
#endif /* BENCH_API_H */
