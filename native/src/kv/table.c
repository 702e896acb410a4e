/*
 * table.c -- a persistent chained hash table with incremental resizing
 *
 * An insert links a new entry at the head of its chain; a replacement links the
 * new entry where the old one was (so iteration positions survive it) and frees
 * the old. Inserts and deletes that change the load past a bound start a
 * resize (a new bucket array twice or half the size); each later insert or
 * delete moves a few buckets, so no operation pays for the whole table.
 */
#include "kv/table.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/errmsg.h"
#include "kv/hash.h"
#include "pmalloc.h"

#define STEP_BUCKETS 1                 /* non-empty buckets one insert or delete moves */
#define STEP_LOOKS 64                  /* buckets it looks at, at most */
#define MAX_BUCKETS (UINT64_C(1) << 40)

static inline uint64_t *
slots(const struct table *tb, int a)
{
	return (uint64_t *)(tb->base + tb->t->buckets[a]);
}

/* entry_at -- the entry at off if it lies in the pool with its key and value, else NULL
 * (a chain ends there: only a damaged pool has such an offset, and open checks for it) */
static struct kv_entry *
entry_at(const struct table *tb, uint64_t off)
{
	const size_t hdr = sizeof(struct kv_entry);
	if (off == 0 || off % 8 != 0 || off > tb->size - hdr)
		return NULL;
	struct kv_entry *e = (struct kv_entry *)(tb->base + off);
	size_t room = tb->size - off - hdr, voff = entry_value_off(e->type, e->klen);
	if (voff > room || e->vlen > room - voff)
		return NULL;
	return e;
}

/* snap -- snapshot n bytes at p in the running transaction; 0 or an errno */
static int
snap(void *p, size_t n)
{
	return pmemobj_tx_xadd_range_direct(p, n, POBJ_XADD_NO_ABORT);
}

/* A batch of snapshots taken with one drain: every word a change will store to is
 * noted first, then the batch is flushed, then the stores happen. */
#define SNAP_BATCH 32

struct snaps {
	struct pmalloc_tx_range r[SNAP_BATCH];
	size_t n;
};

static int
snaps_flush(struct snaps *s)
{
	int err = s->n ? pmalloc_tx_add_ranges(s->r, s->n, POBJ_XADD_NO_ABORT) : 0;
	s->n = 0;
	return err;
}

static int
snaps_add(struct snaps *s, void *p, size_t n)
{
	if (s->n == SNAP_BATCH) {
		int err = snaps_flush(s);
		if (err)
			return err;
	}
	s->r[s->n++] = (struct pmalloc_tx_range){ p, n };
	return 0;
}

/* slot_for -- the head word of the chain hash h belongs to */
static uint64_t *
slot_for(const struct table *tb, uint64_t h)
{
	const struct kv_table *t = tb->t;
	uint64_t i = h & t->mask[0];
	if (t->buckets[1] && i < t->rehash)
		return &slots(tb, 1)[h & t->mask[1]];
	return &slots(tb, 0)[i];
}

uint64_t
table_hash(const struct table *tb, const char *key, size_t klen)
{
	return hash_key(tb->seed, key, klen);
}

/* new_array -- a zeroed bucket array of n buckets; its offset, or 0 with errno set */
static uint64_t
new_array(uint64_t n)
{
	PMEMoid a = pmemobj_tx_xalloc(n * sizeof(uint64_t), KV_TYPE_BUCKETS,
			POBJ_XALLOC_ZERO | POBJ_XALLOC_NO_ABORT);
	return a.off;
}

int
table_format(struct table *tb, uint64_t n)
{
	uint64_t a = new_array(n);
	if (a == 0)
		return errno;
	int err = snap(tb->t, sizeof(*tb->t));
	if (err)
		return err;
	*tb->t = (struct kv_table){ .buckets = { a, 0 }, .mask = { n - 1, 0 } };
	return 0;
}

