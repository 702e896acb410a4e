/*
 * db.h -- the server's keyspace: typed entries (kv_layout.h) with deadlines
 *
 * Every function runs inside the running transaction (a batch's, or one request's).
 * A key whose deadline has passed is absent.
 */
#ifndef PMALLOC_SERVER_DB_H
#define PMALLOC_SERVER_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"
#include "server/buf.h"

struct server {
	struct pmalloc_kv *kv;
	struct table *keys;       /* the keyspace: &kv->keys */
	int64_t now_ms;           /* the clock of the running batch (Unix ms) */
	uint64_t clients;         /* connected now */
	uint64_t commands;        /* processed since start */
	uint64_t expire_cursor;   /* where the background expiry scan goes on */
};

/* The live entry of key, or NULL; an expired one is removed on the way. */
struct kv_entry *db_find(struct server *s, const char *key, size_t klen);

/* key's entry if it is of type `type`; NULL and a WRONGTYPE reply (*wrong set) if it is
 * of another; NULL if there is none. */
struct kv_entry *db_find_typed(struct server *s, const char *key, size_t klen, uint8_t type,
		struct buf *out, bool *wrong);

/* Set key to a string of vlen bytes (copied from val unless NULL: the caller fills
 * entry_value(*e)) with expire_ms (0: none); 0 or -1. */
int db_set(struct server *s, const char *key, size_t klen, const char *val, size_t vlen,
		int64_t expire_ms, struct kv_entry **e);

/* The list, set or hash entry of key: NULL and a WRONGTYPE reply (*wrong) if key holds
 * another type; NULL if there is none and not create, else a new empty one (NULL and
 * errno on failure, *wrong false). */
struct kv_entry *db_collection(struct server *s, const char *key, size_t klen, uint8_t type,
		bool create, struct buf *out, bool *wrong);

/* Remove key if its collection (e) is empty now; 0 or -1. */
int db_drop_empty(struct server *s, const char *key, size_t klen, struct kv_entry *e);

/* Remove key; 1 if it was there, 0 if not, -1 on failure. */
int db_del(struct server *s, const char *key, size_t klen);

/* Change an entry's expiry in place; 0 or -1. */
int db_set_expire(struct server *s, struct kv_entry *e, int64_t expire_ms);

/* Remove every key; 0 or -1. */
int db_flush(struct server *s);

/* Remove up to a few expired keys the background scan meets; 0 or -1. */
int db_expire_some(struct server *s, unsigned budget);

/* Whether an entry's deadline has passed. */
static inline bool
db_expired(const struct server *s, const struct kv_entry *e)
{
	return e->expire_ms != 0 && e->expire_ms <= s->now_ms;
}

#endif
