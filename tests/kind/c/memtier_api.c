/*
 * memtier_api.c -- tiers through memkind's memtier API (memkind_memtier.h)
 *
 *   memtier_api DIR
 */
#include <memkind_memtier.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MiB ((size_t)1 << 20)

int
main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	memkind_t pmem = NULL;
	if (memkind_create_pmem(argv[1], 0, &pmem) != 0)
		return 2;

	CHECK_BODY("builder-errors") {
		EXPECT(memtier_builder_new(MEMTIER_POLICY_MAX_VALUE) == NULL);
		struct memtier_builder *b = memtier_builder_new(MEMTIER_POLICY_STATIC_RATIO);
		EXPECT(memtier_builder_construct_memtier_memory(b) == NULL);     /* no tier */
		EXPECT_NE(0, memtier_builder_add_tier(b, MEMKIND_DEFAULT, 0));
		EXPECT_NE(0, memtier_builder_add_tier(b, NULL, 1));
		EXPECT_EQ(0, memtier_builder_add_tier(b, MEMKIND_DEFAULT, 1));
		EXPECT_NE(0, memtier_builder_add_tier(b, MEMKIND_DEFAULT, 2));   /* twice */
		size_t v = 4096;
		EXPECT_NE(0, memtier_ctl_set(b, "policy.no_such_thing", &v));
		EXPECT_EQ(0, memtier_ctl_set(b, "policy.dynamic_threshold.thresholds[0].val", &v));
		memtier_builder_delete(b);
	}

	CHECK_BODY("static-ratio") {
		struct memtier_builder *b = memtier_builder_new(MEMTIER_POLICY_STATIC_RATIO);
		memtier_builder_add_tier(b, MEMKIND_DEFAULT, 1);
		memtier_builder_add_tier(b, pmem, 4);
		struct memtier_memory *m = memtier_builder_construct_memtier_memory(b);
		memtier_builder_delete(b);
		EXPECT(m != NULL);
		size_t d0 = memtier_kind_allocated_size(MEMKIND_DEFAULT);
		void *p[2000];
		for (int i = 0; i < 2000; i++) {
			p[i] = memtier_malloc(m, 100 + (size_t)(i * 37 % 5000));
			memset(p[i], 3, 100);
		}
		double dram = (double)(memtier_kind_allocated_size(MEMKIND_DEFAULT) - d0);
		double pm = (double)memtier_kind_allocated_size(pmem);
		printf("  dram %.0f pmem %.0f\n", dram, pm);
		EXPECT(pm / dram > 3.6 && pm / dram < 4.4);
		void *q = memtier_realloc(m, p[0], 200000);
		EXPECT(q != NULL && ((char *)q)[99] == 3);
		p[0] = q;
		void *c = memtier_calloc(m, 100, 100);
		EXPECT(c != NULL && ((char *)c)[9999] == 0);
		void *a = NULL;
		EXPECT_EQ(0, memtier_posix_memalign(m, &a, 256, 1000));
		EXPECT(a != NULL && (uintptr_t)a % 256 == 0);
		EXPECT_GE(memtier_usable_size(a), 1000);
		memtier_free(a);
		memtier_free(c);
		for (int i = 0; i < 2000; i++)
			memtier_free(p[i]);
		EXPECT_EQ(0, memtier_kind_allocated_size(pmem));
		EXPECT_EQ(d0, memtier_kind_allocated_size(MEMKIND_DEFAULT));
		memtier_delete_memtier_memory(m);
	}

	CHECK_BODY("dynamic-threshold") {
		struct memtier_builder *b = memtier_builder_new(MEMTIER_POLICY_DYNAMIC_THRESHOLD);
		memtier_builder_add_tier(b, MEMKIND_DEFAULT, 1);
		memtier_builder_add_tier(b, pmem, 1);
		struct memtier_memory *m = memtier_builder_construct_memtier_memory(b);
		memtier_builder_delete(b);
		EXPECT(m != NULL);
		/* below the threshold (1024 by default): the first tier; far above: the second */
		void *small = memtier_malloc(m, 64), *big = memtier_malloc(m, 64 * 1024);
		EXPECT(memkind_detect_kind(small) == MEMKIND_DEFAULT);
		EXPECT(memkind_detect_kind(big) == pmem);
		memtier_free(small);
		memtier_free(big);
		memtier_delete_memtier_memory(m);
	}

	CHECK_BODY("kind-functions") {
		size_t before = memtier_kind_allocated_size(pmem);
		void *p = memtier_kind_malloc(pmem, 5000);
		EXPECT_GE(memtier_kind_allocated_size(pmem), before + 5000);
		p = memtier_kind_realloc(pmem, p, 50000);
		EXPECT_GE(memtier_kind_allocated_size(pmem), before + 50000);
		memtier_kind_free(NULL, p);
		EXPECT_EQ(before, memtier_kind_allocated_size(pmem));
	}

	memkind_destroy_kind(pmem);
	return check_summary();
}
