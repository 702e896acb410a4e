/*
 * obj_api.c -- libpmemobj's pools and atomic API through PMDK's documented behaviour only
 *
 * The expectations are those of PMDK 1.12's man pages (pmemobj_open(3), pmemobj_root(3),
 * pmemobj_alloc(3), pmemobj_first(3), pmemobj_direct(3), pmemobj_memcpy_persist(3),
 * libpmemobj(7)); the program passes unchanged against Debian's libpmemobj (-lpmemobj)
 * and against pmalloc's. No PMDK-specific number is asserted: not how many objects fit,
 * not the usable size of an allocation beyond "at least what was asked".
 *
 *   obj_api DIR   (a writable directory; pool files are made and removed there)
 */
#define _GNU_SOURCE
#include <libpmemobj.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "check.h"

#define MiB ((size_t)1 << 20)
#define LAYOUT "obj_api"

#include "objtest.h"

struct foo {
	uint64_t a;
	char text[48];
};
struct bar {
	uint64_t b[4];
};
TOID_DECLARE(struct foo, 2);
TOID_DECLARE(struct bar, 3);

/* ---- constructors ------------------------------------------------------------------- */

struct ctor_log {
	int calls;
	PMEMobjpool *pop;
	void *ptr;
	size_t root_size_seen;   /* pmemobj_root_size() inside a root constructor */
	int fail;                /* return this */
};

static int
ctor_fill(PMEMobjpool *pop, void *ptr, void *arg)
{
	struct ctor_log *log = arg;
	log->calls++;
	log->pop = pop;
	log->ptr = ptr;
	if (log->fail)
		return log->fail;
	memset(ptr, 0xC5, 256);
	pmemobj_persist(pop, ptr, 256);
	return 0;
}

static int
ctor_root(PMEMobjpool *pop, void *ptr, void *arg)
{
	struct ctor_log *log = arg;
	log->calls++;
	log->pop = pop;
	log->ptr = ptr;
	log->root_size_seen = pmemobj_root_size(pop);
	if (log->fail)
		return log->fail;
	memset(ptr, 0x5A, 16);
	pmemobj_persist(pop, ptr, 16);
	return 0;
}

/* ---- threads ------------------------------------------------------------------------ */

#define THREADS 4
#define THREAD_OPS 3000
#define THREAD_KEEP 64

static PMEMobjpool *shared;

struct worker {
	uint64_t type;        /* 10 + thread index: each thread's objects by type */
	size_t kept;          /* objects alive when the thread ends */
	int bad;              /* failures seen by the thread */
};

static void *
alloc_free_worker(void *arg)
{
	struct worker *w = arg;
	PMEMoid mine[THREAD_KEEP];
	size_t sizes[THREAD_KEEP];
	uint64_t rng = w->type * 0x2545F4914F6CDD1Du;
	for (int i = 0; i < THREAD_KEEP; i++)
		mine[i] = OID_NULL;
	for (int op = 0; op < THREAD_OPS; op++) {
		rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
		int k = (int)(rng % THREAD_KEEP);
		if (OID_IS_NULL(mine[k])) {
			size_t size = 16 + (size_t)(rng >> 40) % 3000;
			if (pmemobj_alloc(shared, &mine[k], size, w->type, NULL, NULL) != 0) {
				w->bad++;
				continue;
			}
			sizes[k] = size;
			fill(pmemobj_direct(mine[k]), w->type + (uint64_t)k, size);
			pmemobj_persist(shared, pmemobj_direct(mine[k]), size);
		} else {
			if (!holds(pmemobj_direct(mine[k]), w->type + (uint64_t)k, sizes[k]))
				w->bad++;
			if (pmemobj_type_num(mine[k]) != w->type)
				w->bad++;
			pmemobj_free(&mine[k]);
			if (!OID_IS_NULL(mine[k]))
				w->bad++;
		}
	}
	w->kept = 0;
	for (int k = 0; k < THREAD_KEEP; k++)
		if (!OID_IS_NULL(mine[k])) {
			w->kept++;
			if (!holds(pmemobj_direct(mine[k]), w->type + (uint64_t)k, sizes[k]))
				w->bad++;
		}
	return NULL;
}

static const char *other_thread_msg;

static void *
fail_in_thread(void *arg)
{
	(void)arg;
	char path[4096];
	if (pmemobj_open(pool_path(path, sizeof(path), "no/such/dir.obj"), NULL) == NULL)
		other_thread_msg = strdup(pmemobj_errormsg());
	return NULL;
}

/* ---- exhaustion ---------------------------------------------------------------------- */

struct oids {
	PMEMoid *v;
	size_t n, cap;
};

static void
oids_push(struct oids *a, PMEMoid oid)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 1024;
		a->v = realloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = oid;
}

/* Allocate `size`-byte objects until the pool refuses; their number, errno of the refusal. */
static size_t
fill_pool(PMEMobjpool *pop, size_t size, struct oids *a, int *err)
{
	size_t before = a->n;
	for (;;) {
		PMEMoid oid;
		errno = 0;
		if (pmemobj_alloc(pop, &oid, size, 7, NULL, NULL) != 0) {
			*err = errno;
			return a->n - before;
		}
		*(uint64_t *)pmemobj_direct(oid) = a->n;
		oids_push(a, oid);
	}
}

