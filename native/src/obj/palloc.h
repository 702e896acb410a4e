/*
 * palloc.h -- allocator operations made failure-atomic: heap changes + redo
 *
 * An operation is a set of reservations to publish, objects to free and pool
 * words to set, committed by one redo record on a lane the caller holds; after
 * the record is durable the heap's index learns the outcome. Atomic allocation
 * (oid.c), transactions (tx.c), actions (action.c) and the pool's root (pool.c
 * through oid.c) are all built from it.
 *
 * Glossary: op = the volatile operation being built; pub = reservations it
 * publishes; freed = objects it frees.
 */
#ifndef PMALLOC_OBJ_PALLOC_H
#define PMALLOC_OBJ_PALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obj/obj.h"

struct palloc_op {
	struct redo_buf redo;                 /* word sets, filled by the caller too */
	struct pres *pub, *freed;
	size_t npub, nfreed, cap_pub, cap_freed;
	struct pres pub_inline[2], freed_inline[2];
	struct { uint64_t off; size_t len; } *data;   /* flushed with the record */
	size_t ndata, cap_data;
};

void palloc_op_init(struct palloc_op *op);
void palloc_op_fini(struct palloc_op *op);

/* Add a reservation to publish / an allocated object to free. 0 or -1 (ENOMEM). */
int palloc_op_publish(struct palloc_op *op, const struct pres *r);
int palloc_op_free(struct palloc_op *op, const struct pres *r);

/* Add data the record vouches for: flushed in the record's drain, checked by
 * hash at recovery (a record whose data differs never finished). 0 or -1. */
int palloc_op_data(struct palloc_op *op, const char *base, uint64_t off, size_t len);

/* Add a set of the pool word at off (8-aligned). 0 or -1. */
int palloc_op_set(struct palloc_op *op, uint64_t off, uint64_t value);

/* Commit op on lane (held); the heap learns the outcome. stale_ok: op sets no
 * word a program could change without the library (no destination oid), so its
 * record may stay until another commit clears it (ulog.h). 0, or -1 + errno
 * (ENOMEM: no room for a bigger redo log: nothing happened; EIO ...: a persist
 * failed after the changes were made in memory). */
int palloc_commit(struct pmemobjpool *pop, unsigned lane, struct palloc_op *op, bool stale_ok);

/* Reserve an object, zeroed if zero (not flushed: palloc_op_data, or persist it). 0 or -1. */
int palloc_reserve(struct pmemobjpool *pop, size_t size, uint64_t type, bool zero,
		struct pres *r);

/* A new internal block of at least size bytes, zeroed but for head_len bytes of
 * head at its start, whose offset one record stores at the pool word off_slot
 * (and size_value at size_slot, unless 0) while it frees old (unless NULL).
 * 0 or -1. */
int palloc_internal(struct pmemobjpool *pop, unsigned lane, size_t size, const void *head,
		size_t head_len, uint64_t off_slot, uint64_t size_slot, uint64_t size_value,
		const struct pres *old, uint64_t *block);

#endif
