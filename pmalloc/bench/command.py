"""`pmalloc bench`: the allocator suite against the allocators installed on this machine."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from . import allocators, plot, report, runner, stats
from .allocators import CONTENDERS, WORKLOADS
from .build import BenchError, Pmalloc, Places, Setup, checked, system_lib_dirs

DESCRIPTION = """\
Build the benchmark drivers (into a temporary directory), find the allocators installed
here and run the workloads under each, alternating them, then print the medians and the
ratios pmalloc / anchor. Contenders: glibc (no preload); Debian's jemalloc, mimalloc,
tcmalloc (LD_PRELOAD) and memkind's PMEM kind; pmalloc's vmem pool; pmalloc's shim
libvmmalloc.so preloaded. Those not installed are skipped, naming their package. Progress
goes to stderr. A full run takes a few minutes on 2 cores; --quick well under a minute."""
TIMEOUT = 900.0  # seconds before one run is abandoned
RETRIES = 2      # reruns of a run killed by a signal (memkind's xthread, now and then)


def names(known: list[str], what: str) -> Callable[[str], str]:
    """An argparse type: a comma-separated list of `known` names (usage error otherwise)."""
    def check(text: str) -> str:
        try:
            runner.pick(text, known, what)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text
    return check


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("not a positive whole number")
    return int(text)


def add_arguments(p: argparse.ArgumentParser, pool_dir: type[argparse.Action]) -> None:
    """The options of `pmalloc bench`; `pool_dir` checks --pool-dir as the other commands do."""
    p.add_argument("--workloads", type=names(list(WORKLOADS), "workload"),
                   default=",".join(WORKLOADS), help="comma-separated (default: %(default)s)")
    p.add_argument("--contenders", type=names([c.name for c in CONTENDERS], "contender"),
                   default="", help="comma-separated, from "
                   f"{', '.join(c.name for c in CONTENDERS)} (default: all installed)")
    p.add_argument("--reps", type=positive, default=None,
                   help="repetitions (default: 5, frag 3; --quick: 1)")
    p.add_argument("--quick", action="store_true",
                   help="1 repetition and smaller counts: a smoke test, not figures to quote")
    p.add_argument("--pool-dir", action=pool_dir, default=None,
                   help="directory of the pool files (default: pmalloc's default pool dir)")
    p.add_argument("--lib-dir", action="append", default=None, metavar="DIR",
                   help="look for the anchor libraries here (repeatable; default: the "
                   "system's library directories)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--plot", metavar="FILE", type=plot.path, default=None,
                   help="also draw a chart, PNG or SVG by FILE's extension (needs matplotlib: "
                   "pip install 'pmalloc[bench]')")


def sources() -> Path:
    """The drivers' C sources, installed with the package."""
    src = Path(str(resources.files(__package__) / "src"))
    if not (src / "driver.c").is_file():
        raise BenchError(f"no driver sources in {src}: reinstall pmalloc (pip install .)")
    return src


def this_pmalloc() -> Pmalloc | str:
    """The pmalloc running this command, or why its library is missing."""
    import pmalloc

    return checked(Pmalloc(pmalloc.get_include(), pmalloc.get_library(),
                           pmalloc.preload_path(), pmalloc.__version__), sys.executable)


def missing(setup: Setup) -> str | None:
    """What was skipped for want of a package, and the command that installs them."""
    skipped = [c for c in setup.cons if c.install]
    if not skipped:
        return None
    packages = " ".join(dict.fromkeys(c.install or "" for c in skipped))
    return (f"skipped {', '.join(c.name for c in skipped)}: not installed. On Debian or "
            f"Ubuntu: apt-get install {packages}")


def figures(setup: Setup, workloads: list[str], reps: dict[str, int], pool_dir: str,
            runs: runner.Runs) -> dict[str, Any]:
    """What --json prints: per workload and contender, the medians and every sample."""
    med = stats.medians(runs.samples)
    live = [c.name for c in setup.live]

    def per(get: Callable[[str, str], Any], among: list[str]) -> dict[str, Any]:
        return {w: {n: get(n, w) for n in among if (n, w) in runs.samples} for w in workloads}

    return {"workloads": workloads, "reps": reps, "pool_dir": pool_dir,
            "contenders": {c.name: {"note": c.note, "skipped": c.skip, "install": c.install}
                           for c in setup.cons},
            "medians": per(lambda n, w: med[(n, w)], live),
            "ratios": per(lambda n, w: allocators.ratio(med, w, n), allocators.anchors(live)),
            "samples": per(lambda n, w: runs.samples[(n, w)], live),
            "failures": report.failures(runs), "missing": missing(setup),
            "machine": dict(report.machine(setup.pmalloc, allocators.PACKAGES)),
            "builds": setup.builds}


def run(args: argparse.Namespace) -> int:
    """`pmalloc bench`: 0 when every run finished, 1 when some failed or none could run."""
    workloads = runner.pick(args.workloads, list(WORKLOADS), "workload")
    try:
        if args.plot:
            plot.check()
        if args.pool_dir is None:
            from ..vmem import default_dir
            args.pool_dir = default_dir()
        lib_dirs = tuple(map(Path, args.lib_dir)) if args.lib_dir else system_lib_dirs()
        with tempfile.TemporaryDirectory(prefix="pmalloc-bench-") as out:
            setup = runner.choose(CONTENDERS, args.contenders, this_pmalloc,
                                  Places(sources(), Path(out), lib_dirs=lib_dirs))
            reps = allocators.reps(workloads, args.quick, args.reps)
            runs = allocators.run(setup, reps, args.quick, args.pool_dir, TIMEOUT, RETRIES, [])
    except BenchError as e:
        print(f"pmalloc bench: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figures(setup, workloads, reps, args.pool_dir, runs), indent=2))
    else:
        print("\n".join(allocators.tables([c.name for c in setup.live], workloads,
                                          stats.medians(runs.samples), runs)).rstrip())
    if args.plot:
        plot.write(args.plot, [c.name for c in setup.live], workloads, runs)
        runner.say(f"wrote {args.plot}")
    for line in report.failures(runs) + [m for m in [missing(setup)] if m]:
        runner.say(line)
    return 1 if runs.failed else 0
