/*
 * vmem_threads.c -- 8 threads allocating in one pool and freeing each other's objects
 *
 * Usage: vmem_threads DIR [ITERATIONS]
 *
 * Thread t hands about half of what it allocates to thread t+1 through a
 * locked queue; the receiver checks the contents, sometimes reallocates the
 * object (a realloc by a thread that did not allocate it), and frees it, with
 * vmem_free or with pmalloc_free (no pool argument). The rest is kept in a
 * local window and freed by its own thread later. Every object carries its
 * size and a tag, and every byte is filled from the tag, so an overlap or a
 * stray write shows as a contents failure. At the end: vmem_check, and no
 * object left live or cached once the threads have exited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmem.h>
#include <pmalloc.h>

#include "check.h"

#define NTHREADS 8
#define QCAP 512
#define WINDOW 256

struct header {
	size_t size;        /* bytes asked for */
	uint32_t tag;       /* producer << 24 | sequence */
	uint32_t magic;     /* HEADER_MAGIC */
};
#define HEADER_MAGIC 0x5ca1ab1eu

struct queue {
	pthread_mutex_t lock;
	unsigned char *items[QCAP];
	size_t head;        /* next to pop */
	size_t count;       /* items queued */
};

static VMEM *vmp;
static struct queue queues[NTHREADS];
static long iterations = 20000;
static pthread_barrier_t done_producing;
static atomic_long crossed;     /* objects freed by another thread */
static atomic_long reallocs;    /* of those, reallocated first */
static atomic_long bad_objects; /* contents failures */
static atomic_long null_allocs; /* unexpected NULLs */

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* size_of -- mostly small, some up to 64 KiB, a few up to 512 KiB */
static size_t
size_of(uint64_t r)
{
	unsigned pick = (unsigned)(r % 100);
	r /= 100;
	if (pick < 85)
		return sizeof(struct header) + r % 1000;
	if (pick < 98)
		return 1024 + r % (64 << 10);
	return (64 << 10) + r % (448 << 10);
}

static unsigned char
fill_byte(uint32_t tag, size_t i)
{
	return (unsigned char)(tag * 31u + i * 7u + (i >> 8));
}

static void
fill(unsigned char *p, size_t size, uint32_t tag)
{
	struct header h = { size, tag, HEADER_MAGIC };
	memcpy(p, &h, sizeof(h));
	for (size_t i = sizeof(h); i < size; i++)
		p[i] = fill_byte(tag, i);
}

/* verify -- the object still holds what fill wrote (first `limit` bytes); 0 if so */
static int
verify(const unsigned char *p, size_t limit, const char *where)
{
	struct header h;
	memcpy(&h, p, sizeof(h));
	if (h.magic != HEADER_MAGIC) {
		printf("  %s: object %p: expected magic 0x%x, saw 0x%x\n",
			where, (const void *)p, HEADER_MAGIC, h.magic);
		return -1;
	}
	size_t n = h.size < limit ? h.size : limit;
	for (size_t i = sizeof(h); i < n; i++) {
		if (p[i] != fill_byte(h.tag, i)) {
			printf("  %s: object %p tag 0x%x size %zu: byte %zu: "
				"expected 0x%02x, saw 0x%02x\n", where, (const void *)p,
				h.tag, h.size, i, fill_byte(h.tag, i), p[i]);
			return -1;
		}
	}
	return 0;
}

