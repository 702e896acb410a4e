#!/usr/bin/env python3
"""bench/run_server.py -- pmalloc's kv-server against redis-server 7, by redis-benchmark.

Each run starts one server, fresh, on a free port, with its data in a new directory under
--pool-dir (/dev/shm), drives it with one redis-benchmark invocation of the issue's command

    redis-benchmark -t set,get,incr,lpush,lpop,mset -n 200000 -c 50 [-P 16] [-r 100000] --csv -q

and stops it (pmalloc: SIGTERM; redis-server: SHUTDOWN NOSAVE), the directory then removed.
The contenders take turns, the order rotated every repetition (a b c, b c a, c a b, ...):

    pmalloc          python -m pmalloc kv-server --pool DIR/pool --size 1G --port 0
    redis-always     redis-server --appendonly yes --appendfsync always --save "" --dir DIR
                     (every write fsynced before its reply: pmalloc's durability)
    redis-everysec   the same with --appendfsync everysec (for reference)

Loads: p1 and p16 (the issue's command, without and with -P 16: the headline tables, with
the target) and p1-r, p16-r (the same with -r 100000: 100k keys instead of one; for
reference). Per test: the median requests/s over the repetitions, ± half their range, and
the ratios pmalloc / redis-always and pmalloc / redis-everysec.
Target (issue 14): pmalloc >= 1.0x redis-server (always) on every test, at both -P 1 and -P 16.

    python3 bench/run_server.py                      # 5 reps: its section of RESULTS.md
    python3 bench/run_server.py --quick              # 1 rep, -n 20000; prints only
    python3 bench/run_server.py --only p1,p16 --reps 3 --no-write
    python3 bench/run_server.py --contenders redis-always,redis-everysec   # no pmalloc

A contender that cannot run (pmalloc without its kv-server, redis-server not installed) is
skipped and said so; the section of RESULTS.md is written only when every contender ran
every load chosen, p1 and p16 among them, and not with --quick. Standard library only.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import BENCH, OUT, REPO, options, results
from pmalloc.bench import report, runner, stats

TESTS = ("SET", "GET", "INCR", "LPUSH", "LPOP", "MSET (10 keys)")
TEST_ARG = "set,get,incr,lpush,lpop,mset"
CLIENTS = 50
N_FULL, N_QUICK = 200_000, 20_000
KEYSPACE = 100_000
POOL_SIZE = "1G"
READY_SECS = 60.0  # a server's start, until it answers PING
STOP_SECS = 30.0   # a server's clean exit after SIGTERM / SHUTDOWN
TARGET = 1.0       # pmalloc / redis-always, every test of the headline loads


@dataclass(frozen=True)
class Load:
    """One redis-benchmark invocation's shape."""
    name: str
    pipeline: int
    keyspace: int = 0       # -r; 0: none (every test hits one key)
    headline: bool = True   # the exact command: the target applies

    def args(self, n: int) -> list[str]:
        return ["-t", TEST_ARG, "-n", str(n), "-c", str(CLIENTS),
                *(["-P", str(self.pipeline)] if self.pipeline > 1 else []),
                *(["-r", str(self.keyspace)] if self.keyspace else [])]

    def title(self, n: int) -> str:
        return f"`redis-benchmark {shlex.join(self.args(n))}`"


LOADS = [Load("p1", 1), Load("p16", 16),
         Load("p1-r", 1, KEYSPACE, False), Load("p16-r", 16, KEYSPACE, False)]


@dataclass(frozen=True)
class Server:
    """A contender: how to start it in a directory of its own."""
    name: str
    label: str           # its column in the tables
    what: str            # its command, for the report
    fsync: str = ""      # redis-server's appendfsync; "" for pmalloc


CONTENDERS = [
    Server("pmalloc", "pmalloc", "`python -m pmalloc kv-server --pool DIR/pool --size 1G "
           "--port 0`"),
    Server("redis-always", "redis always", "`redis-server --port PORT --bind 127.0.0.1 "
           "--appendonly yes --appendfsync always --save \"\" --dir DIR`", "always"),
    Server("redis-everysec", "redis everysec", "the same with `--appendfsync everysec`",
           "everysec"),
]
SETTINGS = ("PMEM_", "PMALLOC_", "PMEMOBJ_")  # pmalloc reads these: recorded if set


# --- a few Redis-protocol calls of our own (readiness, checks, shutdown) -----------------

