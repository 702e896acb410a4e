"""Bad input for pmalloc.obj.ObjPool from Python: files that are no pool of ours (foreign,
truncated, damaged, of another layout), files the process may not write, a directory, a
full file system, an exhausted pool, and misuse of pools, Oids, views and transactions.
Each raises the documented exception with a message saying why -- never a crash -- and
whatever was committed before is still there when the pool is reopened.
(tests/obj/test_obj_python.py has the first cases of each kind; these are the rest.)"""
from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from conftest import as_nobody, raised, run_command
from pmalloc import _capi
from pmalloc.blk import MIN_POOL_SIZE as BLK_MIN_POOL_SIZE
from pmalloc.blk import BlockPool
from pmalloc.errors import (CorruptPoolError, ForeignPointerError, InvalidArgumentError,
                            OutOfMemoryError, PmallocError, PoolClosedError, PoolError)
from pmalloc.log import Log
from pmalloc.obj import MIN_POOL_SIZE, NULL, ObjPool, Oid

from .test_obj_corrupt import HDR, HDR_SUMMED

LAYOUT = "bad"
Snapshot = tuple[bytes, dict[Oid, tuple[int, bytes]]]


# ---- what a pool holds, and that it still does -------------------------------------------------

def snapshot(pool: ObjPool) -> Snapshot:
    """The root's bytes and every object's (type, bytes)."""
    return bytes(pool.root()), {o: (pool.type_num(o), bytes(pool.view(o)))
                                for o in pool.objects()}


def write(view: Any, off: int, data: bytes) -> None:
    with memoryview(view) as m:
        m[off:off + len(data)] = data


def assert_holds(path: str, expected: Snapshot, layout: str = LAYOUT) -> None:
    """The pool at path checks consistent and holds exactly `expected`."""
    ok, why = _capi.obj_check(path, layout)
    assert ok == 1, f"expected the pool to check consistent, saw: {why}"
    with ObjPool.open(path, layout) as pool:
        root, objects = snapshot(pool)
    assert root == expected[0], "expected the committed root bytes after reopening"
    lost = set(expected[1]) - set(objects)
    extra = set(objects) - set(expected[1])
    assert not lost and not extra, (f"expected the committed objects after reopening: "
                                    f"{len(lost)} lost, {len(extra)} not expected")
    changed = [o for o in objects if objects[o] != expected[1][o]]
    assert not changed, f"expected each object's type and bytes as committed: {changed} differ"


class Committed:
    """A pool with a root and objects of several sizes and types, closed; ``expected`` is
    what it holds, ``verify()`` reopens it and compares."""

    def __init__(self, path: str) -> None:
        self.path = path
        rng = random.Random(404)
        with ObjPool.create(path, LAYOUT, MIN_POOL_SIZE) as pool:
            write(pool.root(512), 0, rng.randbytes(512))
            for k, size in enumerate([24, 100, 700, 5000, 20000, 100000]):
                o = pool.alloc(size, type_num=k + 1)
                write(pool.view(o), 0, rng.randbytes(size))
            self.expected = snapshot(pool)
            self.uuid = pool.oid_of(pool.root()).pool_uuid_lo

    @property
    def oids(self) -> list[Oid]:
        return sorted(self.expected[1])

    def open(self) -> ObjPool:
        return ObjPool.open(self.path, LAYOUT)

    def verify(self) -> None:
        assert_holds(self.path, self.expected)


@pytest.fixture
def committed(pool_dir: str) -> Committed:
    return Committed(os.path.join(pool_dir, "committed.obj"))


def expect(e: BaseException, cls: type[BaseException], what: str = "") -> None:
    assert isinstance(e, cls), (f"{what + ': ' if what else ''}expected {cls.__name__}, saw "
                                f"{type(e).__name__}: {e}")


def pmalloc_value_error(e: BaseException, what: str) -> None:
    """e is one of pmalloc's ValueErrors (InvalidArgumentError, ForeignPointerError...)."""
    assert isinstance(e, PmallocError) and isinstance(e, ValueError), (
        f"{what}: expected a PmallocError that is a ValueError, saw {type(e).__name__}: {e}")


# ---- files that are no pool of ours ------------------------------------------------------------

def _random(path: str) -> None:
    with open(path, "wb") as f:
        f.write(random.Random(1).randbytes(MIN_POOL_SIZE))


