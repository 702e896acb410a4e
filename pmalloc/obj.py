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

``pool.array(shape, dtype)`` is a numpy array in an object of its own, with its shape and
dtype stored beside it (a :class:`PersistentArray`); ``pool.array_at(arr.oid)`` gives it
back after a reopen. Arrays hold their memory as memoryviews do: the pool does not close,
nor free their object, while they live.
"""
from __future__ import annotations

import ast
import operator
import struct
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Final, NamedTuple, SupportsIndex, Union

import numpy as np
from numpy.lib import format as _npformat

from pmalloc import _args, _capi, _tx
from pmalloc._buffer import View
from pmalloc._handle import PoolHandle, opening
from pmalloc.errors import (CorruptPoolError, ForeignPointerError, InvalidArgumentError,
                            PmallocTypeError, PoolClosedError, error_from_errno)

__all__ = ["ObjPool", "Oid", "Transaction", "PersistentArray", "MIN_POOL_SIZE"]

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


# ---- persistent numpy arrays ----
#
# An array is one object: a header, then its data. The header, little-endian:
#
#   [0, 32)   magic (8 bytes), version (u32), ndim (u32), data offset (u64, from the object's
#             start), descr length (u32), reserved (u32, 0)
#   [32, +8*ndim)         the shape, one u64 per dimension
#   then descr length     the dtype's description as Python literal text (UTF-8): numpy's
#                         ``.npy`` descr (numpy's format.dtype_to_descr), which carries byte
#                         order, structured fields, their offsets and the itemsize
#   zeros up to the data offset, which puts the data at an address aligned to
#   max(64, dtype.alignment); the data: C order, shape product x itemsize bytes.
#
# The header is written inside the transaction that allocates the object, so after a crash
# the object either does not exist or is a whole array.

_ARRAY_MAGIC: Final = b"PMARRAY\0"
_ARRAY_VERSION: Final = 1
_ARRAY_HEAD: Final = struct.Struct("<8sIIQII")
#: At most this many dimensions (numpy 1.x's NPY_MAXDIMS: pools stay readable by it).
ARRAY_MAX_NDIM: Final = 32
_ARRAY_MAX_DESCR: Final = 1 << 20
_ARRAY_ALIGN: Final = 64
_INTP_MAX: Final = int(np.iinfo(np.intp).max)

ShapeArg = Union[SupportsIndex, Sequence[SupportsIndex]]


def _array_shape(shape: ShapeArg) -> tuple[int, ...]:
    """shape (an int or a sequence of ints, as numpy takes it) as a tuple of sizes."""
    try:
        dims: Sequence[SupportsIndex] = (operator.index(shape),)  # type: ignore[arg-type]
    except TypeError:
        if not isinstance(shape, Iterable):
            raise PmallocTypeError(f"shape must be an int or a sequence of ints, not "
                                   f"{type(shape).__name__}") from None
        dims = tuple(shape)
    return tuple(_args.size(d, "a dimension of shape") for d in dims)


def _array_dtype(dtype: Any, shape: tuple[int, ...]) -> tuple[np.dtype[Any], tuple[int, ...],
                                                              bytes]:
    """(dtype, shape, descr text) of a new array: a subarray dtype's dimensions moved into the
    shape, as numpy does; refused (PmallocTypeError) unless the dtype is plain data whose
    description reads back as the same dtype."""
    dt = np.dtype(dtype)
    while dt.subdtype is not None:
        dt, inner = dt.subdtype
        shape += inner
    if dt.hasobject:
        raise PmallocTypeError(f"dtype {dt} holds Python objects (references), which cannot "
                               "persist; use plain numbers, bytes or structures of them")
    if dt.itemsize == 0:
        raise PmallocTypeError(f"dtype {dt} has no size (give S, U or V a length)")
    descr = repr(_npformat.dtype_to_descr(dt))
    if _descr_dtype(descr) != dt:
        raise PmallocTypeError(f"dtype {dt} does not read back from its description {descr}")
    if len(shape) > ARRAY_MAX_NDIM:
        raise InvalidArgumentError(f"{len(shape)} dimensions; at most {ARRAY_MAX_NDIM}")
    return dt, shape, descr.encode()


def _nbytes(dtype: np.dtype[Any], shape: tuple[int, ...]) -> int:
    n = dtype.itemsize
    for d in shape:
        n *= d
    return n


def _descr_dtype(text: str) -> np.dtype[Any] | None:
    """The dtype a stored description names, None when it names none (a literal only: this
    reads pool contents, never code)."""
    try:
        return np.dtype(_npformat.descr_to_dtype(ast.literal_eval(text)))
    except Exception:  # noqa: BLE001 - any text at all may be stored there
        return None


def _extent(a: np.ndarray[Any, Any]) -> tuple[int, int]:
    """[first byte, past the last byte) of the memory a's elements span."""
    lo = hi = int(a.__array_interface__["data"][0])
    if a.size == 0:
        return lo, hi
    for n, step in zip(a.shape, a.strides):
        if step < 0:
            lo += (n - 1) * step
        else:
            hi += (n - 1) * step
    return lo, hi + a.itemsize


