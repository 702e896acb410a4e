"""Helpers of the allocator tests through cffi (tests/alloc/test_*.py).

- The allocator's geometry, read from the library rather than copied from its headers:
  ``SMALL_MAX`` (the largest class served from slabs), ``LARGE_MAX`` (the largest class;
  beyond it a block is huge: page-rounded, no class) and ``CLASS_SIZES``, from the rows
  ``pmalloc_vmem_class_stats`` gives for a pool made once, at import, in anonymous memory;
  ``PAGE`` from the system (the library does not export its page size).
- Memory compared without copies (libc's memcmp through an ABI-mode FFI) against a random
  master buffer, zeros, or a dirty pattern; pool statistics and class rows; the mappings of
  /proc/self/maps.
"""
from __future__ import annotations

import mmap
import os
import random

import cffi

from conftest import MiB, VMEM_MIN_POOL, errno_text
from pmalloc._native import ffi, lib

SIZE_MAX = (1 << (8 * ffi.sizeof("size_t"))) - 1


def errmsg() -> str:
    return ffi.string(lib.pmalloc_errormsg()).decode(errors="replace")


def get_stats(vmp):
    st_ = ffi.new("struct pmalloc_stats *")
    assert lib.pmalloc_vmem_stats(vmp, st_) == 0, f"pmalloc_vmem_stats: -1, {errmsg()}"
    return st_


def class_rows(vmp) -> list:
    rows = ffi.new("struct pmalloc_class_stats[512]")
    n = lib.pmalloc_vmem_class_stats(vmp, rows, 512)
    assert 0 < n <= 512, f"pmalloc_vmem_class_stats: expected 1..512 classes, saw {n}"
    return [rows[i] for i in range(n)]


# ---- the geometry, as the library has it -----------------------------------------------------

def _class_table() -> list[tuple[int, int]]:
    """(size, slab_size) of every size class, from a pool made in anonymous memory."""
    region = mmap.mmap(-1, VMEM_MIN_POOL)
    buf = ffi.from_buffer(region)
    try:
        ffi.errno = 0
        vmp = lib.vmem_create_in_region(buf, VMEM_MIN_POOL)
        assert vmp != ffi.NULL, (f"vmem_create_in_region(anonymous memory, {VMEM_MIN_POOL}): "
                                 f"expected a pool, saw NULL, errno {errno_text(ffi.errno)}: "
                                 f"{errmsg()}")
        try:
            return [(int(r.size), int(r.slab_size)) for r in class_rows(vmp)]
        finally:
            lib.vmem_delete(vmp)
    finally:
        ffi.release(buf)
        region.close()


_CLASSES = _class_table()
CLASS_SIZES = [size for size, _ in _CLASSES]
SMALL_MAX = max(size for size, slab in _CLASSES if slab)    # the largest slab class
LARGE_MAX = max(CLASS_SIZES)     # the largest page-run class; beyond: huge
PAGE = os.sysconf("SC_PAGE_SIZE")
HUGE_TOP = 12 * MiB              # the largest block the random sequences ask for


# ---- memory comparison without copies: libc's memcmp through a second, ABI-mode FFI ---------

_abi = cffi.FFI()
_abi.cdef("int memcmp(const void *a, const void *b, size_t n);")
_libc = _abi.dlopen(None)

MASTER = random.Random(0x5eed).randbytes(HUGE_TOP + 8 * MiB)  # block patterns come from here
MASTER_SPAN = 4 * MiB                                         # pattern offsets lie below this
ZEROS = bytes(HUGE_TOP + 4 * MiB)
DIRTY = b"\xa5" * (HUGE_TOP + 4 * MiB)
_MASTER_BUF = _abi.from_buffer(MASTER)
_ZEROS_BUF = _abi.from_buffer(ZEROS)
MASTER_ADDR = int(_abi.cast("uintptr_t", _MASTER_BUF))
_ZEROS_ADDR = int(_abi.cast("uintptr_t", _ZEROS_BUF))


def addr_of(p) -> int:
    return int(ffi.cast("uintptr_t", p))


def same_bytes(addr: int, ref_addr: int, n: int) -> bool:
    if n == 0:
        return True
    return _libc.memcmp(_abi.cast("void *", addr), _abi.cast("void *", ref_addr), n) == 0


def first_difference(addr: int, ref: bytes, n: int) -> int:
    """Index of the first byte at addr differing from ref (only on the failure path)."""
    seen = ffi.buffer(ffi.cast("char *", addr), n)[:]
    for i in range(n):
        if seen[i] != ref[i]:
            return i
    return -1


def is_zero(addr: int, n: int) -> bool:
    return same_bytes(addr, _ZEROS_ADDR, n)


def _maps() -> list[tuple[int, int, str]]:
    """(start, end, device:inode) of each line of /proc/self/maps."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            out.append((lo, hi, f"{fields[3]}:{fields[4]}"))
    return out


def mapping_of(addr: int) -> tuple[int, int] | None:
    """The [start, end) of the mapping holding addr; adjacent pieces of the same file joined."""
    maps = _maps()
    for i, (lo, hi, ident) in enumerate(maps):
        if lo <= addr < hi:
            if ident.endswith(":0"):      # anonymous: this piece only
                return lo, hi
            j = i
            while j > 0 and maps[j - 1][1] == lo and maps[j - 1][2] == ident:
                j -= 1
                lo = maps[j][0]
            k = i
            while k + 1 < len(maps) and maps[k + 1][0] == hi and maps[k + 1][2] == ident:
                k += 1
                hi = maps[k][1]
            return lo, hi
    return None


def mapped_file_stat(addr: int) -> os.stat_result | None:
    """stat() of the file mapped at addr through /proc/self/map_files, if permitted."""
    for lo, hi, _ in _maps():
        if lo <= addr < hi:
            try:
                return os.stat(f"/proc/self/map_files/{lo:x}-{hi:x}")
            except OSError:
                return None
    return None
