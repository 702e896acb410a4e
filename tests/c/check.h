/*
 * check.h -- the tiny test harness of the C programs (tests/alloc/c, tests/pmem/c, tests/shim)
 *
 * A check is a named block that sets `result`; a failing check prints where it
 * failed, what it expected and what it saw. EXPECT_* macros may be used inside a
 * CHECK_BODY (they clear `result`) and anywhere else through check_note_fail().
 * main() ends with `return check_summary();`: 0 when every check passed. Leave
 * a check early with `continue` (its tally still counts), never with `break`.
 *
 *   CHECK_BODY("malloc-small") {
 *       void *p = vmem_malloc(vmp, 10);
 *       EXPECT(p != NULL);
 *       EXPECT_EQ(0, (uintptr_t)p % 8);
 *   }
 *   CHECK("zero", vmem_malloc_usable_size(vmp, NULL) == 0);
 */
#ifndef PMALLOC_TEST_CHECK_H
#define PMALLOC_TEST_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static atomic_int check_passed_;
static atomic_int check_failed_;
static atomic_int check_loose_fails_;   /* EXPECT failures outside a CHECK_BODY */

static inline bool
check_begin_(const char *name)
{
	printf("[ RUN  ] %s\n", name);
	fflush(stdout);
	return false;
}

static inline bool
check_end_(const char *name, bool result, const char *file, int line)
{
	if (result) {
		atomic_fetch_add(&check_passed_, 1);
		printf("[  OK  ] %s\n", name);
	} else {
		atomic_fetch_add(&check_failed_, 1);
		printf("[FAILED] %s (%s:%d)\n", name, file, line);
	}
	fflush(stdout);
	return true;
}

/* A failure seen outside any check body (e.g. in a worker thread). */
static inline void
check_note_fail(void)
{
	atomic_fetch_add(&check_loose_fails_, 1);
}

#define CHECK_BODY(name) \
	for (bool check_done_ = check_begin_(name), result = true; !check_done_; \
	     check_done_ = check_end_(name, result, __FILE__, __LINE__))

#define CHECK(name, cond) \
	CHECK_BODY(name) { \
		result = (cond); \
		if (!result) \
			printf("  expected: %s\n  saw: false\n", #cond); \
	}

/* Inside a CHECK_BODY: report and clear result, then go on. */
#define EXPECT(cond) do { \
	if (!(cond)) { \
		printf("  %s:%d: expected: %s\n  saw: false\n", \
			__FILE__, __LINE__, #cond); \
		result = false; \
	} \
} while (0)

/* a OP b on unsigned values: EXPECT_LE(n, limit) reads "n <= limit". */
#define EXPECT_CMP_(a, op, b) do { \
	uintmax_t a_ = (uintmax_t)(a), b_ = (uintmax_t)(b); \
	if (!(a_ op b_)) { \
		printf("  %s:%d: expected: %s %s %s\n" \
			"  saw: %ju (0x%jx) vs %ju (0x%jx)\n", __FILE__, __LINE__, \
			#a, #op, #b, a_, a_, b_, b_); \
		result = false; \
	} \
} while (0)

/* EXPECT_EQ(expected, seen) */
#define EXPECT_EQ(exp, seen) EXPECT_CMP_(seen, ==, exp)
#define EXPECT_NE(a, b) EXPECT_CMP_(a, !=, b)
#define EXPECT_LE(a, b) EXPECT_CMP_(a, <=, b)
#define EXPECT_GE(a, b) EXPECT_CMP_(a, >=, b)

/* errno after a failed call: name both numbers and texts. */
#define EXPECT_ERRNO(exp, seen) do { \
	int e_ = (exp), s_ = (seen); \
	if (e_ != s_) { \
		printf("  %s:%d: expected errno %d (%s)\n  saw errno %d (%s)\n", \
			__FILE__, __LINE__, e_, strerror(e_), s_, strerror(s_)); \
		result = false; \
	} \
} while (0)

/* Print the tally; the program's exit status. */
static inline int
check_summary(void)
{
	int passed = atomic_load(&check_passed_);
	int failed = atomic_load(&check_failed_);
	int loose = atomic_load(&check_loose_fails_);
	printf("%d passed, %d failed", passed, failed);
	if (loose)
		printf(", %d failures outside checks", loose);
	printf("\n");
	fflush(stdout);
	return failed || loose ? 1 : 0;
}

#endif
