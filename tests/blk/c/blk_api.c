/*
 * blk_api.c -- pmalloc's libpmemblk through PMDK's documented API only
 *
 *   blk_api DIR
 */
#include <libpmemblk.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static PMEMblkpool *shared;

static void *
writer(void *arg)
{
	unsigned char buf[512];
	uintptr_t t = (uintptr_t)arg;
	for (int i = 0; i < 3000; i++) {
		long long block = (long long)((t * 7919 + (uintptr_t)i * 31) % 100);
		memset(buf, (int)(block & 0xff), sizeof(buf));
		if (pmemblk_write(shared, buf, block) != 0)
			return (void *)1;
		if (pmemblk_read(shared, buf, block) != 0)
			return (void *)1;
		for (size_t j = 1; j < sizeof(buf); j++)
			if (buf[j] != buf[0])
				return (void *)2;     /* a torn read */
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	char path[4096];
	snprintf(path, sizeof(path), "%s/api.blk", argv[1]);
	CHECK("version", pmemblk_check_version(PMEMBLK_MAJOR_VERSION, PMEMBLK_MINOR_VERSION) == NULL);

	CHECK_BODY("create-errors") {
		errno = 0;
		EXPECT(pmemblk_create(path, 100, PMEMBLK_MIN_POOL, 0600) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT(pmemblk_create(path, 512, PMEMBLK_MIN_POOL - 1, 0600) == NULL);
		EXPECT(pmemblk_open(path, 512) == NULL);
		EXPECT_ERRNO(ENOENT, errno);
	}

	PMEMblkpool *pbp = pmemblk_create(path, 512, PMEMBLK_MIN_POOL, 0600);
	CHECK_BODY("create") {
		EXPECT(pbp != NULL);
		EXPECT_EQ(512, pmemblk_bsize(pbp));
		EXPECT(pmemblk_nblock(pbp) > 30000);
	}

	CHECK_BODY("read-write-zero-error") {
		unsigned char buf[512], out[512];
		EXPECT_EQ(0, pmemblk_read(pbp, out, 5));
		EXPECT_EQ(0, out[0] | out[511]);               /* never written: zeros */
		memset(buf, 0xab, sizeof(buf));
		EXPECT_EQ(0, pmemblk_write(pbp, buf, 5));
		EXPECT_EQ(0, pmemblk_read(pbp, out, 5));
		EXPECT(memcmp(buf, out, 512) == 0);
		EXPECT_EQ(0, pmemblk_set_zero(pbp, 5));
		EXPECT_EQ(0, pmemblk_read(pbp, out, 5));
		EXPECT_EQ(0, out[0] | out[511]);
		EXPECT_EQ(0, pmemblk_set_error(pbp, 6));
		errno = 0;
		EXPECT_EQ(-1, pmemblk_read(pbp, out, 6));
		EXPECT_ERRNO(EIO, errno);
		EXPECT_EQ(0, pmemblk_write(pbp, buf, 6));
		EXPECT_EQ(0, pmemblk_read(pbp, out, 6));
		errno = 0;
		EXPECT_EQ(-1, pmemblk_write(pbp, buf, (long long)pmemblk_nblock(pbp)));
		EXPECT_ERRNO(EINVAL, errno);
		EXPECT_EQ(-1, pmemblk_read(pbp, out, -1));
	}

	CHECK_BODY("threads") {
		shared = pbp;
		pthread_t t[8];
		for (uintptr_t i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, writer, (void *)i);
		for (int i = 0; i < 8; i++) {
			void *r;
			pthread_join(t[i], &r);
			EXPECT(r == NULL);
		}
	}
	pmemblk_close(pbp);

	CHECK_BODY("reopen-check") {
		EXPECT_EQ(1, pmemblk_check(path, 512));
		errno = 0;
		EXPECT(pmemblk_open(path, 4096) == NULL);
		EXPECT_ERRNO(EINVAL, errno);
		pbp = pmemblk_open(path, 0);
		EXPECT(pbp != NULL);
		unsigned char out[512];
		EXPECT_EQ(0, pmemblk_read(pbp, out, 6));
		EXPECT_EQ(6, out[100]);           /* the threads wrote block 6 last */
		pmemblk_close(pbp);
		EXPECT_EQ(-1, pmemblk_check("/nonexistent/blk", 0));
	}
	unlink(path);
	return check_summary();
}