static int
push(struct queue *q, unsigned char *p)
{
	int ok = 0;
	pthread_mutex_lock(&q->lock);
	if (q->count < QCAP) {
		q->items[(q->head + q->count) % QCAP] = p;
		q->count++;
		ok = 1;
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

static unsigned char *
pop(struct queue *q)
{
	unsigned char *p = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->count > 0) {
		p = q->items[q->head];
		q->head = (q->head + 1) % QCAP;
		q->count--;
	}
	pthread_mutex_unlock(&q->lock);
	return p;
}

/* release -- check and free an object another thread allocated */
static void
release_foreign(unsigned char *p, uint64_t *rng)
{
	if (verify(p, SIZE_MAX, "received") != 0)
		atomic_fetch_add(&bad_objects, 1);
	atomic_fetch_add(&crossed, 1);
	uint64_t r = xorshift(rng);
	if (r % 8 == 0) {
		struct header h;
		memcpy(&h, p, sizeof(h));
		size_t nsize = size_of(r >> 3);
		unsigned char *q = vmem_realloc(vmp, p, nsize);
		if (q == NULL) {
			atomic_fetch_add(&null_allocs, 1);
			vmem_free(vmp, p);
			return;
		}
		atomic_fetch_add(&reallocs, 1);
		if (verify(q, nsize, "reallocated") != 0)
			atomic_fetch_add(&bad_objects, 1);
		p = q;
	}
	if (r % 3 == 0) {
		if (pmalloc_free(p) != 0) {
			printf("  pmalloc_free(%p): expected 0, saw -1 (errno %d)\n",
				(void *)p, errno);
			atomic_fetch_add(&bad_objects, 1);
		}
	} else {
		vmem_free(vmp, p);
	}
}

static void *
worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	struct queue *in = &queues[id];
	struct queue *out = &queues[(id + 1) % NTHREADS];
	unsigned char *window[WINDOW] = { 0 };
	uint64_t rng = 0x9e3779b97f4a7c15ull * (id + 1);

	for (long it = 0; it < iterations; it++) {
		for (int k = 0; k < 2; k++) {
			unsigned char *p = pop(in);
			if (p == NULL)
				break;
			release_foreign(p, &rng);
		}
		uint64_t r = xorshift(&rng);
		size_t size = size_of(r >> 8);
		uint32_t tag = (id << 24) | (uint32_t)(it & 0xffffff);
		unsigned char *p;
		switch (r % 4) {
		case 0:
			p = vmem_calloc(vmp, 1, size);
			if (p) {
				size_t nonzero = 0;
				for (size_t i = 0; i < size; i++)
					nonzero += p[i] != 0;
				if (nonzero) {
					printf("  calloc(%zu) = %p: expected all zero, saw "
						"%zu nonzero bytes\n", size, (void *)p, nonzero);
					atomic_fetch_add(&bad_objects, 1);
				}
			}
			break;
		case 1: {
			size_t align = (size_t)64 << (r >> 61);  /* 64 B .. 8 KiB */
			p = vmem_aligned_alloc(vmp, align, size);
			if (p && (uintptr_t)p % align != 0) {
				printf("  aligned_alloc(%zu, %zu) = %p: misaligned\n",
					align, size, (void *)p);
				atomic_fetch_add(&bad_objects, 1);
			}
			break;
		}
		default:
			p = vmem_malloc(vmp, size);
			break;
		}
		if (p == NULL) {
			printf("  thread %u: allocation of %zu bytes: expected memory, "
				"saw NULL (errno %d: %s)\n", id, size, errno, vmem_errormsg());
			atomic_fetch_add(&null_allocs, 1);
			continue;
		}
		fill(p, size, tag);
		if ((r >> 2) % 2 == 0 && push(out, p))
			continue;
		unsigned slot = (unsigned)((r >> 3) % WINDOW);
		if (window[slot]) {
			if (verify(window[slot], SIZE_MAX, "own") != 0)
				atomic_fetch_add(&bad_objects, 1);
			vmem_free(vmp, window[slot]);
		}
		window[slot] = p;
	}

	pthread_barrier_wait(&done_producing);
	unsigned char *p;
	while ((p = pop(in)) != NULL)
		release_foreign(p, &rng);
	for (unsigned i = 0; i < WINDOW; i++) {
		if (window[i]) {
			if (verify(window[i], SIZE_MAX, "own") != 0)
				atomic_fetch_add(&bad_objects, 1);
			vmem_free(vmp, window[i]);
		}
	}
	return NULL;
}

int
main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [ITERATIONS]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		iterations = atol(argv[2]);

	vmp = vmem_create(argv[1], (size_t)256 << 20);
	CHECK_BODY("create") {
		EXPECT(vmp != NULL);
		if (!vmp)
			printf("  errno %d: %s\n", errno, vmem_errormsg());
	}
	if (!vmp)
		return check_summary();

	CHECK_BODY("threads") {
		pthread_t th[NTHREADS];
		pthread_barrier_init(&done_producing, NULL, NTHREADS);
		for (unsigned i = 0; i < NTHREADS; i++) {
			pthread_mutex_init(&queues[i].lock, NULL);
			int rc = pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
			EXPECT_EQ(0, rc);
		}
		for (unsigned i = 0; i < NTHREADS; i++)
			pthread_join(th[i], NULL);
		printf("  %ld iterations x %d threads, %ld objects freed by another "
			"thread, %ld of them reallocated there\n", iterations, NTHREADS,
			(long)atomic_load(&crossed), (long)atomic_load(&reallocs));
		EXPECT_EQ(0, atomic_load(&bad_objects));
		EXPECT_EQ(0, atomic_load(&null_allocs));
		EXPECT(atomic_load(&crossed) > iterations);
	}

	CHECK("vmem_check", vmem_check(vmp) == 1);

	/* every thread has exited: nothing may stay live or in a thread cache */
	CHECK_BODY("nothing-left") {
		EXPECT_EQ(0, pmalloc_vmem_purge(vmp));
		struct pmalloc_stats st;
		EXPECT_EQ(0, pmalloc_vmem_stats(vmp, &st));
		printf("  allocated %ju, active %ju, nmalloc %ju, nfree %ju\n",
			(uintmax_t)st.allocated, (uintmax_t)st.active,
			(uintmax_t)st.nmalloc, (uintmax_t)st.nfree);
		EXPECT_EQ(0, st.allocated);
		struct pmalloc_class_stats rows[256];
		int n = pmalloc_vmem_class_stats(vmp, rows, 256);
		EXPECT(n > 0);
		for (int i = 0; i < n && i < 256; i++) {
			if (rows[i].live || rows[i].cached) {
				printf("  class %ju: expected 0 live and 0 cached, saw %ju "
					"live and %ju cached\n", (uintmax_t)rows[i].size,
					(uintmax_t)rows[i].live, (uintmax_t)rows[i].cached);
				result = false;
			}
		}
	}

	CHECK("vmem_check-after-purge", vmem_check(vmp) == 1);
	vmem_delete(vmp);
	return check_summary();
}
