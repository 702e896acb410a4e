/*
 * oid.c -- PMEMoids, the root object, atomic allocation, iteration, persistence
 *
 * An atomic allocation reserves an object, runs the constructor on it (or zeroes
 * it) and makes that durable, then commits one redo record that marks it
 * allocated and, when the destination oid lives in the pool, stores it: a crash
 * leaves both or neither. Frees and reallocations likewise.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "common/errmsg.h"
#include "libpmem.h"
#include "libpmemobj.h"
#include "obj/palloc.h"
#include "pmalloc.h"

/* ---- oids ------------------------------------------------------------------ */

static __thread struct {
	uint64_t uuid_lo;
	struct pmemobjpool *pop;
	unsigned gen;
} last_pool TLS_HOT;

/* pool_of -- the open pool oid belongs to (the thread's last one, without a lock) */
static struct pmemobjpool *
pool_of(PMEMoid oid)
{
	if (!oid.pool_uuid_lo)
		return NULL;
	unsigned gen = atomic_load_explicit(&pool_reg_gen, memory_order_acquire);
	if (last_pool.uuid_lo == oid.pool_uuid_lo && last_pool.gen == gen)
		return last_pool.pop;
	struct pmemobjpool *pop = pool_by_uuid(oid.pool_uuid_lo);
	if (pop) {
		last_pool.uuid_lo = oid.pool_uuid_lo;
		last_pool.pop = pop;
		last_pool.gen = gen;
	}
	return pop;
}

API void *
pmemobj_direct(PMEMoid oid)
{
	struct pmemobjpool *pop = oid.off ? pool_of(oid) : NULL;
	return pop ? pop->base + oid.off : NULL;
}

API PMEMoid
pmemobj_oid(const void *addr)
{
	struct pmemobjpool *pop = addr ? pool_by_addr(addr) : NULL;
	if (!pop)
		return OID_NULL;
	return (PMEMoid){ .pool_uuid_lo = pop->uuid_lo, .off = pool_off(pop, addr) };
}

API PMEMobjpool *
pmemobj_pool_by_oid(PMEMoid oid)
{
	return pool_of(oid);
}

API PMEMobjpool *
pmemobj_pool_by_ptr(const void *addr)
{
	return addr ? pool_by_addr(addr) : NULL;
}

/* lookup -- the allocated (or, if reserved, reserved) object oid names, in its
 * pool; -1 + EINVAL if none */
static int
lookup(PMEMoid oid, bool reserved, struct pmemobjpool **pop, struct pres *r)
{
	*pop = pool_of(oid);
	if (!*pop)
		return errmsg_set(EINVAL, "the oid names no open pool"), -1;
	return pheap_lookup(&(*pop)->heap, oid.off, false, reserved, r);
}

API size_t
pmemobj_alloc_usable_size(PMEMoid oid)
{
	struct pmemobjpool *pop;
	struct pres r;
	if (OID_IS_NULL(oid) || lookup(oid, true, &pop, &r) != 0)
		return 0;
	if (oid.off == pop->state->root_off)
		return pop->state->root_size;
	return r.usable;
}

API uint64_t
pmemobj_type_num(PMEMoid oid)
{
	struct pmemobjpool *pop;
	struct pres r;
	if (OID_IS_NULL(oid) || lookup(oid, true, &pop, &r) != 0)
		return UINT64_MAX;
	return r.type;
}

/* ---- atomic operations ----------------------------------------------------- */

/* commit -- one operation on a lane of its own; stores dest (if not NULL and in
 * the pool) in the same record, else after. 0 or -1. */
static int
commit(struct pmemobjpool *pop, struct palloc_op *op, PMEMoid *dest, PMEMoid value)
{
	bool inside = dest && pool_holds(pop, dest, sizeof(*dest));
	if (inside && (palloc_op_set(op, pool_off(pop, &dest->off), value.off) != 0 ||
			palloc_op_set(op, pool_off(pop, &dest->pool_uuid_lo), value.pool_uuid_lo) != 0))
		return -1;
	unsigned lane = lane_hold(pop);
	int ret = palloc_commit(pop, lane, op, !inside);
	struct ulog_ctx c = lane_ctx(pop, lane);
	ulog_prefetch(&c);
	lane_release(pop, lane);
	if (dest && !inside)
		*dest = value;
	return ret;
}

static PMEMoid
oid_at(const struct pmemobjpool *pop, uint64_t off)
{
	return (PMEMoid){ .pool_uuid_lo = pop->uuid_lo, .off = off };
}

