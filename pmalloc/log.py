"""Logs: an append-only log in a pool file (libpmemlog), crash-safe appends.

    with pmalloc.log.Log.create("/dev/shm/app.log", 64 << 20) as log:
        log.append(b"first entry")
        log.appendv([b"header ", b"body"])        # one atomic entry
        print(log.tell(), bytes(log))             # 22 b'first entryheader body'
    with pmalloc.log.Log.open("/dev/shm/app.log") as log:
        for chunk in log.walk(4096):              # the bytes, 4 KiB at a time
            ...

After a crash an entry is in the log whole or not at all, and ``tell()`` is on an entry's
boundary. Appends from several threads never interleave inside an entry. A full log raises
OSError(ENOSPC); a file that is not a valid log pool raises CorruptPoolError with the reason.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

from pmalloc import _args, _capi
from pmalloc._handle import PoolHandle, opening
from pmalloc.errors import CorruptPoolError, InvalidArgumentError

__all__ = ["Log", "MIN_POOL_SIZE"]

#: The smallest log pool (PMEMLOG_MIN_POOL, 2 MiB).
MIN_POOL_SIZE: Final = 2 << 20


class Log(PoolHandle):
    """An open log pool. Made by :meth:`create`, :meth:`open` (and for tests, ``_map``)."""

    _nocopy_why = "it owns a C log handle, which a copy would close twice"
    _what = "log"
    _release = staticmethod(_capi.log_close)

    @classmethod
    def create(cls, path: _args.PathArg, size: int, mode: int = 0o666) -> Log:
        """A new log pool of ``size`` bytes (at least MIN_POOL_SIZE) at ``path``, which must
        not exist (FileExistsError); ``size=0`` formats the existing file at its size."""
        p = _args.path(path, "path")
        n = _args.size(size, "size")
        if n and n < MIN_POOL_SIZE:
            raise InvalidArgumentError(f"size {n} is below MIN_POOL_SIZE ({MIN_POOL_SIZE})")
        return cls(_capi.log_create(p, n, mode), p)

    @classmethod
    def open(cls, path: _args.PathArg) -> Log:
        """The log pool at ``path``; CorruptPoolError (with why) if it is not a valid one."""
        p = _args.path(path, "path")
        return cls(opening(_capi.log_open, p), p)

    @staticmethod
    def check(path: _args.PathArg) -> tuple[bool, str]:
        """(True, "") if the file is a consistent log pool, else (False, what is wrong)."""
        ok, why = _capi.log_check(_args.path(path, "path"))
        return ok == 1, why

    @classmethod
    def _map(cls, address: int, size: int, create: bool) -> Log:
        """A log over memory mapped elsewhere (the crash simulator's mapping)."""
        try:
            return cls(_capi.log_map(address, size, create), None)
        except InvalidArgumentError as exc:
            raise CorruptPoolError(str(exc)) from None

    @property
    def nbyte(self) -> int:
        """The bytes the log can hold."""
        return _capi.log_nbyte(self._handle())

    def append(self, data: Any) -> None:
        """Append a bytes-like object as one atomic entry; OSError(ENOSPC) if it does not fit."""
        _capi.log_appendv(self._handle(), [data])

    def appendv(self, parts: Iterable[Any]) -> None:
        """Append the bytes-like objects as one atomic entry."""
        _capi.log_appendv(self._handle(), list(parts))

    def tell(self) -> int:
        """The log's length in bytes: where the next append goes."""
        return _capi.log_tell(self._handle())

    def __len__(self) -> int:
        return self.tell()

    def rewind(self) -> None:
        """Empty the log."""
        _capi.log_rewind(self._handle())

    def walk(self, chunksize: int = 0) -> list[bytes]:
        """The log's bytes from the start, ``chunksize`` at a time (the last chunk may be
        shorter; 0: in one piece), copied."""
        return _capi.log_walk(self._handle(), _args.size(chunksize, "chunksize"))

    def __iter__(self) -> Iterator[bytes]:
        """The log's bytes in chunks of 64 KiB."""
        return iter(self.walk(64 << 10))

    def __bytes__(self) -> bytes:
        return b"".join(self.walk(0))

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.tell()} bytes"
        return f"<pmalloc.log.Log {self._path or 'mapping'} {state}>"


