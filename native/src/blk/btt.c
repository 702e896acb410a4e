/*
 * btt.c -- the block translation table (blk_layout.h tells the format and the
 * write protocol)
 *
 * Concurrency: an operation holds a lane (a mutex; threads spread over them); a
 * write holds the map lock of its block between reading the old entry and storing
 * the new one. A reader publishes the data block it copies from in its lane's
 * read-tracking slot and checks the map again; a writer about to reuse a free
 * block waits until no reader holds it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "blk/blk_layout.h"
#include "blk/btt.h"
#include "common/errmsg.h"
#include "common/util.h"
#include "libpmem.h"
#include "pmem/pmemops.h"

#define MAP_LOCKS 256
#define RTT_NONE UINT32_MAX

struct lane {
	pthread_mutex_t lock;
	uint32_t free_aba;          /* the block the lane's next write goes to */
	unsigned newer;             /* the flog slot (0 or 1) holding its last write */
	uint32_t seq;               /* that slot's sequence number */
};

struct btt {
	char *base;
	size_t size;
	const struct pmem_ops *ops;
	struct blk_info info;       /* the validated header */
	uint32_t *map;
	struct blk_flog *flog;      /* 2 slots per lane */
	char *data;
	uint32_t nblocks;           /* nlba + nlanes */
	struct lane *lanes;
	_Atomic uint32_t *rtt;      /* per lane: the block a reader copies, or RTT_NONE */
	_Atomic unsigned next_lane;
	pthread_mutex_t map_locks[MAP_LOCKS];
};

static __thread unsigned my_lane = UINT32_MAX;

/* ---- layout -------------------------------------------------------------- */

/* geometry -- the header of a pool of size bytes and bsize-byte blocks; false if
 * they do not make one (message set) */
static bool
geometry(size_t size, uint32_t bsize, struct blk_info *h)
{
	if (bsize < 512 || bsize > (1u << 30)) {
		errmsg_set(EINVAL, "block size %u: expected 512 to 1 GiB", bsize);
		return false;
	}
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	uint32_t nlanes = (uint32_t)MIN(MAX(cpus, 2L), (long)BLK_MAX_LANES);
	uint64_t ibsize = ALIGN_UP((uint64_t)bsize, 64);
	uint64_t flog = ALIGN_UP((uint64_t)nlanes * 2 * sizeof(struct blk_flog), PAGE);
	uint64_t fixed = 2 * BLK_INFO_SIZE + flog + PAGE /* map rounding */ + nlanes * ibsize;
	if (size <= fixed + ibsize + 4) {
		errmsg_set(EINVAL, "a pool of %zu bytes holds no %u-byte block", size, bsize);
		return false;
	}
	uint64_t nlba = (size - fixed) / (ibsize + sizeof(uint32_t));
	nlba = MIN(nlba, (uint64_t)MAP_ABA_MASK - nlanes);
	*h = (struct blk_info){ .pool_size = size, .bsize = bsize, .ibsize = (uint32_t)ibsize,
		.nlba = (uint32_t)nlba, .nlanes = nlanes };
	memcpy(h->signature, BLK_SIGNATURE, 8);
	h->major = BLK_MAJOR;
	h->minor = BLK_MINOR;
	h->flog_offset = BLK_INFO_SIZE;
	h->map_offset = h->flog_offset + flog;
	h->data_offset = ALIGN_UP(h->map_offset + nlba * sizeof(uint32_t), PAGE);
	h->backup_offset = ALIGN_DOWN(size, PAGE) - BLK_INFO_SIZE;
	return h->data_offset + (nlba + nlanes) * ibsize <= h->backup_offset;
}

