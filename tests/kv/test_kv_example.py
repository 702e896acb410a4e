"""examples/kv.py, the command-line store over pmalloc.kv, run as a user would: put, get,
list, delete, a missing key (exit 1), usage errors (exit 2)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from conftest import Run, run_command

from .conftest import MiB

EXAMPLE = Path(__file__).parents[2] / "examples" / "kv.py"


def kv_py(store: str, *args: str) -> Run:
    return run_command([sys.executable, str(EXAMPLE), store, *args], timeout=60)


def expect(run: Run, status: int, stdout: str | None = None) -> Run:
    assert run.returncode == status, (f"expected exit status {status}, saw "
                                      f"{run.returncode}\n{run.describe()}")
    if stdout is not None:
        assert run.stdout == stdout, (f"expected stdout {stdout!r}, saw {run.stdout!r}\n"
                                      f"{run.describe()}")
    return run


def test_put_get_list_delete(path):
    expect(kv_py(path, "put", "--size", "16M", "fruit", "apple"), 0, "")
    assert os.path.getsize(path) == 16 * MiB
    expect(kv_py(path, "put", "vegetable", "leek"), 0, "")
    expect(kv_py(path, "put", "clé", "valeur ✓"), 0, "")
    expect(kv_py(path, "put", "empty", ""), 0, "")
    expect(kv_py(path, "get", "fruit"), 0, "apple\n")
    expect(kv_py(path, "get", "clé"), 0, "valeur ✓\n")
    expect(kv_py(path, "get", "empty"), 0, "\n")
    expect(kv_py(path, "put", "fruit", "pear"), 0, "")          # replaced
    expect(kv_py(path, "get", "fruit"), 0, "pear\n")
    expect(kv_py(path, "list"), 0, "clé\nempty\nfruit\nvegetable\n")
    expect(kv_py(path, "list", "--values"), 0,
           "clé\tvaleur ✓\nempty\t\nfruit\tpear\nvegetable\tleek\n")
    expect(kv_py(path, "delete", "vegetable"), 0, "")
    expect(kv_py(path, "list"), 0, "clé\nempty\nfruit\n")
    import pmalloc.kv                                            # the store itself agrees
    with pmalloc.kv.open(path, "r") as db:
        assert dict(db) == {b"fruit": b"pear", b"empty": b"",
                            "clé".encode(): "valeur ✓".encode()}


def test_missing_key_exits_1(path):
    expect(kv_py(path, "put", "a", "1"), 0)
    run = expect(kv_py(path, "get", "b"), 1, "")
    assert "b" in run.stderr, f"expected the message to name the key\n{run.describe()}"
    expect(kv_py(path, "delete", "b"), 1, "")
    expect(kv_py(path, "delete", "a"), 0)
    expect(kv_py(path, "get", "a"), 1, "")
    expect(kv_py(path, "list"), 0, "")


def test_missing_store_exits_1_and_makes_nothing(path):
    for args in (["get", "a"], ["delete", "a"], ["list"]):
        run = expect(kv_py(path, *args), 1, "")
        assert run.stderr.strip(), f"expected a message\n{run.describe()}"
    assert not os.path.exists(path), "a read made a store"


def test_not_a_store_exits_1(path):
    with open(path, "wb") as f:
        f.write(b"\x00not a store" * 100_000)
    for args in (["get", "a"], ["put", "a", "1"], ["list"]):
        run = expect(kv_py(path, *args), 1, "")
        assert run.stderr.strip() and "Traceback" not in run.stderr, (
            f"expected a message, not a traceback\n{run.describe()}")


def test_usage_errors_exit_2(path):
    for args in ([], ["put"], ["put", "only-key"], ["get"], ["frobnicate", "x"],
                 ["get", "a", "b"], ["put", "--size", "lots", "a", "b"]):
        run = run_command([sys.executable, str(EXAMPLE), *([path] if args else []), *args],
                          timeout=60)
        expect(run, 2, "")
        assert "usage" in run.stderr, f"expected a usage message\n{run.describe()}"
    assert not os.path.exists(path)
