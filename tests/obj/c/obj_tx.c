/*
 * obj_tx.c -- libpmemobj's transactions and pmem-aware locks through PMDK's documented API
 *
 * pmemobj_tx_begin(3), pmemobj_tx_add_range(3), pmemobj_tx_alloc(3), pmemobj_mutex_zero(3):
 * the function API and the TX_* macros, commit and abort (by call and by error), stages and
 * their blocks, nesting, the x-variants' flags, the failure behaviour, locks held for a
 * transaction, and the locks from several threads. Passes unchanged against Debian's
 * libpmemobj (-lpmemobj) and pmalloc's.
 *
 * An abort longjmps to TX_BEGIN: whatever a transaction body writes and the code after
 * TX_END reads lives in static storage here (automatic variables changed after setjmp are
 * indeterminate after the longjmp), and the EXPECTs come after TX_END.
 *
 *   obj_tx DIR   (a writable directory; pool files are made and removed there)
 */
#define _GNU_SOURCE
#include <libpmemobj.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "check.h"

/* -Wclobbered: CHECK_BODY's `result` lives across the setjmp of TX_BEGIN; no body changes
 * it between the setjmp and an abort's longjmp (see above), so its value survives. */
#pragma GCC diagnostic ignored "-Wclobbered"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define LAYOUT "obj_tx"

#include "objtest.h"

struct troot {
	PMEMmutex mtx;          /* the counter's */
	PMEMmutex mtx2;         /* taken by pmemobj_tx_lock() */
	PMEMrwlock rw;
	PMEMcond cond;
	uint64_t counter;       /* threads: under mtx */
	uint64_t pair[2];       /* threads: equal under rw */
	uint64_t arrived;       /* threads: the barrier, under mtx with cond */
	uint64_t a, b;
	char buf[1024];
};

struct item {
	uint64_t x;
	uint64_t y;
	char name[16];
};
TOID_DECLARE_ROOT(struct troot);
TOID_DECLARE(struct item, 1);

static PMEMobjpool *pop;        /* the pool of every test */
static PMEMobjpool *other;      /* a second pool: its objects are foreign to pop's txs */
static struct troot *rt;
static PMEMoid foreign;         /* an object of `other` */

/* What a transaction did, read after TX_END: a trace of numbered events. */
static int trace[32];
static int ntrace;
static int stage_at[32];

static void
note(int event)
{
	if (ntrace < 32) {
		stage_at[ntrace] = (int)pmemobj_tx_stage();
		trace[ntrace++] = event;
	}
}

static void
trace_reset(void)
{
	ntrace = 0;
	memset(trace, 0, sizeof(trace));
}

/* trace == the n events given, each in the stage given after it */
static bool
trace_is(int n, const int *events, const int *stages)
{
	bool same = ntrace == n;
	for (int i = 0; same && i < n; i++)
		same = trace[i] == events[i] && stage_at[i] == stages[i];
	if (!same) {
		printf("  trace (event/stage):");
		for (int i = 0; i < ntrace; i++)
			printf(" %d/%d", trace[i], stage_at[i]);
		printf("\n  expected:");
		for (int i = 0; i < n; i++)
			printf(" %d/%d", events[i], stages[i]);
		printf("\n");
	}
	return same;
}

/* rt->a, rt->b and rt->buf to known values, outside any transaction */
static void
reset_root(uint64_t a, uint64_t b)
{
	rt->a = a;
	rt->b = b;
	fill(rt->buf, a, sizeof(rt->buf));
	pmemobj_persist(pop, rt, sizeof(*rt));
}

/* ---- commit and abort --------------------------------------------------------------- */

static TOID(struct item) item;
static PMEMoid spare;           /* freed in an aborted transaction: must survive */
static PMEMoid made;            /* allocated in an aborted transaction */
static int after_abort_ran;
static int tx_err;

static void
test_commit(void)
{
	CHECK_BODY("commit-keeps-changes") {
		reset_root(1, 2);
		TX_BEGIN(pop) {
			note(1);
			TX_ADD_FIELD_DIRECT(rt, a);
			rt->a = 10;
			pmemobj_tx_add_range_direct(&rt->b, sizeof(rt->b));
			rt->b = 20;
			TX_MEMSET(rt->buf, 'x', 100);
			TX_SET(item, y, 99);
			TX_MEMCPY(D_RW(item)->name, "committed", 10);
		} TX_ONCOMMIT {
			note(2);
		} TX_ONABORT {
			note(3);
		} TX_FINALLY {
			note(4);
		} TX_END
		note(5);
		EXPECT_EQ(10, rt->a);
		EXPECT_EQ(20, rt->b);
		EXPECT(all_bytes(rt->buf, 'x', 100));
		EXPECT(holds_from(rt->buf, 1, 100, sizeof(rt->buf)));
		EXPECT_EQ(99, D_RO(item)->y);
		EXPECT(strcmp(D_RO(item)->name, "committed") == 0);
		EXPECT_EQ(0, pmemobj_tx_errno());
		static const int ev[] = { 1, 2, 4, 5 };
		static const int st[] = { TX_STAGE_WORK, TX_STAGE_ONCOMMIT, TX_STAGE_FINALLY,
			TX_STAGE_NONE };
		EXPECT(trace_is(4, ev, st));
	}
}

static void
abort_everything(int errnum)
{
	TX_BEGIN(pop) {
		note(1);
		TX_ADD(item);
		D_RW(item)->x = 100;
		TX_SET(item, y, 200);
		TX_MEMCPY(D_RW(item)->name, "after", 6);
		pmemobj_tx_add_range_direct(rt->buf, 512);
		memset(rt->buf, 'Z', 512);
		TX_ADD_FIELD_DIRECT(rt, a);
		rt->a = 1000;
		made = pmemobj_tx_alloc(4096, 2);
		memset(pmemobj_direct(made), 1, 4096);
		pmemobj_tx_free(spare);
		pmemobj_tx_abort(errnum);
		after_abort_ran = 1;
	} TX_ONCOMMIT {
		note(2);
	} TX_ONABORT {
		note(3);
	} TX_FINALLY {
		note(4);
	} TX_END
	tx_err = errno;
	note(5);
}

