/*
 * libpmemobj.h -- a transactional object store in a pmem-resident pool
 * (PMDK 1.12's libpmemobj API: the functions and the macro layer)
 *
 * A pool is a file holding a heap of objects named by PMEMoid handles (pool id
 * + offset, stable across runs), one root object as the entry point, and the
 * logs that make allocation atomic and transactions all-or-nothing across a
 * crash. Names, signatures, flag values and macro behaviour are PMDK's, so a
 * program written for PMDK's libpmemobj builds against this header unchanged;
 * the pool format and the binary layout of the types are pmalloc's. Failing
 * calls return NULL, OID_NULL, -1 or an error number, set errno and a
 * thread-local message (pmemobj_errormsg()). Needs C11 with GNU extensions
 * (typeof, statement expressions, named variadic comma elision), or C++.
 */
#ifndef LIBPMEMOBJ_H
#define LIBPMEMOBJ_H 1

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#ifdef POBJ_TX_CRASH_ON_NO_ONABORT
#include <stdlib.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
#define _POBJ_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define _POBJ_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* ---- Versions and limits ------------------------------------------------ */

#define PMEMOBJ_MAJOR_VERSION 2
#define PMEMOBJ_MINOR_VERSION 4

#define PMEMOBJ_MIN_POOL ((size_t)(1024 * 1024 * 8))      /* the smallest pool: 8 MiB */
#define PMEMOBJ_MAX_LAYOUT ((size_t)1024)                 /* layout name bytes, with the NUL */
#define PMEMOBJ_MAX_ALLOC_SIZE ((size_t)0x3FFDFFFC0)      /* the largest object (~15.9 GiB) */
/* PMDK's smallest poolset part; kept for source compatibility (a pool here is one file). */
#define PMEMOBJ_MIN_PART ((size_t)(1024 * 1024 * 2))

/* NULL if this library satisfies the version asked for, else a message saying why not. */
const char *pmemobj_check_version(unsigned major_required, unsigned minor_required);

/* The calling thread's last error message ("" when none). */
const char *pmemobj_errormsg(void);

/* ---- Flags -------------------------------------------------------------- */

/* Bits shared by the x-variants below; each call accepts the subset named for it. */
#define POBJ_FLAG_ZERO               (((uint64_t)1) << 0)  /* zero the new object */
#define POBJ_FLAG_NO_FLUSH           (((uint64_t)1) << 1)  /* leave flushing to the caller */
#define POBJ_FLAG_NO_SNAPSHOT        (((uint64_t)1) << 2)  /* register a range without saving it */
#define POBJ_FLAG_ASSUME_INITIALIZED (((uint64_t)1) << 3)  /* the range's bytes are defined */
#define POBJ_FLAG_TX_NO_ABORT        (((uint64_t)1) << 4)  /* on failure return, do not abort */

/* An allocation class (16 bits from bit 48) and an arena (16 bits from bit 32). */
#define POBJ_CLASS_ID(id) (((uint64_t)(id)) << 48)
#define POBJ_ARENA_ID(id) (((uint64_t)(id)) << 32)
#define POBJ_XALLOC_CLASS_MASK ((((uint64_t)1 << 16) - 1) << 48)
#define POBJ_XALLOC_ARENA_MASK ((((uint64_t)1 << 16) - 1) << 32)

#define POBJ_XALLOC_ZERO     POBJ_FLAG_ZERO
#define POBJ_XALLOC_NO_FLUSH POBJ_FLAG_NO_FLUSH
#define POBJ_XALLOC_NO_ABORT POBJ_FLAG_TX_NO_ABORT

#define POBJ_XADD_NO_FLUSH           POBJ_FLAG_NO_FLUSH
#define POBJ_XADD_NO_SNAPSHOT        POBJ_FLAG_NO_SNAPSHOT
#define POBJ_XADD_ASSUME_INITIALIZED POBJ_FLAG_ASSUME_INITIALIZED
#define POBJ_XADD_NO_ABORT           POBJ_FLAG_TX_NO_ABORT

#define POBJ_XFREE_NO_ABORT    POBJ_FLAG_TX_NO_ABORT
#define POBJ_XLOCK_NO_ABORT    POBJ_FLAG_TX_NO_ABORT
#define POBJ_XPUBLISH_NO_ABORT POBJ_FLAG_TX_NO_ABORT

/* PMDK's masks of accepted bits: a bit outside a call's mask fails the call with EINVAL.
 * As in PMDK 1.12, pmemobj_xalloc takes the POBJ_TX_XALLOC_VALID_FLAGS set. */
#define POBJ_XALLOC_VALID_FLAGS (POBJ_XALLOC_ZERO | POBJ_XALLOC_CLASS_MASK)
#define POBJ_TX_XALLOC_VALID_FLAGS (POBJ_XALLOC_ZERO | POBJ_XALLOC_NO_FLUSH | \
	POBJ_XALLOC_ARENA_MASK | POBJ_XALLOC_CLASS_MASK | POBJ_XALLOC_NO_ABORT)
#define POBJ_XADD_VALID_FLAGS (POBJ_XADD_NO_FLUSH | POBJ_XADD_NO_SNAPSHOT | \
	POBJ_XADD_ASSUME_INITIALIZED | POBJ_XADD_NO_ABORT)
#define POBJ_XFREE_VALID_FLAGS POBJ_XFREE_NO_ABORT
#define POBJ_XLOCK_VALID_FLAGS POBJ_XLOCK_NO_ABORT
#define POBJ_XPUBLISH_VALID_FLAGS POBJ_XPUBLISH_NO_ABORT
#define POBJ_ACTION_XRESERVE_VALID_FLAGS (POBJ_XALLOC_CLASS_MASK | \
	POBJ_XALLOC_ARENA_MASK | POBJ_XALLOC_ZERO)

