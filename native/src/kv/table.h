/*
 * table.h -- a persistent chained hash table of byte-string keys (kv_layout.h)
 *
 * Glossary: slot = a bucket's head word; link = the word that holds an entry's
 * offset (its slot, or the previous entry's next); rehash = moving the buckets
 * of array [0] to array [1], a few per insert or delete.
 *
 * Changes run inside the caller's obj transaction (pmemobj_tx_*, NO_ABORT
 * flavours): they snapshot what they change, return 0 or an errno with the
 * message set, and the caller aborts on error. Reads need no transaction.
 * One thread at a time per table.
 */
#ifndef PMALLOC_KV_TABLE_H
#define PMALLOC_KV_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv_layout.h"
#include "kv/list.h"
#include "libpmemobj.h"

struct table {
	PMEMobjpool *pop;
	char *base;               /* the pool's mapping, for offsets */
	size_t size;
	const uint64_t *seed;     /* the store's hash key (2 words) */
	struct kv_table *t;       /* the table's header, in the pool */
};

/* A place in an iteration: bucket `bucket` of array `array`, `index` entries down its chain. */
struct table_pos {
	uint64_t array;
	uint64_t bucket;
	uint64_t index;
};

#define TABLE_MIN_BUCKETS 16

/* Make an empty table of n (a power of two) buckets in *tb->t; in a transaction. */
int table_format(struct table *tb, uint64_t n);

/* The hash of a key under the table's seed. */
uint64_t table_hash(const struct table *tb, const char *key, size_t klen);

/* The entry of key (hash h), or NULL; *link (if not NULL) gets the word that points to it. */
struct kv_entry *table_find(const struct table *tb, const char *key, size_t klen, uint64_t h,
		uint64_t **link);

/* A new entry for key with room for vlen value bytes, in place of any old one (freed,
 * with the members or nodes it holds); its value is the caller's to fill before the
 * commit (a set, hash or list: table_format / a zeroed kv_list). In a transaction. */
int table_put(struct table *tb, const char *key, size_t klen, uint8_t type, size_t vlen,
		struct kv_entry **out);

/* Remove and free the entry of key; ENOENT when there is none. In a transaction. */
int table_del(struct table *tb, const char *key, size_t klen);

/* Free every entry and bucket array and make the table empty again. In a transaction. */
int table_clear(struct table *tb);

/* The entry at *p, advancing *p past it; NULL at the end. Stable while no key is added
 * or removed (a replaced entry keeps its place). */
struct kv_entry *table_next(const struct table *tb, struct table_pos *p);

/* Visit the entries of the buckets at scan cursor v with fn (Redis' reverse-binary order,
 * over both arrays while resizing: an entry present for a whole scan is visited at least
 * once); the next cursor, 0 when the scan is done. */
uint64_t table_scan(const struct table *tb, uint64_t v, void (*fn)(void *arg, struct kv_entry *e),
		void *arg);

/* Whether the table checks out (every offset, size, type, hash and chain, and the count);
 * false with the reason in why. */
bool table_check(const struct table *tb, char *why, size_t n);

/* Where an entry's value starts after its key: a string's right after it, a list's or
 * table's header 8-byte aligned. */
static inline size_t
entry_value_off(uint8_t type, uint64_t klen)
{
	return type == KV_STRING ? klen : (klen + 7) & ~(uint64_t)7;
}

/* The value bytes of an entry. */
static inline char *
entry_value(struct kv_entry *e)
{
	return e->data + entry_value_off(e->type, e->klen);
}

/* The members of a set or hash entry e of tb, as a table. */
static inline struct table
table_members(const struct table *tb, struct kv_entry *e)
{
	return (struct table){ .pop = tb->pop, .base = tb->base, .size = tb->size,
		.seed = tb->seed, .t = (struct kv_table *)entry_value(e) };
}

/* The list of a list entry e of tb. */
static inline struct list
table_list(const struct table *tb, struct kv_entry *e)
{
	return (struct list){ .base = tb->base, .size = tb->size,
		.l = (struct kv_list *)entry_value(e) };
}

/* The value bytes an entry of a type holds (0: any, a string). */
static inline size_t
table_value_size(uint8_t type)
{
	return type == KV_LIST ? sizeof(struct kv_list) :
		type == KV_SET || type == KV_HASH ? sizeof(struct kv_table) : 0;
}

#endif
