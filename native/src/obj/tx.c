/*
 * tx.c -- transactions: undo snapshots of user data, allocations committed by redo
 *
 * A thread has at most one transaction; nested begins add levels to it and only
 * the outermost commits or rolls back. The lane is taken at the first change
 * that needs the media (a snapshot, or the commit of allocations and frees).
 *
 * Commit: flush the snapshotted ranges and the new objects; then
 *  - with allocations or frees: one redo record publishes them, frees, and
 *    marks the undo log idle: the record being durable is the commit point.
 *    It vouches for the flushed data by hash when that is small (so one drain
 *    covers both), else the data is drained first;
 *  - else: drain, mark the undo log idle, drain: that store is the commit point.
 * Abort: copy the snapshots back (newest first), durable, mark the log idle;
 * reservations go back to the heap; frees never happened.
 *
 * Glossary: level = one begin..end pair; range = a snapshotted (or only
 * flushed, with POBJ_XADD_NO_SNAPSHOT) part of the pool.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "common/errmsg.h"
#include "libpmemobj.h"
#include "obj/action.h"
#include "obj/offmap.h"
#include "obj/palloc.h"
#include "pmalloc.h"

#define MAX_LEVELS 64
#define DEDUP_SCAN 64                     /* ranges compared before snapshotting again */
#define CHECK_MAX 1024                    /* bytes a commit record vouches for by hash */

struct tx_lock {
	enum pobj_tx_param type;
	void *lock;
	unsigned level;
};

struct tx_range {
	uint64_t off;
	size_t size;
	bool flush;
};

struct tx_new {
	struct pres r;
	size_t size;                          /* bytes to flush at commit */
};

/* what a jmp_buf argument decays to */
typedef __typeof__(&(*(jmp_buf *)0)[0]) jmp_ptr;

struct tx_level {
	jmp_ptr env;
	enum pobj_tx_failure_behavior failure;
};

struct tx {
	enum pobj_tx_stage stage;
	unsigned depth;                       /* levels open */
	struct tx_level level[MAX_LEVELS];
	PMEMobjpool *pop;
	int lane;                             /* -1: none held */
	struct undo_cursor undo;
	int errnum;                           /* why the transaction aborted */
	pmemobj_tx_callback cb;
	void *cb_arg;
	void *user_data;
	struct tx_range *ranges;
	size_t nranges, cap_ranges;
	struct tx_new *news;
	size_t nnews, cap_news;
	struct offmap news_at;                /* offset -> index in news (big transactions) */
	struct pres *frees;
	size_t nfrees, cap_frees;
	struct offmap freed;                  /* offsets in frees (big transactions) */
	struct tx_lock *locks;
	size_t nlocks, cap_locks;
	struct pobj_action *acts;             /* published at commit */
	size_t nacts, cap_acts;
};

static __thread struct tx tx TLS_HOT;

/* grow -- room for one more element in a growable array; 0 or -1 */
static int
grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? 2 * *cap : 8;
	void *a = realloc(*arr, c * elem);
	if (!a)
		return errmsg_set(ENOMEM, "no memory for the transaction's bookkeeping"), -1;
	*arr = a;
	*cap = c;
	return 0;
}

/* ---- stages, abort --------------------------------------------------------- */

/* set_stage -- move to stage s; the callback hears of it at the outermost level */
static void
set_stage(enum pobj_tx_stage s)
{
	tx.stage = s;
	if (tx.cb && tx.depth == 1 && s != TX_STAGE_WORK && s != TX_STAGE_NONE)
		tx.cb(tx.pop, s, tx.cb_arg);
}

static void
release_lane(void)
{
	if (tx.lane >= 0) {
		lane_release(tx.pop, (unsigned)tx.lane);
		tx.lane = -1;
	}
}

/* rollback -- undo the whole transaction (outermost level) */
static void
rollback(void)
{
	PMEMobjpool *pop = tx.pop;
	if (tx.lane >= 0) {
		struct ulog_ctx c = lane_ctx(pop, (unsigned)tx.lane);
		(void)undo_rollback(&c, &tx.undo);
	}
	for (size_t i = 0; i < tx.nnews; i++)
		pheap_cancel(&pop->heap, &tx.news[i].r);
	action_cancel_all(pop, tx.acts, tx.nacts);
	tx.nnews = tx.nfrees = tx.nranges = tx.nacts = 0;
	offmap_reset(&tx.news_at);
	offmap_reset(&tx.freed);
	release_lane();
}

