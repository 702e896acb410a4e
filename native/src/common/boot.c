/*
 * boot.c -- the bootstrap arena (boot.h): a bump allocator over static memory
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "common/boot.h"
#include "common/util.h"

#define BOOT_BYTES ((size_t)256 << 10)

enum { BOOT_NEW, BOOT_STARTING, BOOT_DONE };

static _Atomic int boot_state = BOOT_NEW;
static __thread int boot_starting TLS_HOT;   /* this thread is starting the library */
static _Alignas(64) unsigned char boot_arena[BOOT_BYTES];
static size_t boot_used;                  /* only the starting thread touches it */

enum boot_step
boot_begin(void)
{
	if (atomic_load_explicit(&boot_state, memory_order_acquire) == BOOT_DONE)
		return BOOT_READY;
	if (boot_starting)
		return BOOT_INSIDE;
	int expected = BOOT_NEW;
	if (!atomic_compare_exchange_strong(&boot_state, &expected, BOOT_STARTING)) {
		while (atomic_load_explicit(&boot_state, memory_order_acquire) != BOOT_DONE)
			sched_yield();
		return BOOT_READY;
	}
	boot_starting = 1;
	return BOOT_RUN;
}

void
boot_end(void)
{
	boot_starting = 0;
	atomic_store_explicit(&boot_state, BOOT_DONE, memory_order_release);
}

void *
boot_alloc(size_t size, size_t align)
{
	size_t off = ALIGN_UP(boot_used + sizeof(size_t), MAX(align, (size_t)16));
	if (size > BOOT_BYTES || off + size > BOOT_BYTES) {
		errno = ENOMEM;
		return NULL;
	}
	((size_t *)(void *)&boot_arena[off])[-1] = size;
	boot_used = off + size;
	return &boot_arena[off];
}

bool
is_boot(const void *p)
{
	return (const unsigned char *)p >= boot_arena
		&& (const unsigned char *)p < boot_arena + BOOT_BYTES;
}

size_t
boot_size(const void *p)
{
	return ((const size_t *)p)[-1];
}

void
boot_die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	n = n < 0 ? 0 : MIN(n, (int)sizeof(msg) - 2);
	msg[n] = '\n';
	ssize_t w = write(STDERR_FILENO, "pmalloc: ", 9);
	w = write(STDERR_FILENO, msg, (size_t)n + 1);
	(void)w;
	_exit(127);
}
