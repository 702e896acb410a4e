/* list.c -- a TOID-typed list in a POBJ_LAYOUT, built and edited in transactions (usage: list POOLFILE) */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpmemobj.h>

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)
#define CHECK_EQ(seen, expected) \
	check_eq((unsigned long long)(seen), (unsigned long long)(expected), #seen, __LINE__)

static void check_eq(unsigned long long seen, unsigned long long expected, const char *what, int line)
{
	if (seen != expected) {
		fprintf(stderr, "%s:%d: %s: expected %llu, saw %llu\n", __FILE__, line, what, expected, seen);
		exit(1);
	}
}

POBJ_LAYOUT_BEGIN(list);
POBJ_LAYOUT_ROOT(list, struct root);
POBJ_LAYOUT_TOID(list, struct node);
POBJ_LAYOUT_TOID(list, char);
POBJ_LAYOUT_END(list);

struct node {
	TOID(struct node) next;
	uint64_t value;
	TOID(char) name;
	char tag[16];
};

struct root {
	TOID(struct node) head;
	uint64_t count;
	uint64_t sum;
	uint64_t stats[4];
};

/* Push value v in front, in one transaction; 0 or the error (errno set by TX_END). */
static int push(PMEMobjpool *pop, uint64_t v)
{
	volatile int failed = 0;
	TX_BEGIN(pop) {
		char buf[32];
		TOID(struct root) root = POBJ_ROOT(pop, struct root);
		TOID(struct node) n = TX_NEW(struct node);
		D_RW(n)->value = v;
		D_RW(n)->next = D_RO(root)->head;
		snprintf(buf, sizeof(buf), "node-%llu", (unsigned long long)v);
		TOID_ASSIGN(D_RW(n)->name, TX_STRDUP(buf, TOID_TYPE_NUM(char)));
		TX_MEMSET(D_RW(n)->tag, 't', sizeof(D_RW(n)->tag) - 1);
		D_RW(n)->tag[sizeof(D_RW(n)->tag) - 1] = '\0';
		TX_ADD(root);
		D_RW(root)->head = n;
		D_RW(root)->count++;
		TX_SET(root, sum, D_RO(root)->sum + v);
	} TX_ONABORT {
		failed = 1;
	} TX_END
	return failed ? errno : 0;
}

/* Remove the first node; 1 if one was removed. */
static int pop_front(PMEMobjpool *pop)
{
	volatile int removed = 0;
	TX_BEGIN(pop) {
		TOID(struct root) root = POBJ_ROOT(pop, struct root);
		TOID(struct node) n = D_RO(root)->head;
		if (!TOID_IS_NULL(n)) {
			TX_ADD_FIELD(root, head);
			TX_ADD_FIELD(root, count);
			TX_ADD_FIELD(root, sum);
			D_RW(root)->head = D_RO(n)->next;
			D_RW(root)->count--;
			D_RW(root)->sum -= D_RO(n)->value;
			TX_FREE(D_RO(n)->name);
			TX_FREE(n);
			removed = 1;
		}
	} TX_END
	return removed;
}

static int cb_calls[MAX_TX_STAGE];

static void stage_cb(PMEMobjpool *pop, enum pobj_tx_stage stage, void *arg)
{
	(void)pop;
	CHECK(arg == (void *)&cb_calls);
	cb_calls[stage]++;
}

static void check_list(TOID(struct root) root, uint64_t count, uint64_t sum)
{
	uint64_t n = 0, s = 0;
	TOID(struct node) it;
	for (it = D_RO(root)->head; !TOID_IS_NULL(it); it = D_RO(it)->next) {
		char want[32];
		snprintf(want, sizeof(want), "node-%llu", (unsigned long long)D_RO(it)->value);
		CHECK(strcmp(D_RO(D_RO(it)->name), want) == 0);
		CHECK(strcmp(D_RO(it)->tag, "ttttttttttttttt") == 0);
		CHECK(TOID_VALID(it));
		n++;
		s += D_RO(it)->value;
	}
	CHECK_EQ(n, count);
	CHECK_EQ(s, sum);
	CHECK_EQ(D_RO(root)->count, count);
	CHECK_EQ(D_RO(root)->sum, sum);
}

/* every node is reachable through the type iterator too */
static void test_iterate(PMEMobjpool *pop, uint64_t sum)
{
	TOID(struct node) n;
	uint64_t seen = 0, seen_sum = 0;
	POBJ_FOREACH_TYPE(pop, n) {
		CHECK(OID_INSTANCEOF(n.oid, struct node));
		seen++;
		seen_sum += D_RO(n)->value;
	}
	CHECK_EQ(seen, 100);
	CHECK_EQ(seen_sum, sum);
	TOID(char) s;
	seen = 0;
	POBJ_FOREACH_TYPE(pop, s)
		seen++;
	CHECK_EQ(seen, 100);
	CHECK_EQ(TOID_OFFSETOF(n, value), offsetof(struct node, value));
	TOID(struct node) first = POBJ_FIRST(pop, struct node);
	CHECK(!TOID_IS_NULL(first));
	CHECK(OID_INSTANCEOF(first.oid, struct node));
	TOID(struct node) second = POBJ_NEXT(first);
	CHECK(!TOID_EQUALS(first, second));
}

/* abort: the snapshot comes back, errno says why, sections run in order */
static void test_abort(PMEMobjpool *pop)
{
	TOID(struct root) root = POBJ_ROOT(pop, struct root);
	volatile int oncommit = 0, onabort = 0, finally = 0;
	TX_BEGIN(pop) {
		TX_ADD_FIELD(root, count);
		D_RW(root)->count = 999;
		TX_MEMCPY(D_RW(root)->stats, "abcdefgh", 8);
		pmemobj_tx_abort(EINVAL);
		D_RW(root)->count = 12345; /* not reached */
	} TX_ONCOMMIT {
		oncommit = 1;
	} TX_ONABORT {
		onabort = 1;
		CHECK(pmemobj_tx_stage() == TX_STAGE_ONABORT);
	} TX_FINALLY {
		CHECK(onabort == 1);
		finally = 1;
	} TX_END
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(pmemobj_tx_errno(), EINVAL);
	CHECK(oncommit == 0 && onabort == 1 && finally == 1);
	CHECK_EQ(D_RO(root)->count, 100);
	CHECK_EQ(D_RO(root)->stats[0], 0);
	CHECK(pmemobj_tx_stage() == TX_STAGE_NONE);
}

/* commit: TX_ONCOMMIT then TX_FINALLY; TX_MEMCPY is kept */
static void test_commit(PMEMobjpool *pop)
{
	TOID(struct root) root = POBJ_ROOT(pop, struct root);
	volatile int oncommit = 0, finally = 0;
	TX_BEGIN(pop) {
		TX_MEMCPY(D_RW(root)->stats, "abcdefgh", 8);
		TX_SET(root, stats[1], 7);
	} TX_ONCOMMIT {
		oncommit = 1;
	} TX_FINALLY {
		finally = 1;
	} TX_END
	CHECK(oncommit == 1 && finally == 1);
	CHECK(memcmp(D_RO(root)->stats, "abcdefgh", 8) == 0);
	CHECK_EQ(D_RO(root)->stats[1], 7);
}

/* nested: an inner abort aborts the outer transaction too */
static void test_nested_abort(PMEMobjpool *pop)
{
	TOID(struct root) root = POBJ_ROOT(pop, struct root);
	volatile int inner_abort = 0, outer_abort = 0, after_inner = 0;
	TX_BEGIN(pop) {
		TX_SET(root, stats[2], 1);
		TX_BEGIN(pop) {
			TX_SET(root, stats[2], 2);
			pmemobj_tx_abort(ENOMEM);
		} TX_ONABORT {
			inner_abort = 1;
		} TX_END
		after_inner = 1; /* not reached: the outer aborts */
	} TX_ONABORT {
		outer_abort = 1;
	} TX_END
	CHECK_EQ(errno, ENOMEM);
	CHECK(inner_abort == 1 && outer_abort == 1 && after_inner == 0);
	CHECK_EQ(D_RO(root)->stats[2], 0);
}

/* nested commit, then the outer one */
static void test_nested_commit(PMEMobjpool *pop)
{
	TOID(struct root) root = POBJ_ROOT(pop, struct root);
	TX_BEGIN(pop) {
		TX_SET(root, stats[2], 5);
		TX_BEGIN(pop) {
			TX_SET(root, stats[3], 6);
		} TX_END
		CHECK(pmemobj_tx_stage() == TX_STAGE_WORK);
	} TX_END
	CHECK_EQ(D_RO(root)->stats[2], 5);
	CHECK_EQ(D_RO(root)->stats[3], 6);
}

/* a stage callback sees WORK (before commit), ONCOMMIT, FINALLY and NONE */
static void test_callback(PMEMobjpool *pop)
{
	TOID(struct root) root = POBJ_ROOT(pop, struct root);
	memset(cb_calls, 0, sizeof(cb_calls));
	TX_BEGIN_CB(pop, stage_cb, &cb_calls) {
		TX_SET(root, stats[3], 8);
	} TX_END
	CHECK_EQ(cb_calls[TX_STAGE_WORK], 1);
	CHECK_EQ(cb_calls[TX_STAGE_ONCOMMIT], 1);
	CHECK_EQ(cb_calls[TX_STAGE_FINALLY], 1);
	CHECK_EQ(cb_calls[TX_STAGE_NONE], 1);
	CHECK_EQ(cb_calls[TX_STAGE_ONABORT], 0);
}

/* realloc a name in place of the old, zero-allocate a node */
static void test_realloc(PMEMobjpool *pop)
{
	TOID(struct root) root = POBJ_ROOT(pop, struct root);
	TX_BEGIN(pop) {
		TOID(struct node) n = D_RO(root)->head;
		TX_ADD_FIELD(n, name);
		D_RW(n)->name = TX_REALLOC(D_RO(n)->name, 64);
		strcat(D_RW(D_RW(n)->name), "-grown");
		TOID(struct node) z = TX_ZNEW(struct node);
		CHECK_EQ(D_RO(z)->value, 0);
		CHECK(TOID_IS_NULL(D_RO(z)->next));
		TX_FREE(z);
		TOID(struct node) z2 = TX_ZALLOC(struct node, sizeof(struct node) + 64);
		CHECK(pmemobj_alloc_usable_size(z2.oid) >= sizeof(struct node) + 64);
		z2 = TX_ZREALLOC(z2, sizeof(struct node) + 256);
		TX_FREE(z2);
		TOID(struct node) a = TX_ALLOC(struct node, sizeof(struct node));
		TX_XFREE(a, 0);
		TOID(struct node) x = TX_XALLOC(struct node, sizeof(struct node), POBJ_XALLOC_ZERO);
		CHECK_EQ(D_RO(x)->value, 0);
		TX_FREE(x);
	} TX_ONABORT {
		CHECK(0);
	} TX_END
	TOID(struct node) n = D_RO(root)->head;
	CHECK(strcmp(D_RO(D_RO(n)->name), "node-100-grown") == 0);
	CHECK(pmemobj_alloc_usable_size(D_RO(n)->name.oid) >= 64);
	TX_BEGIN(pop) {
		TX_ADD_FIELD(n, name);
		TOID_ASSIGN(D_RW(n)->name, TX_STRDUP("node-100", TOID_TYPE_NUM(char)));
	} TX_END
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s POOLFILE\n", argv[0]);
		return 2;
	}
	const char *path = argv[1];
	unlink(path);

	/* compile-time facts of the layout */
	CHECK_EQ(POBJ_LAYOUT_TYPES_NUM(list), 2);
	CHECK_EQ(TOID_TYPE_NUM(struct root), POBJ_ROOT_TYPE_NUM);
	CHECK_EQ(TOID_TYPE_NUM(struct node), 1);
	CHECK_EQ(TOID_TYPE_NUM(char), 2);
	CHECK(strcmp(POBJ_LAYOUT_NAME(list), "list") == 0);

	PMEMobjpool *pop = pmemobj_create(path, POBJ_LAYOUT_NAME(list), PMEMOBJ_MIN_POOL * 4, 0600);
	if (pop == NULL) {
		fprintf(stderr, "pmemobj_create: %s\n", pmemobj_errormsg());
		return 1;
	}
	TOID(struct root) root = POBJ_ROOT(pop, struct root);
	CHECK(!TOID_IS_NULL(root));
	CHECK(TOID_VALID(root));
	CHECK_EQ(TOID_TYPE_NUM_OF(root), 0);
	CHECK(TOID_IS_NULL(D_RO(root)->head));
	CHECK_EQ(D_RO(POBJ_ROOT(pop, struct root))->count, 0);

	uint64_t sum = 0;
	for (uint64_t v = 1; v <= 100; v++) {
		CHECK_EQ(push(pop, v), 0);
		sum += v;
	}
	check_list(root, 100, sum);

	test_iterate(pop, sum);
	test_abort(pop);
	test_commit(pop);
	test_nested_abort(pop);
	test_nested_commit(pop);
	test_callback(pop);
	test_realloc(pop);

	/* remove half, reopen, check what survived */
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(pop_front(pop), 1);
		sum -= (uint64_t)(100 - i);
	}
	check_list(root, 50, sum);
	pmemobj_close(pop);

	CHECK_EQ(pmemobj_check(path, POBJ_LAYOUT_NAME(list)), 1);
	pop = pmemobj_open(path, POBJ_LAYOUT_NAME(list));
	CHECK(pop != NULL);
	root = POBJ_ROOT(pop, struct root);
	check_list(root, 50, sum);
	while (pop_front(pop))
		;
	check_list(root, 0, 0);
	{
		TOID(struct node) n;
		int left = 0;
		POBJ_FOREACH_TYPE(pop, n)
			left++;
		CHECK_EQ(left, 0);
	}
	pmemobj_close(pop);
	unlink(path);
	printf("list: ok\n");
	return 0;
}
