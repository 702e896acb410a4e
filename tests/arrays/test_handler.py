"""NumPy arrays in pools through NumPy's array data handler (NEP 49): where the data goes,
context semantics (threads, asyncio tasks, nesting), lifetimes past the block, and every
NumPy operation that allocates, reallocates or frees array data."""
from __future__ import annotations

import asyncio
import gc
import pickle
import threading

import pytest

import pmalloc
from pmalloc._native import ffi

from .conftest import MiB, handle, np, pool_of

get_handler_name = np._core.multiarray.get_handler_name if hasattr(np, "_core") \
    else np.core.multiarray.get_handler_name


def test_arrays_inside_the_block_live_in_the_pool(pool):
    before = pool.stats()["allocated"]
    with pmalloc.numpy.use(pool):
        a = np.arange(100_000, dtype=np.float64)
        b = a * 2.0 + 1.0                       # ufunc outputs and temporaries
    c = np.arange(10)
    assert pool_of(a) == handle(pool) and pool_of(b) == handle(pool)
    assert pool_of(c) == ffi.NULL, "an array made after the block must not be in the pool"
    assert pool.stats()["allocated"] >= before + 2 * a.nbytes
    assert b[7] == 15.0 and float(a.sum()) == 100_000 * 99_999 / 2
    assert "pmalloc vmem pool" in get_handler_name(a)
    assert get_handler_name(c) == "default_allocator"
    del a, b
    assert pool.stats()["allocated"] == before
    assert pool.check()


def test_handler_name_tells_pools_apart(pool_dir):
    with pmalloc.Pool(pool_dir, 64 * MiB) as p, pmalloc.Pool(pool_dir, 64 * MiB) as q:
        a, b = p.empty(10), q.empty(10)
        assert get_handler_name(a) != get_handler_name(b)
        del a, b


def test_nested_blocks_restore_the_outer_handler(pool_dir):
    with pmalloc.Pool(pool_dir, 64 * MiB) as p, pmalloc.Pool(pool_dir, 64 * MiB) as q:
        with pmalloc.numpy.use(p):
            a = np.ones(1000)
            with pmalloc.numpy.use(q):
                b = np.ones(1000)
            c = np.ones(1000)
        d = np.ones(1000)
        assert [pool_of(x) for x in (a, b, c)] == [handle(p), handle(q), handle(p)]
        assert pool_of(d) == ffi.NULL
        del a, b, c


def test_an_exception_in_the_block_restores_the_handler(pool):
    with pytest.raises(RuntimeError):
        with pmalloc.numpy.use(pool):
            raise RuntimeError("boom")
    assert pool_of(np.ones(100)) == ffi.NULL


def test_the_block_is_per_thread(pool):
    """Another thread's arrays keep NumPy's handler while this one is in a block."""
    inside, outside = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def other() -> None:
        inside.wait(30)
        seen["other"] = pool_of(np.ones(5000))
        outside.set()

    t = threading.Thread(target=other)
    t.start()
    with pmalloc.numpy.use(pool):
        inside.set()
        outside.wait(30)
        mine = np.ones(5000)
    t.join()
    assert seen["other"] == ffi.NULL and pool_of(mine) == handle(pool)
    del mine


def test_the_block_is_per_asyncio_task(pool_dir):
    with pmalloc.Pool(pool_dir, 64 * MiB) as p, pmalloc.Pool(pool_dir, 64 * MiB) as q:

        async def task(target: pmalloc.Pool | None, out: list) -> None:
            if target is None:
                for _ in range(5):
                    out.append(np.ones(1000))
                    await asyncio.sleep(0)
                return
            with pmalloc.numpy.use(target):
                for _ in range(5):
                    out.append(np.ones(1000))
                    await asyncio.sleep(0)      # the others run in between

        async def main() -> tuple[list, list, list]:
            a: list = []
            b: list = []
            c: list = []
            await asyncio.gather(task(p, a), task(q, b), task(None, c))
            return a, b, c

        a, b, c = asyncio.run(main())
        assert {pool_of(x) for x in a} == {handle(p)}
        assert {pool_of(x) for x in b} == {handle(q)}
        assert {pool_of(x) for x in c} == {ffi.NULL}
        del a, b, c


