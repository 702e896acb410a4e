/*
 * kv.c -- pmalloc_kv: a key/value store in an obj pool (pmalloc_kv.h)
 *
 * The store's pool has layout KV_LAYOUT and a struct kv_root as its root; the
 * keyspace is a table.c table. Each set or delete is one obj transaction. The
 * pool file carries an flock while open: shared for a read-only handle,
 * exclusive for a writer, so two writers (or a writer and a reader) never map
 * it at once. A read-only handle maps the file privately: recovery of an
 * interrupted transaction happens in its view only, and nothing is written.
 * Open checks the whole table (every offset, size and hash) before use.
 *
 * A process opens a pool once (its UUID names it), so read-only opens of one file
 * share one handle, counted; reads do not change a handle, so its users may
 * run at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "kv/kv.h"
#include "kv/kv_layout.h"
#include "kv/table.h"
#include "libpmemobj.h"
#include "pmalloc.h"
#include "pmalloc_kv.h"


/* ---- transactions --------------------------------------------------------- */

/* begin -- start a transaction on the store's pool; 0 or -1 */
static int
begin(struct pmalloc_kv *kv)
{
	if (pmemobj_tx_begin(kv->pop, NULL, TX_PARAM_NONE) == 0)
		return 0;
	int err = errno;
	pmemobj_tx_end();
	errno = err;
	return -1;
}

/* finish -- commit (err 0) or abort the transaction and end it; 0 or -1 */
static int
finish(int err)
{
	if (err)
		pmemobj_tx_abort(err);
	else
		pmemobj_tx_commit();
	int end = pmemobj_tx_end();
	if (err || end) {
		errno = err ? err : end;
		return -1;
	}
	return 0;
}

/* ---- the root ------------------------------------------------------------- */

static void
new_seed(uint64_t seed[2])
{
	if (getrandom(seed, 2 * sizeof(uint64_t), GRND_NONBLOCK) == 2 * sizeof(uint64_t))
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	seed[0] = (uint64_t)ts.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)getpid();
	seed[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)seed;
}

/* format -- make the root an empty store; 0 or -1 */
static int
format(struct pmalloc_kv *kv)
{
	if (begin(kv) != 0)
		return -1;
	struct kv_root *r = kv->root;
	int err = pmemobj_tx_xadd_range_direct(r, sizeof(*r), POBJ_XADD_NO_ABORT);
	if (!err) {
		*r = (struct kv_root){ .magic = KV_MAGIC, .version = KV_VERSION };
		new_seed(r->seed);
		err = table_format(&kv->keys, TABLE_MIN_BUCKETS);
	}
	return finish(err);
}

/* attach -- find (or, if format, make) the store in kv->pop; 0 or -1 */
static int
attach(struct pmalloc_kv *kv, bool format_it)
{
	PMEMobjpool *pop = kv->pop;
	size_t have = pmemobj_root_size(pop);
	if (have != 0 && have < sizeof(struct kv_root))
		return errmsg_set(EINVAL, "not a key/value store: its root is %zu bytes", have), -1;
	if (have == 0 && (!format_it || kv->rdonly))
		return errmsg_set(EINVAL, "not a key/value store: the pool has no root"), -1;
	PMEMoid r = pmemobj_root(pop, sizeof(struct kv_root));
	if (OID_IS_NULL(r))
		return -1;
	kv->root = pmemobj_direct(r);
	kv->keys = (struct table){ .pop = pop, .base = pmalloc_obj_base(pop),
		.size = pmalloc_obj_size(pop), .seed = kv->root->seed, .t = &kv->root->keys };
	const struct kv_root *root = kv->root;
	/* a zero root: made by a create that did not get to format it */
	if (root->magic == 0 && root->version == 0 && root->keys.buckets[0] == 0) {
		if (kv->rdonly)
			return errmsg_set(EINVAL, "an empty store whose creation did not finish"), -1;
		return format(kv);
	}
	if (root->magic != KV_MAGIC)
		return errmsg_set(EINVAL, "not a key/value store: its root has no signature"), -1;
	if (root->version != KV_VERSION)
		return errmsg_set(EINVAL, "a key/value store of version %llu (this library reads %d)",
				(unsigned long long)root->version, KV_VERSION), -1;
	char why[160];
	if (!table_check(&kv->keys, why, sizeof(why)))
		return errmsg_set(EINVAL, "a damaged key/value store: %s", why), -1;
	return 0;
}

/* ---- opening -------------------------------------------------------------- */

static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pmalloc_kv *readers;    /* the shared read-only handles */

static void
release(struct pmalloc_kv *kv)
{
	int err = errno;
	if (kv->pop)
		pmemobj_close(kv->pop);
	if (kv->view)
		munmap(kv->view, kv->view_len);
	if (kv->fd >= 0)
		close(kv->fd);
	free(kv);
	errno = err;
}

