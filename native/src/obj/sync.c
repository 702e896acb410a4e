/*
 * sync.c -- PMEMmutex, PMEMrwlock, PMEMcond: pthread objects living in the pool
 *
 * A lock in the pool outlives the process that used it, and its pthread state
 * means nothing to the next one. Each carries the run id of the open that last
 * initialised it: a lock whose run id is not the pool's current one is set up
 * again on first use (the first thread to claim it does that; the others wait),
 * so every lock reads as unlocked after a crash or a reopen.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "common/errmsg.h"
#include "libpmemobj.h"
#include "obj/obj.h"

struct pmutex {
	uint64_t runid;
	pthread_mutex_t m;
};

struct prwlock {
	uint64_t runid;
	pthread_rwlock_t l;
};

struct pcond {
	uint64_t runid;
	pthread_cond_t c;
};

_Static_assert(sizeof(struct pmutex) <= sizeof(PMEMmutex), "PMEMmutex holds a mutex");
_Static_assert(sizeof(struct prwlock) <= sizeof(PMEMrwlock), "PMEMrwlock holds a rwlock");
_Static_assert(sizeof(struct pcond) <= sizeof(PMEMcond), "PMEMcond holds a condition");

enum { LOCK_MUTEX, LOCK_RWLOCK, LOCK_COND };

/* ready -- the pthread object behind runid, initialised for this open; NULL
 * (EINVAL) when pop is not a pool */
