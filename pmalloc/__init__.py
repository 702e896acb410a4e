"""pmalloc: memory on persistent memory and file-backed pools, from Python and C."""
from __future__ import annotations

from importlib import resources

from pmalloc.errors import (
    CorruptPoolError,
    ForeignPointerError,
    InvalidArgumentError,
    InvalidBufferError,
    OutOfMemoryError,
    PmallocError,
    PmallocOSError,
    PmallocTypeError,
    PoolClosedError,
    PoolError,
    ReadOnlyError,
)
from pmalloc.vmem import Buffer, Pool
from pmalloc import numpy  # noqa: E402 - NumPy arrays in pools (NEP 49)
from pmalloc import kind, tiers  # noqa: E402 - memkind's kinds and tiers

kind.tiered = tiers.tiered  # pmalloc.kind.tiered({kind: ratio}); tiers.py builds on kind.py
from pmalloc import pmem, sim  # noqa: E402 - libpmem mappings and the crash simulator

__version__ = "0.1.0"


def get_include() -> str:
    """The folder of pmalloc's public C headers (libvmem.h, pmalloc.h)."""
    return str(resources.files("pmalloc") / "include")


def get_library() -> str:
    """The path of libpmalloc.so, the C library behind the headers."""
    return str(resources.files("pmalloc") / "libpmalloc.so")


def preload_path() -> str:
    """The path of libvmmalloc.so, for LD_PRELOAD: a program's whole heap in a pool file."""
    return str(resources.files("pmalloc") / "libvmmalloc.so")


__all__ = [
    "__version__",
    "get_include",
    "get_library",
    "preload_path",
    "pmem",
    "sim",
    "numpy",
    "kind",
    "tiers",
    "Pool",
    "Buffer",
    "PmallocError",
    "PoolError",
    "PoolClosedError",
    "ReadOnlyError",
    "CorruptPoolError",
    "InvalidBufferError",
    "ForeignPointerError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "PmallocOSError",
    "PmallocTypeError",
]
