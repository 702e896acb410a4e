"""Persistent objects: a pool file of objects that survive crashes, and transactions over them.

    with pmalloc.obj.ObjPool.create("/dev/shm/app.obj", layout="app", size=64 << 20) as pool:
        root = pool.root(16)                       # a writable buffer, zeroed when first made
        counter = memoryview(root).cast("Q")
        with pool.transaction() as tx:             # commits at the end of the block,
            tx.add(root)                           # rolls back if it raises
            counter[0] += 1
            oid = tx.alloc(100, type_num=1)        # an Oid: storable as two integers
        with memoryview(pool.view(oid)) as v:
            v[:5] = b"hello"
        pool.free(oid)
        counter.release()                          # no memoryview may outlive the pool

The pool is libpmemobj's (libpmemobj.h): allocations and frees are failure-atomic, a
transaction is all-or-nothing after a crash or kill -9. ``tx.add(buf)`` snapshots any buffer
that lies in the pool (a view, a slice, a numpy array over one) before the block changes it.
Views stop working when the pool closes, and a pool does not close while a memoryview of one
of its views is alive (BufferError, as mmap does). Misuse raises; it never crashes.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Final, NamedTuple

from pmalloc import _args, _capi
from pmalloc._buffer import View
from pmalloc._handle import PoolHandle, opening
from pmalloc.errors import (CorruptPoolError, ForeignPointerError, InvalidArgumentError,
                            PoolClosedError)

__all__ = ["ObjPool", "Oid", "Transaction", "MIN_POOL_SIZE"]

#: The smallest object pool (PMEMOBJ_MIN_POOL, 8 MiB).
MIN_POOL_SIZE: Final = 8 << 20


class Oid(NamedTuple):
    """A persistent pointer: the pool's UUID (low half) and an offset in it. Store it in
    other objects as two integers or as :meth:`to_bytes`'s 16 bytes."""

    pool_uuid_lo: int
    off: int

    def to_bytes(self) -> bytes:
        return self.pool_uuid_lo.to_bytes(8, "little") + self.off.to_bytes(8, "little")

    @classmethod
    def from_bytes(cls, data: bytes) -> Oid:
        if len(data) != 16:
            raise InvalidArgumentError(f"an Oid is 16 bytes, not {len(data)}")
        return cls(int.from_bytes(data[:8], "little"), int.from_bytes(data[8:], "little"))

    def __bool__(self) -> bool:
        return self.off != 0


#: The null Oid (OID_NULL).
NULL: Final = Oid(0, 0)


