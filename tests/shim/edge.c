/*
 * edge.c -- the malloc family's edge cases, as an ordinary program sees them
 *
 * Usage: edge [--pool DIR] [--dlopen LIB]
 *
 * Run plainly it checks glibc; run under the shim (LD_PRELOAD) it checks the
 * shim, and with --pool DIR also that the memory it gets back lies in a
 * "(deleted)" pool file under DIR (read from /proc/self/maps). With --dlopen
 * LIB the functions are taken from LIB by dlsym instead of by the program's
 * own symbol lookup: how the shim is checked in the sanitized build, where
 * AddressSanitizer's malloc would otherwise win. Expectations are those of
 * POSIX and glibc's manual pages, the same for every implementation run here.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "shim_check.h"

/* The functions under test, however they were found. */
static struct {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
} m;

static const char *pool_dir;   /* --pool: where the memory must live */
static size_t page;

static void
use_own_symbols(void)
{
	m.malloc = malloc;
	m.free = free;
	m.calloc = calloc;
	m.realloc = realloc;
	m.reallocarray = reallocarray;
	m.posix_memalign = posix_memalign;
	m.aligned_alloc = aligned_alloc;
	m.memalign = memalign;
	m.valloc = valloc;
	m.pvalloc = pvalloc;
	m.malloc_usable_size = malloc_usable_size;
}

/* dlsym into m's fields; false (with a message) when one is missing. */
static bool
use_library(const char *path)
{
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		printf("dlopen %s: %s\n", path, dlerror());
		return false;
	}
	struct { const char *name; void **slot; } syms[] = {
		{ "malloc", (void **)&m.malloc }, { "free", (void **)&m.free },
		{ "calloc", (void **)&m.calloc }, { "realloc", (void **)&m.realloc },
		{ "reallocarray", (void **)&m.reallocarray },
		{ "posix_memalign", (void **)&m.posix_memalign },
		{ "aligned_alloc", (void **)&m.aligned_alloc },
		{ "memalign", (void **)&m.memalign }, { "valloc", (void **)&m.valloc },
		{ "pvalloc", (void **)&m.pvalloc },
		{ "malloc_usable_size", (void **)&m.malloc_usable_size },
	};
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(lib, syms[i].name);
		if (!*syms[i].slot) {
			printf("dlsym %s in %s: %s\n", syms[i].name, path, dlerror());
			return false;
		}
	}
	return true;
}

/* With --pool: p lies in a deleted file under pool_dir. */
#define IN_POOL(p) in_pool(pool_dir, (p))