/* lock_file -- open path and take its lock; the fd, or -1 (message set) */
static int
lock_file(const char *path, int flags, unsigned mode, bool *created)
{
	bool rdonly = flags & PMALLOC_KV_RDONLY;
	int fd = -1;
	*created = false;
	if (flags & (PMALLOC_KV_CREATE | PMALLOC_KV_TRUNC)) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
		*created = fd >= 0;
	}
	if (fd < 0)
		fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return errmsg_set_sys(errno, "pmalloc_kv_open: %s", path), -1;
	if (flock(fd, (rdonly ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
		int err = errno;
		close(fd);
		if (err == EWOULDBLOCK)
			errmsg_set(err, "pmalloc_kv_open: the store is locked: another process "
					"or handle has it open%s", rdonly ? " for writing" : "");
		else
			errmsg_set_sys(err, "pmalloc_kv_open: lock %s", path);
		return -1;
	}
	return fd;
}

/* make_file -- give the locked file size new zero bytes, allocated; 0 or -1 */
static int
make_file(int fd, const char *path, size_t size)
{
	if (size < PMEMOBJ_MIN_POOL)
		return errmsg_set(EINVAL, "pmalloc_kv_open: size %zu is below %zu", size,
				(size_t)PMEMOBJ_MIN_POOL), -1;
	if (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)size) != 0)
		return errmsg_set_sys(errno, "pmalloc_kv_open: size %s", path), -1;
	int err = posix_fallocate(fd, 0, (off_t)size);
	if (err)
		return errmsg_set_sys(err, "pmalloc_kv_open: %zu bytes for %s", size, path), -1;
	return 0;
}

/* map_private -- a read-only handle's pool: the file mapped privately */
static PMEMobjpool *
map_private(struct pmalloc_kv *kv, const char *path)
{
	struct stat st;
	if (fstat(kv->fd, &st) != 0)
		return errmsg_set_sys(errno, "pmalloc_kv_open: stat %s", path), NULL;
	if ((size_t)st.st_size < PMEMOBJ_MIN_POOL)
		return errmsg_set(EINVAL, "pmalloc_kv_open: %s is %lld bytes: not a store", path,
				(long long)st.st_size), NULL;
	kv->view_len = (size_t)st.st_size;
	void *p = mmap(NULL, kv->view_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, kv->fd, 0);
	if (p == MAP_FAILED)
		return errmsg_set_sys(errno, "pmalloc_kv_open: map %s", path), NULL;
	kv->view = p;
	return pmalloc_obj_map(p, kv->view_len, KV_LAYOUT, 0);
}

/* shared_reader -- the read-only handle of the file at path, a reference taken; NULL
 * when there is none */
static struct pmalloc_kv *
shared_reader(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return NULL;
	pthread_mutex_lock(&readers_lock);
	struct pmalloc_kv *kv = readers;
	while (kv && (kv->dev != st.st_dev || kv->ino != st.st_ino))
		kv = kv->next;
	if (kv)
		kv->refs++;
	pthread_mutex_unlock(&readers_lock);
	return kv;
}

/* share_reader -- list a new read-only handle for the next opens of its file */
static void
share_reader(struct pmalloc_kv *kv)
{
	struct stat st;
	kv->refs = 1;
	if (fstat(kv->fd, &st) != 0)
		return;                              /* not shared: a second open fails, EEXIST */
	kv->dev = st.st_dev;
	kv->ino = st.st_ino;
	pthread_mutex_lock(&readers_lock);
	kv->next = readers;
	readers = kv;
	pthread_mutex_unlock(&readers_lock);
}

/* reader_unref -- drop a reference to a read-only handle; whether it was the last */
static bool
reader_unref(struct pmalloc_kv *kv)
{
	pthread_mutex_lock(&readers_lock);
	bool last = --kv->refs == 0;
	if (last) {
		struct pmalloc_kv **p = &readers;
		while (*p && *p != kv)
			p = &(*p)->next;
		if (*p)
			*p = kv->next;
	}
	pthread_mutex_unlock(&readers_lock);
	return last;
}

API PMALLOC_KV *
pmalloc_kv_open(const char *path, int flags, size_t size, unsigned mode)
{
	const int known = PMALLOC_KV_RDONLY | PMALLOC_KV_CREATE | PMALLOC_KV_TRUNC;
	if (!path || (flags & ~known) ||
			((flags & PMALLOC_KV_RDONLY) && (flags & ~PMALLOC_KV_RDONLY)))
		return errmsg_set(EINVAL, "pmalloc_kv_open: %s", path ? "bad flags" : "no path"),
			NULL;
	struct pmalloc_kv *kv = (flags & PMALLOC_KV_RDONLY) ? shared_reader(path) : NULL;
	if (kv)
		return kv;
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return errmsg_set(ENOMEM, "pmalloc_kv_open: no memory for the handle"), NULL;
	kv->rdonly = flags & PMALLOC_KV_RDONLY;
	bool created;
	kv->fd = lock_file(path, flags, mode, &created);
	if (kv->fd < 0)
		return release(kv), NULL;
	struct stat st;
	if (fstat(kv->fd, &st) != 0) {
		errmsg_set_sys(errno, "pmalloc_kv_open: stat %s", path);
		return release(kv), NULL;
	}
	bool fresh = (flags & PMALLOC_KV_TRUNC) ||
		((flags & PMALLOC_KV_CREATE) && (created || st.st_size == 0));
	if (fresh) {
		if (make_file(kv->fd, path, size) == 0)
			kv->pop = pmemobj_create(path, KV_LAYOUT, 0, (mode_t)mode);
	} else if (kv->rdonly) {
		kv->pop = map_private(kv, path);
	} else {
		kv->pop = pmemobj_open(path, KV_LAYOUT);
	}
	if (!kv->pop || attach(kv, fresh) != 0) {
		if (created)
			unlink(path);                /* made here: leave nothing half made */
		return release(kv), NULL;
	}
	if (kv->rdonly)
		share_reader(kv);
	return kv;
}