static void *
ready(PMEMobjpool *pop, uint64_t *runid, int kind)
{
	if (!pop || !runid)
		return errmsg_set(EINVAL, "a pool lock call without a pool or a lock"), NULL;
	void *obj = runid + 1;
	uint64_t want = pop->run_id, busy = pop->run_id - 1;   /* run ids are odd */
	for (;;) {
		uint64_t seen = __atomic_load_n(runid, __ATOMIC_ACQUIRE);
		if (seen == want)
			return obj;
		if (seen != busy && __atomic_compare_exchange_n(runid, &seen, busy, false,
				__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			if (kind == LOCK_MUTEX)
				pthread_mutex_init(obj, NULL);
			else if (kind == LOCK_RWLOCK)
				pthread_rwlock_init(obj, NULL);
			else
				pthread_cond_init(obj, NULL);
			__atomic_store_n(runid, want, __ATOMIC_RELEASE);
			return obj;
		}
		sched_yield();
	}
}

static uint64_t *
rid(void *lock)
{
	return lock;
}

/* zero -- clear a lock in the pool, durably */
static void
zero(PMEMobjpool *pop, void *lock, size_t size)
{
	if (!pop || !lock)
		return;
	memset(lock, 0, size);
	(void)pmemops_persist(pop->ops, lock, size);
}

/* ---- mutexes --------------------------------------------------------------- */

API void
pmemobj_mutex_zero(PMEMobjpool *pop, PMEMmutex *mutexp)
{
	zero(pop, mutexp, sizeof(*mutexp));
}

API int
pmemobj_mutex_lock(PMEMobjpool *pop, PMEMmutex *mutexp)
{
	pthread_mutex_t *m = ready(pop, rid(mutexp), LOCK_MUTEX);
	return m ? pthread_mutex_lock(m) : EINVAL;
}

API int
pmemobj_mutex_timedlock(PMEMobjpool *pop, PMEMmutex *mutexp, const struct timespec *abs_timeout)
{
	pthread_mutex_t *m = ready(pop, rid(mutexp), LOCK_MUTEX);
	return m ? pthread_mutex_timedlock(m, abs_timeout) : EINVAL;
}

API int
pmemobj_mutex_trylock(PMEMobjpool *pop, PMEMmutex *mutexp)
{
	pthread_mutex_t *m = ready(pop, rid(mutexp), LOCK_MUTEX);
	return m ? pthread_mutex_trylock(m) : EINVAL;
}

API int
pmemobj_mutex_unlock(PMEMobjpool *pop, PMEMmutex *mutexp)
{
	pthread_mutex_t *m = ready(pop, rid(mutexp), LOCK_MUTEX);
	return m ? pthread_mutex_unlock(m) : EINVAL;
}

/* ---- read-write locks ------------------------------------------------------ */

API void
pmemobj_rwlock_zero(PMEMobjpool *pop, PMEMrwlock *rwlockp)
{
	zero(pop, rwlockp, sizeof(*rwlockp));
}

#define RWLOCK_CALL(pop, lockp, call)                                           \
	do {                                                                     \
		pthread_rwlock_t *l_ = ready(pop, rid(lockp), LOCK_RWLOCK);      \
		return l_ ? call : EINVAL;                                       \
	} while (0)

API int
pmemobj_rwlock_rdlock(PMEMobjpool *pop, PMEMrwlock *rwlockp)
{
	RWLOCK_CALL(pop, rwlockp, pthread_rwlock_rdlock(l_));
}

API int
pmemobj_rwlock_wrlock(PMEMobjpool *pop, PMEMrwlock *rwlockp)
{
	RWLOCK_CALL(pop, rwlockp, pthread_rwlock_wrlock(l_));
}

API int
pmemobj_rwlock_timedrdlock(PMEMobjpool *pop, PMEMrwlock *rwlockp,
		const struct timespec *abs_timeout)
{
	RWLOCK_CALL(pop, rwlockp, pthread_rwlock_timedrdlock(l_, abs_timeout));
}

API int
pmemobj_rwlock_timedwrlock(PMEMobjpool *pop, PMEMrwlock *rwlockp,
		const struct timespec *abs_timeout)
{
	RWLOCK_CALL(pop, rwlockp, pthread_rwlock_timedwrlock(l_, abs_timeout));
}

API int
pmemobj_rwlock_tryrdlock(PMEMobjpool *pop, PMEMrwlock *rwlockp)
{
	RWLOCK_CALL(pop, rwlockp, pthread_rwlock_tryrdlock(l_));
}

API int
pmemobj_rwlock_trywrlock(PMEMobjpool *pop, PMEMrwlock *rwlockp)
{
	RWLOCK_CALL(pop, rwlockp, pthread_rwlock_trywrlock(l_));
}

API int
pmemobj_rwlock_unlock(PMEMobjpool *pop, PMEMrwlock *rwlockp)
{
	RWLOCK_CALL(pop, rwlockp, pthread_rwlock_unlock(l_));
}

/* ---- condition variables --------------------------------------------------- */

API void
pmemobj_cond_zero(PMEMobjpool *pop, PMEMcond *condp)
{
	zero(pop, condp, sizeof(*condp));
}

API int
pmemobj_cond_broadcast(PMEMobjpool *pop, PMEMcond *condp)
{
	pthread_cond_t *c = ready(pop, rid(condp), LOCK_COND);
	return c ? pthread_cond_broadcast(c) : EINVAL;
}

API int
pmemobj_cond_signal(PMEMobjpool *pop, PMEMcond *condp)
{
	pthread_cond_t *c = ready(pop, rid(condp), LOCK_COND);
	return c ? pthread_cond_signal(c) : EINVAL;
}

API int
pmemobj_cond_timedwait(PMEMobjpool *pop, PMEMcond *condp, PMEMmutex *mutexp,
		const struct timespec *abs_timeout)
{
	pthread_cond_t *c = ready(pop, rid(condp), LOCK_COND);
	pthread_mutex_t *m = ready(pop, rid(mutexp), LOCK_MUTEX);
	return c && m ? pthread_cond_timedwait(c, m, abs_timeout) : EINVAL;
}

API int
pmemobj_cond_wait(PMEMobjpool *pop, PMEMcond *condp, PMEMmutex *mutexp)
{
	pthread_cond_t *c = ready(pop, rid(condp), LOCK_COND);
	pthread_mutex_t *m = ready(pop, rid(mutexp), LOCK_MUTEX);
	return c && m ? pthread_cond_wait(c, m) : EINVAL;
}
