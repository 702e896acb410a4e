/*
 * kind.c -- kinds: the static kinds on NUMA-bound anonymous memory (or huge
 * pages), the registry of every kind's heap, availability, detection, statistics
 * and error texts (pmem kinds: pmem_kind.c; the malloc family: kind_alloc.c)
 *
 * A kind is a heap of the one allocator; nothing here allocates. Static kinds
 * make their heap at first use (a failure is kept: the machine will not grow the
 * memory it lacked).
 */
#include <errno.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/region.h"
#include "alloc/stats.h"
#include "common/errmsg.h"
#include "common/options.h"
#include "kind/kind.h"
#include "kind/numa.h"
#include "memkind.h"
#include "pmalloc.h"

#define KIND_VERSION (1 * 1000000 + 14 * 1000 + 0)    /* memkind 1.14's API */
#define HUGE_2M ((size_t)2 << 20)

/* How a static kind picks and binds its NUMA nodes. */
enum pick {
	PICK_NONE,        /* no binding */
	PICK_NEAREST,     /* bind to the class's node nearest the CPU */
	PICK_ALL,         /* bind to every node of the class */
	PICK_PREFERRED,   /* prefer the nearest, fall back to any memory */
	PICK_INTERLEAVE,  /* interleave over the class */
};

struct kind_spec {
	const char *name;
	enum numa_class nodes;
	enum pick pick;
	bool hugetlb;
};

enum {
	K_DEFAULT, K_REGULAR, K_HUGETLB, K_INTERLEAVE,
	K_DAX_KMEM, K_DAX_KMEM_ALL, K_DAX_KMEM_PREFERRED, K_DAX_KMEM_INTERLEAVE,
	K_HBW, K_HBW_ALL, K_HBW_PREFERRED, K_HBW_INTERLEAVE,
	K_HBW_HUGETLB, K_HBW_ALL_HUGETLB, K_HBW_PREFERRED_HUGETLB,
	K_HIGHEST_CAPACITY, K_HIGHEST_CAPACITY_PREFERRED,
	K_HIGHEST_CAPACITY_LOCAL, K_HIGHEST_CAPACITY_LOCAL_PREFERRED,
	K_LOWEST_LATENCY_LOCAL, K_LOWEST_LATENCY_LOCAL_PREFERRED,
	K_HIGHEST_BANDWIDTH_LOCAL, K_HIGHEST_BANDWIDTH_LOCAL_PREFERRED,
	K_STATIC,         /* count; pmem kinds come after */
};

