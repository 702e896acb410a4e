/*
 * ulog.h -- a lane's two logs: redo for allocator metadata, undo for user data
 *
 * Every thread that changes a pool holds a lane (pool.h) for the change. A lane
 * is LANE_SIZE bytes of the pool: a redo log and an undo log.
 *
 * Redo: 8-byte operations (set, or, and-not, idle) on pool words, written with a
 * checksum and a sequence number, made durable, applied, made durable. Then the
 * record is cleared (checksum 0) and that made durable -- or, for a record that
 * sets no word a program may change behind the library's back (no destination
 * oid: transactions' records), left in place, "stale": the next record any thread
 * commits clears every stale record in its own first drain. So at any crash the
 * valid records are at most one per lane, and replaying them at open in sequence
 * order gives the state of the last durable one: a later record touching the same
 * bits was written in a drain that also cleared (or follows) the older ones. The
 * idle operation makes the undo log idle only if it is still the transaction's
 * (active, same generation): a stale record never ends a later transaction; the
 * oid-clear operation (pmemobj_free's destination) nulls an oid only while it
 * still names the freed object, which nobody can be given again before the
 * record is cleared. A record may also
 * vouch for data written before it (check entries: a range and its hash), so the
 * data and the record need one drain, not two: a record whose data does not
 * match was written by a commit that never finished, and is dropped. Entries beyond the
 * inline ones go to an extension block the lane keeps (ext_off).
 *
 * Undo: snapshots of user data taken before a transaction changes it. The state
 * word says whether a transaction is active and its generation; an entry is valid
 * when its checksum, which covers the generation, holds, so entries of earlier
 * transactions never pass. Rollback copies the snapshots back, newest first.
 * Entries go inline, then into extension blocks chained from ext_off (each block:
 * next offset, data bytes, data), which the lane keeps for its next transactions.
 *
 * Glossary: gen = the transaction generation in the undo state word
 * (state = gen << 1 | active; a transaction's end makes it (gen + 1) << 1); ext =
 * extension block, a run of pages the heap
 * marks internal; entry = an operation (redo) or a snapshot (undo).
 */
#ifndef PMALLOC_OBJ_ULOG_H
#define PMALLOC_OBJ_ULOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obj/obj_layout.h"
#include "pmem/pmemops.h"

#define REDO_SET 0u
#define REDO_OR 1u
#define REDO_ANDNOT 2u
#define REDO_CHECK 3u                     /* value: a length; the next entry holds the hash */
#define REDO_HASH 4u
#define REDO_IDLE 5u                      /* value: an active undo state; set it idle */
#define REDO_OIDCLR 6u                    /* at a PMEMoid: if its off is value, make it null */

struct redo_entry {
	uint64_t off_op;                      /* offset | operation */
	uint64_t value;
};

#define REDO_BYTES 1024
#define REDO_INLINE ((REDO_BYTES - 48) / sizeof(struct redo_entry))

struct redo_log {
	uint64_t csum;                        /* 0: empty */
	uint64_t n;                           /* entries, inline first */
	uint64_t seq;                         /* commit order among the lanes */
	uint64_t unused;
	uint64_t ext_off;                     /* extension block, 0: none */
	uint64_t ext_cap;                     /* its entries */
	struct redo_entry e[REDO_INLINE];
};

struct undo_log {
	uint64_t state;                       /* gen << 1 | active */
	uint64_t ext_off;                     /* first extension block, 0: none */
	uint64_t unused[2];
	unsigned char data[LANE_SIZE - REDO_BYTES - 32];
};

/* An undo extension block's head; data follows. */
struct undo_ext {
	uint64_t next_off;
	uint64_t size;                        /* data bytes */
};

/* A snapshot's head; size bytes of data follow, padded to 8. */
struct undo_entry {
	uint64_t off;
	uint64_t size;
	uint64_t csum;
};

struct lane_layout {
	struct redo_log redo;
	struct undo_log undo;
};
_Static_assert(sizeof(struct lane_layout) == LANE_SIZE, "a lane is LANE_SIZE bytes");

/* Where the logs of one lane live, and how to make stores durable there. */
struct ulog_ctx {
	char *base;                           /* the pool */
	size_t size;
	const struct pmem_ops *ops;
	struct lane_layout *lane;
	uint64_t heap_off;                    /* extension blocks lie at or above it */
};

