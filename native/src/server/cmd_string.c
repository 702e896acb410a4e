/*
 * cmd_string.c -- the string commands: GET SET GETSET MGET MSET INCR... APPEND STRLEN
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/server.h"

#define A(i) r->argv[i], r->argl[i]

int
cmd_get(struct server *s, const struct req *r, struct buf *out)
{
	bool wrong;
	struct kv_entry *e = db_find_typed(s, A(1), KV_STRING, out, &wrong);
	if (wrong)
		return 0;
	return (e ? resp_bulk(out, entry_value(e), e->vlen) : resp_nil(out)) ? -1 : 0;
}

/* expire_arg -- the deadline of EX/PX amount a (unit ms per unit); false with an error reply */
static bool
expire_arg(struct server *s, const char *p, size_t n, int64_t unit, int64_t *deadline,
		struct buf *out, const char *cmd)
{
	int64_t v;
	if (!resp_int64(p, n, &v)) {
		resp_error(out, "ERR value is not an integer or out of range");
		return false;
	}
	if (v <= 0 || v > (INT64_MAX - s->now_ms) / unit) {
		resp_error(out, "ERR invalid expire time in '%s' command", cmd);
		return false;
	}
	*deadline = s->now_ms + v * unit;
	return true;
}

int
cmd_set(struct server *s, const struct req *r, struct buf *out)
{
	bool nx = false, xx = false, get = false, keepttl = false;
	int64_t deadline = 0;
	for (size_t i = 3; i < r->argc; i++) {
		const char *a = r->argv[i];
		size_t n = r->argl[i];
		bool more = i + 1 < r->argc;
		if (resp_arg_is(a, n, "nx") && !xx) {
			nx = true;
		} else if (resp_arg_is(a, n, "xx") && !nx) {
			xx = true;
		} else if (resp_arg_is(a, n, "get")) {
			get = true;
		} else if (resp_arg_is(a, n, "keepttl") && !deadline) {
			keepttl = true;
		} else if ((resp_arg_is(a, n, "ex") || resp_arg_is(a, n, "px")) && more && !deadline &&
				!keepttl) {
			if (!expire_arg(s, A(i + 1), resp_arg_is(a, n, "ex") ? 1000 : 1, &deadline, out,
					"set"))
				return 0;
			i++;
		} else {
			return resp_error(out, "ERR syntax error") ? -1 : 0;
		}
	}
	bool wrong;
	struct kv_entry *old = db_find(s, A(1));
	if (get && old && old->type != KV_STRING) {
		db_find_typed(s, A(1), KV_STRING, out, &wrong);
		return 0;
	}
	struct buf prev = { NULL, 0, 0, out->resp3 };
	if (get && (old ? resp_bulk(&prev, entry_value(old), old->vlen) : resp_nil(&prev)))
		return buf_free(&prev), -1;
	int rc = 0;
	if ((nx && old) || (xx && !old)) {
		rc = get ? buf_put(out, prev.p, prev.len) : resp_nil(out);
	} else {
		int64_t keep = keepttl && old ? old->expire_ms : deadline;
		rc = db_set(s, A(1), A(2), keep, NULL);
		if (rc == 0)
			rc = get ? buf_put(out, prev.p, prev.len) : resp_simple(out, "OK");
	}
	buf_free(&prev);
	return rc;
}

int
cmd_getset(struct server *s, const struct req *r, struct buf *out)
{
	bool wrong;
	struct kv_entry *old = db_find_typed(s, A(1), KV_STRING, out, &wrong);
	if (wrong)
		return 0;
	struct buf prev = { NULL, 0, 0, out->resp3 };
	int rc = old ? resp_bulk(&prev, entry_value(old), old->vlen) : resp_nil(&prev);
	if (rc == 0)
		rc = db_set(s, A(1), A(2), 0, NULL);
	if (rc == 0)
		rc = buf_put(out, prev.p, prev.len);
	buf_free(&prev);
	return rc;
}

