/*
 * options.c -- the settings table: every environment variable pmalloc reads
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "common/mounts.h"
#include "common/options.h"
#include "common/util.h"
#include "pmalloc.h"

enum option_kind {
	KIND_DIR,      /* a writable directory */
	KIND_SIZE,     /* bytes, with K/M/G/T; at least min */
	KIND_NUM,      /* a whole number in [min, max] */
	KIND_FLAG,     /* 0 or 1; empty is 0 */
	KIND_SWITCH,   /* 0 or 1, anything else is unset (-1) */
	KIND_FORK,     /* 1, 2 or 3 */
	KIND_NODES,    /* NUMA nodes: numbers and ranges, comma-separated (0-1,4) */
	KIND_TEXT,     /* any text, checked where it is used (the tiers) */
};

struct option {
	const char *name;
	const char *alias;          /* libvmmalloc's name, read when name is unset */
	enum option_kind kind;
	bool strict;                /* a bad value is refused, not ignored */
	long long def, min, max;    /* default; bounds of KIND_NUM and KIND_SIZE */
	const char *expect;         /* the message for a bad value */
	const char *help;
};

#define SWITCH(n, h) { n, NULL, KIND_SWITCH, false, -1, 0, 1, NULL, h }

static const struct option table[OPT_COUNT] = {
	[OPT_POOL_DIR] = { "PMALLOC_POOL_DIR", "VMMALLOC_POOL_DIR", KIND_DIR, true, 0, 0, 0,
		"not a writable directory",
		"where pools without a directory go (default: a DAX mount, /dev/shm, $TMPDIR, /tmp)" },
	[OPT_POOL_SIZE] = { "PMALLOC_POOL_SIZE", "VMMALLOC_POOL_SIZE", KIND_SIZE, true, 0,
		(long long)VMEM_MIN_POOL, LLONG_MAX, "not a size (e.g. 512M, 4G, 1073741824)",
		"the preload shim's pool (default: memory, or the directory's free space if less)" },
	[OPT_FORK] = { "PMALLOC_FORK", "VMMALLOC_FORK", KIND_FORK, true, 0, 1, 3,
		"expected 1 (copy-on-write remap), 2 or 3 (copy the live pages), "
		"or unset (copy-on-write while single-threaded)",
		"how a file-backed heap is separated from a forked child" },
	[OPT_DECAY_MS] = { "PMALLOC_DECAY_MS", NULL, KIND_NUM, true, 10000, 0,
		OPTIONS_DECAY_MS_MAX, "expected milliseconds, a whole number from 0 to 1099511627776",
		"how long free pages stay dirty before they are punched out" },
	[OPT_FALLBACK] = { "PMALLOC_FALLBACK", NULL, KIND_FLAG, true, 0, 0, 1,
		"expected 0 or 1", "the preload shim serves from libc once its pool is full" },
	[OPT_STATS] = { "PMALLOC_STATS", NULL, KIND_FLAG, true, 0, 0, 1,
		"expected 0 or 1", "the preload shim prints its pool's statistics at exit" },
	[OPT_BACKGROUND] = { "PMALLOC_BACKGROUND", NULL, KIND_FLAG, true, 0, 0, 1,
		"expected 0 or 1", "the preload shim purges on time from a thread of its own "
		"(explicit pools always do)" },
	[OPT_IS_PMEM_FORCE] = SWITCH("PMEM_IS_PMEM_FORCE", "1: pmem_is_pmem says yes, 0: no"),
	[OPT_NO_CLWB] = SWITCH("PMEM_NO_CLWB", "1: flush without CLWB"),
	[OPT_NO_CLFLUSHOPT] = SWITCH("PMEM_NO_CLFLUSHOPT", "1: flush without CLFLUSHOPT"),
	[OPT_NO_FLUSH] = SWITCH("PMEM_NO_FLUSH", "1: no flush instructions, 0: always flush"),
	[OPT_NO_MOVNT] = SWITCH("PMEM_NO_MOVNT", "1: copies without non-temporal stores"),
	[OPT_AVX] = SWITCH("PMEM_AVX", "1: 32-byte non-temporal copies"),
	[OPT_AVX512F] = SWITCH("PMEM_AVX512F", "0: no 64-byte non-temporal copies"),
	[OPT_MOVNT_THRESHOLD] = { "PMEM_MOVNT_THRESHOLD", NULL, KIND_NUM, false, 256, 0,
		LLONG_MAX, "expected a whole number of bytes",
		"copies of at least this many bytes use non-temporal stores" },
	[OPT_HBW_NODES] = { "MEMKIND_HBW_NODES", NULL, KIND_NODES, true, 0, 0, 0,
		"expected NUMA node numbers below 1024 and ranges, comma-separated (e.g. 1,3-4)",
		"the high-bandwidth NUMA nodes (default: from the HMAT bandwidths in sysfs)" },
	[OPT_TIERS] = { "PMALLOC_TIERS", NULL, KIND_TEXT, true, 0, 0, 0,
		"expected tiers such as DRAM:1,PMEM:4",
		"the tier preload (libmemtier.so, pmalloc run --tiers): MEMORY[@DIR]:RATIO, "
		"comma-separated, then ;policy=ratio or ;policy=threshold" },
};

