/*
 * vmem_churn.c -- no false exhaustion with threads
 *
 * 8 threads share 512 slots; each step puts a new block of random size (1 B to
 * 1 MiB, log-uniform, so about a quarter above 64 KiB; every 50th step exactly
 * 1 MiB) in a random slot and frees the block it replaces, whichever thread
 * made it. Live memory stays far below the 256 MiB pool, so no allocation may
 * fail: a failure means pages held idle (thread caches, empty slabs, runs being
 * purged) or scattered placement hid the free runs.
 *
 *   vmem_churn DIR [STEPS_PER_THREAD]
 */
#include <pthread.h>
#include <stdlib.h>

#include <libvmem.h>
#include <pmalloc.h>

#include "check.h"

#define NTHREADS 8
#define NSLOTS 512
#define POOL ((size_t)256 << 20)

static VMEM *vmp;
static _Atomic(void *) slots[NSLOTS];
static atomic_long failures;
static long steps = 60000;

static void *
worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	for (long i = 0; i < steps; i++) {
		unsigned lg = (unsigned)rand_r(&seed) % 21;
		size_t size = ((size_t)1 << lg) + (size_t)rand_r(&seed) % ((size_t)1 << lg);
		if (size > ((size_t)1 << 20) || i % 50 == 0)
			size = (size_t)1 << 20;
		void *p = vmem_malloc(vmp, size);
		if (!p) {
			if (atomic_fetch_add(&failures, 1) < 3)
				printf("  malloc(%zu) failed: %s\n", size, vmem_errormsg());
		} else {
			memset(p, 0xab, size < 256 ? size : 256);
		}
		vmem_free(vmp, atomic_exchange(&slots[(unsigned)rand_r(&seed) % NSLOTS], p));
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: vmem_churn DIR [STEPS_PER_THREAD]\n");
		return 2;
	}
	if (argc > 2)
		steps = atol(argv[2]);
	vmp = vmem_create(argv[1], POOL);
	if (!vmp) {
		printf("vmem_create(%s): %s\n", argv[1], vmem_errormsg());
		return 1;
	}
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	struct pmalloc_stats st;
	pmalloc_vmem_stats(vmp, &st);
	printf("%d threads x %ld steps: %ld failed allocations; live %llu bytes of %zu\n",
			NTHREADS, steps, (long)failures, (unsigned long long)st.allocated, POOL);
	CHECK_BODY("no-false-exhaustion") {
		EXPECT_EQ(0, (long)failures);
	}
	for (int i = 0; i < NSLOTS; i++)
		vmem_free(vmp, slots[i]);
	CHECK_BODY("purge-after-threads") {
		EXPECT_EQ(0, pmalloc_vmem_purge(vmp));
		pmalloc_vmem_stats(vmp, &st);
		EXPECT_EQ(0, (long long)st.dirty);
		EXPECT_EQ(0, (long long)st.allocated);
	}
	CHECK("consistent", vmem_check(vmp) == 1);
	vmem_delete(vmp);
	return check_summary();
}
