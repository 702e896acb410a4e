/*
 * purger.c -- the background purge thread
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "alloc/purger.h"
#include "common/errmsg.h"

#define PURGER_MAX 1024            /* registered extents */
#define PURGER_IDLE_MS 1000        /* longest sleep: a changed decay is seen this soon */

static pthread_mutex_t purger_lock = PTHREAD_MUTEX_INITIALIZER;  /* before any extents' */
static pthread_cond_t purger_wake;
static struct extents *purger_set[PURGER_MAX];
static unsigned purger_n;
static _Atomic bool purger_running;
static pthread_once_t purger_once = PTHREAD_ONCE_INIT;

/* The child of a fork has no purger thread; the lock may have been held. */
static void
purger_prefork(void)
{
	pthread_mutex_lock(&purger_lock);
}

static void
purger_postfork_parent(void)
{
	pthread_mutex_unlock(&purger_lock);
}

static void
purger_postfork_child(void)
{
	pthread_mutex_init(&purger_lock, NULL);
	atomic_store(&purger_running, false);
}

static void
purger_init(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&purger_wake, &a);
	pthread_condattr_destroy(&a);
	/* registered after the heaps' handlers, so this prepare runs before theirs:
	 * the purger's lock comes before every extents' lock */
	pthread_atfork(purger_prefork, purger_postfork_parent, purger_postfork_child);
}

/* purger_pass -- purge what is due; the earliest next due time (UINT64_MAX: none) */
static uint64_t
purger_pass(void)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < purger_n; i++) {
		uint64_t due = extent_purge(purger_set[i], false);
		next = MIN(due, next);
	}
	return next;
}

static void *
purger_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&purger_lock);
	for (;;) {
		uint64_t next = purger_pass();
		if (next == UINT64_MAX) {
			/* stop; but a poke that saw this thread still running may have
			 * come after the pass: look once more, and go on if it did */
			atomic_store(&purger_running, false);
			bool expected = false;
			if (purger_pass() == UINT64_MAX
					|| !atomic_compare_exchange_strong(&purger_running, &expected, true))
				break;
			continue;
		}
		uint64_t now = util_now_ms();
		uint64_t wait = next > now ? MIN(next - now, (uint64_t)PURGER_IDLE_MS) : 1;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&purger_wake, &purger_lock, &ts);
	}
	pthread_mutex_unlock(&purger_lock);
	return NULL;
}

int
purger_add(struct extents *x)
{
	pthread_once(&purger_once, purger_init);
	pthread_mutex_lock(&purger_lock);
	int rc = 0;
	if (purger_n == PURGER_MAX) {
		errmsg_set(ENOMEM, "too many pools purged in the background");
		rc = -1;
	} else {
		purger_set[purger_n++] = x;
		atomic_store_explicit(&x->background, true, memory_order_relaxed);
	}
	pthread_mutex_unlock(&purger_lock);
	return rc;
}

void
purger_remove(struct extents *x)
{
	pthread_mutex_lock(&purger_lock);
	for (unsigned i = 0; i < purger_n; i++)
		if (purger_set[i] == x) {
			atomic_store_explicit(&x->background, false, memory_order_relaxed);
			purger_set[i] = purger_set[--purger_n];
			break;
		}
	pthread_mutex_unlock(&purger_lock);
}

void
purger_start(void)
{
	if (atomic_load_explicit(&purger_running, memory_order_relaxed))
		return;
	bool expected = false;
	if (!atomic_compare_exchange_strong(&purger_running, &expected, true))
		return;
	int err = errno;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);     /* the thread takes no signal */
	pthread_attr_t a;
	pthread_t t;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, purger_main, NULL) != 0)
		atomic_store(&purger_running, false);   /* the amortized tick still purges */
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
}
