/*
 * vmem_fork.c -- fork while other threads allocate in the pool
 *
 * Usage: vmem_fork DIR [CHILDREN [inherited|own-pool]]
 *
 * The parent fills a pool with tagged objects, starts threads that allocate
 * and free in the same pool without pause, and forks children meanwhile, so a
 * fork may land while a thread holds any of the allocator's locks. Each child
 * finds the parent's objects as they were at the fork and creates, uses and
 * deletes a pool of its own; with "inherited" (the default) it also frees half
 * of the parent's objects and allocates, checks and frees a few thousand
 * objects of its own in the inherited pool, and checks that pool. A child
 * exits 0 when all went well; one that hangs is killed by its alarm (a lock
 * left held across fork). The parent goes on allocating throughout, and at
 * the end still finds every one of its objects intact and its pool
 * consistent: what a child does to its copy of a pool does not reach the
 * parent's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvmem.h>
#include <pmalloc.h>

#include "check.h"

#define NOBJ 1000
#define NTHREADS 3

static VMEM *vmp;
static const char *pool_dir;
static bool use_inherited = true;   /* children allocate in the parent's pool */
static unsigned char *objs[NOBJ];
static size_t sizes[NOBJ];
static atomic_bool stop;
static atomic_long thread_ops;
static atomic_long thread_bad;

static size_t
obj_size(unsigned i)
{
	static const size_t big[] = { 20000, 70000, 300000, (size_t)1 << 20, (size_t)5 << 20 };
	if (i % 100 == 7)
		return big[(i / 100) % 5];
	return 1 + (i * 37u) % 3000;
}

static unsigned char
pattern(unsigned seed, size_t i)
{
	return (unsigned char)(seed * 131u + i * 17u + (i >> 9));
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(seed, i);
}

/* verify -- byte index of the first difference, or SIZE_MAX when intact */
static size_t
verify(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(seed, i))
			return i;
	return SIZE_MAX;
}

static void *
churn(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	unsigned char *mine[64] = { 0 };
	size_t mysize[64] = { 0 };
	unsigned seed = 1000u * (id + 1);
	for (unsigned long it = 0; !atomic_load(&stop); it++) {
		unsigned slot = (unsigned)(it * 7 % 64);
		if (mine[slot]) {
			if (verify(mine[slot], mysize[slot], seed + slot) != SIZE_MAX)
				atomic_fetch_add(&thread_bad, 1);
			vmem_free(vmp, mine[slot]);
		}
		/* small, large and now and then huge: every lock gets taken */
		size_t n = it % 97 == 0 ? ((size_t)5 << 20) : it % 13 == 0 ?
			100000 + it % 50000 : 1 + it % 2000;
		mine[slot] = vmem_malloc(vmp, n);
		mysize[slot] = mine[slot] ? n : 0;
		if (mine[slot])
			fill(mine[slot], n, seed + slot);
		void *libc = malloc(1 + it % 500);   /* and the C library's heap */
		free(libc);
		atomic_fetch_add(&thread_ops, 1);
	}
	for (unsigned i = 0; i < 64; i++)
		vmem_free(vmp, mine[i]);
	return NULL;
}

/* child_inherited -- free, allocate and check in the inherited pool; failures */
static int
child_inherited(unsigned nr)
{
	int bad = 0;
	for (unsigned i = nr % 2; i < NOBJ; i += 2) {
		vmem_free(vmp, objs[i]);
		objs[i] = NULL;
	}
	enum { N = 3000 };
	static unsigned char *own[N];
	static size_t own_size[N];
	for (unsigned i = 0; i < N; i++) {
		own_size[i] = i % 500 == 3 ? (size_t)200000 : 1 + (i * 53u) % 4000;
		own[i] = vmem_malloc(vmp, own_size[i]);
		if (own[i] == NULL) {
			printf("  child %u: vmem_malloc(%zu): expected memory, saw NULL "
				"(errno %d: %s)\n", nr, own_size[i], errno, vmem_errormsg());
			bad++;
			continue;
		}
		fill(own[i], own_size[i], 50000u + nr * N + i);
	}
	for (unsigned i = 0; i < N; i++) {
		if (own[i] && verify(own[i], own_size[i], 50000u + nr * N + i) != SIZE_MAX) {
			if (bad++ < 3)
				printf("  child %u: own object %u (%zu bytes at %p): expected "
					"its bytes as written, saw them changed\n", nr, i,
					own_size[i], (void *)own[i]);
		}
		vmem_free(vmp, own[i]);
	}
	int ck = vmem_check(vmp);
	if (ck != 1) {
		printf("  child %u: vmem_check: expected 1, saw %d\n", nr, ck);
		bad++;
	}
	return bad;
}

/* child_own_pool -- create, use and delete a pool (pool list, region table); failures */
static int
child_own_pool(unsigned nr)
{
	VMEM *mine = vmem_create(pool_dir, VMEM_MIN_POOL);
	if (mine == NULL) {
		printf("  child %u: vmem_create: expected a pool, saw NULL (errno %d: %s)\n",
			nr, errno, vmem_errormsg());
		return 1;
	}
	int bad = 0;
	void *p = vmem_malloc(mine, 5000);
	if (p == NULL || pmalloc_vmem_of(p) != mine) {
		printf("  child %u: new pool: expected an object it owns, saw %p\n", nr, p);
		bad++;
	}
	vmem_free(mine, p);
	vmem_delete(mine);
	return bad;
}

