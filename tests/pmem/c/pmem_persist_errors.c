/*
 * pmem_persist_errors.c -- a failing msync reaches the caller of the persist-ops table
 *
 * usage: pmem_persist_errors DIR   (a writable directory; one file is made there)
 *
 * The failure is injected with pmalloc_ops_inject_failure (a test hook: the
 * msync table's next persists and flushes fail as a real msync would, say
 * with EIO on a file system that lost its device). Every op must return -1
 * (or NULL for the copies) with errno and pmalloc_errormsg() set, then work
 * again once the injected failures are used up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libpmem.h>
#include <pmalloc.h>

#include "check.h"

#define SIZE 8192

/* msg_has -- pmalloc_errormsg() names msync and the errno's text */
static bool
msg_has(int err)
{
	const char *m = pmalloc_errormsg();
	return strstr(m, "msync") != NULL && strstr(m, strerror(err)) != NULL;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/persist-errors", argv[1]);
	size_t mapped = 0;
	char *p = pmem_map_file(path, SIZE, PMEM_FILE_CREATE, 0600, &mapped, NULL);
	if (p == NULL) {
		printf("pmem_map_file %s: %s\n", path, pmem_errormsg());
		return 1;
	}
	const struct pmem_ops *ops = pmalloc_persist_ops(p, SIZE, PMALLOC_OPS_MSYNC);
	CHECK("msync table", ops != NULL && strcmp(pmalloc_ops_name(ops), "msync") == 0);

	CHECK_BODY("persist works before any injection") {
		memset(p, 1, 100);
		errno = 0;
		EXPECT_EQ(0, pmalloc_ops_persist(ops, p, 100));
		EXPECT_EQ(0, pmalloc_ops_flush(ops, p, 100));
		EXPECT_EQ(0, pmalloc_ops_drain(ops));
	}

	CHECK_BODY("persist fails with the injected errno and a message") {
		EXPECT_EQ(0, pmalloc_ops_inject_failure(EIO, 1));
		errno = 0;
		EXPECT_EQ(-1, pmalloc_ops_persist(ops, p, 100));
		EXPECT_ERRNO(EIO, errno);
		EXPECT(msg_has(EIO));
		printf("  message: %s\n", pmalloc_errormsg());
		errno = 0;
		EXPECT_EQ(0, pmalloc_ops_persist(ops, p, 100)); /* used up */
	}

	CHECK_BODY("flush fails, drain has nothing to fail") {
		EXPECT_EQ(0, pmalloc_ops_inject_failure(ENOSPC, 1));
		errno = 0;
		EXPECT_EQ(-1, pmalloc_ops_flush(ops, p + 10, 10));
		EXPECT_ERRNO(ENOSPC, errno);
		EXPECT(msg_has(ENOSPC));
		EXPECT_EQ(0, pmalloc_ops_drain(ops));
	}

	CHECK_BODY("memcpy and memset return NULL when their msync fails, the bytes copied") {
		char src[64];
		memset(src, 7, sizeof(src));
		EXPECT_EQ(0, pmalloc_ops_inject_failure(EIO, 2));
		errno = 0;
		EXPECT(pmalloc_ops_memcpy(ops, p, src, sizeof(src), 0) == NULL);
		EXPECT_ERRNO(EIO, errno);
		EXPECT(memcmp(p, src, sizeof(src)) == 0);
		errno = 0;
		EXPECT(pmalloc_ops_memset(ops, p + 64, 9, 64, PMEM_F_MEM_NODRAIN) == NULL);
		EXPECT_ERRNO(EIO, errno);
		EXPECT_EQ(9, p[64]);
		/* NOFLUSH: no msync, nothing to fail, and no injected failure used */
		EXPECT_EQ(0, pmalloc_ops_inject_failure(EIO, 1));
		EXPECT(pmalloc_ops_memcpy(ops, p, src, sizeof(src), PMEM_F_MEM_NOFLUSH) == p);
		EXPECT_EQ(-1, pmalloc_ops_persist(ops, p, 1));
		EXPECT(pmalloc_ops_memcpy(ops, p, src, sizeof(src), 0) == p);
	}

	CHECK_BODY("disarming and bad arguments") {
		EXPECT_EQ(0, pmalloc_ops_inject_failure(EIO, 5));
		EXPECT_EQ(0, pmalloc_ops_inject_failure(0, 0));
		EXPECT_EQ(0, pmalloc_ops_persist(ops, p, 100));
		errno = 0;
		EXPECT_EQ(-1, pmalloc_ops_inject_failure(0, 1));
		EXPECT_ERRNO(EINVAL, errno);
		errno = 0;
		EXPECT_EQ(-1, pmalloc_ops_persist(NULL, p, 1));
		EXPECT_ERRNO(EINVAL, errno);
		errno = 0;
		EXPECT(pmalloc_ops_memcpy(NULL, p, "x", 1, 0) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
	}

	CHECK_BODY("other tables do not fail") {
		EXPECT_EQ(0, pmalloc_ops_inject_failure(EIO, 1));
		const struct pmem_ops *pm = pmalloc_persist_ops(p, SIZE, PMALLOC_OPS_PMEM);
		const struct pmem_ops *vol = pmalloc_persist_ops(p, SIZE, PMALLOC_OPS_VOLATILE);
		EXPECT_EQ(0, pmalloc_ops_persist(pm, p, 100));
		EXPECT_EQ(0, pmalloc_ops_persist(vol, p, 100));
		EXPECT_EQ(-1, pmalloc_ops_persist(ops, p, 100)); /* still armed for msync */
	}

	CHECK_BODY("a real msync failure: a range no longer mapped (ENOMEM)") {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		void *hole = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
		EXPECT(hole != MAP_FAILED);
		EXPECT_EQ(0, munmap(hole, page));
		errno = 0;
		EXPECT_EQ(-1, pmalloc_ops_persist(ops, hole, 1));
		EXPECT_ERRNO(ENOMEM, errno);
		EXPECT(msg_has(ENOMEM));
	}

	pmalloc_ops_inject_failure(0, 0);
	CHECK("unmap", pmem_unmap(p, mapped) == 0);
	unlink(path);
	return check_summary();
}
