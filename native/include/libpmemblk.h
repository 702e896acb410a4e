/*
 * libpmemblk.h -- an array of pmem-resident blocks, each written atomically
 * (PMDK 1.12's libpmemblk function API)
 *
 * A block pool is a file of equal-sized blocks; a block write survives a power
 * failure whole or not at all (a BTT-style translation table), and blocks never
 * written read as zeros. Names and signatures are PMDK's, so a program written for
 * PMDK's libpmemblk builds against this header unchanged; the pool format is
 * pmalloc's. Failing calls return NULL or -1, set errno and a thread-local
 * message (pmemblk_errormsg()).
 */
#ifndef LIBPMEMBLK_H
#define LIBPMEMBLK_H 1

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PMEMBLK_MAJOR_VERSION 1
#define PMEMBLK_MINOR_VERSION 1
#define PMEMBLK_MIN_POOL ((size_t)((1u << 20) * 16 + (1u << 10) * 8))  /* 16 MiB + 8 KiB */
#define PMEMBLK_MIN_BLK ((size_t)512)

typedef struct pmemblk PMEMblkpool;

/* NULL if this library satisfies the version asked for, else a message saying why not. */
const char *pmemblk_check_version(unsigned major_required, unsigned minor_required);

/* The calling thread's last error message ("" when none). */
const char *pmemblk_errormsg(void);

/* Create a pool of bsize-byte blocks (>= PMEMBLK_MIN_BLK), poolsize bytes (>=
 * PMEMBLK_MIN_POOL; 0: the existing file, its size) at path; NULL + errno. A pool
 * that cannot be made leaves no file behind. */
PMEMblkpool *pmemblk_create(const char *path, size_t bsize, size_t poolsize, mode_t mode);

/* Open the pool at path, its blocks bsize bytes (0: whatever they are); NULL + errno
 * (EINVAL: not a valid block pool, or another block size). */
PMEMblkpool *pmemblk_open(const char *path, size_t bsize);

/* Close pbp (NULL is ignored). */
void pmemblk_close(PMEMblkpool *pbp);

/* 1 if the pool at path is consistent (every data block mapped or free exactly
 * once), 0 if not (message says why), -1 on error. bsize 0: any. */
int pmemblk_check(const char *path, size_t bsize);

/* The block size, and the number of blocks. */
size_t pmemblk_bsize(PMEMblkpool *pbp);
size_t pmemblk_nblock(PMEMblkpool *pbp);

/* Read block blockno into buf (bsize bytes); 0, or -1 + errno (EINVAL, EIO). */
int pmemblk_read(PMEMblkpool *pbp, void *buf, long long blockno);

/* Write bsize bytes from buf to block blockno, atomically; 0, or -1 + errno. */
int pmemblk_write(PMEMblkpool *pbp, const void *buf, long long blockno);

/* Make block blockno read as zeros; 0 or -1 + errno. */
int pmemblk_set_zero(PMEMblkpool *pbp, long long blockno);

/* Make reads of block blockno fail with EIO until it is written; 0 or -1 + errno. */
int pmemblk_set_error(PMEMblkpool *pbp, long long blockno);

/* PMDK's allocator hooks; the pool keeps nothing in the heap that needs them. */
void pmemblk_set_funcs(void *(*malloc_func)(size_t size), void (*free_func)(void *ptr),
		void *(*realloc_func)(void *ptr, size_t size), char *(*strdup_func)(const char *s));

#ifdef __cplusplus
}
#endif

#endif
