/*
 * ph.h -- address-ordered pairing heaps of free extents (the free bins)
 *
 * Glossary: root = the free extent of lowest address in a bin; child = an
 * extent's first child; prev = its left sibling, or its parent when it is a
 * first child (then prev->child == it); next = its right sibling.
 *
 * Why: taking the lowest-addressed fit packs live memory toward the bottom of
 * the pool and keeps long free runs above it (address-ordered fit fragments
 * least), where the head of an unordered list scatters extents over the whole
 * pool as threads churn. Insert is O(1); removing the root or any member is
 * O(log n) amortized.
 */
#ifndef PMALLOC_PH_H
#define PMALLOC_PH_H

#include <stddef.h>

#include "alloc/pagemap.h"

/* ph_link -- the heap of two roots (either may be NULL) */
static inline struct extent *
ph_link(struct extent *a, struct extent *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (b->addr < a->addr) {
		struct extent *t = a;
		a = b;
		b = t;
	}
	b->prev = a;
	b->next = a->child;
	if (a->child)
		a->child->prev = b;
	a->child = b;
	a->prev = a->next = NULL;
	return a;
}

/* ph_merge_siblings -- one heap of a sibling list: link pairs left to right,
 * then fold the pairs right to left (the two passes that bound the cost) */
static inline struct extent *
ph_merge_siblings(struct extent *first)
{
	struct extent *pairs = NULL;      /* linked pairs, stacked through next */
	while (first) {
		struct extent *a = first, *b = first->next;
		first = b ? b->next : NULL;
		a->prev = a->next = NULL;
		if (b)
			b->prev = b->next = NULL;
		struct extent *p = ph_link(a, b);
		p->next = pairs;
		pairs = p;
	}
	struct extent *root = NULL;
	while (pairs) {
		struct extent *p = pairs;
		pairs = p->next;
		p->next = NULL;
		root = ph_link(root, p);
	}
	return root;
}

/* ph_insert -- add e to the heap at *root */
static inline void
ph_insert(struct extent **root, struct extent *e)
{
	e->child = e->prev = e->next = NULL;
	*root = ph_link(*root, e);
}

/* ph_remove -- take e (any member) out of the heap at *root */
static inline void
ph_remove(struct extent **root, struct extent *e)
{
	struct extent *sub = ph_merge_siblings(e->child);
	if (e == *root) {
		*root = sub;
	} else {
		if (e->prev->child == e)
			e->prev->child = e->next;
		else
			e->prev->next = e->next;
		if (e->next)
			e->next->prev = e->prev;
		*root = ph_link(*root, sub);
	}
	e->child = e->prev = e->next = NULL;
}

/* ph_walk_next -- the member after e in a preorder walk, or NULL at the end
 * (needs no stack: a first child's prev leads back to its parent) */
static inline struct extent *
ph_walk_next(struct extent *e)
{
	if (e->child)
		return e->child;
	while (e) {
		if (e->next)
			return e->next;
		while (e->prev && e->prev->child != e)
			e = e->prev;
		e = e->prev;
	}
	return NULL;
}

#endif
