/*
 * driver.c -- the benchmark workloads, written once for every allocator
 *
 * Built three times (see bench_api.h): against pmalloc's libvmem API, against
 * memkind's PMEM kind, and against plain malloc/free (then run bare for glibc
 * or under LD_PRELOAD for jemalloc, mimalloc, tcmalloc).
 *
 *   driver small   [opts]   1 thread, free+malloc pairs, 8..512 B, random slot of a window
 *   driver large   [opts]   the same with 16..64 KiB
 *   driver xthread [opts]   2 threads; every object is freed by the other thread
 *   driver frag    [opts]   1 GiB of 100 B objects, free 90 %, refill with 200 B, free all
 *
 * Every result is one JSON object on one line of stdout; errors go to stderr
 * and the exit status is non-zero.
 *
 * Glossary: pair = one free followed by one malloc; window = the live objects
 * a pairs workload replaces at random; ring = a single-producer
 * single-consumer queue of pointers between the two xthread workers; pool
 * file = the unlinked file a pool contender maps (found in /proc/self/maps).
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_api.h"

#define KiB ((uint64_t)1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)

/* ---- Options ------------------------------------------------------------ */

struct opts {
	const char *workload; /* small, large, xthread or frag */
	uint64_t n;           /* pairs (small/large) or objects per thread (xthread) */
	uint64_t window;      /* live objects replaced at random (small/large) */
	uint64_t min_size;    /* smallest request */
	uint64_t max_size;    /* largest request */
	uint64_t seed;        /* random seed; the same seed gives the same requests */
	uint64_t batch;       /* objects per ring publication (xthread) */
	uint64_t bytes;       /* live bytes to reach (frag) */
	uint64_t first_size;  /* object size of the first fill (frag) */
	uint64_t refill_size; /* object size of the refill (frag) */
	uint64_t free_pct;    /* percent freed after the first fill (frag) */
	uint64_t settle_ms;   /* wait after free-all before reading the pool file (frag) */
	const char *pool_dir; /* directory of the pool file (pool contenders) */
	uint64_t pool_size;   /* pool size in bytes (pool contenders) */
};

/* ---- Small helpers ------------------------------------------------------ */

// die -- report a fatal error and leave
static void die(const char *what)
{
	fprintf(stderr, "driver(%s): %s\n", BENCH_API_NAME, what);
	exit(1);
}

// now_s -- monotonic seconds
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// rng_next -- splitmix64: a fast, well-mixed 64-bit generator
static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

// rng_below -- map 32 random bits onto [0, n) without a division
static inline uint64_t rng_below(uint32_t bits, uint64_t n)
{
	return ((uint64_t)bits * n) >> 32;
}

// touch -- write the first and the last byte of a new object
static inline void touch(void *p, size_t size, uint64_t v)
{
	volatile unsigned char *b = p;
	b[0] = (unsigned char)v;
	b[size - 1] = (unsigned char)(v >> 8);
}

// map_array -- memory for the driver's own bookkeeping, outside the allocator under test
static void *map_array(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap of the bookkeeping array failed");
	return p;
}

// alloc_or_die -- bench_malloc that treats NULL as fatal
static inline void *alloc_or_die(size_t size)
{
	void *p = bench_malloc(size);
	if (p == NULL) {
		fprintf(stderr, "driver(%s): malloc(%zu) returned NULL (errno %d: %s)\n",
			BENCH_API_NAME, size, errno, strerror(errno));
		exit(1);
	}
	return p;
}

// read_file -- read a /proc file into buf without allocating; bytes read or -1
static ssize_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

// status_kb -- one "Name:   123 kB" field of /proc/self/status, in bytes; -1 if absent
static int64_t status_bytes(const char *field)
{
	static char buf[16384];
	if (read_file("/proc/self/status", buf, sizeof(buf)) < 0)
		return -1;
	size_t flen = strlen(field);
	for (char *line = buf; line && *line; ) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':')
			return (int64_t)strtoll(line + flen + 1, NULL, 10) * 1024;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -1;
}

/*
 * pool_file_bytes -- the allocated size (st_blocks * 512) of the pool file(s):
 * every mapping of a deleted file directly in dir, each inode counted once.
 * -1 when there is no such mapping (plain malloc, or before the pool maps).
 */
