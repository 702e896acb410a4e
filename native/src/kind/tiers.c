/*
 * tiers.c -- tiers from text: "DRAM:1,PMEM:4" (PMALLOC_TIERS, pmalloc run --tiers)
 *
 *   tiers  := tier { "," tier } [ ";" "policy=" ( "ratio" | "threshold" ) ]
 *   tier   := memory [ "@" directory ] ":" ratio        (spaces around tokens are fine)
 *   memory := DRAM | REGULAR | HBW | HBW_PREFERRED | DAX_KMEM | DAX_KMEM_PREFERRED
 *             | HUGETLB | PMEM                          (any case)
 *
 * DRAM is the default kind; PMEM is a pmem kind with no limit in the directory
 * given, else the default pool directory. A ratio is a whole number from 1 to
 * 1000000. Every error names the tier and what was expected there.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errmsg.h"
#include "common/options.h"
#include "common/util.h"
#include "memkind_memtier.h"
#include "pmalloc.h"

#define MAX_TIERS 8
#define RATIO_MAX 1000000

struct pmalloc_tiers {
	struct memtier_memory *memory;
	unsigned n;
	memkind_t kind[MAX_TIERS];       /* the tiers, in order */
	unsigned ratio[MAX_TIERS];
	char name[MAX_TIERS][24];
	memkind_t owned[MAX_TIERS];      /* pmem kinds made for the tiers */
	unsigned nowned;
};

static const struct { const char *name; memkind_t *kind; } memories[] = {
	{ "DRAM", &MEMKIND_DEFAULT }, { "REGULAR", &MEMKIND_REGULAR },
	{ "HBW", &MEMKIND_HBW }, { "HBW_PREFERRED", &MEMKIND_HBW_PREFERRED },
	{ "DAX_KMEM", &MEMKIND_DAX_KMEM }, { "DAX_KMEM_PREFERRED", &MEMKIND_DAX_KMEM_PREFERRED },
	{ "HUGETLB", &MEMKIND_HUGETLB },
};

#define EXPECTED "DRAM, REGULAR, HBW, HBW_PREFERRED, DAX_KMEM, DAX_KMEM_PREFERRED, " \
	"HUGETLB or PMEM"

/* trim -- s without surrounding spaces, in place */
static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

API void
pmalloc_tiers_delete(struct pmalloc_tiers *t)
{
	if (!t)
		return;
	memtier_delete_memtier_memory(t->memory);
	for (unsigned i = 0; i < t->nowned; i++)
		memkind_destroy_kind(t->owned[i]);
	free(t);
}

API const char *
pmalloc_tiers_get(const struct pmalloc_tiers *t, unsigned i, memkind_t *kind, unsigned *ratio)
{
	if (!t || i >= t->n)
		return NULL;
	*kind = t->kind[i];
	*ratio = t->ratio[i];
	return t->name[i];
}

API struct memtier_memory *
pmalloc_tiers_memory(const struct pmalloc_tiers *t)
{
	return t ? t->memory : NULL;
}

