/*
 * exec.c -- running one request: the command's lookup, its arity, its reply; and
 * pmalloc_kv_command, one request on a store without a network
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "libpmemobj.h"
#include "server/server.h"

int
exec_request(struct server *s, const struct req *r, struct buf *out, bool *quit)
{
	if (r->argc == 0)
		return 0;
	const struct command *cmd = command_find(r->argv[0], r->argl[0]);
	s->commands++;
	if (!cmd) {
		/* as Redis words it: the name, then the arguments up to 128 bytes in all */
		struct buf args = { NULL, 0, 0, false };
		int rc = buf_put(&args, "", 0);
		for (size_t i = 1; i < r->argc && rc == 0 && args.len < 128; i++)
			rc = buf_printf(&args, "'%.*s' ", (int)MIN(r->argl[i], 128 - args.len),
					r->argv[i]);
		rc |= buf_put(&args, "", 1);
		rc = rc ? -1 : resp_error(out, "ERR unknown command '%.*s', with args beginning "
				"with: %s", (int)MIN(r->argl[0], 128), r->argv[0], args.p);
		buf_free(&args);
		return rc;
	}
	if ((cmd->arity > 0 && r->argc != (size_t)cmd->arity) ||
			(cmd->arity < 0 && r->argc < (size_t)-cmd->arity))
		return resp_error(out, "ERR wrong number of arguments for '%s' command", cmd->name);
	if (!cmd->fn) {                                 /* QUIT */
		*quit = true;
		return resp_simple(out, "OK");
	}
	return cmd->fn(s, r, out);
}

/* store_error -- the reply for a request the store could not carry out */
static void
store_error(struct buf *out, int err)
{
	if (err == ENOMEM)
		resp_error(out, "OOM command not allowed: the pool is full");
	else
		resp_error(out, "ERR the store failed: %s", errmsg_get());
}

void
exec_alone(struct server *s, const struct req *r, struct buf *out, bool *quit)
{
	size_t mark = out->len;
	int err = pmemobj_tx_begin(s->kv->pop, NULL, TX_PARAM_NONE);
	if (!err && exec_request(s, r, out, quit) != 0)
		err = errno ? errno : EIO;
	if (err)
		pmemobj_tx_abort(err);
	else
		pmemobj_tx_commit();
	int end = pmemobj_tx_end();
	if (err || end) {
		out->len = mark;
		store_error(out, err ? err : end);
	}
}

int64_t
exec_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

API int
pmalloc_kv_command(PMALLOC_KV *kv, size_t argc, const char *const *argv, const size_t *argl,
		char **reply, size_t *len)
{
	if (!kv || !reply || !len || (argc && (!argv || !argl)))
		return errmsg_set(EINVAL, "pmalloc_kv_command: a NULL argument"), -1;
	if (kv->rdonly)
		return errmsg_set(EROFS, "pmalloc_kv_command: the store is open read-only"), -1;
	struct server s = { .kv = kv, .keys = &kv->keys, .now_ms = exec_now_ms() };
	struct req r = { .argc = argc, .argv = (const char **)argv, .argl = (size_t *)argl };
	struct buf out = { NULL, 0, 0, false };
	bool quit = false;
	exec_alone(&s, &r, &out, &quit);
	kv->shape++;                       /* a command may add or remove keys */
	if (buf_put(&out, "", 1) != 0) {   /* a terminating NUL, not counted */
		buf_free(&out);
		return errmsg_set(ENOMEM, "pmalloc_kv_command: no memory for the reply"), -1;
	}
	*reply = out.p;
	*len = out.len - 1;
	return 0;
}

API void
pmalloc_kv_reply_free(char *reply)
{
	free(reply);
}
