"""pmalloc.blk from Python: the API, errors, bad files, threads."""
from __future__ import annotations

import errno
import os
import random
import struct
import threading

import pytest

import pmalloc
from pmalloc.blk import MIN_POOL_SIZE, BlockPool

MiB = 1 << 20


@pytest.fixture
def path(pool_dir):
    return os.path.join(pool_dir, "test.blk")


def test_read_write_zero_error(path):
    with BlockPool.create(path, 512, MIN_POOL_SIZE) as pool:
        n = len(pool)
        assert pool.bsize == 512 and n > 30000
        assert pool[0] == bytes(512) and pool[n - 1] == bytes(512)
        pool[7] = b"a" * 512
        pool[-1] = b"z" * 512
        buf = bytearray(600)
        pool.read_into(7, buf)
        assert buf[:512] == b"a" * 512
        pool.set_zero(7)
        assert pool[7] == bytes(512)
        pool.set_error(8)
        with pytest.raises(OSError) as info:
            pool[8]
        assert info.value.errno == errno.EIO
        pool[8] = b"b" * 512
        assert pool[8] == b"b" * 512
        with pytest.raises(IndexError):
            pool[n]
        with pytest.raises(pmalloc.InvalidArgumentError):
            pool[1] = b"short"
        assert pool.consistent() == (True, "")
    with BlockPool.open(path, 512) as pool:
        assert pool[-1] == b"z" * 512 and pool[8] == b"b" * 512
    assert BlockPool.check(path) == (True, "")


def test_errors(path, tmp_path):
    with pytest.raises(pmalloc.InvalidArgumentError):
        BlockPool.create(path, 100, MIN_POOL_SIZE)
    with pytest.raises(pmalloc.InvalidArgumentError):
        BlockPool.create(path, 512, MIN_POOL_SIZE - 1)
    BlockPool.create(path, 4096, MIN_POOL_SIZE).close()
    with pytest.raises(FileExistsError):
        BlockPool.create(path, 4096, MIN_POOL_SIZE)
    with pytest.raises(pmalloc.CorruptPoolError, match="4096"):
        BlockPool.open(path, 512)
    with pytest.raises(FileNotFoundError):
        BlockPool.open(str(tmp_path / "missing"))
    foreign = tmp_path / "foreign"
    foreign.write_bytes(os.urandom(MIN_POOL_SIZE))
    with pytest.raises(pmalloc.CorruptPoolError, match="not a block pool"):
        BlockPool.open(str(foreign))
    os.truncate(path, MIN_POOL_SIZE - 4096)
    with pytest.raises(pmalloc.CorruptPoolError):
        BlockPool.open(path)
    pool = BlockPool.create(str(tmp_path / "b"), 512, MIN_POOL_SIZE)
    pool.close()
    pool.close()
    with pytest.raises(pmalloc.PoolClosedError):
        pool[0]


def test_damaged_primary_header_is_repaired_from_the_backup(path):
    with BlockPool.create(path, 512, MIN_POOL_SIZE) as pool:
        pool[5] = b"k" * 512
    with open(path, "r+b") as f:
        f.seek(10)
        f.write(b"\xff\xff")
    with BlockPool.open(path) as pool:
        assert pool[5] == b"k" * 512
    assert BlockPool.check(path) == (True, "")


def test_full_file_system_leaves_nothing(tiny_fs):
    p = os.path.join(tiny_fs, "big.blk")
    with pytest.raises(OSError) as info:
        BlockPool.create(p, 4096, 512 * MiB)
    assert info.value.errno == errno.ENOSPC
    assert not os.path.exists(p)


def _pattern(block: int, version: int, bsize: int) -> bytes:
    return struct.pack("<QQ", block, version) * (bsize // 16)


def test_threads_write_random_blocks(path):
    with BlockPool.create(path, 512, MIN_POOL_SIZE) as pool:
        n = 64                                     # few blocks: threads collide on them
        written: dict[int, set[int]] = {k: set() for k in range(n)}
        lock = threading.Lock()

        def work(t: int) -> None:
            rng = random.Random(t)
            for i in range(2000):
                k = rng.randrange(n)
                if rng.random() < 0.3:
                    data = pool[k]
                    blk, ver = struct.unpack_from("<QQ", data)
                    assert data == bytes(512) or data == _pattern(blk, ver, 512), "torn read"
                else:
                    v = t * 100000 + i
                    with lock:
                        written[k].add(v)
                    pool[k] = _pattern(k, v, 512)
        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for k in range(n):
            data = pool[k]
            blk, ver = struct.unpack_from("<QQ", data)
            assert data == _pattern(k, ver, 512) and ver in written[k]
        assert pool.consistent() == (True, "")


def test_a_corrupt_map_entry_is_never_trusted(path):
    """A map entry naming a block outside the pool: reads fail with EUCLEAN and writes refuse
    (the old block would become a lane's free block), the rest of the pool works."""
    with BlockPool.create(path, 512, MIN_POOL_SIZE) as pool:
        pool[3] = b"c" * 512
    with open(path, "r+b") as f:
        f.seek(8192 + 3 * 4)                       # the map of a 2-lane pool: page 2
        head = f.read(4)
        f.seek(8192 + 3 * 4)
        f.write(struct.pack("<I", 0x3fffffff))     # set bit, ABA far outside
    if head == struct.pack("<I", 0):
        pytest.skip("the map is not where this test expects (more lanes here)")
    with BlockPool.open(path) as pool:
        with pytest.raises(OSError) as info:
            pool[3]
        assert info.value.errno == errno.EUCLEAN
        with pytest.raises(OSError):
            pool[3] = b"d" * 512
        pool[4] = b"e" * 512
        assert pool[4] == b"e" * 512
        assert pool.consistent()[0] is False
