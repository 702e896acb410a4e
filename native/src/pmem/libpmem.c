/*
 * libpmem.c -- the front of pmem/: every exported pmem_* function, and the routing
 *
 * A range a simulator holds goes to sim.c (sim_active() keeps that test to one
 * relaxed load while there is none); the rest goes to the instructions (flush.c,
 * memops.c). Mapping files is map.c's; this file checks the caller's arguments
 * and turns the public flags into what those files take.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "libpmem.h"
#include "pmalloc.h"
#include "pmem/cpu.h"
#include "pmem/flush.h"
#include "pmem/map.h"
#include "pmem/memops.h"
#include "pmem/sim.h"

#define FILE_VALID_FLAGS (PMEM_FILE_CREATE | PMEM_FILE_EXCL | PMEM_FILE_SPARSE | PMEM_FILE_TMPFILE)

/* ---- Routing ----------------------------------------------------------------- */

/* route_flush -- flush a range: into the sim that holds it, else with instruction f */
static inline void
route_flush(enum cpu_flush f, const void *addr, size_t len)
{
	if (unlikely(sim_active()) && sim_route_flush(addr, len))
		return;
	flush_lines(f, addr, len);
}

/* route_drain -- complete this thread's flushes: its routed sims', then the fence */
static inline void
route_drain(void)
{
	if (unlikely(sim_active()))
		sim_route_drain();
	flush_fence();
}

/* route_sim_done -- after a store into a sim: the routed flush and drain the flags ask for */
static void
route_sim_done(void *dst, size_t len, unsigned flags)
{
	if (flags & PMEM_F_MEM_NOFLUSH)
		return;
	(void)sim_route_flush(dst, len);
	if (!(flags & PMEM_F_MEM_NODRAIN))
		route_drain();
}

/* ---- Flushing ------------------------------------------------------------------ */

API void
pmem_flush(const void *addr, size_t len)
{
	route_flush(cpu_cfg.flush, addr, len);
}

API void
pmem_drain(void)
{
	route_drain();
}

API void
pmem_persist(const void *addr, size_t len)
{
	route_flush(cpu_cfg.flush, addr, len);
	route_drain();
}

API int
pmem_msync(const void *addr, size_t len)
{
	return map_sync(addr, len);
}

API void
pmem_deep_flush(const void *addr, size_t len)
{
	route_flush(cpu_cfg.deep_flush, addr, len);
}

API int
pmem_deep_drain(const void *addr, size_t len)
{
	route_drain();
	/* A range of a mapped file goes through the file system too, which pushes
	 * it past the memory controller's queues (or to the disk) */
	if (map_covers(addr, len))
		return map_sync(addr, len);
	return 0;
}

API int
pmem_deep_persist(const void *addr, size_t len)
{
	pmem_deep_flush(addr, len);
	return pmem_deep_drain(addr, len);
}

API int
pmem_has_hw_drain(void)
{
	return 0;
}

API int
pmem_has_auto_flush(void)
{
	return cpu_auto_flush();
}

/* ---- Mapping ------------------------------------------------------------------- */

API int
pmem_is_pmem(const void *addr, size_t len)
{
	int force = map_force();
	if (force >= 0)
		return force;
	if (unlikely(sim_active()) && sim_covers(addr, len))
		return 1;
	return map_is_dax(addr, len);
}

API void *
pmem_map_file(const char *path, size_t len, int flags, mode_t mode, size_t *mapped_lenp,
	int *is_pmemp)
{
	if (path == NULL) {
		errmsg_set(EINVAL, "pmem_map_file: path is NULL");
		return NULL;
	}
	if (flags & ~FILE_VALID_FLAGS) {
		errmsg_set(EINVAL, "pmem_map_file: invalid flags 0x%x", (unsigned)flags);
		return NULL;
	}
	if ((flags & PMEM_FILE_TMPFILE) && !(flags & PMEM_FILE_CREATE)) {
		errmsg_set(EINVAL, "pmem_map_file: PMEM_FILE_TMPFILE needs PMEM_FILE_CREATE");
		return NULL;
	}
	if (flags & PMEM_FILE_CREATE) {
		if (len == 0) {
			errmsg_set(EINVAL, "pmem_map_file: PMEM_FILE_CREATE with a zero length");
			return NULL;
		}
		if (len > (size_t)INT64_MAX) {
			errmsg_set(EINVAL, "pmem_map_file: length %zu too large", len);
			return NULL;
		}
	} else if (len != 0) {
		errmsg_set(EINVAL, "pmem_map_file: a non-zero length needs PMEM_FILE_CREATE");
		return NULL;
	}
	struct map_how how = {
		.create = (flags & PMEM_FILE_CREATE) != 0,
		.excl = (flags & PMEM_FILE_EXCL) != 0,
		.sparse = (flags & PMEM_FILE_SPARSE) != 0,
		.tmpfile = (flags & PMEM_FILE_TMPFILE) != 0,
	};
	size_t mapped;
	int dax;
	void *addr = map_file(path, len, &how, mode, &mapped, &dax);
	if (addr == NULL)
		return NULL;
	if (mapped_lenp != NULL)
		*mapped_lenp = mapped;
	if (is_pmemp != NULL)
		*is_pmemp = pmem_is_pmem(addr, mapped);
	return addr;
}

