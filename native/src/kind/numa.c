/*
 * numa.c -- NUMA node classes from sysfs, and mbind without libnuma
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "common/options.h"
#include "kind/numa.h"

#define NODE_DIR "/sys/devices/system/node"
#define KMEM_DIR "/sys/bus/dax/drivers/kmem"

static void
set(struct nodeset *s, unsigned n)
{
	if (n < NUMA_MAX_NODES)
		s->bits[n / 64] |= UINT64_C(1) << (n % 64);
}

/* parse_list -- "0-1,4" into s (a bad tail is ignored: sysfs writes good ones) */
static void
parse_list(const char *text, struct nodeset *s)
{
	const char *p = text;
	while (*p >= '0' && *p <= '9') {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;
		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		for (unsigned long n = lo; n <= hi && n < NUMA_MAX_NODES; n++)
			set(s, (unsigned)n);
		if (*end != ',')
			break;
		p = end + 1;
	}
}

/* read_text -- the first line of a sysfs file, "" if unreadable */
static void
read_text(const char *path, char *buf, size_t len)
{
	buf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
}

/* node_figure -- a number from nodeN/<file>, or 0 */
static unsigned long long
node_figure(unsigned n, const char *file)
{
	char path[256], buf[64];
	snprintf(path, sizeof(path), NODE_DIR "/node%u/%s", n, file);
	read_text(path, buf, sizeof(buf));
	return strtoull(buf, NULL, 10);
}

/* node_memtotal -- MemTotal of node n in KiB, from its meminfo */
static unsigned long long
node_memtotal(unsigned n)
{
	char path[256], line[256];
	snprintf(path, sizeof(path), NODE_DIR "/node%u/meminfo", n);
	FILE *f = fopen(path, "re");
	unsigned long long kib = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		const char *m = strstr(line, "MemTotal:");
		if (m) {
			kib = strtoull(m + strlen("MemTotal:"), NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

static void
node_list(const char *file, struct nodeset *s)
{
	char buf[4096];
	read_text(file, buf, sizeof(buf));
	parse_list(buf, s);
}

static void
dax_kmem_nodes(struct nodeset *s)
{
	DIR *d = opendir(KMEM_DIR);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "dax", 3) != 0)
			continue;
		char path[512], buf[32];
		snprintf(path, sizeof(path), KMEM_DIR "/%s/target_node", de->d_name);
		read_text(path, buf, sizeof(buf));
		if (buf[0] >= '0' && buf[0] <= '9')
			set(s, (unsigned)strtoul(buf, NULL, 10));
	}
	closedir(d);
}

/* hbw_nodes -- MEMKIND_HBW_NODES, else memory nodes whose HMAT read bandwidth
 * beats that of every node with CPUs */
static void
hbw_nodes(const struct nodeset *mem, struct nodeset *s)
{
	if (options_num(OPT_HBW_NODES) > 0) {
		parse_list(options_str(OPT_HBW_NODES), s);
		return;
	}
	struct nodeset cpu = { { 0 } };
	node_list(NODE_DIR "/has_cpu", &cpu);
	unsigned long long cpu_best = 0;
	for (unsigned n = 0; n < NUMA_MAX_NODES; n++)
		if (nodeset_has(&cpu, n))
			cpu_best = MAX(cpu_best, node_figure(n, "access0/initiators/read_bandwidth"));
	if (!cpu_best)
		return;              /* no HMAT figures: nothing to compare */
	for (unsigned n = 0; n < NUMA_MAX_NODES; n++)
		if (nodeset_has(mem, n)
				&& node_figure(n, "access0/initiators/read_bandwidth") > cpu_best)
			set(s, n);
}

/* best_nodes -- the memory nodes with the largest (or, lowest, smallest non-zero)
 * figure f */
static void
best_nodes(const struct nodeset *mem, unsigned long long (*f)(unsigned, const char *),
		const char *file, bool lowest, struct nodeset *s)
{
	unsigned long long best = 0;
	for (unsigned n = 0; n < NUMA_MAX_NODES; n++) {
		unsigned long long v = nodeset_has(mem, n) ? f(n, file) : 0;
		if (v && (!best || (lowest ? v < best : v > best)))
			best = v;
	}
	for (unsigned n = 0; best && n < NUMA_MAX_NODES; n++)
		if (nodeset_has(mem, n) && f(n, file) == best)
			set(s, n);
}

