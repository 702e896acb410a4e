"""A key/value store on persistent memory, in the manner of Python's dbm.

    import pmalloc.kv

    with pmalloc.kv.open("/dev/shm/app.kv", "c", size=64 << 20) as db:
        db[b"user:1"] = b"alice"          # durable when it returns: one transaction
        db["greeting"] = "hello"          # str keys and values are stored as UTF-8
        print(db[b"greeting"], len(db), b"user:1" in db)
        del db[b"user:1"]
        for key in db:                    # keys, as bytes
            ...

The store is an obj pool file (layout ``pmalloc-kv``, see ``pmalloc_kv.h``): a hash table of
entries that hold their key and value. Every set and delete is one transaction, so once it
returns it survives a crash or kill -9, and an interrupted one leaves no trace. The pool does
not grow: ``size`` fixes its capacity when it is created; a set that does not fit raises
MemoryError and changes nothing. Deleted entries' space is reused.

Flags as dbm's: ``"r"`` read only (an existing store; changes raise ReadOnlyError), ``"w"``
read and write (an existing store), ``"c"`` (the default) read and write, created when
missing, ``"n"`` a new empty store in place of whatever was there. While open, the file is
locked: one writer, or any number of readers (BlockingIOError otherwise). A handle may be
shared by threads; its calls take turns.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any, Final

from pmalloc import _args, _capi
from pmalloc._handle import PoolHandle, opening
from pmalloc.errors import (CorruptPoolError, InvalidArgumentError, PmallocTypeError,
                            ReadOnlyError)

__all__ = ["open", "KV", "DEFAULT_SIZE", "MIN_SIZE"]

#: The size of a new store when none is given (its capacity: stores do not grow).
DEFAULT_SIZE: Final = 128 << 20
#: The smallest store (an obj pool's minimum).
MIN_SIZE: Final = 8 << 20

_FLAGS: Final = {"r": _capi.KV_RDONLY, "w": 0, "c": _capi.KV_CREATE, "n": _capi.KV_TRUNC}

Bytes = bytes | bytearray | memoryview | str


def _bytes(value: Bytes, what: str) -> bytes:
    """value as bytes: str as UTF-8 (as dbm stores it), any other buffer copied."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise PmallocTypeError(f"{what}s must be bytes or str, not {type(value).__name__}")


def open(path: _args.PathArg, flag: str = "c", mode: int = 0o666,  # noqa: A001 - dbm's name
         size: int = DEFAULT_SIZE) -> KV:
    """Open the store at ``path`` (see the module's text for ``flag``); ``mode`` and ``size``
    apply when it is created. FileNotFoundError when it is missing ("r", "w");
    CorruptPoolError when the file is not a sound store."""
    p = _args.path(path, "path")
    if flag not in _FLAGS:
        raise InvalidArgumentError(f"flag must be one of 'r', 'w', 'c' or 'n', not {flag!r}")
    n = _args.size(size, "size")
    creates = flag == "n" or flag == "c" and (not os.path.exists(p) or os.path.getsize(p) == 0)
    if creates and n < MIN_SIZE:
        raise InvalidArgumentError(f"size {n} is below MIN_SIZE ({MIN_SIZE})")
    return KV(opening(_capi.kv_open, p, _FLAGS[flag], n, mode), p, flag == "r")


class KV(PoolHandle, MutableMapping[bytes, bytes]):
    """An open store: a ``MutableMapping[bytes, bytes]``. Made by :func:`open`."""

    _nocopy_why = "it owns a C store handle, which a copy would close twice"
    _what = "key/value store"
    _release = staticmethod(_capi.kv_close)

    def __init__(self, handle: Any, path: str | None, readonly: bool = False) -> None:
        super().__init__(handle, path)
        self._readonly = readonly
        self._lock = threading.Lock()        # one C call at a time per handle
        self._out = _capi.kv_out()

    @classmethod
    def _map(cls, address: int, size: int, create: bool) -> KV:
        """A store over memory mapped elsewhere (the crash simulator's mapping)."""
        try:
            return cls(_capi.kv_map(address, size, create), None)
        except InvalidArgumentError as exc:
            raise CorruptPoolError(str(exc)) from None

    def close(self) -> None:
        """Close the store; safe twice."""
        with self._lock:
            super().close()

    def sync(self) -> None:
        """Nothing to do: every change is durable when it returns (dbm's name)."""
        self._handle()

    @property
    def readonly(self) -> bool:
        return self._readonly

    def _writable(self) -> Any:
        h = self._handle()
        if self._readonly:
            raise ReadOnlyError("the store is open for reading only (flag 'r')")
        return h

    # ---- the mapping ----

    # The three hot calls test the common case (bytes, open, writable) inline.

    def __getitem__(self, key: Bytes) -> bytes:
        k = key if type(key) is bytes else _bytes(key, "key")
        with self._lock:
            v = _capi.kv_get(self._h or self._handle(), k, self._out)
        if v is None:
            raise KeyError(key)
        return v

    def __setitem__(self, key: Bytes, value: Bytes) -> None:
        k = key if type(key) is bytes else _bytes(key, "key")
        v = value if type(value) is bytes else _bytes(value, "value")
        with self._lock:
            h = self._h
            _capi.kv_set(h if h is not None and not self._readonly else self._writable(), k, v)

    def __delitem__(self, key: Bytes) -> None:
        k = _bytes(key, "key")
        with self._lock:
            if not _capi.kv_del(self._writable(), k):
                raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        k = _bytes(key, "key")                             # type: ignore[arg-type]
        with self._lock:
            return _capi.kv_has(self._handle(), k, self._out)

    def __len__(self) -> int:
        with self._lock:
            return _capi.kv_count(self._handle())

    def __iter__(self) -> Iterator[bytes]:
        """The keys. Replacing values on the way is fine; adding or removing keys raises
        RuntimeError at the next step, as a dict does."""
        pos = _capi.kv_iter()
        with self._lock:
            shape = _capi.kv_shape(self._handle())
        while True:
            with self._lock:
                h = self._handle()
                if _capi.kv_shape(h) != shape:
                    raise RuntimeError("the store changed size during iteration")
                key = _capi.kv_next_key(h, pos, self._out)
            if key is None:
                return
            yield key

    def command(self, *args: Bytes) -> bytes:
        """Run one Redis command (``db.command("LPUSH", "l", "a")``) on the store, as the
        kv-server would, in a transaction of its own; its reply as RESP2 bytes (an error
        reply included: ``b"-ERR ..."``)."""
        if not args:
            raise InvalidArgumentError("a command needs its name")
        argv = [_bytes(a, "argument") for a in args]
        with self._lock:
            return _capi.kv_command(self._writable(), argv)

    def stats(self) -> dict[str, int]:
        """keys, and the pool's bytes: size, free (in free pages) and used (by entries
        and the table)."""
        with self._lock:
            h = self._handle()
            free, used, _, _ = _capi.obj_usage(_capi.kv_pool(h))
            size = _capi.obj_ids(_capi.kv_pool(h))[2]
            return {"keys": _capi.kv_count(h), "size": size, "free": free, "used": used}

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self)} keys"
        return f"<pmalloc.kv.KV {self._path!r} ({state})>"
