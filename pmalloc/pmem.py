"""Persistent memory mappings: pmalloc's libpmem, from Python.

:func:`map_file` maps a file (on a DAX file system it is real pmem, elsewhere a file-backed
stand-in) and returns a :class:`Mapping`: a writable buffer like :class:`mmap.mmap`, with the
calls that make stores durable::

    with pmalloc.pmem.map_file("/mnt/pmem/log", 1 << 20, create=True) as m:
        m[0:5] = b"hello"
        m.persist(0, 5)                   # durable now
        m.memcpy_persist(64, b"world")    # copy + flush + drain in one call

A store is durable only once its cache line has been flushed and the flush drained (on pmem:
CLWB/CLFLUSHOPT/CLFLUSH + SFENCE), or, where the file is not pmem, once ``msync`` has written
its page back. ``Mapping.persist`` picks the right one: ``.is_pmem`` tells which. Only an
aligned 8-byte store is atomic across a power failure; :mod:`pmalloc.sim` shows what that
means for your data.

Rules, as for ``mmap``: ``close()`` is safe twice; a closed mapping raises
:class:`~pmalloc.errors.PoolClosedError` (a ``ValueError``); ``close()`` raises
``BufferError`` while a memoryview or numpy array still uses the memory. Offsets and sizes
outside the mapping, and sizes or modes a C call cannot be given, raise
:class:`~pmalloc.errors.InvalidArgumentError` (a ``ValueError``) naming the argument; failed
system calls raise ``OSError`` subclasses with errno and the filename. A Mapping cannot be
copied or pickled (:class:`~pmalloc.errors.PmallocTypeError`): ``bytes(m)`` copies its
contents.
"""
from __future__ import annotations

from types import TracebackType
from typing import Any, Final

from pmalloc import _args, _capi
from pmalloc._buffer import View
from pmalloc._nocopy import NoCopy
from pmalloc.errors import InvalidArgumentError, PmallocTypeError, PoolClosedError

__all__ = [
    "Mapping",
    "map_file",
    "info",
    "F_MEM_NODRAIN",
    "F_MEM_NONTEMPORAL",
    "F_MEM_TEMPORAL",
    "F_MEM_WC",
    "F_MEM_WB",
    "F_MEM_NOFLUSH",
]

#: ``PMEM_F_MEM_*`` flags of :meth:`Mapping.memcpy` and :meth:`Mapping.memset`.
F_MEM_NODRAIN: Final = _capi.PMEM_F_MEM_NODRAIN
F_MEM_NONTEMPORAL: Final = _capi.PMEM_F_MEM_NONTEMPORAL
F_MEM_TEMPORAL: Final = _capi.PMEM_F_MEM_TEMPORAL
F_MEM_WC: Final = _capi.PMEM_F_MEM_WC
F_MEM_WB: Final = _capi.PMEM_F_MEM_WB
F_MEM_NOFLUSH: Final = _capi.PMEM_F_MEM_NOFLUSH
_VALID_FLAGS: Final = _capi.PMEM_F_MEM_VALID_FLAGS


def info() -> dict[str, Any]:
    """What libpmem chose when it loaded: flush instruction, non-temporal copies, switches.

    Keys: ``flush`` ("clwb", "clflushopt", "clflush" or "none"), ``deep_flush``, ``movnt``
    ("avx", "sse2" or "none"), ``movnt_threshold``, ``is_pmem_force`` (1, 0, or -1 when
    ``PMEM_IS_PMEM_FORCE`` is unset) and ``auto_flush``. Read from the environment once
    per process (``PMEM_NO_CLWB``, ``PMEM_NO_CLFLUSHOPT``, ``PMEM_NO_FLUSH``,
    ``PMEM_NO_MOVNT``, ``PMEM_MOVNT_THRESHOLD``, ``PMEM_IS_PMEM_FORCE``).
    """
    return _capi.pmem_info()


def _flags(value: int) -> int:
    fl = _args.integer(value, "flags")
    if fl & ~_VALID_FLAGS or fl < 0:
        raise InvalidArgumentError(f"invalid PMEM_F_MEM_* flags {fl:#x}")
    return fl


