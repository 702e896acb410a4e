/*
 * vmem_api.c -- a program written only against libvmem's documented API
 *
 * Usage: vmem_api DIR
 *
 * The test builds it exactly as the documentation says,
 *     gcc -I"$(get_include)" vmem_api.c "$(get_library)"
 * and also with -std=c11 -Wall -Wextra -Werror. Only <libvmem.h> and the C
 * library are used; between the markers "--- stats to stderr ---" and
 * "--- end stats ---" vmem_stats_print writes to stderr with the default
 * print function.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <libvmem.h>

#include "check.h"

/* ---- A print function that keeps what it is given ----------------------- */

static char captured[1 << 16];
static size_t captured_len;
static unsigned long print_calls;

static void
capture_print(const char *s)
{
	print_calls++;
	size_t n = strlen(s);
	if (n > sizeof(captured) - 1 - captured_len)
		n = sizeof(captured) - 1 - captured_len;
	memcpy(captured + captured_len, s, n);
	captured_len += n;
	captured[captured_len] = '\0';
}

/* ---- Metadata functions that count what they hand out ------------------- */

static long live_meta;     /* blocks handed out and not yet freed */
static long meta_calls;    /* calls of any of the four */

static void *
count_malloc(size_t size)
{
	meta_calls++;
	void *p = malloc(size);
	if (p)
		live_meta++;
	return p;
}

static void
count_free(void *ptr)
{
	meta_calls++;
	if (ptr)
		live_meta--;
	free(ptr);
}

static void *
count_realloc(void *ptr, size_t size)
{
	meta_calls++;
	void *p = realloc(ptr, size);
	if (ptr == NULL && p != NULL)
		live_meta++;
	return p;
}

static char *
count_strdup(const char *s)
{
	meta_calls++;
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p) {
		memcpy(p, s, n);
		live_meta++;
	}
	return p;
}

