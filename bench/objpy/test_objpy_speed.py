"""pmalloc.obj and pmalloc.kv from Python (issue 13): one transaction over the root's 8-byte
field, and pmalloc.kv's set and get against sqlite3 (WAL, synchronous=FULL, a transaction
per set) and dbm.dumb. Run by bench/run_objpy.py, never by the test suite: timings are not
asserted, only that each contender did the work.

Every contender gets the same keys and values (16 B keys, 100 B values from one seed) and
stores of its own in a fresh directory (/dev/shm when usable): the set benchmark a new empty
store every round, the get benchmark one store filled with POPULATION keys before it."""
from __future__ import annotations

import dbm.dumb
import os
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import pmalloc.kv
from pmalloc.obj import ObjPool

KEY, VALUE = 16, 100
POPULATION = 100_000          # keys in the store of the get benchmark
KV_SIZE = 256 << 20           # the pmalloc.kv pools: room to spare for POPULATION keys
SYSTEMS = ("pmalloc.kv", "sqlite3", "dbm.dumb")

TX_GROUP = "tx: add + set of the root's 8 B field"
SET_GROUP = "set: 16 B key, 100 B value"
GET_GROUP = "get: 16 B key of 100k"


def counts(quick: bool) -> dict[str, int]:
    """Operations per round, and rounds, of each benchmark."""
    if quick:
        return {"tx": 2_000, "tx_rounds": 5, "set": 2_000, "set_rounds": 2,
                "get": 5_000, "get_rounds": 2}
    return {"tx": 20_000, "tx_rounds": 20, "set": 20_000, "set_rounds": 5,
            "get": 50_000, "get_rounds": 5}


def pairs(n: int, seed: int) -> list[tuple[bytes, bytes]]:
    """n distinct (16 B key, 100 B value) pairs, the same for every contender."""
    data = random.Random(seed).randbytes(n * (KEY + VALUE))
    out = [(data[i:i + KEY], data[i + KEY:i + KEY + VALUE])
           for i in range(0, len(data), KEY + VALUE)]
    assert len({k for k, _ in out}) == n
    return out


# ---- the contenders: a store each, with its loops -------------------------------------------

class KvStore:
    """pmalloc.kv: every set a transaction, durable when it returns."""

    def __init__(self, directory: str) -> None:
        self.db = pmalloc.kv.open(os.path.join(directory, "bench.kv"), "n", size=KV_SIZE)

    def fill(self, items: list[tuple[bytes, bytes]]) -> None:
        self.set_all(items)

    def set_all(self, items: list[tuple[bytes, bytes]]) -> None:
        db = self.db
        for k, v in items:
            db[k] = v

    def get_all(self, keys: list[bytes]) -> bytes:
        db = self.db
        v = b""
        for k in keys:
            v = db[k]
        return v

    def get(self, k: bytes) -> bytes:
        return self.db[k]

    def __len__(self) -> int:
        return len(self.db)

    def close(self) -> None:
        self.db.close()


class SqliteStore:
    """sqlite3 in WAL mode, synchronous=FULL; each set an INSERT OR REPLACE and a commit.
    The table WITHOUT ROWID: its gets are faster so (5.0 against 6.5 µs here)."""

    SET = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"
    GET = "SELECT v FROM kv WHERE k = ?"

    def __init__(self, directory: str) -> None:
        self.conn = sqlite3.connect(os.path.join(directory, "bench.sqlite"))
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) "
                          "WITHOUT ROWID")
        self.conn.commit()
        mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = self.conn.execute("PRAGMA synchronous").fetchone()[0]
        assert (mode, sync) == ("wal", 2), f"sqlite3 runs with journal {mode}, sync {sync}"
        self.cur = self.conn.cursor()

    def fill(self, items: list[tuple[bytes, bytes]]) -> None:
        self.conn.executemany(self.SET, items)          # one transaction: untimed anyway
        self.conn.commit()

    def set_all(self, items: list[tuple[bytes, bytes]]) -> None:
        execute, commit, sql = self.cur.execute, self.conn.commit, self.SET
        for k, v in items:
            execute(sql, (k, v))
            commit()

    def get_all(self, keys: list[bytes]) -> bytes:
        execute, sql = self.cur.execute, self.GET
        v = b""
        for k in keys:
            v = execute(sql, (k,)).fetchone()[0]
        return v

    def get(self, k: bytes) -> bytes:
        return self.conn.execute(self.GET, (k,)).fetchone()[0]

    def __len__(self) -> int:
        return self.conn.execute("SELECT count(*) FROM kv").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


