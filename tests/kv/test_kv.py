"""pmalloc.kv, the dbm-style key/value store (issue 13): a MutableMapping of bytes checked
against a dict model; dbm's flags; str keys and values; the errors of bad types, missing
keys, iteration under change, read-only and closed stores; 0-byte to 16 MiB values; growth
and shrinking of the table; reuse of the pool's space; a full store; files that are not
stores; the file lock."""
from __future__ import annotations

import collections.abc
import os
import shutil

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import pmalloc.kv as kv
from pmalloc import errors
from pmalloc.errors import OutOfMemoryError, PoolClosedError, PoolError

from .conftest import MiB, blob, new_dir

SIZE = 32 * MiB


def as_bytes(x: bytes | bytearray | memoryview | str) -> bytes:
    """What the store keeps for a key or value given as x."""
    return x.encode() if isinstance(x, str) else bytes(x)


def same_content(db: collections.abc.Mapping, want: dict[bytes, bytes], what: str) -> None:
    """db holds exactly want: every key and value, and its length; says what differs."""
    assert len(db) == len(want), f"{what}: expected {len(want)} keys, saw len {len(db)}"
    keys = list(db)
    assert len(keys) == len(set(keys)), f"{what}: iteration gave a key twice"
    assert set(keys) == set(want), (
        f"{what}: keys missing {sorted(set(want) - set(keys))[:5]}, "
        f"unexpected {sorted(set(keys) - set(want))[:5]}")
    for k, v in want.items():
        got = db[k]
        assert got == v, (f"{what}: key {k!r}: expected {len(v)} bytes {v[:16]!r}..., saw "
                          f"{len(got)} bytes {got[:16]!r}...")


# ---- the mapping against a dict --------------------------------------------------------------

KEYS = st.one_of(st.sampled_from([b"", b"a", b"b", b"key", b"\x00", b"\xff" * 9, "k\u00e9"]),
                 st.binary(max_size=24), st.text(max_size=6))
VALUES = st.one_of(st.binary(max_size=300), st.text(max_size=20),
                   st.integers(0, 200_000).map(lambda n: bytes([n % 251]) * n))
TYPES = st.sampled_from([bytes, bytearray, memoryview])


