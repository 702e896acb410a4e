/*
 * region.c -- region sources: unlinked temporary files, anonymous memory, caller memory
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc/region.h"
#include "common/errmsg.h"
#include "common/options.h"
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

/* spare_private -- a private, inaccessible mapping of the file fd: costs address
 * space only, and lets the region become copy-on-write with no descriptor */
static void *
spare_private(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	return p == MAP_FAILED ? NULL : p;
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
	int err = errno;
	void *cow = base == MAP_FAILED ? NULL : spare_private(fd, size);
	close(fd);          /* the mappings keep the file (see region.h) */
	if (base == MAP_FAILED) {
		errmsg_set_sys(err, "cannot map a %zu-byte pool", size);
		return -1;
	}
	*r = (struct region){ .base = base, .size = size, .kind = REGION_FILE, .cow = cow };
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
	*r = (struct region){ .base = base, .size = size, .kind = REGION_ANON };
	return 0;
}

int
region_create_hugetlb(struct region *r, size_t size)
{
	/* no MAP_NORESERVE: the kernel sets the huge pages aside now, so a store
	 * never finds the pool empty (that would be SIGBUS) */
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (base == MAP_FAILED) {
		errmsg_set_sys(errno, "cannot map %zu bytes of 2 MiB huge pages: reserve them "
				"first, e.g. `sysctl vm.nr_hugepages=%zu` as root", size,
				size >> 21);
		return -1;
	}
	*r = (struct region){ .base = base, .size = size, .kind = REGION_HUGETLB };
	return 0;
}

bool
region_can_purge(const struct region *r)
{
	return r->kind != REGION_CALLER && r->kind != REGION_HUGETLB;
}

void
region_init_caller(struct region *r, void *addr, size_t size)
{
	*r = (struct region){ .base = addr, .size = size, .kind = REGION_CALLER };
}

void
region_destroy(struct region *r)
{
	if (r->kind != REGION_CALLER)
		munmap(r->base, r->size);
	if (r->cow)
		munmap(r->cow, r->size);
}

bool
region_purge(const struct region *r, void *addr, size_t len)
{
	switch (r->kind) {
	case REGION_FILE:
		/* punches the hole through the mapping; a file system that cannot
		 * punch keeps the blocks, and the pages stay as they are */
		return madvise(addr, len, MADV_REMOVE) == 0;
	case REGION_ANON:
		return madvise(addr, len, MADV_DONTNEED) == 0;
	case REGION_FILE_PRIVATE:
		/* drops our copies; the pages read as the file again, not zeros */
		madvise(addr, len, MADV_DONTNEED);
		return false;
	case REGION_HUGETLB:
	case REGION_CALLER:
		break;
	}
	return false;
}

bool
region_needs_reserve(const struct region *r)
{
	return r->kind == REGION_FILE;
}

int
region_reserve(const struct region *r, void *addr, size_t len)
{
	if (r->kind != REGION_FILE || len == 0)
		return 0;
	/* faults the pages in writable as a store would, but reports what a store
	 * would die of (EFAULT for SIGBUS); kernels before 5.14 lack it (EINVAL):
	 * there a full file system still means SIGBUS */
	if (madvise(addr, len, MADV_POPULATE_WRITE) == 0 || errno == EINVAL)
		return 0;
	int err = errno;
	madvise(addr, len, MADV_REMOVE);     /* what it reserved before failing */
	errmsg_set(ENOMEM, "pool exhausted: the file system of %s has no room for "
			"%zu more bytes (%s)", r->dir, len,
			err == EFAULT ? strerror(ENOSPC) : strerror(err));
	return -1;
}

/* ---- fork ---------------------------------------------------------------- */

/* How a file region is separated from a forked child: a shared file would let
 * the two processes corrupt each other's heap. */
enum region_fork_mode {
	FORK_AUTO = 0,         /* copy-on-write while single-threaded, then back on a
	                          file when forks stop; else copy (default) */
	FORK_PRIVATE = 1,      /* remap copy-on-write before fork: no copying, but
	                          neither process writes the file again */
	FORK_COPY = 2,         /* copy the live pages for the child */
};

#define REGION_REHOME_MS 200   /* quiet time after a fork before moving back */

/* region_fork_mode -- the mode in force (PMALLOC_FORK) */
static enum region_fork_mode
region_fork_mode(void)
{
	long long mode = options_num(OPT_FORK);   /* the shim refused a bad value */
	return mode == FORK_AUTO || mode == FORK_PRIVATE ? (enum region_fork_mode)mode : FORK_COPY;
}

/* remap_private -- the region copy-on-write over its own file: the spare private
 * mapping, made accessible, replaces the shared one (a private mapping reads
 * the file's current contents until written) */
