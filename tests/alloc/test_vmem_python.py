"""pmalloc.vmem end to end: Pool and Buffer through the Python API, and every bad input.

Each failing assertion says what it expected and what it saw.
"""
from __future__ import annotations

import errno
import gc
import os
import pathlib
import queue
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import pmalloc
from pmalloc import settings, vmem
from pmalloc._buffer import View
from pmalloc.errors import (
    ForeignPointerError,
    InvalidArgumentError,
    InvalidBufferError,
    OutOfMemoryError,
    PmallocError,
    PoolClosedError,
    PoolError,
)
from pmalloc.vmem import MIN_POOL_SIZE, Buffer, Pool

MiB = 1 << 20
SMALL_POOL = 16 * MiB


# ---- fixtures (local to this file) -----------------------------------------------------------


@pytest.fixture
def pool() -> Iterator[Pool]:
    """A 32 MiB pool in the embedded default directory, closed afterwards."""
    p = Pool(size=32 * MiB)
    yield p
    gc.collect()  # drop memoryviews a failed test left in frames
    try:
        p.close()
    except BufferError:
        pass


@pytest.fixture
def small_pool(tmp_path: pathlib.Path) -> Iterator[Pool]:
    """A 16 MiB pool on the test's own directory (a regular file system)."""
    p = Pool(tmp_path, SMALL_POOL)
    yield p
    gc.collect()
    try:
        p.close()
    except BufferError:
        pass


