"""Crash tests of the object store in the simulator: at every drain of workloads of
transactions (sets, allocations, frees, reallocations, nested levels, aborts) and atomic
allocations, every crash state recovers to the state before or after the step in
progress -- in every root field at once -- with the heap holding exactly the objects the
root reaches, each once, with the right type and contents, and all its space coming back
when they are freed. Then two threads allocating and freeing at once.

A step is an op tuple: ("set", {i: v}), ("tx_alloc", slot, size, type, how), ... name a
method of objsim.Ctx; ("tx", ops, abort) is a transaction level around ops (nested when
inside another). The check runs in objsim's checker process (see its docstring for why).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pmalloc import sim

from . import objsim
from .objsim import Checker, Ctx, Model, State, full_model, map_pool

pytestmark = pytest.mark.slow   # minutes of crash states: the default Python only

SIZE = 1 << 20
INITIAL = objsim.formatted(SIZE)
Op = tuple[Any, ...]
TOTAL_STATES: list[int] = []        # summed over the file by the last test


def tx(*ops: Op, abort: bool = False) -> Op:
    return ("tx", ops, abort)


def describe(op: Op) -> str:
    if op[0] == "tx":
        inner = "; ".join(describe(o) for o in op[1])
        return f"{'abort' if op[2] else 'tx'}{{{inner}}}"
    return f"{op[0]}{tuple(op[1:])!r}"


def do(c: Ctx, op: Op) -> None:
    if op[0] == "tx":
        with c.tx(abort=op[2]):
            for o in op[1]:
                do(c, o)
    else:
        getattr(c, op[0])(*op[1:])


# ---- running a workload of steps under the simulator ------------------------------------------

def reference(steps: Sequence[Op]) -> tuple[list[State], list[bytes]]:
    """The model's state and the persisted image after each step, without crashes."""
    with sim.Sim(SIZE, INITIAL) as s:
        pop = map_pool(s.mapping.address, SIZE)
        try:
            c = Ctx(pop, full_model())
            states, images = [c.model.freeze()], [s.persisted()]
            for op in steps:
                do(c, op)
                states.append(c.model.freeze())
                images.append(s.persisted())
        finally:
            objsim.lib.pmemobj_close(pop)
    return states, images


def crash_run(steps: Sequence[Op], *, max_states: int, max_points: int = 1000,
              seed: int = 0) -> sim.Report:
    """Check every crash state the simulator tries against the state before or after the
    step in progress (the state after the last step once the workload returned)."""
    states, images = reference(steps)
    names = ["formatted"] + [f"after step {k + 1}: {describe(op)}" for k, op in
                             enumerate(steps)]
    n = len(steps)
    with Checker(INITIAL, [states], [names]) as chk:
        # each step's own result, durable once it returned; and the free space it leaves
        free = [chk.check(img, [[k]], None) for k, img in enumerate(images)]
        progress = [0]

        def workload(m: Any) -> None:
            progress[0] = 0                 # (opening may replay logs: drains of step 0)
            pop = map_pool(m.address, len(m))
            try:
                c = Ctx(pop, full_model())
                for k, op in enumerate(steps):
                    progress[0] = k
                    do(c, op)
                    assert c.model.freeze() == states[k + 1], f"step {k + 1} is not deterministic"
                progress[0] = n
            finally:
                objsim.lib.pmemobj_close(pop)

        def check(m: Any) -> None:
            k = progress[0]
            allowed = [k, k + 1] if k < n else [n]
            with memoryview(m) as v:
                image = bytes(v)
            chk.check(image, [allowed], {free[j] for j in allowed})

        report = sim.run(workload, check, SIZE, initial=INITIAL, seed=seed,
                         max_states=max_states, max_points=max_points)
    TOTAL_STATES.append(report.states)
    return report


# ---- the workloads -----------------------------------------------------------------------------

TX_SET = [
    tx(("set", {0: 1, 3: 2, 7: 3})),
    tx(("set_all", [11, 12, 13, 14, 15, 16, 17, 18])),
    tx(("blob", 0, objsim.pattern("b1", 100)), ("set", {1: 5})),
    tx(("set", {2: 9}), ("blob", 200, objsim.pattern("b2", 48)), ("set", {2: 10})),
    tx(("set", {4: 1 << 63, 5: 0}), ("blob", 64, objsim.pattern("b3", 184)), ("set_all",
       [21, 22, 23, 24, 25, 26, 27, 28])),
    tx(),                                           # changes nothing
]

