#!/usr/bin/env python3
"""bench/run_objpy.py -- pmalloc.obj and pmalloc.kv from Python (issue 13), through
pytest-benchmark (bench/objpy/): a transaction over the root's 8-byte field, and pmalloc.kv's
set and get against sqlite3 (WAL, synchronous=FULL) and dbm.dumb.

    python3 bench/run_objpy.py              # 5 reps, force=1 and 0: its section of RESULTS.md
    python3 bench/run_objpy.py --quick      # 1 rep, counts / 10; prints only
    python3 bench/run_objpy.py --reps 3 --no-write

One pytest session per PMEM_IS_PMEM_FORCE (1: flush instructions, 0: msync), the C library
reading it once; within a session the contenders alternate (a b c, b c a, c a b, ...).
Medians over the repetitions of each one's median round, per operation; ratios of rates.
Targets: the transaction in under 2 us; pmalloc.kv's set >= 3x sqlite3's rate, its get
>= 1.0x sqlite3's, at each force.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from benchlib import BENCH, options, results
from pmalloc.bench import report

FORCES = ("1", "0")
ANCHORS = ("sqlite3", "dbm.dumb")


@dataclass(frozen=True)
class Row:
    group: str          # the benchmark's group (bench/objpy/test_objpy_speed.py)
    who: str            # pmalloc's contender in it
    name: str           # the row's name in the table
    limit: float        # the target: seconds per operation (ratio None), or a ratio of rates
    ratio_to: str | None = None

    def target(self) -> str:
        if self.ratio_to is None:
            return f"< {self.limit * 1e6:g} µs"
        return f">= {self.limit:.1f}x {self.ratio_to}'s rate"

    def met(self, secs: float, ratio: float | None) -> bool | None:
        if self.ratio_to is None:
            return secs < self.limit
        return None if ratio is None else ratio >= self.limit


ROWS = [Row("tx: add + set of the root's 8 B field", "numpy", "tx: add + set 8 B (numpy)",
            2e-6),
        Row("tx: add + set of the root's 8 B field", "memoryview",
            "tx: add + set 8 B (memoryview)", 2e-6),
        Row("set: 16 B key, 100 B value", "pmalloc.kv", "kv set: 16 B key, 100 B value", 3.0,
            "sqlite3"),
        Row("get: 16 B key of 100k", "pmalloc.kv", "kv get: 16 B key of 100k", 1.0,
            "sqlite3")]
WHAT = """- **tx**: `with pool.transaction() as tx: tx.add(field); field[0] = i`, `field` an 8 B
  view of the root of a 64 MiB pool (`np.frombuffer(pool.root(64), np.uint64, count=1)`, or
  a memoryview cast to `Q` and sliced), 20,000 a round, 20 rounds.
- **kv set**: 20,000 sets of new 16 B keys with 100 B values into a new empty store, a new
  store every round, 5 rounds. pmalloc.kv: `db[k] = v` (a 256 MiB pool); sqlite3: a table
  `kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID`, `journal_mode=WAL`,
  `synchronous=FULL`, `INSERT OR REPLACE` + `commit()` per set; dbm.dumb: `db[k] = v` (not
  durable per set: its index is written at close).
