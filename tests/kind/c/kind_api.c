/*
 * kind_api.c -- pmalloc's kinds through memkind's documented API only
 *
 *   kind_api DIR     (DIR: where pmem kinds put their files)
 */
#include <memkind.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define MiB ((size_t)1 << 20)

static const char *dir;

static void *
free_without_kind(void *arg)
{
	void **ptrs = arg;
	for (int i = 0; i < 1000; i++)
		memkind_free(NULL, ptrs[i]);
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: kind_api DIR\n");
		return 2;
	}
	dir = argv[1];
	char msg[MEMKIND_ERROR_MESSAGE_SIZE];

	CHECK_BODY("default-kind") {
		EXPECT_EQ(0, memkind_check_available(MEMKIND_DEFAULT));
		char *p = memkind_malloc(MEMKIND_DEFAULT, 100);
		EXPECT(p != NULL);
		memset(p, 1, 100);
		EXPECT(memkind_detect_kind(p) == MEMKIND_DEFAULT);
		EXPECT_GE(memkind_malloc_usable_size(NULL, p), 100);
		p = memkind_realloc(NULL, p, 100000);
		EXPECT(p != NULL && p[99] == 1);
		memkind_free(NULL, p);
		EXPECT(memkind_malloc(MEMKIND_DEFAULT, 0) == NULL);
	}

	CHECK_BODY("regular-kind") {
		EXPECT_EQ(0, memkind_check_available(MEMKIND_REGULAR));
		void *p = memkind_calloc(MEMKIND_REGULAR, 10, 1000);
		EXPECT(p != NULL && ((char *)p)[9999] == 0);
		EXPECT(memkind_detect_kind(p) == MEMKIND_REGULAR);
		memkind_free(MEMKIND_REGULAR, p);
	}

	CHECK_BODY("missing-hardware-fails-clearly") {
		/* this machine has no high-bandwidth nodes unless MEMKIND_HBW_NODES says so */
		if (getenv("MEMKIND_HBW_NODES"))
			continue;
		EXPECT_EQ(MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, memkind_check_available(MEMKIND_HBW));
		EXPECT_EQ(MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE,
				memkind_check_available(MEMKIND_HBW_PREFERRED));
		errno = 0;
		EXPECT(memkind_malloc(MEMKIND_HBW, 64) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
		void *p = memkind_malloc(MEMKIND_HBW_PREFERRED, 64);   /* falls back (documented) */
		EXPECT(p != NULL);
		memkind_free(NULL, p);
	}

	CHECK_BODY("error-messages") {
		memkind_error_message(MEMKIND_ERROR_INVALID, msg, sizeof(msg));
		EXPECT(strstr(msg, "invalid") != NULL);
		memkind_error_message(-9999, msg, sizeof(msg));
		EXPECT(strstr(msg, "unknown") != NULL);
		memkind_error_message(MEMKIND_ERROR_UNAVAILABLE, msg, 8);    /* truncated */
		EXPECT_EQ(7, strlen(msg));
	}

	memkind_t kind = NULL;
	CHECK_BODY("create-pmem") {
		EXPECT_EQ(MEMKIND_ERROR_INVALID, memkind_create_pmem(dir, MEMKIND_PMEM_MIN_SIZE - 1,
				&kind));
		EXPECT_EQ(MEMKIND_ERROR_INVALID, memkind_create_pmem("/nonexistent/dir", 0, &kind));
		EXPECT_EQ(MEMKIND_ERROR_INVALID, memkind_create_pmem(NULL, 0, &kind));
		EXPECT_EQ(0, memkind_create_pmem(dir, 32 * MiB, &kind));
		EXPECT(kind != NULL);
		EXPECT_NE(0, memkind_check_dax_path(dir));     /* tmpfs or a disk: no DAX */
	}

	CHECK_BODY("pmem-alloc-family") {
		char *p = memkind_malloc(kind, 1000);
		EXPECT(p != NULL);
		memset(p, 7, 1000);
		EXPECT(memkind_detect_kind(p) == kind);
		void *q = NULL;
		EXPECT_EQ(0, memkind_posix_memalign(kind, &q, 4096, 5000));
		EXPECT(q != NULL && (uintptr_t)q % 4096 == 0);
		EXPECT_EQ(EINVAL, memkind_posix_memalign(kind, &q, 3, 100));
		p = memkind_realloc(kind, p, 50000);
		EXPECT(p != NULL && p[999] == 7 && memkind_detect_kind(p) == kind);
		char *d = memkind_realloc(MEMKIND_DEFAULT, p, 2000);     /* moves to DEFAULT */
		EXPECT(d != NULL && d[999] == 7 && memkind_detect_kind(d) == MEMKIND_DEFAULT);
		memkind_free(NULL, d);
		memkind_free(kind, q);
		EXPECT(memkind_realloc(kind, memkind_malloc(kind, 10), 0) == NULL);
	}

	CHECK_BODY("pmem-exhaustion-and-recovery") {
		void *blocks[64];
		int n = 0;
		while (n < 64 && (blocks[n] = memkind_malloc(kind, MiB)) != NULL)
			n++;
		EXPECT(n > 16 && n < 40);                 /* a 32 MiB kind */
		errno = 0;
		EXPECT(memkind_malloc(kind, MiB) == NULL && errno == ENOMEM);
		for (int i = 0; i < n; i++)
			memkind_free(NULL, blocks[i]);
		void *again = memkind_malloc(kind, 16 * MiB);
		EXPECT(again != NULL);
		memkind_free(kind, again);
	}

	CHECK_BODY("stats") {
		void *p = memkind_malloc(kind, 3 * MiB);
		size_t allocated = 0, active = 0, resident = 0, total = 0;
		EXPECT_EQ(0, memkind_update_cached_stats());
		EXPECT_EQ(0, memkind_get_stat(kind, MEMKIND_STAT_TYPE_ALLOCATED, &allocated));
		EXPECT_EQ(0, memkind_get_stat(kind, MEMKIND_STAT_TYPE_ACTIVE, &active));
		EXPECT_EQ(0, memkind_get_stat(kind, MEMKIND_STAT_TYPE_RESIDENT, &resident));
		EXPECT_EQ(0, memkind_get_stat(NULL, MEMKIND_STAT_TYPE_ALLOCATED, &total));
		EXPECT_GE(allocated, 3 * MiB);
		EXPECT_GE(active, allocated);
		EXPECT_GE(resident, active);
		EXPECT_GE(total, allocated);
		EXPECT_EQ(MEMKIND_ERROR_INVALID,
				memkind_get_stat(kind, MEMKIND_STAT_TYPE_MAX_VALUE, &total));
		memkind_free(kind, p);
	}

	CHECK_BODY("free-without-kind-from-threads") {
		void *ptrs[4][1000];
		pthread_t t[4];
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 1000; j++)
				ptrs[i][j] = memkind_malloc(kind, (size_t)(16 + j % 300));
		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, free_without_kind, ptrs[i]);
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	}

	CHECK_BODY("defrag-reallocate") {
		enum { N = 4096 };
		void **objs = malloc(N * sizeof(void *));
		for (int i = 0; i < N; i++)
			objs[i] = memkind_malloc(kind, 96);
		for (int i = 0; i < N; i++)
			if (i % 16)
				memkind_free(kind, objs[i]), objs[i] = NULL;   /* sparse slabs */
		int moved = 0;
		for (int i = 0; i < N; i += 16) {
			void *to = memkind_defrag_reallocate(kind, objs[i]);
			if (to) {
				objs[i] = to;
				moved++;
			}
		}
		EXPECT(moved > 0);
		EXPECT(memkind_defrag_reallocate(NULL, NULL) == NULL);
		for (int i = 0; i < N; i += 16)
			memkind_free(NULL, objs[i]);
		free(objs);
	}

	CHECK_BODY("fork-child-keeps-working") {
		void *p = memkind_malloc(kind, 4096);
		memset(p, 5, 4096);
		pid_t pid = fork();
		if (pid == 0) {
			int ok = ((char *)p)[4095] == 5;
			void *q = memkind_malloc(kind, 100000);
			ok = ok && q != NULL;
			memkind_free(NULL, q);
			memkind_free(kind, p);
			_exit(ok ? 0 : 1);
		}
		int status = 0;
		waitpid(pid, &status, 0);
		EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		memkind_free(kind, p);
	}

	CHECK_BODY("destroy") {
		EXPECT_EQ(0, memkind_destroy_kind(kind));
		EXPECT_NE(0, memkind_destroy_kind(MEMKIND_DEFAULT));
	}

	CHECK_BODY("create-destroy-a-thousand-times") {
		for (int i = 0; i < 1000; i++) {
			memkind_t k = NULL;
			int err = memkind_create_pmem(dir, i % 2 ? 0 : 64 * MiB, &k);
			if (err) {
				memkind_error_message(err, msg, sizeof(msg));
				printf("  round %d: %s\n", i, msg);
				result = false;
				break;
			}
			void *p = memkind_malloc(k, (size_t)(i * 1000 + 1));
			if (!p)
				result = false;
			err = memkind_destroy_kind(k);
			if (err)
				result = false;
		}
	}

	CHECK_BODY("config") {
		struct memkind_config *cfg = memkind_config_new();
		memkind_config_set_path(cfg, dir);
		memkind_config_set_size(cfg, 64 * MiB);
		memkind_config_set_memory_usage_policy(cfg, MEMKIND_MEM_USAGE_POLICY_CONSERVATIVE);
		memkind_t k = NULL;
		EXPECT_EQ(0, memkind_create_pmem_with_config(cfg, &k));
		memkind_config_delete(cfg);
		void *p = memkind_malloc(k, 8 * MiB);
		memset(p, 1, 8 * MiB);
		memkind_free(k, p);
		size_t resident = 0;
		memkind_update_cached_stats();
		memkind_get_stat(k, MEMKIND_STAT_TYPE_RESIDENT, &resident);
		EXPECT_LE(resident, 4 * MiB);      /* conservative: given back at once */
		EXPECT_EQ(0, memkind_destroy_kind(k));
	}

	CHECK("version", memkind_get_version() >= 1014000);
	return check_summary();
}
