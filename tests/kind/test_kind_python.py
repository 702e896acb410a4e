"""pmalloc.kind from Python: static kinds, pmem kinds, detection, NumPy arrays in kinds."""
from __future__ import annotations

import errno
import os

import pytest

import pmalloc
from pmalloc import kind

MiB = 1 << 20


def test_default_and_regular_kinds_allocate():
    for k in (kind.DEFAULT, kind.REGULAR):
        assert k.available() == (True, "")
        buf = k.calloc(10, 1000)
        assert bytes(memoryview(buf)[:10]) == b"\0" * 10
        assert kind.detect(buf.address) is k and kind.detect(buf.address + 9999) is k
        buf.free()
    assert kind.DEFAULT.check()


def test_static_kinds_cannot_be_closed_or_made():
    with kind.DEFAULT as k:
        buf = k.malloc(64)
    assert not kind.DEFAULT.closed
    buf.free()                                  # still usable after the with block
    with pytest.raises(pmalloc.PmallocTypeError):
        kind.Kind()


@pytest.mark.skipif(bool(os.environ.get("MEMKIND_HBW_NODES")), reason="HBW nodes named")
def test_missing_memory_says_what_is_missing():
    ok, why = kind.HBW.available()
    assert not ok and "high-bandwidth" in why
    with pytest.raises(OSError) as info:
        kind.HBW.malloc(10)
    assert info.value.errno == errno.ENODEV and "high-bandwidth" in str(info.value)
    buf = kind.HBW_PREFERRED.malloc(100)        # a preferred kind falls back
    buf.free()


def test_hugetlb_without_reserved_pages_says_how_to_reserve():
    with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
        if int(f.read()) > 0:
            pytest.skip("huge pages are reserved here")
    ok, why = kind.HUGETLB.available()
    assert not ok and "nr_hugepages" in why
    with pytest.raises(OSError, match="nr_hugepages"):
        kind.HUGETLB.malloc(10)


def test_pmem_kind_lifecycle(pool_dir):
    with kind.create_pmem(pool_dir, max_size=64 * MiB) as k:
        assert k.size == 64 * MiB and not k.closed and k.name == "pmem"
        bufs = [k.malloc(1000 + i) for i in range(100)]
        assert all(kind.detect(b.address) is k for b in bufs)
        assert k.stats()["allocated"] >= 100 * 1000
        for b in bufs:
            b.free()
        assert k.check()
    assert k.closed
    k.close()                                   # safe twice
    with pytest.raises(pmalloc.PoolClosedError):
        k.malloc(10)
    assert os.listdir(pool_dir) == [], "the kind's file is unlinked"


def test_pmem_kind_bad_arguments(pool_dir, tmp_path):
    with pytest.raises(pmalloc.InvalidArgumentError, match="PMEM_MIN_SIZE"):
        kind.create_pmem(pool_dir, max_size=MiB)
    with pytest.raises(pmalloc.InvalidArgumentError, match="policy"):
        kind.create_pmem(pool_dir, policy="stingy")
    with pytest.raises(FileNotFoundError):
        kind.create_pmem(str(tmp_path / "missing"))
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    with pytest.raises(NotADirectoryError):
        kind.create_pmem(str(not_dir))


def test_pmem_kind_exhaustion_and_recovery(pool_dir):
    with kind.create_pmem(pool_dir, max_size=32 * MiB) as k:
        bufs = []
        with pytest.raises(MemoryError):
            while True:
                bufs.append(k.malloc(MiB))
        assert 16 < len(bufs) < 40
        for b in bufs:
            b.free()
        big = k.malloc(16 * MiB)
        big.free()


def test_unlimited_pmem_kind_and_conservative_policy(pool_dir):
    with kind.create_pmem(pool_dir, policy="conservative") as k:
        assert k.size == 0
        buf = k.malloc(64 * MiB)
        memoryview(buf)[::4096] = b"x" * (64 * MiB // 4096)
        peak = k.stats()["file_allocated"]
        buf.free()
        after = k.stats()["file_allocated"]
        assert peak >= 64 * MiB and after < peak // 20, (peak, after)


def test_create_and_destroy_many(pool_dir):
    for i in range(200):
        with kind.create_pmem(pool_dir, max_size=0 if i % 2 else 32 * MiB) as k:
            k.malloc(1 + i * 100).free()
    assert os.listdir(pool_dir) == []


def test_numpy_arrays_in_kinds(pool_dir):
    np = pytest.importorskip("numpy")
    with kind.create_pmem(pool_dir, max_size=128 * MiB) as k:
        a = k.zeros((500, 500))
        with pmalloc.numpy.use(kind.DEFAULT):
            b = np.ones(10_000)
        assert kind.detect(a.ctypes.data) is k and kind.detect(b.ctypes.data) is kind.DEFAULT
        handler = np._core.multiarray.get_handler_name(a) if hasattr(np, "_core") \
            else np.core.multiarray.get_handler_name(a)
        assert "pmalloc kind pmem" in handler
        with pytest.raises(BufferError):
            k.close()
        del a
    assert k.closed
    del b


def test_detect_foreign_addresses():
    import ctypes
    local = ctypes.create_string_buffer(100)
    assert kind.detect(ctypes.addressof(local)) is None
    assert kind.detect(0) is None
    with pytest.raises(pmalloc.InvalidArgumentError):
        kind.detect(-1)
