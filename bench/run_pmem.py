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
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from results import write_section

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
CFLAGS = ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror"]
ROWS = [("memcpy_persist", 4096), ("memcpy_persist", 65536), ("memcpy_persist", 4 << 20),
        ("memcpy+persist", 4096), ("memcpy+persist", 65536), ("memcpy+persist", 4 << 20),
        ("persist_line", 64)]


def pmalloc_paths(python: str) -> tuple[str, str]:
    code = "import pmalloc; print(pmalloc.get_include()); print(pmalloc.get_library())"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True,
                         cwd="/")
    inc, lib = out.stdout.split()
    return inc, lib


def build(python: str) -> dict[str, list[str]]:
    OUT.mkdir(exist_ok=True)
    inc, lib = pmalloc_paths(python)
    libdir = OUT / "pmemlib"
    libdir.mkdir(exist_ok=True)
    shutil.copy(lib, libdir / "libpmalloc.so")
    src = str(BENCH / "src" / "pmem_driver.c")
    cmds = {
        "pmalloc": ["gcc", *CFLAGS, f"-I{inc}", src, f"-L{libdir}", "-lpmalloc",
                    f"-Wl,-rpath,{libdir}", "-o", str(OUT / "pmem-pmalloc")],
        "pmdk": ["gcc", *CFLAGS, src, "-lpmem", "-o", str(OUT / "pmem-pmdk")],
        "memcpy": ["gcc", *CFLAGS, "-DBENCH_PLAIN", src, "-o", str(OUT / "pmem-memcpy")],
    }
    for cmd in cmds.values():
        subprocess.run(cmd, check=True)
    return cmds


def run_once(name: str, seconds: float, pool_dir: str) -> dict[tuple[str, int], float]:
    env = dict(os.environ, PMEM_IS_PMEM_FORCE="1")
    path = os.path.join(pool_dir, f"pmem-bench-{name}-{os.getpid()}")
    out = subprocess.run([str(OUT / f"pmem-{name}"), path, str(seconds)], capture_output=True,
                         text=True, env=env, check=True, timeout=600)
    res = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        res[(r["row"], r["bytes"])] = r["gbps"] if r["row"] != "persist_line" else r["ns_per_op"]
    return res


def fmt_size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--pool-dir", default="/dev/shm")
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = ap.parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc)
    cmds = build(args.python)
    names = list(cmds)
    samples: dict[str, list[dict]] = {n: [] for n in names}
    for rep in range(args.reps):
        for name in names:
            samples[name].append(run_once(name, args.seconds, args.pool_dir))
        print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr)
    med = {n: {row: statistics.median(s[row] for s in samples[n]) for row in ROWS}
           for n in names}

    lines = ["| row | unit | pmalloc | PMDK 1.12 | plain memcpy | pmalloc / PMDK |",
             "|---|---|---:|---:|---:|---:|"]
    for row in ROWS:
        op, size = row
        if op == "persist_line":
            unit, ratio = "ns per line (lower is better)", med["pmdk"][row] / med["pmalloc"][row]
            plain = "-"
        else:
            unit, ratio = "GB/s", med["pmalloc"][row] / med["pmdk"][row]
            plain = f"{med['memcpy'][row]:.2f}"
        lines.append(f"| {op} {fmt_size(size)} | {unit} | {med['pmalloc'][row]:.2f} | "
                     f"{med['pmdk'][row]:.2f} | {plain} | **{ratio:.2f}** |")
    table = "\n".join(lines)
    ratios = {row: (med["pmdk"][row] / med["pmalloc"][row] if row[0] == "persist_line"
                    else med["pmalloc"][row] / med["pmdk"][row]) for row in ROWS}
    missed = [f"{op} {fmt_size(size)} ({r:.2f})" for (op, size), r in ratios.items() if r < 1.0]
    target = ("Target (issue 4) >= 1.0x PMDK on every row: "
              + ("met." if not missed else "missed on " + ", ".join(missed) + "."))
    print(table)
    if args.no_write:
        return 0
    took = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    section = f"""## libpmem (issue 4)

Command (from the repository root, pmalloc built in .venv):

```
python3 bench/run_pmem.py
```

Run {started:%Y-%m-%d %H:%M} UTC, {args.reps} reps alternating pmalloc / PMDK / memcpy,
{args.seconds} s per row, took {took:.0f} s. One driver, `bench/src/pmem_driver.c`, built
against pmalloc's `libpmem.h` + `libpmalloc.so`, against Debian's PMDK 1.12.1 `-lpmem`, and
with `-DBENCH_PLAIN` (plain `memcpy`, no flush: the ceiling, not a contender). A 64 MiB file
in {args.pool_dir} mapped with `pmem_map_file`, `PMEM_IS_PMEM_FORCE=1`; copies go to
successive offsets of the file, from a 4 MiB source. `memcpy_persist` = `pmem_memcpy_persist`;
`memcpy+persist` = `memcpy` then `pmem_persist`; `persist_line` = dirty one byte of a 64 B
line, `pmem_persist` that line. Medians; ratios > 1 mean pmalloc is faster (for
`persist_line`: PMDK's ns / ours).

{table}

{target}

Build commands:

""" + "\n".join(f"- {n}: `{' '.join(c)}`" for n, c in cmds.items())
    write_section(BENCH / "RESULTS.md", "run_pmem.py", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
