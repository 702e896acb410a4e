/*
 * util.h -- small helpers shared by every module
 *
 * Glossary: PAGE = the allocator's page (4 KiB); API = marks a function exported
 * from libpmalloc.so (everything else is hidden).
 */
#ifndef PMALLOC_UTIL_H
#define PMALLOC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define API __attribute__((visibility("default")))

/* Thread state read on every malloc and free: initial-exec TLS (a fs-relative
 * load) in the libraries a program links or preloads; the default model in the
 * dlopen'ed Python module, where initial-exec may not be available. */
#ifdef PMALLOC_TLS_INITIAL_EXEC
#define TLS_HOT __attribute__((tls_model("initial-exec")))
#else
#define TLS_HOT
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define LG_PAGE 12
#define PAGE ((size_t)1 << LG_PAGE)
#define PAGE_MASK (PAGE - 1)

#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((uintptr_t)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((uintptr_t)(a) - 1))
#define IS_POW2(x) ((x) != 0 && (((x) & ((x) - 1)) == 0))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Monotonic milliseconds (coarse clock: cheap, for decay only). */
uint64_t util_now_ms(void);

#endif