/* abort_now -- abort with errnum; jump to the level's env when it has one */
static void
abort_now(int errnum)
{
	if (errnum == 0)
		errnum = ECANCELED;
	tx.errnum = errnum;
	if (tx.depth == 1)
		rollback();
	set_stage(TX_STAGE_ONABORT);
	errno = errnum;
	jmp_ptr env = tx.level[tx.depth - 1].env;
	if (env)
		longjmp(env, errnum);
}

/* fail -- a transactional call failed with err: abort unless told not to;
 * returns err (errno set) */
static int
fail(int err, bool no_abort)
{
	if (!no_abort && tx.level[tx.depth - 1].failure == POBJ_TX_FAILURE_ABORT)
		abort_now(err);
	errno = err;
	return err;
}

/* in_work -- whether a transactional call may run now (message if not) */
static bool
in_work(const char *fn)
{
	if (tx.stage == TX_STAGE_WORK)
		return true;
	errmsg_set(EINVAL, "%s: not in a transaction's work stage", fn);
	return false;
}

/* ---- locks ----------------------------------------------------------------- */

static int
lock_one(enum pobj_tx_param type, void *lock)
{
	if (type == TX_PARAM_MUTEX)
		return pmemobj_mutex_lock(tx.pop, lock);
	if (type == TX_PARAM_RWLOCK)
		return pmemobj_rwlock_wrlock(tx.pop, lock);
	return EINVAL;
}

static void
unlock_level(unsigned level)
{
	while (tx.nlocks && tx.locks[tx.nlocks - 1].level >= level) {
		struct tx_lock *l = &tx.locks[--tx.nlocks];
		if (l->type == TX_PARAM_MUTEX)
			pmemobj_mutex_unlock(tx.pop, l->lock);
		else
			pmemobj_rwlock_unlock(tx.pop, l->lock);
	}
}

/* add_lock -- take a lock for the rest of this level; 0 or an errno */
static int
add_lock(enum pobj_tx_param type, void *lock)
{
	for (size_t i = 0; i < tx.nlocks; i++)
		if (tx.locks[i].lock == lock)
			return 0;                        /* held already by an outer level */
	if (grow((void **)&tx.locks, &tx.cap_locks, tx.nlocks, sizeof(*tx.locks)) != 0)
		return ENOMEM;
	int err = lock_one(type, lock);
	if (err)
		return err;
	tx.locks[tx.nlocks++] = (struct tx_lock){ type, lock, tx.depth };
	return 0;
}

/* ---- begin, commit, end ---------------------------------------------------- */

API int
pmemobj_tx_begin(PMEMobjpool *pop, jmp_buf env, ...)
{
	int err = 0;
	if (!pop) {
		errmsg_set(EINVAL, "pmemobj_tx_begin: no pool");
		return EINVAL;
	}
	if (tx.stage == TX_STAGE_WORK) {
		if (tx.pop != pop) {
			errmsg_set(EINVAL, "pmemobj_tx_begin: a nested transaction on another pool");
			err = EINVAL;
		} else if (tx.depth == MAX_LEVELS) {
			errmsg_set(EINVAL, "pmemobj_tx_begin: more than %d nested levels", MAX_LEVELS);
			err = EINVAL;
		}
		if (err)
			return fail(err, false);
		tx.level[tx.depth].failure = tx.level[tx.depth - 1].failure;
	} else if (tx.stage == TX_STAGE_NONE) {
		atomic_fetch_add_explicit(&pop->txs, 1, memory_order_relaxed);
		tx.pop = pop;
		tx.lane = -1;
		tx.errnum = 0;
		tx.cb = NULL;
		tx.cb_arg = NULL;
		tx.user_data = NULL;
		tx.level[0].failure = POBJ_TX_FAILURE_ABORT;
	} else {
		errmsg_set(EINVAL, "pmemobj_tx_begin: called in stage %d (only none or work)",
				(int)tx.stage);
		return EINVAL;
	}
	tx.level[tx.depth].env = env;
	tx.depth++;
	va_list ap;
	va_start(ap, env);
	for (enum pobj_tx_param p; !err && (p = va_arg(ap, enum pobj_tx_param)) != TX_PARAM_NONE;) {
		if (p == TX_PARAM_CB) {
			pmemobj_tx_callback cb = va_arg(ap, pmemobj_tx_callback);
			void *arg = va_arg(ap, void *);
			if (tx.depth > 1 && cb && tx.cb && (tx.cb != cb || tx.cb_arg != arg)) {
				errmsg_set(EINVAL, "pmemobj_tx_begin: a second callback in a nested "
						"transaction");
				err = EINVAL;
			} else if (cb) {
				tx.cb = cb;
				tx.cb_arg = arg;
			}
		} else if (p == TX_PARAM_MUTEX || p == TX_PARAM_RWLOCK) {
			void *lock = va_arg(ap, void *);
			err = add_lock(p, lock);
			if (err)
				errmsg_set(err, "pmemobj_tx_begin: could not take a lock");
		} else {
			errmsg_set(EINVAL, "pmemobj_tx_begin: unknown parameter %d", (int)p);
			err = EINVAL;
		}
	}
	va_end(ap);
	if (err) {
		tx.errnum = err;
		if (tx.depth == 1)
			rollback();
		set_stage(TX_STAGE_ONABORT);
		errno = err;
		return err;
	}
	set_stage(TX_STAGE_WORK);
	return 0;
}

