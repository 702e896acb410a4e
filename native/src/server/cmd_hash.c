/*
 * cmd_hash.c -- the set and hash commands: SADD SREM SMEMBERS SCARD SPOP, HSET HGET HDEL
 * HGETALL HLEN. Both keep their members in a table of their own (table_members).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

#define A(i) r->argv[i], r->argl[i]

static struct kv_entry *
member(struct table *sub, const char *p, size_t n)
{
	return table_find(sub, p, n, table_hash(sub, p, n), NULL);
}

/* set_members -- members i, i + step, ...: put (with value i + 1 when step is 2) or
 * remove; *changed counts the new or removed ones */
static int
change_members(struct table *sub, const struct req *r, size_t step, bool put, int64_t *changed)
{
	for (size_t i = 2; i < r->argc; i += step) {
		bool had = member(sub, A(i)) != NULL;
		int err = 0;
		if (put) {
			struct kv_entry *m;
			size_t vlen = step == 2 ? r->argl[i + 1] : 0;
			err = had && step == 1 ? 0 : table_put(sub, A(i), KV_STRING, vlen, &m);
			if (!err && step == 2)
				memcpy(entry_value(m), r->argv[i + 1], vlen);
			*changed += !had;
		} else if (had) {
			err = table_del(sub, A(i));
			*changed += 1;
		}
		if (err)
			return errno = err, -1;
	}
	return 0;
}

/* update -- SADD/HSET (put) and SREM/HDEL: the count of members changed */
static int
update(struct server *s, const struct req *r, uint8_t type, bool put, struct buf *out)
{
	size_t step = type == KV_HASH && put ? 2 : 1;
	if (step == 2 && r->argc % 2 != 0)
		return resp_error(out, "ERR wrong number of arguments for 'hset' command") ? -1 : 0;
	bool wrong;
	struct kv_entry *e = db_collection(s, A(1), type, put, out, &wrong);
	if (!e)
		return wrong ? 0 : put ? -1 : resp_int(out, 0);
	struct table sub = table_members(s->keys, e);
	int64_t changed = 0;
	if (change_members(&sub, r, step, put, &changed) != 0)
		return -1;
	if (!put && db_drop_empty(s, A(1), e) != 0)
		return -1;
	return resp_int(out, changed);
}

int
cmd_sadd(struct server *s, const struct req *r, struct buf *out)
{
	return update(s, r, KV_SET, true, out);
}

int
cmd_srem(struct server *s, const struct req *r, struct buf *out)
{
	return update(s, r, KV_SET, false, out);
}

int
cmd_hset(struct server *s, const struct req *r, struct buf *out)
{
	return update(s, r, KV_HASH, true, out);
}

int
cmd_hdel(struct server *s, const struct req *r, struct buf *out)
{
	return update(s, r, KV_HASH, false, out);
}

/* The members (and values) of a set or hash, for SMEMBERS and HGETALL. */
struct listing {
	struct buf b;
	bool values;
	int err;
};

static void
list_member(void *arg, struct kv_entry *m)
{
	struct listing *x = arg;
	if (resp_bulk(&x->b, m->data, m->klen) != 0 ||
			(x->values && resp_bulk(&x->b, entry_value(m), m->vlen) != 0))
		x->err = ENOMEM;
}

static int
all_members(struct server *s, const struct req *r, uint8_t type, struct buf *out)
{
	bool wrong;
	struct kv_entry *e = db_collection(s, A(1), type, false, out, &wrong);
	if (wrong)
		return 0;
	if (!e)
		return resp_array(out, 0);
	struct table sub = table_members(s->keys, e);
	struct listing x = { .b.resp3 = out->resp3, .values = type == KV_HASH };
	uint64_t v = 0;
	do {
		v = table_scan(&sub, v, list_member, &x);
	} while (v != 0 && !x.err);
	int rc = x.err ? -1 : x.values ? resp_map(out, sub.t->count) : resp_set(out, sub.t->count);
	if (rc == 0)
		rc = buf_put(out, x.b.p, x.b.len);
	buf_free(&x.b);
	return rc;
}

int
cmd_smembers(struct server *s, const struct req *r, struct buf *out)
{
	return all_members(s, r, KV_SET, out);
}

int
cmd_hgetall(struct server *s, const struct req *r, struct buf *out)
{
	return all_members(s, r, KV_HASH, out);
}

static int
count(struct server *s, const struct req *r, uint8_t type, struct buf *out)
{
	bool wrong;
	struct kv_entry *e = db_collection(s, A(1), type, false, out, &wrong);
	if (wrong)
		return 0;
	return resp_int(out, e ? (int64_t)table_members(s->keys, e).t->count : 0);
}

int
cmd_scard(struct server *s, const struct req *r, struct buf *out)
{
	return count(s, r, KV_SET, out);
}

int
cmd_hlen(struct server *s, const struct req *r, struct buf *out)
{
	return count(s, r, KV_HASH, out);
}

int
cmd_hget(struct server *s, const struct req *r, struct buf *out)
{
	bool wrong;
	struct kv_entry *e = db_collection(s, A(1), KV_HASH, false, out, &wrong);
	if (wrong)
		return 0;
	struct table sub;
	struct kv_entry *m = NULL;
	if (e) {
		sub = table_members(s->keys, e);
		m = member(&sub, A(2));
	}
	return m ? resp_bulk(out, entry_value(m), m->vlen) : resp_nil(out);
}

static void
first_member(void *arg, struct kv_entry *m)
{
	struct kv_entry **found = arg;
	if (!*found)
		*found = m;
}

int
cmd_spop(struct server *s, const struct req *r, struct buf *out)
{
	int64_t want = 1;
	if (r->argc > 3)
		return resp_error(out, "ERR syntax error") ? -1 : 0;
	if (r->argc == 3 && (!resp_int64(A(2), &want) || want < 0))
		return resp_error(out, "ERR value is out of range, must be positive") ? -1 : 0;
	bool wrong;
	struct kv_entry *e = db_collection(s, A(1), KV_SET, false, out, &wrong);
	if (wrong)
		return 0;
	if (!e)
		return r->argc == 3 ? resp_set(out, 0) : resp_nil(out);
	struct table sub = table_members(s->keys, e);
	uint64_t n = (uint64_t)want < sub.t->count ? (uint64_t)want : sub.t->count;
	if (r->argc == 3 && resp_set(out, n) != 0)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		/* a random start; the scan reaches every bucket before it comes back to 0 */
		uint64_t v = ((uint64_t)random() << 32) ^ (uint64_t)random();
		struct kv_entry *m = NULL;
		do {
			v = table_scan(&sub, v, first_member, &m);
		} while (!m && v != 0);
		while (!m)
			v = table_scan(&sub, v, first_member, &m);
		if (resp_bulk(out, m->data, m->klen) != 0)
			return -1;
		int err = table_del(&sub, m->data, m->klen);
		if (err)
			return errno = err, -1;
	}
	return db_drop_empty(s, A(1), e);
}
