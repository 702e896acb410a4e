/*
 * kv.h -- a store's handle, for what is built on the keyspace (the server)
 *
 * Glossary: store = an obj pool of layout KV_LAYOUT holding a struct kv_root; its
 * keyspace = root->keys, a table.c table. Changes to it run in obj transactions.
 */
#ifndef PMALLOC_KV_KV_H
#define PMALLOC_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kv/kv_layout.h"
#include "kv/table.h"
#include "pmalloc_kv.h"

struct pmalloc_kv {
	PMEMobjpool *pop;
	struct pmalloc_kv *next;  /* the process's read-only handles (one per file, shared) */
	unsigned refs;            /* opens of a shared read-only handle */
	dev_t dev;                /* its file */
	ino_t ino;
	struct kv_root *root;
	struct table keys;
	uint64_t shape;           /* bumped when a key is added or removed */
	bool rdonly;
	int fd;                   /* holds the flock; -1 for a store over caller memory */
	void *view;               /* a read-only handle's private mapping (else NULL) */
	size_t view_len;
};

#endif