API int
pmalloc_tx_enter(PMEMobjpool *pop)
{
	if (tx.stage != TX_STAGE_NONE && tx.stage != TX_STAGE_WORK)
		return errmsg_set(EINVAL, "a transaction cannot begin in another's commit or "
				"abort handling");
	/* with no parameters, a begin that fails adds no level: nothing to end */
	return pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE);
}

API int
pmalloc_tx_leave(int abort)
{
	if (tx.stage == TX_STAGE_WORK) {
		if (abort) {
			/* what an outer level's end reports, when it is the one that aborted */
			errmsg_set(ECANCELED, "a block of the transaction raised: all of it rolled back");
			pmemobj_tx_abort(ECANCELED);
		} else {
			pmemobj_tx_commit();
		}
	}
	return pmemobj_tx_end();
}

API unsigned
pmalloc_obj_txs(PMEMobjpool *pop)
{
	return pop ? atomic_load_explicit(&pop->txs, memory_order_acquire) : 0;
}

API int
pmalloc_tx_add_addr(uintptr_t addr, size_t size)
{
	return pmemobj_tx_xadd_range_direct((const void *)addr, size, POBJ_XADD_NO_ABORT);
}

API enum pobj_tx_stage
pmemobj_tx_stage(void)
{
	return tx.stage;
}

API int
pmemobj_tx_errno(void)
{
	return tx.errnum;
}

/* flush_changes -- flush the ranges and new objects; 0 or -1 */
static int
flush_changes(PMEMobjpool *pop)
{
	int err = 0;
	for (size_t i = 0; i < tx.nranges; i++)
		if (tx.ranges[i].flush)
			err |= pmemops_flush(pop->ops, pop->base + tx.ranges[i].off, tx.ranges[i].size);
	for (size_t i = 0; i < tx.nnews; i++)
		err |= pmemops_flush(pop->ops, pop->base + tx.news[i].r.off, tx.news[i].size);
	return err;
}

/* commit -- make the transaction durable (outermost level); 0 or an errno */
static int
commit(void)
{
	PMEMobjpool *pop = tx.pop;
	bool heap = tx.nnews || tx.nfrees || tx.nacts;
	if (tx.lane < 0 && !heap && !tx.nranges)
		return 0;                            /* nothing was changed */
	size_t bytes = 0;
	for (size_t i = 0; i < tx.nranges; i++)
		bytes += tx.ranges[i].flush ? tx.ranges[i].size : 0;
	for (size_t i = 0; i < tx.nnews; i++)
		bytes += tx.news[i].size;
	bool vouch = heap && bytes <= CHECK_MAX;
	if (tx.lane < 0)
		tx.lane = (int)lane_hold(pop);
	struct ulog_ctx c = lane_ctx(pop, (unsigned)tx.lane);
	int ret = 0;
	/* vouched data is flushed by the commit, after its locked instructions */
	if (!vouch && (flush_changes(pop) != 0 || pmemops_drain(pop->ops) != 0))
		return errno;
	if (heap) {
		struct palloc_op op;
		palloc_op_init(&op);
		for (size_t i = 0; i < tx.nranges && ret == 0 && vouch; i++)
			if (tx.ranges[i].flush)
				ret = palloc_op_data(&op, pop->base, tx.ranges[i].off,
						tx.ranges[i].size);
		for (size_t i = 0; i < tx.nnews && ret == 0 && vouch; i++)
			ret = palloc_op_data(&op, pop->base, tx.news[i].r.off, tx.news[i].size);
		for (size_t i = 0; i < tx.nnews && ret == 0; i++)
			ret = palloc_op_publish(&op, &tx.news[i].r);
		for (size_t i = 0; i < tx.nfrees && ret == 0; i++)
			ret = palloc_op_free(&op, &tx.frees[i]);
		if (ret == 0 && tx.nacts)
			ret = action_commit_ops(pop, &op, tx.acts, tx.nacts);
		if (ret == 0 && tx.undo.active)
			ret = redo_buf_add(&op.redo, pool_off(pop, &c.lane->undo.state), REDO_IDLE,
					tx.undo.gen << 1 | 1);
		if (ret == 0)
			ret = palloc_commit(pop, (unsigned)tx.lane, &op, true);
		palloc_op_fini(&op);
		if (ret != 0)
			return errno;
		tx.undo.active = false;
	} else if (undo_end(&c, &tx.undo) != 0 || pmemops_drain(pop->ops) != 0) {
		return errno;
	}
	tx.nnews = tx.nfrees = tx.nranges = tx.nacts = 0;
	offmap_reset(&tx.news_at);
	offmap_reset(&tx.freed);
	ulog_prefetch(&c);
	release_lane();
	return 0;
}

