"""Crash tests of the block pool: in the simulator, at every drain of write and set_zero
workloads, every crash state recovers to blocks that are entirely old or entirely new, with
every data block mapped or free exactly once; then kill -9 of a writing process, and
corrupted pool files."""
from __future__ import annotations

import os
import random
import signal
import struct
import time

import pytest

import pmalloc
from pmalloc import sim
from pmalloc.blk import MIN_POOL_SIZE, BlockPool

SIZE = 64 << 10                 # a small pool keeps the simulator's images small
BSIZE = 512


def _pattern(block: int, version: int) -> bytes:
    return struct.pack("<QQ", block, version) * (BSIZE // 16)


def _formatted() -> bytes:
    with sim.Sim(SIZE) as s:
        BlockPool._map(s.mapping.address, SIZE, BSIZE, True).close()
        return s.persisted()


INITIAL = _formatted()
# (block, version) writes; version 0 = set_zero
STEPS = [(1, 1), (2, 1), (1, 2), (3, 1), (2, 0), (1, 3), (4, 1), (3, 2), (1, 0), (5, 1),
         (5, 2), (2, 3), (6, 1), (1, 4), (6, 0), (7, 1), (4, 2), (7, 2), (3, 0), (1, 5),
         (8, 1), (2, 4), (8, 2), (5, 0)]


def workload(m) -> None:
    pool = BlockPool._map(m.address, len(m), BSIZE, False)
    for block, version in STEPS:
        if version:
            pool[block] = _pattern(block, version)
        else:
            pool.set_zero(block)
    pool.close()


def _possible(upto: int) -> dict[int, list[bytes]]:
    """For each block, the contents it may hold after a crash during step `upto`."""
    states: dict[int, list[bytes]] = {}
    for block in {b for b, _ in STEPS}:
        seq = [bytes(BSIZE)]
        for b, v in STEPS:
            if b == block:
                seq.append(_pattern(b, v) if v else bytes(BSIZE))
        states[block] = seq
    return states


POSSIBLE = _possible(len(STEPS))


def check(m) -> None:
    pool = BlockPool._map(m.address, len(m), 0, False)
    try:
        ok, why = pool.consistent()
        assert ok, why
        for block, contents in POSSIBLE.items():
            assert pool[block] in contents, f"block {block} is torn or from nowhere"
        for block in (0, 9, len(pool) - 1):
            assert pool[block] == bytes(BSIZE)
    finally:
        pool.close()


def test_every_crash_state_reads_whole_blocks_and_loses_none():
    report = sim.run(workload, check, SIZE, initial=INITIAL, max_states=256)
    assert report.points >= 2 * len(STEPS) and report.states > 2000, report


def test_threads_in_the_simulator():
    def two_writers(m) -> None:
        import threading
        pool = BlockPool._map(m.address, len(m), BSIZE, False)
        ts = [threading.Thread(target=lambda k=k: [pool.__setitem__(k, _pattern(k, v))
                                                   for v in (1, 2, 3)]) for k in (10, 11)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        pool.close()

    def check2(m) -> None:
        pool = BlockPool._map(m.address, len(m), 0, False)
        try:
            assert pool.consistent()[0]
            for k in (10, 11):
                assert pool[k] in [bytes(BSIZE)] + [_pattern(k, v) for v in (1, 2, 3)]
        finally:
            pool.close()
    report = sim.run(two_writers, check2, SIZE, initial=INITIAL, max_states=32)
    assert report.states > 100


def _write_until_killed(path: str, out: int, nblocks: int, seed: int) -> None:
    try:
        pool = BlockPool.open(path)
        rng = random.Random(seed)
        version = seed * 1_000_000
        while True:
            block = rng.randrange(nblocks)
            version += 1
            pool[block] = _pattern(block, version)
            os.write(out, struct.pack("<QQ", block, version))
    finally:
        os._exit(1)


def test_kill_9_loses_no_acknowledged_write(pool_dir):
    path = os.path.join(pool_dir, "kill.blk")
    BlockPool.create(path, BSIZE, MIN_POOL_SIZE).close()
    nblocks = 200
    acked: dict[int, int] = {}
    rng = random.Random(5)
    for rnd in range(100):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _write_until_killed(path, w, nblocks, rnd + 1)
        os.close(w)
        time.sleep(rng.uniform(0.0, 0.02))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        data = b""
        while chunk := os.read(r, 1 << 16):
            data += chunk
        os.close(r)
        for i in range(len(data) // 16):
            block, version = struct.unpack_from("<QQ", data, 16 * i)
            acked[block] = version
        with BlockPool.open(path) as pool:
            assert pool.consistent() == (True, "")
            for block in range(nblocks):
                got = pool[block]
                if block not in acked:
                    continue
                b, v = struct.unpack_from("<QQ", got)
                assert got == _pattern(block, v), f"block {block} torn"
                # the acknowledged version, or a later one written before the kill
                assert v >= acked[block] or v // 1_000_000 > acked[block] // 1_000_000, (
                    f"block {block}: acknowledged version {acked[block]} lost, holds {v}")
                acked[block] = v
    assert len(acked) > 100


@pytest.mark.parametrize("region", ["info", "flog", "map", "data", "truncate"])
def test_corrupt_pools_fail_cleanly_or_read_back_whole(pool_dir, region):
    path = os.path.join(pool_dir, "good.blk")
    with BlockPool.create(path, BSIZE, MIN_POOL_SIZE) as pool:
        for k in range(100):
            pool[k] = _pattern(k, 1)
        for k in range(50):
            pool[k] = _pattern(k, 2)
        nblocks = len(pool)
    good = open(path, "rb").read()
    bad = os.path.join(pool_dir, "bad.blk")
    rng = random.Random(region)
    spans = {"info": (0, 200), "flog": (4096, 4096 + 64), "map": (8192, 8192 + 400),
             "data": (16384, 16384 + 100 * BSIZE)}
    outcomes = {"refused": 0, "whole": 0}
    for case in range(80):
        img = bytearray(good)
        if region == "truncate":
            img = img[:rng.randrange(0, len(img))]
        else:
            lo, hi = spans[region]
            for _ in range(rng.randrange(1, 4)):
                img[rng.randrange(lo, hi)] ^= 1 << rng.randrange(8)
            if region == "info" and case % 2:       # both copies of the header
                for _ in range(2):
                    img[len(img) - 4096 + rng.randrange(0, 200)] ^= 0xFF
        with open(bad, "wb") as f:
            f.write(img)
        try:
            pool = BlockPool.open(bad)
        except pmalloc.CorruptPoolError:
            outcomes["refused"] += 1
            continue
        with pool:
            ok, _ = pool.consistent()
            if not ok:
                outcomes["refused"] += 1      # check says what is wrong
                continue
            for k in range(nblocks if region != "data" else 0):
                try:
                    got = pool[k]
                except OSError:
                    continue                   # an error flag: a clear error
                if k < 100 and got != bytes(BSIZE):
                    assert got in (_pattern(k, 1), _pattern(k, 2)), f"block {k} wrong"
                elif k >= 100:
                    assert got == bytes(BSIZE)
            outcomes["whole"] += 1
    assert sum(outcomes.values()) == 80
