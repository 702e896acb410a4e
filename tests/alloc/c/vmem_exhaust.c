/*
 * vmem_exhaust.c -- fill a pool until it says ENOMEM, free everything, fill it again
 *
 * Usage: vmem_exhaust DIR [same-class|other-class-after-purge|other-class]
 *
 * For objects of one size at a time (small, large and huge), a 32 MiB pool is
 * filled until vmem_malloc returns NULL with errno ENOMEM; calloc and realloc
 * then fail the same way without harm to what is live. Everything is freed in
 * a shuffled order and the pool filled again: the second capacity is at least
 * the first and within 1 % of it. Last, the capacity for large and huge objects
 * comes back whole after the pool was filled with small ones and emptied, with
 * and without a pmalloc_vmem_purge in between.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmem.h>
#include <pmalloc.h>

#include "check.h"

#define POOL_SIZE ((size_t)32 << 20)

struct fill {
	void **ptrs;       /* the objects, in allocation order */
	size_t count;      /* objects allocated before the NULL */
	size_t usable;     /* usable size of one object */
	int err;           /* errno at the NULL */
	const char *msg;   /* vmem_errormsg() at the NULL */
	int overflow;      /* more objects than could fit in the pool */
};

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t
xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned char
tag_of(size_t i)
{
	return (unsigned char)(i * 29u + 1u);
}

/* fill_pool -- vmem_malloc(size) until NULL, touching every object */
static struct fill
fill_pool(VMEM *vmp, size_t size)
{
	struct fill f = { 0 };
	size_t cap = POOL_SIZE / size + 1;
	f.ptrs = calloc(cap + 1, sizeof(void *));
	if (f.ptrs == NULL) {
		perror("calloc");
		exit(2);
	}
	for (;;) {
		errno = 0;
		unsigned char *p = vmem_malloc(vmp, size);
		if (p == NULL) {
			f.err = errno;
			f.msg = vmem_errormsg();
			break;
		}
		if (f.count == cap) {   /* past the pool's size: stop here */
			f.overflow = 1;
			vmem_free(vmp, p);
			break;
		}
		memset(p, tag_of(f.count), size);
		f.ptrs[f.count++] = p;
	}
	if (f.count)
		f.usable = vmem_malloc_usable_size(vmp, f.ptrs[0]);
	return f;
}

enum order {
	SHUFFLED,   /* a random permutation */
	STRIDED,    /* every 7919th object, round and round (7919 is prime) */
};
static const char *const order_names[] = { "shuffled", "strided" };

/* empty_pool -- check each object's first and last byte, then free all in `order` */
static size_t
empty_pool_in(VMEM *vmp, struct fill *f, size_t size, enum order order)
{
	size_t damaged = 0;
	for (size_t i = 0; i < f->count; i++) {
		const unsigned char *p = f->ptrs[i];
		if (p[0] != tag_of(i) || p[size - 1] != tag_of(i))
			damaged++;
	}
	size_t n = f->count;
	if (order == STRIDED && n % 7919 == 0)
		order = SHUFFLED;   /* the stride would not reach every object */
	if (order == SHUFFLED) {
		for (size_t i = n; i > 1; i--) {
			size_t j = (size_t)(xorshift() % i);
			void *t = f->ptrs[i - 1];
			f->ptrs[i - 1] = f->ptrs[j];
			f->ptrs[j] = t;
		}
		for (size_t i = 0; i < n; i++)
			vmem_free(vmp, f->ptrs[i]);
	} else {
		for (size_t i = 0; i < n; i++)
			vmem_free(vmp, f->ptrs[(i * 7919) % n]);
	}
	free(f->ptrs);
	f->ptrs = NULL;
	return damaged;
}

static size_t
empty_pool(VMEM *vmp, struct fill *f, size_t size)
{
	return empty_pool_in(vmp, f, size, SHUFFLED);
}

static void
report(const char *what, size_t size, const struct fill *f)
{
	printf("  %s %zu-byte objects: %zu (usable %zu, %.1f %% of the pool), "
		"then NULL with errno %d (%s): %s\n", what, size, f->count, f->usable,
		100.0 * (double)(f->count * f->usable) / (double)POOL_SIZE, f->err,
		strerror(f->err), f->msg ? f->msg : "(no message)");
}

/* fresh_pool -- a new 32 MiB pool, or NULL after saying why */
static VMEM *
fresh_pool(const char *dir)
{
	VMEM *vmp = vmem_create(dir, POOL_SIZE);
	if (vmp == NULL)
		printf("  vmem_create: expected a pool, saw NULL (errno %d: %s)\n",
			errno, vmem_errormsg());
	return vmp;
}