static void
test_abort(void)
{
	CHECK_BODY("abort-rolls-back") {
		reset_root(7, 8);
		D_RW(item)->x = 1;
		D_RW(item)->y = 2;
		strcpy(D_RW(item)->name, "before");
		pmemobj_persist(pop, D_RW(item), sizeof(struct item));
		EXPECT_EQ(0, pmemobj_alloc(pop, &spare, 300, 3, NULL, NULL));
		fill(pmemobj_direct(spare), 3, 300);
		pmemobj_persist(pop, pmemobj_direct(spare), 300);
		size_t before = count_objects(pop);
		trace_reset();
		after_abort_ran = 0;
		abort_everything(EINVAL);
		EXPECT_ERRNO(EINVAL, tx_err);
		EXPECT_EQ(EINVAL, pmemobj_tx_errno());
		EXPECT_EQ(0, after_abort_ran);
		EXPECT_EQ(1, D_RO(item)->x);
		EXPECT_EQ(2, D_RO(item)->y);
		EXPECT(strcmp(D_RO(item)->name, "before") == 0);
		EXPECT_EQ(7, rt->a);
		EXPECT(holds(rt->buf, 7, sizeof(rt->buf)));
		EXPECT_EQ(before, count_objects(pop));       /* nothing new, the spare kept */
		EXPECT_EQ(1, count_type(pop, 3));
		EXPECT_EQ(0, count_type(pop, 2));
		EXPECT(holds(pmemobj_direct(spare), 3, 300));
		EXPECT(pmemobj_alloc_usable_size(spare) >= 300);
		static const int ev[] = { 1, 3, 4, 5 };
		static const int st[] = { TX_STAGE_WORK, TX_STAGE_ONABORT, TX_STAGE_FINALLY,
			TX_STAGE_NONE };
		EXPECT(trace_is(4, ev, st));

		trace_reset();
		abort_everything(0);                  /* no error number: ECANCELED */
		EXPECT_ERRNO(ECANCELED, tx_err);
		EXPECT_EQ(ECANCELED, pmemobj_tx_errno());
		EXPECT_EQ(1, D_RO(item)->x);
		EXPECT(holds(pmemobj_direct(spare), 3, 300));
		pmemobj_free(&spare);
	}
}

static uint64_t big_before;

