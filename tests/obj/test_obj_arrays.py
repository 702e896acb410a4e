"""Persistent numpy arrays (ObjPool.array, array_at, PersistentArray): they come back equal
after a reopen, roll back with a transaction, keep the pool open while they live, and a
damaged header is an error, never a crash."""
from __future__ import annotations

import gc
import os
import pickle
import struct
import weakref

import numpy as np
import pytest

from pmalloc import obj, sim
from pmalloc.errors import (CorruptPoolError, ForeignPointerError, InvalidArgumentError,
                            PmallocTypeError)
from pmalloc.obj import MIN_POOL_SIZE, ObjPool, Oid, PersistentArray

HEAD = obj._ARRAY_HEAD          # the header's fixed part, as the library packs it
FIELDS = ("magic", "version", "ndim", "data_off", "ndescr", "reserved")


@pytest.fixture
def path(pool_dir):
    return os.path.join(pool_dir, "arrays.obj")


@pytest.fixture
def pool(path):
    p = ObjPool.create(path, "arrays", MIN_POOL_SIZE)
    yield p
    gc.collect()
    p.close()


def fill(a: np.ndarray, seed: int) -> bytes:
    """Write seeded bytes over all of a's data; returns them."""
    raw = a.reshape(-1).view(np.uint8)
    raw[:] = np.random.default_rng(seed).integers(0, 256, raw.size, dtype=np.uint8)
    return raw.tobytes()


CASES = [
    ("f8", (5,)),
    ("i1", (7,)),
    ("c16", (2, 3)),
    (">i4", (6,)),                                       # big-endian
    ("<u2", (2, 3, 4)),                                  # 3-d
    ("f4", ()),                                          # 0-d
    ("f8", (0,)),                                        # empty
    ("i8", (3, 0, 2)),
    ([("id", "<u4"), ("pos", ">f8", (3,)), ("name", "S6")], (4,)),   # structured
    (np.dtype([("a", "u1"), ("b", "<f8")], align=True), (3,)),       # with padding
    (np.dtype({"names": ["x", "y"], "formats": ["u1", ">i4"], "offsets": [0, 8],
               "itemsize": 16}), (2,)),
    ([("outer", [("p", "i2"), ("q", "<u8")])], (2,)),                # nested
    ("M8[ms]", (3,)),
    ("U5", (2,)),
    ("V3", (4,)),
    ("?", (9,)),
]


@pytest.mark.parametrize("dtype,shape", CASES, ids=[f"{np.dtype(d)}{s}" for d, s in CASES])
def test_arrays_come_back_after_reopen(path, dtype, shape):
    with ObjPool.create(path, "arrays", MIN_POOL_SIZE) as pool:
        a = pool.array(shape, dtype, type_num=3)
        assert isinstance(a, PersistentArray)
        assert a.shape == shape and a.dtype == np.dtype(dtype)
        assert a.tobytes() == bytes(a.nbytes), "a new array is zeroed"
        data = fill(a, seed=len(shape))
        oid = a.oid
        del a
    with ObjPool.open(path, "arrays") as pool:
        b = pool.array_at(oid)
        assert (b.shape, b.dtype, b.tobytes()) == (shape, np.dtype(dtype), data), \
            f"expected {shape} {np.dtype(dtype)}, saw {b.shape} {b.dtype}"
        assert b.flags.writeable and b.flags.c_contiguous and b.oid == oid
        del b


def test_values_and_alignment(pool):
    a = pool.array((4, 5), np.float64)
    a[:] = np.arange(20.0).reshape(4, 5)
    assert np.array_equal(pool.array_at(a.oid), np.arange(20.0).reshape(4, 5))
    for dtype in ("f8", "i1", "c16", "g", [("a", "u1"), ("b", "f8")]):
        b = pool.array(3, dtype)
        align = max(64, b.dtype.alignment)
        assert b.__array_interface__["data"][0] % align == 0, f"{b.dtype} data not aligned"
        assert b.flags.aligned
    sub = pool.array(5, ("i2", (2, 3)))                   # a subarray dtype: numpy's shape
    assert sub.shape == (5, 2, 3) and sub.dtype == np.int16
    assert pool.array_at(sub.oid).shape == (5, 2, 3)
    assert pool.array([2, np.int64(3)], "u1").shape == (2, 3)
    assert pool.array(np.array([4]), "u1").shape == (4,)