class _ArrayView(View):
    """The view of an array's object that the array's memory is exported from: at the end
    of the chain of bases of the array and of every view of it (numpy collapses that chain
    past subclass instances, so the array itself may not be on it)."""

    __slots__ = ("oid", "pool", "lo", "hi")
    oid: Oid
    pool: ObjPool     # the array keeps its pool (through this view) from being collected
    lo: int           # [lo, hi): the array's data
    hi: int


def _exporter(buf: Any) -> _ArrayView | None:
    """The _ArrayView at the end of ``buf``'s chain of bases (through arrays and
    memoryviews), None when the chain ends elsewhere: in new memory, for a result of numpy's
    indexing or arithmetic."""
    obj = buf
    for _ in range(64):
        if isinstance(obj, np.ndarray):
            obj = obj.base
        elif isinstance(obj, memoryview):
            try:
                obj = obj.obj
            except ValueError:  # released
                return None
        else:
            break
    return obj if isinstance(obj, _ArrayView) and obj.valid else None


def _array_view(buf: Any) -> _ArrayView | None:
    """The _ArrayView of the array whose data ``buf`` (an array, memoryview, or a view of
    one) lies in; None otherwise (also for as_strided views reaching past it)."""
    obj = _exporter(buf)
    if obj is None:
        return None
    try:
        lo, hi = _extent(buf if isinstance(buf, np.ndarray) else np.asarray(buf))
    except (TypeError, ValueError):  # a memoryview numpy cannot read
        return None
    return obj if obj.lo <= lo and hi <= obj.hi else None


class PersistentArray(np.ndarray):  # type: ignore[type-arg]
    """A numpy array whose data lives in an object of an :class:`ObjPool`: made by
    :meth:`ObjPool.array`, found again by :meth:`ObjPool.array_at`. Slices and other views
    stay persistent arrays with the same :attr:`oid`. Results of arithmetic and reductions
    are plain ndarrays (or scalars), and so is an unpickled array; other copies
    (``.copy()``, fancy indexing) keep the class but have no Oid (ForeignPointerError)."""

    def __array_wrap__(self, arr: Any, context: Any = None, return_scalar: bool = False) -> Any:
        arr = super().__array_wrap__(arr, context)
        if arr is self or not isinstance(arr, PersistentArray) or _exporter(arr):
            return arr
        return arr[()] if return_scalar or arr.shape == () else arr.view(np.ndarray)

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        return self.view(np.ndarray).__reduce_ex__(protocol)

    @property
    def oid(self) -> Oid:
        """The Oid of the pool object that holds this array's data (and header)."""
        v = _array_view(self)
        if v is None:
            raise ForeignPointerError("this array's data is not in a pool object (a copy)")
        return v.oid


def _type_num(value: int) -> int:
    return _args.size(value, "type_num", (1 << 64) - 1)


_tx.bind(*_capi.tx_hot_path(), error_from_errno, ForeignPointerError)