static unsigned long long
memtotal_figure(unsigned n, const char *file)
{
	(void)file;
	return node_memtotal(n);
}

static unsigned
count(const struct nodeset *s)
{
	unsigned c = 0;
	for (unsigned i = 0; i < NUMA_MAX_NODES / 64; i++)
		c += (unsigned)__builtin_popcountll(s->bits[i]);
	return c;
}

unsigned
numa_nodes(enum numa_class c, struct nodeset *s)
{
	static const char *const why[] = {
		[NODES_MEMORY] = "no NUMA node with memory is listed in " NODE_DIR "/has_memory",
		[NODES_DAX_KMEM] = "no NUMA node here is persistent memory onlined as RAM "
			"(no dax device is bound to the kmem driver: see daxctl reconfigure-device)",
		[NODES_HBW] = "no NUMA node here is high-bandwidth memory (MEMKIND_HBW_NODES is "
			"unset and sysfs has no HMAT bandwidth above the CPU nodes')",
		[NODES_REGULAR] = "every NUMA node here is high-bandwidth or kmem DAX memory",
		[NODES_HIGHEST_CAPACITY] = "no NUMA node reports its MemTotal",
		[NODES_LOWEST_LATENCY] = "sysfs has no HMAT latencies (access0/initiators)",
		[NODES_HIGHEST_BANDWIDTH] = "sysfs has no HMAT bandwidths (access0/initiators)",
	};
	memset(s, 0, sizeof(*s));
	struct nodeset mem = { { 0 } };
	node_list(NODE_DIR "/has_memory", &mem);
	if (!count(&mem))
		node_list(NODE_DIR "/online", &mem);    /* older kernels */
	switch (c) {
	case NODES_MEMORY:
		*s = mem;
		break;
	case NODES_DAX_KMEM:
		dax_kmem_nodes(s);
		break;
	case NODES_HBW:
		hbw_nodes(&mem, s);
		break;
	case NODES_REGULAR: {
		struct nodeset dax = { { 0 } }, hbw = { { 0 } };
		dax_kmem_nodes(&dax);
		hbw_nodes(&mem, &hbw);
		for (unsigned i = 0; i < NUMA_MAX_NODES / 64; i++)
			s->bits[i] = mem.bits[i] & ~dax.bits[i] & ~hbw.bits[i];
		break;
	}
	case NODES_HIGHEST_CAPACITY:
		best_nodes(&mem, memtotal_figure, NULL, false, s);
		break;
	case NODES_LOWEST_LATENCY:
		best_nodes(&mem, node_figure, "access0/initiators/read_latency", true, s);
		break;
	case NODES_HIGHEST_BANDWIDTH:
		best_nodes(&mem, node_figure, "access0/initiators/read_bandwidth", false, s);
		break;
	}
	unsigned n = count(s);
	if (!n)
		errmsg_set(ENODEV, "%s", why[c]);
	return n;
}

int
numa_nearest(const struct nodeset *s)
{
	unsigned cpu = 0, here = 0;
	if (syscall(SYS_getcpu, &cpu, &here, NULL) != 0)
		here = 0;
	char path[256], buf[4096];
	snprintf(path, sizeof(path), NODE_DIR "/node%u/distance", here);
	read_text(path, buf, sizeof(buf));
	int best = -1;
	unsigned long best_d = 0;
	char *p = buf;
	for (unsigned n = 0; n < NUMA_MAX_NODES && *p; n++) {
		char *end;
		unsigned long d = strtoul(p, &end, 10);
		if (end == p)
			break;
		if (nodeset_has(s, n) && (best < 0 || d < best_d)) {
			best = (int)n;
			best_d = d;
		}
		p = end;
	}
	for (unsigned n = 0; best < 0 && n < NUMA_MAX_NODES; n++)
		if (nodeset_has(s, n))
			best = (int)n;      /* no distance table: the first */
	return best;
}

int
numa_bind(void *addr, size_t len, int mode, const struct nodeset *s)
{
	if (syscall(SYS_mbind, addr, len, mode, s->bits, (unsigned long)NUMA_MAX_NODES, 0UL)
			== 0)
		return 0;
	errmsg_set_sys(errno, "cannot bind %zu bytes to their NUMA nodes (mbind)", len);
	return -1;
}
