"""pmalloc.pmem: map_file, Mapping, errors, persistence calls, data across reopen."""
from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest

import pmalloc
from pmalloc import pmem
from pmalloc.errors import InvalidArgumentError, PmallocError, PoolClosedError


def test_create_write_persist_reopen(pool_dir):
    path = os.path.join(pool_dir, "f")
    with pmem.map_file(path, 10000, create=True, exclusive=True, mode=0o640) as m:
        assert len(m) == 10000 and m.path == path and not m.closed
        assert m.is_pmem is False and m.persist_kind == "msync"   # /dev/shm is not DAX
        m[0:13] = b"Hello, World!"
        m.persist(0, 13)
        m.memcpy_persist(5000, b"abc" * 100)
        m.memset_persist(9000, 0x7A, 1000)
        m.flush(0, 100)
        m.drain()
        m.msync(1, 10)
        m[9999] = 1
        m.persist()
    assert m.closed
    st = os.stat(path)
    assert st.st_size == 10000 and stat.S_IMODE(st.st_mode) == 0o640
    with pmem.map_file(path) as m:
        assert m[0:13] == b"Hello, World!"
        assert m[5000:5300] == b"abc" * 100
        assert m[9000:9999] == b"z" * 999 and m[9999] == 1


def test_buffer_protocol_and_numpy(pool_dir):
    with pmem.map_file(os.path.join(pool_dir, "n"), 1 << 16, create=True) as m:
        a = np.frombuffer(m, dtype=np.float64)
        a[:] = np.arange(a.size)
        with pytest.raises(BufferError):
            m.close()                      # refused while exported; nothing changed
        assert not m.closed and m[8:16] == np.float64(1).tobytes()
        m.persist()
        del a
        view = memoryview(m)
        assert view.nbytes == 1 << 16 and not view.readonly
        view.release()
        m.memcpy_persist(0, np.array([7, 8], dtype=np.int64))
        assert m[0:16] == np.array([7, 8], dtype=np.int64).tobytes()


def test_closed_mapping_raises(pool_dir):
    m = pmem.map_file(os.path.join(pool_dir, "c"), 4096, create=True)
    m.close()
    m.close()                               # safe twice
    for call in (lambda: m.persist(), lambda: m[0:1], lambda: m.drain(),
                 lambda: m.memcpy_persist(0, b"x")):
        with pytest.raises(PoolClosedError):
            call()
    assert len(m) == 0


def test_errors_carry_errno_and_filename(pool_dir):
    missing = os.path.join(pool_dir, "missing")
    with pytest.raises(FileNotFoundError) as e:
        pmem.map_file(missing)
    assert e.value.errno == errno.ENOENT and e.value.filename == missing
    assert isinstance(e.value, PmallocError)

    path = os.path.join(pool_dir, "x")
    pmem.map_file(path, 4096, create=True).close()
    with pytest.raises(FileExistsError) as e:
        pmem.map_file(path, 4096, create=True, exclusive=True)
    assert e.value.errno == errno.EEXIST and e.value.filename == path

    with pytest.raises(IsADirectoryError):
        pmem.map_file(pool_dir)
    with pytest.raises(FileNotFoundError):
        pmem.map_file(os.path.join(pool_dir, "no", "such"), 4096, create=True)
    assert not os.path.exists(missing)


@pytest.mark.parametrize("kwargs", [
    {"size": 4096},                                  # size without create
    {"size": 0, "create": True},                     # create without size
    {"size": -1, "create": True},
    {"exclusive": True},
    {"sparse": True},
])
def test_bad_arguments(pool_dir, kwargs):
    with pytest.raises(InvalidArgumentError):
        pmem.map_file(os.path.join(pool_dir, "b"), **kwargs)
    assert not os.path.exists(os.path.join(pool_dir, "b"))


def test_empty_file_is_einval(pool_dir):
    path = os.path.join(pool_dir, "empty")
    open(path, "w").close()
    with pytest.raises(InvalidArgumentError):
        pmem.map_file(path)