TX_ALLOC = [
    tx(("tx_alloc", 0, 24, 1)),
    tx(("tx_alloc", 1, 100, 2), ("tx_alloc", 2, 640, 3), ("set", {0: 7})),
    tx(("tx_alloc", 3, 3000, 4, "zalloc"), ("tx_alloc", 4, 14000, 5, "xalloc_zero")),
    tx(("tx_alloc", 5, 20000, 6), ("tx_alloc", 6, 40000, 7)),      # runs of whole pages
    tx(("tx_alloc", 7, 50, 8, "strdup"), ("tx_alloc", 8, 24, 1), ("tx_alloc", 9, 24, 1)),
    tx(("tx_update", 6, 100, 8000)),               # a snapshot past the lane: log extension
    tx(("tx_free", 1), ("tx_free", 5), ("set", {1: 8})),
    tx(("tx_free", 0), ("tx_alloc", 0, 200, 9), ("blob", 16, b"x" * 20)),
    tx(("tx_update", 4, 0, 14000), ("tx_update", 3, 8, 16), ("tx_free", 8)),
    tx(("tx_free", 0), ("tx_free", 2), ("tx_free", 3), ("tx_free", 4), ("tx_free", 6),
       ("tx_free", 7), ("tx_free", 9)),
]

TX_REALLOC = [
    tx(("tx_alloc", 0, 640, 3), ("tx_alloc", 1, 3000, 4), ("tx_alloc", 2, 40000, 6)),
    tx(("tx_realloc", 0, 5000, 3)),                 # slab to a bigger slab
    tx(("tx_realloc", 1, 30000, 4, True)),          # slab to a run, zeroed tail
    tx(("tx_realloc", 2, 16, 10)),                  # run to a small object, new type
    tx(("tx_realloc", 0, 100, 5), ("tx_update", 0, 0, 50), ("set", {6: 66})),
    tx(("tx_realloc", 2, 24000, 11, True), ("tx_realloc", 1, 30000, 12)),
    tx(("tx_free", 0), ("tx_free", 1), ("tx_free", 2)),
]

NESTED = [
    tx(("set", {0: 1}), tx(("tx_alloc", 0, 300, 2), ("set", {1: 2})), ("set", {2: 3})),
    tx(("tx_alloc", 1, 5000, 3), ("set", {3: 4}),
       tx(("set", {4: 5}), ("tx_free", 0), abort=True)),            # inner abort: all undone
    tx(tx(("tx_free", 0)), ("set_all", [9] * 8), abort=True),       # inner commit, outer abort
    tx(("set_all", [31, 32, 33, 34, 35, 36, 37, 38]), ("tx_alloc", 2, 20000, 4),
       ("tx_update", 0, 0, 300), ("blob", 0, objsim.pattern("n", 248)), abort=True),
    tx(("tx_alloc", 3, 16000, 5), ("set", {5: 6})),
    tx(("tx_update", 3, 0, 16000), ("tx_free", 0), ("set", {5: 7}), abort=True),  # big rollback
    tx(tx(tx(("tx_realloc", 3, 100, 6)), ("set", {6: 8})), ("tx_free", 0)),     # three levels
    tx(("tx_free", 3)),
]

ATOMIC = [
    ("alloc", 0, 100, 1, "alloc"),                  # no constructor: contents unknown
    ("alloc", 1, 3000, 2, "zalloc"),
    ("alloc", 2, 20000, 3, "xalloc_zero"),
    ("alloc", 3, 40, 4, "strdup"),
    ("alloc", 4, 500, 5, "constr"),
    ("alloc", 5, 16000, 6, "constr"),
    ("free", 0),
    ("realloc", 1, 6000, 2),                        # moves to a bigger class
    ("realloc", 2, 24000, 3, True),                 # a bigger run, zeroed tail
    ("realloc", 3, 30, 4),                          # fits where it is
    ("realloc", 4, 500, 7),                         # a new type: moves
    ("realloc", 2, 14000, 8),                       # a run shrunk in place, retyped
    ("alloc", 0, 8, 1, "zalloc"),
    ("free", 1), ("free", 2), ("free", 3), ("free", 4), ("free", 5), ("free", 0),
]


def test_tx_set_is_all_or_nothing():
    report = crash_run(TX_SET, max_states=256)
    assert report.points > 3 * len(TX_SET) and report.states > 200, report


def test_tx_alloc_free_is_all_or_nothing():
    report = crash_run(TX_ALLOC, max_states=48)
    assert report.points > 4 * len(TX_ALLOC) and report.states > 500, report


def test_tx_realloc_is_all_or_nothing():
    report = crash_run(TX_REALLOC, max_states=48)
    assert report.points > 4 * len(TX_REALLOC) and report.states > 300, report


def test_nested_and_aborted_tx_are_all_or_nothing():
    report = crash_run(NESTED, max_states=48)
    assert report.points > 4 * len(NESTED) and report.states > 300, report


def test_atomic_alloc_free_realloc_are_all_or_nothing():
    report = crash_run(ATOMIC, max_states=32)
    assert report.points > 2 * len(ATOMIC) and report.states > 300, report


@pytest.mark.parametrize("off", [2, 4, 7])
def test_tx_range_at_an_unaligned_offset_with_an_allocation(off):
    """A commit record vouches for the ranges it flushed (a check entry: offset | op):
    a range that does not start on 8 bytes must still be found again at recovery. (The
    other workloads snapshot 8-aligned ranges only, so that this bug fails here alone.)"""
    steps = [tx(("blob", off, b"x" * 20), ("tx_alloc", 0, 24, 1))]
    report = crash_run(steps, max_states=64)
    assert report.states > 100, report