def test_oids_of_arrays_and_their_views(pool):
    a = pool.array((4, 6), np.int32, type_num=9)
    oid = a.oid
    assert pool.oid_of(a) == oid and pool.type_num(oid) == 9
    views = [a[1:3], a[:, 2], a[2], a.T, a[::-1, ::2], np.asarray(a)[3], a.view(np.uint8),
             a.reshape(-1)[5:], memoryview(a), memoryview(a[1])]
    for v in views:
        assert pool.oid_of(v) == oid, f"oid_of a view {type(v).__name__} of the array"
    for v in views[:-2]:
        if isinstance(v, PersistentArray):
            assert v.oid == oid
    assert pool.oid_of(pool.view(oid)) == oid                # the object's own view
    with memoryview(pool.view(oid)) as m:                    # other buffers: as before
        assert pool.oid_of(m[16:]) == Oid(oid.pool_uuid_lo, oid.off + 16)
    assert list(pool.objects(9)) == [oid]
    del views


def test_results_in_new_memory_are_plain(pool):
    a = pool.array(5, np.float64)
    a[:] = [1, 2, 3, 4, 5]
    assert type(a + 1) is np.ndarray and type(np.sqrt(a)) is np.ndarray
    assert type(a.sum()) is np.float64 and a.sum() == 15
    assert type(a[1:3]) is PersistentArray and a[1:3].oid == a.oid
    np.add(a, 1, out=a)                                     # in place: still the array
    assert a.oid and list(a) == [2, 3, 4, 5, 6]
    for copy in (a.copy(), a[[0, 2]], a[a > 3]):
        with pytest.raises(ForeignPointerError, match="not in a pool object"):
            copy.oid
        with pytest.raises(ForeignPointerError):
            pool.oid_of(copy)
    back = pickle.loads(pickle.dumps(a[1:]))
    assert type(back) is np.ndarray and list(back) == [3, 4, 5, 6]


def test_transactions_roll_back_arrays(pool):
    a = pool.array(10, np.int64)
    a[:] = np.arange(10)
    with pytest.raises(RuntimeError):
        with pool.transaction() as tx:
            tx.add(a)
            a[:] = -1
            raise RuntimeError("abort")
    assert list(a) == list(range(10))
    with pytest.raises(RuntimeError):
        with pool.transaction() as tx:
            tx.add(a[2:5])
            a[:] = -1
            raise RuntimeError("abort")
    assert list(a) == [-1, -1, 2, 3, 4] + [-1] * 5, "only the slice added is restored"
    with pool.transaction() as tx:
        tx.add(a)
        a[:] = 7
    assert list(pool.array_at(a.oid)) == [7] * 10


def test_an_array_made_in_a_transaction_joins_it(pool):
    before = set(pool.objects())
    with pool.transaction():
        kept = pool.array(3, np.float32, type_num=4)
    assert set(pool.objects()) == before | {kept.oid}
    with pytest.raises(RuntimeError):
        with pool.transaction():
            gone = pool.array(3, np.float32, type_num=4)
            oid = gone.oid
            raise RuntimeError("abort")
    del gone
    assert oid not in set(pool.objects()) and list(pool.objects(4)) == [kept.oid]


def test_array_at_refuses_what_is_not_an_array(pool, pool_dir):
    a = pool.array(4)
    plain = pool.alloc(256, zero=True)
    tiny = pool.alloc(16, zero=True)
    with pytest.raises(InvalidArgumentError, match="not a persistent array"):
        pool.array_at(plain)
    with pytest.raises(InvalidArgumentError, match="not a persistent array"):
        pool.array_at(tiny)
    for off in (a.oid.off + 16, a.oid.off - 64, 1, 4096, MIN_POOL_SIZE, (1 << 64) - 1):
        with pytest.raises(InvalidArgumentError, match="not an allocated object"):
            pool.array_at(Oid(a.oid.pool_uuid_lo, off))
    with pytest.raises(InvalidArgumentError):
        pool.array_at(Oid(a.oid.pool_uuid_lo, -1))
    with ObjPool.create(os.path.join(pool_dir, "other.obj"), "arrays", MIN_POOL_SIZE) as other:
        foreign = other.array(4)
        with pytest.raises(ForeignPointerError):
            pool.array_at(foreign.oid)
        with pytest.raises(ForeignPointerError):
            pool.oid_of(foreign)
        with pytest.raises(ForeignPointerError):
            pool.free(foreign.oid)
        del foreign
    pool.free(plain)
    with pytest.raises(InvalidArgumentError, match="not an allocated object"):
        pool.array_at(plain)


