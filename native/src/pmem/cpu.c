/*
 * cpu.c -- CPUID probing, the platform's persistence domain and the PMEM_* switches
 */
#include "pmem/cpu.h"

#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"
#include "common/options.h"

/* Where the kernel lists NVDIMM regions and their persistence domains. */
#define ND_DEVICES "/sys/bus/nd/devices"

/* CPUID leaf 7 (EBX) and leaf 1 (EDX, ECX) bits we look at. */
#define CPUID7_EBX_CLFLUSHOPT (1u << 23)
#define CPUID7_EBX_CLWB       (1u << 24)
#define CPUID7_EBX_AVX512F    (1u << 16)
#define CPUID1_EDX_CLFSH      (1u << 19)
#define CPUID1_EDX_SSE2       (1u << 26)
#define CPUID1_ECX_OSXSAVE    (1u << 27)
#define CPUID1_ECX_AVX        (1u << 28)

/* PMDK's default: copies of 256 bytes and more go non-temporal. */

struct cpu_config cpu_cfg = {
	.flush = CPU_FLUSH_CLFLUSH,
	.deep_flush = CPU_FLUSH_CLFLUSH,
	.movnt = CPU_MOVNT_SSE2,
	.movnt_threshold = 256,
	.auto_flush = 0,
};

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

/* cpu_region_domain -- 1 if region dir `name` says "cpu_cache", 0 if another domain,
 * -1 if it has no persistence_domain file */
static int
cpu_region_domain(const char *name)
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

int
cpu_auto_flush(void)
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
		int d = cpu_region_domain(e->d_name);
		if (d < 0)
			continue;
		regions++;
		cpu_cache += d;
	}
	closedir(dir);
	return regions > 0 && cpu_cache == regions;
}

/* cpu_xcr0 -- the register state the OS saves (XCR0); call only with OSXSAVE set */
static uint32_t
cpu_xcr0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	(void)hi;
	return lo;
}

/* cpu_probe -- fill cpu_cfg from CPUID and the environment */
static void
cpu_probe(void)
{
	unsigned a, b, c, d;
	unsigned ebx7 = 0, ecx1 = 0, edx1 = 0;
	if (__get_cpuid(1, &a, &b, &c, &d)) {
		ecx1 = c;
		edx1 = d;
	}
	if (__get_cpuid_max(0, NULL) >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		ebx7 = b;
	}

	enum cpu_flush best = CPU_FLUSH_NONE;
	if (edx1 & CPUID1_EDX_CLFSH)
		best = CPU_FLUSH_CLFLUSH;
	if ((ebx7 & CPUID7_EBX_CLFLUSHOPT) && (int)options_num(OPT_NO_CLFLUSHOPT) != 1)
		best = CPU_FLUSH_CLFLUSHOPT;
	if ((ebx7 & CPUID7_EBX_CLWB) && (int)options_num(OPT_NO_CLWB) != 1)
		best = CPU_FLUSH_CLWB;
	/* PMEM_NO_CLFLUSHOPT=1 also rules out CLWB (PMDK's behaviour) */
	if ((int)options_num(OPT_NO_CLFLUSHOPT) == 1 && best == CPU_FLUSH_CLWB)
		best = (edx1 & CPUID1_EDX_CLFSH) ? CPU_FLUSH_CLFLUSH : CPU_FLUSH_NONE;
	cpu_cfg.deep_flush = best;

	cpu_cfg.auto_flush = cpu_auto_flush();
	int no_flush = (int)options_num(OPT_NO_FLUSH);
	if (no_flush == 1 || (no_flush == -1 && cpu_cfg.auto_flush == 1))
		cpu_cfg.flush = CPU_FLUSH_NONE;
	else
		cpu_cfg.flush = best;

	cpu_cfg.movnt = CPU_MOVNT_NONE;
	if (edx1 & CPUID1_EDX_SSE2)
		cpu_cfg.movnt = CPU_MOVNT_SSE2;
	uint32_t xcr0 = (ecx1 & CPUID1_ECX_OSXSAVE) ? cpu_xcr0() : 0;
	/* 32-byte streams measured slower than 16-byte ones here: opt-in, as in PMDK */
	if ((ecx1 & CPUID1_ECX_AVX) && (xcr0 & 0x6u) == 0x6u && (int)options_num(OPT_AVX) == 1)
		cpu_cfg.movnt = CPU_MOVNT_AVX;
	/* whole-line streams: the default where the CPU and the OS (ZMM state) allow */
	if ((ebx7 & CPUID7_EBX_AVX512F) && (xcr0 & 0xE6u) == 0xE6u &&
	    (int)options_num(OPT_AVX512F) != 0)
		cpu_cfg.movnt = CPU_MOVNT_AVX512F;
	if ((int)options_num(OPT_NO_MOVNT) == 1)
		cpu_cfg.movnt = CPU_MOVNT_NONE;

	cpu_cfg.movnt_threshold = (size_t)options_num(OPT_MOVNT_THRESHOLD);
}

__attribute__((constructor)) void
cpu_init(void)
{
	int saved = errno;
	pthread_once(&cpu_once, cpu_probe);
	errno = saved;
}

const char *
cpu_flush_name(enum cpu_flush f)
{
	switch (f) {
	case CPU_FLUSH_CLWB: return "clwb";
	case CPU_FLUSH_CLFLUSHOPT: return "clflushopt";
	case CPU_FLUSH_CLFLUSH: return "clflush";
	case CPU_FLUSH_NONE: break;
	}
	return "none";
}

const char *
cpu_movnt_name(enum cpu_movnt m)
{
	switch (m) {
	case CPU_MOVNT_AVX512F: return "avx512f";
	case CPU_MOVNT_AVX: return "avx";
	case CPU_MOVNT_SSE2: return "sse2";
	case CPU_MOVNT_NONE: break;
	}
	return "none";
}
