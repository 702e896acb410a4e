#!/usr/bin/env python3
"""bench/run.py -- pmalloc's allocator benchmarks against the anchors (issue 2).

Builds bench/src/driver.c three ways into bench/out/ (pmalloc's libvmem API,
memkind's PMEM kind, plain malloc), runs every workload for every contender in
one run, alternating the contenders (A B C ... A B C ...), and writes medians,
ratios pmalloc/anchor and the issue's targets to bench/RESULTS.md.

    python3 bench/run.py                    # everything, 5 reps (3 for frag)
    python3 bench/run.py --quick            # 1 rep, smaller counts
    python3 bench/run.py --only small,large

Standard library only. A contender whose library is missing is skipped with a
message; a run that fails is reported, never fatal to the rest.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import build, report, runner, stats
from benchlib.build import Contender
from benchlib.report import fmt, fmt_bytes, fmt_rate, table
from benchlib.stats import Target


@dataclass(frozen=True)
class Workload:
    full: tuple[str, ...]   # driver arguments
    quick: tuple[str, ...]  # the same with --quick
    reps: int
    pool_size: str

    def args(self, quick: bool) -> tuple[str, ...]:
        return self.quick if quick else self.full


WORKLOADS = {
    "small": Workload(("--n", "10000000"), ("--n", "2000000"), 5, "1G"),
    "large": Workload(("--n", "1000000"), ("--n", "200000"), 5, "1G"),
    "xthread": Workload(("--n", "2000000"), ("--n", "500000"), 5, "1G"),
    # frag reads the pool file 2 s after free-all, with a decay time of 1 s (measure)
    "frag": Workload(("--bytes", "1G", "--settle-ms", "2000"),
                     ("--bytes", "256M", "--settle-ms", "2000"), 3, "4G"),
}
CONTENDERS = [
    *build.MALLOC_ANCHORS,
    Contender("memkind", "memkind_create_pmem(pool dir) + memkind_malloc/free", "driver-memkind"),
    Contender("pmalloc", "vmem_create(pool dir) + vmem_malloc/free", "driver-vmem"),
]
PACKAGES = ["libjemalloc2", "libmimalloc2.0", "libtcmalloc-minimal4", "libmemkind0"]
TARGETS = [
    Target("small >= mimalloc throughput", "rate", 1.0, "mimalloc", workload="small"),
    Target("small >= 3x memkind PMEM kind", "rate", 3.0, "memkind", workload="small"),
    Target("large >= mimalloc throughput", "rate", 1.0, "mimalloc", workload="large"),
    Target("xthread >= jemalloc throughput", "rate", 1.0, "jemalloc", workload="xthread"),
    Target("frag peak RSS <= jemalloc's", "peak_rss", 1.0, "jemalloc", True, "frag"),
    Target("frag: pool file allocated size after free-all < 5 % of its peak", "pool_frac", 0.05,
           None, True, "frag"),
]
FRAG_PHASES = ["setup", "fill", "free", "refill", "freeall"]
FRAG_ROWS = [("RSS after setup", "rss_setup"), ("RSS after fill (100 B)", "rss_fill"),
             ("RSS after free 90 %", "rss_free"), ("RSS after refill (200 B)", "rss_refill"),
             ("RSS after free-all", "rss_freeall"), ("**peak RSS (VmHWM)**", "peak_rss"),
             ("pool file peak", "pool_peak"), ("pool file after free-all", "pool_after_free"),
             ("pool file after explicit purge", "pool_after_purge")]
NOTES = [
    "small/large: after a window of 1000 live objects is filled, each pair frees a random slot "
    "and mallocs a new object (uniform size) into it, writing its first and last byte. "
    "Rate = pairs per second of the timed loop.",
    "xthread: two threads; each allocates objects (8..512 B, touched) in batches of 64 and "
    "hands them to the other through a lock-free single-producer ring; each frees what it "
    "receives. Rate = (mallocs + frees) per second of wall time.",
    "frag: fill with 100 B objects to the target bytes, free a random 90 %, refill with 200 B "
    "objects until the live bytes are back at the target, free everything. RSS is VmRSS after "
    "each phase (the driver's own pointer array, mapped outside the allocator, is in every "
    "figure: see 'RSS after setup'); peak RSS is VmHWM. The pool file figure is st_blocks*512 "
    "of the pool's unlinked file (found through /proc/self/maps and /proc/self/map_files), "
    "read right after free-all with no wait; 'after explicit purge' is informational "
    "(pmalloc_vmem_purge).",
    "Pool contenders (memkind, pmalloc) use a pool file in the pool dir; malloc contenders "
    "have no pool file.",
]


def summarize(lines: list[dict[str, Any]], workload: str) -> runner.Sample:
    """The figures of one run that the tables need."""
    if workload != "frag":
        return {k: lines[-1][k] for k in ("rate", "unit", "seconds")}
    phases = {ln["phase"]: ln for ln in lines}
    s = phases["summary"]
    out = {k: s[k] for k in ("peak_rss", "pool_peak", "pool_after_free", "pool_after_purge")}
    out["seconds"] = sum(phases[p]["seconds"] for p in FRAG_PHASES[1:])
    out |= {f"rss_{p}": phases[p]["rss"] for p in FRAG_PHASES}
    if s["pool_peak"]:
        out["pool_frac"] = s["pool_after_free"] / s["pool_peak"]
    return out


def show(w: str, s: runner.Sample) -> str:
    if w != "frag":
        return f"{fmt_rate(s['rate'])} {s['unit']}"
    pool = (f", pool file peak {fmt_bytes(s['pool_peak'])} -> "
            f"{fmt_bytes(s['pool_after_free'])} after free-all" if s["pool_peak"] else "")
    return f"peak RSS {fmt_bytes(s['peak_rss'])}{pool}"


def verdict(t: Target, med: stats.Medians) -> tuple[str, str]:
    """(met, missed or n/a; the detail with the margin)."""
    w = t.workload or ""
    v = t.value(med, w)
    f = med.get(("pmalloc", w), {})
    if v is None:
        if t.anchor is None:
            return "n/a", f"no pmalloc {w} figure"
        return "n/a", f"no {t.anchor if t.key in f else 'pmalloc'} figure for {w}"
    ok = t.met(v)
    if t.anchor is None:  # the pool file fraction
        detail = (f"{fmt_bytes(f.get('pool_after_free'))} of {fmt_bytes(f.get('pool_peak'))} "
                  f"= {v * 100:.1f} % (target < {t.limit * 100:g} %); "
                  f"{abs(t.limit - v) * 100:.1f} points {'under' if ok else 'over'}")
        if f.get("pool_after_purge") is not None:
            detail += (f"; after an explicit pmalloc_vmem_purge: "
                       f"{fmt_bytes(f['pool_after_purge'])}")
    elif t.lower:
        detail = (f"pmalloc/{t.anchor} = {v:.2f} (target <= {t.limit:g}); "
                  f"{abs(t.limit - v) / t.limit * 100:.0f} % {'under' if ok else 'over'}")
    else:
        detail = (f"pmalloc/{t.anchor} = {v:.2f} (target >= {t.limit:g}); "
                  f"{abs(v / t.limit - 1) * 100:.0f} % {'above' if ok else 'below'}")
    return "met" if ok else "missed", detail


def tables(names: list[str], workloads: list[str], med: stats.Medians,
           runs: runner.Runs) -> list[str]:
    """Markdown tables (also printed to the terminal)."""
    L: list[str] = []
    tp = [w for w in workloads if w != "frag"]
    if tp:
        rows = []
        for w in tp:
            unit = next((s["unit"] for n in names for s in runs.samples.get((n, w), [])), "")
            cells = []
            for n in names:
                v = med.get((n, w), {}).get("rate")
                cell = ("failed" if v is None and (n, w) in runs.failed
                        else fmt_rate(v) + stats.spread(runs.samples.get((n, w), []), "rate"))
                crashed = len(runs.crashes.get((n, w), []))
                cells.append(cell + (f" ({crashed} crashed)" if crashed else ""))
            rows.append([w, unit, *cells])
        L += ["### Throughput (median, ± half the min..max range)", "",
              *table(["workload", "unit", *names], rows, "ll" + "r" * len(names)), ""]
    if "frag" in workloads:
        frag = [med.get((n, "frag"), {}) for n in names]
        rows = [[label, *(fmt_bytes(m.get(key)) for m in frag)] for label, key in FRAG_ROWS]
        rows.append(["seconds (all phases)", *(fmt(m.get("seconds"), ".2f") for m in frag)])
        L += ["### frag: memory (median)", "",
              *table(["", *names], rows, "l" + "r" * len(names)), ""]
    anchors = [c.name for c in CONTENDERS if c.name in names and c.name != "pmalloc"]
    if "pmalloc" in names and anchors:
        rows = []
        for w in workloads:
            key = "peak_rss" if w == "frag" else "rate"
            pm = med.get(("pmalloc", w), {}).get(key)
            rows.append(["frag (peak RSS)" if w == "frag" else w, *(
                fmt(stats.ratio(pm, med.get((a, w), {}).get(key)), ".2f") for a in anchors)])
        L += ["### Ratios pmalloc / anchor (medians; throughput: higher is better, "
              "frag peak RSS: lower is better)", "",
              *table(["workload", *anchors], rows, "l" + "r" * len(anchors)), ""]
    return L


def report_text(args: argparse.Namespace, setup: build.Setup, runs: runner.Runs,
                started: dt.datetime, reps: dict[str, int]) -> str:
    """The run.py section of the results file."""
    med = stats.medians(runs.samples)
    L = ["> **Quick run** (`--quick`): 1 repetition and smaller counts. "
         "A smoke test, not figures to quote.", ""] if args.quick else []
    L += ["Written by `bench/run.py` (issue 2). Every figure is a median over repetitions "
          "measured in this one run, the contenders alternating (A B C ... A B C ...). "
          "Nothing here is asserted by the tests.", "",
          "## Command", "", "Run from the repository root:", "", "```",
          report.command("run.py", args.argv), "```", "",
          f"Started {started:%Y-%m-%d %H:%M:%S %Z}, "
          f"took {(report.now() - started).total_seconds():.0f} s.", "", "## Machine", "",
          *(f"- {k}: {v}" for k, v in report.machine(setup.pmalloc, PACKAGES)), "",
          "## Contenders", "",
          *(f"- **{c.name}**: {c.note}" + (f" — **skipped**: {c.skip}" if c.skip else "")
            for c in setup.cons), "",
          "## Workloads", "",
          *(f"- **{w}** ({reps[w]} reps): driver `{w} {shlex.join(WORKLOADS[w].args(args.quick))} "
            f"--seed REP --pool-dir {args.pool_dir} --pool-size {WORKLOADS[w].pool_size}`"
            for w in args.workloads), "",
          "## Results", "", *tables([c.name for c in setup.live], args.workloads, med, runs),
          "## Targets (issue 2)", "",
          *table(["target", "status", "detail"],
                 [[t.text, "**missed**" if st == "missed" else st, detail]
                  for t, (st, detail) in verdicts(args.workloads, med)], "lll"), "",
          *report.problems("## Failures\n", report.failures(runs)),
          "## Notes", "", *(f"- {n}" for n in NOTES), "- Build commands:", "",
          *(f"  - {k.removeprefix('driver-')}: `{v}`" for k, v in setup.builds.items()), ""]
    return "\n".join(L)


def verdicts(workloads: list[str], med: stats.Medians) -> list[tuple[Target, tuple[str, str]]]:
    return [(t, verdict(t, med)) for t in TARGETS if t.workload in workloads]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Run pmalloc's allocator benchmarks against the anchors.")
    ap.add_argument("--results", default=None,
                    help="markdown report to write (default: bench/RESULTS.md; "
                         "bench/out/RESULTS-quick.md with --quick)")
    runner.common_options(ap, list(WORKLOADS), 900.0, "5, frag 3; --quick 1",
                          "1 repetition and smaller counts (a smoke test)")
    args = runner.parse(ap, argv, list(WORKLOADS))
    started = report.now()
    setup = runner.contenders(CONTENDERS, args)
    raw: list[dict[str, object]] = []  # every result line, for bench/out/raw-<time>.jsonl

    def measure(c: Contender, w: str, rep: int) -> runner.Sample:
        cmd = [str(setup.exes[c.driver]), w, *WORKLOADS[w].args(args.quick), "--seed",
               str(rep + 1), "--pool-dir", args.pool_dir, "--pool-size", WORKLOADS[w].pool_size]
        env = runner.base_env() | build.preload_env(c, setup.pmalloc, args.pool_dir)
        if w == "frag":
            env["PMALLOC_DECAY_MS"] = "1000"
        lines = runner.json_lines(runner.run_process(cmd, env, args.timeout))
        raw.extend({**ln, "contender": c.name} for ln in lines)
        return summarize(lines, w)

    reps = {w: args.reps or (1 if args.quick else WORKLOADS[w].reps) for w in args.workloads}
    runs = runner.alternate(setup.live, reps, measure, show, retries=args.retries)
    med = stats.medians(runs.samples)
    print("\n" + "\n".join(tables([c.name for c in setup.live], args.workloads, med, runs)))
    print("Targets:")
    for t, (status, detail) in verdicts(args.workloads, med):
        print(f"  [{status:6s}] {t.text}: {detail}")
    if args.no_write:
        return 0

    results = Path(args.results or (build.OUT / "RESULTS-quick.md" if args.quick
                                    else build.BENCH / "RESULTS.md"))
    report.write_section(results, "run.py", report_text(args, setup, runs, started, reps))
    rawfile = build.OUT / f"raw-{started:%Y%m%d-%H%M%S}.jsonl"
    rawfile.write_text("".join(json.dumps(ln) + "\n" for ln in raw))
    print(f"\nwrote {results} (raw lines: {rawfile})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
