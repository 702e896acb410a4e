/*
 * kv_api.c -- pmalloc_kv.h from C: open flags, get/set/del, iteration, locks, errors
 *
 *   kv_api DIR   (a writable directory; stores are made and removed there)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pmalloc.h>
#include <pmalloc_kv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define MiB ((size_t)1 << 20)

static char path[4096];

static int
get_str(PMALLOC_KV *kv, const char *key, char *out, size_t cap)
{
	const char *v;
	size_t n;
	if (pmalloc_kv_get(kv, key, strlen(key), &v, &n) != 0)
		return -1;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = 0;
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	snprintf(path, sizeof(path), "%s/api.kv", argv[1]);
	unlink(path);
	char buf[256];

	CHECK_BODY("missing-file") {
		EXPECT(pmalloc_kv_open(path, 0, 0, 0600) == NULL);
		EXPECT_ERRNO(ENOENT, errno);
		EXPECT(pmalloc_kv_open(path, PMALLOC_KV_RDONLY, 0, 0600) == NULL);
		EXPECT_ERRNO(ENOENT, errno);
	}
	CHECK_BODY("bad-arguments") {
		EXPECT(pmalloc_kv_open(NULL, PMALLOC_KV_CREATE, 16 * MiB, 0600) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(pmalloc_kv_open(path, PMALLOC_KV_RDONLY | PMALLOC_KV_CREATE, 16 * MiB,
				0600) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(pmalloc_kv_open(path, PMALLOC_KV_CREATE, 1 * MiB, 0600) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(access(path, F_OK) != 0);            /* nothing left half made */
	}
	PMALLOC_KV *kv = pmalloc_kv_open(path, PMALLOC_KV_CREATE, 16 * MiB, 0600);
	CHECK("create", kv != NULL);
	if (!kv) {
		printf("  %s\n", pmalloc_errormsg());
		return check_summary();
	}
	CHECK_BODY("set-get-del") {
		EXPECT_EQ(0, pmalloc_kv_set(kv, "a", 1, "one", 3));
		EXPECT_EQ(0, pmalloc_kv_set(kv, "", 0, NULL, 0));          /* empty key and value */
		EXPECT_EQ(0, pmalloc_kv_set(kv, "a", 1, "uno", 3));        /* replaced */
		EXPECT_EQ(0, get_str(kv, "a", buf, sizeof(buf)));
		EXPECT(strcmp(buf, "uno") == 0);
		EXPECT_EQ(0, get_str(kv, "", buf, sizeof(buf)));
		EXPECT_EQ(0, (int)strlen(buf));
		EXPECT_EQ(2, (int)pmalloc_kv_count(kv));
		EXPECT_EQ(-1, get_str(kv, "b", buf, sizeof(buf)));
		EXPECT_ERRNO(ENOENT, errno);
		EXPECT_EQ(0, pmalloc_kv_del(kv, "", 0));
		EXPECT_EQ(-1, pmalloc_kv_del(kv, "", 0));
		EXPECT_ERRNO(ENOENT, errno);
		EXPECT_EQ(1, (int)pmalloc_kv_count(kv));
	}
	CHECK_BODY("null-arguments") {
		const char *v;
		size_t n;
		EXPECT_EQ(-1, pmalloc_kv_get(NULL, "a", 1, &v, &n));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT_EQ(-1, pmalloc_kv_set(kv, NULL, 3, "x", 1));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT_EQ(-1, pmalloc_kv_set(kv, "k", 1, NULL, 5));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT_EQ(0, (int)pmalloc_kv_count(NULL));
	}
	CHECK_BODY("grow-iterate-shrink") {
		char key[32];
		for (int i = 0; i < 5000; i++) {
			int n = snprintf(key, sizeof(key), "key%d", i);
			EXPECT_EQ(0, pmalloc_kv_set(kv, key, (size_t)n, key, (size_t)n));
		}
		EXPECT_EQ(5001, (int)pmalloc_kv_count(kv));
		/* every key once; replacing values on the way keeps the position valid */
		struct pmalloc_kv_iter it = { 0, 0, 0 };
		const char *k, *v;
		size_t kl, vl;
		int seen = 0;
		uint64_t shape = pmalloc_kv_shape(kv);
		while (pmalloc_kv_next(kv, &it, &k, &kl, &v, &vl) == 1) {
			seen++;
			char copy[32];
			memcpy(copy, k, kl);
			EXPECT_EQ(0, pmalloc_kv_set(kv, copy, kl, "v", 1));
		}
		EXPECT_EQ(5001, seen);
		EXPECT(shape == pmalloc_kv_shape(kv));
		for (int i = 0; i < 4990; i++) {
			int n = snprintf(key, sizeof(key), "key%d", i);
			EXPECT_EQ(0, pmalloc_kv_del(kv, key, (size_t)n));
		}
		EXPECT(shape != pmalloc_kv_shape(kv));
		EXPECT_EQ(11, (int)pmalloc_kv_count(kv));
		EXPECT_EQ(0, get_str(kv, "key4995", buf, sizeof(buf)));
		EXPECT(strcmp(buf, "v") == 0);
	}
	CHECK_BODY("full-store-changes-nothing") {
		size_t big = 4 * MiB;
		char *v = calloc(1, big);
		int stored = 0, err = 0;
		char key[32];
		for (int i = 0; i < 10 && !err; i++) {
			int n = snprintf(key, sizeof(key), "big%d", i);
			if (pmalloc_kv_set(kv, key, (size_t)n, v, big) == 0)
				stored++;
			else
				err = errno;
		}
		EXPECT_ERRNO(ENOMEM, err);
		EXPECT(stored >= 1);
		EXPECT_EQ(11 + stored, (int)pmalloc_kv_count(kv));
		for (int i = 0; i < stored; i++) {
			int n = snprintf(key, sizeof(key), "big%d", i);
			EXPECT_EQ(0, pmalloc_kv_del(kv, key, (size_t)n));
		}
		EXPECT_EQ(0, pmalloc_kv_set(kv, "big", 3, v, big));        /* the space came back */
		EXPECT_EQ(0, pmalloc_kv_del(kv, "big", 3));
		free(v);
	}
	CHECK_BODY("locked-while-open") {
		EXPECT(pmalloc_kv_open(path, 0, 0, 0) == NULL);
		EXPECT_ERRNO(EWOULDBLOCK, errno);
		EXPECT(pmalloc_kv_open(path, PMALLOC_KV_RDONLY, 0, 0) == NULL);
		EXPECT_ERRNO(EWOULDBLOCK, errno);
	}
	pmalloc_kv_close(kv);
	CHECK_BODY("read-only") {
		PMALLOC_KV *r1 = pmalloc_kv_open(path, PMALLOC_KV_RDONLY, 0, 0);
		PMALLOC_KV *r2 = pmalloc_kv_open(path, PMALLOC_KV_RDONLY, 0, 0);   /* shared */
		EXPECT(r1 != NULL && r2 != NULL);
		if (r1 && r2) {
			EXPECT_EQ(11, (int)pmalloc_kv_count(r2));
			EXPECT_EQ(-1, pmalloc_kv_set(r1, "x", 1, "y", 1));
			EXPECT_ERRNO(EROFS, errno);
			EXPECT(pmalloc_kv_open(path, 0, 0, 0) == NULL);    /* no writer while read */
			EXPECT_ERRNO(EWOULDBLOCK, errno);
			pmalloc_kv_close(r1);
			EXPECT_EQ(0, get_str(r2, "a", buf, sizeof(buf)));   /* set in the iteration */
			EXPECT(strcmp(buf, "v") == 0);
		}
		pmalloc_kv_close(r2);
	}
	CHECK_BODY("truncate-flag") {
		PMALLOC_KV *n = pmalloc_kv_open(path, PMALLOC_KV_TRUNC, 16 * MiB, 0600);
		EXPECT(n != NULL);
		EXPECT_EQ(0, (int)pmalloc_kv_count(n));
		pmalloc_kv_close(n);
	}
	CHECK_BODY("foreign-file") {
		char other[4200];
		snprintf(other, sizeof(other), "%s.foreign", path);
		int fd = open(other, O_CREAT | O_TRUNC | O_WRONLY, 0600);
		char junk[4096];
		memset(junk, 'x', sizeof(junk));
		for (int i = 0; i < 4096; i++)
			EXPECT_EQ((ssize_t)sizeof(junk), write(fd, junk, sizeof(junk)));
		close(fd);
		EXPECT(pmalloc_kv_open(other, 0, 0, 0) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(pmalloc_kv_open(other, PMALLOC_KV_RDONLY, 0, 0) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		unlink(other);
	}
	unlink(path);
	return check_summary();
}