def _zeros(path: str) -> None:
    with open(path, "wb") as f:
        f.truncate(MIN_POOL_SIZE)


def _text(path: str) -> None:
    with open(path, "w") as f:
        f.write("not a pool, a text file\n" * (MIN_POOL_SIZE // 24 + 1))


def _small_text(path: str) -> None:
    with open(path, "w") as f:
        f.write("hello\n")


def _empty(path: str) -> None:
    open(path, "wb").close()


def _log(path: str) -> None:
    with Log.create(path, MIN_POOL_SIZE) as log:
        log.append(b"an entry")


def _blk(path: str) -> None:
    with BlockPool.create(path, 4096, BLK_MIN_POOL_SIZE) as pool:
        pool[0] = b"b" * 4096


FOREIGN = {"random": (_random, "not an object pool"), "zeros": (_zeros, "not an object pool"),
           "text": (_text, "not an object pool"), "short-text": (_small_text, "too small"),
           "empty": (_empty, "empty"), "log-pool": (_log, "not an object pool"),
           "blk-pool": (_blk, "not an object pool")}


@pytest.mark.parametrize("kind", FOREIGN)
def test_foreign_file_is_refused_saying_why(pool_dir, kind):
    make, why = FOREIGN[kind]
    path = os.path.join(pool_dir, kind)
    make(path)
    with open(path, "rb") as f:
        before = f.read()
    e = raised(ObjPool.open, path, LAYOUT)
    expect(e, CorruptPoolError)
    assert why in str(e) and path in str(e), f"expected the message to name {path} and say " \
                                             f"{why!r}, saw {str(e)!r}"
    assert isinstance(raised(ObjPool.open, path), CorruptPoolError), "with no layout too"
    with open(path, "rb") as f:
        assert f.read() == before, "expected a refused open to leave the file as it was"


@pytest.mark.parametrize("size", [100, 4095, 4096, 3 * 4096, 64 << 10, 1 << 20,
                                  MIN_POOL_SIZE - 4096, MIN_POOL_SIZE - 1, MIN_POOL_SIZE + 4096])
def test_truncated_or_extended_pool_is_refused(committed, size):
    cut = committed.path + ".cut"
    shutil.copyfile(committed.path, cut)
    os.truncate(cut, size)
    e = raised(ObjPool.open, cut, LAYOUT)
    expect(e, CorruptPoolError)
    assert "too small" in str(e) or "truncated" in str(e), (
        f"expected the message to say the file is too small or truncated, saw {str(e)!r}")
    committed.verify()


def header_offsets() -> list[int]:
    """Bytes of the checksummed header to damage: each field's first and last, the
    signature, the checksum, and a seeded sample of the rest (the layout name's area)."""
    offs = set(range(8)) | set(range(HDR_SUMMED, HDR_SUMMED + 8))
    for off, fmt in HDR.values():
        offs |= {off, off + (4 if fmt == "I" else 8) - 1}
    offs |= set(random.Random(5).sample(range(HDR_SUMMED), 40))
    return sorted(offs)


def test_damaged_header_byte_is_refused(committed):
    seen = {}
    with open(committed.path, "r+b") as f:
        for off in header_offsets():
            f.seek(off)
            old = f.read(1)[0]
            for new in (old ^ 0xFF, old ^ 0x01):
                f.seek(off)
                f.write(bytes([new]))
                f.flush()
                e = raised(ObjPool.open, committed.path, LAYOUT)
                assert isinstance(e, CorruptPoolError), (
                    f"header byte {off} changed from {old:#x} to {new:#x}: expected "
                    f"CorruptPoolError, saw {type(e).__name__}: {e}")
                seen[str(e).split(": ", 1)[1]] = off
            f.seek(off)
            f.write(bytes([old]))
            f.flush()
    assert any("checksum" in why for why in seen) and any("signature" in why for why in seen), (
        f"expected the messages to say what is wrong, saw {sorted(seen)}")
    committed.verify()


def test_wrong_layout_names_both_layouts(committed):
    e = raised(ObjPool.open, committed.path, "another")
    expect(e, CorruptPoolError)
    assert f'"{LAYOUT}"' in str(e) and '"another"' in str(e), (
        f"expected the message to name the pool's layout and the one asked for, saw {str(e)!r}")
    committed.verify()
    with ObjPool.open(committed.path) as pool:           # no layout asked: any
        assert snapshot(pool) == committed.expected


# ---- layout arguments --------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["create", "open"])
def test_layout_too_long_is_an_argument_error(committed, call):
    """An argument error (as a bad size is), not a corrupt pool: the file is fine."""
    layout = "x" * 2000
    if call == "create":
        e = raised(ObjPool.create, committed.path + ".new", layout)
    else:
        e = raised(ObjPool.open, committed.path, layout)
    assert isinstance(e, InvalidArgumentError) and not isinstance(e, CorruptPoolError), (
        f"{call}: expected InvalidArgumentError, saw {type(e).__name__}: {e}")
    assert "layout" in str(e), f"expected the message to name the layout, saw {str(e)!r}"
    assert not os.path.exists(committed.path + ".new")


@pytest.mark.parametrize("call", ["create", "open"])
def test_layout_with_a_nul_byte_is_refused(committed, call):
    """A layout is a C string: "bad\\0x" would silently be "bad" (paths refuse a NUL too)."""
    if call == "create":
        e = raised(ObjPool.create, committed.path + ".new", "ab\0cd")
        assert not os.path.exists(committed.path + ".new"), "expected no pool made"
    else:
        e = raised(ObjPool.open, committed.path, f"{LAYOUT}\0junk")
    assert isinstance(e, InvalidArgumentError), (
        f"{call}: expected InvalidArgumentError, saw {type(e).__name__}: {e}")
    assert "null" in str(e) or "NUL" in str(e), f"expected the message to say why: {str(e)!r}"


@pytest.mark.parametrize("layout", [5, ["bad"], b"bad"], ids=["int", "list", "bytes"])
@pytest.mark.parametrize("call", ["create", "open"])
def test_layout_of_a_wrong_type_is_a_type_error(committed, call, layout):
    """A TypeError (bytes may also be taken, as paths are), never an AttributeError."""
    try:
        if call == "create":
            ObjPool.create(committed.path + ".new", layout).close()
        else:
            ObjPool.open(committed.path, layout).close()
    except BaseException as e:  # noqa: BLE001 - checked below
        assert isinstance(e, TypeError) and isinstance(e, PmallocError), (
            f"{call}(layout={layout!r}): expected PmallocTypeError, saw {type(e).__name__}: {e}")
        assert not os.path.exists(committed.path + ".new")
    else:
        assert isinstance(layout, bytes), f"{call}(layout={layout!r}): expected TypeError"


# ---- files the process may not write, directories --------------------------------------------

OPEN_AS_NOBODY = """
def attempt(call):
    try:
        call()
    except BaseException as e:
        return {"mro": [c.__name__ for c in type(e).__mro__], "errno": getattr(e, "errno", None),
                "filename": getattr(e, "filename", None), "message": str(e)}
    return {"mro": []}
result = {"open": attempt(lambda: ObjPool.open(sys.argv[1])),
          "create": attempt(lambda: ObjPool.create(sys.argv[2], "x"))}
"""


def test_read_only_file_and_directory_give_permission_errors(committed, pool_dir):
    """As a user who may not write them (as_nobody drops root: root writes anyway)."""
    ro_dir = os.path.join(pool_dir, "ro")
    os.mkdir(ro_dir)
    os.chmod(committed.path, 0o444)
    os.chmod(ro_dir, 0o555)
    os.chmod(pool_dir, 0o755)
    try:
        out = as_nobody("import sys\nfrom pmalloc.obj import ObjPool", OPEN_AS_NOBODY,
                        committed.path, os.path.join(ro_dir, "new.obj"))
    finally:
        os.chmod(committed.path, 0o644)
        os.chmod(ro_dir, 0o755)
    for call, filename in [("open", committed.path), ("create", os.path.join(ro_dir, "new.obj"))]:
        seen = out[call]
        assert "PermissionError" in seen["mro"] and "PmallocError" in seen["mro"], (
            f"{call}: expected PermissionError, saw {seen}")
        assert seen["errno"] in (errno.EACCES, errno.EPERM) and seen["filename"] == filename, (
            f"{call}: expected errno EACCES and the filename {filename}, saw {seen}")
    assert os.listdir(ro_dir) == []
    committed.verify()


@pytest.fixture
def read_only_view(pool_dir: str) -> Iterator[str]:
    """pool_dir bind-mounted read-only (root only: skipped elsewhere)."""
    mnt = tempfile.mkdtemp(prefix="pmalloc-ro-")
    try:
        for cmd in (["mount", "--bind", pool_dir, mnt], ["mount", "-o", "remount,bind,ro", mnt]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                subprocess.run(["umount", mnt], capture_output=True)
                pytest.skip(f"cannot bind-mount read-only here: {r.stderr.strip()}")
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        os.rmdir(mnt)


def test_read_only_file_system_gives_an_oserror(committed, read_only_view):
    """open(O_RDWR) fails whoever we are: EROFS."""
    path = os.path.join(read_only_view, os.path.basename(committed.path))
    assert not os.access(path, os.W_OK)
    for call, name in [(lambda: ObjPool.open(path, LAYOUT), path),
                       (lambda: ObjPool.create(path + ".new", LAYOUT), path + ".new")]:
        e = raised(call)
        assert isinstance(e, OSError) and isinstance(e, PmallocError), (
            f"expected an OSError, saw {type(e).__name__}: {e}")
        assert e.errno == errno.EROFS and e.filename == name, (
            f"expected errno EROFS and the filename {name}, saw {e.errno} {e.filename!r}: {e}")
    committed.verify()


def test_directory_as_path(pool_dir):
    e = raised(ObjPool.open, pool_dir)
    assert isinstance(e, IsADirectoryError) and e.filename == pool_dir, f"{type(e).__name__}: {e}"
    e = raised(ObjPool.create, pool_dir, LAYOUT)
    assert isinstance(e, FileExistsError) and e.filename == pool_dir, f"{type(e).__name__}: {e}"
    plain = os.path.join(pool_dir, "plain")
    open(plain, "w").close()
    for call in (ObjPool.open, ObjPool.create):
        e = raised(call, os.path.join(plain, "x.obj"))
        assert isinstance(e, NotADirectoryError), f"{call.__name__}: {type(e).__name__}: {e}"
    assert os.listdir(pool_dir) == ["plain"]


# ---- a full file system, an exhausted pool ---------------------------------------------------

def died(run: Any, expected: str) -> str:
    """The failure message of a child that did not exit 0: how, its last lines."""
    how = (f"killed by signal {-run.returncode}" if run.returncode < 0
           else f"exit with status {run.returncode}")
    tail = "\n".join(run.stdout.splitlines()[-3:])
    return (f"expected {expected}, saw the process {how}\n"
            f"--- last lines of stdout ---\n{tail}\n--- stderr ---\n{run.stderr[-2000:]}")


def test_pool_larger_than_the_file_system(tiny_fs):
    path = os.path.join(tiny_fs, "big.obj")
    e = raised(ObjPool.create, path, LAYOUT, 64 << 20)
    assert isinstance(e, OSError) and isinstance(e, PmallocError), f"{type(e).__name__}: {e}"
    assert e.errno == errno.ENOSPC and e.filename == path, f"{e.errno} {e.filename!r}: {e}"
    assert os.listdir(tiny_fs) == [], "expected a pool that could not be made to leave no file"


FILL_ON_FULL_FS = """
import json, sys
from pmalloc.obj import ObjPool
path = sys.argv[1]
try:
    pool = ObjPool.create(path, "full", 0)          # formats the existing (sparse) file
except OSError as e:
    print(json.dumps({"create": [e.errno, str(e)]}))
    sys.exit(0)
with pool:
    n = 0
    try:
        while True:
            with pool.transaction() as tx:          # the object and its bytes, atomically
                o = tx.alloc(3000 + 1000 * (n % 5), type_num=1 + n % 3, zero=n % 2 == 1)
                with memoryview(pool.view(o)) as m:
                    m[:64] = bytes([n % 251]) * 64
            print(json.dumps({"oid": list(o), "n": n}), flush=True)
            n += 1
    except MemoryError as e:
        print(json.dumps({"full": str(e)}), flush=True)
"""


def test_pool_on_a_full_file_system(tiny_fs):
    """A pool file bigger than the file system's free space (a sparse 8 MiB file on the
    4 MiB tmpfs, formatted in place with size=0) is refused at create (ENOSPC) or fills up
    with MemoryError -- never a SIGBUS -- and what committed is there after reopening."""
    path = os.path.join(tiny_fs, "sparse.obj")
    with open(path, "wb") as f:
        f.truncate(MIN_POOL_SIZE)
    run = run_command([sys.executable, "-X", "faulthandler", "-c", FILL_ON_FULL_FS, path],
                      timeout=120)
    if run.returncode != 0:
        pytest.fail(died(run, "the pool to raise (OSError at create, or MemoryError)"))
    out = [json.loads(line) for line in run.stdout.splitlines()]
    if "create" in out[0]:
        assert out[0]["create"][0] == errno.ENOSPC, out[0]
        return
    assert "full" in out[-1], f"expected the fill to end in MemoryError, saw {out[-1]}"
    made = {Oid(*r["oid"]): r["n"] for r in out[:-1]}
    assert made, "expected some objects to fit"
    with ObjPool.open(path, "full") as pool:
        assert set(pool.objects()) == set(made), "expected every committed object after reopen"
        for o, n in made.items():
            assert bytes(pool.view(o))[:64] == bytes([n % 251]) * 64, f"object {n} changed"


def test_exhaustion_raises_memoryerror_and_the_pool_goes_on(pool_dir):
    rng = random.Random(77)
    path = os.path.join(pool_dir, "full.obj")
    with ObjPool.create(path, LAYOUT, MIN_POOL_SIZE) as pool:
        root = pool.root(1 << 20)
        write(root, 0, rng.randbytes(len(root)))
        made: list[Oid] = []

        def fill(sizes: list[int]) -> BaseException:
            while True:
                try:
                    o = pool.alloc(rng.choice(sizes), type_num=1 + len(made) % 5)
                except BaseException as e:  # noqa: BLE001 - checked by the caller
                    return e
                write(pool.view(o), 0, rng.randbytes(64))
                made.append(o)

        for sizes in ([5000, 30000, 200000], [64, 1000], [24]):
            e = fill(sizes)
            assert isinstance(e, OutOfMemoryError) and isinstance(e, MemoryError), (
                f"expected OutOfMemoryError, saw {type(e).__name__}: {e}")
            assert "full" in str(e), f"expected the message to say the pool is full: {e}"
        full = snapshot(pool)

        # a transaction that allocates until MemoryError rolls every allocation back,
        # one whose snapshot needs more log than the pool has left changes nothing
        pool.free(made.pop())

        def tx_fill() -> None:
            with pool.transaction() as tx:
                while True:
                    tx.alloc(64)

        def tx_big_add() -> None:
            with pool.transaction() as tx:
                tx.add(root)
                write(root, 0, bytes(len(root)))

        for call in (tx_fill, tx_big_add, tx_fill):
            e = raised(call)
            assert isinstance(e, OutOfMemoryError), f"{call.__name__}: {type(e).__name__}: {e}"
            seen = snapshot(pool)
            assert seen[0] == full[0] and len(seen[1]) == len(full[1]) - 1, (
                f"{call.__name__}: expected the failed transaction to change nothing")

        # frees work, and what they gave back can be had again
        for o in made[::3]:
            pool.free(o)
        del made[::3]
        again = [pool.alloc(rng.choice([64, 5000, 30000]), type_num=6) for _ in range(20)]
        with pool.transaction() as tx:
            tx.add(root, 0, 4096)
            write(root, 0, b"after exhaustion" * 256)
            tx.free(again.pop())
        expected = snapshot(pool)
        del root
    assert_holds(path, expected)


# ---- misuse ----------------------------------------------------------------------------------

def test_closed_pool_and_its_views_raise(committed):
    pool = committed.open()
    view = pool.view(committed.oids[0])
    root = pool.root()
    t = pool.transaction()
    pool.close()
    calls: dict[str, Callable[[], Any]] = {
        "view": lambda: pool.view(committed.oids[0]),
        "type_num": lambda: pool.type_num(committed.oids[0]),
        "free": lambda: pool.free(committed.oids[0]),
        "root": lambda: pool.root(),
        "root(64)": lambda: pool.root(64),
        "root_size": lambda: pool.root_size,
        "objects": lambda: list(pool.objects()),
        "oid_of": lambda: pool.oid_of(view),
        "transaction": lambda: pool.transaction(),
        "enter": lambda: t.__enter__(),
    }
    for name, call in calls.items():
        e = raised(call)
        assert isinstance(e, PoolClosedError), f"{name}: expected PoolClosedError, saw " \
                                               f"{type(e).__name__}: {e}"
    for name, call in {"bytes(view)": lambda: bytes(view),
                       "memoryview(view)": lambda: memoryview(view),
                       "numpy over root": lambda: np.frombuffer(root, dtype=np.uint8)}.items():
        e = raised(call)
        assert isinstance(e, ValueError), f"{name}: expected ValueError, saw " \
                                          f"{type(e).__name__}: {e}"
    with committed.open() as other:                       # the same pool, open again
        with other.transaction() as tx:
            e = raised(tx.add, view)                      # a view of its closed first opening
            assert isinstance(e, (ValueError, PoolError)), f"{type(e).__name__}: {e}"
    committed.verify()


CLOSE_IN_TX = """
import json, sys
from pmalloc.obj import ObjPool
pool = ObjPool.open(sys.argv[1])
root = pool.root()
out = {}
with pool.transaction() as tx:
    tx.add(root, 0, 8)
    with memoryview(root) as m:
        m[:8] = b"inside!!"
    try:
        pool.close()
        out["close"] = None
    except BaseException as e:
        out["close"] = [c.__name__ for c in type(e).__mro__]
        out["message"] = str(e)
out["closed"] = pool.closed
print(json.dumps(out), flush=True)
del root
pool.close()
"""


def test_closing_inside_a_transaction_raises(committed):
    """close() while the pool's transaction runs must refuse (as with a live memoryview),
    not unmap the pool under the transaction's commit. Run in a child: a crash shows."""
    run = run_command([sys.executable, "-X", "faulthandler", "-c", CLOSE_IN_TX, committed.path],
                      timeout=60)
    if run.returncode != 0:
        pytest.fail(died(run, "close() inside a transaction to raise"))
    out = json.loads(run.stdout.splitlines()[-1])
    mro = out["close"] or []
    assert "PmallocError" in mro or "BufferError" in mro, (
        f"expected close() to raise a PmallocError or BufferError, saw {out}")
    root, objects = committed.expected
    assert_holds(committed.path, (b"inside!!" + root[8:], objects))


def test_oids_of_another_pool_raise(committed, pool_dir):
    with committed.open() as pool, \
            ObjPool.create(os.path.join(pool_dir, "other.obj"), LAYOUT) as other:
        foreign = other.alloc(100)
        same_off = Oid(foreign.pool_uuid_lo, committed.oids[0].off)   # our offset, their uuid
        for oid in (foreign, same_off):
            for name, call in {"view": pool.view, "type_num": pool.type_num,
                               "free": pool.free}.items():
                e = raised(call, oid)
                assert isinstance(e, ForeignPointerError), (
                    f"{name}({oid}): expected ForeignPointerError, saw {type(e).__name__}: {e}")
            with pool.transaction() as tx:
                e = raised(tx.free, oid)
                assert isinstance(e, ForeignPointerError), f"tx.free: {type(e).__name__}: {e}"
        e = raised(other.free, committed.oids[0])          # and ours in theirs
        assert isinstance(e, ForeignPointerError), f"{type(e).__name__}: {e}"
        assert list(other.objects()) == [foreign]
    committed.verify()


def test_freeing_the_null_oid_does_nothing(committed):
    """As pmemobj_free(OID_NULL) and free(NULL): obj.NULL, or an Oid of off 0 (what a
    zeroed slot of 16 bytes reads as), frees nothing, atomically or in a transaction."""
    with committed.open() as pool:
        nulls = [NULL, Oid(committed.uuid, 0), Oid.from_bytes(bytes(16))]
        for oid in nulls:
            pool.free(oid)
            with pool.transaction() as tx:
                tx.free(oid)
        for oid in nulls:
            e = raised(pool.view, oid)
            pmalloc_value_error(e, f"view({oid})")
    committed.verify()


def test_garbage_offsets_raise_and_change_nothing(committed):
    """free/view/type_num/tx.free of offsets that are no object's: random ones over the
    whole file and past it, ones next to and inside real objects, the root, a freed one."""
    rng = random.Random(99)
    with committed.open() as pool:
        root = pool.oid_of(pool.root()).off
        gone = pool.alloc(200)
        pool.free(gone)
        live = {o.off for o in committed.oids}
        offs = {rng.randrange(MIN_POOL_SIZE + (1 << 20)) for _ in range(300)}
        for o in committed.oids:
            n = len(pool.view(o))
            offs |= {o.off + d for d in (-4096, -64, -16, -8, -1, 1, 7, 8, 16, 64, n // 2, n)}
        offs |= {0, 8, 4096, 8192, 12288, MIN_POOL_SIZE - 8, MIN_POOL_SIZE, 1 << 40,
                 (1 << 64) - 1, gone.off}
        offs = sorted(off for off in offs - live - {root} if off > 0)
        for off in offs:
            oid = Oid(committed.uuid, off)
            for name, call in {"free": pool.free, "view": pool.view,
                               "type_num": pool.type_num}.items():
                pmalloc_value_error(raised(call, oid), f"{name}(off={off})")
        pmalloc_value_error(raised(pool.free, Oid(committed.uuid, root)), "free(root)")
        with pool.transaction() as tx:             # each raises; the block goes on
            for off in offs[::7]:
                pmalloc_value_error(raised(tx.free, Oid(committed.uuid, off)), f"tx.free({off})")
        assert snapshot(pool) == committed.expected
    committed.verify()


@pytest.mark.parametrize("off", [-1, -4096, 1 << 64, 1 << 70])
def test_oid_offsets_out_of_range_are_argument_errors(committed, off):
    """Never a bare OverflowError from the C conversion."""
    with committed.open() as pool:
        oid = Oid(committed.uuid, off)
        for name, call in {"free": pool.free, "view": pool.view,
                           "type_num": pool.type_num}.items():
            pmalloc_value_error(raised(call, oid), f"{name}(off={off})")
        with pool.transaction() as tx:
            pmalloc_value_error(raised(tx.free, oid), f"tx.free(off={off})")
    committed.verify()


@pytest.mark.parametrize("type_num", [-1, 1 << 64, 1 << 100])
def test_type_num_out_of_range_is_an_argument_error(committed, type_num):
    with committed.open() as pool:
        pmalloc_value_error(raised(pool.alloc, 64, type_num=type_num), f"alloc({type_num})")
        with pool.transaction() as tx:
            pmalloc_value_error(raised(tx.alloc, 64, type_num=type_num),
                                f"tx.alloc({type_num})")
        e = raised(pool.alloc, 64, type_num="1")
        assert isinstance(e, TypeError), f"type_num='1': {type(e).__name__}: {e}"
    committed.verify()


def test_double_frees_raise_and_lose_nothing(committed):
    with committed.open() as pool:
        a, b, c = committed.oids[:3]
        with pool.transaction() as tx:
            tx.free(a)
            pmalloc_value_error(raised(tx.free, a), "tx.free twice in one block")
        pmalloc_value_error(raised(pool.free, a), "free after the block freed it")
        with pool.transaction() as tx:
            pmalloc_value_error(raised(tx.free, a), "tx.free after the block freed it")
        # freed by the block (at its commit) and atomically within it: every object the
        # program still holds survives the commit, and the pool stays sound
        with pool.transaction() as tx:
            tx.free(b)
            pool.free(b)
            new = [pool.alloc(100, type_num=9) for _ in range(50)]
        pmalloc_value_error(raised(pool.free, b), "free after both")
        with pool.transaction() as tx:                   # made and freed in one block
            d = tx.alloc(100)
            tx.free(d)
        pmalloc_value_error(raised(pool.view, d), "view of an object made and freed")
        assert set(pool.objects()) == set(committed.oids[2:]) | set(new), (
            "expected the objects not freed, and the new ones, after the double frees")
        expected = snapshot(pool)
    assert_holds(committed.path, expected)
    assert c in expected[1]


def test_transaction_calls_outside_their_block_raise(committed, pool_dir):
    with committed.open() as pool:
        root = pool.root()
        never = pool.transaction()                      # made, never entered
        with pytest.raises(KeyError):
            with pool.transaction() as aborted:
                raise KeyError("rolls back")
        for name, t in (("never entered", never), ("after a raising block", aborted)):
            for call, args in ((t.add, (root,)), (t.alloc, (64,)), (t.free, (committed.oids[0],))):
                e = raised(call, *args)
                assert isinstance(e, InvalidArgumentError), (
                    f"{name}: {call.__name__}: expected InvalidArgumentError, saw "
                    f"{type(e).__name__}: {e}")
        errors: list[BaseException] = []
        with pool.transaction() as tx:                  # another thread may not use it
            th = threading.Thread(target=lambda: errors.append(raised(tx.add, root, 0, 8)))
            th.start()
            th.join()
            tx.add(root, 0, 8)
            write(root, 0, b"thread!!")
        assert len(errors) == 1 and isinstance(errors[0], PmallocError), (
            f"expected tx.add from another thread to raise, saw {errors}")
        with ObjPool.create(os.path.join(pool_dir, "other.obj"), LAYOUT) as other:
            with pytest.raises(InvalidArgumentError, match="another pool"):
                with pool.transaction() as tx:          # a block of another pool inside
                    tx.add(root, 0, 8)
                    write(root, 0, b"rollback")
                    with other.transaction():
                        pass
        expected = snapshot(pool)
        assert expected[0][:8] == b"thread!!"
        del root
    assert_holds(committed.path, expected)


def test_tx_add_of_what_is_not_in_the_pool_raises(committed):
    with committed.open() as pool:
        root = pool.root()
        view = pool.view(committed.oids[1])
        with pool.transaction() as tx:
            for name, buf in {"numpy array": np.zeros(64, dtype=np.uint8), "bytes": b"x" * 64,
                              "memoryview of a bytearray": memoryview(bytearray(4096))}.items():
                e = raised(tx.add, buf)
                assert isinstance(e, ForeignPointerError), (
                    f"tx.add({name}): expected ForeignPointerError, saw {type(e).__name__}: {e}")
            for bad in (5, None, "text"):
                e = raised(tx.add, bad)
                assert isinstance(e, TypeError), f"tx.add({bad!r}): {type(e).__name__}: {e}"
            n = len(view)
            for off, size in ((0, n + 1), (n, 1), (-1, 8), (0, -8), (1 << 64, 8), (8, 1 << 64),
                              (n + 4096, None)):
                e = raised(tx.add, view, off, size)
                pmalloc_value_error(e, f"tx.add(view of {n} bytes, {off}, {size})")
            tx.add(root, 0, 16)
            write(root, 0, b"still commits!!!")
        expected = snapshot(pool)
        assert expected[0][:16] == b"still commits!!!"
        del root, view
    assert_holds(committed.path, expected)


def test_close_with_live_exports_raises_buffererror_and_the_pool_goes_on(committed):
    pool = committed.open()
    try:
        view = pool.view(committed.oids[3])
        for make in (lambda: np.frombuffer(view, dtype=np.uint8),
                     lambda: memoryview(view)[10:20],
                     lambda: np.frombuffer(pool.root(), dtype=np.uint64)[2:]):
            export = make()
            e = raised(pool.close)
            assert isinstance(e, BufferError), f"expected BufferError, saw {type(e).__name__}: {e}"
            assert not pool.closed
            with pool.transaction() as tx:               # the pool goes on
                tx.add(view, 0, 8)
                write(view, 0, b"refused!")
                o = tx.alloc(64)
            pool.free(o)
            if isinstance(export, memoryview):
                export.release()
            del export
        expected = snapshot(pool)
        del view
    finally:
        pool.close()
    assert pool.closed
    assert_holds(committed.path, expected)


def test_the_same_pool_open_twice_is_refused(committed):
    """A process may not open a pool twice, nor a copy of an open one (same UUID)."""
    copy = committed.path + ".copy"
    shutil.copyfile(committed.path, copy)
    with committed.open() as pool:
        for path in (committed.path, copy):
            e = raised(ObjPool.open, path, LAYOUT)
            assert isinstance(e, PmallocError) and "open already" in str(e), (
                f"{path}: expected a PmallocError saying the pool is open already, saw "
                f"{type(e).__name__}: {e}")
        assert snapshot(pool) == committed.expected          # the first one goes on
    with ObjPool.open(copy, LAYOUT) as pool:
        assert snapshot(pool) == committed.expected
    committed.verify()