def test_arrays_outlive_the_block_and_are_freed_from_any_thread(pool):
    with pmalloc.numpy.use(pool):
        arrays = [np.full(1000 + i, i, dtype=np.int64) for i in range(200)]
    assert pool.stats()["allocated"] > 0

    def drop(part: list) -> None:
        part.clear()

    halves = [arrays[:100], arrays[100:]]
    del arrays
    threads = [threading.Thread(target=drop, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    del halves, threads
    gc.collect()
    pool.purge()                      # what the threads' caches hold goes back too
    assert pool.stats()["allocated"] == 0
    assert pool.check()


def test_close_refuses_while_arrays_live_then_succeeds(pool_dir):
    pool = pmalloc.Pool(pool_dir, 64 * MiB)
    a = pool.zeros(1000)
    with pytest.raises(BufferError, match="NumPy arrays"):
        pool.close()
    assert not pool.closed
    a += 1                            # still usable
    assert a.sum() == 1000
    del a
    pool.close()
    assert pool.closed


def test_the_pool_stays_open_while_an_array_holds_it(pool_dir):
    """The last reference to the Pool object is dropped: an array keeps the pool mapped."""
    pool = pmalloc.Pool(pool_dir, 64 * MiB)
    a = pool.array(np.arange(1000))
    del pool
    gc.collect()
    assert int(a.sum()) == 999 * 1000 // 2      # the memory is still mapped
    del a
    gc.collect()


def test_exhaustion_raises_memory_error_and_the_pool_keeps_working(pool_dir):
    with pmalloc.Pool(pool_dir, 16 * MiB) as pool:
        with pmalloc.numpy.use(pool):
            with pytest.raises(MemoryError):
                np.empty(64 * MiB, dtype=np.uint8)
            keep = [np.ones(MiB // 8) for _ in range(8)]       # 8 MiB
            with pytest.raises(MemoryError):
                while True:
                    keep.append(np.ones(MiB // 8))
            del keep
            a = np.ones(MiB // 8)
        assert pool_of(a) == handle(pool) and a.sum() == MiB // 8
        del a
        assert pool.check()


@pytest.mark.parametrize("nbytes", [0, 1, 7, 512, 4096, 100_000, 3 * MiB, 64 * MiB])
def test_sizes(pool, nbytes):
    with pmalloc.numpy.use(pool):
        a = np.zeros(nbytes, dtype=np.uint8)
        b = np.empty(nbytes, dtype=np.uint8)
    assert a.nbytes == nbytes and not a.any()
    b[:] = 0xA5
    assert pool_of(a) == handle(pool) and pool_of(b) == handle(pool)
    del a, b
    assert pool.stats()["allocated"] == 0


def test_zeros_are_zero_on_reused_memory(pool):
    with pmalloc.numpy.use(pool):
        for n in (100, 5000, 70_000, 2 * MiB):
            a = np.full(n, 0xFF, dtype=np.uint8)
            del a
            z = np.zeros(n, dtype=np.uint8)
            assert not z.any(), f"np.zeros({n}) over freed memory is not zero"
            del z


def test_shapes_with_a_zero_dimension(pool):
    """NumPy's free size is a hint, wrong for some of these: the pool ignores it."""
    with pmalloc.numpy.use(pool):
        arrays = [np.empty(shape) for shape in [(0,), (0, 10), (10, 0), (3, 0, 5), ()]]
        arrays += [np.zeros((0, 4)).reshape(4, 0), np.ones((2, 0)).T]
    del arrays
    assert pool.stats()["allocated"] == 0
    assert pool.check()


def test_views_and_reshapes_share_the_pool_memory(pool):
    with pmalloc.numpy.use(pool):
        a = np.arange(24.0)
    v = a.reshape(4, 6)[1:3, ::2]
    t = a.reshape(2, 3, 4).transpose(2, 0, 1)
    assert pool_of(v) == handle(pool) and pool_of(t) == handle(pool)
    del a
    assert v[0, 1] == 8.0 and t[3, 1, 2] == 23.0      # the views keep the data alive
    del v, t
    assert pool.stats()["allocated"] == 0


def test_resize_reallocates_in_the_same_pool(pool):
    with pmalloc.numpy.use(pool):
        a = np.arange(1000, dtype=np.int64)
    a.resize(200_000, refcheck=False)          # realloc through the array's own handler
    assert pool_of(a) == handle(pool)
    assert a[999] == 999 and not a[1000:].any()
    a.resize(10, refcheck=False)
    assert list(a) == list(range(10))
    del a
    assert pool.stats()["allocated"] == 0


def test_pickled_arrays_land_where_the_active_handler_says(pool):
    """Where NumPy allocates an unpickled array's data (a byte order to swap, objects), the
    active handler gives it; a native contiguous array may instead wrap the pickle's bytes
    (NumPy's zero-copy), and then no handler owns it."""
    swapped = np.arange(50_000, dtype=np.int32).astype(">i4" if np.little_endian else "<i4")
    objects = np.array([{"k": i} for i in range(100)], dtype=object)
    native = np.arange(50_000, dtype=np.int32)
    data = [pickle.dumps(x) for x in (swapped, objects, native)]
    with pmalloc.numpy.use(pool):
        a, b, c = (pickle.loads(d) for d in data)
    outside = pickle.loads(data[0])
    assert pool_of(a) == handle(pool) and pool_of(b) == handle(pool)
    assert pool_of(c) == handle(pool) or (not c.flags.owndata and get_handler_name(c) is None)
    assert pool_of(outside) == ffi.NULL
    assert np.array_equal(a, swapped) and b[7]["k"] == 7 and np.array_equal(c, native)
    del a, b, c


def test_pool_helpers(pool):
    e = pool.empty((3, 4), dtype=np.int16)
    z = pool.zeros((5,), dtype=np.complex128)
    c = pool.array([[1, 2], [3, 4]], dtype=np.float32)
    f = pool.empty((2, 3), order="F")
    for a in (e, z, c, f):
        assert pool_of(a) == handle(pool)
    assert e.shape == (3, 4) and e.dtype == np.int16
    assert not z.any() and z.dtype == np.complex128
    assert c.tolist() == [[1.0, 2.0], [3.0, 4.0]] and f.flags.f_contiguous
    src = np.arange(5)
    copy = pool.array(src)
    copy[0] = 99
    assert src[0] == 0, "pool.array must copy"
    del e, z, c, f, copy


def test_handler_helpers(pool):
    handler = pool.numpy_handler()
    assert pmalloc.numpy.handler_owner(handler).pool is pool
    default = pmalloc.numpy.current_handler()
    assert pmalloc.numpy.handler_owner(default) is None
    with pmalloc.numpy.use(pool):
        assert pmalloc.numpy.handler_owner(pmalloc.numpy.current_handler()).pool is pool
    assert pmalloc.numpy.current_handler() is default
    del handler


def test_a_closed_pool_makes_no_handler(pool_dir):
    pool = pmalloc.Pool(pool_dir, 64 * MiB)
    pool.close()
    with pytest.raises(pmalloc.PoolClosedError):
        with pmalloc.numpy.use(pool):
            pass
    with pytest.raises(pmalloc.PoolClosedError):
        pool.zeros(3)


def test_bad_handlers_are_refused():
    from pmalloc import _nphandler
    with pytest.raises(TypeError):
        _nphandler.set(object())
    with pytest.raises(ValueError):
        _nphandler.make(object(), 0, 1, 1, 1, 1, b"x")
    with pytest.raises(ValueError):
        _nphandler.make(object(), 1, 1, 1, 1, 1, b"x" * 127)
    with pytest.raises(AttributeError):
        pmalloc.numpy.use(object()).__enter__()


@pytest.mark.slow
def test_a_one_gib_array(pool_dir):
    with pmalloc.Pool(pool_dir, (1 << 30) + 64 * MiB) as pool:
        a = pool.zeros(1 << 30, dtype=np.uint8)
        assert pool_of(a) == handle(pool) and a.nbytes == 1 << 30
        a[:: 1 << 20] = 7
        assert int(a.sum()) == 7 * 1024
        del a
        assert pool.stats()["allocated"] == 0


def test_large_arrays_of_a_static_kind_get_the_huge_page_hint():
    """NumPy's default handler asks for transparent huge pages on arrays of 4 MiB or more;
    so do ours, on a static kind's anonymous memory (smaps shows the flag: hg)."""
    from pmalloc import kind
    a = kind.DEFAULT.zeros(8 << 20, dtype=np.uint8)
    start = a.ctypes.data
    flags = ""
    with open("/proc/self/smaps") as f:
        current = None
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                current = lo <= start + (1 << 20) < hi
            elif current and line.startswith("VmFlags:"):
                flags = line
                break
    assert " hg" in flags, flags
    del a
