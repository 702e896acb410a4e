/*
 * libpmem.h -- low-level persistent memory support (PMDK's libpmem function API)
 *
 * Map files (pmem_map_file), make stores durable (pmem_persist = pmem_flush +
 * pmem_drain on pmem, pmem_msync elsewhere), and copy to pmem with flushing
 * (pmem_memcpy and friends). Names, signatures and flag values are PMDK's, so
 * a program written for PMDK's libpmem builds against this header unchanged.
 * Failing calls return NULL or -1, set errno and a thread-local message
 * (pmem_errormsg()).
 */
#ifndef LIBPMEM_H
#define LIBPMEM_H 1

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versions ----------------------------------------------------------- */

#define PMEM_MAJOR_VERSION 1
#define PMEM_MINOR_VERSION 1

/* NULL if this library satisfies the version asked for, else a message saying why not. */
const char *pmem_check_version(unsigned major_required, unsigned minor_required);

/* The calling thread's last error message ("" when none). */
const char *pmem_errormsg(void);

/* ---- Mapping ------------------------------------------------------------ */

#define PMEM_FILE_CREATE  (1 << 0)  /* create the file (len > 0), or resize it to len */
#define PMEM_FILE_EXCL    (1 << 1)  /* with CREATE: fail with EEXIST if path exists */
#define PMEM_FILE_SPARSE  (1 << 2)  /* with CREATE: ftruncate, do not posix_fallocate */
#define PMEM_FILE_TMPFILE (1 << 3)  /* with CREATE: an unnamed file in directory path */

/* Smallest part of a poolset in PMDK; kept for source compatibility. */
#define PMEM_MIN_PART ((size_t)(1024 * 1024 * 2))

/* Map a file (created per flags and mode); length and pmem-ness to the out pointers. */
void *pmem_map_file(const char *path, size_t len, int flags, mode_t mode,
	size_t *mapped_lenp, int *is_pmemp);

/* Unmap [addr, addr+len) mapped by pmem_map_file; 0, or -1 + errno. */
int pmem_unmap(void *addr, size_t len);

/* 1 if all of [addr, addr+len) is persistent memory (or PMEM_IS_PMEM_FORCE=1), else 0. */
int pmem_is_pmem(const void *addr, size_t len);

/* ---- Flushing ----------------------------------------------------------- */

/* Flush the range's cache lines and drain: durable on return (pmem only). */
void pmem_persist(const void *addr, size_t len);

/* msync(MS_SYNC) the pages holding the range: durable on return for any file; 0 or -1. */
int pmem_msync(const void *addr, size_t len);

/* Start flushing the range's cache lines (CLWB, CLFLUSHOPT or CLFLUSH); pair with pmem_drain. */
void pmem_flush(const void *addr, size_t len);

/* Wait for earlier flushes and non-temporal stores to reach the persistence domain. */
void pmem_drain(void);

/* Flush the range even where the platform flushes caches on power loss. */
void pmem_deep_flush(const void *addr, size_t len);

/* Drain, then push the range's mapping through its file system (msync); 0 or -1. */
int pmem_deep_drain(const void *addr, size_t len);

/* pmem_deep_flush + pmem_deep_drain; 0 or -1. */
int pmem_deep_persist(const void *addr, size_t len);

/* 1 if every pmem region says the CPU caches are in the persistence domain, 0 if not, -1 on error. */
int pmem_has_auto_flush(void);

/* 1 if the hardware needs no drain after a flush; always 0 on x86-64. */
int pmem_has_hw_drain(void);

/* ---- Copying ------------------------------------------------------------ */

#define PMEM_F_MEM_NODRAIN     (1U << 0)  /* skip the final drain */
#define PMEM_F_MEM_NONTEMPORAL (1U << 1)  /* use non-temporal stores */
#define PMEM_F_MEM_TEMPORAL    (1U << 2)  /* use ordinary stores, then flush */
#define PMEM_F_MEM_WC          (1U << 3)  /* write combining: non-temporal on x86-64 */
#define PMEM_F_MEM_WB          (1U << 4)  /* write back: temporal on x86-64 */
#define PMEM_F_MEM_NOFLUSH     (1U << 5)  /* no flush, no drain: the caller persists later */

#define PMEM_F_MEM_VALID_FLAGS (PMEM_F_MEM_NODRAIN | PMEM_F_MEM_NONTEMPORAL | \
	PMEM_F_MEM_TEMPORAL | PMEM_F_MEM_WC | PMEM_F_MEM_WB | PMEM_F_MEM_NOFLUSH)

/* memmove to pmem, flushed (and drained unless NODRAIN/NOFLUSH); returns pmemdest. */
void *pmem_memmove(void *pmemdest, const void *src, size_t len, unsigned flags);

/* memcpy to pmem, flushed (and drained unless NODRAIN/NOFLUSH); returns pmemdest. */
void *pmem_memcpy(void *pmemdest, const void *src, size_t len, unsigned flags);

/* memset of pmem, flushed (and drained unless NODRAIN/NOFLUSH); returns pmemdest. */
void *pmem_memset(void *pmemdest, int c, size_t len, unsigned flags);

/* pmem_memmove(pmemdest, src, len, 0): durable on return. */
void *pmem_memmove_persist(void *pmemdest, const void *src, size_t len);

/* pmem_memcpy(pmemdest, src, len, 0): durable on return. */
void *pmem_memcpy_persist(void *pmemdest, const void *src, size_t len);

/* pmem_memset(pmemdest, c, len, 0): durable on return. */
void *pmem_memset_persist(void *pmemdest, int c, size_t len);

/* pmem_memmove with PMEM_F_MEM_NODRAIN. */
void *pmem_memmove_nodrain(void *pmemdest, const void *src, size_t len);

/* pmem_memcpy with PMEM_F_MEM_NODRAIN. */
void *pmem_memcpy_nodrain(void *pmemdest, const void *src, size_t len);

/* pmem_memset with PMEM_F_MEM_NODRAIN. */
void *pmem_memset_nodrain(void *pmemdest, int c, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* LIBPMEM_H */
