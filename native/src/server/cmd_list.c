/*
 * cmd_list.c -- the list commands: LPUSH RPUSH LPOP RPOP LRANGE LLEN
 */
#include <errno.h>

#include "server/server.h"

#define A(i) r->argv[i], r->argl[i]

/* push -- LPUSH (end 0) / RPUSH (end 1): the values in order, the new length */
static int
push(struct server *s, const struct req *r, int end, struct buf *out)
{
	bool wrong;
	struct kv_entry *e = db_collection(s, A(1), KV_LIST, true, out, &wrong);
	if (!e)
		return wrong ? 0 : -1;
	struct list ls = table_list(s->keys, e);
	for (size_t i = 2; i < r->argc; i++) {
		int err = list_push(&ls, end, A(i));
		if (err)
			return errno = err, -1;
	}
	return resp_int(out, (int64_t)ls.l->count);
}

int
cmd_lpush(struct server *s, const struct req *r, struct buf *out)
{
	return push(s, r, 0, out);
}

int
cmd_rpush(struct server *s, const struct req *r, struct buf *out)
{
	return push(s, r, 1, out);
}

/* pop -- LPOP / RPOP [count] */
static int
pop(struct server *s, const struct req *r, int end, struct buf *out)
{
	int64_t count = 1;
	if (r->argc > 3)
		return resp_error(out, "ERR wrong number of arguments for '%s' command",
				end ? "rpop" : "lpop") ? -1 : 0;
	if (r->argc == 3 && (!resp_int64(A(2), &count) || count < 0))
		return resp_error(out, "ERR value is out of range, must be positive") ? -1 : 0;
	bool wrong;
	struct kv_entry *e = db_collection(s, A(1), KV_LIST, false, out, &wrong);
	if (wrong)
		return 0;
	if (!e)
		return r->argc == 3 ? resp_nil_array(out) : resp_nil(out);
	struct list ls = table_list(s->keys, e);
	uint64_t n = (uint64_t)count < ls.l->count ? (uint64_t)count : ls.l->count;
	if (r->argc == 3 && resp_array(out, n) != 0)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		struct kv_node *nd = list_end(&ls, end);
		if (resp_bulk(out, nd->data, nd->len) != 0)
			return -1;
		int err = list_pop(&ls, end);
		if (err)
			return errno = err, -1;
	}
	return db_drop_empty(s, A(1), e);
}

int
cmd_lpop(struct server *s, const struct req *r, struct buf *out)
{
	return pop(s, r, 0, out);
}

int
cmd_rpop(struct server *s, const struct req *r, struct buf *out)
{
	return pop(s, r, 1, out);
}

int
cmd_lrange(struct server *s, const struct req *r, struct buf *out)
{
	int64_t start, stop;
	if (!resp_int64(A(2), &start) || !resp_int64(A(3), &stop))
		return resp_error(out, "ERR value is not an integer or out of range") ? -1 : 0;
	bool wrong;
	struct kv_entry *e = db_collection(s, A(1), KV_LIST, false, out, &wrong);
	if (wrong)
		return 0;
	if (!e)
		return resp_array(out, 0);
	struct list ls = table_list(s->keys, e);
	int64_t len = (int64_t)ls.l->count;
	if (start < 0)
		start = start + len < 0 ? 0 : start + len;
	if (stop < 0)
		stop += len;
	if (stop >= len)
		stop = len - 1;
	if (start > stop || start >= len)
		return resp_array(out, 0);
	if (resp_array(out, (size_t)(stop - start + 1)) != 0)
		return -1;
	/* to start from the nearer end, then forward */
	bool back = start > len - 1 - start;
	struct kv_node *nd = list_end(&ls, back);
	for (int64_t i = back ? len - 1 : 0; nd && i != start; i += back ? -1 : 1)
		nd = list_step(&ls, nd, !back);
	for (int64_t i = start; nd && i <= stop; i++, nd = list_step(&ls, nd, 1))
		if (resp_bulk(out, nd->data, nd->len) != 0)
			return -1;
	return 0;
}

int
cmd_llen(struct server *s, const struct req *r, struct buf *out)
{
	bool wrong;
	struct kv_entry *e = db_collection(s, A(1), KV_LIST, false, out, &wrong);
	if (wrong)
		return 0;
	return resp_int(out, e ? (int64_t)table_list(s->keys, e).l->count : 0);
}
