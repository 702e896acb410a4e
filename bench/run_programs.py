#!/usr/bin/env python3
"""bench/run_programs.py -- real programs under each allocator, pmalloc's shim included (issue 3).

Runs unmodified programs with no preload (glibc), LD_PRELOAD of Debian's jemalloc,
mimalloc and tcmalloc, and LD_PRELOAD of pmalloc's libvmmalloc.so with its pool in
/dev/shm, the contenders alternating within each repetition (A B C D E, A B C D E, ...).
Per run: wall time and peak RSS (wait4's rusage, which covers the program's children,
e.g. gcc's cc1). Medians, ratios against glibc and jemalloc, the issue's targets.

Workloads:
  python         python3 building and dropping dicts, lists and strings
  python-malloc  the same with PYTHONMALLOC=malloc (every object through malloc)
  sqlite         sqlite3 CLI, in-memory, tests/shim/workload.sql scaled to 500k inserts
  gcc            gcc -O2 -c of a generated 3.5k-line C file (tests/shim/gen_c.py)
  huge           bench/src/huge.c: 20 live blocks of 5-25 MiB, one replaced 2,000 times
  small, large, xthread   bench/src/driver.c built for plain malloc (as bench/run.py does)

    python3 bench/run_programs.py                 # 5 reps; section in bench/RESULTS.md
    python3 bench/run_programs.py --quick         # 1 rep; prints the table only
    python3 bench/run_programs.py --only python,sqlite --reps 3

Standard library only. Nothing here is asserted by the tests.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import BENCH, REPO, options, results
from pmalloc.bench import build, report, runner, stats
from pmalloc.bench.build import SHIM, Contender
from pmalloc.bench.report import fmt, table
from pmalloc.bench.stats import Target

PY_WORKLOAD = """\
import sys
rounds = int(sys.argv[1])
total = 0
for r in range(rounds):
    table = {}
    for i in range(120000):
        key = f"key-{r}-{i}"
        table[key] = {"id": i, "name": key.upper(), "tags": [key[-3:], str(i % 97)]}
    rows = [v for k, v in table.items() if v["id"] % 3]
    text = ",".join(v["name"] for v in rows[:50000])
    words = text.split(",")
    total += len(words) + sum(len(w) for w in words[::7])
    nested = [[str(j) * (j % 5 + 1) for j in range(i % 40)] for i in range(20000)]
    total += sum(map(len, nested))
    del table, rows, text, words, nested
