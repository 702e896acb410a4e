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
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from results import TITLE, write_section

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SRC = BENCH / "src"
OUT = BENCH / "out"
LIBDIR = Path("/usr/lib/x86_64-linux-gnu")

WORKLOADS = ["small", "large", "xthread", "frag"]

# Driver arguments per workload: (full run, --quick run).
ARGS = {
    "small": (["--n", "10000000"], ["--n", "2000000"]),
    "large": (["--n", "1000000"], ["--n", "200000"]),
    "xthread": (["--n", "2000000"], ["--n", "500000"]),
    "frag": (["--bytes", "1G"], ["--bytes", "256M"]),
}
REPS = {"small": 5, "large": 5, "xthread": 5, "frag": 3}
POOL_SIZE = {"small": "1G", "large": "1G", "xthread": "1G", "frag": "4G"}

CFLAGS = ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"]

GiB = 1 << 30
MiB = 1 << 20


@dataclass
class Contender:
    """One allocator under test: which driver, and what to preload."""

    name: str                   # short label in tables
    driver: str                 # "malloc", "memkind" or "vmem"
    preload: str | None = None  # library for LD_PRELOAD, or None
    note: str = ""              # how it runs, for RESULTS.md
    skip: str | None = None     # why it is not run, or None
    failed: dict = field(default_factory=dict)   # workload -> the error it gave up on
    crashes: dict = field(default_factory=dict)  # workload -> errors of retried crashes


def contenders() -> list[Contender]:
    return [
        Contender("glibc", "malloc", None, "plain malloc/free, no preload"),
        Contender("jemalloc", "malloc", str(LIBDIR / "libjemalloc.so.2"),
                  "LD_PRELOAD libjemalloc.so.2"),
        Contender("mimalloc", "malloc", str(LIBDIR / "libmimalloc.so.2"),
                  "LD_PRELOAD libmimalloc.so.2"),
        Contender("tcmalloc", "malloc", str(LIBDIR / "libtcmalloc_minimal.so.4"),
                  "LD_PRELOAD libtcmalloc_minimal.so.4"),
        Contender("memkind", "memkind", None,
                  "memkind_create_pmem(pool dir) + memkind_malloc/free"),
        Contender("pmalloc", "vmem", None, "vmem_create(pool dir) + vmem_malloc/free"),
    ]


ANCHORS = ["glibc", "jemalloc", "mimalloc", "tcmalloc", "memkind"]


def say(msg: str) -> None:
    print(msg, flush=True)


# ---- finding pmalloc and building the drivers -------------------------------


def default_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def pmalloc_paths(python: str) -> tuple[dict | None, str]:
    """pmalloc's include dir, library and version as `python` sees them."""
    code = ("import json, pmalloc; print(json.dumps({'include': pmalloc.get_include(), "
            "'library': pmalloc.get_library(), 'version': pmalloc.__version__}))")
    try:
        r = subprocess.run([python, "-c", code], capture_output=True, text=True,
                           timeout=120, cwd=tempfile.gettempdir())
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"cannot run {python}: {e}"
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"`import pmalloc` failed with {python}: {last}"
    info = json.loads(r.stdout.strip().splitlines()[-1])
    if not Path(info["library"]).is_file():
        return None, (f"{info['library']} does not exist (build it: "
                      f"{python} -m pip install -e .)")
    if not (Path(info["include"]) / "libvmem.h").is_file():
        return None, f"no libvmem.h in {info['include']}"
    return info, ""


def compile_driver(cc: str, name: str, extra: list[str], libs: list[str]) -> tuple[Path | None, str]:
    """Build bench/out/driver-<name> from the repo root (so the command reads short)."""
    exe = OUT / f"driver-{name}"

    def rel(p: Path) -> str:
        return os.path.relpath(p, REPO)

    cmd = [cc, *CFLAGS, *extra, "-I", rel(SRC), rel(SRC / "driver.c"), "-o", rel(exe), *libs]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-8:])
        return None, f"build failed: {shlex.join(cmd)}\n{tail}"
    return exe, shlex.join(cmd)