struct option_state {
	const char *from;           /* the variable that was set, or NULL */
	char raw[PATH_MAX];         /* its text */
	bool bad;                   /* the text was refused */
	char error[160];            /* why */
	long long num;              /* the value in force */
	char text[PATH_MAX];        /* the value as text */
};

static struct option_state state[OPT_COUNT];
static char pool_dir[PATH_MAX];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

/* size_parse -- options_parse_size without a message */
static bool
size_parse(const char *s, size_t *out)
{
	char *end;
	int err = errno;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	bool bad = errno || end == s || *s == '-' || *s == '+' || *s == ' ';
	errno = err;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end == 'i' && shift)
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (bad || *end != '\0' || (shift && v > (ULLONG_MAX >> shift)) || (v << shift) > SIZE_MAX)
		return false;
	*out = (size_t)(v << shift);
	return true;
}

int
options_parse_size(const char *s, size_t *out)
{
	if (size_parse(s, out))
		return 0;
	errmsg_set(EINVAL, "%s: not a size (e.g. 512M, 4G, 1073741824)", s);
	return -1;
}

/* dir_error -- 0 when dir is a writable directory, else the errno saying why not */
static int
dir_error(const char *dir)
{
	struct stat st;
	if (stat(dir, &st) != 0)
		return errno;
	if (!S_ISDIR(st.st_mode))
		return ENOTDIR;
	return access(dir, W_OK | X_OK) == 0 ? 0 : errno;
}

static bool
take_dir(const char *path, void *arg)
{
	(void)arg;
	if (dir_error(path) || strlen(path) >= sizeof(pool_dir))
		return false;
	strcpy(pool_dir, path);
	return true;
}

/* default_dir -- a writable DAX mount, else /dev/shm, else $TMPDIR, else /tmp */
static void
default_dir(void)
{
	if (mounts_each_dax("/proc/mounts", take_dir, NULL) || take_dir("/dev/shm", NULL))
		return;
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !take_dir(tmp, NULL))
		strcpy(pool_dir, "/tmp");
}

/* default_size -- memory, or the pool directory's free space if less */
static long long
default_size(void)
{
	size_t size = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
	struct statvfs fs;
	if (statvfs(pool_dir, &fs) == 0)
		size = MIN(size, (size_t)fs.f_bavail * fs.f_frsize);
	return (long long)MAX(size, VMEM_MIN_POOL);
}

/* nodes_parse -- count the nodes of a list such as "0-1,4" (each below 1024,
 * ranges ascending); false when s is not one */
static bool
nodes_parse(const char *s, long long *count)
{
	*count = 0;
	for (;;) {
		char *end;
		if (*s < '0' || *s > '9')
			return false;
		unsigned long lo = strtoul(s, &end, 10), hi = lo;
		if (*end == '-') {
			s = end + 1;
			if (*s < '0' || *s > '9')
				return false;
			hi = strtoul(s, &end, 10);
		}
		if (lo > hi || hi >= 1024)
			return false;
		*count += (long long)(hi - lo + 1);
		if (*end == '\0')
			return true;
		if (*end != ',')
			return false;
		s = end + 1;
	}
}