/* pmemobj_memcpy/memmove/memset flags (as libpmem's PMEM_F_MEM_*). */
#define PMEMOBJ_F_MEM_NODRAIN     (1U << 0)  /* flush but do not drain */
#define PMEMOBJ_F_MEM_NONTEMPORAL (1U << 1)  /* prefer non-temporal stores */
#define PMEMOBJ_F_MEM_TEMPORAL    (1U << 2)  /* prefer cached stores */
#define PMEMOBJ_F_MEM_WC          (1U << 3)  /* write-combining stores (same as NONTEMPORAL) */
#define PMEMOBJ_F_MEM_WB          (1U << 4)  /* write-back stores (same as TEMPORAL) */
#define PMEMOBJ_F_MEM_NOFLUSH     (1U << 5)  /* neither flush nor drain */
/* With the mem calls, xflush and xpersist: the range need not be durable before a later fence. */
#define PMEMOBJ_F_RELAXED         (1U << 31)

/* ---- Pools -------------------------------------------------------------- */

typedef struct pmemobjpool PMEMobjpool;

/* Create a pool of poolsize bytes (>= PMEMOBJ_MIN_POOL; 0: the existing file, its size)
 * at path, tagged with layout (NULL: ""); NULL + errno. A failed create leaves no file. */
PMEMobjpool *pmemobj_create(const char *path, const char *layout, size_t poolsize, mode_t mode);

/* Open the pool at path, recovering any interrupted work; layout NULL accepts any, else
 * it must match the one given at create; NULL + errno (EINVAL: not a pool / other layout). */
PMEMobjpool *pmemobj_open(const char *path, const char *layout);

/* Close pop (NULL is ignored); its handles and pointers stop resolving. */
void pmemobj_close(PMEMobjpool *pop);

/* 1 if the pool at path is consistent, 0 if not (message says why), -1 if it cannot be
 * checked (no such file, not a pool, another layout than a non-NULL layout). */
int pmemobj_check(const char *path, const char *layout);

/* Replace the allocator the library uses for its own volatile state (NULL: keep the default). */
void pmemobj_set_funcs(void *(*malloc_func)(size_t size), void (*free_func)(void *ptr),
		void *(*realloc_func)(void *ptr, size_t size), char *(*strdup_func)(const char *s));

/* Attach a volatile pointer to an open pool, and read it back (NULL until set). */
void pmemobj_set_user_data(PMEMobjpool *pop, void *data);
void *pmemobj_get_user_data(PMEMobjpool *pop);

/* ---- Objects and handles ------------------------------------------------ */

/* An object handle: which pool (the low half of its UUID) and where in it. */
typedef struct pmemoid {
	uint64_t pool_uuid_lo;
	uint64_t off;
} PMEMoid;

/* The handle of no object; a handle is null when its offset is 0. */
static const PMEMoid OID_NULL = { 0, 0 };
#define OID_IS_NULL(o) ((o).off == 0)
#define OID_EQUALS(a, b) ((a).pool_uuid_lo == (b).pool_uuid_lo && (a).off == (b).off)

/* A constructor run on a new object before it becomes visible; nonzero cancels it (ECANCELED). */
typedef int (*pmemobj_constr)(PMEMobjpool *pop, void *ptr, void *arg);

/* The address of oid's object in this process; NULL for OID_NULL or a pool not open. */
void *pmemobj_direct(PMEMoid oid);

/* The handle of the object at addr; OID_NULL if addr lies in no open pool. */
PMEMoid pmemobj_oid(const void *addr);

/* The open pool holding oid's object, or holding addr; NULL if none. */
PMEMobjpool *pmemobj_pool_by_oid(PMEMoid oid);
PMEMobjpool *pmemobj_pool_by_ptr(const void *addr);

/* The root object, made zeroed on first call and grown (new bytes zeroed) when size exceeds
 * it; OID_NULL + errno (ENOMEM: too big; EINVAL: size 0 and no root yet). */
PMEMoid pmemobj_root(PMEMobjpool *pop, size_t size);

/* pmemobj_root, but constructor (not zeroing) fills the new or grown root; OID_NULL +
 * ECANCELED if it refuses. */
PMEMoid pmemobj_root_construct(PMEMobjpool *pop, size_t size, pmemobj_constr constructor,
		void *arg);

/* The root's size: the largest size asked of pmemobj_root so far, 0 if there is no root. */
size_t pmemobj_root_size(PMEMobjpool *pop);

/* The type number oid's object was allocated with. */
uint64_t pmemobj_type_num(PMEMoid oid);

/* The bytes usable in oid's object (>= the size asked for); 0 for OID_NULL. */
size_t pmemobj_alloc_usable_size(PMEMoid oid);

/* ---- Persistence -------------------------------------------------------- */

/* Make [addr, addr+len) of pop durable (flush + drain, or msync where not pmem). */
void pmemobj_persist(PMEMobjpool *pop, const void *addr, size_t len);

/* Start making the range durable; a later pmemobj_drain completes it. */
void pmemobj_flush(PMEMobjpool *pop, const void *addr, size_t len);

/* Wait for every flush this thread started to reach the media. */
void pmemobj_drain(PMEMobjpool *pop);

/* pmemobj_persist / pmemobj_flush with flags (0 or PMEMOBJ_F_RELAXED); 0, or -1 + EINVAL. */
int pmemobj_xpersist(PMEMobjpool *pop, const void *addr, size_t len, unsigned flags);
int pmemobj_xflush(PMEMobjpool *pop, const void *addr, size_t len, unsigned flags);

/* memcpy / memset into pop, durable on return; return dest. */
void *pmemobj_memcpy_persist(PMEMobjpool *pop, void *dest, const void *src, size_t len);
void *pmemobj_memset_persist(PMEMobjpool *pop, void *dest, int c, size_t len);

