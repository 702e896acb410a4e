/*
 * pmem_api.c -- libpmem's C API as a program sees it; builds against pmalloc's
 * libpmem.h + libpmalloc.so and, unchanged, against PMDK's libpmem (-lpmem).
 *
 * usage: pmem_api DIR   (a writable directory; files are made and removed there)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpmem.h>

/* A failing check prints what it expected and what errno and libpmem said. */
static int failures;
#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "%s:%d: expected %s; errno %d (%s); pmem_errormsg: %s\n", \
			__FILE__, __LINE__, #c, errno, strerror(errno), pmem_errormsg()); \
		failures++; \
	} \
} while (0)

static char path[4096];

static void
test_version(void)
{
	CHECK(pmem_check_version(PMEM_MAJOR_VERSION, PMEM_MINOR_VERSION) == NULL);
	CHECK(pmem_check_version(PMEM_MAJOR_VERSION, 0) == NULL);
	const char *msg = pmem_check_version(PMEM_MAJOR_VERSION + 1, 0);
	CHECK(msg != NULL && strlen(msg) > 0);
	CHECK(pmem_check_version(PMEM_MAJOR_VERSION, PMEM_MINOR_VERSION + 1) != NULL);
	CHECK(pmem_has_hw_drain() == 0);
	int af = pmem_has_auto_flush();
	CHECK(af == 0 || af == 1);
}

static void
test_errors(const char *dir)
{
	size_t mapped = 12345;
	int is_pmem = 7;
	snprintf(path, sizeof(path), "%s/missing", dir);
	errno = 0;
	CHECK(pmem_map_file(path, 0, 0, 0, &mapped, &is_pmem) == NULL);
	CHECK(errno == ENOENT);
	CHECK(mapped == 12345 && is_pmem == 7); /* untouched on error */
	CHECK(strlen(pmem_errormsg()) > 0);

	errno = 0;
	CHECK(pmem_map_file(path, 4096, 0, 0, NULL, NULL) == NULL); /* len without CREATE */
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(pmem_map_file(path, 0, PMEM_FILE_CREATE, 0600, NULL, NULL) == NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(pmem_map_file(path, 4096, PMEM_FILE_CREATE | (1 << 12), 0600, NULL, NULL) == NULL);
	CHECK(errno == EINVAL);
	errno = 0;
	CHECK(pmem_map_file(dir, 4096, PMEM_FILE_TMPFILE, 0600, NULL, NULL) == NULL);
	CHECK(errno == EINVAL);
	CHECK(access(path, F_OK) != 0); /* nothing left behind */
}

static void
test_map(const char *dir)
{
	snprintf(path, sizeof(path), "%s/f", dir);
	size_t mapped = 0;
	int is_pmem = -1;
	/* an unaligned size */
	char *p = pmem_map_file(path, 10000, PMEM_FILE_CREATE | PMEM_FILE_EXCL, 0640, &mapped,
		&is_pmem);
	CHECK(p != NULL);
	CHECK(mapped == 10000);
	CHECK(is_pmem == 0 || is_pmem == 1);
	CHECK(pmem_is_pmem(p, mapped) == is_pmem);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size == 10000 && (st.st_mode & 0777) == 0640);
	CHECK(st.st_blocks * 512 >= 10000); /* not sparse: allocated */

	errno = 0;
	CHECK(pmem_map_file(path, 4096, PMEM_FILE_CREATE | PMEM_FILE_EXCL, 0600, NULL, NULL)
		== NULL);
	CHECK(errno == EEXIST);

	strcpy(p, "Hello, World!");
	pmem_persist(p, 14);
	CHECK(pmem_msync(p + 1, 20) == 0); /* unaligned address */
	pmem_flush(p + 9990, 10);
	pmem_drain();
	pmem_deep_flush(p, 14);
	CHECK(pmem_deep_drain(p, 14) == 0);
	CHECK(pmem_deep_persist(p + 100, 50) == 0);
	memset(p + 9000, 'z', 1000);
	pmem_persist(p + 9000, 1000);
	CHECK(pmem_unmap(p, mapped) == 0);

	/* reopen: the whole file, the data there */
	p = pmem_map_file(path, 0, 0, 0, &mapped, NULL);
	CHECK(p != NULL && mapped == 10000);
	CHECK(strcmp(p, "Hello, World!") == 0);
	CHECK(p[9000] == 'z' && p[9999] == 'z');
	CHECK(pmem_unmap(p, mapped) == 0);

	/* CREATE on an existing file resizes it */
	p = pmem_map_file(path, 8192, PMEM_FILE_CREATE | PMEM_FILE_SPARSE, 0600, &mapped, NULL);
	CHECK(p != NULL && mapped == 8192);
	CHECK(strcmp(p, "Hello, World!") == 0);
	CHECK(pmem_unmap(p, mapped) == 0);
	CHECK(stat(path, &st) == 0 && st.st_size == 8192);
	CHECK(unlink(path) == 0);

	/* sparse: no blocks */
	p = pmem_map_file(path, 1 << 20, PMEM_FILE_CREATE | PMEM_FILE_SPARSE, 0600, &mapped, NULL);
	CHECK(p != NULL);
	CHECK(stat(path, &st) == 0 && st.st_blocks * 512 < (1 << 20));
	CHECK(pmem_unmap(p, mapped) == 0);
	CHECK(unlink(path) == 0);

	/* tmpfile: nothing named in dir */
	p = pmem_map_file(dir, 1 << 16, PMEM_FILE_CREATE | PMEM_FILE_TMPFILE, 0600, &mapped, NULL);
	CHECK(p != NULL && mapped == 1 << 16);
	p[0] = 1;
	pmem_persist(p, 1);
	CHECK(pmem_unmap(p, mapped) == 0);

	/* a directory is not a file */
	errno = 0;
	CHECK(pmem_map_file(dir, 0, 0, 0, NULL, NULL) == NULL);
	CHECK(errno == EISDIR || errno == EINVAL);
}

