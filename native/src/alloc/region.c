/*
 * region.c -- region sources: unlinked temporary files, anonymous memory, caller memory
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc/region.h"
#include "common/errmsg.h"
#include "common/util.h"

/* open_tmpfile -- an unlinked file in dir: O_TMPFILE, else mkstemp + unlink */
static int
open_tmpfile(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -1;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/pmalloc.XXXXXX", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	unlink(path);
	return fd;
}

int
region_create_tmpfile(struct region *r, const char *dir, size_t size)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		errmsg_set_sys(errno, "pool directory %s", dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		errmsg_set(ENOTDIR, "pool directory %s: not a directory", dir);
		return -1;
	}
	int fd = open_tmpfile(dir);
	if (fd < 0) {
		errmsg_set_sys(errno, "cannot create a pool file in %s", dir);
		return -1;
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		int err = errno == EFBIG ? ENOMEM : errno;
		errmsg_set_sys(err, "cannot size the pool file to %zu bytes", size);
		close(fd);
		return -1;
	}
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		int err = errno;
		close(fd);
		errmsg_set_sys(err, "cannot map a %zu-byte pool", size);
		return -1;
	}
	r->base = base;
	r->size = size;
	r->fd = fd;
	r->kind = REGION_FILE;
	return 0;
}

int
region_create_anon(struct region *r, size_t size)
{
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		errmsg_set_sys(errno, "cannot map %zu anonymous bytes", size);
		return -1;
	}
	r->base = base;
	r->size = size;
	r->fd = -1;
	r->kind = REGION_ANON;
	return 0;
}

void
region_init_caller(struct region *r, void *addr, size_t size)
{
	r->base = addr;
	r->size = size;
	r->fd = -1;
	r->kind = REGION_CALLER;
}

void
region_destroy(struct region *r)
{
	if (r->kind == REGION_CALLER)
		return;
	munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
}

bool
region_purge(const struct region *r, void *addr, size_t len)
{
	switch (r->kind) {
	case REGION_FILE: {
		off_t off = (off_t)((char *)addr - (char *)r->base);
		if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				off, (off_t)len) == 0)
			return true;
		/* file systems without hole punching: at least drop our pages */
		return madvise(addr, len, MADV_REMOVE) == 0;
	}
	case REGION_ANON:
		return madvise(addr, len, MADV_DONTNEED) == 0;
	case REGION_CALLER:
		break;
	}
	return false;
}

bool
region_fresh_is_zero(const struct region *r)
{
	return r->kind != REGION_CALLER;
}

uint64_t
region_file_allocated(const struct region *r)
{
	struct stat st;
	if (r->fd < 0 || fstat(r->fd, &st) != 0)
		return 0;
	return (uint64_t)st.st_blocks * 512u;
}
