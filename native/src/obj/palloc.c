/*
 * palloc.c -- allocator operations made failure-atomic (palloc.h)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"
#include "libpmem.h"
#include "obj/palloc.h"

void
palloc_op_init(struct palloc_op *op)
{
	redo_buf_init(&op->redo);
	op->pub = op->pub_inline;
	op->freed = op->freed_inline;
	op->npub = op->nfreed = 0;
	op->cap_pub = op->cap_freed = ARRAY_SIZE(op->pub_inline);
}

void
palloc_op_fini(struct palloc_op *op)
{
	redo_buf_fini(&op->redo);
	if (op->pub != op->pub_inline)
		free(op->pub);
	if (op->freed != op->freed_inline)
		free(op->freed);
	palloc_op_init(op);
}

/* push -- append r to a growable array with an inline start; 0 or -1 */
static int
push(struct pres **arr, size_t *n, size_t *cap, struct pres *inl, const struct pres *r)
{
	if (*n == *cap) {
		struct pres *a = malloc(2 * *cap * sizeof(*a));
		if (!a)
			return errmsg_set(ENOMEM, "no memory for an allocator operation"), -1;
		memcpy(a, *arr, *n * sizeof(*a));
		if (*arr != inl)
			free(*arr);
		*arr = a;
		*cap *= 2;
	}
	(*arr)[(*n)++] = *r;
	return 0;
}

int
palloc_op_publish(struct palloc_op *op, const struct pres *r)
{
	return push(&op->pub, &op->npub, &op->cap_pub, op->pub_inline, r);
}

int
palloc_op_free(struct palloc_op *op, const struct pres *r)
{
	return push(&op->freed, &op->nfreed, &op->cap_freed, op->freed_inline, r);
}

int
palloc_op_set(struct palloc_op *op, uint64_t off, uint64_t value)
{
	return redo_buf_add(&op->redo, off, REDO_SET, value);
}

/* grow_redo -- give the lane a redo extension for n entries; 0 or -1 */
static int
grow_redo(struct pmemobjpool *pop, unsigned lane, size_t n)
{
	struct ulog_ctx c = lane_ctx(pop, lane);
	struct redo_log *r = &c.lane->redo;
	size_t want = ALIGN_UP(n - REDO_INLINE + 64, 256);
	struct pres old;
	bool has_old = r->ext_off && pheap_lookup(&pop->heap, r->ext_off, true, false, &old) == 0;
	uint64_t block;
	return palloc_internal(pop, lane, want * sizeof(struct redo_entry), NULL, 0,
			pool_off(pop, &r->ext_off), pool_off(pop, &r->ext_cap), want,
			has_old ? &old : NULL, &block);
}

/* ops_for -- the record's entries: the caller's sets, publishes, frees */
static int
ops_for(struct pmemobjpool *pop, struct palloc_op *op)
{
	for (size_t i = 0; i < op->npub; i++)
		if (pheap_publish_ops(&pop->heap, &op->pub[i], &op->redo) != 0)
			return -1;
	for (size_t i = 0; i < op->nfreed; i++)
		if (pheap_free_ops(&pop->heap, &op->freed[i], &op->redo) != 0)
			return -1;
	return 0;
}

/* clear_stale -- clear every other lane's stale record in this drain (ulog.h);
 * our own slot is about to be overwritten */
static int
clear_stale(struct pmemobjpool *pop, unsigned lane)
{
	int err = 0;
	atomic_fetch_and(&pop->stale_mask, ~(UINT64_C(1) << lane));
	atomic_exchange(&pop->stale[lane], 0);
	for (uint64_t m = atomic_load(&pop->stale_mask); m; m &= m - 1) {
		unsigned l = (unsigned)__builtin_ctzll(m);
		atomic_fetch_and(&pop->stale_mask, ~(UINT64_C(1) << l));
		uint64_t token = atomic_exchange(&pop->stale[l], 0);
		if (token) {
			struct ulog_ctx c = lane_ctx(pop, l);
			err |= redo_clear_stale(&c, token);
		}
	}
	return err;
}

int
palloc_commit(struct pmemobjpool *pop, unsigned lane, struct palloc_op *op, bool stale_ok)
{
	size_t mine = op->redo.n;
	if (ops_for(pop, op) != 0)
		return -1;
	struct ulog_ctx c = lane_ctx(pop, lane);
	if (op->redo.n > redo_capacity(&c)) {
		size_t need = op->redo.n;
		op->redo.n = mine;                   /* a slab's head may be published meanwhile */
		if (grow_redo(pop, lane, need) != 0)
			return -1;
		if (ops_for(pop, op) != 0)
			return -1;
		if (op->redo.n > redo_capacity(&c))
			return errmsg_set(ENOMEM, "a record of %zu entries does not fit the redo log",
					op->redo.n), -1;
	}
	uint64_t token;
	int ret = clear_stale(pop, lane);
	ret |= redo_commit(&c, &op->redo, atomic_fetch_add(&pop->seq, 1), stale_ok, &token);
	if (token) {
		atomic_store(&pop->stale[lane], token);
		atomic_fetch_or(&pop->stale_mask, UINT64_C(1) << lane);
	}
	for (size_t i = 0; i < op->npub; i++)
		pheap_published(&pop->heap, &op->pub[i]);
	for (size_t i = 0; i < op->nfreed; i++)
		pheap_freed(&pop->heap, &op->freed[i]);
	op->redo.n = 0;
	op->npub = op->nfreed = 0;
	return ret ? -1 : 0;
}

int
palloc_reserve(struct pmemobjpool *pop, size_t size, uint64_t type, bool zero, struct pres *r)
{
	if (pheap_reserve(&pop->heap, size, type, false, r) != 0)
		return -1;
	if (zero && !pmemops_memset(pop->ops, pop->base + r->off, 0, size ? size : 1,
			PMEM_F_MEM_NODRAIN)) {
		pheap_cancel(&pop->heap, r);
		return -1;
	}
	return 0;
}

int
palloc_internal(struct pmemobjpool *pop, unsigned lane, size_t size, const void *head,
		size_t head_len, uint64_t off_slot, uint64_t size_slot, uint64_t size_value,
		const struct pres *old, uint64_t *block)
{
	struct pres r;
	if (pheap_reserve(&pop->heap, size, 0, true, &r) != 0)
		return -1;
	memset(pop->base + r.off, 0, r.usable);
	if (head_len)
		memcpy(pop->base + r.off, head, head_len);
	if (pmemops_persist(pop->ops, pop->base + r.off, r.usable) != 0) {
		pheap_cancel(&pop->heap, &r);
		return -1;
	}
	struct palloc_op op;
	palloc_op_init(&op);
	int ret = palloc_op_publish(&op, &r);
	if (old)
		ret |= palloc_op_free(&op, old);
	ret |= palloc_op_set(&op, off_slot, r.off);
	if (size_slot)
		ret |= palloc_op_set(&op, size_slot, size_value);
	if (ret == 0)
		ret = palloc_commit(pop, lane, &op, false);
	else
		pheap_cancel(&pop->heap, &r);
	palloc_op_fini(&op);
	*block = r.off;
	return ret;
}
