/*
 * log.c -- libpmemlog: an append-only log in a pool file (log_layout.h)
 *
 * An append copies its bytes past the end and persists them, then stores the new
 * end (write_word) and persists it: a crash before that store leaves the entry
 * out, after it in. Appends and rewind take the lock for writing, walk and tell
 * for reading. Everything read from the pool is checked before it is used.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "libpmem.h"
#include "libpmemlog.h"
#include "log/log_layout.h"
#include "pmalloc.h"
#include "pmem/pmemops.h"

struct pmemlog {
	char *base;                  /* the pool */
	size_t size;
	bool unmap;                  /* close unmaps it (pmemlog_open/create) */
	const struct pmem_ops *ops;
	struct log_header *hdr;
	uint64_t data_offset;        /* validated copies of the header's */
	uint64_t data_end;
	pthread_rwlock_t lock;
};

/* ---- the header ---------------------------------------------------------- */

/* end_of -- the end offset in the header's write word; false if it does not check */
static bool
end_of(const struct pmemlog *l, uint64_t *end)
{
	uint64_t w = __atomic_load_n(&l->hdr->write_word, __ATOMIC_ACQUIRE);
	uint64_t off = w & ((UINT64_C(1) << LOG_OFFSET_BITS) - 1);
	if (w != log_word(off, l->hdr->uuid) || off < l->data_offset || off > l->data_end)
		return false;
	*end = off;
	return true;
}

/* set_end -- store and persist the end offset; 0 or -1 */
static int
set_end(struct pmemlog *l, uint64_t off)
{
	__atomic_store_n(&l->hdr->write_word, log_word(off, l->hdr->uuid), __ATOMIC_RELEASE);
	return pmemops_persist(l->ops, &l->hdr->write_word, sizeof(uint64_t));
}

/* validate -- whether [base, base + size) holds a log pool; the message says why not */
static bool
validate(const char *base, size_t size, struct pmemlog *l)
{
	const struct log_header *h = (const struct log_header *)(const void *)base;
	if (size < LOG_HDR_SIZE || memcmp(h->signature, LOG_SIGNATURE, 8) != 0) {
		errmsg_set(EINVAL, "not a log pool (no %s signature)", LOG_SIGNATURE);
		return false;
	}
	if (checksum64(h, LOG_CHECKSUMMED) != h->checksum) {
		errmsg_set(EINVAL, "the log pool's header is corrupt (checksum mismatch)");
		return false;
	}
	if (h->major != LOG_MAJOR) {
		errmsg_set(EINVAL, "log pool format %u.%u; this library reads %d.x", h->major,
				h->minor, LOG_MAJOR);
		return false;
	}
	if (h->pool_size != size) {
		errmsg_set(EINVAL, "the log pool was made %llu bytes long; the file is %zu "
				"(truncated or extended)", (unsigned long long)h->pool_size, size);
		return false;
	}
	if (h->data_offset != LOG_HDR_SIZE || h->data_end > size || h->data_end <= h->data_offset) {
		errmsg_set(EINVAL, "the log pool's header names data outside the pool");
		return false;
	}
	l->base = (char *)(uintptr_t)base;
	l->size = size;
	l->hdr = (struct log_header *)(void *)l->base;
	l->data_offset = h->data_offset;
	l->data_end = h->data_end;
	uint64_t end;
	if (!end_of(l, &end)) {
		errmsg_set(EINVAL, "the log pool's end offset is corrupt");
		return false;
	}
	return true;
}

/* format -- write a new header over [base, base + size); 0 or -1 */
static int
format(struct pmemlog *l, char *base, size_t size)
{
	struct log_header *h = (struct log_header *)(void *)base;
	memset(h, 0, sizeof(*h));
	memcpy(h->signature, LOG_SIGNATURE, 8);
	h->major = LOG_MAJOR;
	h->minor = LOG_MINOR;
	if (getrandom(h->uuid, sizeof(h->uuid), 0) != (ssize_t)sizeof(h->uuid)) {
		for (size_t i = 0; i < sizeof(h->uuid); i++)        /* no entropy: still unique */
			h->uuid[i] = (uint8_t)(mix64((uintptr_t)base + i + (uint64_t)time(NULL)) >> 56);
	}
	h->pool_size = size;
	h->data_offset = LOG_HDR_SIZE;
	h->data_end = ALIGN_DOWN(size, 8);
	h->checksum = checksum64(h, LOG_CHECKSUMMED);
	h->write_word = log_word(h->data_offset, h->uuid);
	l->ops = pmemops_for(base, size);
	return pmemops_persist(l->ops, h, sizeof(*h));
}