class StoreAgainstDict(RuleBasedStateMachine):
    """Every step on the store and on a dict; the two must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = new_dir()
        self.path = os.path.join(self.dir, "model.kv")
        self.db = kv.open(self.path, "n", size=SIZE)
        self.model: dict[bytes, bytes] = {}

    def teardown(self) -> None:
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _typed(x: bytes | str, kind: type) -> object:
        return x if isinstance(x, str) else kind(x)

    @rule(key=KEYS, value=VALUES, kind=TYPES)
    def set(self, key, value, kind) -> None:
        self.db[self._typed(key, kind)] = self._typed(value, kind)
        self.model[as_bytes(key)] = as_bytes(value)

    @rule(key=KEYS)
    def get(self, key) -> None:
        k = as_bytes(key)
        if k in self.model:
            got = self.db[key]
            assert type(got) is bytes and got == self.model[k]
        else:
            with pytest.raises(KeyError):
                self.db[key]
        assert self.db.get(key, None) == self.model.get(k)

    @rule(key=KEYS)
    def delete(self, key) -> None:
        k = as_bytes(key)
        if k in self.model:
            del self.db[key]
            del self.model[k]
        else:
            with pytest.raises(KeyError):
                del self.db[key]

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete_present(self, data) -> None:
        k = data.draw(st.sampled_from(sorted(self.model)))
        del self.db[k]
        del self.model[k]

    @rule(n=st.integers(1, 400), seed=st.integers(0, 3))
    def set_many(self, n, seed) -> None:
        """Enough keys at once for the table to grow."""
        for i in range(n):
            k, v = b"many-%d-%d" % (seed, i), b"%d" % (i * seed)
            self.db[k] = v
            self.model[k] = v

    @rule(keep=st.integers(0, 5))
    def delete_most(self, keep) -> None:
        """All but a few keys: the table shrinks."""
        for k in sorted(self.model)[keep:]:
            del self.db[k]
            del self.model[k]

    @rule(key=KEYS)
    def contains(self, key) -> None:
        assert (key in self.db) == (as_bytes(key) in self.model)

    @rule(key=KEYS, default=st.binary(max_size=4))
    def pop(self, key, default) -> None:
        assert self.db.pop(key, default) == self.model.pop(as_bytes(key), default)

    @rule(key=KEYS, value=st.binary(max_size=40))
    def setdefault(self, key, value) -> None:
        assert self.db.setdefault(key, value) == self.model.setdefault(as_bytes(key), value)

    @rule()
    def iterate(self) -> None:
        keys = list(self.db)
        assert all(type(k) is bytes for k in keys)
        assert sorted(keys) == sorted(self.model)
        assert dict(self.db.items()) == self.model
        assert sorted(self.db.values()) == sorted(self.model.values())

    @rule(flag=st.sampled_from(["w", "c"]))
    def reopen(self, flag) -> None:
        self.db.close()
        self.db = kv.open(self.path, flag)

    @invariant()
    def length(self) -> None:
        assert len(self.db) == len(self.model)


StoreAgainstDict.TestCase.settings = settings(
    max_examples=60, stateful_step_count=50, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestStoreAgainstDict = StoreAgainstDict.TestCase


def test_mapping_methods(path):
    with kv.open(path, "c", size=SIZE) as db:
        assert isinstance(db, collections.abc.MutableMapping)
        db.update({b"a": b"1", "b": "2"}, c=b"3")
        db.update([(b"d", b"4")])
        assert dict(db) == {b"a": b"1", b"b": b"2", b"c": b"3", b"d": b"4"}
        assert sorted(db.keys()) == [b"a", b"b", b"c", b"d"]
        assert sorted(db.values()) == [b"1", b"2", b"3", b"4"]
        assert (b"a", b"1") in db.items() and b"z" not in db.keys()
        assert db.get(b"z") is None and db.get(b"z", b"-") == b"-" and db.get("a") == b"1"
        assert db.setdefault(b"a", b"x") == b"1" and db.setdefault(b"e", b"5") == b"5"
        assert db.pop(b"e") == b"5" and db.pop(b"e", None) is None
        k, v = db.popitem()
        assert k not in db and len(db) == 3
        db.sync()                                   # a no-op that works
        db.clear()
        assert len(db) == 0 and list(db) == [] and not db.closed


def test_str_keys_and_values_are_utf8(path):
    with kv.open(path, "c", size=SIZE) as db:
        db["ключ"] = "значение ✓"
        db[bytearray(b"ba")] = bytearray(b"\x00\x01")
        db[memoryview(b"mv")] = memoryview(b"view")[1:3]
        assert db["ключ".encode()] == "значение ✓".encode()
        assert "ключ" in db and db["ключ"] == "значение ✓".encode()
        assert db[b"ba"] == b"\x00\x01" and db["mv"] == b"ie"
        assert sorted(db) == sorted([b"ba", b"mv", "ключ".encode()])
        assert all(type(k) is bytes for k in db) and all(type(v) is bytes for v in db.values())
        del db["ключ"]
        assert "ключ".encode() not in db


BAD = [1, 1.5, None, [b"a"], (b"a",), {b"a": 1}, object()]


@pytest.mark.parametrize("bad", BAD, ids=lambda b: type(b).__name__)
def test_other_types_raise_type_error(path, bad):
    with kv.open(path, "c", size=SIZE) as db:
        db[b"k"] = b"v"
        for what, call in [("db[bad]", lambda: db[bad]),
                           ("db[bad] = v", lambda: db.__setitem__(bad, b"v")),
                           ("db[k] = bad", lambda: db.__setitem__(b"k", bad)),
                           ("db[new] = bad", lambda: db.__setitem__(b"new", bad)),
                           ("del db[bad]", lambda: db.__delitem__(bad)),
                           ("db.get(bad)", lambda: db.get(bad))]:
            with pytest.raises(TypeError):
                call()
                pytest.fail(f"{what} with {bad!r}: expected TypeError, saw none")
        assert dict(db) == {b"k": b"v"}


@pytest.mark.parametrize("bad", BAD, ids=lambda b: type(b).__name__)
def test_contains_other_types_raises_type_error(path, bad):
    """The spec: a key of any type but bytes-like or str is a TypeError, `in` included (as
    dbm.gnu and dbm.ndbm do; a dict or dbm.dumb would say False)."""
    with kv.open(path, "c", size=SIZE) as db:
        db[b"k"] = b"v"
        with pytest.raises(TypeError):
            seen = bad in db
            pytest.fail(f"{bad!r} in db: expected TypeError, saw {seen!r}")


def test_missing_keys_raise_key_error(path):
    with kv.open(path, "c", size=SIZE) as db:
        db[b"there"] = b"1"
        with pytest.raises(KeyError):
            db[b"missing"]
        with pytest.raises(KeyError):
            db["missing"]
        with pytest.raises(KeyError):
            del db[b"missing"]
        with pytest.raises(KeyError):
            db.pop(b"missing")
        del db[b"there"]
        with pytest.raises(KeyError):
            db[b"there"]
        with pytest.raises(KeyError):
            db.popitem()                             # empty


def test_empty_key_and_empty_values(path):
    with kv.open(path, "c", size=SIZE) as db:
        db[b""] = b""
        db[b"zero"] = b""
        db[b"one"] = b"1"
        db[b"one"] = b""                             # overwritten by nothing
        assert db[b""] == b"" and b"" in db and "" in db and len(db) == 3
    with kv.open(path, "r") as db:
        assert dict(db) == {b"": b"", b"zero": b"", b"one": b""}
    with kv.open(path, "w") as db:
        del db[""]
        assert b"" not in db and len(db) == 2


def test_16_mib_values(path):
    big, other = blob("big", 16 * MiB), blob("other", 16 * MiB + 1)
    with kv.open(path, "c", size=128 * MiB) as db:
        db[b"big"] = big
        db[b"small"] = b"s"
        assert db[b"big"] == big
    with kv.open(path, "w") as db:
        assert db[b"big"] == big and db[b"small"] == b"s"
        db[b"big"] = other                            # replaced by another of 16 MiB + 1
        db[b"big2"] = big
    with kv.open(path, "r") as db:
        same_content(db, {b"big": other, b"big2": big, b"small": b"s"}, "after reopen")


def test_grows_to_100k_keys_then_shrinks(path):
    n = 100_000
    want = {b"key-%d" % i: b"value-%d" % (i * 7) for i in range(n)}
    with kv.open(path, "c", size=128 * MiB) as db:
        for k, v in want.items():
            db[k] = v
        assert len(db) == n
    with kv.open(path, "w") as db:
        same_content(db, want, "100k keys after reopen")
        for i in range(n):
            if i % 50:
                del db[b"key-%d" % i]
                del want[b"key-%d" % i]
        same_content(db, want, "after deleting 98 %")
    with kv.open(path, "w") as db:
        same_content(db, want, "the 2 % left, after reopen")
        for i in range(0, n, 3):                       # grows again over what is left
            db[b"again-%d" % i] = b"%d" % i
            want[b"again-%d" % i] = b"%d" % i
    with kv.open(path, "r") as db:
        same_content(db, want, "grown again, after reopen")


def test_space_is_reused_after_deletes(path):
    """200 MiB set and deleted through a 32 MiB store, then as overwrites of one key."""
    with kv.open(path, "c", size=32 * MiB) as db:
        db[b"kept"] = b"kept"
        for i in range(200):
            value = blob(i, MiB)
            db[b"k%d" % i] = value
            assert db[b"k%d" % i] == value
            del db[b"k%d" % i]
        for i in range(200):
            db[b"same"] = blob(i, MiB + i)
        assert db[b"same"] == blob(199, MiB + 199) and len(db) == 2
    with kv.open(path, "r") as db:
        same_content(db, {b"kept": b"kept", b"same": blob(199, MiB + 199)}, "after reopen")


def _fill(db, want: dict[bytes, bytes], prefix: bytes, size: int, limit: int) -> bytes:
    """Set new keys of size-byte values until MemoryError; the key that failed."""
    for i in range(limit):
        key = prefix + b"%d" % i
        value = blob(key, size)
        try:
            db[key] = value
        except MemoryError as e:
            assert isinstance(e, OutOfMemoryError), f"expected OutOfMemoryError, saw {e!r}"
            return key
        want[key] = value
    pytest.fail(f"expected MemoryError within {limit} values of {size} bytes; saw none")


def test_full_store_raises_memory_error_and_keeps_working(path):
    want: dict[bytes, bytes] = {}
    with kv.open(path, "c", size=16 * MiB) as db:
        with pytest.raises(MemoryError):
            db[b"huge"] = bytes(32 * MiB)               # more than the pool
        assert b"huge" not in db and len(db) == 0
        failed = _fill(db, want, b"big-", 64 << 10, 1000)
        assert failed not in db, "the set that failed left its key"
        some = next(iter(want))
        with pytest.raises(MemoryError):
            db[some] = bytes(8 * MiB)                    # an overwrite that does not fit
        same_content(db, want, "after MemoryError")
        for k in list(want)[:20]:                        # space freed is usable again
            del db[k]
            del want[k]
        for i in range(10):
            db[b"after-%d" % i] = blob(i, 64 << 10)
            want[b"after-%d" % i] = blob(i, 64 << 10)
        db[b"small"] = b"fits"
        want[b"small"] = b"fits"
    with kv.open(path, "r") as db:
        same_content(db, want, "full store after reopen")


@pytest.mark.slow
def test_full_of_small_keys(path):
    """Filled with small values (the table grows into the last of the space)."""
    want: dict[bytes, bytes] = {}
    with kv.open(path, "c", size=16 * MiB) as db:
        failed = _fill(db, want, b"s", 100, 2_000_000)
        assert failed not in db
        same_content(db, want, "after MemoryError")
        for k in list(want)[: len(want) // 2]:
            del db[k]
            del want[k]
        _fill(db, want, b"t", 100, 2_000_000)
    with kv.open(path, "w") as db:
        same_content(db, want, "full of small keys after reopen")
        gone = next(iter(want))
        del db[gone]
        db[b"one more"] = b"fits"
        assert db[b"one more"] == b"fits" and gone not in db


# ---- iteration under change ---------------------------------------------------------------

@pytest.mark.parametrize("change", ["set new key", "delete key", "delete current key"])
def test_change_while_iterating_raises_runtime_error(path, change):
    with kv.open(path, "c", size=SIZE) as db:
        for i in range(100):
            db[b"%d" % i] = b"v"
        it = iter(db)
        current = next(it)
        next(it)
        if change == "set new key":
            db[b"new"] = b"v"
        elif change == "delete key":
            del db[b"99" if current != b"99" else b"98"]
        else:
            del db[current]
        with pytest.raises(RuntimeError):
            next(it)
        keys = db.keys()                                 # a fresh iteration works
        assert len(list(keys)) == len(db)
        items = iter(db.items())
        next(items)
        db[b"another"] = b"v"
        with pytest.raises(RuntimeError):
            next(items)


# ---- flags ------------------------------------------------------------------------------

def test_flag_c_creates_then_opens(path):
    with kv.open(path, "c", size=16 * MiB) as db:
        db[b"a"] = b"1"
    assert os.path.getsize(path) == 16 * MiB
    with kv.open(path, "c", size=32 * MiB) as db:      # existing: opened, size ignored
        assert dict(db) == {b"a": b"1"}
        db[b"b"] = b"2"
    assert os.path.getsize(path) == 16 * MiB
    with kv.open(path) as db:                           # "c" is the default
        assert dict(db) == {b"a": b"1", b"b": b"2"}


def test_default_size_and_mode(path, pool_dir):
    with kv.open(path) as db:
        db[b"a"] = b"1"
    assert os.path.getsize(path) == kv.DEFAULT_SIZE
    mine = os.path.join(pool_dir, "mode.kv")
    mask = os.umask(0o022)
    try:
        kv.open(mine, "c", mode=0o640, size=16 * MiB).close()
    finally:
        os.umask(mask)
    assert os.stat(mine).st_mode & 0o777 == 0o640 & ~0o022


def test_flag_n_always_makes_a_new_empty_store(path):
    with kv.open(path, "n", size=16 * MiB) as db:      # missing: made
        db[b"a"] = b"1"
    with kv.open(path, "n", size=16 * MiB) as db:      # existing: replaced, empty
        assert len(db) == 0 and b"a" not in db
        db[b"b"] = b"2"
    with kv.open(path, "r") as db:
        assert dict(db) == {b"b": b"2"}
    with open(path, "wb") as f:                         # not a store: replaced too
        f.write(b"not a store" * 1000)
    with kv.open(path, "n", size=16 * MiB) as db:
        assert len(db) == 0
        db[b"c"] = b"3"
    with kv.open(path, "w") as db:
        assert dict(db) == {b"c": b"3"}


def test_flag_w_opens_existing_only(path):
    with pytest.raises(FileNotFoundError):
        kv.open(path, "w")
    assert not os.path.exists(path), "a failed open 'w' left a file"
    kv.open(path, "c", size=16 * MiB).close()
    with kv.open(path, "w") as db:
        db[b"a"] = b"1"
    with kv.open(path, "w") as db:
        assert dict(db) == {b"a": b"1"}


def test_flag_r_opens_existing_read_only(path):
    with pytest.raises(FileNotFoundError):
        kv.open(path, "r")
    assert not os.path.exists(path), "a failed open 'r' left a file"
    with kv.open(path, "c", size=16 * MiB) as db:
        db.update({b"a": b"1", b"b": b"2"})
    with kv.open(path, "r") as db:
        assert dict(db) == {b"a": b"1", b"b": b"2"} and db.get(b"z") is None
        assert db.setdefault(b"a", b"x") == b"1"         # present: only a read
        db.sync()
        for what, call in [("db[k] = v (new)", lambda: db.__setitem__(b"c", b"3")),
                           ("db[k] = v (existing)", lambda: db.__setitem__(b"a", b"9")),
                           ("del db[k]", lambda: db.__delitem__(b"a")),
                           ("pop", lambda: db.pop(b"b")),
                           ("popitem", lambda: db.popitem()),
                           ("update", lambda: db.update({b"d": b"4"})),
                           ("setdefault (new)", lambda: db.setdefault(b"e", b"5")),
                           ("clear", lambda: db.clear())]:
            with pytest.raises(errors.ReadOnlyError) as info:
                call()
                pytest.fail(f"{what} on a read-only store: expected ReadOnlyError, saw none")
            assert isinstance(info.value, PoolError)
        assert dict(db) == {b"a": b"1", b"b": b"2"}
    with kv.open(path, "w") as db:
        assert dict(db) == {b"a": b"1", b"b": b"2"}


@pytest.mark.parametrize("flag", ["", "x", "a", "rw", "R", "C", "cw", "r+"])
def test_other_flags_raise_value_error(path, flag):
    with pytest.raises(ValueError):
        kv.open(path, flag, size=16 * MiB)
    assert not os.path.exists(path), f"open with flag {flag!r} left a file"


# ---- files that are not stores ----------------------------------------------------------

def _refused(path: str, flag: str, why: str) -> None:
    """Opening path with flag raises PoolError with a message; the file is left as it was."""
    before = open(path, "rb").read()
    with pytest.raises(PoolError) as info:
        kv.open(path, flag).close()
        pytest.fail(f"{why}, opened with {flag!r}: expected PoolError, saw the store open")
    assert str(info.value).strip(), f"{why}: expected a message saying why, saw none"
    after = open(path, "rb").read()
    assert after == before, f"{why}: the refused file changed"


@pytest.mark.parametrize("flag", ["r", "w", "c"])
def test_files_that_are_not_stores_are_refused(path, pool_dir, flag):
    import pmalloc.log
    import pmalloc.obj
    with open(path, "wb") as f:
        f.write(blob("junk", 16 * MiB))
    _refused(path, flag, "random bytes")
    os.unlink(path)
    pmalloc.obj.ObjPool.create(path, "other", 8 << 20).close()
    _refused(path, flag, "an object pool of another layout")
    os.unlink(path)
    pmalloc.obj.ObjPool.create(path, None, 8 << 20).close()
    _refused(path, flag, "an object pool without a layout")
    os.unlink(path)
    pmalloc.log.Log.create(path, 16 * MiB).close()
    _refused(path, flag, "a log pool")


@pytest.mark.parametrize("flag", ["r", "w"])
def test_empty_file_is_refused(path, flag):
    """An empty file is there, and it is not a store: "r" and "w" open only stores."""
    with open(path, "wb"):
        pass
    _refused(path, flag, "an empty file")


def test_empty_file_becomes_a_store_with_c(path):
    """"c" makes a store of an empty file, as gdbm does (a file from mkstemp, say)."""
    with open(path, "wb"):
        pass
    with kv.open(path, "c", size=16 * MiB) as db:
        db[b"k"] = b"v"
    with kv.open(path, "r") as db:
        assert dict(db.items()) == {b"k": b"v"}


def _good_store(path: str) -> dict[bytes, bytes]:
    want = {b"k%d" % i: blob(i, 100 + i) for i in range(500)}
    with kv.open(path, "n", size=16 * MiB) as db:
        db.update(want)
    return want


@pytest.mark.parametrize("cut", ["half", "one page", "one page short", "one byte short"])
def test_truncated_store_is_refused(path, cut):
    _good_store(path)
    size = os.path.getsize(path)
    keep = {"half": size // 2, "one page": 4096, "one page short": size - 4096,
            "one byte short": size - 1}[cut]
    os.truncate(path, keep)
    for flag in ("r", "w", "c"):
        _refused(path, flag, f"a store truncated to {keep} bytes")


@pytest.mark.parametrize("offset", [0, 3, 7, 8, 12, 16, 40, 64, 100, 200])
def test_corrupt_header_is_refused(path, offset):
    _good_store(path)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x5A]))
    for flag in ("r", "w", "c"):
        _refused(path, flag, f"a store with byte {offset} of its header changed")


def test_missing_directory(pool_dir):
    path = os.path.join(pool_dir, "no such dir", "store.kv")
    for flag in ("r", "w", "c", "n"):
        with pytest.raises(FileNotFoundError):
            kv.open(path, flag, size=16 * MiB)


# ---- the lock ---------------------------------------------------------------------------

@pytest.mark.parametrize("theirs", ["w", "c"])
def test_store_open_for_writing_elsewhere_is_locked(path, held, theirs):
    want = _good_store(path)
    with held(path, theirs):
        for flag in ("r", "w", "c"):
            with pytest.raises(BlockingIOError):
                kv.open(path, flag).close()
                pytest.fail(f"open {flag!r} while another process has it open {theirs!r}: "
                            "expected BlockingIOError, saw the store open")
    with kv.open(path, "w") as db:                      # released when the other closed
        same_content(db, want, "after the other process closed it")


def test_flag_n_on_a_locked_store_raises_and_keeps_it(path, held):
    want = _good_store(path)
    with held(path, "w"):
        with pytest.raises(BlockingIOError):
            kv.open(path, "n", size=16 * MiB).close()
    with kv.open(path, "r") as db:
        same_content(db, want, "after a refused open 'n'")


def test_readers_share_writers_do_not(path, held):
    want = _good_store(path)
    with held(path, "r"):
        with kv.open(path, "r") as db:
            same_content(db, want, "read while another process reads")
        for flag in ("w", "c"):
            with pytest.raises(BlockingIOError):
                kv.open(path, flag).close()
                pytest.fail(f"open {flag!r} while another process reads: expected "
                            "BlockingIOError, saw the store open")


def test_store_open_for_writing_in_this_process_is_locked(path):
    _good_store(path)
    first = kv.open(path, "w")
    try:
        for flag in ("r", "w", "c"):
            with pytest.raises(BlockingIOError):
                kv.open(path, flag).close()
        first[b"still"] = b"works"
    finally:
        first.close()
    with kv.open(path, "r") as reader:
        with pytest.raises(BlockingIOError):
            kv.open(path, "w").close()
        assert reader[b"still"] == b"works"
    kv.open(path, "w").close()


def test_readers_share_in_this_process_too(path):
    _good_store(path)
    a = kv.open(path, "r")
    try:
        with kv.open(path, "r") as b:
            assert a[b"k1"] == b[b"k1"] == blob(1, 101)
    finally:
        a.close()


# ---- close ------------------------------------------------------------------------------

def test_use_after_close_raises_pool_closed_error(path):
    db = kv.open(path, "c", size=16 * MiB)
    db[b"a"] = b"1"
    db[b"b"] = b"2"
    it = iter(db)
    next(it)
    assert not db.closed
    db.close()
    assert db.closed
    db.close()                                         # twice: fine
    calls = [("db[k]", lambda: db[b"a"]), ("db[k] = v", lambda: db.__setitem__(b"c", b"3")),
             ("del db[k]", lambda: db.__delitem__(b"a")), ("k in db", lambda: b"a" in db),
             ("len(db)", lambda: len(db)), ("iter(db)", lambda: list(db)),
             ("next of an iterator", lambda: next(it)), ("keys", lambda: list(db.keys())),
             ("get", lambda: db.get(b"a")), ("pop", lambda: db.pop(b"a")),
             ("update", lambda: db.update({b"x": b"y"})), ("sync", lambda: db.sync()),
             ("with", lambda: db.__enter__())]
    for what, call in calls:
        with pytest.raises(PoolClosedError) as info:
            call()
            pytest.fail(f"{what} after close: expected PoolClosedError, saw none")
        assert isinstance(info.value, ValueError)
    with kv.open(path, "r") as again:
        assert dict(again) == {b"a": b"1", b"b": b"2"}


def test_context_manager_closes(path):
    with kv.open(path, "c", size=16 * MiB) as db:
        assert not db.closed
        db[b"a"] = b"1"
    assert db.closed
    with pytest.raises(ZeroDivisionError):
        with kv.open(path, "w") as db:
            db[b"b"] = b"2"
            1 / 0
    assert db.closed
    with kv.open(path, "w") as db:                     # closed, so not locked
        assert dict(db) == {b"a": b"1", b"b": b"2"}