/* info_ok -- whether h is a sound header for a pool of size bytes (message if not) */
static bool
info_ok(const struct blk_info *h, size_t size)
{
	if (memcmp(h->signature, BLK_SIGNATURE, 8) != 0) {
		errmsg_set(EINVAL, "not a block pool (no %s signature)", BLK_SIGNATURE);
		return false;
	}
	if (checksum64(h, BLK_CHECKSUMMED) != h->checksum) {
		errmsg_set(EINVAL, "the block pool's header is corrupt (checksum mismatch)");
		return false;
	}
	if (h->major != BLK_MAJOR) {
		errmsg_set(EINVAL, "block pool format %u.%u; this library reads %d.x", h->major,
				h->minor, BLK_MAJOR);
		return false;
	}
	if (h->pool_size != size) {
		errmsg_set(EINVAL, "the block pool was made %llu bytes long; the file is %zu "
				"(truncated or extended)", (unsigned long long)h->pool_size, size);
		return false;
	}
	struct blk_info g;
	if (!geometry(size, h->bsize, &g) || g.nlanes != h->nlanes || g.nlba != h->nlba
			|| g.ibsize != h->ibsize || g.map_offset != h->map_offset
			|| g.data_offset != h->data_offset || g.backup_offset != h->backup_offset) {
		errmsg_set(EINVAL, "the block pool's header describes another layout");
		return false;
	}
	return true;
}

int
btt_format(char *base, size_t size, uint32_t bsize)
{
	struct blk_info h;
	if (!geometry(size, bsize, &h)) {
		if (!errno)
			errno = EINVAL;
		return -1;
	}
	if (getrandom(h.uuid, sizeof(h.uuid), 0) != (ssize_t)sizeof(h.uuid))
		for (size_t i = 0; i < sizeof(h.uuid); i++)
			h.uuid[i] = (uint8_t)(mix64((uintptr_t)base + i + (uint64_t)time(NULL)) >> 56);
	h.checksum = checksum64(&h, BLK_CHECKSUMMED);
	const struct pmem_ops *ops = pmemops_for(base, size);
	/* the map (all zero: identity, reading zeros) and each lane's first free block */
	uint32_t *map = (uint32_t *)(void *)(base + h.map_offset);
	struct blk_flog *flog = (struct blk_flog *)(void *)(base + h.flog_offset);
	if (!pmemops_memset(ops, map, 0, (size_t)h.nlba * sizeof(uint32_t), PMEM_F_MEM_NODRAIN)
			|| !pmemops_memset(ops, flog, 0, h.nlanes * 2 * sizeof(*flog),
				PMEM_F_MEM_NODRAIN))
		return -1;
	for (uint32_t i = 0; i < h.nlanes; i++) {
		uint32_t e = MAP_SET | (h.nlba + i);
		flog[2 * i] = (struct blk_flog){ .lba = 0, .old_map = e, .new_map = e, .seq = 1 };
	}
	if (pmemops_persist(ops, flog, h.nlanes * 2 * sizeof(*flog)) != 0
			|| pmemops_drain(ops) != 0
			|| !pmemops_memcpy(ops, base + h.backup_offset, &h, sizeof(h), 0)
			|| !pmemops_memcpy(ops, base, &h, sizeof(h), 0))
		return -1;
	return 0;
}

/* ---- open and recovery --------------------------------------------------- */

static inline uint32_t
aba_of(uint32_t entry, uint64_t lba)
{
	return entry ? entry & MAP_ABA_MASK : (uint32_t)lba;
}

/* recover_lane -- the lane's free block from its newer flog slot; false if the
 * slots do not check out (message set) */
