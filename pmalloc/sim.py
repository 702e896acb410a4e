"""The crash simulator: test that your pmem code survives a power failure at any point.

On real persistent memory a store is durable only once its cache line has been flushed and
the flush drained; until then the line may or may not have reached the media, and only an
aligned 8-byte store is atomic: a crash can leave any mix of old and new 8-byte words.
PMDK checks this with a patched valgrind (pmemcheck) and pmreorder; here it is a pytest call.

Write your code against a :class:`pmalloc.pmem.Mapping` (stores through the buffer, durability
through ``persist``/``flush``/``drain``/``memcpy_persist``). Give the simulator a *workload*
(``workload(mapping)``: the code under test, deterministic) and a *check*
(``check(mapping)``: recovery plus the invariants, raising on a violation)::

    from pmalloc import sim

    def workload(m):
        m[0:8] = (1).to_bytes(8, "little"); m.persist(0, 8)    # record, then
        m[8:16] = (1).to_bytes(8, "little"); m.persist(8, 8)   # its valid flag

    def check(m):
        if m[8:16] == (1).to_bytes(8, "little"):               # valid => record present
            assert m[0:8] == (1).to_bytes(8, "little")

    def test_crash_consistency():
        report = sim.run(workload, check, size=4096)            # raises CrashCheckError
        assert report.states > 0

How it works: the workload writes a private *working image*; a flush snapshots its lines
and the next drain copies them into the *persisted image*. Every drain is a *crash point*
(plus one after the workload returns). At each point the simulator lists the aligned 8-byte
words whose persisted, flushed and working values differ, builds crash images from the
persisted image plus a choice of value per word (every combination when there are at most
``max_states``, else a seeded sample that always includes "all lost" and "all kept"), loads
each into a fresh simulated mapping and calls ``check`` on it. The workload runs twice: once
to count the points (to sample ``max_points`` of them when there are more), once to check.

Limits of the model: a word written twice between flushes is assumed to hold its old or its
newest value (not the one in between), and only the latest flush of a line before a drain is
remembered. Memory must be written through the Mapping (or C code using libpmem on its
address: ``pmem_persist`` and friends are routed to the simulator).

Threads: a workload may start threads, provided it joins them before it returns. Every drain
of every thread is a crash point, numbered in the order the drains happen; a drain waits
while the check runs at another thread's point, so the number of points is the workload's
(4 threads of 50 persists each: 200 drains, 201 points, every run). A drain persists only the
lines its own thread flushed, as a fence orders only its own core's write-backs; a line two
threads flushed is persisted by either one's drain. What depends on the scheduler is which
drain gets which number, so the image at point *k*, the states tried and the sample of
``max_points`` differ from run to run; each is still a state the hardware could leave (drained
flushes kept; any other 8-byte word old or new, as the thread's stores had it when the crash
point was reached). ``CrashState.thread`` names the thread whose drain a point is. A thread
still draining after the workload returned raises :class:`StrayThreadError`: join it first.

Views: the workload and the check may take views of their mapping (``memoryview(m)``,
``numpy.frombuffer(m)``, slices of those) but must release them before they return
(``with memoryview(m) as v: ...``, ``v.release()``, ``del``): the simulator reloads the check's
mapping for the next crash state and frees both at the end. A view left alive raises
:class:`LeakedViewError` naming the call; the simulator it points to is then freed with the
view, and the next run starts clean.
"""
from __future__ import annotations

import contextlib
import gc
import itertools
import math
import random
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from pmalloc import _args, _capi
from pmalloc._nocopy import NoCopy
from pmalloc.errors import InvalidArgumentError, PmallocError, PoolClosedError
from pmalloc.pmem import Mapping

__all__ = ["Sim", "Word", "CrashState", "Report", "CrashCheckError", "NondeterministicWorkload",
           "StrayThreadError", "LeakedViewError", "run", "explore"]

WORD: Final = 8
Workload = Callable[[Mapping], Any]
Check = Callable[[Mapping], Any]


class CrashCheckError(PmallocError, AssertionError):
    """A crash state failed the check; the message is the report with the state's diff."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


class NondeterministicWorkload(PmallocError, RuntimeError):
    """The workload drained a different number of times in its two runs."""


class StrayThreadError(PmallocError, RuntimeError):
    """A thread drained the simulated range after the workload returned: the crash points
    would miss its drains and the last one would be no state of the workload's end."""


