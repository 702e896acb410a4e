/* resume.c -- a resumable transactional loop that survives a crash, and the function-level tx API with env NULL (usage: resume POOLFILE) */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

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

#define N 200

POBJ_LAYOUT_BEGIN(resume);
POBJ_LAYOUT_ROOT(resume, struct rroot);
POBJ_LAYOUT_TOID(resume, char);
POBJ_LAYOUT_END(resume);

struct rroot {
	uint64_t i;                 /* next index to fill */
	uint64_t sum;               /* sum of squares[0..i) */
	uint64_t squares[N];
	uint64_t extra;
	TOID(char) label;
};

/* Fill squares[i..N), one transaction a step; die inside the transaction of step crash_at. */
static void fill(PMEMobjpool *pop, uint64_t crash_at)
{
	TOID(struct rroot) root = POBJ_ROOT(pop, struct rroot);
	for (; D_RO(root)->i < N;) {
		TX_BEGIN(pop) {
			struct rroot *r = D_RW(root);
			uint64_t i = r->i;
			pmemobj_tx_add_range_direct(&r->squares[i], sizeof(r->squares[i]));
			pmemobj_tx_add_range_direct(&r->i, 2 * sizeof(uint64_t)); /* i and sum */
			r->squares[i] = i * i;
			r->sum += i * i;
			if (i == crash_at)
				_exit(7); /* power fails: the transaction never ends */
			r->i = i + 1;
		} TX_END
	}
}

static void check_filled(const struct rroot *r)
{
	uint64_t sum = 0;
	for (uint64_t k = 0; k < N; k++) {
		if (k < r->i) {
			CHECK_EQ(r->squares[k], k * k);
			sum += k * k;
		} else {
			CHECK_EQ(r->squares[k], 0);
		}
	}
	CHECK_EQ(r->sum, sum);
}

/* pmemobj_tx_begin with env NULL: nothing longjmps, the caller walks the stages. */
static void function_api(PMEMobjpool *pop)
{
	struct rroot *r = D_RW(POBJ_ROOT(pop, struct rroot));
	uint64_t local = 0;
	int tag = 0;

	/* commit, walking every stage */
	CHECK(pmemobj_tx_stage() == TX_STAGE_NONE);
	CHECK_EQ(pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE), 0);
	CHECK(pmemobj_tx_stage() == TX_STAGE_WORK);
	CHECK_EQ(pmemobj_tx_add_range_direct(&r->extra, sizeof(r->extra)), 0);
	r->extra = 11;
	pmemobj_tx_set_user_data(&tag);
	CHECK(pmemobj_tx_get_user_data() == &tag);
	pmemobj_tx_commit();
	CHECK(pmemobj_tx_stage() == TX_STAGE_ONCOMMIT);
	pmemobj_tx_process();
	CHECK(pmemobj_tx_stage() == TX_STAGE_FINALLY);
	pmemobj_tx_process();
	CHECK(pmemobj_tx_stage() == TX_STAGE_NONE);
	CHECK_EQ(pmemobj_tx_end(), 0);
	CHECK_EQ(r->extra, 11);

	/* an explicit abort returns to the caller: the undo is done, end reports it */
	CHECK_EQ(pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE), 0);
	CHECK_EQ(pmemobj_tx_add_range_direct(&r->extra, sizeof(r->extra)), 0);
	r->extra = 99;
	pmemobj_tx_abort(0);
	CHECK(pmemobj_tx_stage() == TX_STAGE_ONABORT);
	CHECK_EQ(r->extra, 11);
	CHECK_EQ(pmemobj_tx_end(), ECANCELED);
	CHECK_EQ(pmemobj_tx_errno(), ECANCELED);
	CHECK(pmemobj_tx_stage() == TX_STAGE_NONE);

	/* a failing call aborts (default behaviour) and says why */
	CHECK_EQ(pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE), 0);
	CHECK(pmemobj_tx_get_failure_behavior() == POBJ_TX_FAILURE_ABORT);
	CHECK_EQ(pmemobj_tx_add_range_direct(&local, sizeof(local)), EINVAL); /* not in the pool */
	CHECK(pmemobj_tx_stage() == TX_STAGE_ONABORT);
	CHECK_EQ(pmemobj_tx_end(), EINVAL);

	/* ... or, with POBJ_TX_FAILURE_RETURN or a NO_ABORT flag, returns and keeps working */
	CHECK_EQ(pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE), 0);
	CHECK_EQ(pmemobj_tx_xadd_range_direct(&local, sizeof(local), POBJ_XADD_NO_ABORT), EINVAL);
	CHECK(pmemobj_tx_stage() == TX_STAGE_WORK);
	errno = 0;
	CHECK(OID_IS_NULL(pmemobj_tx_xalloc(PMEMOBJ_MAX_ALLOC_SIZE + 1, 1, POBJ_XALLOC_NO_ABORT)));
	CHECK_EQ(errno, ENOMEM);
	CHECK(pmemobj_tx_stage() == TX_STAGE_WORK);
	pmemobj_tx_set_failure_behavior(POBJ_TX_FAILURE_RETURN);
	CHECK(pmemobj_tx_get_failure_behavior() == POBJ_TX_FAILURE_RETURN);
	CHECK(OID_IS_NULL(pmemobj_tx_alloc(PMEMOBJ_MAX_ALLOC_SIZE + 1, 1)));
	CHECK_EQ(pmemobj_tx_add_range_direct(&local, sizeof(local)), EINVAL);
	CHECK(pmemobj_tx_stage() == TX_STAGE_WORK);
	CHECK_EQ(pmemobj_tx_add_range(POBJ_ROOT(pop, struct rroot).oid, offsetof(struct rroot, extra), 8), 0);
	r->extra = 12;
	pmemobj_tx_commit();
	CHECK_EQ(pmemobj_tx_end(), 0); /* straight from ONCOMMIT */
	CHECK_EQ(r->extra, 12);
}

