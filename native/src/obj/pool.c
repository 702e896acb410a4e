/*
 * pool.c -- object pools: create, open (with recovery), close, check; lanes; the registry
 *
 * Create writes everything but the header, makes it durable, then writes the
 * header: a crash leaves either no pool (no signature) or a whole one. Open
 * checks the header, replays every lane's redo log, rolls back every active undo
 * log, then builds the heap's index from the descriptors below top.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/errmsg.h"
#include "libpmem.h"
#include "libpmemobj.h"
#include "obj/obj.h"
#include "pmalloc.h"

/* ---- the registry ---------------------------------------------------------- */

#define MAX_POOLS 1024

static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct pmemobjpool *reg[MAX_POOLS];
static unsigned reg_n;
atomic_uint pool_reg_gen;

static int
reg_add(struct pmemobjpool *pop)
{
	pthread_rwlock_wrlock(&reg_lock);
	for (unsigned i = 0; i < reg_n; i++) {
		if (reg[i]->uuid_lo == pop->uuid_lo) {
			pthread_rwlock_unlock(&reg_lock);
			return errmsg_set(EEXIST, "a pool with the same UUID is open already "
					"(a copy of an open pool?)"), -1;
		}
	}
	if (reg_n == MAX_POOLS) {
		pthread_rwlock_unlock(&reg_lock);
		return errmsg_set(EMFILE, "%d object pools are open already", MAX_POOLS), -1;
	}
	reg[reg_n++] = pop;
	pthread_rwlock_unlock(&reg_lock);
	return 0;
}

static void
reg_remove(struct pmemobjpool *pop)
{
	pthread_rwlock_wrlock(&reg_lock);
	for (unsigned i = 0; i < reg_n; i++) {
		if (reg[i] == pop) {
			reg[i] = reg[--reg_n];
			atomic_fetch_add(&pool_reg_gen, 1);
			break;
		}
	}
	pthread_rwlock_unlock(&reg_lock);
}

struct pmemobjpool *
pool_by_uuid(uint64_t uuid_lo)
{
	struct pmemobjpool *found = NULL;
	pthread_rwlock_rdlock(&reg_lock);
	for (unsigned i = 0; i < reg_n && !found; i++)
		if (reg[i]->uuid_lo == uuid_lo)
			found = reg[i];
	pthread_rwlock_unlock(&reg_lock);
	return found;
}

struct pmemobjpool *
pool_by_addr(const void *addr)
{
	struct pmemobjpool *found = NULL;
	pthread_rwlock_rdlock(&reg_lock);
	for (unsigned i = 0; i < reg_n && !found; i++)
		if (pool_holds(reg[i], addr, 0) && (const char *)addr != reg[i]->base + reg[i]->size)
			found = reg[i];
	pthread_rwlock_unlock(&reg_lock);
	return found;
}

/* ---- lanes ----------------------------------------------------------------- */

static __thread unsigned lane_hint TLS_HOT;

unsigned
lane_hold(struct pmemobjpool *pop)
{
	for (unsigned spin = 0;; spin++) {
		for (unsigned k = 0; k < pop->nlanes; k++) {
			unsigned i = (lane_hint + k) % pop->nlanes;
			int expect = 0;
			if (atomic_load_explicit(&pop->lane_busy[i], memory_order_relaxed) == 0 &&
					atomic_compare_exchange_strong(&pop->lane_busy[i], &expect, 1)) {
				lane_hint = i;
				return i;
			}
		}
		if (spin > 16)
			sched_yield();
	}
}

void
lane_release(struct pmemobjpool *pop, unsigned lane)
{
	atomic_store_explicit(&pop->lane_busy[lane], 0, memory_order_release);
}

/* ---- geometry and the header ---------------------------------------------- */

struct geometry {
	uint64_t nlanes, desc_off, heap_off, heap_pages;
};

