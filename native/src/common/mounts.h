/*
 * mounts.h -- the mounted file systems that are DAX (persistent memory)
 *
 * A mount is DAX for every file when /proc/mounts lists "dax" or "dax=always"
 * among its options. Read with plain system calls: the preload shim asks at
 * start-up, before malloc works.
 */
#ifndef PMALLOC_MOUNTS_H
#define PMALLOC_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

/* Call fn(path, arg) for each DAX mount point in the mounts file at `table`
 * (normally /proc/mounts), in order, until fn returns true; returns that call's
 * true, false when none did or the file cannot be read. */
bool mounts_each_dax(const char *table, bool (*fn)(const char *path, void *arg), void *arg);

#endif
