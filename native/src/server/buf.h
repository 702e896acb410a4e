/*
 * buf.h -- growable byte buffers: a connection's input and output
 */
#ifndef PMALLOC_SERVER_BUF_H
#define PMALLOC_SERVER_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;
	size_t len;               /* bytes held */
	size_t cap;               /* bytes allocated */
	bool resp3;               /* an output buffer whose client speaks RESP3 (HELLO 3) */
};

/* Room for n more bytes; 0 or -1 (ENOMEM). */
int buf_reserve(struct buf *b, size_t n);

/* Append n bytes; 0 or -1. */
int buf_put(struct buf *b, const void *p, size_t n);

/* Append printf-formatted text; 0 or -1. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);

/* Free the memory (the buffer is empty and usable again; resp3 stays). */
void buf_free(struct buf *b);

#endif