def build(args, cons: list[Contender]) -> tuple[dict[str, Path], dict[str, str], dict | None]:
    """Compile the drivers the chosen contenders need; mark the rest skipped."""
    OUT.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        sys.exit(f"run.py: no C compiler ({cc}); run bench/setup.sh")
    needed = {c.driver for c in cons if c.skip is None}
    exes: dict[str, Path] = {}
    cmds: dict[str, str] = {}
    why: dict[str, str] = {}
    pm_info = None

    def one(driver: str, extra: list[str], libs: list[str]) -> None:
        exe, msg = compile_driver(cc, driver, extra, libs)
        if exe is None:
            why[driver] = msg
        else:
            exes[driver], cmds[driver] = exe, msg

    if "malloc" in needed:
        one("malloc", [], [])
    if "memkind" in needed:
        if Path("/usr/include/memkind.h").exists():
            one("memkind", ["-DBENCH_API_MEMKIND"], ["-lmemkind"])
        else:
            why["memkind"] = "memkind.h not found (install libmemkind-dev: bench/setup.sh)"
    if "vmem" in needed:
        pm_info, err = pmalloc_paths(args.python)
        if pm_info is None:
            why["vmem"] = err
        else:
            # Link a snapshot, so a rebuild of the tree mid-run cannot change (or
            # briefly remove) the library under test.
            snap = OUT / "lib"
            snap.mkdir(exist_ok=True)
            shutil.copy2(pm_info["library"], snap / "libpmalloc.so")
            digest = hashlib.sha256((snap / "libpmalloc.so").read_bytes()).hexdigest()[:12]
            pm_info["snapshot"] = f"sha256 {digest}, copied to {os.path.relpath(snap, REPO)}/"
            one("vmem", ["-DBENCH_API_VMEM", "-I", pm_info["include"]],
                ["-L", os.path.relpath(snap, REPO), "-lpmalloc", f"-Wl,-rpath,{snap}"])

    for c in cons:
        if c.skip is None and c.driver in why:
            c.skip = why[c.driver]
    return exes, cmds, pm_info


def check_preloads(cons: list[Contender]) -> None:
    for c in cons:
        if c.skip is None and c.preload and not Path(c.preload).is_file():
            c.skip = f"{c.preload} not found (run bench/setup.sh)"


# ---- running ------------------------------------------------------------------


