/*
 * map.c -- file mappings: open, size and mmap a file (MAP_SYNC first), the table of them, msync
 */
#include "pmem/map.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "common/options.h"
#include "common/util.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

/* One live mapping. */
struct map_range {
	uintptr_t start;        /* first byte */
	uintptr_t end;          /* one past the last byte (page aligned) */
	int dax;                /* mapped with MAP_SYNC */
};

/* The table of live mappings: unsorted, small (one entry per pmem_map_file). */
static struct {
	pthread_rwlock_t lock;
	struct map_range *v;    /* entries [0, n) */
	size_t n;               /* live entries */
	size_t cap;             /* allocated entries */
} map_table = { .lock = PTHREAD_RWLOCK_INITIALIZER };

int
map_force(void)
{
	return (int)options_num(OPT_IS_PMEM_FORCE);
}

/* map_add -- remember a new mapping; 0, or -1 + ENOMEM */
static int
map_add(uintptr_t start, uintptr_t end, int dax)
{
	int rc = 0;
	pthread_rwlock_wrlock(&map_table.lock);
	if (map_table.n == map_table.cap) {
		size_t cap = map_table.cap ? map_table.cap * 2 : 16;
		struct map_range *v = realloc(map_table.v, cap * sizeof(*v));
		if (v == NULL) {
			rc = -1;
			goto out;
		}
		map_table.v = v;
		map_table.cap = cap;
	}
	map_table.v[map_table.n++] = (struct map_range){ start, end, dax };
out:
	pthread_rwlock_unlock(&map_table.lock);
	return rc;
}

/* map_remove -- forget [start, end), splitting entries it cuts in two; 0 or -1 (ENOMEM) */
static int
map_remove(uintptr_t start, uintptr_t end)
{
	int rc = 0;
	pthread_rwlock_wrlock(&map_table.lock);
	for (size_t i = 0; i < map_table.n;) {
		struct map_range r = map_table.v[i];
		if (r.end <= start || r.start >= end) {
			i++;
			continue;
		}
		/* drop the entry, put back what lies outside [start, end) */
		map_table.v[i] = map_table.v[--map_table.n];
		pthread_rwlock_unlock(&map_table.lock);
		if (r.start < start && map_add(r.start, start, r.dax) != 0)
			rc = -1;
		if (r.end > end && map_add(end, r.end, r.dax) != 0)
			rc = -1;
		pthread_rwlock_wrlock(&map_table.lock);
		i = 0; /* the table changed: rescan (it is short) */
	}
	pthread_rwlock_unlock(&map_table.lock);
	return rc;
}

/* map_cover -- 1 if [addr, addr+len) is covered by entries (DAX ones only if dax_only) */
static int
map_cover(const void *addr, size_t len, int dax_only)
{
	uintptr_t p = (uintptr_t)addr;
	uintptr_t end = p + len;
	if (end < p)
		return 0;
	if (len == 0)
		end = p + 1;
	pthread_rwlock_rdlock(&map_table.lock);
	int progress = 1;
	while (p < end && progress) {
		progress = 0;
		for (size_t i = 0; i < map_table.n; i++) {
			const struct map_range *r = &map_table.v[i];
			if (r->start <= p && p < r->end && (r->dax || !dax_only)) {
				p = r->end;
				progress = 1;
				break;
			}
		}
	}
	pthread_rwlock_unlock(&map_table.lock);
	return p >= end;
}

int
map_covers(const void *addr, size_t len)
{
	return map_cover(addr, len, 0);
}

int
map_is_dax(const void *addr, size_t len)
{
	return map_cover(addr, len, 1);
}

/* page_size -- the system's page size (read once: msync is on the persist path) */
static uintptr_t
page_size(void)
{
	static _Atomic uintptr_t page;
	uintptr_t p = atomic_load_explicit(&page, memory_order_relaxed);
	if (p == 0) {
		p = (uintptr_t)sysconf(_SC_PAGESIZE);
		atomic_store_explicit(&page, p, memory_order_relaxed);
	}
	return p;
}

int
map_sync(const void *addr, size_t len)
{
	uintptr_t start = ALIGN_DOWN((uintptr_t)addr, page_size());
	size_t span = len + ((uintptr_t)addr - start);
	if (msync((void *)start, span, MS_SYNC) != 0) {
		errmsg_set_sys(errno, "msync(%p, %zu)", addr, len);
		return -1;
	}
	return 0;
}

/* map_open -- open or create the file as `how` says; the fd, or -1 (errmsg set).
 * *created tells whether a named file was created (to unlink on a later failure). */