static int64_t pool_file_bytes(const char *dir)
{
	static char maps[1 << 22]; /* 4 MiB: room for tens of thousands of mappings */
	static const char deleted[] = " (deleted)";
	char dirbuf[PATH_MAX];

	if (dir == NULL || realpath(dir, dirbuf) == NULL)
		return -1;
	size_t dlen = strlen(dirbuf);
	if (read_file("/proc/self/maps", maps, sizeof(maps)) < 0)
		return -1;

	unsigned long seen[64];
	size_t nseen = 0;
	int64_t total = -1;
	char *line = maps;
	while (line && *line) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		unsigned long start, end, inode;
		int pathpos = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu %n", &start, &end, &inode,
				&pathpos) == 3 && pathpos > 0) {
			const char *path = line + pathpos;
			size_t plen = strlen(path);
			size_t tlen = sizeof(deleted) - 1;
			bool in_dir = plen > dlen + 1 + tlen &&
				strncmp(path, dirbuf, dlen) == 0 &&
				path[dlen] == '/' &&
				memchr(path + dlen + 1, '/', plen - dlen - 1 - tlen) == NULL &&
				strcmp(path + plen - tlen, deleted) == 0;
			bool dup = false;
			for (size_t i = 0; i < nseen; i++)
				dup = dup || seen[i] == inode;
			if (in_dir && !dup) {
				char link[128];
				struct stat st;
				snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx",
					start, end);
				if (stat(link, &st) == 0) {
					if (total < 0)
						total = 0;
					total += (int64_t)st.st_blocks * 512;
					if (nseen < sizeof(seen) / sizeof(seen[0]))
						seen[nseen++] = inode;
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return total;
}

// print_i64 -- a JSON number, or null for -1
static void print_i64(const char *key, int64_t v)
{
	if (v < 0)
		printf(", \"%s\": null", key);
	else
		printf(", \"%s\": %" PRId64, key, v);
}

// print_head -- the fields every result line starts with
static void print_head(const struct opts *o)
{
	const char *preload = getenv("LD_PRELOAD");
	printf("{\"workload\": \"%s\", \"api\": \"%s\", \"preload\": \"%s\", \"seed\": %" PRIu64,
		o->workload, BENCH_API_NAME, preload ? preload : "", o->seed);
}

/* ---- small / large: free+malloc pairs in a window ----------------------- */

static void run_pairs(const struct opts *o)
{
	uint64_t rng = o->seed;
	uint64_t span = o->max_size - o->min_size + 1;
	void **win = map_array(o->window * sizeof(void *));

	for (uint64_t i = 0; i < o->window; i++) {
		size_t size = o->min_size + rng_below((uint32_t)rng_next(&rng), span);
		win[i] = alloc_or_die(size);
		touch(win[i], size, i);
	}

	double t0 = now_s();
	for (uint64_t i = 0; i < o->n; i++) {
		uint64_t r = rng_next(&rng);
		uint64_t slot = rng_below((uint32_t)(r >> 32), o->window);
		size_t size = o->min_size + rng_below((uint32_t)r, span);
		bench_free(win[slot]);
		void *p = alloc_or_die(size);
		touch(p, size, i);
		win[slot] = p;
	}
	double secs = now_s() - t0;

	for (uint64_t i = 0; i < o->window; i++)
		bench_free(win[i]);
	munmap(win, o->window * sizeof(void *));

	print_head(o);
	printf(", \"pairs\": %" PRIu64 ", \"window\": %" PRIu64
		", \"min_size\": %" PRIu64 ", \"max_size\": %" PRIu64
		", \"seconds\": %.6f, \"rate\": %.4f, \"unit\": \"Mpairs/s\"}\n",
		o->n, o->window, o->min_size, o->max_size, secs,
		(double)o->n / secs / 1e6);
	fflush(stdout);
}

/* ---- xthread: two threads, each freeing what the other allocated ------- */

#define RING_CAP 4096 /* pointers; a power of two */

/* A single-producer single-consumer ring of pointers. */
struct ring {
	_Alignas(64) _Atomic uint64_t head; /* next slot the producer fills (published) */
	_Alignas(64) _Atomic uint64_t tail; /* next slot the consumer empties (published) */
	_Alignas(64) void *slot[RING_CAP];  /* the pointers in flight */
};

/* One of the two xthread workers. */
struct xworker {
	struct ring *in;          /* objects the other thread allocated, to free */
	struct ring *out;         /* objects this thread allocated, for the other */
	const struct opts *o;     /* sizes, counts, batch */
	uint64_t seed;            /* this thread's random stream */
	pthread_barrier_t *start; /* all threads begin together */
};

// ring_push -- publish n pointers, all or none; false when there is no room
static bool ring_push(struct ring *r, void *const *ptrs, uint64_t n)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (RING_CAP - (head - tail) < n)
		return false;
	for (uint64_t i = 0; i < n; i++)
		r->slot[(head + i) & (RING_CAP - 1)] = ptrs[i];
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return true;
}

