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
from collections.abc import Iterator
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


class Images:
    """The crash images the simulator hands the check, kept for after the workload: each
    once (as the pages in which it differs from the initial image), with the states a
    crash there may leave (step[0] is the step in progress, 1-based; past the last: done)."""

    def __init__(self, initial: bytes, step: list[int], nops: int) -> None:
        self.initial, self.step, self.nops = initial, step, nops
        self.kept: dict[bytes, tuple[set[int], dict[int, bytes]]] = {}

    def check(self, m: Any) -> None:
        with memoryview(m) as v:
            raw = v.tobytes()
        digest = hashlib.sha256(raw).digest()
        i = self.step[0]
        allowed = {self.nops} if i > self.nops else {i - 1, i} - {-1}
        if digest in self.kept:
            self.kept[digest][0].update(allowed)
        else:
            self.kept[digest] = (set(allowed), {
                p: raw[p:p + PAGE] for p in range(0, SIZE, PAGE)
                if raw[p:p + PAGE] != self.initial[p:p + PAGE]})

    def each(self) -> Iterator[tuple[set[int], bytes]]:
        for allowed, pages in self.kept.values():
            image = bytearray(self.initial)
            for p, data in pages.items():
                image[p:p + PAGE] = data
            yield allowed, bytes(image)


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
    images = Images(initial, step, len(ops))

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

    check = images.check

    report = sim.run(workload, check, SIZE, initial=initial, seed=seed, max_points=1000,
                     max_states=6)
    assert report.points > 2 * len(ops), report
    for allowed, image in images.each():
        seen = contents(image)
        matches = [i for i in sorted(allowed) if states[i] == seen]
        if not matches:
            i = max(allowed)
            before, after = states[max(i - 1, 0)], states[i]
            diff = sorted(k for k in set(seen) | set(after) | set(before)
                          if seen.get(k) not in (before.get(k), after.get(k)))
            pytest.fail(f"a crash during step {i} ({ops[i - 1][:2] if i else 'open'}) "
                        f"left neither state {i - 1} nor {i}: keys {diff[:5]} differ")


# ---- the server's types: lists, sets, hashes (their members in tables of their own) ----

def parse(reply: bytes) -> Any:
    """A RESP2 reply as Python values (errors as ("err", text))."""
    def item(at: int) -> tuple[Any, int]:
        end = reply.index(b"\r\n", at)
        kind, text = reply[at:at + 1], reply[at + 1:end]
        if kind == b"+":
            return text, end + 2
        if kind == b"-":
            return ("err", text), end + 2
        if kind == b":":
            return int(text), end + 2
        n = int(text)
        if kind == b"$":
            return (None, end + 2) if n < 0 else (reply[end + 2:end + 2 + n], end + 4 + n)
        out, at = [], end + 2
        for _ in range(max(n, 0)):
            v, at = item(at)
            out.append(v)
        return out, at
    return item(0)[0]


def typed_plan(seed: int) -> list[tuple[bytes, ...]]:
    """Commands over two lists, two sets and two hashes that grow past 16 members (their
    tables resize) and shrink, and strings replaced by collections and back."""
    rng = random.Random(seed)
    ops: list[tuple[bytes, ...]] = []
    for i in range(230):
        k = 0 if rng.random() < 0.8 else 1
        r = rng.random()
        shrink = i > 150
        if r < 0.3:
            key = b"list%d" % k
            if shrink or rng.random() < 0.3:
                ops.append((rng.choice([b"LPOP", b"RPOP"]), key))
            else:
                values = [rng.randbytes(rng.choice([0, 5, 40]))
                          for _ in range(rng.randint(1, 3))]
                ops.append((rng.choice([b"LPUSH", b"RPUSH"]), key, *values))
        elif r < 0.6:
            key, m = b"set%d" % k, b"m%02d" % rng.randrange(60)
            ops.append((b"SREM" if shrink and rng.random() < 0.9 else b"SADD", key, m))
        elif r < 0.9:
            key, f = b"hash%d" % k, b"f%02d" % rng.randrange(60)
            if shrink and rng.random() < 0.9:
                ops.append((b"HDEL", key, f))
            else:
                ops.append((b"HSET", key, f, rng.randbytes(rng.choice([1, 30, 300]))))
        else:
            key = rng.choice([b"str", b"list0", b"set1"])
            ops.append(rng.choice([(b"SET", key, b"v%d" % i), (b"DEL", key),
                                   (b"APPEND", b"str", b"+")]))
    return ops