API void
pmemobj_tx_commit(void)
{
	if (!in_work("pmemobj_tx_commit"))
		return;
	if (tx.depth == 1) {
		if (tx.cb)
			tx.cb(tx.pop, TX_STAGE_WORK, tx.cb_arg);    /* about to commit */
		int err = commit();
		if (err) {
			abort_now(err);
			return;
		}
	}
	set_stage(TX_STAGE_ONCOMMIT);
}

API void
pmemobj_tx_abort(int errnum)
{
	if (!in_work("pmemobj_tx_abort"))
		return;
	abort_now(errnum);
}

API void
pmemobj_tx_process(void)
{
	switch (tx.stage) {
	case TX_STAGE_WORK:
		pmemobj_tx_commit();
		break;
	case TX_STAGE_ONABORT:
	case TX_STAGE_ONCOMMIT:
		set_stage(TX_STAGE_FINALLY);
		break;
	case TX_STAGE_FINALLY:
		set_stage(TX_STAGE_NONE);
		break;
	default:
		break;
	}
}

API int
pmemobj_tx_end(void)
{
	if (tx.stage == TX_STAGE_NONE && tx.depth == 0)
		return 0;
	if (tx.stage == TX_STAGE_WORK) {
		errmsg_set(EINVAL, "pmemobj_tx_end: the transaction was neither committed nor "
				"aborted; aborting it");
		tx.errnum = ECANCELED;
		if (tx.depth == 1)
			rollback();
	}
	int err = tx.errnum;
	if (tx.depth == 1)
		unlock_level(1);                     /* nested levels' locks are held to the end */
	tx.depth--;
	if (tx.depth == 0) {
		pmemobj_tx_callback cb = tx.cb;
		PMEMobjpool *pop = tx.pop;
		tx.stage = TX_STAGE_NONE;
		if (cb)
			cb(pop, TX_STAGE_NONE, tx.cb_arg);
		tx.cb = NULL;
		tx.pop = NULL;
		atomic_fetch_sub_explicit(&pop->txs, 1, memory_order_release);
		return err;
	}
	tx.stage = TX_STAGE_WORK;
	if (err) {
		/* an inner level aborted: so does the whole transaction */
		abort_now(err);
	}
	return err;
}

/* ---- snapshots ------------------------------------------------------------- */

/* covered -- whether [off, off + size) lies in a range snapshotted already, or
 * in an object this transaction allocated */
static bool
covered(uint64_t off, size_t size)
{
	size_t lo = tx.nranges > DEDUP_SCAN ? tx.nranges - DEDUP_SCAN : 0;
	for (size_t i = tx.nranges; i-- > lo;) {
		const struct tx_range *r = &tx.ranges[i];
		if (off >= r->off && off + size <= r->off + r->size)
			return true;
	}
	/* the newest objects only: a big transaction must not scan them all per snapshot,
	 * and snapshotting part of a new object is merely redundant */
	for (size_t i = tx.nnews; i-- > (tx.nnews > DEDUP_SCAN ? tx.nnews - DEDUP_SCAN : 0);) {
		const struct pres *r = &tx.news[i].r;
		if (off >= r->off && off + size <= r->off + r->usable)
			return true;
	}
	return false;
}

/* ensure_lane -- hold a lane and start the undo log; 0 or -1 */
static int
ensure_lane(void)
{
	if (tx.lane >= 0)
		return 0;
	tx.lane = (int)lane_hold(tx.pop);
	struct ulog_ctx c = lane_ctx(tx.pop, (unsigned)tx.lane);
	undo_begin(&c, &tx.undo);
	return 0;
}

