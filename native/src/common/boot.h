/*
 * boot.h -- the bootstrap arena of the preload libraries: static memory for the
 * calls a library's own start-up makes before its heap exists (the loader, the
 * settings, fopen). It is never given back; free() of it is a no-op.
 */
#ifndef PMALLOC_BOOT_H
#define PMALLOC_BOOT_H

#include <stdbool.h>
#include <stddef.h>

/* size bytes aligned to align (>= 16), or NULL + ENOMEM when the arena is full.
 * Only the thread starting the library calls it. */
void *boot_alloc(size_t size, size_t align);

/* Write "pmalloc: <message>" to stderr and _exit(127): a preload library's answer
 * to a setting it cannot run with (no allocation, no atexit handlers). */
void boot_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The library's start, once per process: boot_begin says what the calling thread
 * is to do (BOOT_READY: go on; BOOT_INSIDE: it is the thread starting the library,
 * calling back in: serve from the arena; BOOT_RUN: start it now, then boot_end).
 * Threads arriving while another starts it wait until it is ready. */
enum boot_step { BOOT_READY, BOOT_INSIDE, BOOT_RUN };
enum boot_step boot_begin(void);
void boot_end(void);

/* Whether p lies in the arena. */
bool is_boot(const void *p);

/* The size boot_alloc was asked for p. */
size_t boot_size(const void *p);

#endif