/* capacity_fresh -- how many objects of `size` a fresh pool holds */
static size_t
capacity_fresh(const char *dir, size_t size)
{
	VMEM *vmp = fresh_pool(dir);
	if (vmp == NULL)
		return 0;
	struct fill f = fill_pool(vmp, size);
	report("fresh pool:", size, &f);
	empty_pool(vmp, &f, size);
	vmem_delete(vmp);
	return f.count;
}

/* same_class -- fill, free all, fill again, one object size per fresh pool */
static void
same_class(const char *dir)
{
	static const size_t sizes[] = {
		100, 3000, 14336,                            /* small */
		100 << 10, (size_t)1 << 20, (size_t)3 << 20, /* large */
		(size_t)5 << 20,                             /* huge */
	};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k];
		char name[64];
		snprintf(name, sizeof(name), "fill-free-fill-%zu", size);
		CHECK_BODY(name) {
			VMEM *vmp = fresh_pool(dir);
			if (vmp == NULL) {
				result = false;
				continue;   /* ends the check */
			}
			struct fill a = fill_pool(vmp, size);
			report("first fill:", size, &a);
			EXPECT(!a.overflow);
			EXPECT_ERRNO(ENOMEM, a.err);
			EXPECT_LE(a.count * a.usable, POOL_SIZE);
			EXPECT_GE(a.count * a.usable, POOL_SIZE / 2);

			/* the other ways in fail alike and harm nothing */
			errno = 0;
			EXPECT(vmem_calloc(vmp, 1, size) == NULL);
			EXPECT_ERRNO(ENOMEM, errno);
			if (a.count) {
				unsigned char *last = a.ptrs[a.count - 1];
				errno = 0;
				EXPECT(vmem_realloc(vmp, last, 2 * size + ((size_t)1 << 20)) == NULL);
				EXPECT_ERRNO(ENOMEM, errno);
				EXPECT_EQ(tag_of(a.count - 1), last[size - 1]);
			}
			EXPECT_EQ(1, vmem_check(vmp));
			EXPECT_EQ(0, empty_pool(vmp, &a, size));
			EXPECT_EQ(1, vmem_check(vmp));

			struct fill b = fill_pool(vmp, size);
			report("second fill:", size, &b);
			EXPECT(!b.overflow);
			EXPECT_ERRNO(ENOMEM, b.err);
			EXPECT_GE(b.count, a.count);
			EXPECT_LE(b.count * 100, a.count * 101);
			EXPECT_EQ(0, empty_pool(vmp, &b, size));
			EXPECT_EQ(1, vmem_check(vmp));
			vmem_delete(vmp);
		}
	}

}

/*
 * other_class -- one pool through sizes in turn: once everything is freed,
 * large and huge objects have the capacity they have in a fresh pool, after
 * an explicit purge or (purge false) with no call at all: objects a thread's
 * cache still holds must not pin the pool.
 */
static void
other_class(const char *dir, bool purge)
{
	static const size_t after[] = { (size_t)1 << 20, (size_t)5 << 20 };
	for (int order = SHUFFLED; order <= STRIDED; order++) {
		for (size_t k = 0; k < 2; k++) {
			size_t big = after[k];
			char name[96];
			snprintf(name, sizeof(name), "capacity-%zu-after-small-objects-%s%s",
				big, order_names[order], purge ? "-and-purge" : "");
			CHECK_BODY(name) {
				size_t fresh = capacity_fresh(dir, big);
				VMEM *vmp = fresh_pool(dir);
				if (vmp == NULL) {
					result = false;
					continue;   /* ends the check */
				}
				static const size_t small[] = { 200, 3000 };
				for (size_t j = 0; j < 2; j++) {
					struct fill s = fill_pool(vmp, small[j]);
					report("then", small[j], &s);
					EXPECT_ERRNO(ENOMEM, s.err);
					EXPECT_EQ(0, empty_pool_in(vmp, &s, small[j],
							(enum order)order));
				}
				if (purge)
					EXPECT_EQ(0, pmalloc_vmem_purge(vmp));
				struct fill l = fill_pool(vmp, big);
				report("after the small ones were freed:", big, &l);
				EXPECT_GE(l.count, fresh);
				EXPECT_EQ(0, empty_pool(vmp, &l, big));
				EXPECT_EQ(1, vmem_check(vmp));
				vmem_delete(vmp);
			}
		}
	}
}

int
main(int argc, char *argv[])
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s DIR [same-class|other-class-after-purge|"
			"other-class]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *part = argc > 2 ? argv[2] : "all";
	bool all = strcmp(part, "all") == 0;
	if (all || strcmp(part, "same-class") == 0)
		same_class(argv[1]);
	if (all || strcmp(part, "other-class-after-purge") == 0)
		other_class(argv[1], true);
	if (all || strcmp(part, "other-class") == 0)
		other_class(argv[1], false);
	return check_summary();
}
