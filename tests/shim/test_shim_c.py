"""The shim under C and C++ programs (tests/shim/*.c, *.cc), each compared with its run
without the shim: every check that passes without the shim passes under it; what fails
without it too is reported, not failed.

- edge.c      the malloc family's edge cases: glibc, the shim preloaded (memory must
              lie in the pool file), the shim's functions taken by dlsym (also in the
              sanitized build);
- threads.cc  std::thread, new/delete, objects deleted by another thread;
- forks.c     children that allocate, forks while threads allocate, exec, posix_spawn,
              in fork modes 1, 2 and 3; the parent's heap must come out untouched;
- hold.c      memory held and seen in /proc/PID/maps and in PMALLOC_STATS; exhaustion
              (NULL + ENOMEM, then the room again); the fallback past the pool;
- fds.c       the program's descriptors: the shim shows it none of its own, and a
              program that closes and reuses descriptor numbers keeps its files whole.
"""
from __future__ import annotations

import os
import resource
import select
import subprocess
import tempfile
import time

import pytest

from shim_support import (MiB, SANITIZED, SHIM, Run, build, expect_checks_as_without,
                          expect_output_as_without, needs_preload, plain_env, pmalloc_cli,
                          pool_mappings, run, shim_env, stats_of)

SLOW = 3 if SANITIZED else 1


# ---- edge cases ---------------------------------------------------------------------------

def _edge_without_shim(without_shim) -> Run:
    env = plain_env()
    if SANITIZED:  # let ASan's malloc return NULL as the checks expect, not abort
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":allocator_may_return_null=1"
    return without_shim([build("edge.c")], env=env, timeout=60 * SLOW)


def test_edge_cases_without_the_shim(without_shim):
    """The expectations hold for glibc (ASan's allocator, sanitized): they are the API's."""
    r = _edge_without_shim(without_shim)
    r.expect(0)
    assert "0 failed" in r.stdout, r.describe()


@needs_preload
def test_edge_cases_preloaded(pool_dir, without_shim):
    r = run([build("edge.c"), "--pool", pool_dir], timeout=60,
            env=shim_env(PMALLOC_POOL_DIR=pool_dir, PMALLOC_POOL_SIZE="512M"))
    expect_checks_as_without(r, _edge_without_shim(without_shim))


def test_edge_cases_dlsym(pool_dir, without_shim):
    """The shim's own functions, found by dlsym: what the sanitized build can check.

    The pool is smaller than the 1 GiB that edge.c passes through realloc(p, 0), so a
    realloc(p, 0) that did not free would run out."""
    env = plain_env(PMALLOC_POOL_DIR=pool_dir, PMALLOC_POOL_SIZE="512M")
    r = run([build("edge.c"), "--pool", pool_dir, "--dlopen", SHIM], env=env,
            timeout=60 * SLOW)
    expect_checks_as_without(r, _edge_without_shim(without_shim))


# ---- threads ------------------------------------------------------------------------------

@needs_preload
@pytest.mark.slow
@pytest.mark.parametrize("fork_mode", ["1", "2", "3"], ids=["fork1", "fork2", "fork3"])
def test_cxx_threads_cross_thread_delete(pool_dir, fork_mode, without_shim):
    cmd = [build("threads.cc"), "4", "40000"]
    env = shim_env(PMALLOC_POOL_DIR=pool_dir, PMALLOC_FORK=fork_mode, PMALLOC_STATS="1")
    r = run(cmd, env=env, timeout=120)
    # the output names the failures: the same line as without the shim
    if not expect_output_as_without(r, without_shim(cmd, timeout=120),
                                    "threads.cc deleting across threads"):
        return
    st = stats_of(r.stderr)
    # 4 x 40000 parcels, each a new + a new[] + strings/vectors/maps
    assert st["nmalloc"] >= 4 * 40000 * 2, (
        f"expected the program's new to reach the pool: nmalloc >= 320000, saw "
        f"{st['nmalloc']}\n{r.describe()}")
    assert st["dir"] == pool_dir, st


# ---- fork ---------------------------------------------------------------------------------

FORK_SETTINGS = {
    "default": {},
    "1": {"PMALLOC_FORK": "1"},
    "2": {"PMALLOC_FORK": "2"},
    "3": {"VMMALLOC_FORK": "3"},   # libvmmalloc's name for the same setting
}