static const struct kind_spec specs[K_STATIC] = {
	[K_DEFAULT] = { "memkind_default", NODES_MEMORY, PICK_NONE, false },
	[K_REGULAR] = { "memkind_regular", NODES_REGULAR, PICK_ALL, false },
	[K_HUGETLB] = { "memkind_hugetlb", NODES_MEMORY, PICK_NONE, true },
	[K_INTERLEAVE] = { "memkind_interleave", NODES_MEMORY, PICK_INTERLEAVE, false },
	[K_DAX_KMEM] = { "memkind_dax_kmem", NODES_DAX_KMEM, PICK_NEAREST, false },
	[K_DAX_KMEM_ALL] = { "memkind_dax_kmem_all", NODES_DAX_KMEM, PICK_ALL, false },
	[K_DAX_KMEM_PREFERRED] = { "memkind_dax_kmem_preferred", NODES_DAX_KMEM,
		PICK_PREFERRED, false },
	[K_DAX_KMEM_INTERLEAVE] = { "memkind_dax_kmem_interleave", NODES_DAX_KMEM,
		PICK_INTERLEAVE, false },
	[K_HBW] = { "memkind_hbw", NODES_HBW, PICK_NEAREST, false },
	[K_HBW_ALL] = { "memkind_hbw_all", NODES_HBW, PICK_ALL, false },
	[K_HBW_PREFERRED] = { "memkind_hbw_preferred", NODES_HBW, PICK_PREFERRED, false },
	[K_HBW_INTERLEAVE] = { "memkind_hbw_interleave", NODES_HBW, PICK_INTERLEAVE, false },
	[K_HBW_HUGETLB] = { "memkind_hbw_hugetlb", NODES_HBW, PICK_NEAREST, true },
	[K_HBW_ALL_HUGETLB] = { "memkind_hbw_all_hugetlb", NODES_HBW, PICK_ALL, true },
	[K_HBW_PREFERRED_HUGETLB] = { "memkind_hbw_preferred_hugetlb", NODES_HBW,
		PICK_PREFERRED, true },
	[K_HIGHEST_CAPACITY] = { "memkind_highest_capacity", NODES_HIGHEST_CAPACITY,
		PICK_ALL, false },
	[K_HIGHEST_CAPACITY_PREFERRED] = { "memkind_highest_capacity_preferred",
		NODES_HIGHEST_CAPACITY, PICK_PREFERRED, false },
	[K_HIGHEST_CAPACITY_LOCAL] = { "memkind_highest_capacity_local",
		NODES_HIGHEST_CAPACITY, PICK_NEAREST, false },
	[K_HIGHEST_CAPACITY_LOCAL_PREFERRED] = { "memkind_highest_capacity_local_preferred",
		NODES_HIGHEST_CAPACITY, PICK_PREFERRED, false },
	[K_LOWEST_LATENCY_LOCAL] = { "memkind_lowest_latency_local", NODES_LOWEST_LATENCY,
		PICK_NEAREST, false },
	[K_LOWEST_LATENCY_LOCAL_PREFERRED] = { "memkind_lowest_latency_local_preferred",
		NODES_LOWEST_LATENCY, PICK_PREFERRED, false },
	[K_HIGHEST_BANDWIDTH_LOCAL] = { "memkind_highest_bandwidth_local",
		NODES_HIGHEST_BANDWIDTH, PICK_NEAREST, false },
	[K_HIGHEST_BANDWIDTH_LOCAL_PREFERRED] = { "memkind_highest_bandwidth_local_preferred",
		NODES_HIGHEST_BANDWIDTH, PICK_PREFERRED, false },
};

#define STATIC_KIND(i) { .magic = KIND_MAGIC, .index = (i) }
static struct memkind statics[K_STATIC] = {
	STATIC_KIND(0), STATIC_KIND(1), STATIC_KIND(2), STATIC_KIND(3), STATIC_KIND(4),
	STATIC_KIND(5), STATIC_KIND(6), STATIC_KIND(7), STATIC_KIND(8), STATIC_KIND(9),
	STATIC_KIND(10), STATIC_KIND(11), STATIC_KIND(12), STATIC_KIND(13), STATIC_KIND(14),
	STATIC_KIND(15), STATIC_KIND(16), STATIC_KIND(17), STATIC_KIND(18), STATIC_KIND(19),
	STATIC_KIND(20), STATIC_KIND(21), STATIC_KIND(22),
};
_Static_assert(K_STATIC == 23 && K_STATIC == KIND_STATIC, "one initializer per static kind");

API memkind_t MEMKIND_DEFAULT = &statics[K_DEFAULT];
API memkind_t MEMKIND_REGULAR = &statics[K_REGULAR];
API memkind_t MEMKIND_HUGETLB = &statics[K_HUGETLB];
API memkind_t MEMKIND_INTERLEAVE = &statics[K_INTERLEAVE];
API memkind_t MEMKIND_DAX_KMEM = &statics[K_DAX_KMEM];
API memkind_t MEMKIND_DAX_KMEM_ALL = &statics[K_DAX_KMEM_ALL];
API memkind_t MEMKIND_DAX_KMEM_PREFERRED = &statics[K_DAX_KMEM_PREFERRED];
API memkind_t MEMKIND_DAX_KMEM_INTERLEAVE = &statics[K_DAX_KMEM_INTERLEAVE];
API memkind_t MEMKIND_HBW = &statics[K_HBW];
API memkind_t MEMKIND_HBW_ALL = &statics[K_HBW_ALL];
API memkind_t MEMKIND_HBW_PREFERRED = &statics[K_HBW_PREFERRED];
API memkind_t MEMKIND_HBW_INTERLEAVE = &statics[K_HBW_INTERLEAVE];
API memkind_t MEMKIND_HBW_HUGETLB = &statics[K_HBW_HUGETLB];
API memkind_t MEMKIND_HBW_ALL_HUGETLB = &statics[K_HBW_ALL_HUGETLB];
API memkind_t MEMKIND_HBW_PREFERRED_HUGETLB = &statics[K_HBW_PREFERRED_HUGETLB];
API memkind_t MEMKIND_HIGHEST_CAPACITY = &statics[K_HIGHEST_CAPACITY];
API memkind_t MEMKIND_HIGHEST_CAPACITY_PREFERRED = &statics[K_HIGHEST_CAPACITY_PREFERRED];
API memkind_t MEMKIND_HIGHEST_CAPACITY_LOCAL = &statics[K_HIGHEST_CAPACITY_LOCAL];
API memkind_t MEMKIND_HIGHEST_CAPACITY_LOCAL_PREFERRED =
	&statics[K_HIGHEST_CAPACITY_LOCAL_PREFERRED];