/* commit_new -- commit op (built so far with status ret) publishing r, storing
 * r's oid at dest (if not NULL); r goes back to the heap when the record could
 * not be built. 0 or -1. */
static int
commit_new(struct pmemobjpool *pop, struct palloc_op *op, int ret, const struct pres *r,
		PMEMoid *dest)
{
	if (ret == 0)
		ret = palloc_op_publish(op, r);
	if (ret == 0)
		return commit(pop, op, dest, oid_at(pop, r->off));
	pheap_cancel(&pop->heap, r);
	return -1;
}

static int
check_size(const char *fn, size_t size)
{
	if (size == 0)
		return errmsg_set(EINVAL, "%s: size 0", fn), -1;
	if (size > PMEMOBJ_MAX_ALLOC_SIZE)
		return errmsg_set(ENOMEM, "%s: %zu bytes is more than PMEMOBJ_MAX_ALLOC_SIZE",
				fn, size), -1;
	return 0;
}

/* obj_alloc -- allocate and construct; 0 or -1 */
static int
obj_alloc(const char *fn, PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type,
		bool zero, pmemobj_constr constructor, void *arg)
{
	if (!pop)
		return errmsg_set(EINVAL, "%s: no pool", fn), -1;
	if (check_size(fn, size) != 0)
		return -1;
	struct pres r;
	if (palloc_reserve(pop, size, type, zero, &r) != 0)
		return -1;
	if (constructor && constructor(pop, pop->base + r.off, arg) != 0) {
		pheap_cancel(&pop->heap, &r);
		return errmsg_set(ECANCELED, "%s: the constructor failed", fn), -1;
	}
	/* the record vouches for the zeroes, or they are made durable before it */
	bool vouch = zero && size <= 1024;
	if (zero && !vouch && pmemops_persist(pop->ops, pop->base + r.off, size) != 0) {
		pheap_cancel(&pop->heap, &r);
		return -1;
	}
	struct palloc_op op;
	palloc_op_init(&op);
	int ret = vouch ? palloc_op_data(&op, pop->base, r.off, size) : 0;
	ret = commit_new(pop, &op, ret, &r, oidp);
	palloc_op_fini(&op);
	return ret;
}

API int
pmemobj_alloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num,
		pmemobj_constr constructor, void *arg)
{
	return obj_alloc("pmemobj_alloc", pop, oidp, size, type_num, false, constructor, arg);
}

API int
pmemobj_xalloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num,
		uint64_t flags, pmemobj_constr constructor, void *arg)
{
	if (flags & ~(uint64_t)(POBJ_XALLOC_ZERO | POBJ_XALLOC_NO_FLUSH | POBJ_CLASS_ID(0xffff) |
			POBJ_ARENA_ID(0xffff)))
		return errmsg_set(EINVAL, "pmemobj_xalloc: unknown flags %#llx",
				(unsigned long long)flags), -1;
	return obj_alloc("pmemobj_xalloc", pop, oidp, size, type_num,
			(flags & POBJ_XALLOC_ZERO) != 0, constructor, arg);
}

API int
pmemobj_zalloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num)
{
	return obj_alloc("pmemobj_zalloc", pop, oidp, size, type_num, true, NULL, NULL);
}

struct copy_arg {
	const void *src;
	size_t len;
};

static int
copy_constr(PMEMobjpool *pop, void *ptr, void *arg)
{
	const struct copy_arg *c = arg;
	return pmemops_memcpy(pop->ops, ptr, c->src, c->len, 0) ? 0 : -1;
}

API int
pmemobj_strdup(PMEMobjpool *pop, PMEMoid *oidp, const char *s, uint64_t type_num)
{
	if (!s)
		return errmsg_set(EINVAL, "pmemobj_strdup: NULL string"), -1;
	struct copy_arg c = { s, strlen(s) + 1 };
	return obj_alloc("pmemobj_strdup", pop, oidp, c.len, type_num, false, copy_constr, &c);
}

API int
pmemobj_wcsdup(PMEMobjpool *pop, PMEMoid *oidp, const wchar_t *s, uint64_t type_num)
{
	if (!s)
		return errmsg_set(EINVAL, "pmemobj_wcsdup: NULL string"), -1;
	struct copy_arg c = { s, (wcslen(s) + 1) * sizeof(wchar_t) };
	return obj_alloc("pmemobj_wcsdup", pop, oidp, c.len, type_num, false, copy_constr, &c);
}

