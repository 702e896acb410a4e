"""Transactions from Python (pmalloc.obj) in the crash simulator: at every drain of a workload
of ``with pool.transaction() as tx:`` blocks -- tx.add of root fields, of slices and numpy
arrays over the root and of ranges of other objects, tx.alloc, tx.free, nested blocks,
blocks that raise -- every crash state recovers to the state before or after the block in
progress, in every field at once. Then: a block that raises restores every byte it
snapshotted, whatever ranges it added and wrote.

The pool is ObjPool._map over the simulator's mapping, with objsim's root (magic, scalars,
slots of oids, blob), so objsim's checker process verifies each crash image (the workload's
pool holds the image's UUID: see objsim's docstring) against the model built here.
"""
from __future__ import annotations

import contextlib
import os
import random
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from pmalloc import sim
from pmalloc.errors import ForeignPointerError
from pmalloc.obj import MIN_POOL_SIZE, ObjPool, Oid

from . import objsim
from .objsim import (NSCALARS, OFF_BLOB, OFF_SCALARS, OFF_SLOTS, ROOT_SIZE, Checker, Model,
                     Obj, State, full_model, pattern)

SIZE = 1 << 20
LAYOUT = objsim.LAYOUT.decode()
Op = tuple[Any, ...]


class Rollback(Exception):
    """Raised at the end of a block that should roll back."""


def write(view: Any, off: int, data: bytes) -> None:
    with memoryview(view) as m:
        m[off:off + len(data)] = data


class PyCtx:
    """A workload's hands on the pool through pmalloc.obj: each step changes the pool and,
    in the same breath, the model of what the root and the objects it reaches then hold
    (objsim.Ctx's steps, through the Python API)."""

    def __init__(self, pool: ObjPool, model: Model) -> None:
        self.pool = pool
        self.model = model
        self.root = pool.root()
        assert len(self.root) == ROOT_SIZE, f"expected objsim's root, saw {len(self.root)} bytes"
        self.levels: list[Any] = []          # the open transaction blocks, innermost last
        self.seq = 0

    @property
    def tx(self) -> Any:
        return self.levels[-1]

    def _seed(self, *what: Any) -> tuple[Any, ...]:
        self.seq += 1
        return (self.seq, *what)

    def slot(self, i: int) -> Oid:
        return Oid.from_bytes(bytes(self.root)[OFF_SLOTS + 16 * i:OFF_SLOTS + 16 * i + 16])

    def _obj(self, i: int) -> Obj:
        o = self.model.slots[i]
        assert o is not None, f"the workload uses slot {i}, which is empty"
        return o

    def _set_slot(self, i: int, oid: Oid) -> None:
        self.tx.add(self.root, OFF_SLOTS + 16 * i, 16)
        write(self.root, OFF_SLOTS + 16 * i, oid.to_bytes())

    @contextlib.contextmanager
    def block(self, abort: bool) -> Iterator[None]:
        """One ``with pool.transaction()`` level; abort: it raises at its end, which rolls
        back the whole transaction (and the model with it, at the outermost level)."""
        saved = self.model.freeze() if not self.levels else None
        try:
            with self.pool.transaction() as tx:
                self.levels.append(tx)
                try:
                    yield
                    if abort:
                        raise Rollback()
                finally:
                    self.levels.pop()
        except Rollback:
            if saved is None:
                raise                        # up to the outermost block
            self.model.restore(saved)

    # -- the steps
    def set(self, values: dict[int, int]) -> None:
        """Scalars, each its own tx.add."""
        for i, v in values.items():
            self.tx.add(self.root, OFF_SCALARS + 8 * i, 8)
            write(self.root, OFF_SCALARS + 8 * i, struct.pack("<Q", v))
            self.model.scalars[i] = v

    def set_all(self, values: Sequence[int]) -> None:
        """Every scalar through a numpy array over the root: tx.add(array)."""
        a = np.frombuffer(self.root, dtype="<u8", count=NSCALARS, offset=OFF_SCALARS)
        self.tx.add(a)
        a[:] = values
        del a
        self.model.scalars.update(enumerate(values))

    def blob(self, off: int, data: bytes) -> None:
        """Bytes of the blob through a memoryview slice: tx.add(slice)."""
        with memoryview(self.root) as m, m[OFF_BLOB + off:OFF_BLOB + off + len(data)] as s:
            self.tx.add(s)
            s[:] = data
        assert self.model.blob is not None
        self.model.blob[off:off + len(data)] = data

    def tx_alloc(self, i: int, size: int, type_num: int, zero: bool = False) -> None:
        oid = self.tx.alloc(size, type_num, zero=zero)
        data = bytes(size) if zero else pattern(self._seed("tx", i, size), size)
        if not zero:
            write(self.pool.view(oid), 0, data)
        self._set_slot(i, oid)
        self.model.slots[i] = Obj(type_num, size, ((0, data),))

    def tx_free(self, i: int) -> None:
        self._obj(i)
        self.tx.free(self.slot(i))
        self._set_slot(i, Oid(0, 0))
        self.model.slots[i] = None

    def tx_update(self, i: int, off: int, n: int) -> None:
        """n bytes of slot i's object at off: tx.add(view, off, n), then written."""
        o = self._obj(i)
        view = self.pool.view(self.slot(i))
        self.tx.add(view, off, n)
        data = pattern(self._seed("upd", i, off), n)
        write(view, off, data)
        self.model.slots[i] = Obj(o.type, o.size, objsim._overlay(o.chunks, off, data))


