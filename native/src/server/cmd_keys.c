/*
 * cmd_keys.c -- the commands on keys of any type: DEL EXISTS KEYS SCAN EXPIRE PEXPIRE
 * TTL PTTL PERSIST TYPE DBSIZE FLUSHDB
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/glob.h"
#include "server/server.h"

#define A(i) r->argv[i], r->argl[i]

int
cmd_del(struct server *s, const struct req *r, struct buf *out)
{
	int64_t n = 0;
	for (size_t i = 1; i < r->argc; i++) {
		int d = db_del(s, A(i));
		if (d < 0)
			return -1;
		n += d;
	}
	return resp_int(out, n);
}

int
cmd_exists(struct server *s, const struct req *r, struct buf *out)
{
	int64_t n = 0;
	for (size_t i = 1; i < r->argc; i++)
		n += db_find(s, A(i)) != NULL;
	return resp_int(out, n);
}

/* A walk that gathers matching live keys' replies: KEYS (all) and SCAN (a few buckets). */
struct gather {
	struct server *s;
	const char *pat;          /* NULL: every key */
	size_t patlen;
	struct buf keys;          /* the bulk replies */
	size_t n;
	int err;
};

static void
gather(void *arg, struct kv_entry *e)
{
	struct gather *g = arg;
	if (g->err || db_expired(g->s, e))
		return;
	if (g->pat && !glob_match(g->pat, g->patlen, e->data, e->klen))
		return;
	if (resp_bulk(&g->keys, e->data, e->klen) != 0)
		g->err = ENOMEM;
	g->n++;
}

/* reply_gathered -- an array of what g gathered, after a prefix reply (if any) */
static int
reply_gathered(struct gather *g, struct buf *out)
{
	int rc = g->err ? -1 : resp_array(out, g->n);
	if (rc == 0)
		rc = buf_put(out, g->keys.p, g->keys.len);
	buf_free(&g->keys);
	return rc;
}

int
cmd_keys(struct server *s, const struct req *r, struct buf *out)
{
	struct gather g = { .s = s, .pat = r->argv[1], .patlen = r->argl[1],
		.keys.resp3 = out->resp3 };
	if (g.patlen == 1 && g.pat[0] == '*')
		g.pat = NULL;
	uint64_t v = 0;
	do {
		v = table_scan(s->keys, v, gather, &g);
	} while (v != 0 && !g.err);
	return reply_gathered(&g, out);
}

int
cmd_scan(struct server *s, const struct req *r, struct buf *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(r->argv[1], &end, 10);
	if (r->argl[1] == 0 || r->argl[1] > 20 || end != r->argv[1] + r->argl[1] || errno ||
			r->argv[1][0] == '-')
		return resp_error(out, "ERR invalid cursor") ? -1 : 0;
	struct gather g = { .s = s, .keys.resp3 = out->resp3 };
	int64_t count = 10;
	for (size_t i = 2; i < r->argc; i += 2) {
		if (i + 1 >= r->argc)
			return resp_error(out, "ERR syntax error") ? -1 : 0;
		if (resp_arg_is(A(i), "match")) {
			g.pat = r->argv[i + 1];
			g.patlen = r->argl[i + 1];
		} else if (resp_arg_is(A(i), "count")) {
			if (!resp_int64(A(i + 1), &count))
				return resp_error(out, "ERR value is not an integer or out of range")
					? -1 : 0;
			if (count < 1)
				return resp_error(out, "ERR syntax error") ? -1 : 0;
		} else {
			return resp_error(out, "ERR syntax error") ? -1 : 0;
		}
	}
	/* about count buckets' worth (Redis: count is a hint), at most 10x that looked at */
	int64_t looked = 0;
	do {
		v = table_scan(s->keys, v, gather, &g);
	} while (v != 0 && (int64_t)g.n < count && ++looked < count * 10 && !g.err);
	char cursor[24];
	int n = snprintf(cursor, sizeof(cursor), "%llu", v);
	if (resp_array(out, 2) != 0 || resp_bulk(out, cursor, (size_t)n) != 0)
		return buf_free(&g.keys), -1;
	return reply_gathered(&g, out);
}

/* set_deadline -- EXPIRE / PEXPIRE: unit ms per unit of the argument */
static int
set_deadline(struct server *s, const struct req *r, int64_t unit, struct buf *out)
{
	int64_t v;
	if (!resp_int64(A(2), &v))
		return resp_error(out, "ERR value is not an integer or out of range") ? -1 : 0;
	if (r->argc > 3)
		return resp_error(out, "ERR Unsupported option %.*s", (int)r->argl[3], r->argv[3])
			? -1 : 0;
	if (v > (INT64_MAX - s->now_ms) / unit || v < (INT64_MIN + s->now_ms) / unit)
		return resp_error(out, "ERR invalid expire time in '%s' command",
				unit == 1 ? "pexpire" : "expire") ? -1 : 0;
	struct kv_entry *e = db_find(s, A(1));
	if (!e)
		return resp_int(out, 0);
	int64_t deadline = s->now_ms + v * unit;
	if (deadline <= s->now_ms) {                   /* in the past: the key goes now */
		if (db_del(s, A(1)) < 0)
			return -1;
	} else if (db_set_expire(s, e, deadline) != 0) {
		return -1;
	}
	return resp_int(out, 1);
}

int
cmd_expire(struct server *s, const struct req *r, struct buf *out)
{
	return set_deadline(s, r, 1000, out);
}

int
cmd_pexpire(struct server *s, const struct req *r, struct buf *out)
{
	return set_deadline(s, r, 1, out);
}

/* time_left -- TTL / PTTL: -2 no key, -1 no deadline, else the time left in units */
static int
time_left(struct server *s, const struct req *r, int64_t unit, struct buf *out)
{
	struct kv_entry *e = db_find(s, A(1));
	if (!e)
		return resp_int(out, -2);
	if (!e->expire_ms)
		return resp_int(out, -1);
	int64_t ms = e->expire_ms - s->now_ms;
	return resp_int(out, unit == 1 ? ms : (ms + 500) / 1000);
}

int
cmd_ttl(struct server *s, const struct req *r, struct buf *out)
{
	return time_left(s, r, 1000, out);
}

int
cmd_pttl(struct server *s, const struct req *r, struct buf *out)
{
	return time_left(s, r, 1, out);
}

int
cmd_persist(struct server *s, const struct req *r, struct buf *out)
{
	struct kv_entry *e = db_find(s, A(1));
	if (!e || !e->expire_ms)
		return resp_int(out, 0);
	return db_set_expire(s, e, 0) ? -1 : resp_int(out, 1);
}

int
cmd_type(struct server *s, const struct req *r, struct buf *out)
{
	static const char *const names[] = { "string", "list", "set", "hash" };
	struct kv_entry *e = db_find(s, A(1));
	return resp_simple(out, !e ? "none" : e->type < 4 ? names[e->type] : "unknown");
}

int
cmd_dbsize(struct server *s, const struct req *r, struct buf *out)
{
	(void)r;
	return resp_int(out, (int64_t)s->keys->t->count);
}

int
cmd_flushdb(struct server *s, const struct req *r, struct buf *out)
{
	if (r->argc > 2 || (r->argc == 2 && !resp_arg_is(A(1), "sync") && !resp_arg_is(A(1), "async")))
		return resp_error(out, "ERR syntax error") ? -1 : 0;
	return db_flush(s) ? -1 : resp_simple(out, "OK");
}