static void
test_copies(const char *dir)
{
	snprintf(path, sizeof(path), "%s/c", dir);
	size_t mapped;
	char *p = pmem_map_file(path, 1 << 20, PMEM_FILE_CREATE, 0600, &mapped, NULL);
	CHECK(p != NULL);
	char *src = malloc(1 << 18);
	CHECK(src != NULL);
	for (int i = 0; i < 1 << 18; i++)
		src[i] = (char)(i * 7 + 3);
	static const size_t sizes[] = { 0, 1, 7, 8, 63, 64, 65, 255, 256, 257, 4096, 65536 + 3 };
	static const unsigned flags[] = { 0, PMEM_F_MEM_NODRAIN, PMEM_F_MEM_NONTEMPORAL,
		PMEM_F_MEM_TEMPORAL, PMEM_F_MEM_WC, PMEM_F_MEM_WB, PMEM_F_MEM_NOFLUSH };
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			for (size_t off = 0; off < 80; off += 13) {
				char *d = p + 1000 + off;
				memset(p, 0, 300000);
				CHECK(pmem_memcpy(d, src + off, sizes[s], flags[f]) == d);
				CHECK(memcmp(d, src + off, sizes[s]) == 0);
				CHECK(d[-1] == 0 && d[sizes[s]] == 0);
				CHECK(pmem_memset(d, 0x5a, sizes[s], flags[f]) == d);
				for (size_t i = 0; i < sizes[s]; i++)
					CHECK(d[i] == 0x5a);
				CHECK(d[-1] == 0 && d[sizes[s]] == 0);
			}
	pmem_drain();
	/* overlapping memmove, both directions */
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (long shift = -130; shift <= 130; shift += 43) {
			memcpy(p + 200000, src, 70000);
			char *from = p + 200000, *to = from + shift;
			memmove(src + 100000, from, sizes[s]); /* the expected bytes */
			CHECK(pmem_memmove_persist(to, from, sizes[s]) == to);
			CHECK(memcmp(to, src + 100000, sizes[s]) == 0);
			memcpy(p + 200000, src, 70000);
			CHECK(pmem_memmove(to, from, sizes[s], PMEM_F_MEM_NONTEMPORAL) == to);
			CHECK(memcmp(to, src + 100000, sizes[s]) == 0);
		}
	CHECK(pmem_memcpy_persist(p, src, 100) == p);
	CHECK(pmem_memcpy_nodrain(p + 100, src, 100) == p + 100);
	CHECK(pmem_memmove_nodrain(p + 200, src, 100) == p + 200);
	CHECK(pmem_memset_persist(p + 300, 1, 100) == p + 300);
	CHECK(pmem_memset_nodrain(p + 400, 2, 100) == p + 400);
	pmem_drain();
	CHECK(memcmp(p + 100, src, 100) == 0 && p[499] == 2 && p[399] == 1);
	CHECK(pmem_unmap(p, mapped) == 0);
	CHECK(unlink(path) == 0);
	free(src);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	test_version();
	test_errors(argv[1]);
	test_map(argv[1]);
	test_copies(argv[1]);
	printf("%s\n", failures ? "FAILED" : "all passed");
	return failures != 0;
}