/* ---- pools --------------------------------------------------------------- */

static struct pmemlog *
log_new(void)
{
	struct pmemlog *l = calloc(1, sizeof(*l));
	if (!l) {
		errmsg_set(ENOMEM, "no memory for a log handle");
		return NULL;
	}
	pthread_rwlock_init(&l->lock, NULL);
	return l;
}

static void
log_free(struct pmemlog *l)
{
	pthread_rwlock_destroy(&l->lock);
	free(l);
}

/* attach -- a handle over the mapping [base, base + size), formatted first if
 * create; NULL + errno + message */
static struct pmemlog *
attach(char *base, size_t size, bool create, bool unmap)
{
	struct pmemlog *l = log_new();
	if (!l)
		return NULL;
	if (create && format(l, base, size) != 0) {
		log_free(l);
		return NULL;
	}
	if (!validate(base, size, l)) {
		log_free(l);
		return NULL;
	}
	l->ops = pmemops_for(base, size);
	l->unmap = unmap;
	return l;
}

API PMEMlogpool *
pmemlog_create(const char *path, size_t poolsize, mode_t mode)
{
	if (poolsize && poolsize < PMEMLOG_MIN_POOL) {
		errmsg_set(EINVAL, "pmemlog_create: size %zu below PMEMLOG_MIN_POOL (%zu)",
				poolsize, PMEMLOG_MIN_POOL);
		return NULL;
	}
	size_t mapped = 0;
	int flags = poolsize ? PMEM_FILE_CREATE | PMEM_FILE_EXCL : 0;
	char *base = pmem_map_file(path, poolsize, flags, mode, &mapped, NULL);
	if (!base)
		return NULL;
	if (mapped < PMEMLOG_MIN_POOL) {
		pmem_unmap(base, mapped);
		errmsg_set(EINVAL, "pmemlog_create: %s is %zu bytes, below PMEMLOG_MIN_POOL", path,
				mapped);
		return NULL;
	}
	struct pmemlog *l = attach(base, mapped, true, true);
	if (!l) {
		int err = errno;
		pmem_unmap(base, mapped);
		if (poolsize)
			unlink(path);          /* made here: leave nothing half made */
		errno = err;
	}
	return l;
}

API PMEMlogpool *
pmemlog_open(const char *path)
{
	size_t mapped = 0;
	char *base = pmem_map_file(path, 0, 0, 0, &mapped, NULL);
	if (!base)
		return NULL;
	struct pmemlog *l = attach(base, mapped, false, true);
	if (!l) {
		int err = errno;
		pmem_unmap(base, mapped);
		errno = err;
	}
	return l;
}

API void
pmemlog_close(PMEMlogpool *plp)
{
	if (!plp)
		return;
	if (plp->unmap)
		pmem_unmap(plp->base, plp->size);
	log_free(plp);
}

API int
pmemlog_check(const char *path)
{
	size_t mapped = 0;
	char *base = pmem_map_file(path, 0, 0, 0, &mapped, NULL);
	if (!base)
		return -1;
	struct pmemlog l = { 0 };
	int ok = validate(base, mapped, &l) ? 1 : 0;
	int err = errno;
	pmem_unmap(base, mapped);
	errno = err;
	return ok;
}

API PMEMlogpool *
pmalloc_log_map(void *addr, size_t size, int create)
{
	if (!addr || size < PMEMLOG_MIN_POOL) {
		errmsg_set(EINVAL, "pmalloc_log_map: no memory, or %zu bytes (below %zu)", size,
				PMEMLOG_MIN_POOL);
		return NULL;
	}
	return attach(addr, size, create != 0, false);
}

/* ---- the log ------------------------------------------------------------- */

API size_t
pmemlog_nbyte(PMEMlogpool *plp)
{
	return plp ? plp->data_end - plp->data_offset : 0;
}