static bool
recover_lane(struct btt *b, uint32_t i)
{
	struct blk_flog s[2];
	memcpy(s, &b->flog[2 * i], sizeof(s));
	unsigned newer;
	if (s[0].seq > 3 || s[1].seq > 3 || (!s[0].seq && !s[1].seq)) {
		errmsg_set(EINVAL, "lane %u's log is corrupt (sequence numbers %u, %u)", i,
				s[0].seq, s[1].seq);
		return false;
	}
	if (!s[1].seq)
		newer = 0;
	else if (!s[0].seq)
		newer = 1;
	else if (s[1].seq == flog_next(s[0].seq))
		newer = 1;
	else if (s[0].seq == flog_next(s[1].seq))
		newer = 0;
	else {
		errmsg_set(EINVAL, "lane %u's log is corrupt (sequence numbers %u, %u)", i,
				s[0].seq, s[1].seq);
		return false;
	}
	const struct blk_flog *f = &s[newer];
	uint32_t o = aba_of(f->old_map, f->lba), n = aba_of(f->new_map, f->lba);
	if (f->lba >= b->info.nlba || o >= b->nblocks || n >= b->nblocks
			|| !(f->old_map & MAP_SET) || !(f->new_map & MAP_SET)) {
		errmsg_set(EINVAL, "lane %u's log names blocks outside the pool", i);
		return false;
	}
	uint32_t now = __atomic_load_n(&b->map[f->lba], __ATOMIC_ACQUIRE);
	if (!now)
		now = MAP_SET | f->lba;      /* the initial entry, as a write logs it */
	bool undone = now == f->old_map && f->old_map != f->new_map;
	b->lanes[i].free_aba = undone ? n : o;
	b->lanes[i].newer = newer;
	b->lanes[i].seq = f->seq;
	return true;
}

struct btt *
btt_open(char *base, size_t size, uint32_t bsize)
{
	if (size < 2 * BLK_INFO_SIZE) {
		errmsg_set(EINVAL, "a file of %zu bytes is no block pool", size);
		return NULL;
	}
	struct blk_info h;
	memcpy(&h, base, sizeof(h));
	const struct pmem_ops *ops = pmemops_for(base, size);
	if (!info_ok(&h, size)) {
		/* the primary is damaged: the backup, if it is sound, repairs it */
		char why[256];
		snprintf(why, sizeof(why), "%s", errmsg_get());
		size_t at = ALIGN_DOWN(size, PAGE) - BLK_INFO_SIZE;
		memcpy(&h, base + at, sizeof(h));
		if (!info_ok(&h, size)) {
			errmsg_set(EINVAL, "%s (and its backup copy too)", why);
			return NULL;
		}
		if (!pmemops_memcpy(ops, base, &h, sizeof(h), 0))
			return NULL;
	}
	if (bsize && bsize != h.bsize) {
		errmsg_set(EINVAL, "the pool's blocks are %u bytes, not %u", h.bsize, bsize);
		return NULL;
	}
	struct btt *b = calloc(1, sizeof(*b));
	struct lane *lanes = calloc(h.nlanes, sizeof(*lanes));
	_Atomic uint32_t *rtt = calloc(h.nlanes, sizeof(*rtt));
	if (!b || !lanes || !rtt) {
		free(b);
		free(lanes);
		free(rtt);
		errmsg_set(ENOMEM, "no memory for a block pool handle");
		return NULL;
	}
	*b = (struct btt){ .base = base, .size = size, .ops = ops, .info = h,
		.map = (uint32_t *)(void *)(base + h.map_offset),
		.flog = (struct blk_flog *)(void *)(base + h.flog_offset),
		.data = base + h.data_offset, .nblocks = h.nlba + h.nlanes, .lanes = lanes,
		.rtt = rtt };
	for (uint32_t i = 0; i < h.nlanes; i++) {
		pthread_mutex_init(&lanes[i].lock, NULL);
		atomic_init(&rtt[i], RTT_NONE);
		if (!recover_lane(b, i)) {
			btt_close(b);
			return NULL;
		}
	}
	for (unsigned i = 0; i < MAP_LOCKS; i++)
		pthread_mutex_init(&b->map_locks[i], NULL);
	return b;
}

void
btt_close(struct btt *b)
{
	if (!b)
		return;
	free(b->lanes);
	free((void *)b->rtt);
	free(b);
}

uint32_t
btt_bsize(const struct btt *b)
{
	return b->info.bsize;
}

uint32_t
btt_nlba(const struct btt *b)
{
	return b->info.nlba;
}