/* snapshot -- log [off, off + size), durable before it returns if drain (else at the
 * caller's drain); 0 or an errno */
static int
snapshot(uint64_t off, size_t size, bool drain)
{
	PMEMobjpool *pop = tx.pop;
	ensure_lane();
	struct ulog_ctx c = lane_ctx(pop, (unsigned)tx.lane);
	for (;;) {
		int r = undo_append(&c, &tx.undo, off, size);
		if (r < 0)
			return errno;
		if (r == 0)
			break;
		size_t need = undo_block_need(size) + sizeof(struct undo_ext);
		size_t bytes = MAX(ALIGN_UP(need, PAGE), (size_t)16 * PAGE);
		struct undo_ext head = { .next_off = 0, .size = bytes - sizeof(head) };
		uint64_t block;
		if (palloc_internal(pop, (unsigned)tx.lane, bytes, &head, sizeof(head),
				undo_chain_slot(&c), 0, 0, NULL, &block) != 0)
			return errno;
		if (tx.undo.next == 0)
			tx.undo.next = block;
	}
	return drain && pmemops_drain(pop->ops) ? errno : 0;
}

/* add_range -- the work behind the add_range calls (the snapshot drained if drain);
 * 0 or an errno */
static int
add_range(uint64_t off, size_t size, uint64_t flags, bool drain)
{
	bool no_abort = flags & POBJ_XADD_NO_ABORT;
	if (flags & ~(uint64_t)(POBJ_XADD_NO_FLUSH | POBJ_XADD_NO_SNAPSHOT |
			POBJ_XADD_ASSUME_INITIALIZED | POBJ_XADD_NO_ABORT)) {
		errmsg_set(EINVAL, "pmemobj_tx_xadd_range: unknown flags %#llx",
				(unsigned long long)flags);
		return fail(EINVAL, no_abort);
	}
	PMEMobjpool *pop = tx.pop;
	if (off < OBJ_LANES_OFF || off > pop->size || size > pop->size - off) {
		errmsg_set(EINVAL, "pmemobj_tx_add_range: [%llu, +%zu) is not in the pool's heap",
				(unsigned long long)off, size);
		return fail(EINVAL, no_abort);
	}
	if (size == 0 || covered(off, size))
		return 0;
	if (grow((void **)&tx.ranges, &tx.cap_ranges, tx.nranges, sizeof(*tx.ranges)) != 0)
		return fail(ENOMEM, no_abort);
	if (!(flags & POBJ_XADD_NO_SNAPSHOT)) {
		int err = snapshot(off, size, drain);
		if (err)
			return fail(err, no_abort);
	}
	tx.ranges[tx.nranges++] = (struct tx_range){ off, size, !(flags & POBJ_XADD_NO_FLUSH) };
	return 0;
}

API int
pmemobj_tx_xadd_range(PMEMoid oid, uint64_t hoff, size_t size, uint64_t flags)
{
	if (!in_work("pmemobj_tx_add_range"))
		return EINVAL;
	if (oid.pool_uuid_lo != tx.pop->uuid_lo || oid.off == 0) {
		errmsg_set(EINVAL, "pmemobj_tx_add_range: the oid is not of the transaction's pool");
		return fail(EINVAL, flags & POBJ_XADD_NO_ABORT);
	}
	if (hoff > tx.pop->size || oid.off > tx.pop->size - hoff) {
		errmsg_set(EINVAL, "pmemobj_tx_add_range: offset %llu is past the pool",
				(unsigned long long)hoff);
		return fail(EINVAL, flags & POBJ_XADD_NO_ABORT);
	}
	return add_range(oid.off + hoff, size, flags, true);
}

API int
pmemobj_tx_add_range(PMEMoid oid, uint64_t hoff, size_t size)
{
	return pmemobj_tx_xadd_range(oid, hoff, size, 0);
}

API int
pmemobj_tx_xadd_range_direct(const void *ptr, size_t size, uint64_t flags)
{
	if (!in_work("pmemobj_tx_add_range_direct"))
		return EINVAL;
	if (!pool_holds(tx.pop, ptr, size)) {
		errmsg_set(EINVAL, "pmemobj_tx_add_range_direct: %p (+%zu) is not in the "
				"transaction's pool", ptr, size);
		return fail(EINVAL, flags & POBJ_XADD_NO_ABORT);
	}
	return add_range(pool_off(tx.pop, ptr), size, flags, true);
}

