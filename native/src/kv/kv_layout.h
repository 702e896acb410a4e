/*
 * kv_layout.h -- the on-media format of a key/value store in an obj pool
 *
 * A store is an obj pool of layout KV_LAYOUT whose root is a struct kv_root.
 * Its keyspace is a chained hash table (struct kv_table): arrays of bucket
 * heads (objects of type KV_TYPE_BUCKETS), each the offset of the first entry
 * of its chain; an entry (KV_TYPE_ENTRY) holds its key and value inline.
 *
 * Growing or shrinking the table is incremental: while buckets[1] is set, the
 * buckets of [0] below `rehash` have moved to [1], the rest have not; a key
 * lives in the table its bucket of [0] says. Every change is an obj
 * transaction, so the format holds these invariants after any crash:
 *  - every entry is on exactly one chain, the one its hash selects;
 *  - count is the number of entries; bucket array sizes are powers of two.
 *
 * Version 1. Offsets are pool offsets (PMEMoid.off); 0 is none.
 */
#ifndef PMALLOC_KV_LAYOUT_H
#define PMALLOC_KV_LAYOUT_H

#include <stdint.h>

#define KV_LAYOUT "pmalloc-kv"
#define KV_MAGIC UINT64_C(0x31305653414d5050)     /* "PPMASV01" */
#define KV_VERSION 1

#define KV_TYPE_ENTRY 1                           /* obj type numbers */
#define KV_TYPE_BUCKETS 2
#define KV_TYPE_NODE 3

/* Entry types. A string's value is its bytes; a set's or a hash's value is a struct
 * kv_table of its members (entries whose key is the member or the field, and whose
 * value is empty or the field's value); a list's value is a struct kv_list. */
#define KV_STRING 0
#define KV_LIST 1
#define KV_SET 2
#define KV_HASH 3

struct kv_table {
	uint64_t count;           /* entries */
	uint64_t buckets[2];      /* offsets of the bucket arrays; [1] only while rehashing */
	uint64_t mask[2];         /* buckets - 1 of each */
	uint64_t rehash;          /* the next bucket of [0] to move (while rehashing) */
};

struct kv_root {
	uint64_t magic;           /* KV_MAGIC: the root was made by this library */
	uint64_t version;         /* KV_VERSION */
	uint64_t seed[2];         /* the hash key: random per store (hash flooding) */
	struct kv_table keys;     /* the keyspace */
	uint64_t reserved[10];    /* zero */
};

/* A list: a chain of nodes (objects of type KV_TYPE_NODE), both ways. */
struct kv_list {
	uint64_t head;            /* the first node */
	uint64_t tail;            /* the last node */
	uint64_t count;           /* nodes */
};

struct kv_node {
	uint64_t prev;
	uint64_t next;
	uint64_t len;             /* bytes of data */
	char data[];
};

struct kv_entry {
	uint64_t next;            /* the next entry of the chain */
	uint64_t hash;            /* of the key, under the store's seed */
	uint64_t vlen;            /* value bytes */
	int64_t expire_ms;        /* 0: never (the server's expiry) */
	uint32_t klen;            /* key bytes */
	uint8_t type;             /* KV_STRING, KV_LIST, KV_SET, KV_HASH */
	uint8_t unused[3];
	char data[];              /* the key, then the value */
};

#endif
