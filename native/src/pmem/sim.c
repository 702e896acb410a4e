/*
 * sim.c -- the crash simulator's images, drain points, candidates and routing
 */
#include "pmem/sim.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "pmalloc.h"
#include "pmem/flush.h"

/* Largest sim: the images live in memory three times over. */
#define SIM_MAX_SIZE ((size_t)1 << 32)
/* Sims one thread may flush between two drains and still have routed drains reach. */
#define SIM_TLS_MAX 16
#define WORD ((size_t)8)
#define BITS 64

/* The flusher of a pending line that more than one thread flushed: any drain completes it. */
#define SIM_SHARED UINT32_MAX

/* One simulated pmem range. Every field below `lock` is guarded by it (the images,
 * counters and hook), except the registry's (sim_lock) and what never changes after sim_new. */
struct pmalloc_sim {
	uint8_t *work;            /* the working image: the mapping programs write */
	size_t size;              /* bytes of each image, a multiple of FLUSH_LINE */
	size_t map_size;          /* bytes mapped for work (a page multiple) */
	void *table;              /* its persist-ops table, made by pmemops.c: sim.c only keeps it
	                             and frees it with the sim */
	pthread_mutex_t lock;     /* recursive: the hook runs with it held and may read the sim */
	uint8_t *persisted;       /* what a crash keeps for sure */
	uint8_t *pending;         /* line snapshots of flushes not yet drained */
	uint64_t *pending_map;    /* a bit per line: its snapshot in pending awaits a drain */
	uint32_t *flusher;        /* per pending line: the thread that flushed it, or SIM_SHARED */
	size_t npending;          /* bits set in pending_map */
	uint64_t drains;          /* drain points so far, from every thread */
	pmalloc_sim_hook hook;    /* called at each drain point, or NULL */
	void *hook_arg;           /* its first argument */
	int in_hook;              /* the hook is running (on the thread holding lock): its own
	                             drains are not points */
	uint64_t id;              /* unique among all sims ever made */
	unsigned refs;            /* routed flushes and drains using it now */
	int deleted;              /* pmalloc_sim_delete ran: the last reference frees it */
	struct pmalloc_sim *next; /* next in the registry */
};

atomic_int sim_count;

/* Every live sim, for routing. */
static pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pmalloc_sim *sim_list;
static uint64_t sim_next_id = 1;

/* The sims this thread flushed through routing since its last routed drain. */
static _Thread_local struct {
	struct pmalloc_sim *sim;
	uint64_t id;
} sim_tls[SIM_TLS_MAX];
static _Thread_local int sim_tls_n;

/* Thread numbers: what a pending line records of its flusher (0: not yet numbered). */
static _Atomic uint32_t sim_thread_next = 1;
static _Thread_local uint32_t sim_thread;

/* sim_self -- this thread's number: a drain completes only the flushes of its own thread,
 * as a fence orders only its own core's write-backs */
static uint32_t
sim_self(void)
{
	while (sim_thread == 0 || sim_thread == SIM_SHARED)
		sim_thread = atomic_fetch_add_explicit(&sim_thread_next, 1, memory_order_relaxed);
	return sim_thread;
}

/* sim_enter / sim_leave -- hold a sim's lock (const: the readers lock too) */
static void
sim_enter(const struct pmalloc_sim *sim)
{
	pthread_mutex_lock((pthread_mutex_t *)&sim->lock);
}

static void
sim_leave(const struct pmalloc_sim *sim)
{
	pthread_mutex_unlock((pthread_mutex_t *)&sim->lock);
}

/* ---- Images --------------------------------------------------------------- */

/* sim_work_word -- the aligned word at off of the working image, read once and whole:
 * other threads may be storing to it (as a cache line is read while cores write it) */
static uint64_t
sim_work_word(const struct pmalloc_sim *sim, size_t off)
{
	return __atomic_load_n((const uint64_t *)(const void *)(sim->work + off), __ATOMIC_RELAXED);
}