/* memcpy / memmove / memset into pop, made durable as PMEMOBJ_F_MEM_* flags say; return dest. */
void *pmemobj_memcpy(PMEMobjpool *pop, void *dest, const void *src, size_t len, unsigned flags);
void *pmemobj_memmove(PMEMobjpool *pop, void *dest, const void *src, size_t len, unsigned flags);
void *pmemobj_memset(PMEMobjpool *pop, void *dest, int c, size_t len, unsigned flags);

/* ---- Atomic allocation -------------------------------------------------- */
/*
 * Each call is atomic across a crash on its own: the object exists, constructed, with
 * *oidp pointing at it, or neither. *oidp may live in the pool (updated atomically) or
 * be NULL (then the object is found only by iteration). Not undone by an enclosing
 * transaction's abort. 0, or -1 + errno (EINVAL: size 0 or bad flags; ENOMEM).
 */

/* Allocate size bytes of type type_num, run constructor (may be NULL) on them, then publish. */
int pmemobj_alloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num,
		pmemobj_constr constructor, void *arg);

/* pmemobj_alloc with flags: POBJ_XALLOC_ZERO, POBJ_CLASS_ID(), POBJ_ARENA_ID() (see above). */
int pmemobj_xalloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num,
		uint64_t flags, pmemobj_constr constructor, void *arg);

/* Allocate size zeroed bytes of type type_num. */
int pmemobj_zalloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num);

/* Resize *oidp's object (OID_NULL: allocate; size 0: free), retyping it; the old bytes stay,
 * new ones are undefined (zrealloc: zeroed). *oidp may change. */
int pmemobj_realloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num);
int pmemobj_zrealloc(PMEMobjpool *pop, PMEMoid *oidp, size_t size, uint64_t type_num);

/* A new object holding a copy of s, with its terminator (EINVAL if s is NULL). */
int pmemobj_strdup(PMEMobjpool *pop, PMEMoid *oidp, const char *s, uint64_t type_num);
int pmemobj_wcsdup(PMEMobjpool *pop, PMEMoid *oidp, const wchar_t *s, uint64_t type_num);

/* Free *oidp's object and set *oidp to OID_NULL (OID_NULL: nothing; never the root). */
void pmemobj_free(PMEMoid *oidp);

/* ---- Iteration ---------------------------------------------------------- */

/* The first allocated object of pop (never the root), in no promised order; OID_NULL if none. */
PMEMoid pmemobj_first(PMEMobjpool *pop);

/* The object after oid in that walk; OID_NULL at the end or for OID_NULL. */
PMEMoid pmemobj_next(PMEMoid oid);

/* The first object of type type_num, or OID_NULL. */
static inline PMEMoid
POBJ_FIRST_TYPE_NUM(PMEMobjpool *pop, uint64_t type_num)
{
	PMEMoid oid = pmemobj_first(pop);
	while (!OID_IS_NULL(oid) && pmemobj_type_num(oid) != type_num)
		oid = pmemobj_next(oid);
	return oid;
}

/* The next object after o with o's type number, or OID_NULL. */
static inline PMEMoid
POBJ_NEXT_TYPE_NUM(PMEMoid o)
{
	if (OID_IS_NULL(o))
		return o;
	uint64_t type_num = pmemobj_type_num(o);
	PMEMoid oid = pmemobj_next(o);
	while (!OID_IS_NULL(oid) && pmemobj_type_num(oid) != type_num)
		oid = pmemobj_next(oid);
	return oid;
}

/* Walk every object, varoid (a PMEMoid lvalue) naming each in turn. */
#define POBJ_FOREACH(pop, varoid)						\
	for ((varoid) = pmemobj_first(pop); !OID_IS_NULL(varoid);		\
			(varoid) = pmemobj_next(varoid))

/* The same, reading the next handle into nvaroid first, so the body may free varoid. */
#define POBJ_FOREACH_SAFE(pop, varoid, nvaroid)					\
	for ((varoid) = pmemobj_first(pop);					\
			!OID_IS_NULL(varoid) && ((nvaroid) = pmemobj_next(varoid), 1); \
			(varoid) = (nvaroid))

/* ---- Transactions ------------------------------------------------------- */
/*
 * A thread has at most one transaction, which may nest (flattened: only the outermost
 * commit is durable; an inner abort aborts them all). Stages move only through the
 * calls below: pmemobj_tx_process takes WORK -> ONCOMMIT (committing), ONCOMMIT or
 * ONABORT -> FINALLY, FINALLY -> NONE. An abort (explicit, or a failing call) undoes
 * the snapshots, sets the stage to ONABORT and, when the transaction was begun with
 * an env, longjmps to it. Other threads see changes at once: lock for isolation.
 */

enum pobj_tx_stage {
	TX_STAGE_NONE,      /* no transaction in this thread */
	TX_STAGE_WORK,      /* the work section is running */
	TX_STAGE_ONCOMMIT,  /* committed */
	TX_STAGE_ONABORT,   /* aborted, or could not begin */
	TX_STAGE_FINALLY,   /* after ONCOMMIT or ONABORT */

	MAX_TX_STAGE
};

/* pmemobj_tx_begin's variadic parameters: each tag, then its values; TX_PARAM_NONE ends. */
enum pobj_tx_param {
	TX_PARAM_NONE,    /* end of the list */
	TX_PARAM_MUTEX,   /* PMEMmutex *: locked now, unlocked when the outermost tx ends */
	TX_PARAM_RWLOCK,  /* PMEMrwlock *: write-locked likewise */
	TX_PARAM_CB,      /* pmemobj_tx_callback, void *arg: run at each stage (outermost tx) */
};

/* PMDK's older names for the lock tags (pmemobj_tx_lock's first argument). */
enum pobj_tx_lock {
	TX_LOCK_NONE = TX_PARAM_NONE,
	TX_LOCK_MUTEX = TX_PARAM_MUTEX,
	TX_LOCK_RWLOCK = TX_PARAM_RWLOCK,
};

/* What a failing call does: abort the transaction (the default) or return its error. */
enum pobj_tx_failure_behavior {
	POBJ_TX_FAILURE_ABORT,
	POBJ_TX_FAILURE_RETURN,
};