class Mapping(NoCopy, View):
    """A mapped range of pmem (or of a file standing in for it): a writable byte buffer.

    ``memoryview(m)``, ``m[a:b]``, ``m[a:b] = data`` and ``numpy.frombuffer(m, dtype)`` see
    the memory without a copy. Made by :func:`map_file` (a file) or by
    :class:`pmalloc.sim.Sim` (simulated pmem); not directly.
    """

    __slots__ = ("_addr", "_len", "_ops", "_sync_ops", "_kind", "_is_pmem", "_path", "_unmap",
                 "_closed")
    _addr: int
    _len: int
    _ops: Any
    _sync_ops: Any
    _kind: str
    _is_pmem: bool
    _path: str | None
    _unmap: bool
    _closed: bool
    _nocopy_why = "it is mapped memory, unmapped by its close (bytes(m) copies the contents)"

    def __new__(cls, *args: object, **kwargs: object) -> Mapping:
        raise PmallocTypeError("Mappings come from pmalloc.pmem.map_file() or pmalloc.sim.Sim")

    @classmethod
    def _make(cls, address: int, size: int, ops: Any, *, is_pmem: bool, path: str | None,
              unmap: bool) -> Mapping:
        m = View.__new__(cls, address, size)
        m._addr = address
        m._len = size
        m._ops = ops
        m._kind = _capi.ops_name(ops)
        # msync(): a simulator's own table, else the msync table
        m._sync_ops = ops if m._kind == "sim" else _capi.persist_ops(0, 0, _capi.OPS_MSYNC)
        m._is_pmem = is_pmem
        m._path = path
        m._unmap = unmap
        m._closed = False
        return m

    # ---- state --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    @property
    def is_pmem(self) -> bool:
        """True for pmem (a MAP_SYNC DAX mapping, a simulator, or ``PMEM_IS_PMEM_FORCE=1``):
        flush + drain make stores durable. False: ``persist`` uses msync."""
        return self._is_pmem

    @property
    def persist_kind(self) -> str:
        """How :meth:`persist` works here: "pmem", "msync" or "sim"."""
        return self._kind

    @property
    def path(self) -> str | None:
        """The mapped file's path (None for a temporary file or a simulator)."""
        return self._path

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosedError("operation on a closed mapping")

    def _range(self, offset: int, size: int | None) -> tuple[int, int]:
        """(address, size) of [offset, offset+size) after checks; size None: to the end."""
        self._check_open()
        off = _args.size(offset, "offset")
        if off > self._len:
            raise InvalidArgumentError(f"offset {off} is past the mapping's {self._len} bytes")
        n = self._len - off if size is None else _args.size(size, "size")
        if n > self._len - off:
            raise InvalidArgumentError(
                f"range [{off}, {off + n}) does not fit the mapping's {self._len} bytes")
        return self._addr + off, n

    # ---- durability ---------------------------------------------------------------------

    def persist(self, offset: int = 0, size: int | None = None) -> None:
        """Make [offset, offset+size) durable: flush + drain on pmem, msync otherwise.
        A failure (msync's EIO ...) raises the OSError subclass of its errno."""
        ptr, n = self._range(offset, size)
        _capi.ops_persist(self._ops, ptr, n, self._path)

    def flush(self, offset: int = 0, size: int | None = None) -> None:
        """Start writing [offset, offset+size) back; durable after :meth:`drain` (msync
        where the mapping is not pmem, which is durable at once). Failures raise OSError."""
        ptr, n = self._range(offset, size)
        _capi.ops_flush(self._ops, ptr, n, self._path)

    def drain(self) -> None:
        """Wait for earlier flushes (and non-temporal copies) to reach persistence."""
        self._check_open()
        _capi.ops_drain(self._ops, self._path)

    def msync(self, offset: int = 0, size: int | None = None) -> None:
        """msync the pages of [offset, offset+size): durable for any file (for a simulator:
        the same as :meth:`persist`). Failures raise OSError."""
        ptr, n = self._range(offset, size)
        _capi.ops_persist(self._sync_ops, ptr, n, self._path)

    # ---- copies ---------------------------------------------------------------------------

    def memcpy(self, offset: int, data: Any, flags: int = 0) -> None:
        """Copy ``data`` (any bytes-like object) to ``offset``, flushed and drained as
        ``flags`` (the ``F_MEM_*`` constants) say; 0 means durable on return."""
        fl = _flags(flags)
        with _args.buffer(data, "data") as buf:
            ptr, n = self._range(offset, len(buf))
            if n == 0:
                return
            _capi.ops_memcpy(self._ops, ptr, buf, n, fl, self._path)

    def memcpy_persist(self, offset: int, data: Any) -> None:
        """Copy ``data`` to ``offset``, durable on return (``pmem_memcpy_persist``)."""
        self.memcpy(offset, data, 0)

    def memset(self, offset: int, value: int, size: int, flags: int = 0) -> None:
        """Fill [offset, offset+size) with the byte ``value``, flushed per ``flags``."""
        fl = _flags(flags)
        byte = _args.integer(value, "value")
        if not 0 <= byte <= 255:
            raise InvalidArgumentError(f"value must be a byte (0..255), got {byte}")
        ptr, n = self._range(offset, size)
        if n == 0:
            return
        _capi.ops_memset(self._ops, ptr, byte, n, fl, self._path)

    def memset_persist(self, offset: int, value: int, size: int) -> None:
        """Fill [offset, offset+size) with ``value``, durable on return."""
        self.memset(offset, value, size, 0)

    # ---- mmap-like access ---------------------------------------------------------------

    def __getitem__(self, key: int | slice) -> Any:
        self._check_open()
        with memoryview(self) as view:
            item = view[key]
            return item if isinstance(item, int) else bytes(item)

    def __setitem__(self, key: int | slice, value: Any) -> None:
        self._check_open()
        with memoryview(self) as view:
            view[key] = value

    def __len__(self) -> int:
        return 0 if self._closed else self._len

    # ---- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Unmap (safe twice). Raises BufferError, changing nothing, while exported."""
        if self._closed:
            return
        View.invalidate(self)  # BufferError while a memoryview or array holds the memory
        self._closed = True
        if self._unmap:
            _capi.pmem_unmap(self._addr, self._len, self._path)

    def __enter__(self) -> Mapping:
        self._check_open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed and self.exports == 0:
                self.close()
        except (AttributeError, OSError, BufferError, ValueError):
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._len} bytes at {self._addr:#x}"
        where = f" {self._path!r}" if self._path else ""
        return f"<pmalloc.pmem.Mapping{where} {state}, {self._kind}>"


def map_file(path: _args.PathArg, size: int = 0, *, create: bool = False,
             exclusive: bool = False, sparse: bool = False, tmpfile: bool = False,
             mode: int = 0o600) -> Mapping:
    """Map the file ``path`` (``pmem_map_file``) and return a :class:`Mapping`.

    ``path`` is str, bytes or path-like, as for ``os.open``; one with a NUL byte is refused
    (InvalidArgumentError) rather than cut short. Without ``create`` the whole existing file
    is mapped and ``size`` must be 0. With ``create``, ``size`` (> 0) is the file's new
    size: a missing file is made with ``mode`` (permission bits, 0 to 0o7777), an existing
    one resized; ``exclusive`` makes an existing file an error
    (``FileExistsError``); ``sparse`` leaves it holey instead of allocating every block;
    ``tmpfile`` makes ``path`` a directory that gets an unnamed file. Errors: OSError
    subclasses with errno and the filename (``FileNotFoundError``, ``FileExistsError``,
    ``IsADirectoryError`` ...), :class:`~pmalloc.errors.InvalidArgumentError` for bad
    arguments.
    """
    fspath = _args.path(path, "path")
    n = _args.file_size(size, "size")
    perm = _args.mode(mode)
    if (exclusive or sparse or tmpfile) and not create:
        raise InvalidArgumentError("exclusive, sparse and tmpfile need create=True")
    if create and n == 0:
        raise InvalidArgumentError("create=True needs a size > 0")
    if not create and n != 0:
        raise InvalidArgumentError("a size is only given with create=True; "
                                   "without it the whole file is mapped")
    flags = ((_capi.PMEM_FILE_CREATE if create else 0)
             | (_capi.PMEM_FILE_EXCL if exclusive else 0)
             | (_capi.PMEM_FILE_SPARSE if sparse else 0)
             | (_capi.PMEM_FILE_TMPFILE if tmpfile else 0))
    address, mapped, is_pmem = _capi.pmem_map_file(fspath, n, flags, perm)
    ops = _capi.persist_ops(address, mapped, _capi.OPS_AUTO)
    return Mapping._make(address, mapped, ops, is_pmem=is_pmem,
                         path=None if tmpfile else fspath, unmap=True)

