/*
 * ulog.c -- redo and undo logs in a lane (ulog.h)
 *
 * Both logs validate by checksum, never by a separate "valid" flag: a torn write
 * of a log fails its checksum, so no order is needed between a log's entries and
 * the word that makes them count. Every offset read from a log is checked before
 * it is used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/checksum.h"
#include "common/errmsg.h"
#include "obj/ulog.h"

#define HASH_K UINT64_C(0x9e3779b97f4a7c15)

/* hash_words -- fold len bytes (a multiple of 8) into h */
static uint64_t
hash_words(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w;
		memcpy(&w, b + i, 8);
		h = (h ^ w) * HASH_K;
		h ^= h >> 31;
	}
	return h;
}

/* hash_bytes -- hash_words for any length */
static uint64_t
hash_bytes(const void *p, size_t len)
{
	uint64_t h = hash_words(len, p, len & ~(size_t)7);
	if (len & 7) {
		uint64_t tail = 0;
		memcpy(&tail, (const char *)p + (len & ~(size_t)7), len & 7);
		h = hash_words(h, &tail, 8);
	}
	return h;
}

static inline uint64_t *
word_at(const struct ulog_ctx *c, uint64_t off)
{
	return (uint64_t *)(void *)(c->base + off);
}

/* ---- redo ---------------------------------------------------------------- */

void
redo_buf_init(struct redo_buf *b)
{
	b->n = 0;
	b->cap = ARRAY_SIZE(b->inline_e);
	b->e = b->inline_e;
}

void
redo_buf_fini(struct redo_buf *b)
{
	if (b->e != b->inline_e)
		free(b->e);
	redo_buf_init(b);
}

int
redo_buf_add(struct redo_buf *b, uint64_t off, unsigned op, uint64_t value)
{
	if (op == REDO_OR || op == REDO_ANDNOT) {
		/* merge with a recent change of the same word (a record of thousands of
		 * changes must not scan them all per change; unmerged ones apply the same) */
		for (size_t i = b->n; i-- > (b->n > 32 ? b->n - 32 : 0);) {
			if (b->e[i].off_op == (off | op)) {
				b->e[i].value |= value;
				return 0;
			}
		}
	}
	if (b->n == b->cap) {
		size_t cap = b->cap * 2;
		struct redo_entry *e = malloc(cap * sizeof(*e));
		if (!e)
			return errmsg_set(ENOMEM, "no memory for a redo record of %zu entries", cap), -1;
		memcpy(e, b->e, b->n * sizeof(*e));
		if (b->e != b->inline_e)
			free(b->e);
		b->e = e;
		b->cap = cap;
	}
	b->e[b->n].off_op = off | op;
	b->e[b->n].value = value;
	b->n++;
	return 0;
}

int
redo_buf_check(struct redo_buf *b, const char *base, uint64_t off, size_t len)
{
	len += off & 7;                         /* from the word holding the first byte */
	off &= ~(uint64_t)7;
	uint64_t h = mix64(hash_bytes(base + off, len));
	if (redo_buf_add(b, off, REDO_CHECK, len) != 0)
		return -1;
	return redo_buf_add(b, h & ~(uint64_t)7, REDO_HASH, h);
}

/* ext_entries -- the lane's redo extension, or NULL when it does not check */
static struct redo_entry *
ext_entries(const struct ulog_ctx *c, size_t *cap)
{
	const struct redo_log *r = &c->lane->redo;
	uint64_t off = r->ext_off, n = r->ext_cap;
	*cap = 0;
	if (!off)
		return NULL;
	if (off % 8 || off < c->heap_off || off >= c->size ||
			n > (c->size - off) / sizeof(struct redo_entry))
		return NULL;
	*cap = n;
	return (struct redo_entry *)(void *)(c->base + off);
}

size_t
redo_capacity(const struct ulog_ctx *c)
{
	size_t cap;
	ext_entries(c, &cap);
	return REDO_INLINE + cap;
}

/* redo_sum -- the checksum of record seq of n entries: e[0, inline) then ext[] */
static uint64_t
redo_sum(const struct ulog_ctx *c, uint64_t n, uint64_t seq, const struct redo_entry *e,
		const struct redo_entry *ext)
{
	uint64_t head[2] = { n, seq };
	uint64_t h = hash_words(mix64((uintptr_t)c->lane - (uintptr_t)c->base), head, 16);
	size_t in = MIN(n, REDO_INLINE);
	h = hash_words(h, e, in * sizeof(struct redo_entry));
	if (n > in)
		h = hash_words(h, ext, (n - in) * sizeof(struct redo_entry));
	h = mix64(h);
	return h ? h : 1;
}