def resp_call(host: str, port: int, *args: str, timeout: float = 5.0) -> object:
    """Send one command, return its reply (str, int, bytes, list, None, or an
    RespError); ConnectionError when there is no server or no reply."""
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"".join(parts))
        with s.makefile("rb") as f:
            return resp_read(f)


class RespError(str):
    """An error reply."""


def resp_read(f) -> object:
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("the connection closed before a whole reply")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode(errors="replace")
    if kind == b"-":
        return RespError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("the connection closed inside a bulk string")
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise ConnectionError(f"not a RESP reply: {line[:60]!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- one server's life ----------------------------------------------------------------

@dataclass
class Running:
    server: Server
    proc: subprocess.Popen
    port: int
    log: Path
    host: str = "127.0.0.1"


def log_tail(log: Path, lines: int = 3) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def died(r: Running, what: str) -> runner.RunFailed:
    """The failure of a server that exited when it should not have."""
    rc = r.proc.returncode
    how = f"signal {-rc}" if rc < 0 else f"exit {rc}"
    tail = log_tail(r.log) or "(no output)"
    return runner.RunFailed(f"{r.server.name} {what} ({how}): {tail}", crashed=rc < 0)


def pinned(cpus: set[int] | None):
    """A preexec_fn that binds the child to `cpus` (None: leave it free)."""
    return None if cpus is None else lambda: os.sched_setaffinity(0, cpus)


def start(c: Server, d: Path, python: str, env: dict[str, str],
          cpus: set[int] | None = None) -> Running:
    """Start `c` with its data in `d`; return once it answers PING."""
    log = d / "server.log"
    if c.fsync:
        port = free_port()
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "no",
               "--appendonly", "yes", "--appendfsync", c.fsync, "--save", "", "--dir", str(d)]
    else:
        port = 0  # the server picks one and says which
        cmd = [python, "-m", "pmalloc", "kv-server", "--pool", str(d / "pool"),
               "--size", POOL_SIZE, "--port", "0"]
    with open(log, "wb") as out:  # a session of its own: ^C reaches us, and we stop it
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=d,
                                start_new_session=True, preexec_fn=pinned(cpus))
    r = Running(c, proc, port, log)
    deadline = time.monotonic() + READY_SECS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise died(r, "exited while starting")
        if not r.port:
            m = re.search(r"ready on \[?(\S*?)\]?:(\d+)\s", log.read_text(errors="replace"))
            if m:  # HOST:PORT, or [HOST]:PORT for IPv6; any-address: connect to loopback
                r.port = int(m.group(2))
                if m.group(1) not in ("", "0.0.0.0", "::", "*"):
                    r.host = m.group(1)
        if r.port:
            try:
                if resp_call(r.host, r.port, "PING", timeout=1.0) == "PONG":
                    return r
            except (OSError, ConnectionError, ValueError):
                pass
        time.sleep(0.02)
    stop(r, [])
    raise runner.RunFailed(f"{c.name} did not answer PING within {READY_SECS:g} s: "
                           f"{log_tail(r.log) or '(no output)'}")


def stop(r: Running, notes: list[str]) -> None:
    """Stop the server cleanly; what was not clean goes to `notes`. (One that had already
    exited was said by the run's failure.)"""
    if r.proc.poll() is None:
        if r.server.fsync and r.port:
            try:
                resp_call(r.host, r.port, "SHUTDOWN", "NOSAVE")  # the connection just closes
            except (OSError, ConnectionError, ValueError):
                pass
        else:
            r.proc.send_signal(signal.SIGTERM)
        try:
            r.proc.wait(STOP_SECS)
        except subprocess.TimeoutExpired:
            r.proc.kill()
            r.proc.wait()
            notes.append(f"{r.server.name} did not exit within {STOP_SECS:g} s of its stop; "
                         "killed")
            return
        if r.proc.returncode != 0:
            notes.append(f"{r.server.name} stopped with exit status {r.proc.returncode}: "
                         f"{log_tail(r.log) or '(no output)'}")


# --- one run --------------------------------------------------------------------------

def parse_csv(text: str) -> dict[str, dict[str, float]]:
    """redis-benchmark --csv: per test, its figures (rps, avg_latency_ms, ...)."""
    rows = [r for r in csv.reader(text.splitlines()) if r]
    if not rows or rows[0][:2] != ["test", "rps"]:
        raise runner.RunFailed(f"no CSV from redis-benchmark: {text.strip()[:200]!r}")
    head = rows[0]
    got = {}
    for r in rows[1:]:
        try:
            got[r[0]] = {k: float(v) for k, v in zip(head[1:], r[1:])}
        except ValueError:
            raise runner.RunFailed(f"unparsable CSV line from redis-benchmark: {r}") from None
    return got


