/*
 * txmix.c -- a random mix of transactions to kill -9, and the checker of what survives
 *
 * The root holds SLOTS slots; each names an object (or none) and what the object must
 * hold: the version that wrote it, its size, type and checksum. One transaction per
 * iteration does one to three operations on random slots (allocate into an empty slot;
 * free, realloc or rewrite a full one), bumps the root's version and commits; one in
 * eight is aborted on purpose after its changes. The contents of an object are a
 * pattern of (slot, version), so a torn or stale object cannot pass for a good one.
 *
 *   txmix create POOL           make the pool (layout "txmix", 32 MiB) and its root
 *   txmix run POOL SEED COUNT   COUNT transactions (0: until killed); after each commit
 *                               print the committed version, a line, flushed
 *   txmix check POOL ACKED      open and verify; ACKED: the last version a run printed.
 *                               Exit 0 and print "version=V live=L" when every invariant
 *                               holds, else name each broken one and exit 1:
 *     - every slot's object is in this pool, of its type, at least its size, holding its
 *       pattern and checksum; an empty slot is all zero;
 *     - POBJ_FOREACH finds exactly the slots' objects, each once (no leak, no double);
 *     - live == slots in use == allocs - frees;
 *     - ACKED <= version <= ACKED + 1 (a commit may land just before the kill).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpmemobj.h>

#define LAYOUT "txmix"
#define SLOTS 64
#define MIN_SIZE 8
#define MAX_SIZE 2048

struct slot {
	PMEMoid oid;        /* OID_NULL: empty, and every other field 0 */
	uint64_t version;   /* the root version of the transaction that last wrote it */
	uint64_t size;      /* bytes asked for */
	uint64_t type;      /* 1..3 */
	uint64_t sum;       /* checksum of its `size` bytes */
};

struct root {
	uint64_t version;   /* committed transactions */
	uint64_t live;      /* slots in use */
	uint64_t allocs, frees, reallocs, rewrites;
	struct slot slot[SLOTS];
};

/* ---- contents ----------------------------------------------------------------------- */

static uint64_t
mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
	return x ^ (x >> 31);
}

static unsigned char
pattern_byte(uint64_t slot, uint64_t version, size_t i)
{
	uint64_t word = mix64((slot << 48) ^ (version << 12) ^ (i / 8));
	return (unsigned char)(word >> (8 * (i % 8)));
}

static void
write_pattern(void *p, uint64_t slot, uint64_t version, size_t size)
{
	unsigned char *b = p;
	for (size_t i = 0; i < size; i++)
		b[i] = pattern_byte(slot, version, i);
}

static bool
has_pattern(const void *p, uint64_t slot, uint64_t version, size_t size)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < size; i++)
		if (b[i] != pattern_byte(slot, version, i))
			return false;
	return true;
}

/* FNV-1a, 64 bits */
static uint64_t
checksum(const void *p, size_t size)
{
	const unsigned char *b = p;
	uint64_t h = 0xCBF29CE484222325u;
	for (size_t i = 0; i < size; i++)
		h = (h ^ b[i]) * 0x100000001B3u;
	return h;
}

/* ---- run ------------------------------------------------------------------------------- */

static uint64_t rng;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t
random_size(void)
{
	return MIN_SIZE + (size_t)(next_random() % (MAX_SIZE - MIN_SIZE + 1));
}

/* set by a transaction body, read after TX_END (static: an abort longjmps) */
static const char *broken;

/* Slot s gets (or keeps) an object written by the current version. */
static void
op_alloc(struct root *r, int s)
{
	struct slot *sl = &r->slot[s];
	sl->size = random_size();
	sl->type = 1 + next_random() % 3;
	sl->version = r->version;
	sl->oid = pmemobj_tx_alloc(sl->size, sl->type);
	write_pattern(pmemobj_direct(sl->oid), (uint64_t)s, sl->version, sl->size);
	sl->sum = checksum(pmemobj_direct(sl->oid), sl->size);
	r->live++;
	r->allocs++;
}

static void
op_free(struct root *r, int s)
{
	struct slot *sl = &r->slot[s];
	pmemobj_tx_free(sl->oid);
	memset(sl, 0, sizeof(*sl));
	r->live--;
	r->frees++;
}