def tx(*ops: Op, abort: bool = False) -> Op:
    return ("tx", ops, abort)


def describe(op: Op) -> str:
    if op[0] == "tx":
        inner = "; ".join(describe(o) for o in op[1])
        return f"{'raise' if op[2] else 'with'}{{{inner}}}"
    args = ", ".join(f"<{len(a)} bytes>" if isinstance(a, bytes) else repr(a) for a in op[1:])
    return f"{op[0]}({args})"


def do(c: PyCtx, op: Op) -> None:
    if op[0] == "tx":
        with c.block(op[2]):
            for o in op[1]:
                do(c, o)
    else:
        getattr(c, op[0])(*op[1:])


@contextlib.contextmanager
def mapped(address: int, size: int) -> Iterator[PyCtx]:
    pool = ObjPool._map(address, size, LAYOUT, False)
    try:
        yield PyCtx(pool, full_model())
    finally:
        pool.close()


# ---- the workload under the simulator -------------------------------------------------------

STEPS = [
    tx(("set", {0: 1, 5: 2}), ("blob", 3, pattern("py1", 40))),          # an unaligned range
    tx(("set_all", [11, 12, 13, 14, 15, 16, 17, 18]), ("tx_alloc", 0, 100, 1),
       ("tx_alloc", 1, 5000, 2, True)),
    tx(("tx_update", 0, 10, 60), ("tx_update", 1, 0, 5000), ("set", {2: 3})),   # other objects
    tx(("set", {3: 4}), tx(("tx_alloc", 2, 20000, 3), ("blob", 100, pattern("py2", 48))),
       ("tx_free", 0)),                                                   # nested
    tx(("tx_update", 1, 100, 200), ("tx_free", 2), ("set_all", [9] * 8),
       tx(("set", {0: 9}), ("tx_alloc", 4, 300, 5)), abort=True),       # raises: all undone
    tx(tx(("tx_alloc", 3, 64, 4)), ("tx_update", 3, 0, 64), ("tx_free", 1)),
    tx(("set", {6: 6}), ("blob", 0, pattern("py3", 200)),
       tx(("set", {7: 7}), ("tx_update", 2, 0, 8000), abort=True)),      # an inner block raises
    tx(("tx_free", 2), ("tx_free", 3), ("set", {7: 0})),
]


def reference(initial: bytes, steps: Sequence[Op]) -> tuple[list[State], list[bytes]]:
    """The model's state and the persisted image after each step, without crashes."""
    with sim.Sim(SIZE, initial) as s, mapped(s.mapping.address, SIZE) as c:
        states, images = [c.model.freeze()], [s.persisted()]
        for op in steps:
            do(c, op)
            states.append(c.model.freeze())
            images.append(s.persisted())
    return states, images


@pytest.fixture(scope="module")
def initial() -> bytes:
    return objsim.formatted(SIZE)