/* apply -- the operations, then the flushes: a locked operation waits for the
 * write-backs before it, so flushing as we go would serialise them; 0 or -1 */
static int
apply(const struct ulog_ctx *c, const struct redo_entry *e, size_t n)
{
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned op = (unsigned)(e[i].off_op & 7);
		if (op == REDO_CHECK || op == REDO_HASH)
			continue;                        /* a hash, not an offset */
		uint64_t *w = word_at(c, e[i].off_op & ~(uint64_t)7);
		uint64_t v = e[i].value;
		switch (op) {
		case REDO_SET:
			__atomic_store_n(w, v, __ATOMIC_RELAXED);
			break;
		case REDO_OR:
			__atomic_fetch_or(w, v, __ATOMIC_RELAXED);
			break;
		case REDO_ANDNOT:
			__atomic_fetch_and(w, ~v, __ATOMIC_RELAXED);
			break;
		case REDO_IDLE:                      /* idle: the next generation, so a flipped
		                                      * bit never revives this one's snapshots */
			__atomic_compare_exchange_n(w, &v, e[i].value + 1, false,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED);
			break;
		case REDO_OIDCLR: {                  /* w: pool_uuid_lo, w + 1: off */
			uint64_t off = __atomic_load_n(w + 1, __ATOMIC_RELAXED);
			if (off == v || off == 0) {  /* off 0: a crash left only the uuid */
				__atomic_store_n(w, 0, __ATOMIC_RELAXED);
				__atomic_store_n(w + 1, 0, __ATOMIC_RELAXED);
			}
			break;
		}
		default:
			break;
		}
	}
	for (size_t i = 0; i < n; i++) {
		unsigned op = (unsigned)(e[i].off_op & 7);
		if (op != REDO_CHECK && op != REDO_HASH)
			err |= pmemops_flush(c->ops, word_at(c, e[i].off_op & ~(uint64_t)7),
					op == REDO_OIDCLR ? 16 : 8);
	}
	return err;
}

int
redo_clear(const struct ulog_ctx *c)
{
	__atomic_store_n(&c->lane->redo.csum, 0, __ATOMIC_RELAXED);
	return pmemops_persist(c->ops, &c->lane->redo.csum, 8);
}

int
redo_clear_stale(const struct ulog_ctx *c, uint64_t token)
{
	/* the owner may be writing a new record meanwhile: clear only the stale one */
	uint64_t expect = token;
	__atomic_compare_exchange_n(&c->lane->redo.csum, &expect, 0, false, __ATOMIC_RELAXED,
			__ATOMIC_RELAXED);
	return pmemops_flush(c->ops, &c->lane->redo.csum, 8);
}

int
redo_commit(const struct ulog_ctx *c, const struct redo_buf *b, uint64_t seq, bool stale_ok,
		uint64_t *stale)
{
	struct redo_log *r = &c->lane->redo;
	size_t cap;
	struct redo_entry *ext = ext_entries(c, &cap);
	size_t in = MIN(b->n, REDO_INLINE);
	/* summed from the caller's copy: a line just flushed may have left the cache */
	uint64_t sum = redo_sum(c, b->n, seq, b->e, b->e + in);
	__atomic_store_n(&r->csum, 0, __ATOMIC_RELAXED);   /* whatever was here is torn now */
	memcpy(r->e, b->e, in * sizeof(*b->e));
	int err = pmemops_flush(c->ops, r->e, in * sizeof(*b->e));
	if (b->n > in) {
		memcpy(ext, b->e + in, (b->n - in) * sizeof(*b->e));
		err |= pmemops_flush(c->ops, ext, (b->n - in) * sizeof(*b->e));
	}
	r->n = b->n;
	r->seq = seq;
	__atomic_store_n(&r->csum, sum, __ATOMIC_RELEASE);
	err |= pmemops_flush(c->ops, r, 24);
	err |= pmemops_drain(c->ops);               /* the record is durable: committed */
	err |= apply(c, b->e, b->n);
	err |= pmemops_drain(c->ops);
	*stale = 0;
	if (stale_ok && !err)
		*stale = sum;
	else
		err |= redo_clear(c);
	/* the flushes evicted the words' lines (on this processor): fetch a few back
	 * while the program runs; neighbours are often next (a slab's bitmap) */
	for (size_t i = 0; i < MIN(b->n, (size_t)8); i++) {
		unsigned op = (unsigned)(b->e[i].off_op & 7);
		if (op != REDO_CHECK && op != REDO_HASH)
			__builtin_prefetch(word_at(c, b->e[i].off_op & ~(uint64_t)7), 1);
	}
	return err ? -1 : 0;
}

