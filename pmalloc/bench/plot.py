"""`pmalloc bench --plot`: throughput per workload and contender, frag's RSS per phase.

matplotlib is an optional extra (`pip install 'pmalloc[bench]'`), imported only here.
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from . import runner, stats
from .allocators import FRAG_PHASES
from .build import BenchError

FORMATS = (".png", ".svg")
PHASE_LABELS = ["setup", "fill 100 B", "free 90 %", "refill 200 B", "free all"]
GiB = 1 << 30


def path(text: str) -> str:
    """An argparse type: a file name whose extension is a format we write."""
    if Path(text).suffix.lower() not in FORMATS:
        raise argparse.ArgumentTypeError("the extension picks the format: .png or .svg")
    return text


def check() -> None:
    """Before any run: BenchError unless matplotlib is there to draw the chart."""
    if importlib.util.find_spec("matplotlib") is None:
        raise BenchError("--plot needs matplotlib, which is not installed: "
                         "pip install 'pmalloc[bench]' (or pip install matplotlib)")


def write(path: str, names: list[str], workloads: list[str], runs: runner.Runs) -> None:
    """One panel per throughput workload (bars: medians, whiskers: min..max), and one of
    frag's RSS after each phase (medians), the contenders in the same colours throughout."""
    from matplotlib.figure import Figure  # no pyplot: no backend, no global state

    med = stats.medians(runs.samples)
    tp = [w for w in workloads if w != "frag"]
    panels = len(tp) + ("frag" in workloads)
    fig = Figure(figsize=(1.2 + 4.3 * panels, 4.5), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    colour = {n: f"C{i}" for i, n in enumerate(names)}
    for ax, w in zip(axes, tp):
        shown = [n for n in names if med.get((n, w), {}).get("rate") is not None]
        mid = [med[(n, w)]["rate"] for n in shown]
        vals = [stats.values(runs.samples[(n, w)], "rate") for n in shown]
        spread = [[m - min(v) for m, v in zip(mid, vals)], [max(v) - m for m, v in zip(mid, vals)]]
        ax.bar(range(len(shown)), mid, yerr=spread, capsize=3, color=[colour[n] for n in shown])
        ax.set_xticks(range(len(shown)), shown, rotation=40, ha="right")
        ax.set_title(f"{w} (higher is better)")
        ax.set_ylabel(next((str(med[(n, w)].get("unit", "")) for n in shown), ""))
    if "frag" in workloads:
        ax = axes[-1]
        for n in names:
            m = med.get((n, "frag"), {})
            if all(f"rss_{p}" in m for p in FRAG_PHASES):
                ax.plot(PHASE_LABELS, [m[f"rss_{p}"] / GiB for p in FRAG_PHASES], marker="o",
                        label=n, color=colour[n])
        ax.set_title("frag: RSS after each phase (lower is better)")
        ax.set_ylabel("GiB")
        ax.tick_params(axis="x", labelrotation=30)
        ax.legend(fontsize="small")
    fig.savefig(path)
