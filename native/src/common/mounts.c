/*
 * mounts.c -- DAX mount points from /proc/mounts, without malloc or stdio
 */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "common/mounts.h"
#include "common/util.h"
#include "pmalloc.h"

#define LINE_MAX_BYTES (2 * PATH_MAX)

/* field -- the n-th space-separated field of line (modified in place), or NULL */
static char *
field(char *line, unsigned n)
{
	char *p = line;
	for (unsigned i = 0;; i++) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return NULL;
		char *start = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (i == n) {
			*p = '\0';
			return start;
		}
	}
}

/* unescape -- /proc/mounts writes a space as \040 (octal), in place */
static void
unescape(char *s)
{
	char *out = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7'
				&& s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* has_dax -- the comma-separated options turn DAX on for every file */
static bool
has_dax(const char *opts)
{
	size_t n = strlen(opts);
	for (size_t i = 0; i < n;) {
		size_t len = strcspn(opts + i, ",");
		if ((len == 3 && !strncmp(opts + i, "dax", 3))
				|| (len == 10 && !strncmp(opts + i, "dax=always", 10)))
			return true;
		i += len + 1;
	}
	return false;
}

/* line_dax -- one line of the table: fn's answer for a DAX mount, else false */
static bool
line_dax(char *line, bool (*fn)(const char *, void *), void *arg)
{
	char copy[LINE_MAX_BYTES];
	strcpy(copy, line);
	char *opts = field(copy, 3);
	if (!opts || !has_dax(opts))
		return false;
	char *path = field(line, 1);
	unescape(path);
	return fn(path, arg);
}

bool
mounts_each_dax(const char *table, bool (*fn)(const char *path, void *arg), void *arg)
{
	int fd = open(table, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char line[LINE_MAX_BYTES], buf[4096];
	size_t len = 0;
	bool skip = false, found = false;   /* skip: the rest of a line too long */
	ssize_t n;
	while (!found && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n && !found; i++) {
			if (buf[i] != '\n') {
				if (len + 1 < sizeof(line))
					line[len++] = buf[i];
				else
					skip = true;
				continue;
			}
			line[len] = '\0';
			found = !skip && line_dax(line, fn, arg);
			len = 0;
			skip = false;
		}
	}
	if (!found && len && !skip) {
		line[len] = '\0';
		found = line_dax(line, fn, arg);
	}
	close(fd);
	return found;
}

struct mounts_list {
	char *buf;
	size_t len, used;    /* used may pass len: the size needed */
	bool full;           /* a path did not fit: write no more */
};

static bool
list_add(const char *path, void *arg)
{
	struct mounts_list *l = arg;
	size_t n = strlen(path) + 1;
	l->full = l->full || l->used + n >= l->len;
	if (!l->full) {
		memcpy(l->buf + l->used, path, n - 1);
		l->buf[l->used + n - 1] = '\n';
		l->buf[l->used + n] = '\0';
	}
	l->used += n;
	return false;
}

API size_t
pmalloc_dax_mounts(const char *table, char *buf, size_t len)
{
	struct mounts_list l = { buf, len, 0, false };
	if (len)
		buf[0] = '\0';
	mounts_each_dax(table ? table : "/proc/mounts", list_add, &l);
	return l.used;
}
