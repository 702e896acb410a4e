"""Argument conversion and checks of the Python API, in one place: sizes, alignments, modes,
paths.

The edges are the same for every call:

- not an int (for a path: not str, bytes or os.PathLike): :class:`PmallocTypeError`;
- an int the C call cannot be given -- negative, past ``size_t`` (or, for a file, past
  ``off_t``), a mode outside the permission bits, a path with a NUL byte: an
  :class:`InvalidArgumentError` (``ValueError``) naming the argument, never Python's bare
  ``OverflowError`` from cffi;
- a representable request the system cannot satisfy is the C call's business:
  OutOfMemoryError (ENOMEM) or the OSError the system gives.

A NUL byte would end the path the C code sees: ``map_file("victim\\0.new", create=True)``
would truncate ``victim``. So every path is checked here, as ``os.open`` does.
"""
from __future__ import annotations

import operator
import os
from typing import Any, Final, Union

from pmalloc._native import ffi
from pmalloc.errors import InvalidArgumentError, PmallocTypeError

__all__ = ["SIZE_MAX", "FILE_SIZE_MAX", "PathArg", "integer", "size", "positive_size",
           "file_size", "alignment", "mode", "path", "buffer"]

#: The largest size_t: the largest byte count a C call can be given.
SIZE_MAX: Final = (1 << (8 * ffi.sizeof("size_t"))) - 1
#: The largest file size off_t holds (signed): a pool or mapped file cannot be larger.
FILE_SIZE_MAX: Final = min(SIZE_MAX, (1 << (8 * ffi.sizeof("off_t") - 1)) - 1)
#: The permission bits open(2) takes (with setuid, setgid, sticky); others are meaningless.
MODE_BITS: Final = 0o7777

#: What a path argument may be: as for os.open, str or bytes, or a path-like of either.
PathArg = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]


def integer(value: int, what: str) -> int:
    """``value`` as an int (anything with ``__index__``); PmallocTypeError naming ``what``."""
    try:
        return operator.index(value)
    except TypeError:
        raise PmallocTypeError(f"{what} must be an int, not {type(value).__name__}") from None


def size(value: int, what: str, limit: int = SIZE_MAX) -> int:
    """A byte count in [0, limit]; InvalidArgumentError naming ``what`` outside it."""
    n = integer(value, what)
    if n < 0:
        raise InvalidArgumentError(f"{what} must not be negative, got {n}")
    if n > limit:
        raise InvalidArgumentError(f"{what} {n} cannot be represented (at most {limit})")
    return n


def positive_size(value: int, what: str, limit: int = SIZE_MAX) -> int:
    """A byte count in [1, limit]."""
    n = size(value, what, limit)
    if n == 0:
        raise InvalidArgumentError(f"{what} must be a positive int, got 0")
    return n


def file_size(value: int, what: str) -> int:
    """A byte count that is also a file's size (a pool file, a mapped file)."""
    return size(value, what, FILE_SIZE_MAX)


def alignment(value: int) -> int:
    """A power of two that fits size_t."""
    a = integer(value, "alignment")
    if a <= 0 or a & (a - 1) or a > SIZE_MAX:
        raise InvalidArgumentError(f"alignment must be a power of two, got {a}")
    return a


def mode(value: int) -> int:
    """A file mode for a file being created: permission bits only (0 to 0o7777)."""
    m = integer(value, "mode")
    if not 0 <= m <= MODE_BITS:
        raise InvalidArgumentError(f"mode must be permission bits (0 to 0o7777), got {m:#o}")
    return m


def path(value: PathArg, what: str) -> str:
    """A path argument as str (bytes decoded as os.fsdecode does, so ``os.fsencode`` gives
    the same bytes back for the C call); InvalidArgumentError for an embedded NUL byte."""
    try:
        text = os.fsdecode(os.fspath(value))
    except TypeError:
        raise PmallocTypeError(f"{what} must be str, bytes or os.PathLike, "
                               f"not {type(value).__name__}") from None
    if "\0" in text:
        raise InvalidArgumentError(f"embedded null byte in {what} {text!r}")
    return text


def layout(value: str | bytes | None, limit: int = 1023) -> str | None:
    """An obj pool's layout name: None, or str (bytes decoded as UTF-8) of at most ``limit``
    bytes with no NUL; PmallocTypeError / InvalidArgumentError naming the layout."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgumentError(f"the layout {value!r} is not UTF-8") from None
    if not isinstance(value, str):
        raise PmallocTypeError(f"a layout must be str or None, not {type(value).__name__}")
    if "\0" in value:
        raise InvalidArgumentError(f"embedded null byte in the layout {value!r}")
    if len(value.encode("utf-8")) > limit:
        raise InvalidArgumentError(f"a layout name is at most {limit} bytes, "
                                   f"not {len(value.encode('utf-8'))}")
    return value


def buffer(value: Any, what: str) -> Any:
    """A bytes-like object as a cdata buffer for a C call (``with _args.buffer(...) as b``,
    ``len(b)`` its bytes), without a copy; PmallocTypeError naming ``what`` otherwise."""
    try:
        return ffi.from_buffer(value)
    except TypeError:
        raise PmallocTypeError(
            f"{what} must be a bytes-like object, not {type(value).__name__}") from None