- **kv get**: 50,000 gets of keys present (shuffled) from a store filled (untimed) with
  100,000 keys, 5 rounds. sqlite3: `SELECT v FROM kv WHERE k = ?` on a reused cursor."""


def run_session(python: str, force: str, reps: int, quick: bool) -> dict:
    """One pytest-benchmark session over bench/objpy under PMEM_IS_PMEM_FORCE=force."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(BENCH / "objpy"),
               "--benchmark-only", f"--benchmark-json={out}", "-o", "testpaths=",
               "--benchmark-disable-gc", "--benchmark-columns=min,median,max,rounds",
               f"--objpy-reps={reps}",
               *(["--objpy-quick"] if quick else [])]
        env = {**os.environ, "PMEM_IS_PMEM_FORCE": force}
        print(f"PMEM_IS_PMEM_FORCE={force}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        r = subprocess.run(cmd, cwd=BENCH.parent, env=env)
        if r.returncode != 0:
            sys.exit(f"run_objpy: the benchmarks failed (exit status {r.returncode})")
        return json.loads(out.read_text())


def per_op(data: dict) -> dict[tuple[str, str], list[float]]:
    """Seconds per operation of each repetition, by (group, contender)."""
    got: dict[tuple[str, str], list[float]] = {}
    for b in data["benchmarks"]:
        info = b["extra_info"]
        got.setdefault((b["group"], info["who"]), []).append(b["stats"]["median"] / info["n"])
    return got


def show(secs: list[float] | None) -> str:
    """'3.21 µs ±4% (311k/s)': the median, half the range, the rate."""
    if not secs:
        return "-"
    m = statistics.median(secs)
    spread = f" ±{(max(secs) - min(secs)) / 2 / m * 100:.0f}%" if len(secs) > 1 else ""
    return f"{m * 1e6:.2f} µs{spread} ({1 / m / 1e3:.0f}k/s)"


def table(got: dict[tuple[str, str], list[float]],
          force: str) -> tuple[list[str], list[str]]:
    """The rows of one force, and the verdict of each target."""
    lines, verdicts = [], []
    for row in ROWS:
        mine = got.get((row.group, row.who))
        if not mine:
            continue
        m = statistics.median(mine)
        anchors = {a: got.get((row.group, a)) for a in ANCHORS}
        ratios = {a: statistics.median(s) / m if s else None for a, s in anchors.items()}
        q = ratios.get(row.ratio_to) if row.ratio_to else None
        ok = row.met(m, q)
        mark = "-" if ok is None else "met" if ok else "**missed**"
        figure = (f"{m * 1e6:.2f} µs" if row.ratio_to is None else
                  "no figure of " + row.ratio_to if q is None else f"{q:.2f}x")
        verdicts.append(f"{row.name} f={force}: {mark.strip('*')} ({figure})")
        lines.append([row.name, show(mine), *(show(anchors[a]) for a in ANCHORS),
                      *("-" if ratios[a] is None else f"**{ratios[a]:.2f}**" for a in ANCHORS),
                      row.target(), mark])
    head = ["row", "pmalloc", *ANCHORS, *(f"rate / {a}" for a in ANCHORS), "target", ""]
    return report.table(head, lines, "lrrrrrll"), verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 rep, counts / 10; prints only")
    ap.add_argument("--reps", type=int, default=5, help="repetitions (default: %(default)s)")
    ap.add_argument("--python", default=None, help="interpreter that imports pmalloc "
                    "(default: .venv/bin/python if present, else this one)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = ap.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    python = args.python or options.default_python()
    started, load = report.now(), os.getloadavg()[0]
    body, verdicts, machine = [], [], {}
    for force in FORCES:
        data = run_session(python, force, args.reps, args.quick)
        machine = data.get("machine_info", {})
        lines, said = table(per_op(data), force)
        body += [f"PMEM_IS_PMEM_FORCE={force}:", "", *lines, ""]
        verdicts += said
    missed = [v for v in verdicts if not v.split(": ")[-1].startswith("met")]
    target = ("Targets (issue 13): the transaction in under 2 µs; pmalloc.kv's set >= 3x "
              "sqlite3's rate, its get >= 1.0x sqlite3's, at each force. " +
              ("All met." if not missed else "Not met: " + "; ".join(missed) + "."))
    print("\n".join(body) + "\n" + target)
    print("\nCommand: " + results.command("run_objpy.py", argv))
    if args.no_write or args.quick:
        return 0
    took = (report.now() - started).total_seconds()
    cpu = machine.get("cpu", {}).get("brand_raw", "?")
    intro = (f"Run {started:%Y-%m-%d %H:%M %Z} (load average {load:.1f} at the start, "
             f"{os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} CPUs), took {took:.0f} s: "
             "one pytest-benchmark "
             f"session (`bench/objpy/`) per PMEM_IS_PMEM_FORCE, {args.reps} repetitions of "
             "each benchmark per contender, the contenders alternating (a b c, b c a, ...). "
             f"Python {machine.get('python_version', '?')}, {cpu}; stores in /dev/shm, each "
             "contender's own, new for each benchmark. Per operation: the median over the "
             "repetitions of each one's median round, ± half their range, and the rate. "
             "rate / X: pmalloc's rate over X's (> 1: pmalloc faster). Rows:")
    section = "\n".join([
        "## pmalloc.obj and pmalloc.kv from Python (bench/run_objpy.py, issue 13)", "",
        "Command (from the repository root, pmalloc built in .venv):", "", "```",
        results.command("run_objpy.py", argv), "```", "", textwrap.fill(intro, 96), "",
        WHAT, "", "\n".join(body).rstrip(), "", target])
    results.write_section(BENCH / "RESULTS.md", "run_objpy.py", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
