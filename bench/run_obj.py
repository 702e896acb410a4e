#!/usr/bin/env python3
"""bench/run_obj.py -- pmalloc's libpmemobj against PMDK 1.12's (the obj workload).

Builds bench/src/obj_driver.c twice into bench/out/ (pmalloc's libpmemobj.h + libpmalloc.so;
Debian's PMDK 1.12 -lpmemobj), runs every row in a process of its own, the two builds
alternately (A B, B A, ...), once with PMEM_IS_PMEM_FORCE=1 (flush instructions) and once
with =0 (msync), and writes the medians and the ratios to bench/RESULTS.md.

    python3 bench/run_obj.py                      # 5 reps (space 1), a few minutes
    python3 bench/run_obj.py --quick              # 1 rep, smaller counts, prints only
    python3 bench/run_obj.py --only pmdk          # PMDK's half alone (prints only)
    python3 bench/run_obj.py --only tx_set8,atomic_pair64 --reps 3
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass

from benchlib import BENCH, options, results
from pmalloc.bench import report, runner, stats
from pmalloc.bench.build import Contender
from pmalloc.bench.report import MiB, fmt

CONTENDERS = [Contender("pmalloc", "pmalloc's libpmemobj.h + libpmalloc.so", "obj-pmalloc"),
              Contender("pmdk", "Debian's PMDK 1.12.1 -lpmemobj", "obj-pmdk")]
FORCES = ("1", "0")  # PMEM_IS_PMEM_FORCE


@dataclass(frozen=True)
class Row:
    name: str          # the driver's row
    kind: str          # "rate" (ops/s), "time" (s) or "space" (bytes)
    n: int = 0         # the driver's N: operations, or objects for open and space
    quick_n: int = 0
    limit: float = 0.0  # the target on the ratio (0: none)

    def count(self, quick: bool) -> int:
        return self.quick_n if quick else self.n

    def ratio(self, ours: float | None, pmdk: float | None) -> float | None:
        """> 1 is better for rates and times (PMDK's time / ours); < 1 for space."""
        return stats.ratio(pmdk, ours) if self.kind == "time" else stats.ratio(ours, pmdk)

    def met(self, r: float) -> bool:
        return r <= self.limit if self.kind == "space" else r >= self.limit

    @property
    def target(self) -> str:
        if not self.limit:
            return "-"
        if self.kind == "time":
            return f">= {self.limit:g}x (time <= PMDK's)"
        return f"<= {self.limit:.0%} of PMDK" if self.kind == "space" else f">= {self.limit:g}x"


# N chosen so each timed loop takes 0.4-0.7 s with PMDK here (force=1)
ROWS = [Row("tx_empty", "rate", 4_000_000, 400_000, 1.5),
        Row("tx_set8", "rate", 600_000, 60_000, 1.5),
        Row("tx_alloc64", "rate", 600_000, 60_000, 1.5),
        Row("tx_free64", "rate", 1_000_000, 100_000, 1.5),
        Row("tx_add8x64", "rate", 150_000, 15_000, 1.5),
        Row("atomic_pair64", "rate", 250_000, 25_000, 5.0),
        Row("atomic_alloc64", "rate", 500_000, 50_000),
        Row("create_64m", "time"),
        Row("create_1g", "time"),
        Row("open_1m", "time", 1_000_000, 100_000, 1.0),
        Row("space_1m64", "space", 1_000_000, 250_000, 0.6)]
WHAT = {
    "tx_empty": "`TX_BEGIN(pop) {} TX_END`",
    "tx_set8": "a tx: `TX_ADD_FIELD` of the root's 8 B field, a store to it",
    "tx_alloc64": "a tx: `pmemobj_tx_alloc(64)`; every object kept",
    "tx_free64": "a tx: `pmemobj_tx_free` of one of N objects allocated before",
    "tx_add8x64": "a tx: 8 `pmemobj_tx_add_range` of 64 B of the root, a store over each",
    "atomic_pair64": "`pmemobj_alloc(64)` into the root's oid, `pmemobj_free` of it",
    "atomic_alloc64": "`pmemobj_alloc(64)`, each into its own oid of an array in the pool",
    "create_64m": "`pmemobj_create` of a new 64 MiB file + `pmemobj_close`",
    "create_1g": "the same, 1 GiB",
    "open_1m": "`pmemobj_open` of a 512 MiB pool of N 64 B objects + its first alloc of 64 B",
    "space_1m64": "smallest pool (MiB steps) in which N `pmemobj_alloc(64)` all succeed",
}


def value(row: Row, v: float | None) -> str:
    if v is None:
        return "-"
    if row.kind == "rate":
        return f"{v / 1e6:.3g} M/s"
    return f"{v * 1e3:.3g} ms" if row.kind == "time" else f"{v / MiB:.0f} MiB"


def key(row: Row, force: str) -> str:
    return f"{row.name} f={force}"


def tables(rows: list[Row], runs: runner.Runs, quick: bool) -> tuple[list[str], list[str]]:
    """A table per PMEM_IS_PMEM_FORCE, and the verdict of each target."""
    med = stats.medians(runs.samples)
    out, verdicts = [], []
    for f in FORCES:
        lines = []
        for r in rows:
            got = {c.name: med.get((c.name, key(r, f)), {}).get("value") for c in CONTENDERS}
            spread = {c.name: stats.spread(runs.samples.get((c.name, key(r, f)), []), "value")
                      for c in CONTENDERS}
            q = r.ratio(got["pmalloc"], got["pmdk"])
            met = "-" if not r.limit or q is None else "met" if r.met(q) else "**missed**"
            if r.limit and q is not None:
                verdicts.append(f"{r.name} f={f}: {met.strip('*')} ({q:.2f})")
            lines.append([r.name, f"{r.count(quick):,}" if r.n else "-",
                          *(value(r, got[c]) + spread[c] for c in ("pmalloc", "pmdk")),
                          "-" if q is None else f"**{q:.2f}**", r.target, met])
        out += [f"PMEM_IS_PMEM_FORCE={f}:", "", *report.table(
            ["row", "N", "pmalloc", "PMDK", "ratio", "target", ""], lines, "lrrrrll"), ""]
    return out, verdicts


def open_split(runs: runner.Runs) -> list[str]:
    """open_1m's time as open + first allocation, for whoever works on either."""
    med = stats.medians(runs.samples)
    return [f"- open_1m f={f}, {c.name}: open {m['open'] * 1e3:.2f} ms + first alloc "
            f"{m['alloc'] * 1e3:.2f} ms" for f in FORCES for c in CONTENDERS
            if "open" in (m := med.get((c.name, f"open_1m f={f}"), {}))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated rows and/or contenders (pmalloc, "
                    f"pmdk); default: all. Rows: {', '.join(r.name for r in ROWS)}")
    options.common_options(ap, [], 600.0, "5, space 1; --quick 1",
                           "1 rep, counts / 10; prints only")
    args = options.parse(ap, argv, [r.name for r in ROWS] + [c.name for c in CONTENDERS])
    named = set(args.workloads)
    rows = [r for r in ROWS if r.name in named] or ROWS
    picked = [c.name for c in CONTENDERS if c.name in named]
    if picked:
        args.contenders = ",".join(filter(None, [args.contenders, *picked]))
    setup = options.contenders(CONTENDERS, args)
    started = report.now()

    work = {key(r, f): (r, f) for f in FORCES for r in rows}

    def measure(c: Contender, w: str, rep: int) -> runner.Sample:
        row, force = work[w]
        env = {**runner.base_env(), "PMEM_IS_PMEM_FORCE": force}
        d = tempfile.mkdtemp(prefix="obj-bench-", dir=args.pool_dir)
        try:  # a directory per run: a killed driver leaves no pool behind
            cmd = [str(setup.exes[c.driver]), row.name, d,
                   *([str(row.count(args.quick))] if row.n else [])]
            out = runner.json_lines(runner.run_process(cmd, env, args.timeout))[0]
        finally:
            shutil.rmtree(d, ignore_errors=True)
        fig = {"rate": "rate", "time": "secs", "space": "bytes"}[row.kind]
        split = ({"open": out["open_secs"], "alloc": out["alloc_secs"]}
                 if row.name == "open_1m" else {})
        return {"value": out[fig], **split}

    def show(w: str, s: runner.Sample) -> str:
        return value(work[w][0], s["value"])

    # space is deterministic (one thread, the same calls): one run of it is enough
    reps = {w: 1 if args.quick or r.kind == "space" else args.reps or 5
            for w, (r, _) in work.items()}
    runs = runner.alternate(setup.live, reps, measure, show, args.retries, reverse_odd=True)
    body, verdicts = tables(rows, runs, args.quick)
    missed = [v for v in verdicts if ": met" not in v]
    target = ("Targets: atomic alloc+free >= 5x PMDK; every tx row >= 1.5x; open of the "
              "1M-object pool in <= PMDK's time (ratio >= 1); 1M 64 B objects in <= 60 % of "
              "PMDK's space. " + ("Not judged: no pmalloc figures." if not verdicts else
                                 "All met." if not missed else
                                 "Not met: " + "; ".join(missed) + "."))
    split = open_split(runs)
    print("\n".join(body) + "\n" + target + ("\n\n" + "\n".join(split) if split else ""))
    fails = report.failures(runs)
    if fails:
        print("\n" + "\n".join(report.problems("Problems:", fails)), end="")
    print("\nCommand: " + results.command("run_obj.py", args.argv))
    partial = args.quick or len(setup.live) < len(CONTENDERS) or rows != ROWS
    if args.no_write or partial:
        if partial and not args.no_write:
            runner.say("not written to RESULTS.md: a partial or --quick run")
        return 0
    took = (report.now() - started).total_seconds()
    intro = f"""Run {started:%Y-%m-%d %H:%M %Z}, alternating pmalloc / PMDK (order reversed every
other rep), every row in a process of its own, took {took:.0f} s. One driver,
`bench/src/obj_driver.c` (the function API and the `TX_` macros), built against pmalloc's
`libpmemobj.h` + `libpmalloc.so` and against Debian's PMDK 1.12.1 (`-lpmemobj`). Pools in
{args.pool_dir}, a new one per run; the timed rows run N operations on a 512 MiB pool.
Medians of {args.reps or 5} runs (space: 1, it is deterministic), ± half the range. Ratio:
ops/s pmalloc / PMDK for rates, PMDK's time / pmalloc's for times (> 1: pmalloc better),
pmalloc's bytes / PMDK's for space (< 1: pmalloc better). Rows:

""" + "\n".join(f"- **{r.name}**: {WHAT[r.name]}" for r in rows)
    section = results.build_section(
        "libpmemobj", "run_obj.py", args.argv, intro, "\n".join(body).rstrip(), target
        + ("\n\n" + "\n".join(split) if split else ""),
        report.problems("Problems in this run:", fails),
        [f"{c.name}: `{setup.builds[c.driver]}`" for c in setup.live])
    results.write_section(BENCH / "RESULTS.md", "run_obj.py", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
