/*
 * db.c -- the server's keyspace: typed entries with deadlines, in the store's table
 *
 * Every function runs inside the batch's (or the fallback's) transaction. A key whose
 * deadline has passed is absent: the lookup that meets it removes it, and a background
 * scan removes the ones nobody asks for. Deadlines are Unix milliseconds, so a key
 * stays expired across restarts.
 */
#include <errno.h>
#include <string.h>

#include "libpmemobj.h"
#include "server/db.h"
#include "server/resp.h"

struct kv_entry *
db_find(struct server *s, const char *key, size_t klen)
{
	struct kv_entry *e = table_find(s->keys, key, klen, table_hash(s->keys, key, klen), NULL);
	if (e && db_expired(s, e)) {
		(void)table_del(s->keys, key, klen);   /* absent either way */
		return NULL;
	}
	return e;
}

struct kv_entry *
db_find_typed(struct server *s, const char *key, size_t klen, uint8_t type, struct buf *out,
		bool *wrong)
{
	struct kv_entry *e = db_find(s, key, klen);
	*wrong = e && e->type != type;
	if (*wrong) {
		resp_error(out, "WRONGTYPE Operation against a key holding the wrong kind of value");
		return NULL;
	}
	return e;
}

int
db_set(struct server *s, const char *key, size_t klen, const char *val, size_t vlen,
		int64_t expire_ms, struct kv_entry **out)
{
	struct kv_entry *e;
	int err = table_put(s->keys, key, klen, KV_STRING, vlen, &e);
	if (err)
		return errno = err, -1;
	if (val)
		memcpy(entry_value(e), val, vlen);
	e->expire_ms = expire_ms;              /* a new object: no snapshot needed */
	if (out)
		*out = e;
	return 0;
}

struct kv_entry *
db_collection(struct server *s, const char *key, size_t klen, uint8_t type, bool create,
		struct buf *out, bool *wrong)
{
	struct kv_entry *e = db_find_typed(s, key, klen, type, out, wrong);
	if (e || *wrong || !create)
		return e;
	int err = table_put(s->keys, key, klen, type, table_value_size(type), &e);
	if (!err && type == KV_LIST) {
		*(struct kv_list *)entry_value(e) = (struct kv_list){ 0, 0, 0 };
	} else if (!err) {
		struct table sub = table_members(s->keys, e);
		memset(sub.t, 0, sizeof(*sub.t));
		err = table_format(&sub, TABLE_MIN_BUCKETS);
	}
	if (err)
		return errno = err, NULL;
	e->expire_ms = 0;
	return e;
}

int
db_drop_empty(struct server *s, const char *key, size_t klen, struct kv_entry *e)
{
	uint64_t left = e->type == KV_LIST ? ((struct kv_list *)entry_value(e))->count
		: ((struct kv_table *)entry_value(e))->count;
	int err = left ? 0 : table_del(s->keys, key, klen);
	return err ? (errno = err, -1) : 0;
}

int
db_del(struct server *s, const char *key, size_t klen)
{
	if (!db_find(s, key, klen))
		return 0;
	int err = table_del(s->keys, key, klen);
	return err ? (errno = err, -1) : 1;
}

int
db_set_expire(struct server *s, struct kv_entry *e, int64_t expire_ms)
{
	(void)s;
	int err = pmemobj_tx_xadd_range_direct(&e->expire_ms, sizeof(e->expire_ms),
			POBJ_XADD_NO_ABORT);
	if (err)
		return errno = err, -1;
	e->expire_ms = expire_ms;
	return 0;
}

int
db_flush(struct server *s)
{
	int err = table_clear(s->keys);
	return err ? (errno = err, -1) : 0;
}

#define EXPIRE_BATCH 32

struct expired {
	const struct server *s;
	struct kv_entry *e[EXPIRE_BATCH];
	unsigned n;
};

static void
note_expired(void *arg, struct kv_entry *e)
{
	struct expired *x = arg;
	if (x->n < EXPIRE_BATCH && db_expired(x->s, e))
		x->e[x->n++] = e;
}

int
db_expire_some(struct server *s, unsigned budget)
{
	struct expired x = { .s = s, .n = 0 };
	for (unsigned i = 0; i < budget && x.n < EXPIRE_BATCH; i++) {
		s->expire_cursor = table_scan(s->keys, s->expire_cursor, note_expired, &x);
		if (s->expire_cursor == 0)
			break;
	}
	/* a removed entry's memory stays until the commit: its key can be read meanwhile */
	for (unsigned i = 0; i < x.n; i++) {
		int err = table_del(s->keys, x.e[i]->data, x.e[i]->klen);
		if (err && err != ENOENT)
			return errno = err, -1;
	}
	return 0;
}