int
main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];

	CHECK_BODY("check_version") {
		EXPECT(vmem_check_version(VMEM_MAJOR_VERSION, VMEM_MINOR_VERSION) == NULL);
		EXPECT(vmem_check_version(VMEM_MAJOR_VERSION, 0) == NULL);
		const char *newer_major = vmem_check_version(VMEM_MAJOR_VERSION + 1, 0);
		const char *newer_minor = vmem_check_version(VMEM_MAJOR_VERSION,
				VMEM_MINOR_VERSION + 1);
		EXPECT(newer_major != NULL && newer_major[0] != '\0');
		EXPECT(newer_minor != NULL && newer_minor[0] != '\0');
		EXPECT_EQ((size_t)14 << 20, VMEM_MIN_POOL);
	}

	CHECK_BODY("create-missing-dir") {
		errno = 0;
		VMEM *v = vmem_create("/nonexistent-pmalloc-test-dir/sub", VMEM_MIN_POOL);
		EXPECT(v == NULL);
		EXPECT_ERRNO(ENOENT, errno);
		const char *msg = vmem_errormsg();
		EXPECT(msg != NULL && msg[0] != '\0');
		if (msg)
			printf("  message: %s\n", msg);
	}

	CHECK_BODY("create-below-minimum") {
		errno = 0;
		VMEM *v = vmem_create(dir, VMEM_MIN_POOL - 1);
		EXPECT(v == NULL);
		EXPECT_ERRNO(EINVAL, errno);
	}

	VMEM *vmp = vmem_create(dir, VMEM_MIN_POOL);
	CHECK_BODY("create") {
		EXPECT(vmp != NULL);
		if (!vmp)
			printf("  errno %d, message %s\n", errno, vmem_errormsg());
	}
	if (vmp == NULL)
		return check_summary();

	/* the example of libvmem(7) */
	CHECK_BODY("malloc-hello") {
		char *ptr = vmem_malloc(vmp, 100);
		EXPECT(ptr != NULL);
		if (ptr) {
			strcpy(ptr, "hello, world");
			EXPECT(strcmp(ptr, "hello, world") == 0);
			EXPECT_LE(100, vmem_malloc_usable_size(vmp, ptr));
			vmem_free(vmp, ptr);
		}
	}

	CHECK_BODY("strdup") {
		const char *s = "a string copied into the pool";
		char *d = vmem_strdup(vmp, s);
		EXPECT(d != NULL);
		if (d) {
			EXPECT(d != s);
			EXPECT(strcmp(d, s) == 0);
			EXPECT_LE(strlen(s) + 1, vmem_malloc_usable_size(vmp, d));
			vmem_free(vmp, d);
		}
		char *e = vmem_strdup(vmp, "");
		EXPECT(e != NULL && e[0] == '\0');
		vmem_free(vmp, e);
	}

	CHECK_BODY("wcsdup") {
		const wchar_t *w = L"wide characters \u00e9\u00e8";
		wchar_t *d = vmem_wcsdup(vmp, w);
		EXPECT(d != NULL);
		if (d) {
			EXPECT(wcscmp(d, w) == 0);
			EXPECT_LE((wcslen(w) + 1) * sizeof(wchar_t),
					vmem_malloc_usable_size(vmp, d));
			vmem_free(vmp, d);
		}
	}

	CHECK_BODY("calloc") {
		unsigned char *p = vmem_calloc(vmp, 10, 100);
		EXPECT(p != NULL);
		size_t nonzero = 0;
		for (size_t i = 0; p && i < 1000; i++)
			nonzero += p[i] != 0;
		EXPECT_EQ(0, nonzero);
		vmem_free(vmp, p);
	}

	CHECK_BODY("realloc") {
		char *p = vmem_realloc(vmp, NULL, 64);  /* as vmem_malloc */
		EXPECT(p != NULL);
		if (p) {
			for (int i = 0; i < 64; i++)
				p[i] = (char)i;
			char *q = vmem_realloc(vmp, p, 100000);
			EXPECT(q != NULL);
			if (q) {
				int bad = 0;
				for (int i = 0; i < 64; i++)
					bad += q[i] != (char)i;
				EXPECT_EQ(0, bad);
				EXPECT_LE(100000, vmem_malloc_usable_size(vmp, q));
				p = q;
			}
			/* size 0 with a pointer: the same as vmem_free */
			errno = 0;
			q = vmem_realloc(vmp, p, 0);
			EXPECT(q == NULL);
		}
	}

	CHECK_BODY("aligned_alloc") {
		for (size_t a = 1; a <= ((size_t)1 << 20); a <<= 1) {
			void *p = vmem_aligned_alloc(vmp, a, 100);
			EXPECT(p != NULL);
			EXPECT_EQ(0, (uintptr_t)p % a);
			vmem_free(vmp, p);
		}
		errno = 0;
		EXPECT(vmem_aligned_alloc(vmp, 24, 100) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
	}

	CHECK_BODY("null-arguments") {
		EXPECT_EQ(0, vmem_malloc_usable_size(vmp, NULL));
		vmem_free(vmp, NULL);
	}

	CHECK_BODY("exhaust-minimum-pool") {
		enum { MAXP = 1024 };
		static void *ptrs[MAXP];
		size_t n = 0;
		errno = 0;
		while (n < MAXP && (ptrs[n] = vmem_malloc(vmp, 64 << 10)) != NULL)
			n++;
		int err = errno;
		printf("  %zu blocks of 64 KiB in a %zu-byte pool\n", n, VMEM_MIN_POOL);
		EXPECT(n < MAXP);
		EXPECT_ERRNO(ENOMEM, err);
		EXPECT_LE(n, VMEM_MIN_POOL / (64 << 10));
		EXPECT_GE(n, VMEM_MIN_POOL / (64 << 10) / 2);
		while (n > 0)
			vmem_free(vmp, ptrs[--n]);
		void *p = vmem_malloc(vmp, 64 << 10);
		EXPECT(p != NULL);
		vmem_free(vmp, p);
	}

	CHECK_BODY("stats_print-default") {
		void *keep = vmem_malloc(vmp, 1000);
		fflush(stdout);
		fprintf(stderr, "--- stats to stderr ---\n");
		vmem_stats_print(vmp, NULL);
		vmem_stats_print(vmp, "gbla");
		fprintf(stderr, "--- end stats ---\n");
		vmem_free(vmp, keep);
	}

	CHECK_BODY("stats_print-print_func") {
		vmem_set_funcs(NULL, NULL, NULL, NULL, capture_print);
		vmem_stats_print(vmp, NULL);
		size_t full = captured_len;
		printf("  %lu calls, %zu bytes\n", print_calls, captured_len);
		EXPECT(print_calls > 0);
		EXPECT(captured_len > 0);
		vmem_stats_print(vmp, "a");   /* without per-class rows */
		EXPECT(captured_len > full);
		vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);  /* the default again */
		unsigned long before = print_calls;
		fprintf(stderr, "--- stats to stderr ---\n");
		vmem_stats_print(vmp, "g");
		fprintf(stderr, "--- end stats ---\n");
		EXPECT_EQ(before, print_calls);
	}

	CHECK_BODY("set_funcs-metadata") {
		vmem_set_funcs(count_malloc, count_free, count_realloc, count_strdup, NULL);
		VMEM *v = vmem_create(dir, VMEM_MIN_POOL);
		EXPECT(v != NULL);
		if (v) {
			void *p = vmem_malloc(v, 10);
			EXPECT(p != NULL);
			vmem_free(v, p);
			EXPECT_EQ(1, vmem_check(v));
			vmem_delete(v);
		}
		vmem_set_funcs(NULL, NULL, NULL, NULL, NULL);
		printf("  %ld calls, %ld blocks left after vmem_delete\n", meta_calls, live_meta);
		EXPECT_EQ(0, live_meta);
	}

	CHECK_BODY("create_in_region") {
		size_t size = VMEM_MIN_POOL + ((size_t)2 << 20);
		char *raw = malloc(size + 4096);
		EXPECT(raw != NULL);
		if (raw) {
			char *addr = raw + (4096 - (uintptr_t)raw % 4096) % 4096;
			VMEM *v = vmem_create_in_region(addr, size);
			EXPECT(v != NULL);
			if (v) {
				char *p = vmem_malloc(v, 1000);
				char *q = vmem_malloc(v, 1 << 20);
				EXPECT(p != NULL && p >= addr && p + 1000 <= addr + size);
				EXPECT(q != NULL && q >= addr && q + (1 << 20) <= addr + size);
				if (p)
					memset(p, 1, 1000);
				if (q)
					memset(q, 2, 1 << 20);
				EXPECT_EQ(1, vmem_check(v));
				vmem_free(v, p);
				vmem_free(v, q);
				vmem_delete(v);
			}
			free(raw);
		}
	}

	CHECK("check", vmem_check(vmp) == 1);
	vmem_delete(vmp);
	return check_summary();
}