def run_one(args, exe: Path, c: Contender, workload: str,
            seed: int) -> tuple[list[dict] | None, str, bool]:
    """One driver run: its JSON lines, or None, the reason and whether a signal killed it."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if c.preload:
        env["LD_PRELOAD"] = c.preload
    cmd = [str(exe), workload, *ARGS[workload][1 if args.quick else 0],
           "--seed", str(seed), "--pool-dir", args.pool_dir,
           "--pool-size", POOL_SIZE[workload]]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env,
                           timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {args.timeout} s: {shlex.join(cmd)}", False
    if "cannot be preloaded" in r.stderr:
        return None, f"the preload was ignored: {r.stderr.strip()}", False
    if r.returncode != 0:
        tail = " | ".join(r.stderr.strip().splitlines()[-3:])
        how = f"signal {-r.returncode}" if r.returncode < 0 else f"exit {r.returncode}"
        return (None, f"{how}: {tail or '(no message)'}; command: {shlex.join(cmd)}",
                r.returncode < 0)
    lines = []
    for ln in r.stdout.splitlines():
        if ln.startswith("{"):
            try:
                lines.append(json.loads(ln))
            except json.JSONDecodeError:
                return None, f"unparsable output line: {ln!r}", False
    if not lines:
        return None, "no result line", False
    return lines, "", False


def fmt_rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}" if v < 100 else f"{v:.0f}"


def fmt_bytes(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= GiB:
        return f"{v / GiB:.2f} GiB"
    return f"{v / MiB:.1f} MiB"


def summarize(lines: list[dict], workload: str) -> dict:
    """The figures of one run that the tables need."""
    if workload != "frag":
        res = lines[-1]
        return {"rate": res["rate"], "unit": res["unit"], "seconds": res["seconds"]}
    phases = {ln["phase"]: ln for ln in lines}
    s = phases["summary"]
    out = {
        "peak_rss": s["peak_rss"],
        "pool_peak": s["pool_peak"],
        "pool_after_free": s["pool_after_free"],
        "pool_after_purge": s["pool_after_purge"],
        "seconds": sum(phases[p]["seconds"] for p in ("fill", "free", "refill", "freeall")),
    }
    for p in ("setup", "fill", "free", "refill", "freeall"):
        out[f"rss_{p}"] = phases[p]["rss"]
    if s["pool_peak"]:
        out["pool_frac"] = s["pool_after_free"] / s["pool_peak"]
    return out


def median_of(runs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def spread(runs: list[dict], key: str) -> str:
    vals = [r[key] for r in runs if r.get(key) is not None]
    if len(vals) < 2:
        return ""
    m = statistics.median(vals)
    return f" ±{(max(vals) - min(vals)) / 2 / m * 100:.0f}%" if m else ""


# ---- targets ------------------------------------------------------------------


@dataclass
class Target:
    text: str
    status: str  # "met", "missed" or "n/a"
    detail: str


def ratio_target(text: str, med: dict, workload: str, anchor: str, factor: float,
                 key: str = "rate", lower_is_better: bool = False) -> Target:
    pm = med.get(("pmalloc", workload), {}).get(key)
    an = med.get((anchor, workload), {}).get(key)
    if pm is None or an is None or an == 0:
        missing = "pmalloc" if pm is None else anchor
        return Target(text, "n/a", f"no {missing} figure for {workload}")
    ratio = pm / an
    if lower_is_better:
        ok = ratio <= factor
        margin = (factor - ratio) / factor * 100
        detail = (f"pmalloc/{anchor} = {ratio:.2f} (target <= {factor:g}); "
                  f"{abs(margin):.0f} % {'under' if ok else 'over'}")
    else:
        ok = ratio >= factor
        margin = (ratio / factor - 1) * 100
        detail = (f"pmalloc/{anchor} = {ratio:.2f} (target >= {factor:g}); "
                  f"{abs(margin):.0f} % {'above' if ok else 'below'}")
    return Target(text, "met" if ok else "missed", detail)


def targets(med: dict, workloads: list[str]) -> list[Target]:
    """The issue's targets for the workloads that were run."""
    out = [
        ratio_target("small >= mimalloc throughput", med, "small", "mimalloc", 1.0),
        ratio_target("small >= 3x memkind PMEM kind", med, "small", "memkind", 3.0),
        ratio_target("large >= mimalloc throughput", med, "large", "mimalloc", 1.0),
        ratio_target("xthread >= jemalloc throughput", med, "xthread", "jemalloc", 1.0),
        ratio_target("frag peak RSS <= jemalloc's", med, "frag", "jemalloc", 1.0,
                     key="peak_rss", lower_is_better=True),
    ]
    text = "frag: pool file allocated size after free-all < 5 % of its peak"
    f = med.get(("pmalloc", "frag"), {})
    frac = f.get("pool_frac")
    if frac is None:
        out.append(Target(text, "n/a", "no pmalloc frag figure"))
    else:
        ok = frac < 0.05
        detail = (f"{fmt_bytes(f.get('pool_after_free'))} of {fmt_bytes(f.get('pool_peak'))} "
                  f"= {frac * 100:.1f} % (target < 5 %); "
                  f"{abs(5 - frac * 100):.1f} points {'under' if ok else 'over'}")
        purge = f.get("pool_after_purge")
        if purge is not None:
            detail += f"; after an explicit pmalloc_vmem_purge: {fmt_bytes(purge)}"
        out.append(Target(text, "met" if ok else "missed", detail))
    return [t for t in out if t.text.split()[0].rstrip(":") in workloads]


# ---- machine info and the report -----------------------------------------------


