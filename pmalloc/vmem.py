"""Volatile memory pools: pmalloc's vmem front, from Python.

A :class:`Pool` is a fixed-size heap on an unlinked file in a directory (a DAX file system,
/dev/shm, or the temp dir), served by pmalloc's slab allocator. Its allocations are
:class:`Buffer` objects: writable byte buffers (``memoryview(buf)``,
``numpy.frombuffer(buf, dtype)``) with an ``.address`` for C code::

    with Pool(size=64 << 20) as pool:
        buf = pool.malloc(4096)
        memoryview(buf)[:5] = b"hello"
        buf.free()

Rules (nothing a caller does here may crash the interpreter):

- A closed pool raises :class:`~pmalloc.errors.PoolClosedError` (a ``ValueError``) on every
  use but ``close()``, which is safe twice.
- A freed buffer raises ``ValueError`` on any access to its memory (``memoryview``,
  ``.address``, ``.size``, ``len``); freeing it again raises
  :class:`~pmalloc.errors.InvalidBufferError` (a ``ValueError``).
- Freeing a Buffer of another pool, or an int address this pool did not hand out (or already
  took back), raises :class:`~pmalloc.errors.ForeignPointerError` (a ``ValueError``): the pool
  tracks its live allocations.
- Memory still exported (a live memoryview or numpy array over a buffer) is never given back:
  ``free``, ``realloc`` and ``close`` raise ``BufferError`` and change nothing, as mmap does.
  Closing a pool whose buffers are not exported invalidates them.
- A Buffer dropped without ``free()`` is freed when it is collected.
- Exhaustion raises :class:`~pmalloc.errors.OutOfMemoryError` (a ``MemoryError``), for any
  size a ``size_t`` holds; a size it cannot hold, a negative size or a bad alignment
  :class:`~pmalloc.errors.InvalidArgumentError` (a ``ValueError``) naming the argument.
- ``buf.invalidate()`` (from the buffer type) only detaches a Buffer: it stops exporting,
  while the memory stays allocated until ``pool.free(address)`` or ``close()``. ``free()``
  on a detached Buffer says so.
- Pools and Buffers cannot be copied or pickled (:class:`~pmalloc.errors.PmallocTypeError`):
  a copy would share the C handle. ``bytes(buf)`` copies a buffer's contents.
- A pool may be used from several threads at once.
"""
from __future__ import annotations

import operator
import os
import threading
import types
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

from pmalloc import _args, _capi, settings
from pmalloc import numpy as _pnumpy
from pmalloc._buffer import View
from pmalloc._nocopy import NoCopy
from pmalloc.errors import (
    ForeignPointerError,
    InvalidArgumentError,
    InvalidBufferError,
    OutOfMemoryError,
    PmallocTypeError,
    PoolClosedError,
)

__all__ = ["Pool", "Buffer", "default_dir", "MIN_POOL_SIZE", "DEFAULT_POOL_SIZE"]

#: The smallest pool (libvmem's VMEM_MIN_POOL, 14 MiB).
MIN_POOL_SIZE: Final = _capi.VMEM_MIN_POOL
#: The size of a Pool created without one. The backing file is sparse: pages cost memory only
#: once used.
DEFAULT_POOL_SIZE: Final = 64 << 20


# ---- The embedded default directory --------------------------------------------------------


def default_dir() -> str:
    """Where ``Pool(dir=None)`` puts its file: the C library's resolved
    ``PMALLOC_POOL_DIR`` (see :func:`pmalloc.settings.default_pool_dir`), the directory the
    preload shim uses too."""
    return settings.default_pool_dir()


# ---- Buffer ----------------------------------------------------------------------------------


