#!/usr/bin/env python3
"""bench/run_pmem.py -- pmalloc's libpmem against PMDK 1.12's libpmem and plain memcpy (issue 4).

Builds bench/src/pmem_driver.c three ways into bench/out/ (pmalloc's libpmem.h +
libpmalloc.so; Debian's libpmem; plain memcpy with no flush), runs them alternately
(A B C A B C ...) on a 64 MiB file in /dev/shm with PMEM_IS_PMEM_FORCE=1 (the flush-
instruction path), and writes medians and the ratios pmalloc/PMDK to bench/RESULTS.md
(section "libpmem (issue 4)", replaced on each run).

    python3 bench/run_pmem.py                # 5 reps, 0.3 s per row
    python3 bench/run_pmem.py --reps 3 --seconds 0.2 --no-write

Standard library only.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import dataclass

from benchlib import BENCH, options, results
from pmalloc.bench import report, runner, stats
from pmalloc.bench.build import Contender
from pmalloc.bench.report import fmt, fmt_size
from pmalloc.bench.stats import Target


@dataclass(frozen=True)
class Row:
    op: str
    size: int
    unit: str = "GB/s"
    figure: str = "gbps"  # the driver's field
    lower: bool = False   # lower is better

    @property
    def label(self) -> str:
        return f"{self.op} {fmt_size(self.size)}"

    @property
    def target(self) -> Target:  # >= 1.0x PMDK; for a time, PMDK's time / ours >= 1.0
        return Target(self.label, self.label, 1.0, "pmdk", self.lower)


ROWS = [*(Row(op, size) for op in ("memcpy_persist", "memcpy+persist")
          for size in (4096, 65536, 4 << 20)),
        Row("persist_line", 64, "ns per line (lower is better)", "ns_per_op", True)]
CONTENDERS = [Contender("pmalloc", "pmalloc's libpmem.h + libpmalloc.so", "pmem-pmalloc"),
              Contender("pmdk", "Debian's PMDK 1.12.1 -lpmem", "pmem-pmdk"),
              Contender("memcpy", "plain memcpy, no flush: the ceiling", "pmem-memcpy")]
BY_DRIVER = {(r.op, r.size): r for r in ROWS}  # the driver names a row by (op, bytes)
WORKLOAD = "pmem"  # one driver run times every row


def speedup(t: Target, med: stats.Medians) -> float | None:
    """pmalloc against PMDK, > 1 when pmalloc is faster."""
    v = t.value(med, WORKLOAD)
    return 1 / v if v and t.lower else v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.3, help="time per row")
    options.common_options(ap, [], 600.0, "5")
    args = options.parse(ap, argv, [])
    setup = options.contenders(CONTENDERS, args)
    reps = args.reps or 5
    started = report.now()
    env = {**runner.base_env(), "PMEM_IS_PMEM_FORCE": "1"}

    def measure(c: Contender, w: str, rep: int) -> runner.Sample:
        path = os.path.join(args.pool_dir, f"pmem-bench-{c.name}-{os.getpid()}")
        cmd = [str(setup.exes[c.driver]), path, str(args.seconds)]
        try:
            lines = runner.json_lines(runner.run_process(cmd, env, args.timeout))
        finally:  # a driver that was killed leaves its 64 MiB file behind
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return {row.label: r[row.figure] for r in lines
                if (row := BY_DRIVER.get((r["row"], r["bytes"])))}

    runs = runner.alternate(setup.live, {WORKLOAD: reps}, measure, lambda w, s: "done",
                             args.retries)
    med = stats.medians(runs.samples)

    def cell(name: str, row: Row) -> float | None:
        return med.get((name, WORKLOAD), {}).get(row.label)

    rows = [[r.label, r.unit, fmt(cell("pmalloc", r), ".2f"), fmt(cell("pmdk", r), ".2f"),
             "-" if r.lower else fmt(cell("memcpy", r), ".2f"),
             f"**{fmt(speedup(r.target, med), '.2f')}**"] for r in ROWS]
    table = "\n".join(report.table(["row", "unit", "pmalloc", "PMDK 1.12", "plain memcpy",
                                    "pmalloc / PMDK"], rows, "llrrrr"))
    missed = [f"{r.label} ({fmt(speedup(r.target, med), '.2f')})" for r in ROWS
              if (s := speedup(r.target, med)) is None or s < 1.0]
    target = ("Target (issue 4) >= 1.0x PMDK on every row: "
              + ("met." if not missed else "missed on " + ", ".join(missed) + "."))
    print(table)
    fails = report.failures(runs)
    if fails:
        print("\n" + "\n".join(report.problems("Problems:", fails)), end="")
    if args.no_write:
        return 0
    took = (report.now() - started).total_seconds()
    intro = f"""Run {started:%Y-%m-%d %H:%M %Z}, {reps} reps alternating pmalloc / PMDK / memcpy,
{args.seconds} s per row, took {took:.0f} s. One driver, `bench/src/pmem_driver.c`, built
against pmalloc's `libpmem.h` + `libpmalloc.so`, against Debian's PMDK 1.12.1 `-lpmem`, and
with `-DBENCH_PLAIN` (plain `memcpy`, no flush: the ceiling, not a contender). A 64 MiB file
in {args.pool_dir} mapped with `pmem_map_file`, `PMEM_IS_PMEM_FORCE=1`; copies go to
successive offsets of the file, from a 4 MiB source. `memcpy_persist` = `pmem_memcpy_persist`;
`memcpy+persist` = `memcpy` then `pmem_persist`; `persist_line` = dirty one byte of a 64 B
line, `pmem_persist` that line. Medians; ratios > 1 mean pmalloc is faster (for
`persist_line`: PMDK's ns / ours)."""
    section = results.build_section(
        "libpmem (issue 4)", "run_pmem.py", args.argv, intro, table, target,
        report.problems("Problems in this run:", fails),
        [f"{c.name}: `{setup.builds[c.driver]}`" for c in setup.live])
    results.write_section(BENCH / "RESULTS.md", "run_pmem.py", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
