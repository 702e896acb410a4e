/*
 * vmem_purge.c -- the pool file's allocated blocks fall after a large free
 *
 * Usage: vmem_purge DIR
 *
 * For each way memory goes back (an explicit pmalloc_vmem_purge with decay
 * set to an hour; no purge call with decay 0; no purge call with a 200 ms
 * decay) and each kind of object (1 MiB large, 8 MiB huge, 1000-byte small):
 * allocate and touch 64 MiB (32 MiB of small objects) in a fresh 256 MiB pool,
 * read the file's allocated size both from pmalloc_vmem_stats and by stat()ing
 * the mapping through /proc/self/map_files, free everything, and expect the
 * allocated size to fall to at most 5 % of its peak (for the decay cases, once
 * a few seconds and MIN_TICKS rounds of allocator traffic have passed). Last, a free
 * small beside what stays live (below any cap on dirty memory) goes back once
 * its decay time has passed, with no purge call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvmem.h>
#include <pmalloc.h>

#include "check.h"

#define POOL_SIZE ((size_t)256 << 20)

/*
 * Decay is a time, looked at when the allocator is used: a wait for it ends once
 * the time has passed *and* MIN_TICKS rounds of traffic have run, so a busy
 * machine (fewer rounds a second) waits longer instead of failing.
 */
#define MIN_TICKS 300

enum mode { EXPLICIT, DECAY_ZERO, DECAY_SHORT };
static const char *const mode_names[] = { "purge", "decay-0", "decay-200ms" };

struct kind {
	const char *name;
	size_t size;       /* object size */
	size_t count;      /* objects */
};
static const struct kind kinds[] = {
	{ "large", (size_t)1 << 20, 64 },
	{ "huge", (size_t)8 << 20, 8 },
	{ "small", 1000, 32768 },
};

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
stats_file_allocated(VMEM *vmp)
{
	struct pmalloc_stats st;
	if (pmalloc_vmem_stats(vmp, &st) != 0)
		return UINT64_MAX;
	return st.file_allocated;
}

/* map_file_allocated -- st_blocks of the file mapped at p, by the kernel's word */
static int64_t
map_file_allocated(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return -1;
	char line[512];
	int64_t result = -1;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) != 2)
			continue;
		if ((uintptr_t)p < lo || (uintptr_t)p >= hi)
			continue;
		char path[128];
		snprintf(path, sizeof(path), "/proc/self/map_files/%" PRIxPTR "-%" PRIxPTR,
			lo, hi);
		struct stat st;
		if (stat(path, &st) == 0)
			result = (int64_t)st.st_blocks * 512;
		break;
	}
	fclose(f);
	return result;
}