struct kv_entry *
table_find(const struct table *tb, const char *key, size_t klen, uint64_t h, uint64_t **link)
{
	uint64_t *w = slot_for(tb, h);
	for (struct kv_entry *e; (e = entry_at(tb, *w)) != NULL; w = &e->next) {
		if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) {
			if (link)
				*link = w;
			return e;
		}
	}
	if (link)
		*link = slot_for(tb, h);
	return NULL;
}

/* entry_free -- free an entry and the members or nodes it holds; 0 or an errno */
static int free_all(struct table *tb);

static int
entry_free(struct table *tb, struct kv_entry *e)
{
	int err = 0;
	if (e->type == KV_SET || e->type == KV_HASH) {
		struct table sub = table_members(tb, e);
		err = free_all(&sub);
	} else if (e->type == KV_LIST) {
		struct list ls = table_list(tb, e);
		err = list_free(&ls);
	}
	if (!err && pmemobj_tx_xfree(pmemobj_oid(e), POBJ_XFREE_NO_ABORT) != 0)
		err = errno;
	return err;
}

/* ---- resizing ---------------------------------------------------------------- */

/* slot_after -- the head word of hash h's chain once [0]'s buckets below end have moved */
static uint64_t *
slot_after(const struct table *tb, uint64_t h, uint64_t end)
{
	const struct kv_table *t = tb->t;
	uint64_t i = h & t->mask[0];
	if (t->buckets[1] && i < end)
		return &slots(tb, 1)[h & t->mask[1]];
	return &slots(tb, 0)[i];
}

/* step_plan -- choose the buckets of [0] the next step moves, [rehash, *end), and note
 * every word the move stores to; 0 or an errno */
static int
step_plan(struct table *tb, struct snaps *s, uint64_t *end)
{
	const struct kv_table *t = tb->t;
	uint64_t b = t->rehash;
	for (int moved = 0; b <= t->mask[0] && moved < STEP_BUCKETS && b - t->rehash < STEP_LOOKS;
			b++) {
		uint64_t *from = &slots(tb, 0)[b];
		if (*from == 0)
			continue;
		moved++;
		int err = snaps_add(s, from, sizeof(*from));
		for (struct kv_entry *e = entry_at(tb, *from); !err && e; e = entry_at(tb, e->next)) {
			err = snaps_add(s, &e->next, sizeof(e->next));
			if (!err)
				err = snaps_add(s, &slots(tb, 1)[e->hash & t->mask[1]], sizeof(uint64_t));
		}
		if (err)
			return err;
	}
	*end = b;
	return 0;
}

/* step_apply -- move the chains of [0]'s buckets [rehash, end) to [1] (their words
 * snapshotted), and end the resize after the last; 0 or an errno */
static int
step_apply(struct table *tb, uint64_t end)
{
	struct kv_table *t = tb->t;
	for (uint64_t b = t->rehash; b < end; b++) {
		uint64_t *from = &slots(tb, 0)[b];
		for (struct kv_entry *e = entry_at(tb, *from); e;) {
			struct kv_entry *next = entry_at(tb, e->next);
			uint64_t *to = &slots(tb, 1)[e->hash & t->mask[1]];
			e->next = *to;
			*to = (uint64_t)((char *)e - tb->base);
			e = next;
		}
		*from = 0;
	}
	t->rehash = end;
	if (end <= t->mask[0])
		return 0;
	if (pmemobj_tx_xfree(pmemobj_oid(slots(tb, 0)), POBJ_XFREE_NO_ABORT) != 0)
		return errno;
	t->buckets[0] = t->buckets[1];
	t->mask[0] = t->mask[1];
	t->buckets[1] = t->mask[1] = t->rehash = 0;
	return 0;
}

/* insert_prepare -- for an insert of hash h: snapshot the header, a rehash step's words
 * and the head word the new entry goes to, in one batch, then take the step; *head
 * gets that word; 0 or an errno */