static bool
remap_private(struct region *r)
{
	if (!r->cow || mprotect(r->cow, r->size, PROT_READ | PROT_WRITE) != 0)
		return false;
	if (mremap(r->cow, r->size, r->size, MREMAP_MAYMOVE | MREMAP_FIXED, r->base)
			== MAP_FAILED) {
		mprotect(r->cow, r->size, PROT_NONE);
		return false;
	}
	r->cow = NULL;
	r->kind = REGION_FILE_PRIVATE;
	return true;
}

void
region_fork_cow(struct region *r)
{
	if (r->kind == REGION_FILE)
		remap_private(r);
}

/* single_threaded -- the process has one thread (/proc/self/stat's 20th field) */
static bool
single_threaded(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');        /* the command name may hold anything */
	for (int field = 2; p && field < 20; field++)
		p = strchr(p + 1, ' ');
	return p && strtol(p + 1, NULL, 10) == 1;
}

/* new_file -- an empty unlinked file of the region's size in its directory */
static int
new_file(const struct region *r)
{
	int fd = open_tmpfile(r->dir);
	if (fd >= 0 && ftruncate(fd, (off_t)r->size) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

bool
region_copy_begin(struct region *r, struct region_copy *c)
{
	c->fd = -1;
	c->mem = NULL;
	if (r->kind == REGION_FILE_PRIVATE)
		r->cow_since = util_now_ms();
	if (r->kind != REGION_FILE)
		return false;
	enum region_fork_mode mode = region_fork_mode();
	bool cow = mode == FORK_PRIVATE || (mode == FORK_AUTO && single_threaded());
	if (cow && remap_private(r)) {
		r->rehome = mode == FORK_AUTO;
		r->cow_since = util_now_ms();
		return false;
	}
	c->fd = new_file(r);
	return c->fd >= 0 || region_copy_to_anon(r, c);
}

bool
region_rehome_begin(struct region *r, struct region_copy *c)
{
	uint64_t now = util_now_ms();
	if (!r->rehome || now < r->cow_since + REGION_REHOME_MS)
		return false;
	r->cow_since = now;             /* one attempt per quiet period */
	c->mem = NULL;
	c->fd = single_threaded() ? new_file(r) : -1;
	return c->fd >= 0;
}

bool
region_rehome_finish(struct region *r, struct region_copy *c)
{
	if (mmap(r->base, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			c->fd, 0) == MAP_FAILED) {
		region_copy_end(r, c);
		return false;
	}
	r->cow = spare_private(c->fd, r->size);
	close(c->fd);
	c->fd = -1;
	r->kind = REGION_FILE;
	r->rehome = false;
	return true;
}

bool
region_copy_to_anon(const struct region *r, struct region_copy *c)
{
	region_copy_end(r, c);
	void *mem = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	c->mem = mem == MAP_FAILED ? NULL : mem;
	return c->mem != NULL;
}

int
region_copy_out(const struct region *r, const struct region_copy *c, size_t off, size_t len)
{
	const char *p = (const char *)r->base + off;
	if (c->mem) {
		memcpy((char *)c->mem + off, p, len);
		return 0;
	}
	while (len) {
		ssize_t n = pwrite(c->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		off += (size_t)n;
		len -= (size_t)n;
	}
	return 0;
}

void
region_copy_end(const struct region *r, struct region_copy *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->mem)
		munmap(c->mem, r->size);
	c->fd = -1;
	c->mem = NULL;
}

bool
region_fork_child(struct region *r, const struct region_copy *c)
{
	bool ok;
	void *parents_cow = r->cow;       /* of the parent's file: not ours to use */
	if (c->mem) {
		/* the parent's anonymous copy, now ours alone: moved into place */
		ok = mremap(c->mem, r->size, r->size, MREMAP_MAYMOVE | MREMAP_FIXED,
				r->base) != MAP_FAILED;
		if (ok) {
			r->kind = REGION_ANON;
			r->cow = NULL;
		}
	} else {
		ok = mmap(r->base, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				c->fd, 0) != MAP_FAILED;
		if (ok)
			r->cow = spare_private(c->fd, r->size);
		close(c->fd);
	}
	if (!ok) {
		remap_private(r);
		return false;
	}
	if (parents_cow)
		munmap(parents_cow, r->size);
	return true;
}

bool
region_fresh_is_zero(const struct region *r)
{
	return r->kind != REGION_CALLER;
}

uint64_t
region_file_allocated(const struct region *r)
{
	if (r->kind != REGION_FILE)
		return 0;
	unsigned char vec[4096];
	uint64_t pages = 0;
	size_t total = r->size >> LG_PAGE;
	for (size_t done = 0; done < total;) {
		size_t n = MIN(total - done, sizeof(vec));
		if (mincore((char *)r->base + done * PAGE, n * PAGE, vec) != 0)
			return 0;
		for (size_t i = 0; i < n; i++)
			pages += vec[i] & 1;
		done += n;
	}
	return pages * PAGE;
}
