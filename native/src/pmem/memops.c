/*
 * memops.c -- copy and fill loops that flush what they store, non-temporal for large ones
 */
#include "pmem/memops.h"

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "pmem/cpu.h"
#include "pmem/flush.h"

/* ---- Non-temporal loops over whole lines (dst 64-byte aligned, n a multiple of 64) ---- */

/* One 64-byte line, loaded then streamed (shared by both directions). */
static inline void
nt_line_sse2(uint8_t *d, const uint8_t *s)
{
	__m128i a = _mm_loadu_si128((const __m128i_u *)(s + 0));
	__m128i b = _mm_loadu_si128((const __m128i_u *)(s + 16));
	__m128i c = _mm_loadu_si128((const __m128i_u *)(s + 32));
	__m128i e = _mm_loadu_si128((const __m128i_u *)(s + 48));
	_mm_stream_si128((__m128i *)(void *)(d + 0), a);
	_mm_stream_si128((__m128i *)(void *)(d + 16), b);
	_mm_stream_si128((__m128i *)(void *)(d + 32), c);
	_mm_stream_si128((__m128i *)(void *)(d + 48), e);
}

static void
nt_fwd_sse2(uint8_t *d, const uint8_t *s, size_t n)
{
	for (; n != 0; n -= 64, d += 64, s += 64)
		nt_line_sse2(d, s);
}

static void
nt_bwd_sse2(uint8_t *d, const uint8_t *s, size_t n)
{
	for (d += n, s += n; n != 0; n -= 64)
		nt_line_sse2(d -= 64, s -= 64);
}

static void
nt_set_sse2(uint8_t *d, int c, size_t n)
{
	__m128i v = _mm_set1_epi8((char)c);
	for (; n != 0; n -= 64, d += 64) {
		_mm_stream_si128((__m128i *)(void *)(d + 0), v);
		_mm_stream_si128((__m128i *)(void *)(d + 16), v);
		_mm_stream_si128((__m128i *)(void *)(d + 32), v);
		_mm_stream_si128((__m128i *)(void *)(d + 48), v);
	}
}

__attribute__((target("avx"))) static inline void
nt_line_avx(uint8_t *d, const uint8_t *s)
{
	__m256i a = _mm256_loadu_si256((const __m256i_u *)(s + 0));
	__m256i b = _mm256_loadu_si256((const __m256i_u *)(s + 32));
	_mm256_stream_si256((__m256i *)(void *)(d + 0), a);
	_mm256_stream_si256((__m256i *)(void *)(d + 32), b);
}

__attribute__((target("avx"))) static void
nt_fwd_avx(uint8_t *d, const uint8_t *s, size_t n)
{
	/* four lines per round while there are, then one */
	for (; n >= 256; n -= 256, d += 256, s += 256) {
		__m256i r[8];
		for (int i = 0; i < 8; i++)
			r[i] = _mm256_loadu_si256((const __m256i_u *)(s + 32 * i));
		for (int i = 0; i < 8; i++)
			_mm256_stream_si256((__m256i *)(void *)(d + 32 * i), r[i]);
	}
	for (; n != 0; n -= 64, d += 64, s += 64)
		nt_line_avx(d, s);
}

__attribute__((target("avx"))) static void
nt_bwd_avx(uint8_t *d, const uint8_t *s, size_t n)
{
	for (d += n, s += n; n != 0; n -= 64)
		nt_line_avx(d -= 64, s -= 64);
}

__attribute__((target("avx"))) static void
nt_set_avx(uint8_t *d, int c, size_t n)
{
	__m256i v = _mm256_set1_epi8((char)c);
	for (; n != 0; n -= 64, d += 64) {
		_mm256_stream_si256((__m256i *)(void *)(d + 0), v);
		_mm256_stream_si256((__m256i *)(void *)(d + 32), v);
	}
}

__attribute__((target("avx512f"))) static void
nt_fwd_avx512f(uint8_t *d, const uint8_t *s, size_t n)
{
	for (; n >= 256; n -= 256, d += 256, s += 256) {
		__m512i a = _mm512_loadu_si512((const void *)(s + 0));
		__m512i b = _mm512_loadu_si512((const void *)(s + 64));
		__m512i c = _mm512_loadu_si512((const void *)(s + 128));
		__m512i e = _mm512_loadu_si512((const void *)(s + 192));
		_mm512_stream_si512((void *)(d + 0), a);
		_mm512_stream_si512((void *)(d + 64), b);
		_mm512_stream_si512((void *)(d + 128), c);
		_mm512_stream_si512((void *)(d + 192), e);
	}
	for (; n != 0; n -= 64, d += 64, s += 64)
		_mm512_stream_si512((void *)d, _mm512_loadu_si512((const void *)s));
}

