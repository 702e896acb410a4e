"""The exceptions pmalloc raises, and the errno mapping behind them.

Every exception pmalloc raises on purpose is a :class:`PmallocError`, mixed into the builtin
class a Python caller already expects:

- :class:`PoolError` and its family for the state of a pool or a buffer: a closed pool
  (:class:`PoolClosedError`, also a ``ValueError``, as a closed file's), a freed buffer
  (:class:`InvalidBufferError`), an address the pool did not hand out
  (:class:`ForeignPointerError`), a pool that does not check out (:class:`CorruptPoolError`);
- :class:`PmallocOSError` for a failed system call, built as ``OSError(errno, message,
  filename)`` and mixed into the subclass Python itself picks for that errno, so
  ``except FileNotFoundError`` and ``except PermissionError`` work;
- :class:`OutOfMemoryError` (a ``MemoryError``) when a pool is exhausted (``ENOMEM``);
- :class:`InvalidArgumentError` (a ``ValueError``) for ``EINVAL`` and bad arguments;
- :class:`PmallocTypeError` (a ``TypeError``) for an argument of the wrong type, and for an
  object that cannot be copied or pickled (it stands for a C handle or raw memory).

The C layer reports a failure as errno plus a thread-local message (``pmalloc_errormsg()``);
:func:`error_from_errno` is the mapping, and :func:`pmalloc._capi.last_error` (the one place
that reads the pair) applies it.
"""
from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "PmallocError",
    "PoolError",
    "PoolClosedError",
    "CorruptPoolError",
    "InvalidBufferError",
    "ForeignPointerError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "PmallocTypeError",
    "PmallocOSError",
    "PmallocBlockingIOError",
    "PmallocChildProcessError",
    "PmallocConnectionError",
    "PmallocBrokenPipeError",
    "PmallocConnectionAbortedError",
    "PmallocConnectionRefusedError",
    "PmallocConnectionResetError",
    "PmallocFileExistsError",
    "PmallocFileNotFoundError",
    "PmallocInterruptedError",
    "PmallocIsADirectoryError",
    "PmallocNotADirectoryError",
    "PmallocPermissionError",
    "PmallocProcessLookupError",
    "PmallocTimeoutError",
    "error_from_errno",
]


class PmallocError(Exception):
    """The base of every exception pmalloc raises on purpose."""


# ---- Pool state ---------------------------------------------------------------------------


class PoolError(PmallocError):
    """A pool, or a buffer of one, cannot do what was asked in its present state."""


class PoolClosedError(PoolError, ValueError):
    """An operation on a closed pool."""


class CorruptPoolError(PoolError):
    """A pool's metadata does not check out."""


class ReadOnlyError(PoolError):
    """A change to a pool or store opened for reading only."""

    errno: int = _errno.EROFS


class InvalidBufferError(PoolError, ValueError):
    """A buffer that was freed (a double free), or whose pool was closed."""


class ForeignPointerError(PoolError, ValueError):
    """An address or buffer this pool did not hand out, or has already taken back."""


# ---- Arguments and memory -----------------------------------------------------------------


class InvalidArgumentError(PmallocError, ValueError):
    """A bad argument: EINVAL from the C layer, or caught before the call."""

    errno: int = _errno.EINVAL


class OutOfMemoryError(PmallocError, MemoryError):
    """The pool (or the system) cannot supply the memory asked for: ENOMEM."""

    errno: int = _errno.ENOMEM


class PmallocTypeError(PmallocError, TypeError):
    """An argument of the wrong type, or an object that refuses to be copied or pickled."""


# ---- System calls -------------------------------------------------------------------------


class PmallocOSError(PmallocError, OSError):
    """A failed system call; errno, strerror and filename as on any OSError."""


class PmallocBlockingIOError(PmallocOSError, BlockingIOError):
    """EAGAIN and friends."""


class PmallocChildProcessError(PmallocOSError, ChildProcessError):
    """ECHILD."""


class PmallocConnectionError(PmallocOSError, ConnectionError):
    """A connection failure without a more precise class."""


class PmallocBrokenPipeError(PmallocConnectionError, BrokenPipeError):
    """EPIPE, ESHUTDOWN."""


class PmallocConnectionAbortedError(PmallocConnectionError, ConnectionAbortedError):
    """ECONNABORTED."""


class PmallocConnectionRefusedError(PmallocConnectionError, ConnectionRefusedError):
    """ECONNREFUSED."""


class PmallocConnectionResetError(PmallocConnectionError, ConnectionResetError):
    """ECONNRESET."""


class PmallocFileExistsError(PmallocOSError, FileExistsError):
    """EEXIST."""


class PmallocFileNotFoundError(PmallocOSError, FileNotFoundError):
    """ENOENT: for a pool, its directory does not exist."""


class PmallocInterruptedError(PmallocOSError, InterruptedError):
    """EINTR."""


class PmallocIsADirectoryError(PmallocOSError, IsADirectoryError):
    """EISDIR."""


class PmallocNotADirectoryError(PmallocOSError, NotADirectoryError):
    """ENOTDIR: for a pool, its directory is a regular file."""


class PmallocPermissionError(PmallocOSError, PermissionError):
    """EACCES, EPERM: for a pool, its directory is not writable."""


class PmallocProcessLookupError(PmallocOSError, ProcessLookupError):
    """ESRCH."""


class PmallocTimeoutError(PmallocOSError, TimeoutError):
    """ETIMEDOUT."""


# Builtin OSError subclass -> ours. The builtin side comes from Python itself (see
# _oserror_class), so the errno table is Python's, not a copy of it.
_OSERROR_MIXINS: dict[type[OSError], type[PmallocOSError]] = {
    BlockingIOError: PmallocBlockingIOError,
    ChildProcessError: PmallocChildProcessError,
    ConnectionError: PmallocConnectionError,
    BrokenPipeError: PmallocBrokenPipeError,
    ConnectionAbortedError: PmallocConnectionAbortedError,
    ConnectionRefusedError: PmallocConnectionRefusedError,
    ConnectionResetError: PmallocConnectionResetError,
    FileExistsError: PmallocFileExistsError,
    FileNotFoundError: PmallocFileNotFoundError,
    InterruptedError: PmallocInterruptedError,
    IsADirectoryError: PmallocIsADirectoryError,
    NotADirectoryError: PmallocNotADirectoryError,
    PermissionError: PmallocPermissionError,
    ProcessLookupError: PmallocProcessLookupError,
    TimeoutError: PmallocTimeoutError,
}


def _oserror_class(err: int) -> type[PmallocOSError]:
    """Our class for errno `err`: the one mixed into the class OSError(err, ...) becomes."""
    builtin = type(OSError(err, ""))
    return _OSERROR_MIXINS.get(builtin, PmallocOSError)


def error_from_errno(
    err: int, message: str = "", filename: str | os.PathLike[str] | None = None
) -> PmallocError:
    """The exception for errno `err` with `message` (``strerror(err)`` when empty).

    ENOMEM gives OutOfMemoryError, EINVAL InvalidArgumentError (both without the filename),
    any other errno a PmallocOSError subclass built as ``OSError(err, message, filename)``. Errno 0 (a C call
    that failed without saying why) gives a plain PmallocOSError.
    """
    text = message or (os.strerror(err) if err else "unknown error")
    exc: PmallocError
    if err == _errno.ENOMEM:
        exc = OutOfMemoryError(text)
    elif err == _errno.EINVAL:
        exc = InvalidArgumentError(text)
    elif filename is None:
        exc = _oserror_class(err)(err, text)
    else:
        exc = _oserror_class(err)(err, text, os.fspath(filename))
    return exc