def check(host: str, port: int, load: Load, n: int) -> None:
    """The state the benchmark leaves, to be sure its replies were not errors: redis-benchmark
    stops at the first error reply, but a server that answers wrongly is caught here."""
    def want(what: str, got: object, ok: bool) -> None:
        if not ok:
            raise runner.RunFailed(f"after the run, {what} is {got!r}")

    llen = resp_call(host, port, "LLEN", "mylist")
    want("LLEN mylist (LPUSH n then LPOP n)", llen, llen == 0)
    if load.keyspace:
        size = resp_call(host, port, "DBSIZE")
        want("DBSIZE", size, isinstance(size, int) and size >= 2)
        return
    count = resp_call(host, port, "GET", "counter:__rand_int__")
    want(f"GET counter:__rand_int__ (INCR {n:,} times)", count, count == str(n).encode())
    value = resp_call(host, port, "GET", "key:__rand_int__")
    want("GET key:__rand_int__ (SET and MSET: 3 B)", value,
         isinstance(value, bytes) and len(value) == 3)


def measure_one(c: Server, load: Load, n: int, args: argparse.Namespace, env: dict[str, str],
                notes: list[str], raw) -> runner.Sample:
    d = Path(tempfile.mkdtemp(prefix=f"server-bench-{c.name}-", dir=args.pool_dir))
    try:
        r = start(c, d, args.python, env, args.server_cpus)
        try:
            cmd = ["redis-benchmark", "-h", r.host, "-p", str(r.port), *load.args(n),
                   "--csv", "-q"]
            try:
                b = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                                   stdin=subprocess.DEVNULL,
                                   preexec_fn=pinned(args.client_cpus))
            except subprocess.TimeoutExpired:
                raise runner.RunFailed(f"timed out after {args.timeout:g} s: "
                                       f"{shlex.join(cmd)}") from None
            if b.returncode != 0:
                err = " | ".join((b.stderr.strip() or b.stdout.strip()).splitlines()[-3:])
                raise runner.RunFailed(f"redis-benchmark exit {b.returncode}: {err}; "
                                       f"command: {shlex.join(cmd)}")
            got = parse_csv(b.stdout)
            missing = [t for t in TESTS if t not in got]
            if missing:
                raise runner.RunFailed(f"redis-benchmark gave no figure for {missing}")
            try:
                check(r.host, r.port, load, n)
            except (OSError, ConnectionError, ValueError) as e:
                raise runner.RunFailed(f"the check after the run got no answer: {e}") from None
        except runner.RunFailed:
            try:  # a server that died is the failure to report (a crash is retried)
                r.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                raise
            raise died(r, "exited during the run") from None
        finally:
            stop(r, notes)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    raw.write(json.dumps({"contender": c.name, "load": load.name, "n": n, "tests": got}) + "\n")
    raw.flush()
    return {t: got[t]["rps"] for t in TESTS}


# --- who can run ----------------------------------------------------------------------

def why_not(c: Server, python: str) -> str | None:
    """Why `c` cannot run here, or None."""
    if c.fsync:
        missing = [p for p in ("redis-server", "redis-benchmark") if not shutil.which(p)]
        return (f"{', '.join(missing)} not found (Debian: redis-server, redis-tools; "
                "bench/setup.sh)") if missing else None
    try:
        r = subprocess.run([python, "-m", "pmalloc", "kv-server", "--help"],
                           capture_output=True, text=True, timeout=60,
                           cwd=tempfile.gettempdir())
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {python}: {e}"
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip() or "?").splitlines()[-1]
        return f"`{python} -m pmalloc kv-server --help` failed: {last}"
    return None


def version(cmd: list[str]) -> str:
    out = report.sh(cmd)
    return out.splitlines()[0] if out else "?"


# --- tables ---------------------------------------------------------------------------

def rate(v: float | None) -> str:
    return "-" if v is None else f"{v / 1e3:,.0f}k"


