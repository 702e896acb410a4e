/*
 * obj_actions.c -- the action API (pmemobj_reserve / set_value / defer_free /
 * publish / cancel / tx_publish) through PMDK's documented behaviour only
 *
 *   obj_actions DIR
 */
#include <errno.h>
#include <libpmemobj.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define LAYOUT "actions"

struct root {
	PMEMoid a, b;
	uint64_t counter;
	uint64_t flag;
};

static int
count_objects(PMEMobjpool *pop)
{
	int n = 0;
	PMEMoid o;
	POBJ_FOREACH(pop, o)
		n++;
	return n;
}

/* publish act in a transaction that sets *dst to o, aborted if abort_it (a
 * function of its own: a CHECK_BODY must not span TX_BEGIN's setjmp) */
static void
publish_in_tx(PMEMobjpool *pop, struct pobj_action *act, PMEMoid *dst, PMEMoid o, int abort_it)
{
	TX_BEGIN(pop) {
		pmemobj_tx_add_range_direct(dst, sizeof(*dst));
		*dst = o;
		pmemobj_tx_publish(act, 1);
		if (abort_it)
			pmemobj_tx_abort(ECANCELED);
	} TX_END
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: obj_actions DIR\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/actions.obj", argv[1]);
	unlink(path);
	PMEMobjpool *pop = pmemobj_create(path, LAYOUT, PMEMOBJ_MIN_POOL * 2, 0600);
	if (!pop) {
		fprintf(stderr, "pmemobj_create: %s\n", pmemobj_errormsg());
		return 1;
	}
	PMEMoid root = pmemobj_root(pop, sizeof(struct root));
	struct root *r = pmemobj_direct(root);

	CHECK_BODY("reserve-publish") {
		struct pobj_action act[3];
		PMEMoid o = pmemobj_reserve(pop, &act[0], 128, 7);
		EXPECT(!OID_IS_NULL(o));
		EXPECT_EQ(0, count_objects(pop));          /* not allocated before publish */
		memset(pmemobj_direct(o), 0x5a, 128);
		pmemobj_persist(pop, pmemobj_direct(o), 128);
		pmemobj_set_value(pop, &act[1], &r->a.pool_uuid_lo, o.pool_uuid_lo);
		pmemobj_set_value(pop, &act[2], &r->a.off, o.off);
		EXPECT_EQ(0, pmemobj_publish(pop, act, 3));
		EXPECT(OID_EQUALS(r->a, o));
		EXPECT_EQ(1, count_objects(pop));
		EXPECT_EQ(7, pmemobj_type_num(o));
		EXPECT(((unsigned char *)pmemobj_direct(o))[127] == 0x5a);
	}

	CHECK_BODY("reserve-cancel") {
		struct pobj_action act[2];
		PMEMoid x = pmemobj_reserve(pop, &act[0], 64, 8);
		PMEMoid y = pmemobj_xreserve(pop, &act[1], 20000, 8, POBJ_XALLOC_ZERO);
		EXPECT(!OID_IS_NULL(x) && !OID_IS_NULL(y));
		char *yz = pmemobj_direct(y);
		int zero = 1;
		for (int i = 0; i < 20000; i++)
			zero &= yz[i] == 0;
		EXPECT(zero);
		pmemobj_cancel(pop, act, 2);
		EXPECT_EQ(1, count_objects(pop));
		PMEMoid o;
		EXPECT_EQ(0, pmemobj_alloc(pop, &o, 64, 8, NULL, NULL));   /* the space is back */
		pmemobj_free(&o);
	}

	CHECK_BODY("defer-free") {
		struct pobj_action act[2];
		pmemobj_defer_free(pop, r->a, &act[0]);
		EXPECT_EQ(1, count_objects(pop));          /* still there before publish */
		pmemobj_set_value(pop, &act[1], &r->flag, 1);
		EXPECT_EQ(0, pmemobj_publish(pop, act, 2));
		EXPECT_EQ(0, count_objects(pop));
		EXPECT_EQ(1, r->flag);
	}

	CHECK_BODY("tx-publish") {
		struct pobj_action act[1];
		PMEMoid o = pmemobj_reserve(pop, &act[0], 256, 9);
		EXPECT(!OID_IS_NULL(o));
		publish_in_tx(pop, act, &r->b, o, 0);
		EXPECT(OID_EQUALS(r->b, o));
		EXPECT_EQ(1, count_objects(pop));
		EXPECT_EQ(9, pmemobj_type_num(o));
	}

	CHECK_BODY("tx-publish-aborted") {
		struct pobj_action act[1];
		PMEMoid kept = r->b;
		PMEMoid o = pmemobj_reserve(pop, &act[0], 256, 10);
		publish_in_tx(pop, act, &r->b, o, 1);
		EXPECT(OID_EQUALS(r->b, kept));            /* rolled back */
		EXPECT_EQ(1, count_objects(pop));          /* the reservation went away */
	}

	CHECK_BODY("reopen") {
		pmemobj_close(pop);
		pop = pmemobj_open(path, LAYOUT);
		EXPECT(pop != NULL);
		if (!pop)
			continue;
		r = pmemobj_direct(pmemobj_root(pop, sizeof(struct root)));
		EXPECT_EQ(1, count_objects(pop));
		EXPECT_EQ(9, pmemobj_type_num(r->b));
	}
	if (pop)
		pmemobj_close(pop);
	unlink(path);
	return check_summary();
}