static void
op_realloc(struct root *r, int s)
{
	struct slot *sl = &r->slot[s];
	size_t size = random_size();
	size_t kept = size < sl->size ? size : sl->size;
	sl->type = 1 + next_random() % 3;
	sl->oid = pmemobj_tx_realloc(sl->oid, size, sl->type);
	if (!has_pattern(pmemobj_direct(sl->oid), (uint64_t)s, sl->version, kept))
		broken = "tx_realloc lost the object's contents";
	pmemobj_tx_add_range(sl->oid, 0, size);
	sl->size = size;
	sl->version = r->version;
	write_pattern(pmemobj_direct(sl->oid), (uint64_t)s, sl->version, sl->size);
	sl->sum = checksum(pmemobj_direct(sl->oid), sl->size);
	r->reallocs++;
}

static void
op_rewrite(struct root *r, int s)
{
	struct slot *sl = &r->slot[s];
	pmemobj_tx_add_range(sl->oid, 0, sl->size);
	sl->version = r->version;
	write_pattern(pmemobj_direct(sl->oid), (uint64_t)s, sl->version, sl->size);
	sl->sum = checksum(pmemobj_direct(sl->oid), sl->size);
	r->rewrites++;
}

static struct root before;      /* the root as the transaction found it */
static int aborted;

/* One transaction of 1-3 operations; 1 in 8 aborted at the end. */
static void
one_transaction(PMEMobjpool *pop, struct root *r)
{
	memcpy(&before, r, sizeof(before));
	aborted = 0;
	TX_BEGIN(pop) {
		pmemobj_tx_add_range_direct(r, offsetof(struct root, slot));
		r->version++;
		int ops = 1 + (int)(next_random() % 3);
		for (int k = 0; k < ops; k++) {
			int s = (int)(next_random() % SLOTS);
			pmemobj_tx_add_range_direct(&r->slot[s], sizeof(struct slot));
			if (OID_IS_NULL(r->slot[s].oid)) {
				op_alloc(r, s);
				continue;
			}
			switch (next_random() % 3) {
			case 0: op_free(r, s); break;
			case 1: op_realloc(r, s); break;
			default: op_rewrite(r, s); break;
			}
		}
		if (next_random() % 8 == 0)
			pmemobj_tx_abort(ECANCELED);
	} TX_ONABORT {
		aborted = 1;
	} TX_END
	if (aborted && (errno != ECANCELED || memcmp(&before, r, sizeof(before)) != 0))
		broken = errno != ECANCELED ? "a transaction failed" :
			"an aborted transaction changed the root";
}

static int
run(const char *path, uint64_t seed, uint64_t count)
{
	PMEMobjpool *pop = pmemobj_open(path, LAYOUT);
	if (pop == NULL) {
		fprintf(stderr, "%s: %s\n", path, pmemobj_errormsg());
		return 2;
	}
	struct root *r = pmemobj_direct(pmemobj_root(pop, sizeof(struct root)));
	rng = mix64(seed + 1) | 1;
	for (uint64_t n = 0; count == 0 || n < count; n++) {
		one_transaction(pop, r);
		if (broken != NULL) {
			fprintf(stderr, "version %" PRIu64 ": %s: %s\n", r->version, broken,
					pmemobj_errormsg());
			return 1;
		}
		if (!aborted) {
			printf("%" PRIu64 "\n", r->version);
			fflush(stdout);
		}
	}
	pmemobj_close(pop);
	return 0;
}

/* ---- check ----------------------------------------------------------------------------- */

static int problems;

#define PROBLEM(...) do { \
	fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); \
	problems++; \
} while (0)

