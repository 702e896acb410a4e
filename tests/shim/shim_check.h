/*
 * shim_check.h -- helpers shared by the programs under tests/shim
 *
 * fill / holds_fill write and verify a pattern derived from a seed, so an
 * object overwritten by anyone else (another thread, a forked child sharing
 * the pool) is noticed; in_pool tells from /proc/self/maps whether an address
 * lies in a deleted pool file under a directory. Include after check.h.
 */
#ifndef PMALLOC_SHIM_CHECK_H
#define PMALLOC_SHIM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline unsigned char
pattern_byte(unsigned seed, size_t i)
{
	return (unsigned char)(seed * 131u + i * 7u + (i >> 10));
}

static inline void
fill(void *p, size_t n, unsigned seed)
{
	unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		c[i] = pattern_byte(seed, i);
}

static inline bool
holds_fill(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != pattern_byte(seed, i))
			return false;
	return true;
}

/* p lies in a mapping of a deleted file directly under dir (NULL dir: true);
 * otherwise prints the mapping p is in, if any. */
static inline bool
in_pool(const char *dir, const void *p)
{
	if (!dir)
		return true;
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return false;
	char line[4096];
	bool found = false, seen = false;
	uintptr_t a = (uintptr_t)p;
	while (!seen && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		int at = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &at) < 2 || at == 0)
			continue;
		if (a < lo || a >= hi)
			continue;
		seen = true;
		const char *path = line + at;
		size_t n = strlen(dir);
		found = strncmp(path, dir, n) == 0 && path[n] == '/'
			&& strchr(path + n + 1, '/') == NULL && strstr(path, " (deleted)") != NULL;
		if (!found)
			printf("  %p lies outside a pool file under %s: %s", p, dir, line);
	}
	if (!seen)
		printf("  %p: no mapping holds it\n", p);
	fclose(f);
	return found;
}

#endif