class Buffer(NoCopy, View):
    """One allocation of a :class:`Pool`: a writable byte buffer over pool memory.

    ``.address`` is its first byte, ``.size`` the size asked for (``len(buf)`` too),
    ``.usable_size`` what the allocator actually reserved. ``memoryview(buf)`` and
    ``numpy.frombuffer(buf, dtype)`` share the memory. ``free()`` gives it back; a Buffer
    dropped without ``free()`` is freed when collected. Made by the pool's allocation
    methods only. (``invalidate()``, from View, only detaches the buffer: its memory stays
    allocated until ``pool.free(address)`` or the pool closes, and ``free()`` on it raises
    InvalidBufferError saying so. Use ``free()``.) Not copyable: ``bytes(buf)`` copies the
    contents.
    """

    __slots__ = ("_pool",)
    _pool: Pool
    _nocopy_why = "it is memory its pool owns (bytes(buf) copies the contents)"

    def __new__(cls, *args: object, **kwargs: object) -> Buffer:
        raise PmallocTypeError(
            "Buffers come from Pool.malloc(), calloc(), realloc(), aligned_alloc(), strdup()"
        )

    @property
    def pool(self) -> Pool:
        """The pool this buffer was allocated from."""
        return self._pool

    @property
    def usable_size(self) -> int:
        """The bytes the allocator reserved for this buffer (>= ``size``)."""
        return self._pool.usable_size(self)

    def free(self) -> None:
        """Give the memory back to the pool (``pool.free(self)``)."""
        self._pool.free(self)

    def __del__(self) -> None:
        try:
            pool = self._pool
        except AttributeError:  # never given to a pool
            return
        pool._collect(self)


# ---- Thread exit -----------------------------------------------------------------------------


class _ThreadCaches:
    """Kept in a threading.local by every thread that uses a pool. CPython drops a thread's
    locals as the thread ends, before ``join()`` returns, and long before the C thread exits
    and frees its caches; so the caches are given back here, and a ``purge()`` or ``stats()``
    after ``join()`` sees every page the thread held."""

    __slots__ = ()
    # bound here: the main thread's locals may go after this module's globals at exit
    _flush = staticmethod(_capi.thread_flush)

    def __del__(self) -> None:
        self._flush()


_thread_state = threading.local()


def _note_thread() -> None:
    if not hasattr(_thread_state, "caches"):
        _thread_state.caches = _ThreadCaches()


# ---- Pool ------------------------------------------------------------------------------------

# Pools whose lock must be renewed in a forked child (another thread may have held it).
_POOLS: weakref.WeakSet[Pool] = weakref.WeakSet()


#: The C calls a Pool allocates with (a subclass may allocate differently: pmalloc.kind's tiers).
VMEM_API: Final = types.SimpleNamespace(
    malloc=_capi.vmem_malloc, calloc=_capi.vmem_calloc, aligned_alloc=_capi.vmem_aligned_alloc,
    strdup=_capi.vmem_strdup, realloc=_capi.vmem_realloc, free=_capi.vmem_free,
    usable_size=_capi.vmem_malloc_usable_size)


class _Lease:
    """Held by each NumPy handler over a pool (and so by every array it allocated): keeps
    the pool alive, and while any lives the pool refuses to close."""

    __slots__ = ("pool", "__weakref__")

    def __init__(self, pool: Pool) -> None:
        self.pool = pool


