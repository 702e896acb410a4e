/*
 * cmd.c -- the command table (each command's name, arity, whether it writes, and its
 * function in cmd_*.c; sorted by name for a binary search), and COMMAND, which
 * describes it
 */
#include <string.h>

#include "server/server.h"

/* QUIT is answered by the event loop (it closes the connection after the reply). */
static const struct command commands[] = {
	{ "append", 3, true, cmd_append },
	{ "command", -1, false, cmd_command },
	{ "dbsize", 1, false, cmd_dbsize },
	{ "decr", 2, true, cmd_decr },
	{ "decrby", 3, true, cmd_decrby },
	{ "del", -2, true, cmd_del },
	{ "echo", 2, false, cmd_echo },
	{ "exists", -2, false, cmd_exists },
	{ "expire", -3, true, cmd_expire },
	{ "flushdb", -1, true, cmd_flushdb },
	{ "get", 2, false, cmd_get },
	{ "getset", 3, true, cmd_getset },
	{ "hdel", -3, true, cmd_hdel },
	{ "hello", -1, false, cmd_hello },
	{ "hget", 3, false, cmd_hget },
	{ "hgetall", 2, false, cmd_hgetall },
	{ "hlen", 2, false, cmd_hlen },
	{ "hset", -4, true, cmd_hset },
	{ "incr", 2, true, cmd_incr },
	{ "incrby", 3, true, cmd_incrby },
	{ "info", -1, false, cmd_info },
	{ "keys", 2, false, cmd_keys },
	{ "llen", 2, false, cmd_llen },
	{ "lpop", -2, true, cmd_lpop },
	{ "lpush", -3, true, cmd_lpush },
	{ "lrange", 4, false, cmd_lrange },
	{ "mget", -2, false, cmd_mget },
	{ "mset", -3, true, cmd_mset },
	{ "persist", 2, true, cmd_persist },
	{ "pexpire", -3, true, cmd_pexpire },
	{ "ping", -1, false, cmd_ping },
	{ "pttl", 2, false, cmd_pttl },
	{ "quit", -1, false, NULL },
	{ "rpop", -2, true, cmd_rpop },
	{ "rpush", -3, true, cmd_rpush },
	{ "sadd", -3, true, cmd_sadd },
	{ "scan", -2, false, cmd_scan },
	{ "scard", 2, false, cmd_scard },
	{ "select", 2, false, cmd_select },
	{ "set", -3, true, cmd_set },
	{ "smembers", 2, false, cmd_smembers },
	{ "spop", -2, true, cmd_spop },
	{ "srem", -3, true, cmd_srem },
	{ "strlen", 2, false, cmd_strlen },
	{ "ttl", 2, false, cmd_ttl },
	{ "type", 2, false, cmd_type },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct command *
command_find(const char *name, size_t len)
{
	size_t lo = 0, hi = NCOMMANDS;
	char low[16];
	if (len >= sizeof(low))
		return NULL;
	for (size_t i = 0; i < len; i++)
		low[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] + 32) : name[i];
	low[len] = 0;
	if (memchr(low, 0, len))
		return NULL;
	while (lo < hi) {                               /* the table is sorted by name */
		size_t mid = (lo + hi) / 2;
		int c = strcmp(low, commands[mid].name);
		if (c == 0)
			return &commands[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t
command_count(void)
{
	return NCOMMANDS;
}

const struct command *
command_at(size_t i)
{
	return i < NCOMMANDS ? &commands[i] : NULL;
}


#define A(i) r->argv[i], r->argl[i]

/* command_entry -- COMMAND's description of one command: name, arity, flags, keys */
static int
command_entry(struct buf *out, const struct command *c)
{
	bool keys = strcmp(c->name, "ping") && strcmp(c->name, "echo") && strcmp(c->name, "quit") &&
		strcmp(c->name, "select") && strcmp(c->name, "command") && strcmp(c->name, "info") &&
		strcmp(c->name, "dbsize") && strcmp(c->name, "flushdb") && strcmp(c->name, "keys") &&
		strcmp(c->name, "scan");
	int last = c->arity < 0 ? -1 : 1;
	int step = !strcmp(c->name, "mset") ? 2 : 1;
	int rc = resp_array(out, 6) | resp_bulk(out, c->name, strlen(c->name)) |
		resp_int(out, c->arity) | resp_array(out, 1) |
		resp_simple(out, c->write ? "write" : "readonly") |
		resp_int(out, keys ? 1 : 0) | resp_int(out, keys ? last : 0) |
		resp_int(out, keys ? step : 0);
	return rc ? -1 : 0;
}

int
cmd_command(struct server *s, const struct req *r, struct buf *out)
{
	(void)s;
	if (r->argc >= 2 && resp_arg_is(A(1), "count"))
		return resp_int(out, (int64_t)NCOMMANDS);
	if (r->argc >= 2 && (resp_arg_is(A(1), "docs") || resp_arg_is(A(1), "info"))) {
		bool docs = resp_arg_is(A(1), "docs");
		size_t n = 0;
		struct buf body = { NULL, 0, 0, out->resp3 };
		for (size_t i = 2; i < r->argc; i++) {
			const struct command *c = command_find(A(i));
			if (docs && c) {          /* a map as a flat array: name, then no docs */
				n += 2;
				if (resp_bulk(&body, c->name, strlen(c->name)) || resp_array(&body, 0))
					return buf_free(&body), -1;
			} else if (!docs) {
				n++;
				if (c ? command_entry(&body, c) : buf_put(&body, "*-1\r\n", 5))
					return buf_free(&body), -1;
			}
		}
		int rc = (docs ? resp_map(out, n / 2) : resp_array(out, n)) |
			buf_put(out, body.p, body.len);
		buf_free(&body);
		return rc ? -1 : 0;
	}
	if (r->argc >= 2)
		return resp_error(out, "ERR unknown subcommand '%.*s'. Try COMMAND HELP.",
				(int)(r->argl[1] > 64 ? 64 : r->argl[1]), r->argv[1]) ? -1 : 0;
	if (resp_array(out, NCOMMANDS) != 0)
		return -1;
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (command_entry(out, &commands[i]) != 0)
			return -1;
	return 0;
}

