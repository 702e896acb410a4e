/*
 * sim.h -- the crash simulator: a working image, a persisted image, and what a crash keeps
 *
 * A sim owns three images of the same size: `work` (the memory the program
 * writes: an anonymous mapping), `persisted` (what is on the media for sure)
 * and `pending` (line snapshots taken by flushes that no drain has completed).
 * sim_flush snapshots lines into `pending`; sim_drain first reports a drain
 * point to the hook, then copies the pending lines its thread flushed into
 * `persisted` (a fence orders only its own core's write-backs).
 * A crash at a drain point keeps `persisted` plus, for every aligned 8-byte
 * word, any of the values it may hold: persisted, pending or working.
 *
 * Threads: every drain of every thread is a point, numbered under the sim's
 * lock, which is held through the hook: the number of points is the
 * workload's, and the hook sees images no flush or drain changes meanwhile.
 * Which thread's drain gets which number is up to the scheduler.
 *
 * Glossary:
 *   drain point -- a sim_drain call: the hook sees the state just before it.
 *   flusher     -- the thread that flushed a pending line (SIM_SHARED if several
 *                  did): a drain of that thread (or of any, if shared) persists it.
 *   word        -- an aligned 8-byte unit: x86 stores it atomically, no larger.
 *   candidate   -- a word whose persisted, pending and working values are not
 *                  all equal: a crash may leave any of them.
 *   route       -- libpmem.c's pmem_flush/pmem_drain/pmem_memcpy reach a sim
 *                  when their address lies in one (sim_active() gates the
 *                  lookup, so the cost without sims is one relaxed load).
 *   table       -- the sim's persist-ops table: pmemops.c makes it and hands
 *                  it to sim_publish; sim.c only keeps it (and frees it).
 *
 * A mechanism under libpmem.c and pmemops.c: it calls no public pmem_*
 * function and knows no PMEM_F_MEM_* flag.
 */
#ifndef PMALLOC_PMEM_SIM_H
#define PMALLOC_PMEM_SIM_H

#include <stdatomic.h>
#include <stddef.h>

struct pmalloc_sim;

/* Number of live sims (read without a lock on every flush and drain). */
extern atomic_int sim_count;

/* Whether any sim exists: the fast test in front of routing. */
static inline int
sim_active(void)
{
	return atomic_load_explicit(&sim_count, memory_order_relaxed) != 0;
}

/* Snapshot the lines of [addr, addr+len) that lie in sim (sim's flush). */
void sim_flush(struct pmalloc_sim *sim, const void *addr, size_t len);

/* A drain point: call the hook, then persist the pending lines this thread flushed. */
void sim_drain(struct pmalloc_sim *sim);

/* If a sim holds addr: flush it there, remember it for this thread's next drain; 1. Else 0. */
int sim_route_flush(const void *addr, size_t len);

/* Drain the sims this thread flushed since its last drain. */
void sim_route_drain(void);

/* 1 if a sim's working image holds all of [addr, addr+len). */
int sim_covers(const void *addr, size_t len);

/* The table of the sim holding [addr, addr+len), or NULL. */
void *sim_table_for(const void *addr, size_t len);

/* A zeroed sim of size bytes (rounded up to a line), not yet routed to; NULL + errno. */
struct pmalloc_sim *sim_new(size_t size);

/* Give the sim its table (malloc'ed; freed with the sim) and make routing find it. */
void sim_publish(struct pmalloc_sim *sim, void *table);

/* The table sim_publish gave it. */
void *sim_table(const struct pmalloc_sim *sim);

/* Stop routing to sim; freed now, or by the last routed call still using it. */
void sim_delete(struct pmalloc_sim *sim);

#endif
