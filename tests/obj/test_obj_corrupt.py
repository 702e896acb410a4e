"""Corrupted object pool files: hundreds of damaged variants of pools made by pmemobj_create
(clean, and captured by the simulator in the middle of a transaction and of its commit, so
lanes hold live undo and redo logs). Each variant is opened and checked in a forked child
with a timeout: pmemobj_open / pmemobj_check must fail cleanly (NULL, 0 or -1 and a
message) or give a pool that recovers to something sound -- iteration ends, every object
lies inside the pool, none overlap, new allocations overlap nothing -- never a crash or a
hang. A failure names each bad variant: region, base image, seed and the bytes changed.

The regions are read from the pool's own header (obj_layout.h: header, backup, state,
lanes of a 1 KiB redo log and an undo log, page descriptors, heap); the header's field
offsets and its Fletcher-64 checksum are the format's, written down once here to forge
headers that check out but lie.
"""
from __future__ import annotations

import json
import os
import random
import select
import signal
import struct
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pmalloc import sim

from . import objsim
from .objsim import Ctx, ffi, full_model, lib

pytestmark = pytest.mark.slow   # a thousand damaged pools: the default Python only

LAYOUT = objsim.LAYOUT
PAGE = 4096
LANE = 4096                        # ulog.h: a redo log of REDO_BYTES, then the undo log
REDO_BYTES = 1024
REDO_HEAD = 48                     # csum, n, seq, unused, ext_off, ext_cap; then entries
REDO_EXT = 32                      # the redo log's ext_off
UNDO_EXT = 8                       # the undo log's ext_off (after its state word)
DESC = 128                         # struct obj_page: word, type, 6 unused, bitmap[8]
HDR = {"major": (8, "I"), "minor": (12, "I"), "uuid_lo": (1040, "Q"), "uuid_hi": (1048, "Q"),
       "pool_size": (1056, "Q"), "nlanes": (1064, "Q"), "desc_off": (1072, "Q"),
       "heap_off": (1080, "Q"), "heap_pages": (1088, "Q"), "created": (1096, "Q")}
HDR_SUMMED = 1104                  # the checksum covers [0, 1104) and sits there
STATE_OFF = 2 * PAGE               # root_off, root_size, top
LANES_OFF = 3 * PAGE
TIMEOUT = 10.0


def fletcher64(data: bytes) -> int:
    lo = hi = 0
    for (w,) in struct.iter_unpack("<I", data):
        lo = (lo + w) % 0xFFFFFFFF
        hi = (hi + lo) % 0xFFFFFFFF
    return hi << 32 | lo


@dataclass(frozen=True)
class Geometry:
    size: int
    nlanes: int
    desc_off: int
    heap_off: int
    top: int

    @classmethod
    def of(cls, image: bytes) -> Geometry:
        f = {k: struct.unpack_from("<" + t, image, o)[0] for k, (o, t) in HDR.items()}
        top = struct.unpack_from("<Q", image, STATE_OFF + 16)[0]
        return cls(len(image), f["nlanes"], f["desc_off"], f["heap_off"], top)

    def lane(self, i: int) -> int:
        return LANES_OFF + i * LANE


# ---- the base images -----------------------------------------------------------------------

def populate(pop: Any) -> objsim.State:
    """A root, small and large objects, committed transactions, an undo extension block
    (a big snapshot) and a redo extension (a record of 80 entries); what the root holds."""
    c = Ctx(pop, full_model())
    c.alloc(0, 100, 1, "zalloc")
    c.alloc(1, 3000, 2, "constr")
    c.alloc(2, 40000, 3, "xalloc_zero")
    c.alloc(3, 30, 4, "strdup")
    with c.tx():
        c.set_all(list(range(8)))
        c.tx_alloc(4, 500, 5)
        c.tx_alloc(5, 20000, 6)
        c.tx_free(0)
    with c.tx():
        c.tx_update(2, 0, 9000)
    runs(c, 40, 20)
    with c.tx():
        c.tx_realloc(4, 7000, 7)
        c.tx_alloc(6, 64, 8)
    return c.model.freeze()


