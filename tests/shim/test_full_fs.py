"""The shim on a file system that fills up: the program's own MemoryError, or with the
fallback a run as without the shim; never SIGBUS. A pool without a size fits the room
left. Each case mounts a 4 MiB tmpfs (the ``tiny_fs`` fixture; root only: skipped
elsewhere). A pool's own cases are in tests/alloc/test_full_fs.py.
"""
from __future__ import annotations

import sys

import pytest

import pmalloc
from shim_support import needs_preload, plain_env, pmalloc_cli, run, shim_env, stats_of

MIN_POOL = int(pmalloc._native.lib.VMEM_MIN_POOL)


PROGRAM = "x = [bytes(1000) for _ in range(10**5)]; print(len(x))"


@needs_preload
@pytest.mark.parametrize("fallback", [False, True], ids=["no-fallback", "fallback"])
def test_shim_on_a_full_file_system(tiny_fs, fallback):
    """Without the fallback the program gets its MemoryError; with it, it runs as it
    runs without the shim."""
    plain = run([sys.executable, "-c", PROGRAM], env=plain_env(), timeout=120).expect(0)
    cmd = [*pmalloc_cli(), "run", "--pool-dir", tiny_fs, "--pool-size", "64M",
           *(["--fallback"] if fallback else []), "--", sys.executable, "-c", PROGRAM]
    r = run(cmd, env=plain_env(), timeout=120)
    if fallback:
        r.expect(0)
        assert r.stdout == plain.stdout, r.describe()
    else:
        assert r.returncode == 1 and "MemoryError" in r.stderr, (
            f"expected the program's own MemoryError (exit 1), not a signal\n{r.describe()}")


@needs_preload
def test_shim_default_pool_fits_the_free_space(tiny_fs):
    """Without a size the pool is as large as memory, or the room left if that is less
    (never below the minimum)."""
    r = run([sys.executable, "-c", "print(1)"],
            env=shim_env(PMALLOC_POOL_DIR=tiny_fs, PMALLOC_STATS="1"), timeout=120).expect(0)
    st = stats_of(r.stderr)
    assert st["size"] == MIN_POOL, (
        f"expected a pool of the {MIN_POOL}-byte minimum on a 4 MiB file system, "
        f"saw {st['size']}\n{r.describe()}")