def test_ranges_are_checked(pool_dir):
    with pmem.map_file(os.path.join(pool_dir, "r"), 100, create=True) as m:
        m.persist(100, 0)                    # empty range at the end is fine
        for call in (lambda: m.persist(101), lambda: m.persist(50, 51),
                     lambda: m.persist(-1), lambda: m.memcpy_persist(99, b"ab"),
                     lambda: m.memset_persist(0, 256, 1), lambda: m.memcpy(0, b"a", 1 << 10)):
            with pytest.raises(ValueError):
                call()


def test_sparse_and_tmpfile(pool_dir):
    path = os.path.join(pool_dir, "s")
    with pmem.map_file(path, 8 << 20, create=True, sparse=True) as m:
        assert os.stat(path).st_blocks * 512 < (8 << 20)
        m[0] = 1
    with pmem.map_file(path, 8 << 20, create=True) as m:   # existing file, allocated now
        assert os.stat(path).st_blocks * 512 >= (8 << 20)
        assert m[0] == 1
    before = set(os.listdir(pool_dir))
    with pmem.map_file(pool_dir, 1 << 16, create=True, tmpfile=True) as m:
        assert m.path is None and len(m) == 1 << 16
        m.memcpy_persist(0, b"tmp")
        assert set(os.listdir(pool_dir)) == before


def test_resize_existing_with_create(pool_dir):
    path = os.path.join(pool_dir, "g")
    with pmem.map_file(path, 8192, create=True) as m:
        m[8000:8005] = b"tail!"
        m[0:4] = b"head"
        m.persist()
    with pmem.map_file(path, 4100, create=True) as m:      # truncated, unaligned
        assert len(m) == 4100 and m[0:4] == b"head"
    assert os.path.getsize(path) == 4100


def test_c_level_is_pmem_and_ops(pool_dir):
    from pmalloc._native import ffi, lib
    with pmem.map_file(os.path.join(pool_dir, "o"), 4096, create=True) as m:
        ptr = ffi.cast("void *", m._addr)
        assert lib.pmem_is_pmem(ptr, 4096) == 0
        ops = lib.pmalloc_persist_ops(ptr, 4096, lib.PMALLOC_OPS_AUTO)
        assert ffi.string(lib.pmalloc_ops_name(ops)) == b"msync"
        for kind, name in ((lib.PMALLOC_OPS_PMEM, b"pmem"), (lib.PMALLOC_OPS_MSYNC, b"msync"),
                           (lib.PMALLOC_OPS_VOLATILE, b"volatile")):
            ops = lib.pmalloc_persist_ops(ptr, 4096, kind)
            assert ffi.string(lib.pmalloc_ops_name(ops)) == name
            src = bytes(range(200))
            lib.pmalloc_ops_memcpy(ops, ptr, src, 200, 0)
            lib.pmalloc_ops_memset(ops, ffi.cast("char *", ptr) + 200, 9, 100, 0)
            lib.pmalloc_ops_persist(ops, ptr, 300)
            lib.pmalloc_ops_flush(ops, ptr, 300)
            lib.pmalloc_ops_drain(ops)
            assert m[0:200] == src and m[200:300] == b"\x09" * 100
            m[0:300] = bytes(300)
        ffi.errno = 0
        assert lib.pmalloc_persist_ops(ptr, 4096, 99) == ffi.NULL
        assert ffi.errno == errno.EINVAL
        ffi.errno = 0
        lib.pmalloc_ops_persist(ffi.NULL, ptr, 10)          # refused, not a crash
        assert ffi.errno == errno.EINVAL
    # after unmap the range is no longer known
    assert lib.pmem_is_pmem(ptr, 4096) == 0


def test_check_version_and_errormsg():
    from pmalloc._native import ffi, lib
    assert lib.pmem_check_version(1, 0) == ffi.NULL
    msg = lib.pmem_check_version(2, 0)
    assert msg != ffi.NULL and b"major" in ffi.string(msg)
    assert b"major" in ffi.string(lib.pmem_errormsg())
    assert lib.pmem_has_hw_drain() == 0
    assert lib.pmem_has_auto_flush() in (0, 1)


def test_public_names():
    assert pmalloc.pmem.map_file is pmem.map_file
    info = pmem.info()
    assert info["flush"] in ("clwb", "clflushopt", "clflush", "none")
    assert info["movnt"] in ("avx512f", "avx", "sse2", "none")