def sh(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (r.stdout or r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info(pm_info: dict | None) -> list[tuple[str, str]]:
    cpu = "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal"):
                mem = f"{int(ln.split()[1]) * 1024 / GiB:.1f} GiB"
    except OSError:
        pass
    osname = "?"
    try:
        for ln in Path("/etc/os-release").read_text().splitlines():
            if ln.startswith("PRETTY_NAME="):
                osname = ln.split("=", 1)[1].strip('"')
    except OSError:
        pass
    pkgs = sh(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "libjemalloc2",
               "libmimalloc2.0", "libtcmalloc-minimal4", "libmemkind0"])
    rev = sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    if not rev or "fatal" in rev or "ambiguous" in rev:
        rev = "(no commit)"
    dirty = sh(["git", "-C", str(REPO), "status", "--porcelain", "--", "native"])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info = [
        ("date", dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("cpu", f"{cpu}, {os.cpu_count()} logical CPUs"),
        ("memory", mem),
        ("os", f"{osname}, kernel {platform.release()}"),
        ("compiler", sh([os.environ.get("CC", "gcc"), "--version"]).splitlines()[0]
         if sh([os.environ.get("CC", "gcc"), "--version"]) else "?"),
        ("glibc", " ".join(platform.libc_ver())),
        ("anchors", "; ".join(pkgs.splitlines()) or "?"),
        ("pmalloc", (f"{pm_info['version']} at {rev}"
                     + (", native/ has uncommitted changes" if dirty else "")
                     + f", {pm_info['library']} ({pm_info['snapshot']})") if pm_info else "not used (see Contenders)"),
        ("load average at start", load),
    ]
    if os.environ.get("PMALLOC_DECAY_MS"):
        info.append(("PMALLOC_DECAY_MS", os.environ["PMALLOC_DECAY_MS"]))
    return info


def tables(cons: list[Contender], workloads: list[str], med: dict, raw: dict) -> list[str]:
    """Markdown tables (also printed to the terminal)."""
    names = [c.name for c in cons if c.skip is None]
    L: list[str] = []
    tp = [w for w in workloads if w != "frag"]
    if tp:
        L += ["### Throughput (median, ± half the min..max range)", "",
              "| workload | unit | " + " | ".join(names) + " |",
              "|---|---|" + "---:|" * len(names)]
        for w in tp:
            unit = next((r["unit"] for n in names for r in raw.get((n, w), [])), "")
            cells = []
            for n in names:
                runs = raw.get((n, w), [])
                v = med.get((n, w), {}).get("rate")
                cell = ("failed" if v is None and n in failed_names(cons, w)
                        else fmt_rate(v) + spread(runs, "rate"))
                ncrash = crash_count(cons, n, w)
                cells.append(cell + (f" ({ncrash} crashed)" if ncrash else ""))
            L.append(f"| {w} | {unit} | " + " | ".join(cells) + " |")
        L.append("")
    if "frag" in workloads:
        L += ["### frag: memory (median)", "",
              "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        rows = [("RSS after setup", "rss_setup"), ("RSS after fill (100 B)", "rss_fill"),
                ("RSS after free 90 %", "rss_free"), ("RSS after refill (200 B)", "rss_refill"),
                ("RSS after free-all", "rss_freeall"), ("**peak RSS (VmHWM)**", "peak_rss"),
                ("pool file peak", "pool_peak"), ("pool file after free-all", "pool_after_free"),
                ("pool file after explicit purge", "pool_after_purge")]
        for label, key in rows:
            L.append(f"| {label} | " + " | ".join(
                fmt_bytes(med.get((n, "frag"), {}).get(key)) for n in names) + " |")
        L.append("| seconds (all phases) | " + " | ".join(
            (lambda v: "-" if v is None else f"{v:.2f}")(med.get((n, "frag"), {}).get("seconds"))
            for n in names) + " |")
        L.append("")
    anchors = [a for a in ANCHORS if a in names]
    if "pmalloc" in names and anchors:
        L += ["### Ratios pmalloc / anchor (medians; throughput: higher is better, "
              "frag peak RSS: lower is better)", "",
              "| workload | " + " | ".join(anchors) + " |", "|---|" + "---:|" * len(anchors)]
        for w in workloads:
            key = "peak_rss" if w == "frag" else "rate"
            pm = med.get(("pmalloc", w), {}).get(key)
            cells = []
            for a in anchors:
                an = med.get((a, w), {}).get(key)
                cells.append("-" if pm is None or not an else f"{pm / an:.2f}")
            label = "frag (peak RSS)" if w == "frag" else w
            L.append(f"| {label} | " + " | ".join(cells) + " |")
        L.append("")
    return L


def failed_names(cons: list[Contender], workload: str) -> set[str]:
    return {c.name for c in cons if workload in c.failed}


def crash_count(cons: list[Contender], name: str, workload: str) -> int:
    return sum(len(c.crashes.get(workload, [])) for c in cons if c.name == name)


def report(args, cons, workloads, med, raw, tgts, pm_info, build_cmds, reps, started) -> str:
    argv0 = Path(sys.argv[0]).resolve()
    try:
        shown = str(argv0.relative_to(REPO))
    except ValueError:
        shown = str(argv0)
    command = shlex.join(["python3", shown, *sys.argv[1:]])
    L = ["# pmalloc benchmark results", ""]
    if args.quick:
        L += ["> **Quick run** (`--quick`): 1 repetition and smaller counts. "
              "A smoke test, not figures to quote.", ""]
    L += ["Written by `bench/run.py` (issue 2). Every figure is a median over repetitions "
          "measured in this one run, the contenders alternating (A B C ... A B C ...). "
          "Nothing here is asserted by the tests.", "",
          "## Command", "", "Run from the repository root:", "", "```", command, "```", "",
          f"Started {started}, took {args.elapsed:.0f} s.", "",
          "## Machine", ""]
    L += [f"- {k}: {v}" for k, v in machine_info(pm_info)]
    L += ["", "## Contenders", ""]
    for c in cons:
        state = f" — **skipped**: {c.skip}" if c.skip else ""
        L.append(f"- **{c.name}**: {c.note}{state}")
    L += ["", "## Workloads", ""]
    for w in workloads:
        L.append(f"- **{w}** ({reps[w]} reps): driver `{w} "
                 f"{shlex.join(ARGS[w][1 if args.quick else 0])} --seed REP "
                 f"--pool-dir {args.pool_dir} --pool-size {POOL_SIZE[w]}`")
    L += ["", "## Results", ""]
    L += tables(cons, workloads, med, raw)
    L += ["## Targets (issue 2)", "", "| target | status | detail |", "|---|---|---|"]
    for t in tgts:
        mark = {"met": "met", "missed": "**missed**", "n/a": "n/a"}[t.status]
        L.append(f"| {t.text} | {mark} | {t.detail} |")
    L.append("")
    fails = [(c.name, w, e) for c in cons for w, e in c.failed.items()]
    crashes = [(c.name, w, es) for c in cons for w, es in c.crashes.items()]
    if fails or crashes:
        L += ["## Failures", ""]
        L += [f"- {n} / {w}: gave up: `{e}`" for n, w, e in fails]
        L += [f"- {n} / {w}: crashed {len(es)} time(s), rerun (`--retries`); the medians "
              f"are of the runs that finished. First: `{es[0]}`" for n, w, es in crashes]
        L.append("")
    L += ["## Notes", "",
          "- small/large: after a window of 1000 live objects is filled, each pair frees a "
          "random slot and mallocs a new object (uniform size) into it, writing its first "
          "and last byte. Rate = pairs per second of the timed loop.",
          "- xthread: two threads; each allocates objects (8..512 B, touched) in batches of "
          "64 and hands them to the other through a lock-free single-producer ring; each "
          "frees what it receives. Rate = (mallocs + frees) per second of wall time.",
          "- frag: fill with 100 B objects to the target bytes, free a random 90 %, refill "
          "with 200 B objects until the live bytes are back at the target, free everything. "
          "RSS is VmRSS after each phase (the driver's own pointer array, mapped outside the "
          "allocator, is in every figure: see 'RSS after setup'); peak RSS is VmHWM. "
          "The pool file figure is st_blocks*512 of the pool's unlinked file (found through "
          "/proc/self/maps and /proc/self/map_files), read right after free-all with no wait; "
          "'after explicit purge' is informational (pmalloc_vmem_purge).",
          "- Pool contenders (memkind, pmalloc) use a pool file in the pool dir; malloc "
          "contenders have no pool file.",
          "- Build commands:", ""]
    L += [f"  - {k}: `{v}`" for k, v in build_cmds.items()]
    L.append("")
    return "\n".join(L)


# ---- main -----------------------------------------------------------------------


def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(
        description="Run pmalloc's allocator benchmarks against the anchors.")
    ap.add_argument("--quick", action="store_true",
                    help="1 repetition and smaller counts (a smoke test)")
    ap.add_argument("--only", default=",".join(WORKLOADS),
                    help="comma-separated workloads (default: %(default)s)")
    ap.add_argument("--contenders", default="",
                    help="comma-separated contenders (default: all: glibc,jemalloc,"
                         "mimalloc,tcmalloc,memkind,pmalloc)")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions for every workload (default: 5, frag 3; --quick 1)")
    ap.add_argument("--pool-dir", default="/dev/shm",
                    help="directory of the pool files (default: %(default)s)")
    ap.add_argument("--python", default=None,
                    help="interpreter that imports pmalloc (default: .venv/bin/python "
                         "if present, else this one)")
    ap.add_argument("--results", default=None,
                    help="markdown report to write (default: bench/RESULTS.md; "
                         "bench/out/RESULTS-quick.md with --quick)")
    ap.add_argument("--retries", type=int, default=2,
                    help="reruns of a run killed by a signal; each crash is reported "
                         "(default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds before one driver run is abandoned (default: %(default)s)")
    args = ap.parse_args(argv)
    args.workloads = [w.strip() for w in args.only.split(",") if w.strip()]
    bad = [w for w in args.workloads if w not in WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {', '.join(bad)}; choose from {', '.join(WORKLOADS)}")
    if args.python is None:
        args.python = default_python()
    if args.results is None:
        args.results = str(OUT / "RESULTS-quick.md") if args.quick else str(BENCH / "RESULTS.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    t_start = dt.datetime.now()

    cons = contenders()
    if args.contenders:
        want = [n.strip() for n in args.contenders.split(",") if n.strip()]
        unknown = [n for n in want if n not in {c.name for c in cons}]
        if unknown:
            sys.exit(f"run.py: unknown contender(s): {', '.join(unknown)}")
        cons = [c for c in cons if c.name in want]

    if not os.path.isdir(args.pool_dir) or not os.access(args.pool_dir, os.W_OK):
        fallback = tempfile.gettempdir()
        say(f"note: pool dir {args.pool_dir} is not a writable directory; using {fallback}")
        args.pool_dir = fallback

    check_preloads(cons)
    exes, build_cmds, pm_info = build(args, cons)
    for c in cons:
        if c.skip:
            say(f"skip {c.name}: {c.skip}")
    live = [c for c in cons if c.skip is None]
    if not live:
        say("run.py: no contender can run")
        return 1

    reps = {w: args.reps or (1 if args.quick else REPS[w]) for w in args.workloads}
    raw: dict[tuple[str, str], list[dict]] = {}
    all_lines: list[dict] = []
    for w in args.workloads:
        for rep in range(reps[w]):
            for c in live:
                if w in c.failed:
                    continue
                tag = f"[{w} {rep + 1}/{reps[w]}] {c.name:9s}"
                for attempt in range(args.retries + 1):
                    lines, err, crashed = run_one(args, exes[c.driver], c, w, seed=rep + 1)
                    if lines is not None:
                        break
                    if crashed and attempt < args.retries:
                        c.crashes.setdefault(w, []).append(err)
                        say(f"{tag} CRASHED, retrying: {err}")
                        continue
                    c.failed[w] = err
                    say(f"{tag} FAILED: {err}")
                    break
                if lines is None:
                    continue
                for ln in lines:
                    ln["contender"] = c.name
                all_lines += lines
                s = summarize(lines, w)
                raw.setdefault((c.name, w), []).append(s)
                if w == "frag":
                    pool = (f", pool file peak {fmt_bytes(s['pool_peak'])} -> "
                            f"{fmt_bytes(s['pool_after_free'])} after free-all"
                            if s["pool_peak"] else "")
                    say(f"[{w} {rep + 1}/{reps[w]}] {c.name:9s} peak RSS "
                        f"{fmt_bytes(s['peak_rss'])}{pool}")
                else:
                    say(f"[{w} {rep + 1}/{reps[w]}] {c.name:9s} {fmt_rate(s['rate'])} {s['unit']}")

    keys = ["rate", "seconds", "peak_rss", "pool_peak", "pool_after_free",
            "pool_after_purge", "pool_frac", "rss_setup", "rss_fill", "rss_free",
            "rss_refill", "rss_freeall"]
    med = {k: {key: median_of(runs, key) for key in keys} for k, runs in raw.items()}
    tgts = targets(med, args.workloads)
    args.elapsed = (dt.datetime.now() - t_start).total_seconds()

    say("")
    for ln in tables(cons, args.workloads, med, raw):
        say(ln)
    say("Targets:")
    for t in tgts:
        say(f"  [{t.status:6s}] {t.text}: {t.detail}")

    text = report(args, cons, args.workloads, med, raw, tgts, pm_info, build_cmds, reps, started)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    # the title is the file's; the other runners' sections stay as they are
    write_section(Path(args.results), "run.py", text.removeprefix(TITLE))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    rawfile = OUT / f"raw-{stamp}.jsonl"
    rawfile.write_text("".join(json.dumps(ln) + "\n" for ln in all_lines))
    say(f"\nwrote {args.results} (raw lines: {rawfile})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