static void
tick(VMEM *vmp)
{
	void *p = vmem_malloc(vmp, (size_t)1 << 20);
	void *q = vmem_malloc(vmp, 64);
	vmem_free(vmp, q);
	vmem_free(vmp, p);
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

static bool
run(const char *dir, enum mode mode, const struct kind *k)
{
	bool result = true;
	pmalloc_set_decay_ms(mode == EXPLICIT ? 3600L * 1000 :
			mode == DECAY_ZERO ? 0 : 200);
	VMEM *vmp = vmem_create(dir, POOL_SIZE);
	EXPECT(vmp != NULL);
	if (vmp == NULL) {
		printf("  errno %d: %s\n", errno, vmem_errormsg());
		return false;
	}
	uint64_t base = stats_file_allocated(vmp);
	unsigned char **ptrs = calloc(k->count, sizeof(*ptrs));
	size_t got = 0;
	for (size_t i = 0; i < k->count; i++) {
		ptrs[i] = vmem_malloc(vmp, k->size);
		if (ptrs[i] == NULL)
			break;
		memset(ptrs[i], (int)(i % 251) + 1, k->size);
		got++;
	}
	EXPECT_EQ(k->count, got);
	uint64_t peak = stats_file_allocated(vmp);
	int64_t peak_map = got ? map_file_allocated(ptrs[0]) : -1;
	void *probe = got ? ptrs[0] : NULL;
	uint64_t touched = (uint64_t)(k->size * got);
	EXPECT_GE(peak, touched);
	if (peak_map >= 0)
		EXPECT_GE((uint64_t)peak_map, touched);

	for (size_t i = 0; i < got; i++)
		vmem_free(vmp, ptrs[i]);
	free(ptrs);

	double t0 = now_s(), waited = 0;
	uint64_t after = stats_file_allocated(vmp);
	if (mode == EXPLICIT) {
		printf("  (%.1f MiB before the purge call)\n", (double)after / 1048576.0);
		EXPECT_EQ(0, pmalloc_vmem_purge(vmp));
		after = stats_file_allocated(vmp);
	} else {
		double limit = mode == DECAY_ZERO ? 2.0 : 5.0;
		for (unsigned ticks = 0; after > peak / 20 &&
				(now_s() - t0 < limit || ticks < MIN_TICKS); ticks++) {
			tick(vmp);
			after = stats_file_allocated(vmp);
		}
		waited = now_s() - t0;
	}
	int64_t after_map = probe ? map_file_allocated(probe) : -1;
	printf("  %s, %s: file allocated %.1f MiB at creation, %.1f MiB at the peak "
		"(map_files: %.1f), %.1f MiB after the free (map_files: %.1f)"
		" after %.2f s\n", mode_names[mode], k->name, (double)base / 1048576.0,
		(double)peak / 1048576.0, (double)peak_map / 1048576.0,
		(double)after / 1048576.0, (double)after_map / 1048576.0, waited);
	EXPECT_LE(after, peak / 20);
	if (after_map >= 0 && peak_map > 0)
		EXPECT_LE((uint64_t)after_map, (uint64_t)peak_map / 20);
	EXPECT_EQ(1, vmem_check(vmp));
	vmem_delete(vmp);
	return result;
}

/*
 * under_cap -- a free too small to trip any cap on dirty memory (12 MiB beside
 * 128 MiB live) still goes back to the file once the decay time has passed.
 */
static bool
under_cap(const char *dir, long decay)
{
	bool result = true;
	pmalloc_set_decay_ms(decay);
	VMEM *vmp = vmem_create(dir, POOL_SIZE);
	EXPECT(vmp != NULL);
	if (vmp == NULL)
		return false;
	enum { KEEP = 128, FREE = 12 };
	void *keep[KEEP], *gone[FREE];
	size_t mib = (size_t)1 << 20;
	for (int i = 0; i < KEEP; i++) {
		keep[i] = vmem_malloc(vmp, mib);
		EXPECT(keep[i] != NULL);
		if (keep[i])
			memset(keep[i], 1, mib);
	}
	for (int i = 0; i < FREE; i++) {
		gone[i] = vmem_malloc(vmp, mib);
		EXPECT(gone[i] != NULL);
		if (gone[i])
			memset(gone[i], 2, mib);
	}
	uint64_t peak = stats_file_allocated(vmp);
	for (int i = 0; i < FREE; i++)
		vmem_free(vmp, gone[i]);
	uint64_t at_free = stats_file_allocated(vmp);
	uint64_t goal = peak - (uint64_t)FREE * mib * 9 / 10;
	double t0 = now_s();
	uint64_t after = at_free;
	for (unsigned ticks = 0; after > goal &&
			(now_s() - t0 < 3.0 + (double)decay / 1000.0 || ticks < MIN_TICKS); ticks++) {
		tick(vmp);
		after = stats_file_allocated(vmp);
	}
	double waited = now_s() - t0;
	printf("  decay %ld ms, %d MiB freed beside %d MiB live: file allocated %.1f MiB "
		"before the free, %.1f MiB just after it, %.1f MiB after %.2f s\n", decay,
		FREE, KEEP, (double)peak / 1048576.0, (double)at_free / 1048576.0,
		(double)after / 1048576.0, waited);
	EXPECT_LE(after, goal);
	for (int i = 0; i < KEEP; i++)
		vmem_free(vmp, keep[i]);
	EXPECT_EQ(1, vmem_check(vmp));
	vmem_delete(vmp);
	return result;
}

int
main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	long previous = pmalloc_set_decay_ms(10000);
	pmalloc_set_decay_ms(previous);
	for (int m = EXPLICIT; m <= DECAY_SHORT; m++) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			char name[64];
			snprintf(name, sizeof(name), "%s-%s", mode_names[m], kinds[k].name);
			CHECK_BODY(name) {
				result = run(argv[1], (enum mode)m, &kinds[k]);
			}
		}
	}
	CHECK_BODY("decay-0-under-the-dirty-cap") {
		result = under_cap(argv[1], 0);
	}
	CHECK_BODY("decay-200ms-under-the-dirty-cap") {
		result = under_cap(argv[1], 200);
	}
	pmalloc_set_decay_ms(previous);
	return check_summary();
}
