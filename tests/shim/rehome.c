/*
 * rehome.c -- the default fork mode under the shim: a single-threaded program's
 * fork makes the pool copy-on-write (the child writes its own copy), and once
 * forks stop the heap moves back onto a shared pool file, its data intact.
 *
 *   rehome QUIET_MS     prints one line per check and "N passed, M failed"
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NBLOCKS 64
#define BLOCK (64 << 10)

static char *blocks[NBLOCKS];
static int passed, failed;

static void
check(const char *what, int ok)
{
	printf("[%s] %s\n", ok ? "  OK  " : "FAILED", what);
	ok ? passed++ : failed++;
}

/* mapping -- the perms ('s' shared or 'p' private) of the mapping holding p */
static char
mapping(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8] = "";
	unsigned long lo, hi;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3
				&& (unsigned long)p >= lo && (unsigned long)p < hi)
			break;
	if (f)
		fclose(f);
	return perms[3];
}

static int
intact(void)
{
	for (int i = 0; i < NBLOCKS; i++)
		for (int k = 0; k < BLOCK; k += 4096)
			if (blocks[i][k] != (char)i)
				return 0;
	return 1;
}

/* a child that overwrites every block, then exits */
static void
fork_scribbler(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < NBLOCKS; i++)
			memset(blocks[i], 0x5a, BLOCK);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	check("the child ran", WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int
main(int argc, char **argv)
{
	long quiet_ms = argc > 1 ? atol(argv[1]) : 400;
	for (int i = 0; i < NBLOCKS; i++) {
		blocks[i] = malloc(BLOCK);
		memset(blocks[i], i, BLOCK);
	}
	check("the heap starts on a shared pool file", mapping(blocks[0]) == 's');
	fork_scribbler();
	check("after a fork: the parent's blocks are intact", intact());
	check("after a fork: the pool is copy-on-write", mapping(blocks[0]) == 'p');
	struct timespec ts = { quiet_ms / 1000, (quiet_ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	for (int i = 0; i < 100; i++) {     /* the slow path moves the heap back */
		char *volatile p = malloc(100000);
		p[0] = 1;
		free(p);
	}
	check("once forks stopped: the pool is a shared file again", mapping(blocks[0]) == 's');
	check("once forks stopped: the blocks are intact", intact());
	fork_scribbler();
	check("after another fork: the parent's blocks are intact", intact());
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
