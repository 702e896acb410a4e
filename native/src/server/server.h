/*
 * server.h -- what the Redis-protocol server's files share
 *
 * (The keyspace, struct server and db_*: db.h.)
 *
 * Glossary: batch = the requests one turn of the event loop runs, in one obj
 * transaction committed before any of their replies is sent (a group commit, as
 * Redis' appendfsync always syncs once per turn); fallback = when a request of a
 * batch fails in the store (a full pool), the batch is rolled back and its requests
 * run again one transaction each, so each is all or nothing. A command writes its
 * reply into `out` and returns 0, or returns -1 (errno) when the store failed.
 */
#ifndef PMALLOC_SERVER_SERVER_H
#define PMALLOC_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/buf.h"
#include "server/db.h"
#include "server/resp.h"

typedef int (*cmd_fn)(struct server *s, const struct req *r, struct buf *out);

/* ---- exec.c: one request ------------------------------------------------------------ */

/* Run request r on s (in a transaction): its reply into out; *quit set for QUIT; -1 when
 * the store failed (errno), the reply then unfinished. */
int exec_request(struct server *s, const struct req *r, struct buf *out, bool *quit);

/* Run request r in a transaction of its own: all or nothing, its reply (or, when the
 * store failed, the error reply instead) into out. */
void exec_alone(struct server *s, const struct req *r, struct buf *out, bool *quit);

/* Unix time in milliseconds (the clock of deadlines). */
int64_t exec_now_ms(void);

/* ---- commands (cmd.c: the table; cmd_*.c) --------------------------------------------------------- */

struct command {
	const char *name;         /* lower case */
	int arity;                /* > 0: exactly; < 0: at least -arity (the name counted) */
	bool write;
	cmd_fn fn;
};

/* The command named by argv[0] (any case), or NULL. */
const struct command *command_find(const char *name, size_t len);

/* The number of commands (COMMAND COUNT) and the i-th (COMMAND). */
size_t command_count(void);
const struct command *command_at(size_t i);

int cmd_get(struct server *, const struct req *, struct buf *);
int cmd_set(struct server *, const struct req *, struct buf *);
int cmd_getset(struct server *, const struct req *, struct buf *);
int cmd_mget(struct server *, const struct req *, struct buf *);
int cmd_mset(struct server *, const struct req *, struct buf *);
int cmd_incr(struct server *, const struct req *, struct buf *);
int cmd_incrby(struct server *, const struct req *, struct buf *);
int cmd_decr(struct server *, const struct req *, struct buf *);
int cmd_decrby(struct server *, const struct req *, struct buf *);
int cmd_append(struct server *, const struct req *, struct buf *);
int cmd_strlen(struct server *, const struct req *, struct buf *);

int cmd_lpush(struct server *, const struct req *, struct buf *);
int cmd_rpush(struct server *, const struct req *, struct buf *);
int cmd_lpop(struct server *, const struct req *, struct buf *);
int cmd_rpop(struct server *, const struct req *, struct buf *);
int cmd_lrange(struct server *, const struct req *, struct buf *);
int cmd_llen(struct server *, const struct req *, struct buf *);

int cmd_sadd(struct server *, const struct req *, struct buf *);
int cmd_srem(struct server *, const struct req *, struct buf *);
int cmd_smembers(struct server *, const struct req *, struct buf *);
int cmd_scard(struct server *, const struct req *, struct buf *);
int cmd_spop(struct server *, const struct req *, struct buf *);
int cmd_hset(struct server *, const struct req *, struct buf *);
int cmd_hget(struct server *, const struct req *, struct buf *);
int cmd_hdel(struct server *, const struct req *, struct buf *);
int cmd_hgetall(struct server *, const struct req *, struct buf *);
int cmd_hlen(struct server *, const struct req *, struct buf *);

int cmd_del(struct server *, const struct req *, struct buf *);
int cmd_exists(struct server *, const struct req *, struct buf *);
int cmd_keys(struct server *, const struct req *, struct buf *);
int cmd_scan(struct server *, const struct req *, struct buf *);
int cmd_expire(struct server *, const struct req *, struct buf *);
int cmd_pexpire(struct server *, const struct req *, struct buf *);
int cmd_ttl(struct server *, const struct req *, struct buf *);
int cmd_pttl(struct server *, const struct req *, struct buf *);
int cmd_persist(struct server *, const struct req *, struct buf *);
int cmd_type(struct server *, const struct req *, struct buf *);
int cmd_dbsize(struct server *, const struct req *, struct buf *);
int cmd_flushdb(struct server *, const struct req *, struct buf *);

int cmd_hello(struct server *, const struct req *, struct buf *);
int cmd_ping(struct server *, const struct req *, struct buf *);
int cmd_echo(struct server *, const struct req *, struct buf *);
int cmd_select(struct server *, const struct req *, struct buf *);
int cmd_command(struct server *, const struct req *, struct buf *);
int cmd_info(struct server *, const struct req *, struct buf *);

#endif