/* ---- redo ---------------------------------------------------------------- */

/* A redo record being built (volatile). */
struct redo_buf {
	size_t n, cap;
	struct redo_entry *e;                 /* inline[] or malloc'ed */
	struct redo_entry inline_e[32];
};

void redo_buf_init(struct redo_buf *b);
void redo_buf_fini(struct redo_buf *b);

/* Append an operation on the word at off (8-aligned); OR/ANDNOT masks on one
 * word merge. 0, or -1 + ENOMEM. */
int redo_buf_add(struct redo_buf *b, uint64_t off, unsigned op, uint64_t value);

/* Add a check that [off, off + len) of the pool at base holds what it holds now. */
int redo_buf_check(struct redo_buf *b, const char *base, uint64_t off, size_t len);

/* Entries the lane's log holds without a (bigger) extension. */
size_t redo_capacity(const struct ulog_ctx *c);

/* Write b as record seq, make it durable (with whatever else this thread
 * flushed), apply it, make that durable; then clear it durably, or if stale,
 * leave it and return its checksum in *stale (the token redo_clear_stale
 * needs). 0 or -1 (a persist failed: errno + message). b fits (redo_capacity). */
int redo_commit(const struct ulog_ctx *c, const struct redo_buf *b, uint64_t seq, bool stale_ok,
		uint64_t *stale);

/* Clear the lane's record if it is still the stale one whose checksum is token
 * (flushed, not drained). */
int redo_clear_stale(const struct ulog_ctx *c, uint64_t token);

/* Open: whether the lane holds a whole record (its sequence number in *seq). */
bool redo_valid(const struct ulog_ctx *c, uint64_t *seq);

/* Open: apply the lane's whole record if its checks hold (flushed, not drained);
 * 0, or -1 + EINVAL + message when an entry names memory outside the pool. */
int redo_replay(const struct ulog_ctx *c);

/* Open: empty the lane's log, durably. 0 or -1. */
int redo_clear(const struct ulog_ctx *c);

/* ---- undo ---------------------------------------------------------------- */

/* Where the next snapshot goes (volatile). */
struct undo_cursor {
	uint64_t gen;
	uint64_t block;                       /* offset of the current block's data, 0: inline */
	size_t pos;                           /* bytes used in it */
	size_t cap;                           /* its data bytes */
	uint64_t next;                        /* offset of the next ext block, 0: none */
	bool active;                          /* the state word says active */
};

/* Start a transaction's log: next generation, nothing written yet. */
void undo_begin(const struct ulog_ctx *c, struct undo_cursor *u);

/* Snapshot [off, off + size) of the pool (not drained: call drain before
 * changing it). 0; 1 when there is no room: give the chain a block of at least
 * undo_block_need(size) data bytes (undo_chain_block) and call again; -1. */
int undo_append(const struct ulog_ctx *c, struct undo_cursor *u, uint64_t off, size_t size);

/* Data bytes a block needs to hold a snapshot of size bytes. */
size_t undo_block_need(size_t size);

/* The offset where a new block's address must be stored to chain it after the
 * last one (the lane's ext_off or the last block's next_off). */
uint64_t undo_chain_slot(const struct ulog_ctx *c);

/* Copy every snapshot back, newest first, durable; mark the log idle. 0 or -1. */
int undo_rollback(const struct ulog_ctx *c, const struct undo_cursor *u);

/* Mark the log idle after a commit (store + flush, no drain). 0 or -1. */
int undo_end(const struct ulog_ctx *c, struct undo_cursor *u);

/* Open: roll back an active log. 1 rolled back, 0 idle, -1 bad entry (message). */
int undo_recover(const struct ulog_ctx *c);

/* Start fetching the logs' first lines back into the cache (a flush on this
 * processor evicts them) while the program runs, for the lane's next use. */
void ulog_prefetch(const struct ulog_ctx *c);

/* Offsets of the lane's extension blocks (redo's, then undo's chain) through fn;
 * for check. 0, or -1 when a link is out of the pool. */
int ulog_blocks(const struct ulog_ctx *c, void (*fn)(void *arg, uint64_t off), void *arg);

#endif
