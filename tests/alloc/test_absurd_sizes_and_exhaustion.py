"""Requests no pool can serve and a pool filled up, through cffi: NULL with ENOMEM, and
neither the pool's file nor the blocks handed out ever grow past the pool.
"""
from __future__ import annotations

import errno

import pytest

from conftest import KiB, MiB, VMEM_MIN_POOL, errno_text
from pmalloc._native import ffi, lib

from .helpers import PAGE, SIZE_MAX, addr_of, get_stats, mapped_file_stat, mapping_of


ABSURD = [SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - PAGE, SIZE_MAX // 2, SIZE_MAX // 2 + 1, 1 << 62,
          1 << 48, 64 * MiB, 64 * MiB + 1, 128 * MiB]


@pytest.mark.parametrize("size", ABSURD)
def test_absurd_sizes_are_enomem(vmem, size):
    calls = {
        "vmem_malloc": lambda: lib.vmem_malloc(vmem, size),
        "vmem_calloc(1, .)": lambda: lib.vmem_calloc(vmem, 1, size),
        "vmem_aligned_alloc(4096, .)": lambda: lib.vmem_aligned_alloc(vmem, 4096, size),
        "vmem_aligned_alloc(2 MiB, .)": lambda: lib.vmem_aligned_alloc(vmem, 2 * MiB, size),
        "vmem_realloc(NULL, .)": lambda: lib.vmem_realloc(vmem, ffi.NULL, size),
    }
    for name, call in calls.items():
        ffi.errno = 0
        p = call()
        err = ffi.errno
        assert p == ffi.NULL, f"{name} with size {size:#x}: expected NULL, saw {p}"
        assert err == errno.ENOMEM, (
            f"{name} with size {size:#x}: expected ENOMEM, saw {errno_text(err)}")
    st_ = get_stats(vmem)
    assert st_.size == 64 * MiB and st_.file_allocated <= 64 * MiB, (
        f"after absurd requests: expected size {64 * MiB} and file_allocated <= it, saw "
        f"{st_.size} and {st_.file_allocated}")
    p = lib.vmem_malloc(vmem, 1000)
    assert p != ffi.NULL, "an ordinary vmem_malloc after the absurd ones: expected memory"
    fst = mapped_file_stat(addr_of(p))
    if fst is not None:
        assert fst.st_size == 64 * MiB, (
            f"the pool file: expected {64 * MiB} bytes, saw {fst.st_size}")
    lib.vmem_free(vmem, p)


@pytest.mark.parametrize("block", [256 * KiB, 3000])
def test_filling_never_grows_past_the_pool(make_vmem, block):
    size = VMEM_MIN_POOL
    vmp = make_vmem.create(size)
    ptrs = []
    ffi.errno = 0
    while len(ptrs) < size // 16:
        p = lib.vmem_malloc(vmp, block)
        if p == ffi.NULL:
            break
        ptrs.append(p)
    err = ffi.errno
    total = sum(lib.vmem_malloc_usable_size(vmp, p) for p in ptrs)
    span = mapping_of(addr_of(ptrs[0]))
    fst = mapped_file_stat(addr_of(ptrs[0]))
    outside = [addr_of(p) for p in ptrs
               if not (span[0] <= addr_of(p) and addr_of(p) + block <= span[1])]
    for p in ptrs:
        lib.vmem_free(vmp, p)
    print(f"{len(ptrs)} blocks of {block} bytes, {total} usable bytes in a {size}-byte pool")
    assert err == errno.ENOMEM, f"the NULL that ended the fill: expected ENOMEM, saw {errno_text(err)}"
    assert total <= size, f"usable bytes handed out: expected <= the pool size {size}, saw {total}"
    assert total >= size // 2, f"usable bytes handed out: expected >= {size // 2}, saw {total}"
    assert not outside, (f"expected every block inside the pool's mapping "
                         f"[{span[0]:#x}, {span[1]:#x}), saw {len(outside)} outside")
    if fst is not None:
        assert fst.st_size == size, f"the pool file: expected {size} bytes, saw {fst.st_size}"
        assert fst.st_blocks * 512 <= size, (
            f"the pool file's blocks: expected <= {size} bytes, saw {fst.st_blocks * 512}")
