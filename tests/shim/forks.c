/*
 * forks.c -- children that allocate, forks while threads allocate, exec, spawn
 *
 * Usage: forks children|threads|exec|spawn [--pool DIR]
 *        forks child-exec [--pool DIR]      (what exec and spawn start)
 *
 * The parent first fills its heap with tagged objects of mixed sizes. Then:
 *   children  8 children at once: each finds the parent's objects as they were,
 *             frees half of them, overwrites the rest with its own pattern,
 *             reallocates some, allocates thousands of its own and checks them;
 *             the parent allocates meanwhile;
 *   threads   two threads allocate and free without pause while the main
 *             thread forks 16 children, so a fork may land while a thread is
 *             inside malloc; each child allocates (also from a new thread);
 *   exec      children allocate, then exec this program ("child-exec");
 *   spawn     posix_spawn of "child-exec" while threads allocate.
 * At the end the parent finds every object of its own intact: nothing a child
 * did reached its heap. With --pool DIR, the parent's objects (and a
 * child-exec's) must lie in a pool file under DIR, before and after.
 * A child that hangs (a lock held across fork) is killed by its alarm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "shim_check.h"

#define NOBJ 2000
#define NCHILD 8
#define NFORK 16

extern char **environ;

static const char *pool_dir;
static unsigned char *objs[NOBJ];
static size_t sizes[NOBJ];
static atomic_bool stop;
static atomic_long thread_bad;
static atomic_long thread_ops;

static size_t
obj_size(unsigned i)
{
	static const size_t big[] = { 20000, 70000, 300000, (size_t)1 << 20, (size_t)3 << 20 };
	if (i % 100 == 7)
		return big[(i / 100) % 5];
	return 1 + (i * 37u) % 3000;
}

static void
parent_fill(void)
{
	for (unsigned i = 0; i < NOBJ; i++) {
		sizes[i] = obj_size(i);
		objs[i] = malloc(sizes[i]);
		if (!objs[i]) {
			printf("parent: malloc(%zu) failed: %s\n", sizes[i], strerror(errno));
			exit(1);
		}
		fill(objs[i], sizes[i], i);
	}
}

/* How many of the parent's objects lost their pattern. */
static unsigned
parent_damaged(void)
{
	unsigned bad = 0;
	for (unsigned i = 0; i < NOBJ; i++)
		if (!holds_fill(objs[i], sizes[i], i))
			bad++;
	return bad;
}

/* Allocate, fill, check and free n objects of one's own; false on any fault. */
static bool
churn(unsigned n, unsigned seed)
{
	enum { WINDOW = 256 };
	unsigned char *win[WINDOW] = { 0 };
	size_t wsz[WINDOW] = { 0 };
	bool ok = true;
	for (unsigned k = 0; k < n; k++) {
		unsigned slot = (k * 2654435761u + seed) % WINDOW;
		if (win[slot]) {
			ok &= holds_fill(win[slot], wsz[slot], seed + slot);
			free(win[slot]);
		}
		wsz[slot] = k % 97 == 0 ? 100000 + k % 5000 : 1 + (k * 131u + seed) % 2000;
		win[slot] = malloc(wsz[slot]);
		if (!win[slot]) {
			ok = false;
			continue;
		}
		fill(win[slot], wsz[slot], seed + slot);
	}
	for (unsigned s = 0; s < WINDOW; s++) {
		if (win[s]) {
			ok &= holds_fill(win[s], wsz[s], seed + s);
			free(win[s]);
		}
	}
	return ok;
}

static void *
thread_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	while (!atomic_load(&stop)) {
		if (!churn(2000, seed))
			atomic_fetch_add(&thread_bad, 1);
		atomic_fetch_add(&thread_ops, 2000);
		seed += 1000;
	}
	return NULL;
}

static void
start_threads(pthread_t t[2])
{
	atomic_store(&stop, false);
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)(i * 7919 + 1));
	while (atomic_load(&thread_ops) == 0)
		sched_yield();
}