static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static void
check_null_and_zero(void)
{
	CHECK_BODY("free(NULL) and malloc_usable_size(NULL)") {
		m.free(NULL);
		EXPECT_EQ(0, m.malloc_usable_size(NULL));
	}
	CHECK_BODY("malloc(0) gives a pointer that can be freed") {
		void *p = m.malloc(0);
		EXPECT(p != NULL);        /* glibc's documented behaviour */
		EXPECT(IN_POOL(p));
		m.free(p);
	}
	CHECK_BODY("malloc(SIZE_MAX) and malloc(PTRDIFF_MAX + 1): NULL, ENOMEM") {
		errno = 0;
		EXPECT(m.malloc(SIZE_MAX) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
		errno = 0;
		EXPECT(m.malloc((size_t)PTRDIFF_MAX + 1) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
	}
}

static void
check_sizes(void)
{
	CHECK_BODY("malloc_usable_size >= the size asked, and all of it is usable") {
		for (size_t n = 1; n < ((size_t)4 << 20); n = n * 3 / 2 + 1) {
			unsigned char *p = m.malloc(n);
			EXPECT(p != NULL);
			if (!p)
				break;
			size_t u = m.malloc_usable_size(p);
			EXPECT_GE(u, n);
			fill(p, u, (unsigned)n);
			EXPECT(holds_fill(p, u, (unsigned)n));
			EXPECT(IN_POOL(p));
			m.free(p);
		}
	}
	CHECK_BODY("10000 live objects of mixed sizes keep their contents") {
		enum { N = 10000 };
		static unsigned char *objs[N];
		static size_t sz[N];
		for (unsigned i = 0; i < N; i++) {
			sz[i] = 1 + (i * 2654435761u) % (i % 50 == 0 ? 200000 : 700);
			objs[i] = m.malloc(sz[i]);
			EXPECT(objs[i] != NULL);
			if (objs[i])
				fill(objs[i], sz[i], i);
		}
		unsigned bad = 0;
		for (unsigned i = 0; i < N; i++)
			if (objs[i] && !holds_fill(objs[i], sz[i], i))
				bad++;
		EXPECT_EQ(0, bad);
		for (unsigned i = 0; i < N; i++)
			m.free(objs[i]);
	}
}

static void
check_calloc(void)
{
	CHECK_BODY("calloc: n * size overflows -> NULL, ENOMEM") {
		errno = 0;
		EXPECT(m.calloc(SIZE_MAX / 2, 4) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
		errno = 0;
		EXPECT(m.calloc((size_t)1 << 33, (size_t)1 << 33) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
	}
	CHECK_BODY("calloc zeroes memory that was used and freed before") {
		static const size_t sizes[] = { 24, 1000, 40000, (size_t)3 << 20 };
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			for (int round = 0; round < 3; round++) {
				unsigned char *d = m.malloc(sizes[k]);
				EXPECT(d != NULL);
				if (d) {
					memset(d, 0xA5, sizes[k]);
					m.free(d);
				}
				unsigned char *z = m.calloc(1, sizes[k]);
				EXPECT(z != NULL);
				if (z) {
					EXPECT(all_zero(z, sizes[k]));
					EXPECT(IN_POOL(z));
				}
				m.free(z);
			}
		}
	}
}

static void
check_realloc(void)
{
	CHECK_BODY("realloc(NULL, n) allocates") {
		void *p = m.realloc(NULL, 100);
		EXPECT(p != NULL);
		EXPECT_GE(m.malloc_usable_size(p), 100);
		m.free(p);
	}
	CHECK_BODY("realloc keeps the contents growing and shrinking") {
		size_t n = 10;
		unsigned char *p = m.malloc(n);
		fill(p, n, 3);
		static const size_t steps[] = { 100, 5000, 70000, (size_t)2 << 20,
			(size_t)9 << 20, 300000, 64, 4 };
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			unsigned char *q = m.realloc(p, steps[k]);
			EXPECT(q != NULL);
			if (!q)
				break;
			size_t keep = n < steps[k] ? n : steps[k];
			EXPECT(holds_fill(q, keep, 3));
			fill(q, steps[k], 3);
			EXPECT(IN_POOL(q));
			p = q;
			n = steps[k];
		}
		m.free(p);
	}
	CHECK_BODY("realloc(p, 0) frees p (1 GiB through it leaves no trace)") {
		/* 1024 x 1 MiB: under a pool smaller than 1 GiB, a realloc(p, 0)
		 * that kept p would exhaust it */
		for (int i = 0; i < 1024; i++) {
			void *p = m.malloc((size_t)1 << 20);
			EXPECT(p != NULL);
			if (!p)
				break;
			memset(p, 1, 4096);
			void *q = m.realloc(p, 0);
			EXPECT(q == NULL);    /* glibc: frees and returns NULL */
			m.free(q);
		}
	}
	CHECK_BODY("realloc(p, SIZE_MAX): NULL, ENOMEM, p untouched") {
		void *p = m.malloc(300);
		fill(p, 300, 9);
		errno = 0;
		EXPECT(m.realloc(p, SIZE_MAX) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
		EXPECT(holds_fill(p, 300, 9));
		m.free(p);
	}
	CHECK_BODY("reallocarray: overflow -> NULL, ENOMEM, p untouched; else a realloc") {
		unsigned char *p = m.malloc(64);
		fill(p, 64, 5);
		errno = 0;
		EXPECT(m.reallocarray(p, SIZE_MAX / 8, 16) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
		EXPECT(holds_fill(p, 64, 5));
		unsigned char *q = m.reallocarray(p, 1000, 16);
		EXPECT(q != NULL);
		if (q) {
			EXPECT(holds_fill(q, 64, 5));
			EXPECT_GE(m.malloc_usable_size(q), 16000);
			p = q;
		}
		m.free(p);
		errno = 0;
		EXPECT(m.reallocarray(NULL, (size_t)1 << 40, (size_t)1 << 40) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
	}
}

static void
check_aligned(void)
{
	CHECK_BODY("posix_memalign: a bad alignment -> EINVAL, out and errno untouched") {
		static const size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 48, 100, 4097 };
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			void *out = &out;
			errno = 1234;
			int rc = m.posix_memalign(&out, bad[k], 64);
			if (rc != EINVAL)
				printf("  alignment %zu:\n", bad[k]);
			EXPECT_ERRNO(EINVAL, rc);
			EXPECT(out == &out);
			EXPECT_EQ(1234, errno);
		}
	}
	CHECK_BODY("posix_memalign: good alignments, usable size, contents") {
		for (size_t a = sizeof(void *); a <= ((size_t)4 << 20); a <<= 1) {
			size_t sizes[] = { 1, a - 1, a + 1, 3 * a, 100000 };
			for (size_t k = 0; k < 5; k++) {
				void *p = NULL;
				int rc = m.posix_memalign(&p, a, sizes[k]);
				EXPECT_EQ(0, rc);
				if (rc)
					continue;
				EXPECT_EQ(0, (uintptr_t)p % a);
				EXPECT_GE(m.malloc_usable_size(p), sizes[k]);
				fill(p, sizes[k], (unsigned)a);
				EXPECT(holds_fill(p, sizes[k], (unsigned)a));
				EXPECT(IN_POOL(p));
				m.free(p);
			}
		}
	}
	CHECK_BODY("posix_memalign: a size too large -> ENOMEM, out untouched") {
		void *out = &out;
		EXPECT_ERRNO(ENOMEM, m.posix_memalign(&out, 64, SIZE_MAX - 100));
		EXPECT(out == &out);
	}
	CHECK_BODY("aligned_alloc and memalign") {
		for (size_t a = 16; a <= 65536; a <<= 2) {
			void *p = m.aligned_alloc(a, 4 * a);
			void *q = m.memalign(a, 100);
			EXPECT(p != NULL && q != NULL);
			EXPECT_EQ(0, (uintptr_t)p % a);
			EXPECT_EQ(0, (uintptr_t)q % a);
			EXPECT_GE(m.malloc_usable_size(p), 4 * a);
			EXPECT_GE(m.malloc_usable_size(q), 100);
			EXPECT(IN_POOL(p) && IN_POOL(q));
			m.free(p);
			m.free(q);
		}
		errno = 0;
		EXPECT(m.aligned_alloc(4096, SIZE_MAX / 4096 * 4096) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
	}
	CHECK_BODY("valloc: page-aligned; pvalloc: whole pages") {
		static const size_t sizes[] = { 1, 100, 4095, 4096, 4097, 50000 };
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			void *v = m.valloc(sizes[k]);
			void *pv = m.pvalloc(sizes[k]);
			EXPECT(v != NULL && pv != NULL);
			EXPECT_EQ(0, (uintptr_t)v % page);
			EXPECT_EQ(0, (uintptr_t)pv % page);
			EXPECT_GE(m.malloc_usable_size(v), sizes[k]);
			size_t whole = (sizes[k] + page - 1) / page * page;
			EXPECT_GE(m.malloc_usable_size(pv), whole);
			memset(pv, 7, whole);
			EXPECT(IN_POOL(v) && IN_POOL(pv));
			m.free(v);
			m.free(pv);
		}
		errno = 0;
		EXPECT(m.pvalloc(SIZE_MAX - 10) == NULL);
		EXPECT_ERRNO(ENOMEM, errno);
	}
}

int
main(int argc, char **argv)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	use_own_symbols();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pool") == 0 && i + 1 < argc) {
			pool_dir = argv[++i];
		} else if (strcmp(argv[i], "--dlopen") == 0 && i + 1 < argc) {
			if (!use_library(argv[++i]))
				return 2;
		} else {
			printf("usage: %s [--pool DIR] [--dlopen LIB]\n", argv[0]);
			return 2;
		}
	}
	check_null_and_zero();
	check_sizes();
	check_calloc();
	check_realloc();
	check_aligned();
	return check_summary();
}