class ObjPool(PoolHandle):
    """An open object pool. Made by :meth:`create`, :meth:`open` (and for tests, ``_map``)."""

    _nocopy_why = "it owns a C pool handle, which a copy would close twice"
    _what = "object pool"
    _release = staticmethod(_capi.obj_close)
    _VIEWS_PRUNE = 1024

    def __init__(self, handle: Any, path: str | None) -> None:
        super().__init__(handle, path)
        self._uuid, self._base, self._size = _capi.obj_ids(handle)
        self._pop = _capi.handle_address(handle)
        # the views made, by address (weak references), so that free finds an object's
        # views without a scan; addresses whose views all died are dropped now and then
        self._views: dict[int, list[weakref.ref[View]]] = {}
        self._views_prune = self._VIEWS_PRUNE
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
        return cls(_capi.obj_create(p, _args.layout(layout), n, mode), p)

    @classmethod
    def open(cls, path: _args.PathArg, layout: str | None = None) -> ObjPool:
        """The pool at ``path`` (its layout must be ``layout`` unless None); CorruptPoolError
        saying why when the file is not a sound pool of that layout."""
        p = _args.path(path, "path")
        return cls(opening(_capi.obj_open, p, _args.layout(layout)), p)

    @classmethod
    def _map(cls, address: int, size: int, layout: str | None, create: bool) -> ObjPool:
        """A pool over memory mapped elsewhere (the crash simulator's mapping)."""
        try:
            return cls(_capi.obj_map(address, size, _args.layout(layout), create), None)
        except InvalidArgumentError as exc:
            raise CorruptPoolError(str(exc)) from None

    # ---- views ----

    def _view(self, address: int, size: int, kind: type[View] = View) -> View:
        v = kind(address, size)
        ref = weakref.ref(v)
        with self._views_lock:
            refs = self._views.get(address)
            if refs is not None:
                refs[:] = [r for r in refs if r() is not None]
                refs.append(ref)
                return v
            if len(self._views) >= self._views_prune:
                for a in [a for a, rs in self._views.items() if not self._live(rs)]:
                    del self._views[a]
                self._views_prune = max(self._VIEWS_PRUNE, 2 * len(self._views))
            self._views[address] = [ref]
        return v

    @staticmethod
    def _live(refs: list[weakref.ref[View]]) -> list[View]:
        return [v for r in refs if (v := r()) is not None and v.valid]

    def _retire_views(self, address: int, what: str) -> list[tuple[View, int]]:
        """Invalidate the views of the object at address, which is going away (freed, or the
        root moving): BufferError, and none invalidated, while one has a live memoryview or
        array. Caller holds _views_lock; returns (view, size) pairs for _restore_views."""
        views = self._live(self._views.get(address, []))
        busy = sum(v.exports for v in views)
        if busy:
            raise BufferError(f"cannot {what}: {busy} memoryview(s) or array(s) of it are "
                              "alive; release them first")
        done: list[tuple[View, int]] = []
        try:
            for v in views:
                size = v.size
                v.invalidate()  # BufferError if another thread exported it meanwhile
                done.append((v, size))
        except BufferError:
            self._restore_views(done, address)
            raise
        return done

    @staticmethod
    def _restore_views(views: list[tuple[View, int]], address: int) -> None:
        for v, size in views:
            v._rebind(address, size)

    def close(self) -> None:
        """Close the pool; its views stop working. BufferError (and nothing closed) while a
        memoryview or array of one of them is alive. Safe twice."""
        with self._views_lock:
            if self._h is not None and _capi.obj_txs(self._h):
                raise BufferError("a transaction is open on this pool")
            views = [v for refs in self._views.values() for v in self._live(refs)]
            busy = sum(v.exports for v in views)
            if busy and not self.closed:
                raise BufferError(f"{busy} memoryview(s) or array(s) of this pool's objects "
                                  "are alive")
            for v in views:
                v.invalidate()
            self._views.clear()
        super().close()

    def _oid(self, oid: Oid | tuple[int, int]) -> Oid:
        """oid checked to be one of this pool's."""
        self._handle()
        o = Oid(*oid)
        _args.size(o.off, "an Oid's off", (1 << 64) - 1)
        if o.pool_uuid_lo != self._uuid:
            raise ForeignPointerError(f"{o} is not an object of this pool")
        return o

    # ---- the root, objects ----

    def root(self, size: int | None = None) -> View:
        """The root object as a writable buffer: made zeroed, or grown (contents kept, the
        rest zeroed), when ``size`` is more than it has; ``size=None``: as it is. Growing
        may move the root: the old root's views then stop working, and it refuses
        (BufferError) while a memoryview or array of them is alive."""
        h = self._handle()
        n = 0 if size is None else _args.size(size, "size")
        if n <= _capi.obj_root_size(h):
            _, off, have = _capi.obj_root(h, n)
            return self._view(self._base + off, have)
        old = self._base + _capi.obj_root(h, 0)[1] if _capi.obj_root_size(h) else 0
        with self._views_lock:
            retired = self._retire_views(old, "grow the root") if old else []
            try:
                _, off, have = _capi.obj_root(h, n)
            except BaseException:
                self._restore_views(retired, old)
                raise
            if self._base + off == old:
                self._restore_views(retired, old)
        return self._view(self._base + off, have)

    @property
    def root_size(self) -> int:
        return _capi.obj_root_size(self._handle())

    def alloc(self, size: int, type_num: int = 0, zero: bool = False) -> Oid:
        """A new object of ``size`` bytes (atomically allocated; MemoryError when full)."""
        h = self._handle()
        return Oid(*_capi.obj_alloc(h, _args.size(size, "size"), _type_num(type_num), zero))

    def free(self, oid: Oid | tuple[int, int]) -> None:
        """Free an object (atomically); InvalidArgumentError when it is not one (twice...).
        Its views stop working; BufferError (nothing freed) while a memoryview or a
        persistent array of it is alive."""
        if not Oid(*oid).off:
            return                                         # OID_NULL: nothing, as in C
        o = self._oid(oid)
        address = self._base + o.off
        if address not in self._views:                     # never viewed: nothing to retire
            _capi.obj_free(o.pool_uuid_lo, o.off)
            return
        with self._views_lock:
            retired = self._retire_views(address, f"free {o}")
            try:
                _capi.obj_free(o.pool_uuid_lo, o.off)
            except BaseException:
                self._restore_views(retired, address)
                raise
            self._views.pop(address, None)

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
        """The Oid of the object a persistent array lives in, for the array and any view or
        slice of it; for any other buffer in this pool, the Oid of the byte where it starts
        (an object's Oid for its view, an offset inside it for a slice)."""
        self._handle()
        array = _array_view(buf)
        if array is not None and array.pool is self:
            return array.oid
        address, _ = self._span(buf)
        return Oid(self._uuid, address - self._base)

    def _span(self, buf: Any) -> tuple[int, int]:
        """(address, length) of a buffer that lies in this pool."""
        self._handle()
        address, n = _capi.buffer_span(buf)
        if address < self._base or address + n > self._base + self._size:
            raise ForeignPointerError("the buffer does not lie in this pool")
        return address, n

    # ---- persistent numpy arrays ----

    def array(self, shape: ShapeArg, dtype: Any = float, type_num: int = 0) -> PersistentArray:
        """A new zeroed array (C order) in a new object of type ``type_num``, its shape and
        dtype stored with it: :meth:`array_at` gives it back, after a reopen too. Atomic: after
        a crash the object is absent or a whole array; inside a ``with pool.transaction()``
        block it joins that transaction (gone if it rolls back: do not use the array then).
        ``dtype``: numbers, bytes, structures of them, any byte order; not ``object``
        (PmallocTypeError). MemoryError when the pool is full."""
        self._handle()
        dt, dims, descr = _array_dtype(dtype, _array_shape(shape))
        t = _type_num(type_num)
        head = _ARRAY_HEAD.size + 8 * len(dims) + len(descr)
        align = max(_ARRAY_ALIGN, dt.alignment)
        size = _args.size(head + align - 1 + _nbytes(dt, dims), "the array's size")
        with self.transaction():
            oid = Oid(*_capi.tx_alloc(size, t, True))  # published with its header, or not
            address = self._base + oid.off
            data_off = -(-(address + head) // align) * align - address
            view = self._view(address, size, _ArrayView)
            with memoryview(view) as m:
                _ARRAY_HEAD.pack_into(m, 0, _ARRAY_MAGIC, _ARRAY_VERSION, len(dims), data_off,
                                      len(descr), 0)
                struct.pack_into(f"<{len(dims)}Q", m, _ARRAY_HEAD.size, *dims)
                start = _ARRAY_HEAD.size + 8 * len(dims)
                m[start:start + len(descr)] = descr
        return self._array_over(view, oid, dt, dims, data_off)

    def array_at(self, oid: Oid | tuple[int, int]) -> PersistentArray:
        """The persistent array in object ``oid`` (made by :meth:`array`), over the pool's
        memory. InvalidArgumentError when the object is not an array, ForeignPointerError
        when it is another pool's, CorruptPoolError (naming the field) when its header does
        not check out."""
        o = self._oid(oid)
        usable, _ = _capi.obj_info(o.pool_uuid_lo, o.off)
        if not usable:
            raise InvalidArgumentError(f"{o} is not an allocated object")
        view = self._view(self._base + o.off, usable, _ArrayView)
        with memoryview(view) as m:
            head = bytes(m[:_ARRAY_HEAD.size])
            if len(head) < _ARRAY_HEAD.size or head[:8] != _ARRAY_MAGIC:
                raise InvalidArgumentError(f"{o} is not a persistent array (no array header)")
            _, version, ndim, data_off, ndescr, reserved = _ARRAY_HEAD.unpack(head)
            bad = f"the array header of {o} is corrupt"
            if version != _ARRAY_VERSION:
                raise CorruptPoolError(f"{bad}: format version {version}, this library "
                                       f"reads {_ARRAY_VERSION}")
            if reserved:
                raise CorruptPoolError(f"{bad}: its reserved field holds {reserved}, not 0")
            if ndim > ARRAY_MAX_NDIM:
                raise CorruptPoolError(f"{bad}: {ndim} dimensions (at most {ARRAY_MAX_NDIM})")
            start = _ARRAY_HEAD.size + 8 * ndim
            if not 0 < ndescr <= _ARRAY_MAX_DESCR or start + ndescr > data_off \
                    or data_off > usable:
                raise CorruptPoolError(f"{bad}: a {ndescr}-byte dtype description and data "
                                       f"offset {data_off} do not fit its {usable} bytes")
            dims = struct.unpack_from(f"<{ndim}Q", m, _ARRAY_HEAD.size)
            text = bytes(m[start:start + ndescr])
        dt = _descr_dtype(text.decode("utf-8", "replace"))
        if dt is None or dt.hasobject or dt.itemsize == 0 or dt.subdtype is not None:
            raise CorruptPoolError(f"{bad}: {text[:80]!r} does not describe a dtype of plain "
                                   "data")
        if any(d > _INTP_MAX for d in dims):
            raise CorruptPoolError(f"{bad}: shape {dims} has a dimension past {_INTP_MAX}")
        nbytes = _nbytes(dt, dims)
        if nbytes > usable - data_off:
            raise CorruptPoolError(f"{bad}: shape {dims} of {dt} is {nbytes} bytes, more than "
                                   f"the {usable - data_off} after its data offset")
        return self._array_over(view, o, dt, dims, data_off)

    def _array_over(self, view: View, oid: Oid, dtype: np.dtype[Any], shape: tuple[int, ...],
                    data_off: int) -> PersistentArray:
        """The array of shape and dtype at data_off in the object's view (an _ArrayView).
        Made by frombuffer, whose memoryview holds an export of the view while the array or
        any view of it lives: free and close refuse until then. (An ndarray made with
        ``buffer=`` would hold none.)"""
        assert isinstance(view, _ArrayView)
        view.oid, view.pool = oid, self
        view.lo = view.address + data_off
        view.hi = view.lo + _nbytes(dtype, shape)
        flat = np.frombuffer(view, dtype=dtype, count=_nbytes(dtype, shape) // dtype.itemsize,
                             offset=data_off)
        return flat.reshape(shape).view(PersistentArray)

    # ---- transactions ----

    def transaction(self) -> Transaction:
        """A context manager: ``with pool.transaction() as tx:`` (see Transaction)."""
        if self._h is None:
            self._handle()                                 # raises PoolClosedError
        return Transaction(self, self._pop, self._base, self._size)


class Transaction(_tx.Tx):
    """The block of a ``with pool.transaction() as tx:``: committed when it ends, rolled back
    (every ``tx.add``'ed byte restored, ``tx.alloc``'ed objects gone, ``tx.free``'d ones kept)
    when it raises, and the exception goes on. Nested blocks join the outer transaction. One
    transaction at a time per thread; the pool does not close while it is open.

    ``add(buf, offset=0, size=None)`` snapshots ``buf`` (or ``size`` bytes of it from
    ``offset``) so an abort restores it: any buffer that lies in the pool (a view, a slice
    of one, a numpy array or a strided view of one: its whole extent); ForeignPointerError
    otherwise. It, ``__enter__`` and ``__exit__`` are in C (pmalloc._tx), being the path
    of every transaction."""

    __slots__ = ()

    def _check(self) -> None:
        if not self._open:
            raise InvalidArgumentError("use the transaction inside its with block")
        if self._pool.closed:
            raise PoolClosedError("the transaction's pool is closed")

    def alloc(self, size: int, type_num: int = 0, zero: bool = False) -> Oid:
        """A new object, allocated if the transaction commits."""
        self._check()
        return Oid(*_capi.tx_alloc(_args.size(size, "size"), _type_num(type_num), zero))

    def free(self, oid: Oid | tuple[int, int]) -> None:
        """Free an object when the transaction commits."""
        self._check()
        if Oid(*oid).off:                                  # OID_NULL: nothing, as in C
            o = self._pool._oid(oid)
            _capi.tx_free(o.pool_uuid_lo, o.off)