static int
check(const char *path, uint64_t acked)
{
	PMEMobjpool *pop = pmemobj_open(path, LAYOUT);
	if (pop == NULL) {
		fprintf(stderr, "%s: %s\n", path, pmemobj_errormsg());
		return 1;
	}
	if (pmemobj_root_size(pop) < sizeof(struct root)) {
		PROBLEM("root of %zu bytes, expected %zu", pmemobj_root_size(pop),
				sizeof(struct root));
		pmemobj_close(pop);
		return 1;
	}
	PMEMoid root_oid = pmemobj_root(pop, sizeof(struct root));
	struct root *r = pmemobj_direct(root_oid);

	uint64_t used = 0;
	for (int s = 0; s < SLOTS; s++) {
		struct slot *sl = &r->slot[s];
		if (OID_IS_NULL(sl->oid)) {
			if (sl->version || sl->size || sl->type || sl->sum || sl->oid.pool_uuid_lo)
				PROBLEM("slot %d: empty but not zeroed", s);
			continue;
		}
		used++;
		if (pmemobj_pool_by_oid(sl->oid) != pop) {
			PROBLEM("slot %d: an object of no open pool", s);
			continue;
		}
		if (sl->size < MIN_SIZE || sl->size > MAX_SIZE || sl->version == 0 ||
				sl->version > r->version) {
			PROBLEM("slot %d: size %" PRIu64 " version %" PRIu64 " out of range", s,
					sl->size, sl->version);
			continue;
		}
		if (pmemobj_type_num(sl->oid) != sl->type)
			PROBLEM("slot %d: type %" PRIu64 ", expected %" PRIu64, s,
					pmemobj_type_num(sl->oid), sl->type);
		if (pmemobj_alloc_usable_size(sl->oid) < sl->size)
			PROBLEM("slot %d: %zu usable bytes for %" PRIu64, s,
					pmemobj_alloc_usable_size(sl->oid), sl->size);
		const void *p = pmemobj_direct(sl->oid);
		if (!has_pattern(p, (uint64_t)s, sl->version, sl->size))
			PROBLEM("slot %d: contents are not those of version %" PRIu64, s,
					sl->version);
		if (checksum(p, sl->size) != sl->sum)
			PROBLEM("slot %d: checksum mismatch", s);
	}
	if (used != r->live || r->allocs - r->frees != r->live)
		PROBLEM("live %" PRIu64 ", slots in use %" PRIu64 ", allocs - frees %" PRIu64,
				r->live, used, r->allocs - r->frees);

	/* every object of the pool is a slot's, and each slot's is met exactly once */
	int met[SLOTS] = { 0 };
	uint64_t objects = 0;
	PMEMoid o;
	POBJ_FOREACH(pop, o) {
		objects++;
		int owner = -1;
		for (int s = 0; s < SLOTS && owner < 0; s++)
			if (OID_EQUALS(o, r->slot[s].oid))
				owner = s;
		if (OID_EQUALS(o, root_oid))
			PROBLEM("the iteration shows the root");
		else if (owner < 0)
			PROBLEM("object at offset %" PRIu64 " (type %" PRIu64 ") belongs to no slot:"
					" leaked", o.off, pmemobj_type_num(o));
		else
			met[owner]++;
	}
	for (int s = 0; s < SLOTS; s++)
		if (!OID_IS_NULL(r->slot[s].oid) && met[s] != 1)
			PROBLEM("slot %d: its object met %d times in the iteration", s, met[s]);
	if (objects != used)
		PROBLEM("%" PRIu64 " objects in the pool, %" PRIu64 " in the slots", objects, used);

	if (r->version < acked || r->version > acked + 1)
		PROBLEM("version %" PRIu64 ", last acknowledged %" PRIu64, r->version, acked);

	uint64_t version = r->version, live = r->live;
	pmemobj_close(pop);
	if (pmemobj_check(path, LAYOUT) != 1)
		PROBLEM("pmemobj_check: %s", pmemobj_errormsg());
	printf("version=%" PRIu64 " live=%" PRIu64 "\n", version, live);
	return problems ? 1 : 0;
}

static int
create(const char *path)
{
	PMEMobjpool *pop = pmemobj_create(path, LAYOUT, 4 * PMEMOBJ_MIN_POOL, 0600);
	if (pop == NULL) {
		fprintf(stderr, "%s: %s\n", path, pmemobj_errormsg());
		return 2;
	}
	PMEMoid root = pmemobj_root(pop, sizeof(struct root));
	pmemobj_close(pop);
	return OID_IS_NULL(root) ? 2 : 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "create") == 0)
		return create(argv[2]);
	if (argc == 5 && strcmp(argv[1], "run") == 0)
		return run(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return check(argv[2], strtoull(argv[3], NULL, 0));
	fprintf(stderr, "usage: %s create POOL | run POOL SEED COUNT | check POOL ACKED\n",
			argv[0]);
	return 2;
}