class DumbStore(KvStore):
    """dbm.dumb: Python's own dbm, a data file written in place and an index kept in memory
    (written at close): no durability per set, a reference point only."""

    def __init__(self, directory: str) -> None:
        self.db = dbm.dumb.open(os.path.join(directory, "bench.dumb"), "n")


STORES: dict[str, Callable[[str], KvStore | SqliteStore]] = {
    "pmalloc.kv": KvStore, "sqlite3": SqliteStore, "dbm.dumb": DumbStore}


def _note(benchmark, group: str, turn, n: int) -> None:
    benchmark.group = group
    benchmark.extra_info.update(who=turn.who, rep=turn.rep, n=n)


# ---- pmalloc.obj: a transaction ------------------------------------------------------------

@pytest.mark.contenders("numpy", "memoryview")
def test_tx_set8(benchmark, turn, place, quick):
    """`with pool.transaction() as tx: tx.add(field); field[0] = i`, the field an 8 B view
    of the root (a numpy array or a memoryview), on a 64 MiB pool."""
    c = counts(quick)
    n = c["tx"]
    with ObjPool.create(os.path.join(place, "tx.obj"), "objpy", 64 << 20) as pool:
        root = pool.root(64)
        views: list[memoryview] = []
        if turn.who == "numpy":
            field = np.frombuffer(root, dtype=np.uint64, count=1)
        else:
            views = [memoryview(root)]
            views.append(views[0].cast("Q"))
            field = views[1][:1]
            views.append(field)

        def run() -> None:
            for i in range(n):
                with pool.transaction() as tx:
                    tx.add(field)
                    field[0] = i

        _note(benchmark, TX_GROUP, turn, n)
        benchmark.pedantic(run, rounds=c["tx_rounds"], warmup_rounds=1)
        assert int(field[0]) == n - 1
        del field
        for v in reversed(views):
            v.release()


# ---- pmalloc.kv against sqlite3 and dbm.dumb -----------------------------------------------

@pytest.mark.contenders(*SYSTEMS)
def test_set(benchmark, turn, place, quick):
    """n sets of new keys into a new empty store, each round a store of its own."""
    c = counts(quick)
    items = pairs(c["set"], seed=1)
    made: list = []

    def fresh():
        while made:                                   # the last round's store: gone
            made.pop().close()
            shutil.rmtree(os.path.join(place, "round"))
        os.mkdir(os.path.join(place, "round"))
        made.append(STORES[turn.who](os.path.join(place, "round")))
        return (made[-1],), {}

    def run(store) -> None:
        store.set_all(items)

    _note(benchmark, SET_GROUP, turn, len(items))
    benchmark.pedantic(run, setup=fresh, rounds=c["set_rounds"], warmup_rounds=1)
    store = made.pop()
    try:
        assert len(store) == len(items)
        for k, v in items[:: len(items) // 50]:
            assert store.get(k) == v, f"{turn.who}: a value set is not there"
    finally:
        store.close()


@pytest.fixture
def filled(turn, place) -> Iterator[KvStore | SqliteStore]:
    """The contender's store of POPULATION keys, made (untimed) for this benchmark."""
    store = STORES[turn.who](place)
    try:
        store.fill(pairs(POPULATION, seed=2))
        assert len(store) == POPULATION
        yield store
    finally:
        store.close()


@pytest.mark.contenders(*SYSTEMS)
def test_get(benchmark, turn, filled, quick):
    """n gets of keys present, in an order of their own (the same for every contender)."""
    c = counts(quick)
    items = pairs(POPULATION, seed=2)
    random.Random(3).shuffle(items)
    keys = [k for k, _ in items[: c["get"]]]
    _note(benchmark, GET_GROUP, turn, len(keys))
    last = benchmark.pedantic(filled.get_all, args=(keys,), rounds=c["get_rounds"],
                              warmup_rounds=1)
    assert last == items[len(keys) - 1][1], f"{turn.who}: get returned a wrong value"
