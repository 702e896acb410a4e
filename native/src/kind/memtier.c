/*
 * memtier.c -- tiering over kinds: which kind each allocation goes to, and the
 * bytes each kind holds through it (kind_account)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "kind/kind.h"
#include "memkind_memtier.h"

#define MAX_TIERS 8

struct threshold {
	size_t val, min, max;            /* sizes below val go to the lower tier */
};

struct tiers {
	memtier_policy_t policy;
	unsigned n;
	memkind_t kind[MAX_TIERS];
	unsigned ratio[MAX_TIERS];
	struct threshold th[MAX_TIERS - 1];
	unsigned check_cnt;              /* allocations between threshold moves */
	float trigger;                   /* ratio error that moves a threshold */
	float degree;                    /* how far it moves, as a fraction */
};

struct memtier_builder {
	struct tiers t;
};

struct memtier_memory {
	struct tiers t;
	_Atomic unsigned long count;     /* allocations, for the threshold checks */
	pthread_mutex_t adjust;          /* one thread moves thresholds at a time */
	_Atomic size_t th_val[MAX_TIERS - 1];
};

API struct memtier_builder *
memtier_builder_new(memtier_policy_t policy)
{
	if ((unsigned)policy >= MEMTIER_POLICY_MAX_VALUE) {
		errmsg_set(EINVAL, "memtier_builder_new: unknown policy %d", (int)policy);
		return NULL;
	}
	struct memtier_builder *b = calloc(1, sizeof(*b));
	if (!b) {
		errmsg_set(ENOMEM, "memtier_builder_new: no memory");
		return NULL;
	}
	b->t.policy = policy;
	for (unsigned i = 0; i < MAX_TIERS - 1; i++)    /* memkind's defaults */
		b->t.th[i] = (struct threshold){ .val = 1024, .min = 513, .max = 1536 };
	b->t.check_cnt = 20;
	b->t.trigger = 0.02f;
	b->t.degree = 0.15f;
	return b;
}

API void
memtier_builder_delete(struct memtier_builder *builder)
{
	free(builder);
}

API int
memtier_builder_add_tier(struct memtier_builder *builder, memkind_t kind, unsigned kind_ratio)
{
	if (!builder || !kind_valid(kind) || kind_ratio == 0) {
		errmsg_set(EINVAL, "memtier_builder_add_tier: %s", !builder ? "no builder"
				: !kind_valid(kind) ? "not a kind" : "a ratio must be at least 1");
		return -1;
	}
	for (unsigned i = 0; i < builder->t.n; i++)
		if (builder->t.kind[i] == kind) {
			errmsg_set(EINVAL, "memtier_builder_add_tier: the kind is a tier already");
			return -1;
		}
	if (builder->t.n == MAX_TIERS) {
		errmsg_set(EINVAL, "memtier_builder_add_tier: at most %d tiers", MAX_TIERS);
		return -1;
	}
	builder->t.kind[builder->t.n] = kind;
	builder->t.ratio[builder->t.n++] = kind_ratio;
	return 0;
}

API int
memtier_ctl_set(struct memtier_builder *builder, const char *name, const void *val)
{
	static const char pre[] = "policy.dynamic_threshold.";
	if (!builder || !name || !val || strncmp(name, pre, sizeof(pre) - 1) != 0) {
		errmsg_set(EINVAL, "memtier_ctl_set: unknown setting %s", name ? name : "(null)");
		return -1;
	}
	const char *key = name + sizeof(pre) - 1;
	unsigned id;
	char field[8];
	int used = 0;
	if (!strcmp(key, "check_cnt")) {
		builder->t.check_cnt = MAX(*(const unsigned *)val, 1u);
	} else if (!strcmp(key, "trigger")) {
		builder->t.trigger = *(const float *)val;
	} else if (!strcmp(key, "degree")) {
		builder->t.degree = *(const float *)val;
	} else if (sscanf(key, "thresholds[%u].%7[a-z]%n", &id, field, &used) == 2
			&& key[used] == '\0' && id < MAX_TIERS - 1) {
		size_t v = *(const size_t *)val;
		struct threshold *th = &builder->t.th[id];
		if (!strcmp(field, "val"))
			th->val = v;
		else if (!strcmp(field, "min"))
			th->min = v;
		else if (!strcmp(field, "max"))
			th->max = v;
		else
			used = -1;
	} else {
		used = -1;
	}
	if (used < 0) {
		errmsg_set(EINVAL, "memtier_ctl_set: unknown setting %s", name);
		return -1;
	}
	return 0;
}