API int
pmemobj_tx_add_range_direct(const void *ptr, size_t size)
{
	return pmemobj_tx_xadd_range_direct(ptr, size, 0);
}

API int
pmalloc_tx_add_ranges(const struct pmalloc_tx_range *r, size_t n, uint64_t flags)
{
	if (!in_work("pmalloc_tx_add_ranges"))
		return EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!pool_holds(tx.pop, r[i].ptr, r[i].size)) {
			errmsg_set(EINVAL, "pmalloc_tx_add_ranges: %p (+%zu) is not in the "
					"transaction's pool", r[i].ptr, r[i].size);
			return fail(EINVAL, flags & POBJ_XADD_NO_ABORT);
		}
		int err = add_range(pool_off(tx.pop, r[i].ptr), r[i].size, flags, false);
		if (err)
			return err;
	}
	/* one drain makes every snapshot durable before the caller's stores */
	if (tx.lane >= 0 && pmemops_drain(tx.pop->ops) != 0)
		return fail(errno, flags & POBJ_XADD_NO_ABORT);
	return 0;
}

/* ---- allocation ------------------------------------------------------------ */

/* note -- keep map up to date with item i (at off) of an array of items of size bytes
 * whose offsets lie at key_at in each: built once the array outgrows OFFMAP_MIN; left
 * off (lookups scan) when memory runs out */
static void
note(struct offmap *map, size_t i, uint64_t off, const void *items, size_t size, size_t key_at)
{
	if (!map->on && i + 1 > OFFMAP_MIN) {
		map->on = true;
		for (size_t j = 0; j < i && map->on; j++) {
			uint64_t k;
			memcpy(&k, (const char *)items + j * size + key_at, sizeof(k));
			if (offmap_put(map, k, j) != 0)
				offmap_reset(map);
		}
	}
	if (map->on && offmap_put(map, off, i) != 0)
		offmap_reset(map);
}

/* tx_new -- allocate in the transaction; OID_NULL + errno on failure */
static PMEMoid
tx_new(const char *fn, size_t size, uint64_t type, uint64_t flags, const void *src,
		size_t src_len)
{
	bool no_abort = flags & POBJ_XALLOC_NO_ABORT;
	if (!in_work(fn))
		return OID_NULL;
	if (flags & ~(uint64_t)(POBJ_XALLOC_ZERO | POBJ_XALLOC_NO_FLUSH | POBJ_XALLOC_NO_ABORT |
			POBJ_CLASS_ID(0xffff) | POBJ_ARENA_ID(0xffff))) {
		errmsg_set(EINVAL, "%s: unknown flags %#llx", fn, (unsigned long long)flags);
		fail(EINVAL, no_abort);
		return OID_NULL;
	}
	if (size == 0 || size > PMEMOBJ_MAX_ALLOC_SIZE) {
		errmsg_set(size ? ENOMEM : EINVAL, "%s: %zu bytes", fn, size);
		fail(size ? ENOMEM : EINVAL, no_abort);
		return OID_NULL;
	}
	if (grow((void **)&tx.news, &tx.cap_news, tx.nnews, sizeof(*tx.news)) != 0) {
		fail(ENOMEM, no_abort);
		return OID_NULL;
	}
	PMEMobjpool *pop = tx.pop;
	struct tx_new *n = &tx.news[tx.nnews];
	if (pheap_reserve(&pop->heap, size, type, false, &n->r) != 0) {
		fail(errno, no_abort);
		return OID_NULL;
	}
	n->size = size;
	char *p = pop->base + n->r.off;
	if (src)
		memcpy(p, src, src_len);
	if (flags & POBJ_XALLOC_ZERO)
		memset(p + src_len, 0, size - src_len);
	note(&tx.news_at, tx.nnews++, n->r.off, tx.news, sizeof(*tx.news),
			offsetof(struct tx_new, r.off));
	return (PMEMoid){ .pool_uuid_lo = pop->uuid_lo, .off = n->r.off };
}

API PMEMoid
pmemobj_tx_xalloc(size_t size, uint64_t type_num, uint64_t flags)
{
	return tx_new("pmemobj_tx_xalloc", size, type_num, flags, NULL, 0);
}

API PMEMoid
pmemobj_tx_alloc(size_t size, uint64_t type_num)
{
	return tx_new("pmemobj_tx_alloc", size, type_num, 0, NULL, 0);
}

