/*
 * pmem_kind.c -- pmem kinds: a kind over an unlinked file in a directory, its
 * configuration, destruction, and the DAX check of a directory
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "alloc/purger.h"
#include "common/errmsg.h"
#include "common/mounts.h"
#include "kind/kind.h"

struct memkind_config {
	char path[PATH_MAX];            /* "" until set */
	size_t size;
	memkind_mem_usage_policy policy;
};

API struct memkind_config *
memkind_config_new(void)
{
	return calloc(1, sizeof(struct memkind_config));
}

API void
memkind_config_delete(struct memkind_config *cfg)
{
	free(cfg);
}

API void
memkind_config_set_path(struct memkind_config *cfg, const char *pmem_dir)
{
	if (cfg)
		snprintf(cfg->path, sizeof(cfg->path), "%s", pmem_dir ? pmem_dir : "");
}

API void
memkind_config_set_size(struct memkind_config *cfg, size_t pmem_size)
{
	if (cfg)
		cfg->size = pmem_size;
}

API void
memkind_config_set_memory_usage_policy(struct memkind_config *cfg,
		memkind_mem_usage_policy policy)
{
	if (cfg)
		cfg->policy = policy;
}

/* unlimited_size -- "as much as the file system holds": its size, page-aligned */
static size_t
unlimited_size(const char *dir)
{
	struct statvfs v;
	if (statvfs(dir, &v) != 0)
		return 0;
	return ALIGN_DOWN((size_t)v.f_blocks * v.f_frsize, PAGE);
}

API int
memkind_create_pmem_with_config(struct memkind_config *cfg, memkind_t *kind)
{
	if (!cfg || !kind)
		return kind_invalid("memkind_create_pmem_with_config: no configuration or no kind "
				"to fill");
	if (!cfg->path[0])
		return kind_invalid("memkind_create_pmem: no directory given");
	if (cfg->size && cfg->size < MEMKIND_PMEM_MIN_SIZE) {
		errmsg_set(EINVAL, "memkind_create_pmem: max_size %zu is below "
				"MEMKIND_PMEM_MIN_SIZE (%d); 0 means no limit", cfg->size,
				MEMKIND_PMEM_MIN_SIZE);
		return MEMKIND_ERROR_INVALID;
	}
	if ((unsigned)cfg->policy >= MEMKIND_MEM_USAGE_POLICY_MAX_VALUE)
		return kind_invalid("memkind_create_pmem: unknown memory usage policy");
	struct stat st;
	int bad = stat(cfg->path, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
	if (bad) {
		errmsg_set_sys(bad, "memkind_create_pmem: %s", cfg->path);
		return MEMKIND_ERROR_INVALID;
	}
	size_t size = cfg->size ? ALIGN_DOWN(cfg->size, PAGE) : unlimited_size(cfg->path);
	struct memkind *k = calloc(1, sizeof(*k));
	if (!k) {
		errmsg_set(ENOMEM, "memkind_create_pmem: no memory for the kind");
		return MEMKIND_ERROR_MALLOC;
	}
	int code = 0;
	struct region r;
	struct heap *h = NULL;
	if (region_create_tmpfile(&r, cfg->path, size) != 0) {
		code = errno == ENOMEM ? MEMKIND_ERROR_MMAP : MEMKIND_ERROR_INVALID;
	} else if (!(h = heap_create(&r))) {
		region_destroy(&r);
		code = MEMKIND_ERROR_ARENAS_CREATE;
	} else {
		k->magic = KIND_MAGIC;
		k->index = KIND_STATIC;
		if (cfg->policy == MEMKIND_MEM_USAGE_POLICY_CONSERVATIVE)
			extents_set_decay(&h->ext, 0);
		if (!kind_add_pmem(k, h)) {
			heap_destroy(h);
			errmsg_set(EMFILE, "memkind_create_pmem: %d kinds exist (MEMKIND_MAX_KIND)",
					MEMKIND_MAX_KIND);
			code = MEMKIND_ERROR_TOOMANY;
		}
	}
	if (code) {
		free(k);
		return code;
	}
	int err = errno;
	(void)purger_add(&h->ext);   /* best effort: decay on time while idle */
	errno = err;
	*kind = k;
	return 0;
}

API int
memkind_create_pmem(const char *dir, size_t max_size, memkind_t *kind)
{
	struct memkind_config cfg = { .size = max_size };
	if (dir && strlen(dir) >= sizeof(cfg.path)) {
		errmsg_set(ENAMETOOLONG, "memkind_create_pmem: directory name too long");
		return MEMKIND_ERROR_INVALID;
	}
	memkind_config_set_path(&cfg, dir);
	return memkind_create_pmem_with_config(&cfg, kind);
}

API int
memkind_destroy_kind(memkind_t kind)
{
	if (!kind || kind->magic != KIND_MAGIC)
		return kind_invalid("memkind_destroy_kind: not a kind");
	if (kind->index < KIND_STATIC) {
		errmsg_set(EINVAL, "memkind_destroy_kind: a static kind lives as long as the "
				"process");
		return MEMKIND_ERROR_OPERATION_FAILED;
	}
	struct heap *h = kind_remove_pmem(kind);
	purger_remove(&h->ext);
	heap_destroy(h);
	free(kind);
	return 0;
}

/* same_fs -- mounts_each_dax callback: is the DAX mount `path` dir's file system? */
static bool
same_fs(const char *path, void *arg)
{
	struct stat st;
	return stat(path, &st) == 0 && st.st_dev == *(dev_t *)arg;
}

API int
memkind_check_dax_path(const char *pmem_dir)
{
	struct stat st;
	if (!pmem_dir || stat(pmem_dir, &st) != 0) {
		errmsg_set_sys(pmem_dir ? errno : EINVAL, "memkind_check_dax_path: %s",
				pmem_dir ? pmem_dir : "(null)");
		return MEMKIND_ERROR_INVALID;
	}
	if (mounts_each_dax("/proc/mounts", same_fs, &st.st_dev))
		return 0;
	errmsg_set(ENOTSUP, "memkind_check_dax_path: %s is not on a file system mounted "
			"with -o dax", pmem_dir);
	return MEMKIND_ERROR_INVALID;
}