API struct memtier_memory *
memtier_builder_construct_memtier_memory(struct memtier_builder *builder)
{
	if (!builder || builder->t.n == 0) {
		errmsg_set(EINVAL, "memtier: %s", builder ? "no tier was added" : "no builder");
		return NULL;
	}
	const struct tiers *t = &builder->t;
	if (t->policy == MEMTIER_POLICY_DYNAMIC_THRESHOLD) {
		if (t->n < 2) {
			errmsg_set(EINVAL, "memtier: the dynamic threshold policy needs two tiers");
			return NULL;
		}
		for (unsigned i = 0; i + 1 < t->n; i++) {
			const struct threshold *th = &t->th[i];
			bool above = i && th->min <= t->th[i - 1].max;
			if (th->min > th->val || th->val > th->max || above) {
				errmsg_set(EINVAL, "memtier: threshold %u needs min <= val <= max "
						"above the previous one's max", i);
				return NULL;
			}
		}
	}
	struct memtier_memory *m = calloc(1, sizeof(*m));
	if (!m) {
		errmsg_set(ENOMEM, "memtier: no memory");
		return NULL;
	}
	m->t = *t;
	pthread_mutex_init(&m->adjust, NULL);
	for (unsigned i = 0; i + 1 < t->n; i++)
		atomic_init(&m->th_val[i], t->th[i].val);
	return m;
}

API void
memtier_delete_memtier_memory(struct memtier_memory *memory)
{
	if (memory) {
		pthread_mutex_destroy(&memory->adjust);
		free(memory);
	}
}

/* ---- where an allocation goes ------------------------------------------- */

/* by_ratio -- the tier furthest below its share: least bytes per unit of ratio */
static memkind_t
by_ratio(const struct tiers *t)
{
	unsigned best = 0;
	long double best_load = 0;
	for (unsigned i = 0; i < t->n; i++) {
		long double load = (long double)MAX(kind_accounted(t->kind[i]), 0LL) / t->ratio[i];
		if (i == 0 || load < best_load) {
			best = i;
			best_load = load;
		}
	}
	return t->kind[best];
}

/* adjust -- every check_cnt allocations, move each threshold a step toward the
 * ratio of its two tiers: up when the lower tier holds too little, down when too
 * much, within [min, max] */
static void
adjust(struct memtier_memory *m)
{
	if (pthread_mutex_trylock(&m->adjust) != 0)
		return;
	const struct tiers *t = &m->t;
	for (unsigned i = 0; i + 1 < t->n; i++) {
		long double lo = (long double)MAX(kind_accounted(t->kind[i]), 0LL);
		long double hi = (long double)MAX(kind_accounted(t->kind[i + 1]), 0LL);
		long double want = (long double)t->ratio[i] / t->ratio[i + 1];
		long double have = hi > 0 ? lo / hi : want;
		size_t v = atomic_load(&m->th_val[i]);
		size_t step = MAX((size_t)((long double)v * t->degree), (size_t)1);
		if (have < want * (1 - t->trigger))
			v = MIN(v + step, t->th[i].max);
		else if (have > want * (1 + t->trigger))
			v = v > step ? MAX(v - step, t->th[i].min) : t->th[i].min;
		atomic_store(&m->th_val[i], v);
	}
	pthread_mutex_unlock(&m->adjust);
}

