/*
 * objtest.h -- what the libpmemobj test programs share: pool files in the test's
 * directory, object counts, fill patterns
 *
 * The includer defines LAYOUT and sets objtest_dir (argv[1]) before using them.
 */
#ifndef PMALLOC_TEST_OBJTEST_H
#define PMALLOC_TEST_OBJTEST_H

#include <libpmemobj.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static const char *objtest_dir;

/* objtest_dir/name, in a buffer of the caller's */
static inline char *
pool_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", objtest_dir, name);
	return buf;
}

/* A fresh pool of `size` bytes (the file is removed first). */
static inline PMEMobjpool *
fresh_pool(const char *name, size_t size)
{
	char path[4096];
	pool_path(path, sizeof(path), name);
	unlink(path);
	PMEMobjpool *p = pmemobj_create(path, LAYOUT, size, 0600);
	if (p == NULL)
		printf("  cannot create %s: %s\n", path, pmemobj_errormsg());
	return p;
}

/* Close p (if any) and remove its file. */
static inline void
drop_pool(PMEMobjpool *p, const char *name)
{
	char path[4096];
	if (p != NULL)
		pmemobj_close(p);
	unlink(pool_path(path, sizeof(path), name));
}

/* How many objects the pool holds, all types. */
static inline size_t
count_objects(PMEMobjpool *p)
{
	size_t n = 0;
	PMEMoid oid;
	POBJ_FOREACH(p, oid)
		n++;
	return n;
}

/* How many objects of type_num the pool holds. */
static inline size_t
count_type(PMEMobjpool *p, uint64_t type_num)
{
	size_t n = 0;
	PMEMoid oid;
	POBJ_FOREACH(p, oid)
		if (pmemobj_type_num(oid) == type_num)
			n++;
	return n;
}

/* Whether len bytes at p all equal c. */
static inline bool
all_bytes(const void *p, int c, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i++)
		if (b[i] != (unsigned char)c)
			return false;
	return true;
}

/* Byte i of the fill pattern `seed`. */
static inline unsigned char
pattern_byte(uint64_t seed, size_t i)
{
	return (unsigned char)(((seed + i) * 0x9E3779B97F4A7C15u) >> 56);
}

/* Fill len bytes at p with the pattern `seed`. */
static inline void
fill(void *p, uint64_t seed, size_t len)
{
	for (size_t i = 0; i < len; i++)
		((unsigned char *)p)[i] = pattern_byte(seed, i);
}

/* Whether bytes [from, to) of p hold the pattern `seed` (as fill(p, seed, to) left them). */
static inline bool
holds_from(const void *p, uint64_t seed, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (((const unsigned char *)p)[i] != pattern_byte(seed, i))
			return false;
	return true;
}

/* Whether len bytes at p hold the pattern `seed`. */
static inline bool
holds(const void *p, uint64_t seed, size_t len)
{
	return holds_from(p, seed, 0, len);
}

#endif
