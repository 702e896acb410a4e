/*
 * obj_driver.c -- libpmemobj rows, one row per run, one JSON line on stdout:
 * built against PMDK 1.12 (-lpmemobj) or against pmalloc's headers and
 * libpmalloc.so; the same source, only the headers and libraries differ.
 *
 *   obj_driver ROW DIR [N]
 *
 * Every row works on a pool file of its own in DIR, created untimed and removed at
 * the end. The timed rows run N operations on a 512 MiB pool and report ops/s:
 *   tx_empty      TX_BEGIN(pop) {} TX_END
 *   tx_set8       one tx: TX_ADD_FIELD of the root's 8-byte field, then a store to it
 *   tx_alloc64    one tx: pmemobj_tx_alloc(64); the objects are kept (the heap grows)
 *   tx_free64     one tx: pmemobj_tx_free of an object allocated (untimed) beforehand
 *   tx_add8x64    one tx: 8 pmemobj_tx_add_range of 64 B on distinct parts of the
 *                 root's 512 B area, then a store over each
 *   atomic_pair64 pmemobj_alloc(64) into the root's oid, then pmemobj_free of it
 *   atomic_alloc64 pmemobj_alloc(64), each into its own oid of an array in the pool
 * Time rows report seconds:
 *   create_64m, create_1g  pmemobj_create of a new file + pmemobj_close
 *   open_1m       a 512 MiB pool holding N objects of 64 B (default 1M, allocated
 *                 untimed by this run into an array in the pool); then, timed,
 *                 pmemobj_open + the first pmemobj_alloc of 64 B
 * Space row:
 *   space_1m64    the smallest pool, in MiB, in which N pmemobj_alloc of 64 B
 *                 (NULL destination) all succeed: bisection over pool sizes
 */
#define _GNU_SOURCE
#include <libpmemobj.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MiB ((size_t)1 << 20)
#define POOL_SIZE (512 * MiB)	/* the pool of every timed row and of open_1m */
#define OBJ_TYPE 1

POBJ_LAYOUT_BEGIN(obj_bench);
POBJ_LAYOUT_ROOT(obj_bench, struct bench_root);
POBJ_LAYOUT_END(obj_bench);

struct bench_root {
	uint64_t x;		/* tx_set8 */
	PMEMoid slot;		/* atomic_pair64; the first allocation after open_1m */
	PMEMoid slots;		/* an array of nslots PMEMoid */
	uint64_t nslots;
	uint8_t area[8][64];	/* tx_add8x64 */
};

static PMEMoid sink;		/* tx_alloc64's oids land here, in DRAM: the objects stay */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, pmemobj_errormsg());
	exit(1);
}

static void
emit_rate(const char *row, long n, double secs)
{
	printf("{\"row\": \"%s\", \"ops\": %ld, \"secs\": %.6f, \"rate\": %.1f}\n",
			row, n, secs, (double)n / secs);
}

/* pool_path -- this run's pool file: one per process, so runs never share one */
static const char *
pool_path(const char *dir, const char *tag)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/obj-bench-%ld-%s.pool", dir, (long)getpid(), tag);
	return path;
}

static PMEMobjpool *
fresh_pool(const char *path, size_t size)
{
	unlink(path);
	PMEMobjpool *pop = pmemobj_create(path, POBJ_LAYOUT_NAME(obj_bench), size, 0600);
	if (!pop)
		die("pmemobj_create");
	return pop;
}

/* slot_array -- a zeroed array of n oids in the pool, hung from the root */
static PMEMoid *
slot_array(PMEMobjpool *pop, TOID(struct bench_root) root, long n)
{
	if (pmemobj_zalloc(pop, &D_RW(root)->slots, (size_t)n * sizeof(PMEMoid), OBJ_TYPE + 1))
		die("pmemobj_zalloc of the oid array");
	D_RW(root)->nslots = (uint64_t)n;
	pmemobj_persist(pop, &D_RW(root)->nslots, sizeof(uint64_t));
	return pmemobj_direct(D_RO(root)->slots);
}

/* fill_slots -- n objects of 64 B, each allocated into its own oid of the array (the
 * untimed setup of tx_free64 and open_1m; the timed loop of atomic_alloc64) */
