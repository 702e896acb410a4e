#!/usr/bin/env python3
"""bench/run_programs.py -- real programs under each allocator, pmalloc's shim included (issue 3).

Runs unmodified programs with no preload (glibc), LD_PRELOAD of Debian's jemalloc,
mimalloc and tcmalloc, and LD_PRELOAD of pmalloc's libvmmalloc.so with its pool in
/dev/shm, the contenders alternating within each repetition (A B C D E, A B C D E, ...).
Per run: wall time and peak RSS (wait4's rusage, which covers the program's children,
e.g. gcc's cc1). Medians, ratios against glibc and jemalloc, the issue's targets.

Workloads:
  python         python3 building and dropping dicts, lists and strings
  python-malloc  the same with PYTHONMALLOC=malloc (every object through malloc)
  sqlite         sqlite3 CLI, in-memory, tests/shim/workload.sql scaled to 500k inserts
  gcc            gcc -O2 -c of a generated 3.5k-line C file (tests/shim/gen_c.py)
  small, large, xthread   bench/src/driver.c built for plain malloc (as bench/run.py does)

    python3 bench/run_programs.py                 # 5 reps; section in bench/RESULTS.md
    python3 bench/run_programs.py --quick         # 1 rep; prints the table only
    python3 bench/run_programs.py --only python,sqlite --reps 3

Standard library only. Nothing here is asserted by the tests.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import write_section

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
RESULTS = BENCH / "RESULTS.md"

PY_WORKLOAD = """\
import sys
rounds = int(sys.argv[1])
total = 0
for r in range(rounds):
    table = {}
    for i in range(120000):
        key = f"key-{r}-{i}"
        table[key] = {"id": i, "name": key.upper(), "tags": [key[-3:], str(i % 97)]}
    rows = [v for k, v in table.items() if v["id"] % 3]
    text = ",".join(v["name"] for v in rows[:50000])
    words = text.split(",")
    total += len(words) + sum(len(w) for w in words[::7])
    nested = [[str(j) * (j % 5 + 1) for j in range(i % 40)] for i in range(20000)]
    total += sum(map(len, nested))
    del table, rows, text, words, nested
print(total)
"""

WORKLOADS = ["python", "python-malloc", "sqlite", "gcc", "small", "large", "xthread"]
DRIVER_ARGS = {"small": ["--n", "20000000"], "large": ["--n", "2000000"],
               "xthread": ["--n", "4000000"]}
QUICK_DRIVER_ARGS = {"small": ["--n", "1000000"], "large": ["--n", "100000"],
                     "xthread": ["--n", "250000"]}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def contenders(shim: str, pool_dir: str) -> dict[str, dict[str, str]]:
    """name -> the environment changes of a run."""
    out = {"glibc": {}}
    for name, lib in (("jemalloc", "libjemalloc.so.2"), ("mimalloc", "libmimalloc.so.2"),
                      ("tcmalloc", "libtcmalloc_minimal.so.4")):
        if (LIBDIR / lib).is_file():
            out[name] = {"LD_PRELOAD": str(LIBDIR / lib)}
        else:
            say(f"run_programs: {LIBDIR / lib} missing (bench/setup.sh): {name} skipped")
    out["pmalloc"] = {"LD_PRELOAD": shim, "PMALLOC_POOL_DIR": pool_dir}
    return out


def find_shim(python: str) -> str:
    r = subprocess.run([python, "-c", "import pmalloc; print(pmalloc.preload_path())"],
                       capture_output=True, text=True)
    if r.returncode != 0 or not Path(r.stdout.strip()).is_file():
        sys.exit(f"run_programs: cannot find libvmmalloc.so through {python}: {r.stderr}")
    return r.stdout.strip()


def real_python() -> str:
    """A CPython binary (not a pyenv shim script): this one's real path."""
    return os.path.realpath(sys.executable)


