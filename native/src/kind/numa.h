/*
 * numa.h -- NUMA nodes by what they are (from sysfs), and binding memory to them
 *
 * Glossary: kmem DAX node = persistent memory onlined as system RAM (a dax
 * device bound to the kmem driver; its target_node); HBW node = high-bandwidth
 * memory (MEMKIND_HBW_NODES, else a node whose HMAT read bandwidth beats every
 * node with CPUs); regular = memory nodes that are neither.
 */
#ifndef PMALLOC_NUMA_H
#define PMALLOC_NUMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NUMA_MAX_NODES 1024

struct nodeset {
	uint64_t bits[NUMA_MAX_NODES / 64];
};

enum numa_class {
	NODES_MEMORY,            /* every node with memory */
	NODES_DAX_KMEM,          /* kmem DAX nodes */
	NODES_HBW,               /* high-bandwidth nodes */
	NODES_REGULAR,           /* memory nodes neither kmem DAX nor HBW */
	NODES_HIGHEST_CAPACITY,  /* the memory nodes of the largest MemTotal */
	NODES_LOWEST_LATENCY,    /* the memory nodes of the lowest HMAT read latency */
	NODES_HIGHEST_BANDWIDTH, /* the memory nodes of the highest HMAT read bandwidth */
};

/* The nodes of class c into *s; their number (0: none here, message set saying why). */
unsigned numa_nodes(enum numa_class c, struct nodeset *s);

/* The node of s nearest (by the distance table) to the node of the calling CPU, or -1. */
int numa_nearest(const struct nodeset *s);

/* Whether node n is in s. */
static inline bool
nodeset_has(const struct nodeset *s, unsigned n)
{
	return n < NUMA_MAX_NODES && ((s->bits[n / 64] >> (n % 64)) & 1);
}

/* mbind(2) of [addr, addr + len) to s with mode MPOL_BIND, MPOL_PREFERRED or
 * MPOL_INTERLEAVE; 0 or -1 + errno + message. */
int numa_bind(void *addr, size_t len, int mode, const struct nodeset *s);

#endif
