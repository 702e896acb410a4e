"""pmalloc: memory on persistent memory and file-backed pools, from Python and C."""
from __future__ import annotations

from importlib import resources

__version__ = "0.1.0"


def get_include() -> str:
    """The folder of pmalloc's public C headers (libvmem.h, pmalloc.h)."""
    return str(resources.files("pmalloc") / "include")


def get_library() -> str:
    """The path of libpmalloc.so, the C library behind the headers."""
    return str(resources.files("pmalloc") / "libpmalloc.so")


__all__ = ["__version__", "get_include", "get_library"]
