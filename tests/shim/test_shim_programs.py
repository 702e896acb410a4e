"""Unmodified real programs under the shim, each compared with a run without it.

- CPython running its own regression tests (CPYTHON_TESTS), case by case: every case
  that passes without the shim passes under it;
- the sqlite3 CLI running tests/shim/workload.sql: byte-identical output;
- gcc -O2 -c of a generated 3.5k-line C file: a byte-identical object file;
- CPython holding 100 MiB: PMALLOC_STATS counts it; CPython past a 64 MiB pool:
  a MemoryError it can catch, no crash.
Children (cc1, as, the subprocesses of CPython's tests) inherit LD_PRELOAD: they run
under the shim as well, each with a pool of its own. What fails without the shim too
is reported (a Reported warning), not failed: the host's programs are not taken as flawless.
"""
from __future__ import annotations

import filecmp
import itertools
import shutil
import sys

import pytest

from shim_support import (SHIM_DIR, MiB, Cases, cpython_with_tests, expect_output_as_without,
                          needs_preload, plain_env, pmalloc_cli, report, run,
                          run_cpython_cases, shim_env, stats_lines, stats_of)

pytestmark = [needs_preload, pytest.mark.slow]

# CPython's test modules run without the shim and under it; add a module here.
CPYTHON_TESTS = ("test_dict", "test_list", "test_set", "test_bytes", "test_json", "test_re",
                 "test_threading", "test_weakref", "test_gc", "test_subprocess")

# Modules whose differences under the shim are reported, not failed: module -> why.
EXPECTED_TO_DIFFER: dict[str, str] = {}

# A case that passed without the shim but not under it runs again, alone, both ways, up
# to RERUNS times: a difference is real when it never passes under the shim again but
# does without. Past MAX_RERUN such cases the difference is broad, not timing: no rerun.
RERUNS = 3
MAX_RERUN = 25

FAILING = ("failed", "error", "unexpected success", "died")


@pytest.fixture(scope="module")
def cpython():
    python = cpython_with_tests()
    if python is None:
        pytest.skip("no CPython binary with its regression tests (test.test_dict): install "
                    f"libpython{sys.version_info.major}.{sys.version_info.minor}-testsuite")
    return python


def _module(case: dict[str, str]) -> str:
    """The test module a case belongs to: test.test_json.test_decode.X.y -> test_json."""
    parts = case["rerun"].split(".")
    return parts[1] if parts[0] == "test" and len(parts) > 1 else parts[0]


def _rerun(cases, suspects: dict[str, dict[str, str]]):
    """Run the suspects again (cases(names, shim) runs them), under the shim and, while
    they fail there, without it, up to RERUNS times.
    (passed again under the shim, {id: last run under the shim} never passing there,
    ids that passed alone without the shim at least once)"""
    still = {case: (suspect, None) for case, suspect in suspects.items()}
    passed_again, plain_ok = [], set()
    for _ in range(RERUNS):
        if not still:
            break
        names = list(dict.fromkeys(suspects[case]["rerun"] for case in still))
        again: Cases = cases(names, shim=True)
        for case in list(still):
            if again.outcome(case) == "passed":
                passed_again.append(case)
                del still[case]
            else:
                still[case] = (again.cases.get(case) or {"outcome": "not run", "detail": ""},
                               again)
        unsure = [case for case in still if case not in plain_ok]
        if unsure:
            alone = cases(list(dict.fromkeys(suspects[c]["rerun"] for c in unsure)), shim=False)
            plain_ok.update(c for c in unsure if alone.outcome(c) == "passed")
    return passed_again, still, plain_ok