static int
insert_prepare(struct table *tb, uint64_t h, uint64_t **head)
{
	struct kv_table *t = tb->t;
	struct snaps s = { .n = 0 };
	uint64_t end = t->rehash;
	int err = snaps_add(&s, t, sizeof(*t));
	if (!err && t->buckets[1])
		err = step_plan(tb, &s, &end);
	*head = slot_after(tb, h, end);
	if (!err)
		err = snaps_add(&s, *head, sizeof(uint64_t));
	if (!err)
		err = snaps_flush(&s);
	if (!err && t->buckets[1])
		err = step_apply(tb, end);
	return err;
}

/* maybe_resize -- after an insert or delete with no resize running (the header
 * snapshotted): start one when the load is past its bounds; 0 or an errno */
static int
maybe_resize(struct table *tb)
{
	struct kv_table *t = tb->t;
	if (t->buckets[1])
		return 0;
	uint64_t n = t->mask[0] + 1, want = n;
	if (t->count > n && n < MAX_BUCKETS)
		want = n * 2;
	else if (n > TABLE_MIN_BUCKETS && t->count < n / 8)
		want = n / 2;
	if (want == n)
		return 0;
	uint64_t a = new_array(want);
	if (a == 0)            /* a full pool keeps the table as it is: longer chains, no error */
		return errno == ENOMEM ? 0 : errno;
	t->buckets[1] = a;
	t->mask[1] = want - 1;
	t->rehash = 0;
	return 0;
}

/* ---- changes ------------------------------------------------------------------- */

int
table_put(struct table *tb, const char *key, size_t klen, uint8_t type, size_t vlen,
		struct kv_entry **out)
{
	const size_t hdr = sizeof(struct kv_entry);
	if (klen > UINT32_MAX ||
			vlen > PMEMOBJ_MAX_ALLOC_SIZE - hdr - entry_value_off(type, klen))
		return errmsg_set(klen > UINT32_MAX ? EINVAL : ENOMEM,
				"a key of %zu bytes with a value of %zu bytes is too large", klen, vlen);
	uint64_t h = table_hash(tb, key, klen), *link;
	struct kv_entry *old = table_find(tb, key, klen, h, &link);
	PMEMoid n = pmemobj_tx_xalloc(hdr + entry_value_off(type, klen) + vlen, KV_TYPE_ENTRY,
			POBJ_XALLOC_NO_ABORT);
	if (OID_IS_NULL(n))
		return errno;
	struct kv_entry *e = (struct kv_entry *)(tb->base + n.off);
	*e = (struct kv_entry){ .hash = h, .vlen = vlen, .klen = (uint32_t)klen, .type = type };
	if (klen)
		memcpy(e->data, key, klen);
	*out = e;
	if (old) {             /* in the old one's place: no resize step, iteration stays valid */
		int err = snap(link, sizeof(*link));
		if (err)
			return err;
		e->next = old->next;
		*link = n.off;
		return entry_free(tb, old);
	}
	int err = insert_prepare(tb, h, &link);
	if (err)
		return err;
	e->next = *link;
	*link = n.off;
	tb->t->count++;
	return maybe_resize(tb);
}

int
table_del(struct table *tb, const char *key, size_t klen)
{
	uint64_t h = table_hash(tb, key, klen), *link;
	struct kv_entry *e = table_find(tb, key, klen, h, &link);
	if (e == NULL)
		return errmsg_set(ENOENT, "no such key");
	/* the step's plan walked e's chain with e in it: a superset of what it stores to */
	struct kv_table *t = tb->t;
	uint64_t next = e->next;
	struct snaps s = { .n = 0 };
	uint64_t end = t->rehash;
	int err = snaps_add(&s, t, sizeof(*t));
	if (!err)
		err = snaps_add(&s, link, sizeof(*link));
	if (!err && t->buckets[1])
		err = step_plan(tb, &s, &end);
	if (!err)
		err = snaps_flush(&s);
	if (err)
		return err;
	*link = next;
	t->count--;
	if (t->buckets[1] && (err = step_apply(tb, end)) != 0)
		return err;
	if ((err = entry_free(tb, e)) != 0)
		return err;
	return maybe_resize(tb);
}