API void
pmemobj_free(PMEMoid *oidp)
{
	if (!oidp || OID_IS_NULL(*oidp))
		return;
	struct pmemobjpool *pop;
	struct pres r;
	if (lookup(*oidp, false, &pop, &r) != 0)
		return;
	if (r.off == pop->state->root_off) {
		errmsg_set(EINVAL, "pmemobj_free: the root object cannot be freed");
		return;
	}
	struct palloc_op op;
	palloc_op_init(&op);
	if (pool_holds(pop, oidp, sizeof(*oidp))) {
		/* conditional, so the record may stay (ulog.h): one drain fewer */
		if (palloc_op_free(&op, &r) == 0 && redo_buf_add(&op.redo, pool_off(pop, oidp),
				REDO_OIDCLR, r.off) == 0) {
			unsigned lane = lane_hold(pop);
			(void)palloc_commit(pop, lane, &op, true);
			lane_release(pop, lane);
		}
	} else if (palloc_op_free(&op, &r) == 0) {
		(void)commit(pop, &op, oidp, OID_NULL);
	}
	palloc_op_fini(&op);
}

/* obj_realloc -- resize *oidp (moving it unless it fits); 0 or -1 */
static int
obj_realloc(const char *fn, PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type,
		bool zero)
{
	if (!pop || !oidp)
		return errmsg_set(EINVAL, "%s: no pool or oid", fn), -1;
	if (OID_IS_NULL(*oidp))
		return obj_alloc(fn, pop, oidp, size, type, zero, NULL, NULL);
	if (size == 0) {
		pmemobj_free(oidp);
		return 0;
	}
	if (check_size(fn, size) != 0)
		return -1;
	struct pmemobjpool *owner;
	struct pres old;
	if (lookup(*oidp, false, &owner, &old) != 0)
		return -1;
	if (owner != pop)
		return errmsg_set(EINVAL, "%s: the oid is of another pool", fn), -1;
	struct palloc_op op;
	palloc_op_init(&op);
	int ret;
	bool same_slab = old.slab && size <= old.usable && size > old.usable / 2 &&
		type == old.type;
	if (same_slab || (!old.slab && size <= old.usable && size > old.usable / 2)) {
		ret = old.slab || type == old.type ? 0 : pheap_retype_ops(&pop->heap, &old, type,
				&op.redo);
		if (ret == 0 && op.redo.n)
			ret = commit(pop, &op, NULL, OID_NULL);
		palloc_op_fini(&op);
		return ret;
	}
	struct pres r;
	if (palloc_reserve(pop, size, type, false, &r) != 0) {
		palloc_op_fini(&op);
		return -1;
	}
	size_t keep = MIN(size, old.usable);
	char *dst = pop->base + r.off;
	memcpy(dst, pop->base + old.off, keep);
	if (zero && size > keep)
		memset(dst + keep, 0, size - keep);
	ret = pmemops_persist(pop->ops, dst, size);
	if (ret == 0)
		ret = palloc_op_free(&op, &old);
	ret = commit_new(pop, &op, ret, &r, oidp);
	palloc_op_fini(&op);
	return ret;
}

API int
pmemobj_realloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num)
{
	return obj_realloc("pmemobj_realloc", pop, oidp, size, type_num, false);
}

API int
pmemobj_zrealloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num)
{
	return obj_realloc("pmemobj_zrealloc", pop, oidp, size, type_num, true);
}

/* ---- the root -------------------------------------------------------------- */

/* root_grow -- a root of size bytes (new, or grown: contents kept, the rest
 * zeroed), built by constructor; 0 or -1 (root lock held) */
static int
root_grow(PMEMobjpool *pop, size_t size, pmemobj_constr constructor, void *arg)
{
	struct obj_state *st = pop->state;
	struct pres r, old;
	bool has_old = st->root_off != 0;
	if (has_old && pheap_lookup(&pop->heap, st->root_off, false, false, &old) != 0)
		return -1;
	if (palloc_reserve(pop, size, POBJ_ROOT_TYPE_NUM, false, &r) != 0)
		return -1;
	char *p = pop->base + r.off;
	size_t keep = has_old ? MIN(st->root_size, size) : 0;
	if (keep)
		memcpy(p, pop->base + st->root_off, keep);
	memset(p + keep, 0, size - keep);
	int ret = pmemops_persist(pop->ops, p, size);
	if (ret == 0 && constructor && constructor(pop, p, arg) != 0) {
		errmsg_set(ECANCELED, "pmemobj_root_construct: the constructor failed");
		ret = -1;
	}
	if (ret == 0)
		ret = pmemops_drain(pop->ops);
	if (ret != 0) {
		pheap_cancel(&pop->heap, &r);
		return -1;
	}
	struct palloc_op op;
	palloc_op_init(&op);
	ret = has_old ? palloc_op_free(&op, &old) : 0;
	if (ret == 0)
		ret = palloc_op_set(&op, pool_off(pop, &st->root_off), r.off);
	if (ret == 0)
		ret = palloc_op_set(&op, pool_off(pop, &st->root_size), size);
	ret = commit_new(pop, &op, ret, &r, NULL);
	palloc_op_fini(&op);
	return ret;
}