def test_cpython_regression_tests(cpython, pool_dir, tmp_path):
    """Each case of CPYTHON_TESTS that passes without the shim passes under it."""
    counter = itertools.count()

    def cases(names, shim: bool) -> Cases:
        label = f"{'shim' if shim else 'plain'}-{next(counter)}"
        env = shim_env(PMALLOC_POOL_DIR=pool_dir) if shim else plain_env()
        return run_cpython_cases(cpython, names, env, tmp_path / label,
                                 in_pool=pool_dir if shim else None)

    plain = cases(CPYTHON_TESTS, shim=False)
    passed = {case: c for case, c in plain.cases.items() if c["outcome"] == "passed"}
    assert passed, f"expected CPython's test cases to run without the shim\n" \
        f"{plain.run.describe()}"
    host = sorted(f"{case}: {c['outcome']}" for case, c in plain.cases.items()
                  if c["outcome"] in FAILING)
    if host:
        report(f"{len(host)} of CPython's test cases fail without the shim too; left "
                    "out of the comparison:\n" + "\n".join(host))
    shim = cases(CPYTHON_TESTS, shim=True)
    assert "pool mappings: " in shim.run.stdout and "pool mappings: 0" not in shim.run.stdout, (
        f"expected the interpreter heap in a pool file under {pool_dir} before the tests\n"
        f"{shim.run.describe()}")

    differ = {case: c for case, c in passed.items() if shim.outcome(case) != "passed"}
    known = {case: c for case, c in differ.items() if _module(c) in EXPECTED_TO_DIFFER}
    for module, why in EXPECTED_TO_DIFFER.items():
        seen = sorted(f"{case}: {shim.outcome(case)}" for case, c in known.items()
                      if _module(c) == module)
        report(f"{module}: differs under the shim as expected ({why}): {', '.join(seen)}"
                    if seen else f"{module} was expected to differ under the shim ({why}) "
                    "and did not: its EXPECTED_TO_DIFFER entry can go")
    suspects = {case: c for case, c in differ.items() if case not in known}
    assert len(suspects) <= MAX_RERUN, (
        f"expected CPython's test cases to pass under the shim as they do without it; "
        f"{len(suspects)} did not, e.g. "
        + "\n".join(f"{case}: {shim.outcome(case)}" for case in list(suspects)[:MAX_RERUN])
        + f"\n{shim.run.describe()}")

    passed_again, still, plain_ok = _rerun(cases, suspects)
    if passed_again:
        report(f"passed under the shim when run again (timing-sensitive): {passed_again}")
    alone_fail = [case for case in still if case not in plain_ok]
    if alone_fail:
        report("failed when run again alone, without the shim too; left out of the "
                    f"comparison: {alone_fail}")
    real = [(case, c, r) for case, (c, r) in still.items() if case in plain_ok]
    if real:
        pytest.fail("\n\n".join(
            f"{case}: expected passed under the shim, as without it; saw {c['outcome']} in "
            f"{RERUNS + 1} runs under the shim (alone without it: passed)\n{c['detail']}\n"
            f"--- the last run under the shim ---\n{r.run.describe(3000)}"
            for case, c, r in real))


@pytest.fixture(scope="module")
def sqlite3_cli():
    path = shutil.which("sqlite3")
    if path is None:
        pytest.fail("the sqlite3 CLI is missing (test.sh installs Debian's sqlite3)")
    return path


def test_threads_churn_without_false_memoryerror(pool_dir):
    """Python threads replace blocks of up to 1 MiB in a 256 MiB pool, with far less
    live: no MemoryError, as without the shim."""
    cmd = [sys.executable, SHIM_DIR / "churn.py", "20000"]
    base = run(cmd, env=plain_env(), timeout=300)
    shim = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--pool-size", "256M", "--",
                *cmd], env=plain_env(), timeout=300)
    expect_output_as_without(shim, base, "churn.py (8 threads)")


def test_sqlite3_output_identical(sqlite3_cli, pool_dir):
    script = (SHIM_DIR / "workload.sql").read_bytes()
    base = run([sqlite3_cli], env=plain_env(), stdin=script, timeout=120)
    shim = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--stats", "--", sqlite3_cli],
               env=plain_env(), stdin=script, timeout=120)
    if expect_output_as_without(shim, base, "sqlite3 running workload.sql"):
        if base.stdout.splitlines()[-1:] != ["ok"]:   # integrity_check
            report(f"sqlite3's integrity_check without the shim: not ok\n{base.describe()}")
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
    base = run(["gcc", "-O2", "-c", "gen.c", "-o", "gen.o"], env=plain_env(),
               cwd=str(tmp_path / "plain"), timeout=180)
    shim = run(["gcc", "-O2", "-c", "gen.c", "-o", "gen.o"], cwd=str(tmp_path / "shim"),
               env=shim_env(PMALLOC_POOL_DIR=pool_dir, PMALLOC_STATS="1"), timeout=180)
    if not expect_output_as_without(shim, base, "gcc -O2 -c gen.c"):
        return
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
    base = run([cpython, "-c", code], env=plain_env())
    r = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--stats", "--", cpython, "-c",
             code], env=plain_env())
    if not expect_output_as_without(r, base, "CPython holding 100 MiB"):
        return
    st = stats_of(r.stderr)
    assert st["allocated"] >= 100 * MiB, (
        f"expected the 100 MiB bytearray counted: allocated >= {100 * MiB}, saw "
        f"{st['allocated']}\n{r.describe()}")


def test_python_memory_error_past_the_pool(cpython, pool_dir):
    """512 MiB in a 64 MiB pool: a MemoryError Python catches, then it goes on."""
    code = ("try:\n    b = bytearray(512 << 20)\n    print('allocated', len(b))\n"
            "except MemoryError:\n    print('MemoryError')\n"
            "x = [str(i) * 3 for i in range(200000)]\nprint(len(x))\n")
    base = run([cpython, "-c", code], env=plain_env())
    if base.returncode != 0 or not base.stdout.endswith("\n200000\n"):
        report(f"CPython fails this program without the shim too\n{base.describe()}")
        return
    r = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--pool-size", "64M", "--",
             cpython, "-c", code], env=plain_env()).expect(0)
    # without the shim the 512 MiB fit in memory, or not: the host's to say
    assert r.stdout == "MemoryError\n200000\n", r.describe()
    uncaught = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--pool-size", "64M", "--",
                    cpython, "-c", "bytearray(512 << 20)"], env=plain_env())
    uncaught.expect(1)
    assert "MemoryError" in uncaught.stderr, uncaught.describe()