/* add_tier -- parse one "memory[@dir]:ratio" into b; 0 or -1 + message */
static int
add_tier(struct pmalloc_tiers *t, struct memtier_builder *b, unsigned n, char *text)
{
	char *colon = strrchr(text, ':');
	if (!colon) {
		errmsg_set(EINVAL, "tier %u '%s': expected MEMORY:RATIO, e.g. DRAM:1", n, text);
		return -1;
	}
	*colon = '\0';
	char *ratio_text = trim(colon + 1), *end;
	errno = 0;
	unsigned long ratio = strtoul(ratio_text, &end, 10);
	if (!*ratio_text || *end || errno || ratio < 1 || ratio > RATIO_MAX
			|| !isdigit((unsigned char)*ratio_text)) {
		errmsg_set(EINVAL, "tier %u: the ratio '%s' must be a whole number from 1 to %d",
				n, ratio_text, RATIO_MAX);
		return -1;
	}
	char *at = strchr(text, '@');
	char *dir = at ? trim(at + 1) : NULL;
	if (at)
		*at = '\0';
	char *name = trim(text);
	memkind_t kind = NULL;
	if (!strcasecmp(name, "PMEM")) {
		if (!dir || !*dir)
			dir = (char *)(uintptr_t)options_str(OPT_POOL_DIR);
		int code = memkind_create_pmem(dir, 0, &kind);
		if (code) {
			char why[256];
			snprintf(why, sizeof(why), "%s", pmalloc_errormsg());
			errmsg_set(errno ? errno : EINVAL, "tier %u (PMEM in %s): %s", n, dir, why);
			return -1;
		}
		t->owned[t->nowned++] = kind;
	} else {
		for (size_t i = 0; i < sizeof(memories) / sizeof(memories[0]); i++)
			if (!strcasecmp(name, memories[i].name))
				kind = *memories[i].kind;
		if (!kind) {
			errmsg_set(EINVAL, "tier %u: unknown memory '%s' (expected " EXPECTED ")",
					n, name);
			return -1;
		}
		if (dir) {
			errmsg_set(EINVAL, "tier %u: '@%s': only PMEM takes a directory", n, dir);
			return -1;
		}
	}
	/* a static kind's heap is made now: its memory missing is this tier's error, and
	 * a preloaded program's first malloc must not be the one that makes it */
	if (!pmalloc_kind_pool(kind)) {
		char why[256];
		snprintf(why, sizeof(why), "%s", pmalloc_errormsg());
		errmsg_set(errno ? errno : ENODEV, "tier %u (%s): %s", n, name, why);
		return -1;
	}
	if (memtier_builder_add_tier(b, kind, (unsigned)ratio) == 0) {
		t->kind[t->n] = kind;
		t->ratio[t->n] = (unsigned)ratio;
		snprintf(t->name[t->n++], sizeof(t->name[0]), "%s", name);
	} else {
		char why[256];
		snprintf(why, sizeof(why), "%s", pmalloc_errormsg());
		errmsg_set(EINVAL, "tier %u (%s): %s", n, name, why);
		return -1;
	}
	return 0;
}

/* policy_of -- the policy after ";", or -1 + message */
static int
policy_of(char *text)
{
	char *p = trim(text);
	if (!strncasecmp(p, "policy", 6)) {
		char *eq = trim(p + 6);
		if (*eq == '=') {
			char *v = trim(eq + 1);
			if (!strcasecmp(v, "ratio"))
				return MEMTIER_POLICY_STATIC_RATIO;
			if (!strcasecmp(v, "threshold"))
				return MEMTIER_POLICY_DYNAMIC_THRESHOLD;
		}
	}
	errmsg_set(EINVAL, "after ';': expected policy=ratio or policy=threshold, saw '%s'", p);
	return -1;
}

API struct pmalloc_tiers *
pmalloc_tiers_new(const char *spec)
{
	char buf[4096];
	if (!spec || strlen(spec) >= sizeof(buf)) {
		errmsg_set(EINVAL, "tiers: %s", spec ? "the text is too long" : "no text");
		return NULL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	char *semi = strchr(buf, ';');
	int policy = MEMTIER_POLICY_STATIC_RATIO;
	if (semi) {
		*semi = '\0';
		if ((policy = policy_of(semi + 1)) < 0)
			return NULL;
	}
	if (!*trim(buf)) {
		errmsg_set(EINVAL, "tiers: none given; expected e.g. DRAM:1,PMEM:4");
		return NULL;
	}
	struct pmalloc_tiers *t = calloc(1, sizeof(*t));
	struct memtier_builder *b = memtier_builder_new((memtier_policy_t)policy);
	if (!t || !b) {
		free(t);
		memtier_builder_delete(b);
		errmsg_set(ENOMEM, "tiers: no memory");
		return NULL;
	}
	unsigned n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (++n > MAX_TIERS) {
			errmsg_set(EINVAL, "tiers: at most %d", MAX_TIERS);
			goto fail;
		}
		if (add_tier(t, b, n, tok) != 0)
			goto fail;
	}
	t->memory = memtier_builder_construct_memtier_memory(b);
	if (!t->memory)
		goto fail;
	memtier_builder_delete(b);
	return t;
fail:
	memtier_builder_delete(b);
	pmalloc_tiers_delete(t);
	return NULL;
}