API PMEMoid
pmemobj_tx_zalloc(size_t size, uint64_t type_num)
{
	return tx_new("pmemobj_tx_zalloc", size, type_num, POBJ_XALLOC_ZERO, NULL, 0);
}

API PMEMoid
pmemobj_tx_xstrdup(const char *s, uint64_t type_num, uint64_t flags)
{
	if (!s) {
		if (in_work("pmemobj_tx_strdup")) {
			errmsg_set(EINVAL, "pmemobj_tx_strdup: NULL string");
			fail(EINVAL, flags & POBJ_XALLOC_NO_ABORT);
		}
		return OID_NULL;
	}
	size_t len = strlen(s) + 1;
	return tx_new("pmemobj_tx_strdup", len, type_num, flags, s, len);
}

API PMEMoid
pmemobj_tx_strdup(const char *s, uint64_t type_num)
{
	return pmemobj_tx_xstrdup(s, type_num, 0);
}

API PMEMoid
pmemobj_tx_xwcsdup(const wchar_t *s, uint64_t type_num, uint64_t flags)
{
	if (!s) {
		if (in_work("pmemobj_tx_wcsdup")) {
			errmsg_set(EINVAL, "pmemobj_tx_wcsdup: NULL string");
			fail(EINVAL, flags & POBJ_XALLOC_NO_ABORT);
		}
		return OID_NULL;
	}
	size_t len = (wcslen(s) + 1) * sizeof(wchar_t);
	return tx_new("pmemobj_tx_wcsdup", len, type_num, flags, s, len);
}

API PMEMoid
pmemobj_tx_wcsdup(const wchar_t *s, uint64_t type_num)
{
	return pmemobj_tx_xwcsdup(s, type_num, 0);
}

/* own_new -- the index of the object at off among this transaction's allocations, or -1 */
static long
own_new(uint64_t off)
{
	if (tx.news_at.on)
		return offmap_get(&tx.news_at, off);
	for (size_t i = 0; i < tx.nnews; i++)
		if (tx.news[i].r.off == off)
			return (long)i;
	return -1;
}

API int
pmemobj_tx_xfree(PMEMoid oid, uint64_t flags)
{
	bool no_abort = flags & POBJ_XFREE_NO_ABORT;
	if (!in_work("pmemobj_tx_free"))
		return EINVAL;
	if (flags & ~(uint64_t)POBJ_XFREE_NO_ABORT) {
		errmsg_set(EINVAL, "pmemobj_tx_xfree: unknown flags %#llx", (unsigned long long)flags);
		return fail(EINVAL, no_abort);
	}
	if (OID_IS_NULL(oid))
		return 0;
	PMEMobjpool *pop = tx.pop;
	if (oid.pool_uuid_lo != pop->uuid_lo) {
		errmsg_set(EINVAL, "pmemobj_tx_free: the oid is not of the transaction's pool");
		return fail(EINVAL, no_abort);
	}
	long mine = own_new(oid.off);
	if (mine >= 0) {
		pheap_cancel(&pop->heap, &tx.news[mine].r);
		tx.news[mine] = tx.news[--tx.nnews];
		if (tx.news_at.on) {
			offmap_del(&tx.news_at, oid.off);
			if ((size_t)mine < tx.nnews &&
					offmap_put(&tx.news_at, tx.news[mine].r.off, (size_t)mine) != 0)
				offmap_reset(&tx.news_at);       /* no memory: scan instead */
		}
		return 0;
	}
	struct pres r;
	if (pheap_lookup(&pop->heap, oid.off, false, false, &r) != 0 || oid.off == pop->state->root_off) {
		errmsg_set(EINVAL, "pmemobj_tx_free: offset %llu is not an allocated object",
				(unsigned long long)oid.off);
		return fail(EINVAL, no_abort);
	}
	bool twice = tx.freed.on && offmap_get(&tx.freed, oid.off) >= 0;
	for (size_t i = 0; !tx.freed.on && i < tx.nfrees && !twice; i++)
		twice = tx.frees[i].off == oid.off;
	if (twice) {
		errmsg_set(EINVAL, "pmemobj_tx_free: freed twice in one transaction");
		return fail(EINVAL, no_abort);
	}
	if (grow((void **)&tx.frees, &tx.cap_frees, tx.nfrees, sizeof(*tx.frees)) != 0)
		return fail(ENOMEM, no_abort);
	tx.frees[tx.nfrees] = r;
	note(&tx.freed, tx.nfrees++, oid.off, tx.frees, sizeof(*tx.frees),
			offsetof(struct pres, off));
	return 0;
}

