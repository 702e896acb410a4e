"""examples/resumable_loop.py, the talk's loop in Python: it prints the result a plain Python
loop computes, resumes (and is resumed by) examples/c/resumable_loop.c, and, killed with
kill -9 a hundred times at random moments and restarted each time, ends with the result of
an uninterrupted run.

The killed runs are forks of this process running the example file as __main__ (runpy), so
that the third of a second a new interpreter spends importing numpy and pmalloc is paid
once, not a hundred times, and the kills land in the example's own work: creating or
opening the pool, recovery, the loop. The other runs are whole new processes."""
from __future__ import annotations

import os
import random
import runpy
import select
import signal
import sys
import time
import traceback
from pathlib import Path

import pytest

import pmalloc.obj  # noqa: F401 - imported before the forks, which then skip it
from conftest import run_command

from .test_obj_c import calculate

EXAMPLE = Path(__file__).parents[2] / "examples" / "resumable_loop.py"
ROUNDS = 100
BUDGET = 20_000            # steps a round may do past the last step seen committed
LONGEST_NAP = 0.04         # once the loop runs: a kill lands mid-transaction or between
STARTUP_NAP = 0.03         # from the start (every fourth round): also in creation or recovery


def loop(pool: str, n: int) -> list[str]:
    return [sys.executable, str(EXAMPLE), pool, str(n)]


_computed = [0, 0]          # (steps, result) of the longest plain loop run so far


def expected(n: int) -> int:
    """The result of n steps of a plain Python loop (going on from the last call's)."""
    i, result = _computed if n >= _computed[0] else (0, 0)
    for i in range(i, n):
        result = calculate(i, result)
    _computed[:] = max(_computed, [n, result])
    return result


def lines(run_stdout: str) -> list[str]:
    return run_stdout.splitlines()


def test_loop_prints_the_result_of_a_plain_loop(pool_dir):
    pool = os.path.join(pool_dir, "loop.obj")
    run = run_command(loop(pool, 5000), timeout=120).expect_success()
    assert lines(run.stdout) == ["resuming at step 0", f"i=5000 result={expected(5000)}"], \
        run.describe()
    run = run_command(loop(pool, 12000), timeout=120).expect_success()      # goes on
    assert lines(run.stdout) == ["resuming at step 5000", f"i=12000 result={expected(12000)}"], \
        run.describe()
    run = run_command(loop(pool, 100), timeout=120).expect_success()        # nothing to do
    assert lines(run.stdout) == ["resuming at step 12000", f"i=12000 result={expected(12000)}"], \
        run.describe()
    assert os.listdir(pool_dir) == ["loop.obj"], "expected the pool file and nothing else"


def test_c_and_python_loops_resume_each_other(c_example, pool_dir):
    """The Python example keeps the C example's pool format: same layout, root and step."""
    exe = c_example.build("resumable_loop.c")
    pool = os.path.join(pool_dir, "loop.obj")
    c_example.run(exe, pool, "3000").expect_success()
    run = run_command(loop(pool, 7000), timeout=120).expect_success()
    assert lines(run.stdout) == ["resuming at step 3000", f"i=7000 result={expected(7000)}"], \
        run.describe()
    run = c_example.run(exe, pool, "9000").expect_success()
    assert run.stdout.split() == ["i=9000", f"result={expected(9000)}"], run.describe()
    c_example.run(exe, "--verify", pool).expect_success()


def start_forked(argv: list[str]) -> tuple[int, int]:
    """Run the example as __main__ in a forked child of this process, which has imported
    pmalloc and numpy already: (its pid, the read end of its stdout)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                  # the child: never returns
        code = 1
        try:
            os.close(r)
            sys.stdout = open(w, "w", buffering=1)
            sys.argv = [str(EXAMPLE), *argv]
            runpy.run_path(str(EXAMPLE), run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - reported on stderr, status 1
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            os._exit(code)
    os.close(w)
    return pid, r


def run_then_kill(argv: list[str], rng: random.Random,
                  from_start: bool) -> tuple[int, list[str]]:
    """Run the example (forked) and kill -9 it after a random nap: from its start, or from
    its first line (the pool is open, the loop begins). Its exit status and output lines."""
    pid, r = start_forked(argv)
    with open(r, "r") as out:
        first = ""
        if from_start:
            time.sleep(rng.uniform(0.0, STARTUP_NAP))
        else:
            if not select.select([out], [], [], 60)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"expected the loop to open its pool within 60 s; it did not")
            first = out.readline()
            time.sleep(rng.uniform(0.0, LONGEST_NAP))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        rest = out.read()
    return os.waitstatus_to_exitcode(status), lines(first + rest)


@pytest.mark.slow
def test_loop_killed_at_random_ends_with_the_uninterrupted_result(pool_dir):
    pool = os.path.join(pool_dir, "loop.obj")
    rng = random.Random(20240613)
    done = 0                 # steps known committed: the latest "resuming at step K"
    mid_run = finished = 0
    for rnd in range(ROUNDS):
        target = done + BUDGET
        status, out = run_then_kill([pool, str(target)], rng, from_start=rnd % 4 == 0)
        if status == 0:
            finished += 1
            assert out[-1] == f"i={target} result={expected(target)}", (
                f"round {rnd}: expected the loop to end with i={target}, saw {out}")
        else:
            assert status == -signal.SIGKILL, (
                f"round {rnd}: expected the loop to run until killed, saw exit status "
                f"{status} (its stderr is in the test's captured output)")
        if out:
            assert out[0].startswith("resuming at step "), f"round {rnd}: {out}"
            k = int(out[0].split()[-1])
            assert done <= k <= target, (
                f"round {rnd}: {done} steps had committed, the loop resumed at {k}")
            done = k
            mid_run += status != 0 and len(out) == 1
    print(f"\n{ROUNDS} rounds: {mid_run} killed inside the loop, {finished} finished first, "
          f"{done} steps committed")
    assert mid_run >= ROUNDS // 4, (
        f"expected a quarter of the kills or more to land while the loop runs, saw {mid_run} "
        f"of {ROUNDS}")

    end = done + BUDGET
    run = run_command(loop(pool, end), timeout=120).expect_success()
    assert lines(run.stdout)[-1] == f"i={end} result={expected(end)}", (
        f"expected the result of an uninterrupted run of {end} steps\n{run.describe()}")
    assert os.listdir(pool_dir) == ["loop.obj"], (
        f"expected the pool file and nothing else, saw {os.listdir(pool_dir)}")
