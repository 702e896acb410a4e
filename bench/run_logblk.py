#!/usr/bin/env python3
"""bench/run_logblk.py -- pmalloc's libpmemlog and libpmemblk against PMDK 1.12's (issue 11).

Builds bench/src/logblk_driver.c twice into bench/out/ (pmalloc's headers + libpmalloc.so;
Debian's PMDK 1.12 -lpmemlog -lpmemblk), runs them alternately on files in /dev/shm, once
with PMEM_IS_PMEM_FORCE=1 (flush instructions) and once with =0 (msync), and writes the
medians and the ratios pmalloc / PMDK to bench/RESULTS.md.

    python3 bench/run_logblk.py                 # 5 reps, 0.3 s per row
    python3 bench/run_logblk.py --reps 3 --seconds 0.2 --no-write
"""
from __future__ import annotations

import argparse
import sys

from benchlib import BENCH, options, results
from pmalloc.bench import report, runner, stats
from pmalloc.bench.build import Contender
from pmalloc.bench.report import fmt, fmt_size

ROWS = [("log_append", 64), ("log_append", 4096), ("log_appendv", 4096),
        *((op, b) for b in (512, 4096) for op in ("blk_write_rand", "blk_write_seq",
                                                  "blk_read_rand")),
        ("blk_create", 64 << 20), ("blk_open", 64 << 20),
        ("blk_create", 1 << 30), ("blk_open", 1 << 30)]
CONTENDERS = [Contender("pmalloc", "pmalloc's libpmemlog.h/libpmemblk.h + libpmalloc.so",
                        "logblk-pmalloc"),
              Contender("pmdk", "Debian's PMDK 1.12.1 -lpmemlog -lpmemblk", "logblk-pmdk")]
WORKLOADS = {"force=1": "1", "force=0": "0"}     # PMEM_IS_PMEM_FORCE


def label(op: str, size: int) -> str:
    note = " (4 x 1 KiB)" if op == "log_appendv" else ""
    return f"{op} {fmt_size(size)}{note}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.3, help="time per row")
    options.common_options(ap, [], 900.0, "5")
    args = options.parse(ap, argv, [])
    setup = options.contenders(CONTENDERS, args)
    reps = args.reps or 5
    started = report.now()

    def measure(c: Contender, w: str, rep: int) -> runner.Sample:
        env = {**runner.base_env(), "PMEM_IS_PMEM_FORCE": WORKLOADS[w]}
        cmd = [str(setup.exes[c.driver]), args.pool_dir, str(args.seconds)]
        lines = runner.json_lines(runner.run_process(cmd, env, args.timeout))
        return {label(r["row"], r["bytes"]): r["rate"] for r in lines}

    runs = runner.alternate(setup.live, {w: reps for w in WORKLOADS}, measure,
                            lambda w, s: "done", args.retries)
    med = stats.medians(runs.samples)
    rows, missed = [], []
    for op, size in ROWS:
        name = label(op, size)
        cells = []
        for w in WORKLOADS:
            ours = med.get(("pmalloc", w), {}).get(name)
            theirs = med.get(("pmdk", w), {}).get(name)
            r = stats.ratio(ours, theirs)
            cells += [fmt(ours, ".0f"), fmt(theirs, ".0f"), f"**{fmt(r, '.2f')}**"]
            if r is None or r < 1.0:
                missed.append(f"{name} {w} ({fmt(r, '.2f')})")
        rows.append([name, *cells])
    table = "\n".join(report.table(
        ["row (ops/s)", "pmalloc f=1", "PMDK f=1", "ratio f=1", "pmalloc f=0", "PMDK f=0",
         "ratio f=0"], rows, "lrrrrrr"))
    target = ("Target (issue 11) >= 1.0x PMDK on every row: "
              + ("met." if not missed else "missed on " + "; ".join(missed) + "."))
    print(table + "\n\n" + target)
    fails = report.failures(runs)
    if fails:
        print("\n" + "\n".join(report.problems("Problems:", fails)))
    if args.no_write:
        return 0
    took = (report.now() - started).total_seconds()
    intro = f"""Run {started:%Y-%m-%d %H:%M %Z}, {reps} reps alternating pmalloc / PMDK, {args.seconds} s per
row, took {took:.0f} s. One driver, `bench/src/logblk_driver.c`, built against pmalloc's
headers + `libpmalloc.so` and against Debian's PMDK 1.12.1 (`-lpmemlog -lpmemblk`); files in
{args.pool_dir}; f=1 is `PMEM_IS_PMEM_FORCE=1` (flush instructions), f=0 `=0` (msync).
Logs of 64 MiB (rewound when full); block pools of 64 MiB, every block written once before
the timed loops; create and open of a 4 KiB-block pool, once per run (as a rate). Medians
in operations per second; ratio = pmalloc / PMDK (> 1: pmalloc faster)."""
    section = results.build_section(
        "libpmemlog and libpmemblk (issue 11)", "run_logblk.py", args.argv, intro, table,
        target, report.problems("Problems in this run:", fails),
        [f"{c.name}: `{setup.builds[c.driver]}`" for c in setup.live])
    results.write_section(BENCH / "RESULTS.md", "run_logblk.py", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