def pattern(tag: int, n: int) -> bytes:
    """n bytes that differ between tags and positions."""
    unit = tag.to_bytes(8, "little")
    return (unit * (n // 8 + 1))[:n]


def live_bytes(p: Pool) -> int:
    return int(p.stats()["allocated"])


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def wait_os_threads_gone(before: int) -> None:
    """Wait until this process is back to `before` OS threads.

    A thread's cache goes back to the pool when the OS thread exits, which CPython's
    Thread.join() does not wait for: the pool's figures are final only once the kernel
    has no such thread left. The wait ends on that condition, however slow the machine;
    the long bound only turns a hang into a failure.
    """
    hang = time.monotonic() + 300
    while os_threads() > before:
        assert time.monotonic() < hang, (
            f"expected the joined threads to leave the process: {before} OS threads, "
            f"saw {os_threads()} for 300 s")
        time.sleep(0.01)


def expect_raises(
    exc_types: type[BaseException] | tuple[type[BaseException], ...],
    f: Callable[..., Any],
    *args: Any,
) -> Any:
    """Call f(*args); it must raise exc_types. Returns the exception, says what it saw if not."""
    try:
        result = f(*args)
    except exc_types as e:
        return e
    except BaseException as e:  # pragma: no cover - the failure report
        pytest.fail(f"{getattr(f, '__name__', f)}{args!r}: expected {exc_types}, "
                    f"saw {type(e).__name__}: {e}")
    pytest.fail(f"{getattr(f, '__name__', f)}{args!r}: expected {exc_types}, "
                f"saw a result: {result!r}")


# ---- the embedded default directory ----------------------------------------------------------


MOUNTS = r"""/dev/vda / ext4 rw,relatime 0 0
/dev/pmem0 /mnt/pmem ext4 rw,relatime,dax 0 0
/dev/pmem1 /mnt/pmem\040one xfs rw,relatime,dax=always 0 0
/dev/pmem2 /mnt/never xfs rw,relatime,dax=never 0 0
/dev/pmem3 /mnt/inode xfs rw,relatime,dax=inode 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
"""


def test_dax_mounts_parses_proc_mounts(tmp_path) -> None:
    table = tmp_path / "mounts"
    table.write_text(MOUNTS)
    got = settings.dax_mounts(str(table))
    assert got == ["/mnt/pmem", "/mnt/pmem one"], f"expected the two DAX mounts, saw {got}"
    assert settings.dax_mounts(str(tmp_path / "missing")) == [], "no table: no mounts"


def test_default_dir_prefers_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PMALLOC_POOL_DIR", str(tmp_path))
    settings.reload()
    assert vmem.default_dir() == str(tmp_path)
    monkeypatch.delenv("PMALLOC_POOL_DIR")
    monkeypatch.setenv("VMMALLOC_POOL_DIR", str(tmp_path / "v"))
    settings.reload()
    assert vmem.default_dir() == str(tmp_path / "v"), "VMMALLOC_POOL_DIR is honoured too"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="replacing /proc/mounts needs a mount namespace (root)")
def test_default_dir_finds_dax_then_shm(tmp_path) -> None:
    """With /proc/mounts replaced (a bind mount in a private mount namespace), the C
    library picks the writable DAX mount, else /dev/shm: as the shim does."""
    dax = tmp_path / "dax mount"
    dax.mkdir()
    escaped = str(dax).replace(" ", "\\040")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PMALLOC_POOL_DIR", "VMMALLOC_POOL_DIR")}
    probe = "import pmalloc.vmem as v; print(v.default_dir())"

    def default_with(table: str) -> str:
        mounts = tmp_path / "mounts"
        mounts.write_text(table)
        # /proc/mounts is /proc/self/mounts: bind over the shell's own, which exec keeps
        script = f"mount --bind {shlex.quote(str(mounts))} /proc/$$/mounts && " \
                 f"exec {shlex.quote(sys.executable)} -c {shlex.quote(probe)}"
        r = subprocess.run(["unshare", "--mount", "sh", "-c", script], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    got = default_with(f"/dev/vda / ext4 rw 0 0\n/dev/pmem0 {escaped} ext4 rw,dax 0 0\n")
    assert got == str(dax), "a writable DAX mount comes first"
    expected = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else \
        os.environ.get("TMPDIR", "/tmp")
    assert default_with("/dev/vda / ext4 rw 0 0\n") == expected


def test_pool_honours_pmalloc_pool_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PMALLOC_POOL_DIR", str(tmp_path))
    settings.reload()
    with Pool(size=SMALL_POOL) as p:
        assert p.dir == str(tmp_path)
    monkeypatch.setenv("PMALLOC_POOL_DIR", str(tmp_path / "missing"))
    settings.reload()
    expect_raises(FileNotFoundError, Pool, None, SMALL_POOL)


def test_default_pool_uses_default_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PMALLOC_POOL_DIR", raising=False)
    monkeypatch.delenv("VMMALLOC_POOL_DIR", raising=False)
    settings.reload()
    with Pool() as p:
        assert p.dir == vmem.default_dir()
        assert p.size == vmem.DEFAULT_POOL_SIZE
        p.malloc(100).free()


# ---- lifecycle -------------------------------------------------------------------------------


def test_context_manager_and_close_twice(tmp_path) -> None:
    with Pool(tmp_path, SMALL_POOL) as p:
        assert not p.closed
        b = p.malloc(10)
    assert p.closed, "leaving the with block closes the pool"
    assert not b.valid, "closing invalidates live buffers"
    p.close()
    p.close()
    assert "closed" in repr(p)


def test_pool_accepts_pathlike_and_str(tmp_path) -> None:
    for d in (tmp_path, str(tmp_path)):
        with Pool(d, SMALL_POOL) as p:
            assert p.dir == str(tmp_path)


def test_buffer_is_not_constructible() -> None:
    expect_raises(TypeError, Buffer, 0, 10)
    expect_raises(TypeError, Buffer)


def test_dropped_pools_release_their_files(tmp_path) -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        p = Pool(tmp_path, SMALL_POOL)
        p.malloc(1000)  # dropped with the pool
        del p
    gc.collect()
    fds_after = len(os.listdir("/proc/self/fd"))
    assert fds_after <= fds_before + 1, f"expected ~{fds_before} open fds, saw {fds_after}"


# ---- allocation and the buffer protocol ------------------------------------------------------


def test_malloc_memoryview_round_trip(pool: Pool) -> None:
    b = pool.malloc(1000)
    assert isinstance(b, Buffer) and isinstance(b, View)
    assert b.size == 1000 and len(b) == 1000
    assert b.usable_size >= 1000, f"usable size {b.usable_size} < 1000"
    assert b.pool is pool
    with memoryview(b) as m:
        assert (m.format, m.itemsize, m.ndim, m.shape, m.readonly) == ("B", 1, 1, (1000,), False)
        assert m.c_contiguous
        assert b.exports == 1
        m[:] = pattern(7, 1000)
    assert b.exports == 0
    assert bytes(b) == pattern(7, 1000)
    assert hex(b.address) in repr(b)
    b.free()
    assert not b.valid


def test_numpy_frombuffer_round_trip(pool: Pool) -> None:
    np = pytest.importorskip("numpy")
    b = pool.malloc(8 * 1000)
    a = np.frombuffer(b, dtype=np.float64)
    assert a.shape == (1000,) and a.flags.writeable
    assert a.ctypes.data == b.address, "the array shares the buffer's memory"
    a[:] = np.arange(1000, dtype=np.float64)
    again = np.frombuffer(b, dtype=np.float64)
    assert np.array_equal(again, np.arange(1000)), "writes through one array show in another"
    expect_raises(BufferError, pool.free, b)
    expect_raises(BufferError, pool.close)
    assert not pool.closed and b.valid
    del a, again
    b.free()


def test_malloc_zero_gives_distinct_empty_buffers(pool: Pool) -> None:
    bufs = [pool.malloc(0) for _ in range(10)]
    addresses = {b.address for b in bufs}
    assert len(addresses) == 10, f"expected 10 distinct addresses, saw {len(addresses)}"
    assert all(len(b) == 0 and bytes(b) == b"" for b in bufs)
    for b in bufs:
        b.free()


def test_allocations_do_not_overlap(pool: Pool) -> None:
    rng = random.Random(1)
    bufs = [pool.malloc(rng.randrange(1, 20000)) for _ in range(500)]
    spans = sorted((b.address, b.address + b.size) for b in bufs)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert e0 <= s1, f"[{s0:#x}, {e0:#x}) overlaps [{s1:#x}, {e1:#x})"
    for b in bufs:
        b.free()


def test_calloc_zeroes(pool: Pool) -> None:
    for n in (1, 100, 5000, 100000, 3 * MiB):
        dirty = pool.malloc(n)
        with memoryview(dirty) as m:
            m[:] = b"\xff" * n
        dirty.free()
        b = pool.calloc(n, 1)
        assert b.size == n
        assert bytes(b) == bytes(n), f"calloc({n}, 1): expected zeros"
        b.free()
    b = pool.calloc(100, 8)
    assert b.size == 800 and bytes(b) == bytes(800)
    b.free()
    z = pool.calloc(0, 8)
    assert z.size == 0
    z.free()


def test_realloc_keeps_contents_and_identity(pool: Pool) -> None:
    b = pool.malloc(100)
    with memoryview(b) as m:
        m[:] = pattern(3, 100)
    other_ref = b
    keep = 100  # the prefix every realloc so far has preserved
    for n in (200, 5000, 70000, 2 * MiB, 50, 100):
        r = pool.realloc(b, n)
        assert r is b, "realloc returns the same Buffer, rebound"
        assert b.size == n and b.usable_size >= n
        keep = min(keep, n)
        assert bytes(b)[:keep] == pattern(3, 100)[:keep], f"contents lost at realloc to {n}"
    assert other_ref.valid and other_ref.address == b.address
    assert pool.usable_size(b.address) == b.usable_size, "the moved address is tracked"
    b.free()
    fresh = pool.realloc(None, 10)
    assert fresh.size == 10
    pool.realloc(fresh, 0)
    assert fresh.size == 0 and fresh.valid
    fresh.free()


def test_realloc_refuses_exported_and_failed_leaves_buffer(pool: Pool) -> None:
    b = pool.malloc(64)
    with memoryview(b) as m:
        m[:] = pattern(9, 64)
        expect_raises(BufferError, pool.realloc, b, 1 << 20)
        assert b.valid and b.size == 64
    address = b.address
    expect_raises(OutOfMemoryError, pool.realloc, b, 1 << 40)
    assert b.valid and b.address == address and b.size == 64, "a failed realloc changes nothing"
    assert bytes(b) == pattern(9, 64)
    b.free()
    expect_raises(InvalidBufferError, pool.realloc, b, 10)
    expect_raises(TypeError, pool.realloc, 12345, 10)


def test_aligned_alloc(pool: Pool) -> None:
    for shift in range(0, 22):
        a = 1 << shift
        for n in (1, 100, 5000):
            b = pool.aligned_alloc(a, n)
            assert b.address % a == 0, f"aligned_alloc({a}, {n}) gave {b.address:#x}"
            assert b.size == n and b.usable_size >= n
            b.free()


def test_strdup(pool: Pool) -> None:
    b = pool.strdup("héllo")
    assert bytes(b) == "héllo".encode() + b"\0" and b.size == 7
    b.free()
    c = pool.strdup(b"raw")
    assert bytes(c) == b"raw\0"
    c.free()
    expect_raises(InvalidArgumentError, pool.strdup, b"a\0b")
    expect_raises(TypeError, pool.strdup, 5)


def test_stats_check_purge(pool: Pool) -> None:
    base = pool.stats()
    keys = {"size", "allocated", "active", "metadata", "dirty", "resident", "file_allocated",
            "purged", "nmalloc", "nfree", "narenas", "nclasses", "classes"}
    assert keys <= set(base), f"missing stats keys: {keys - set(base)}"
    assert base["size"] == pool.size
    assert len(base["classes"]) == base["nclasses"] > 0
    row = base["classes"][0]
    assert set(row) == {"size", "slab_size", "live", "cached", "slabs"}, f"class row {row}"
    bufs = [pool.malloc(1000) for _ in range(100)]
    mid = pool.stats()
    assert mid["allocated"] >= base["allocated"] + 100 * 1000, (
        f"expected allocated >= {base['allocated'] + 100000}, saw {mid['allocated']}")
    assert pool.check() is True
    for b in bufs:
        b.free()
    pool.purge()
    end = pool.stats()
    assert end["allocated"] <= base["allocated"], (
        f"expected allocated back to {base['allocated']}, saw {end['allocated']}")
    assert pool.check() is True


# ---- freeing: double frees, foreign pointers, use after free ---------------------------------


def test_double_free_raises(pool: Pool) -> None:
    b = pool.malloc(32)
    address = b.address
    b.free()
    e = expect_raises(InvalidBufferError, b.free)
    assert isinstance(e, ValueError) and isinstance(e, PoolError)
    expect_raises(InvalidBufferError, pool.free, b)
    expect_raises(ForeignPointerError, pool.free, address)


def test_free_by_address(pool: Pool) -> None:
    b = pool.malloc(32)
    pool.free(b.address)
    assert not b.valid, "freeing the address invalidates its Buffer"
    expect_raises(ValueError, memoryview, b)


def test_foreign_pointers_raise_value_error(pool: Pool, tmp_path) -> None:
    b = pool.malloc(64)
    with Pool(tmp_path, SMALL_POOL) as other:
        theirs = other.malloc(64)
        e = expect_raises(ForeignPointerError, pool.free, theirs)
        assert isinstance(e, ValueError)
        expect_raises(ForeignPointerError, pool.free, theirs.address)
        expect_raises(ForeignPointerError, pool.usable_size, theirs)
        assert theirs.valid, "a refused free leaves the foreign buffer alone"
        theirs.free()
    for address in (b.address + 8, b.address - 16, 0, -1, 1 << 70, id(b)):
        expect_raises(ForeignPointerError, pool.free, address)
    expect_raises(ForeignPointerError, pool.free, View(b.address, 64))
    expect_raises(TypeError, pool.free, "0x1000")
    expect_raises(TypeError, pool.free, None)
    assert b.valid and bytes(b) is not None
    b.free()


def test_use_after_free_raises(pool: Pool) -> None:
    b = pool.malloc(100)
    b.free()
    for what, f in [("memoryview", lambda: memoryview(b)), ("bytes", lambda: bytes(b)),
                    ("address", lambda: b.address), ("size", lambda: b.size),
                    ("len", lambda: len(b))]:
        try:
            f()
        except ValueError:
            continue
        pytest.fail(f"{what} of a freed buffer: expected ValueError, saw no error")
    expect_raises(InvalidBufferError, lambda: b.usable_size)
    expect_raises(InvalidBufferError, pool.realloc, b, 10)
    assert "invalid" in repr(b)


def test_free_while_exported_raises_buffer_error(pool: Pool) -> None:
    b = pool.malloc(100)
    m = memoryview(b)
    expect_raises(BufferError, b.free)
    expect_raises(BufferError, pool.free, b.address)
    assert b.valid, "a refused free leaves the buffer valid"
    m[0] = 42
    m.release()
    b.free()


def test_dropped_buffers_are_freed(small_pool: Pool) -> None:
    base = live_bytes(small_pool)
    for _ in range(50):  # 150 MiB through a 16 MiB pool: only possible if drops free
        small_pool.malloc(3 * MiB)
    assert live_bytes(small_pool) <= base, "a dropped buffer's memory is given back"


def test_buffer_collected_while_pool_busy_is_freed_later(small_pool: Pool) -> None:
    # A finalizer never waits for the pool's lock (it may run in the thread holding it):
    # it defers the free, and whoever releases the lock next performs it.
    base = live_bytes(small_pool)
    b = small_pool.malloc(2 * MiB)
    address = b.address
    small_pool._lock.acquire()
    del b
    assert [a for a, _ in small_pool._pending] == [address], "the free was deferred"
    small_pool._unlock()
    assert not small_pool._pending and address not in small_pool._live
    assert live_bytes(small_pool) <= base, "the deferred free happened at unlock"
    expect_raises(ForeignPointerError, small_pool.free, address)


def test_deferred_free_skips_a_reused_address(small_pool: Pool) -> None:
    b = small_pool.malloc(100)
    address = b.address
    small_pool._lock.acquire()
    del b
    # as if the address had been freed and handed out again before the deferred free ran
    keeper = View.__new__(Buffer, address, 100)
    keeper._pool = small_pool
    small_pool._live[address] = weakref.ref(keeper)
    small_pool._unlock()
    assert address in small_pool._live, "a deferred free must not free the new owner"
    assert keeper.valid
    keeper.free()


def test_collected_buffer_in_cycle(small_pool: Pool) -> None:
    base = live_bytes(small_pool)

    class Holder:
        pass

    h = Holder()
    h.buf = small_pool.malloc(1 * MiB)  # type: ignore[attr-defined]
    h.self = h  # type: ignore[attr-defined]
    del h
    gc.collect()
    assert live_bytes(small_pool) <= base, (
        f"expected allocated <= {base} after collecting the cycle, "
        f"saw {live_bytes(small_pool)}")


# ---- closed pools ----------------------------------------------------------------------------


def test_use_after_close_raises(tmp_path) -> None:
    p = Pool(tmp_path, SMALL_POOL)
    b = p.malloc(100)
    p.close()
    assert p.closed and not b.valid
    calls: list[tuple[Any, ...]] = [(p.malloc, 10), (p.calloc, 1, 1), (p.aligned_alloc, 64, 10), (p.strdup, "x"),
             (p.realloc, b, 20), (p.free, b), (p.usable_size, b), (p.stats,), (p.check,),
             (p.purge,), (b.free,)]
    for f, *args in calls:
        e = expect_raises(PoolClosedError, f, *args)
        assert isinstance(e, ValueError) and isinstance(e, PmallocError)
    expect_raises(ValueError, memoryview, b)
    expect_raises(PoolClosedError, p.__enter__)


def test_close_while_exported_raises_and_keeps_pool(tmp_path) -> None:
    p = Pool(tmp_path, SMALL_POOL)
    bufs = [p.malloc(100) for _ in range(5)]
    for i, b in enumerate(bufs):
        with memoryview(b) as m:
            m[:] = pattern(i, 100)
    m = memoryview(bufs[3])
    e = expect_raises(BufferError, p.close)
    assert "export" in str(e), f"the message should name the export, saw {e}"
    assert not p.closed, "a refused close leaves the pool open"
    for i, b in enumerate(bufs):
        assert b.valid and bytes(b) == pattern(i, 100), f"buffer {i} changed by a refused close"
    p.malloc(10).free()
    m.release()
    p.close()
    assert p.closed and not any(b.valid for b in bufs)


def test_close_with_exports_via_context_manager(tmp_path) -> None:
    with pytest.raises(BufferError):
        with Pool(tmp_path, SMALL_POOL) as p:
            m = memoryview(p.malloc(10))
    assert not p.closed
    m.release()
    p.close()


# ---- bad arguments ---------------------------------------------------------------------------


def test_pool_size_below_minimum(tmp_path) -> None:
    for size in (0, 1, 1 << 20, MIN_POOL_SIZE - 1):
        e = expect_raises(ValueError, Pool, tmp_path, size)
        assert e.errno == errno.EINVAL and isinstance(e, PmallocError), f"{size}: {e!r}"
    with Pool(tmp_path, MIN_POOL_SIZE) as p:
        p.malloc(10).free()


def test_pool_bad_sizes(tmp_path) -> None:
    expect_raises(InvalidArgumentError, Pool, tmp_path, -1)
    expect_raises(InvalidArgumentError, Pool, tmp_path, 1 << 70)   # no file is that big
    for absurd in (1 << 62, (1 << 64) - 1):
        e = expect_raises((MemoryError, ValueError), Pool, tmp_path, absurd)
        assert isinstance(e, PmallocError), f"{absurd}: expected a PmallocError, saw {e!r}"
    expect_raises(TypeError, Pool, tmp_path, 16.0 * MiB)
    expect_raises(TypeError, Pool, tmp_path, "16M")


def test_missing_dir(tmp_path) -> None:
    missing = tmp_path / "no" / "such"
    e = expect_raises(FileNotFoundError, Pool, missing, SMALL_POOL)
    assert e.filename == str(missing), f"expected filename {str(missing)!r}, saw {e.filename!r}"
    assert e.errno == errno.ENOENT and isinstance(e, PmallocError), repr(e)


def test_regular_file_as_dir(tmp_path) -> None:
    f = tmp_path / "file"
    f.write_text("not a directory")
    e = expect_raises(NotADirectoryError, Pool, f, SMALL_POOL)
    assert e.errno == errno.ENOTDIR and isinstance(e, PmallocError), repr(e)


def test_dir_with_null_byte() -> None:
    expect_raises(InvalidArgumentError, Pool, "/tmp/a\0b", SMALL_POOL)


def test_bad_allocation_sizes(pool: Pool) -> None:
    negative: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
        (pool.malloc, (-1,)), (pool.calloc, (-1, 1)), (pool.calloc, (1, -1)),
        (pool.aligned_alloc, (64, -1)), (pool.realloc, (None, -5))]
    for f, args in negative:
        e = expect_raises(ValueError, f, *args)
        assert isinstance(e, PmallocError)
    not_ints: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
        (pool.malloc, (1.5,)), (pool.malloc, ("10",)), (pool.calloc, (None, 1)),
        (pool.aligned_alloc, (64.0, 1))]
    for f, args in not_ints:
        expect_raises(TypeError, f, *args)


