/*
 * pmalloc.h -- pmalloc's own extras beside the PMDK/memkind-compatible APIs
 *
 * Error messages, statistics, purging and owner lookup for vmem pools.
 */
#ifndef PMALLOC_H
#define PMALLOC_H 1

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libvmem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ------------------------------------------------------------- */

/* The calling thread's last error message ("" when none). */
const char *pmalloc_errormsg(void);

/* ---- Settings ----------------------------------------------------------- */

/* One environment variable pmalloc reads, and the value in force. */
struct pmalloc_setting {
	const char *name;       /* PMALLOC_POOL_DIR, PMEM_NO_FLUSH, ... */
	const char *alias;      /* libvmmalloc's name, read when name is unset, or NULL */
	const char *value;      /* the value in force, as text (the default when unset) */
	const char *raw;        /* the environment's text, or NULL when unset */
	const char *source;     /* the variable raw came from, or NULL */
	const char *error;      /* why raw was refused (strict) or ignored, or NULL */
	const char *help;       /* what it does, in one line */
	int strict;             /* 1: a bad value is an error; 0: ignored (PMDK's rule) */
};

/* Fill up to n rows (the strings stay valid until a reload); returns the count. */
size_t pmalloc_settings(struct pmalloc_setting *rows, size_t n);

/* Read the environment again: settings are read once, at first use. Not while other
 * threads create pools. */
void pmalloc_settings_reload(void);

/* "64M", "1G", "4096": bytes, with an optional K/M/G/T (powers of 1024); 0, or -1 + EINVAL. */
int pmalloc_parse_size(const char *text, size_t *out);

/* The DAX mount points of a mounts table (NULL: /proc/mounts), one per line, into buf
 * (NUL-terminated when len > 0); returns the bytes needed without the NUL (more than
 * len - 1: truncated). */
size_t pmalloc_dax_mounts(const char *table, char *buf, size_t len);

/* ---- Statistics --------------------------------------------------------- */

/* Whole-pool figures, in bytes unless named otherwise. */
struct pmalloc_stats {
	uint64_t size;          /* the pool's size as created */
	uint64_t allocated;     /* usable bytes of live allocations */
	uint64_t active;        /* pages in slabs and large extents */
	uint64_t metadata;      /* header, page map and descriptors in use */
	uint64_t dirty;         /* free pages not yet purged */
	uint64_t resident;      /* active + dirty + metadata: what may hold memory */
	uint64_t file_allocated;/* blocks the backing file holds (0 if no file) */
	uint64_t purged;        /* bytes punched out since creation */
	uint64_t nmalloc;       /* allocations served by the arenas */
	uint64_t nfree;         /* frees returned to the arenas */
	uint32_t narenas;       /* arenas in the pool */
	uint32_t nclasses;      /* size classes (slab and cached large) */
	uint64_t purge_calls;   /* system calls that punched pages out since creation */
	uint64_t reserve_calls; /* system calls that reserved file pages since creation */
};

/* Figures for one size class. */
struct pmalloc_class_stats {
	uint64_t size;          /* object size of the class */
	uint64_t slab_size;     /* bytes per slab, 0 for a large class */
	uint64_t live;          /* objects in use (not counting thread caches) */
	uint64_t cached;        /* objects held in thread caches */
	uint64_t slabs;         /* slabs of this class */
};

/* Fill *st with the pool's figures; 0, or -1 + errno. */
int pmalloc_vmem_stats(VMEM *vmp, struct pmalloc_stats *st);

/* Fill up to n per-class rows; returns the number of classes, or -1 + errno. */
int pmalloc_vmem_class_stats(VMEM *vmp, struct pmalloc_class_stats *rows, size_t n);

/* Give back what every thread caches idle and punch out every free page now; 0 or -1. */
int pmalloc_vmem_purge(VMEM *vmp);

/* Give back the calling thread's caches of every pool now, as its exit would (for
 * runtimes whose threads end before their C thread does). */
void pmalloc_thread_flush(void);

/* ---- Owner lookup ------------------------------------------------------- */

/* The pool whose region holds ptr, or NULL (a lock-free radix lookup). */
VMEM *pmalloc_vmem_of(const void *ptr);