def apply(m: dict[bytes, Any], op: tuple[bytes, ...]) -> None:
    """op's effect on the model (Redis semantics; an error changes nothing)."""
    name, key, *args = op
    have = m.get(key)
    kind = {b"LPUSH": list, b"RPUSH": list, b"LPOP": list, b"RPOP": list, b"SADD": set,
            b"SREM": set, b"HSET": dict, b"HDEL": dict}.get(name)
    if kind is not None and have is not None and not isinstance(have, kind):
        return                                              # WRONGTYPE
    if name in (b"LPUSH", b"RPUSH"):
        lst = list(have or [])
        for a in args:
            lst.insert(0, a) if name == b"LPUSH" else lst.append(a)
        m[key] = lst
    elif name in (b"LPOP", b"RPOP") and have:
        lst = list(have)
        lst.pop(0 if name == b"LPOP" else -1)
        m[key] = lst
    elif name == b"SADD":
        m[key] = set(have or set()) | {args[0]}
    elif name == b"SREM" and have:
        m[key] = set(have) - {args[0]}
    elif name == b"HSET":
        m[key] = {**(have or {}), args[0]: args[1]}
    elif name == b"HDEL" and have:
        m[key] = {f: v for f, v in have.items() if f != args[0]}
    elif name == b"SET":
        m[key] = args[0]
    elif name == b"DEL":
        m.pop(key, None)
    elif name == b"APPEND" and (have is None or isinstance(have, bytes)):
        m[key] = (have or b"") + args[0]
    if m.get(key) in ([], set(), {}):
        del m[key]                                          # an empty collection goes


def freeze(m: dict[bytes, Any]) -> Any:
    return frozenset((k, tuple(v) if isinstance(v, list) else frozenset(v.items())
                      if isinstance(v, dict) else frozenset(v) if isinstance(v, set) else v)
                     for k, v in m.items())


def dump(db: KV) -> Any:
    """The store's contents through its commands, frozen as freeze() does."""
    out: dict[bytes, Any] = {}
    for key in parse(db.command("KEYS", "*")):
        kind = parse(db.command("TYPE", key))
        if kind == b"list":
            out[key] = parse(db.command("LRANGE", key, "0", "-1"))
        elif kind == b"set":
            out[key] = set(parse(db.command("SMEMBERS", key)))
        elif kind == b"hash":
            flat = parse(db.command("HGETALL", key))
            out[key] = dict(zip(flat[::2], flat[1::2]))
        else:
            out[key] = parse(db.command("GET", key))
    return freeze(out)


def test_crash_in_list_set_hash_commands_is_all_or_nothing() -> None:
    ops = typed_plan(7)
    model: dict[bytes, Any] = {}
    states = [freeze(model)]
    for op in ops:
        apply(model, op)
        states.append(freeze(model))
    assert max(len(v) for s in states for k, v in s if k in (b"set0", b"hash0")) > 16, \
        "the plan must grow a set's and a hash's table"
    step = [0]
    initial = formatted()
    images = Images(initial, step, len(ops))

    def workload(m: Any) -> None:
        step[0] = 0
        db = KV._map(m.address, SIZE, False)
        try:
            for i, op in enumerate(ops):
                step[0] = i + 1
                db.command(*op)
            step[0] = len(ops) + 1
        finally:
            db.close()

    check = images.check

    sim.run(workload, check, SIZE, initial=initial, seed=7, max_points=800, max_states=4)
    for allowed, image in images.each():
        with sim.Sim(SIZE, image) as s:
            db = KV._map(s.mapping.address, SIZE, False)
            try:
                seen = dump(db)
            finally:
                db.close()
        i = max(allowed)
        assert any(states[k] == seen for k in allowed), \
            f"a crash during step {i} ({ops[i - 1][:2] if i else 'open'}) left a mix"