static void
test_abort_by_error(void)
{
	CHECK_BODY("abort-by-error") {
		reset_root(3, 4);
		/* an object of another pool */
		trace_reset();
		after_abort_ran = 0;
		TX_BEGIN(pop) {
			TX_ADD_FIELD_DIRECT(rt, a);
			rt->a = 33;
			pmemobj_tx_add_range(foreign, 0, 8);
			after_abort_ran = 1;
		} TX_ONABORT {
			note(3);
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(EINVAL, tx_err);
		EXPECT_EQ(0, after_abort_ran);
		EXPECT_EQ(3, rt->a);
		EXPECT_EQ(1, ntrace);
		/* memory outside the pool */
		static uint64_t not_pmem;
		TX_BEGIN(pop) {
			TX_ADD_FIELD_DIRECT(rt, b);
			rt->b = 44;
			pmemobj_tx_add_range_direct(&not_pmem, sizeof(not_pmem));
			after_abort_ran = 1;
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(EINVAL, tx_err);
		EXPECT_EQ(0, after_abort_ran);
		EXPECT_EQ(4, rt->b);
		/* a range reaching far past the pool */
		TX_BEGIN(pop) {
			TX_ADD_FIELD_DIRECT(rt, b);
			rt->b = 45;
			pmemobj_tx_add_range(pmemobj_oid(rt), 0, (size_t)1 << 30);
			after_abort_ran = 1;
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(EINVAL, tx_err);
		EXPECT_EQ(0, after_abort_ran);
		EXPECT_EQ(4, rt->b);
		/* an allocation of nothing */
		TX_BEGIN(pop) {
			TX_ADD_FIELD_DIRECT(rt, b);
			rt->b = 46;
			made = pmemobj_tx_alloc(0, 1);
			after_abort_ran = 1;
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(EINVAL, tx_err);
		EXPECT_EQ(0, after_abort_ran);
		EXPECT_EQ(4, rt->b);
		/* too large an allocation */
		big_before = count_objects(pop);
		TX_BEGIN(pop) {
			TX_ADD_FIELD_DIRECT(rt, b);
			rt->b = 47;
			made = pmemobj_tx_alloc(64, 1);
			made = pmemobj_tx_alloc(PMEMOBJ_MAX_ALLOC_SIZE + 1, 1);
			after_abort_ran = 1;
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(ENOMEM, tx_err);
		EXPECT_EQ(0, after_abort_ran);
		EXPECT_EQ(4, rt->b);
		EXPECT_EQ(big_before, count_objects(pop));
		/* invalid flags */
		TX_BEGIN(pop) {
			pmemobj_tx_xadd_range_direct(&rt->a, 8, (uint64_t)1 << 20);
			after_abort_ran = 1;
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(EINVAL, tx_err);
		EXPECT_EQ(0, after_abort_ran);
		TX_BEGIN(pop) {
			made = pmemobj_tx_xalloc(64, 1, (uint64_t)1 << 20);
			after_abort_ran = 1;
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(EINVAL, tx_err);
		EXPECT_EQ(0, after_abort_ran);
		EXPECT(strlen(pmemobj_errormsg()) > 0);
		EXPECT_EQ(TX_STAGE_NONE, pmemobj_tx_stage());
	}
}

/* ---- stages, nesting, the function API ---------------------------------------------- */

static void
test_stages(void)
{
	CHECK("stage-outside-a-transaction", pmemobj_tx_stage() == TX_STAGE_NONE);

	CHECK_BODY("nested-inner-commit-outer-abort") {
		reset_root(1, 2);
		trace_reset();
		TX_BEGIN(pop) {
			TX_ADD_FIELD_DIRECT(rt, a);
			rt->a = 11;
			TX_BEGIN(pop) {
				note(1);
				TX_ADD_FIELD_DIRECT(rt, b);
				rt->b = 22;
				made = pmemobj_tx_alloc(128, 4);
			} TX_ONCOMMIT {
				note(2);
			} TX_ONABORT {
				note(3);
			} TX_FINALLY {
				note(4);
			} TX_END
			note(5);                      /* back in the outer: its stage is WORK */
			pmemobj_tx_abort(EFAULT);
		} TX_ONCOMMIT {
			note(6);
		} TX_ONABORT {
			note(7);
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(EFAULT, tx_err);
		EXPECT_EQ(1, rt->a);
		EXPECT_EQ(2, rt->b);
		EXPECT_EQ(0, count_type(pop, 4));
		static const int ev[] = { 1, 2, 4, 5, 7 };
		static const int st[] = { TX_STAGE_WORK, TX_STAGE_ONCOMMIT, TX_STAGE_FINALLY,
			TX_STAGE_WORK, TX_STAGE_ONABORT };
		EXPECT(trace_is(5, ev, st));
	}

	CHECK_BODY("nested-inner-abort-aborts-outer") {
		reset_root(1, 2);
		trace_reset();
		TX_BEGIN(pop) {
			TX_ADD_FIELD_DIRECT(rt, a);
			rt->a = 11;
			TX_BEGIN(pop) {
				TX_ADD_FIELD_DIRECT(rt, b);
				rt->b = 22;
				pmemobj_tx_abort(ENOTSUP);
			} TX_ONABORT {
				note(3);
			} TX_END
			note(5);                      /* never: the outer is aborted too */
		} TX_ONCOMMIT {
			note(6);
		} TX_ONABORT {
			note(7);
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(ENOTSUP, tx_err);
		EXPECT_EQ(ENOTSUP, pmemobj_tx_errno());
		EXPECT_EQ(1, rt->a);
		EXPECT_EQ(2, rt->b);
		static const int ev[] = { 3, 7 };
		static const int st[] = { TX_STAGE_ONABORT, TX_STAGE_ONABORT };
		EXPECT(trace_is(2, ev, st));
	}

	CHECK_BODY("nested-commit-both") {
		reset_root(1, 2);
		TX_BEGIN(pop) {
			TX_ADD_FIELD_DIRECT(rt, a);
			rt->a = 11;
			TX_BEGIN(pop) {
				TX_ADD_FIELD_DIRECT(rt, b);
				rt->b = 22;
				TX_BEGIN(pop) {
					TX_SET_DIRECT(rt, a, 111);
				} TX_END
			} TX_END
		} TX_END
		EXPECT_EQ(111, rt->a);
		EXPECT_EQ(22, rt->b);
	}

	CHECK_BODY("function-api-env-null") {
		reset_root(1, 2);
		EXPECT_EQ(0, pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE));
		EXPECT_EQ(TX_STAGE_WORK, pmemobj_tx_stage());
		EXPECT_EQ(0, pmemobj_tx_add_range_direct(&rt->a, 8));
		rt->a = 5;
		pmemobj_tx_commit();
		EXPECT_EQ(TX_STAGE_ONCOMMIT, pmemobj_tx_stage());
		EXPECT_EQ(0, pmemobj_tx_end());
		EXPECT_EQ(TX_STAGE_NONE, pmemobj_tx_stage());
		EXPECT_EQ(5, rt->a);

		/* abort without an env: no longjmp, the rollback is done when it returns */
		EXPECT_EQ(0, pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE));
		EXPECT_EQ(0, pmemobj_tx_add_range(pmemobj_oid(rt), offsetof(struct troot, a), 8));
		rt->a = 6;
		pmemobj_tx_abort(EIO);
		EXPECT_EQ(TX_STAGE_ONABORT, pmemobj_tx_stage());
		EXPECT_EQ(5, rt->a);
		EXPECT_EQ(EIO, pmemobj_tx_end());
		EXPECT_EQ(TX_STAGE_NONE, pmemobj_tx_stage());
		EXPECT_EQ(EIO, pmemobj_tx_errno());

		/* a failing call without an env: it returns, the transaction is aborted */
		EXPECT_EQ(0, pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE));
		EXPECT_EQ(0, pmemobj_tx_add_range_direct(&rt->a, 8));
		rt->a = 7;
		errno = 0;
		EXPECT(OID_IS_NULL(pmemobj_tx_alloc(0, 1)));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT_EQ(TX_STAGE_ONABORT, pmemobj_tx_stage());
		EXPECT_EQ(5, rt->a);
		EXPECT_EQ(EINVAL, pmemobj_tx_end());
		EXPECT_EQ(TX_STAGE_NONE, pmemobj_tx_stage());

		/* pmemobj_tx_process() walks the stages of a commit */
		EXPECT_EQ(0, pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE));
		EXPECT_EQ(0, pmemobj_tx_add_range_direct(&rt->b, 8));
		rt->b = 9;
		pmemobj_tx_process();
		EXPECT_EQ(TX_STAGE_ONCOMMIT, pmemobj_tx_stage());
		pmemobj_tx_process();
		EXPECT_EQ(TX_STAGE_FINALLY, pmemobj_tx_stage());
		pmemobj_tx_process();
		EXPECT_EQ(TX_STAGE_NONE, pmemobj_tx_stage());
		EXPECT_EQ(0, pmemobj_tx_end());
		EXPECT_EQ(TX_STAGE_NONE, pmemobj_tx_stage());
		EXPECT_EQ(9, rt->b);
	}

	CHECK_BODY("tx-user-data") {
		static void *seen_first, *seen_set;
		TX_BEGIN(pop) {
			seen_first = pmemobj_tx_get_user_data();
			pmemobj_tx_set_user_data(rt);
			seen_set = pmemobj_tx_get_user_data();
		} TX_END
		EXPECT(seen_first == NULL);
		EXPECT(seen_set == rt);
		TX_BEGIN(pop) {
			seen_first = pmemobj_tx_get_user_data();
		} TX_END
		EXPECT(seen_first == NULL);
	}
}

static void
stage_callback(PMEMobjpool *p, enum pobj_tx_stage stage, void *arg)
{
	(void)p;
	(void)stage;
	note(*(int *)arg);
}

static void
test_callback(void)
{
	CHECK_BODY("tx-callback") {
		/* the callback runs before commit (WORK), then first in each stage, and once
		 * more at the end with TX_STAGE_NONE; before each block of the stage */
		static int tag = 100;
		trace_reset();
		TX_BEGIN_CB(pop, stage_callback, &tag) {
			note(1);
		} TX_ONCOMMIT {
			note(2);
		} TX_FINALLY {
			note(4);
		} TX_END
		static const int ev[] = { 1, 100, 100, 2, 100, 4, 100 };
		static const int st[] = { TX_STAGE_WORK, TX_STAGE_WORK, TX_STAGE_ONCOMMIT,
			TX_STAGE_ONCOMMIT, TX_STAGE_FINALLY, TX_STAGE_FINALLY, TX_STAGE_NONE };
		EXPECT(trace_is(7, ev, st));
		trace_reset();
		TX_BEGIN_CB(pop, stage_callback, &tag) {
			note(1);
			pmemobj_tx_abort(0);
		} TX_ONABORT {
			note(3);
		} TX_FINALLY {
			note(4);
		} TX_END
		static const int ev2[] = { 1, 100, 3, 100, 4, 100 };
		static const int st2[] = { TX_STAGE_WORK, TX_STAGE_ONABORT, TX_STAGE_ONABORT,
			TX_STAGE_FINALLY, TX_STAGE_FINALLY, TX_STAGE_NONE };
		EXPECT(trace_is(6, ev2, st2));
	}
}

/* ---- transactional allocations ------------------------------------------------------ */

static PMEMoid t_alloc, t_zalloc, t_xalloc, t_str, t_wcs, t_re, t_free_me, t_inner;
static TOID(struct item) t_new, t_znew;
static size_t t_count_inside, t_old_usable;
static int t_zeroed, t_xzeroed, t_kept, t_zext, t_free_null, t_znew_zero;

static void
test_tx_alloc(void)
{
	CHECK_BODY("tx-alloc-family") {
		EXPECT_EQ(0, pmemobj_alloc(pop, &t_free_me, 64, 29, NULL, NULL));
		size_t before = count_objects(pop);
		TX_BEGIN(pop) {
			t_alloc = pmemobj_tx_alloc(100, 21);
			fill(pmemobj_direct(t_alloc), 21, 100);
			t_zalloc = pmemobj_tx_zalloc(3000, 22);
			t_zeroed = all_bytes(pmemobj_direct(t_zalloc), 0, 3000);
			t_xalloc = pmemobj_tx_xalloc(3000, 23, POBJ_XALLOC_ZERO);
			t_xzeroed = all_bytes(pmemobj_direct(t_xalloc), 0, 3000);
			t_str = pmemobj_tx_strdup("hello", 24);
			t_wcs = pmemobj_tx_wcsdup(L"wide", 25);
			t_re = pmemobj_tx_alloc(64, 26);
			fill(pmemobj_direct(t_re), 26, 64);
			t_re = pmemobj_tx_realloc(t_re, 5000, 27);
			t_kept = holds(pmemobj_direct(t_re), 26, 64);
			t_old_usable = pmemobj_alloc_usable_size(t_re);
			fill(pmemobj_direct(t_re), 27, t_old_usable);
			t_re = pmemobj_tx_zrealloc(t_re, 3 * t_old_usable, 27);
			t_zext = holds(pmemobj_direct(t_re), 27, t_old_usable) &&
				all_bytes((char *)pmemobj_direct(t_re) + t_old_usable, 0,
					2 * t_old_usable);
			t_new = TX_NEW(struct item);
			D_RW(t_new)->x = 5;
			t_znew = TX_ZNEW(struct item);
			t_znew_zero = all_bytes(D_RO(t_znew), 0, sizeof(struct item));
			TX_FREE(t_znew);
			pmemobj_tx_free(t_free_me);
			t_free_null = pmemobj_tx_free(OID_NULL);
			t_inner = pmemobj_tx_alloc(64, 28);
			pmemobj_tx_free(t_inner);
			/* not in the object containers before the commit */
			t_count_inside = count_objects(pop);
		} TX_END
		EXPECT_EQ(before, t_count_inside);
		EXPECT(t_zeroed && t_xzeroed && t_znew_zero);
		EXPECT(t_kept);
		EXPECT(t_zext);
		EXPECT_EQ(0, t_free_null);
		EXPECT(holds(pmemobj_direct(t_alloc), 21, 100));
		EXPECT(pmemobj_alloc_usable_size(t_alloc) >= 100);
		EXPECT(strcmp(pmemobj_direct(t_str), "hello") == 0);
		EXPECT(wcscmp(pmemobj_direct(t_wcs), L"wide") == 0);
		EXPECT(pmemobj_alloc_usable_size(t_re) >= 3 * t_old_usable);
		EXPECT_EQ(5, D_RO(t_new)->x);
		EXPECT(TOID_VALID(t_new));
		static const uint64_t one_of[] = { 21, 22, 23, 24, 25, 27 };
		for (int i = 0; i < 6; i++)
			EXPECT_EQ(1, count_type(pop, one_of[i]));
		EXPECT_EQ(0, count_type(pop, 26));     /* the realloc moved it to 27 */
		EXPECT_EQ(0, count_type(pop, 28));
		EXPECT_EQ(0, count_type(pop, 29));
		EXPECT_EQ(2, count_type(pop, 1));      /* the item and t_new (t_znew freed) */
		EXPECT_EQ(before + 6, count_objects(pop));

		/* freed in a transaction, all of them */
		TX_BEGIN(pop) {
			pmemobj_tx_free(t_alloc);
			pmemobj_tx_free(t_zalloc);
			pmemobj_tx_free(t_xalloc);
			pmemobj_tx_free(t_str);
			pmemobj_tx_free(t_wcs);
			t_re = pmemobj_tx_realloc(t_re, 0, 27);   /* size 0: a free */
			TX_FREE(t_new);
		} TX_END
		EXPECT(OID_IS_NULL(t_re));
		EXPECT_EQ(before - 1, count_objects(pop));
		EXPECT_EQ(0, count_type(pop, 27));
	}

	CHECK_BODY("tx-realloc-abort-keeps-the-old") {
		PMEMoid o;
		EXPECT_EQ(0, pmemobj_alloc(pop, &o, 200, 30, NULL, NULL));
		fill(pmemobj_direct(o), 30, 200);
		pmemobj_persist(pop, pmemobj_direct(o), 200);
		spare = o;
		TX_BEGIN(pop) {
			made = pmemobj_tx_realloc(spare, 100000, 31);
			memset(pmemobj_direct(made), 0, 100000);
			pmemobj_tx_abort(EINVAL);
		} TX_END
		EXPECT(holds(pmemobj_direct(o), 30, 200));
		EXPECT_EQ(30, pmemobj_type_num(o));
		EXPECT_EQ(1, count_type(pop, 30));
		EXPECT_EQ(0, count_type(pop, 31));
		pmemobj_free(&o);
	}

	CHECK_BODY("tx-xalloc-no-abort") {
		reset_root(1, 2);
		static int e1, e2, e3, s1, s2, s3, r3;
		static PMEMoid o1, o2;
		TX_BEGIN(pop) {
			errno = 0;
			o1 = pmemobj_tx_xalloc(0, 1, POBJ_XALLOC_NO_ABORT);
			e1 = errno;
			s1 = pmemobj_tx_stage();
			errno = 0;
			o2 = pmemobj_tx_xalloc(PMEMOBJ_MAX_ALLOC_SIZE + 1, 1,
					POBJ_XALLOC_NO_ABORT | POBJ_XALLOC_ZERO);
			e2 = errno;
			s2 = pmemobj_tx_stage();
			errno = 0;
			r3 = pmemobj_tx_xfree(foreign, POBJ_XFREE_NO_ABORT);
			e3 = errno;
			s3 = pmemobj_tx_stage();
			TX_SET_DIRECT(rt, a, 77);
		} TX_END
		EXPECT(OID_IS_NULL(o1));
		EXPECT_ERRNO(EINVAL, e1);
		EXPECT(OID_IS_NULL(o2));
		EXPECT_ERRNO(ENOMEM, e2);
		EXPECT(r3 != 0);
		EXPECT_ERRNO(EINVAL, e3);
		EXPECT(s1 == TX_STAGE_WORK && s2 == TX_STAGE_WORK && s3 == TX_STAGE_WORK);
		EXPECT_EQ(77, rt->a);                   /* and it committed */
		EXPECT_EQ(0, pmemobj_tx_errno());
	}
}

/* ---- snapshots and their flags ------------------------------------------------------- */

static int xadd_ret;

/* rt->a = 100 with the flags, then commit or abort; rt->a after */
static uint64_t
xadd_then(uint64_t flags, int abort_it)
{
	reset_root(1, 2);
	TX_BEGIN(pop) {
		xadd_ret = pmemobj_tx_xadd_range_direct(&rt->a, sizeof(rt->a), flags);
		rt->a = 100;
		if (abort_it)
			pmemobj_tx_abort(ECANCELED);
	} TX_END
	return rt->a;
}

static PMEMoid big;

static void
test_snapshots(void)
{
	CHECK_BODY("xadd-flags") {
		EXPECT_EQ(1, xadd_then(0, 1));
		EXPECT_EQ(100, xadd_then(0, 0));
		EXPECT_EQ(100, xadd_then(POBJ_XADD_NO_SNAPSHOT, 1));   /* not rolled back */
		EXPECT_EQ(100, xadd_then(POBJ_XADD_NO_SNAPSHOT, 0));
		EXPECT_EQ(1, xadd_then(POBJ_XADD_NO_FLUSH, 1));        /* still snapshotted */
		EXPECT_EQ(100, xadd_then(POBJ_XADD_NO_FLUSH, 0));
		EXPECT_EQ(1, xadd_then(POBJ_XADD_ASSUME_INITIALIZED, 1));
		EXPECT_EQ(100, xadd_then(POBJ_XADD_ASSUME_INITIALIZED, 0));
		EXPECT_EQ(0, xadd_ret);
		/* TX_XADD and TX_XADD_FIELD forms */
		D_RW(item)->x = 1;
		D_RW(item)->y = 1;
		pmemobj_persist(pop, D_RW(item), sizeof(struct item));
		TX_BEGIN(pop) {
			TX_XADD_FIELD(item, x, POBJ_XADD_NO_SNAPSHOT);
			D_RW(item)->x = 2;
			TX_XADD(item, 0);
			D_RW(item)->y = 2;
			pmemobj_tx_abort(ECANCELED);
		} TX_END
		EXPECT_EQ(2, D_RO(item)->x);    /* the later snapshot holds the new x */
		EXPECT_EQ(1, D_RO(item)->y);
	}

	CHECK_BODY("xadd-no-abort") {
		reset_root(1, 2);
		static int r, e, s;
		TX_BEGIN(pop) {
			errno = 0;
			r = pmemobj_tx_xadd_range(foreign, 0, 8, POBJ_XADD_NO_ABORT);
			e = errno;
			s = pmemobj_tx_stage();
			TX_SET_DIRECT(rt, b, 5);
		} TX_END
		EXPECT(r != 0);
		EXPECT_ERRNO(EINVAL, e);
		EXPECT_EQ(TX_STAGE_WORK, s);
		EXPECT_EQ(5, rt->b);
	}

	CHECK_BODY("overlapping-snapshots") {
		reset_root(1, 2);
		TX_BEGIN(pop) {
			pmemobj_tx_add_range_direct(rt->buf + 8, 8);
			memset(rt->buf + 8, 'a', 8);
			pmemobj_tx_add_range_direct(rt->buf, 32);   /* over the changed bytes */
			memset(rt->buf, 'b', 32);
			pmemobj_tx_add_range_direct(rt->buf + 16, 64);
			memset(rt->buf + 16, 'c', 64);
			pmemobj_tx_add_range_direct(rt->buf + 8, 8);  /* again */
			memset(rt->buf, 'd', 80);                    /* all of it added */
			pmemobj_tx_abort(ECANCELED);
		} TX_END
		EXPECT(holds(rt->buf, 1, sizeof(rt->buf)));
	}

	CHECK_BODY("many-and-large-snapshots") {
		EXPECT_EQ(0, pmemobj_alloc(pop, &big, 2 * MiB, 40, NULL, NULL));
		fill(pmemobj_direct(big), 40, 2 * MiB);
		pmemobj_persist(pop, pmemobj_direct(big), 2 * MiB);
		TX_BEGIN(pop) {
			pmemobj_tx_add_range(big, 0, MiB);              /* one large range */
			memset(pmemobj_direct(big), 0, MiB);
			for (size_t off = MiB; off < 2 * MiB; off += 512) {   /* 2048 small ones */
				pmemobj_tx_add_range(big, off, 8);
				memset((char *)pmemobj_direct(big) + off, 0, 8);
			}
			pmemobj_tx_abort(ECANCELED);
		} TX_END
		EXPECT(holds(pmemobj_direct(big), 40, 2 * MiB));
		TX_BEGIN(pop) {
			pmemobj_tx_add_range(big, 0, 2 * MiB);
			memset(pmemobj_direct(big), 7, 2 * MiB);
		} TX_END
		EXPECT(all_bytes(pmemobj_direct(big), 7, 2 * MiB));
		pmemobj_free(&big);
	}

	CHECK_BODY("add-range-of-a-tx-allocation") {
		TX_BEGIN(pop) {
			made = pmemobj_tx_zalloc(256, 41);
			pmemobj_tx_add_range(made, 0, 256);
			memset(pmemobj_direct(made), 9, 256);
		} TX_END
		EXPECT(all_bytes(pmemobj_direct(made), 9, 256));
		pmemobj_free(&made);
	}
}

/* ---- failure behaviour ---------------------------------------------------------------- */

static void
test_failure_behavior(void)
{
	CHECK_BODY("failure-behavior-return") {
		reset_root(1, 2);
		static int fb0, fb1, fb_inner, fb_outer_after, r1, e1, r2, e2, e3, r4, e4, e5, s;
		static PMEMoid o3, o5;
		TX_BEGIN(pop) {
			fb0 = pmemobj_tx_get_failure_behavior();
			pmemobj_tx_set_failure_behavior(POBJ_TX_FAILURE_RETURN);
			fb1 = pmemobj_tx_get_failure_behavior();
			/* the x-functions with flags 0 now return their error ... */
			errno = 0;
			r1 = pmemobj_tx_xadd_range(foreign, 0, 8, 0);
			e1 = errno;
			errno = 0;
			r2 = pmemobj_tx_xfree(foreign, 0);
			e2 = errno;
			errno = 0;
			o3 = pmemobj_tx_xalloc(0, 1, 0);
			e3 = errno;
			/* ... and so do the plain ones (PMDK: they are the x-functions) */
			errno = 0;
			r4 = pmemobj_tx_add_range(foreign, 0, 8);
			e4 = errno;
			errno = 0;
			o5 = pmemobj_tx_alloc(PMEMOBJ_MAX_ALLOC_SIZE + 1, 1);
			e5 = errno;
			s = pmemobj_tx_stage();
			TX_BEGIN(pop) {
				fb_inner = pmemobj_tx_get_failure_behavior();    /* inherited */
				pmemobj_tx_set_failure_behavior(POBJ_TX_FAILURE_ABORT);
			} TX_END
			fb_outer_after = pmemobj_tx_get_failure_behavior();  /* not changed */
			TX_SET_DIRECT(rt, a, 123);
		} TX_END
		EXPECT_EQ(POBJ_TX_FAILURE_ABORT, fb0);
		EXPECT_EQ(POBJ_TX_FAILURE_RETURN, fb1);
		EXPECT(r1 != 0);
		EXPECT_ERRNO(EINVAL, e1);
		EXPECT(r2 != 0);
		EXPECT_ERRNO(EINVAL, e2);
		EXPECT(OID_IS_NULL(o3));
		EXPECT_ERRNO(EINVAL, e3);
		EXPECT(r4 != 0);
		EXPECT_ERRNO(EINVAL, e4);
		EXPECT(OID_IS_NULL(o5));
		EXPECT_ERRNO(ENOMEM, e5);
		EXPECT_EQ(TX_STAGE_WORK, s);
		EXPECT_EQ(POBJ_TX_FAILURE_RETURN, fb_inner);
		EXPECT_EQ(POBJ_TX_FAILURE_RETURN, fb_outer_after);
		EXPECT_EQ(123, rt->a);
		/* a new transaction starts with the default again */
		TX_BEGIN(pop) {
			fb0 = pmemobj_tx_get_failure_behavior();
		} TX_END
		EXPECT_EQ(POBJ_TX_FAILURE_ABORT, fb0);
	}
}

/* ---- out of memory ----------------------------------------------------------------- */

static size_t n_in_tx;
static PMEMobjpool *small;

static void
test_enomem(void)
{
	CHECK_BODY("tx-alloc-enomem-aborts-cleanly") {
		small = fresh_pool("small.obj", PMEMOBJ_MIN_POOL);
		EXPECT(small != NULL);
		if (small == NULL)
			continue;
		uint64_t *r = pmemobj_direct(pmemobj_root(small, 64));
		*r = 1;
		pmemobj_persist(small, r, 8);
		trace_reset();
		n_in_tx = 0;
		TX_BEGIN(small) {
			pmemobj_tx_add_range_direct(r, 8);
			*r = 2;
			for (;;) {
				made = pmemobj_tx_alloc(256 * KiB, 1);
				memset(pmemobj_direct(made), 0xAB, 4096);
				n_in_tx++;
			}
		} TX_ONABORT {
			note(3);
		} TX_END
		tx_err = errno;
		EXPECT_ERRNO(ENOMEM, tx_err);
		EXPECT_EQ(1, ntrace);
		EXPECT(n_in_tx > 0);
		EXPECT_EQ(1, *r);
		EXPECT_EQ(0, count_objects(small));
		/* all given back: as many fit again, now without aborting, and commit */
		static size_t n_again;
		n_again = 0;
		TX_BEGIN(small) {
			while (!OID_IS_NULL(pmemobj_tx_xalloc(256 * KiB, 2, POBJ_XALLOC_NO_ABORT)))
				n_again++;
		} TX_END
		EXPECT_GE(n_again * 10, n_in_tx * 9);
		EXPECT_EQ(n_again, count_objects(small));
		TX_BEGIN(small) {
			PMEMoid o;
			POBJ_FOREACH(small, o)
				pmemobj_tx_free(o);
		} TX_END
		EXPECT_EQ(0, count_objects(small));
		EXPECT_EQ(0, pmemobj_alloc(small, NULL, 256 * KiB, 3, NULL, NULL));
		EXPECT_EQ(1, count_objects(small));
		drop_pool(small, "small.obj");
	}

	CHECK_BODY("aborted-allocations-are-given-back") {
		small = fresh_pool("small.obj", PMEMOBJ_MIN_POOL);
		EXPECT(small != NULL);
		if (small == NULL)
			continue;
		/* far more than the pool holds, 512 KiB at a time, each transaction aborted */
		static int aborted;
		aborted = 0;
		for (int i = 0; i < 200; i++) {
			TX_BEGIN(small) {
				made = pmemobj_tx_alloc(512 * KiB, 1);
				pmemobj_tx_abort(ECANCELED);
			} TX_ONABORT {
				aborted += errno == ECANCELED || pmemobj_tx_errno() == ECANCELED;
			} TX_END
		}
		EXPECT_EQ(200, aborted);
		EXPECT_EQ(0, count_objects(small));
		TX_BEGIN(small) {
			made = pmemobj_tx_alloc(512 * KiB, 1);
		} TX_END
		EXPECT(!OID_IS_NULL(made));
		EXPECT_EQ(1, count_objects(small));
		drop_pool(small, "small.obj");
	}
}

/* ---- locks ------------------------------------------------------------------------- */

struct probe {
	int mutex;      /* pmemobj_mutex_trylock(&rt->mtx) */
	int mutex2;     /* pmemobj_mutex_trylock(&rt->mtx2) */
	int rd;         /* pmemobj_rwlock_tryrdlock(&rt->rw) */
	int wr;         /* pmemobj_rwlock_trywrlock(&rt->rw) */
};

/* From another thread: which locks are free (0) or taken (EBUSY); leaves them as found. */
static void *
probe_thread(void *arg)
{
	struct probe *p = arg;
	p->mutex = pmemobj_mutex_trylock(pop, &rt->mtx);
	if (p->mutex == 0)
		pmemobj_mutex_unlock(pop, &rt->mtx);
	p->mutex2 = pmemobj_mutex_trylock(pop, &rt->mtx2);
	if (p->mutex2 == 0)
		pmemobj_mutex_unlock(pop, &rt->mtx2);
	p->rd = pmemobj_rwlock_tryrdlock(pop, &rt->rw);
	if (p->rd == 0)
		pmemobj_rwlock_unlock(pop, &rt->rw);
	p->wr = pmemobj_rwlock_trywrlock(pop, &rt->rw);
	if (p->wr == 0)
		pmemobj_rwlock_unlock(pop, &rt->rw);
	return NULL;
}

static struct probe probe_locks(void)
{
	struct probe p;
	pthread_t t;
	pthread_create(&t, NULL, probe_thread, &p);
	pthread_join(t, NULL);
	return p;
}

static struct probe inside, inside2;
static int lock_ret;

#define THREADS 4
#define PLAIN_INCS 5000
#define TX_INCS 300

static int thread_bad;

static void *
lock_worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	for (int i = 0; i < PLAIN_INCS; i++) {
		if (pmemobj_mutex_lock(pop, &rt->mtx) != 0)
			__atomic_add_fetch(&thread_bad, 1, __ATOMIC_RELAXED);
		rt->counter++;
		pmemobj_mutex_unlock(pop, &rt->mtx);
		if ((uintptr_t)i % 16 == id % 16) {            /* a writer now and then, readers otherwise */
			pmemobj_rwlock_wrlock(pop, &rt->rw);
			rt->pair[0]++;
			rt->pair[1]++;
			pmemobj_rwlock_unlock(pop, &rt->rw);
		} else {
			pmemobj_rwlock_rdlock(pop, &rt->rw);
			if (rt->pair[0] != rt->pair[1])
				__atomic_add_fetch(&thread_bad, 1, __ATOMIC_RELAXED);
			pmemobj_rwlock_unlock(pop, &rt->rw);
		}
	}
	for (int i = 0; i < TX_INCS; i++) {
		TX_BEGIN_PARAM(pop, TX_PARAM_MUTEX, &rt->mtx) {
			TX_ADD_FIELD_DIRECT(rt, counter);
			rt->counter++;
		} TX_ONABORT {
			__atomic_add_fetch(&thread_bad, 1, __ATOMIC_RELAXED);
		} TX_END
	}
	/* a barrier: the last one in wakes the others */
	pmemobj_mutex_lock(pop, &rt->mtx);
	rt->arrived++;
	if (rt->arrived == THREADS)
		pmemobj_cond_broadcast(pop, &rt->cond);
	while (rt->arrived < THREADS)
		pmemobj_cond_wait(pop, &rt->cond, &rt->mtx);
	pmemobj_mutex_unlock(pop, &rt->mtx);
	return NULL;
}

static void *
hold_mutex_briefly(void *arg)
{
	(void)arg;
	struct timespec past;
	clock_gettime(CLOCK_REALTIME, &past);
	past.tv_sec -= 1;
	/* the main thread holds mtx: a deadline in the past times out */
	return (void *)(intptr_t)pmemobj_mutex_timedlock(pop, &rt->mtx, &past);
}

static void
test_locks(void)
{
	CHECK_BODY("tx-param-locks") {
		struct probe before = probe_locks();
		EXPECT(before.mutex == 0 && before.mutex2 == 0 && before.rd == 0 && before.wr == 0);
		TX_BEGIN_PARAM(pop, TX_PARAM_MUTEX, &rt->mtx, TX_PARAM_RWLOCK, &rt->rw) {
			inside = probe_locks();
			lock_ret = pmemobj_tx_lock(TX_PARAM_MUTEX, &rt->mtx2);
			inside2 = probe_locks();
			TX_SET_DIRECT(rt, a, 1);
		} TX_END
		EXPECT_EQ(EBUSY, inside.mutex);
		EXPECT_EQ(0, inside.mutex2);
		EXPECT_EQ(EBUSY, inside.rd);              /* TX_PARAM_RWLOCK: for writing */
		EXPECT_EQ(EBUSY, inside.wr);
		EXPECT_EQ(0, lock_ret);
		EXPECT_EQ(EBUSY, inside2.mutex2);
		struct probe after = probe_locks();
		EXPECT(after.mutex == 0 && after.mutex2 == 0 && after.rd == 0 && after.wr == 0);

		/* released after an abort too, and after a nested transaction's end only
		 * with the outermost */
		TX_BEGIN_PARAM(pop, TX_PARAM_MUTEX, &rt->mtx) {
			TX_BEGIN_PARAM(pop, TX_PARAM_RWLOCK, &rt->rw) {
				TX_SET_DIRECT(rt, a, 2);
			} TX_END
			inside = probe_locks();
			pmemobj_tx_abort(ECANCELED);
		} TX_END
		EXPECT_EQ(EBUSY, inside.mutex);
		EXPECT_EQ(EBUSY, inside.wr);
		after = probe_locks();
		EXPECT(after.mutex == 0 && after.mutex2 == 0 && after.rd == 0 && after.wr == 0);
		EXPECT_EQ(1, rt->a);
	}

	CHECK_BODY("locks-from-threads") {
		rt->counter = 0;
		rt->pair[0] = rt->pair[1] = 0;
		rt->arrived = 0;
		pmemobj_persist(pop, rt, sizeof(*rt));
		pthread_t t[THREADS];
		for (uintptr_t i = 0; i < THREADS; i++)
			pthread_create(&t[i], NULL, lock_worker, (void *)i);
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		EXPECT_EQ(0, thread_bad);
		EXPECT_EQ(THREADS * (PLAIN_INCS + TX_INCS), rt->counter);
		EXPECT_EQ(rt->pair[0], rt->pair[1]);
		EXPECT_EQ(THREADS, rt->arrived);

		struct timespec past;
		clock_gettime(CLOCK_REALTIME, &past);
		past.tv_sec -= 1;
		EXPECT_EQ(0, pmemobj_mutex_lock(pop, &rt->mtx));
		EXPECT_EQ(ETIMEDOUT, pmemobj_cond_timedwait(pop, &rt->cond, &rt->mtx, &past));
		pthread_t h;
		void *ret;
		pthread_create(&h, NULL, hold_mutex_briefly, NULL);
		pthread_join(h, &ret);
		EXPECT_EQ(ETIMEDOUT, (int)(intptr_t)ret);
		EXPECT_EQ(0, pmemobj_mutex_unlock(pop, &rt->mtx));
		EXPECT_EQ(0, pmemobj_cond_signal(pop, &rt->cond));      /* nobody waits */
	}

	CHECK_BODY("lock-zero-and-reopen") {
		/* zeroed locks are initialized locks; every open reinitializes them */
		PMEMoid o;
		EXPECT_EQ(0, pmemobj_zalloc(pop, &o, sizeof(struct troot), 50));
		struct troot *z = pmemobj_direct(o);
		EXPECT_EQ(0, pmemobj_mutex_trylock(pop, &z->mtx));
		EXPECT_EQ(0, pmemobj_mutex_unlock(pop, &z->mtx));
		EXPECT_EQ(0, pmemobj_rwlock_rdlock(pop, &z->rw));
		EXPECT_EQ(0, pmemobj_rwlock_unlock(pop, &z->rw));
		memset(&z->mtx, 0xFF, sizeof(z->mtx));   /* garbage, then zeroed explicitly */
		pmemobj_mutex_zero(pop, &z->mtx);
		pmemobj_rwlock_zero(pop, &z->rw);
		pmemobj_cond_zero(pop, &z->cond);
		EXPECT_EQ(0, pmemobj_mutex_lock(pop, &z->mtx));
		EXPECT_EQ(0, pmemobj_cond_signal(pop, &z->cond));
		EXPECT_EQ(0, pmemobj_mutex_unlock(pop, &z->mtx));

		EXPECT_EQ(0, pmemobj_mutex_lock(pop, &rt->mtx));        /* held at close */
		EXPECT_EQ(0, pmemobj_rwlock_wrlock(pop, &rt->rw));
		pmemobj_close(pop);
		char path[4096];
		pop = pmemobj_open(pool_path(path, sizeof(path), "tx.obj"), LAYOUT);
		EXPECT(pop != NULL);
		if (pop == NULL)
			continue;
		rt = pmemobj_direct(pmemobj_root(pop, sizeof(struct troot)));
		item = POBJ_FIRST(pop, struct item);
		struct probe after = probe_locks();
		EXPECT(after.mutex == 0 && after.rd == 0 && after.wr == 0);
		EXPECT_EQ(0, pmemobj_mutex_trylock(pop, &rt->mtx));
		EXPECT_EQ(0, pmemobj_mutex_unlock(pop, &rt->mtx));
		pmemobj_free(&o);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	objtest_dir = argv[1];
	pop = fresh_pool("tx.obj", 8 * PMEMOBJ_MIN_POOL);
	other = fresh_pool("other.obj", PMEMOBJ_MIN_POOL);
	if (pop == NULL || other == NULL)
		return 1;
	rt = pmemobj_direct(pmemobj_root(pop, sizeof(struct troot)));
	if (POBJ_ZNEW(pop, &item, struct item) != 0 ||
			pmemobj_zalloc(other, &foreign, 64, 1) != 0)
		return 1;

	test_commit();
	test_abort();
	test_abort_by_error();
	test_stages();
	test_callback();
	test_tx_alloc();
	test_snapshots();
	test_failure_behavior();
	test_enomem();
	test_locks();

	pmemobj_close(pop);
	pmemobj_close(other);
	char path[4096];
	CHECK("pools-consistent-after-all",
			pmemobj_check(pool_path(path, sizeof(path), "tx.obj"), LAYOUT) == 1);
	drop_pool(NULL, "tx.obj");
	drop_pool(NULL, "other.obj");
	return check_summary();
}
