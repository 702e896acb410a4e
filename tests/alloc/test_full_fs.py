"""A pool whose file system fills up: an exhaustion, never SIGBUS.

Pool files are sparse; a store to a page whose block the file system cannot give kills
the process with SIGBUS. pmalloc reserves pages before it hands them out, so a full file
system is a MemoryError (Python), NULL + ENOMEM (C), or the shim's fallback heap. Each
case mounts a 4 MiB tmpfs under a pool of 64 MiB (the ``tiny_fs`` fixture; root only:
skipped elsewhere) and runs the program in a child, where a SIGBUS shows as its exit
status. The shim's cases are in tests/shim/test_full_fs.py.
"""
from __future__ import annotations

import sys

import pytest

from conftest import as_nobody
from shim_support import plain_env, pmalloc_cli, run


FILL = """
import sys
import pmalloc
pool = pmalloc.Pool(dir=sys.argv[1], size=64 << 20)
bufs = []
try:
    for _ in range(64):
        buf = pool.malloc(1 << 20)
        memoryview(buf)[:] = b"x" * (1 << 20)
        bufs.append(buf)
    print("no MemoryError")
except MemoryError as exc:
    print(f"MemoryError after {len(bufs)} MiB: {exc}")
assert all(bytes(memoryview(b)[:4]) == b"xxxx" for b in bufs), "held data changed"
for buf in bufs:
    buf.free()
again = pool.malloc(1 << 20)
memoryview(again)[:] = b"y" * (1 << 20)
print("room again:", bytes(memoryview(again)[:4]), "consistent:", pool.check())
"""


def test_pool_on_a_full_file_system_raises_memoryerror(tiny_fs):
    r = run([sys.executable, "-c", FILL, tiny_fs], env=plain_env(), timeout=120)
    r.expect(0)
    assert "MemoryError after" in r.stdout and "no room" in r.stdout, (
        f"expected a MemoryError saying the file system has no room\n{r.describe()}")
    assert "room again: b'yyyy' consistent: True" in r.stdout, r.describe()


def test_demo_on_a_full_file_system_fails_cleanly(tiny_fs):
    r = run([*pmalloc_cli(), "demo", "--pool-dir", tiny_fs], env=plain_env(), timeout=120)
    assert r.returncode == 1 and "no room" in r.stderr, (
        f"expected exit status 1 and a message (not a signal)\n{r.describe()}")


FORK = """
os.environ["PMALLOC_FORK"] = sys.argv[2]      # read at the first fork
pool = pmalloc.Pool(dir=sys.argv[1], size=64 << 20)
bufs = []
try:
    while True:
        buf = pool.malloc(256 << 10)
        memoryview(buf)[:] = b"p" * (256 << 10)
        bufs.append(buf)
except MemoryError:
    pass
bufs.pop().free()   # some room for the child's bookkeeping, none for a copy of the heap
pid = os.fork()
if pid == 0:
    ok = all(bytes(memoryview(b)[:1]) == b"p" for b in bufs)
    for buf in bufs:
        memoryview(buf)[:] = b"c" * (256 << 10)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
result = {"child": os.waitstatus_to_exitcode(status), "held": len(bufs),
          "parent_intact": all(bytes(memoryview(b)) == b"p" * (256 << 10) for b in bufs)}
"""


@pytest.mark.parametrize("mode", ["1", "2"])
def test_fork_on_a_full_file_system_keeps_the_heaps_apart(tiny_fs, mode):
    """As nobody (no privilege), with no room in the pool's directory: mode 2's copy for
    the child goes to anonymous memory, mode 1 remaps the pool copy-on-write; the child
    never writes the parent's file."""
    seen = as_nobody("import os, sys\nimport pmalloc", FORK, tiny_fs, mode)
    assert seen["held"] > 0 and seen == {**seen, "child": 0, "parent_intact": True}, (
        f"expected the child to see the heap as at fork and the parent's heap untouched by "
        f"the child's writes, saw {seen}")