@needs_preload
@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["children", "threads", "exec", "spawn"])
@pytest.mark.parametrize("fork_mode", list(FORK_SETTINGS), ids=["fork-default", "fork1", "fork2", "fork3"])
def test_fork(pool_dir, scenario, fork_mode, without_shim):
    """forks.c checks the parent's objects after the children ran; under the shim its
    heap (and each exec'd child's) must lie in a pool file under pool_dir."""
    exe = build("forks.c")
    env = shim_env(PMALLOC_POOL_DIR=pool_dir, PMALLOC_POOL_SIZE="1G",
                   **FORK_SETTINGS[fork_mode])
    r = run([exe, scenario, "--pool", pool_dir], env=env, timeout=180)
    expect_checks_as_without(r, without_shim([exe, scenario], timeout=180))
    assert os.listdir(pool_dir) == [], f"expected no pool file left in {pool_dir}, saw " \
        f"{os.listdir(pool_dir)}"


@needs_preload
def test_default_fork_mode_moves_the_heap_back_onto_a_file(pool_dir):
    """One thread: a fork makes the pool copy-on-write (nothing copied; the child writes its
    own pages), and once forks stop the heap is back on a shared pool file, intact."""
    r = run([build("rehome.c"), "400"], env=shim_env(PMALLOC_POOL_DIR=pool_dir), timeout=60)
    r.expect(0)
    assert "8 passed, 0 failed" in r.stdout, r.describe()


# ---- descriptors ------------------------------------------------------------------------

@needs_preload
def test_no_descriptor_of_the_shim_is_seen(pool_dir):
    """The program's open descriptors are the same with and without the shim."""
    exe = build("fds.c")
    plain = run([exe, "list"], env=plain_env(), timeout=60).expect(0)
    shim = run([exe, "list"], env=shim_env(PMALLOC_POOL_DIR=pool_dir), timeout=60).expect(0)
    assert shim.stdout.split() == plain.stdout.split(), (
        f"expected the descriptors of the plain run {plain.stdout.split()}, saw "
        f"{shim.stdout.split()} under the shim")


@needs_preload
@pytest.mark.parametrize("shim", [False, True], ids=["no-shim", "shim"])
def test_reused_descriptor_keeps_the_programs_file(pool_dir, tmp_path, shim):
    """A daemon-like program closes descriptors 3.. and opens a data file (it gets the
    lowest free number); purges must never reach that file."""
    exe = build("fds.c")
    env = shim_env(PMALLOC_POOL_DIR=pool_dir, PMALLOC_DECAY_MS="0") if shim else plain_env()
    r = run([exe, "punch", str(tmp_path / "data"), "64"], env=env, timeout=120 * SLOW)
    r.expect(0)
    assert "0 bytes changed" in r.stdout, r.describe()


# ---- the heap is in the pool ----------------------------------------------------------------

def _hold_and_look(cmd: list[str], env: dict[str, str], pool_dir: str):
    """Start `hold keep`, wait for its "ready" line, read its maps, let it finish.
    (the "ready" line, the pool's lines of /proc/PID/maps, the finished Run)"""
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen = b""
    try:
        deadline = time.monotonic() + 60 * SLOW
        while not any(ln.startswith(b"ready ") for ln in seen.split(b"\n")[:-1]):
            if time.monotonic() > deadline or proc.poll() is not None:
                break
            if select.select([proc.stdout], [], [], 0.5)[0]:
                seen += os.read(proc.stdout.fileno(), 4096)
        ready = [ln for ln in seen.decode(errors="replace").splitlines()
                 if ln.startswith("ready ")]
        maps = pool_mappings(proc.pid, pool_dir) if ready else []
        out, err = proc.communicate(b"\n", timeout=60 * SLOW)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = Run(cmd, proc.returncode, seen + out, err)
    assert ready, f"expected hold to print a 'ready' line\n{result.describe()}"
    return ready[0], maps, result


@needs_preload
def test_heap_is_in_the_pool_file(pool_dir, tmp_path):
    """`pmalloc run --pool-dir D --stats -- hold keep 64`: the pool file, deleted, is
    mapped from D and holds the program's blocks; the stats count its 64 MiB."""
    exe = str(build("hold.c"))
    mib = 64
    cmd = [*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--stats", "--", exe, "keep",
           str(mib)]
    ready, maps, r = _hold_and_look(cmd, plain_env(), pool_dir)
    expect_checks_as_without(r, _hold_and_look([exe, "keep", str(mib)], plain_env(),
                                               str(tmp_path))[2])
    assert maps, f"expected /proc/PID/maps to map a pool file under {pool_dir}; it did not\n" \
        f"{r.describe()}"
    assert all(line.endswith("(deleted)") for line in maps), maps
    block, small = (int(a, 16) for a in ready.split()[1:3])
    spans = [tuple(int(x, 16) for x in line.split()[0].split("-")) for line in maps]
    for addr in (block, small):
        assert any(lo <= addr < hi for lo, hi in spans), (
            f"expected {addr:#x} (from hold) inside the pool's mappings {maps}")
    st = stats_of(r.stderr)
    assert st["dir"] == pool_dir, st
    assert st["allocated"] >= mib * MiB, (
        f"expected the stats to count the {mib} MiB held: allocated >= {mib * MiB}, saw "
        f"{st['allocated']}\n{r.describe()}")
    assert st["nmalloc"] >= mib * 65, st   # 1 block + 64 small objects per MiB
    assert os.listdir(pool_dir) == [], "the pool file is unlinked at creation"


