"""Unmodified real programs under the shim, each compared with a run without it.

- CPython running its own regression tests (test_dict ... test_gc) in one invocation;
- the sqlite3 CLI running tests/shim/workload.sql: byte-identical output;
- gcc -O2 -c of a generated 3.5k-line C file: a byte-identical object file;
- CPython holding 100 MiB: PMALLOC_STATS counts it; CPython past a 64 MiB pool:
  a MemoryError it can catch, no crash.
Children (cc1, as, regrtest's subprocesses) inherit LD_PRELOAD: they run under the
shim as well, each with a pool of its own.
"""
from __future__ import annotations

import filecmp
import shutil
import sys

import pytest

from shim_support import (SHIM_DIR, MiB, cpython_with_tests, needs_preload, plain_env,
                          pmalloc_cli, run, shim_env, startup_imports_threading, stats_lines,
                          stats_of)

pytestmark = needs_preload

CPYTHON_TESTS = ["test_dict", "test_list", "test_set", "test_bytes", "test_json", "test_re",
                 "test_threading", "test_weakref", "test_gc"]

# Before regrtest starts: the interpreter's heap must already be in a pool file.
_CHECK_POOL_THEN_REGRTEST = """\
import runpy, sys
pool_dir = sys.argv[1]
fields = [ln.split(maxsplit=5) for ln in open('/proc/self/maps')]
lines = [f for f in fields if len(f) == 6 and f[5].startswith(pool_dir.rstrip('/') + '/')]
print('pool mappings:', len(lines), flush=True)
if not lines:
    sys.exit('expected the interpreter heap in a pool file under ' + pool_dir)
sys.argv = ['python -m test'] + sys.argv[2:]
runpy.run_module('test', run_name='__main__', alter_sys=True)
"""


@pytest.fixture(scope="module")
def cpython():
    python = cpython_with_tests()
    if python is None:
        pytest.skip("no CPython binary with its regression tests (test.test_dict): install "
                    f"libpython{sys.version_info.major}.{sys.version_info.minor}-testsuite")
    return python


def _regrtest_totals(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("Total tests:")]
    return lines[-1] if lines else ""


def test_cpython_regression_tests(cpython, pool_dir):
    args = ["-m", "test", *CPYTHON_TESTS]
    if startup_imports_threading(cpython):
        # a site .pth imports threading at start-up here: this one test fails with or
        # without the shim (it asserts threading is not imported yet)
        args += ["-i", "test_import_from_another_thread"]
    base = run([cpython, *args], env=plain_env(), timeout=300)
    assert base.returncode == 0 and "Result: SUCCESS" in base.stdout, (
        f"expected CPython's tests to pass without the shim first\n{base.describe()}")
    shim = run([cpython, "-c", _CHECK_POOL_THEN_REGRTEST, pool_dir, *args[2:]],
               env=shim_env(PMALLOC_POOL_DIR=pool_dir), timeout=300)
    assert shim.returncode == 0 and "Result: SUCCESS" in shim.stdout, (
        f"expected CPython's tests to pass under the shim\n{shim.describe()}")
    assert "pool mappings: 0" not in shim.stdout
    assert _regrtest_totals(shim.stdout) == _regrtest_totals(base.stdout), (
        f"expected the same tests to run: without the shim "
        f"{_regrtest_totals(base.stdout)!r}, under it {_regrtest_totals(shim.stdout)!r}")


@pytest.fixture(scope="module")
def sqlite3_cli():
    path = shutil.which("sqlite3")
    if path is None:
        pytest.fail("the sqlite3 CLI is missing (test.sh installs Debian's sqlite3)")
    return path