/* Called with the pool, the stage just entered (WORK: before the commit; NONE: after the
 * end) and the TX_PARAM_CB argument. */
typedef void (*pmemobj_tx_callback)(PMEMobjpool *pop, enum pobj_tx_stage stage, void *arg);

/* This thread's stage. */
enum pobj_tx_stage pmemobj_tx_stage(void);

/* Begin a transaction (in NONE; or nested, in WORK), taking the TX_PARAM_* list's locks in
 * order; an abort longjmps to env (NULL: returns instead). 0 or an error number (then the
 * stage is ONABORT, and pmemobj_tx_end is still owed). */
int pmemobj_tx_begin(PMEMobjpool *pop, jmp_buf env, ...);

/* Abort (in WORK): undo, stage ONABORT, error errnum (0 means ECANCELED), longjmp if env. */
void pmemobj_tx_abort(int errnum);

/* Commit (in WORK): the outermost commit makes every change durable; stage ONCOMMIT. */
void pmemobj_tx_commit(void);

/* Close the transaction begun last (not in WORK): back to the outer one's WORK, or to NONE
 * releasing all its locks; 0, or the abort's error. An inner abort aborts the outer tx
 * (longjmp to its env). Owed once for every pmemobj_tx_begin, even a failed one. */
int pmemobj_tx_end(void);

/* The error number of this thread's last transaction (0 if it committed). */
int pmemobj_tx_errno(void);

/* Do the current stage's work and move to the next stage (see above). */
void pmemobj_tx_process(void);

/* Snapshot size bytes at offset off of oid's object (or at ptr, in the transaction's pool)
 * so an abort restores them; the caller may then write them. 0, or aborts + error number. */
int pmemobj_tx_add_range(PMEMoid oid, uint64_t off, size_t size);
int pmemobj_tx_add_range_direct(const void *ptr, size_t size);

/* The same with POBJ_XADD_* flags; with NO_ABORT a failure returns without aborting. */
int pmemobj_tx_xadd_range(PMEMoid oid, uint64_t off, size_t size, uint64_t flags);
int pmemobj_tx_xadd_range_direct(const void *ptr, size_t size, uint64_t flags);

/* Allocate in the transaction (freed again if it aborts); OID_NULL and abort on failure.
 * The x-variant takes POBJ_TX_XALLOC_VALID_FLAGS; z zeroes. */
PMEMoid pmemobj_tx_alloc(size_t size, uint64_t type_num);
PMEMoid pmemobj_tx_xalloc(size_t size, uint64_t type_num, uint64_t flags);
PMEMoid pmemobj_tx_zalloc(size_t size, uint64_t type_num);

/* Resize in the transaction (OID_NULL: allocate; size 0: free); z zeroes the growth. */
PMEMoid pmemobj_tx_realloc(PMEMoid oid, size_t size, uint64_t type_num);
PMEMoid pmemobj_tx_zrealloc(PMEMoid oid, size_t size, uint64_t type_num);

/* A copy of s, allocated in the transaction; x-variants take the tx_xalloc flags. */
PMEMoid pmemobj_tx_strdup(const char *s, uint64_t type_num);
PMEMoid pmemobj_tx_xstrdup(const char *s, uint64_t type_num, uint64_t flags);
PMEMoid pmemobj_tx_wcsdup(const wchar_t *s, uint64_t type_num);
PMEMoid pmemobj_tx_xwcsdup(const wchar_t *s, uint64_t type_num, uint64_t flags);

/* Free oid's object when the transaction commits (OID_NULL: nothing); 0 or error number. */
int pmemobj_tx_free(PMEMoid oid);
int pmemobj_tx_xfree(PMEMoid oid, uint64_t flags);

/* Take a TX_PARAM_MUTEX / TX_PARAM_RWLOCK lock now, held until the outermost tx ends. */
int pmemobj_tx_lock(enum pobj_tx_param type, void *lockp);
int pmemobj_tx_xlock(enum pobj_tx_param type, void *lockp, uint64_t flags);

/* This transaction's failure behaviour (inherited by nested ones; in WORK). */
void pmemobj_tx_set_failure_behavior(enum pobj_tx_failure_behavior behavior);
enum pobj_tx_failure_behavior pmemobj_tx_get_failure_behavior(void);

/* A volatile pointer tied to the current transaction (NULL until set). */
void pmemobj_tx_set_user_data(void *data);
void *pmemobj_tx_get_user_data(void);

/* ---- Locks -------------------------------------------------------------- */
/*
 * Pool-resident locks, one cache line each, ready when zeroed and unlocked again after
 * every open, whatever state the last run left them in. The implementation's view is the
 * second member: `runid` names the pool open that last initialised the process-local
 * pthread object kept in `lock` (8-byte aligned, 56 bytes); a stale runid (0, or an earlier
 * open) means "initialise before use". Users touch none of the members.
 */
#define _POBJ_CL_SIZE 64

typedef union {
	char padding[_POBJ_CL_SIZE];
	struct {
		uint64_t runid;
		union {
			uint64_t align;
			char data[_POBJ_CL_SIZE - sizeof(uint64_t)];
		} lock;
	} pmemmutex;
	long long align;
} PMEMmutex;

typedef union {
	char padding[_POBJ_CL_SIZE];
	struct {
		uint64_t runid;
		union {
			uint64_t align;
			char data[_POBJ_CL_SIZE - sizeof(uint64_t)];
		} lock;
	} pmemrwlock;
	long long align;
} PMEMrwlock;

typedef union {
	char padding[_POBJ_CL_SIZE];
	struct {
		uint64_t runid;
		union {
			uint64_t align;
			char data[_POBJ_CL_SIZE - sizeof(uint64_t)];
		} lock;
	} pmemcond;
	long long align;
} PMEMcond;

