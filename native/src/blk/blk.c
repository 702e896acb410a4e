/*
 * blk.c -- libpmemblk: block pools in files, over the translation table (btt.c)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "blk/btt.h"
#include "common/errmsg.h"
#include "common/util.h"
#include "libpmem.h"
#include "libpmemblk.h"
#include "pmalloc.h"

struct pmemblk {
	struct btt *btt;
	char *base;
	size_t size;
	bool unmap;                 /* close unmaps (a file pool) */
};

/* attach -- a handle over [base, base + size), formatted first if bsize_new;
 * NULL + errno + message */
static struct pmemblk *
attach(char *base, size_t size, uint32_t bsize_new, uint32_t bsize_open, bool unmap)
{
	if (bsize_new && btt_format(base, size, bsize_new) != 0)
		return NULL;
	struct pmemblk *p = calloc(1, sizeof(*p));
	if (!p) {
		errmsg_set(ENOMEM, "no memory for a block pool handle");
		return NULL;
	}
	p->btt = btt_open(base, size, bsize_new ? bsize_new : bsize_open);
	if (!p->btt) {
		free(p);
		return NULL;
	}
	p->base = base;
	p->size = size;
	p->unmap = unmap;
	return p;
}

/* bsize_arg -- a block size as the table takes it; false (EINVAL) if it cannot be */
static bool
bsize_arg(size_t bsize, bool zero_ok)
{
	if ((zero_ok && bsize == 0) || (bsize >= PMEMBLK_MIN_BLK && bsize <= (1u << 30)))
		return true;
	errmsg_set(EINVAL, "block size %zu: expected %zu to 1 GiB", bsize, PMEMBLK_MIN_BLK);
	return false;
}

API PMEMblkpool *
pmemblk_create(const char *path, size_t bsize, size_t poolsize, mode_t mode)
{
	if (!bsize_arg(bsize, false))
		return NULL;
	if (poolsize && poolsize < PMEMBLK_MIN_POOL) {
		errmsg_set(EINVAL, "pmemblk_create: size %zu below PMEMBLK_MIN_POOL (%zu)",
				poolsize, PMEMBLK_MIN_POOL);
		return NULL;
	}
	size_t mapped = 0;
	int flags = poolsize ? PMEM_FILE_CREATE | PMEM_FILE_EXCL : 0;
	char *base = pmem_map_file(path, poolsize, flags, mode, &mapped, NULL);
	if (!base)
		return NULL;
	struct pmemblk *p = NULL;
	if (mapped < PMEMBLK_MIN_POOL)
		errmsg_set(EINVAL, "pmemblk_create: %s is %zu bytes, below PMEMBLK_MIN_POOL", path,
				mapped);
	else
		p = attach(base, mapped, (uint32_t)bsize, 0, true);
	if (!p) {
		int err = errno;
		pmem_unmap(base, mapped);
		if (poolsize)
			unlink(path);          /* made here: leave nothing half made */
		errno = err;
	}
	return p;
}

API PMEMblkpool *
pmemblk_open(const char *path, size_t bsize)
{
	if (!bsize_arg(bsize, true))
		return NULL;
	size_t mapped = 0;
	char *base = pmem_map_file(path, 0, 0, 0, &mapped, NULL);
	if (!base)
		return NULL;
	struct pmemblk *p = attach(base, mapped, 0, (uint32_t)bsize, true);
	if (!p) {
		int err = errno;
		pmem_unmap(base, mapped);
		errno = err;
	}
	return p;
}

API void
pmemblk_close(PMEMblkpool *pbp)
{
	if (!pbp)
		return;
	btt_close(pbp->btt);
	if (pbp->unmap)
		pmem_unmap(pbp->base, pbp->size);
	free(pbp);
}

API int
pmemblk_check(const char *path, size_t bsize)
{
	if (!bsize_arg(bsize, true))
		return -1;
	size_t mapped = 0;
	char *base = pmem_map_file(path, 0, 0, 0, &mapped, NULL);
	if (!base)
		return -1;
	struct btt *b = btt_open(base, mapped, (uint32_t)bsize);
	int ret = b ? btt_check(b) : 0;
	int err = errno;
	btt_close(b);
	pmem_unmap(base, mapped);
	errno = err;
	return ret;
}

API PMEMblkpool *
pmalloc_blk_map(void *addr, size_t size, size_t bsize, int create)
{
	if (!addr || !bsize_arg(bsize, !create))
		return NULL;
	return attach(addr, size, create ? (uint32_t)bsize : 0, (uint32_t)bsize, false);
}

API int
pmalloc_blk_check_map(PMEMblkpool *pbp)
{
	return pbp ? btt_check(pbp->btt) : -1;
}

API size_t
pmemblk_bsize(PMEMblkpool *pbp)
{
	return pbp ? btt_bsize(pbp->btt) : 0;
}

API size_t
pmemblk_nblock(PMEMblkpool *pbp)
{
	return pbp ? btt_nlba(pbp->btt) : 0;
}

/* blockno_ok -- a block number the table can take (negative ones cannot) */
static bool
blockno_ok(PMEMblkpool *pbp, long long blockno)
{
	if (pbp && blockno >= 0)
		return true;
	errmsg_set(EINVAL, "%s", pbp ? "negative block number" : "no pool");
	return false;
}

API int
pmemblk_read(PMEMblkpool *pbp, void *buf, long long blockno)
{
	if (!blockno_ok(pbp, blockno))
		return -1;
	if (!buf) {
		errmsg_set(EINVAL, "pmemblk_read: NULL buffer");
		return -1;
	}
	return btt_read(pbp->btt, (uint64_t)blockno, buf);
}

API int
pmemblk_write(PMEMblkpool *pbp, const void *buf, long long blockno)
{
	if (!blockno_ok(pbp, blockno))
		return -1;
	if (!buf) {
		errmsg_set(EINVAL, "pmemblk_write: NULL buffer");
		return -1;
	}
	return btt_write(pbp->btt, (uint64_t)blockno, buf);
}

API int
pmemblk_set_zero(PMEMblkpool *pbp, long long blockno)
{
	return blockno_ok(pbp, blockno) ? btt_set_zero(pbp->btt, (uint64_t)blockno) : -1;
}

API int
pmemblk_set_error(PMEMblkpool *pbp, long long blockno)
{
	return blockno_ok(pbp, blockno) ? btt_set_error(pbp->btt, (uint64_t)blockno) : -1;
}

API const char *
pmemblk_check_version(unsigned major_required, unsigned minor_required)
{
	return errmsg_version("libpmemblk", PMEMBLK_MAJOR_VERSION, PMEMBLK_MINOR_VERSION, major_required, minor_required);
}

API const char *
pmemblk_errormsg(void)
{
	return errmsg_get();
}

API void
pmemblk_set_funcs(void *(*malloc_func)(size_t size), void (*free_func)(void *ptr),
		void *(*realloc_func)(void *ptr, size_t size), char *(*strdup_func)(const char *s))
{
	(void)malloc_func;
	(void)free_func;
	(void)realloc_func;
	(void)strdup_func;
}
