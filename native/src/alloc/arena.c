/*
 * arena.c -- arena set-up, and frees sorted to the arenas objects came from
 */
#include <errno.h>
#include <string.h>

#include "alloc/arena.h"
#include "alloc/slab.h"
#include "common/errmsg.h"

void
arena_init(struct arena *a, unsigned ind)
{
	memset(a, 0, sizeof(*a));
	a->ind = ind;
	for (unsigned i = 0; i < NSMALL; i++)
		pthread_mutex_init(&a->bins[i].lock, NULL);
}

void
arena_flush(struct arena *arenas, struct extents *x, unsigned szind, void *const *ptrs,
		unsigned n)
{
	for (unsigned done = 0; done < n; done += BIN_FLUSH_MAX) {
		unsigned batch = MIN(n - done, (unsigned)BIN_FLUSH_MAX);
		struct extent *ext[BIN_FLUSH_MAX];
		long reg[BIN_FLUSH_MAX];
		/* what needs no lock first (a slab's place and arena are fixed while it
		 * holds an object): the bins' critical sections touch bitmaps and lists */
		unsigned m = 0;
		for (unsigned i = 0; i < batch; i++) {
			void *p = ptrs[done + i];
			struct extent *e = pm_extent(pm_lookup(&x->pm, p));
			long r = slab_index(e, szind, p);
			if (r < 0) {
				errmsg_set(EINVAL, "free of %p: not an object start", p);
				continue;
			}
			ext[m] = e;
			reg[m++] = r;
		}
		/* one bin at a time: the objects of the first one's arena, then the rest */
		while (m) {
			unsigned arena = ext[0]->arena, keep = 0, mine = 0;
			struct extent *oth_e[BIN_FLUSH_MAX];
			long oth_r[BIN_FLUSH_MAX];
			for (unsigned i = 0; i < m; i++) {
				if (ext[i]->arena == arena) {
					ext[mine] = ext[i];
					reg[mine++] = reg[i];
				} else {
					oth_e[keep] = ext[i];
					oth_r[keep++] = reg[i];
				}
			}
			bin_flush(&arenas[arena].bins[szind], x, szind, ext, reg, mine);
			memcpy(ext, oth_e, keep * sizeof(*ext));
			memcpy(reg, oth_r, keep * sizeof(*reg));
			m = keep;
		}
	}
}