/* sim_clip -- the lines [*first, *last) of sim that [addr, addr+len) touches; 0 if none */
static int
sim_clip(const struct pmalloc_sim *sim, const void *addr, size_t len, size_t *first, size_t *last)
{
	uintptr_t base = (uintptr_t)sim->work;
	uintptr_t p = (uintptr_t)addr;
	uintptr_t end = p + len;
	if (len == 0 || end < p || end <= base || p >= base + sim->size)
		return 0;
	uintptr_t lo = p < base ? base : p;
	uintptr_t hi = end > base + sim->size ? base + sim->size : end;
	*first = (lo - base) / FLUSH_LINE;
	*last = (hi - base + FLUSH_LINE - 1) / FLUSH_LINE;
	return 1;
}

void
sim_flush(struct pmalloc_sim *sim, const void *addr, size_t len)
{
	size_t first, last;
	if (!sim_clip(sim, addr, len, &first, &last))
		return;
	uint32_t self = sim_self();
	sim_enter(sim);
	for (size_t l = first; l < last; l++) {
		size_t off = l * FLUSH_LINE;
		for (size_t w = off; w < off + FLUSH_LINE; w += WORD) {
			uint64_t v = sim_work_word(sim, w);
			memcpy(sim->pending + w, &v, WORD);
		}
		uint64_t bit = (uint64_t)1 << (l % BITS);
		if (!(sim->pending_map[l / BITS] & bit)) {
			sim->pending_map[l / BITS] |= bit;
			sim->npending++;
			sim->flusher[l] = self;
		} else if (sim->flusher[l] != self) {
			sim->flusher[l] = SIM_SHARED;
		}
	}
	sim_leave(sim);
}

/* sim_apply -- complete thread self's flushes: copy the pending lines it flushed (alone or
 * with others) into the persisted image. Lines only other threads flushed stay pending. */
static void
sim_apply(struct pmalloc_sim *sim, uint32_t self)
{
	size_t nlines = sim->size / FLUSH_LINE;
	for (size_t w = 0; sim->npending != 0 && w * BITS < nlines; w++) {
		uint64_t bits = sim->pending_map[w];
		while (bits != 0) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			size_t l = w * BITS + b;
			bits &= bits - 1;
			if (sim->flusher[l] != self && sim->flusher[l] != SIM_SHARED)
				continue;
			memcpy(sim->persisted + l * FLUSH_LINE, sim->pending + l * FLUSH_LINE,
				FLUSH_LINE);
			sim->pending_map[w] &= ~((uint64_t)1 << b);
			sim->flusher[l] = 0;
			sim->npending--;
		}
	}
}

void
sim_drain(struct pmalloc_sim *sim)
{
	uint32_t self = sim_self();
	/* Held through the hook: a drain of another thread waits, then is the next point;
	 * none is lost, and the hook sees images no other drain or flush changes. */
	sim_enter(sim);
	if (!sim->in_hook) {
		uint64_t point = ++sim->drains;
		if (sim->hook != NULL) {
			sim->in_hook = 1;
			int rc = sim->hook(sim->hook_arg, point);
			sim->in_hook = 0;
			if (rc < 0)
				sim->hook = NULL;
		}
	}
	sim_apply(sim, self);
	sim_leave(sim);
}

/* ---- Registry and routing -------------------------------------------------- */

/* sim_find_locked -- the sim whose working image holds [addr, addr+len), or NULL */
static struct pmalloc_sim *
sim_find_locked(const void *addr, size_t len)
{
	uintptr_t p = (uintptr_t)addr;
	for (struct pmalloc_sim *s = sim_list; s != NULL; s = s->next) {
		uintptr_t base = (uintptr_t)s->work;
		if (p >= base && p < base + s->size && len <= base + s->size - p)
			return s;
	}
	return NULL;
}

int
sim_covers(const void *addr, size_t len)
{
	pthread_mutex_lock(&sim_lock);
	int found = sim_find_locked(addr, len ? len : 1) != NULL;
	pthread_mutex_unlock(&sim_lock);
	return found;
}

void *
sim_table_for(const void *addr, size_t len)
{
	if (!sim_active())
		return NULL;
	pthread_mutex_lock(&sim_lock);
	struct pmalloc_sim *s = sim_find_locked(addr, len ? len : 1);
	pthread_mutex_unlock(&sim_lock);
	return s ? s->table : NULL;
}

/* sim_free_images -- unmap and free what sim_new allocated (any of it may be NULL) */
static void
sim_free_images(struct pmalloc_sim *sim)
{
	if (sim->work != NULL)
		munmap(sim->work, sim->map_size);
	free(sim->persisted);
	free(sim->pending);
	free(sim->pending_map);
	free(sim->flusher);
	free(sim->table);
	free(sim);
}

