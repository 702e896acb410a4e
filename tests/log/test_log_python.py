"""pmalloc.log from Python: the API, errors, bad files, threads."""
from __future__ import annotations

import errno
import os
import random
import struct
import threading

import pytest

import pmalloc
from pmalloc.log import MIN_POOL_SIZE, Log

MiB = 1 << 20


@pytest.fixture
def path(pool_dir):
    return os.path.join(pool_dir, "test.log")


def test_append_walk_tell_rewind(path):
    with Log.create(path, 4 * MiB) as log:
        assert log.tell() == 0 and log.walk() == [] and bytes(log) == b""
        log.append(b"first entry")
        log.appendv([b"header ", memoryview(b"body"), bytearray(b"!")])
        log.append(b"")
        assert log.tell() == len(log) == 23
        assert bytes(log) == b"first entryheader body!"
        assert log.walk(5) == [b"first", b" entr", b"yhead", b"er bo", b"dy!"]
        assert b"".join(log) == bytes(log)
        assert log.nbyte == 4 * MiB - 4096
    with Log.open(path) as log:
        assert bytes(log) == b"first entryheader body!"
        log.rewind()
        assert log.tell() == 0
    assert Log.check(path) == (True, "")


def test_full_log_raises_enospc_and_keeps_its_contents(path):
    with Log.create(path, MIN_POOL_SIZE) as log:
        chunk = b"x" * 100_000
        n = 0
        with pytest.raises(OSError) as info:
            while True:
                log.append(chunk)
                n += 1
        assert info.value.errno == errno.ENOSPC
        assert log.tell() == n * len(chunk)
        rest = log.nbyte - log.tell()
        log.append(b"y" * rest)                    # exactly full
        assert log.tell() == log.nbyte
        with pytest.raises(OSError):
            log.append(b"z")


def test_create_and_open_errors(path, tmp_path):
    with pytest.raises(pmalloc.InvalidArgumentError):
        Log.create(path, MIN_POOL_SIZE - 1)
    Log.create(path, MIN_POOL_SIZE).close()
    with pytest.raises(FileExistsError):
        Log.create(path, MIN_POOL_SIZE)
    with pytest.raises(FileNotFoundError):
        Log.open(str(tmp_path / "missing"))
    foreign = tmp_path / "foreign"
    foreign.write_bytes(os.urandom(MIN_POOL_SIZE))
    with pytest.raises(pmalloc.CorruptPoolError, match="not a log pool"):
        Log.open(str(foreign))
    assert Log.check(str(foreign))[0] is False
    log = Log.open(path)
    log.close()
    log.close()
    with pytest.raises(pmalloc.PoolClosedError):
        log.append(b"x")


def test_create_over_an_existing_file_with_size_zero(tmp_path):
    p = tmp_path / "existing"
    p.write_bytes(b"\0" * (3 * MiB))
    with Log.create(str(p), 0) as log:
        assert log.nbyte == 3 * MiB - 4096


def test_truncated_or_extended_pool_is_refused(path):
    with Log.create(path, 4 * MiB) as log:
        log.append(b"data")
    os.truncate(path, 3 * MiB)
    with pytest.raises(pmalloc.CorruptPoolError, match="truncated"):
        Log.open(path)


def test_full_file_system_leaves_nothing(tiny_fs):
    p = os.path.join(tiny_fs, "big.log")
    with pytest.raises(OSError) as info:
        Log.create(p, 512 * MiB)
    assert info.value.errno == errno.ENOSPC
    assert not os.path.exists(p), "a pool that could not be made leaves no file"


def test_threads_never_interleave_inside_an_entry(path):
    """8 threads append self-describing entries (thread, seq, length, payload)."""
    with Log.create(path, 16 * MiB) as log:
        def work(t: int) -> None:
            rng = random.Random(t)
            for seq in range(300):
                body = bytes([t]) * rng.randrange(1, 200)
                log.appendv([struct.pack("<HHI", t, seq, len(body)), body])
        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        data = bytes(log)
    seen = {t: 0 for t in range(8)}
    at = 0
    while at < len(data):
        t, seq, n = struct.unpack_from("<HHI", data, at)
        at += 8
        assert data[at:at + n] == bytes([t]) * n, f"entry of thread {t} torn at {at}"
        assert seq == seen[t], "a thread's entries are in its order"
        seen[t] += 1
        at += n
    assert seen == {t: 300 for t in range(8)}
    assert Log.check(path)[0]