bool
redo_valid(const struct ulog_ctx *c, uint64_t *seq)
{
	struct redo_log *r = &c->lane->redo;
	if (r->csum == 0)
		return false;
	size_t cap;
	struct redo_entry *ext = ext_entries(c, &cap);
	if (r->n > REDO_INLINE + cap || r->csum != redo_sum(c, r->n, r->seq, r->e, ext))
		return false;
	*seq = r->seq;
	return true;
}

int
redo_replay(const struct ulog_ctx *c)
{
	struct redo_log *r = &c->lane->redo;
	size_t cap;
	struct redo_entry *ext = ext_entries(c, &cap);
	size_t in = MIN(r->n, REDO_INLINE);
	for (size_t i = 0; i < r->n; i++) {
		const struct redo_entry *e = i < in ? &r->e[i] : &ext[i - in];
		uint64_t off = e->off_op & ~(uint64_t)7;
		unsigned op = (unsigned)(e->off_op & 7);
		if (op == REDO_HASH)
			continue;
		if (op > REDO_OIDCLR || off < OBJ_STATE_OFF || off > c->size - 16 ||
				(op == REDO_CHECK && (e->value > c->size - off || i + 1 == r->n))) {
			errmsg_set(EINVAL, "a redo log names offset %llu (operation %u) outside "
					"the pool's mutable area", (unsigned long long)off, op);
			return -1;
		}
		if (op == REDO_CHECK) {
			const struct redo_entry *h = i + 1 < in ? &r->e[i + 1] : &ext[i + 1 - in];
			if ((h->off_op & 7) != REDO_HASH ||
					mix64(hash_bytes(c->base + off, e->value)) != h->value)
				return 0;                    /* its commit never finished: drop it */
		}
	}
	int err = apply(c, r->e, in);
	if (r->n > in)
		err |= apply(c, ext, r->n - in);
	return err ? -1 : 0;
}

/* ---- undo ---------------------------------------------------------------- */

static uint64_t
entry_sum(uint64_t gen, const struct undo_entry *h, const void *data)
{
	uint64_t x = hash_words(mix64(gen), h, 16);
	return mix64(hash_words(x, data, ALIGN_UP(h->size, 8)));
}

size_t
undo_block_need(size_t size)
{
	return sizeof(struct undo_entry) + ALIGN_UP(size, 8);
}

/* block_at -- the extension block at off, or NULL when it does not check */
static struct undo_ext *
block_at(const struct ulog_ctx *c, uint64_t off)
{
	if (!off || off % 8 || off < c->heap_off || off > c->size - sizeof(struct undo_ext))
		return NULL;
	struct undo_ext *x = (struct undo_ext *)(void *)(c->base + off);
	if (x->size > c->size - off - sizeof(*x))
		return NULL;
	return x;
}

void
undo_begin(const struct ulog_ctx *c, struct undo_cursor *u)
{
	u->gen = (c->lane->undo.state >> 1) + 1;
	u->block = 0;
	u->pos = 0;
	u->cap = sizeof(c->lane->undo.data);
	u->next = c->lane->undo.ext_off;
	u->active = false;
}

/* area -- the data bytes of the cursor's block */
static unsigned char *
area(const struct ulog_ctx *c, const struct undo_cursor *u)
{
	return u->block ? (unsigned char *)c->base + u->block : c->lane->undo.data;
}

int
undo_append(const struct ulog_ctx *c, struct undo_cursor *u, uint64_t off, size_t size)
{
	size_t need = undo_block_need(size);
	while (u->cap - u->pos < need) {
		struct undo_ext *x = block_at(c, u->next);
		if (!x)
			return 1;
		u->block = u->next + sizeof(*x);
		u->pos = 0;
		u->cap = x->size;
		u->next = x->next_off;
	}
	unsigned char *at = area(c, u) + u->pos;
	struct undo_entry h = { .off = off, .size = size };
	memcpy(at + sizeof(h), c->base + off, size);
	memset(at + sizeof(h) + size, 0, ALIGN_UP(size, 8) - size);
	h.csum = entry_sum(u->gen, &h, at + sizeof(h));
	memcpy(at, &h, sizeof(h));
	int err = pmemops_flush(c->ops, at, need);
	u->pos += need;
	if (!u->active) {
		__atomic_store_n(&c->lane->undo.state, u->gen << 1 | 1, __ATOMIC_RELAXED);
		err |= pmemops_flush(c->ops, &c->lane->undo.state, 8);
		u->active = true;
	}
	return err ? -1 : 0;
}