// ring_drain -- free every pointer published so far; the count freed
static uint64_t ring_drain(struct ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	for (uint64_t t = tail; t != head; t++)
		bench_free(r->slot[t & (RING_CAP - 1)]);
	atomic_store_explicit(&r->tail, head, memory_order_release);
	return head - tail;
}

static void *xworker_main(void *arg)
{
	struct xworker *w = arg;
	const struct opts *o = w->o;
	uint64_t rng = w->seed;
	uint64_t span = o->max_size - o->min_size + 1;
	void *batch[256];
	uint64_t made = 0, freed = 0;

	pthread_barrier_wait(w->start);
	while (made < o->n || freed < o->n) {
		uint64_t got = 0;
		if (made < o->n) {
			uint64_t k = o->n - made < o->batch ? o->n - made : o->batch;
			for (uint64_t i = 0; i < k; i++) {
				size_t size = o->min_size +
					rng_below((uint32_t)rng_next(&rng), span);
				batch[i] = alloc_or_die(size);
				touch(batch[i], size, made + i);
			}
			while (!ring_push(w->out, batch, k)) {
				uint64_t d = ring_drain(w->in);
				freed += d;
				if (d == 0)
					sched_yield();
			}
			made += k;
		}
		got = ring_drain(w->in);
		freed += got;
		if (got == 0 && made >= o->n)
			sched_yield();
	}
	return NULL;
}

static void run_xthread(const struct opts *o)
{
	struct ring *ab = map_array(sizeof(struct ring));
	struct ring *ba = map_array(sizeof(struct ring));
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, 3);
	struct xworker w[2] = {
		{ .in = ba, .out = ab, .o = o, .seed = o->seed, .start = &start },
		{ .in = ab, .out = ba, .o = o, .seed = o->seed ^ 0x5DEECE66Dull,
		  .start = &start },
	};
	pthread_t tid[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&tid[i], NULL, xworker_main, &w[i]) != 0)
			die("pthread_create failed");

	pthread_barrier_wait(&start);
	double t0 = now_s();
	for (int i = 0; i < 2; i++)
		pthread_join(tid[i], NULL);
	double secs = now_s() - t0;
	pthread_barrier_destroy(&start);
	munmap(ab, sizeof(struct ring));
	munmap(ba, sizeof(struct ring));

	uint64_t calls = 2 * 2 * o->n; /* two threads, a malloc and a free per object */
	print_head(o);
	printf(", \"threads\": 2, \"objects_per_thread\": %" PRIu64
		", \"batch\": %" PRIu64 ", \"min_size\": %" PRIu64 ", \"max_size\": %" PRIu64
		", \"calls\": %" PRIu64 ", \"seconds\": %.6f, \"rate\": %.4f"
		", \"unit\": \"Mcalls/s\"}\n",
		o->n, o->batch, o->min_size, o->max_size, calls, secs,
		(double)calls / secs / 1e6);
	fflush(stdout);
}

/* ---- frag: fill, free 90 %, refill with bigger objects, free all --------- */

/* Memory figures after one phase of frag. */
struct frag_sample {
	int64_t rss;       /* VmRSS */
	int64_t hwm;       /* VmHWM: peak RSS so far */
	int64_t pool_file; /* allocated bytes of the pool file, -1 if none */
};

