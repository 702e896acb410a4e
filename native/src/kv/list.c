/*
 * list.c -- a persistent doubly linked list of byte strings
 */
#include "kv/list.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/errmsg.h"
#include "libpmemobj.h"
#include "pmalloc.h"

/* node_at -- the node at off if it lies in the pool with its data, else NULL */
static struct kv_node *
node_at(const struct list *ls, uint64_t off)
{
	const size_t hdr = sizeof(struct kv_node);
	if (off == 0 || off % 8 != 0 || off > ls->size - hdr)
		return NULL;
	struct kv_node *nd = (struct kv_node *)(ls->base + off);
	return nd->len <= ls->size - off - hdr ? nd : NULL;
}

static uint64_t
off_of(const struct list *ls, const struct kv_node *nd)
{
	return nd ? (uint64_t)((const char *)nd - ls->base) : 0;
}

struct kv_node *
list_end(const struct list *ls, int end)
{
	return node_at(ls, end ? ls->l->tail : ls->l->head);
}

struct kv_node *
list_step(const struct list *ls, const struct kv_node *node, int dir)
{
	return node_at(ls, dir ? node->next : node->prev);
}

int
list_push(struct list *ls, int end, const void *p, size_t n)
{
	if (n > PMEMOBJ_MAX_ALLOC_SIZE - sizeof(struct kv_node))
		return errmsg_set(ENOMEM, "a list element of %zu bytes is too large", n);
	PMEMoid o = pmemobj_tx_xalloc(sizeof(struct kv_node) + n, KV_TYPE_NODE,
			POBJ_XALLOC_NO_ABORT);
	if (OID_IS_NULL(o))
		return errno;
	struct kv_node *nd = (struct kv_node *)(ls->base + o.off);
	struct kv_node *old = list_end(ls, end);
	struct pmalloc_tx_range r[2] = { { ls->l, sizeof(*ls->l) } };
	size_t nr = 1;
	if (old)
		r[nr++] = (struct pmalloc_tx_range){ end ? &old->next : &old->prev, sizeof(uint64_t) };
	int err = pmalloc_tx_add_ranges(r, nr, POBJ_XADD_NO_ABORT);
	if (err)
		return err;
	*nd = (struct kv_node){ .prev = end ? off_of(ls, old) : 0,
		.next = end ? 0 : off_of(ls, old), .len = n };
	memcpy(nd->data, p, n);
	if (old)
		*(end ? &old->next : &old->prev) = o.off;
	else
		ls->l->head = ls->l->tail = o.off;
	*(end ? &ls->l->tail : &ls->l->head) = o.off;
	ls->l->count++;
	return 0;
}

int
list_pop(struct list *ls, int end)
{
	struct kv_node *nd = list_end(ls, end);
	if (!nd)
		return errmsg_set(ENOENT, "the list is empty");
	struct kv_node *next = list_step(ls, nd, !end);
	struct pmalloc_tx_range r[2] = { { ls->l, sizeof(*ls->l) } };
	size_t nr = 1;
	if (next)
		r[nr++] = (struct pmalloc_tx_range){ end ? &next->next : &next->prev,
			sizeof(uint64_t) };
	int err = pmalloc_tx_add_ranges(r, nr, POBJ_XADD_NO_ABORT);
	if (err)
		return err;
	if (next)
		*(end ? &next->next : &next->prev) = 0;
	else
		ls->l->head = ls->l->tail = 0;
	*(end ? &ls->l->tail : &ls->l->head) = off_of(ls, next);
	ls->l->count--;
	return pmemobj_tx_xfree(pmemobj_oid(nd), POBJ_XFREE_NO_ABORT) ? errno : 0;
}

int
list_free(struct list *ls)
{
	uint64_t left = ls->l->count;
	for (struct kv_node *nd = list_end(ls, 0); nd && left; left--) {
		struct kv_node *next = list_step(ls, nd, 1);
		if (pmemobj_tx_xfree(pmemobj_oid(nd), POBJ_XFREE_NO_ABORT) != 0)
			return errno;
		nd = next;
	}
	return 0;
}

bool
list_check(const struct list *ls, char *why, size_t n)
{
	uint64_t seen = 0, prev = 0;
	for (uint64_t off = ls->l->head; off != 0; seen++) {
		struct kv_node *nd = node_at(ls, off);
		PMEMoid o = nd ? pmemobj_oid(nd) : OID_NULL;
		if (!nd || seen >= ls->l->count || o.off != off || pmemobj_type_num(o) != KV_TYPE_NODE ||
				pmemobj_alloc_usable_size(o) < sizeof(*nd) + nd->len || nd->prev != prev) {
			snprintf(why, n, "list node %llu (offset %llu) is damaged or misplaced",
					(unsigned long long)seen, (unsigned long long)off);
			return false;
		}
		prev = off;
		off = nd->next;
	}
	if (seen != ls->l->count || ls->l->tail != prev) {
		snprintf(why, n, "a list of %llu nodes says %llu", (unsigned long long)seen,
				(unsigned long long)ls->l->count);
		return false;
	}
	return true;
}