class Pool(NoCopy, _pnumpy.ArrayFactory):
    """A volatile memory pool of ``size`` bytes on an unlinked file in ``dir``.

    ``dir=None`` picks :func:`default_dir`; ``dir`` may be str, bytes or path-like. A missing
    ``dir`` raises FileNotFoundError, one without write permission PermissionError, a regular
    file NotADirectoryError (each also a :class:`~pmalloc.errors.PmallocError`, with errno
    and filename). InvalidArgumentError (a ValueError) for a ``dir`` with a NUL byte, a size
    below :data:`MIN_POOL_SIZE` or one no file can have (past ``off_t``);
    OutOfMemoryError for a size the system cannot map. Use it as a context manager, or
    ``close()`` it. Not copyable.
    """

    _nocopy_why = "it owns a C pool handle, which a copy would share and delete twice"
    _api: types.SimpleNamespace = VMEM_API

    def __init__(
        self, dir: _args.PathArg | None = None, size: int = DEFAULT_POOL_SIZE
    ) -> None:
        self._init_state()
        nbytes = _args.file_size(size, "pool size")
        path = _args.path(default_dir() if dir is None else dir, "dir")
        self._adopt(_capi.vmem_create(path, nbytes), path, nbytes)

    def _init_state(self) -> None:
        self._vmp: Any = None  # first, so that __del__ of a failed __init__ is harmless
        self._lock = threading.Lock()
        # address -> weak reference to the live Buffer there. The single source of truth
        # for what this pool handed out: an address is freed exactly when it leaves this
        # dict, always with _lock held.
        self._live: dict[int, weakref.ref[Buffer]] = {}
        # Frees deferred by finalizers that found _lock taken: (address, that Buffer's ref).
        self._pending: list[tuple[int, weakref.ref[Buffer]]] = []
        self._leases: weakref.WeakSet[_Lease] = weakref.WeakSet()

    def _adopt(self, vmp: Any, dir: str, size: int) -> None:
        """Take over a C pool handle (subclasses: a kind's heap)."""
        self._vmp = vmp
        self._dir = dir
        self._size = size
        _POOLS.add(self)

    # -- state --

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._vmp is None

    @property
    def dir(self) -> str:
        """The directory of the pool's (unlinked) file."""
        return self._dir

    @property
    def size(self) -> int:
        """The pool's size in bytes, as created."""
        return self._size

    def __repr__(self) -> str:
        state = "closed" if self._vmp is None else f"live={len(self._live)}"
        return f"<{type(self).__module__}.Pool dir={self._dir!r} size={self._size} {state}>"

    def __enter__(self) -> Pool:
        self._handle()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_vmp", None) is None:
            return
        try:
            self.close()
        except Exception:  # pragma: no cover - exported from a garbage cycle, or shutdown
            pass  # keep the mapping rather than unmap memory a buffer may still show

    # -- allocation --

    def malloc(self, size: int) -> Buffer:
        """``size`` bytes, uninitialized. ``malloc(0)`` gives a distinct empty Buffer."""
        n = _args.size(size, "size")
        return self._allocate(n, self._api.malloc, n or 1)

    def calloc(self, nmemb: int, size: int) -> Buffer:
        """``nmemb * size`` bytes of zeros; OutOfMemoryError if the product overflows."""
        count = _args.size(nmemb, "nmemb")
        each = _args.size(size, "size")
        total = count * each
        if total > _args.SIZE_MAX:  # each fits size_t, the product not: C calloc's ENOMEM
            raise OutOfMemoryError(f"calloc({count}, {each}) overflows the address space")
        if total == 0:
            count = each = 1
        return self._allocate(total, self._api.calloc, count, each)

    def aligned_alloc(self, alignment: int, size: int) -> Buffer:
        """``size`` bytes at an address that is a multiple of ``alignment`` (a power of two)."""
        a = _args.alignment(alignment)
        n = _args.size(size, "size")
        return self._allocate(n, self._api.aligned_alloc, a, n or 1)

    def strdup(self, s: str | bytes | bytearray | memoryview) -> Buffer:
        """A NUL-terminated copy of ``s`` (str is UTF-8 encoded); ``size`` counts the NUL."""
        if isinstance(s, str):
            data = s.encode("utf-8")
        elif isinstance(s, (bytes, bytearray, memoryview)):
            data = bytes(s)
        else:
            raise PmallocTypeError(f"strdup needs str or bytes, got {type(s).__name__}")
        if b"\0" in data:
            raise InvalidArgumentError("strdup: embedded null byte")
        return self._allocate(len(data) + 1, self._api.strdup, data)

    def realloc(self, buf: Buffer | None, size: int) -> Buffer:
        """Resize ``buf`` to ``size`` bytes, keeping its contents up to the smaller size.

        Returns ``buf`` itself, now over the new memory (its address may change), so both
        ``buf = pool.realloc(buf, n)`` and other references to it stay valid. ``None`` is
        ``malloc(size)``. On failure (OutOfMemoryError) ``buf`` is left as it was.
        BufferError while ``buf`` is exported.
        """
        n = _args.size(size, "size")
        if buf is None:
            return self.malloc(n)
        if not isinstance(buf, Buffer):
            raise PmallocTypeError(f"realloc needs a Buffer or None, got {type(buf).__name__}")
        self._lock.acquire()
        try:
            vmp = self._handle()
            address, ref = self._lookup(buf)
            old_size = buf.size
            View.invalidate(buf)  # BufferError while exported; nothing changed yet
            try:
                moved = self._api.realloc(vmp, address, n or 1)
            except BaseException:
                View._rebind(buf, address, old_size)
                raise
            if moved != address:
                del self._live[address]
                self._live[moved] = ref
            View._rebind(buf, moved, n)
            return buf
        finally:
            self._unlock()

    def free(self, buf: Buffer | int) -> None:
        """Give back a Buffer of this pool, or the int address of one.

        InvalidBufferError for a buffer already freed, ForeignPointerError for a Buffer of
        another pool or an address this pool has no live allocation at, BufferError while
        the buffer is exported.
        """
        self._lock.acquire()
        try:
            vmp = self._handle()
            address, ref = self._lookup(buf)
            owner = ref()
            if owner is not None:
                View.invalidate(owner)  # BufferError while exported; nothing changed yet
            del self._live[address]
            self._api.free(vmp, address)
        finally:
            self._unlock()

    def usable_size(self, buf: Buffer | int) -> int:
        """The bytes reserved for a live allocation of this pool (>= the size asked for)."""
        self._lock.acquire()
        try:
            vmp = self._handle()
            address, _ = self._lookup(buf)
            return self._api.usable_size(vmp, address)
        finally:
            self._unlock()

    # -- the whole pool --

    def stats(self) -> dict[str, Any]:
        """The pool's figures (struct pmalloc_stats: size, allocated, active, metadata, dirty,
        resident, file_allocated, purged, nmalloc, nfree, narenas, nclasses), plus
        ``classes``: one dict per size class (size, slab_size, live, cached, slabs)."""
        self._lock.acquire()
        try:
            vmp = self._handle()
            result: dict[str, Any] = dict(_capi.vmem_stats(vmp))
            result["classes"] = _capi.vmem_class_stats(vmp, result["nclasses"])
        finally:
            self._unlock()
        return result

    def check(self) -> bool:
        """Walk the pool's metadata: True when consistent."""
        self._lock.acquire()
        try:
            return _capi.vmem_check(self._handle())
        finally:
            self._unlock()

    def purge(self) -> None:
        """Give back what every thread caches idle, and every free page to the system, now."""
        self._lock.acquire()
        try:
            _capi.vmem_purge(self._handle())
        finally:
            self._unlock()

    def numpy_handler(self) -> Any:
        """A NumPy array data handler (NEP 49) over this pool; ``pmalloc.numpy.use(pool)``
        installs one. It keeps the pool open while it, or an array it allocated, lives."""
        self._lock.acquire()
        try:
            vmp = self._handle()
            lease = _Lease(self)
            self._leases.add(lease)
            allocator = self._numpy_allocator(vmp)
            return _pnumpy.make_handler(lease, allocator, self._handler_name(allocator[0]))
        finally:
            self._unlock()

    def close(self) -> None:
        """Release the pool and everything in it; safe twice.

        Live buffers become invalid. BufferError, with the pool left open and every buffer
        as it was, while any buffer is exported (a memoryview or array over it is alive).
        """
        self._lock.acquire()
        try:
            if self._vmp is None:
                return
            if self._leases:
                raise BufferError(
                    "cannot close the pool while NumPy arrays made in it (or a "
                    f"pmalloc.numpy.use block over it) are alive: {len(self._leases)} "
                    "handler(s) in use")
            done: list[tuple[Buffer, int, int]] = []
            try:
                for ref in list(self._live.values()):
                    buf = ref()
                    if buf is None or not buf.valid:
                        continue
                    address, size = buf.address, buf.size
                    View.invalidate(buf)
                    done.append((buf, address, size))
            except BufferError as exc:
                for buf, address, size in done:
                    View._rebind(buf, address, size)
                raise BufferError(
                    f"cannot close the pool while a buffer is exported: {exc}"
                ) from None
            vmp, self._vmp = self._vmp, None
            self._live.clear()
            self._pending.clear()
            self._release(vmp)
        finally:
            self._unlock()

    # -- bookkeeping (with _lock held unless said otherwise) --

    def _release(self, vmp: Any) -> None:
        """Give the C pool back, the Python side already emptied (close)."""
        _capi.vmem_delete(vmp)

    def _numpy_allocator(self, vmp: Any) -> tuple[int, int, int, int, int]:
        """(ctx, malloc, calloc, realloc, free) addresses for NumPy's handler."""
        return _capi.vmem_numpy_allocator(vmp)

    def _handler_name(self, ctx: int) -> str:
        """The name NumPy shows for this pool's array handler."""
        return f"pmalloc vmem pool {ctx:#x} in {self._dir}"

    def _handle(self) -> Any:
        vmp = self._vmp
        if vmp is None:
            raise PoolClosedError("operation on a closed pool")
        _note_thread()
        return vmp

    def _allocate(self, size: int, call: Callable[..., int], *args: Any) -> Buffer:
        """A Buffer of size bytes over the memory call(handle, *args) allocates (a _capi
        wrapper), recorded as live. Takes _lock."""
        self._lock.acquire()
        try:
            address = call(self._handle(), *args)
            try:
                buf = View.__new__(Buffer, address, size)
                buf._pool = self
            except BaseException:
                self._api.free(self._vmp, address)
                raise
            self._live[address] = weakref.ref(buf)
            return buf
        finally:
            self._unlock()

    def _lookup(self, target: Buffer | int) -> tuple[int, weakref.ref[Buffer]]:
        """The address and live-table entry of a Buffer of this pool, or of an int address."""
        if isinstance(target, Buffer):
            if target._pool is not self:
                raise ForeignPointerError("the buffer belongs to another pool")
            if not target.valid:
                raise InvalidBufferError(self._invalid_why(target))
            address = target.address
            ref = self._live.get(address)
            if ref is None or ref() is not target:
                raise InvalidBufferError(f"no live allocation of this buffer at {address:#x}")
            return address, ref
        if isinstance(target, View):
            raise ForeignPointerError("not a Buffer of this pool")
        try:
            address = operator.index(target)
        except TypeError:
            raise PmallocTypeError(
                f"expected a Buffer or an int address, got {type(target).__name__}"
            ) from None
        ref = self._live.get(address)
        if ref is None:
            raise ForeignPointerError(
                f"address {address:#x} is not a live allocation of this pool"
            )
        return address, ref

    def _invalid_why(self, buf: Buffer) -> str:
        """Why an invalid Buffer of this pool is invalid. Freeing takes an allocation out of
        _live; invalidate() (a detach) leaves it there, still allocated. The scan is linear,
        but only on this error path."""
        if any(ref() is buf for ref in self._live.values()):
            return ("the buffer was invalidated (detached), not freed: its memory stays "
                    "allocated until pool.free(address) or the pool closes")
        return "the buffer was already freed (double free?)"

    def _unlock(self) -> None:
        """Run the frees finalizers deferred, then release _lock."""
        while True:
            if self._pending:
                self._drain()
            self._lock.release()
            if not self._pending or not self._lock.acquire(blocking=False):
                return

    def _drain(self) -> None:
        vmp = self._vmp
        while self._pending:
            address, ref = self._pending.pop()
            if self._live.get(address) is ref:  # not freed (and reused) meanwhile
                del self._live[address]
                if vmp is not None:
                    self._api.free(vmp, address)

    def _collect(self, buf: Buffer) -> None:
        """Free a Buffer being collected. Called from its finalizer: any thread, any time,
        perhaps while this thread holds _lock, so it never waits for the lock."""
        if self._vmp is None or not buf.valid:
            return
        address = buf.address
        try:
            View.invalidate(buf)
        except BufferError:  # exported from a garbage cycle: the memory stays until close()
            return
        ref = self._live.get(address)
        if ref is None:
            return
        if not self._lock.acquire(blocking=False):
            self._pending.append((address, ref))
            return
        self._pending.append((address, ref))
        self._unlock()


def _renew_locks() -> None:
    for pool in list(_POOLS):
        pool._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks)