def _rewrite(pool: ObjPool, oid: Oid, **fields: object) -> None:
    """Change fields of an array's header (by the names in FIELDS) through a raw view."""
    with memoryview(pool.view(oid)) as m:
        values = dict(zip(FIELDS, HEAD.unpack_from(m, 0)))
        values.update(fields)
        HEAD.pack_into(m, 0, *(values[f] for f in FIELDS))


def _descr_at(pool: ObjPool, oid: Oid) -> int:
    with memoryview(pool.view(oid)) as m:
        return HEAD.size + 8 * dict(zip(FIELDS, HEAD.unpack_from(m, 0)))["ndim"]


@pytest.mark.parametrize("fields,expected", [
    ({"version": 2}, "format version 2"),
    ({"reserved": 1}, "reserved"),
    ({"ndim": 33}, "33 dimensions"),
    ({"ndim": 0xFFFFFFFF}, "dimensions"),
    ({"ndim": 20}, "do not fit"),
    ({"ndescr": 0}, "do not fit"),
    ({"ndescr": 0xFFFFFFFF}, "do not fit"),
    ({"ndescr": 200}, "do not fit"),
    ({"data_off": 0}, "do not fit"),
    ({"data_off": 1 << 63}, "do not fit"),
    ({"data_off": 40}, "do not fit"),
])
def test_corrupt_header_fields(pool, fields, expected):
    a = pool.array((3, 4), np.float64)
    oid = a.oid
    _rewrite(pool, oid, **fields)
    with pytest.raises(CorruptPoolError, match=expected):
        pool.array_at(oid)
    del a


@pytest.mark.parametrize("shape,expected", [
    ((1 << 40, 1), "more than"), ((1 << 62, 1 << 62), "more than"), ((1 << 63, 0), "past"),
    (((1 << 64) - 1, 1), "past"), ((5, 0), None)])
def test_corrupt_shape(pool, shape, expected):
    a = pool.array((3, 2), np.float64)
    with memoryview(pool.view(a.oid)) as m:
        struct.pack_into("<2Q", m, HEAD.size, *shape)
    if expected is None:                               # no elements: nothing to fit
        assert pool.array_at(a.oid).shape == shape
    else:
        with pytest.raises(CorruptPoolError, match=expected):
            pool.array_at(a.oid)
    del a


@pytest.mark.parametrize("text,expected", [
    (b"'|O'", "dtype"), (b"[('x', '|O')]", "dtype"), (b"__import__('os')", "dtype"),
    (b"'<f8", "dtype"), (b"\xff\xfe\x00", "dtype"), (b"[" * 250, "dtype"),
    (b"(" * 100 + b")" * 100, "dtype"), (b"'|V0'", "dtype"), (b"{'names': 1}", "dtype"),
    (b"('<f8', (2,))", "dtype"), (b"'S1000'", "more than")])
def test_corrupt_dtype_description(pool, text, expected):
    a = pool.array(300, np.uint8)
    at = _descr_at(pool, a.oid)
    data_off = (at + len(text) + 63) // 64 * 64
    _rewrite(pool, a.oid, ndescr=len(text), data_off=data_off)
    with memoryview(pool.view(a.oid)) as m:
        m[at:at + len(text)] = text
        struct.pack_into("<Q", m, HEAD.size, 1)      # one element: whatever fits the rest
    with pytest.raises(CorruptPoolError, match=expected):
        pool.array_at(a.oid)
    del a


def test_random_garbage_in_headers_never_crashes(pool):
    rng = np.random.default_rng(13)
    oids = [pool.array((5, 3), [("a", "<i4"), ("b", "f8")]).oid for _ in range(4)]
    gc.collect()
    refused = 0
    for round_ in range(300):
        oid = oids[round_ % len(oids)]
        with memoryview(pool.view(oid)) as m:
            n = int(rng.integers(1, 120))
            start = int(rng.integers(0, 120))
            m[start:start + n] = rng.integers(0, 256, len(m[start:start + n]),
                                              dtype=np.uint8).tobytes()
            if round_ % 2:
                m[:8] = HEAD.unpack_from(obj._ARRAY_MAGIC + bytes(24))[0]
        try:
            b = pool.array_at(oid)
        except (CorruptPoolError, InvalidArgumentError):
            refused += 1
        else:
            assert b.nbytes <= len(pool.view(oid))
            del b
    assert refused > 250


