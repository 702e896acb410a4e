/*
 * pmalloc_kv.h -- a persistent key/value store in an obj pool (pmalloc's own API)
 *
 * Keys and values are byte strings of any length (a value up to ~15.9 GiB, the
 * largest object). Every set and delete is one obj transaction: once it returns,
 * it survives a crash or kill -9. A store is one pool file, locked while open
 * (shared for reading, exclusive for writing). A handle is for one thread at a
 * time. Errors: -1 or NULL, errno, and pmalloc_errormsg().
 */
#ifndef PMALLOC_KV_H
#define PMALLOC_KV_H 1

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pmalloc_kv PMALLOC_KV;
struct pmemobjpool;

/* ---- Opening --------------------------------------------------------------- */

#define PMALLOC_KV_RDONLY 1   /* read only: a private view, nothing written to the file */
#define PMALLOC_KV_CREATE 2   /* create the store when the file is missing or empty */
#define PMALLOC_KV_TRUNC 4    /* always a new empty store */

/* Open the store at path (flags PMALLOC_KV_*; size and mode for a new one, size >=
 * PMEMOBJ_MIN_POOL). EWOULDBLOCK when another handle has it locked, EINVAL when the
 * file is not a sound store. */
PMALLOC_KV *pmalloc_kv_open(const char *path, int flags, size_t size, unsigned mode);

/* A store over [addr, addr + size) mapped by the caller (the crash simulator's),
 * formatted first if create, else checked and recovered. */
PMALLOC_KV *pmalloc_kv_map(void *addr, size_t size, int create);

/* Close the store and free the handle (NULL: nothing). */
void pmalloc_kv_close(PMALLOC_KV *kv);

/* ---- Keys ------------------------------------------------------------------- */

/* The value of key: 0 with *val (in the pool, valid until the next change) and *vlen
 * set, or -1 with ENOENT. */
int pmalloc_kv_get(PMALLOC_KV *kv, const char *key, size_t klen, const char **val,
		size_t *vlen);

/* Set key to the vlen bytes at val, durably; -1: ENOMEM (full), EROFS, EINVAL. */
int pmalloc_kv_set(PMALLOC_KV *kv, const char *key, size_t klen, const char *val, size_t vlen);

/* Remove key durably; -1 with ENOENT when it is not there. */
int pmalloc_kv_del(PMALLOC_KV *kv, const char *key, size_t klen);

/* The number of keys. */
uint64_t pmalloc_kv_count(PMALLOC_KV *kv);

/* A number that changes whenever a key is added or removed (not when one is replaced). */
uint64_t pmalloc_kv_shape(PMALLOC_KV *kv);

/* An iteration position: zero it to start. */
struct pmalloc_kv_iter {
	uint64_t array, bucket, index;
};

/* The next key and value: 1, or 0 at the end. Replacing values on the way is allowed;
 * adding or removing keys invalidates the position (pmalloc_kv_shape tells). */
int pmalloc_kv_next(PMALLOC_KV *kv, struct pmalloc_kv_iter *it, const char **key,
		size_t *klen, const char **val, size_t *vlen);

/* ---- The Redis-protocol server ----------------------------------------------- */

/* Serve the store (opened for writing) to Redis clients (RESP2) on host:port (0: any free
 * port) until SIGTERM or SIGINT reaches the calling thread; once listening, writes
 * "pmalloc kv-server: ready on HOST:PORT\n" to ready_fd (-1: nothing). A bulk string
 * over max_bulk bytes is a protocol error. Every write is durable before its reply. */
int pmalloc_kv_serve(PMALLOC_KV *kv, const char *host, unsigned port, size_t max_bulk,
		int ready_fd);

/* Run one Redis command (argv[0] its name; argl the lengths) on the store in a
 * transaction of its own: *reply gets its RESP2 reply (*len bytes, NUL-terminated;
 * pmalloc_kv_reply_free it), an error reply included. -1 only when there is no reply. */
int pmalloc_kv_command(PMALLOC_KV *kv, size_t argc, const char *const *argv,
		const size_t *argl, char **reply, size_t *len);

/* Free a reply of pmalloc_kv_command. */
void pmalloc_kv_reply_free(char *reply);

/* The store's obj pool (for its usage figures; not to be changed directly). */
struct pmemobjpool *pmalloc_kv_pool(PMALLOC_KV *kv);

#ifdef __cplusplus
}
#endif

#endif
