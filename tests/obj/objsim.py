"""What the object store's crash tests share: a root struct, a model of what a pool should
hold after each step of a workload, the steps themselves, and a checker process.

The root (ROOT_SIZE bytes at pmemobj_direct(root)) holds a magic word, NSCALARS 8-byte
scalars, NSLOTS PMEMoids and a blob. A workload is a list of steps; each step changes the
pool through the C API (a transaction, or an atomic allocation whose destination oid is a
root slot) and, in the same breath, a :class:`Model` of what the root and the objects it
reaches should then hold. The states after each step are the *tracks* the check compares a
crash image against: a crash during step k must leave the state after step k - 1 or after
step k, in every field at once.

The check runs in a checker process (:class:`Checker`, this file run as a script): the pool
the workload has open carries the crash image's UUID, and a process may not open a second
pool with the UUID of one it has open (PMDK refuses the same). The checker gets each image
over a pipe, maps it in a simulator of its own, verifies it (:func:`verify`) and answers;
a crash or hang of the library in recovery shows up as a failed check of that state.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import faulthandler
import os
import pickle
import random
import select
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from pmalloc import sim
from pmalloc._native import ffi, lib

LAYOUT = b"crash"
MAGIC = 0x6F626A2D63726173          # "sarc-jbo": the root was made by this module
NSCALARS = 8
NSLOTS = 12
OFF_SCALARS = 8
OFF_SLOTS = OFF_SCALARS + 8 * NSCALARS
OFF_BLOB = OFF_SLOTS + 16 * NSLOTS
ROOT_SIZE = 512
BLOB_SIZE = ROOT_SIZE - OFF_BLOB
MAX_OBJECTS = 100_000               # iteration longer than this does not terminate


def errmsg() -> str:
    return ffi.string(lib.pmemobj_errormsg()).decode(errors="replace")


def map_pool(address: int, size: int, create: bool = False) -> Any:
    """A pool over [address, address + size) (AssertionError with the library's message)."""
    pop = lib.pmalloc_obj_map(ffi.cast("void *", address), size, LAYOUT, int(create))
    assert pop != ffi.NULL, f"expected the pool to {'format' if create else 'open'}; " \
                            f"pmalloc_obj_map failed: {errmsg()}"
    return pop


def usage(pop: Any) -> tuple[int, int, int]:
    """(free bytes, used bytes, objects) of an open pool."""
    out = ffi.new("uint64_t[3]")
    lib.pmalloc_obj_usage(pop, out, out + 1, out + 2)
    return out[0], out[1], out[2]


def oid(uuid: int, off: int) -> Any:
    return ffi.new("PMEMoid *", {"pool_uuid_lo": uuid, "off": off})[0]


def pattern(seed: Any, n: int) -> bytes:
    """n deterministic bytes, different for every seed."""
    return random.Random(repr(seed)).randbytes(n)


# ---- the model ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Obj:
    """An object a root slot names: its type, the size asked for (usable >= size), and the
    byte ranges whose contents are known, as (offset, bytes)."""
    type: int
    size: int
    chunks: tuple[tuple[int, bytes], ...] = ()

    def describe(self) -> str:
        known = sum(len(d) for _, d in self.chunks)
        return f"type {self.type}, {self.size} bytes ({known} known)"


@dataclasses.dataclass(frozen=True)
class State:
    """The fields one track owns, as they should be: scalars and slots by index; blob None
    when the track does not own it."""
    scalars: tuple[tuple[int, int], ...] = ()
    blob: bytes | None = None
    slots: tuple[tuple[int, Obj | None], ...] = ()


class Model:
    """The mutable state a workload builds as it goes, for the fields it owns: scalars
    (index: value), the blob (None: not owned), slots (index: object or None)."""

    def __init__(self, scalars: dict[int, int] | None = None, blob: bytes | None = None,
                 slots: Sequence[int] = ()) -> None:
        self.scalars = dict(scalars or {})
        self.blob = bytearray(blob) if blob is not None else None
        self.slots: dict[int, Obj | None] = {i: None for i in slots}

    def freeze(self) -> State:
        return State(tuple(sorted(self.scalars.items())),
                     None if self.blob is None else bytes(self.blob),
                     tuple(sorted(self.slots.items())))

    def restore(self, state: State) -> None:
        self.scalars = dict(state.scalars)
        self.blob = None if state.blob is None else bytearray(state.blob)
        self.slots = dict(state.slots)


# ---- building the initial image ---------------------------------------------------------------

def initial_scalars() -> list[int]:
    return [1000 + i for i in range(NSCALARS)]


def initial_blob() -> bytes:
    return pattern("blob", BLOB_SIZE)


def full_model() -> Model:
    """The model of a freshly formatted pool, every field owned."""
    return Model(dict(enumerate(initial_scalars())), initial_blob(), range(NSLOTS))


def formatted(size: int) -> bytes:
    """A pool of size bytes with its root: magic, initial scalars and blob, empty slots."""
    with sim.Sim(size) as s:
        pop = map_pool(s.mapping.address, size, create=True)
        try:
            root = lib.pmemobj_root(pop, ROOT_SIZE)
            assert root.off, f"expected a root of {ROOT_SIZE} bytes: {errmsg()}"
            p = lib.pmemobj_direct(root)
            raw = struct.pack(f"<Q{NSCALARS}Q", MAGIC, *initial_scalars())
            ffi.memmove(p, raw, len(raw))
            ffi.memmove(ffi.cast("char *", p) + OFF_BLOB, initial_blob(), BLOB_SIZE)
            lib.pmemobj_persist(pop, p, ROOT_SIZE)
        finally:
            lib.pmemobj_close(pop)
        return s.persisted()


# ---- the steps: the C API and the model together ----------------------------------------------

TX_NONE = ffi.cast("enum pobj_tx_param", 0)


class Ctx:
    """One workload's view of a pool: the C calls, each also applied to ``model``. Every
    call checks that the library did what was asked (AssertionError otherwise)."""

    def __init__(self, pop: Any, model: Model) -> None:
        self.pop = pop
        self.model = model
        root = lib.pmemobj_root(pop, ROOT_SIZE)
        assert root.off, f"expected the root: {errmsg()}"
        self.uuid = root.pool_uuid_lo
        self.root = ffi.cast("char *", lib.pmemobj_direct(root))
        self.depth = 0
        self.saved: State | None = None
        self.aborting = False
        self.seq = 0

    # -- helpers
    def _seed(self, *what: Any) -> tuple[Any, ...]:
        self.seq += 1
        return (self.seq, *what)

    def slot_ptr(self, i: int) -> Any:
        return ffi.cast("PMEMoid *", self.root + OFF_SLOTS + 16 * i)

    def slot(self, i: int) -> Any:
        p = self.slot_ptr(i)
        return oid(p.pool_uuid_lo, p.off)

    def obj_ptr(self, i: int) -> Any:
        return ffi.cast("char *", lib.pmemobj_direct(self.slot(i)))

    def _obj(self, i: int) -> Obj:
        o = self.model.slots[i]
        assert o is not None, f"the workload uses slot {i}, which is empty"
        return o

    # -- transactions
    @contextlib.contextmanager
    def tx(self, abort: bool = False) -> Iterator[None]:
        """A transaction level: committed, or aborted (abort=True) after the body. An
        aborted level aborts the whole transaction, and the model goes back with it."""
        rc = lib.pmemobj_tx_begin(self.pop, ffi.NULL, TX_NONE)
        assert rc == 0, f"pmemobj_tx_begin failed ({rc}): {errmsg()}"
        if self.depth == 0:
            self.saved = self.model.freeze()
            self.aborting = False
        self.depth += 1
        try:
            yield
            if abort:
                lib.pmemobj_tx_abort(errno.ECANCELED)
                self.aborting = True
            elif lib.pmemobj_tx_stage() == lib.TX_STAGE_WORK:
                lib.pmemobj_tx_commit()
        finally:
            rc = lib.pmemobj_tx_end()
            self.depth -= 1
        want = errno.ECANCELED if self.aborting else 0
        assert rc == want, f"expected pmemobj_tx_end to return {want}, saw {rc}: {errmsg()}"
        if self.depth == 0 and self.aborting:
            assert self.saved is not None
            self.model.restore(self.saved)

    def _add(self, ptr: Any, n: int) -> None:
        rc = lib.pmemobj_tx_add_range_direct(ptr, n)
        assert rc == 0, f"pmemobj_tx_add_range_direct({n}) failed ({rc}): {errmsg()}"

    def _set_slot(self, i: int, o: Any) -> None:
        self._add(self.slot_ptr(i), 16)
        ffi.memmove(self.slot_ptr(i), ffi.new("PMEMoid *", o), 16)

    def set(self, values: dict[int, int]) -> None:
        """Scalars, each snapshotted on its own."""
        for i, v in values.items():
            p = self.root + OFF_SCALARS + 8 * i
            self._add(p, 8)
            ffi.memmove(p, struct.pack("<Q", v), 8)
            self.model.scalars[i] = v

    def set_all(self, values: Sequence[int]) -> None:
        """Every scalar, one snapshot."""
        p = self.root + OFF_SCALARS
        self._add(p, 8 * NSCALARS)
        ffi.memmove(p, struct.pack(f"<{NSCALARS}Q", *values), 8 * NSCALARS)
        self.model.scalars.update(enumerate(values))

    def blob(self, off: int, data: bytes) -> None:
        p = self.root + OFF_BLOB + off
        self._add(p, len(data))
        ffi.memmove(p, data, len(data))
        assert self.model.blob is not None
        self.model.blob[off:off + len(data)] = data

    def tx_alloc(self, i: int, size: int, type_num: int, how: str = "alloc") -> None:
        """Allocate in the transaction into slot i: alloc (then written), zalloc, xalloc
        with POBJ_XALLOC_ZERO, or strdup."""
        if how == "strdup":
            text = pattern(self._seed("str"), size - 1).hex().encode()[:size - 1]
            new = lib.pmemobj_tx_strdup(text, type_num)
            chunks: tuple[tuple[int, bytes], ...] = ((0, text + b"\0"),)
        elif how == "alloc":
            new = lib.pmemobj_tx_alloc(size, type_num)
            data = pattern(self._seed("tx", i, size), size)
            chunks = ((0, data),)
        else:
            new = (lib.pmemobj_tx_zalloc(size, type_num) if how == "zalloc"
                   else lib.pmemobj_tx_xalloc(size, type_num, lib.POBJ_XALLOC_ZERO))
            chunks = ((0, bytes(size)),)
        assert new.off, f"pmemobj_tx_{how}({size}, {type_num}) failed: {errmsg()}"
        if how == "alloc":
            ffi.memmove(lib.pmemobj_direct(new), chunks[0][1], size)
        self._set_slot(i, new)
        self.model.slots[i] = Obj(type_num, size, chunks)

    def tx_free(self, i: int) -> None:
        self._obj(i)
        rc = lib.pmemobj_tx_free(self.slot(i))
        assert rc == 0, f"pmemobj_tx_free failed ({rc}): {errmsg()}"
        self._set_slot(i, oid(0, 0))
        self.model.slots[i] = None

    def tx_update(self, i: int, off: int, n: int) -> None:
        """Snapshot n bytes of slot i's object at off, then write them."""
        o = self._obj(i)
        rc = lib.pmemobj_tx_add_range(self.slot(i), off, n)
        assert rc == 0, f"pmemobj_tx_add_range({off}, {n}) failed ({rc}): {errmsg()}"
        data = pattern(self._seed("upd", i, off), n)
        ffi.memmove(self.obj_ptr(i) + off, data, n)
        self.model.slots[i] = dataclasses.replace(o, chunks=_overlay(o.chunks, off, data))

    def tx_realloc(self, i: int, size: int, type_num: int, zero: bool = False) -> None:
        """Resize slot i's object in the transaction: what fits is kept; zero: the rest of
        the new size past the old usable size is zeroed."""
        o = self._obj(i)
        old_usable = lib.pmemobj_alloc_usable_size(self.slot(i))
        fn = lib.pmemobj_tx_zrealloc if zero else lib.pmemobj_tx_realloc
        new = fn(self.slot(i), size, type_num)
        assert new.off, f"pmemobj_tx_{'z' if zero else ''}realloc({size}) failed: {errmsg()}"
        self._set_slot(i, new)
        chunks = _truncate(o.chunks, size)
        if zero and size > old_usable:
            chunks = _overlay(chunks, old_usable, bytes(size - old_usable))
        self.model.slots[i] = Obj(type_num, size, chunks)

    # -- atomic operations (destination: the root slot)
    def alloc(self, i: int, size: int, type_num: int, how: str = "zalloc") -> None:
        """An atomic allocation into slot i: alloc (no constructor: contents unknown),
        zalloc, xalloc_zero, constr (a constructor writes and persists a pattern), strdup."""
        dest = self.slot_ptr(i)
        chunks: tuple[tuple[int, bytes], ...] = ()
        if how == "alloc":
            rc = lib.pmemobj_alloc(self.pop, dest, size, type_num, ffi.NULL, ffi.NULL)
        elif how == "zalloc":
            rc = lib.pmemobj_zalloc(self.pop, dest, size, type_num)
            chunks = ((0, bytes(size)),)
        elif how == "xalloc_zero":
            rc = lib.pmemobj_xalloc(self.pop, dest, size, type_num, lib.POBJ_XALLOC_ZERO,
                                    ffi.NULL, ffi.NULL)
            chunks = ((0, bytes(size)),)
        elif how == "constr":
            data = pattern(self._seed("constr", i, size), size)
            rc = lib.pmemobj_alloc(self.pop, dest, size, type_num, _constructor,
                                   ffi.new_handle(data))
            chunks = ((0, data),)
        else:
            text = pattern(self._seed("str"), size - 1).hex().encode()[:size - 1]
            rc = lib.pmemobj_strdup(self.pop, dest, text, type_num)
            chunks = ((0, text + b"\0"),)
        assert rc == 0, f"pmemobj_{how}({size}, {type_num}) failed ({rc}): {errmsg()}"
        assert self.slot_ptr(i).off, f"pmemobj_{how} left slot {i} empty"
        self.model.slots[i] = Obj(type_num, size, chunks)

    def free(self, i: int) -> None:
        self._obj(i)
        lib.pmemobj_free(self.slot_ptr(i))
        assert self.slot_ptr(i).off == 0, f"pmemobj_free left slot {i} set: {errmsg()}"
        self.model.slots[i] = None

    def realloc(self, i: int, size: int, type_num: int, zero: bool = False) -> None:
        o = self._obj(i)
        old_usable = lib.pmemobj_alloc_usable_size(self.slot(i))
        fn = lib.pmemobj_zrealloc if zero else lib.pmemobj_realloc
        rc = fn(self.pop, self.slot_ptr(i), size, type_num)
        assert rc == 0, f"pmemobj_{'z' if zero else ''}realloc({size}) failed ({rc}): {errmsg()}"
        chunks = _truncate(o.chunks, size)
        if zero and size > old_usable:
            chunks = _overlay(chunks, old_usable, bytes(size - old_usable))
        self.model.slots[i] = Obj(type_num, size, chunks)


@ffi.callback("int(PMEMobjpool *, void *, void *)")
def _constructor(pop: Any, ptr: Any, arg: Any) -> int:
    data = ffi.from_handle(arg)
    ffi.memmove(ptr, data, len(data))
    lib.pmemobj_persist(pop, ptr, len(data))
    return 0


def _truncate(chunks: tuple[tuple[int, bytes], ...], size: int) -> tuple[tuple[int, bytes], ...]:
    return tuple((o, d[:size - o]) for o, d in chunks if o < size)


def _overlay(chunks: tuple[tuple[int, bytes], ...], off: int,
             data: bytes) -> tuple[tuple[int, bytes], ...]:
    """chunks with [off, off + len(data)) known to hold data."""
    end = off + len(data)
    out: list[tuple[int, bytes]] = []
    for o, d in chunks:
        e = o + len(d)
        if e <= off or o >= end:
            out.append((o, d))
            continue
        if o < off:
            out.append((o, d[:off - o]))
        if e > end:
            out.append((end, d[end - o:]))
    out.append((off, data))
    return tuple(sorted(out))


# ---- verifying an image (in the checker process) -----------------------------------------------

@dataclasses.dataclass
class Baseline:
    """What the freshly formatted pool (with its root) reports."""
    free: int
    root_used: int


def _read(p: Any, n: int) -> bytes:
    return bytes(ffi.buffer(p, n))


def _compare(state: State, seen: dict[str, Any], pool: dict[str, Any]) -> list[str]:
    """How the image differs from state (in the fields the state owns)."""
    diffs = []
    for i, v in state.scalars:
        if seen["scalars"][i] != v:
            diffs.append(f"scalar {i}: expected {v}, saw {seen['scalars'][i]}")
    if state.blob is not None and seen["blob"] != state.blob:
        first = next(j for j, (a, b) in enumerate(zip(seen["blob"], state.blob)) if a != b)
        diffs.append(f"blob differs from byte {first}")
    for i, o in state.slots:
        uuid, off = seen["slots"][i]
        if o is None:                         # OID_IS_NULL: off 0 (a crash in pmemobj_free
            if off:                           # may leave the uuid word: OIDCLR, ulog.h)
                diffs.append(f"slot {i}: expected empty, saw oid ({uuid:#x}, {off})")
            continue
        if not off:
            diffs.append(f"slot {i}: expected an object ({o.describe()}), saw it empty")
            continue
        facts = pool["objects"].get(off)
        if uuid != pool["uuid"] or facts is None:
            diffs.append(f"slot {i}: oid ({uuid:#x}, {off}) names no object of the pool")
            continue
        if facts["type"] != o.type:
            diffs.append(f"slot {i}: expected type {o.type}, saw {facts['type']}")
        if facts["usable"] < o.size:
            diffs.append(f"slot {i}: expected >= {o.size} usable bytes, saw {facts['usable']}")
            continue
        for c_off, data in o.chunks:
            got = _read(facts["ptr"] + c_off, len(data))
            if got != data:
                first = next(j for j, (a, b) in enumerate(zip(got, data)) if a != b)
                diffs.append(f"slot {i}: contents differ at byte {c_off + first} "
                             f"(expected {data[first:first + 8].hex()}, "
                             f"saw {got[first:first + 8].hex()})")
                break
    return diffs


def verify(address: int, size: int, tracks: list[list[State]], names: list[list[str]],
           allowed: list[list[int]], expected_free: set[int] | None,
           base: Baseline) -> int:
    """Open the image at address, check it holds, for each track, one of the allowed
    states, and that the heap holds exactly the objects the root reaches; then free them
    all and reopen: the pool must have expected_free bytes free (any, if None). Returns
    the free bytes then; AssertionError saying what was expected and seen otherwise."""
    pop = map_pool(address, size)
    try:
        assert lib.pmalloc_obj_check_map(pop) == 1, \
            f"expected the recovered pool to check consistent: {errmsg()}"
        root = lib.pmemobj_root(pop, ROOT_SIZE)
        assert root.off and lib.pmemobj_root_size(pop) == ROOT_SIZE, \
            f"expected a root of {ROOT_SIZE} bytes, saw {lib.pmemobj_root_size(pop)}: {errmsg()}"
        rp = ffi.cast("char *", lib.pmemobj_direct(root))
        raw = _read(rp, ROOT_SIZE)
        magic, *scalars = struct.unpack_from(f"<Q{NSCALARS}Q", raw)
        assert magic == MAGIC, f"expected the root's magic {MAGIC:#x}, saw {magic:#x}"
        seen = {"scalars": scalars, "blob": raw[OFF_BLOB:],
                "slots": [struct.unpack_from("<QQ", raw, OFF_SLOTS + 16 * i)
                          for i in range(NSLOTS)]}
        lo, hi = address, address + size

        def facts_of(off: int) -> dict[str, Any] | None:
            o = oid(root.pool_uuid_lo, off)
            usable = lib.pmemobj_alloc_usable_size(o)
            ptr = ffi.cast("char *", lib.pmemobj_direct(o))
            a = int(ffi.cast("uintptr_t", ptr))
            if usable == 0 or not lo <= a or a + usable > hi:
                return None
            return {"type": lib.pmemobj_type_num(o), "usable": usable, "ptr": ptr}

        pool = {"uuid": root.pool_uuid_lo, "objects": {}}
        for uuid, off in seen["slots"]:
            if off and uuid == root.pool_uuid_lo and (f := facts_of(off)) is not None:
                pool["objects"][off] = f
        for t, states in enumerate(tracks):
            tried = []
            for k in allowed[t]:
                diffs = _compare(states[k], seen, pool)
                if not diffs:
                    break
                tried.append(f"  state {k} ({names[t][k]}): " + "; ".join(diffs))
            else:
                raise AssertionError(
                    f"track {t}: expected the state before or after the step in progress, "
                    f"saw neither:\n" + "\n".join(tried))
        # the heap holds exactly what the root reaches, each object once
        reach = {off for uuid, off in seen["slots"] if off}
        assert len(reach) == sum(1 for _, off in seen["slots"] if off), \
            f"expected distinct objects in the slots, saw {seen['slots']}"
        listed = []
        it = lib.pmemobj_first(pop)
        while it.off:
            assert len(listed) < MAX_OBJECTS, "expected iteration to end"
            f = facts_of(it.off)
            assert f is not None, f"pmemobj_next gave an object at {it.off} outside the pool"
            listed.append((it.off, f["usable"]))
            it = lib.pmemobj_next(it)
        offs = [o for o, _ in listed]
        assert len(set(offs)) == len(offs), f"expected each object listed once, saw {offs}"
        assert set(offs) == reach, (
            f"expected the listed objects to be the ones the root reaches {sorted(reach)}, "
            f"saw {sorted(offs)} (leaked: {sorted(set(offs) - reach)}, "
            f"lost: {sorted(reach - set(offs))})")
        spans = sorted(listed + [(root.off, ROOT_SIZE)])
        for (a, n), (b, _) in zip(spans, spans[1:]):
            assert a + n <= b, f"expected objects not to overlap: [{a}, +{n}) and {b}"
        free, used, objects = usage(pop)
        want_used = base.root_used + sum(n for _, n in listed)
        assert (used, objects) == (want_used, 1 + len(listed)), (
            f"expected usage of {want_used} bytes in {1 + len(listed)} objects (root "
            f"included), saw {used} bytes in {objects}")
        # give everything back: the space must come back too
        for uuid, off in seen["slots"]:
            if off:
                p = ffi.new("PMEMoid *", oid(uuid, off))
                lib.pmemobj_free(p)
                assert p.off == 0, f"expected pmemobj_free({off}) to succeed: {errmsg()}"
    finally:
        lib.pmemobj_close(pop)
    pop = map_pool(address, size)
    try:
        assert lib.pmalloc_obj_check_map(pop) == 1, \
            f"expected the pool to check consistent after freeing everything: {errmsg()}"
        free, used, objects = usage(pop)
        assert (used, objects) == (base.root_used, 1), \
            f"expected only the root left after freeing everything, saw {used} bytes " \
            f"in {objects} objects"
        assert expected_free is None or free in expected_free, (
            f"expected {sorted(expected_free)} bytes free after freeing everything, saw {free}"
            f" (a leak of {min(expected_free) - free} bytes?)")
        if free == base.free:                 # as right after format: one run takes it all
            p = ffi.new("PMEMoid *")
            assert lib.pmemobj_alloc(pop, p, free, 1, ffi.NULL, ffi.NULL) == 0, \
                f"expected to allocate all {free} free bytes again: {errmsg()}"
            lib.pmemobj_free(p)
    finally:
        lib.pmemobj_close(pop)
    return free


def baseline(address: int, size: int) -> Baseline:
    pop = map_pool(address, size)
    try:
        free, used, objects = usage(pop)
        assert objects == 1, f"expected the formatted pool to hold its root only: {objects}"
        return Baseline(free, used)
    finally:
        lib.pmemobj_close(pop)


# ---- the checker process ----------------------------------------------------------------------

def _send(f: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(struct.pack("<Q", len(data)) + data)
    f.flush()


def _recv(f: Any) -> Any:
    head = f.read(8)
    if len(head) < 8:
        raise EOFError
    n, = struct.unpack("<Q", head)
    data = f.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


def _plain(tracks: list[list[State]]) -> list[list[Any]]:
    """Tracks as builtins only (this module has another name in the checker process)."""
    return [[(s.scalars, s.blob, tuple((i, None if o is None else (o.type, o.size, o.chunks))
                                       for i, o in s.slots)) for s in states]
            for states in tracks]


def _unplain(plain: list[list[Any]]) -> list[list[State]]:
    return [[State(sc, blob, tuple((i, None if o is None else Obj(*o)) for i, o in slots))
             for sc, blob, slots in states] for states in plain]


def serve() -> None:
    """The checker process: requests on stdin, answers on stdout (the library's own output
    goes to stderr)."""
    faulthandler.enable()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = os.fdopen(0, "rb")
    s: sim.Sim | None = None
    tracks: list[list[State]] = []
    names: list[list[str]] = []
    base = None
    while True:
        try:
            req = _recv(inp)
        except EOFError:
            return
        try:
            if req[0] == "setup":
                _, image, plain, names = req
                tracks = _unplain(plain)
                s = sim.Sim(len(image), image)
                base = baseline(s.mapping.address, s.size)
                _send(out, ("ok", dataclasses.asdict(base)))
            else:
                _, image, allowed, expected_free = req
                assert s is not None and base is not None
                s.load(image)
                free = verify(s.mapping.address, s.size, tracks, names, allowed,
                              expected_free, base)
                _send(out, ("ok", free))
        except AssertionError as e:
            _send(out, ("fail", str(e)))


class Checker:
    """The client of a checker process: ``check(image, allowed, expected_free)``."""

    TIMEOUT = 60.0

    def __init__(self, initial: bytes, tracks: list[list[State]], names: list[list[str]]) -> None:
        self.setup = ("setup", initial, _plain(tracks), names)
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = Baseline(**self._ask(self.setup))

    def _start(self) -> subprocess.Popen[bytes]:
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        return self.proc

    def _died(self, what: str) -> AssertionError:
        assert self.proc is not None
        self.proc.kill()
        rc = self.proc.wait()
        self.err.seek(0)
        err = self.err.read().decode(errors="replace")[-4000:]
        self.proc = None
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        return AssertionError(f"expected the check to finish; the checker process {what} and "
                              f"{how} (a crash or hang of the library in recovery):\n{err}")

    def _ask(self, req: Any) -> Any:
        restart = self.proc is None
        proc = self.proc if self.proc is not None else self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            if restart and req[0] != "setup":
                _send(proc.stdin, self.setup)
                _recv(proc.stdout)
            _send(proc.stdin, req)
            ready, _, _ = select.select([proc.stdout], [], [], self.TIMEOUT)
            if not ready:
                raise self._died(f"did not answer within {self.TIMEOUT:.0f} s")
            status, value = _recv(proc.stdout)
        except (EOFError, BrokenPipeError):
            raise self._died("stopped") from None
        if status != "ok":
            raise AssertionError(value)
        return value

    def check(self, image: bytes, allowed: list[list[int]], expected_free: set[int] | None) -> int:
        return self._ask(("check", image, allowed, expected_free))

    def close(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait()
            self.proc = None

    def __enter__(self) -> Checker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


if __name__ == "__main__":
    serve()