def test_pool_stays_open_while_arrays_live(path):
    pool = ObjPool.create(path, "arrays", MIN_POOL_SIZE)
    a = pool.array(100, np.uint8)
    part = a[10:20]
    del a
    with pytest.raises(BufferError):
        pool.close()                                   # a slice is alive
    with pytest.raises(BufferError):
        pool.free(part.oid)
    part[:] = 1                                        # still usable after the refusals
    oid = part.oid
    del part
    pool.close()
    assert pool.closed
    with ObjPool.open(path) as pool:
        assert bytes(pool.array_at(oid)[10:20]) == b"\x01" * 10


def test_arrays_keep_their_pool(path):
    pool = ObjPool.create(path, "arrays", MIN_POOL_SIZE)
    a = pool.array(8, np.int16)
    alive = weakref.ref(pool)
    del pool
    gc.collect()
    assert alive() is not None, "an array keeps its pool from being collected"
    a[:] = 3
    del a
    gc.collect()
    assert alive() is None
    with ObjPool.open(path) as pool:                   # closed cleanly on collection
        assert len(list(pool.objects())) == 1


def test_free_and_its_views(pool):
    a = pool.array(16, np.float64, type_num=2)
    oid = a.oid
    raw = pool.view(oid)
    with pytest.raises(BufferError, match="alive"):
        pool.free(oid)
    assert list(pool.objects(2)) == [oid], "a refused free frees nothing"
    del a
    pool.free(oid)
    assert list(pool.objects(2)) == []
    with pytest.raises(ValueError):
        memoryview(raw)                                # the freed object's views stop


def test_growing_the_root_with_a_live_view(pool):
    root = pool.root(16)
    m = memoryview(root)
    m[:5] = b"hello"
    address = root.address
    with pytest.raises(BufferError):
        pool.root(1 << 20)                             # it could move under the memoryview
    m.release()
    big = pool.root(1 << 20)
    assert bytes(big)[:5] == b"hello" and len(big) == 1 << 20
    if big.address != address:
        with pytest.raises(ValueError):
            memoryview(root)


def test_bad_arguments(pool):
    for dtype in (object, "O", [("x", "i4"), ("y", "O")]):
        with pytest.raises(PmallocTypeError, match="Python objects"):
            pool.array(3, dtype)
    if hasattr(np.dtypes, "StringDType"):
        with pytest.raises(PmallocTypeError):
            pool.array(3, np.dtypes.StringDType())
    with pytest.raises(PmallocTypeError, match="no size"):
        pool.array(3, "S")
    with pytest.raises(TypeError):
        pool.array(3, "not a dtype")
    with pytest.raises(InvalidArgumentError, match="negative"):
        pool.array((2, -1))
    with pytest.raises(InvalidArgumentError, match="at most 32"):
        pool.array((1,) * 33)
    with pytest.raises(PmallocTypeError):
        pool.array(2.5)
    with pytest.raises(PmallocTypeError):
        pool.array(("a", 2))
    with pytest.raises(InvalidArgumentError):
        pool.array(3, type_num=-1)
    with pytest.raises(MemoryError):
        pool.array((1 << 40,), np.float64)
    with pytest.raises((MemoryError, InvalidArgumentError)):
        pool.array((1 << 62, 1 << 62), np.float64)
    assert pool.array(3).sum() == 0, "the pool is usable after the refusals"


# ---- crashes: an array is made whole or not at all --------------------------------------------

SIM_SIZE = 1 << 20


def _formatted() -> bytes:
    with sim.Sim(SIM_SIZE) as s:
        ObjPool._map(s.mapping.address, SIM_SIZE, "arrays", True).close()
        return s.persisted()


def test_making_an_array_is_crash_atomic():
    def workload(m):
        pool = ObjPool._map(m.address, len(m), "arrays", False)
        a = pool.array((3, 5), [("k", "<u4"), ("v", ">f8")], type_num=6)
        del a
        pool.close()

    # the images are checked after the workload, whose pool (same UUID) is open during it
    states = sim.explore(workload, SIM_SIZE, initial=_formatted(), max_states=8)
    assert len({s.point for s in states}) >= 3
    for state in states:
        with sim.Sim(SIM_SIZE, state.image) as s:
            pool = ObjPool._map(s.mapping.address, SIM_SIZE, "arrays", False)
            try:
                made = list(pool.objects(6))
                assert len(made) <= 1 and (made or not state.final), \
                    f"{state.where}: expected at most one array, saw {len(made)} objects"
                for oid in made:
                    a = pool.array_at(oid)
                    assert a.shape == (3, 5) and a.tobytes() == bytes(a.nbytes), \
                        f"{state.where}: expected a zeroed (3, 5) array, saw {a.shape}"
                    del a
            finally:
                pool.close()
