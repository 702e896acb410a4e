/*
 * action.h -- actions (pmemobj_reserve / set_value / publish / cancel) as parts of
 * an allocator operation, for publishing alone or with a transaction
 */
#ifndef PMALLOC_OBJ_ACTION_H
#define PMALLOC_OBJ_ACTION_H

#include <stddef.h>

#include "libpmemobj.h"
#include "obj/palloc.h"

/* Add what n actions do to op (reservations published, frees, word sets). 0 or -1. */
int action_commit_ops(PMEMobjpool *pop, struct palloc_op *op, struct pobj_action *a, size_t n);

/* Give back the reservations among n actions. */
void action_cancel_all(PMEMobjpool *pop, struct pobj_action *a, size_t n);

#endif