def test_sqlite3_output_identical(sqlite3_cli, pool_dir):
    script = (SHIM_DIR / "workload.sql").read_bytes()
    base = run([sqlite3_cli], env=plain_env(), stdin=script, timeout=120).expect(0)
    assert base.stdout.splitlines()[-1] == "ok", base.describe()   # integrity_check
    shim = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--stats", "--", sqlite3_cli],
               env=plain_env(), stdin=script, timeout=120).expect(0)
    assert shim.stdout_bytes == base.stdout_bytes, (
        "expected sqlite3's output under the shim to be byte-identical to the run without it"
        f"\n--- without ---\n{base.stdout}\n--- with ---\n{shim.stdout}")
    st = stats_of(shim.stderr)
    assert st["dir"] == pool_dir and st["nmalloc"] > 10000, st


def test_gcc_object_identical(tmp_path, pool_dir):
    if shutil.which("gcc") is None:
        pytest.fail("gcc is missing")
    src = tmp_path / "gen.c"
    run([sys.executable, SHIM_DIR / "gen_c.py", src, "3500"], env=plain_env()).expect(0)
    assert 3400 <= len(src.read_text().splitlines()) <= 3700
    # the same source path and output name in both runs: only the heap differs
    for name in ("plain", "shim"):
        (tmp_path / name).mkdir()
        shutil.copy(src, tmp_path / name / "gen.c")
    run(["gcc", "-O2", "-c", "gen.c", "-o", "gen.o"], env=plain_env(), cwd=str(tmp_path / "plain"),
        timeout=180).expect(0)
    shim = run(["gcc", "-O2", "-c", "gen.c", "-o", "gen.o"], cwd=str(tmp_path / "shim"),
               env=shim_env(PMALLOC_POOL_DIR=pool_dir, PMALLOC_STATS="1"), timeout=180)
    shim.expect(0)
    a, b = tmp_path / "plain" / "gen.o", tmp_path / "shim" / "gen.o"
    assert filecmp.cmp(a, b, shallow=False), (
        f"expected byte-identical objects: {a.stat().st_size} bytes without the shim, "
        f"{b.stat().st_size} with")
    # gcc, cc1 and as each ran with a pool of its own; cc1 is the one that allocates
    lines = stats_lines(shim.stderr)
    assert len(lines) >= 3 and max(s["nmalloc"] for s in lines) > 10000, shim.describe()


def test_python_heap_counted_by_stats(cpython, pool_dir):
    # one extra reference that is never dropped: the bytearray outlives finalization,
    # so it is still allocated when the shim reports at exit
    code = ("import ctypes\nb = bytearray(100 << 20)\nb[::4096] = b'x' * len(b[::4096])\n"
            "ctypes.pythonapi.Py_IncRef(ctypes.py_object(b))\nprint(len(b))\n")
    base = run([cpython, "-c", code], env=plain_env()).expect(0)
    assert "pmalloc" not in base.stderr
    r = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--stats", "--", cpython, "-c",
             code], env=plain_env()).expect(0)
    assert r.stdout == base.stdout == f"{100 << 20}\n"
    st = stats_of(r.stderr)
    assert st["allocated"] >= 100 * MiB, (
        f"expected the 100 MiB bytearray counted: allocated >= {100 * MiB}, saw "
        f"{st['allocated']}\n{r.describe()}")


def test_python_memory_error_past_the_pool(cpython, pool_dir):
    """512 MiB in a 64 MiB pool: a MemoryError Python catches, then it goes on."""
    code = ("try:\n    b = bytearray(512 << 20)\n    print('allocated', len(b))\n"
            "except MemoryError:\n    print('MemoryError')\n"
            "x = [str(i) * 3 for i in range(200000)]\nprint(len(x))\n")
    base = run([cpython, "-c", code], env=plain_env()).expect(0)
    assert base.stdout == f"allocated {512 << 20}\n200000\n", base.describe()
    r = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--pool-size", "64M", "--",
             cpython, "-c", code], env=plain_env()).expect(0)
    assert r.stdout == "MemoryError\n200000\n", r.describe()
    uncaught = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--pool-size", "64M", "--",
                    cpython, "-c", "bytearray(512 << 20)"], env=plain_env())
    uncaught.expect(1)
    assert "MemoryError" in uncaught.stderr, uncaught.describe()
