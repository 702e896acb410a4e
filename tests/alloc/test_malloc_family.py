"""The malloc family's semantics through cffi, at every size range: malloc(0), calloc's
overflow and its zeroing of reused and purged memory, aligned_alloc's arguments, realloc
(the prefix kept, in place, NULL and 0, a failure keeps the block), strdup and NULL.
"""
from __future__ import annotations

import errno

import pytest

from conftest import KiB, MiB, errno_text
from pmalloc._native import ffi, lib

from .helpers import (DIRTY, LARGE_MAX, SIZE_MAX, SMALL_MAX, ZEROS, addr_of, first_difference,
                      is_zero)
from .model import Model


# ---- odd arguments ------------------------------------------------------------------------------

def test_malloc_zero_gives_unique_pointers(vmem):
    ptrs = [lib.vmem_malloc(vmem, 0) for _ in range(64)]
    addrs = [addr_of(p) for p in ptrs]
    assert 0 not in addrs, "vmem_malloc(vmp, 0): expected a unique pointer, saw NULL"
    assert len(set(addrs)) == len(addrs), (
        f"64 x vmem_malloc(vmp, 0): expected 64 distinct pointers, saw {len(set(addrs))}")
    for p in ptrs:
        lib.vmem_free(vmem, p)
    assert lib.vmem_check(vmem) == 1


