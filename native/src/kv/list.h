/*
 * list.h -- a persistent list of byte strings (kv_layout.h's kv_list and kv_node)
 *
 * Glossary: end = 0 the head, 1 the tail. Changes run inside the caller's obj
 * transaction and return 0 or an errno (message set), as table.h's do.
 */
#ifndef PMALLOC_KV_LIST_H
#define PMALLOC_KV_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv_layout.h"

struct list {
	char *base;               /* the pool's mapping */
	size_t size;
	struct kv_list *l;        /* the list's header, in the pool */
};

/* Add n bytes at p at an end. */
int list_push(struct list *ls, int end, const void *p, size_t n);

/* The node at an end, or NULL when the list is empty. */
struct kv_node *list_end(const struct list *ls, int end);

/* Remove (and free) the node at an end; the list must not be empty. Its bytes stay
 * readable until the transaction commits. */
int list_pop(struct list *ls, int end);

/* The node after (dir 1) or before (dir 0) node, or NULL. */
struct kv_node *list_step(const struct list *ls, const struct kv_node *node, int dir);

/* Free every node (the header is left as it is). */
int list_free(struct list *ls);

/* Whether the list checks out: every node an object of its type, links both ways, the
 * count; false with the reason in why. */
bool list_check(const struct list *ls, char *why, size_t n);

#endif