_POBJ_STATIC_ASSERT(sizeof(PMEMmutex) == _POBJ_CL_SIZE, "PMEMmutex is one cache line");
_POBJ_STATIC_ASSERT(sizeof(PMEMrwlock) == _POBJ_CL_SIZE, "PMEMrwlock is one cache line");
_POBJ_STATIC_ASSERT(sizeof(PMEMcond) == _POBJ_CL_SIZE, "PMEMcond is one cache line");
/* The pthread types are POSIX: strict ISO C without POSIX names skips the check. */
#if defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 200112L
_POBJ_STATIC_ASSERT(sizeof(pthread_mutex_t) <= sizeof(((PMEMmutex *)0)->pmemmutex.lock) &&
		__alignof__(pthread_mutex_t) <= __alignof__(uint64_t),
		"pthread_mutex_t fits PMEMmutex");
_POBJ_STATIC_ASSERT(sizeof(pthread_rwlock_t) <= sizeof(((PMEMrwlock *)0)->pmemrwlock.lock) &&
		__alignof__(pthread_rwlock_t) <= __alignof__(uint64_t),
		"pthread_rwlock_t fits PMEMrwlock");
_POBJ_STATIC_ASSERT(sizeof(pthread_cond_t) <= sizeof(((PMEMcond *)0)->pmemcond.lock) &&
		__alignof__(pthread_cond_t) <= __alignof__(uint64_t),
		"pthread_cond_t fits PMEMcond");
#endif

/* Zero a lock in place (and persist it): the same as a freshly zeroed allocation. */
void pmemobj_mutex_zero(PMEMobjpool *pop, PMEMmutex *mutexp);
void pmemobj_rwlock_zero(PMEMobjpool *pop, PMEMrwlock *rwlockp);
void pmemobj_cond_zero(PMEMobjpool *pop, PMEMcond *condp);

/* pthread_mutex_* on a pool-resident mutex; 0 or an error number (EBUSY, ETIMEDOUT, ...). */
int pmemobj_mutex_lock(PMEMobjpool *pop, PMEMmutex *mutexp);
int pmemobj_mutex_timedlock(PMEMobjpool *pop, PMEMmutex *__restrict mutexp,
		const struct timespec *__restrict abs_timeout);
int pmemobj_mutex_trylock(PMEMobjpool *pop, PMEMmutex *mutexp);
int pmemobj_mutex_unlock(PMEMobjpool *pop, PMEMmutex *mutexp);

/* pthread_rwlock_* on a pool-resident read/write lock; 0 or an error number. */
int pmemobj_rwlock_rdlock(PMEMobjpool *pop, PMEMrwlock *rwlockp);
int pmemobj_rwlock_wrlock(PMEMobjpool *pop, PMEMrwlock *rwlockp);
int pmemobj_rwlock_timedrdlock(PMEMobjpool *pop, PMEMrwlock *__restrict rwlockp,
		const struct timespec *__restrict abs_timeout);
int pmemobj_rwlock_timedwrlock(PMEMobjpool *pop, PMEMrwlock *__restrict rwlockp,
		const struct timespec *__restrict abs_timeout);
int pmemobj_rwlock_tryrdlock(PMEMobjpool *pop, PMEMrwlock *rwlockp);
int pmemobj_rwlock_trywrlock(PMEMobjpool *pop, PMEMrwlock *rwlockp);
int pmemobj_rwlock_unlock(PMEMobjpool *pop, PMEMrwlock *rwlockp);

/* pthread_cond_* on a pool-resident condition variable, waiting with a PMEMmutex held. */
int pmemobj_cond_broadcast(PMEMobjpool *pop, PMEMcond *condp);
int pmemobj_cond_signal(PMEMobjpool *pop, PMEMcond *condp);
int pmemobj_cond_timedwait(PMEMobjpool *pop, PMEMcond *__restrict condp,
		PMEMmutex *__restrict mutexp, const struct timespec *__restrict abs_timeout);
int pmemobj_cond_wait(PMEMobjpool *pop, PMEMcond *condp, PMEMmutex *__restrict mutexp);

/* ---- Actions ------------------------------------------------------------ */
/*
 * Deferred work: reserve objects, prepare 8-byte stores and frees, then make a whole set
 * durable at once (publish, atomic across a crash) or drop it (cancel). Until published
 * nothing in the pool changes; an unpublished reservation is gone after a crash.
 */

enum pobj_action_type {
	POBJ_ACTION_TYPE_HEAP,  /* a reservation or a deferred free */
	POBJ_ACTION_TYPE_MEM,   /* a deferred 8-byte store */

	POBJ_MAX_ACTION_TYPE
};

struct pobj_action_heap {
	uint64_t offset;       /* the object's offset in the pool */
	uint64_t usable_size;  /* its usable size */
};

/* One prepared action: 128 bytes, everything past `type` private to the library. Keep it
 * in volatile memory, untouched, until it is published or cancelled. */
struct pobj_action {
	enum pobj_action_type type;
	uint32_t data[3];
	union {
		struct pobj_action_heap heap;
		uint64_t data2[14];
	};
};

_POBJ_STATIC_ASSERT(sizeof(struct pobj_action) == 128, "struct pobj_action is PMDK's size");

/* Reserve an object (as pmemobj_alloc, but invisible until published); OID_NULL + errno.
 * The x-variant takes POBJ_ACTION_XRESERVE_VALID_FLAGS. */
PMEMoid pmemobj_reserve(PMEMobjpool *pop, struct pobj_action *act, size_t size,
		uint64_t type_num);
PMEMoid pmemobj_xreserve(PMEMobjpool *pop, struct pobj_action *act, size_t size,
		uint64_t type_num, uint64_t flags);

/* Prepare freeing oid's object (not OID_NULL) on publish. */
void pmemobj_defer_free(PMEMobjpool *pop, PMEMoid oid, struct pobj_action *act);

