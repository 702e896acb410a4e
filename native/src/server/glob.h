/*
 * glob.h -- Redis' key patterns: * ? [abc] [^a] [a-z] and \x
 */
#ifndef PMALLOC_SERVER_GLOB_H
#define PMALLOC_SERVER_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s (n bytes) matches pattern p (m bytes). */
bool glob_match(const char *p, size_t m, const char *s, size_t n);

#endif