def tables(loads: list[Load], live: list[str], runs: runner.Runs, n: int,
           skipped: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """The tables, one per load; the verdicts met and missed of the target."""
    med = stats.medians(runs.samples)
    out, met, missed = [], [], []
    for load in loads:
        lines = []
        for t in TESTS:
            cells, got = [], {}
            for c in CONTENDERS:
                if c.name not in live:
                    cells.append("not run")
                    continue
                got[c.name] = med.get((c.name, load.name), {}).get(t)
                sp = stats.spread(runs.samples.get((c.name, load.name), []), t)
                cells.append(rate(got[c.name]) + sp)
            q = {a: stats.ratio(got.get("pmalloc"), got.get(a))
                 for a in ("redis-always", "redis-everysec")}
            mark = "-"
            if load.headline:
                if q["redis-always"] is None:
                    mark = "not judged"
                elif q["redis-always"] >= TARGET:
                    mark = "met"
                    met.append(f"{load.name} {t} {q['redis-always']:.2f}x")
                else:
                    mark = "**missed**"
                    missed.append(f"{load.name} {t} {q['redis-always']:.2f}x")
            lines.append([t, *cells, *(report.fmt(q[a], ".2f", "x") for a in q),
                          f">= {TARGET:.1f}x always" if load.headline else "-", mark])
        head = ["test", *(c.label for c in CONTENDERS), "pmalloc / always",
                "pmalloc / everysec", "target", ""]
        note = "" if load.headline else " (reference: no target)"
        out += [f"{load.title(n)}{note}, requests/s:", "",
                *report.table(head, lines, "lrrrrrll"), ""]
    if skipped:
        out += [f"Not run: {name}: {why}." for name, why in skipped.items()] + [""]
    return out, met, missed


def verdict(loads: list[Load], live: list[str], met: list[str], missed: list[str],
            runs: runner.Runs) -> str:
    text = (f"Target (issue 14): pmalloc >= {TARGET:.1f}x redis-server (appendfsync always) "
            "on every test, at -P 1 and at -P 16 (the issue's command, without -r).")
    headline = [ld for ld in loads if ld.headline]
    if not headline:
        return text + " Not judged: no load of the issue's command was run."
    if "pmalloc" not in live or "redis-always" not in live:
        return text + " Not judged: pmalloc and redis-server (always) did not both run."
    gaps = [f"{c} / {ld.name}" for ld in headline for c in ("pmalloc", "redis-always")
            if (c, ld.name) in runs.failed or (c, ld.name) not in runs.samples]
    if missed:
        text += (f" Missed on {len(missed)} of {len(met) + len(missed)}: "
                 + "; ".join(missed) + ".")
    elif met:
        text += f" Met on all {len(met)}."
    if gaps:
        text += " Not judged where a run failed: " + ", ".join(gaps) + "."
    return text


# --- main -----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.common_options(ap, [ld.name for ld in LOADS], 600.0, "5, --quick 1",
                           f"1 rep, -n {N_QUICK:,}; prints only")
    ap.add_argument("--pmem-force", choices=("0", "1"), default=None,
                    help="PMEM_IS_PMEM_FORCE for pmalloc's server (default: as inherited)")
    ap.add_argument("--results", type=Path, default=BENCH / "RESULTS.md",
                    help="the Markdown file whose section is written (default: %(default)s)")
    ap.add_argument("--pin", action="store_true",
                    help="the server on CPU 0, redis-benchmark on CPU 1 (default: unpinned)")
    args = options.parse(ap, argv, [ld.name for ld in LOADS])
    args.server_cpus = args.client_cpus = None
    if args.pin:
        if not {0, 1} <= os.sched_getaffinity(0):
            ap.error("--pin needs CPUs 0 and 1")
        args.server_cpus, args.client_cpus = {0}, {1}
    try:
        wanted = runner.pick(args.contenders, [c.name for c in CONTENDERS], "contender")
    except ValueError as e:
        ap.error(str(e))
    loads = [ld for ld in LOADS if ld.name in args.workloads]
    reps = args.reps or (1 if args.quick else 5)
    n = N_QUICK if args.quick else N_FULL
    env = runner.base_env()
    if args.pmem_force is not None:
        env["PMEM_IS_PMEM_FORCE"] = args.pmem_force

    skipped: dict[str, str] = {}
    for c in CONTENDERS:
        if wanted and c.name not in wanted:
            skipped[c.name] = "not among --contenders"
        elif (why := why_not(c, args.python)) is not None:
            skipped[c.name] = why
            runner.say(f"skip {c.name}: {why}")
    live = [c for c in CONTENDERS if c.name not in skipped]
    if not live:
        sys.exit("run_server: no contender can run")

    started, load_start = report.now(), os.getloadavg()
    rev = report.sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]) or "?"
    dirty = report.sh(["git", "-C", str(REPO), "status", "--porcelain", "--", "native",
                       "pmalloc"])
    notes: list[str] = []
    OUT.mkdir(parents=True, exist_ok=True)
    raw_path = OUT / f"server-raw-{started:%Y%m%d-%H%M%S}.jsonl"
    runs = runner.Runs()
    with open(raw_path, "w") as raw:
        for rep in range(reps):
            k = rep % len(live)
            order = live[k:] + live[:k]  # a b c, b c a, c a b, ...
            for load in loads:
                for c in order:
                    key = (c.name, load.name)
                    if key in runs.failed:
                        continue
                    tag = f"[{load.name} {rep + 1}/{reps}] {c.name:14s}"
                    runner.record(
                        runs, key, tag,
                        lambda c=c, load=load: measure_one(c, load, n, args, env, notes, raw),
                        lambda w, s: "  ".join(f"{t.split()[0]} {rate(s[t])}" for t in TESTS),
                        args.retries)
    took = (report.now() - started).total_seconds()
    load_end = os.getloadavg()
    names = [c.name for c in live]
    body, met, missed = tables(loads, names, runs, n, skipped)
    target = verdict(loads, names, met, missed, runs)
    problems = report.failures(runs) + notes
    print("\n".join(body).rstrip() + "\n\n" + target)
    if problems:
        print("\n" + "\n".join(report.problems("Problems:", problems)), end="")
    print("\nCommand: " + results.command("run_server.py", args.argv))
    runner.say(f"raw results: {raw_path}")

    partial = (args.quick or len(live) < len(CONTENDERS)
               or any(ld.headline and ld not in loads for ld in LOADS)
               or any((c.name, ld.name) not in runs.samples for c in live for ld in loads))
    if args.no_write or partial:
        if partial and not args.no_write:
            runner.say("not written to RESULTS.md: a partial or --quick run")
        return 0

    settings = {k: v for k, v in env.items() if k.startswith(SETTINGS)}
    cpu = report.first_value("/proc/cpuinfo", "model name", ":")
    machine = [
        f"{cpu}, {os.cpu_count()} logical CPUs; kernel {os.uname().release}",
        "load average (1/5/15 min) " + " ".join(f"{x:.2f}" for x in load_start)
        + " at the start, " + " ".join(f"{x:.2f}" for x in load_end) + " at the end",
        version(["redis-server", "--version"]) + "; "
        + version(["redis-benchmark", "--version"]),
        f"pmalloc at {rev} when the run started"
        + (" (native/ or pmalloc/ with uncommitted changes)" if dirty else "")
        + f", run by {args.python}; "
        + (", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
           or "no PMEM_/PMALLOC_ settings in its environment"),
    ]
    pin = ("each server pinned to CPU 0 and redis-benchmark to CPU 1" if args.pin else
           "server and redis-benchmark unpinned, on the same machine")
    how = (f"Run {started:%Y-%m-%d %H:%M %Z}, took {took:.0f} s: {reps} repetitions; in each, "
           "every load against every server, a fresh server for each run (a new directory "
           f"under {args.pool_dir}, removed after the run), the servers taking turns in an "
           "order rotated every repetition (a b c, b c a, c a b, ...); "
           f"{pin}. A run counts only when redis-benchmark exits 0 (it stops at the first "
           "error reply), gives every test, and the server holds what the tests leave "
           "(without -r: the INCR counter at N, `mylist` empty, the SET key 3 B long). "
           "Per test: the median of requests/s over the repetitions ± half their range; "
           "the ratios are of the medians (> 1: pmalloc faster). Raw results, latencies "
           f"included: `bench/out/{raw_path.name}` (not kept in git).")
    intro = "\n".join([
        textwrap.fill(how, 96, break_on_hyphens=False), "", "Servers:", "",
        *(f"- **{c.name}**: {c.what}" for c in CONTENDERS), "", "Machine:", "",
        *(f"- {m}" for m in machine)])
    section = "\n".join([
        "## The Redis-protocol server against redis-server 7 (bench/run_server.py, issue 14)",
        "", "Command (from the repository root, pmalloc built in .venv):", "", "```",
        results.command("run_server.py", args.argv), "```", "", intro, "",
        "\n".join(body).rstrip(), "", target, "",
        *report.problems("Problems in this run:", problems)])
    results.write_section(args.results, "run_server.py", section)
    runner.say(f"run_server: wrote its section of {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