/* geometry_for -- where everything goes in a pool of size bytes; false if too small */
static bool
geometry_for(size_t size, struct geometry *g)
{
	g->nlanes = MIN((uint64_t)OBJ_MAX_LANES, MAX((uint64_t)2, (uint64_t)size >> 17));
	g->desc_off = OBJ_LANES_OFF + g->nlanes * LANE_SIZE;
	if (size < g->desc_off + 16 * (PAGE + sizeof(struct obj_page)))
		return false;
	uint64_t pages = (size - g->desc_off) / (PAGE + sizeof(struct obj_page));
	for (;; pages--) {
		g->heap_off = g->desc_off + ALIGN_UP(pages * sizeof(struct obj_page), PAGE);
		if (g->heap_off + pages * PAGE <= size)
			break;
	}
	g->heap_pages = MIN(pages, (uint64_t)UINT32_MAX - 1);
	return true;
}

/* header_ok -- whether h is a sound header for a pool of size bytes; message if not */
static bool
header_ok(const struct obj_header *h, size_t size, const char *what)
{
	if (memcmp(h->signature, OBJ_SIGNATURE, 8) != 0) {
		errmsg_set(EINVAL, "not an object pool (no %s signature in its %s)", OBJ_SIGNATURE,
				what);
		return false;
	}
	if (checksum64(h, OBJ_HDR_CHECKSUMMED) != h->checksum) {
		errmsg_set(EINVAL, "the object pool's %s is corrupt (checksum mismatch)", what);
		return false;
	}
	if (h->major != OBJ_MAJOR) {
		errmsg_set(EINVAL, "object pool format %u.%u; this library reads %d.x", h->major,
				h->minor, OBJ_MAJOR);
		return false;
	}
	if (h->pool_size != size) {
		errmsg_set(EINVAL, "the object pool was made %llu bytes long; the file is %zu "
				"(truncated or extended)", (unsigned long long)h->pool_size, size);
		return false;
	}
	struct geometry g;
	if (!geometry_for(size, &g) || g.nlanes != h->nlanes || g.desc_off != h->desc_off ||
			g.heap_off != h->heap_off || g.heap_pages != h->heap_pages ||
			memchr(h->layout, 0, sizeof(h->layout)) == NULL) {
		errmsg_set(EINVAL, "the object pool's %s describes a layout that does not fit it",
				what);
		return false;
	}
	return true;
}

static uint64_t
random64(void)
{
	uint64_t x;
	if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x)) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		x = mix64((uint64_t)t.tv_nsec ^ (uint64_t)t.tv_sec << 32 ^ (uint64_t)getpid());
	}
	return x;
}

/* format -- lay a new pool over [base, base + size); zero: the memory may hold
 * data (not a new file); 0 or -1 */
static int
format(char *base, size_t size, const char *layout, bool zero)
{
	struct geometry g;
	if (!geometry_for(size, &g))
		return errmsg_set(EINVAL, "%zu bytes are too small for an object pool", size), -1;
	const struct pmem_ops *ops = pmemops_for(base, size);
	if (zero) {
		memset(base, 0, g.heap_off);
		if (pmemops_persist(ops, base, g.heap_off) != 0)
			return -1;
	}
	struct obj_header h;
	memset(&h, 0, sizeof(h));
	memcpy(h.signature, OBJ_SIGNATURE, 8);
	h.major = OBJ_MAJOR;
	h.minor = OBJ_MINOR;
	if (layout)
		strcpy(h.layout, layout);
	uint64_t u[2] = { random64(), random64() };
	if (u[0] == 0)
		u[0] = 1;                            /* pool_uuid_lo 0 would read as no pool */
	memcpy(h.uuid, u, sizeof(u));
	h.pool_size = size;
	h.nlanes = g.nlanes;
	h.desc_off = g.desc_off;
	h.heap_off = g.heap_off;
	h.heap_pages = g.heap_pages;
	h.created = (uint64_t)time(NULL);
	h.checksum = checksum64(&h, OBJ_HDR_CHECKSUMMED);
	memcpy(base + OBJ_BACKUP_OFF, &h, sizeof(h));
	if (pmemops_persist(ops, base + OBJ_BACKUP_OFF, sizeof(h)) != 0)
		return -1;
	memcpy(base + OBJ_HDR_OFF, &h, sizeof(h));
	return pmemops_persist(ops, base + OBJ_HDR_OFF, sizeof(h));
}

/* ---- attach, detach -------------------------------------------------------- */

