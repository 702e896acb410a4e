/*
 * flush.c -- pmem_flush, pmem_drain, pmem_persist, pmem_msync and the deep forms
 */
#include "pmem/flush.h"

#include <dirent.h>
#include <errno.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "libpmem.h"
#include "pmem/map.h"
#include "pmem/sim.h"

/* Where the kernel lists NVDIMM regions and their persistence domains. */
#define ND_DEVICES "/sys/bus/nd/devices"

__attribute__((target("clwb"))) static void
flush_clwb(uintptr_t p, uintptr_t end)
{
	for (; p < end; p += FLUSH_LINE)
		_mm_clwb((void *)p);
}

__attribute__((target("clflushopt"))) static void
flush_clflushopt(uintptr_t p, uintptr_t end)
{
	for (; p < end; p += FLUSH_LINE)
		_mm_clflushopt((void *)p);
}

static void
flush_clflush(uintptr_t p, uintptr_t end)
{
	for (; p < end; p += FLUSH_LINE)
		_mm_clflush((void *)p);
}

void
flush_lines(enum cpu_flush f, const void *addr, size_t len)
{
	if (len == 0)
		return;
	uintptr_t p = ALIGN_DOWN((uintptr_t)addr, FLUSH_LINE);
	uintptr_t end = (uintptr_t)addr + len;
	switch (f) {
	case CPU_FLUSH_CLWB: flush_clwb(p, end); break;
	case CPU_FLUSH_CLFLUSHOPT: flush_clflushopt(p, end); break;
	case CPU_FLUSH_CLFLUSH: flush_clflush(p, end); break;
	case CPU_FLUSH_NONE: break;
	}
}

void
flush_range(const void *addr, size_t len)
{
	flush_lines(cpu_cfg.flush, addr, len);
}

API void
pmem_flush(const void *addr, size_t len)
{
	if (unlikely(sim_active()) && sim_route_flush(addr, len))
		return;
	flush_lines(cpu_cfg.flush, addr, len);
}

API void
pmem_drain(void)
{
	if (unlikely(sim_active()))
		sim_route_drain();
	flush_fence();
}

API void
pmem_persist(const void *addr, size_t len)
{
	pmem_flush(addr, len);
	pmem_drain();
}

API int
pmem_msync(const void *addr, size_t len)
{
	uintptr_t start = ALIGN_DOWN((uintptr_t)addr, (uintptr_t)sysconf(_SC_PAGESIZE));
	size_t span = len + ((uintptr_t)addr - start);
	if (msync((void *)start, span, MS_SYNC) != 0) {
		errmsg_set_sys(errno, "pmem_msync(%p, %zu)", addr, len);
		return -1;
	}
	return 0;
}

API void
pmem_deep_flush(const void *addr, size_t len)
{
	if (unlikely(sim_active()) && sim_route_flush(addr, len))
		return;
	flush_lines(cpu_cfg.deep_flush, addr, len);
}

API int
pmem_deep_drain(const void *addr, size_t len)
{
	pmem_drain();
	/* A range of a mapped file goes through the file system too, which pushes
	 * it past the memory controller's queues (or to the disk) */
	if (map_covers(addr, len))
		return pmem_msync(addr, len);
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

/* flush_region_domain -- 1 if region dir `name` says "cpu_cache", 0 if another domain,
 * -1 if it has no persistence_domain file */
static int
flush_region_domain(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), ND_DEVICES "/%s/persistence_domain", name);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char buf[64] = "";
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return strncmp(buf, "cpu_cache", 9) == 0;
}

API int
pmem_has_auto_flush(void)
{
	DIR *dir = opendir(ND_DEVICES);
	if (dir == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0; /* no NVDIMM bus: no pmem region, no auto flush */
		errmsg_set_sys(errno, "pmem_has_auto_flush: opendir " ND_DEVICES);
		return -1;
	}
	int regions = 0, cpu_cache = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, "region", 6) != 0)
			continue;
		int d = flush_region_domain(e->d_name);
		if (d < 0)
			continue;
		regions++;
		cpu_cache += d;
	}
	closedir(dir);
	return regions > 0 && cpu_cache == regions;
}
