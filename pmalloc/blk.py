"""Block pools: equal-sized blocks in a pool file, each write atomic (libpmemblk).

    with pmalloc.blk.BlockPool.create("/dev/shm/app.blk", bsize=4096, size=64 << 20) as pool:
        pool[3] = b"x" * 4096            # survives a crash whole or not at all
        data = pool[3]                    # bytes; never-written blocks read as zeros
        pool.set_zero(3); pool.set_error(4)   # block 4 raises OSError(EIO) until written

A write is power-fail atomic (a BTT-style translation table); threads may read and write
at once. A file that is not a valid block pool raises CorruptPoolError with the reason.
"""
from __future__ import annotations

import operator
from typing import Any, Final

from pmalloc import _args, _capi
from pmalloc._handle import PoolHandle, opening
from pmalloc.errors import CorruptPoolError, InvalidArgumentError

__all__ = ["BlockPool", "MIN_POOL_SIZE", "MIN_BLOCK_SIZE"]

#: The smallest block pool (PMEMBLK_MIN_POOL: 16 MiB + 8 KiB) and block (512 bytes).
MIN_POOL_SIZE: Final = (16 << 20) + (8 << 10)
MIN_BLOCK_SIZE: Final = 512


class BlockPool(PoolHandle):
    """An open block pool. Made by :meth:`create` and :meth:`open` (and for tests, ``_map``)."""

    _nocopy_why = "it owns a C block pool handle, which a copy would close twice"
    _what = "block pool"
    _release = staticmethod(_capi.blk_close)

    def __init__(self, handle: Any, path: str | None) -> None:
        super().__init__(handle, path)
        self._bsize, self._nblock = _capi.blk_geometry(handle)

    @classmethod
    def create(cls, path: _args.PathArg, bsize: int, size: int, mode: int = 0o666) -> BlockPool:
        """A new pool of ``bsize``-byte blocks (>= 512) and ``size`` bytes (>= MIN_POOL_SIZE;
        0: the existing file, at its size) at ``path`` (FileExistsError if it exists)."""
        p = _args.path(path, "path")
        b, n = _args.size(bsize, "bsize"), _args.size(size, "size")
        if b < MIN_BLOCK_SIZE:
            raise InvalidArgumentError(f"bsize {b} is below {MIN_BLOCK_SIZE}")
        if n and n < MIN_POOL_SIZE:
            raise InvalidArgumentError(f"size {n} is below MIN_POOL_SIZE ({MIN_POOL_SIZE})")
        return cls(_capi.blk_create(p, b, n, mode), p)

    @classmethod
    def open(cls, path: _args.PathArg, bsize: int = 0) -> BlockPool:
        """The pool at ``path`` (``bsize`` 0: whatever its blocks are); CorruptPoolError with
        the reason if it is not a valid block pool of that block size."""
        p = _args.path(path, "path")
        return cls(opening(_capi.blk_open, p, _args.size(bsize, "bsize")), p)

    @staticmethod
    def check(path: _args.PathArg, bsize: int = 0) -> tuple[bool, str]:
        """(True, "") if the file is a consistent block pool (every data block mapped or
        free exactly once), else (False, what is wrong)."""
        ok, why = _capi.blk_check(_args.path(path, "path"), _args.size(bsize, "bsize"))
        return ok == 1, why

    @classmethod
    def _map(cls, address: int, size: int, bsize: int, create: bool) -> BlockPool:
        """A pool over memory mapped elsewhere (the crash simulator's mapping)."""
        try:
            return cls(_capi.blk_map(address, size, bsize, create), None)
        except InvalidArgumentError as exc:
            raise CorruptPoolError(str(exc)) from None

    def consistent(self) -> tuple[bool, str]:
        """The full map walk of :meth:`check`, on this open pool."""
        ok, why = _capi.blk_check_open(self._handle())
        return ok == 1, why

    def _index(self, i: Any) -> int:
        n = operator.index(i)
        if n < 0:
            n += self._nblock
        if not 0 <= n < self._nblock:
            raise IndexError(f"block {i} of a pool of {self._nblock}")
        return n

    @property
    def bsize(self) -> int:
        """Bytes per block."""
        return self._bsize

    def __len__(self) -> int:
        return self._nblock

    def read_into(self, i: int, buf: Any) -> None:
        """Read block ``i`` into a writable buffer of at least ``bsize`` bytes."""
        with memoryview(buf) as view:
            if view.nbytes < self._bsize:
                raise InvalidArgumentError(f"a buffer of {view.nbytes} bytes; blocks are "
                                           f"{self._bsize}")
        _capi.blk_read_into(self._handle(), self._index(i), buf)

    def __getitem__(self, i: int) -> bytes:
        buf = bytearray(self._bsize)
        self.read_into(i, buf)
        return bytes(buf)

    def __setitem__(self, i: int, data: Any) -> None:
        with memoryview(data) as view:
            if view.nbytes != self._bsize:
                raise InvalidArgumentError(f"{view.nbytes} bytes for a {self._bsize}-byte "
                                           "block")
        _capi.blk_write(self._handle(), self._index(i), data)

    def set_zero(self, i: int) -> None:
        """Block ``i`` reads as zeros from now on."""
        _capi.blk_set_zero(self._handle(), self._index(i))

    def set_error(self, i: int) -> None:
        """Reads of block ``i`` raise OSError(EIO) until it is written."""
        _capi.blk_set_error(self._handle(), self._index(i))

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._nblock} x {self._bsize} B"
        return f"<pmalloc.blk.BlockPool {self._path or 'mapping'} {state}>"
