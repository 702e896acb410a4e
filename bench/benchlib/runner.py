"""Running: one process, the contenders alternating, the options every suite has."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .build import Contender, Setup, build_all, default_python

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
                    tag = f"[{w} {rep + 1}/{n}] {c.name:9s}"
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


def common_options(ap: argparse.ArgumentParser, workloads: list[str], timeout: float,
                   reps: str, quick: str = "") -> None:
    """The options of every suite; --quick where the suite has a `quick` mode to describe."""
    if quick:
        ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--reps", type=int, default=None, help=f"repetitions (default: {reps})")
    if workloads:
        ap.add_argument("--only", default=",".join(workloads),
                        help="comma-separated workloads (default: %(default)s)")
    for name, default, text in (
            ("--contenders", "", "comma-separated contenders (default: all)"),
            ("--pool-dir", "/dev/shm", "directory of the pool files (default: %(default)s)"),
            ("--python", None, "interpreter that imports pmalloc (default: .venv/bin/python "
                               "if present, else this one)")):
        ap.add_argument(name, default=default, help=text)
    ap.add_argument("--timeout", type=float, default=timeout,
                    help="seconds before one run is abandoned (default: %(default)s)")
    ap.add_argument("--retries", type=int, default=2,
                    help="reruns of a run killed by a signal; each crash is reported "
                         "(default: %(default)s)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")


def parse(ap: argparse.ArgumentParser, argv: list[str] | None,
          workloads: list[str]) -> argparse.Namespace:
    """Parse, check --only into args.workloads, fill in the defaults that need a look."""
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.workloads = [w.strip() for w in getattr(args, "only", "").split(",") if w.strip()]
    bad = [w for w in args.workloads if w not in workloads]
    if bad:
        ap.error(f"unknown workload(s) {', '.join(bad)}; choose from {', '.join(workloads)}")
    args.python = args.python or default_python()
    args.quick = getattr(args, "quick", False)
    if not os.path.isdir(args.pool_dir) or not os.access(args.pool_dir, os.W_OK):
        say(f"note: pool dir {args.pool_dir} is not a writable directory; "
            f"using {tempfile.gettempdir()}")
        args.pool_dir = tempfile.gettempdir()
    return args


def contenders(cons: list[Contender], args: argparse.Namespace) -> Setup:
    """Those of --contenders, with their drivers built; exits when none can run."""
    want = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = [n for n in want if n not in {c.name for c in cons}]
    if unknown:
        sys.exit(f"bench: unknown contender(s) {', '.join(unknown)}; "
                 f"choose from {', '.join(c.name for c in cons)}")
    chosen = [replace(c) for c in cons if not want or c.name in want]  # copies: skip is set
    setup = build_all(chosen, args.python)
    for c in chosen:
        if c.skip:
            say(f"skip {c.name}: {c.skip}")
    if not setup.live:
        sys.exit("bench: no contender can run")
    return setup