/* The flagged and typed calls, inside the macros. */
static void macro_api(PMEMobjpool *pop)
{
	volatile int aborted = 0;
	TX_BEGIN(pop) {
		TOID(struct rroot) root = POBJ_ROOT(pop, struct rroot);
		struct rroot *r = D_RW(root);
		TX_XADD_FIELD(root, extra, POBJ_XADD_NO_FLUSH);
		r->extra = 13;
		pmemobj_persist(pop, &r->extra, sizeof(r->extra));
		TX_XADD(root, POBJ_XADD_ASSUME_INITIALIZED);
		TX_XADD_DIRECT(&r->squares[0], POBJ_XADD_NO_SNAPSHOT);
		TX_XADD_FIELD_DIRECT(r, squares[1], 0);
		CHECK_EQ(pmemobj_tx_xadd_range(root.oid, offsetof(struct rroot, sum), 8, POBJ_XADD_NO_ABORT), 0);
		TX_SET_DIRECT(r, extra, 14);
		TX_ADD_FIELD(root, label);
		D_RW(root)->label = (TOID(char))TX_XSTRDUP("label", TOID_TYPE_NUM(char), POBJ_XALLOC_NO_FLUSH);
		PMEMoid w = TX_WCSDUP(L"wide", TOID_TYPE_NUM(char));
		CHECK(wcscmp((const wchar_t *)pmemobj_direct(w), L"wide") == 0);
		PMEMoid wx = TX_XWCSDUP(L"wider", TOID_TYPE_NUM(char), POBJ_XALLOC_NO_ABORT);
		PMEMoid sx = pmemobj_tx_xstrdup("x", TOID_TYPE_NUM(char), 0);
		PMEMoid wx2 = pmemobj_tx_xwcsdup(L"y", TOID_TYPE_NUM(char), 0);
		w = pmemobj_tx_zrealloc(w, 256, TOID_TYPE_NUM(char));
		CHECK_EQ(((const char *)pmemobj_direct(w))[255], 0);
		w = pmemobj_tx_realloc(w, 512, TOID_TYPE_NUM(char));
		CHECK_EQ(pmemobj_tx_free(w), 0);
		CHECK_EQ(pmemobj_tx_xfree(wx, POBJ_XFREE_NO_ABORT), 0);
		pmemobj_tx_free(sx);
		pmemobj_tx_free(wx2);
		TX_FREE(TOID_NULL(char)); /* no-op */
		PMEMoid z = pmemobj_tx_zalloc(64, TOID_TYPE_NUM(char));
		pmemobj_tx_free(z);
	} TX_ONABORT {
		aborted = 1;
	} TX_END
	CHECK(aborted == 0);
	TOID(struct rroot) root = POBJ_ROOT(pop, struct rroot);
	CHECK_EQ(D_RO(root)->extra, 14);
	CHECK(strcmp(D_RO(D_RO(root)->label), "label") == 0);

	/* a failing call inside TX_BEGIN longjmps to TX_ONABORT, errno says why */
	aborted = 0;
	TX_BEGIN(pop) {
		uint64_t on_stack = 0;
		TX_SET(root, extra, 15);
		pmemobj_tx_add_range_direct(&on_stack, sizeof(on_stack));
		CHECK(0); /* not reached */
	} TX_ONABORT {
		aborted = 1;
	} TX_END
	CHECK(aborted == 1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(D_RO(root)->extra, 14);
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s POOLFILE\n", argv[0]);
		return 2;
	}
	const char *path = argv[1];
	unlink(path);
	PMEMobjpool *pop = pmemobj_create(path, POBJ_LAYOUT_NAME(resume), PMEMOBJ_MIN_POOL, 0600);
	CHECK(pop != NULL);
	CHECK(!OID_IS_NULL(pmemobj_root(pop, sizeof(struct rroot))));
	pmemobj_close(pop);

	/* a child fills part of the array and dies inside a transaction */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		pop = pmemobj_open(path, POBJ_LAYOUT_NAME(resume));
		if (pop == NULL)
			_exit(1);
		fill(pop, 37);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 7);

	/* reopen: the torn step is rolled back, the loop resumes where it stopped */
	pop = pmemobj_open(path, POBJ_LAYOUT_NAME(resume));
	CHECK(pop != NULL);
	const struct rroot *r = D_RO(POBJ_ROOT(pop, struct rroot));
	CHECK_EQ(r->i, 37);
	check_filled(r);
	fill(pop, UINT64_MAX);
	CHECK_EQ(r->i, N);
	check_filled(r);

	function_api(pop);
	macro_api(pop);
	pmemobj_close(pop);
	unlink(path);
	printf("resume: ok\n");
	return 0;
}
