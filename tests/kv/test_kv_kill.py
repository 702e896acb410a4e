"""kill -9 of a process writing to a pmalloc.kv store: every set and delete it acknowledged
survives, the one in flight is whole or absent, never half-written.

The writer's operations are a function of the round's seed, so the parent knows them all:
the writer reports each one over a pipe after it returns, and the first one not reported
is the one that may have been in flight when the kill landed (or had returned, unreported).
"""
from __future__ import annotations

import os
import random
import signal
import struct
import time
import traceback
from dataclasses import dataclass

import pytest

import pmalloc.kv as kv

from .conftest import MiB, blob

ROUNDS = 100
NKEYS = 300
LARGE_KEYS = 4             # keys 0..3 may get values of 1-3 MiB
ACK = struct.Struct("<QQ")  # operation index in its round, its seq
STORE_SIZE = 128 * MiB      # room for the largest mix: 4 x 3 MiB + 296 x 64 KiB, twice


@dataclass(frozen=True)
class Op:
    seq: int                 # unique over the test: names the value
    key: bytes
    size: int | None         # None: a delete

    def value(self) -> bytes:
        assert self.size is not None
        return blob(self.seq, self.size)


def operations(rnd: int):
    """The writer's operations in round rnd, endless and the same every time."""
    rng = random.Random(f"kv-kill-{rnd}")
    seq = rnd * 10_000_000
    while True:
        seq += 1
        k = rng.randrange(NKEYS)
        p = rng.random()
        if p < 0.15:
            size = None
        elif k < LARGE_KEYS and p < 0.5:
            size = rng.randrange(MiB, 3 * MiB)
        elif p < 0.25:
            size = rng.randrange(4 << 10, 64 << 10)
        else:
            size = rng.randrange(0, 300)
        yield Op(seq, b"key-%d" % k, size)


def _write_until_killed(path: str, out: int, rnd: int) -> None:
    """The child: apply round rnd's operations, acknowledging each after it returns."""
    try:
        db = kv.open(path, "w")
        for i, op in enumerate(operations(rnd)):
            if op.size is None:
                db.pop(op.key, None)
            else:
                db[op.key] = op.value()
            os.write(out, ACK.pack(i, op.seq))
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(1)


def _acks(r: int) -> list[tuple[int, int]]:
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    assert len(data) % ACK.size == 0, f"a torn acknowledgement: {len(data)} bytes"
    return [ACK.unpack_from(data, i) for i in range(0, len(data), ACK.size)]


def _check(db, model: dict[bytes, bytes], flight: Op, rnd: int) -> bool:
    """db holds model, except that flight's key may hold flight's outcome; whether it does."""
    keys = set(db)
    extra = keys - set(model) - {flight.key}
    assert not extra, f"round {rnd}: keys never set or deleted before: {sorted(extra)[:5]}"
    for k, want in model.items():
        if k != flight.key:
            assert k in keys, f"round {rnd}: acknowledged key {k!r} lost"
            got = db[k]
            assert got == want, (f"round {rnd}: key {k!r}: expected the acknowledged "
                                 f"{len(want)} bytes, saw {len(got)} bytes")
    got = db.get(flight.key)
    before = model.get(flight.key)
    after = None if flight.size is None else flight.value()
    assert got == before or got == after, (
        f"round {rnd}: key {flight.key!r} (op seq {flight.seq}, in flight): expected the "
        f"acknowledged {None if before is None else len(before)} bytes or the in-flight "
        f"{None if after is None else len(after)} bytes, saw "
        f"{None if got is None else len(got)} bytes: half-written or stale")
    assert len(db) == len(keys)
    return got == after and got != before


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_operation(pool_dir):
    path = os.path.join(pool_dir, "kill.kv")
    kv.open(path, "n", size=STORE_SIZE).close()
    model: dict[bytes, bytes] = {}
    rng = random.Random(13)
    acked = landed = 0
    for rnd in range(ROUNDS):
        r, w = os.pipe()
        pid = os.fork()          # nothing of the store is open here: the lock is not shared
        if pid == 0:
            os.close(r)
            _write_until_killed(path, w, rnd)
        os.close(w)
        early = []
        if rnd % 2:              # odd rounds: a kill while it writes, not while it opens
            first = os.read(r, ACK.size)
            if len(first) == ACK.size:
                early = [ACK.unpack(first)]
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
            f"round {rnd}: expected the writer to run until killed, saw status {status:#x}")
        done = early + _acks(r)
        os.close(r)
        ops = operations(rnd)
        for index, (i, seq) in enumerate(done):
            op = next(ops)
            assert (i, seq) == (index, op.seq), (f"round {rnd}: acknowledgement {index} reads "
                                                 f"({i}, {seq}), expected ({index}, {op.seq})")
            if op.size is None:
                model.pop(op.key, None)
            else:
                model[op.key] = op.value()
        acked += len(done)
        flight = next(ops)
        flag = "r" if rnd % 5 == 4 else "w"   # a read-only open sees the same after a kill
        with kv.open(path, flag) as db:
            if _check(db, model, flight, rnd):
                landed += 1
                if flight.size is None:
                    model.pop(flight.key, None)
                else:
                    model[flight.key] = flight.value()
    with kv.open(path, "r") as db:
        assert dict(db) == model
    print(f"{ROUNDS} kills: {acked} operations acknowledged, {landed} in flight landed")
    assert acked > 20 * ROUNDS, f"expected the writer to get further: {acked} operations"