/* Free ptr into whichever pool owns it; -1 + EINVAL for a foreign pointer. */
int pmalloc_free(void *ptr);

/* ---- NumPy's array data handler (NEP 49) ---------------------------------- */

/* A pool's malloc, calloc, realloc and free in the signatures of NumPy's
 * PyDataMemAllocator, ctx being the VMEM *; pmalloc.numpy installs them. A
 * request of 0 bytes gets a 1-byte block; free ignores NumPy's size hint. */
void *pmalloc_np_vmem_malloc(void *ctx, size_t size);
void *pmalloc_np_vmem_calloc(void *ctx, size_t nelem, size_t elsize);
void *pmalloc_np_vmem_realloc(void *ctx, void *ptr, size_t size);
void pmalloc_np_vmem_free(void *ctx, void *ptr, size_t size);

/* ---- Kinds (memkind.h) ---------------------------------------------------- */

struct memkind;

/* The heap of a kind as a pool: vmem_* calls on it act on the kind (stats, check,
 * purge, allocation); never vmem_delete it. A static kind's heap is made here if
 * it does not exist yet. NULL + errno + message (not a kind; its memory is not on
 * this machine). */
VMEM *pmalloc_kind_pool(struct memkind *kind);

/* ---- Tiers from text (memkind_memtier.h) ---------------------------------- */

struct memtier_memory;
struct pmalloc_tiers;

/* Tiers from a list such as "DRAM:1,PMEM:4" or "DRAM:1,PMEM@/mnt/pmem:4;policy=threshold"
 * (grammar: native/src/kind/tiers.c); NULL + EINVAL + a message naming the bad tier. */
struct pmalloc_tiers *pmalloc_tiers_new(const char *spec);

/* The memtier_memory to allocate from (memtier_malloc, ...). */
struct memtier_memory *pmalloc_tiers_memory(const struct pmalloc_tiers *t);

/* Tier i: its name as written, *kind and *ratio; NULL past the last. */
const char *pmalloc_tiers_get(const struct pmalloc_tiers *t, unsigned i, struct memkind **kind,
		unsigned *ratio);

/* Free the tiers and destroy the pmem kinds made for them, with what they hold. */
void pmalloc_tiers_delete(struct pmalloc_tiers *t);

/* NumPy's allocator shape over tiers, ctx being the struct memtier_memory *. */
void *pmalloc_np_memtier_malloc(void *ctx, size_t size);
void *pmalloc_np_memtier_calloc(void *ctx, size_t nelem, size_t elsize);
void *pmalloc_np_memtier_realloc(void *ctx, void *ptr, size_t size);
void pmalloc_np_memtier_free(void *ctx, void *ptr, size_t size);

/* ---- Logs (libpmemlog.h) over memory the caller maps ---------------------- */

struct pmemlog;

/* A log over [addr, addr + size) (at least PMEMLOG_MIN_POOL), formatted first if
 * create, else checked as pmemlog_open checks a file; durability by the persist
 * ops for the range (the crash simulator's, in its mappings). pmemlog_close frees
 * the handle and leaves the memory. NULL + errno + message. */
struct pmemlog *pmalloc_log_map(void *addr, size_t size, int create);

/* ---- Block pools (libpmemblk.h) over memory the caller maps ---------------- */

struct pmemblk;

/* A block pool over [addr, addr + size), formatted with bsize-byte blocks first if
 * create, else checked and recovered as pmemblk_open does (bsize 0: any); the
 * persist ops for the range make it durable (the crash simulator's in its
 * mappings). pmemblk_close frees the handle and leaves the memory. NULL + errno. */
struct pmemblk *pmalloc_blk_map(void *addr, size_t size, size_t bsize, int create);

/* The full consistency walk of pmemblk_check on an open pool: 1, 0 (message), -1. */
int pmalloc_blk_check_map(struct pmemblk *pbp);

/* ---- Object pools (libpmemobj.h) over memory the caller maps --------------- */

struct pmemobjpool;