/* ---- lanes --------------------------------------------------------------- */

static unsigned
lane_take(struct btt *b)
{
	unsigned n = b->info.nlanes;
	if (my_lane == UINT32_MAX)
		my_lane = atomic_fetch_add_explicit(&b->next_lane, 1, memory_order_relaxed);
	unsigned first = my_lane % n;
	for (unsigned k = 0; k < n; k++) {
		unsigned i = (first + k) % n;
		if (pthread_mutex_trylock(&b->lanes[i].lock) == 0)
			return i;
	}
	pthread_mutex_lock(&b->lanes[first].lock);
	return first;
}

static void
lane_give(struct btt *b, unsigned i)
{
	pthread_mutex_unlock(&b->lanes[i].lock);
}

static bool
lba_ok(const struct btt *b, uint64_t lba)
{
	if (lba < b->info.nlba)
		return true;
	errmsg_set(EINVAL, "block %llu: the pool has %u", (unsigned long long)lba, b->info.nlba);
	return false;
}

/* ---- operations ---------------------------------------------------------- */

int
btt_read(struct btt *b, uint64_t lba, void *buf)
{
	if (!lba_ok(b, lba))
		return -1;
	unsigned lane = lane_take(b);
	int ret = 0;
	for (;;) {
		uint32_t e = __atomic_load_n(&b->map[lba], __ATOMIC_SEQ_CST);
		if (e & MAP_ERROR) {
			errmsg_set(EIO, "block %llu has its error set", (unsigned long long)lba);
			ret = -1;
			break;
		}
		if (!e || (e & MAP_ZERO)) {
			memset(buf, 0, b->info.bsize);
			break;
		}
		uint32_t aba = aba_of(e, lba);
		if (aba >= b->nblocks) {
			errmsg_set(EUCLEAN, "block %llu maps outside the pool: the map is corrupt",
					(unsigned long long)lba);
			ret = -1;
			break;
		}
		atomic_store(&b->rtt[lane], aba);
		if (__atomic_load_n(&b->map[lba], __ATOMIC_SEQ_CST) != e)
			continue;               /* written meanwhile: read the new block */
		memcpy(buf, b->data + (size_t)aba * b->info.ibsize, b->info.bsize);
		break;
	}
	atomic_store(&b->rtt[lane], RTT_NONE);
	lane_give(b, lane);
	return ret;
}

/* wait_readers -- until no reader copies from block aba */
static void
wait_readers(struct btt *b, uint32_t aba)
{
	for (uint32_t i = 0; i < b->info.nlanes; i++)
		while (atomic_load(&b->rtt[i]) == aba)
			sched_yield();
}

/* set_entry -- store and persist a map entry (4 bytes: atomic) */
static int
set_entry(struct btt *b, uint64_t lba, uint32_t e)
{
	__atomic_store_n(&b->map[lba], e, __ATOMIC_SEQ_CST);
	return pmemops_persist(b->ops, &b->map[lba], sizeof(uint32_t));
}

