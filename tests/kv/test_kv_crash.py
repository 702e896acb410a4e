"""Crash tests of pmalloc.kv in the simulator: a crash at any drain of a set or delete --
including those that grow or shrink the table, move buckets or replace values of any size --
recovers to the store as it was before that operation or after it, never a mix; the
recovered table checks out (pmalloc_kv_map walks it) and the heap holds exactly its
entries and bucket arrays: nothing leaked, nothing freed twice.

The workload's store is open while the simulator hands out crash images, and a process may
not open two pools of one UUID; so the images are collected (deduplicated, compressed)
and verified after the workload's store is closed (each kept as the pages in which it differs
from the initial image).
"""
from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from pmalloc import _capi, sim
from pmalloc.kv import KV

pytestmark = pytest.mark.slow   # thousands of crash states

SIZE = 512 << 10
PAGE = 4096
ENTRY, BUCKETS = 1, 2           # the obj type numbers of kv_layout.h

Op = tuple[str, bytes, bytes]


def formatted() -> bytes:
    with sim.Sim(SIZE) as s:
        KV._map(s.mapping.address, SIZE, True).close()
        return s.persisted()


def plan(seed: int) -> list[Op]:
    """Sets and deletes: 100 steps mostly of new keys (the table grows past 16, 32 and 64
    buckets), then 90 mostly of deletes (it shrinks); values from 0 bytes to a few KiB,
    some replaced on the way."""
    rng = random.Random(seed)
    fresh = iter(b"k%03d" % i for i in range(200))
    live: list[bytes] = []
    ops: list[Op] = []
    for i in range(190):
        r = rng.random()
        new, delete = (r < 0.8, r > 0.9) if i < 100 else (False, r < 0.9)
        if delete and live:
            ops.append(("del", live.pop(rng.randrange(len(live))), b""))
            continue
        k = next(fresh) if new or not live else rng.choice(live)
        if k not in live:
            live.append(k)
        size = rng.choice([0, 8, 100, 300]) if rng.random() < 0.95 else 3000
        ops.append(("set", k, rng.randbytes(size)))
    return ops


def models(ops: list[Op]) -> list[dict[bytes, bytes]]:
    out = [{}]
    for what, k, v in ops:
        m = dict(out[-1])
        if what == "set":
            m[k] = v
        else:
            del m[k]
        out.append(m)
    return out


def contents(image: bytes) -> dict[bytes, bytes]:
    """What the store in image holds after recovery, its heap checked for leaks."""
    with sim.Sim(SIZE, image) as s:
        db = KV._map(s.mapping.address, SIZE, False)
        try:
            seen = dict(db.items())
            pop = _capi.kv_pool(db._handle())
            types = [_capi.obj_info(u, off)[1] for u, off in _capi.obj_objects(pop)]
            assert types.count(ENTRY) == len(seen), \
                f"expected {len(seen)} entries in the heap, saw {types.count(ENTRY)}"
            assert types.count(BUCKETS) in (1, 2) and len(types) == len(seen) + \
                types.count(BUCKETS), f"expected only entries and 1-2 bucket arrays: {types}"
            db[b"after"] = b"recovery"         # the recovered store takes changes
            del db[b"after"]
        finally:
            db.close()
    return seen


@pytest.mark.parametrize("seed", [1, 2])
def test_crash_at_every_drain_is_all_or_nothing(seed: int) -> None:
    ops = plan(seed)
    states = models(ops)
    assert max(len(m) for m in states) > 64 and len(states[-1]) < 8, "the plan must resize"
    step = [0]
    initial = formatted()
    images: dict[bytes, tuple[set[int], dict[int, bytes]]] = {}

    def workload(m: Any) -> None:
        step[0] = 0
        db = KV._map(m.address, SIZE, False)
        try:
            for i, (what, k, v) in enumerate(ops):
                step[0] = i + 1                # a crash now leaves state i or i + 1
                if what == "set":
                    db[k] = v
                else:
                    del db[k]
            step[0] = len(ops) + 1             # returned: only the last state
        finally:
            db.close()

    def check(m: Any) -> None:
        with memoryview(m) as v:
            raw = v.tobytes()
        digest = hashlib.sha256(raw).digest()
        i = step[0]
        allowed = {len(ops)} if i > len(ops) else {i - 1, i} - {-1}
        if digest in images:
            images[digest][0].update(allowed)
        else:
            images[digest] = (set(allowed), {p: raw[p:p + PAGE] for p in range(0, SIZE, PAGE)
                                             if raw[p:p + PAGE] != initial[p:p + PAGE]})

    report = sim.run(workload, check, SIZE, initial=initial, seed=seed, max_points=1000,
                     max_states=6)
    assert report.points > 2 * len(ops), report
    for allowed, pages in images.values():
        image = bytearray(initial)
        for p, data in pages.items():
            image[p:p + PAGE] = data
        seen = contents(bytes(image))
        matches = [i for i in sorted(allowed) if states[i] == seen]
        if not matches:
            i = max(allowed)
            before, after = states[max(i - 1, 0)], states[i]
            diff = sorted(k for k in set(seen) | set(after) | set(before)
                          if seen.get(k) not in (before.get(k), after.get(k)))
            pytest.fail(f"a crash during step {i} ({ops[i - 1][:2] if i else 'open'}) "
                        f"left neither state {i - 1} nor {i}: keys {diff[:5]} differ")
