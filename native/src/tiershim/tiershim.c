/*
 * tiershim.c -- libmemtier.so: the malloc family of an unmodified program, spread
 * over tiers of kinds (LD_PRELOAD; pmalloc run --tiers "DRAM:1,PMEM:4")
 *
 * The tiers come from PMALLOC_TIERS (kind/tiers.c gives the grammar); a missing
 * or bad value stops the program with a message before main. Every call forwards
 * to memtier; free and realloc find the tier from the address. Calls made while
 * the tiers are being set up (by the same thread) get bootstrap memory. With
 * PMALLOC_STATS=1 each tier's bytes are printed at exit.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/boot.h"
#include "common/errmsg.h"
#include "common/options.h"
#include "common/util.h"
#include "memkind_memtier.h"
#include "pmalloc.h"

#define TIER_EXPORT __attribute__((visibility("default")))

static struct pmalloc_tiers *tiers;
static _Atomic(struct memtier_memory *) memory;

static void
report(void)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "pmalloc: tiers %s (pid %ld):",
			options_str(OPT_TIERS), (long)getpid());
	memkind_t kind;
	unsigned ratio;
	const char *name;
	for (unsigned i = 0; n > 0 && n < (int)sizeof(line)
			&& (name = pmalloc_tiers_get(tiers, i, &kind, &ratio)) != NULL; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s:%u %zu bytes", name, ratio,
				memtier_kind_allocated_size(kind));
	if (n > 0 && n < (int)sizeof(line) - 1) {
		line[n++] = '\n';
		ssize_t w = write(STDERR_FILENO, line, (size_t)n);
		(void)w;
	}
}

/* start -- set the tiers up, once; false while this thread is doing it */
static bool
start(void)
{
	enum boot_step step = boot_begin();
	if (step != BOOT_RUN)
		return step == BOOT_READY;
	static const enum option_id checked[] = { OPT_POOL_DIR, OPT_DECAY_MS, OPT_STATS,
		OPT_HBW_NODES, OPT_TIERS };
	for (size_t i = 0; i < ARRAY_SIZE(checked); i++)
		if (options_check(checked[i]) != 0)
			boot_die("%s", errmsg_get());
	if (!*options_str(OPT_TIERS))
		boot_die("PMALLOC_TIERS is not set: it names the tiers, e.g. DRAM:1,PMEM:4");
	tiers = pmalloc_tiers_new(options_str(OPT_TIERS));
	if (!tiers)
		boot_die("PMALLOC_TIERS=%s: %s", options_str(OPT_TIERS), errmsg_get());
	if (options_num(OPT_STATS) == 1)
		atexit(report);
	atomic_store_explicit(&memory, pmalloc_tiers_memory(tiers), memory_order_release);
	boot_end();
	return true;
}

__attribute__((constructor)) static void
load(void)
{
	start();
}

/* the tiers, or NULL while this thread sets them up (then: bootstrap memory) */
static inline struct memtier_memory *
tiers_or_boot(void)
{
	struct memtier_memory *m = atomic_load_explicit(&memory, memory_order_acquire);
	return likely(m != NULL) || !start() ? m : atomic_load(&memory);
}

static void *
aligned(size_t align, size_t size)
{
	struct memtier_memory *m = tiers_or_boot();
	if (!m)
		return boot_alloc(size, align);
	void *p = NULL;
	int err = memtier_posix_memalign(m, &p, MAX(align, sizeof(void *)), size ? size : 1);
	if (err)
		errno = err;
	return p;
}

static void *
tier_malloc(size_t size)
{
	struct memtier_memory *m = tiers_or_boot();
	return m ? memtier_malloc(m, size ? size : 1) : boot_alloc(size, 16);
}

static void
tier_free(void *p)
{
	if (p && !is_boot(p))
		memtier_free(p);
}

/* The exported functions call each other only through the static ones (see
 * common/preload_family.h). */
TIER_EXPORT void *
malloc(size_t size)
{
	return tier_malloc(size);
}

TIER_EXPORT void
free(void *p)
{
	tier_free(p);
}

TIER_EXPORT void
cfree(void *p)
{
	tier_free(p);
}

TIER_EXPORT void *
calloc(size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	struct memtier_memory *m = tiers_or_boot();
	if (!m)
		return boot_alloc(total, 16);       /* static memory: already zero */
	return total ? memtier_calloc(m, n, size) : memtier_calloc(m, 1, 1);
}

static void *
preload_realloc(void *p, size_t size)
{
	if (!p)
		return tier_malloc(size);
	if (!is_boot(p)) {
		if (size)
			return memtier_realloc(tiers_or_boot(), p, size);
		tier_free(p);
		return NULL;
	}
	void *q = tier_malloc(size ? size : 1);     /* bootstrap memory moves out */
	if (q)
		memcpy(q, p, MIN(boot_size(p), size));
	return q;
}

TIER_EXPORT void *
realloc(void *p, size_t size)
{
	return preload_realloc(p, size);
}

TIER_EXPORT size_t
malloc_usable_size(void *p)
{
	if (p && is_boot(p))
		return boot_size(p);
	return memtier_usable_size(p);
}

#include "common/preload_family.h"