static struct frag_sample frag_report(const struct opts *o, const char *phase,
		double secs, uint64_t live_objects, uint64_t live_bytes)
{
	struct frag_sample s = {
		.rss = status_bytes("VmRSS"),
		.hwm = status_bytes("VmHWM"),
		.pool_file = BENCH_API_HAS_POOL ? pool_file_bytes(o->pool_dir) : -1,
	};
	print_head(o);
	printf(", \"phase\": \"%s\", \"seconds\": %.6f, \"live_objects\": %" PRIu64
		", \"live_bytes\": %" PRIu64, phase, secs, live_objects, live_bytes);
	print_i64("rss", s.rss);
	print_i64("hwm", s.hwm);
	print_i64("pool_file", s.pool_file);
	printf("}\n");
	fflush(stdout);
	return s;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static void run_frag(const struct opts *o)
{
	uint64_t rng = o->seed;
	uint64_t n1 = (o->bytes + o->first_size - 1) / o->first_size;
	size_t arr_bytes = n1 * sizeof(void *);
	void **ptrs = map_array(arr_bytes);
	memset(ptrs, 0, arr_bytes); /* fault it in now: the same baseline for everyone */

	frag_report(o, "setup", 0.0, 0, 0);
	int64_t pool_peak = -1;
	int64_t rss_peak = -1; /* VmHWM's counters lag a little: keep the largest seen */

	/* 1: fill with first_size objects */
	double t0 = now_s();
	for (uint64_t i = 0; i < n1; i++) {
		ptrs[i] = alloc_or_die(o->first_size);
		touch(ptrs[i], o->first_size, i);
	}
	struct frag_sample s = frag_report(o, "fill", now_s() - t0, n1,
			n1 * o->first_size);
	pool_peak = max64(pool_peak, s.pool_file);
	rss_peak = max64(rss_peak, s.hwm);

	/* 2: free a random free_pct % (shuffle, free the front, keep the back) */
	t0 = now_s();
	for (uint64_t i = n1 - 1; i > 0; i--) {
		uint64_t j = rng_next(&rng) % (i + 1);
		void *tmp = ptrs[i];
		ptrs[i] = ptrs[j];
		ptrs[j] = tmp;
	}
	uint64_t nfree = n1 * o->free_pct / 100;
	for (uint64_t i = 0; i < nfree; i++)
		bench_free(ptrs[i]);
	uint64_t live = n1 - nfree;
	memmove(ptrs, ptrs + nfree, live * sizeof(void *));
	uint64_t live_bytes = live * o->first_size;
	s = frag_report(o, "free", now_s() - t0, live, live_bytes);
	pool_peak = max64(pool_peak, s.pool_file);
	rss_peak = max64(rss_peak, s.hwm);

	/* 3: refill with refill_size objects until the live bytes are back */
	t0 = now_s();
	while (live_bytes < o->bytes) {
		if (live >= n1)
			die("frag: refill outgrew the pointer array");
		ptrs[live] = alloc_or_die(o->refill_size);
		touch(ptrs[live], o->refill_size, live);
		live++;
		live_bytes += o->refill_size;
	}
	s = frag_report(o, "refill", now_s() - t0, live, live_bytes);
	pool_peak = max64(pool_peak, s.pool_file);
	rss_peak = max64(rss_peak, s.hwm);

	/* 4: free everything; read the pool file after settle_ms (0 by default) */
	t0 = now_s();
	for (uint64_t i = 0; i < live; i++)
		bench_free(ptrs[i]);
	double free_secs = now_s() - t0;
	if (o->settle_ms > 0) {
		struct timespec ts = { .tv_sec = (time_t)(o->settle_ms / 1000),
			.tv_nsec = (long)(o->settle_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	struct frag_sample fin = frag_report(o, "freeall", free_secs, 0, 0);
	pool_peak = max64(pool_peak, fin.pool_file);
	rss_peak = max64(rss_peak, fin.hwm);

	/* 5 (informational): an explicit purge, where the API has one */
	int64_t after_purge = -1;
	if (bench_api_purge() == 0) {
		s = frag_report(o, "purge", 0.0, 0, 0);
		after_purge = s.pool_file;
	}
	munmap(ptrs, arr_bytes);

	print_head(o);
	printf(", \"phase\": \"summary\", \"bytes\": %" PRIu64
		", \"first_size\": %" PRIu64 ", \"refill_size\": %" PRIu64
		", \"free_pct\": %" PRIu64 ", \"settle_ms\": %" PRIu64
		", \"bookkeeping_bytes\": %zu",
		o->bytes, o->first_size, o->refill_size, o->free_pct, o->settle_ms,
		arr_bytes);
	print_i64("peak_rss", rss_peak);
	print_i64("pool_peak", pool_peak);
	print_i64("pool_after_free", fin.pool_file);
	print_i64("pool_after_purge", after_purge);
	printf("}\n");
	fflush(stdout);
}

/* ---- main --------------------------------------------------------------- */

// parse_size -- a number with an optional K, M or G (binary) suffix
static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		die("bad number in the arguments");
	switch (*end) {
	case 'k': case 'K': v *= KiB; end++; break;
	case 'm': case 'M': v *= MiB; end++; break;
	case 'g': case 'G': v *= GiB; end++; break;
	default: break;
	}
	if (*end != '\0')
		die("bad number in the arguments");
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: driver small|large|xthread|frag [--n N] [--window N]\n"
		"         [--min SIZE] [--max SIZE] [--seed N] [--batch N]\n"
		"         [--bytes SIZE] [--first SIZE] [--refill SIZE] [--free-pct N]\n"
		"         [--settle-ms N] [--pool-dir DIR] [--pool-size SIZE]\n"
		"  sizes take a K, M or G suffix; api: %s\n", BENCH_API_NAME);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	struct opts o = {
		.workload = argv[1], .window = 1000, .seed = 1, .batch = 64,
		.bytes = GiB, .first_size = 100, .refill_size = 200, .free_pct = 90,
		.settle_ms = 0, .pool_dir = "/dev/shm", .pool_size = GiB,
	};
	if (strcmp(o.workload, "small") == 0) {
		o.n = 10000000; o.min_size = 8; o.max_size = 512;
	} else if (strcmp(o.workload, "large") == 0) {
		o.n = 1000000; o.min_size = 16 * KiB; o.max_size = 64 * KiB;
	} else if (strcmp(o.workload, "xthread") == 0) {
		o.n = 2000000; o.min_size = 8; o.max_size = 512;
	} else if (strcmp(o.workload, "frag") == 0) {
		o.pool_size = 4 * GiB;
	} else {
		usage();
	}

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (strcmp(a, "--n") == 0) o.n = parse_size(v);
		else if (strcmp(a, "--window") == 0) o.window = parse_size(v);
		else if (strcmp(a, "--min") == 0) o.min_size = parse_size(v);
		else if (strcmp(a, "--max") == 0) o.max_size = parse_size(v);
		else if (strcmp(a, "--seed") == 0) o.seed = parse_size(v);
		else if (strcmp(a, "--batch") == 0) o.batch = parse_size(v);
		else if (strcmp(a, "--bytes") == 0) o.bytes = parse_size(v);
		else if (strcmp(a, "--first") == 0) o.first_size = parse_size(v);
		else if (strcmp(a, "--refill") == 0) o.refill_size = parse_size(v);
		else if (strcmp(a, "--free-pct") == 0) o.free_pct = parse_size(v);
		else if (strcmp(a, "--settle-ms") == 0) o.settle_ms = parse_size(v);
		else if (strcmp(a, "--pool-dir") == 0) o.pool_dir = v;
		else if (strcmp(a, "--pool-size") == 0) o.pool_size = parse_size(v);
		else usage();
	}
	bool frag = strcmp(o.workload, "frag") == 0;
	if (o.window == 0 || o.batch == 0 || o.batch > 256 || o.free_pct > 100 ||
			o.first_size == 0 || o.refill_size < o.first_size ||
			(!frag && (o.min_size == 0 || o.max_size < o.min_size)))
		die("option out of range (window>0, 1<=batch<=256, free-pct<=100,"
			" 0<first<=refill, 0<min<=max)");

	if (bench_api_init(o.pool_dir, o.pool_size) != 0)
		return 1;
	if (frag)
		run_frag(&o);
	else if (strcmp(o.workload, "xthread") == 0)
		run_xthread(&o);
	else
		run_pairs(&o);
	bench_api_fini();
	return 0;
}
