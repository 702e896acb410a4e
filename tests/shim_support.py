"""Helpers of the shim tests (tests/shim/test_*.py): environments with and without
libvmmalloc.so, building the programs under tests/shim, running them, comparing a run
under the shim with the run without it, reading the PMALLOC_STATS line, and finding a
CPython that carries its own test package and running its test cases.

The comparison never takes the host for flawless: what fails without the shim too is
reported (a Reported warning) and left out; only what passed without the shim must pass
under it.

The sanitized run (PMALLOC_SANITIZED=1) builds the shim with ASan + UBSan. Preloading
that into another program cannot test the shim: the ASan runtime must come first in
the program's libraries, and then its malloc, not the shim's, serves the program.
So the tests that need the shim to *be* a program's malloc are marked
``needs_preload`` and skipped there; what stays meaningful runs in both builds: the
settings checks (the shim's constructor runs whoever serves malloc) and the malloc
family's edge cases with the functions taken from the shim by dlsym.
"""
from __future__ import annotations

import atexit
import dataclasses
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import pytest

import pmalloc

HERE = Path(__file__).parent
SHIM_DIR = HERE / "shim"
CHECK_H_DIR = HERE / "c"
MiB = 1 << 20

SANITIZED = os.environ.get("PMALLOC_SANITIZED") == "1"
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                  "-fno-omit-frame-pointer"]
SHIM = pmalloc.preload_path()

needs_preload = pytest.mark.skipif(
    SANITIZED, reason="the ASan-built shim cannot be a program's malloc: the ASan runtime "
    "must be preloaded first and its malloc wins (settings and dlsym'ed edge cases still run)")

_SETTINGS = re.compile(r"^(PMALLOC|VMMALLOC)_")


def _clean(base: dict[str, str]) -> dict[str, str]:
    """base without any PMALLOC_*/VMMALLOC_* setting (PMALLOC_SANITIZED stays)."""
    return {k: v for k, v in base.items() if not _SETTINGS.match(k) or k == "PMALLOC_SANITIZED"}


def plain_env(**extra: str) -> dict[str, str]:
    """The environment of a run without the shim."""
    env = _clean(dict(os.environ))
    env.update(extra)
    return env


@functools.lru_cache(maxsize=None)
def asan_runtime() -> str:
    out = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def shim_env(**settings: str) -> dict[str, str]:
    """A run with the shim preloaded and these PMALLOC_*/VMMALLOC_* settings.

    Sanitized, the ASan runtime goes first (else the program will not start); the
    shim's constructor still runs and checks the settings."""
    env = _clean(dict(os.environ))
    env.pop("LD_PRELOAD", None)
    env["LD_PRELOAD"] = f"{asan_runtime()} {SHIM}" if SANITIZED else SHIM
    env.update(settings)
    return env


def pmalloc_cli() -> list[str]:
    """`pmalloc` as this interpreter runs it (`python -m pmalloc`)."""
    return [sys.executable, "-I", "-m", "pmalloc"]   # -I: not the in-tree package (3.10 has no -P)


@dataclasses.dataclass
class Run:
    """What a program did: the command, exit status and both outputs (bytes kept)."""
    cmd: list[str]
    returncode: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode(errors="replace")

    def describe(self, limit: int = 6000) -> str:
        def tail(text: str) -> str:
            return text if len(text) <= limit else "...\n" + text[-limit:]
        return (f"$ {shlex.join(self.cmd)}\nexit status {self.returncode}\n"
                f"--- stdout ---\n{tail(self.stdout)}\n--- stderr ---\n{tail(self.stderr)}")

    def expect(self, status: int = 0) -> "Run":
        assert self.returncode == status, (f"expected exit status {status}, saw "
                                           f"{self.returncode}\n{self.describe()}")
        return self


def run(cmd: Sequence[str], env: dict[str, str], timeout: float = 120,
        stdin: bytes | None = None, cwd: str | None = None, preexec_fn=None) -> Run:
    cmd = [str(c) for c in cmd]
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, env=env,
                              cwd=cwd, preexec_fn=preexec_fn,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"expected {shlex.join(cmd)} to finish within {timeout} s; it did not\n"
                    f"--- stdout ---\n{(exc.stdout or b'').decode(errors='replace')}\n"
                    f"--- stderr ---\n{(exc.stderr or b'').decode(errors='replace')}")
    return Run(cmd, proc.returncode, proc.stdout, proc.stderr)