/* An object pool over [addr, addr + size), formatted with layout first if
 * create, else checked and recovered as pmemobj_open does (layout NULL: any);
 * the persist ops for the range make it durable (the crash simulator's in its
 * mappings). pmemobj_close frees the handle and leaves the memory. NULL + errno. */
struct pmemobjpool *pmalloc_obj_map(void *addr, size_t size, const char *layout, int create);

/* The consistency walk of pmemobj_check on an open pool: 1, 0 (message), -1. */
int pmalloc_obj_check_map(struct pmemobjpool *pop);

/* Objects of one type number, and their usable bytes. */
struct pmalloc_obj_type {
	uint64_t type_num;
	uint64_t objects;
	uint64_t bytes;
};

/* The pool's objects by type number (the root not among them), ascending: writes the
 * first n into out and returns how many type numbers there are (-1 + errno). */
ssize_t pmalloc_obj_types(struct pmemobjpool *pop, struct pmalloc_obj_type *out, size_t n);

/* The pool_uuid_lo the pool's oids carry; where it is mapped, and its size. */
uint64_t pmalloc_obj_uuid(struct pmemobjpool *pop);
void *pmalloc_obj_base(struct pmemobjpool *pop);
size_t pmalloc_obj_size(struct pmemobjpool *pop);

/* Begin a transaction (or a nested level) on pop, as pmemobj_tx_begin(pop, NULL,
 * TX_PARAM_NONE) for bindings that cannot call a variadic function; 0 or an errno,
 * with no level left open when it fails to begin. */
int pmalloc_tx_enter(struct pmemobjpool *pop);

/* End the innermost level, committing it (aborting it if abort) when in its work
 * stage first; 0, or the errno the transaction aborted with. */
int pmalloc_tx_leave(int abort);

/* How many transactions (in all threads) are open on pop: closing it then is an error. */
unsigned pmalloc_obj_txs(struct pmemobjpool *pop);

/* pmemobj_tx_xadd_range_direct(addr, size, POBJ_XADD_NO_ABORT), addr as an integer. */
int pmalloc_tx_add_addr(uintptr_t addr, size_t size);

/* A range for pmalloc_tx_add_ranges. */
struct pmalloc_tx_range {
	const void *ptr;
	size_t size;
};

/* Snapshot n ranges in the running transaction as pmemobj_tx_xadd_range_direct does, with
 * one drain for all of them; 0 or an errno (flags: POBJ_XADD_*). */
int pmalloc_tx_add_ranges(const struct pmalloc_tx_range *r, size_t n, uint64_t flags);

/* Heap figures of an open pool: bytes in free pages, bytes of user objects
 * (their usable sizes) and how many there are (the root included). */
void pmalloc_obj_usage(struct pmemobjpool *pop, uint64_t *free_bytes, uint64_t *used_bytes,
		uint64_t *objects);

/* ---- Tunables ----------------------------------------------------------- */

/* Milliseconds a free page may stay dirty before it is purged (default 10000,
 * environment PMALLOC_DECAY_MS); returns the previous value. */
long pmalloc_set_decay_ms(long ms);

/* ---- pmem: persist operations ------------------------------------------- */

/* A persist-ops table (persist, flush, drain, memcpy, memset); opaque here. */
struct pmem_ops;

#define PMALLOC_OPS_AUTO     0  /* the simulator's if a sim holds the range, else pmem or msync */
#define PMALLOC_OPS_PMEM     1  /* flush instructions + fence */
#define PMALLOC_OPS_MSYNC    2  /* msync */
#define PMALLOC_OPS_VOLATILE 3  /* nothing to flush */

/* The table of one kind (AUTO: chosen for [addr, addr+len)); NULL + EINVAL for an unknown kind. */
const struct pmem_ops *pmalloc_persist_ops(const void *addr, size_t len, int kind);

/* The table's name: "pmem", "msync", "volatile" or "sim". */
const char *pmalloc_ops_name(const struct pmem_ops *ops);

/* Make [addr, addr+len) durable through ops; 0, or -1 + errno (msync's EIO ...) and message. */
int pmalloc_ops_persist(const struct pmem_ops *ops, const void *addr, size_t len);