/* Prepare storing value at ptr (8 bytes in pop) on publish. */
void pmemobj_set_value(PMEMobjpool *pop, struct pobj_action *act, uint64_t *ptr, uint64_t value);

/* Apply actvcnt actions, all or none across a crash; 0, or -1 + errno. */
int pmemobj_publish(PMEMobjpool *pop, struct pobj_action *actv, size_t actvcnt);

/* Hand reservations to the current transaction (in WORK): kept on commit, freed on abort.
 * 0, or aborts + error number (xpublish with POBJ_XPUBLISH_NO_ABORT: returns it). */
int pmemobj_tx_publish(struct pobj_action *actv, size_t actvcnt);
int pmemobj_tx_xpublish(struct pobj_action *actv, size_t actvcnt, uint64_t flags);

/* Drop actvcnt unpublished actions, returning their reservations. */
void pmemobj_cancel(PMEMobjpool *pop, struct pobj_action *actv, size_t actvcnt);

/* ---- Typed handles: TOID ------------------------------------------------ */
/*
 * TOID(T) is a union per type T holding the PMEMoid `oid`, plus two members never read at
 * run time: `_type` (a T *, giving the pointee type to D_RW/D_RO) and `_type_num` (a
 * pointer to char[N + 1], carrying T's type number N in the type). T is an identifier or
 * `struct X` / `union X` / `enum X`: pasting a prefix onto "struct" names one of the
 * empty macros below, which leaves the union tagged X_toid.
 */
#define POBJ_ROOT_TYPE_NUM 0

#define _pobj_toid_struct
#define _pobj_toid_union
#define _pobj_toid_enum

#define TOID(t) union _pobj_toid_##t##_toid

#ifdef __cplusplus
/* C++ needs the conversions C gets from a cast to a union type. */
#define _POBJ_TOID_CONSTRUCTORS(t)						\
	_pobj_toid_##t##_toid() {}						\
	_pobj_toid_##t##_toid(PMEMoid _pobj_from) : oid(_pobj_from) {}
#else
#define _POBJ_TOID_CONSTRUCTORS(t)
#endif

/* Declare TOID(t) with type number i (i expanded once: layouts pass __COUNTER__ in it). */
#define TOID_DECLARE(t, i)							\
	TOID(t) {								\
		_POBJ_TOID_CONSTRUCTORS(t)					\
		PMEMoid oid;							\
		t *_type;							\
		char (*_type_num)[(i) + 1];					\
	}

/* Declare TOID(t) for the root object's type. */
#define TOID_DECLARE_ROOT(t) TOID_DECLARE(t, POBJ_ROOT_TYPE_NUM)

/* The type number declared for t, and the one carried by the handle o (constants). */
#define TOID_TYPE_NUM(t) (sizeof(*((TOID(t) *)0)->_type_num) - 1)
#define TOID_TYPE_NUM_OF(o) (sizeof(*(o)._type_num) - 1)

/* Whether o's object was allocated with o's type number; whether oid's object has t's. */
#define TOID_VALID(o) (TOID_TYPE_NUM_OF(o) == pmemobj_type_num((o).oid))
#define OID_INSTANCEOF(oid, t) (TOID_TYPE_NUM(t) == pmemobj_type_num(oid))

/* Store the PMEMoid value into typed handle o; evaluates to o. */
#define TOID_ASSIGN(o, value) __extension__ ({ (o).oid = (value); (o); })

#define TOID_IS_NULL(o) OID_IS_NULL((o).oid)
#define TOID_EQUALS(a, b) OID_EQUALS((a).oid, (b).oid)
#define TOID_NULL(t) ((TOID(t))OID_NULL)

/* The pointee type of o, and the offset of field in it. */
#define TOID_TYPEOF(o) __typeof__(*(o)._type)
#define TOID_OFFSETOF(o, field) offsetof(TOID_TYPEOF(o), field)

/* A T * to o's object (NULL for a null handle). The unevaluated store into `_type`
 * refuses (does not compile for) a const o, and declares nothing that could shadow. */
#define DIRECT_RW(o)								\
	((void)sizeof(((__typeof__(o) *)0)->_type = 0),				\
	(TOID_TYPEOF(o) *)pmemobj_direct((o).oid))

/* A const T * to o's object (NULL for a null handle). */
#define DIRECT_RO(o) ((const TOID_TYPEOF(o) *)pmemobj_direct((o).oid))

#define D_RW DIRECT_RW
#define D_RO DIRECT_RO

/* ---- Typed handles: layouts --------------------------------------------- */
/*
 * POBJ_LAYOUT_BEGIN(name); POBJ_LAYOUT_ROOT(name, T); POBJ_LAYOUT_TOID(name, U); ...
 * POBJ_LAYOUT_END(name); declares the TOIDs of a layout, numbering its types 1, 2, ...
 * in order (the root is 0). The numbers come from __COUNTER__ between BEGIN and END, so
 * nothing else may use __COUNTER__ in between.
 */