API memkind_t MEMKIND_LOWEST_LATENCY_LOCAL = &statics[K_LOWEST_LATENCY_LOCAL];
API memkind_t MEMKIND_LOWEST_LATENCY_LOCAL_PREFERRED =
	&statics[K_LOWEST_LATENCY_LOCAL_PREFERRED];
API memkind_t MEMKIND_HIGHEST_BANDWIDTH_LOCAL = &statics[K_HIGHEST_BANDWIDTH_LOCAL];
API memkind_t MEMKIND_HIGHEST_BANDWIDTH_LOCAL_PREFERRED =
	&statics[K_HIGHEST_BANDWIDTH_LOCAL_PREFERRED];

/* Every kind with a heap, by heap id (for detection), and the pmem kinds' count.
 * Entries change under `registry`; lookups read them without it. */
static struct memkind *_Atomic by_heap[HEAP_MAX_IDS + 1];
static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static unsigned pmem_kinds;

/* ---- errors -------------------------------------------------------------- */

int
kind_invalid(const char *what)
{
	errmsg_set(EINVAL, "%s", what);
	return MEMKIND_ERROR_INVALID;
}

API void
memkind_error_message(int err, char *msg, size_t size)
{
	static const struct { int code; const char *text; } texts[] = {
		{ MEMKIND_SUCCESS, "success" },
		{ MEMKIND_ERROR_UNAVAILABLE, "the memory this kind needs is not on this machine" },
		{ MEMKIND_ERROR_MBIND, "binding the memory to its NUMA nodes failed (mbind)" },
		{ MEMKIND_ERROR_MMAP, "mapping the kind's memory failed (mmap)" },
		{ MEMKIND_ERROR_MALLOC, "out of memory" },
		{ MEMKIND_ERROR_ENVIRON, "a MEMKIND_* environment variable has a bad value" },
		{ MEMKIND_ERROR_INVALID, "invalid argument" },
		{ MEMKIND_ERROR_TOOMANY, "too many kinds: at most MEMKIND_MAX_KIND at once" },
		{ MEMKIND_ERROR_BADOPS, "bad kind operations" },
		{ MEMKIND_ERROR_HUGETLB, "no 2 MiB huge pages are reserved (see vm.nr_hugepages)" },
		{ MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE, "the memory type is not available" },
		{ MEMKIND_ERROR_OPERATION_FAILED, "the operation failed" },
		{ MEMKIND_ERROR_ARENAS_CREATE, "creating the kind's heap failed" },
		{ MEMKIND_ERROR_RUNTIME, "run-time error" },
	};
	if (!msg || !size)
		return;
	const char *text = NULL;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (texts[i].code == err)
			text = texts[i].text;
	if (text)
		snprintf(msg, size, "<memkind> %s", text);
	else
		snprintf(msg, size, "<memkind> unknown error code %d", err);
}

/* ---- heaps of kinds ------------------------------------------------------ */

static void
attach(struct memkind *k, struct heap *h)
{
	atomic_store_explicit(&by_heap[h->id], k, memory_order_release);
	atomic_store_explicit(&k->heap, h, memory_order_release);
}

