/*
 * pmem_driver.c -- libpmem's flush path, one source for three builds:
 *   against pmalloc:  -I<pmalloc include> ... -lpmalloc
 *   against PMDK:     -lpmem  (Debian's PMDK 1.12 libpmem)
 *   plain:            -DBENCH_PLAIN (memcpy, no flush: the ceiling for the copy rows)
 *
 * usage: pmem_driver FILE [SECONDS_PER_ROW]
 * Maps FILE (64 MiB, created, removed at the end) with pmem_map_file (mmap when plain),
 * then prints one JSON line per row: {"row", "bytes", "ops", "seconds", "gbps", "ns_per_op"}.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_PLAIN
#include <libpmem.h>
#endif

#define REGION ((size_t)64 << 20)

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *region;
static char *src;

/* one op of each row: copy `size` bytes to the region at slot i */
static void
op_memcpy_persist(size_t size, size_t i)
{
	char *d = region + (i * size) % (REGION - size + 1);
#ifdef BENCH_PLAIN
	memcpy(d, src, size);
#else
	pmem_memcpy_persist(d, src, size);
#endif
}

static void
op_memcpy_then_persist(size_t size, size_t i)
{
	char *d = region + (i * size) % (REGION - size + 1);
	memcpy(d, src, size);
#ifndef BENCH_PLAIN
	pmem_persist(d, size);
#endif
}

/* dirty one 64-byte line, persist it */
static void
op_persist_line(size_t size, size_t i)
{
	char *d = region + (i * 64) % REGION;
	(void)size;
	d[0] = (char)i;
#ifndef BENCH_PLAIN
	pmem_persist(d, 64);
#endif
}

static void
row(const char *name, void (*op)(size_t, size_t), size_t size, double seconds)
{
	/* warm up, then run batches until the time is spent */
	for (size_t i = 0; i < 16; i++)
		op(size, i);
	size_t ops = 0, batch = size >= (1 << 20) ? 4 : size >= 65536 ? 64 : 4096;
	double t0 = now(), t;
	do {
		for (size_t k = 0; k < batch; k++, ops++)
			op(size, ops);
		t = now() - t0;
	} while (t < seconds);
	printf("{\"row\": \"%s\", \"bytes\": %zu, \"ops\": %zu, \"seconds\": %.6f, "
	       "\"gbps\": %.4f, \"ns_per_op\": %.3f}\n",
	       name, size, ops, t, (double)ops * (double)size / t / 1e9, t / (double)ops * 1e9);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE [SECONDS_PER_ROW]\n", argv[0]);
		return 2;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 0.3;
#ifdef BENCH_PLAIN
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || posix_fallocate(fd, 0, (off_t)REGION) != 0) {
		perror(argv[1]);
		return 1;
	}
	region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (region == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
#else
	size_t mapped;
	int is_pmem;
	region = pmem_map_file(argv[1], REGION, PMEM_FILE_CREATE, 0600, &mapped, &is_pmem);
	if (region == NULL) {
		fprintf(stderr, "pmem_map_file %s: %s\n", argv[1], pmem_errormsg());
		return 1;
	}
#endif
	src = malloc((size_t)4 << 20);
	if (src == NULL)
		return 1;
	for (size_t i = 0; i < ((size_t)4 << 20); i++)
		src[i] = (char)(i * 13);
	memset(region, 1, REGION); /* fault every page in */

	static const size_t sizes[] = { 4096, 65536, (size_t)4 << 20 };
	for (int s = 0; s < 3; s++)
		row("memcpy_persist", op_memcpy_persist, sizes[s], seconds);
	for (int s = 0; s < 3; s++)
		row("memcpy+persist", op_memcpy_then_persist, sizes[s], seconds);
	row("persist_line", op_persist_line, 64, seconds);

#ifdef BENCH_PLAIN
	munmap(region, REGION);
#else
	pmem_unmap(region, REGION);
#endif
	unlink(argv[1]);
	free(src);
	return 0;
}
