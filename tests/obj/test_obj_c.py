"""pmalloc's libpmemobj from C, through PMDK's documented API: the pool and atomic API
(tests/obj/c/obj_api.c) and transactions (obj_tx.c), also built unchanged against PMDK's
libpmemobj; then kill -9 at random moments of the resumable loop of examples/c and of a
random transaction mix (txmix.c), each kill followed by a check of what survived."""
from __future__ import annotations

import random
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import SANITIZED, STRICT_FLAGS, run_command

HERE = Path(__file__).parent
ROUNDS = 100
LONGEST_NAP = 0.04         # a kill lands in open, recovery or mid-transaction alike
M64 = (1 << 64) - 1


@pytest.mark.parametrize("program", ["obj_api.c", "obj_tx.c", "obj_actions.c"])
def test_api_program(c_program, pool_dir, program):
    run = c_program(program, pool_dir, timeout=120)
    assert run.returncode == 0 and ", 0 failed" in run.stdout, run.describe()


def _pmdk_available() -> bool:
    if shutil.which("gcc") is None or not Path("/usr/include/libpmemobj.h").exists():
        return False
    probe = subprocess.run(["gcc", "-print-file-name=libpmemobj.so"], capture_output=True,
                           text=True)
    return Path(probe.stdout.strip()).exists()


@pytest.mark.skipif(SANITIZED or not _pmdk_available(),
                    reason="needs Debian's libpmemobj-dev (and an unsanitized run)")
@pytest.mark.parametrize("program", ["obj_api.c", "obj_tx.c", "obj_actions.c"])
def test_same_program_passes_against_pmdk(tmp_path, pool_dir, program):
    """The expectations of the API programs are PMDK's behaviour, not only ours."""
    exe = tmp_path / f"{Path(program).stem}_pmdk"
    c_dir = HERE.parent / "c"
    run_command(["gcc", *STRICT_FLAGS, f"-I{c_dir}", str(HERE / "c" / program),
                 "-lpmemobj", "-o", str(exe)], timeout=120).expect_success()
    run = run_command([str(exe), pool_dir], timeout=120)
    assert run.returncode == 0 and ", 0 failed" in run.stdout, run.describe()


# ---- kill -9 -------------------------------------------------------------------------------

def _run_then_kill(cmd: list[str], rng: random.Random,
                   after_first_line: bool = False) -> tuple[int, str, str]:
    """Start cmd, let it run for a random short nap, kill -9; exit status and outputs.
    after_first_line: nap only once it printed a line (a kill mid-run, however long the
    pool takes to open), else from the start (a kill in open and recovery too)."""
    with tempfile.TemporaryFile("w+") as errors:
        # stderr to a file: communicate() then reads stdout through its buffer, where
        # readline() may have left more than the first line
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True)
        first = ""
        if after_first_line:
            if not select.select([proc.stdout], [], [], 60)[0]:
                proc.kill()
                proc.wait()
                pytest.fail(f"expected {shlex.join(cmd)} to commit within 60 s; it did not")
            first = proc.stdout.readline()
        time.sleep(rng.uniform(0.0, LONGEST_NAP))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        errors.seek(0)
        return proc.returncode, first + out, errors.read()


def _fields(line: str) -> dict[str, int]:
    """{"i": 5, "result": 7} from "i=5 result=7"."""
    return {k: int(v) for k, v in (f.split("=") for f in line.split())}


def calculate(i: int, result: int) -> int:
    """examples/c/resumable_loop.c's step, in Python."""
    x = (result + (i + 1) * 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


@pytest.mark.slow
def test_resumable_loop_loses_no_committed_step(c_example, pool_dir):
    exe = str(c_example.build("resumable_loop.c"))
    pool = f"{pool_dir}/loop.obj"
    c_example.run(exe, pool, "0").expect_success()      # made before any kill
    budget = 20_000            # steps a round may do: bounds the Python check below
    rng = random.Random(20240601)
    done = 0
    for rnd in range(ROUNDS):
        status, _, err = _run_then_kill([exe, pool, str(done + budget)], rng)
        assert status in (0, -signal.SIGKILL), (
            f"round {rnd}: expected the loop to run until killed, saw exit status "
            f"{status}: {err}")
        verify = c_example.run(exe, "--verify", pool)
        assert verify.returncode == 0, f"round {rnd}: {verify.describe()}"
        i = _fields(verify.stdout)["i"]
        assert i >= done, f"round {rnd}: {done} steps had committed, the pool holds {i}"
        done = i
    print(f"{ROUNDS} kills: {done} steps committed")

    # to completion, and the same result as Python's
    end = done + 10_000
    run = c_example.run(exe, pool, str(end)).expect_success()
    expected = 0
    for i in range(end):
        expected = calculate(i, expected)
    assert _fields(run.stdout) == {"i": end, "result": expected}, (
        f"expected i={end} result={expected}, saw {run.stdout!r}")


@pytest.mark.slow
def test_transaction_mix_survives_kill_9(c_program, pool_dir):
    exe = str(c_program.build("txmix.c"))
    pool = f"{pool_dir}/mix.obj"
    c_program.run(exe, "create", pool).expect_success()
    rng = random.Random(7)
    acked = 0
    for rnd in range(ROUNDS):
        status, out, err = _run_then_kill([exe, "run", pool, str(rnd + 1), "0"], rng,
                                          after_first_line=rnd % 2 == 1)
        assert status == -signal.SIGKILL, (
            f"round {rnd}: expected the mix to run until killed, saw exit status "
            f"{status}: {err}")
        lines = out.split("\n")[:-1]        # whole lines only
        if lines:
            assert int(lines[-1]) > acked, f"round {rnd}: versions went back: {lines[-3:]}"
            acked = int(lines[-1])
        check = c_program.run(exe, "check", pool, str(acked))
        assert check.returncode == 0, (
            f"round {rnd}, last acknowledged version {acked}:\n{check.describe()}")
        acked = _fields(check.stdout)["version"]  # a commit the kill hid is one now
    print(f"{ROUNDS} kills: {acked} transactions committed")

    run = c_program.run(exe, "run", pool, "1000", "2000").expect_success()
    acked = int(run.stdout.split()[-1])
    check = c_program.run(exe, "check", pool, str(acked))
    assert check.returncode == 0, check.describe()
    assert _fields(check.stdout)["version"] == acked