bool
kind_add_pmem(struct memkind *k, struct heap *h)
{
	pthread_mutex_lock(&registry);
	bool room = pmem_kinds + K_STATIC < MEMKIND_MAX_KIND;
	if (room) {
		attach(k, h);
		pmem_kinds++;
	}
	pthread_mutex_unlock(&registry);
	return room;
}

struct heap *
kind_remove_pmem(struct memkind *k)
{
	pthread_mutex_lock(&registry);
	struct heap *h = atomic_load(&k->heap);
	atomic_store(&by_heap[h->id], NULL);
	k->magic = 0;
	pmem_kinds--;
	pthread_mutex_unlock(&registry);
	return h;
}

/* anon_size -- a static kind's reservation: as much as memory and swap, so one
 * kind can hold everything (address space only; pages come on use) */
static size_t
anon_size(void)
{
	size_t mem = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
	return ALIGN_UP(MAX(mem * 2, (size_t)1 << 30), HUGE_2M);
}

/* huge_free -- 2 MiB huge pages free in the reserved pool */
static size_t
huge_free(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "re");
	unsigned long n = 0;
	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}

/* env_error -- whether the kind depends on a MEMKIND_* variable with a bad value
 * (then the message says which) */
static bool
env_error(const struct kind_spec *s)
{
	return (s->nodes == NODES_HBW || s->nodes == NODES_REGULAR)
		&& options_check(OPT_HBW_NODES) != 0;
}

/* static_region -- the memory of static kind i, bound to its nodes; 0, or a
 * MEMKIND_ERROR_* with the message set */
static int
static_region(int i, struct region *r)
{
	const struct kind_spec *s = &specs[i];
	if (env_error(s))
		return MEMKIND_ERROR_ENVIRON;
	struct nodeset nodes;
	bool have = numa_nodes(s->nodes, &nodes) > 0;
	if (!have && s->pick != PICK_PREFERRED && s->pick != PICK_NONE) {
		char why[200];
		snprintf(why, sizeof(why), "%s", errmsg_get());
		errmsg_set(ENODEV, "%s is unavailable: %s", s->name, why);
		return MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE;
	}
	if (s->hugetlb) {
		size_t pages = huge_free();
		if (!pages) {
			errmsg_set(ENOMEM, "%s: no 2 MiB huge pages are free; reserve some as root, "
					"e.g. `sysctl vm.nr_hugepages=512` (1 GiB)", s->name);
			return MEMKIND_ERROR_HUGETLB;
		}
		if (region_create_hugetlb(r, pages * HUGE_2M) != 0)
			return MEMKIND_ERROR_HUGETLB;
	} else if (region_create_anon(r, anon_size()) != 0) {
		return MEMKIND_ERROR_MMAP;
	}
	int mode = -1;
	struct nodeset one = { { 0 } };
	int near = have ? numa_nearest(&nodes) : -1;
	if (near >= 0)
		one.bits[near / 64] |= UINT64_C(1) << (near % 64);
	switch (s->pick) {
	case PICK_NONE:
		break;
	case PICK_NEAREST:
		mode = MPOL_BIND;
		nodes = one;
		break;
	case PICK_ALL:
		mode = MPOL_BIND;
		break;
	case PICK_PREFERRED:
		if (have) {
			mode = MPOL_PREFERRED;
			nodes = one;
		}
		break;
	case PICK_INTERLEAVE:
		mode = MPOL_INTERLEAVE;
		break;
	}
	if (mode >= 0 && numa_bind(r->base, r->size, mode, &nodes) != 0) {
		region_destroy(r);
		return MEMKIND_ERROR_MBIND;
	}
	return 0;
}

struct heap *
kind_static_heap(struct memkind *k)
{
	pthread_mutex_lock(&registry);
	struct heap *h = atomic_load(&k->heap);
	if (!h && !k->error) {
		struct region r;
		int code = static_region(k->index, &r);
		if (!code) {
			h = heap_create(&r);
			if (h) {
				attach(k, h);
			} else {
				code = MEMKIND_ERROR_ARENAS_CREATE;
				region_destroy(&r);
			}
		}
		if (code) {
			k->error = code;
			snprintf(k->why, sizeof(k->why), "%s", errmsg_get());
		}
	}
	pthread_mutex_unlock(&registry);
	if (!h)
		errmsg_set(k->error == MEMKIND_ERROR_MMAP ? ENOMEM : ENODEV, "%s", k->why);
	return h;
}