class ObjPool(PoolHandle):
    """An open object pool. Made by :meth:`create`, :meth:`open` (and for tests, ``_map``)."""

    _nocopy_why = "it owns a C pool handle, which a copy would close twice"
    _what = "object pool"
    _release = staticmethod(_capi.obj_close)

    def __init__(self, handle: Any, path: str | None) -> None:
        super().__init__(handle, path)
        self._uuid, self._base, self._size = _capi.obj_ids(handle)
        self._views: weakref.WeakSet[View] = weakref.WeakSet()
        self._views_lock = threading.Lock()

    @classmethod
    def create(cls, path: _args.PathArg, layout: str | None = None,
               size: int = MIN_POOL_SIZE, mode: int = 0o666) -> ObjPool:
        """A new pool of ``size`` bytes (at least MIN_POOL_SIZE) at ``path``, which must not
        exist (FileExistsError); ``size=0`` formats the existing empty file at its size."""
        p = _args.path(path, "path")
        n = _args.size(size, "size")
        if n and n < MIN_POOL_SIZE:
            raise InvalidArgumentError(f"size {n} is below MIN_POOL_SIZE ({MIN_POOL_SIZE})")
        return cls(_capi.obj_create(p, layout, n, mode), p)

    @classmethod
    def open(cls, path: _args.PathArg, layout: str | None = None) -> ObjPool:
        """The pool at ``path`` (its layout must be ``layout`` unless None); CorruptPoolError
        saying why when the file is not a sound pool of that layout."""
        p = _args.path(path, "path")
        return cls(opening(_capi.obj_open, p, layout), p)

    @classmethod
    def _map(cls, address: int, size: int, layout: str | None, create: bool) -> ObjPool:
        """A pool over memory mapped elsewhere (the crash simulator's mapping)."""
        try:
            return cls(_capi.obj_map(address, size, layout, create), None)
        except InvalidArgumentError as exc:
            raise CorruptPoolError(str(exc)) from None

    # ---- views ----

    def _view(self, address: int, size: int) -> View:
        v = View(address, size)
        with self._views_lock:
            self._views.add(v)
        return v

    def close(self) -> None:
        """Close the pool; its views stop working. BufferError (and nothing closed) while a
        memoryview of one of them is alive. Safe twice."""
        with self._views_lock:
            views = list(self._views)
            busy = sum(v.exports for v in views if v.valid)
            if busy and not self.closed:
                raise BufferError(f"{busy} memoryview(s) of this pool's objects are alive")
            for v in views:
                v.invalidate()
        super().close()

    def _oid(self, oid: Oid | tuple[int, int]) -> Oid:
        """oid checked to be one of this pool's."""
        self._handle()
        o = Oid(*oid)
        if o.pool_uuid_lo != self._uuid:
            raise ForeignPointerError(f"{o} is not an object of this pool")
        return o

    # ---- the root, objects ----

    def root(self, size: int | None = None) -> View:
        """The root object as a writable buffer: made zeroed, or grown (contents kept, the
        rest zeroed), when ``size`` is more than it has; ``size=None``: as it is."""
        h = self._handle()
        n = 0 if size is None else _args.size(size, "size")
        _, off, have = _capi.obj_root(h, n)
        return self._view(self._base + off, have)

    @property
    def root_size(self) -> int:
        return _capi.obj_root_size(self._handle())

    def alloc(self, size: int, type_num: int = 0, zero: bool = False) -> Oid:
        """A new object of ``size`` bytes (atomically allocated; MemoryError when full)."""
        h = self._handle()
        return Oid(*_capi.obj_alloc(h, _args.size(size, "size"), type_num, zero))

    def free(self, oid: Oid | tuple[int, int]) -> None:
        """Free an object (atomically); InvalidArgumentError when it is not one (twice...)."""
        o = self._oid(oid)
        if o.off:
            _capi.obj_free(o.pool_uuid_lo, o.off)

    def view(self, oid: Oid | tuple[int, int]) -> View:
        """The object as a writable buffer of its usable size."""
        o = self._oid(oid)
        usable, _ = _capi.obj_info(o.pool_uuid_lo, o.off)
        if not usable:
            raise InvalidArgumentError(f"{o} is not an allocated object")
        return self._view(self._base + o.off, usable)

    def type_num(self, oid: Oid | tuple[int, int]) -> int:
        o = self._oid(oid)
        usable, t = _capi.obj_info(o.pool_uuid_lo, o.off)
        if not usable:
            raise InvalidArgumentError(f"{o} is not an allocated object")
        return t

    def objects(self, type_num: int | None = None) -> Iterator[Oid]:
        """Every object (of type ``type_num`` unless None), the root not among them."""
        for u, off in _capi.obj_objects(self._handle()):
            o = Oid(u, off)
            if type_num is None or _capi.obj_info(u, off)[1] == type_num:
                yield o

    def oid_of(self, buf: Any) -> Oid:
        """The Oid of the byte where ``buf`` (a buffer in this pool) starts."""
        address, _ = self._span(buf)
        return Oid(self._uuid, address - self._base)

    def _span(self, buf: Any) -> tuple[int, int]:
        """(address, length) of a buffer that lies in this pool."""
        self._handle()
        address, n = _capi.buffer_span(buf)
        if address < self._base or address + n > self._base + self._size:
            raise ForeignPointerError("the buffer does not lie in this pool")
        return address, n

    # ---- transactions ----

    def transaction(self) -> Transaction:
        """A context manager: ``with pool.transaction() as tx:`` (see Transaction)."""
        self._handle()
        return Transaction(self)


class Transaction:
    """The block of a ``with pool.transaction() as tx:``: committed when it ends, rolled back
    (every ``tx.add``'ed byte restored, ``tx.alloc``'ed objects gone, ``tx.free``'d ones kept)
    when it raises, and the exception goes on. Nested blocks join the outer transaction. One
    transaction at a time per thread."""

    def __init__(self, pool: ObjPool) -> None:
        self._pool = pool
        self._open = False

    def __enter__(self) -> Transaction:
        if not _capi.tx_can_begin():
            raise InvalidArgumentError("a transaction cannot begin in another's "
                                       "commit or abort handling")
        _capi.tx_begin(self._pool._handle())
        self._open = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._open = False
        if exc_type is not None:
            _capi.tx_abort_end()
            return
        _capi.tx_commit_end()

    def _check(self) -> None:
        if not self._open:
            raise InvalidArgumentError("use the transaction inside its with block")
        if self._pool.closed:
            raise PoolClosedError("the transaction's pool is closed")

    def add(self, buf: Any, offset: int = 0, size: int | None = None) -> None:
        """Snapshot ``buf`` (or ``size`` bytes of it from ``offset``) so an abort restores it;
        ``buf`` must lie in the pool (ForeignPointerError)."""
        self._check()
        address, n = self._pool._span(buf)
        offset = _args.size(offset, "offset")
        size = n - offset if size is None else _args.size(size, "size")
        if offset + size > n:
            raise InvalidArgumentError(f"[{offset}, +{size}) is past the buffer's {n} bytes")
        _capi.tx_add(address + offset, size)

    def alloc(self, size: int, type_num: int = 0, zero: bool = False) -> Oid:
        """A new object, allocated if the transaction commits."""
        self._check()
        return Oid(*_capi.tx_alloc(_args.size(size, "size"), type_num, zero))

    def free(self, oid: Oid | tuple[int, int]) -> None:
        """Free an object when the transaction commits."""
        self._check()
        o = self._pool._oid(oid)
        if o.off:
            _capi.tx_free(o.pool_uuid_lo, o.off)

