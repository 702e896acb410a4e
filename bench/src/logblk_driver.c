/*
 * logblk_driver.c -- libpmemlog and libpmemblk rows, one JSON line per row:
 * built against PMDK 1.12 (-lpmemlog -lpmemblk) or against pmalloc's headers and
 * libpmalloc.so; the same source, only the headers and libraries differ.
 *
 *   logblk_driver DIR SECONDS
 *
 * Rows (rates in operations per second of a timed loop of SECONDS):
 *   log_append 64, log_append 4096, log_appendv 4096 (4 x 1 KiB): a 64 MiB log,
 *     rewound when full;
 *   blk_write_rand / blk_write_seq / blk_read_rand, 512 and 4096: a 64 MiB pool;
 *   blk_create / blk_open, 64 MiB and 1 GiB (4 KiB blocks): once each, as a rate.
 */
#define _GNU_SOURCE
#include <libpmemblk.h>
#include <libpmemlog.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
emit(const char *row, size_t bytes, double ops, double secs)
{
	printf("{\"row\": \"%s\", \"bytes\": %zu, \"rate\": %.1f}\n", row, bytes, ops / secs);
	fflush(stdout);
}

static uint64_t rng = 88172645463325252u;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
die(const char *what, const char *msg)
{
	fprintf(stderr, "%s: %s\n", what, msg);
	exit(1);
}

static void
log_rows(const char *dir, double seconds)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/logblk-bench.log", dir);
	unlink(path);
	PMEMlogpool *plp = pmemlog_create(path, 64 << 20, 0600);
	if (!plp)
		die("pmemlog_create", pmemlog_errormsg());
	static char buf[4096];
	memset(buf, 'l', sizeof(buf));
	struct iovec iov[4];
	for (int i = 0; i < 4; i++)
		iov[i] = (struct iovec){ buf + i * 1024, 1024 };
	const struct { const char *name; size_t bytes; int vec; } rows[] = {
		{ "log_append", 64, 0 }, { "log_append", 4096, 0 }, { "log_appendv", 4096, 1 },
	};
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		pmemlog_rewind(plp);
		double t0 = now(), t;
		long ops = 0;
		do {
			for (int k = 0; k < 64; k++, ops++) {
				int rc = rows[r].vec ? pmemlog_appendv(plp, iov, 4)
					: pmemlog_append(plp, buf, rows[r].bytes);
				if (rc != 0)
					pmemlog_rewind(plp);
			}
		} while ((t = now() - t0) < seconds);
		emit(rows[r].name, rows[r].bytes, (double)ops, t);
	}
	pmemlog_close(plp);
	unlink(path);
}

static void
blk_rows(const char *dir, double seconds, size_t bsize)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/logblk-bench.blk", dir);
	unlink(path);
	PMEMblkpool *pbp = pmemblk_create(path, bsize, 64 << 20, 0600);
	if (!pbp)
		die("pmemblk_create", pmemblk_errormsg());
	long long n = (long long)pmemblk_nblock(pbp);
	static char buf[4096];
	memset(buf, 'b', sizeof(buf));
	for (long long i = 0; i < n; i++)        /* every block written once: reads read data */
		pmemblk_write(pbp, buf, i);
	for (int mode = 0; mode < 3; mode++) {
		double t0 = now(), t;
		long ops = 0;
		do {
			for (int k = 0; k < 64; k++, ops++) {
				long long b = mode == 1 ? ops % n : (long long)(next() % (uint64_t)n);
				int rc = mode == 2 ? pmemblk_read(pbp, buf, b) : pmemblk_write(pbp, buf, b);
				if (rc != 0)
					die("pmemblk", pmemblk_errormsg());
			}
		} while ((t = now() - t0) < seconds);
		emit(mode == 0 ? "blk_write_rand" : mode == 1 ? "blk_write_seq" : "blk_read_rand",
				bsize, (double)ops, t);
	}
	pmemblk_close(pbp);
	unlink(path);
}

static void
create_open_rows(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/logblk-bench-big.blk", dir);
	const size_t sizes[] = { (size_t)64 << 20, (size_t)1 << 30 };
	for (int i = 0; i < 2; i++) {
		unlink(path);
		double t0 = now();
		PMEMblkpool *pbp = pmemblk_create(path, 4096, sizes[i], 0600);
		double t = now() - t0;
		if (!pbp)
			die("pmemblk_create", pmemblk_errormsg());
		pmemblk_close(pbp);
		emit("blk_create", sizes[i], 1, t);
		t0 = now();
		pbp = pmemblk_open(path, 4096);
		t = now() - t0;
		if (!pbp)
			die("pmemblk_open", pmemblk_errormsg());
		pmemblk_close(pbp);
		emit("blk_open", sizes[i], 1, t);
	}
	unlink(path);
}

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: logblk_driver DIR SECONDS\n");
		return 2;
	}
	double seconds = atof(argv[2]);
	log_rows(argv[1], seconds);
	blk_rows(argv[1], seconds, 512);
	blk_rows(argv[1], seconds, 4096);
	create_open_rows(argv[1]);
	return 0;
}