/* free_all -- free every entry (with what it holds) and bucket array; the header is
 * left as it was; 0 or an errno */
static int
free_all(struct table *tb)
{
	struct kv_table *t = tb->t;
	for (int a = 0; a < 2 && t->buckets[a]; a++) {
		for (uint64_t b = 0; b <= t->mask[a]; b++) {
			for (struct kv_entry *e = entry_at(tb, slots(tb, a)[b]); e;) {
				struct kv_entry *next = entry_at(tb, e->next);
				int err = entry_free(tb, e);
				if (err)
					return err;
				e = next;
			}
		}
		if (pmemobj_tx_xfree(pmemobj_oid(slots(tb, a)), POBJ_XFREE_NO_ABORT) != 0)
			return errno;
	}
	return 0;
}

int
table_clear(struct table *tb)
{
	int err = free_all(tb);
	return err ? err : table_format(tb, TABLE_MIN_BUCKETS);
}

/* ---- reading ------------------------------------------------------------------- */

struct kv_entry *
table_next(const struct table *tb, struct table_pos *p)
{
	const struct kv_table *t = tb->t;
	for (; p->array < 2; p->array++, p->bucket = 0, p->index = 0) {
		if (t->buckets[p->array] == 0)
			continue;
		const uint64_t *s = slots(tb, (int)p->array);
		for (; p->bucket <= t->mask[p->array]; p->bucket++, p->index = 0) {
			struct kv_entry *e = entry_at(tb, s[p->bucket]);
			for (uint64_t k = 0; e != NULL && k < p->index; k++)
				e = entry_at(tb, e->next);
			if (e != NULL) {
				p->index++;
				return e;
			}
		}
	}
	return NULL;
}

/* visit -- fn on each entry of bucket b of array a */
static void
visit(const struct table *tb, int a, uint64_t b, void (*fn)(void *, struct kv_entry *), void *arg)
{
	for (struct kv_entry *e = entry_at(tb, slots(tb, a)[b]); e; e = entry_at(tb, e->next))
		fn(arg, e);
}

static uint64_t
reverse_bits(uint64_t v)
{
	v = ((v >> 1) & UINT64_C(0x5555555555555555)) | ((v & UINT64_C(0x5555555555555555)) << 1);
	v = ((v >> 2) & UINT64_C(0x3333333333333333)) | ((v & UINT64_C(0x3333333333333333)) << 2);
	v = ((v >> 4) & UINT64_C(0x0f0f0f0f0f0f0f0f)) | ((v & UINT64_C(0x0f0f0f0f0f0f0f0f)) << 4);
	return __builtin_bswap64(v);
}

/* next_cursor -- the cursor after v for an array of mask: the high bits count up, so a
 * cursor stays valid when the array doubles or halves */
static uint64_t
next_cursor(uint64_t v, uint64_t mask)
{
	return reverse_bits(reverse_bits(v | ~mask) + 1);
}

uint64_t
table_scan(const struct table *tb, uint64_t v, void (*fn)(void *arg, struct kv_entry *e),
		void *arg)
{
	const struct kv_table *t = tb->t;
	if (!t->buckets[1]) {
		visit(tb, 0, v & t->mask[0], fn, arg);
		return next_cursor(v, t->mask[0]);
	}
	int small = t->mask[0] <= t->mask[1] ? 0 : 1;
	uint64_t ms = t->mask[small], ml = t->mask[1 - small];
	visit(tb, small, v & ms, fn, arg);
	do {                      /* the buckets of the larger array that expand v */
		visit(tb, 1 - small, v & ml, fn, arg);
		v = next_cursor(v, ml);
	} while (v & (ms ^ ml));
	return v;
}