def prepare(work: Path, quick: bool, only: list[str]) -> dict[str, tuple[list[str], dict, bytes | None]]:
    """name -> (command, extra environment, stdin) for each workload."""
    cmds: dict[str, tuple[list[str], dict, bytes | None]] = {}
    py = real_python()
    (work / "py_workload.py").write_text(PY_WORKLOAD)
    rounds = "2" if quick else "6"
    cmds["python"] = ([py, str(work / "py_workload.py"), rounds], {}, None)
    cmds["python-malloc"] = ([py, str(work / "py_workload.py"), rounds],
                             {"PYTHONMALLOC": "malloc"}, None)
    sql = (REPO / "tests" / "shim" / "workload.sql").read_text()
    if not quick:
        sql = sql.replace("WHERE i < 200000", "WHERE i < 500000")
    cmds["sqlite"] = ([shutil.which("sqlite3") or "sqlite3"], {}, sql.encode())
    subprocess.run([py, str(REPO / "tests" / "shim" / "gen_c.py"), str(work / "gen.c"), "3500"],
                   check=True)
    cmds["gcc"] = (["gcc", "-O2", "-c", str(work / "gen.c"), "-o", str(work / "gen.o")], {},
                   None)
    if any(w in only for w in DRIVER_ARGS):
        exe = work / "driver-malloc"
        subprocess.run(["gcc", "-std=c11", "-O2", "-g", "-pthread", str(BENCH / "src" / "driver.c"),
                        "-o", str(exe)], check=True)
        for w, args in (QUICK_DRIVER_ARGS if quick else DRIVER_ARGS).items():
            cmds[w] = ([str(exe), w, *args, "--seed", "1"], {}, None)
    return {w: cmds[w] for w in only}