/* child -- runs in a forked child; returns its exit status */
static int
child(unsigned nr)
{
	alarm(60);   /* a deadlock ends as SIGALRM (a child works for well under 1 s) */
	int bad = 0;
	for (unsigned i = 0; i < NOBJ; i++) {
		if (objs[i] == NULL)
			continue;
		size_t at = verify(objs[i], sizes[i], i);
		if (at != SIZE_MAX) {
			printf("  child %u: parent's object %u (%zu bytes at %p): byte %zu: "
				"expected 0x%02x, saw 0x%02x\n", nr, i, sizes[i],
				(void *)objs[i], at, pattern(i, at), objs[i][at]);
			bad++;
			break;
		}
	}
	if (use_inherited)
		bad += child_inherited(nr);
	bad += child_own_pool(nr);
	fflush(stdout);
	return bad ? 1 : 0;
}

int
main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [CHILDREN [inherited|own-pool]]\n", argv[0]);
		return 2;
	}
	unsigned nchildren = argc > 2 ? (unsigned)atoi(argv[2]) : 16;
	if (argc > 3)
		use_inherited = strcmp(argv[3], "own-pool") != 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* the parent too: a hang ends as SIGALRM with the output so far; 2 s of work
	 * quiet, allowed for ASan on a loaded machine (the test waits longer still) */
	alarm(120);

	pool_dir = argv[1];
	vmp = vmem_create(pool_dir, (size_t)256 << 20);
	CHECK_BODY("create") {
		EXPECT(vmp != NULL);
		if (!vmp)
			printf("  errno %d: %s\n", errno, vmem_errormsg());
	}
	if (!vmp)
		return check_summary();

	CHECK_BODY("parent-allocates") {
		for (unsigned i = 0; i < NOBJ; i++) {
			sizes[i] = obj_size(i);
			objs[i] = vmem_malloc(vmp, sizes[i]);
			EXPECT(objs[i] != NULL);
			if (objs[i])
				fill(objs[i], sizes[i], i);
		}
	}

	pthread_t th[NTHREADS];
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)i);

	CHECK_BODY("fork-while-threads-allocate") {
		unsigned ok = 0;
		for (unsigned c = 0; c < nchildren; c++) {
			/* let the threads get well into their work */
			struct timespec ts = { 0, 3 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			fflush(stdout);
			pid_t pid = fork();
			if (pid < 0) {
				printf("  fork: errno %d\n", errno);
				result = false;
				break;
			}
			if (pid == 0)
				_exit(child(c));
			/* the parent keeps allocating while the child runs */
			void *p = vmem_malloc(vmp, 12345);
			EXPECT(p != NULL);
			if (p)
				memset(p, 0xee, 12345);
			int status = 0;
			if (waitpid(pid, &status, 0) != pid) {
				printf("  waitpid: errno %d\n", errno);
				result = false;
			} else if (WIFSIGNALED(status)) {
				printf("  child %u: expected exit 0, saw signal %d%s\n", c,
					WTERMSIG(status), WTERMSIG(status) == SIGALRM ?
					" (hung: a lock held across fork?)" : "");
				result = false;
			} else if (WEXITSTATUS(status) != 0) {
				printf("  child %u: expected exit 0, saw exit %d\n", c,
					WEXITSTATUS(status));
				result = false;
			} else {
				ok++;
			}
			vmem_free(vmp, p);
		}
		printf("  %u of %u children passed; threads did %ld operations\n",
			ok, nchildren, (long)atomic_load(&thread_ops));
	}

	atomic_store(&stop, true);
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);

	CHECK_BODY("parent-continues") {
		EXPECT_EQ(0, atomic_load(&thread_bad));
		unsigned damaged = 0;
		for (unsigned i = 0; i < NOBJ; i++) {
			if (objs[i] == NULL)
				continue;
			size_t at = verify(objs[i], sizes[i], i);
			if (at != SIZE_MAX) {
				if (damaged++ < 5)
					printf("  parent's object %u (%zu bytes at %p): byte %zu: "
						"expected 0x%02x, saw 0x%02x\n", i, sizes[i],
						(void *)objs[i], at, pattern(i, at), objs[i][at]);
			}
		}
		EXPECT_EQ(0, damaged);
		EXPECT_EQ(1, vmem_check(vmp));
		for (unsigned i = 0; i < NOBJ; i++)
			vmem_free(vmp, objs[i]);
		/* and it can still allocate */
		void *p = vmem_malloc(vmp, (size_t)8 << 20);
		EXPECT(p != NULL);
		if (p)
			memset(p, 1, (size_t)8 << 20);
		vmem_free(vmp, p);
		EXPECT_EQ(1, vmem_check(vmp));
	}

	vmem_delete(vmp);
	return check_summary();
}