static void
pool_free(struct pmemobjpool *pop)
{
	free(pop->lane_busy);
	free(pop->stale);
	pthread_mutex_destroy(&pop->root_lock);
	free(pop);
}

/* recover -- replay the lanes' whole redo records in commit order (ulog.h), then
 * roll back every active undo log; 0 or -1 */
static int
recover(struct pmemobjpool *pop)
{
	uint64_t seq[OBJ_MAX_LANES];
	unsigned order[OBJ_MAX_LANES], n = 0;
	for (unsigned i = 0; i < pop->nlanes; i++) {
		struct ulog_ctx c = lane_ctx(pop, i);
		if (!redo_valid(&c, &seq[i]))
			continue;
		unsigned k = n++;
		for (; k > 0 && seq[order[k - 1]] > seq[i]; k--)
			order[k] = order[k - 1];
		order[k] = i;
	}
	for (unsigned k = 0; k < n; k++) {
		struct ulog_ctx c = lane_ctx(pop, order[k]);
		if (redo_replay(&c) != 0)
			return -1;
	}
	if (pmemops_drain(pop->ops) != 0)
		return -1;
	for (unsigned k = 0; k < n; k++) {
		struct ulog_ctx c = lane_ctx(pop, order[k]);
		if (redo_clear(&c) != 0)
			return -1;
	}
	for (unsigned i = 0; i < pop->nlanes; i++) {
		struct ulog_ctx c = lane_ctx(pop, i);
		if (undo_recover(&c) < 0)
			return -1;
	}
	return 0;
}

/* root_ok -- whether the state's root names an allocated object that big (message if not) */
static bool
root_ok(struct pmemobjpool *pop)
{
	uint64_t off = pop->state->root_off, size = pop->state->root_size;
	struct pres r;
	if (off == 0 && size == 0)
		return true;
	if (off == 0 || size == 0 || pheap_lookup(&pop->heap, off, false, false, &r) != 0 ||
			size > r.usable) {
		errmsg_set(EINVAL, "the pool's root (offset %llu, %llu bytes) is not an allocated "
				"object of that size: the state page is corrupt",
				(unsigned long long)off, (unsigned long long)size);
		return false;
	}
	return true;
}

struct block_check {
	struct pmemobjpool *pop;
	bool ok;
};

static void
block_ok(void *arg, uint64_t off)
{
	struct block_check *b = arg;
	struct pres r;
	if (pheap_lookup(&b->pop->heap, off, true, false, &r) != 0)
		b->ok = false;
}

/* lane_blocks_ok -- whether every lane's log blocks are the library's own runs */
static bool
lane_blocks_ok(struct pmemobjpool *pop)
{
	for (unsigned i = 0; i < pop->nlanes; i++) {
		struct ulog_ctx c = lane_ctx(pop, i);
		struct block_check b = { pop, true };
		if (ulog_blocks(&c, block_ok, &b) != 0 || !b.ok) {
			errmsg_set(EINVAL, "lane %u of the pool links a log block that is not one of "
					"its own: the lane is corrupt", i);
			return false;
		}
	}
	return true;
}