int
cmd_mget(struct server *s, const struct req *r, struct buf *out)
{
	if (resp_array(out, r->argc - 1) != 0)
		return -1;
	for (size_t i = 1; i < r->argc; i++) {
		struct kv_entry *e = db_find(s, A(i));
		int rc = e && e->type == KV_STRING ? resp_bulk(out, entry_value(e), e->vlen)
			: resp_nil(out);
		if (rc)
			return -1;
	}
	return 0;
}

int
cmd_mset(struct server *s, const struct req *r, struct buf *out)
{
	if (r->argc % 2 == 0)
		return resp_error(out, "ERR wrong number of arguments for 'mset' command") ? -1 : 0;
	for (size_t i = 1; i < r->argc; i += 2)
		if (db_set(s, A(i), A(i + 1), 0, NULL) != 0)
			return -1;
	return resp_simple(out, "OK");
}

/* add_to -- INCRBY's work: key's integer plus by, the TTL kept */
static int
add_to(struct server *s, const struct req *r, int64_t by, struct buf *out)
{
	bool wrong;
	struct kv_entry *e = db_find_typed(s, A(1), KV_STRING, out, &wrong);
	if (wrong)
		return 0;
	int64_t v = 0;
	if (e && !resp_int64(entry_value(e), e->vlen, &v))
		return resp_error(out, "ERR value is not an integer or out of range") ? -1 : 0;
	if ((by > 0 && v > INT64_MAX - by) || (by < 0 && v < INT64_MIN - by))
		return resp_error(out, "ERR increment or decrement would overflow") ? -1 : 0;
	v += by;
	char text[24];
	int n = snprintf(text, sizeof(text), "%lld", (long long)v);
	if (db_set(s, A(1), text, (size_t)n, e ? e->expire_ms : 0, NULL) != 0)
		return -1;
	return resp_int(out, v);
}

/* amount -- INCRBY's argument; false with the error replied */
static bool
amount(const struct req *r, int64_t *by, struct buf *out)
{
	if (resp_int64(A(2), by))
		return true;
	resp_error(out, "ERR value is not an integer or out of range");
	return false;
}

int
cmd_incr(struct server *s, const struct req *r, struct buf *out)
{
	return add_to(s, r, 1, out);
}

int
cmd_decr(struct server *s, const struct req *r, struct buf *out)
{
	return add_to(s, r, -1, out);
}

int
cmd_incrby(struct server *s, const struct req *r, struct buf *out)
{
	int64_t by;
	return amount(r, &by, out) ? add_to(s, r, by, out) : 0;
}

int
cmd_decrby(struct server *s, const struct req *r, struct buf *out)
{
	int64_t by;
	if (!amount(r, &by, out))
		return 0;
	if (by == INT64_MIN)
		return resp_error(out, "ERR decrement would overflow") ? -1 : 0;
	return add_to(s, r, -by, out);
}

int
cmd_append(struct server *s, const struct req *r, struct buf *out)
{
	bool wrong;
	struct kv_entry *old = db_find_typed(s, A(1), KV_STRING, out, &wrong);
	if (wrong)
		return 0;
	size_t have = old ? old->vlen : 0;
	if (r->argl[2] > PMEMOBJ_MAX_ALLOC_SIZE - have)
		return resp_error(out, "ERR string exceeds maximum allowed size") ? -1 : 0;
	/* the old entry's bytes stay readable until the commit frees them */
	const char *prev = old ? entry_value(old) : NULL;
	int64_t deadline = old ? old->expire_ms : 0;
	struct kv_entry *e;
	if (db_set(s, A(1), NULL, have + r->argl[2], deadline, &e) != 0)
		return -1;
	if (have)
		memcpy(entry_value(e), prev, have);
	memcpy(entry_value(e) + have, r->argv[2], r->argl[2]);
	return resp_int(out, (int64_t)(have + r->argl[2]));
}

int
cmd_strlen(struct server *s, const struct req *r, struct buf *out)
{
	bool wrong;
	struct kv_entry *e = db_find_typed(s, A(1), KV_STRING, out, &wrong);
	if (wrong)
		return 0;
	return resp_int(out, e ? (int64_t)e->vlen : 0);
}