def test_absurd_sizes_raise_memory_error(pool: Pool) -> None:
    cases: list[tuple[Callable[..., Any], tuple[Any, ...]]]
    cases = [(pool.malloc, (n,)) for n in
             ((1 << 64) - 1, (1 << 64) - 4096, 1 << 63, 1 << 62, 1 << 40, pool.size)]
    cases += [(pool.calloc, (1 << 32, 1 << 32)), (pool.calloc, ((1 << 64) - 1, 2)),
              (pool.calloc, (1, 1 << 40)),
              (pool.aligned_alloc, (1 << 63, 1)), (pool.aligned_alloc, (4096, (1 << 64) - 4096)),
              (pool.aligned_alloc, (1 << 30, 1))]
    for f, args in cases:
        e = expect_raises(MemoryError, f, *args)
        assert isinstance(e, OutOfMemoryError) and e.errno == errno.ENOMEM, f"{args}: {e!r}"
    b = pool.malloc(10)
    for n in ((1 << 64) - 1, 1 << 63, 1 << 40):
        expect_raises(OutOfMemoryError, pool.realloc, b, n)
        assert b.valid and b.size == 10
    # past size_t the size cannot even be asked for: a bad argument (tests/test_hardening_api.py)
    expect_raises(InvalidArgumentError, pool.malloc, 1 << 64)
    expect_raises(InvalidArgumentError, pool.realloc, b, 1 << 64)
    assert b.valid and b.size == 10
    b.free()
    assert pool.check()