API int
pmem_unmap(void *addr, size_t len)
{
	if (len == 0) {
		errmsg_set(EINVAL, "pmem_unmap(%p, 0): zero length", addr);
		return -1;
	}
	return map_unmap(addr, len);
}

/* ---- Copying ------------------------------------------------------------------- */

/* copy_flags -- PMDK goes on with unknown flags; so do we, leaving a message; the valid ones */
static unsigned
copy_flags(const char *fn, unsigned flags)
{
	if (flags & ~PMEM_F_MEM_VALID_FLAGS) {
		int saved = errno;
		errmsg_set(EINVAL, "%s: invalid flags 0x%x ignored", fn,
			flags & ~PMEM_F_MEM_VALID_FLAGS);
		errno = saved;
	}
	return flags & PMEM_F_MEM_VALID_FLAGS;
}

/* copy_how -- the stores the flags ask for (TEMPORAL/WB win over NONTEMPORAL/WC) */
static enum memops_how
copy_how(unsigned flags)
{
	if (flags & (PMEM_F_MEM_TEMPORAL | PMEM_F_MEM_WB))
		return MEMOPS_TEMPORAL;
	if (flags & (PMEM_F_MEM_NONTEMPORAL | PMEM_F_MEM_WC))
		return MEMOPS_NONTEMPORAL;
	return MEMOPS_AUTO;
}

/* copy_move -- pmem_memmove and pmem_memcpy (a memmove is a valid memcpy) */
static void *
copy_move(const char *fn, void *pmemdest, const void *src, size_t len, unsigned flags)
{
	flags = copy_flags(fn, flags);
	if (unlikely(sim_active()) && sim_covers(pmemdest, 1)) {
		memmove(pmemdest, src, len);
		route_sim_done(pmemdest, len, flags);
		return pmemdest;
	}
	if (flags & PMEM_F_MEM_NOFLUSH) {
		memmove(pmemdest, src, len);
		return pmemdest;
	}
	memops_move(pmemdest, src, len, copy_how(flags));
	if (!(flags & PMEM_F_MEM_NODRAIN))
		flush_fence();
	return pmemdest;
}

/* copy_set -- pmem_memset */
static void *
copy_set(void *pmemdest, int c, size_t len, unsigned flags)
{
	flags = copy_flags("pmem_memset", flags);
	if (unlikely(sim_active()) && sim_covers(pmemdest, 1)) {
		memset(pmemdest, c, len);
		route_sim_done(pmemdest, len, flags);
		return pmemdest;
	}
	if (flags & PMEM_F_MEM_NOFLUSH) {
		memset(pmemdest, c, len);
		return pmemdest;
	}
	memops_set(pmemdest, c, len, copy_how(flags));
	if (!(flags & PMEM_F_MEM_NODRAIN))
		flush_fence();
	return pmemdest;
}

API void *
pmem_memmove(void *pmemdest, const void *src, size_t len, unsigned flags)
{
	return copy_move("pmem_memmove", pmemdest, src, len, flags);
}

API void *
pmem_memcpy(void *pmemdest, const void *src, size_t len, unsigned flags)
{
	return copy_move("pmem_memcpy", pmemdest, src, len, flags);
}

API void *
pmem_memset(void *pmemdest, int c, size_t len, unsigned flags)
{
	return copy_set(pmemdest, c, len, flags);
}

API void *
pmem_memmove_persist(void *pmemdest, const void *src, size_t len)
{
	return copy_move("pmem_memmove_persist", pmemdest, src, len, 0);
}

API void *
pmem_memcpy_persist(void *pmemdest, const void *src, size_t len)
{
	return copy_move("pmem_memcpy_persist", pmemdest, src, len, 0);
}

API void *
pmem_memset_persist(void *pmemdest, int c, size_t len)
{
	return copy_set(pmemdest, c, len, 0);
}

API void *
pmem_memmove_nodrain(void *pmemdest, const void *src, size_t len)
{
	return copy_move("pmem_memmove_nodrain", pmemdest, src, len, PMEM_F_MEM_NODRAIN);
}

API void *
pmem_memcpy_nodrain(void *pmemdest, const void *src, size_t len)
{
	return copy_move("pmem_memcpy_nodrain", pmemdest, src, len, PMEM_F_MEM_NODRAIN);
}

API void *
pmem_memset_nodrain(void *pmemdest, int c, size_t len)
{
	return copy_set(pmemdest, c, len, PMEM_F_MEM_NODRAIN);
}

/* ---- Version, errors and what was chosen at load time --------------------------- */

API const char *
pmem_check_version(unsigned major_required, unsigned minor_required)
{
	return errmsg_version("libpmem", PMEM_MAJOR_VERSION, PMEM_MINOR_VERSION, major_required, minor_required);
}

API const char *
pmem_errormsg(void)
{
	return errmsg_get();
}

API int
pmalloc_pmem_info(struct pmalloc_pmem_info *info)
{
	if (info == NULL) {
		errmsg_set(EINVAL, "pmalloc_pmem_info: info is NULL");
		return -1;
	}
	cpu_init();
	info->flush = cpu_flush_name(cpu_cfg.flush);
	info->deep_flush = cpu_flush_name(cpu_cfg.deep_flush);
	info->movnt = cpu_movnt_name(cpu_cfg.movnt);
	info->movnt_threshold = cpu_cfg.movnt_threshold;
	info->is_pmem_force = map_force();
	info->auto_flush = cpu_cfg.auto_flush;
	return 0;
}