/* parse -- the value of s for option o; false when s is not one */
static bool
parse(const struct option *o, const char *s, long long *v, char *why, size_t whylen)
{
	char *end;
	size_t bytes;
	int err = errno;
	snprintf(why, whylen, "%s", o->expect);
	switch (o->kind) {
	case KIND_DIR:
		err = dir_error(s);
		if (err)
			snprintf(why, whylen, "%s (%s)", o->expect, strerror(err));
		else if (strlen(s) >= sizeof(pool_dir))
			snprintf(why, whylen, "directory name too long");
		return !err && strlen(s) < sizeof(pool_dir);
	case KIND_SIZE:
		if (!size_parse(s, &bytes))
			return false;
		if (bytes < (size_t)o->min) {
			snprintf(why, whylen, "below the %lld MiB minimum", o->min >> 20);
			return false;
		}
		*v = (long long)bytes;
		return bytes <= (size_t)o->max;
	case KIND_NUM:
		errno = 0;
		*v = strtoll(s, &end, 10);
		bool ok = !errno && end != s && *end == '\0' && *v >= o->min && *v <= o->max;
		errno = err;
		return ok;
	case KIND_FLAG:
		*v = *s && strcmp(s, "0") ? 1 : 0;
		return !*s || !strcmp(s, "0") || !strcmp(s, "1");
	case KIND_SWITCH:
		*v = !strcmp(s, "1") ? 1 : 0;
		return !strcmp(s, "0") || !strcmp(s, "1");
	case KIND_FORK:
		*v = s[0] - '0';
		return s[0] >= '1' && s[0] <= '3' && s[1] == '\0';
	case KIND_NODES:
		return nodes_parse(s, v);
	case KIND_TEXT:
		*v = *s != '\0';
		return true;
	}
	return false;
}

static void
load_one(enum option_id id)
{
	const struct option *o = &table[id];
	struct option_state *st = &state[id];
	memset(st, 0, sizeof(*st));
	st->num = o->def;
	const char *s = getenv(o->name);
	st->from = o->name;
	if (!s && o->alias) {
		s = getenv(o->alias);
		st->from = o->alias;
	}
	if (!s) {
		st->from = NULL;
	} else {
		snprintf(st->raw, sizeof(st->raw), "%s", s);
		long long v = o->def;
		st->bad = !parse(o, s, &v, st->error, sizeof(st->error));
		if (!st->bad)
			st->num = v;
		else if (!o->strict && o->kind == KIND_NUM && !*s)
			st->bad = false;    /* an empty lenient number is just unset */
	}
	if (id == OPT_POOL_DIR) {
		if (s)      /* even a bad one: creating a pool there says why */
			snprintf(pool_dir, sizeof(pool_dir), "%s", s);
		else
			default_dir();
	}
	if (id == OPT_POOL_SIZE && (!s || st->bad))
		st->num = default_size();
	if (o->kind == KIND_NODES || o->kind == KIND_TEXT)
		snprintf(st->text, sizeof(st->text), "%s", s && !st->bad ? s : "");
	else
		snprintf(st->text, sizeof(st->text), "%lld", st->num);
}

static void
load_all(void)
{
	int err = errno;
	for (unsigned id = 0; id < OPT_COUNT; id++)
		load_one(id);
	errno = err;
}

static void
loaded(void)
{
	pthread_once(&load_once, load_all);
}

long long
options_num(enum option_id id)
{
	loaded();
	return state[id].num;
}

const char *
options_str(enum option_id id)
{
	loaded();
	return id == OPT_POOL_DIR ? pool_dir : state[id].text;
}

int
options_check(enum option_id id)
{
	loaded();
	const struct option_state *st = &state[id];
	if (!st->bad || !table[id].strict)
		return 0;
	errmsg_set(EINVAL, "%s=%s: %s", st->from, st->raw, st->error);
	return -1;
}

void
options_reload(void)
{
	loaded();
	pthread_mutex_lock(&reload_lock);
	load_all();
	pthread_mutex_unlock(&reload_lock);
}

void
options_describe(enum option_id id, struct options_row *row)
{
	loaded();
	const struct option *o = &table[id];
	const struct option_state *st = &state[id];
	row->name = o->name;
	row->alias = o->alias;
	row->value = options_str(id);
	row->raw = st->from ? st->raw : NULL;
	row->from = st->from;
	row->error = st->bad ? st->error : NULL;
	row->help = o->help;
	row->strict = o->strict;
}

/* ---- the public face (pmalloc.h) ---------------------------------------- */

API size_t
pmalloc_settings(struct pmalloc_setting *rows, size_t n)
{
	for (unsigned id = 0; id < OPT_COUNT && id < n; id++) {
		struct options_row r;
		options_describe(id, &r);
		rows[id] = (struct pmalloc_setting){ r.name, r.alias, r.value, r.raw, r.from,
			r.error, r.help, r.strict };
	}
	return OPT_COUNT;
}

API void
pmalloc_settings_reload(void)
{
	options_reload();
}

API int
pmalloc_parse_size(const char *text, size_t *out)
{
	return options_parse_size(text, out);
}
