"""resumable_loop.py -- the talk's loop in Python: a computation that survives kill -9.

The loop's whole state, the step count i and the running result, lives in the root object
of an object pool. Each step snapshots the root, computes and commits in one transaction:
killed at any moment, the program resumes from the last committed step, never from a
half-done one, and ends with the result an uninterrupted run prints.

    python examples/resumable_loop.py /dev/shm/loop.obj 1000000
    # stop it with kill -9 (or Ctrl-C) at any moment, run the same command again: it resumes

It prints where it starts ("resuming at step K"), then "i=N result=R". The pool is the one
examples/c/resumable_loop.c uses (same layout, root and step), so either program can go
on with the other's run.
"""
from __future__ import annotations

import argparse
import contextlib
import os

from pmalloc.obj import MIN_POOL_SIZE, ObjPool

LAYOUT = "resumable"
ROOT_SIZE = 16          # struct root { uint64_t i, result; } of the C example
M64 = (1 << 64) - 1


def calculate(i: int, result: int) -> int:
    """One step: a cheap, deterministic mix of the step number into the result (a lost,
    repeated or half-applied step changes every later result)."""
    x = (result + (i + 1) * 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def open_or_create(path: str, size: int) -> ObjPool:
    """The pool at path, made if there is none. A new pool is made under another name and
    renamed when whole, so a kill while it is being made leaves no half-made pool at path."""
    try:
        return ObjPool.open(path, LAYOUT)
    except FileNotFoundError:
        pass
    new = path + ".new"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(new)                      # left by a run killed while making it
    pool = ObjPool.create(new, LAYOUT, size)
    os.rename(new, path)
    return pool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pool", help="the pool file (made if missing)")
    parser.add_argument("n", type=int, help="run until this many steps are done")
    parser.add_argument("--size", type=int, default=MIN_POOL_SIZE,
                        help="size of a new pool in bytes (default: %(default)s)")
    args = parser.parse_args(argv)

    pool = open_or_create(args.pool, args.size)
    # the root as two uint64 (C's struct root): state[0] = steps done, state[1] = result
    with pool, memoryview(pool.root(ROOT_SIZE)).cast("Q") as state:
        print(f"resuming at step {state[0]}", flush=True)
        while state[0] < args.n:
            with pool.transaction() as tx:
                tx.add(state)               # a kill before the commit rolls both back
                state[1] = calculate(state[0], state[1])
                state[0] += 1
        print(f"i={state[0]} result={state[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