/* attach -- a handle over a pool at [base, base + size); NULL + errno + message */
static struct pmemobjpool *
attach(char *base, size_t size, const char *layout, bool unmap)
{
	const struct obj_header *h = (const struct obj_header *)(const void *)base;
	if (size < OBJ_LANES_OFF) {
		errmsg_set(EINVAL, "%zu bytes are too small for an object pool", size);
		return NULL;
	}
	if (!header_ok(h, size, "header"))
		return NULL;
	if (layout && strcmp(layout, h->layout) != 0) {
		errmsg_set(EINVAL, "the pool's layout is \"%.64s\", not \"%.64s\"", h->layout,
				layout);
		return NULL;
	}
	struct pmemobjpool *pop = calloc(1, sizeof(*pop));
	if (!pop || !(pop->lane_busy = calloc(h->nlanes, sizeof(atomic_int))) ||
			!(pop->stale = calloc(h->nlanes, sizeof(*pop->stale)))) {
		if (pop)
			free(pop->lane_busy);
		free(pop);
		errmsg_set(ENOMEM, "no memory for a pool handle");
		return NULL;
	}
	pthread_mutex_init(&pop->root_lock, NULL);
	pop->base = base;
	pop->size = size;
	pop->unmap = unmap;
	pop->ops = pmemops_for(base, size);
	if (pop->ops == &pmemops_msync)
		pop->ops = &pmemops_msync_batch;   /* one msync per drain, not per flush */
	pop->hdr = (struct obj_header *)(void *)base;
	pop->state = (struct obj_state *)(void *)(base + OBJ_STATE_OFF);
	memcpy(&pop->uuid_lo, h->uuid, 8);
	pop->run_id = random64() | 1;
	pop->seq = 1;
	pop->nlanes = (unsigned)h->nlanes;
	pop->lanes = (struct lane_layout *)(void *)(base + OBJ_LANES_OFF);
	if (recover(pop) != 0 ||
			pheap_boot(&pop->heap, base, pop->ops, (struct obj_page *)(void *)(base + h->desc_off),
				h->heap_off, (uint32_t)h->heap_pages, pop->state) != 0) {
		pool_free(pop);
		return NULL;
	}
	if (!root_ok(pop) || !lane_blocks_ok(pop) || reg_add(pop) != 0) {
		pheap_fini(&pop->heap);
		pool_free(pop);
		return NULL;
	}
	return pop;
}

static bool
layout_ok(const char *layout)
{
	if (layout && strlen(layout) >= PMEMOBJ_MAX_LAYOUT) {
		errmsg_set(EINVAL, "a layout name is at most %d bytes", (int)PMEMOBJ_MAX_LAYOUT - 1);
		return false;
	}
	return true;
}