API int
pmemobj_tx_free(PMEMoid oid)
{
	return pmemobj_tx_xfree(oid, 0);
}

/* tx_resize -- realloc in the transaction: a new object, the old one freed */
static PMEMoid
tx_resize(const char *fn, PMEMoid oid, size_t size, uint64_t type, bool zero)
{
	if (!in_work(fn))
		return OID_NULL;
	if (OID_IS_NULL(oid))
		return tx_new(fn, size, type, zero ? POBJ_XALLOC_ZERO : 0, NULL, 0);
	if (size == 0) {
		pmemobj_tx_free(oid);
		return OID_NULL;
	}
	PMEMobjpool *pop = tx.pop;
	size_t old_size;
	long mine = oid.pool_uuid_lo == pop->uuid_lo ? own_new(oid.off) : -1;
	struct pres r;
	if (mine >= 0) {
		old_size = tx.news[mine].r.usable;
	} else if (oid.pool_uuid_lo == pop->uuid_lo &&
			pheap_lookup(&pop->heap, oid.off, false, false, &r) == 0) {
		old_size = oid.off == pop->state->root_off ? pop->state->root_size : r.usable;
	} else {
		errmsg_set(EINVAL, "%s: the oid is not an object of the transaction's pool", fn);
		fail(EINVAL, false);
		return OID_NULL;
	}
	size_t keep = MIN(old_size, size);
	PMEMoid n = tx_new(fn, size, type, 0, pop->base + oid.off, keep);
	if (OID_IS_NULL(n))
		return OID_NULL;
	if (zero && size > keep)
		memset(pop->base + n.off + keep, 0, size - keep);
	if (pmemobj_tx_free(oid) != 0)
		return OID_NULL;
	return n;
}

API PMEMoid
pmemobj_tx_realloc(PMEMoid oid, size_t size, uint64_t type_num)
{
	return tx_resize("pmemobj_tx_realloc", oid, size, type_num, false);
}

API PMEMoid
pmemobj_tx_zrealloc(PMEMoid oid, size_t size, uint64_t type_num)
{
	return tx_resize("pmemobj_tx_zrealloc", oid, size, type_num, true);
}

/* ---- locks, actions, settings ---------------------------------------------- */

API int
pmemobj_tx_xlock(enum pobj_tx_param type, void *lockp, uint64_t flags)
{
	if (!in_work("pmemobj_tx_lock"))
		return EINVAL;
	bool no_abort = flags & POBJ_XLOCK_NO_ABORT;
	if ((type != TX_PARAM_MUTEX && type != TX_PARAM_RWLOCK) || !lockp ||
			(flags & ~(uint64_t)POBJ_XLOCK_NO_ABORT)) {
		errmsg_set(EINVAL, "pmemobj_tx_lock: bad lock type, lock or flags");
		return fail(EINVAL, no_abort);
	}
	int err = add_lock(type, lockp);
	return err ? fail(err, no_abort) : 0;
}

API int
pmemobj_tx_lock(enum pobj_tx_param type, void *lockp)
{
	return pmemobj_tx_xlock(type, lockp, 0);
}

API int
pmemobj_tx_xpublish(struct pobj_action *actv, size_t actvcnt, uint64_t flags)
{
	if (!in_work("pmemobj_tx_publish"))
		return EINVAL;
	bool no_abort = flags & POBJ_XPUBLISH_NO_ABORT;
	for (size_t i = 0; i < actvcnt; i++) {
		if (grow((void **)&tx.acts, &tx.cap_acts, tx.nacts, sizeof(*tx.acts)) != 0)
			return fail(ENOMEM, no_abort);
		tx.acts[tx.nacts++] = actv[i];
	}
	return 0;
}

API int
pmemobj_tx_publish(struct pobj_action *actv, size_t actvcnt)
{
	return pmemobj_tx_xpublish(actv, actvcnt, 0);
}

API void
pmemobj_tx_set_failure_behavior(enum pobj_tx_failure_behavior behavior)
{
	if (tx.depth)
		tx.level[tx.depth - 1].failure = behavior;
}

API enum pobj_tx_failure_behavior
pmemobj_tx_get_failure_behavior(void)
{
	return tx.depth ? tx.level[tx.depth - 1].failure : POBJ_TX_FAILURE_ABORT;
}

API void
pmemobj_tx_set_user_data(void *data)
{
	tx.user_data = data;
}

API void *
pmemobj_tx_get_user_data(void)
{
	return tx.user_data;
}
