"""A persist that fails (msync's EIO, ENOSPC ...) reaches the caller: -1 + errno + message in
C, an OSError subclass with that errno in Python.

The failures are injected with ``pmalloc_ops_inject_failure`` (a test hook in the msync
persist-ops table: its next persists and flushes fail as msync would, without calling it),
so the tests run on any file system.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Iterator

import pytest

from pmalloc import pmem
from pmalloc._native import ffi, lib
from pmalloc.errors import PmallocError, error_from_errno

SIZE = 8192


@pytest.fixture
def inject() -> Iterator:
    """``inject(err, count)`` arms the msync table's failures; disarmed after the test."""
    def arm(err: int, count: int = 1) -> None:
        assert lib.pmalloc_ops_inject_failure(err, count) == 0, "arming refused"
    yield arm
    lib.pmalloc_ops_inject_failure(0, 0)


@pytest.fixture
def mapping(pool_dir: str) -> Iterator[pmem.Mapping]:
    with pmem.map_file(os.path.join(pool_dir, "f"), SIZE, create=True) as m:
        yield m


def _expect_oserror(info: pytest.ExceptionInfo, err: int, path: str | None) -> None:
    exc = info.value
    want = type(error_from_errno(err, "", path))
    assert isinstance(exc, OSError) and isinstance(exc, PmallocError), (
        f"expected an OSError that is a PmallocError, saw {type(exc).__name__}: {exc}")
    assert type(exc) is want, f"expected {want.__name__}, saw {type(exc).__name__}"
    assert exc.errno == err, f"expected errno {err}, saw {exc.errno}"
    assert "msync" in exc.strerror and os.strerror(err) in exc.strerror, (
        f"expected the C message (msync and {os.strerror(err)!r}), saw {exc.strerror!r}")
    assert exc.filename == path


def _needs_msync(m: pmem.Mapping) -> None:
    if m.persist_kind != "msync":
        pytest.skip(f"persist goes through the {m.persist_kind} table here (PMEM_IS_PMEM_FORCE?)")


@pytest.mark.parametrize("err", [errno.EIO, errno.ENOSPC, errno.EACCES])
def test_persist_raises_the_errno(mapping, inject, err):
    _needs_msync(mapping)
    mapping[0:5] = b"hello"
    inject(err)
    with pytest.raises(OSError) as info:
        mapping.persist(0, 5)
    _expect_oserror(info, err, mapping.path)
    mapping.persist(0, 5)  # the injected failure is used up: works again


def test_flush_raises_drain_does_not(mapping, inject):
    _needs_msync(mapping)
    inject(errno.EIO)
    with pytest.raises(OSError) as info:
        mapping.flush(100, 10)
    _expect_oserror(info, errno.EIO, mapping.path)
    mapping.drain()


def test_msync_goes_through_the_table(mapping, inject):
    """Mapping.msync has no path of its own: the msync table's failure is its failure,
    whatever persist_kind is."""
    inject(errno.EIO)
    with pytest.raises(OSError) as info:
        mapping.msync()
    _expect_oserror(info, errno.EIO, mapping.path)
    mapping.msync()


def test_copies_raise_after_copying(mapping, inject):
    _needs_msync(mapping)
    inject(errno.EIO, 2)
    with pytest.raises(OSError) as info:
        mapping.memcpy_persist(0, b"world")
    _expect_oserror(info, errno.EIO, mapping.path)
    assert mapping[0:5] == b"world"
    with pytest.raises(OSError):
        mapping.memset(64, 0x41, 10, pmem.F_MEM_NODRAIN)
    assert mapping[64:74] == b"A" * 10
    inject(errno.EIO, 1)
    mapping.memcpy(0, b"later", pmem.F_MEM_NOFLUSH)  # no msync, so nothing to fail
    with pytest.raises(OSError):
        mapping.persist(0, 5)


def test_ops_table_returns_minus_one_with_errno_and_message(mapping, inject):
    ptr = ffi.cast("char *", mapping._addr)
    ops = lib.pmalloc_persist_ops(ptr, SIZE, lib.PMALLOC_OPS_MSYNC)
    inject(errno.EIO, 3)
    for call in (lambda: lib.pmalloc_ops_persist(ops, ptr, 10),
                 lambda: lib.pmalloc_ops_flush(ops, ptr, 10)):
        ffi.errno = 0
        assert call() == -1
        assert ffi.errno == errno.EIO, f"expected errno EIO, saw {ffi.errno}"
        assert b"msync" in ffi.string(lib.pmalloc_errormsg())
    ffi.errno = 0
    assert lib.pmalloc_ops_memcpy(ops, ptr, b"abc", 3, 0) == ffi.NULL
    assert ffi.errno == errno.EIO
    assert lib.pmalloc_ops_drain(ops) == 0
    assert lib.pmalloc_ops_persist(ops, ptr, 10) == 0  # three used up


def test_other_tables_are_not_touched(mapping, inject):
    ptr = ffi.cast("char *", mapping._addr)
    inject(errno.EIO)
    for kind in (lib.PMALLOC_OPS_PMEM, lib.PMALLOC_OPS_VOLATILE):
        ops = lib.pmalloc_persist_ops(ptr, SIZE, kind)
        assert lib.pmalloc_ops_persist(ops, ptr, 10) == 0
    assert lib.pmalloc_ops_persist(
        lib.pmalloc_persist_ops(ptr, SIZE, lib.PMALLOC_OPS_MSYNC), ptr, 10) == -1


def test_arming_checks_its_errno():
    ffi.errno = 0
    assert lib.pmalloc_ops_inject_failure(0, 1) == -1
    assert ffi.errno == errno.EINVAL
    assert lib.pmalloc_ops_inject_failure(-5, 1) == -1
    assert lib.pmalloc_ops_inject_failure(0, 0) == 0  # disarm is always fine


def test_null_table_is_refused():
    ffi.errno = 0
    assert lib.pmalloc_ops_persist(ffi.NULL, ffi.NULL, 1) == -1
    assert ffi.errno == errno.EINVAL
    assert lib.pmalloc_ops_memset(ffi.NULL, ffi.NULL, 0, 1, 0) == ffi.NULL


def test_c_program(c_program, pool_dir):
    """The same from C: -1 (NULL for the copies) with errno and pmalloc_errormsg()."""
    run = c_program("pmem_persist_errors.c", pool_dir)
    run.expect_success()
    assert "0 failed" in run.stdout, run.describe()
