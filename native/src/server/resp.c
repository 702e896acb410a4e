/*
 * resp.c -- RESP2 parsing and replies
 *
 * A request is parsed whole from the start of what is buffered each time more
 * arrives: the headers are re-read, never the bulk data (it is skipped by its
 * length), and no length a client claims is allocated before its bytes are here.
 */
#include "server/resp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
resp_int64(const char *p, size_t n, int64_t *out)
{
	if (n == 0 || n > 20)
		return false;
	bool neg = p[0] == '-';
	size_t i = neg;
	if (i == n || (p[i] == '0' && n > i + 1) || (neg && p[i] == '0'))
		return false;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* add_arg -- append an argument; 0 or -1 (ENOMEM) */
static int
add_arg(struct req *r, const char *p, size_t n)
{
	if (r->argc == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		const char **v = realloc(r->argv, cap * sizeof(*v));
		if (!v)
			return -1;
		r->argv = v;
		size_t *l = realloc(r->argl, cap * sizeof(*l));
		if (!l)
			return -1;
		r->argl = l;
		r->cap = cap;
	}
	r->argv[r->argc] = p;
	r->argl[r->argc++] = n;
	return 0;
}

/* line -- the length of the line at p (without \r\n) if complete, else -1 */
static ssize_t
line(const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);
	if (!nl || nl == p || nl[-1] != '\r')
		return nl ? -2 : -1;
	return nl - 1 - p;
}

/* header -- a "<c><int>\r\n" line at p: its length with the CRLF, 0 if incomplete, -1 bad */
static ssize_t
header(const char *p, size_t n, int64_t *v)
{
	ssize_t len = line(p, n < 32 ? n : 32);
	if (len == -1)
		return n >= 32 ? -1 : 0;
	if (len < 2 || !resp_int64(p + 1, (size_t)len - 1, v))
		return -1;
	return len + 2;
}

static ssize_t
parse_inline(const char *p, size_t n, struct req *r, const char **why)
{
	const char *nl = memchr(p, '\n', n);
	if (!nl) {
		if (n > RESP_MAX_INLINE)
			return *why = "Protocol error: too big inline request", -1;
		return 0;
	}
	size_t end = (size_t)(nl - p), len = end;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < len;) {
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		size_t s = i;
		while (i < len && p[i] != ' ' && p[i] != '\t')
			i++;
		if (i > s && add_arg(r, p + s, i - s) != 0)
			return *why = "Protocol error: out of memory", -1;
	}
	return (ssize_t)end + 1;
}

ssize_t
resp_parse(const char *p, size_t n, size_t max_bulk, struct req *r, const char **why)
{
	r->argc = 0;
	if (n == 0)
		return 0;
	if (p[0] != '*')
		return parse_inline(p, n, r, why);
	int64_t count;
	ssize_t at = header(p, n, &count);
	if (at <= 0)
		return at == 0 ? 0 : (*why = "Protocol error: invalid multibulk length", -1);
	if (count > RESP_MAX_ARGS)
		return *why = "Protocol error: invalid multibulk length", -1;
	for (int64_t i = 0; i < count; i++) {
		if ((size_t)at == n)
			return 0;
		if (p[at] != '$')
			return *why = "Protocol error: expected '$'", -1;
		int64_t len;
		ssize_t h = header(p + at, n - (size_t)at, &len);
		if (h <= 0)
			return h == 0 ? 0 : (*why = "Protocol error: invalid bulk length", -1);
		if (len < 0 || (uint64_t)len > max_bulk)
			return *why = "Protocol error: invalid bulk length", -1;
		at += h;
		if (n - (size_t)at < (size_t)len + 2)
			return 0;
		if (p[at + len] != '\r' || p[at + len + 1] != '\n')
			return *why = "Protocol error: bulk string not followed by CRLF", -1;
		if (add_arg(r, p + at, (size_t)len) != 0)
			return *why = "Protocol error: out of memory", -1;
		at += len + 2;
	}
	return at;
}

void
resp_req_free(struct req *r)
{
	free(r->argv);
	free(r->argl);
	*r = (struct req){ 0, NULL, NULL, 0 };
}

bool
resp_arg_is(const char *p, size_t n, const char *word)
{
	size_t i = 0;
	for (; i < n && word[i]; i++) {
		char c = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] + 32) : p[i];
		if (c != word[i])
			return false;
	}
	return i == n && word[i] == 0;
}

/* ---- replies ---------------------------------------------------------------- */

int
resp_simple(struct buf *b, const char *text)
{
	return buf_printf(b, "+%s\r\n", text);
}

int
resp_error(struct buf *b, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *c = msg; *c; c++)          /* an error is one line */
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	return buf_printf(b, "-%s\r\n", msg);
}

int
resp_int(struct buf *b, int64_t v)
{
	return buf_printf(b, ":%lld\r\n", (long long)v);
}

int
resp_bulk(struct buf *b, const void *p, size_t n)
{
	if (buf_printf(b, "$%zu\r\n", n) != 0 || buf_put(b, p, n) != 0)
		return -1;
	return buf_put(b, "\r\n", 2);
}

int
resp_nil(struct buf *b)
{
	return b->resp3 ? buf_put(b, "_\r\n", 3) : buf_put(b, "$-1\r\n", 5);
}

int
resp_nil_array(struct buf *b)
{
	return b->resp3 ? buf_put(b, "_\r\n", 3) : buf_put(b, "*-1\r\n", 5);
}

int
resp_map(struct buf *b, size_t pairs)
{
	return b->resp3 ? buf_printf(b, "%%%zu\r\n", pairs) : resp_array(b, 2 * pairs);
}

int
resp_set(struct buf *b, size_t n)
{
	return b->resp3 ? buf_printf(b, "~%zu\r\n", n) : resp_array(b, n);
}

int
resp_array(struct buf *b, size_t n)
{
	return buf_printf(b, "*%zu\r\n", n);
}
