/*
 * hold.c -- allocate and keep memory; run out of it
 *
 * Usage: hold keep MIB        allocate MIB MiB (1 MiB blocks and 100-byte
 *                             objects), write every page, print "ready" and
 *                             the first block's address, wait for a line on
 *                             stdin, check the contents and exit 0 holding it
 *        hold exhaust MIB     allocate until malloc returns NULL, expected
 *                             within MIB MiB, with errno ENOMEM; check every
 *                             block, free all, and find at least half the
 *                             room again; exit 0
 *        hold fill MIB        allocate MIB MiB with no NULL on the way (the
 *                             fallback past a small pool); check; exit 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "shim_check.h"

#define BLOCK ((size_t)1 << 20)
#define SMALL 100
#define SMALL_PER_BLOCK 64

struct held {
	unsigned char **blocks;   /* 1 MiB each */
	unsigned char **small;    /* SMALL bytes each */
	size_t nblocks, nsmall;
};

/* Allocate up to mib blocks (and the small objects between them); stops at
 * the first NULL, with *err set to its errno (0 when none). */
static void
take(struct held *h, size_t mib, int *err)
{
	h->blocks = calloc(mib + 1, sizeof(*h->blocks));
	h->small = calloc((mib + 1) * SMALL_PER_BLOCK, sizeof(*h->small));
	h->nblocks = h->nsmall = 0;
	*err = 0;
	if (!h->blocks || !h->small) {
		*err = errno;
		return;
	}
	while (h->nblocks < mib) {
		errno = 0;
		unsigned char *b = malloc(BLOCK);
		if (!b) {
			*err = errno;
			return;
		}
		fill(b, BLOCK, (unsigned)h->nblocks);
		h->blocks[h->nblocks++] = b;
		for (int k = 0; k < SMALL_PER_BLOCK; k++) {
			errno = 0;
			unsigned char *s = malloc(SMALL);
			if (!s) {
				*err = errno;
				return;
			}
			fill(s, SMALL, (unsigned)h->nsmall + 7);
			h->small[h->nsmall++] = s;
		}
	}
}

static size_t
damaged(const struct held *h)
{
	size_t bad = 0;
	for (size_t i = 0; i < h->nblocks; i++)
		bad += !holds_fill(h->blocks[i], BLOCK, (unsigned)i);
	for (size_t i = 0; i < h->nsmall; i++)
		bad += !holds_fill(h->small[i], SMALL, (unsigned)i + 7);
	return bad;
}

static void
give_back(struct held *h)
{
	for (size_t i = 0; i < h->nblocks; i++)
		free(h->blocks[i]);
	for (size_t i = 0; i < h->nsmall; i++)
		free(h->small[i]);
	free(h->blocks);
	free(h->small);
}

static int
keep(size_t mib)
{
	struct held h;
	int err;
	take(&h, mib, &err);
	CHECK_BODY("keep: every block allocated") {
		EXPECT_EQ(mib, h.nblocks);
		EXPECT_ERRNO(0, err);
	}
	printf("ready %p %p\n", h.nblocks ? (void *)h.blocks[0] : NULL,
		h.nsmall ? (void *)h.small[0] : NULL);
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	CHECK("keep: contents intact", damaged(&h) == 0);
	return check_summary();   /* exits holding it all */
}

static int
exhaust(size_t mib)
{
	struct held h;
	int err;
	take(&h, mib, &err);
	size_t first = h.nblocks;
	printf("NULL after %zu MiB in blocks and %zu small objects, errno %d (%s)\n",
		h.nblocks, h.nsmall, err, strerror(err));
	CHECK_BODY("exhaust: NULL with ENOMEM before the limit") {
		EXPECT_LE(h.nblocks, mib - 1);
		EXPECT_ERRNO(ENOMEM, err);
		EXPECT_GE(h.nblocks, 1);
	}
	CHECK("exhaust: what was allocated is intact", damaged(&h) == 0);
	give_back(&h);
	take(&h, mib, &err);
	printf("again: %zu MiB, errno %d (%s)\n", h.nblocks, err, strerror(err));
	CHECK_BODY("exhaust: after freeing everything, at least half the room again") {
		EXPECT_GE(h.nblocks * 2, first);
		EXPECT_ERRNO(ENOMEM, err);
		EXPECT(damaged(&h) == 0);
	}
	give_back(&h);
	return check_summary();
}

static int
fill_all(size_t mib)
{
	struct held h;
	int err;
	take(&h, mib, &err);
	CHECK_BODY("fill: every block allocated") {
		EXPECT_EQ(mib, h.nblocks);
		EXPECT_ERRNO(0, err);
	}
	CHECK("fill: contents intact", damaged(&h) == 0);
	give_back(&h);
	return check_summary();
}

int
main(int argc, char **argv)
{
	long mib = argc == 3 ? atol(argv[2]) : 0;
	if (mib > 1) {
		if (strcmp(argv[1], "keep") == 0)
			return keep((size_t)mib);
		if (strcmp(argv[1], "exhaust") == 0)
			return exhaust((size_t)mib);
		if (strcmp(argv[1], "fill") == 0)
			return fill_all((size_t)mib);
	}
	printf("usage: %s keep|exhaust|fill MIB\n", argv[0]);
	return 2;
}
