/*
 * huge.c -- a loop over huge blocks: 20 live blocks of 5 to 25 MiB, one of them
 * replaced (freed, then a new one allocated and zero-filled by the program) each
 * round. Run as is against glibc, or with LD_PRELOAD of an allocator or the shim.
 *
 *   huge [ROUNDS]   (default 2000); prints a checksum so the stores stay
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE 20
#define MIB ((size_t)1 << 20)

int
main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 2000;
	unsigned char *live[LIVE] = { 0 };
	size_t size[LIVE] = { 0 };
	uint64_t seed = 88172645463325252u, sum = 0;
	for (long r = 0; r < rounds + LIVE; r++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		unsigned i = (unsigned)(r < LIVE ? r : seed % LIVE);
		free(live[i]);
		size[i] = 5 * MIB + (size_t)(seed >> 20) % (20 * MIB);
		live[i] = malloc(size[i]);
		if (!live[i]) {
			perror("malloc");
			return 1;
		}
		memset(live[i], (int)(r & 0xff), size[i]);
		sum += live[i][size[i] / 2];
	}
	for (unsigned i = 0; i < LIVE; i++)
		free(live[i]);
	printf("%llu\n", (unsigned long long)sum);
	return 0;
}
