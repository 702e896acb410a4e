/*
 * resumable_loop.c -- a computation that survives kill -9: one transaction per step
 *
 * The loop's whole state, the step count i and the running result, lives in the root
 * object of a pool. Each step snapshots the root, computes and commits in one
 * transaction: killed at any moment, the program resumes from the last committed
 * step, never from a half-done one.
 *
 *   resumable_loop POOL N          run (or resume) until N steps are done; print i, result
 *   resumable_loop --verify POOL   recompute the pool's i steps from scratch: exit 0 when
 *                                  the stored result agrees, 1 when it does not
 *
 * Build against pmalloc:
 *   inc=$(python -c 'import pmalloc; print(pmalloc.get_include())')
 *   lib=$(dirname "$(python -c 'import pmalloc; print(pmalloc.get_library())')")
 *   cc -O2 -I"$inc" resumable_loop.c -L"$lib" -lpmalloc -Wl,-rpath,"$lib" -o resumable_loop
 * or, unchanged, against PMDK:
 *   cc -O2 resumable_loop.c -lpmemobj -o resumable_loop
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpmemobj.h>

#define LAYOUT "resumable"

struct root {
	uint64_t i;        /* steps done */
	uint64_t result;   /* calculate() folded over steps 0 .. i-1, from 0 */
};

/* One step: a cheap, deterministic mix of the step number into the result. */
static uint64_t
calculate(uint64_t i, uint64_t result)
{
	uint64_t x = result + (i + 1) * 0x9E3779B97F4A7C15u;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
	return x ^ (x >> 31);
}

static int
verify(const char *path)
{
	PMEMobjpool *pop = pmemobj_open(path, LAYOUT);
	if (pop == NULL) {
		fprintf(stderr, "%s: %s\n", path, pmemobj_errormsg());
		return 2;
	}
	struct root *root = pmemobj_direct(pmemobj_root(pop, sizeof(struct root)));
	uint64_t expected = 0;
	for (uint64_t i = 0; i < root->i; i++)
		expected = calculate(i, expected);
	printf("i=%" PRIu64 " result=%" PRIu64 "\n", root->i, root->result);
	int ok = root->result == expected;
	if (!ok)
		fprintf(stderr, "after %" PRIu64 " steps the result should be %" PRIu64 "\n",
				root->i, expected);
	pmemobj_close(pop);
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--verify") == 0)
		return verify(argv[2]);
	if (argc != 3) {
		fprintf(stderr, "usage: %s POOL N\n       %s --verify POOL\n", argv[0], argv[0]);
		return 2;
	}
	const char *path = argv[1];
	uint64_t n = strtoull(argv[2], NULL, 0);

	PMEMobjpool *pop = pmemobj_open(path, LAYOUT);
	if (pop == NULL && errno == ENOENT)
		pop = pmemobj_create(path, LAYOUT, PMEMOBJ_MIN_POOL, 0666);
	if (pop == NULL) {
		fprintf(stderr, "%s: %s\n", path, pmemobj_errormsg());
		return 2;
	}
	struct root *root = pmemobj_direct(pmemobj_root(pop, sizeof(struct root)));

	for (; root->i < n; ) {
		TX_BEGIN(pop) {
			pmemobj_tx_add_range_direct(root, sizeof(*root));
			root->result = calculate(root->i, root->result);
			root->i++;
		} TX_ONABORT {
			fprintf(stderr, "step %" PRIu64 " aborted: %s\n", root->i,
					pmemobj_errormsg());
			exit(1);
		} TX_END
	}

	printf("i=%" PRIu64 " result=%" PRIu64 "\n", root->i, root->result);
	pmemobj_close(pop);
	return 0;
}