# ---- comparing with the run without the shim ----------------------------------------------

class Reported(UserWarning):
    """What a comparison with the run without the shim reports instead of failing: what
    fails without the shim too (left out), a known difference, a case that passed again."""


def report(message: str) -> None:
    print(message)
    warnings.warn(Reported(message), stacklevel=2)


# check.h's lines: "[ RUN  ] name", then "[  OK  ] name" or "[FAILED] name (file.c:123)"
_CHECK_LINE = re.compile(r"^\[(?P<verdict>  OK  |FAILED| RUN  )\] (?P<name>.+?)"
                         r"(?: \([^()\s]+:\d+\))?$", re.M)


def check_outcomes(stdout: str) -> dict[str, str]:
    """The checks a check.h program ran: name -> passed, failed, or died (no verdict)."""
    out: dict[str, str] = {}
    for m in _CHECK_LINE.finditer(stdout):
        out[m["name"]] = {"  OK  ": "passed", "FAILED": "failed", " RUN  ": "died"}[m["verdict"]]
    return out


def expect_checks_as_without(shim: Run, plain: Run) -> None:
    """A check.h program under the shim against its run without it: every check that did
    not fail without the shim passes under it (those that did are reported and left
    out), and the program exits 0 under the shim when it did without."""
    base, seen = check_outcomes(plain.stdout), check_outcomes(shim.stdout)
    host = [f"{name}: {outcome}" for name, outcome in base.items() if outcome != "passed"]
    if host or plain.returncode != 0:
        report(f"{shlex.join(plain.cmd)} fails without the shim too (exit status "
                    f"{plain.returncode}); left out of the comparison: {host}")
    differ = [f"{name}: expected passed, as without the shim; saw {seen.get(name, 'not run')}"
              for name in dict.fromkeys([*base, *seen])
              if base.get(name, "passed") == "passed" and seen.get(name) != "passed"]
    assert not differ, ("expected every check that passed without the shim to pass under it"
                        f"\n" + "\n".join(differ) + f"\n{shim.describe()}")
    if plain.returncode == 0:
        shim.expect(0)


def expect_output_as_without(shim: Run, plain: Run, what: str) -> bool:
    """A program under the shim against its run without it: the same exit status and
    byte-identical stdout. Whether it succeeded without the shim (reported if not)."""
    assert (shim.returncode, shim.stdout_bytes) == (plain.returncode, plain.stdout_bytes), (
        f"expected {what} under the shim to exit and print as without it\n"
        f"--- without the shim ---\n{plain.describe()}\n--- under it ---\n{shim.describe()}")
    if plain.returncode != 0:
        report(f"{what} fails without the shim too; only the outputs were compared\n"
                    f"{plain.describe(limit=2000)}")
    return plain.returncode == 0


# ---- building the programs under tests/shim ---------------------------------------------

_BUILD_DIR = Path(tempfile.mkdtemp(prefix="pmalloc-shim-progs-"))
atexit.register(shutil.rmtree, _BUILD_DIR, ignore_errors=True)


def build(name: str, sanitize: bool | None = None) -> Path:
    """Compile tests/shim/<name> (C11 or C++17, strict warnings); the executable.

    Sanitized runs build with ASan + UBSan unless sanitize=False."""
    src = SHIM_DIR / name
    cxx = src.suffix in (".cc", ".cpp")
    compiler = "g++" if cxx else "gcc"
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is needed to build tests/shim/{name}")
    san = SANITIZED if sanitize is None else sanitize
    flags = [f"-std={'c++17' if cxx else 'c11'}", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
             "-pthread", f"-I{CHECK_H_DIR}", f"-I{SHIM_DIR}", *(SANITIZE_FLAGS if san else [])]
    deps = [src, SHIM_DIR / "shim_check.h", CHECK_H_DIR / "check.h"]
    key = hashlib.sha1("\0".join([*flags, *(p.read_text() for p in deps)]).encode())
    exe = _BUILD_DIR / f"{src.stem}-{key.hexdigest()[:10]}"
    if not exe.exists():
        cmd = [compiler, *flags, str(src), "-o", str(exe), "-ldl"]
        built = run(cmd, env=plain_env(), timeout=180)
        if built.returncode != 0:
            pytest.fail(f"expected tests/shim/{name} to compile cleanly\n{built.describe()}")
    return exe


