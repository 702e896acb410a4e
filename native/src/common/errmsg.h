/*
 * errmsg.h -- the thread-local error message behind pmalloc_errormsg()
 *
 * Every failing public function sets errno and a message with errmsg_set.
 */
#ifndef PMALLOC_ERRMSG_H
#define PMALLOC_ERRMSG_H

/* Set errno to err and the thread's message from a printf format; returns err. */
int errmsg_set(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like errmsg_set, appending ": strerror(err)". */
int errmsg_set_sys(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A library's check_version: NULL when it (version major.minor) satisfies what the
 * caller requires, else the message why not (the thread's message, EINVAL). */
const char *errmsg_version(const char *lib, unsigned major, unsigned minor,
		unsigned major_required, unsigned minor_required);

/* The calling thread's message ("" when none). */
const char *errmsg_get(void);

#endif