#define POBJ_LAYOUT_BEGIN(name)							\
	enum { _pobj_layout_##name##_base = __COUNTER__ }

#define POBJ_LAYOUT_ROOT(name, t)						\
	TOID_DECLARE_ROOT(t);

#define POBJ_LAYOUT_TOID(name, t)						\
	TOID_DECLARE(t, __COUNTER__ - _pobj_layout_##name##_base);

#define POBJ_LAYOUT_END(name)							\
	enum { _pobj_layout_##name##_types = __COUNTER__ - _pobj_layout_##name##_base - 1 };

/* The layout's name as a string (for pmemobj_create/open), and its count of non-root types. */
#define POBJ_LAYOUT_NAME(name) #name
#define POBJ_LAYOUT_TYPES_NUM(name) ((size_t)_pobj_layout_##name##_types)

/* ---- Typed handles: calls ----------------------------------------------- */

/* The root as a TOID(t), made or grown to sizeof(t). */
#define POBJ_ROOT(pop, t) ((TOID(t))pmemobj_root((pop), sizeof(t)))

/* Atomic allocation into *o (a TOID(t) *, or NULL), sizeof(t) or size bytes, t's number. */
#define POBJ_NEW(pop, o, t, constr, arg)					\
	pmemobj_alloc((pop), (PMEMoid *)(o), sizeof(t), TOID_TYPE_NUM(t), (constr), (arg))
#define POBJ_ALLOC(pop, o, t, size, constr, arg)				\
	pmemobj_alloc((pop), (PMEMoid *)(o), (size), TOID_TYPE_NUM(t), (constr), (arg))
#define POBJ_ZNEW(pop, o, t)							\
	pmemobj_zalloc((pop), (PMEMoid *)(o), sizeof(t), TOID_TYPE_NUM(t))
#define POBJ_ZALLOC(pop, o, t, size)						\
	pmemobj_zalloc((pop), (PMEMoid *)(o), (size), TOID_TYPE_NUM(t))
#define POBJ_REALLOC(pop, o, t, size)						\
	pmemobj_realloc((pop), (PMEMoid *)(o), (size), TOID_TYPE_NUM(t))
#define POBJ_ZREALLOC(pop, o, t, size)						\
	pmemobj_zrealloc((pop), (PMEMoid *)(o), (size), TOID_TYPE_NUM(t))
#define POBJ_FREE(o) pmemobj_free((PMEMoid *)(o))

/* The first object of type t, and the next one of o's type, as typed handles. */
#define POBJ_FIRST(pop, t) ((TOID(t))POBJ_FIRST_TYPE_NUM((pop), TOID_TYPE_NUM(t)))
#define POBJ_NEXT(o) ((__typeof__(o))POBJ_NEXT_TYPE_NUM((o).oid))

/* Walk the objects of var's type (var: a TOID lvalue); the SAFE form lets the body free var. */
#define POBJ_FOREACH_TYPE(pop, var)						\
	for ((var).oid = POBJ_FIRST_TYPE_NUM((pop), TOID_TYPE_NUM_OF(var));	\
			!TOID_IS_NULL(var);					\
			(var).oid = POBJ_NEXT_TYPE_NUM((var).oid))
#define POBJ_FOREACH_SAFE_TYPE(pop, var, nvar)					\
	for ((var).oid = POBJ_FIRST_TYPE_NUM((pop), TOID_TYPE_NUM_OF(var));	\
			!TOID_IS_NULL(var) &&					\
			((nvar).oid = POBJ_NEXT_TYPE_NUM((var).oid), 1);	\
			(var).oid = (nvar).oid)

/* Reservations as typed handles (see pmemobj_reserve / pmemobj_xreserve). */
#define POBJ_RESERVE_NEW(pop, t, act)						\
	((TOID(t))pmemobj_reserve((pop), (act), sizeof(t), TOID_TYPE_NUM(t)))
#define POBJ_RESERVE_ALLOC(pop, t, size, act)					\
	((TOID(t))pmemobj_reserve((pop), (act), (size), TOID_TYPE_NUM(t)))
#define POBJ_XRESERVE_NEW(pop, t, act, flags)					\
	((TOID(t))pmemobj_xreserve((pop), (act), sizeof(t), TOID_TYPE_NUM(t), (flags)))
#define POBJ_XRESERVE_ALLOC(pop, t, size, act, flags)				\
	((TOID(t))pmemobj_xreserve((pop), (act), (size), TOID_TYPE_NUM(t), (flags)))

/* ---- Transaction macros ------------------------------------------------- */
/*
 *	TX_BEGIN(pop) { work } TX_ONCOMMIT { ... } TX_ONABORT { ... } TX_FINALLY { ... } TX_END
 *
 * The sections after TX_BEGIN are optional, in any order; TX_END is required. The block
 * saves a jmp_buf, begins (a failed begin goes straight to ONABORT), then loops over the
 * thread's stage, one switch case per section; each section ends by calling
 * pmemobj_tx_process() and a stage with no section only calls it. An abort longjmps back
 * into the block, so a local changed in the work section and read afterwards must be
 * volatile. TX_END ends the transaction and leaves its error, if any, in errno. `break`
 * or `continue` in a section reruns it; `return` or `goto` out of it leaves the
 * transaction open. Define POBJ_TX_CRASH_ON_NO_ONABORT to abort() on an abort nobody handles.
 */

/* Set errno from a returned error number, if there is one. */
static inline void
_pobj_tx_set_errno(int err)
{
	if (err)
		errno = err;
}

/* TX_BEGIN_CB's callback, typed (variadic arguments are not checked). */
static inline pmemobj_tx_callback
_pobj_tx_checked_cb(pmemobj_tx_callback cb)
{
	return cb;
}

#ifdef POBJ_TX_CRASH_ON_NO_ONABORT
#define _POBJ_TX_UNHANDLED_STAGE()						\
	do {									\
		if (pmemobj_tx_stage() == TX_STAGE_ONABORT)			\
			abort();						\
	} while (0)
#else
#define _POBJ_TX_UNHANDLED_STAGE() do { } while (0)
#endif

/* Names unique to the line of the TX_BEGIN, so nested transactions shadow nothing. */
#define _POBJ_CAT2(a, b) a##b
#define _POBJ_CAT(a, b) _POBJ_CAT2(a, b)
#define _POBJ_TX_ENV _POBJ_CAT(_pobj_tx_env_, __LINE__)
#define _POBJ_TX_NOW _POBJ_CAT(_pobj_tx_stage_, __LINE__)

/*
 * Begin with pmemobj_tx_begin's TX_PARAM_* list (TX_PARAM_NONE is appended). The stage
 * variable is declared after setjmp, and the errors live in calls, so nothing of the
 * macro's is live across the setjmp.
 */
#define TX_BEGIN_PARAM(pop, ...)						\
	{									\
		jmp_buf _POBJ_TX_ENV;						\
		if (setjmp(_POBJ_TX_ENV))					\
			errno = pmemobj_tx_errno();				\
		else								\
			_pobj_tx_set_errno(pmemobj_tx_begin((pop), _POBJ_TX_ENV, \
					##__VA_ARGS__, TX_PARAM_NONE));		\
		for (enum pobj_tx_stage _POBJ_TX_NOW;				\
				(_POBJ_TX_NOW = pmemobj_tx_stage()) != TX_STAGE_NONE;) \
			switch (_POBJ_TX_NOW) {					\
			case TX_STAGE_WORK:

/* Begin with a stage callback (and, after it, more TX_PARAM_* pairs). */
#define TX_BEGIN_CB(pop, cb, arg, ...)						\
	TX_BEGIN_PARAM(pop, TX_PARAM_CB, _pobj_tx_checked_cb(cb), (void *)(arg), \
			##__VA_ARGS__)

/* Begin a transaction with no locks or callback. */
#define TX_BEGIN(pop) TX_BEGIN_PARAM(pop, TX_PARAM_NONE)

/* PMDK's older name for TX_BEGIN_PARAM. */
#define TX_BEGIN_LOCK TX_BEGIN_PARAM

/* End the section before, open the next. */
#define _POBJ_TX_SECTION(stage)							\
				pmemobj_tx_process();				\
				break;						\
			case stage:

#define TX_ONCOMMIT _POBJ_TX_SECTION(TX_STAGE_ONCOMMIT)
#define TX_ONABORT _POBJ_TX_SECTION(TX_STAGE_ONABORT)
#define TX_FINALLY _POBJ_TX_SECTION(TX_STAGE_FINALLY)

#define TX_END									\
				pmemobj_tx_process();				\
				break;						\
			default:						\
				_POBJ_TX_UNHANDLED_STAGE();			\
				pmemobj_tx_process();				\
				break;						\
			}							\
		_pobj_tx_set_errno(pmemobj_tx_end());				\
	}

/* Snapshot the whole object of handle o or pointer p, or one field of it (X: with flags). */
#define TX_ADD(o) pmemobj_tx_add_range((o).oid, 0, sizeof(TOID_TYPEOF(o)))
#define TX_XADD(o, flags) pmemobj_tx_xadd_range((o).oid, 0, sizeof(TOID_TYPEOF(o)), (flags))
#define TX_ADD_DIRECT(p) pmemobj_tx_add_range_direct((p), sizeof(*(p)))
#define TX_XADD_DIRECT(p, flags) pmemobj_tx_xadd_range_direct((p), sizeof(*(p)), (flags))
#define TX_ADD_FIELD(o, field) TX_ADD_DIRECT(&D_RO(o)->field)
#define TX_XADD_FIELD(o, field, flags) TX_XADD_DIRECT(&D_RO(o)->field, (flags))
#define TX_ADD_FIELD_DIRECT(p, field)						\
	pmemobj_tx_add_range_direct(&(p)->field, sizeof((p)->field))
#define TX_XADD_FIELD_DIRECT(p, field, flags)					\
	pmemobj_tx_xadd_range_direct(&(p)->field, sizeof((p)->field), (flags))

/* Allocate a typed object in the transaction: sizeof(t) or size bytes; Z: zeroed. */
#define TX_NEW(t) ((TOID(t))pmemobj_tx_alloc(sizeof(t), TOID_TYPE_NUM(t)))
#define TX_ALLOC(t, size) ((TOID(t))pmemobj_tx_alloc((size), TOID_TYPE_NUM(t)))
#define TX_ZNEW(t) ((TOID(t))pmemobj_tx_zalloc(sizeof(t), TOID_TYPE_NUM(t)))
#define TX_ZALLOC(t, size) ((TOID(t))pmemobj_tx_zalloc((size), TOID_TYPE_NUM(t)))
#define TX_XALLOC(t, size, flags)						\
	((TOID(t))pmemobj_tx_xalloc((size), TOID_TYPE_NUM(t), (flags)))

/* Resize o's object in the transaction, keeping its type; evaluates to the new handle. */
#define TX_REALLOC(o, size)							\
	((__typeof__(o))pmemobj_tx_realloc((o).oid, (size), TOID_TYPE_NUM_OF(o)))
#define TX_ZREALLOC(o, size)							\
	((__typeof__(o))pmemobj_tx_zrealloc((o).oid, (size), TOID_TYPE_NUM_OF(o)))

/* String copies in the transaction (untyped PMEMoid results). */
#define TX_STRDUP(s, type_num) pmemobj_tx_strdup((s), (type_num))
#define TX_XSTRDUP(s, type_num, flags) pmemobj_tx_xstrdup((s), (type_num), (flags))
#define TX_WCSDUP(s, type_num) pmemobj_tx_wcsdup((s), (type_num))
#define TX_XWCSDUP(s, type_num, flags) pmemobj_tx_xwcsdup((s), (type_num), (flags))

/* Free o's object when the transaction commits. */
#define TX_FREE(o) pmemobj_tx_free((o).oid)
#define TX_XFREE(o, flags) pmemobj_tx_xfree((o).oid, (flags))

/* Snapshot a field, then assign it: through handle o, or through pointer p. */
#define TX_SET(o, field, value) (TX_ADD_FIELD(o, field), D_RW(o)->field = (value))
#define TX_SET_DIRECT(p, field, value)						\
	(TX_ADD_FIELD_DIRECT(p, field), (p)->field = (value))

/* Snapshot num bytes at dest, then memcpy / memset them; return dest. */
static inline void *
TX_MEMCPY(void *dest, const void *src, size_t num)
{
	pmemobj_tx_add_range_direct(dest, num);
	return memcpy(dest, src, num);
}

static inline void *
TX_MEMSET(void *dest, int c, size_t num)
{
	pmemobj_tx_add_range_direct(dest, num);
	return memset(dest, c, num);
}

#ifdef __cplusplus
}
#endif

#endif
