"""Pools in a caller's region (vmem_create_in_region) through cffi: every block inside it,
no file, the memory the caller's again after vmem_delete; bad regions are EINVAL.
"""
from __future__ import annotations

import errno
import mmap

import pytest

from conftest import MiB, VMEM_MIN_POOL, errno_text
from pmalloc._native import ffi, lib

from .helpers import SMALL_MAX, addr_of, errmsg, get_stats
from .model import Model


def test_create_in_region():
    size = 32 * MiB
    region = mmap.mmap(-1, size)
    buf = ffi.from_buffer(region)
    lo = addr_of(buf)
    vmp = ffi.NULL
    try:
        ffi.errno = 0
        vmp = lib.vmem_create_in_region(ffi.cast("void *", lo), size)
        assert vmp != ffi.NULL, (f"vmem_create_in_region({lo:#x}, {size}): expected a pool, "
                                 f"saw NULL, errno {errno_text(ffi.errno)}: {errmsg()}")
        model = Model(vmp, size, "region")
        for n in (1, 100, 5000, SMALL_MAX, 20000, MiB, 5 * MiB):
            model.malloc(n)
        model.calloc(10, 1000)
        model.aligned_alloc(MiB, 3000)
        outside = [f"p{b.id} [{b.addr:#x}, {b.addr + b.usable:#x})"
                   for b in model.blocks.values()
                   if not (lo <= b.addr and b.addr + b.usable <= lo + size)]
        assert not outside, f"expected every block inside [{lo:#x}, {lo + size:#x}), saw {outside}"
        st_ = get_stats(vmp)
        assert st_.size == size and st_.file_allocated == 0, (
            f"stats of a caller region: expected size {size} and no file, saw {st_.size} and "
            f"{st_.file_allocated}")
        model.check()
        model.free_all()
        model.check()
        lib.vmem_delete(vmp)
        vmp = ffi.NULL
        region[0:8] = b"reusable"       # the caller's memory is still the caller's
        assert region[0:8] == b"reusable"
    finally:
        if vmp != ffi.NULL:
            lib.vmem_delete(vmp)
        ffi.release(buf)
        region.close()


@pytest.mark.parametrize("what,offset,size", [
    ("a region below VMEM_MIN_POOL", 0, VMEM_MIN_POOL - 1),
    ("an address not page aligned", 8, VMEM_MIN_POOL),
    ("NULL", None, VMEM_MIN_POOL)])
def test_create_in_region_bad_arguments_are_einval(what, offset, size):
    region = mmap.mmap(-1, VMEM_MIN_POOL + 2 * MiB)
    buf = ffi.from_buffer(region)
    addr = 0 if offset is None else addr_of(buf) + offset
    try:
        ffi.errno = 0
        vmp = lib.vmem_create_in_region(ffi.cast("void *", addr), size)
        err = ffi.errno
        if vmp != ffi.NULL:
            lib.vmem_delete(vmp)
            pytest.fail(f"vmem_create_in_region({what}: {addr:#x}, {size}): expected NULL with "
                        f"EINVAL (libvmem: addr must be page aligned), saw a pool")
        assert err == errno.EINVAL, (
            f"vmem_create_in_region({what}): expected EINVAL, saw {errno_text(err)}")
    finally:
        ffi.release(buf)
        region.close()
