"""Fixtures and helpers shared by the test suite.

- ``pool_dir``: a fresh directory for pool files (under /dev/shm when it is usable).
- ``tiny_fs``: a 4 MiB tmpfs anyone may write to, for the full-file-system tests of the
  alloc and shim layers (root only: skipped elsewhere).
- ``raised()`` / ``bad_argument()`` (helpers): what a misused call raises, for the hardening
  tests of every layer.
- ``c_program``: compiles a C program against ``pmalloc.get_include()`` and
  ``pmalloc.get_library()`` and runs it with a timeout. tests/c holds what the programs
  of every layer share (check.h); each layer's conftest points ``c_program`` at its own
  programs (tests/alloc/c, tests/pmem/c).

The tests live by layer (tests/alloc, tests/pmem, tests/shim), each directory a package
with a conftest of its own for that layer's fixtures; this file is the only conftest
outside a package, so ``from conftest import ...`` always means this one.

With ``PMALLOC_SANITIZED=1`` (test.sh sets it for the run under AddressSanitizer and UBSan)
the C programs are built with the sanitizers too, to link with the sanitized libpmalloc.so.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

KiB = 1 << 10
MiB = 1 << 20
VMEM_MIN_POOL = 14 * MiB  # libvmem.h; vmem_api.c checks the header agrees

SANITIZED = os.environ.get("PMALLOC_SANITIZED") == "1"
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                  "-fno-omit-frame-pointer"]
C_DIR = Path(__file__).parent / "c"
STRICT_FLAGS = ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"]


def _shm_or_tmp() -> str | None:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """The C library reads the environment once; a test that changes it reloads, and
    whatever it changed is read back after monkeypatch restored it."""
    yield
    from pmalloc import settings
    settings.reload()


@pytest.fixture
def pool_dir() -> Iterator[str]:
    """A new empty directory for pool files; removed afterwards."""
    path = tempfile.mkdtemp(prefix="pmalloc-test-", dir=_shm_or_tmp())
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tiny_fs() -> Iterator[str]:
    """A 4 MiB tmpfs that anyone may write to, mounted for the test (in the temp dir, not
    under pytest's private one, so that a test may drop root)."""
    mnt = tempfile.mkdtemp(prefix="pmalloc-tiny-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=1777", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        os.rmdir(mnt)


def native():
    """(ffi, lib) of pmalloc._native, imported on first use."""
    from pmalloc._native import ffi, lib
    return ffi, lib


def errno_text(err: int) -> str:
    return f"{err} ({os.strerror(err)})" if err else "0"


# The child of as_nobody(): `imports` run first, as root when root (nobody may not read this
# Python's own files), then the drop to nobody, then `code`, which sets `result`.
_AS_NOBODY = """
import json, os, sys
{imports}
if os.geteuid() == 0:
    try:
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
    except OSError as e:
        print(json.dumps({{"skip": f"cannot drop root: {{e}}"}})); sys.exit(0)
{code}
print(json.dumps({{"uid": os.geteuid(), "result": result}}))
"""


def as_nobody(imports: str, code: str, *args: str):
    """`result` of `code` run in a child Python as nobody (uid 65534), with `args` as
    sys.argv[1:]: as root the kernel skips permission checks, so a test of EACCES drops
    root first. Skips the test when root cannot be dropped."""
    child = _AS_NOBODY.format(imports=imports, code=code)
    proc = subprocess.run([sys.executable, "-c", child, *args], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"child failed with status {proc.returncode}: {proc.stderr}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    assert out["uid"] != 0, "the attempt must not run as root"
    return out["result"]


# ---- misuse: what a call raises ------------------------------------------------------------

def raised(f: Callable[..., Any], *args: Any, **kwargs: Any) -> BaseException:
    """The exception f(*args, **kwargs) raises; fails, saying what it returned, if none."""
    try:
        result = f(*args, **kwargs)
    except BaseException as e:  # noqa: BLE001 - the caller checks its type
        return e
    pytest.fail(f"{getattr(f, '__name__', f)}{args!r} {kwargs!r}: expected an exception, "
                f"saw a result: {result!r}")


def bad_argument(f: Callable[..., Any], *args: Any, naming: str = "", **kwargs: Any) -> None:
    """f(...) must raise InvalidArgumentError (a ValueError and PmallocError) whose message
    contains `naming`; never a bare OverflowError."""
    from pmalloc.errors import InvalidArgumentError
    e = raised(f, *args, **kwargs)
    assert isinstance(e, InvalidArgumentError) and isinstance(e, ValueError), (
        f"{getattr(f, '__name__', f)}{args!r} {kwargs!r}: expected InvalidArgumentError, "
        f"saw {type(e).__name__}: {e}")
    assert naming in str(e), f"expected the message to name {naming!r}, saw {str(e)!r}"


# ---- C programs --------------------------------------------------------------------------

@dataclasses.dataclass
class Run:
    """What a program did: the command, exit status and both outputs."""
    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"$ {shlex.join(self.cmd)}\nexit status {self.returncode}\n"
                f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}")

    def expect_success(self) -> "Run":
        assert self.returncode == 0, ("expected exit status 0, saw "
                                      f"{self.returncode}\n{self.describe()}")
        return self


def _run(cmd: Sequence[str], timeout: float, cwd: str | None = None,
         env: dict[str, str] | None = None) -> Run:
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, errors="replace",
                              timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired as exc:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        pytest.fail(f"expected {shlex.join(cmd)} to finish within {timeout} s; it did not\n"
                    f"--- stdout ---\n{text(exc.stdout)}--- stderr ---\n{text(exc.stderr)}")
    return Run(list(cmd), proc.returncode, proc.stdout, proc.stderr)


class CPrograms:
    """Builds C programs against pmalloc's headers and library, once per source and flags."""

    def __init__(self, workdir: Path, source_dir: Path = C_DIR) -> None:
        import pmalloc
        self.include = pmalloc.get_include()
        self.library = pmalloc.get_library()
        self.workdir = workdir
        self.source_dir = source_dir
        self.built: dict[str, Path] = {}

    def at(self, source_dir: Path) -> "CPrograms":
        """The same builder (its cache too), taking relative names from source_dir: a
        layer's conftest gives its tests the programs of tests/<layer>/c this way."""
        view = copy.copy(self)
        view.source_dir = source_dir
        return view

    def path(self, name: str | Path) -> Path:
        """Where a source is: a path as given, else <source_dir>/<name>, else tests/c/<name>."""
        src = Path(name)
        if src.is_absolute():
            return src
        mine = self.source_dir / src
        return mine if mine.exists() or not (C_DIR / src).exists() else C_DIR / src

    def compile_command(self, source: Path, exe: Path, extra: Sequence[str] = ()) -> list[str]:
        libdir = os.path.dirname(self.library)
        cmd = ["gcc", *STRICT_FLAGS, *(SANITIZE_FLAGS if SANITIZED else []),
               f"-I{self.include}", f"-I{C_DIR}", str(source), self.library,
               f"-Wl,-rpath,{libdir}", "-o", str(exe), *extra]
        return cmd

    def build(self, source: str | Path, extra: Sequence[str] = ()) -> Path:
        """Compile a source (found by path()) strictly; the executable's path."""
        src = self.path(source)
        key = hashlib.sha1(f"{src}\0{src.stat().st_mtime_ns}\0{extra}".encode()).hexdigest()
        if key in self.built:
            return self.built[key]
        exe = self.workdir / f"{src.stem}-{key[:8]}"
        run = _run(self.compile_command(src, exe, extra), timeout=120)
        if run.returncode != 0:
            pytest.fail(f"expected {src.name} to compile cleanly; it did not\n{run.describe()}")
        self.built[key] = exe
        return exe

    def run(self, exe: Path, *args: str, timeout: float = 60,
            env: dict[str, str] | None = None) -> Run:
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        return _run([str(exe), *map(str, args)], timeout=timeout, env=full_env)

    def __call__(self, source: str | Path, *args: str, timeout: float = 60,
                 env: dict[str, str] | None = None, extra: Sequence[str] = ()) -> Run:
        """Build then run; the Run (check it with ``.expect_success()``)."""
        return self.run(self.build(source, extra), *args, timeout=timeout, env=env)

    def source(self, name: str, text: str) -> Path:
        """Write a small program to the work directory; its path, for build() or call."""
        path = self.workdir / name
        path.write_text(text)
        return path


@pytest.fixture(scope="session")
def c_program(tmp_path_factory: pytest.TempPathFactory) -> CPrograms:
    """``c_program("prog.c", arg, ...)`` builds prog.c and runs it; a layer's conftest
    overrides this with ``c_program.at(its c/ directory)``."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the C test programs")
    return CPrograms(tmp_path_factory.mktemp("cprog"))


run_command: Callable[..., Run] = _run