struct memkind *
kind_of_heap(const struct heap *h)
{
	return h ? atomic_load_explicit(&by_heap[h->id], memory_order_acquire) : NULL;
}

void
kind_account(memkind_t kind, long long delta)
{
	atomic_fetch_add_explicit(&kind->tiered, delta, memory_order_relaxed);
}

long long
kind_accounted(memkind_t kind)
{
	return atomic_load_explicit(&kind->tiered, memory_order_relaxed);
}

bool
kind_valid(memkind_t kind)
{
	return kind && kind->magic == KIND_MAGIC;
}

API int
memkind_check_available(memkind_t kind)
{
	if (!kind || kind->magic != KIND_MAGIC)
		return kind_invalid("memkind_check_available: not a kind");
	if (kind->index < K_STATIC) {
		const struct kind_spec *s = &specs[kind->index];
		if (env_error(s))
			return MEMKIND_ERROR_ENVIRON;
		struct nodeset nodes;
		if (s->pick != PICK_NONE && numa_nodes(s->nodes, &nodes) == 0)
			return MEMKIND_ERROR_MEMTYPE_NOT_AVAILABLE;
		if (s->hugetlb && !atomic_load(&kind->heap) && !huge_free()) {
			errmsg_set(ENOMEM, "%s: no 2 MiB huge pages are free; reserve some as root, "
					"e.g. `sysctl vm.nr_hugepages=512`", s->name);
			return MEMKIND_ERROR_HUGETLB;
		}
		if (kind->error) {
			errmsg_set(ENODEV, "%s", kind->why);
			return kind->error;
		}
	}
	return 0;
}

API VMEM *
pmalloc_kind_pool(memkind_t kind)
{
	return (VMEM *)(void *)kind_heap(kind);
}

API memkind_t
memkind_detect_kind(void *ptr)
{
	return ptr ? kind_of_heap(heap_of(ptr)) : NULL;
}

API int
memkind_get_version(void)
{
	return KIND_VERSION;
}

API int
memkind_set_bg_threads(bool state)
{
	(void)state;   /* pmem kinds always have the purger; static kinds decay on calls */
	return 0;
}

/* ---- statistics ---------------------------------------------------------- */

API int
memkind_update_cached_stats(void)
{
	pthread_mutex_lock(&registry);
	for (unsigned id = 1; id <= HEAP_MAX_IDS; id++) {
		struct memkind *k = atomic_load(&by_heap[id]);
		if (k)
			stats_get(atomic_load(&k->heap), &k->cached);
	}
	pthread_mutex_unlock(&registry);
	return 0;
}

static size_t
stat_of(const struct pmalloc_stats *st, memkind_stat_type stat)
{
	switch (stat) {
	case MEMKIND_STAT_TYPE_RESIDENT:
		return st->resident;
	case MEMKIND_STAT_TYPE_ACTIVE:
		return st->active;
	case MEMKIND_STAT_TYPE_ALLOCATED:
		return st->allocated;
	default:
		return 0;
	}
}

API int
memkind_get_stat(memkind_t kind, memkind_stat_type stat, size_t *value)
{
	if (!value || (unsigned)stat >= MEMKIND_STAT_TYPE_MAX_VALUE)
		return kind_invalid("memkind_get_stat: no value to fill, or an unknown statistic");
	if (kind && kind->magic != KIND_MAGIC)
		return kind_invalid("memkind_get_stat: not a kind");
	size_t sum = 0;
	pthread_mutex_lock(&registry);
	if (kind) {
		sum = stat_of(&kind->cached, stat);
	} else {
		for (unsigned id = 1; id <= HEAP_MAX_IDS; id++) {
			struct memkind *k = atomic_load(&by_heap[id]);
			if (k)
				sum += stat_of(&k->cached, stat);
		}
	}
	pthread_mutex_unlock(&registry);
	*value = sum;
	return 0;
}