static void
fill_slots(PMEMobjpool *pop, PMEMoid *slots, long n)
{
	for (long i = 0; i < n; i++)
		if (pmemobj_alloc(pop, &slots[i], 64, OBJ_TYPE, NULL, NULL))
			die("pmemobj_alloc");
}

/* One transaction each: in functions of their own, so no loop variable lives
 * across TX_BEGIN's setjmp. An abort is a failure of the run. */

static void
tx_empty(PMEMobjpool *pop)
{
	TX_BEGIN(pop) {
	} TX_ONABORT {
		die("tx_empty");
	} TX_END
}

static void
tx_set8(PMEMobjpool *pop, TOID(struct bench_root) *root, uint64_t v)
{
	TX_BEGIN(pop) {
		TX_ADD_FIELD(*root, x);
		D_RW(*root)->x = v;
	} TX_ONABORT {
		die("tx_set8");
	} TX_END
}

static void
tx_alloc64(PMEMobjpool *pop)
{
	TX_BEGIN(pop) {
		sink = pmemobj_tx_alloc(64, OBJ_TYPE);
	} TX_ONABORT {
		die("tx_alloc64");
	} TX_END
}

static void
tx_free64(PMEMobjpool *pop, PMEMoid oid)
{
	TX_BEGIN(pop) {
		pmemobj_tx_free(oid);
	} TX_ONABORT {
		die("tx_free64");
	} TX_END
}

static void
tx_add8x64(PMEMobjpool *pop, TOID(struct bench_root) *root, int v)
{
	TX_BEGIN(pop) {
		for (size_t k = 0; k < 8; k++)
			pmemobj_tx_add_range(root->oid, offsetof(struct bench_root, area) + k * 64, 64);
		for (size_t k = 0; k < 8; k++)
			memset(D_RW(*root)->area[k], v, 64);
	} TX_ONABORT {
		die("tx_add8x64");
	} TX_END
}

static int
timed_row(const char *row, const char *dir, long n)
{
	const char *path = pool_path(dir, "row");
	PMEMobjpool *pop = fresh_pool(path, POOL_SIZE);
	TOID(struct bench_root) root = POBJ_ROOT(pop, struct bench_root);
	if (TOID_IS_NULL(root))
		die("pmemobj_root");
	PMEMoid *slots = NULL;
	if (!strcmp(row, "tx_free64") || !strcmp(row, "atomic_alloc64"))
		slots = slot_array(pop, root, n);
	if (!strcmp(row, "tx_free64"))
		fill_slots(pop, slots, n);

	double t0 = now();
	if (!strcmp(row, "tx_empty")) {
		for (long i = 0; i < n; i++)
			tx_empty(pop);
	} else if (!strcmp(row, "tx_set8")) {
		for (long i = 0; i < n; i++)
			tx_set8(pop, &root, (uint64_t)i);
	} else if (!strcmp(row, "tx_alloc64")) {
		for (long i = 0; i < n; i++)
			tx_alloc64(pop);
	} else if (!strcmp(row, "tx_free64")) {
		for (long i = 0; i < n; i++)
			tx_free64(pop, slots[i]);
	} else if (!strcmp(row, "tx_add8x64")) {
		for (long i = 0; i < n; i++)
			tx_add8x64(pop, &root, (int)(i & 0xff));
	} else if (!strcmp(row, "atomic_pair64")) {
		PMEMoid *slot = &D_RW(root)->slot;
		for (long i = 0; i < n; i++) {
			if (pmemobj_alloc(pop, slot, 64, OBJ_TYPE, NULL, NULL))
				die("pmemobj_alloc");
			pmemobj_free(slot);
		}
	} else if (!strcmp(row, "atomic_alloc64")) {
		fill_slots(pop, slots, n);
	} else {
		pmemobj_close(pop);
		unlink(path);
		return -1;
	}
	double t = now() - t0;
	if (!strcmp(row, "tx_set8") && D_RO(root)->x != (uint64_t)(n - 1)) {
		fprintf(stderr, "tx_set8: root holds %llu, not %ld\n",
				(unsigned long long)D_RO(root)->x, n - 1);
		exit(1);
	}
	pmemobj_close(pop);
	unlink(path);
	emit_rate(row, n, t);
	return 0;
}