class LeakedViewError(PmallocError, BufferError):
    """A view of a simulated mapping (memoryview, numpy array, slice of one) outlived the
    call that made it: ``call`` is "workload", "check" or "close"."""

    _WHEN: Final = {"workload": ("the workload returned", "before the workload returns"),
                    "check": ("the check returned", "before the check returns"),
                    "close": ("cannot close the simulator", "first")}

    def __init__(self, call: str, views: int, detail: str = "") -> None:
        what, when = self._WHEN[call]
        super().__init__(
            f"{what}{detail} with {views} view(s) of the simulated mapping alive (a memoryview, "
            "numpy array or slice of one): the simulator cannot reuse or free memory a view "
            f"still points to. Release each view {when}: `with memoryview(m) as v: ...`, "
            "`v.release()`, or `del` it")
        self.call = call
        self.views = views


@dataclass(frozen=True)
class Word:
    """An aligned 8-byte word a crash may leave in several states.

    ``values[0]`` is the persisted value; then the flushed-but-not-drained value and/or the
    working (unflushed) value, as little-endian-in-memory 8-byte integers.
    """

    offset: int
    values: tuple[int, ...]


@dataclass(frozen=True)
class CrashState:
    """One image a crash could leave: at drain point ``point`` of ``points``
    (``point == points``: after the workload returned), with ``choice[i]`` the index into
    ``words[i].values`` that reached the media (0: the persisted value, the word was lost).
    ``thread`` is the name of the thread whose drain the point is (the caller's at the end)."""

    point: int
    points: int
    index: int
    words: tuple[Word, ...]
    choice: tuple[int, ...]
    image: bytes = field(repr=False)
    thread: str = ""

    @property
    def final(self) -> bool:
        """Whether this is the crash after the workload returned."""
        return self.point == self.points

    @property
    def where(self) -> str:
        """When this crash happens, as text."""
        return ("after the workload returned" if self.final
                else f"at drain point {self.point} of {self.points - 1}")

    @property
    def kept(self) -> list[int]:
        """Offsets of the words whose newer value reached the media."""
        return [w.offset for w, c in zip(self.words, self.choice) if c]

    def diff(self) -> str:
        """The state as text: each word that could differ, and what this crash kept."""
        where = self.where
        if self.thread and not self.final:
            where += f" (a drain of thread {self.thread!r})"
        lines = [f"crash {where}: {len(self.words)} word(s) could differ from the persisted "
                 f"image, {len(self.kept)} kept"]
        for w, c in zip(self.words, self.choice):
            old = _word_text(w.values[0])
            if c:
                what = "flushed" if len(w.values) == 3 and c == 1 else "new"
                lines.append(f"  +{w.offset:#06x}: persisted {old}  ->  kept {what} "
                             f"{_word_text(w.values[c])}")
            else:
                newer = ", ".join(_word_text(v) for v in w.values[1:])
                lines.append(f"  +{w.offset:#06x}: persisted {old}  (lost: {newer})")
        return "\n".join(lines)


def _word_text(value: int) -> str:
    raw = struct.pack("=Q", value)
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in raw)
    return f"{raw.hex(' ')} |{text}|"