@pytest.mark.parametrize("nmemb,size", [
    (SIZE_MAX, 2), (2, SIZE_MAX), (1 << 32, 1 << 32), (SIZE_MAX // 2 + 1, 2),
    (3, SIZE_MAX // 3 + 1), (1 << 40, 1 << 30)])
def test_calloc_overflow_is_enomem(vmem, nmemb, size):
    ffi.errno = 0
    p = lib.vmem_calloc(vmem, nmemb, size)
    err = ffi.errno
    assert p == ffi.NULL, f"vmem_calloc(vmp, {nmemb}, {size}): expected NULL, saw {p}"
    assert err == errno.ENOMEM, (
        f"vmem_calloc(vmp, {nmemb}, {size}): expected errno ENOMEM, saw {errno_text(err)}")


@pytest.mark.parametrize("align", [0, 3, 6, 12, 24, 48, 100, 4097, (1 << 20) + 1,
                                   3 << 20, SIZE_MAX])
def test_aligned_alloc_non_power_of_two_is_einval(vmem, align):
    ffi.errno = 0
    p = lib.vmem_aligned_alloc(vmem, align, 64)
    err = ffi.errno
    assert p == ffi.NULL, f"vmem_aligned_alloc(vmp, {align}, 64): expected NULL, saw {p}"
    assert err == errno.EINVAL, (
        f"vmem_aligned_alloc(vmp, {align}, 64): expected errno EINVAL, saw {errno_text(err)}")


def test_aligned_alloc_every_power_of_two(vmem):
    model = Model(vmem, 64 * MiB, "aligned")
    for lg in range(0, 23):                 # 1 B .. 4 MiB
        for size in (1, 16, 100, 5000, 40000, 1 << lg, (1 << lg) + 1):
            model.aligned_alloc(1 << lg, size)
        model.free_all()
    model.check()


@pytest.mark.parametrize("align", [1 << 40, 1 << 62, 1 << 63])
def test_aligned_alloc_beyond_the_pool_is_enomem(vmem, align):
    ffi.errno = 0
    p = lib.vmem_aligned_alloc(vmem, align, 64)
    err = ffi.errno
    assert p == ffi.NULL, f"vmem_aligned_alloc(vmp, {align:#x}, 64): expected NULL, saw {p}"
    assert err == errno.ENOMEM, (
        f"vmem_aligned_alloc(vmp, {align:#x}, 64): expected ENOMEM, saw {errno_text(err)}")


# ---- calloc and dirty memory ----------------------------------------------------------------

@pytest.mark.parametrize("size", [16, 100, 1000, 8000, SMALL_MAX, 20000, 100_000, MiB,
                                  LARGE_MAX, 5 * MiB, 9 * MiB])
def test_calloc_zeroes_reused_dirty_memory(vmem, size):
    count = max(2, min(64, 24 * MiB // size))
    ptrs = [lib.vmem_malloc(vmem, size) for _ in range(count)]
    assert all(p != ffi.NULL for p in ptrs), f"vmem_malloc({size}) x {count}: NULL"
    dirty = {addr_of(p) for p in ptrs}
    for p in ptrs:
        ffi.memmove(p, DIRTY[:size], size)
    for p in reversed(ptrs):
        lib.vmem_free(vmem, p)
    reused = 0
    got = []
    for i in range(count):
        nmemb = 1 if i % 2 else 4
        q = lib.vmem_calloc(vmem, nmemb, size // nmemb)
        assert q != ffi.NULL, f"vmem_calloc({nmemb}, {size // nmemb}): expected memory, saw NULL"
        got.append(q)
        reused += addr_of(q) in dirty
        n = nmemb * (size // nmemb)
        if not is_zero(addr_of(q), n):
            at = first_difference(addr_of(q), ZEROS, n)
            pytest.fail(f"vmem_calloc(vmp, {nmemb}, {size // nmemb}) = {addr_of(q):#x} "
                        f"({'reused' if addr_of(q) in dirty else 'fresh'}): expected {n} zero "
                        f"bytes, saw {ffi.cast('unsigned char *', q)[at]:#04x} at byte {at}")
    for q in got:
        lib.vmem_free(vmem, q)
    print(f"{reused} of {count} calloc blocks reused dirty memory")
    assert reused > 0, (f"expected calloc({size}) to reuse some of the {count} blocks just "
                        f"freed, saw none reused (nothing tested)")


def test_calloc_zeroes_after_purge(vmem):
    size = MiB
    ptrs = [lib.vmem_malloc(vmem, size) for _ in range(16)]
    for p in ptrs:
        ffi.memmove(p, DIRTY[:size], size)
    for p in ptrs:
        lib.vmem_free(vmem, p)
    assert lib.pmalloc_vmem_purge(vmem) == 0
    got = [lib.vmem_calloc(vmem, 1, size) for _ in range(16)]
    bad = [addr_of(q) for q in got if q == ffi.NULL or not is_zero(addr_of(q), size)]
    for q in got:
        lib.vmem_free(vmem, q)
    assert not bad, f"calloc after a purge: expected zeroed blocks, saw {len(bad)} not zero"


# ---- realloc ------------------------------------------------------------------------------------

def test_realloc_through_every_range_keeps_the_prefix(vmem):
    model = Model(vmem, 64 * MiB, "realloc chain")
    b = model.malloc(1)
    for size in (1, 8, 24, 100, 1000, SMALL_MAX, SMALL_MAX + 1, 16 * KiB, 100_000,
                 LARGE_MAX, LARGE_MAX + 1, 9 * MiB, 5 * MiB, LARGE_MAX, MiB, 20000, SMALL_MAX,
                 500, 16, 1):
        b = model.realloc(b.id, size)
    model.check()
    model.free_all()


@pytest.mark.parametrize("size", [100, 3000, 100_000, MiB, 6 * MiB])
def test_realloc_in_place(vmem, size):
    p = lib.vmem_malloc(vmem, size)
    u = lib.vmem_malloc_usable_size(vmem, p)
    q = lib.vmem_realloc(vmem, p, u)
    assert q == p, f"vmem_realloc(p, {u}) within usable size {u}: expected p {p} kept, saw {q}"
    if size >= 100_000:
        r = lib.vmem_realloc(vmem, q, size // 2)
        assert r == q, (f"vmem_realloc(p, {size // 2}) shrinking a {size}-byte block: expected "
                        f"it in place at {q}, saw {r}")
        q = r
    lib.vmem_free(vmem, q)


def test_realloc_null_and_zero(vmem):
    p = lib.vmem_realloc(vmem, ffi.NULL, 200)
    assert p != ffi.NULL, "vmem_realloc(vmp, NULL, 200): expected memory as vmem_malloc gives"
    assert lib.vmem_malloc_usable_size(vmem, p) >= 200
    # size 0 with a pointer frees it (libvmem's vmem_realloc(3)); prove it by reuse
    big = 40 * MiB
    q = lib.vmem_malloc(vmem, big)
    assert q != ffi.NULL
    r = lib.vmem_realloc(vmem, q, 0)
    assert r == ffi.NULL, f"vmem_realloc(vmp, p, 0): expected NULL (freed), saw {r}"
    again = lib.vmem_malloc(vmem, big)
    assert again != ffi.NULL, (
        f"vmem_malloc({big}) after vmem_realloc(p, 0) of a block that size: expected memory "
        f"(the first was freed), saw NULL")
    lib.vmem_free(vmem, again)
    lib.vmem_free(vmem, p)


def test_realloc_failure_keeps_the_block(vmem):
    model = Model(vmem, 64 * MiB, "realloc failure")
    blocks = [model.malloc(n) for n in (100, 20000, 5 * MiB)]
    for b in blocks:
        for size in (SIZE_MAX, SIZE_MAX // 2, 1 << 48, 64 * MiB, 65 * MiB):
            ffi.errno = 0
            q = lib.vmem_realloc(vmem, b.ptr, size)
            err = ffi.errno
            assert q == ffi.NULL, f"vmem_realloc(p, {size:#x}): expected NULL, saw {q}"
            assert err == errno.ENOMEM, (
                f"vmem_realloc(p, {size:#x}): expected ENOMEM, saw {errno_text(err)}")
            model.verify(b, why=f" after vmem_realloc(p, {size:#x}) failed")
    model.check()
    model.free_all()


# ---- small things -----------------------------------------------------------------------------

def test_strdup_usable_size_and_null(vmem):
    s = lib.vmem_strdup(vmem, b"pmalloc")
    assert s != ffi.NULL and ffi.string(s) == b"pmalloc"
    assert lib.vmem_malloc_usable_size(vmem, s) >= 8
    lib.vmem_free(vmem, s)
    assert lib.vmem_malloc_usable_size(vmem, ffi.NULL) == 0
    lib.vmem_free(vmem, ffi.NULL)
    assert lib.vmem_check(vmem) == 1