API PMALLOC_KV *
pmalloc_kv_map(void *addr, size_t size, int create)
{
	struct pmalloc_kv *kv = calloc(1, sizeof(*kv));
	if (!kv)
		return errmsg_set(ENOMEM, "pmalloc_kv_map: no memory for the handle"), NULL;
	kv->fd = -1;
	kv->pop = pmalloc_obj_map(addr, size, KV_LAYOUT, create);
	if (!kv->pop || attach(kv, create) != 0)
		return release(kv), NULL;
	return kv;
}

API void
pmalloc_kv_close(PMALLOC_KV *kv)
{
	if (kv && (!kv->rdonly || kv->fd < 0 || reader_unref(kv)))
		release(kv);
}

/* ---- keys ----------------------------------------------------------------- */

API int
pmalloc_kv_get(PMALLOC_KV *kv, const char *key, size_t klen, const char **val, size_t *vlen)
{
	if (!kv || (!key && klen) || !val || !vlen)
		return errmsg_set(EINVAL, "pmalloc_kv_get: a NULL argument"), -1;
	struct kv_entry *e = table_find(&kv->keys, key, klen, table_hash(&kv->keys, key, klen),
			NULL);
	if (!e)
		return errmsg_set(ENOENT, "no such key"), -1;
	if (e->type != KV_STRING)
		return errmsg_set(EINVAL, "the key holds a list, set or hash, not a string"), -1;
	*val = entry_value(e);
	*vlen = e->vlen;
	return 0;
}

/* writable -- whether kv may change; else -1 with the message set */
static int
writable(PMALLOC_KV *kv, const char *key, size_t klen, const char *fn)
{
	if (!kv || (!key && klen))
		return errmsg_set(EINVAL, "%s: a NULL argument", fn), -1;
	if (kv->rdonly)
		return errmsg_set(EROFS, "%s: the store is open read-only", fn), -1;
	return 0;
}

API int
pmalloc_kv_set(PMALLOC_KV *kv, const char *key, size_t klen, const char *val, size_t vlen)
{
	if (writable(kv, key, klen, "pmalloc_kv_set") != 0)
		return -1;
	if (!val && vlen)
		return errmsg_set(EINVAL, "pmalloc_kv_set: no value"), -1;
	uint64_t count = kv->root->keys.count;
	if (begin(kv) != 0)
		return -1;
	struct kv_entry *e;
	int err = table_put(&kv->keys, key, klen, KV_STRING, vlen, &e);
	if (!err && vlen)
		memcpy(entry_value(e), val, vlen);
	int r = finish(err);
	kv->shape += kv->root->keys.count != count;
	return r;
}

API int
pmalloc_kv_del(PMALLOC_KV *kv, const char *key, size_t klen)
{
	if (writable(kv, key, klen, "pmalloc_kv_del") != 0)
		return -1;
	if (begin(kv) != 0)
		return -1;
	int r = finish(table_del(&kv->keys, key, klen));
	kv->shape += r == 0;
	return r;
}

API uint64_t
pmalloc_kv_count(PMALLOC_KV *kv)
{
	return kv ? kv->root->keys.count : 0;
}

API uint64_t
pmalloc_kv_shape(PMALLOC_KV *kv)
{
	return kv ? kv->shape : 0;
}

API int
pmalloc_kv_next(PMALLOC_KV *kv, struct pmalloc_kv_iter *it, const char **key, size_t *klen,
		const char **val, size_t *vlen)
{
	if (!kv || !it)
		return errmsg_set(EINVAL, "pmalloc_kv_next: a NULL argument"), -1;
	struct table_pos p = { it->array, it->bucket, it->index };
	struct kv_entry *e = table_next(&kv->keys, &p);
	*it = (struct pmalloc_kv_iter){ p.array, p.bucket, p.index };
	if (!e)
		return 0;
	if (key)
		*key = e->data;
	if (klen)
		*klen = e->klen;
	if (val)
		*val = entry_value(e);
	if (vlen)
		*vlen = e->vlen;
	return 1;
}

API struct pmemobjpool *
pmalloc_kv_pool(PMALLOC_KV *kv)
{
	return kv ? kv->pop : NULL;
}
