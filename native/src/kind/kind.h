/*
 * kind.h -- what kind.c offers the tiering above it, beside memkind.h
 */
#ifndef PMALLOC_KIND_H
#define PMALLOC_KIND_H

#include <stdbool.h>

#include "memkind.h"

/* Add delta bytes to what memtier placed in kind (negative on free). */
void kind_account(memkind_t kind, long long delta);

/* The bytes memtier placed in kind and not yet freed. */
long long kind_accounted(memkind_t kind);

/* Whether kind is a live kind (static or pmem). */
bool kind_valid(memkind_t kind);

#endif
