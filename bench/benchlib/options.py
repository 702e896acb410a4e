"""The options every suite has, and their checks."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from pmalloc.bench.build import BenchError, Contender, Setup, find_pmalloc
from pmalloc.bench.runner import choose, pick, say

from . import REPO, places


def default_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


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
    try:
        args.workloads = pick(getattr(args, "only", ""), workloads, "workload")
    except ValueError as e:
        ap.error(str(e))
    args.python = args.python or default_python()
    args.quick = getattr(args, "quick", False)
    if not os.path.isdir(args.pool_dir) or not os.access(args.pool_dir, os.W_OK):
        say(f"note: pool dir {args.pool_dir} is not a writable directory; "
            f"using {tempfile.gettempdir()}")
        args.pool_dir = tempfile.gettempdir()
    return args


def contenders(cons: list[Contender], args: argparse.Namespace) -> Setup:
    """Those of --contenders, with their drivers built in bench/out; exits when none can run."""
    try:
        return choose(cons, args.contenders, lambda: find_pmalloc(args.python), places())
    except BenchError as e:
        sys.exit(f"bench: {e}")