static void
stop_threads(pthread_t t[2])
{
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

/* A child's work on the inherited heap: exit status 0 when all went well. */
static int
child_work(unsigned c)
{
	alarm(60);
	if (parent_damaged() != 0) {
		printf("child %u: the parent's objects were not as at the fork\n", c);
		return 1;
	}
	for (unsigned i = c % 2; i < NOBJ; i += 2) {
		free(objs[i]);
		objs[i] = NULL;
	}
	for (unsigned i = 1 - c % 2; i < NOBJ; i += 2) {
		if (i % 10 == 3) {
			sizes[i] = sizes[i] * 2 + 100;
			objs[i] = realloc(objs[i], sizes[i]);
			if (!objs[i])
				return 2;
		}
		fill(objs[i], sizes[i], 5000 + c);
	}
	if (!churn(20000, 100 + c))
		return 3;
	for (unsigned i = 1 - c % 2; i < NOBJ; i += 2)
		if (!holds_fill(objs[i], sizes[i], 5000 + c))
			return 4;
	return 0;
}

/* Wait for pid; whether it exited 0 (else say how it ended). */
static bool
reaped_ok(pid_t pid, const char *what)
{
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		printf("  waitpid(%s %d): %s\n", what, (int)pid, strerror(errno));
		return false;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	if (WIFSIGNALED(status))
		printf("  %s %d: killed by signal %d (%s)\n", what, (int)pid,
			WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		printf("  %s %d: exit status %d\n", what, (int)pid, WEXITSTATUS(status));
	return false;
}

static bool
parent_in_pool(void)
{
	bool ok = in_pool(pool_dir, objs[0]) && in_pool(pool_dir, objs[7]);
	void *fresh = malloc(1000);
	ok &= in_pool(pool_dir, fresh);
	free(fresh);
	return ok;
}

static void
check_parent_after(void)
{
	CHECK_BODY("the parent's objects are intact after the children ran") {
		EXPECT_EQ(0, parent_damaged());
		EXPECT(parent_in_pool());
		EXPECT(churn(20000, 77));
		for (unsigned i = 0; i < NOBJ; i++)
			free(objs[i]);
	}
}

static void
run_children(void)
{
	CHECK_BODY("8 children allocate, free and overwrite the inherited heap") {
		pid_t pids[NCHILD];
		for (unsigned c = 0; c < NCHILD; c++) {
			fflush(stdout);
			pids[c] = fork();
			if (pids[c] == 0)
				_exit(child_work(c));
			EXPECT(pids[c] > 0);
		}
		EXPECT(churn(50000, 3));   /* the parent allocates meanwhile */
		for (unsigned c = 0; c < NCHILD; c++)
			if (pids[c] > 0)
				EXPECT(reaped_ok(pids[c], "child"));
	}
}

static void *
child_thread(void *arg)
{
	return (void *)(uintptr_t)churn(3000, (unsigned)(uintptr_t)arg);
}

static void
run_threads(void)
{
	CHECK_BODY("16 forks while two threads allocate; each child allocates") {
		pthread_t t[2];
		start_threads(t);
		for (unsigned c = 0; c < NFORK; c++) {
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0) {
				alarm(60);
				if (!churn(5000, c))
					_exit(5);
				pthread_t ct;
				void *ok = NULL;
				if (pthread_create(&ct, NULL, child_thread, (void *)(uintptr_t)c) != 0)
					_exit(6);
				pthread_join(ct, &ok);
				_exit(ok ? child_work(c) : 7);
			}
			EXPECT(pid > 0);
			if (pid > 0)
				EXPECT(reaped_ok(pid, "child"));
		}
		stop_threads(t);
		EXPECT_EQ(0, atomic_load(&thread_bad));
	}
}

static char *self_exe(void)
{
	static char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0)
		return NULL;
	path[n] = '\0';
	return path;
}

static void
run_exec(void)
{
	CHECK_BODY("children allocate, then exec this program, which allocates") {
		char *exe = self_exe();
		EXPECT(exe != NULL);
		for (unsigned c = 0; exe && c < 4; c++) {
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0) {
				alarm(60);
				if (!churn(3000, c))
					_exit(8);
				char *argv[] = { exe, "child-exec", pool_dir ? "--pool" : NULL,
					(char *)pool_dir, NULL };
				execve(exe, argv, environ);
				_exit(9);
			}
			EXPECT(pid > 0);
			if (pid > 0)
				EXPECT(reaped_ok(pid, "exec'd child"));
		}
	}
}

static void
run_spawn(void)
{
	CHECK_BODY("posix_spawn while two threads allocate") {
		char *exe = self_exe();
		EXPECT(exe != NULL);
		pthread_t t[2];
		start_threads(t);
		pid_t pids[4] = { 0 };
		char *argv[] = { exe, "child-exec", pool_dir ? "--pool" : NULL,
			(char *)pool_dir, NULL };
		for (unsigned c = 0; exe && c < 4; c++) {
			fflush(stdout);
			int rc = posix_spawn(&pids[c], exe, NULL, NULL, argv, environ);
			EXPECT_EQ(0, rc);
		}
		for (unsigned c = 0; c < 4; c++)
			if (pids[c] > 0)
				EXPECT(reaped_ok(pids[c], "spawned child"));
		stop_threads(t);
		EXPECT_EQ(0, atomic_load(&thread_bad));
	}
}

/* What exec and spawn start: a fresh heap, used and checked. */
static int
child_exec(void)
{
	alarm(60);
	parent_fill();
	bool ok = parent_damaged() == 0 && churn(20000, 11) && parent_in_pool();
	for (unsigned i = 0; i < NOBJ; i++)
		free(objs[i]);
	if (!ok)
		printf("child-exec %d: its own heap went wrong\n", (int)getpid());
	return ok ? 0 : 10;
}

int
main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (argc == 4 && strcmp(argv[2], "--pool") == 0)
		pool_dir = argv[3];
	else if (argc != 2)
		what = "";
	if (strcmp(what, "child-exec") == 0)
		return child_exec();
	void (*run)(void) = strcmp(what, "children") == 0 ? run_children
		: strcmp(what, "threads") == 0 ? run_threads
		: strcmp(what, "exec") == 0 ? run_exec
		: strcmp(what, "spawn") == 0 ? run_spawn : NULL;
	if (!run) {
		printf("usage: %s children|threads|exec|spawn|child-exec [--pool DIR]\n", argv[0]);
		return 2;
	}
	parent_fill();
	CHECK("the parent's heap is in the pool", parent_in_pool());
	run();
	check_parent_after();
	return check_summary();
}