# ---- two threads ------------------------------------------------------------------------------

THREAD_SLOTS = [range(0, 6), range(6, 12)]
THREAD_SCALARS = [range(0, 4), range(4, 8)]


def atomic_ops(t: int) -> list[Op]:
    a, b, c, d = THREAD_SLOTS[t][:4]
    return [("alloc", a, 64 + 8 * t, 1 + t, "zalloc"), ("alloc", b, 3000, 3, "strdup"),
            ("alloc", c, 20000 + 4096 * t, 4, "xalloc_zero"), ("free", a),
            ("alloc", d, 200, 1 + t, "zalloc"), ("realloc", b, 5000, 3),
            ("free", c), ("alloc", a, 64, 5, "zalloc"), ("free", d), ("free", b)]


def tx_ops(t: int) -> list[Op]:
    a, b, c = THREAD_SLOTS[t][:3]
    s0, s1, s2, s3 = THREAD_SCALARS[t]
    return [tx(("set", {s0: 1 + t}), ("tx_alloc", a, 100, 1 + t)),
            tx(("tx_alloc", b, 20000, 3), ("set", {s1: 2})),
            tx(("tx_update", b, 0, 200), ("tx_free", a)),
            ("alloc", c, 64, 5, "zalloc"),
            tx(("tx_realloc", b, 5000, 4), ("set", {s2: 3})),
            tx(("tx_alloc", a, 300, 6), ("set", {s3: 9}), abort=True),
            tx(("tx_free", b), ("tx_free", c), ("set", {s0: 0}))]


def thread_model(t: int) -> Model:
    initial = objsim.initial_scalars()
    return Model({i: initial[i] for i in THREAD_SCALARS[t]}, None, THREAD_SLOTS[t])


def thread_tracks(ops: Callable[[int], list[Op]]) -> tuple[list[list[State]], list[list[str]]]:
    """Per thread, the fields it owns after each of its steps (from the threads run one
    after the other: what a thread's steps do to its own fields does not depend on the
    other's); then the blob, which nobody changes."""
    tracks, names = [], []
    with sim.Sim(SIZE, INITIAL) as s:
        pop = map_pool(s.mapping.address, SIZE)
        try:
            for t in range(2):
                c = Ctx(pop, thread_model(t))
                states, labels = [c.model.freeze()], [f"thread {t} before its first step"]
                for op in ops(t):
                    do(c, op)
                    states.append(c.model.freeze())
                    labels.append(f"thread {t} after {describe(op)}")
                tracks.append(states)
                names.append(labels)
        finally:
            objsim.lib.pmemobj_close(pop)
    tracks.append([State(blob=objsim.initial_blob())])
    names.append(["blob as formatted"])
    return tracks, names


@pytest.mark.parametrize("ops", [atomic_ops, tx_ops], ids=["atomic", "tx"])
def test_threads_in_the_simulator(ops):
    tracks, names = thread_tracks(ops)
    progress = [0, 0]
    n = [len(ops(t)) for t in range(2)]

    def two_threads(m: Any) -> None:
        progress[:] = [0, 0]
        pop = map_pool(m.address, len(m))
        errors: list[BaseException] = []

        def run(t: int) -> None:
            try:
                c = Ctx(pop, thread_model(t))
                for k, op in enumerate(ops(t)):
                    progress[t] = k
                    do(c, op)
                    assert c.model.freeze() == tracks[t][k + 1], f"thread {t}: step {k + 1}"
                progress[t] = n[t]
            except BaseException as e:  # noqa: BLE001 - reported by the caller
                errors.append(e)
        try:
            ts = [threading.Thread(target=run, args=(t,), name=f"obj{t}") for t in range(2)]
            for th in ts:
                th.start()
            for th in ts:
                th.join()
        finally:
            objsim.lib.pmemobj_close(pop)
        if errors:
            raise errors[0]

    with Checker(INITIAL, tracks, names) as chk:
        def check(m: Any) -> None:
            allowed = [[k, k + 1] if k < n[t] else [k] for t, k in enumerate(progress)]
            with memoryview(m) as v:
                image = bytes(v)
            chk.check(image, allowed + [[0]], {chk.base.free})

        report = sim.run(two_threads, check, SIZE, initial=INITIAL, max_states=24)
    TOTAL_STATES.append(report.states)
    assert report.points > 2 * sum(n) and report.states > 300, report


def test_the_file_tries_thousands_of_crash_states():
    if len(TOTAL_STATES) < 7:
        pytest.skip("runs after the crash tests of this file (run the whole file)")
    assert sum(TOTAL_STATES) > 2000, TOTAL_STATES
    print(f"\n{sum(TOTAL_STATES)} crash states: {TOTAL_STATES}")
