"""pmalloc.errors: the exception families and the errno mapping (shared by every layer;
a pool refusing a bad setting is in tests/alloc/test_settings.py)."""
from __future__ import annotations

import errno
import os
import pickle

import pytest

from pmalloc import errors
from pmalloc.errors import (
    CorruptPoolError,
    ForeignPointerError,
    InvalidArgumentError,
    InvalidBufferError,
    OutOfMemoryError,
    PmallocError,
    PmallocOSError,
    PoolClosedError,
    PoolError,
    error_from_errno,
)
from pmalloc._capi import last_error

SPECIAL = {errno.ENOMEM, errno.EINVAL}


@pytest.mark.parametrize(
    "err, builtin",
    [
        (errno.ENOENT, FileNotFoundError),
        (errno.EACCES, PermissionError),
        (errno.EPERM, PermissionError),
        (errno.ENOTDIR, NotADirectoryError),
        (errno.EEXIST, FileExistsError),
        (errno.EISDIR, IsADirectoryError),
        (errno.EAGAIN, BlockingIOError),
        (errno.EPIPE, BrokenPipeError),
        (errno.ECONNRESET, ConnectionResetError),
        (errno.ETIMEDOUT, TimeoutError),
        (errno.EINTR, InterruptedError),
        (errno.ENOSPC, OSError),
    ],
)
def test_oserror_family(err: int, builtin: type[OSError]) -> None:
    e = error_from_errno(err, "pool directory /x: oops", "/x")
    assert isinstance(e, builtin), f"errno {err}: expected a {builtin.__name__}, saw {type(e)}"
    assert isinstance(e, PmallocError) and isinstance(e, PmallocOSError)
    assert isinstance(e, OSError)
    assert (e.errno, e.strerror, e.filename) == (err, "pool directory /x: oops", "/x"), (
        f"expected OSError fields ({err}, message, '/x'), saw {(e.errno, e.strerror, e.filename)}")


def test_every_errno_matches_python_choice() -> None:
    for err in sorted(errno.errorcode):
        if err in SPECIAL:
            continue
        e = error_from_errno(err)
        python_picks = type(OSError(err, ""))
        assert isinstance(e, python_picks), (
            f"errno {errno.errorcode[err]}: Python picks {python_picks.__name__}, "
            f"saw {type(e).__mro__}")
        assert isinstance(e, PmallocError) and e.errno == err


def test_enomem_and_einval() -> None:
    oom = error_from_errno(errno.ENOMEM, "pool exhausted")
    assert isinstance(oom, OutOfMemoryError) and isinstance(oom, MemoryError)
    assert oom.errno == errno.ENOMEM and str(oom) == "pool exhausted"
    bad = error_from_errno(errno.EINVAL, "size 1 smaller than 14680064", "/dev/shm")
    assert isinstance(bad, InvalidArgumentError) and isinstance(bad, ValueError)
    assert bad.errno == errno.EINVAL and "smaller" in str(bad)


def test_empty_message_uses_strerror() -> None:
    e = error_from_errno(errno.ENOENT, "")
    assert isinstance(e, FileNotFoundError)
    assert e.strerror == os.strerror(errno.ENOENT), f"saw {e.strerror!r}"
    z = error_from_errno(0, "")
    assert type(z) is PmallocOSError, f"errno 0: expected PmallocOSError, saw {type(z)}"


def test_pool_error_family() -> None:
    assert issubclass(PoolError, PmallocError)
    for cls in (PoolClosedError, InvalidBufferError, ForeignPointerError):
        assert issubclass(cls, PoolError) and issubclass(cls, ValueError), cls
    assert issubclass(CorruptPoolError, PoolError)
    assert not issubclass(OutOfMemoryError, OSError)


def test_errors_pickle() -> None:
    for e in (error_from_errno(errno.ENOENT, "missing", "/nope"),
              error_from_errno(errno.ENOMEM, "full"),
              error_from_errno(errno.EINVAL, "bad"),
              PoolClosedError("closed")):
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e), f"{e!r} came back as {back!r}"


def test_last_error_reads_errno_and_message(tmp_path) -> None:
    from pmalloc._native import ffi, lib

    missing = str(tmp_path / "missing")
    vmp = lib.vmem_create(missing.encode(), 16 << 20)
    assert vmp == ffi.NULL
    e = last_error(missing)
    assert isinstance(e, FileNotFoundError) and isinstance(e, PmallocError), repr(e)
    assert e.filename == missing and e.strerror, f"saw {e!r}"


def test_all_names_exist() -> None:
    for name in errors.__all__:
        assert hasattr(errors, name), name
