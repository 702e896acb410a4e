"""The shim's settings and `pmalloc run` / `pmalloc preload-path`.

An invalid setting stops the program at load time with a message naming the variable
and exit status 127 (without the shim the same environment means nothing and the
program runs); valid sizes with K/M/G/T are accepted. These run in the sanitized build
too: the shim's constructor checks the settings whoever serves malloc.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import pmalloc
from shim_support import SANITIZED, SHIM, needs_preload, plain_env, pmalloc_cli, run, shim_env

TRUE = shutil.which("true") or "/bin/true"

INVALID = [
    ("PMALLOC_POOL_SIZE", "abc", "not a size"),
    ("PMALLOC_POOL_SIZE", "10X", "not a size"),
    ("PMALLOC_POOL_SIZE", "-64M", "not a size"),
    ("PMALLOC_POOL_SIZE", "", "not a size"),
    ("PMALLOC_POOL_SIZE", "99999999999T", "not a size"),
    ("PMALLOC_POOL_SIZE", "1M", "below the 14 MiB minimum"),
    ("VMMALLOC_POOL_SIZE", "lots", "not a size"),
    ("PMALLOC_POOL_DIR", "/nonexistent/pmalloc-dir", "not a writable directory"),
    ("VMMALLOC_POOL_DIR", "/nonexistent/pmalloc-dir", "not a writable directory"),
    ("PMALLOC_POOL_DIR", "@FILE", "not a writable directory"),
    ("PMALLOC_FORK", "0", "expected 1"),
    ("PMALLOC_FORK", "4", "expected 1"),
    ("VMMALLOC_FORK", "copy", "expected 1"),
    ("PMALLOC_FALLBACK", "yes", "expected 0 or 1"),
    ("PMALLOC_STATS", "2", "expected 0 or 1"),
    ("PMALLOC_BACKGROUND", "on", "expected 0 or 1"),
    ("PMALLOC_DECAY_MS", "abc", "expected milliseconds"),
    ("PMALLOC_DECAY_MS", "-1", "expected milliseconds"),
    ("PMALLOC_DECAY_MS", "99999999999999999999", "expected milliseconds"),
    ("PMALLOC_DECAY_MS", "", "expected milliseconds"),
]


@pytest.mark.parametrize("var,value,message", INVALID,
                         ids=[f"{v}={x or 'empty'}" for v, x, _ in INVALID])
def test_invalid_setting_stops_with_127(tmp_path, var, value, message):
    if value == "@FILE":
        value = str(tmp_path / "a-file")
        (tmp_path / "a-file").write_text("not a directory\n")
    without = run([TRUE], env=plain_env(**{var: value}))
    without.expect(0)
    r = run([TRUE], env=shim_env(**{var: value}))
    assert r.returncode == 127, f"expected exit status 127 for {var}={value!r}\n{r.describe()}"
    expected = f"pmalloc: {var}={value}: {message}"
    assert r.stderr.startswith(expected), (
        f"expected stderr to start with {expected!r}\n{r.describe()}")
    assert r.stderr.count("\n") == 1, f"expected one line of message\n{r.describe()}"


def test_invalid_setting_through_pmalloc_run(pool_dir):
    """`pmalloc run` passes VMMALLOC_* from the environment through to the shim."""
    if SANITIZED:
        pytest.skip("pmalloc run puts the shim before the ASan runtime in LD_PRELOAD")
    r = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--", TRUE],
            env=plain_env(VMMALLOC_POOL_SIZE="huge"))
    assert r.returncode == 127 and "VMMALLOC_POOL_SIZE=huge: not a size" in r.stderr, \
        r.describe()


def test_pmalloc_wins_over_vmmalloc():
    """PMALLOC_* is read first: a valid PMALLOC_POOL_SIZE hides an invalid VMMALLOC one."""
    r = run([TRUE], env=shim_env(PMALLOC_POOL_SIZE="64M", VMMALLOC_POOL_SIZE="junk"))
    r.expect(0)
    r = run([TRUE], env=shim_env(PMALLOC_POOL_SIZE="junk", VMMALLOC_POOL_SIZE="64M"))
    assert r.returncode == 127 and "PMALLOC_POOL_SIZE=junk" in r.stderr, r.describe()


@needs_preload
@pytest.mark.parametrize("value,size", [("16777216", 16 << 20), ("65536K", 64 << 20),
                                        ("64M", 64 << 20), ("64MiB", 64 << 20),
                                        ("1G", 1 << 30), ("2g", 2 << 30)])
def test_valid_sizes(pool_dir, value, size):
    r = run([TRUE], env=shim_env(PMALLOC_POOL_SIZE=value, PMALLOC_POOL_DIR=pool_dir,
                                 PMALLOC_STATS="1"))
    r.expect(0)
    assert f"pmalloc: pool {pool_dir} ({size} bytes," in r.stderr, r.describe()


@needs_preload
def test_vmmalloc_names(pool_dir):
    r = run([TRUE], env=shim_env(VMMALLOC_POOL_SIZE="32M", VMMALLOC_POOL_DIR=pool_dir,
                                 PMALLOC_STATS="1"))
    r.expect(0)
    assert f"pmalloc: pool {pool_dir} ({32 << 20} bytes," in r.stderr, r.describe()


# ---- the command line ---------------------------------------------------------------------

@pytest.mark.parametrize("args", [[], ["--"], ["--stats"], ["--pool-size", "64M", "--"]],
                         ids=["nothing", "dashdash", "options-only", "options-dashdash"])
def test_run_without_a_command_exits_2(args):
    r = run([*pmalloc_cli(), "run", *args], env=plain_env())
    assert r.returncode == 2 and "no command" in r.stderr, r.describe()


@pytest.mark.parametrize("args", [["--pool-size", "abc"], ["--fork-mode", "4"],
                                  ["--fork-mode", "x"]])
def test_run_rejects_bad_options_with_2(args):
    r = run([*pmalloc_cli(), "run", *args, "--", TRUE], env=plain_env())
    assert r.returncode == 2 and "usage:" in r.stderr, r.describe()


def test_run_missing_program_exits_127():
    r = run([*pmalloc_cli(), "run", "--", "/nonexistent/program"], env=plain_env())
    assert r.returncode == 127 and "/nonexistent/program" in r.stderr, r.describe()


@needs_preload
def test_run_sets_the_environment(pool_dir):
    """What `pmalloc run` hands the command: LD_PRELOAD first, then its settings."""
    code = ("import os; print(os.environ['LD_PRELOAD']); "
            "print(*(f'{k}={os.environ[k]}' for k in sorted(os.environ) "
            "if k.startswith('PMALLOC_') and k != 'PMALLOC_SANITIZED'))")
    python = os.path.realpath(sys.executable)
    env = plain_env(LD_PRELOAD="/lib/x86_64-linux-gnu/libc.so.6")
    r = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--pool-size", "64M", "--fork-mode",
             "1", "--stats", "--fallback", "--", python, "-c", code], env=env).expect(0)
    lines = r.stdout.splitlines()
    assert lines[0] == f"{SHIM} /lib/x86_64-linux-gnu/libc.so.6", r.describe()
    assert lines[1].split() == ["PMALLOC_FALLBACK=1", "PMALLOC_FORK=1",
                                f"PMALLOC_POOL_DIR={pool_dir}",
                                f"PMALLOC_POOL_SIZE={64 << 20}", "PMALLOC_STATS=1"], r.describe()


@pytest.mark.parametrize("how", ["module", "script"])
def test_preload_path(how):
    if how == "script":
        exe = shutil.which("pmalloc", path=os.path.dirname(os.path.abspath(sys.executable)))
        if exe is None:
            pytest.skip("the pmalloc script is not installed next to this interpreter")
        cmd = [exe, "preload-path"]
    else:
        cmd = [*pmalloc_cli(), "preload-path"]
    r = run(cmd, env=plain_env()).expect(0)
    assert r.stdout == pmalloc.preload_path() + "\n"
    assert os.path.isfile(pmalloc.preload_path())


def test_the_shim_exports_only_the_malloc_family():
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    out = subprocess.run([nm, "-D", "--defined-only", SHIM], capture_output=True, text=True,
                         check=True).stdout
    names = sorted(line.split()[-1] for line in out.splitlines() if line.split()[1:2] != ["A"])
    assert names == sorted(["aligned_alloc", "calloc", "cfree", "free", "malloc",
                            "malloc_usable_size", "memalign", "posix_memalign", "pvalloc",
                            "realloc", "reallocarray", "valloc"]), names
