"""Running: one process, the contenders alternating, progress on stderr."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from .build import BenchError, Contender, Places, Pmalloc, Setup, build_all

Sample = dict[str, Any]  # the figures of one run, by name
Key = tuple[str, str]    # (contender, workload)


def say(msg: str) -> None:
    """Progress and notes go to stderr: stdout carries the tables only."""
    print(msg, file=sys.stderr, flush=True)


class RunFailed(Exception):
    def __init__(self, reason: str, crashed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.crashed = crashed  # killed by a signal: worth a retry


@dataclass
class Proc:
    wall: float      # seconds
    peak_rss: int    # bytes, the process and its children (wait4's rusage)
    stdout: str
    stderr: str


def base_env(drop: tuple[str, ...] = ("LD_PRELOAD",)) -> dict[str, str]:
    """This environment without the variables (prefixes) a contender sets itself."""
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run_process(cmd: list[str], env: dict[str, str], timeout: float,
                stdin: bytes | None = None) -> Proc:
    """One run, timed from outside; RunFailed unless it exits 0.

    Its peak RSS starts at this process's own peak: Linux carries the high-water mark of
    the forked copy over the exec. Keep this process small, or small programs read bigger.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        try:
            proc = subprocess.Popen(cmd, env=env, stdin=inp, stdout=out, stderr=err)
        except OSError as e:
            raise RunFailed(f"cannot run {shlex.join(cmd)}: {e}") from None
        # wait4, not wait: its rusage gives the peak RSS of the program and its children
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > start + timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise RunFailed(f"timed out after {timeout:g} s: {shlex.join(cmd)}")
            time.sleep(0.002)
        wall = time.perf_counter() - start
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        p = Proc(wall, ru.ru_maxrss * 1024, out.read().decode(errors="replace"),
                 err.read().decode(errors="replace"))
    if "cannot be preloaded" in p.stderr:
        raise RunFailed(f"the preload was ignored: {p.stderr.strip()}")
    if rc != 0:
        tail = " | ".join(p.stderr.strip().splitlines()[-3:])
        how = f"signal {-rc}" if rc < 0 else f"exit {rc}"
        raise RunFailed(f"{how}: {tail or '(no message)'}; command: {shlex.join(cmd)}", rc < 0)
    return p


def json_lines(p: Proc) -> list[dict[str, Any]]:
    """The result lines a driver prints, one JSON object each."""
    lines = []
    for ln in p.stdout.splitlines():
        if ln.startswith("{"):
            try:
                lines.append(json.loads(ln))
            except json.JSONDecodeError:
                raise RunFailed(f"unparsable output line: {ln!r}") from None
    if not lines:
        raise RunFailed("no result line")
    return lines


@dataclass
class Runs:
    samples: dict[Key, list[Sample]] = field(default_factory=dict)
    failed: dict[Key, str] = field(default_factory=dict)         # given up on, and why
    crashes: dict[Key, list[str]] = field(default_factory=dict)  # retried crashes


def alternate(cons: list[Contender], reps: dict[str, int],
              measure: Callable[[Contender, str, int], Sample],
              show: Callable[[str, Sample], str], retries: int = 0,
              reverse_odd: bool = False) -> Runs:
    """Each repetition runs every workload under every contender in turn (A B C, A B C, ...),
    so drift in the machine's load falls on all of them alike; `reverse_odd` also turns the
    order round every other repetition. A pair that fails is not run again."""
    runs = Runs()
    for rep in range(max(reps.values(), default=0)):
        order = cons[::-1] if reverse_odd and rep % 2 else cons
        for w, n in reps.items():
            for c in order:
                if rep < n and (c.name, w) not in runs.failed:
                    tag = f"[{w} {rep + 1}/{n}] {c.name:12s}"
                    record(runs, (c.name, w), tag, lambda: measure(c, w, rep), show, retries)
    return runs


def record(runs: Runs, key: Key, tag: str, run: Callable[[], Sample],
           show: Callable[[str, Sample], str], retries: int) -> None:
    """One repetition of a pair: its sample, or its failure; a crash is retried."""
    for attempt in range(retries + 1):
        try:
            sample = run()
        except RunFailed as e:
            if e.crashed and attempt < retries:
                runs.crashes.setdefault(key, []).append(e.reason)
                say(f"{tag} CRASHED, retrying: {e.reason}")
                continue
            runs.failed[key] = e.reason
            say(f"{tag} FAILED: {e.reason}")
            return
        runs.samples.setdefault(key, []).append(sample)
        say(f"{tag} {show(key[1], sample)}")
        return


def choose(cons: list[Contender], names: str, find: Callable[[], Pmalloc | str],
           places: Places) -> Setup:
    """The contenders of the comma-separated `names` (all when empty), their drivers built;
    those that cannot run are said and kept, marked skipped. BenchError when none can run
    or a name is unknown."""
    try:
        want = pick(names, [c.name for c in cons], "contender")
    except ValueError as e:
        raise BenchError(str(e)) from None
    chosen = [replace(c) for c in cons if not want or c.name in want]  # copies: skip is set
    setup = build_all(chosen, find, places)
    for c in chosen:
        if c.skip:
            say(f"skip {c.name}: {c.skip}")
    if not setup.live:
        raise BenchError("no contender can run")
    return setup


def pick(text: str, known: list[str], what: str) -> list[str]:
    """The names of a comma-separated list; ValueError naming those not in `known`."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"unknown {what}(s) {', '.join(bad)}; choose from {', '.join(known)}")
    return names