def runs(c: Ctx, n: int, type_num: int) -> None:
    """n runs allocated in one transaction (2 redo entries each), not reachable."""
    with c.tx():
        for i in range(n):
            o = lib.pmemobj_tx_alloc(16384 + 4096 * (i % 3), type_num + i % 4)
            assert o.off, objsim.errmsg()


def unfinished_work(m: Any, populated: objsim.State) -> None:
    """A transaction with snapshots (one past the lane), allocations and a free, whose
    commit record needs the redo extension."""
    pop = objsim.map_pool(m.address, len(m))
    try:
        model = full_model()
        model.restore(populated)
        c = Ctx(pop, model)
        with c.tx():
            c.set_all([7] * 8)
            c.tx_update(2, 100, 9000)
            c.blob(0, b"u" * 64)
            c.tx_alloc(7, 200, 9)
            c.tx_alloc(8, 30000, 10)
            c.tx_free(1)
            for i in range(35):
                assert lib.pmemobj_tx_alloc(20000, 30).off, objsim.errmsg()
    finally:
        lib.pmemobj_close(pop)


class _Captured(Exception):
    pass


def capture_unfinished(clean: bytes, populated: objsim.State) -> dict[str, bytes]:
    """Crash images of unfinished_work: 'mid-tx' (an undo log active, the redo log empty:
    recovery rolls back) and 'mid-commit' (the commit record durable, the undo log still
    active: recovery replays it)."""
    g = Geometry.of(clean)
    got: dict[str, bytes] = {}

    def check(m: Any) -> None:
        with memoryview(m) as v:
            lanes = bytes(v[g.lane(0):g.lane(g.nlanes)])
        redo = any(struct.unpack_from("<Q", lanes, i * LANE)[0] for i in range(g.nlanes))
        undo = any(struct.unpack_from("<Q", lanes, i * LANE + REDO_BYTES)[0] & 1
                   for i in range(g.nlanes))
        name = "mid-commit" if redo and undo else "mid-tx" if undo else None
        if name:
            with memoryview(m) as v:
                got[name] = bytes(v)      # the latest such point wins
        if "mid-commit" in got:
            raise _Captured

    sim.run(lambda m: unfinished_work(m, populated), check, len(clean), initial=clean, max_states=2,
            raise_on_failure=False)
    assert set(got) == {"mid-tx", "mid-commit"}, f"expected both crash images, saw {set(got)}"
    return got


@pytest.fixture(scope="module")
def bases() -> dict[str, bytes]:
    d = tempfile.mkdtemp(prefix="pmalloc-obj-corrupt-",
                         dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    try:
        path = os.path.join(d, "base.obj")
        pop = lib.pmemobj_create(path.encode(), LAYOUT, lib.PMEMOBJ_MIN_POOL, 0o600)
        assert pop != ffi.NULL, f"expected pmemobj_create to succeed: {objsim.errmsg()}"
        try:
            populated = populate(pop)
        finally:
            lib.pmemobj_close(pop)
        with open(path, "rb") as f:
            clean = f.read()
        images = {"clean": clean, **capture_unfinished(clean, populated)}
        for name, image in images.items():   # each base is sound before it is damaged
            with open(path, "wb") as f:
                f.write(image)
            result = run_forked(path)
            assert result.get("outcome") == "sound" and not result.get("problem"), \
                f"expected base {name!r} to open and check sound, saw {result}"
        return images
    finally:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)


# ---- one variant, in a child ----------------------------------------------------------------

def _msg() -> str:
    return objsim.errmsg()


def probe(path: str) -> dict[str, Any]:
    """What the library makes of the file at path (runs in the child). 'problem' is set
    when it misbehaves; 'outcome' is refused / detected / sound. Whatever the damage, the
    library never writes into the header or its backup."""
    bpath = path.encode()
    size = os.path.getsize(path)
    headers = read_headers(path)
    result = probe_file(path, bpath, size)
    if "problem" not in result and read_headers(path) != headers:
        result = {"problem": f"the library wrote into the pool's headers (the first "
                             f"{STATE_OFF} bytes) while the pool was {result['outcome']}"}
    return result


