/*
 * flush.c -- the cache-line flush loops, one per instruction
 */
#include "pmem/flush.h"

#include <immintrin.h>
#include <stdint.h>

#include "common/util.h"

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
