"""Kinds: memkind's way of choosing where a heap lives, on pmalloc's allocator.

Static kinds are process-wide: ``DEFAULT`` (any memory), ``REGULAR`` (NUMA nodes that are
neither high-bandwidth nor persistent memory), ``HUGETLB`` (2 MiB pages from vm.nr_hugepages),
``DAX_KMEM`` (persistent memory onlined as RAM) and ``HBW`` (high-bandwidth memory) with their
``_ALL``, ``_PREFERRED`` and ``_INTERLEAVE`` forms, ``INTERLEAVE``, ``HIGHEST_CAPACITY``.
A pmem kind is a heap on an unlinked file::

    with pmalloc.kind.create_pmem(max_size=1 << 30) as k:   # dir=None: the embedded default
        buf = k.malloc(4096)
        arr = k.zeros((1000, 1000))                          # NumPy data in the kind

A Kind is a :class:`pmalloc.Pool` (malloc, calloc, realloc, free, stats, check, purge,
empty/zeros/array, ``pmalloc.numpy.use(kind)``), with the same rules. A static kind whose
memory this machine lacks raises an OSError (ENODEV) that says what is missing on first use;
``available()`` asks first. ``detect(address)`` names the kind that allocated an address.
"""
from __future__ import annotations

import weakref
from typing import Any, Final

from pmalloc import _args, _capi
from pmalloc.errors import InvalidArgumentError, PmallocTypeError
from pmalloc.vmem import Pool, default_dir

__all__ = ["Kind", "PmemKind", "create_pmem", "detect", "STATIC_KINDS", "PMEM_MIN_SIZE"]

#: The smallest limited pmem kind (memkind's MEMKIND_PMEM_MIN_SIZE, 16 MiB); 0 means no limit.
PMEM_MIN_SIZE: Final = 16 << 20

#: The static kinds, by the name memkind.h gives them after ``MEMKIND_``.
STATIC_KINDS: Final = (
    "DEFAULT", "REGULAR", "HUGETLB", "INTERLEAVE",
    "DAX_KMEM", "DAX_KMEM_ALL", "DAX_KMEM_PREFERRED", "DAX_KMEM_INTERLEAVE",
    "HBW", "HBW_ALL", "HBW_PREFERRED", "HBW_INTERLEAVE", "HIGHEST_CAPACITY",
)

# every Kind by the address of its C kind, for detect()
_BY_ADDRESS: weakref.WeakValueDictionary[int, Kind] = weakref.WeakValueDictionary()


class Kind(Pool):
    """A kind's heap, used as a pool. Made by this module: the static kinds below and
    :func:`create_pmem`."""

    _nocopy_why = "it owns a C kind, which a copy would share"

    def __init__(self, *args: object, **kwargs: object) -> None:  # noqa: D107
        raise PmallocTypeError("kinds are pmalloc.kind.DEFAULT, ... and create_pmem()")

    @classmethod
    def _make(cls, kind: Any, name: str, dir: str) -> Kind:
        self = object.__new__(cls)
        Pool._init_state(self)
        self._kind = kind
        self._name = name
        self._kind_dir = dir
        _BY_ADDRESS[_capi.kind_address(kind)] = self
        return self

    @property
    def name(self) -> str:
        """memkind's name: MEMKIND_DEFAULT, ..., or "pmem" for a pmem kind."""
        return self._name

    def available(self) -> tuple[bool, str]:
        """(True, "") when this kind's memory exists here, else (False, what is missing)."""
        code, why = _capi.kind_check_available(self._kind)
        return code == 0, why

    @property
    def closed(self) -> bool:
        """False: a static kind lives as long as the process."""
        return False

    def close(self) -> None:
        """Nothing for a static kind (it lives as long as the process)."""

    def __repr__(self) -> str:
        return f"<pmalloc.kind.Kind {self._name}{' closed' if self.closed else ''}>"

    def _handle(self) -> Any:
        if self._vmp is None:
            if self._kind is None:
                return super()._handle()       # raises PoolClosedError
            self._adopt(_capi.kind_pool(self._kind), self._kind_dir, 0)
        return super()._handle()

    def _handler_name(self, ctx: int) -> str:
        return f"pmalloc kind {self._name} {ctx:#x}"

class PmemKind(Kind):
    """A kind over an unlinked file (memkind_create_pmem). ``close()`` (or leaving its
    ``with`` block) destroys it and everything allocated from it."""

    @property
    def closed(self) -> bool:
        return self._kind is None

    @property
    def size(self) -> int:
        """The limit given at creation, 0 for none (as much as the file system holds)."""
        return self._max_size

    def close(self) -> None:
        """Destroy the kind and everything in it; safe twice. BufferError (nothing
        changed) while a buffer is exported or NumPy arrays made in it are alive."""
        Pool.close(self)

    def _release(self, vmp: Any) -> None:
        kind, self._kind = self._kind, None
        _capi.kind_destroy(kind)


def create_pmem(dir: _args.PathArg | None = None, max_size: int = 0,
                policy: str = "default") -> PmemKind:
    """A pmem kind in ``dir`` (None: the embedded default directory, as Pool's) holding up to
    ``max_size`` bytes (0: as much as the file system has; else at least PMEM_MIN_SIZE).
    ``policy``: "default" (free pages go back after the decay time) or "conservative" (at
    once). Errors as Pool's: FileNotFoundError, NotADirectoryError, PermissionError,
    InvalidArgumentError, OutOfMemoryError."""
    if policy not in ("default", "conservative"):
        raise InvalidArgumentError(f"policy must be 'default' or 'conservative', not {policy!r}")
    size = _args.size(max_size, "max_size")
    if size and size < PMEM_MIN_SIZE:
        raise InvalidArgumentError(
            f"max_size {size} is below {PMEM_MIN_SIZE} (PMEM_MIN_SIZE); 0 means no limit")
    path = _args.path(default_dir() if dir is None else dir, "dir")
    kind = _capi.kind_create_pmem(path, size, policy == "conservative")
    try:
        k = PmemKind._make(kind, "pmem", path)
        k._max_size = size
        k._adopt(_capi.kind_pool(kind), path, size)
    except BaseException:
        _capi.kind_destroy(kind)
        raise
    return k


def detect(address: int) -> Kind | None:
    """The Kind that allocated the memory at ``address`` (any byte of a block), or None."""
    found = _capi.kind_detect(_args.size(address, "address"))
    return _BY_ADDRESS.get(found) if found else None


def _static(name: str) -> Kind:
    return Kind._make(_capi.kind_static(name), "MEMKIND_" + name, "")


DEFAULT: Final = _static("DEFAULT")
REGULAR: Final = _static("REGULAR")
HUGETLB: Final = _static("HUGETLB")
INTERLEAVE: Final = _static("INTERLEAVE")
DAX_KMEM: Final = _static("DAX_KMEM")
DAX_KMEM_ALL: Final = _static("DAX_KMEM_ALL")
DAX_KMEM_PREFERRED: Final = _static("DAX_KMEM_PREFERRED")
DAX_KMEM_INTERLEAVE: Final = _static("DAX_KMEM_INTERLEAVE")
HBW: Final = _static("HBW")
HBW_ALL: Final = _static("HBW_ALL")
HBW_PREFERRED: Final = _static("HBW_PREFERRED")
HBW_INTERLEAVE: Final = _static("HBW_INTERLEAVE")
HIGHEST_CAPACITY: Final = _static("HIGHEST_CAPACITY")