int
btt_write(struct btt *b, uint64_t lba, const void *buf)
{
	if (!lba_ok(b, lba))
		return -1;
	unsigned i = lane_take(b);
	struct lane *l = &b->lanes[i];
	uint32_t free_aba = l->free_aba;
	wait_readers(b, free_aba);
	int ret = -1;
	/* the data, then lba and old in the older flog slot: one drain for both */
	struct blk_flog *slot = &b->flog[2 * i + (1 - l->newer)];
	pthread_mutex_t *ml = &b->map_locks[lba % MAP_LOCKS];
	if (!pmemops_memcpy(b->ops, b->data + (size_t)free_aba * b->info.ibsize, buf,
			b->info.bsize, PMEM_F_MEM_NODRAIN))
		goto out;
	pthread_mutex_lock(ml);
	uint32_t old = __atomic_load_n(&b->map[lba], __ATOMIC_ACQUIRE);
	uint32_t old_entry = old ? old : MAP_SET | (uint32_t)lba;
	if (!(old_entry & MAP_SET) || aba_of(old_entry, lba) >= b->nblocks) {
		/* its block would become this lane's free one: never trust it */
		errmsg_set(EUCLEAN, "block %llu: map entry %#x is corrupt", (unsigned long long)lba,
				old);
		goto unlock;
	}
	uint32_t new_entry = MAP_SET | free_aba;
	uint64_t first = (uint64_t)(uint32_t)lba | (uint64_t)old_entry << 32;
	uint32_t seq = flog_next(l->seq);
	uint64_t second = (uint64_t)new_entry | (uint64_t)seq << 32;
	__atomic_store_n((uint64_t *)(void *)&slot->lba, first, __ATOMIC_RELAXED);
	if (pmemops_flush(b->ops, slot, 8) != 0 || pmemops_drain(b->ops) != 0)
		goto unlock;
	__atomic_store_n((uint64_t *)(void *)&slot->new_map, second, __ATOMIC_RELAXED);
	if (pmemops_persist(b->ops, &slot->new_map, 8) != 0 || set_entry(b, lba, new_entry) != 0)
		goto unlock;
	l->newer = 1 - l->newer;
	l->seq = seq;
	l->free_aba = aba_of(old_entry, lba);
	ret = 0;
unlock:
	pthread_mutex_unlock(ml);
out:
	lane_give(b, i);
	return ret;
}

/* set_flag -- keep the block's mapping, add flag (set_zero, set_error) */
static int
set_flag(struct btt *b, uint64_t lba, uint32_t flag)
{
	if (!lba_ok(b, lba))
		return -1;
	pthread_mutex_t *ml = &b->map_locks[lba % MAP_LOCKS];
	pthread_mutex_lock(ml);
	uint32_t e = __atomic_load_n(&b->map[lba], __ATOMIC_ACQUIRE);
	uint32_t entry = (e ? e : MAP_SET | (uint32_t)lba) | flag;
	int ret = set_entry(b, lba, entry);
	pthread_mutex_unlock(ml);
	return ret;
}

int
btt_set_zero(struct btt *b, uint64_t lba)
{
	return set_flag(b, lba, MAP_ZERO);
}

int
btt_set_error(struct btt *b, uint64_t lba)
{
	return set_flag(b, lba, MAP_ERROR);
}

int
btt_check(struct btt *b)
{
	uint8_t *seen = calloc(b->nblocks, 1);
	if (!seen) {
		errmsg_set(ENOMEM, "no memory to check the map");
		return -1;
	}
	int ok = 1;
	for (uint64_t lba = 0; lba < b->info.nlba && ok; lba++) {
		uint32_t e = b->map[lba];
		uint32_t aba = aba_of(e, lba);
		if (e && !(e & MAP_SET)) {
			errmsg_set(EINVAL, "block %llu: map entry %#x has no set bit",
					(unsigned long long)lba, e);
			ok = 0;
		} else if (aba >= b->nblocks) {
			errmsg_set(EINVAL, "block %llu maps to data block %u, outside the pool",
					(unsigned long long)lba, aba);
			ok = 0;
		} else if (seen[aba]++) {
			errmsg_set(EINVAL, "data block %u is mapped twice (block %llu)", aba,
					(unsigned long long)lba);
			ok = 0;
		}
	}
	for (uint32_t i = 0; i < b->info.nlanes && ok; i++)
		if (seen[b->lanes[i].free_aba]++) {
			errmsg_set(EINVAL, "lane %u's free block %u is also in use", i,
					b->lanes[i].free_aba);
			ok = 0;
		}
	for (uint32_t a = 0; a < b->nblocks && ok; a++)
		if (!seen[a]) {
			errmsg_set(EINVAL, "data block %u is lost: neither mapped nor free", a);
			ok = 0;
		}
	free(seen);
	return ok;
}