/* Start writing [addr, addr+len) back through ops (durable after a drain); 0 or -1 + errno. */
int pmalloc_ops_flush(const struct pmem_ops *ops, const void *addr, size_t len);

/* Complete the flushes made through ops; 0 or -1 + errno. */
int pmalloc_ops_drain(const struct pmem_ops *ops);

/* memmove through ops, flushed and drained per PMEM_F_MEM_* flags; dst, or NULL + errno. */
void *pmalloc_ops_memcpy(const struct pmem_ops *ops, void *dst, const void *src, size_t len,
	unsigned flags);

/* memset through ops, flushed and drained per PMEM_F_MEM_* flags; dst, or NULL + errno. */
void *pmalloc_ops_memset(const struct pmem_ops *ops, void *dst, int c, size_t len,
	unsigned flags);

/* Test hook: the msync table's next count persists and flushes fail with errno err; 0 or -1. */
int pmalloc_ops_inject_failure(int err, unsigned count);

/* What libpmem chose at load time (from CPUID and the PMEM_* environment). */
struct pmalloc_pmem_info {
	const char *flush;       /* pmem_flush's instruction: "clwb", "clflushopt", "clflush", "none" */
	const char *deep_flush;  /* pmem_deep_flush's instruction (ignores PMEM_NO_FLUSH) */
	const char *movnt;       /* non-temporal copy loops: "avx512f", "avx", "sse2", "none" */
	size_t movnt_threshold;  /* copies of at least this size stream (PMEM_MOVNT_THRESHOLD) */
	int is_pmem_force;       /* PMEM_IS_PMEM_FORCE: 1, 0, or -1 when unset */
	int auto_flush;          /* pmem_has_auto_flush() as read at load time */
};

/* Fill *info; 0, or -1 + EINVAL for NULL. */
int pmalloc_pmem_info(struct pmalloc_pmem_info *info);

/* ---- pmem: the crash simulator ------------------------------------------- */

/* A simulated pmem range: working, pending (flushed) and persisted images. */
typedef struct pmalloc_sim PMALLOC_SIM;

/* Called at each drain point (1, 2, ... counting every thread's drains) before the drain takes
 * effect, with the sim locked (other threads' flushes and drains of it wait); < 0 stops the calls. */
typedef int (*pmalloc_sim_hook)(void *arg, uint64_t point);

/* An aligned 8-byte word a crash may leave in more than one state. */
struct pmalloc_sim_word {
	uint64_t offset;         /* from the start of the range */
	uint64_t value[3];       /* [0] persisted, then the flushed and/or working value */
	uint32_t nvalues;        /* 2 or 3 */
};

/* A zeroed sim of size bytes (rounded up to 64); NULL + errno on failure. */
PMALLOC_SIM *pmalloc_sim_new(size_t size);

/* Free a sim and unmap its working image (NULL is ignored). */
void pmalloc_sim_delete(PMALLOC_SIM *sim);

/* The working image: write here, persist through pmalloc_sim_ops or libpmem. */
void *pmalloc_sim_addr(const PMALLOC_SIM *sim);

/* Bytes in each image. */
size_t pmalloc_sim_size(const PMALLOC_SIM *sim);

/* The persist-ops table that acts on this sim. */
const struct pmem_ops *pmalloc_sim_ops(PMALLOC_SIM *sim);

/* Make image (zero-padded) the working and persisted content; resets the drain count; 0 or -1. */
int pmalloc_sim_load(PMALLOC_SIM *sim, const void *image, size_t len);

/* Call hook(arg, point) at each drain point (NULL: none); waits for a hook that is running. */
void pmalloc_sim_set_hook(PMALLOC_SIM *sim, pmalloc_sim_hook hook, void *arg);

/* Drain points so far. */
uint64_t pmalloc_sim_drains(const PMALLOC_SIM *sim);

/* Copy the first len bytes of the persisted image to dst; 0 or -1. */
int pmalloc_sim_persisted(const PMALLOC_SIM *sim, void *dst, size_t len);

/* The words a crash now could leave in several states: up to n to out; returns how many there are. */
size_t pmalloc_sim_words(const PMALLOC_SIM *sim, struct pmalloc_sim_word *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* PMALLOC_H */
