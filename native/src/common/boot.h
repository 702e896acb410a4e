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

/* Whether p lies in the arena. */
bool is_boot(const void *p);

/* The size boot_alloc was asked for p. */
size_t boot_size(const void *p);

#endif