@dataclass
class Report:
    """What a :func:`run` did: drain points seen and checked, crash states tried, and the
    first failing state (``failure``, with ``exception`` the check raised) or None."""

    seed: int
    points: int = 0
    points_checked: int = 0
    states: int = 0
    failure: CrashState | None = None
    exception: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when every state tried passed the check."""
        return self.failure is None

    def __str__(self) -> str:
        head = (f"crash simulation (seed {self.seed}): {self.points} crash point(s), "
                f"{self.points_checked} checked, {self.states} state(s) tried")
        if self.failure is None:
            return head + ", all passed"
        exc = self.exception
        return (f"{head}; state {self.failure.index} failed the check: "
                f"{type(exc).__name__}: {exc}\n{self.failure.diff()}")


class _SimMapping(Mapping):
    """A Sim's mapping, owner of the C simulator (``_sim``, None once freed): freed by
    :meth:`Sim.close`, or with the mapping once nothing refers to it (no view, no thread)."""

    __slots__ = ("_sim",)
    _sim: Any

    def close(self) -> None:
        """Close (safe twice); LeakedViewError (a BufferError), changing nothing, while
        exported."""
        if not self.closed and self.exports:
            raise LeakedViewError("close", self.exports)
        super().close()

    def _free(self) -> None:
        """Close and free the simulator (safe twice)."""
        self.close()
        raw, self._sim = self._sim, None
        if raw is not None:
            _capi.sim_delete(raw)

    def __del__(self) -> None:
        try:
            if self.exports == 0:  # (a view in the same garbage cycle: leave it be)
                self._free()
        except (AttributeError, BufferError, TypeError):
            pass  # half-built, or the interpreter is shutting down


class Sim(NoCopy):
    """A simulated pmem range of ``size`` bytes (rounded up to 64), initially ``initial``
    (zero-padded) or zeros. ``.mapping`` is the :class:`~pmalloc.pmem.Mapping` to write;
    ``persisted()`` what a crash keeps for sure, ``words()`` what it may keep besides."""

    def __init__(self, size: int = 4096, initial: Any = None) -> None:
        raw = _capi.sim_new(_args.positive_size(size, "size"))
        self._raw = raw
        self._size = _capi.sim_size(raw)
        self._mapping = _SimMapping._make(_capi.sim_addr(raw), self._size, _capi.sim_ops(raw),
                                          is_pmem=True, path=None, unmap=False)
        self._mapping._sim = raw
        if initial is not None:
            self.load(initial)

    @property
    def mapping(self) -> Mapping:
        """The simulated range, to write and persist."""
        return self._mapping

    def _check(self) -> Any:
        if self._mapping._sim is None:
            raise PoolClosedError("operation on a closed simulator")
        return self._raw

    @property
    def size(self) -> int:
        """Bytes in each image."""
        return self._size

    @property
    def drains(self) -> int:
        """Drain points so far."""
        return _capi.sim_drains(self._check())

    def load(self, image: Any) -> None:
        """Make ``image`` (bytes-like, at most ``size`` bytes) the working and persisted
        content, the rest zero; forget pending flushes and reset the drain count."""
        raw = self._check()
        with _args.buffer(image, "image") as buf:
            if len(buf) > self._size:
                raise InvalidArgumentError(f"image of {len(buf)} bytes does not fit "
                                           f"the simulator's {self._size}")
            _capi.sim_load(raw, buf, len(buf))

    def persisted(self) -> bytes:
        """The persisted image: what any crash now keeps."""
        return _capi.sim_persisted(self._check(), self._size)

    def words(self) -> list[Word]:
        """The aligned 8-byte words a crash now may leave in more than one state."""
        raw = self._check()
        n, _ = _capi.sim_words(raw, 0)
        while True:  # another thread may flush or store between the two calls
            total, rows = _capi.sim_words(raw, n)
            if total <= n:
                break
            n = total
        return [Word(offset, values) for offset, values in rows]

    def close(self) -> None:
        """Free the images (safe twice); LeakedViewError (a BufferError) while the mapping
        is exported."""
        self._mapping._free()

    def __enter__(self) -> Sim:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# ---- Enumerating crash states -----------------------------------------------------------------


def _choices(words: list[Word], max_states: int, rng: random.Random) -> Iterator[tuple[int, ...]]:
    """Every combination of values when there are at most max_states, else a sample."""
    radices = [len(w.values) for w in words]
    if math.prod(radices) <= max_states:
        yield from itertools.product(*(range(r) for r in radices))
        return
    seen: set[tuple[int, ...]] = set()
    first = (tuple(0 for _ in radices), tuple(r - 1 for r in radices))
    for c in first:
        seen.add(c)
        yield c
    attempts = 0
    while len(seen) < max_states and attempts < 20 * max_states:
        attempts += 1
        c = tuple(rng.randrange(r) for r in radices)
        if c not in seen:
            seen.add(c)
            yield c


def _image(persisted: bytes, words: list[Word], choice: tuple[int, ...]) -> bytes:
    image = bytearray(persisted)
    for w, c in zip(words, choice):
        if c:
            struct.pack_into("=Q", image, w.offset, w.values[c])
    return bytes(image)


class _Driver:
    """State of one simulated run; :meth:`hook` is called at each drain point."""

    def __init__(self, sim: Sim, chosen: set[int], points: int, seed: int, max_states: int,
                 on_state: Callable[[CrashState], bool]) -> None:
        self.sim = sim
        self.chosen = chosen
        self.points = points
        self.seed = seed
        self.max_states = max_states
        self.on_state = on_state
        self.caller = threading.current_thread()
        self.points_checked = 0
        self.states = 0
        self.stopped = False
        self.error: BaseException | None = None

    def visit(self, point: int) -> bool:
        """Try the crash states at point; False once on_state asked to stop. Called with
        the sim locked (from its hook) or once the workload returned: the images hold still."""
        if point not in self.chosen:
            return True
        self.points_checked += 1
        words = self.sim.words()
        persisted = self.sim.persisted()
        rng = random.Random(f"{self.seed}/{point}")
        current = threading.current_thread()
        thread = "" if current is self.caller else current.name
        for index, choice in enumerate(_choices(words, self.max_states, rng)):
            self.states += 1
            state = CrashState(point, self.points, index, tuple(words), choice,
                               _image(persisted, words, choice), thread)
            if not self.on_state(state):
                self.stopped = True
                return False
        return True

    def hook(self, point: int) -> int:
        """The simulator's drain hook: 0 to go on, -1 to stop the calls. Any exception is
        kept for the caller of run(): none may escape into C."""
        if self.stopped:
            return -1
        if point >= self.points:  # the end is visited after the workload, a surplus reported
            return 0
        try:
            return 0 if self.visit(point) else -1
        except BaseException as exc:  # noqa: BLE001 - carried back to the caller of run()
            self.error = exc
            self.stopped = True
            return -1


def _views_alive(mapping: Mapping) -> int:
    """Live exports of mapping, a view in a reference cycle (garbage already) not counted."""
    if mapping.exports:
        gc.collect()
    return mapping.exports


@contextlib.contextmanager
def _fresh_sim(size: int, initial: Any = None, *, workload: bool = False) -> Iterator[Sim]:
    """A Sim for the user's code, closed afterwards: unless a view of it is alive (an error
    if the body, the workload's run, returned) or a thread started meanwhile still runs. The
    mapping then frees the sim once nothing refers to it (neither a view nor a thread)."""
    before = set(threading.enumerate())
    sim = Sim(size, initial)
    views = 0
    try:
        yield sim
    except BaseException:
        views = sim.mapping.exports  # maybe held by the traceback: not the error to report
        raise
    else:
        views = _views_alive(sim.mapping)
        if views and workload:
            raise LeakedViewError("workload", views)
    finally:
        if not views and all(t in before for t in threading.enumerate()):
            sim.close()


def _simulate(workload: Workload, size: int, initial: Any, seed: int, max_points: int,
              max_states: int, on_state: Callable[[CrashState], bool]) -> tuple[int, int, int]:
    """Run the workload twice (count, then check); (points, points checked, states)."""
    if max_points < 1 or max_states < 2:
        raise InvalidArgumentError("max_points must be >= 1 and max_states >= 2")
    with _fresh_sim(size, initial, workload=True) as counting:
        workload(counting.mapping)
        points = counting.drains + 1
    if points <= max_points:
        chosen = set(range(1, points + 1))
    else:
        rng = random.Random(f"{seed}/points")
        chosen = set(rng.sample(range(1, points), max_points - 1)) | {points}
    with _fresh_sim(size, initial, workload=True) as sim:
        driver = _Driver(sim, chosen, points, seed, max_states, on_state)
        keep = _capi.sim_set_hook(sim._raw, driver.hook)
        try:
            workload(sim.mapping)
        finally:  # waits for a hook running on another thread
            _capi.sim_set_hook(sim._raw, None)
            del keep
        if driver.error is not None:
            raise driver.error
        drains = sim.drains
        if drains + 1 != points:
            raise NondeterministicWorkload(
                f"the workload drained {points - 1} times in its first run and {drains} "
                "in its second: the simulator needs a deterministic workload (and one that "
                "joins its threads before it returns)")
        if not driver.stopped:
            driver.visit(points)
        if sim.drains != drains:
            raise StrayThreadError(
                f"{sim.drains - drains} drain(s) reached the simulated range after the "
                "workload returned: a thread it started is still persisting; join every "
                "thread the workload starts before it returns")
        return points, driver.points_checked, driver.states


def explore(workload: Workload, size: int = 4096, *, initial: Any = None, seed: int = 0,
            max_points: int = 1000, max_states: int = 256) -> list[CrashState]:
    """Every crash state the simulator would try for ``workload`` (see :func:`run`), with
    its image: for looking at what a crash can leave."""
    states: list[CrashState] = []

    def keep(state: CrashState) -> bool:
        states.append(state)
        return True

    _simulate(workload, size, initial, seed, max_points, max_states, keep)
    return states


def run(workload: Workload, check: Check, size: int = 4096, *, initial: Any = None,
        seed: int = 0, max_points: int = 1000, max_states: int = 256,
        raise_on_failure: bool = True) -> Report:
    """Run ``workload(mapping)`` on a simulated pmem range of ``size`` bytes (starting as
    ``initial``) and, at each crash point, call ``check(mapping)`` on each crash image.

    ``check`` gets a fresh simulated Mapping holding the image (so recovery may write and
    persist) and signals a violation by raising. ``max_points`` caps the crash points
    checked (a seeded sample beyond that, the last point always in), ``max_states`` the
    states per point. The same ``seed`` gives the same states. Stops at the first failing
    state and raises :class:`CrashCheckError` with its diff (or returns the
    :class:`Report` if ``raise_on_failure`` is False).
    """
    report = Report(seed=seed)
    with _fresh_sim(size) as recovery:

        def try_state(state: CrashState) -> bool:
            recovery.load(state.image)
            try:
                check(recovery.mapping)
            except Exception as exc:  # noqa: BLE001 - any exception is a failed check
                report.failure = state  # (its traceback may hold views: no LeakedViewError)
                report.exception = exc
                return False
            views = _views_alive(recovery.mapping)
            if views:
                raise LeakedViewError("check", views, f" on crash state {state.index} {state.where}")
            return True

        report.points, report.points_checked, report.states = _simulate(
            workload, size, initial, seed, max_points, max_states, try_state)
    if report.failure is not None and raise_on_failure:
        raise CrashCheckError(str(report), report) from report.exception
    return report