print(total)
"""


@dataclass(frozen=True)
class Program:
    argv: tuple[str, ...]   # {python} {sqlite3} {driver} {work} are filled in
    full: tuple[str, ...]   # arguments appended for a full run
    quick: tuple[str, ...]  # ... and for --quick
    env: dict[str, str] = field(default_factory=dict)
    stdin: str = ""         # a file in the work directory
    same_output: bool = False  # checked to print the same under every contender


PY = ("{python}", "{work}/py_workload.py")
PROGRAMS = {
    "python": Program(PY, ("6",), ("2",), same_output=True),
    "python-malloc": Program(PY, ("6",), ("2",), {"PYTHONMALLOC": "malloc"}, same_output=True),
    "sqlite": Program(("{sqlite3}",), (), (), stdin="workload.sql", same_output=True),
    "gcc": Program(("gcc", "-O2", "-c", "{work}/gen.c", "-o", "{work}/gen.o"), (), ()),
    "huge": Program(("{work}/huge",), ("2000",), ("100",), same_output=True),
    "small": Program(("{driver}", "small", "--seed", "1"), ("--n", "20000000"), ("--n", "1000000")),
    "large": Program(("{driver}", "large", "--seed", "1"), ("--n", "2000000"), ("--n", "100000")),
    "xthread": Program(("{driver}", "xthread", "--seed", "1"), ("--n", "4000000"), ("--n", "250000")),
}
SQL_ROWS = ("WHERE i < 200000", "WHERE i < 500000")  # workload.sql's inserts, scaled up
CONTENDERS = [*build.MALLOC_ANCHORS,
              Contender("pmalloc", "LD_PRELOAD libvmmalloc.so", "driver-malloc", SHIM)]
# pmalloc's shim reads these; a run sets them itself
DROP_ENV = ("LD_PRELOAD", "PMALLOC_", "VMMALLOC_", "PYTHONMALLOC")
RATIOS = [("wall", "glibc", "wall / glibc"), ("wall", "jemalloc", "wall / jemalloc"),
          ("rss", "glibc", "RSS / glibc"), ("rss", "jemalloc", "RSS / jemalloc")]
TARGETS = [Target("wall/glibc", "wall", 1.0, "glibc", True),
           Target("wall/jemalloc", "wall", 1.0, "jemalloc", True),
           Target("RSS/glibc", "rss", 1.10, "glibc", True)]
TARGETS_TEXT = ("Targets (pmalloc's shim): wall <= 1.00x glibc, wall <= 1.00x jemalloc, "
                "peak RSS <= 1.10x glibc. Margin = target - ratio (negative: missed).")


def prepare(work: Path, quick: bool, driver: Path) -> dict[str, str]:
    """Write the inputs into `work`; the values of the placeholders of Program.argv."""
    (work / "py_workload.py").write_text(PY_WORKLOAD)
    sql = (REPO / "tests" / "shim" / "workload.sql").read_text()
    (work / "workload.sql").write_text(sql if quick else sql.replace(*SQL_ROWS))
    python = os.path.realpath(sys.executable)  # a CPython binary, not a pyenv shim script
    subprocess.run([python, str(REPO / "tests" / "shim" / "gen_c.py"), str(work / "gen.c"),
                    "3500"], check=True)
    subprocess.run(["cc", "-O2", "-o", str(work / "huge"), str(BENCH / "src" / "huge.c")],
                   check=True)
    return {"python": python, "sqlite3": shutil.which("sqlite3") or "sqlite3",
            "driver": str(driver), "work": str(work)}


def tables(workloads: list[str], names: list[str], med: stats.Medians) -> tuple[str, list[str]]:
    """The Markdown tables, and the targets missed."""
    def cell(w: str, n: str, key: str) -> float | None:
        return med.get((n, w), {}).get(key)

    rows = [[w, *(fmt(cell(w, n, "wall"), ".3f") for n in names),
             *(fmt(v and v / 2**20, ".0f") for n in names for v in [cell(w, n, "rss")])]
            for w in workloads]
    lines = table(["workload", *(f"{n} s" for n in names), *(f"{n} MiB" for n in names)],
                  rows, "l" + "r" * 2 * len(names))
    misses, rows = [], []
    for w in workloads:
        verdict = []
        for t in TARGETS:
            v = t.value(med, w)
            if v is None:
                verdict.append(f"{t.text} ?")
            elif t.met(v):
                verdict.append(f"{t.text} met ({t.limit - v:+.2f})")
            else:
                verdict.append(f"**{t.text} missed ({t.limit - v:+.2f})**")
                misses.append(f"{w} {t.text} {v:.2f}x")
        ratios = [stats.ratio(cell(w, "pmalloc", k), cell(w, a, k)) for k, a, _ in RATIOS]
        rows.append([w, *(fmt(r, ".2f", "x") for r in ratios), "; ".join(verdict)])
    lines += ["", TARGETS_TEXT, "",
              *table(["workload", *(t for *_, t in RATIOS), "met?"], rows, "lrrrrl")]
    return "\n".join(lines), misses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.common_options(ap, list(PROGRAMS), 300.0, "5, --quick 1",
                          "smaller workloads, 1 rep, no write")
    args = options.parse(ap, argv, list(PROGRAMS))
    setup = options.contenders(CONTENDERS, args)
    reps = args.reps or (1 if args.quick else 5)
    started = report.now()
    base = runner.base_env(DROP_ENV)
    problems: list[str] = []
    first: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="pmalloc-bench-") as tmp:
        values = prepare(Path(tmp), args.quick, setup.exes.get("driver-malloc", Path("-")))

        def measure(c: Contender, w: str, rep: int) -> runner.Sample:
            p = PROGRAMS[w]
            cmd = [a.format(**values) for a in p.argv] + list(p.quick if args.quick else p.full)
            env = base | p.env | build.preload_env(c, args.pool_dir)
            stdin = (Path(tmp) / p.stdin).read_bytes() if p.stdin else None
            r = runner.run_process(cmd, env, args.timeout, stdin)
            if p.same_output and first.setdefault(w, r.stdout) != r.stdout:
                problems.append(f"{w} under {c.name}: output differs from the first run")
            return {"wall": r.wall, "rss": r.peak_rss}

        runs = runner.alternate(setup.live, {w: reps for w in args.workloads}, measure,
                                lambda w, s: f"{s['wall']:.2f} s", args.retries, True)
    took = (report.now() - started).total_seconds()
    problems = report.failures(runs) + problems
    text, misses = tables(args.workloads, [c.name for c in setup.live],
                          stats.medians(runs.samples))
    print(text)
    if problems:
        print("\n" + "\n".join(report.problems("Problems:", problems)), end="")
    if args.quick or args.no_write:
        return 0
    section = "\n".join([
        "## Real programs under each allocator (bench/run_programs.py, issue 3)", "",
        "Run from the repository root:", "", "```", results.command("run_programs.py", args.argv),
        "```", "",
        f"Started {started:%Y-%m-%d %H:%M:%S %Z}, took {took:.0f} s; {reps} repetitions, "
        f"contenders alternating (order reversed every other repetition); {os.cpu_count()} "
        f"CPUs, {platform.platform()}; pmalloc's pool in {args.pool_dir}. Medians of wall "
        "time and of peak RSS (wait4 rusage: the program and its children, e.g. cc1).", "",
        text, "",
        *report.problems("Problems in this run:", problems),
        "Misses: " + ("; ".join(misses) if misses else "none") + "."])
    results.write_section(BENCH / "RESULTS.md", "run_programs.py", section)
    runner.say("run_programs: wrote the section to bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
