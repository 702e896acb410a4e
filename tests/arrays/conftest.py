"""Fixtures of the NumPy handler tests (tests/arrays): a pool, and where an address lives."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

import pmalloc
from pmalloc._native import ffi, lib

np = pytest.importorskip("numpy")

MiB = 1 << 20


@pytest.fixture
def pool(pool_dir: str) -> Iterator[pmalloc.Pool]:
    with pmalloc.Pool(pool_dir, 256 * MiB) as p:
        yield p


def pool_of(a: object) -> object:
    """The vmem handle whose region holds the data of array a, or ffi.NULL."""
    base = a
    while getattr(base, "base", None) is not None and isinstance(base.base, np.ndarray):
        base = base.base
    return lib.pmalloc_vmem_of(ffi.cast("void *", base.ctypes.data))


def handle(pool: pmalloc.Pool) -> object:
    return pool._handle()