def read_headers(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(STATE_OFF)


def probe_file(path: str, bpath: bytes, size: int) -> dict[str, Any]:
    r = lib.pmemobj_check(bpath, LAYOUT)
    if r not in (-1, 0, 1) or (r != 1 and not _msg()):
        return {"problem": f"pmemobj_check returned {r} with message {_msg()!r}"}
    checked = r
    pop = lib.pmemobj_open(bpath, LAYOUT)
    if pop == ffi.NULL:
        if not _msg():
            return {"problem": "pmemobj_open failed without a message"}
        if checked == 1:
            return {"problem": f"pmemobj_check said 1, then pmemobj_open failed: {_msg()}"}
        return {"outcome": "refused", "why": _msg()}
    try:
        ok = lib.pmalloc_obj_check_map(pop)
        if ok not in (0, 1) or (ok == 0 and not _msg()):
            return {"problem": f"pmalloc_obj_check_map returned {ok} with message {_msg()!r}"}
        if checked == 1 and ok != 1:
            return {"problem": f"pmemobj_check said 1, the reopened pool checks {ok}: {_msg()}"}
        why = _msg() if ok == 0 else ""
        problem = probe_open(pop, bpath, size, sound=ok == 1)
        if problem:
            return {"problem": problem}
    finally:
        lib.pmemobj_close(pop)
    # used, closed: a sound pool stays sound; whatever checks sound now must be
    again = lib.pmemobj_check(bpath, LAYOUT)
    pop = lib.pmemobj_open(bpath, LAYOUT)
    if ok == 1 and (again != 1 or pop == ffi.NULL):
        if pop != ffi.NULL:
            lib.pmemobj_close(pop)
        return {"problem": f"the pool checked sound, was used, and now checks {again}: "
                           f"{_msg()}"}
    if pop != ffi.NULL:
        try:
            sound = lib.pmalloc_obj_check_map(pop) == 1
            problem = probe_open(pop, bpath, size, sound=sound, use=False)
        finally:
            lib.pmemobj_close(pop)
        if problem:
            return {"problem": f"after using the pool and reopening it: {problem}"}
    return {"outcome": "sound"} if ok == 1 else {"outcome": "detected", "why": why}


def probe_open(pop: Any, path: bytes, size: int, sound: bool, use: bool = True) -> str:
    """What is wrong with the open pool pop (sound: check_map said 1), or "". use: then
    allocate, free and run a transaction on the root."""
    with open(path, "rb") as f:
        uuid = struct.unpack("<Q", f.read(HDR["uuid_lo"][0] + 8)[-8:])[0]
    base = int(ffi.cast("uintptr_t", lib.pmemobj_direct(objsim.oid(uuid, 8)))) - 8
    spans: list[tuple[int, int, str]] = []
    rsize = lib.pmemobj_root_size(pop)
    if rsize:
        root = lib.pmemobj_root(pop, 0)
        if not root.off or root.off + rsize > size:
            return f"the root [{root.off}, +{rsize}) is not inside the {size}-byte pool"
        spans.append((root.off, rsize, "root"))
    it = lib.pmemobj_first(pop)
    while it.off:
        if len(spans) > objsim.MAX_OBJECTS:
            return "pmemobj_next does not end"
        usable = lib.pmemobj_alloc_usable_size(it)
        addr = int(ffi.cast("uintptr_t", lib.pmemobj_direct(it)))
        if usable == 0 or addr != base + it.off or it.off + usable > size:
            return (f"pmemobj_next gave an object at {it.off} of {usable} usable bytes "
                    f"(direct {addr - base}) in a {size}-byte pool")
        spans.append((it.off, usable, f"type {lib.pmemobj_type_num(it)}"))
        it = lib.pmemobj_next(it)
    bad = overlap(spans)
    if bad:
        return f"objects overlap: {bad}"
    if sound:
        _, _, objects = objsim.usage(pop)
        if objects != len(spans):
            return (f"the pool checks sound but counts {objects} objects, {len(spans)} "
                    f"listed (root included)")
    if not use:
        return ""
    # use it: new objects must overlap nothing that is there
    p = ffi.new("PMEMoid *")
    for k, n in enumerate((24, 300, 5000, 20000, 24, 300, 5000, 20000)):
        if lib.pmemobj_alloc(pop, p, n, 99, ffi.NULL, ffi.NULL) == 0:
            usable = lib.pmemobj_alloc_usable_size(p[0])
            bad = overlap(spans + [(p.off, usable, f"new {n}")])
            if p.off + usable > size or bad:
                return (f"a new {n}-byte object at {p.off} (+{usable}) is outside the pool "
                        f"or overlaps: {bad}")
            ffi.memmove(lib.pmemobj_direct(p[0]), b"\xa5" * n, n)
            lib.pmemobj_persist(pop, lib.pmemobj_direct(p[0]), n)
            if k < 4:                                # the second four stay
                lib.pmemobj_free(p)
    if rsize >= 8 and lib.pmemobj_tx_begin(pop, ffi.NULL, objsim.TX_NONE) == 0:
        rp = lib.pmemobj_direct(lib.pmemobj_root(pop, 0))
        if lib.pmemobj_tx_add_range_direct(rp, 8) == 0:
            ffi.memmove(rp, b"usedused", 8)
            lib.pmemobj_tx_commit()
        lib.pmemobj_tx_end()
    # a commit record past the lane (the redo extension) and a snapshot past it (undo's)
    if lib.pmemobj_tx_begin(pop, ffi.NULL, objsim.TX_NONE) == 0:
        for _ in range(40):
            if not lib.pmemobj_tx_alloc(16384, 98).off:
                break
        if lib.pmemobj_tx_stage() == lib.TX_STAGE_WORK:
            lib.pmemobj_tx_commit()
        lib.pmemobj_tx_end()
    if p.off and lib.pmemobj_tx_begin(pop, ffi.NULL, objsim.TX_NONE) == 0:
        if lib.pmemobj_tx_add_range(p[0], 0, 9000) == 0:
            ffi.memmove(lib.pmemobj_direct(p[0]), b"\x5a" * 9000, 9000)
            lib.pmemobj_tx_commit()
        lib.pmemobj_tx_end()
    return ""


def overlap(spans: list[tuple[int, int, str]]) -> str:
    s = sorted(spans)
    for (a, n, what), (b, m, other) in zip(s, s[1:]):
        if a + n > b:
            return f"{what} [{a}, +{n}) and {other} [{b}, +{m})"
    return ""


def run_forked(path: str) -> dict[str, Any]:
    """probe(path) in a forked child, killed after TIMEOUT seconds."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child: report, then leave at once
        try:
            os.close(r)
            try:
                result = probe(path)
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                result = {"problem": f"the probe raised {type(e).__name__}: {e}"}
            os.write(w, json.dumps(result).encode()[:60000])
        finally:
            os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], TIMEOUT)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"problem": f"hung: no answer within {TIMEOUT:.0f} s"}
        data = b""
        while chunk := os.read(r, 1 << 16):
            data += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(r)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        return {"problem": f"crashed: the child was killed by {sig}"}
    if not data:
        return {"problem": f"the child exited with status {os.WEXITSTATUS(status)}, no answer"}
    return json.loads(data)


# ---- variants ---------------------------------------------------------------------------------

Variant = tuple[str, bytes]        # (what was done, the image)


class Damage:
    """Mutations of one base image, recorded as text for the failure report."""

    def __init__(self, name: str, image: bytes, rng: random.Random) -> None:
        self.name = name
        self.base = image
        self.g = Geometry.of(image)
        self.rng = rng

    def new(self) -> tuple[bytearray, list[str]]:
        return bytearray(self.base), [self.name]

    def flip(self, img: bytearray, log: list[str], lo: int, hi: int, n: int = 0) -> None:
        for _ in range(n or self.rng.randrange(1, 4)):
            off = self.rng.randrange(lo, hi)
            bit = self.rng.randrange(8)
            img[off] ^= 1 << bit
            log.append(f"bit {bit} of byte {off:#x}")

    def byte(self, img: bytearray, log: list[str], lo: int, hi: int) -> None:
        off = self.rng.randrange(lo, hi)
        new = self.rng.randrange(256)
        log.append(f"byte {off:#x}: {img[off]:#x} -> {new:#x}")
        img[off] = new

    def word(self, img: bytearray, log: list[str], off: int, values: list[int] | None = None
             ) -> None:
        """The 8-byte word at off set to a value a corruption could plausibly leave."""
        old = struct.unpack_from("<Q", img, off)[0]
        g, r = self.g, self.rng
        pool = [0, 1, 2, 3, 7, 8, 255, PAGE, g.size - 8, g.size, g.size + PAGE, 2**32 - 1,
                2**63, 2**64 - 1, r.getrandbits(64), old ^ (1 << r.randrange(64)),
                (old + 1) % 2**64, (old - 1) % 2**64, r.randrange(g.size // 8) * 8,
                g.heap_off + r.randrange(max(g.top, 1)) * PAGE, r.randrange(1 << 16)]
        new = r.choice(values or pool)
        struct.pack_into("<Q", img, off, new)
        log.append(f"word {off:#x}: {old:#x} -> {new:#x}")

    def words(self, img: bytearray, log: list[str], lo: int, hi: int,
              values: list[int] | None = None) -> None:
        for _ in range(self.rng.randrange(1, 3)):
            self.word(img, log, lo + self.rng.randrange((hi - lo) // 8) * 8, values)

    def some(self, img: bytearray, log: list[str], lo: int, hi: int) -> None:
        """A flip, a byte or a word in [lo, hi), chosen at random."""
        k = self.rng.randrange(3)
        if k == 0:
            self.flip(img, log, lo, hi)
        elif k == 1:
            self.byte(img, log, lo, hi)
        else:
            self.words(img, log, lo, hi)

    def used_lanes(self) -> list[int]:
        """Lanes whose logs hold anything (the busy ones first), then two others."""
        busy = [i for i in range(self.g.nlanes)
                if any(struct.unpack_from("<6Q", self.base, self.g.lane(i))) or
                any(struct.unpack_from("<2Q", self.base, self.g.lane(i) + REDO_BYTES))]
        return busy + [self.rng.randrange(self.g.nlanes) for _ in range(2)]


def header_variants(d: Damage, n: int, at: int) -> Iterator[Variant]:
    for k in range(n):
        img, log = d.new()
        if k % 5 == 4:                               # the whole page, past the struct too
            d.some(img, log, at, at + PAGE)
        else:
            d.some(img, log, at, at + HDR_SUMMED + 8)
        yield " ".join(log), bytes(img)


def forged_variants(d: Damage, n: int) -> Iterator[Variant]:
    """A field changed and the checksum made to match (in both copies, or one)."""
    for k in range(n):
        img, log = d.new()
        field = d.rng.choice(sorted(HDR))
        off, t = HDR[field]
        old = struct.unpack_from("<" + t, img, off)[0]
        bits = 32 if t == "I" else 64
        new = d.rng.choice([0, 1, old + 1, old - 1 if old else 2, old * 2, old // 2,
                            d.rng.getrandbits(bits), 2**bits - 1]) % 2**bits
        if k % 4 == 3:                               # the layout name: not NUL-terminated
            img[16:16 + 1024] = b"x" * 1024
            field, old, new = "layout", "crash", "x" * 1024
        else:
            struct.pack_into("<" + t, img, off, new)
        struct.pack_into("<Q", img, HDR_SUMMED, fletcher64(bytes(img[:HDR_SUMMED])))
        copies = "header"
        if k % 2:
            img[PAGE:PAGE + HDR_SUMMED + 8] = img[:HDR_SUMMED + 8]
            copies = "header and backup"
        log.append(f"{copies}: {field} {old!r} -> {new!r}, checksum fixed")
        yield " ".join(log), bytes(img)


def state_variants(d: Damage, n: int) -> Iterator[Variant]:
    g = d.g
    for k in range(n):
        img, log = d.new()
        which = k % 4
        if which == 3:
            d.flip(img, log, STATE_OFF, STATE_OFF + 24)
        else:
            d.word(img, log, STATE_OFF + 8 * which)
            if which == 2 and d.rng.random() < 0.5:  # top: a value near the truth
                struct.pack_into("<Q", img, STATE_OFF + 16, d.rng.randrange(g.top + 3))
                log[-1] += f" (then {struct.unpack_from('<Q', img, STATE_OFF + 16)[0]})"
        yield " ".join(log), bytes(img)


def redo_variants(d: Damage, n: int) -> Iterator[Variant]:
    lanes = d.used_lanes()
    for k in range(n):
        img, log = d.new()
        lane = d.g.lane(lanes[k % len(lanes)])
        r = k % 4
        if r == 0:                                   # the head
            d.words(img, log, lane, lane + REDO_HEAD)
        elif r == 1:                                 # entries
            d.some(img, log, lane + REDO_HEAD, lane + REDO_BYTES)
        elif r == 2:                                 # the extension: outside the heap
            d.word(img, log, lane + REDO_EXT, [8, PAGE, STATE_OFF, d.g.lane(1) + 64,
                                               d.g.desc_off])
        else:
            d.some(img, log, lane, lane + REDO_BYTES)
        yield " ".join(log), bytes(img)


def undo_variants(d: Damage, n: int) -> Iterator[Variant]:
    lanes = d.used_lanes()
    for k in range(n):
        img, log = d.new()
        undo = d.g.lane(lanes[k % len(lanes)]) + REDO_BYTES
        r = k % 4
        if r == 0:                                   # state, ext_off
            d.words(img, log, undo, undo + UNDO_EXT + 8)
        elif r == 1:                                 # the first snapshots' heads and data
            d.some(img, log, undo + 32, undo + 32 + 512)
        elif r == 2 and k % 8 == 2:                  # the state's active bit alone
            img[undo] ^= 1
            log.append(f"active bit of the undo state at {undo:#x}")
        elif r == 2:                                 # the extension: outside the heap
            d.word(img, log, undo + UNDO_EXT, [d.g.lane(1) + 64, d.g.lane(d.g.nlanes - 1),
                                               d.g.desc_off, d.g.desc_off + 4 * DESC])
        else:
            d.some(img, log, undo, undo + LANE - REDO_BYTES)
        yield " ".join(log), bytes(img)


def desc_variants(d: Damage, n: int) -> Iterator[Variant]:
    g, rng = d.g, d.rng
    heads = [p for p in range(g.top)
             if struct.unpack_from("<Q", d.base, g.desc_off + p * DESC)[0]]
    for k in range(n):
        img, log = d.new()
        p = rng.choice(heads) if heads and k % 3 else rng.randrange(max(g.top + 2, 1))
        at = g.desc_off + p * DESC
        r = k % 5
        if r == 0:                                   # the word: a plausible head
            npages = rng.choice([0, 1, 2, 5, g.top - p, g.top - p + 1, 2**20, 2**47])
            d.word(img, log, at, [2 | npages << 16, 6 | npages << 16,
                                  1 | rng.randrange(256) << 8, 1 | rng.randrange(48) << 8,
                                  3, 5 | rng.randrange(256) << 8, rng.getrandbits(64)])
        elif r == 1:                                 # the type
            d.word(img, log, at + 8)
        elif r == 2:                                 # the bitmap
            d.words(img, log, at + 64, at + DESC, [2**64 - 1, 1, 2**63, rng.getrandbits(64), 0])
        elif r == 3:
            d.some(img, log, at, at + DESC)
        else:                                        # two descriptors at once
            d.some(img, log, at, at + DESC)
            q = g.desc_off + rng.randrange(max(g.top, 1)) * DESC
            d.some(img, log, q, q + DESC)
        log.insert(1, f"(descriptor of page {p})")
        yield " ".join(log), bytes(img)


def heap_variants(d: Damage, n: int) -> Iterator[Variant]:
    g, rng = d.g, d.rng
    blocks = []                                      # the lanes' log extension blocks
    for i in range(g.nlanes):
        redo_ext = struct.unpack_from("<Q", d.base, g.lane(i) + REDO_EXT)[0]
        undo_ext = struct.unpack_from("<Q", d.base, g.lane(i) + REDO_BYTES + UNDO_EXT)[0]
        blocks += [b for b in (redo_ext, undo_ext) if b]
    for k in range(n):
        img, log = d.new()
        if blocks and k % 2:                         # a block's head (undo: next, size)
            b = rng.choice(blocks)
            d.words(img, log, b, b + 64)
        else:
            d.some(img, log, g.heap_off, g.heap_off + max(g.top, 1) * PAGE)
        yield " ".join(log), bytes(img)


def zero_page_variants(d: Damage, n: int) -> Iterator[Variant]:
    g, rng = d.g, d.rng
    choices = [0, 1, 2, 3, 4, g.desc_off // PAGE, g.heap_off // PAGE]
    for k in range(n):
        img, log = d.new()
        page = choices[k] if k < len(choices) else rng.randrange(g.heap_off // PAGE + g.top)
        img[page * PAGE:(page + 1) * PAGE] = bytes(PAGE)
        log.append(f"page {page} zeroed")
        yield " ".join(log), bytes(img)


def metadata_variants(d: Damage, n: int) -> Iterator[Variant]:
    """Several places at once anywhere before the heap (lanes and descriptors mostly)."""
    for _ in range(n):
        img, log = d.new()
        for _ in range(d.rng.randrange(2, 6)):
            lo = d.rng.choice([STATE_OFF, LANES_OFF, d.g.desc_off])
            hi = {STATE_OFF: STATE_OFF + 24, LANES_OFF: d.g.desc_off,
                  d.g.desc_off: d.g.desc_off + max(d.g.top, 1) * DESC}[lo]
            d.some(img, log, lo, hi)
        yield " ".join(log), bytes(img)


def truncate_variants(d: Damage, n: int) -> Iterator[Variant]:
    g, rng = d.g, d.rng
    fixed = [0, 1, 100, PAGE - 1, PAGE, 3 * PAGE, g.desc_off, g.heap_off, g.size - PAGE,
             g.size - 1]
    for k in range(n):
        if k < len(fixed):
            length = fixed[k]
        elif k % 4 == 0:                             # extended
            length = g.size + rng.choice([1, 8, PAGE, rng.randrange(1, 1 << 20)])
        else:
            length = rng.randrange(g.size)
        img = d.base[:length] + bytes(max(0, length - g.size))
        yield f"{d.name} cut to {length} bytes", img


# Which variants each region test makes: (generator, count per base, bases).
ALL = ("clean", "mid-tx", "mid-commit")
REGIONS: dict[str, tuple[Callable[..., Iterator[Variant]], int, tuple[str, ...]]] = {
    "header": (lambda d, n: header_variants(d, n, 0), 24, ALL),
    "backup": (lambda d, n: header_variants(d, n, PAGE), 16, ALL),
    "forged-header": (forged_variants, 24, ("clean", "mid-commit")),
    "state": (state_variants, 32, ALL),
    "redo": (redo_variants, 48, ALL),
    "undo": (undo_variants, 48, ALL),
    "descriptors": (desc_variants, 80, ALL),
    "heap": (heap_variants, 24, ALL),
    "zeroed-page": (zero_page_variants, 16, ALL),
    "metadata": (metadata_variants, 32, ALL),
    "truncated": (truncate_variants, 24, ("clean", "mid-commit")),
}
RESULTS: Counter[str] = Counter()   # outcomes over the file, checked by the last test

def run_variants(pool_dir: str, region: str,
                 variants: Iterator[tuple[str, str, bytes, bytes | None]],
                 must_refuse: bool = False) -> Counter[str]:
    """Each (label, what, image, base) through run_forked; fails listing every variant
    that misbehaved."""
    path = os.path.join(pool_dir, f"{region}.obj")
    outcomes: Counter[str] = Counter()
    problems = []
    for label, what, image, base in variants:
        with open(path, "wb") as f:
            f.write(image)
        result = run_forked(path)
        problem = result.get("problem")
        if not problem and must_refuse and result.get("outcome") != "refused":
            problem = f"expected the file to be refused, saw outcome {result.get('outcome')}"
        if not problem:
            outcomes[result["outcome"]] += 1
        else:
            outcomes["problem"] += 1
            problems.append(f"{label}: {what}\n    -> {problem}")
    RESULTS.update(outcomes)
    assert not problems, (f"{len(problems)} of {sum(outcomes.values())} {region} variants "
                          f"misbehaved (expected a clean error or a sound pool):\n"
                          + "\n".join(problems[:40]))
    return outcomes


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_corrupted_region_fails_cleanly_or_recovers_soundly(pool_dir, bases, region):
    make, count, names = REGIONS[region]

    def variants() -> Iterator[tuple[str, str, bytes, bytes | None]]:
        for name in names:
            seed = f"{region}/{name}"
            d = Damage(name, bases[name], random.Random(seed))
            for k, (what, image) in enumerate(make(d, count)):
                yield f"[{region} seed {seed!r} #{k}]", what, image, bases[name]

    outcomes = run_variants(pool_dir, region, variants(),
                            must_refuse=region == "truncated")
    assert sum(outcomes.values()) == count * len(names), outcomes


# ---- bugs these tests found once, one minimal reproduction each -------------------------------

def one_variant(pool_dir: str, image: bytes) -> dict[str, Any]:
    path = os.path.join(pool_dir, "one.obj")
    with open(path, "wb") as f:
        f.write(image)
    return run_forked(path)


def test_open_checks_the_root_size(pool_dir, bases):
    image = bytearray(bases["clean"])
    struct.pack_into("<Q", image, STATE_OFF + 8, 1 << 40)       # root_size: 1 TiB
    result = one_variant(pool_dir, bytes(image))
    assert not result.get("problem"), result


def test_a_file_too_small_for_a_pool_is_refused_with_a_message(pool_dir, bases):
    result = one_variant(pool_dir, bases["clean"][:PAGE])
    assert result.get("outcome") == "refused" and not result.get("problem"), result


def test_a_redo_extension_outside_the_heap_is_never_written(pool_dir, bases):
    image = bytearray(bases["clean"])
    g = Geometry.of(image)
    for i in range(g.nlanes):                     # whichever lane the next commit takes
        struct.pack_into("<Q", image, g.lane(i) + REDO_EXT, PAGE)  # the backup header
    result = one_variant(pool_dir, bytes(image))
    assert not result.get("problem"), result


def test_foreign_files_are_refused(pool_dir):
    size = lib.PMEMOBJ_MIN_POOL
    made = os.path.join(pool_dir, "made")
    os.mkdir(made)
    rng = random.Random("foreign")
    log = lib.pmemlog_create(os.path.join(made, "log").encode(), lib.PMEMLOG_MIN_POOL, 0o600)
    assert log != ffi.NULL, ffi.string(lib.pmemlog_errormsg())
    lib.pmemlog_close(log)
    blk = lib.pmemblk_create(os.path.join(made, "blk").encode(), 512, lib.PMEMBLK_MIN_POOL,
                             0o600)
    assert blk != ffi.NULL, ffi.string(lib.pmemblk_errormsg())
    lib.pmemblk_close(blk)
    other = lib.pmemobj_create(os.path.join(made, "other").encode(), b"other", size, 0o600)
    assert other != ffi.NULL, objsim.errmsg()
    lib.pmemobj_root(other, 64)
    lib.pmemobj_close(other)

    def read(name: str) -> bytes:
        with open(os.path.join(made, name), "rb") as f:
            return f.read()

    files = [("random bytes", rng.randbytes(size)), ("zeros", bytes(size)),
             ("0xff bytes", b"\xff" * size), ("empty", b""),
             ("4 KiB of random", rng.randbytes(PAGE)),
             ("a libpmemlog pool", read("log")), ("a libpmemblk pool", read("blk")),
             ("an object pool of layout 'other'", read("other")),
             ("the signature, then random", b"PMALOBJ\0" + rng.randbytes(size - 8))]
    outcomes = run_variants(pool_dir, "foreign",
                            ((f"[foreign #{k}]", what, image, None)
                             for k, (what, image) in enumerate(files)),
                            must_refuse=True)
    assert outcomes["refused"] == len(files), outcomes


def test_hundreds_of_variants_were_tried():
    if sum(RESULTS.values()) < sum(c * len(b) for _, c, b in REGIONS.values()):
        pytest.skip("runs after the region tests of this file (run the whole file)")
    assert sum(RESULTS.values()) >= 400, RESULTS
    print(f"\n{sum(RESULTS.values())} variants: {dict(RESULTS)}")