def test_aligned_alloc_too_big_names_what_was_asked(pool: Pool) -> None:
    e = expect_raises(OutOfMemoryError, pool.aligned_alloc, 1 << 40, 64)
    assert f"alignment {1 << 40}" in str(e) and "64 bytes" in str(e), (
        f"expected 'alignment {1 << 40}' for 64 bytes, saw {str(e)!r}")
    e = expect_raises(OutOfMemoryError, pool.aligned_alloc, 64, 1 << 40)
    assert f"{1 << 40} bytes" in str(e) and "alignment" not in str(e), (
        f"expected a request of {1 << 40} bytes, saw {str(e)!r}")


def test_alignment_not_power_of_two(pool: Pool) -> None:
    for a in (0, 3, 6, 24, 1000, -1, -8, (1 << 64) + 1, 1 << 64):
        e = expect_raises(ValueError, pool.aligned_alloc, a, 10)
        assert isinstance(e, InvalidArgumentError), f"alignment {a}: {e!r}"


# ---- exhaustion ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [100, 4000, 60000, 1 * MiB])
def test_exhaustion_then_same_capacity(small_pool: Pool, size: int) -> None:
    def fill() -> list[Buffer]:
        bufs: list[Buffer] = []
        while True:
            try:
                bufs.append(small_pool.malloc(size))
            except MemoryError as e:
                assert isinstance(e, OutOfMemoryError) and e.errno == errno.ENOMEM, repr(e)
                return bufs

    first = fill()
    assert len(first) * size >= SMALL_POOL // 2, (
        f"expected at least half of the pool in {size}-byte objects, saw {len(first)}")
    assert small_pool.check()
    for b in first:
        b.free()
    second = fill()
    assert len(second) >= len(first), (
        f"expected the same capacity after freeing all: {len(first)} objects of {size} B, "
        f"saw {len(second)}")
    for b in second:
        b.free()
    assert small_pool.check()


