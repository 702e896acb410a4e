/*
 * palloc.c -- allocator operations made failure-atomic (palloc.h)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"
#include "obj/palloc.h"

void
palloc_op_init(struct palloc_op *op)
{
	redo_buf_init(&op->redo);
	op->pub = op->pub_inline;
	op->freed = op->freed_inline;
	op->npub = op->nfreed = 0;
	op->cap_pub = op->cap_freed = ARRAY_SIZE(op->pub_inline);
	op->data = NULL;
	op->ndata = op->cap_data = 0;
}

void
palloc_op_fini(struct palloc_op *op)
{
	redo_buf_fini(&op->redo);
	if (op->pub != op->pub_inline)
		free(op->pub);
	if (op->freed != op->freed_inline)
		free(op->freed);
	free(op->data);
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
palloc_op_data(struct palloc_op *op, const char *base, uint64_t off, size_t len)
{
	if (redo_buf_check(&op->redo, base, off, len) != 0)
		return -1;
	if (op->ndata == op->cap_data) {
		size_t cap = op->cap_data ? 2 * op->cap_data : 8;
		void *d = realloc(op->data, cap * sizeof(*op->data));
		if (!d)
			return errmsg_set(ENOMEM, "no memory for an allocator operation"), -1;
		op->data = d;
		op->cap_data = cap;
	}
	op->data[op->ndata].off = off;
	op->data[op->ndata].len = len;
	op->ndata++;
	return 0;
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
 * our own is about to be overwritten. Plain loads find them: a locked
 * instruction waits for every write-back this thread started, so this runs
 * before the commit flushes anything. */
static int
clear_stale(struct pmemobjpool *pop, unsigned lane)
{
	int err = 0;
	atomic_store_explicit(&pop->stale[lane], 0, memory_order_relaxed);
	for (unsigned l = 0; l < pop->nlanes; l++) {
		if (l == lane || !atomic_load_explicit(&pop->stale[l], memory_order_relaxed))
			continue;
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
	uint64_t token, seq = atomic_fetch_add(&pop->seq, 1);
	int ret = clear_stale(pop, lane);
	for (size_t i = 0; i < op->ndata; i++)      /* after the locked instructions above */
		ret |= pmemops_flush(pop->ops, pop->base + op->data[i].off, op->data[i].len);
	ret |= redo_commit(&c, &op->redo, seq, stale_ok, &token);
	if (token)
		atomic_store_explicit(&pop->stale[lane], token, memory_order_relaxed);
	for (size_t i = 0; i < op->npub; i++)
		pheap_published(&pop->heap, &op->pub[i]);
	for (size_t i = 0; i < op->nfreed; i++)
		pheap_freed(&pop->heap, &op->freed[i]);
	op->redo.n = 0;
	op->npub = op->nfreed = op->ndata = 0;
	return ret ? -1 : 0;
}

int
palloc_reserve(struct pmemobjpool *pop, size_t size, uint64_t type, bool zero, struct pres *r)
{
	if (pheap_reserve(&pop->heap, size, type, false, r) != 0)
		return -1;
	if (zero)
		memset(pop->base + r->off, 0, size);
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
