/*
 * offmap.h -- a map from pool offsets (never 0) to indexes: open addressing, linear
 * probing, deletion by backward shift
 *
 * For what a transaction looks up by offset (its new objects, its frees): built only
 * once a transaction holds more than OFFMAP_MIN of them, so small transactions keep
 * their short linear scans and big ones (a batch of thousands of changes) stay linear
 * in time overall.
 */
#ifndef PMALLOC_OBJ_OFFMAP_H
#define PMALLOC_OBJ_OFFMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OFFMAP_MIN 32

struct offmap {
	uint64_t *key;            /* 0: empty */
	size_t *val;
	size_t cap;               /* a power of two, or 0 */
	size_t n;
	bool on;                  /* built: lookups go through it */
};

static inline size_t
offmap_slot(const struct offmap *m, uint64_t k)
{
	return (size_t)((k * UINT64_C(0x9e3779b97f4a7c15)) >> 17) & (m->cap - 1);
}

/* offmap_put -- map k to v (replacing); 0 or -1 (ENOMEM) */
static inline int
offmap_put(struct offmap *m, uint64_t k, size_t v)
{
	if (2 * (m->n + 1) > m->cap) {
		struct offmap g = { .cap = m->cap ? 2 * m->cap : 64, .on = m->on };
		g.key = calloc(g.cap, sizeof(*g.key));
		g.val = malloc(g.cap * sizeof(*g.val));
		if (!g.key || !g.val) {
			free(g.key);
			free(g.val);
			return -1;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->key[i])
				offmap_put(&g, m->key[i], m->val[i]);
		free(m->key);
		free(m->val);
		*m = g;
	}
	size_t i = offmap_slot(m, k);
	while (m->key[i] && m->key[i] != k)
		i = (i + 1) & (m->cap - 1);
	m->n += m->key[i] == 0;
	m->key[i] = k;
	m->val[i] = v;
	return 0;
}

/* offmap_get -- the index k maps to, or -1 */
static inline long
offmap_get(const struct offmap *m, uint64_t k)
{
	if (!m->cap)
		return -1;
	for (size_t i = offmap_slot(m, k); m->key[i]; i = (i + 1) & (m->cap - 1))
		if (m->key[i] == k)
			return (long)m->val[i];
	return -1;
}

/* offmap_del -- forget k (moving later entries of its run back into the gap) */
static inline void
offmap_del(struct offmap *m, uint64_t k)
{
	if (!m->cap)
		return;
	size_t i = offmap_slot(m, k);
	while (m->key[i] && m->key[i] != k)
		i = (i + 1) & (m->cap - 1);
	if (!m->key[i])
		return;
	m->key[i] = 0;
	m->n--;
	for (size_t j = (i + 1) & (m->cap - 1); m->key[j]; j = (j + 1) & (m->cap - 1)) {
		size_t home = offmap_slot(m, m->key[j]);
		/* j's entry may move to the gap i unless its home lies in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->key[i] = m->key[j];
			m->val[i] = m->val[j];
			m->key[j] = 0;
			i = j;
		}
	}
}

/* offmap_reset -- empty and off again (memory kept for the next big transaction) */
static inline void
offmap_reset(struct offmap *m)
{
	if (m->n)
		memset(m->key, 0, m->cap * sizeof(*m->key));
	m->n = 0;
	m->on = false;
}

#endif
