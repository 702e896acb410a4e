/*
 * cpu.h -- what the processor offers for pmem, and the settings chosen once
 *
 * At load time cpu_init() reads CPUID, the platform's persistence domain and
 * the PMEM_* settings (common/options.h) and fixes the flush instruction, the
 * non-temporal copy width and the size from which copies use non-temporal
 * stores. Everything else reads cpu_cfg. The lowest level of pmem/: it knows
 * no mapping, no simulator and no public function.
 *
 * Glossary:
 *   flush   -- write a cache line back towards the media: CLWB (keeps the line
 *              cached), CLFLUSHOPT or CLFLUSH (both evict it).
 *   fence   -- SFENCE: orders earlier flushes and non-temporal stores; a drain.
 *   movnt   -- non-temporal (streaming) stores that bypass the caches.
 *   auto flush -- the platform flushes CPU caches on power loss (eADR): no
 *              flush instruction is needed, only the fence.
 */
#ifndef PMALLOC_PMEM_CPU_H
#define PMALLOC_PMEM_CPU_H

#include <stddef.h>

/* Cache flush instruction, weakest first. */
enum cpu_flush {
	CPU_FLUSH_NONE,         /* no flush (PMEM_NO_FLUSH=1 or auto flush) */
	CPU_FLUSH_CLFLUSH,      /* evicting, serialising */
	CPU_FLUSH_CLFLUSHOPT,   /* evicting, weakly ordered: needs the fence */
	CPU_FLUSH_CLWB,         /* keeps the line, weakly ordered: needs the fence */
};

/* Width of the non-temporal copy loops. */
enum cpu_movnt {
	CPU_MOVNT_NONE,         /* PMEM_NO_MOVNT=1: ordinary stores + flush */
	CPU_MOVNT_SSE2,         /* 16-byte MOVNTDQ */
	CPU_MOVNT_AVX,          /* 32-byte VMOVNTDQ (PMEM_AVX=1) */
	CPU_MOVNT_AVX512F,      /* 64-byte VMOVNTDQ, a line per store (PMEM_AVX512F=0 turns off) */
};

/* The settings every flush and copy reads; written once by cpu_init. */
struct cpu_config {
	enum cpu_flush flush;      /* what pmem_flush issues */
	enum cpu_flush deep_flush; /* what pmem_deep_flush issues (ignores NO_FLUSH) */
	enum cpu_movnt movnt;      /* non-temporal copy loops in use */
	size_t movnt_threshold;    /* copies of at least this many bytes use movnt */
	int auto_flush;            /* pmem_has_auto_flush() at init (1, 0 or -1) */
};

extern struct cpu_config cpu_cfg;

/* Read CPUID and the environment into cpu_cfg; idempotent (runs as a constructor). */
void cpu_init(void);

/* 1 if every NVDIMM region puts the CPU caches in its persistence domain (sysfs), 0 if not
 * or there is none, -1 + errno and message if the bus cannot be read. */
int cpu_auto_flush(void);

/* The instruction's name: "clwb", "clflushopt", "clflush" or "none". */
const char *cpu_flush_name(enum cpu_flush f);

/* The copy loops' name: "avx512f", "avx", "sse2" or "none". */
const char *cpu_movnt_name(enum cpu_movnt m);

#endif
