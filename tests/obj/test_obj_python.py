"""pmalloc.obj from Python: ObjPool, Oid, transactions; misuse raises, never crashes."""
from __future__ import annotations

import os

import numpy as np
import pytest

from pmalloc.errors import (CorruptPoolError, ForeignPointerError, InvalidArgumentError,
                            PoolClosedError, PoolError)
from pmalloc.obj import MIN_POOL_SIZE, ObjPool, Oid


@pytest.fixture
def path(pool_dir):
    return os.path.join(pool_dir, "py.obj")


def test_root_objects_and_reopen(path):
    with ObjPool.create(path, "app", MIN_POOL_SIZE) as pool:
        root = pool.root(64)
        assert len(root) == 64 and bytes(root) == bytes(64)
        with memoryview(root) as m:
            m[:5] = b"hello"
        a = pool.alloc(100, type_num=3)
        b = pool.alloc(20000, type_num=4, zero=True)
        assert pool.type_num(a) == 3 and bytes(pool.view(b))[:20000] == bytes(20000)
        assert set(pool.objects()) == {a, b} and list(pool.objects(4)) == [b]
        assert Oid.from_bytes(a.to_bytes()) == a and len({a, Oid(*a)}) == 1
        with memoryview(pool.view(a)) as m:
            m[:3] = b"abc"
    with ObjPool.open(path, "app") as pool:
        assert bytes(pool.root())[:5] == b"hello" and pool.root_size == 64
        assert bytes(pool.view(a))[:3] == b"abc"
        pool.free(a)
        with pytest.raises(InvalidArgumentError):
            pool.free(a)                                   # twice
        assert list(pool.objects()) == [b]


def test_transaction_commits_or_rolls_back(path):
    with ObjPool.create(path, "app", MIN_POOL_SIZE) as pool:
        counter = np.frombuffer(pool.root(64), dtype=np.uint64)
        kept = pool.alloc(64, type_num=1)
        with pool.transaction() as tx:
            tx.add(counter)
            counter[:] = 7
            made = tx.alloc(64, type_num=2)
        assert list(counter) == [7] * 8 and made in set(pool.objects())
        with pytest.raises(RuntimeError, match="boom"):
            with pool.transaction() as tx:
                tx.add(counter[2:4])
                counter[2:4] = 99
                with pool.transaction() as inner:          # nested: one transaction
                    inner.add(counter, 0, 8)
                    counter[0] = 5
                    gone = inner.alloc(128)
                tx.free(kept)
                raise RuntimeError("boom")
        assert list(counter) == [7] * 8
        assert set(pool.objects()) == {kept, made} and gone not in set(pool.objects())
        with pool.transaction() as tx:
            tx.free(kept)
        assert list(pool.objects()) == [made]
        del counter


def test_misuse_raises(path, pool_dir):
    pool = ObjPool.create(path, "app", MIN_POOL_SIZE)
    other = ObjPool.create(os.path.join(pool_dir, "other.obj"), "app", MIN_POOL_SIZE)
    try:
        foreign = other.alloc(64)
        with pytest.raises(ForeignPointerError):
            pool.free(foreign)
        with pytest.raises(ForeignPointerError):
            with pool.transaction() as tx:
                tx.add(other.view(foreign))
        with pytest.raises(ForeignPointerError):
            with pool.transaction() as tx:
                tx.add(bytearray(8))
        with pool.transaction() as tx:
            pass
        with pytest.raises(InvalidArgumentError):
            tx.add(pool.root(8))                          # outside its block
        root = pool.root(8)
        m = memoryview(root)
        with pytest.raises(BufferError):
            pool.close()                                  # a memoryview is alive
        m.release()
    finally:
        pool.close()
        other.close()
    pool.close()                                          # twice: fine
    assert pool.closed
    with pytest.raises(PoolClosedError):
        pool.alloc(8)
    with pytest.raises((ValueError, PoolError)):
        memoryview(root)                                  # a view of a closed pool


def test_bad_files(path, pool_dir):
    with pytest.raises(FileNotFoundError):
        ObjPool.open(os.path.join(pool_dir, "missing.obj"))
    ObjPool.create(path, "app", MIN_POOL_SIZE).close()
    with pytest.raises(CorruptPoolError, match="layout"):
        ObjPool.open(path, "another")
    with pytest.raises(FileExistsError):
        ObjPool.create(path, "app", MIN_POOL_SIZE)
    junk = os.path.join(pool_dir, "junk.obj")
    with open(junk, "wb") as f:
        f.write(os.urandom(MIN_POOL_SIZE))
    with pytest.raises(CorruptPoolError):
        ObjPool.open(junk)
    with pytest.raises(InvalidArgumentError):
        ObjPool.create(os.path.join(pool_dir, "small.obj"), "app", 1 << 20)
