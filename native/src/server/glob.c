/*
 * glob.c -- Redis' key patterns
 *
 * Iterative with one backtrack point for the last '*' (so a pattern of many stars
 * costs O(m * n), never exponential time: patterns come from clients).
 */
#include "server/glob.h"

/* class -- match c against the class at p[0] == '['; *len gets the class's length; a
 * class missing its ']' takes the rest of the pattern */
static bool
class_match(const char *p, size_t m, unsigned char c, size_t *len)
{
	size_t i = 1;
	bool neg = i < m && p[i] == '^', hit = false;
	i += neg;
	for (bool first = true; i < m && (first || p[i] != ']'); first = false) {
		if (p[i] == '\\' && i + 1 < m) {
			hit |= (unsigned char)p[i + 1] == c;
			i += 2;
		} else if (i + 2 < m && p[i + 1] == '-' && p[i + 2] != ']') {
			unsigned char lo = (unsigned char)p[i], hi = (unsigned char)p[i + 2];
			if (lo > hi) {
				unsigned char t = lo;
				lo = hi;
				hi = t;
			}
			hit |= c >= lo && c <= hi;
			i += 3;
		} else {
			hit |= (unsigned char)p[i] == c;
			i++;
		}
	}
	*len = i < m ? i + 1 : m;
	return hit != neg;
}

bool
glob_match(const char *p, size_t m, const char *s, size_t n)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
	while (si < n) {
		size_t step = 1;
		bool ok = false;
		if (pi < m) {
			switch (p[pi]) {
			case '*':
				star = pi++;
				mark = si;
				continue;
			case '?':
				ok = true;
				break;
			case '[':
				ok = class_match(p + pi, m - pi, (unsigned char)s[si], &step);
				break;
			case '\\':
				if (pi + 1 < m) {
					ok = p[pi + 1] == s[si];
					step = 2;
					break;
				}
				__attribute__((fallthrough));  /* a trailing backslash is itself */
			default:
				ok = p[pi] == s[si];
			}
		}
		if (ok) {
			pi += step;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < m && p[pi] == '*')
		pi++;
	return pi == m;
}