API PMEMoid
pmemobj_root_construct(PMEMobjpool *pop, size_t size, pmemobj_constr constructor, void *arg)
{
	if (!pop) {
		errmsg_set(EINVAL, "pmemobj_root: no pool");
		return OID_NULL;
	}
	if (size > PMEMOBJ_MAX_ALLOC_SIZE) {
		errmsg_set(ENOMEM, "pmemobj_root: %zu bytes is more than PMEMOBJ_MAX_ALLOC_SIZE",
				size);
		return OID_NULL;
	}
	pthread_mutex_lock(&pop->root_lock);
	PMEMoid ret = OID_NULL;
	if (size == 0 && pop->state->root_off == 0)
		errmsg_set(EINVAL, "pmemobj_root: size 0 and no root object yet");
	else if (size <= pop->state->root_size || root_grow(pop, size, constructor, arg) == 0)
		ret = oid_at(pop, pop->state->root_off);
	pthread_mutex_unlock(&pop->root_lock);
	return ret;
}

API PMEMoid
pmemobj_root(PMEMobjpool *pop, size_t size)
{
	return pmemobj_root_construct(pop, size, NULL, NULL);
}

API size_t
pmemobj_root_size(PMEMobjpool *pop)
{
	return pop && pop->state->root_off ? pop->state->root_size : 0;
}

/* ---- iteration ------------------------------------------------------------- */

/* next_user -- the first user object after off (the root is not one) */
static PMEMoid
next_user(PMEMobjpool *pop, uint64_t off)
{
	for (;;) {
		off = pheap_next(&pop->heap, off);
		if (off == 0)
			return OID_NULL;
		if (off != pop->state->root_off)
			return oid_at(pop, off);
		off++;
	}
}

API PMEMoid
pmemobj_first(PMEMobjpool *pop)
{
	return pop ? next_user(pop, 0) : OID_NULL;
}

API PMEMoid
pmemobj_next(PMEMoid oid)
{
	struct pmemobjpool *pop = pool_of(oid);
	return pop && oid.off ? next_user(pop, oid.off + 1) : OID_NULL;
}

/* types_put -- count an object of type t and usable bytes in the open-addressing table
 * (*tab, *cap slots, *n used), growing it; 0 or -1 (ENOMEM) */
static int
types_put(struct pmalloc_obj_type **tab, size_t *cap, size_t *n, uint64_t t, size_t bytes)
{
	if (2 * (*n + 1) > *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct pmalloc_obj_type *nt = calloc(ncap, sizeof(*nt));
		if (!nt)
			return errmsg_set(ENOMEM, "pmalloc_obj_types: no memory"), -1;
		for (size_t i = 0; i < *cap; i++) {
			if ((*tab)[i].objects == 0)
				continue;
			size_t j = (*tab)[i].type_num * UINT64_C(0x9e3779b97f4a7c15) % ncap;
			while (nt[j].objects)
				j = (j + 1) % ncap;
			nt[j] = (*tab)[i];
		}
		free(*tab);
		*tab = nt;
		*cap = ncap;
	}
	size_t j = t * UINT64_C(0x9e3779b97f4a7c15) % *cap;
	while ((*tab)[j].objects && (*tab)[j].type_num != t)
		j = (j + 1) % *cap;
	if ((*tab)[j].objects == 0) {
		(*tab)[j].type_num = t;
		(*n)++;
	}
	(*tab)[j].objects++;
	(*tab)[j].bytes += bytes;
	return 0;
}

static int
by_type_num(const void *a, const void *b)
{
	uint64_t x = ((const struct pmalloc_obj_type *)a)->type_num;
	uint64_t y = ((const struct pmalloc_obj_type *)b)->type_num;
	return (x > y) - (x < y);
}

