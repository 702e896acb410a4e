/*
 * errmsg.c -- thread-local error messages and small shared helpers
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/errmsg.h"
#include "common/util.h"
#include "pmalloc.h"

#define ERRMSG_MAX 256

static __thread char errmsg_buf[ERRMSG_MAX];

static void
errmsg_vformat(const char *fmt, va_list ap)
{
	vsnprintf(errmsg_buf, sizeof(errmsg_buf), fmt, ap);
}

int
errmsg_set(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	errmsg_vformat(fmt, ap);
	va_end(ap);
	errno = err;
	return err;
}

int
errmsg_set_sys(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	errmsg_vformat(fmt, ap);
	va_end(ap);
	size_t len = strlen(errmsg_buf);
	char sys[96];
	/* GNU strerror_r returns the message, possibly not in sys */
	const char *s = strerror_r(err, sys, sizeof(sys));
	snprintf(errmsg_buf + len, sizeof(errmsg_buf) - len, ": %s", s);
	errno = err;
	return err;
}

const char *
errmsg_get(void)
{
	return errmsg_buf;
}

API const char *
pmalloc_errormsg(void)
{
	return errmsg_buf;
}

uint64_t
util_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *
errmsg_version(const char *lib, unsigned major, unsigned minor, unsigned major_required,
		unsigned minor_required)
{
	if (major_required != major) {
		errmsg_set(EINVAL, "%s major version mismatch (need %u, found %u)", lib,
				major_required, major);
		return errmsg_get();
	}
	if (minor_required > minor) {
		errmsg_set(EINVAL, "%s minor version mismatch (need %u, found %u)", lib,
				minor_required, minor);
		return errmsg_get();
	}
	return NULL;
}