__attribute__((target("avx512f"))) static void
nt_bwd_avx512f(uint8_t *d, const uint8_t *s, size_t n)
{
	d += n;
	s += n;
	for (; n != 0; n -= 64) {
		d -= 64;
		s -= 64;
		_mm512_stream_si512((void *)d, _mm512_loadu_si512((const void *)s));
	}
}

__attribute__((target("avx512f"))) static void
nt_set_avx512f(uint8_t *d, int c, size_t n)
{
	__m512i v = _mm512_set1_epi8((char)c);
	for (; n != 0; n -= 64, d += 64)
		_mm512_stream_si512((void *)d, v);
}

/* ---- Strategy ------------------------------------------------------------ */

/* memops_nt -- whether a copy of len bytes stored `how` streams its body */
static int
memops_nt(size_t len, enum memops_how how)
{
	if (cpu_cfg.movnt == CPU_MOVNT_NONE || how == MEMOPS_TEMPORAL)
		return 0;
	if (how == MEMOPS_NONTEMPORAL)
		return 1;
	return len >= cpu_cfg.movnt_threshold;
}

/* memops_split -- head and body lengths of a destination range (tail = len - head - body) */
static void
memops_split(const uint8_t *d, size_t len, size_t *head, size_t *body)
{
	size_t h = (size_t)(-(uintptr_t)d & (FLUSH_LINE - 1));
	if (h > len)
		h = len;
	*head = h;
	*body = (len - h) & ~(FLUSH_LINE - 1);
}

/* memops_part -- memmove a head or tail and flush it */
static void
memops_part(uint8_t *d, const uint8_t *s, size_t n)
{
	if (n == 0)
		return;
	memmove(d, s, n);
	flush_range(d, n);
}

void
memops_move(void *dst, const void *src, size_t len, enum memops_how how)
{
	if (len == 0)
		return;
	if (!memops_nt(len, how)) {
		memmove(dst, src, len);
		flush_range(dst, len);
	} else {
		uint8_t *d = dst;
		const uint8_t *s = src;
		size_t head, body;
		memops_split(d, len, &head, &body);
		size_t tail = len - head - body;
		enum cpu_movnt m = cpu_cfg.movnt;
		if ((uintptr_t)d - (uintptr_t)s >= len) { /* forward is safe */
			memops_part(d, s, head);
			if (m == CPU_MOVNT_AVX512F)
				nt_fwd_avx512f(d + head, s + head, body);
			else if (m == CPU_MOVNT_AVX)
				nt_fwd_avx(d + head, s + head, body);
			else
				nt_fwd_sse2(d + head, s + head, body);
			memops_part(d + head + body, s + head + body, tail);
		} else {                                /* dst overlaps src from above */
			memops_part(d + head + body, s + head + body, tail);
			if (m == CPU_MOVNT_AVX512F)
				nt_bwd_avx512f(d + head, s + head, body);
			else if (m == CPU_MOVNT_AVX)
				nt_bwd_avx(d + head, s + head, body);
			else
				nt_bwd_sse2(d + head, s + head, body);
			memops_part(d, s, head);
		}
	}
}

void
memops_set(void *dst, int c, size_t len, enum memops_how how)
{
	if (len == 0)
		return;
	if (!memops_nt(len, how)) {
		memset(dst, c, len);
		flush_range(dst, len);
	} else {
		uint8_t *d = dst;
		size_t head, body;
		memops_split(d, len, &head, &body);
		size_t tail = len - head - body;
		if (head) {
			memset(d, c, head);
			flush_range(d, head);
		}
		if (cpu_cfg.movnt == CPU_MOVNT_AVX512F)
			nt_set_avx512f(d + head, c, body);
		else if (cpu_cfg.movnt == CPU_MOVNT_AVX)
			nt_set_avx(d + head, c, body);
		else
			nt_set_sse2(d + head, c, body);
		if (tail) {
			memset(d + head + body, c, tail);
			flush_range(d + head + body, tail);
		}
	}
}