/* all_zero -- whether len bytes at p are zero */
static bool
all_zero(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* reserve -- allocate the blocks of the existing regular file at path: a sparse pool
 * would take SIGBUS where the file system has no room left; 0 or -1 (message set) */
static int
reserve(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errmsg_set_sys(errno, "pmemobj_create: open %s", path), -1;
	struct stat st;
	int err = fstat(fd, &st) != 0 ? errno : 0;
	if (!err && S_ISREG(st.st_mode) && st.st_size > 0)
		err = posix_fallocate(fd, 0, st.st_size);
	close(fd);
	if (err)
		return errmsg_set_sys(err, "pmemobj_create: allocate the blocks of %s", path), -1;
	return 0;
}

API PMEMobjpool *
pmemobj_create(const char *path, const char *layout, size_t poolsize, mode_t mode)
{
	if (!path || !layout_ok(layout))
		return path ? NULL : (errmsg_set(EINVAL, "pmemobj_create: no path"), NULL);
	if (poolsize && poolsize < PMEMOBJ_MIN_POOL) {
		errmsg_set(EINVAL, "pmemobj_create: size %zu below PMEMOBJ_MIN_POOL (%zu)", poolsize,
				(size_t)PMEMOBJ_MIN_POOL);
		return NULL;
	}
	if (!poolsize && reserve(path) != 0)
		return NULL;
	size_t mapped = 0;
	int flags = poolsize ? PMEM_FILE_CREATE | PMEM_FILE_EXCL : 0;
	char *base = pmem_map_file(path, poolsize, flags, mode, &mapped, NULL);
	if (!base)
		return NULL;
	int err = 0;
	if (mapped < PMEMOBJ_MIN_POOL) {
		err = errmsg_set(EINVAL, "pmemobj_create: %s is %zu bytes, below PMEMOBJ_MIN_POOL",
				path, mapped);
	} else if (!poolsize && !all_zero(base, PAGE)) {
		err = errmsg_set(EEXIST, "pmemobj_create: %s already holds data (a pool?)", path);
	} else if (format(base, mapped, layout, poolsize == 0) != 0) {
		err = errno;
	}
	PMEMobjpool *pop = err ? NULL : attach(base, mapped, layout, true);
	if (!pop) {
		err = errno;
		if (poolsize)
			unlink(path);                    /* made here: leave nothing half made */
		pmem_unmap(base, mapped);
		errno = err;
	}
	return pop;
}

API PMEMobjpool *
pmemobj_open(const char *path, const char *layout)
{
	if (!path || !layout_ok(layout))
		return path ? NULL : (errmsg_set(EINVAL, "pmemobj_open: no path"), NULL);
	size_t mapped = 0;
	char *base = pmem_map_file(path, 0, 0, 0, &mapped, NULL);
	if (!base)
		return NULL;
	PMEMobjpool *pop = attach(base, mapped, layout, true);
	if (!pop) {
		int err = errno;
		pmem_unmap(base, mapped);
		errno = err;
	}
	return pop;
}

API void
pmemobj_close(PMEMobjpool *pop)
{
	if (!pop)
		return;
	reg_remove(pop);
	for (unsigned i = 0; i < pop->nlanes; i++) {
		uint64_t token = atomic_exchange(&pop->stale[i], 0);
		struct ulog_ctx c = lane_ctx(pop, i);
		if (token)
			(void)redo_clear_stale(&c, token);
	}
	(void)pmemops_drain(pop->ops);
	pheap_fini(&pop->heap);
	if (pop->unmap)
		pmem_unmap(pop->base, pop->size);
	pool_free(pop);
}

API PMEMobjpool *
pmalloc_obj_map(void *addr, size_t size, const char *layout, int create)
{
	if (!addr || !layout_ok(layout))
		return addr ? NULL : (errmsg_set(EINVAL, "pmalloc_obj_map: no memory"), NULL);
	if (create && format(addr, size, layout, true) != 0)
		return NULL;
	return attach(addr, size, layout, false);
}

/* ---- check ----------------------------------------------------------------- */

struct blocks {
	uint64_t off[2 * OBJ_MAX_LANES + 64];
	size_t n;
	bool overflow;
};

static void
note_block(void *arg, uint64_t off)
{
	struct blocks *b = arg;
	if (b->n < ARRAY_SIZE(b->off))
		b->off[b->n++] = off;
	else
		b->overflow = true;
}

API int
pmalloc_obj_check_map(PMEMobjpool *pop)
{
	if (!pop)
		return errmsg_set(EINVAL, "pmalloc_obj_check_map: no pool"), -1;
	const struct obj_header *h = pop->hdr;
	const struct obj_header *b = (const void *)(pop->base + OBJ_BACKUP_OFF);
	if (!header_ok(b, pop->size, "backup header"))
		return 0;
	if (memcmp(h, b, sizeof(*h)) != 0) {
		errmsg_set(EINVAL, "the pool's header and its backup differ");
		return 0;
	}
	struct blocks blk = { .n = 0 };
	for (unsigned i = 0; i < pop->nlanes; i++) {
		struct ulog_ctx c = lane_ctx(pop, i);
		if (ulog_blocks(&c, note_block, &blk) != 0) {
			errmsg_set(EINVAL, "lane %u links a log block outside the pool", i);
			return 0;
		}
	}
	return pheap_check(&pop->heap, blk.off, blk.n);
}

API int
pmemobj_check(const char *path, const char *layout)
{
	PMEMobjpool *pop = pmemobj_open(path, NULL);
	if (!pop)
		return errno == EINVAL ? 0 : -1;
	if (layout && strcmp(layout, pop->hdr->layout) != 0) {
		pmemobj_close(pop);
		errmsg_set(EINVAL, "pmemobj_check: the pool's layout is not \"%.64s\"", layout);
		return -1;
	}
	int ok = pmalloc_obj_check_map(pop);
	int err = errno;
	pmemobj_close(pop);
	errno = err;
	return ok;
}

API void
pmalloc_obj_usage(PMEMobjpool *pop, uint64_t *free_bytes, uint64_t *used_bytes, uint64_t *objects)
{
	uint64_t pages = 0, used = 0, n = 0;
	if (pop)
		pheap_usage(&pop->heap, &pages, &used, &n);
	if (free_bytes)
		*free_bytes = pages * PAGE;
	if (used_bytes)
		*used_bytes = used;
	if (objects)
		*objects = n;
}

API uint64_t
pmalloc_obj_uuid(PMEMobjpool *pop)
{
	return pop ? pop->uuid_lo : 0;
}

API void *
pmalloc_obj_base(PMEMobjpool *pop)
{
	return pop ? pop->base : NULL;
}

API size_t
pmalloc_obj_size(PMEMobjpool *pop)
{
	return pop ? pop->size : 0;
}