static int
map_open(const char *path, const struct map_how *how, mode_t mode, int *created)
{
	*created = 0;
	if (how->tmpfile) {
		int fd = open(path, O_TMPFILE | O_RDWR | (how->excl ? O_EXCL : 0), 0600);
		if (fd >= 0)
			return fd;
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
			errmsg_set_sys(errno, "pmem_map_file: O_TMPFILE in %s", path);
			return -1;
		}
		/* no O_TMPFILE here: a named file, unlinked at once */
		char name[PATH_MAX];
		if (snprintf(name, sizeof(name), "%s/pmem.XXXXXX", path) >= (int)sizeof(name)) {
			errmsg_set(ENAMETOOLONG, "pmem_map_file: directory name too long: %s", path);
			return -1;
		}
		fd = mkstemp(name);
		if (fd < 0) {
			errmsg_set_sys(errno, "pmem_map_file: mkstemp in %s", path);
			return -1;
		}
		(void)unlink(name);
		return fd;
	}
	int oflags = O_RDWR | O_CLOEXEC;
	if (how->create) {
		if (how->excl) {
			oflags |= O_CREAT | O_EXCL;
		} else {
			/* create only when missing, to know whether to unlink on failure */
			int fd = open(path, oflags);
			if (fd >= 0)
				return fd;
			if (errno != ENOENT) {
				errmsg_set_sys(errno, "pmem_map_file: open %s", path);
				return -1;
			}
			oflags |= O_CREAT | O_EXCL;
		}
	}
	int fd = open(path, oflags, mode);
	if (fd < 0) {
		errmsg_set_sys(errno, "pmem_map_file: open %s", path);
		return -1;
	}
	*created = (oflags & O_CREAT) != 0;
	return fd;
}

/* map_size -- give the fd len bytes (allocated unless sparse); 0 or -1 (errmsg set) */
static int
map_size(int fd, const char *path, size_t len, int sparse)
{
	if (ftruncate(fd, (off_t)len) != 0) {
		errmsg_set_sys(errno, "pmem_map_file: ftruncate %s to %zu", path, len);
		return -1;
	}
	if (!sparse) {
		int err = posix_fallocate(fd, 0, (off_t)len);
		if (err != 0) {
			errmsg_set_sys(err, "pmem_map_file: posix_fallocate %s, %zu bytes", path, len);
			return -1;
		}
	}
	return 0;
}

void *
map_file(const char *path, size_t len, const struct map_how *how, mode_t mode, size_t *lenp,
	int *daxp)
{
	int created;
	int fd = map_open(path, how, mode, &created);
	if (fd < 0)
		return NULL;

	void *addr = NULL;
	if (how->create) {
		if (map_size(fd, path, len, how->sparse) != 0)
			goto fail;
	} else {
		struct stat st;
		if (fstat(fd, &st) != 0) {
			errmsg_set_sys(errno, "pmem_map_file: stat %s", path);
			goto fail;
		}
		if (!S_ISREG(st.st_mode)) {
			errmsg_set(EINVAL, "pmem_map_file: %s is not a regular file", path);
			goto fail;
		}
		if (st.st_size <= 0) {
			errmsg_set(EINVAL, "pmem_map_file: %s is empty", path);
			goto fail;
		}
		len = (size_t)st.st_size;
	}

	int dax = 1;
	addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
	if (addr == MAP_FAILED) {
		dax = 0;
		addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	}
	if (addr == MAP_FAILED) {
		errmsg_set_sys(errno, "pmem_map_file: mmap %s, %zu bytes", path, len);
		addr = NULL;
		goto fail;
	}
	uintptr_t start = (uintptr_t)addr;
	if (map_add(start, ALIGN_UP(start + len, page_size()), dax) != 0) {
		errmsg_set(ENOMEM, "pmem_map_file: out of memory for the mapping table");
		munmap(addr, len);
		addr = NULL;
		goto fail;
	}
	close(fd);
	*lenp = len;
	*daxp = dax;
	return addr;

fail: {
	int err = errno;
	if (created)
		(void)unlink(path);
	close(fd);
	errno = err;
	return NULL;
}
}

int
map_unmap(void *addr, size_t len)
{
	if (munmap(addr, len) != 0) {
		errmsg_set_sys(errno, "pmem_unmap(%p, %zu)", addr, len);
		return -1;
	}
	uintptr_t start = (uintptr_t)addr;
	(void)map_remove(start, ALIGN_UP(start + len, page_size()));
	return 0;
}