# ---- threads and fork ------------------------------------------------------------------------


def test_threads_allocate_concurrently(pool: Pool) -> None:
    nthreads, rounds = 8, 600
    handoff: queue.Queue[tuple[Buffer, bytes]] = queue.Queue()
    errors: list[str] = []
    base, base_threads = live_bytes(pool), os_threads()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[tuple[Buffer, bytes]] = []
        try:
            for i in range(rounds):
                op = rng.random()
                if op < 0.55 or not mine:
                    kind = rng.randrange(4)
                    n = rng.choice((rng.randrange(1, 512), rng.randrange(512, 40000)))
                    if kind == 0:
                        b = pool.malloc(n)
                    elif kind == 1:
                        b = pool.calloc(n, 1)
                    elif kind == 2:
                        b = pool.aligned_alloc(1 << rng.randrange(3, 13), n)
                    else:
                        b = pool.realloc(pool.malloc(max(1, n // 2)), n)
                    data = pattern(seed * 1_000_000 + i, n)
                    with memoryview(b) as m:
                        m[:] = data
                    (handoff.put if rng.random() < 0.3 else mine.append)((b, data))
                else:
                    if rng.random() < 0.5:
                        try:
                            b, data = handoff.get_nowait()
                        except queue.Empty:
                            b, data = mine.pop(rng.randrange(len(mine)))
                    else:
                        b, data = mine.pop(rng.randrange(len(mine)))
                    if bytes(b) != data:
                        errors.append(f"buffer at {b.address:#x} corrupted")
                    b.free()
            for b, data in mine:
                if bytes(b) != data:
                    errors.append(f"buffer at {b.address:#x} corrupted")
                b.free()
        except BaseException as e:  # report, do not hang the join
            errors.append(f"thread {seed}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    while not handoff.empty():
        b, data = handoff.get()
        if bytes(b) != data:
            errors.append(f"buffer at {b.address:#x} corrupted")
        b.free()
    assert not errors, f"expected no errors, saw {errors[:5]}"
    assert pool.check()
    wait_os_threads_gone(base_threads)
    end = live_bytes(pool)
    assert end <= base, f"expected {base} live bytes once the threads are gone, saw {end}"


def test_close_races_with_threads(tmp_path) -> None:
    """close() while four threads allocate: each thread then sees only closed-pool
    errors. A close that meets a memoryview is refused (BufferError) and tried again."""
    p = Pool(tmp_path, SMALL_POOL)
    stop = threading.Event()
    started = threading.Semaphore(0)   # one release per thread, after its first round
    unexpected: list[str] = []

    def worker() -> None:
        announced = False
        try:
            while not stop.is_set():
                b = p.malloc(256)
                with memoryview(b) as m:
                    m[0] = 1
                b.free()
                if not announced:
                    started.release()
                    announced = True
        except (PoolClosedError, InvalidBufferError):
            return
        except ValueError:  # memoryview of a buffer the close invalidated
            return
        except BaseException as e:
            unexpected.append(f"{type(e).__name__}: {e}")
        finally:
            if not announced:   # a thread that stops early does not hold up the test
                started.release()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in threads:   # every thread is allocating (or has already stopped)
        started.acquire()
    # a bounded number of tries, not a time limit: on a busy machine each try still comes
    # while the threads run; if none finds a moment without a memoryview, the threads
    # stop and the close must succeed then
    for _ in range(10000):
        try:
            p.close()
            break
        except BufferError:  # a worker held a memoryview at that instant
            time.sleep(0)
    stop.set()
    for t in threads:
        t.join()
    if not p.closed:
        p.close()
    assert p.closed
    assert not unexpected, f"expected only closed-pool errors, saw {unexpected}"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_allocates_parent_intact(tmp_path) -> None:
    p = Pool(tmp_path, SMALL_POOL)
    kept = [p.malloc(n) for n in (100, 5000, 300000)]
    for i, b in enumerate(kept):
        with memoryview(b) as m:
            m[:] = pattern(i, b.size)
    pid = os.fork()
    if pid == 0:  # child: allocate, scribble, free; exit code says what failed
        code = 0
        try:
            bufs = [p.malloc(n) for n in (100, 5000, 300000) * 20]
            for b in bufs:
                with memoryview(b) as m:
                    m[:] = b"\xaa" * b.size
            for b in bufs:
                b.free()
            if not all(bytes(b) == pattern(i, b.size) for i, b in enumerate(kept)):
                code = 2
            if not p.check():
                code = 3
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (
        f"child: expected exit 0, saw {os.waitstatus_to_exitcode(status)}")
    for i, b in enumerate(kept):
        assert bytes(b) == pattern(i, b.size), f"parent buffer {i} changed by the child"
    more = [p.malloc(n) for n in (100, 5000, 300000) * 5]
    for b in more:
        with memoryview(b) as m:
            m[:] = b"\x55" * b.size
    for i, b in enumerate(kept):
        assert bytes(b) == pattern(i, b.size), f"parent buffer {i} overlapped after fork"
    assert p.check()
    p.close()


# ---- the package surface ---------------------------------------------------------------------


def test_package_exports() -> None:
    for name in ("Pool", "Buffer", "PmallocError", "PoolError", "OutOfMemoryError",
                 "get_include", "get_library"):
        assert hasattr(pmalloc, name), f"pmalloc.{name} missing"
    assert pmalloc.Pool is Pool and pmalloc.Buffer is Buffer
    assert issubclass(pmalloc.OutOfMemoryError, MemoryError)


@pytest.mark.parametrize("threads_state", ["idle", "joined"])
def test_purge_with_threads_gives_every_page_back(pool_dir, threads_state):
    """Threads allocated and freed; they wait idle, or were joined. purge() then gives
    back every page: what each thread caches (reclaimed from idle threads; flushed as a
    joined Python thread ended) and every free page."""
    with pmalloc.Pool(pool_dir, size=64 << 20) as pool:
        done = threading.Barrier(9, timeout=120)
        release = threading.Event()

        def work(seed: int) -> None:
            try:
                bufs = [pool.malloc(16 + (seed * 7919 + i * 131) % 20000)
                        for i in range(500)]
                for buf in bufs:
                    buf.free()
            finally:
                done.wait()
                release.wait(timeout=120)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        done.wait()
        if threads_state == "joined":
            release.set()
            for t in threads:
                t.join()
        pool.purge()
        st = pool.stats()
        release.set()
        for t in threads:
            t.join()
        seen = {k: st[k] for k in ("allocated", "active", "dirty")}
        assert seen == {"allocated": 0, "active": 0, "dirty": 0}, (
            f"expected nothing allocated, active or dirty after purge(), saw {seen}")
        assert pool.check()
