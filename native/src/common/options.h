/*
 * options.h -- the one table of settings read from the environment
 *
 * Every PMALLOC_*, VMMALLOC_* and PMEM_* variable is named here once, with its
 * parser, its default and what a bad value means. The table is read once, at
 * first use (the shim's constructor, the library's load), and the values are
 * resolved then: the pool directory a default pool goes to, the default pool
 * size. pmalloc_settings() shows the same values to Python and the CLI.
 *
 * Glossary: strict = a bad value is refused (the shim stops at start, the
 * library fails with EINVAL where the setting is used); lenient = a bad value is
 * ignored and the default applies (PMDK's rule for its PMEM_* switches); alias =
 * the libvmmalloc name, read when ours is unset.
 */
#ifndef PMALLOC_OPTIONS_H
#define PMALLOC_OPTIONS_H

#include <stddef.h>

enum option_id {
	OPT_POOL_DIR,          /* PMALLOC_POOL_DIR: where default pools go */
	OPT_POOL_SIZE,         /* PMALLOC_POOL_SIZE: the shim's pool */
	OPT_FORK,              /* PMALLOC_FORK: 0 (unset) auto, 1 remap, 2/3 copy */
	OPT_DECAY_MS,          /* PMALLOC_DECAY_MS: how long dirty pages wait */
	OPT_FALLBACK,          /* PMALLOC_FALLBACK: the shim falls back to libc when full */
	OPT_STATS,             /* PMALLOC_STATS: the shim prints statistics at exit */
	OPT_BACKGROUND,        /* PMALLOC_BACKGROUND: the shim purges from a thread too */
	OPT_IS_PMEM_FORCE,     /* PMEM_IS_PMEM_FORCE */
	OPT_NO_CLWB,           /* PMEM_NO_CLWB */
	OPT_NO_CLFLUSHOPT,     /* PMEM_NO_CLFLUSHOPT */
	OPT_NO_FLUSH,          /* PMEM_NO_FLUSH */
	OPT_NO_MOVNT,          /* PMEM_NO_MOVNT */
	OPT_AVX,               /* PMEM_AVX */
	OPT_AVX512F,           /* PMEM_AVX512F */
	OPT_MOVNT_THRESHOLD,   /* PMEM_MOVNT_THRESHOLD */
	OPT_HBW_NODES,         /* MEMKIND_HBW_NODES: the high-bandwidth NUMA nodes, e.g. 1,3-4 */
	OPT_TIERS,             /* PMALLOC_TIERS: the tier preload's tiers, e.g. DRAM:1,PMEM:4 */
	OPT_COUNT
};

#define OPTIONS_DECAY_MS_MAX (1LL << 40)

/* A setting's value: a number (a switch: 1, 0, or -1 when unset), the default when
 * unset or (lenient) bad. */
long long options_num(enum option_id id);

/* A setting's value as text: the directory of OPT_POOL_DIR, the text of a node
 * list or of the tiers ("" when unset), else the number. */
const char *options_str(enum option_id id);

/* 0 when the setting is unset or good; else -1, EINVAL and the message
 * "NAME=VALUE: what is expected" (the shim prints it and stops). */
int options_check(enum option_id id);

/* Read the environment again (for a program that sets it after start; not while
 * other threads create pools). */
void options_reload(void);

/* What a row of pmalloc_settings() shows of setting id. */
struct options_row {
	const char *name, *alias, *value, *raw, *from, *error, *help;
	int strict;
};
void options_describe(enum option_id id, struct options_row *row);

/* "64M", "1G", "4096": digits with an optional K/M/G/T (powers of 1024), an
 * optional "i" and "B"; 0, or -1 + EINVAL. */
int options_parse_size(const char *s, size_t *out);

#endif