def test_python_transactions_are_all_or_nothing(initial):
    states, images = reference(initial, STEPS)
    assert states[5] == states[4] and states[7] == states[6], "the raising blocks change nothing"
    names = ["formatted"] + [f"after step {k + 1}: {describe(op)}" for k, op in enumerate(STEPS)]
    n = len(STEPS)
    with Checker(initial, [states], [names]) as chk:
        free = [chk.check(img, [[k]], None) for k, img in enumerate(images)]
        progress = [0]

        def workload(m: Any) -> None:
            progress[0] = 0
            with mapped(m.address, len(m)) as c:
                for k, op in enumerate(STEPS):
                    progress[0] = k
                    do(c, op)
                    assert c.model.freeze() == states[k + 1], f"step {k + 1} is not deterministic"
                progress[0] = n

        def check(m: Any) -> None:
            k = progress[0]
            allowed = [k, k + 1] if k < n else [n]
            with memoryview(m) as v:
                image = bytes(v)
            chk.check(image, [allowed], {free[j] for j in allowed})

        report = sim.run(workload, check, SIZE, initial=initial, max_states=8, seed=13)
    print(f"\n{report}")
    assert report.points > 3 * n and report.states > 250, report


# ---- a raising block restores every byte it snapshotted ------------------------------------

RAISED = [Rollback, ForeignPointerError, MemoryError]


def rollback(t: Any) -> None:
    raise Rollback()


def test_a_raising_block_restores_every_snapshotted_byte(pool_dir):
    """Random ranges of the root and of objects (unaligned, overlapping, added twice, some
    by nested blocks) are tx.add'ed and overwritten with random bytes, with allocations and
    a free in between. When the block raises (our exception, or the library's: a foreign
    buffer, an allocation too big), every byte and every object is back as before; when
    the same kind of block commits, every written byte stays, also after reopening."""
    rng = random.Random(1313)
    path = os.path.join(pool_dir, "rollback.obj")
    pool = ObjPool.create(path, "rollback", MIN_POOL_SIZE)
    try:
        root = pool.root(6000)
        write(root, 0, rng.randbytes(6000))
        kept = [pool.alloc(rng.choice([24, 100, 700, 5000, 20000]), type_num=1) for _ in range(8)]
        views = [root] + [pool.view(o) for o in kept]
        for v in views[1:]:
            write(v, 0, rng.randbytes(len(v)))
        raisers = [lambda t: t.add(bytearray(8)),                  # ForeignPointerError
                   lambda t: t.alloc(1 << 40),                     # MemoryError
                   rollback]
        for rnd in range(48):
            commit = rnd % 4 == 3
            before = [bytes(v) for v in views]
            objects = set(pool.objects())
            written = [bytearray(b) for b in before]
            made = []
            reached = None                  # the round whose block got to its raising call
            with contextlib.suppress(*([] if commit else RAISED)):
                with pool.transaction() as t:
                    for _ in range(rng.randrange(1, 30)):
                        j = rng.randrange(len(views))
                        n = len(views[j])
                        off = rng.randrange(n)
                        size = rng.randrange(1, min(n - off, 3000) + 1)
                        data = rng.randbytes(size)
                        if rng.random() < 0.3:
                            with pool.transaction() as inner:      # a nested level
                                inner.add(views[j], off, size)
                                write(views[j], off, data)
                        else:
                            t.add(views[j], off, size)
                            write(views[j], off, data)
                        written[j][off:off + size] = data
                        if rng.random() < 0.1:
                            made.append(t.alloc(rng.choice([64, 3000, 40000]), type_num=2))
                    if not commit:
                        t.free(kept[rng.randrange(len(kept))])
                        reached = rnd
                        raisers[rnd % len(raisers)](t)
            if commit:
                assert [bytes(v) for v in views] == [bytes(w) for w in written], (
                    f"round {rnd}: expected the committed block's bytes to stay")
                assert set(pool.objects()) == objects | set(made), (
                    f"round {rnd}: expected the block's allocations to stay")
                for o in made:
                    pool.free(o)
                continue
            assert reached == rnd, f"round {rnd}: the block raised before its end"
            for j, v in enumerate(views):
                got = bytes(v)
                if got != before[j]:
                    first = next(k for k, (a, b) in enumerate(zip(got, before[j])) if a != b)
                    pytest.fail(f"round {rnd}: {'the root' if j == 0 else f'object {j}'} "
                                f"differs from before the block at byte {first}: expected "
                                f"{before[j][first:first + 8].hex()}, saw "
                                f"{got[first:first + 8].hex()}")
            assert set(pool.objects()) == objects, (
                f"round {rnd}: expected the objects of before the block (allocations gone, "
                f"the free undone), saw {len(set(pool.objects()) ^ objects)} differ")
        final = [bytes(v) for v in views]
        del views, root
    finally:
        pool.close()
    with ObjPool.open(path, "rollback") as pool:
        seen = [bytes(pool.root())] + [bytes(pool.view(o)) for o in kept]
        assert seen == final, "expected the pool to hold the same bytes after reopening"
