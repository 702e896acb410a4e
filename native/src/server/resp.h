/*
 * resp.h -- RESP2, the Redis protocol: requests in, replies out
 *
 * Glossary: request = an array of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
 * or an inline command ("PING\r\n"); its arguments point into the input buffer
 * and are valid until the buffer changes.
 */
#ifndef PMALLOC_SERVER_RESP_H
#define PMALLOC_SERVER_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "server/buf.h"

#define RESP_MAX_ARGS (1024 * 1024)        /* arguments of one request */
#define RESP_MAX_INLINE (64 * 1024)        /* bytes of an inline request's line */

struct req {
	size_t argc;
	const char **argv;
	size_t *argl;
	size_t cap;               /* room in argv and argl */
};

/* One request from [p, p + n): the bytes it took (> 0; argc may be 0 for an empty
 * one), 0 when it is not all there yet, -1 when it breaks the protocol (*why says
 * how). Bulk strings longer than max_bulk break it. */
ssize_t resp_parse(const char *p, size_t n, size_t max_bulk, struct req *r, const char **why);

/* Free a request's argument arrays. */
void resp_req_free(struct req *r);

/* The integer in [p, p + n) (Redis' rules: optional '-', digits, no spaces, no leading
 * zeros, within int64); false if it is not one. */
bool resp_int64(const char *p, size_t n, int64_t *out);

/* Whether an argument equals a lower-case word, in any case. */
bool resp_arg_is(const char *p, size_t n, const char *word);

/* Replies, in RESP3's types when b->resp3; each returns 0 or -1 (out of memory). */
int resp_simple(struct buf *b, const char *text);
int resp_error(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int resp_int(struct buf *b, int64_t v);
int resp_bulk(struct buf *b, const void *p, size_t n);
int resp_nil(struct buf *b);
int resp_nil_array(struct buf *b);
int resp_array(struct buf *b, size_t n);
int resp_map(struct buf *b, size_t pairs);   /* RESP2: an array of 2 * pairs */
int resp_set(struct buf *b, size_t n);       /* RESP2: an array */

#endif