static void
create_row(const char *row, const char *dir, size_t size)
{
	const char *path = pool_path(dir, "create");
	unlink(path);
	double t0 = now();
	PMEMobjpool *pop = pmemobj_create(path, POBJ_LAYOUT_NAME(obj_bench), size, 0600);
	if (!pop)
		die("pmemobj_create");
	pmemobj_close(pop);
	double t = now() - t0;
	unlink(path);
	printf("{\"row\": \"%s\", \"bytes\": %zu, \"secs\": %.6f}\n", row, size, t);
}

static void
open_row(const char *dir, long n)
{
	const char *path = pool_path(dir, "open");
	PMEMobjpool *pop = fresh_pool(path, POOL_SIZE);
	TOID(struct bench_root) root = POBJ_ROOT(pop, struct bench_root);
	if (TOID_IS_NULL(root))
		die("pmemobj_root");
	fill_slots(pop, slot_array(pop, root, n), n);
	pmemobj_close(pop);

	double t0 = now();
	pop = pmemobj_open(path, POBJ_LAYOUT_NAME(obj_bench));
	if (!pop)
		die("pmemobj_open");
	double t1 = now();
	root = POBJ_ROOT(pop, struct bench_root);
	if (pmemobj_alloc(pop, &D_RW(root)->slot, 64, OBJ_TYPE, NULL, NULL))
		die("pmemobj_alloc after open");
	double t2 = now();
	if (D_RO(root)->nslots != (uint64_t)n) {
		fprintf(stderr, "open_1m: the pool holds %llu oids, not %ld\n",
				(unsigned long long)D_RO(root)->nslots, n);
		exit(1);
	}
	pmemobj_close(pop);
	unlink(path);
	printf("{\"row\": \"open_1m\", \"objects\": %ld, \"secs\": %.6f, \"open_secs\": %.6f, "
			"\"alloc_secs\": %.6f}\n", n, t2 - t0, t1 - t0, t2 - t1);
}

/* fits -- whether n objects of 64 B can all be allocated in a new pool of mib MiB */
static int
fits(const char *path, size_t mib, long n)
{
	unlink(path);
	PMEMobjpool *pop = pmemobj_create(path, POBJ_LAYOUT_NAME(obj_bench), mib * MiB, 0600);
	if (!pop)
		return 0;	/* too small to hold a pool at all */
	long i = 0;
	while (i < n && pmemobj_alloc(pop, NULL, 64, OBJ_TYPE, NULL, NULL) == 0)
		i++;
	pmemobj_close(pop);
	unlink(path);
	return i == n;
}

static void
space_row(const char *dir, long n)
{
	const char *path = pool_path(dir, "space");
	size_t lo = (size_t)n * 64 / MiB;	/* cannot hold the payload alone: never fits */
	size_t hi = 4 * lo + 64;
	int probes = 1;
	while (!fits(path, hi, n)) {
		if (hi >= ((size_t)64 << 10))
			die("space_1m64: not even 64 GiB fit");
		lo = hi;
		hi *= 2;
		probes++;
	}
	while (hi - lo > 1) {		/* lo never fits, hi does */
		size_t mid = lo + (hi - lo) / 2;
		if (fits(path, mid, n))
			hi = mid;
		else
			lo = mid;
		probes++;
	}
	printf("{\"row\": \"space_1m64\", \"objects\": %ld, \"bytes\": %zu, \"probes\": %d}\n",
			n, hi * MiB, probes);
}

int
main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: obj_driver ROW DIR [N]\n"
				"rows: tx_empty tx_set8 tx_alloc64 tx_free64 tx_add8x64 "
				"atomic_pair64 atomic_alloc64 create_64m create_1g open_1m "
				"space_1m64\n");
		return 2;
	}
	const char *row = argv[1], *dir = argv[2];
	long n = argc == 4 ? atol(argv[3]) : 0;
	if (!strcmp(row, "create_64m"))
		create_row(row, dir, 64 * MiB);
	else if (!strcmp(row, "create_1g"))
		create_row(row, dir, 1024 * MiB);
	else if (!strcmp(row, "open_1m"))
		open_row(dir, n > 0 ? n : 1000000);
	else if (!strcmp(row, "space_1m64"))
		space_row(dir, n > 0 ? n : 1000000);
	else if (n <= 0 || timed_row(row, dir, n) != 0) {
		fprintf(stderr, "obj_driver: unknown row %s, or no count N\n", row);
		return 2;
	}
	return 0;
}