/* object_ok -- whether off is an allocated object of type `type` with at least n bytes */
static bool
object_ok(const struct table *tb, uint64_t off, uint64_t type, size_t n)
{
	if (off == 0 || off >= tb->size)
		return false;
	PMEMoid o = pmemobj_oid(tb->base + off);
	return o.off == off && pmemobj_alloc_usable_size(o) >= n && pmemobj_type_num(o) == type;
}

static bool check_table(const struct table *tb, bool nested, char *why, size_t n);

/* entry_ok -- whether an entry's type and what it holds check out (a member of a set
 * or hash, nested, must be a string) */
static bool
entry_ok(const struct table *tb, struct kv_entry *e, bool nested, char *why, size_t n)
{
	if (e->type > KV_HASH || (nested && e->type != KV_STRING) ||
			(e->type != KV_STRING && e->vlen != table_value_size(e->type))) {
		snprintf(why, n, "an entry of type %u (%llu value bytes) is not one", e->type,
				(unsigned long long)e->vlen);
		return false;
	}
	if (e->type == KV_SET || e->type == KV_HASH) {
		struct table sub = table_members(tb, e);
		return check_table(&sub, true, why, n) && (sub.t->count > 0 ||
			(snprintf(why, n, "an empty set or hash"), false));
	}
	if (e->type == KV_LIST) {
		struct list ls = table_list(tb, e);
		return list_check(&ls, why, n) && (ls.l->count > 0 ||
			(snprintf(why, n, "an empty list"), false));
	}
	return true;
}

bool
table_check(const struct table *tb, char *why, size_t n)
{
	return check_table(tb, false, why, n);
}

static bool
check_table(const struct table *tb, bool nested, char *why, size_t n)
{
	const struct kv_table *t = tb->t;
	for (int a = 0; a < 2; a++) {
		uint64_t buckets = t->mask[a] + 1;
		if (a == 1 && t->buckets[1] == 0)
			break;
		if (t->mask[a] >= MAX_BUCKETS || (buckets & t->mask[a]) != 0 ||
				!object_ok(tb, t->buckets[a], KV_TYPE_BUCKETS, buckets * 8)) {
			snprintf(why, n, "bucket array %d (offset %llu, %llu buckets) is not one", a,
					(unsigned long long)t->buckets[a], (unsigned long long)buckets);
			return false;
		}
	}
	if (t->buckets[1] == 0 ? t->mask[1] != 0 || t->rehash != 0 : t->rehash > t->mask[0]) {
		snprintf(why, n, "the resize state (%llu) is out of range",
				(unsigned long long)t->rehash);
		return false;
	}
	uint64_t seen = 0;
	for (int a = 0; a < 2 && t->buckets[a]; a++) {
		for (uint64_t b = 0; b <= t->mask[a]; b++) {
			uint64_t *w = &slots(tb, a)[b];
			for (uint64_t off = *w; off != 0; off = ((struct kv_entry *)(tb->base + off))->next) {
				struct kv_entry *e = entry_at(tb, off);
				if (e == NULL || ++seen > t->count ||
						!object_ok(tb, off, KV_TYPE_ENTRY, sizeof(*e) +
							entry_value_off(e->type, e->klen) + e->vlen) ||
						e->hash != table_hash(tb, e->data, e->klen) ||
						slot_for(tb, e->hash) != w) {
					snprintf(why, n, "entry %llu (offset %llu) of bucket %llu/%d is "
							"damaged or misplaced", (unsigned long long)seen,
							(unsigned long long)off, (unsigned long long)b, a);
					return false;
				}
				if (!entry_ok(tb, e, nested, why, n))
					return false;
			}
		}
	}
	if (seen != t->count) {
		snprintf(why, n, "%llu entries, the count says %llu", (unsigned long long)seen,
				(unsigned long long)t->count);
		return false;
	}
	return true;
}