/* sim_free -- free a sim no one can reach any more, once a flush or drain of it (and its
 * hook) that another thread is in has ended */
static void
sim_free(struct pmalloc_sim *sim)
{
	sim_enter(sim);
	sim_leave(sim);
	pthread_mutex_destroy(&sim->lock);
	sim_free_images(sim);
}

/* sim_put -- drop a routing reference: the last one frees a deleted sim */
static void
sim_put(struct pmalloc_sim *sim)
{
	pthread_mutex_lock(&sim_lock);
	int last = --sim->refs == 0 && sim->deleted;
	pthread_mutex_unlock(&sim_lock);
	if (last)
		sim_free(sim);
}

int
sim_route_flush(const void *addr, size_t len)
{
	/* the reference keeps the sim alive between the lookup and the flush */
	pthread_mutex_lock(&sim_lock);
	struct pmalloc_sim *s = sim_find_locked(addr, 1);
	uint64_t id = 0;
	if (s != NULL) {
		s->refs++;
		id = s->id;
	}
	pthread_mutex_unlock(&sim_lock);
	if (s == NULL)
		return 0;
	int known = 0;
	for (int i = 0; i < sim_tls_n; i++)
		known |= sim_tls[i].sim == s && sim_tls[i].id == id;
	if (!known && sim_tls_n < SIM_TLS_MAX) {
		sim_tls[sim_tls_n].sim = s;
		sim_tls[sim_tls_n].id = id;
		sim_tls_n++;
	}
	sim_flush(s, addr, len);
	sim_put(s);
	return 1;
}

void
sim_route_drain(void)
{
	int n = sim_tls_n;
	sim_tls_n = 0;
	for (int i = 0; i < n; i++) {
		/* drain only a sim that still lives (its id proves it is the same one) */
		pthread_mutex_lock(&sim_lock);
		struct pmalloc_sim *s = sim_list;
		while (s != NULL && !(s == sim_tls[i].sim && s->id == sim_tls[i].id))
			s = s->next;
		if (s != NULL)
			s->refs++;
		pthread_mutex_unlock(&sim_lock);
		if (s != NULL) {
			sim_drain(s);
			sim_put(s);
		}
	}
}

/* ---- Life and the public API (pmalloc.h) ------------------------------------- */

