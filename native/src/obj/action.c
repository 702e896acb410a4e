/*
 * action.c -- reserve now, publish later (action.h)
 *
 * A reservation is an object the heap hands out but the media does not know
 * yet; it becomes allocated when a publish commits the record that says so,
 * with any frees and 8-byte sets of the same batch: all of them or none.
 * The action keeps the reservation's details in its private area.
 */
#include <errno.h>
#include <string.h>

#include "common/errmsg.h"
#include "obj/action.h"

enum { ACT_RESERVE = 1, ACT_FREE = 2, ACT_SET = 3 };

_Static_assert(sizeof(struct pres) <= sizeof(((struct pobj_action *)0)->data2),
		"an action holds a reservation");

static void
act_put(struct pobj_action *a, unsigned kind, const struct pres *r)
{
	memset(a, 0, sizeof(*a));
	a->type = POBJ_ACTION_TYPE_HEAP;
	a->data[0] = kind;
	memcpy(a->data2, r, sizeof(*r));
}

static struct pres
act_res(const struct pobj_action *a)
{
	struct pres r;
	memcpy(&r, a->data2, sizeof(r));
	return r;
}

API PMEMoid
pmemobj_xreserve(PMEMobjpool *pop, struct pobj_action *act, size_t size, uint64_t type_num,
		uint64_t flags)
{
	if (!pop || !act) {
		errmsg_set(EINVAL, "pmemobj_reserve: no pool or action");
		return OID_NULL;
	}
	if (flags & ~(uint64_t)(POBJ_XALLOC_ZERO | POBJ_XALLOC_NO_FLUSH | POBJ_CLASS_ID(0xffff) |
			POBJ_ARENA_ID(0xffff))) {
		errmsg_set(EINVAL, "pmemobj_xreserve: unknown flags %#llx", (unsigned long long)flags);
		return OID_NULL;
	}
	if (size == 0 || size > PMEMOBJ_MAX_ALLOC_SIZE) {
		errmsg_set(size ? ENOMEM : EINVAL, "pmemobj_reserve: %zu bytes", size);
		return OID_NULL;
	}
	struct pres r;
	if (palloc_reserve(pop, size, type_num, (flags & POBJ_XALLOC_ZERO) != 0, &r) != 0)
		return OID_NULL;
	if ((flags & POBJ_XALLOC_ZERO) && pmemops_persist(pop->ops, pop->base + r.off, size) != 0) {
		pheap_cancel(&pop->heap, &r);
		return OID_NULL;                     /* the zeroes are durable before any publish */
	}
	act_put(act, ACT_RESERVE, &r);
	return (PMEMoid){ .pool_uuid_lo = pop->uuid_lo, .off = r.off };
}

API PMEMoid
pmemobj_reserve(PMEMobjpool *pop, struct pobj_action *act, size_t size, uint64_t type_num)
{
	return pmemobj_xreserve(pop, act, size, type_num, 0);
}

API void
pmemobj_defer_free(PMEMobjpool *pop, PMEMoid oid, struct pobj_action *act)
{
	struct pres r;
	if (!pop || !act || oid.pool_uuid_lo != pop->uuid_lo ||
			pheap_lookup(&pop->heap, oid.off, false, false, &r) != 0) {
		if (act)
			memset(act, 0, sizeof(*act));
		errmsg_set(EINVAL, "pmemobj_defer_free: not an object of this pool");
		return;
	}
	act_put(act, ACT_FREE, &r);
}

API void
pmemobj_set_value(PMEMobjpool *pop, struct pobj_action *act, uint64_t *ptr, uint64_t value)
{
	if (!act)
		return;
	memset(act, 0, sizeof(*act));
	act->type = POBJ_ACTION_TYPE_MEM;
	act->data[0] = ACT_SET;
	act->data2[0] = (uint64_t)(uintptr_t)ptr;
	act->data2[1] = value;
	(void)pop;
}

int
action_commit_ops(PMEMobjpool *pop, struct palloc_op *op, struct pobj_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct pres r = act_res(&a[i]);
		int ret = 0;
		switch (a[i].data[0]) {
		case ACT_RESERVE:
			ret = palloc_op_publish(op, &r);
			break;
		case ACT_FREE:
			ret = palloc_op_free(op, &r);
			break;
		case ACT_SET: {
			uint64_t *p = (uint64_t *)(uintptr_t)a[i].data2[0];
			if (!pool_holds(pop, p, 8) || (uintptr_t)p % 8 ||
					pool_off(pop, p) < OBJ_LANES_OFF)
				return errmsg_set(EINVAL, "pmemobj_set_value: %p is not an aligned "
						"word of the pool", (void *)p), -1;
			ret = palloc_op_set(op, pool_off(pop, p), a[i].data2[1]);
			break;
		}
		default:
			return errmsg_set(EINVAL, "an action that was never set up"), -1;
		}
		if (ret)
			return -1;
	}
	return 0;
}

void
action_cancel_all(PMEMobjpool *pop, struct pobj_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].data[0] == ACT_RESERVE) {
			struct pres r = act_res(&a[i]);
			pheap_cancel(&pop->heap, &r);
		}
		a[i].data[0] = 0;
	}
}

API int
pmemobj_publish(PMEMobjpool *pop, struct pobj_action *actv, size_t actvcnt)
{
	if (!pop || (actvcnt && !actv))
		return errmsg_set(EINVAL, "pmemobj_publish: no pool or actions"), -1;
	struct palloc_op op;
	palloc_op_init(&op);
	int ret = action_commit_ops(pop, &op, actv, actvcnt);
	if (ret == 0) {
		unsigned lane = lane_hold(pop);
		ret = palloc_commit(pop, lane, &op, false);
		lane_release(pop, lane);
	}
	palloc_op_fini(&op);
	return ret;
}

API void
pmemobj_cancel(PMEMobjpool *pop, struct pobj_action *actv, size_t actvcnt)
{
	if (pop && actv)
		action_cancel_all(pop, actv, actvcnt);
}