API ssize_t
pmalloc_obj_types(PMEMobjpool *pop, struct pmalloc_obj_type *out, size_t n)
{
	if (!pop || (!out && n))
		return errmsg_set(EINVAL, "pmalloc_obj_types: no pool or no room"), -1;
	struct pmalloc_obj_type *tab = NULL;
	size_t cap = 0, used = 0;
	for (PMEMoid o = next_user(pop, 0); o.off; o = next_user(pop, o.off + 1)) {
		if (types_put(&tab, &cap, &used, pmemobj_type_num(o),
				pmemobj_alloc_usable_size(o)) != 0) {
			free(tab);
			return -1;
		}
	}
	size_t k = 0;
	for (size_t i = 0; i < cap; i++)
		if (tab[i].objects)
			tab[k++] = tab[i];
	if (k)
		qsort(tab, k, sizeof(*tab), by_type_num);
	if (n && k)
		memcpy(out, tab, MIN(n, k) * sizeof(*tab));
	free(tab);
	return (ssize_t)k;
}

/* ---- persistence ----------------------------------------------------------- */

API void
pmemobj_persist(PMEMobjpool *pop, const void *addr, size_t len)
{
	(void)pmemops_persist(pop->ops, addr, len);
}

API void
pmemobj_flush(PMEMobjpool *pop, const void *addr, size_t len)
{
	(void)pmemops_flush(pop->ops, addr, len);
}

API void
pmemobj_drain(PMEMobjpool *pop)
{
	(void)pmemops_drain(pop->ops);
}

API int
pmemobj_xpersist(PMEMobjpool *pop, const void *addr, size_t len, unsigned flags)
{
	if (flags & ~PMEMOBJ_F_RELAXED)
		return errmsg_set(EINVAL, "pmemobj_xpersist: unknown flags %#x", flags), -1;
	return pmemops_persist(pop->ops, addr, len);
}

API int
pmemobj_xflush(PMEMobjpool *pop, const void *addr, size_t len, unsigned flags)
{
	if (flags & ~PMEMOBJ_F_RELAXED)
		return errmsg_set(EINVAL, "pmemobj_xflush: unknown flags %#x", flags), -1;
	return pmemops_flush(pop->ops, addr, len);
}

API void *
pmemobj_memcpy_persist(PMEMobjpool *pop, void *dest, const void *src, size_t len)
{
	(void)pmemops_memcpy(pop->ops, dest, src, len, 0);
	return dest;
}

API void *
pmemobj_memset_persist(PMEMobjpool *pop, void *dest, int c, size_t len)
{
	(void)pmemops_memset(pop->ops, dest, c, len, 0);
	return dest;
}

API void *
pmemobj_memcpy(PMEMobjpool *pop, void *dest, const void *src, size_t len, unsigned flags)
{
	(void)pmemops_memcpy(pop->ops, dest, src, len, flags & ~PMEMOBJ_F_RELAXED);
	return dest;
}

API void *
pmemobj_memmove(PMEMobjpool *pop, void *dest, const void *src, size_t len, unsigned flags)
{
	(void)pmemops_memcpy(pop->ops, dest, src, len, flags & ~PMEMOBJ_F_RELAXED);
	return dest;
}

API void *
pmemobj_memset(PMEMobjpool *pop, void *dest, int c, size_t len, unsigned flags)
{
	(void)pmemops_memset(pop->ops, dest, c, len, flags & ~PMEMOBJ_F_RELAXED);
	return dest;
}

/* ---- the rest of the pool API ---------------------------------------------- */

API void
pmemobj_set_user_data(PMEMobjpool *pop, void *data)
{
	if (pop)
		pop->user_data = data;
}

API void *
pmemobj_get_user_data(PMEMobjpool *pop)
{
	return pop ? pop->user_data : NULL;
}

API const char *
pmemobj_check_version(unsigned major_required, unsigned minor_required)
{
	return errmsg_version("libpmemobj", PMEMOBJ_MAJOR_VERSION, PMEMOBJ_MINOR_VERSION,
			major_required, minor_required);
}

API const char *
pmemobj_errormsg(void)
{
	return errmsg_get();
}

API void
pmemobj_set_funcs(void *(*malloc_func)(size_t size), void (*free_func)(void *ptr),
		void *(*realloc_func)(void *ptr, size_t size), char *(*strdup_func)(const char *s))
{
	(void)malloc_func;
	(void)free_func;
	(void)realloc_func;
	(void)strdup_func;
}