/* sim_lock_init -- a recursive lock: the hook runs holding it and reads the sim; 0 or -1 */
static int
sim_lock_init(struct pmalloc_sim *sim)
{
	pthread_mutexattr_t attr;
	if (pthread_mutexattr_init(&attr) != 0)
		return -1;
	int rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	if (rc == 0)
		rc = pthread_mutex_init(&sim->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

struct pmalloc_sim *
sim_new(size_t size)
{
	if (size == 0 || size > SIM_MAX_SIZE) {
		errmsg_set(EINVAL, "pmalloc_sim_new: size %zu not in 1..%zu", size, SIM_MAX_SIZE);
		return NULL;
	}
	size = ALIGN_UP(size, FLUSH_LINE);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t nlines = size / FLUSH_LINE;
	struct pmalloc_sim *sim = calloc(1, sizeof(*sim));
	if (sim == NULL)
		goto nomem;
	sim->size = size;
	sim->map_size = ALIGN_UP(size, page);
	sim->persisted = calloc(1, size);
	sim->pending = calloc(1, size);
	sim->pending_map = calloc((nlines + BITS - 1) / BITS, sizeof(uint64_t));
	sim->flusher = calloc(nlines, sizeof(uint32_t));
	void *work = mmap(NULL, sim->map_size, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sim->work = work == MAP_FAILED ? NULL : work;
	if (sim->persisted == NULL || sim->pending == NULL || sim->pending_map == NULL ||
	    sim->flusher == NULL || sim->work == NULL || sim_lock_init(sim) != 0)
		goto nomem;
	return sim;

nomem:
	if (sim != NULL)
		sim_free_images(sim);
	errmsg_set(ENOMEM, "pmalloc_sim_new: no memory for three images of %zu bytes", size);
	return NULL;
}

void
sim_publish(struct pmalloc_sim *sim, void *table)
{
	sim->table = table;
	pthread_mutex_lock(&sim_lock);
	sim->id = sim_next_id++;
	sim->next = sim_list;
	sim_list = sim;
	atomic_fetch_add(&sim_count, 1);
	pthread_mutex_unlock(&sim_lock);
}

void *
sim_table(const struct pmalloc_sim *sim)
{
	return sim->table;
}

void
sim_delete(struct pmalloc_sim *sim)
{
	pthread_mutex_lock(&sim_lock);
	for (struct pmalloc_sim **pp = &sim_list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == sim) {
			*pp = sim->next;
			atomic_fetch_sub(&sim_count, 1);
			break;
		}
	}
	sim->deleted = 1;
	int last = sim->refs == 0; /* else a routed call on another thread frees it */
	pthread_mutex_unlock(&sim_lock);
	if (last)
		sim_free(sim);
}

API void *
pmalloc_sim_addr(const PMALLOC_SIM *sim)
{
	return sim ? sim->work : NULL;
}

API size_t
pmalloc_sim_size(const PMALLOC_SIM *sim)
{
	return sim ? sim->size : 0;
}

API int
pmalloc_sim_load(PMALLOC_SIM *sim, const void *image, size_t len)
{
	if (sim == NULL || (image == NULL && len != 0) || len > sim->size) {
		errmsg_set(EINVAL, "pmalloc_sim_load: %zu bytes do not fit the simulator", len);
		return -1;
	}
	sim_enter(sim);
	if (len != 0)
		memcpy(sim->work, image, len);
	memset(sim->work + len, 0, sim->size - len);
	memcpy(sim->persisted, sim->work, sim->size);
	memset(sim->pending_map, 0,
		(sim->size / FLUSH_LINE + BITS - 1) / BITS * sizeof(uint64_t));
	memset(sim->flusher, 0, sim->size / FLUSH_LINE * sizeof(uint32_t));
	sim->npending = 0;
	sim->drains = 0;
	sim_leave(sim);
	return 0;
}

API void
pmalloc_sim_set_hook(PMALLOC_SIM *sim, pmalloc_sim_hook hook, void *arg)
{
	if (sim == NULL)
		return;
	sim_enter(sim); /* waits for a hook another thread is running */
	sim->hook = hook;
	sim->hook_arg = arg;
	sim_leave(sim);
}

API uint64_t
pmalloc_sim_drains(const PMALLOC_SIM *sim)
{
	if (sim == NULL)
		return 0;
	sim_enter(sim);
	uint64_t n = sim->drains;
	sim_leave(sim);
	return n;
}

API int
pmalloc_sim_persisted(const PMALLOC_SIM *sim, void *dst, size_t len)
{
	if (sim == NULL || (dst == NULL && len != 0) || len > sim->size) {
		errmsg_set(EINVAL, "pmalloc_sim_persisted: %zu bytes do not fit the simulator", len);
		return -1;
	}
	sim_enter(sim);
	memcpy(dst, sim->persisted, len);
	sim_leave(sim);
	return 0;
}

static uint64_t
sim_word(const uint8_t *image, size_t off)
{
	uint64_t v;
	memcpy(&v, image + off, WORD);
	return v;
}

API size_t
pmalloc_sim_words(const PMALLOC_SIM *sim, struct pmalloc_sim_word *out, size_t n)
{
	if (sim == NULL)
		return 0;
	size_t count = 0;
	sim_enter(sim);
	for (size_t line = 0; line < sim->size / FLUSH_LINE; line++) {
		size_t base = line * FLUSH_LINE;
		int pend = (sim->pending_map[line / BITS] >> (line % BITS)) & 1;
		for (size_t off = base; off < base + FLUSH_LINE; off += WORD) {
			uint64_t v[3] = { 0, 0, 0 };
			uint32_t nv = 1;
			v[0] = sim_word(sim->persisted, off);
			if (pend) {
				uint64_t f = sim_word(sim->pending, off);
				if (f != v[0])
					v[nv++] = f;
			}
			uint64_t w = sim_work_word(sim, off);
			if (w != v[0] && (nv == 1 || w != v[1]))
				v[nv++] = w;
			if (nv == 1)
				continue;
			if (count < n) {
				out[count].offset = off;
				memcpy(out[count].value, v, sizeof(v));
				out[count].nvalues = nv;
			}
			count++;
		}
	}
	sim_leave(sim);
	return count;
}
