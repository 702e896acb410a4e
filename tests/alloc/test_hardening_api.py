"""Misuse of vmem.Pool and its buffers, from the hardening probe: each raises with a
message that names what was wrong, and never crashes the interpreter.

Findings covered: NUL bytes in a pool's directory (3), sizes the system cannot give (13),
free() after invalidate() (16). What spans the layers (copies and pickles, paths, ints,
OSErrors) is in tests/test_hardening_api.py.
"""
from __future__ import annotations

import os
import pathlib

from pmalloc import _args
from pmalloc.errors import InvalidBufferError, OutOfMemoryError, PmallocOSError
from pmalloc.vmem import Pool
from conftest import MiB, bad_argument, raised


# ---- 3. NUL bytes in paths --------------------------------------------------------------------

def test_nul_in_pool_dir(tmp_path: pathlib.Path) -> None:
    for d in (f"{tmp_path}\0x", os.fsencode(f"{tmp_path}\0x"), pathlib.Path(f"{tmp_path}\0x")):
        bad_argument(Pool, d, 16 * MiB, naming="null byte")


# ---- 13. sizes the system cannot give ---------------------------------------------------------

def test_representable_sizes_the_system_cannot_give() -> None:
    for size in (1 << 50, _args.FILE_SIZE_MAX):
        e = raised(Pool, None, size)
        assert isinstance(e, (OutOfMemoryError, PmallocOSError)), (
            f"Pool(size={size}): expected OutOfMemoryError or the system's OSError, saw {e!r}")


# ---- 16. free() after invalidate() ------------------------------------------------------------


def test_free_after_invalidate_says_detached(tmp_path: pathlib.Path) -> None:
    with Pool(tmp_path, 16 * MiB) as p:
        b = p.malloc(100)
        address = b.address
        b.invalidate()
        for call in (lambda: b.free(), lambda: p.usable_size(b), lambda: p.realloc(b, 10)):
            e = raised(call)
            assert isinstance(e, InvalidBufferError), repr(e)
            assert "invalidated (detached)" in str(e) and "double free" not in str(e), (
                f"expected 'invalidated (detached)', saw {str(e)!r}")
        assert p.stats()["allocated"] >= 100, "a detached buffer's memory stays allocated"
        p.free(address)                   # as documented: freed by its address
        assert p.stats()["allocated"] == 0
        freed = p.malloc(10)
        freed.free()
        e = raised(freed.free)
        assert isinstance(e, InvalidBufferError) and "double free" in str(e), repr(e)