static void
free_all(struct oids *a)
{
	for (size_t i = 0; i < a->n; i++)
		pmemobj_free(&a->v[i]);
	a->n = 0;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	objtest_dir = argv[1];
	char path[4096], path2[4096];

	CHECK_BODY("check-version") {
		EXPECT(pmemobj_check_version(PMEMOBJ_MAJOR_VERSION, PMEMOBJ_MINOR_VERSION) == NULL);
		EXPECT(pmemobj_check_version(PMEMOBJ_MAJOR_VERSION, 0) == NULL);
		const char *why = pmemobj_check_version(PMEMOBJ_MAJOR_VERSION + 1, 0);
		EXPECT(why != NULL && strlen(why) > 0);
		EXPECT(pmemobj_check_version(PMEMOBJ_MAJOR_VERSION, PMEMOBJ_MINOR_VERSION + 1) != NULL);
	}

	/* ---- pools ---- */

	pool_path(path, sizeof(path), "api.obj");
	unlink(path);
	CHECK_BODY("create-errors") {
		errno = 0;
		EXPECT(pmemobj_create(path, LAYOUT, PMEMOBJ_MIN_POOL - 1, 0600) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(strlen(pmemobj_errormsg()) > 0);
		char layout[PMEMOBJ_MAX_LAYOUT + 1];
		memset(layout, 'x', PMEMOBJ_MAX_LAYOUT);
		layout[PMEMOBJ_MAX_LAYOUT] = '\0';   /* one byte too long with its '\0' */
		errno = 0;
		EXPECT(pmemobj_create(path, layout, PMEMOBJ_MIN_POOL, 0600) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		errno = 0;
		EXPECT(pmemobj_open(path, LAYOUT) == NULL);        /* never made */
		EXPECT_ERRNO(ENOENT, errno);
		EXPECT(strlen(pmemobj_errormsg()) > 0);
		EXPECT(access(path, F_OK) != 0);
		errno = 0;
		EXPECT(pmemobj_create(path, LAYOUT, 0, 0600) == NULL);   /* size 0, no file */
		EXPECT_ERRNO(ENOENT, errno);
	}

	/* roomy: PMDK keeps a run per size class, so a minimum pool runs out early */
	PMEMobjpool *pop = pmemobj_create(path, LAYOUT, 8 * PMEMOBJ_MIN_POOL, 0600);
	CHECK_BODY("create") {
		EXPECT(pop != NULL);
		struct stat st;
		EXPECT(stat(path, &st) == 0 && (size_t)st.st_size == 8 * PMEMOBJ_MIN_POOL);
		EXPECT_EQ(0600, st.st_mode & 0777);
		errno = 0;
		EXPECT(pmemobj_create(path, LAYOUT, 8 * PMEMOBJ_MIN_POOL, 0600) == NULL);
		EXPECT_ERRNO(EEXIST, errno);
		EXPECT(pmemobj_get_user_data(pop) == NULL);
		pmemobj_set_user_data(pop, path);
		EXPECT(pmemobj_get_user_data(pop) == path);
	}
	if (pop == NULL)
		return check_summary();

	/* ---- root ---- */

	PMEMoid root;
	CHECK_BODY("root") {
		EXPECT_EQ(0, pmemobj_root_size(pop));
		errno = 0;
		root = pmemobj_root(pop, 0);                 /* no root yet: not allocated */
		EXPECT(OID_IS_NULL(root));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT_EQ(0, pmemobj_root_size(pop));
		root = pmemobj_root(pop, 100);
		EXPECT(!OID_IS_NULL(root));
		EXPECT_EQ(100, pmemobj_root_size(pop));
		EXPECT(all_bytes(pmemobj_direct(root), 0, 100));
		EXPECT(pmemobj_alloc_usable_size(root) >= 100);
		EXPECT(OID_EQUALS(root, pmemobj_root(pop, 100)));
		EXPECT(OID_EQUALS(root, pmemobj_root(pop, 10)));    /* smaller: unchanged */
		EXPECT(OID_EQUALS(root, pmemobj_root(pop, 0)));     /* exists: returned */
		EXPECT_EQ(100, pmemobj_root_size(pop));
		fill(pmemobj_direct(root), 1, 100);
		pmemobj_persist(pop, pmemobj_direct(root), 100);

		root = pmemobj_root(pop, 5000);                 /* grow: keeps, zeroes the rest */
		EXPECT(!OID_IS_NULL(root));
		EXPECT_EQ(5000, pmemobj_root_size(pop));
		EXPECT(holds(pmemobj_direct(root), 1, 100));
		EXPECT(all_bytes((char *)pmemobj_direct(root) + 100, 0, 4900));
		EXPECT(OID_EQUALS(root, pmemobj_root(pop, 5000)));
		errno = 0;
		EXPECT(OID_IS_NULL(pmemobj_root(pop, PMEMOBJ_MAX_ALLOC_SIZE + 1)));
		EXPECT_ERRNO(ENOMEM, errno);
		EXPECT_EQ(5000, pmemobj_root_size(pop));
		EXPECT(holds(pmemobj_direct(root), 1, 100));
	}

	CHECK_BODY("root-construct") {
		PMEMobjpool *p2 = fresh_pool("root.obj", PMEMOBJ_MIN_POOL);
		EXPECT(p2 != NULL);
		if (p2 == NULL)
			continue;
		struct ctor_log log = { .fail = 7 };
		errno = 0;
		EXPECT(OID_IS_NULL(pmemobj_root_construct(p2, 64, ctor_root, &log)));
		EXPECT_ERRNO(ECANCELED, errno);
		EXPECT_EQ(1, log.calls);
		EXPECT_EQ(0, pmemobj_root_size(p2));          /* canceled: still no root */

		log = (struct ctor_log){ 0 };
		PMEMoid r = pmemobj_root_construct(p2, 64, ctor_root, &log);
		EXPECT(!OID_IS_NULL(r));
		EXPECT_EQ(1, log.calls);
		EXPECT(log.pop == p2 && log.ptr == pmemobj_direct(r));
		EXPECT_EQ(0, log.root_size_seen);             /* the first call sees no root */
		EXPECT(all_bytes(pmemobj_direct(r), 0x5A, 16));
		EXPECT_EQ(64, pmemobj_root_size(p2));
		EXPECT(OID_EQUALS(r, pmemobj_root_construct(p2, 64, ctor_root, &log)));
		EXPECT_EQ(1, log.calls);                      /* no new allocation: no call */
		r = pmemobj_root_construct(p2, 4096, ctor_root, &log);   /* reallocation */
		EXPECT(!OID_IS_NULL(r));
		EXPECT_EQ(2, log.calls);
		EXPECT(log.root_size_seen != 0);
		EXPECT_EQ(4096, pmemobj_root_size(p2));
		drop_pool(p2, "root.obj");
	}

	/* ---- handles ---- */

	CHECK_BODY("oid-null") {
		PMEMoid n = OID_NULL;
		EXPECT(OID_IS_NULL(n));
		EXPECT(OID_EQUALS(n, OID_NULL));
		EXPECT(!OID_EQUALS(n, root));
		EXPECT(OID_EQUALS(root, root));
		EXPECT(pmemobj_direct(OID_NULL) == NULL);
		EXPECT(pmemobj_pool_by_oid(OID_NULL) == NULL);
		EXPECT_EQ(0, pmemobj_alloc_usable_size(OID_NULL));
		EXPECT(OID_IS_NULL(pmemobj_next(OID_NULL)));
		TOID(struct foo) t = TOID_NULL(struct foo);
		EXPECT(TOID_IS_NULL(t));
	}

	CHECK_BODY("direct-oid-pool") {
		PMEMoid oid;
		EXPECT_EQ(0, pmemobj_alloc(pop, &oid, 1000, 1, NULL, NULL));
		char *p = pmemobj_direct(oid);
		EXPECT(p != NULL);
		/* pmemobj_alloc(3) promises cache-line alignment, but PMDK 1.12 puts the data
		 * of small objects after a 16-byte header: what it keeps is malloc's 16 */
		EXPECT_EQ(0, (uintptr_t)p % 16);
		EXPECT(OID_EQUALS(oid, pmemobj_oid(p)));
		EXPECT(pmemobj_pool_by_oid(oid) == pop);
		EXPECT(pmemobj_pool_by_ptr(p) == pop);
		EXPECT(pmemobj_pool_by_ptr(p + 999) == pop);
		EXPECT(pmemobj_pool_by_ptr(pmemobj_direct(root)) == pop);
		int local;
		EXPECT(pmemobj_pool_by_ptr(&local) == NULL);
		EXPECT(OID_IS_NULL(pmemobj_oid(&local)));
		/* an interior pointer: direct() of its oid comes back to it */
		PMEMoid inner = pmemobj_oid(p + 100);
		EXPECT(pmemobj_direct(inner) == p + 100);
		EXPECT(pmemobj_pool_by_oid(inner) == pop);

		PMEMobjpool *p2 = fresh_pool("second.obj", PMEMOBJ_MIN_POOL);
		EXPECT(p2 != NULL);
		if (p2 != NULL) {
			PMEMoid o2;
			EXPECT_EQ(0, pmemobj_alloc(p2, &o2, 1000, 1, NULL, NULL));
			EXPECT(!OID_EQUALS(o2, oid));
			EXPECT(o2.pool_uuid_lo != oid.pool_uuid_lo);
			EXPECT(pmemobj_pool_by_oid(o2) == p2);
			EXPECT(pmemobj_pool_by_ptr(pmemobj_direct(o2)) == p2);
			EXPECT(OID_EQUALS(o2, pmemobj_oid(pmemobj_direct(o2))));
			drop_pool(p2, "second.obj");
		}
		pmemobj_free(&oid);
	}

	/* ---- atomic allocations ---- */

	size_t base = count_objects(pop);
	CHECK_BODY("alloc-invalid") {
		PMEMoid keep = { 12345, 678 };
		PMEMoid oid = keep;
		errno = 0;
		EXPECT_EQ(-1, pmemobj_alloc(pop, &oid, 0, 1, NULL, NULL));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(OID_EQUALS(oid, keep));
		errno = 0;
		EXPECT_EQ(-1, pmemobj_zalloc(pop, &oid, 0, 1));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(OID_EQUALS(oid, keep));
		errno = 0;
		EXPECT_EQ(-1, pmemobj_xalloc(pop, &oid, 0, 1, POBJ_XALLOC_ZERO, NULL, NULL));
		EXPECT_ERRNO(EINVAL, errno);
		errno = 0;
		EXPECT_EQ(-1, pmemobj_xalloc(pop, &oid, 64, 1, (uint64_t)1 << 20, NULL, NULL));
		EXPECT_ERRNO(EINVAL, errno);                  /* not a flag */
		EXPECT(OID_EQUALS(oid, keep));
		errno = 0;
		EXPECT_EQ(-1, pmemobj_alloc(pop, &oid, PMEMOBJ_MAX_ALLOC_SIZE + 1, 1, NULL, NULL));
		EXPECT_ERRNO(ENOMEM, errno);
		EXPECT(OID_EQUALS(oid, keep));
		EXPECT(strlen(pmemobj_errormsg()) > 0);
		errno = 0;
		EXPECT_EQ(-1, pmemobj_strdup(pop, &oid, NULL, 1));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(OID_EQUALS(oid, keep));
		errno = 0;
		EXPECT_EQ(-1, pmemobj_wcsdup(pop, &oid, NULL, 1));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(OID_EQUALS(oid, keep));
		EXPECT_EQ(base, count_objects(pop));
	}

	CHECK_BODY("alloc-constructor") {
		struct ctor_log log = { 0 };
		PMEMoid oid;
		EXPECT_EQ(0, pmemobj_alloc(pop, &oid, 300, 4, ctor_fill, &log));
		EXPECT_EQ(1, log.calls);
		EXPECT(log.pop == pop && log.ptr == pmemobj_direct(oid));
		EXPECT(all_bytes(pmemobj_direct(oid), 0xC5, 256));
		EXPECT_EQ(4, pmemobj_type_num(oid));
		EXPECT(pmemobj_alloc_usable_size(oid) >= 300);
		EXPECT_EQ(base + 1, count_objects(pop));

		PMEMoid keep = { 1, 2 }, failed = keep;
		log = (struct ctor_log){ .fail = 1 };
		errno = 0;
		EXPECT_EQ(-1, pmemobj_alloc(pop, &failed, 300, 4, ctor_fill, &log));
		EXPECT_ERRNO(ECANCELED, errno);
		EXPECT_EQ(1, log.calls);
		EXPECT(OID_EQUALS(failed, keep));
		log = (struct ctor_log){ .fail = -5 };
		errno = 0;
		EXPECT_EQ(-1, pmemobj_xalloc(pop, &failed, 300, 4, POBJ_XALLOC_ZERO, ctor_fill, &log));
		EXPECT_ERRNO(ECANCELED, errno);
		EXPECT_EQ(base + 1, count_objects(pop));    /* nothing allocated */
		EXPECT_EQ(1, count_type(pop, 4));
		pmemobj_free(&oid);
		EXPECT(OID_IS_NULL(oid));
		EXPECT_EQ(base, count_objects(pop));
	}

	CHECK_BODY("alloc-zalloc-xalloc") {
		/* dirty memory first, so that zeroing is seen, not inherited */
		PMEMoid dirty[8];
		for (int i = 0; i < 8; i++) {
			EXPECT_EQ(0, pmemobj_alloc(pop, &dirty[i], 2000, 5, NULL, NULL));
			memset(pmemobj_direct(dirty[i]), 0xEE, 2000);
			pmemobj_persist(pop, pmemobj_direct(dirty[i]), 2000);
		}
		for (int i = 0; i < 8; i++)
			pmemobj_free(&dirty[i]);
		PMEMoid z, x, a;
		EXPECT_EQ(0, pmemobj_zalloc(pop, &z, 2000, 5));
		EXPECT(all_bytes(pmemobj_direct(z), 0, 2000));
		EXPECT_EQ(0, pmemobj_xalloc(pop, &x, 2000, 6, POBJ_XALLOC_ZERO, NULL, NULL));
		EXPECT(all_bytes(pmemobj_direct(x), 0, 2000));
		EXPECT_EQ(6, pmemobj_type_num(x));
		EXPECT_EQ(0, pmemobj_xalloc(pop, &a, 2000, 6, 0, NULL, NULL));
		EXPECT(pmemobj_alloc_usable_size(a) >= 2000);
		for (size_t size = 1; size <= (size_t)1 << 22; size = size * 3 + 1) {
			PMEMoid o;
			int ret = pmemobj_alloc(pop, &o, size, 8, NULL, NULL);
			EXPECT_EQ(0, ret);
			if (ret != 0) {
				printf("  size %zu: %s\n", size, pmemobj_errormsg());
				continue;
			}
			EXPECT(pmemobj_alloc_usable_size(o) >= size);
			EXPECT_EQ(0, (uintptr_t)pmemobj_direct(o) % 16);
			fill(pmemobj_direct(o), size, size);   /* the whole usable range is ours */
			pmemobj_free(&o);
		}
		EXPECT_EQ(base + 3, count_objects(pop));
		pmemobj_free(&z);
		pmemobj_free(&x);
		pmemobj_free(&a);
	}

	CHECK_BODY("alloc-without-destination") {
		EXPECT_EQ(0, pmemobj_alloc(pop, NULL, 128, 9, NULL, NULL));
		EXPECT_EQ(0, pmemobj_zalloc(pop, NULL, 128, 9));
		EXPECT_EQ(0, pmemobj_strdup(pop, NULL, "found by iteration", 9));
		EXPECT_EQ(3, count_type(pop, 9));
		PMEMoid o, next;
		POBJ_FOREACH_SAFE(pop, o, next)
			if (pmemobj_type_num(o) == 9)
				pmemobj_free(&o);
		EXPECT_EQ(0, count_type(pop, 9));
		EXPECT_EQ(base, count_objects(pop));
	}

	CHECK_BODY("destination-in-the-pool") {
		/* oidp inside the root: set (and cleared) atomically, and still there after */
		PMEMoid *slot = (PMEMoid *)((char *)pmemobj_direct(root) + 1024);
		EXPECT(OID_IS_NULL(*slot));
		EXPECT_EQ(0, pmemobj_zalloc(pop, slot, 64, 10));
		EXPECT(!OID_IS_NULL(*slot));
		EXPECT(pmemobj_pool_by_oid(*slot) == pop);
		EXPECT_EQ(0, pmemobj_realloc(pop, slot, 640, 10));
		EXPECT(!OID_IS_NULL(*slot));
		EXPECT(pmemobj_alloc_usable_size(*slot) >= 640);
		pmemobj_free(slot);
		EXPECT(OID_IS_NULL(*slot));
	}

	CHECK_BODY("realloc-zrealloc") {
		PMEMoid o;
		EXPECT_EQ(0, pmemobj_alloc(pop, &o, 100, 11, NULL, NULL));
		fill(pmemobj_direct(o), 42, 100);
		pmemobj_persist(pop, pmemobj_direct(o), 100);
		EXPECT_EQ(0, pmemobj_realloc(pop, &o, 50000, 12));     /* grow, retype */
		EXPECT(pmemobj_alloc_usable_size(o) >= 50000);
		EXPECT(holds(pmemobj_direct(o), 42, 100));
		EXPECT_EQ(12, pmemobj_type_num(o));
		EXPECT_EQ(0, count_type(pop, 11));
		EXPECT_EQ(1, count_type(pop, 12));
		fill(pmemobj_direct(o), 43, 50000);
		pmemobj_persist(pop, pmemobj_direct(o), 50000);
		EXPECT_EQ(0, pmemobj_realloc(pop, &o, 30, 12));        /* shrink */
		EXPECT(pmemobj_alloc_usable_size(o) >= 30);
		EXPECT(holds(pmemobj_direct(o), 43, 30));
		/* zrealloc zeroes what lies past the old object, and the old object is its
		 * whole usable size (PMDK keeps bytes past the 30 asked for): fill it all */
		size_t old = pmemobj_alloc_usable_size(o);
		fill(pmemobj_direct(o), 44, old);
		pmemobj_persist(pop, pmemobj_direct(o), old);
		EXPECT_EQ(0, pmemobj_zrealloc(pop, &o, 300000, 13));   /* zero-extend */
		EXPECT(holds(pmemobj_direct(o), 44, old));
		EXPECT(all_bytes((char *)pmemobj_direct(o) + old, 0, 300000 - old));
		EXPECT_EQ(13, pmemobj_type_num(o));
		EXPECT_EQ(0, pmemobj_zrealloc(pop, &o, 300, 13));      /* shrink: kept */
		EXPECT(holds(pmemobj_direct(o), 44, old < 300 ? old : 300));
		if (old < 300)
			EXPECT(all_bytes((char *)pmemobj_direct(o) + old, 0, 300 - old));
		EXPECT_EQ(0, pmemobj_realloc(pop, &o, 0, 13));         /* size 0: free */
		EXPECT(OID_IS_NULL(o));
		EXPECT_EQ(0, count_type(pop, 13));
		PMEMoid n = OID_NULL;
		EXPECT_EQ(0, pmemobj_realloc(pop, &n, 70, 14));        /* from OID_NULL: alloc */
		EXPECT(!OID_IS_NULL(n));
		EXPECT(pmemobj_alloc_usable_size(n) >= 70);
		EXPECT_EQ(14, pmemobj_type_num(n));
		PMEMoid zn = OID_NULL;
		EXPECT_EQ(0, pmemobj_zrealloc(pop, &zn, 70, 14));
		EXPECT(all_bytes(pmemobj_direct(zn), 0, 70));
		EXPECT_EQ(2, count_type(pop, 14));
		pmemobj_free(&n);
		pmemobj_free(&zn);
		EXPECT_EQ(base, count_objects(pop));
	}

	CHECK_BODY("strdup-wcsdup") {
		const char *s = "persistent memory";
		const wchar_t *w = L"persistent \u00e9t\u00e9";
		PMEMoid so, wo, eo;
		EXPECT_EQ(0, pmemobj_strdup(pop, &so, s, 15));
		EXPECT(strcmp(pmemobj_direct(so), s) == 0);
		EXPECT(pmemobj_alloc_usable_size(so) >= strlen(s) + 1);
		EXPECT_EQ(15, pmemobj_type_num(so));
		EXPECT_EQ(0, pmemobj_wcsdup(pop, &wo, w, 16));
		EXPECT(wcscmp(pmemobj_direct(wo), w) == 0);
		EXPECT(pmemobj_alloc_usable_size(wo) >= (wcslen(w) + 1) * sizeof(wchar_t));
		EXPECT_EQ(16, pmemobj_type_num(wo));
		EXPECT_EQ(0, pmemobj_strdup(pop, &eo, "", 15));
		EXPECT(strcmp(pmemobj_direct(eo), "") == 0);
		pmemobj_free(&so);
		pmemobj_free(&wo);
		pmemobj_free(&eo);
		EXPECT(OID_IS_NULL(so) && OID_IS_NULL(wo) && OID_IS_NULL(eo));
	}

	CHECK_BODY("free") {
		PMEMoid o, copy;
		EXPECT_EQ(0, pmemobj_alloc(pop, &o, 64, 17, NULL, NULL));
		copy = o;
		pmemobj_free(&o);
		EXPECT(OID_IS_NULL(o));
		EXPECT(!OID_IS_NULL(copy));
		PMEMoid n = OID_NULL;
		pmemobj_free(&n);                             /* a no-op */
		EXPECT(OID_IS_NULL(n));
		EXPECT_EQ(base, count_objects(pop));
		/* the freed memory is reusable */
		EXPECT_EQ(0, pmemobj_alloc(pop, &o, 64, 17, NULL, NULL));
		pmemobj_free(&o);
		EXPECT_EQ(base, count_objects(pop));
	}

	/* ---- iteration ---- */

	CHECK_BODY("iterate-empty") {
		PMEMobjpool *p2 = fresh_pool("empty.obj", PMEMOBJ_MIN_POOL);
		EXPECT(p2 != NULL);
		if (p2 == NULL)
			continue;
		EXPECT(OID_IS_NULL(pmemobj_first(p2)));
		/* the root is no object of the iteration (PMDK's behaviour: a
		 * POBJ_FOREACH_SAFE that frees every object must not free the root) */
		EXPECT(!OID_IS_NULL(pmemobj_root(p2, 256)));
		EXPECT(OID_IS_NULL(pmemobj_first(p2)));
		EXPECT_EQ(0, count_objects(p2));
		PMEMoid o;
		EXPECT_EQ(0, pmemobj_alloc(p2, &o, 100, 0, NULL, NULL));  /* the root's type */
		EXPECT(OID_EQUALS(o, pmemobj_first(p2)));
		EXPECT(OID_IS_NULL(pmemobj_next(o)));
		pmemobj_free(&o);
		EXPECT(OID_IS_NULL(pmemobj_first(p2)));
		drop_pool(p2, "empty.obj");
	}

	enum { NOBJ = 300 };
	static PMEMoid made[NOBJ];
	static int seen[NOBJ];
	pool_path(path2, sizeof(path2), "iter.obj");
	CHECK_BODY("iterate-every-object-once") {
		PMEMobjpool *p2 = fresh_pool("iter.obj", 8 * PMEMOBJ_MIN_POOL);
		EXPECT(p2 != NULL);
		if (p2 == NULL)
			continue;
		PMEMoid r = pmemobj_root(p2, 64);
		int made_all = 1;
		for (int i = 0; i < NOBJ && made_all; i++) {
			size_t size = 8 + (size_t)i * 97 % 20000;
			made_all = pmemobj_alloc(p2, &made[i], size, 1 + (uint64_t)i % 4,
					NULL, NULL) == 0;
			if (!made_all) {
				printf("  object %d of %zu bytes: %s\n", i, size, pmemobj_errormsg());
				break;
			}
			*(uint64_t *)pmemobj_direct(made[i]) = (uint64_t)i;
			pmemobj_persist(p2, pmemobj_direct(made[i]), 8);
		}
		EXPECT(made_all);
		if (!made_all) {
			drop_pool(p2, "iter.obj");
			continue;
		}
		for (int pass = 0; pass < 2; pass++) {
			/* pass 0 as made, pass 1 after close + open */
			memset(seen, 0, sizeof(seen));
			size_t others = 0;
			PMEMoid o;
			POBJ_FOREACH(p2, o) {
				EXPECT(!OID_EQUALS(o, r));
				uint64_t i = *(uint64_t *)pmemobj_direct(o);
				if (i < NOBJ && OID_EQUALS(o, made[i])) {
					seen[i]++;
					EXPECT_EQ(1 + i % 4, pmemobj_type_num(o));
				} else {
					others++;
				}
			}
			EXPECT_EQ(0, others);
			int once = 0;
			for (int i = 0; i < NOBJ; i++)
				once += seen[i] == 1;
			EXPECT_EQ(NOBJ, once);
			if (pass == 0) {
				pmemobj_close(p2);
				p2 = pmemobj_open(path2, LAYOUT);
				EXPECT(p2 != NULL);
				if (p2 == NULL)
					break;
				EXPECT(OID_EQUALS(r, pmemobj_root(p2, 0)));
			}
		}
		if (p2 == NULL)
			continue;
		/* typed iteration */
		TOID(struct foo) f;
		size_t nfoo = 0;
		POBJ_FOREACH_TYPE(p2, f) {
			EXPECT_EQ(2, pmemobj_type_num(f.oid));
			nfoo++;
		}
		EXPECT_EQ(NOBJ / 4, nfoo);
		size_t nbar = 0;
		for (TOID(struct bar) b = POBJ_FIRST(p2, struct bar); !TOID_IS_NULL(b);
				b = POBJ_NEXT(b)) {
			EXPECT(TOID_VALID(b));
			nbar++;
		}
		EXPECT_EQ(NOBJ / 4, nbar);
		size_t ntype1 = 0;
		for (PMEMoid o = POBJ_FIRST_TYPE_NUM(p2, 1); !OID_IS_NULL(o);
				o = POBJ_NEXT_TYPE_NUM(o))
			ntype1++;
		EXPECT_EQ(NOBJ / 4, ntype1);
		/* free every struct bar while iterating */
		TOID(struct bar) b, nb;
		POBJ_FOREACH_SAFE_TYPE(p2, b, nb)
			POBJ_FREE(&b);
		EXPECT_EQ(0, count_type(p2, 3));
		EXPECT_EQ(NOBJ / 4, count_type(p2, 2));
		/* the typed macros */
		TOID(struct foo) nf;
		EXPECT_EQ(0, POBJ_ZNEW(p2, &nf, struct foo));
		EXPECT(TOID_VALID(nf));
		EXPECT(D_RO(nf)->a == 0 && all_bytes(D_RO(nf)->text, 0, 48));
		D_RW(nf)->a = 77;
		EXPECT_EQ(77, D_RO(nf)->a);
		EXPECT_EQ(0, POBJ_REALLOC(p2, &nf, struct foo, 4096));
		EXPECT_EQ(77, D_RO(nf)->a);
		EXPECT(OID_INSTANCEOF(nf.oid, struct foo));
		EXPECT_EQ(NOBJ / 4 + 1, count_type(p2, 2));
		POBJ_FREE(&nf);
		EXPECT(TOID_IS_NULL(nf));
		pmemobj_close(p2);
		EXPECT_EQ(1, pmemobj_check(path2, LAYOUT));
		unlink(path2);
	}

	/* ---- memory operations ---- */

	CHECK_BODY("persist-and-memops") {
		char *p = (char *)pmemobj_direct(root) + 2048;
		char src[512];
		memset(src, 'a', sizeof(src));
		EXPECT(pmemobj_memcpy_persist(pop, p, src, sizeof(src)) == p);
		EXPECT(memcmp(p, src, sizeof(src)) == 0);
		EXPECT(pmemobj_memset_persist(pop, p, 'b', 100) == p);
		EXPECT(all_bytes(p, 'b', 100) && all_bytes(p + 100, 'a', 412));
		EXPECT(pmemobj_memcpy(pop, p, src, 10, PMEMOBJ_F_MEM_NOFLUSH) == p);
		EXPECT(pmemobj_memset(pop, p + 10, 'c', 10, PMEMOBJ_F_MEM_NONTEMPORAL) == p + 10);
		EXPECT(pmemobj_memcpy(pop, p + 20, src, 10, PMEMOBJ_F_RELAXED |
				PMEMOBJ_F_MEM_WB) == p + 20);
		pmemobj_drain(pop);
		EXPECT(all_bytes(p, 'a', 10) && all_bytes(p + 10, 'c', 10));
		EXPECT(all_bytes(p + 20, 'a', 10) && all_bytes(p + 30, 'b', 70));
		for (int i = 0; i < 64; i++)
			p[i] = (char)i;
		EXPECT(pmemobj_memmove(pop, p + 1, p, 63, 0) == p + 1);   /* overlapping */
		bool moved = p[0] == 0;
		for (int i = 1; i < 64; i++)
			moved = moved && p[i] == (char)(i - 1);
		EXPECT(moved);
		pmemobj_persist(pop, p, 64);
		pmemobj_flush(pop, p, 64);
		pmemobj_drain(pop);
		pmemobj_persist(pop, p, 0);
		EXPECT_EQ(0, pmemobj_xpersist(pop, p, 64, 0));
		EXPECT_EQ(0, pmemobj_xpersist(pop, p, 64, PMEMOBJ_F_RELAXED));
		EXPECT_EQ(0, pmemobj_xflush(pop, p, 64, 0));
		EXPECT_EQ(0, pmemobj_xflush(pop, p, 64, PMEMOBJ_F_RELAXED));
		errno = 0;
		EXPECT(pmemobj_xpersist(pop, p, 64, PMEMOBJ_F_MEM_NODRAIN) != 0);
		EXPECT_ERRNO(EINVAL, errno);
		errno = 0;
		EXPECT(pmemobj_xflush(pop, p, 64, 1u << 20) != 0);
		EXPECT_ERRNO(EINVAL, errno);
	}

	CHECK_BODY("errormsg") {
		errno = 0;
		EXPECT(pmemobj_open(pool_path(path2, sizeof(path2), "missing.obj"), NULL) == NULL);
		EXPECT_ERRNO(ENOENT, errno);
		const char *msg = pmemobj_errormsg();
		EXPECT(msg != NULL && strlen(msg) > 0);
		char mine[1024];
		snprintf(mine, sizeof(mine), "%s", msg);
		/* thread-local: another thread's failure leaves this thread's message alone */
		pthread_t t;
		pthread_create(&t, NULL, fail_in_thread, NULL);
		pthread_join(t, NULL);
		EXPECT(other_thread_msg != NULL && strlen(other_thread_msg) > 0);
		EXPECT(strcmp(mine, pmemobj_errormsg()) == 0);
		free((void *)other_thread_msg);
	}

	/* ---- threads ---- */

	CHECK_BODY("threads-alloc-free") {
		shared = pop;
		pthread_t t[THREADS];
		struct worker w[THREADS];
		for (int i = 0; i < THREADS; i++) {
			w[i] = (struct worker){ .type = 100 + (uint64_t)i };
			pthread_create(&t[i], NULL, alloc_free_worker, &w[i]);
		}
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		for (int i = 0; i < THREADS; i++) {
			EXPECT_EQ(0, w[i].bad);
			EXPECT_EQ(w[i].kept, count_type(pop, w[i].type));
		}
		PMEMoid o, next;
		POBJ_FOREACH_SAFE(pop, o, next)
			if (pmemobj_type_num(o) >= 100 && pmemobj_type_num(o) < 100 + THREADS)
				pmemobj_free(&o);
		EXPECT_EQ(base, count_objects(pop));
	}

	/* ---- close, check, open ---- */

	fill((char *)pmemobj_direct(root) + 4000, 99, 1000);
	pmemobj_persist(pop, (char *)pmemobj_direct(root) + 4000, 1000);
	PMEMoid kept;
	pmemobj_strdup(pop, &kept, "kept across close", 20);
	pmemobj_close(pop);
	CHECK_BODY("check-and-open") {
		EXPECT_EQ(1, pmemobj_check(path, LAYOUT));
		EXPECT_EQ(1, pmemobj_check(path, NULL));
		EXPECT(pmemobj_check(path, "another layout") != 1);
		EXPECT_EQ(-1, pmemobj_check(pool_path(path2, sizeof(path2), "missing.obj"), NULL));
		errno = 0;
		EXPECT(pmemobj_open(path, "another layout") == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		errno = 0;
		EXPECT(pmemobj_create(path, LAYOUT, 0, 0600) == NULL);  /* not an empty file */
		EXPECT_ERRNO(EEXIST, errno);
		EXPECT_EQ(1, pmemobj_check(path, LAYOUT));            /* and left alone */
		pop = pmemobj_open(path, NULL);
		EXPECT(pop != NULL);
		if (pop == NULL)
			continue;
		EXPECT_EQ(5000, pmemobj_root_size(pop));
		EXPECT(pmemobj_get_user_data(pop) == NULL);    /* volatile state is not kept */
		PMEMoid r = pmemobj_root(pop, 0);
		EXPECT(OID_EQUALS(root, r));
		EXPECT(holds(pmemobj_direct(r), 1, 100));
		EXPECT(holds((char *)pmemobj_direct(r) + 4000, 99, 1000));
		EXPECT(strcmp(pmemobj_direct(kept), "kept across close") == 0);
		EXPECT_EQ(20, pmemobj_type_num(kept));
		pmemobj_close(pop);
		pop = pmemobj_open(path, LAYOUT);
		EXPECT(pop != NULL);
		if (pop != NULL)
			pmemobj_close(pop);
	}
	unlink(path);

	CHECK_BODY("null-layout-is-empty") {
		pool_path(path2, sizeof(path2), "nolayout.obj");
		unlink(path2);
		PMEMobjpool *p2 = pmemobj_create(path2, NULL, PMEMOBJ_MIN_POOL, 0600);
		EXPECT(p2 != NULL);
		if (p2 == NULL)
			continue;
		pmemobj_close(p2);
		EXPECT_EQ(1, pmemobj_check(path2, ""));
		p2 = pmemobj_open(path2, "");
		EXPECT(p2 != NULL);
		if (p2 != NULL)
			pmemobj_close(p2);
		errno = 0;
		EXPECT(pmemobj_open(path2, "x") == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		unlink(path2);
	}

	CHECK_BODY("create-on-an-empty-file") {
		/* poolsize 0: the size of the file the caller made */
		pool_path(path2, sizeof(path2), "sized.obj");
		unlink(path2);
		FILE *f = fopen(path2, "w");
		EXPECT(f != NULL);
		if (f == NULL)
			continue;
		size_t size = 4 * PMEMOBJ_MIN_POOL;
		EXPECT(ftruncate(fileno(f), (off_t)size) == 0);
		fclose(f);
		PMEMobjpool *p2 = pmemobj_create(path2, LAYOUT, 0, 0600);
		EXPECT(p2 != NULL);
		if (p2 == NULL)
			continue;
		struct stat st;
		EXPECT(stat(path2, &st) == 0 && (size_t)st.st_size == size);
		PMEMoid big;        /* more than a minimum pool could give */
		EXPECT_EQ(0, pmemobj_alloc(p2, &big, size / 2, 1, NULL, NULL));
		pmemobj_close(p2);
		p2 = pmemobj_open(path2, LAYOUT);
		EXPECT(p2 != NULL);
		if (p2 != NULL) {
			EXPECT(pmemobj_alloc_usable_size(big) >= size / 2);
			pmemobj_close(p2);
		}
		unlink(path2);
	}

	/* ---- exhaustion ---- */

	static const size_t sizes[] = { 64, 4096, MiB };
	struct oids all = { 0 };
	for (int s = 0; s < 3; s++) {
		char name[64];
		snprintf(name, sizeof(name), "exhaust-%zu", sizes[s]);
		CHECK_BODY(name) {
			PMEMobjpool *p2 = fresh_pool("full.obj", PMEMOBJ_MIN_POOL);
			EXPECT(p2 != NULL);
			if (p2 == NULL)
				continue;
			int err = 0;
			size_t first = fill_pool(p2, sizes[s], &all, &err);
			EXPECT_ERRNO(ENOMEM, err);
			EXPECT(first > 0);
			EXPECT_EQ(first, count_objects(p2));
			EXPECT(strlen(pmemobj_errormsg()) > 0);
			bool intact = true;
			for (size_t i = 0; i < all.n; i++)
				intact = intact && *(uint64_t *)pmemobj_direct(all.v[i]) == i;
			EXPECT(intact);
			free_all(&all);
			EXPECT_EQ(0, count_objects(p2));
			/* usable again, for nearly as much: nothing leaked */
			size_t again = fill_pool(p2, sizes[s], &all, &err);
			EXPECT_ERRNO(ENOMEM, err);
			EXPECT_GE(again * 10, first * 9);
			free_all(&all);
			/* what the small objects held serves a large one once they are freed */
			EXPECT_EQ(0, pmemobj_alloc(p2, NULL, MiB, 1, NULL, NULL));
			EXPECT_EQ(1, count_objects(p2));
			pmemobj_close(p2);
			EXPECT_EQ(1, pmemobj_check(pool_path(path2, sizeof(path2), "full.obj"),
						LAYOUT));
			drop_pool(NULL, "full.obj");
		}
	}
	free(all.v);

	return check_summary();
}