# ---- PMALLOC_STATS ---------------------------------------------------------------------

_STATS = re.compile(
    r"^pmalloc: pool (?P<dir>.+) \((?P<size>\d+) bytes, pid (?P<pid>\d+)\): "
    r"allocated (?P<allocated>\d+) active (?P<active>\d+) resident (?P<resident>\d+) "
    r"file (?P<file>\d+) nmalloc (?P<nmalloc>\d+) nfree (?P<nfree>\d+)(?P<rest>.*)$", re.M)


def stats_lines(stderr: str) -> list[dict]:
    """Every PMALLOC_STATS line in stderr, numbers as ints."""
    out = []
    for m in _STATS.finditer(stderr):
        d = {k: (v if k in ("dir", "rest") else int(v)) for k, v in m.groupdict().items()}
        out.append(d)
    return out


def stats_of(stderr: str, pid: int | None = None) -> dict:
    """The one stats line (of pid, when given); fails the test when there is none."""
    lines = [s for s in stats_lines(stderr) if pid is None or s["pid"] == pid]
    assert len(lines) == 1, f"expected one PMALLOC_STATS line{f' of pid {pid}' if pid else ''}; " \
        f"saw {len(lines)}\n--- stderr ---\n{stderr}"
    return lines[0]


def pool_mappings(pid: int, pool_dir: str) -> list[str]:
    """The lines of /proc/PID/maps that map a file directly under pool_dir."""
    prefix = pool_dir.rstrip("/") + "/"
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith(prefix):
                out.append(line.rstrip("\n"))
    return out


# ---- a CPython with its test package ------------------------------------------------------

def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


@functools.lru_cache(maxsize=None)
def cpython_with_tests() -> str | None:
    """A real CPython binary (not a pyenv shim script) whose `test` package has the
    regression tests: this interpreter's own, else Debian's python3.X (the package
    libpython3.X-testsuite provides the tests). None when there is none."""
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [os.path.realpath(sys.executable),
                  os.path.realpath(os.path.join(sys.base_prefix, "bin", f"python{ver}")),
                  f"/usr/bin/python{ver}", "/usr/bin/python3"]
    for cand in dict.fromkeys(candidates):
        if not _is_elf(cand):
            continue
        probe = subprocess.run([cand, "-c", "import test.libregrtest, test.test_dict"],
                               capture_output=True, env=plain_env())
        if probe.returncode == 0:
            return cand
    return None


@dataclasses.dataclass
class Cases:
    """CPython's test cases as tests/shim/cpython_cases.py ran them: each case's id ->
    {"outcome", "detail", "rerun"}; a case the interpreter died in has outcome "died"."""
    run: Run
    cases: dict[str, dict[str, str]]

    def outcome(self, case: str) -> str:
        return self.cases[case]["outcome"] if case in self.cases else "not run"


def run_cpython_cases(python: str, names: Sequence[str], env: dict[str, str], workdir: Path,
                      in_pool: str | None = None, timeout: float = 600) -> Cases:
    """Run CPython's test modules or cases `names` in a new directory workdir (their
    current directory); with in_pool, the interpreter first checks its heap is in a
    pool file under that directory."""
    workdir.mkdir(parents=True)
    out = workdir / "cases.jsonl"
    r = run([python, SHIM_DIR / "cpython_cases.py", out,
             *(["--in-pool", in_pool] if in_pool else []), *names],
            env=env, cwd=str(workdir), timeout=timeout)
    cases: dict[str, dict[str, str]] = {}
    running = None
    for line in out.read_text().splitlines() if out.exists() else []:
        try:
            event = json.loads(line)
        except ValueError:   # the last line, cut short by a crash
            break
        if "start" in event:
            running = event["start"]
        else:
            cases[event["id"]], running = event, None
    if running is not None:
        cases[running] = {"id": running, "outcome": "died", "rerun": running,
                          "detail": f"the interpreter died in this case\n{r.describe(3000)}"}
    return Cases(r, cases)
