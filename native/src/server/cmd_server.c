/*
 * cmd_server.c -- the connection and server commands: PING ECHO HELLO SELECT INFO
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "libpmemobj.h"
#include "pmalloc.h"
#include "server/server.h"

#define A(i) r->argv[i], r->argl[i]

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
		size_t take = resp_arg_is(A(i), "auth") ? 2 : resp_arg_is(A(i), "setname") ? 1 : 0;
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

/* An INFO section: the name as asked for ("all"/"everything"/"default": each). */
static bool
wants(const struct req *r, const char *section)
{
	if (r->argc < 2)
		return true;
	for (size_t i = 1; i < r->argc; i++)
		if (resp_arg_is(A(i), section) || resp_arg_is(A(i), "all") || resp_arg_is(A(i), "everything") ||
				resp_arg_is(A(i), "default"))
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
