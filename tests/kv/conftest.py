"""Fixtures of the key/value store tests (tests/kv): a store's path in a fresh directory
(``new_dir()`` outside fixtures), ``blob()`` for reproducible values, and ``held`` to keep a
store open in another process (the lock is the other process's, as a user would meet it)."""
from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator

import pytest

MiB = 1 << 20

# A child that opens a store, says so, and keeps it open until its stdin closes.
_HOLD = """
import sys
import pmalloc.kv
db = pmalloc.kv.open(sys.argv[1], sys.argv[2])
print("open", flush=True)
sys.stdin.read()
db.close()
"""


def blob(seed: object, n: int) -> bytes:
    """n reproducible pseudo-random bytes, different for each seed."""
    return random.Random(repr(seed)).randbytes(n)


def new_dir() -> str:
    """A new empty directory (in /dev/shm when usable) for stores made outside a fixture
    (a hypothesis state machine); the caller removes it."""
    shm = "/dev/shm"
    usable = os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK)
    return tempfile.mkdtemp(prefix="pmalloc-kv-", dir=shm if usable else None)


@pytest.fixture
def path(pool_dir: str) -> str:
    """Where a store may be made: nothing is there yet."""
    return os.path.join(pool_dir, "store.kv")


@pytest.fixture
def held() -> Callable[[str, str], contextlib.AbstractContextManager[subprocess.Popen]]:
    """``with held(path, flag):`` -- another process has the store at path open with flag
    (pmalloc.kv.open's) for the duration of the block."""
    @contextlib.contextmanager
    def hold(path: str, flag: str) -> Iterator[subprocess.Popen]:
        proc = subprocess.Popen([sys.executable, "-c", _HOLD, path, flag], text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            line = proc.stdout.readline()
            if line.strip() != "open":
                proc.kill()
                _, err = proc.communicate(timeout=30)
                pytest.fail(f"expected the child to open {path} with flag {flag!r}; it "
                            f"printed {line!r} and exited with status {proc.returncode}:\n"
                            f"{err}")
            yield proc
        finally:
            if proc.poll() is None:
                proc.stdin.close()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return hold