static memkind_t
by_threshold(struct memtier_memory *m, size_t size)
{
	unsigned long c = atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
	if ((c + 1) % m->t.check_cnt == 0)
		adjust(m);
	unsigned i = 0;
	while (i + 1 < m->t.n && size >= atomic_load_explicit(&m->th_val[i], memory_order_relaxed))
		i++;
	return m->t.kind[i];
}

static memkind_t
pick(struct memtier_memory *m, size_t size)
{
	if (!m) {
		errmsg_set(EINVAL, "memtier: no memtier_memory");
		return NULL;
	}
	return m->t.policy == MEMTIER_POLICY_STATIC_RATIO ? by_ratio(&m->t) : by_threshold(m, size);
}

/* counted -- account for a new block p of kind */
static void *
counted(memkind_t kind, void *p)
{
	if (p)
		kind_account(kind, (long long)memkind_malloc_usable_size(kind, p));
	return p;
}

/* ---- one kind, counted --------------------------------------------------- */

API void *
memtier_kind_malloc(memkind_t kind, size_t size)
{
	return counted(kind, memkind_malloc(kind, size));
}

API void *
memtier_kind_calloc(memkind_t kind, size_t num, size_t size)
{
	return counted(kind, memkind_calloc(kind, num, size));
}

API int
memtier_kind_posix_memalign(memkind_t kind, void **memptr, size_t alignment, size_t size)
{
	int err = memkind_posix_memalign(kind, memptr, alignment, size);
	if (!err && *memptr)
		counted(kind, *memptr);
	return err;
}

API void
memtier_kind_free(memkind_t kind, void *ptr)
{
	if (!ptr)
		return;
	memkind_t owner = memkind_detect_kind(ptr);
	if (!owner) {
		errmsg_set(EINVAL, "memtier_free of %p: no kind allocated it", ptr);
		return;
	}
	(void)kind;
	kind_account(owner, -(long long)memkind_malloc_usable_size(owner, ptr));
	memkind_free(owner, ptr);
}

API void *
memtier_kind_realloc(memkind_t kind, void *ptr, size_t size)
{
	if (!ptr)
		return memtier_kind_malloc(kind, size);
	memkind_t owner = memkind_detect_kind(ptr);
	if (!owner) {
		errmsg_set(EINVAL, "memtier_realloc of %p: no kind allocated it", ptr);
		errno = EINVAL;
		return NULL;
	}
	if (!size) {
		memtier_kind_free(owner, ptr);
		return NULL;
	}
	memkind_t dest = kind ? kind : owner;
	size_t old = memkind_malloc_usable_size(owner, ptr);
	void *q = memkind_realloc(dest, ptr, size);
	if (q) {
		kind_account(owner, -(long long)old);
		counted(dest, q);
	}
	return q;
}

API size_t
memtier_usable_size(void *ptr)
{
	return memkind_malloc_usable_size(NULL, ptr);
}

API size_t
memtier_kind_allocated_size(memkind_t kind)
{
	return kind_valid(kind) ? (size_t)MAX(kind_accounted(kind), 0LL) : 0;
}

/* ---- across the tiers ---------------------------------------------------- */

API void *
memtier_malloc(struct memtier_memory *memory, size_t size)
{
	memkind_t k = pick(memory, size);
	return k ? memtier_kind_malloc(k, size) : NULL;
}

API void *
memtier_calloc(struct memtier_memory *memory, size_t num, size_t size)
{
	size_t total;
	memkind_t k = pick(memory, __builtin_mul_overflow(num, size, &total) ? SIZE_MAX : total);
	return k ? memtier_kind_calloc(k, num, size) : NULL;
}

API void *
memtier_realloc(struct memtier_memory *memory, void *ptr, size_t size)
{
	if (!ptr)
		return memtier_malloc(memory, size);
	return memtier_kind_realloc(NULL, ptr, size);   /* stays in its tier */
}

API int
memtier_posix_memalign(struct memtier_memory *memory, void **memptr, size_t alignment,
		size_t size)
{
	memkind_t k = pick(memory, size);
	if (!k)
		return EINVAL;
	return memtier_kind_posix_memalign(k, memptr, alignment, size);
}