/* append_locked -- n buffers as one entry, the write lock held; 0 or -1 */
static int
append_locked(struct pmemlog *l, const struct iovec *iov, int n, size_t total)
{
	uint64_t end;
	if (!end_of(l, &end)) {
		errmsg_set(EINVAL, "the log pool's end offset is corrupt");
		return -1;
	}
	if (total > l->data_end - end) {
		errmsg_set(ENOSPC, "the log is full: %zu bytes do not fit in the %llu left", total,
				(unsigned long long)(l->data_end - end));
		return -1;
	}
	uint64_t at = end;
	if (l->ops == &pmemops_msync) {
		/* msync is a system call: the pieces, then one for the whole entry */
		for (int i = 0; i < n; i++) {
			memcpy(l->base + at, iov[i].iov_base, iov[i].iov_len);
			at += iov[i].iov_len;
		}
		if (at > end && pmemops_persist(l->ops, l->base + end, at - end) != 0)
			return -1;
	} else {
		for (int i = 0; i < n; i++) {
			if (iov[i].iov_len && !pmemops_memcpy(l->ops, l->base + at, iov[i].iov_base,
					iov[i].iov_len, PMEM_F_MEM_NODRAIN))
				return -1;
			at += iov[i].iov_len;
		}
		if (pmemops_drain(l->ops) != 0)
			return -1;
	}
	return set_end(l, at);
}

API int
pmemlog_appendv(PMEMlogpool *plp, const struct iovec *iov, int iovcnt)
{
	if (!plp || iovcnt < 0 || (iovcnt > 0 && !iov)) {
		errmsg_set(EINVAL, "pmemlog_appendv: %s", !plp ? "no pool" : "bad vector");
		return -1;
	}
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len && !iov[i].iov_base) {
			errmsg_set(EINVAL, "pmemlog_appendv: buffer %d is NULL", i);
			return -1;
		}
		if (__builtin_add_overflow(total, iov[i].iov_len, &total)) {
			errmsg_set(ENOSPC, "pmemlog_appendv: the vector's length overflows");
			return -1;
		}
	}
	pthread_rwlock_wrlock(&plp->lock);
	int ret = append_locked(plp, iov, iovcnt, total);
	pthread_rwlock_unlock(&plp->lock);
	return ret;
}

API int
pmemlog_append(PMEMlogpool *plp, const void *buf, size_t count)
{
	if (count && !buf) {
		errmsg_set(EINVAL, "pmemlog_append: NULL buffer");
		return -1;
	}
	struct iovec one = { .iov_base = (void *)(uintptr_t)buf, .iov_len = count };
	return pmemlog_appendv(plp, &one, 1);
}

API long long
pmemlog_tell(PMEMlogpool *plp)
{
	if (!plp) {
		errmsg_set(EINVAL, "pmemlog_tell: no pool");
		return -1;
	}
	pthread_rwlock_rdlock(&plp->lock);
	uint64_t end;
	long long ret = end_of(plp, &end) ? (long long)(end - plp->data_offset) : -1;
	pthread_rwlock_unlock(&plp->lock);
	if (ret < 0)
		errmsg_set(EINVAL, "the log pool's end offset is corrupt");
	return ret;
}

API void
pmemlog_rewind(PMEMlogpool *plp)
{
	if (!plp)
		return;
	pthread_rwlock_wrlock(&plp->lock);
	(void)set_end(plp, plp->data_offset);
	pthread_rwlock_unlock(&plp->lock);
}

API void
pmemlog_walk(PMEMlogpool *plp, size_t chunksize,
		int (*process_chunk)(const void *buf, size_t len, void *arg), void *arg)
{
	if (!plp || !process_chunk)
		return;
	pthread_rwlock_rdlock(&plp->lock);
	uint64_t end;
	if (end_of(plp, &end)) {
		for (uint64_t at = plp->data_offset; at < end;) {
			size_t len = chunksize ? MIN(chunksize, end - at) : end - at;
			if (!process_chunk(plp->base + at, len, arg))
				break;
			at += len;
		}
	}
	pthread_rwlock_unlock(&plp->lock);
}

/* ---- versions, errors ---------------------------------------------------- */

API const char *
pmemlog_check_version(unsigned major_required, unsigned minor_required)
{
	return errmsg_version("libpmemlog", PMEMLOG_MAJOR_VERSION, PMEMLOG_MINOR_VERSION, major_required, minor_required);
}

API const char *
pmemlog_errormsg(void)
{
	return errmsg_get();
}

API void
pmemlog_set_funcs(void *(*malloc_func)(size_t size), void (*free_func)(void *ptr),
		void *(*realloc_func)(void *ptr, size_t size), char *(*strdup_func)(const char *s))
{
	(void)malloc_func;
	(void)free_func;
	(void)realloc_func;
	(void)strdup_func;
}
