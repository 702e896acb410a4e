/*
 * fds.c -- the shim must never act on a descriptor the program can close or
 * reuse, nor show it one it did not open.
 *
 *   fds.c list              print the program's open descriptors (from /proc/self/fd)
 *   fds.c punch FILE MIB    close every inherited descriptor above 2 (as a daemon
 *                           does), write MIB MiB of 'U' to FILE, then malloc and
 *                           free 1-8 MiB blocks so the allocator purges; read FILE
 *                           back: every byte must still be 'U'
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
list(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return perror("opendir"), 1;
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && atoi(e->d_name) != self)
			printf("%s\n", e->d_name);
	closedir(d);
	return 0;
}

static int
punch(const char *path, long mib)
{
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return perror(path), 1;
	static char block[1 << 20];
	memset(block, 'U', sizeof(block));
	for (long i = 0; i < mib; i++)
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			return perror("write"), 1;
	unsigned seed = 1;
	for (int round = 0; round < 200; round++) {
		size_t size = ((size_t)1 + (size_t)rand_r(&seed) % 8) << 20;
		char *p = malloc(size);
		if (!p)
			return perror("malloc"), 1;
		memset(p, 'x', size);
		free(p);
	}
	long bad = 0;
	for (long i = 0; i < mib; i++) {
		if (pread(fd, block, sizeof(block), (off_t)i << 20) != (ssize_t)sizeof(block))
			return perror("pread"), 1;
		for (size_t k = 0; k < sizeof(block); k++)
			bad += block[k] != 'U';
	}
	printf("descriptor %d, %ld MiB written, %ld bytes changed\n", fd, mib, bad);
	return bad != 0;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return list();
	if (argc == 4 && strcmp(argv[1], "punch") == 0)
		return punch(argv[2], atol(argv[3]));
	fprintf(stderr, "usage: fds list | fds punch FILE MIB\n");
	return 2;
}