@needs_preload
def test_without_the_shim_nothing_is_in_the_pool_dir(pool_dir):
    exe = str(build("hold.c"))
    ready, maps, r = _hold_and_look([exe, "keep", "64"], plain_env(), pool_dir)
    r.expect(0)
    assert maps == [], maps
    assert "pmalloc:" not in r.stderr, r.describe()


@needs_preload
def test_the_default_pool_size_and_dir(without_shim):
    """No settings: the pool is in /dev/shm (or $TMPDIR, /tmp) and as large as memory, or
    as the room left there if that is less (tests/shim/test_full_fs.py checks that exactly;
    here other programs may write to the directory while the test runs)."""
    cmd = [build("hold.c"), "fill", "8"]
    phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")

    def expected_size() -> int:
        fs = os.statvfs(expected_dir or tempfile.gettempdir())
        return min(phys, fs.f_bavail * fs.f_frsize) // 4096 * 4096

    expected_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None
    before = expected_size()
    r = run(cmd, env=shim_env(PMALLOC_STATS="1"), timeout=60)
    after = expected_size()
    expect_checks_as_without(r, without_shim(cmd, timeout=60))
    st = stats_of(r.stderr)
    slack = 64 << 20
    assert min(before, after) - slack <= st["size"] <= max(before, after) + slack, (
        f"expected a pool of min(memory, free space) = {before} .. {after} bytes, saw "
        f"{st['size']}")
    if expected_dir:
        assert st["dir"] == expected_dir, st


# ---- exhaustion ---------------------------------------------------------------------------

def _limit_address_space(limit: int):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return set_limit


@needs_preload
def test_exhaustion_null_enomem_then_room_again(pool_dir):
    """A 64 MiB pool: NULL with ENOMEM before 64 MiB of blocks, a clean exit; glibc
    under a 512 MiB address-space limit does the same, later."""
    exe = build("hold.c")
    base = run([exe, "exhaust", "4096"], env=plain_env(), timeout=60,
               preexec_fn=_limit_address_space(512 * MiB))
    r = run([exe, "exhaust", "4096"], timeout=60,
            env=shim_env(PMALLOC_POOL_DIR=pool_dir, PMALLOC_POOL_SIZE="64M"))
    expect_checks_as_without(r, base)
    got = int(r.stdout.split("NULL after ")[1].split()[0])
    assert 32 <= got < 64, f"expected NULL after 32..63 MiB of blocks in a 64 MiB pool, " \
        f"saw {got}\n{r.describe()}"
    assert r.stderr == "", f"expected nothing on stderr (no crash, no message)\n{r.describe()}"


@needs_preload
def test_fallback_keeps_going_past_the_pool(pool_dir, without_shim):
    """--fallback: 200 MiB through a 32 MiB pool, as without the shim; without the
    fallback, the same run meets ENOMEM."""
    exe = str(build("hold.c"))
    common = [*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--pool-size", "32M", "--stats"]
    r = run([*common, "--fallback", "--", exe, "fill", "200"], env=plain_env(), timeout=60)
    expect_checks_as_without(r, without_shim([exe, "fill", "200"], timeout=60))
    st = stats_of(r.stderr)
    assert "(fallback heap in use)" in st["rest"], r.describe()
    no = run([*common, "--", exe, "fill", "200"], env=plain_env(), timeout=60)
    no.expect(1)
    assert "Cannot allocate memory" in no.stdout, no.describe()


# ---- the tier preload (libmemtier.so) under the same edge cases ----------------------------
# One PMEM tier in the pool directory, so that edge.c's "in the pool" checks hold; spreading
# over several tiers is tests/kind/test_tiers.py's.

TIER_PRELOAD = os.path.join(os.path.dirname(SHIM), "libmemtier.so")


@needs_preload
def test_edge_cases_tier_preload(pool_dir, without_shim):
    env = plain_env(PMALLOC_TIERS=f"PMEM@{pool_dir}:1", LD_PRELOAD=TIER_PRELOAD)
    r = run([build("edge.c"), "--pool", pool_dir], timeout=60, env=env)
    expect_checks_as_without(r, _edge_without_shim(without_shim))


def test_edge_cases_tier_preload_dlsym(pool_dir, without_shim):
    env = plain_env(PMALLOC_TIERS=f"PMEM@{pool_dir}:1")
    r = run([build("edge.c"), "--pool", pool_dir, "--dlopen", TIER_PRELOAD], env=env,
            timeout=60 * SLOW)
    expect_checks_as_without(r, _edge_without_shim(without_shim))
