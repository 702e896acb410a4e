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
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
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
	r->dir[0] = '\0';
	return 0;
}

void
region_init_caller(struct region *r, void *addr, size_t size)
{
	r->base = addr;
	r->size = size;
	r->fd = -1;
	r->kind = REGION_CALLER;
	r->dir[0] = '\0';
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
	case REGION_FILE_PRIVATE:
		/* drops our copies; the pages read as the file again, not zeros */
		madvise(addr, len, MADV_DONTNEED);
		return false;
	case REGION_CALLER:
		break;
	}
	return false;
}

/* ---- fork ---------------------------------------------------------------- */

/* How a file region is separated from a forked child: a shared file would let
 * the two processes corrupt each other's heap. */
enum region_fork_mode {
	FORK_PRIVATE = 1,      /* remap copy-on-write before fork: no copying, but
	                          neither process writes the file again */
	FORK_COPY = 2,         /* copy the file's data for the child (default) */
};

/* region_fork_mode -- the mode in force (from the environment, read once) */
static enum region_fork_mode
region_fork_mode(void)
{
	static int mode;
	if (!mode) {
		const char *s = secure_getenv("PMALLOC_FORK");
		if (!s)
			s = secure_getenv("VMMALLOC_FORK");
		mode = s && atoi(s) == FORK_PRIVATE ? FORK_PRIVATE : FORK_COPY;
	}
	return (enum region_fork_mode)mode;
}

/* copy_range -- bytes [off, end) of src to dst, in the kernel where it can */
static int
copy_range(int src, int dst, off_t off, off_t end)
{
	while (off < end) {
		loff_t in = off, out = off;
		ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(end - off), 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		off += n;
	}
	char buf[16384];      /* no kernel copy here: read and write */
	while (off < end) {
		ssize_t n = pread(src, buf, (size_t)MIN((off_t)sizeof(buf), end - off), off);
		if (n <= 0 || pwrite(dst, buf, (size_t)n, off) != n)
			return -1;
		off += n;
	}
	return 0;
}

/* copy_file -- a sparse copy of the pool file: only its data extents */
static int
copy_file(int src, int dst, size_t size)
{
	if (ftruncate(dst, (off_t)size) != 0)
		return -1;
	off_t off = 0;
	while (off < (off_t)size) {
		off_t data = lseek(src, off, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -1;
		off_t hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0 || copy_range(src, dst, data, hole) != 0)
			return -1;
		off = hole;
	}
	return 0;
}

static void
remap_private(struct region *r)
{
	if (mmap(r->base, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
			r->fd, 0) != MAP_FAILED)
		r->kind = REGION_FILE_PRIVATE;
}

int
region_fork_prepare(struct region *r)
{
	if (r->kind != REGION_FILE)
		return -1;
	enum region_fork_mode mode = region_fork_mode();
	if (mode != FORK_PRIVATE) {
		int fd = open_tmpfile(r->dir);
		if (fd >= 0 && copy_file(r->fd, fd, r->size) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
	}
	remap_private(r);
	return -1;
}

void
region_fork_child(struct region *r, int fd)
{
	if (mmap(r->base, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			fd, 0) == MAP_FAILED) {
		close(fd);
		remap_private(r);
		return;
	}
	/* r now reads from the copy, whose header holds the original fd */
	close(r->fd);
	r->fd = fd;
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
