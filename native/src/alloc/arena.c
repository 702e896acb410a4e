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
		/* one bin at a time: the first object's arena's, moved to the front */
		while (m) {
			unsigned arena = ext[0]->arena, mine = 0;
			for (unsigned i = 0; i < m; i++) {
				if (ext[i]->arena != arena)
					continue;
				struct extent *te = ext[mine];
				long tr = reg[mine];
				ext[mine] = ext[i];
				reg[mine++] = reg[i];
				ext[i] = te;
				reg[i] = tr;
			}
			bin_flush(&arenas[arena].bins[szind], x, szind, ext, reg, mine);
			memmove(ext, ext + mine, (m - mine) * sizeof(*ext));
			memmove(reg, reg + mine, (m - mine) * sizeof(*reg));
			m -= mine;
		}
	}
}
