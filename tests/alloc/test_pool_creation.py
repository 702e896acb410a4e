"""vmem_create's errors through cffi: below the minimum, a missing directory, a file, no
permission, absurd sizes (each NULL with errno and a message, no file left); the
smallest pool, whose file is never visible.
"""
from __future__ import annotations

import errno
import os
import stat

import pytest

from conftest import MiB, VMEM_MIN_POOL, errno_text
from pmalloc._native import ffi, lib

from .helpers import PAGE, SIZE_MAX, errmsg


def create_error(directory: str, size: int) -> int:
    ffi.errno = 0
    vmp = lib.vmem_create(os.fsencode(directory), size)
    err = ffi.errno
    if vmp != ffi.NULL:
        lib.vmem_delete(vmp)
        pytest.fail(f"vmem_create({directory!r}, {size}): expected NULL, saw a pool")
    assert errmsg(), f"vmem_create({directory!r}, {size}) failed: expected a message, saw ''"
    return err


@pytest.mark.parametrize("size", [0, 1, PAGE, MiB, VMEM_MIN_POOL - 1])
def test_create_below_minimum_is_einval(pool_dir, size):
    err = create_error(pool_dir, size)
    assert err == errno.EINVAL, f"vmem_create(dir, {size}): expected EINVAL, saw {errno_text(err)}"
    assert os.listdir(pool_dir) == [], f"expected no file left, saw {os.listdir(pool_dir)}"


def test_create_minimum_and_no_visible_file(make_vmem, pool_dir):
    vmp = make_vmem.create(VMEM_MIN_POOL)
    p = lib.vmem_malloc(vmp, 1000)
    assert p != ffi.NULL
    assert os.listdir(pool_dir) == [], (
        f"the pool's file: expected unlinked (nothing listed), saw {os.listdir(pool_dir)}")
    lib.vmem_free(vmp, p)


def test_create_missing_dir_is_enoent(pool_dir):
    err = create_error(os.path.join(pool_dir, "missing"), 32 * MiB)
    assert err == errno.ENOENT, f"vmem_create(missing dir): expected ENOENT, saw {errno_text(err)}"


@pytest.mark.parametrize("below", ["", "sub"])
def test_create_regular_file_as_dir_is_enotdir(pool_dir, below):
    path = os.path.join(pool_dir, "file")
    with open(path, "wb") as f:
        f.write(b"x")
    err = create_error(os.path.join(path, below) if below else path, 32 * MiB)
    assert err == errno.ENOTDIR, (
        f"vmem_create(a regular file{' /sub' if below else ''}): expected ENOTDIR, "
        f"saw {errno_text(err)}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any directory")
def test_create_without_write_permission_is_eacces(pool_dir):
    ro = os.path.join(pool_dir, "ro")
    os.mkdir(ro, 0o500)
    try:
        err = create_error(ro, 32 * MiB)
    finally:
        os.chmod(ro, stat.S_IRWXU)
    assert err == errno.EACCES, f"vmem_create(read-only dir): expected EACCES, saw {errno_text(err)}"


@pytest.mark.parametrize("size", [SIZE_MAX, SIZE_MAX // 2, 1 << 62])
def test_create_absurd_size_fails_cleanly(pool_dir, size):
    err = create_error(pool_dir, size)
    assert err in (errno.ENOMEM, errno.EINVAL, errno.EFBIG, errno.ENOSPC), (
        f"vmem_create(dir, {size:#x}): expected ENOMEM, EINVAL, EFBIG or ENOSPC, "
        f"saw {errno_text(err)}")
    assert os.listdir(pool_dir) == [], f"expected no file left, saw {os.listdir(pool_dir)}"
