/*
 * log_api.c -- pmalloc's libpmemlog through PMDK's documented API only
 *
 *   log_api DIR
 */
#include <libpmemlog.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define MiB ((size_t)1 << 20)

static PMEMlogpool *shared;

struct seen {
	size_t bytes;
	int calls;
};

static int
count_chunk(const void *buf, size_t len, void *arg)
{
	struct seen *s = arg;
	(void)buf;
	s->bytes += len;
	s->calls++;
	return 1;
}

static int
stop_at_first(const void *buf, size_t len, void *arg)
{
	(void)buf;
	(void)len;
	++*(int *)arg;
	return 0;
}

static void *
appender(void *arg)
{
	unsigned char entry[64];
	memset(entry, (int)(uintptr_t)arg, sizeof(entry));
	for (int i = 0; i < 2000; i++)
		if (pmemlog_append(shared, entry, sizeof(entry)) != 0)
			return (void *)1;
	return NULL;
}

static int
whole_entries(const void *buf, size_t len, void *arg)
{
	const unsigned char *b = buf;
	for (size_t at = 0; at + 64 <= len; at += 64)
		for (size_t i = 1; i < 64; i++)
			if (b[at + i] != b[at])
				++*(int *)arg;
	return 1;
}

int
main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	char path[4096];
	snprintf(path, sizeof(path), "%s/api.log", argv[1]);

	CHECK("version", pmemlog_check_version(PMEMLOG_MAJOR_VERSION, PMEMLOG_MINOR_VERSION) == NULL
			&& pmemlog_check_version(PMEMLOG_MAJOR_VERSION + 1, 0) != NULL);

	CHECK_BODY("create-errors") {
		errno = 0;
		EXPECT(pmemlog_create(path, PMEMLOG_MIN_POOL - 1, 0600) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(pmemlog_open(path) == NULL);            /* no such file */
		EXPECT_ERRNO(ENOENT, errno);
		EXPECT(strlen(pmemlog_errormsg()) > 0);
	}

	PMEMlogpool *plp = pmemlog_create(path, 8 * MiB, 0600);
	CHECK_BODY("create") {
		EXPECT(plp != NULL);
		EXPECT_EQ(8 * MiB - 4096, pmemlog_nbyte(plp));
		EXPECT_EQ(0, pmemlog_tell(plp));
		errno = 0;
		EXPECT(pmemlog_create(path, 8 * MiB, 0600) == NULL);
		EXPECT_ERRNO(EEXIST, errno);
	}

	CHECK_BODY("append-appendv-walk") {
		EXPECT_EQ(0, pmemlog_append(plp, "hello ", 6));
		struct iovec iov[3] = { { "a", 1 }, { "bc", 2 }, { "def", 3 } };
		EXPECT_EQ(0, pmemlog_appendv(plp, iov, 3));
		EXPECT_EQ(12, pmemlog_tell(plp));
		struct seen s = { 0, 0 };
		pmemlog_walk(plp, 0, count_chunk, &s);
		EXPECT_EQ(12, s.bytes);
		EXPECT_EQ(1, s.calls);
		s = (struct seen){ 0, 0 };
		pmemlog_walk(plp, 5, count_chunk, &s);
		EXPECT_EQ(12, s.bytes);
		EXPECT_EQ(3, s.calls);
		int calls = 0;
		pmemlog_walk(plp, 1, stop_at_first, &calls);
		EXPECT_EQ(1, calls);
		EXPECT_EQ(-1, pmemlog_appendv(plp, iov, -1));
	}

	CHECK_BODY("full") {
		size_t left = pmemlog_nbyte(plp) - (size_t)pmemlog_tell(plp);
		char *big = calloc(1, left + 1);
		errno = 0;
		EXPECT_EQ(-1, pmemlog_append(plp, big, left + 1));
		EXPECT_ERRNO(ENOSPC, errno);
		EXPECT_EQ(0, pmemlog_append(plp, big, left));
		EXPECT_EQ(pmemlog_nbyte(plp), (size_t)pmemlog_tell(plp));
		free(big);
		pmemlog_rewind(plp);
		EXPECT_EQ(0, pmemlog_tell(plp));
	}

	CHECK_BODY("threads") {
		shared = plp;
		pthread_t t[8];
		for (uintptr_t i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, appender, (void *)(i + 1));
		for (int i = 0; i < 8; i++) {
			void *r;
			pthread_join(t[i], &r);
			EXPECT(r == NULL);
		}
		EXPECT_EQ(8 * 2000 * 64, pmemlog_tell(plp));
		int torn = 0;
		pmemlog_walk(plp, 0, whole_entries, &torn);
		EXPECT_EQ(0, torn);
	}

	pmemlog_close(plp);
	CHECK_BODY("reopen-and-check") {
		EXPECT_EQ(1, pmemlog_check(path));
		plp = pmemlog_open(path);
		EXPECT(plp != NULL && pmemlog_tell(plp) == 8 * 2000 * 64);
		pmemlog_close(plp);
		FILE *f = fopen(path, "r+b");
		fseek(f, 40, SEEK_SET);
		fputc(0x5a, f);
		fclose(f);
		EXPECT_EQ(0, pmemlog_check(path));
		errno = 0;
		EXPECT(pmemlog_open(path) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT_EQ(-1, pmemlog_check("/nonexistent/log"));
	}
	unlink(path);
	return check_summary();
}
