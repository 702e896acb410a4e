"""The allocator suite: src/driver.c's workloads under each allocator, and its tables.

Run by `pmalloc bench` and by the repository's bench/run.py (which adds the targets of
issue 2 and writes bench/RESULTS.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import runner, stats
from .build import SHIM, MALLOC_ANCHORS, Contender, Setup, preload_env, uses_pmalloc
from .report import fmt, fmt_bytes, fmt_rate, table


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
    # frag reads the pool file 2 s after free-all, with a decay time of 1 s (FRAG_ENV)
    "frag": Workload(("--bytes", "1G", "--settle-ms", "2000"),
                     ("--bytes", "256M", "--settle-ms", "2000"), 3, "4G"),
}
FRAG_ENV = {"PMALLOC_DECAY_MS": "1000"}
CONTENDERS = [
    *MALLOC_ANCHORS,
    Contender("memkind", "memkind_create_pmem(pool dir) + memkind_malloc/free", "driver-memkind"),
    Contender("pmalloc", "vmem_create(pool dir) + vmem_malloc/free", "driver-vmem"),
    Contender("pmalloc-shim", "plain malloc/free, LD_PRELOAD libvmmalloc.so (pool in the "
              "pool dir)", "driver-malloc", SHIM),
    Contender("pmalloc-kind", "the memkind driver against pmalloc's memkind.h: "
              "memkind_create_pmem(pool dir) + memkind_malloc/free", "driver-kind"),
    Contender("pmalloc-kind-nullfree", "as pmalloc-kind, freeing with memkind_free(NULL, p)",
              "driver-kind-nullfree"),
]
PACKAGES = ["libjemalloc2", "libmimalloc2.0", "libtcmalloc-minimal4", "libmemkind0"]
FRAG_PHASES = ["setup", "fill", "free", "refill", "freeall"]
FRAG_ROWS = [("RSS after setup", "rss_setup"), ("RSS after fill (100 B)", "rss_fill"),
             ("RSS after free 90 %", "rss_free"), ("RSS after refill (200 B)", "rss_refill"),
             ("RSS after free-all", "rss_freeall"), ("**peak RSS (VmHWM)**", "peak_rss"),
             ("pool file peak", "pool_peak"), ("pool file after free-all", "pool_after_free"),
             ("pool file after explicit purge", "pool_after_purge")]


def reps(workloads: list[str], quick: bool, n: int | None) -> dict[str, int]:
    """Repetitions per workload: n, else 1 with --quick, else the workload's own."""
    return {w: n or (1 if quick else WORKLOADS[w].reps) for w in workloads}


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


def run(setup: Setup, want: dict[str, int], quick: bool, pool_dir: str, timeout: float,
        retries: int, raw: list[dict[str, Any]]) -> runner.Runs:
    """Every workload of `want` (its repetitions) under every live contender, alternating;
    every result line the drivers print goes to `raw`, with its contender."""
    def measure(c: Contender, w: str, rep: int) -> runner.Sample:
        cmd = [str(setup.exes[c.driver]), w, *WORKLOADS[w].args(quick), "--seed",
               str(rep + 1), "--pool-dir", pool_dir, "--pool-size", WORKLOADS[w].pool_size]
        env = runner.base_env() | preload_env(c, pool_dir) | (FRAG_ENV if w == "frag" else {})
        lines = runner.json_lines(runner.run_process(cmd, env, timeout))
        raw.extend({**ln, "contender": c.name} for ln in lines)
        return summarize(lines, w)

    return runner.alternate(setup.live, want, measure, show, retries=retries)


def anchors(names: list[str]) -> list[str]:
    """The contenders of `names` pmalloc is compared with: all but pmalloc's own."""
    return [c.name for c in CONTENDERS if c.name in names and not uses_pmalloc(c)]


def ratio(med: stats.Medians, w: str, anchor: str) -> float | None:
    """pmalloc's figure over the anchor's: throughput, or frag's peak RSS."""
    key = "peak_rss" if w == "frag" else "rate"
    return stats.ratio(med.get(("pmalloc", w), {}).get(key), med.get((anchor, w), {}).get(key))


def throughput(names: list[str], tp: list[str], med: stats.Medians,
               runs: runner.Runs) -> list[str]:
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
    return ["### Throughput (median, ± half the min..max range)", "",
            *table(["workload", "unit", *names], rows, "ll" + "r" * len(names)), ""]


def tables(names: list[str], workloads: list[str], med: stats.Medians,
           runs: runner.Runs) -> list[str]:
    """Markdown tables of the contenders `names` (also what the terminal shows)."""
    L: list[str] = []
    tp = [w for w in workloads if w != "frag"]
    if tp:
        L += throughput(names, tp, med, runs)
    if "frag" in workloads:
        frag = [med.get((n, "frag"), {}) for n in names]
        rows = [[label, *(fmt_bytes(m.get(key)) for m in frag)] for label, key in FRAG_ROWS]
        rows.append(["seconds (all phases)", *(fmt(m.get("seconds"), ".2f") for m in frag)])
        L += ["### frag: memory (median)", "",
              *table(["", *names], rows, "l" + "r" * len(names)), ""]
    others = anchors(names)
    if "pmalloc" in names and others:
        rows = [["frag (peak RSS)" if w == "frag" else w,
                 *(fmt(ratio(med, w, a), ".2f") for a in others)] for w in workloads]
        L += ["### Ratios pmalloc / anchor (medians; throughput: higher is better, "
              "frag peak RSS: lower is better)", "",
              *table(["workload", *others], rows, "l" + "r" * len(others)), ""]
    return L
