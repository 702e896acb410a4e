"""Owner lookup through cffi: pmalloc_vmem_of finds the pool of any byte of a block, and
no pool for foreign addresses or a deleted pool's; pmalloc_free frees into the owner.
"""
from __future__ import annotations

import errno
import mmap

from conftest import MiB, errno_text
from pmalloc._native import ffi, lib

from .helpers import SIZE_MAX, SMALL_MAX, addr_of, mapping_of


def owner(addr: int):
    return lib.pmalloc_vmem_of(ffi.cast("void *", addr))


def test_vmem_of_finds_the_pool_of_interior_pointers(make_vmem):
    a = make_vmem.create(64 * MiB)
    b = make_vmem.create(32 * MiB)
    problems = []
    blocks = {}
    for vmp, name in ((a, "A"), (b, "B")):
        ptrs = [lib.vmem_malloc(vmp, n) for n in (1, 100, 5000, SMALL_MAX, 20000, MiB, 5 * MiB)]
        ptrs.append(lib.vmem_aligned_alloc(vmp, MiB, 100))
        blocks[name] = ptrs
        for p in ptrs:
            u = lib.vmem_malloc_usable_size(vmp, p)
            for off in sorted({0, 1, u // 2, u - 1}):
                got = owner(addr_of(p) + off)
                if got != vmp:
                    problems.append(f"pmalloc_vmem_of(p + {off}) for a {u}-byte block of pool "
                                    f"{name}: expected {vmp}, saw {got}")
    foreign_buf = ffi.new("char[4096]")
    anon = mmap.mmap(-1, 4 * MiB)
    anon_buf = ffi.from_buffer(anon)
    foreign = {"NULL": 0, "1": 1, "a Python-heap buffer": addr_of(foreign_buf),
               "an unrelated mmap": addr_of(anon_buf),
               "the top of user space": (1 << 47) - 1, "a kernel address": 0xffff800000000000,
               "~0": SIZE_MAX}
    for what, addr in foreign.items():
        got = owner(addr)
        if got != ffi.NULL:
            problems.append(f"pmalloc_vmem_of({what} {addr:#x}): expected NULL, saw {got}")
    for vmp, name in ((a, "A"), (b, "B")):
        lo, hi = mapping_of(addr_of(blocks[name][0]))
        for addr in (lo - 1, hi):
            if owner(addr) == vmp:
                problems.append(f"pmalloc_vmem_of({addr:#x}) just outside pool {name}'s mapping "
                                f"[{lo:#x}, {hi:#x}): expected not {name}, saw {name}")
    ffi.release(anon_buf)
    anon.close()
    for vmp, name in ((a, "A"), (b, "B")):
        for p in blocks[name]:
            lib.vmem_free(vmp, p)
    # a deleted pool owns nothing any more
    gone = addr_of(lib.vmem_malloc(b, 1000))
    make_vmem.delete(b)
    if owner(gone) != ffi.NULL:
        problems.append(f"pmalloc_vmem_of({gone:#x}) after vmem_delete of its pool: expected "
                        f"NULL, saw {owner(gone)}")
    assert not problems, "\n".join(problems)


def test_pmalloc_free_finds_the_pool(make_vmem):
    a = make_vmem.create(32 * MiB)
    b = make_vmem.create(32 * MiB)
    for vmp in (a, b):
        for n in (100, 20000, 20 * MiB):
            p = lib.vmem_malloc(vmp, n)
            assert p != ffi.NULL
            assert lib.pmalloc_free(p) == 0, f"pmalloc_free(a {n}-byte block): expected 0"
        # the 20 MiB block was really freed: another fits
        p = lib.vmem_malloc(vmp, 20 * MiB)
        assert p != ffi.NULL, "after pmalloc_free of a 20 MiB block: expected another to fit"
        lib.vmem_free(vmp, p)
    buf = ffi.new("char[64]")
    ffi.errno = 0
    rc = lib.pmalloc_free(buf)
    err = ffi.errno
    assert (rc, err) == (-1, errno.EINVAL), (
        f"pmalloc_free(a foreign pointer): expected -1 with EINVAL, saw {rc} with "
        f"{errno_text(err)}")


def test_free_of_a_large_blocks_last_page_is_refused(make_vmem):
    """The page map names a large block on its first and last page: a free of the last
    page's address (not the block's start) must be refused, not cached as a block."""
    vmp = make_vmem.create(64 * MiB)
    for size in (20000, 40000, 65536):
        p = lib.vmem_malloc(vmp, size)
        u = lib.vmem_malloc_usable_size(vmp, p)
        last = ffi.cast("void *", addr_of(p) + (u - 4096))
        ffi.errno = 0
        lib.vmem_free(vmp, last)
        assert ffi.errno == errno.EINVAL, errno_text(ffi.errno)
        q = lib.vmem_malloc(vmp, size)
        assert addr_of(q) != addr_of(last), f"a {size}-byte block was handed out at the bad free"
        lib.vmem_free(vmp, q)
        lib.vmem_free(vmp, p)
    assert lib.vmem_check(vmp) == 1
