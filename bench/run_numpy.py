#!/usr/bin/env python3
"""bench/run_numpy.py -- NumPy with its arrays in a pmalloc pool and in a pmem kind, against
NumPy's default handler (issue 10), through pytest-benchmark (bench/numpy/).

    python3 bench/run_numpy.py            # the section in bench/RESULTS.md
    python3 bench/run_numpy.py --quick    # fewer rounds; prints only

Medians per benchmark and place, ratios place / default, and the issue's targets: small
arrays <= 1.3x, the expression <= 1.1x, large equal within noise (reported, not a limit).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import BENCH, results

TARGETS = {"small 1 KiB x1000": 1.3, "expression 200k x20": 1.1}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 rounds each; print only")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               str(BENCH / "numpy"), "--benchmark-only", f"--benchmark-json={out}",
               "-o", "testpaths=", "--benchmark-disable-gc"]
        if args.quick:
            cmd += ["--benchmark-max-time=0.2"]
        r = subprocess.run(cmd, cwd=BENCH.parent)
        if r.returncode != 0:
            return r.returncode
        data = json.loads(out.read_text())
    med: dict[tuple[str, str], float] = {}
    for b in data["benchmarks"]:
        where = b["param"]
        med[(b["group"], where)] = b["stats"]["median"]
    groups = sorted({g for g, _ in med})
    lines = ["| benchmark | default ms | pool ms | kind ms | pool / default | kind / default "
             "| target |", "|---|---:|---:|---:|---:|---:|---|"]
    for g in groups:
        d, p, k = (med.get((g, w), float("nan")) for w in ("default", "pool", "kind"))
        limit = TARGETS.get(g)
        verdict = "equal within noise (no limit)" if limit is None else (
            f"<= {limit}x: " + ("met" if max(p / d, k / d) <= limit else "**missed**"))
        lines.append(f"| {g} | {d * 1e3:.3f} | {p * 1e3:.3f} | {k * 1e3:.3f} | {p / d:.2f} "
                     f"| {k / d:.2f} | {verdict} |")
    table = "\n".join(lines)
    print(table)
    if not args.quick:
        body = "\n".join(["## NumPy arrays in a pool and a pmem kind (bench/run_numpy.py, "
                          "issue 10)", "", "```", results.command("run_numpy.py", argv or []),
                          "```", "", "pytest-benchmark medians (bench/numpy/); the places run "
                          "one after another, not interleaved.", "", table])
        results.write_section(BENCH / "RESULTS.md", "run_numpy.py", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