def run_once(cmd: list[str], env: dict[str, str], stdin: bytes | None,
             timeout: float) -> tuple[float, int, int, bytes]:
    """(wall seconds, peak RSS bytes, exit status, stdout) of one run; RSS covers children."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        proc = subprocess.Popen(cmd, env=env, stdin=inp, stdout=out, stderr=subprocess.DEVNULL)
        deadline = start + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return wall, ru.ru_maxrss * 1024, proc.returncode, out.read()


def fmt_ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 5, quick 1)")
    ap.add_argument("--quick", action="store_true", help="smaller workloads, 1 rep, no write")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                    help="the interpreter that imports pmalloc (to find libvmmalloc.so)")
    ap.add_argument("--pool-dir", default="/dev/shm")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = ap.parse_args(argv)
    only = [w for w in args.only.split(",") if w]
    bad = [w for w in only if w not in WORKLOADS]
    if bad:
        ap.error(f"unknown workloads {bad}; choose from {WORKLOADS}")
    reps = args.reps or (1 if args.quick else 5)
    shim = find_shim(args.python)
    cons = contenders(shim, args.pool_dir)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    base_env = {k: v for k, v in os.environ.items()
                if k != "LD_PRELOAD" and not k.startswith(("PMALLOC_", "VMMALLOC_", "PYTHONMALLOC"))}
    walls: dict[tuple[str, str], list[float]] = {}
    rss: dict[tuple[str, str], list[int]] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pmalloc-bench-") as tmp:
        work = Path(tmp)
        cmds = prepare(work, args.quick, only)
        reference: dict[str, bytes] = {}
        for rep in range(reps):
            for w, (cmd, extra, stdin) in cmds.items():
                names = list(cons)
                if rep % 2:   # alternate the order too, not only interleave
                    names.reverse()
                for name in names:
                    env = {**base_env, **extra, **cons[name]}
                    wall, peak, rc, out = run_once(cmd, env, stdin, args.timeout)
                    if rc != 0:
                        problems.append(f"{w} under {name} (rep {rep + 1}): exit status {rc}")
                        continue
                    if w in ("python", "python-malloc", "sqlite"):
                        if reference.setdefault(w, out) != out:
                            problems.append(f"{w} under {name}: output differs from the first run")
                    walls.setdefault((w, name), []).append(wall)
                    rss.setdefault((w, name), []).append(peak)
                say(f"rep {rep + 1}/{reps} {w}: " + ", ".join(
                    f"{n} {walls[(w, n)][-1]:.2f}s" for n in cons if (w, n) in walls))
    took = time.perf_counter() - t0

    def med(d, w, n):
        v = d.get((w, n))
        return statistics.median(v) if v else None

    def ratio(d, w, a, b):
        x, y = med(d, w, a), med(d, w, b)
        return x / y if x and y else None

    names = list(cons)
    lines = ["| workload | " + " | ".join(f"{n} s" for n in names) + " | "
             + " | ".join(f"{n} MiB" for n in names) + " |",
             "|---|" + "---:|" * (2 * len(names))]
    for w in only:
        t = [f"{med(walls, w, n):.3f}" if med(walls, w, n) else "-" for n in names]
        m = [f"{med(rss, w, n) / 2**20:.0f}" if med(rss, w, n) else "-" for n in names]
        lines.append(f"| {w} | " + " | ".join(t) + " | " + " | ".join(m) + " |")
    lines += ["", "Targets (pmalloc's shim): wall <= 1.00x glibc, wall <= 1.05x jemalloc, "
              "peak RSS <= 1.10x glibc. Margin = target - ratio (negative: missed).", "",
              "| workload | wall / glibc | wall / jemalloc | RSS / glibc | RSS / jemalloc | met? |",
              "|---|---:|---:|---:|---:|---|"]
    misses = []
    for w in only:
        a, b = ratio(walls, w, "pmalloc", "glibc"), ratio(walls, w, "pmalloc", "jemalloc")
        c, d = ratio(rss, w, "pmalloc", "glibc"), ratio(rss, w, "pmalloc", "jemalloc")
        verdict = []
        for label, v, limit in (("wall/glibc", a, 1.0), ("wall/jemalloc", b, 1.05),
                                ("RSS/glibc", c, 1.10)):
            if v is None:
                verdict.append(f"{label} ?")
            elif v <= limit:
                verdict.append(f"{label} met ({limit - v:+.2f})")
            else:
                verdict.append(f"**{label} missed ({limit - v:+.2f})**")
                misses.append(f"{w} {label} {v:.2f}x")
        lines.append(f"| {w} | {fmt_ratio(a)} | {fmt_ratio(b)} | {fmt_ratio(c)} | "
                     f"{fmt_ratio(d)} | {'; '.join(verdict)} |")
    table = "\n".join(lines)
    print(table)
    if problems:
        print("\nProblems:\n" + "\n".join(f"- {p}" for p in problems))
    if args.quick or args.no_write:
        return 0
    cmdline = "python3 bench/run_programs.py" + (" " + " ".join(argv if argv is not None
                                                                else sys.argv[1:])).rstrip()
    section = "\n".join([
        "## Real programs under each allocator (bench/run_programs.py, issue 3)", "",
        "Run from the repository root:", "", "```", cmdline.strip(), "```", "",
        f"Started {started:%Y-%m-%d %H:%M:%S} UTC, took {took:.0f} s; {reps} repetitions, "
        f"contenders alternating (order reversed every other repetition); {os.cpu_count()} "
        f"CPUs, {platform.platform()}; pmalloc's pool in {args.pool_dir}. Medians of wall "
        "time and of peak RSS (wait4 rusage: the program and its children, e.g. cc1).", "",
        table, "",
        *(["Problems in this run:", *[f"- {p}" for p in problems], ""] if problems else []),
        "Misses: " + ("; ".join(misses) if misses else "none") + "."])
    write_section(RESULTS, "run_programs.py", section)
    say(f"run_programs: wrote the section to {os.path.relpath(RESULTS, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
