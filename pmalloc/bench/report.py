"""Markdown tables, number formats, the failures of a run, the machine it ran on."""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

from .build import Pmalloc
from .runner import Runs

GiB = 1 << 30
MiB = 1 << 20


def row(cells: list[str]) -> str:
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def table(head: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A Markdown table; `align` has an l (left) or r (right) per column."""
    rule = "|" + "".join("---|" if a == "l" else "---:|" for a in align)
    return [row(head), rule, *(row(r) for r in rows)]


def fmt_rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}" if v < 100 else f"{v:.0f}"


def fmt_bytes(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / GiB:.2f} GiB" if v >= GiB else f"{v / MiB:.1f} MiB"


def fmt_size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def fmt(v: float | None, spec: str, suffix: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{suffix}"


def now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def failures(runs: Runs) -> list[str]:
    """A line for each pair given up on, and for each pair that crashed and was rerun."""
    return ([f"{n} / {w}: gave up: `{e}`" for (n, w), e in runs.failed.items()]
            + [f"{n} / {w}: crashed {len(es)} time(s), rerun (`--retries`); the medians "
               f"are of the runs that finished. First: `{es[0]}`"
               for (n, w), es in runs.crashes.items()])


def problems(title: str, lines: list[str]) -> list[str]:
    """A titled list, ending in an empty line; nothing when there is nothing to say."""
    return [title, *(f"- {ln}" for ln in lines), ""] if lines else []


def sh(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (r.stdout or r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def first_value(path: str, prefix: str, sep: str) -> str:
    """The value of the first line of a /proc or /etc file that starts with `prefix`."""
    try:
        for ln in Path(path).read_text().splitlines():
            if ln.startswith(prefix):
                return ln.split(sep, 1)[1].strip().strip('"')
    except OSError:
        pass
    return "?"


def machine(pm: Pmalloc | None, anchors: list[str],
            repo: Path | None = None) -> list[tuple[str, str]]:
    """What the figures were measured on: hardware, software, the packages of `anchors`,
    and pmalloc (its commit when it is built from the git checkout `repo`)."""
    mem = first_value("/proc/meminfo", "MemTotal", ":")
    if mem != "?":
        mem = f"{int(mem.split()[0]) * 1024 / GiB:.1f} GiB"
    pkgs = sh(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *anchors])
    rev = sh(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"]) if repo else ""
    if repo and (not rev or "fatal" in rev or "ambiguous" in rev):
        rev = "(no commit)"
    dirty = sh(["git", "-C", str(repo), "status", "--porcelain", "--", "native"]) if repo else ""
    cc = sh([os.environ.get("CC", "gcc"), "--version"])
    info = [
        ("date", now().strftime("%Y-%m-%d %H:%M %Z")),
        ("cpu", f"{first_value('/proc/cpuinfo', 'model name', ':')}, "
                f"{os.cpu_count()} logical CPUs"),
        ("memory", mem),
        ("os", f"{first_value('/etc/os-release', 'PRETTY_NAME=', '=')}, "
               f"kernel {platform.release()}"),
        ("compiler", cc.splitlines()[0] if cc else "?"),
        ("glibc", " ".join(platform.libc_ver())),
        ("anchors", "; ".join(pkgs.splitlines()) or "?"),
        ("pmalloc", (f"{pm.version}" + (f" at {rev}" if rev else "")
                     + (", native/ has uncommitted changes" if dirty else "")
                     + f", {pm.library} ({pm.snapshot})") if pm else "not used (see Contenders)"),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]
    if os.environ.get("PMALLOC_DECAY_MS"):
        info.append(("PMALLOC_DECAY_MS", os.environ["PMALLOC_DECAY_MS"]))
    return info
