#!/usr/bin/env python3
"""bench/run.py -- pmalloc's allocator benchmarks against the anchors (issue 2).

The suite `pmalloc bench` runs (pmalloc.bench.allocators): builds bench/src/driver.c
three ways into bench/out/ (pmalloc's libvmem API, memkind's PMEM kind, plain malloc),
runs every workload for every contender in one run, alternating the contenders
(A B C ... A B C ...), and writes medians, ratios pmalloc/anchor and the issue's
targets to bench/RESULTS.md.

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
from pathlib import Path

from benchlib import BENCH, OUT, REPO, options, results
from pmalloc.bench import allocators, build, report, runner, stats
from pmalloc.bench.allocators import WORKLOADS
from pmalloc.bench.report import fmt_bytes, table
from pmalloc.bench.stats import Target

TARGETS = [
    Target("small >= mimalloc throughput", "rate", 1.0, "mimalloc", workload="small"),
    Target("small >= tcmalloc throughput", "rate", 1.0, "tcmalloc", workload="small"),
    Target("small >= 3x memkind PMEM kind", "rate", 3.0, "memkind", workload="small"),
    Target("large >= mimalloc throughput", "rate", 1.0, "mimalloc", workload="large"),
    Target("large >= tcmalloc throughput", "rate", 1.0, "tcmalloc", workload="large"),
    Target("xthread >= jemalloc throughput", "rate", 1.0, "jemalloc", workload="xthread"),
    Target("frag peak RSS <= jemalloc's", "peak_rss", 1.0, "jemalloc", True, "frag"),
    Target("frag: pool file allocated size after free-all < 5 % of its peak", "pool_frac", 0.05,
           None, True, "frag"),
    # issue 10: pmalloc's kinds through memkind's API
    Target("kind small >= 4x memkind PMEM kind", "rate", 4.0, "memkind", workload="small",
           who="pmalloc-kind"),
    Target("kind small >= jemalloc throughput", "rate", 1.0, "jemalloc", workload="small",
           who="pmalloc-kind"),
    Target("kind: free with a NULL kind within 5 % of free with the kind", "rate", 0.95,
           "pmalloc-kind", workload="small", who="pmalloc-kind-nullfree"),
    Target("kind frag: pool file after free-all < 5 % of its peak", "pool_frac", 0.05, None,
           True, "frag", who="pmalloc-kind"),
]
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
    "have no pool file (pmalloc-shim's pool is the shim's own, not read by the driver).",
]


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
          results.command("run.py", args.argv), "```", "",
          f"Started {started:%Y-%m-%d %H:%M:%S %Z}, "
          f"took {(report.now() - started).total_seconds():.0f} s.", "", "## Machine", "",
          *(f"- {k}: {v}" for k, v in report.machine(setup.pmalloc, allocators.PACKAGES, REPO)), "",
          "## Contenders", "",
          *(f"- **{c.name}**: {c.note}" + (f" — **skipped**: {c.skip}" if c.skip else "")
            for c in setup.cons), "",
          "## Workloads", "",
          *(f"- **{w}** ({reps[w]} reps): driver `{w} {shlex.join(WORKLOADS[w].args(args.quick))} "
            f"--seed REP --pool-dir {args.pool_dir} --pool-size {WORKLOADS[w].pool_size}`"
            for w in args.workloads), "",
          "## Results", "",
          *allocators.tables([c.name for c in setup.live], args.workloads, med, runs),
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
    options.common_options(ap, list(WORKLOADS), 900.0, "5, frag 3; --quick 1",
                           "1 repetition and smaller counts (a smoke test)")
    args = options.parse(ap, argv, list(WORKLOADS))
    started = report.now()
    setup = options.contenders(allocators.CONTENDERS, args)
    raw: list[dict[str, object]] = []  # every result line, for bench/out/raw-<time>.jsonl
    reps = allocators.reps(args.workloads, args.quick, args.reps)
    runs = allocators.run(setup, reps, args.quick, args.pool_dir, args.timeout, args.retries, raw)
    med = stats.medians(runs.samples)
    print("\n" + "\n".join(allocators.tables([c.name for c in setup.live], args.workloads,
                                              med, runs)))
    print("Targets:")
    for t, (status, detail) in verdicts(args.workloads, med):
        print(f"  [{status:6s}] {t.text}: {detail}")
    if args.no_write:
        return 0

    path = Path(args.results or (OUT / "RESULTS-quick.md" if args.quick else BENCH / "RESULTS.md"))
    results.write_section(path, "run.py", report_text(args, setup, runs, started, reps))
    rawfile = OUT / f"raw-{started:%Y%m%d-%H%M%S}.jsonl"
    rawfile.write_text("".join(json.dumps(ln) + "\n" for ln in raw))
    print(f"\nwrote {path} (raw lines: {rawfile})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
