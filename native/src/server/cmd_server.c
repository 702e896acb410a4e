/*
 * cmd_server.c -- the connection and server commands: PING ECHO SELECT COMMAND INFO,
 * and the command table
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "libpmemobj.h"
#include "pmalloc.h"
#include "server/server.h"

#define A(i) r->argv[i], r->argl[i]

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

bool
arg_is(const char *p, size_t n, const char *word)
{
	size_t i = 0;
	for (; i < n && word[i]; i++) {
		char c = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] + 32) : p[i];
		if (c != word[i])
			return false;
	}
	return i == n && word[i] == 0;
}

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

int
cmd_ping(struct server *s, const struct req *r, struct buf *out)
{
	(void)s;
	if (r->argc > 2)
		return resp_error(out, "ERR wrong number of arguments for 'ping' command") ? -1 : 0;
	return r->argc == 2 ? resp_bulk(out, A(1)) : resp_simple(out, "PONG");
}

int
cmd_echo(struct server *s, const struct req *r, struct buf *out)
{
	(void)s;
	return resp_bulk(out, A(1));
}

int
cmd_hello(struct server *s, const struct req *r, struct buf *out)
{
	(void)s;
	int64_t proto = out->resp3 ? 3 : 2;
	if (r->argc >= 2 && (!resp_int64(A(1), &proto) || proto < 2 || proto > 3))
		return resp_error(out, "NOPROTO unsupported protocol version") ? -1 : 0;
	for (size_t i = 2; i < r->argc; i++) {        /* AUTH u p, SETNAME n: no users here */
		size_t take = arg_is(A(i), "auth") ? 2 : arg_is(A(i), "setname") ? 1 : 0;
		if (!take || i + take >= r->argc)
			return resp_error(out, "ERR Syntax error in HELLO option '%.*s'",
					(int)(r->argl[i] > 64 ? 64 : r->argl[i]), r->argv[i]) ? -1 : 0;
		i += take;
	}
	out->resp3 = proto == 3;
	int rc = resp_map(out, 7) | resp_bulk(out, "server", 6) | resp_bulk(out, "redis", 5) |
		resp_bulk(out, "version", 7) | resp_bulk(out, "7.0.0", 5) |
		resp_bulk(out, "proto", 5) | resp_int(out, proto) | resp_bulk(out, "id", 2) |
		resp_int(out, 1) | resp_bulk(out, "mode", 4) | resp_bulk(out, "standalone", 10) |
		resp_bulk(out, "role", 4) | resp_bulk(out, "master", 6) |
		resp_bulk(out, "modules", 7) | resp_array(out, 0);
	return rc ? -1 : 0;
}

int
cmd_select(struct server *s, const struct req *r, struct buf *out)
{
	(void)s;
	int64_t db;
	if (!resp_int64(A(1), &db))
		return resp_error(out, "ERR value is not an integer or out of range") ? -1 : 0;
	if (db != 0)
		return resp_error(out, "ERR DB index is out of range") ? -1 : 0;
	return resp_simple(out, "OK");
}

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
	if (r->argc >= 2 && arg_is(A(1), "count"))
		return resp_int(out, (int64_t)NCOMMANDS);
	if (r->argc >= 2 && (arg_is(A(1), "docs") || arg_is(A(1), "info"))) {
		bool docs = arg_is(A(1), "docs");
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

/* An INFO section: the name as asked for ("all"/"everything"/"default": each). */
static bool
wants(const struct req *r, const char *section)
{
	if (r->argc < 2)
		return true;
	for (size_t i = 1; i < r->argc; i++)
		if (arg_is(A(i), section) || arg_is(A(i), "all") || arg_is(A(i), "everything") ||
				arg_is(A(i), "default"))
			return true;
	return false;
}

static void
count_expires(void *arg, struct kv_entry *e)
{
	*(uint64_t *)arg += e->expire_ms != 0;
}

int
cmd_info(struct server *s, const struct req *r, struct buf *out)
{
	struct buf b = { NULL, 0, 0, false };
	int rc = 0;
	if (wants(r, "server")) {
		struct utsname u;
		uname(&u);
		rc |= buf_printf(&b, "# Server\r\nredis_version:7.0.0\r\npmalloc_kv_server:1\r\n"
				"redis_mode:standalone\r\nos:%s %s %s\r\nprocess_id:%d\r\n\r\n",
				u.sysname, u.release, u.machine, (int)getpid());
	}
	if (wants(r, "clients"))
		rc |= buf_printf(&b, "# Clients\r\nconnected_clients:%llu\r\n\r\n",
				(unsigned long long)s->clients);
	if (wants(r, "memory")) {
		uint64_t free_b, used, objects;
		pmalloc_obj_usage(s->kv->pop, &free_b, &used, &objects);
		rc |= buf_printf(&b, "# Memory\r\nused_memory:%llu\r\npool_size:%zu\r\n"
				"pool_free:%llu\r\npool_used:%llu\r\npool_objects:%llu\r\n\r\n",
				(unsigned long long)used, pmalloc_obj_size(s->kv->pop),
				(unsigned long long)free_b, (unsigned long long)used,
				(unsigned long long)objects);
	}
	if (wants(r, "stats"))
		rc |= buf_printf(&b, "# Stats\r\ntotal_commands_processed:%llu\r\n\r\n",
				(unsigned long long)s->commands);
	if (wants(r, "persistence"))
		rc |= buf_printf(&b, "# Persistence\r\nloading:0\r\naof_enabled:0\r\n"
				"pmem_pool:1\r\n\r\n");
	if (wants(r, "keyspace")) {
		uint64_t expires = 0, v = 0;
		do {
			v = table_scan(s->keys, v, count_expires, &expires);
		} while (v != 0);
		rc |= buf_printf(&b, "# Keyspace\r\n");
		if (s->keys->t->count)
			rc |= buf_printf(&b, "db0:keys=%llu,expires=%llu,avg_ttl=0\r\n",
					(unsigned long long)s->keys->t->count,
					(unsigned long long)expires);
	}
	rc = rc ? -1 : resp_bulk(out, b.p, b.len);
	buf_free(&b);
	return rc;
}
