"""Crash tests of the log in the simulator: at every drain of append and appendv workloads,
every crash state opens, holds a prefix of what was appended that ends on an entry boundary,
and tell() is that boundary. Then the same under kill -9 of a real process."""
from __future__ import annotations

import os
import random
import signal
import struct
import time

import pytest

from pmalloc import sim
from pmalloc.log import MIN_POOL_SIZE, Log

SIZE = MIN_POOL_SIZE
ENTRIES = [bytes([i + 1]) * (1 + (i * 37) % 300) for i in range(14)]
# what the workload appends: single entries, then two vectors
UNITS = [[e] for e in ENTRIES[:8]] + [ENTRIES[8:11], ENTRIES[11:14]]
STREAM = b"".join(b"".join(u) for u in UNITS)
BOUNDARIES = [0]
for u in UNITS:
    BOUNDARIES.append(BOUNDARIES[-1] + sum(map(len, u)))


def _formatted() -> bytes:
    with sim.Sim(SIZE) as s:
        Log._map(s.mapping.address, SIZE, True).close()
        return s.persisted()


INITIAL = _formatted()


def workload(m) -> None:
    log = Log._map(m.address, len(m), False)
    for u in UNITS:
        if len(u) == 1:
            log.append(u[0])
        else:
            log.appendv(u)
    log.close()


def check(m) -> None:
    log = Log._map(m.address, len(m), False)     # always opens: the header never changes
    try:
        n = log.tell()
        assert n in BOUNDARIES, f"tell() = {n} is inside an entry"
        assert bytes(log) == STREAM[:n], "the log is not a prefix of what was appended"
    finally:
        log.close()


def test_every_crash_state_is_a_prefix_of_whole_entries():
    report = sim.run(workload, check, SIZE, initial=INITIAL, max_states=256)
    assert report.points >= len(UNITS) and report.states > 1000, report


def test_rewind_is_atomic():
    def rewind_then_append(m) -> None:
        log = Log._map(m.address, len(m), False)
        log.append(b"a" * 100)
        log.rewind()
        log.append(b"b" * 50)
        log.close()

    def check_rewind(m) -> None:
        log = Log._map(m.address, len(m), False)
        try:
            data = bytes(log)
            assert data in (b"", b"a" * 100, b"b" * 50), data[:20]
        finally:
            log.close()
    report = sim.run(rewind_then_append, check_rewind, SIZE, initial=INITIAL)
    assert report.states > 10


def _entries(data: bytes) -> list[int]:
    seqs, at = [], 0
    while at < len(data):
        seq, n = struct.unpack_from("<II", data, at)
        body = data[at + 8:at + 8 + n]
        assert len(body) == n and body == struct.pack("<I", seq) * (n // 4), f"torn at {at}"
        seqs.append(seq)
        at += 8 + n
    return seqs


def _append_until_killed(path: str, out: int, seq: int) -> None:
    """The child: append numbered entries, acknowledging each once append returned."""
    try:
        log = Log.open(path)
        while True:
            body = struct.pack("<I", seq) * (1 + seq % 50)
            log.appendv([struct.pack("<II", seq, len(body)), body])
            os.write(out, struct.pack("<I", seq))
            seq += 1
    finally:
        os._exit(1)


def test_kill_9_loses_no_acknowledged_append(pool_dir):
    path = os.path.join(pool_dir, "kill.log")
    Log.create(path, 16 << 20).close()
    rng = random.Random(9)
    rounds_acked = 0
    for _ in range(100):
        with Log.open(path) as log:
            seqs = _entries(bytes(log))
            if log.tell() > log.nbyte // 2:
                log.rewind()
                seqs = []
        assert seqs == list(range(len(seqs))), "entries in order, none missing"
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _append_until_killed(path, w, len(seqs))
        os.close(w)
        time.sleep(rng.uniform(0.0, 0.02))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        acked = b""
        while chunk := os.read(r, 65536):
            acked += chunk
        os.close(r)
        with Log.open(path) as log:
            after = _entries(bytes(log))
        assert after == list(range(len(after)))
        if len(acked) >= 4:
            last = struct.unpack_from("<I", acked, len(acked) - len(acked) % 4 - 4)[0]
            assert len(after) > last, f"acknowledged entry {last} lost ({len(after)} present)"
            rounds_acked += 1
    assert rounds_acked > 50, "most rounds acknowledged at least one append"
    assert Log.check(path)[0]


def test_corrupt_headers_are_refused_or_read_back_whole(pool_dir):
    """Random byte flips in the header page and truncations: open fails cleanly with
    CorruptPoolError, or the log reads back as the entries written (never a torn one)."""
    import pmalloc
    path = os.path.join(pool_dir, "good.log")
    with Log.create(path, SIZE) as log:
        for u in UNITS:
            log.appendv(u)
    good = open(path, "rb").read()
    rng = random.Random(11)
    opened = refused = 0
    bad = os.path.join(pool_dir, "bad.log")
    for case in range(400):
        img = bytearray(good)
        if case % 10 == 9:
            img = img[:rng.randrange(0, len(img))]
        else:
            for _ in range(rng.randrange(1, 4)):
                img[rng.randrange(0, 4096 if case % 2 else 200)] ^= 1 << rng.randrange(8)
        with open(bad, "wb") as f:
            f.write(img)
        try:
            log = Log.open(bad)
        except (pmalloc.CorruptPoolError, OSError):
            refused += 1
            continue
        with log:
            n = log.tell()
            assert n in BOUNDARIES and bytes(log) == STREAM[:n]
            opened += 1
    assert refused > 100 and opened > 10, (refused, opened)
