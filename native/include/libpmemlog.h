/*
 * libpmemlog.h -- a pmem-resident log file (PMDK 1.12's libpmemlog function API)
 *
 * A log pool is a file holding one append-only log: appends are atomic (an entry
 * is in the log whole or not at all after a crash) and thread-safe (concurrent
 * appends never interleave inside an entry). Names and signatures are PMDK's, so a
 * program written for PMDK's libpmemlog builds against this header unchanged; the
 * pool format is pmalloc's. Failing calls return NULL or -1, set errno and a
 * thread-local message (pmemlog_errormsg()).
 */
#ifndef LIBPMEMLOG_H
#define LIBPMEMLOG_H 1

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PMEMLOG_MAJOR_VERSION 1
#define PMEMLOG_MINOR_VERSION 1
#define PMEMLOG_MIN_POOL ((size_t)(1024 * 1024 * 2))   /* the smallest log pool */

typedef struct pmemlog PMEMlogpool;

/* NULL if this library satisfies the version asked for, else a message saying why not. */
const char *pmemlog_check_version(unsigned major_required, unsigned minor_required);

/* The calling thread's last error message ("" when none). */
const char *pmemlog_errormsg(void);

/* Create a log pool of poolsize bytes at path (a new file, mode mode; poolsize 0:
 * the existing file, its size); NULL + errno (EEXIST, EINVAL, ENOSPC, ...). A pool
 * that cannot be made leaves no file behind. */
PMEMlogpool *pmemlog_create(const char *path, size_t poolsize, mode_t mode);

/* Open the log pool at path; NULL + errno (EINVAL: not a valid log pool). */
PMEMlogpool *pmemlog_open(const char *path);

/* Close plp (NULL is ignored). */
void pmemlog_close(PMEMlogpool *plp);

/* 1 if the pool at path is a consistent log pool, 0 if not (message says why), -1 on error. */
int pmemlog_check(const char *path);

/* The bytes the log can hold. */
size_t pmemlog_nbyte(PMEMlogpool *plp);

/* Append count bytes atomically; 0, or -1 + ENOSPC when they do not fit. */
int pmemlog_append(PMEMlogpool *plp, const void *buf, size_t count);

/* Append iovcnt buffers as one atomic entry; 0, or -1 + errno (ENOSPC, EINVAL). */
int pmemlog_appendv(PMEMlogpool *plp, const struct iovec *iov, int iovcnt);

/* The log's current length in bytes (where the next append goes). */
long long pmemlog_tell(PMEMlogpool *plp);

/* Empty the log. */
void pmemlog_rewind(PMEMlogpool *plp);

/* Call process_chunk on the log's bytes from the start, chunksize bytes at a time
 * (the last chunk may be shorter; 0: all of it in one call), until it returns 0.
 * Appends wait meanwhile: the callback must not append to plp. */
void pmemlog_walk(PMEMlogpool *plp, size_t chunksize,
		int (*process_chunk)(const void *buf, size_t len, void *arg), void *arg);

/* PMDK's allocator hooks; the log keeps nothing in the heap that needs them. */
void pmemlog_set_funcs(void *(*malloc_func)(size_t size), void (*free_func)(void *ptr),
		void *(*realloc_func)(void *ptr, size_t size), char *(*strdup_func)(const char *s));

#ifdef __cplusplus
}
#endif

#endif