uint64_t
undo_chain_slot(const struct ulog_ctx *c)
{
	uint64_t slot = (uint64_t)((char *)&c->lane->undo.ext_off - c->base);
	for (struct undo_ext *x = block_at(c, c->lane->undo.ext_off); x;
			x = block_at(c, x->next_off))
		slot = (uint64_t)((char *)&x->next_off - c->base);
	return slot;
}

/* A snapshot found in the log. */
struct found {
	const struct undo_entry *h;
};

/* collect -- the valid snapshots of generation gen, oldest first (malloc'ed);
 * -1 + message when one names memory outside the pool */
static long
collect(const struct ulog_ctx *c, uint64_t gen, struct found **out)
{
	size_t n = 0, cap = 16;
	struct found *f = malloc(cap * sizeof(*f));
	if (!f)
		return errmsg_set(ENOMEM, "no memory to roll back a transaction"), -1;
	unsigned char *data = c->lane->undo.data;
	size_t len = sizeof(c->lane->undo.data);
	uint64_t next = c->lane->undo.ext_off;
	size_t blocks = 0;
	for (;;) {
		for (size_t pos = 0; len - pos >= sizeof(struct undo_entry);) {
			const struct undo_entry *h = (const void *)(data + pos);
			if (h->size > len - pos - sizeof(*h) || entry_sum(gen, h, h + 1) != h->csum)
				break;
			if (h->off < OBJ_STATE_OFF || h->off > c->size || h->size > c->size - h->off) {
				free(f);
				return errmsg_set(EINVAL, "an undo log names [%llu, +%llu) outside "
						"the pool", (unsigned long long)h->off,
						(unsigned long long)h->size), -1;
			}
			if (n == cap) {
				struct found *g = realloc(f, 2 * cap * sizeof(*f));
				if (!g) {
					free(f);
					return errmsg_set(ENOMEM, "no memory to roll back"), -1;
				}
				f = g;
				cap *= 2;
			}
			f[n++].h = h;
			pos += undo_block_need(h->size);
		}
		struct undo_ext *x = block_at(c, next);
		if (!x || ++blocks > c->size / PAGE)
			break;
		data = (unsigned char *)(x + 1);
		len = x->size;
		next = x->next_off;
	}
	*out = f;
	return (long)n;
}

/* rollback -- copy generation gen's snapshots back, newest first; mark idle */
static int
rollback(const struct ulog_ctx *c, uint64_t gen)
{
	struct found *f;
	long n = collect(c, gen, &f);
	if (n < 0)
		return -1;
	int err = 0;
	for (long i = n; i-- > 0;) {
		const struct undo_entry *h = f[i].h;
		memcpy(c->base + h->off, h + 1, h->size);
		err |= pmemops_flush(c->ops, c->base + h->off, h->size);
	}
	free(f);
	err |= pmemops_drain(c->ops);
	__atomic_store_n(&c->lane->undo.state, (gen + 1) << 1, __ATOMIC_RELAXED);
	err |= pmemops_persist(c->ops, &c->lane->undo.state, 8);
	return err ? -1 : 0;
}

int
undo_rollback(const struct ulog_ctx *c, const struct undo_cursor *u)
{
	if (!u->active)
		return 0;
	return rollback(c, u->gen);
}

void
ulog_prefetch(const struct ulog_ctx *c)
{
	__builtin_prefetch(&c->lane->undo, 1);
	__builtin_prefetch(c->lane->undo.data + 32, 1);
	__builtin_prefetch(&c->lane->redo, 1);
	__builtin_prefetch((char *)&c->lane->redo + 64, 1);
}

int
undo_end(const struct ulog_ctx *c, struct undo_cursor *u)
{
	if (!u->active)
		return 0;
	__atomic_store_n(&c->lane->undo.state, (u->gen + 1) << 1, __ATOMIC_RELAXED);
	u->active = false;
	return pmemops_flush(c->ops, &c->lane->undo.state, 8);
}

int
undo_recover(const struct ulog_ctx *c)
{
	uint64_t s = c->lane->undo.state;
	if (!(s & 1))
		return 0;
	return rollback(c, s >> 1) ? -1 : 1;
}

int
ulog_blocks(const struct ulog_ctx *c, void (*fn)(void *arg, uint64_t off), void *arg)
{
	if (c->lane->redo.ext_off) {
		size_t cap;
		if (!ext_entries(c, &cap))
			return -1;
		fn(arg, c->lane->redo.ext_off);
	}
	size_t blocks = 0;
	for (uint64_t off = c->lane->undo.ext_off; off;) {
		struct undo_ext *x = block_at(c, off);
		if (!x || ++blocks > c->size / PAGE)
			return -1;
		fn(arg, off);
		off = x->next_off;
	}
	return 0;
}
