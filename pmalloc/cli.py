"""The `pmalloc` command line (also `python -m pmalloc`)."""
from __future__ import annotations

import argparse
import errno
import json
import os
import shlex
import signal
import stat
import sys
from typing import Any, Callable, Sequence

from . import __version__, _args, get_include, get_library, preload_path, settings
from .bench import command as bench
from .errors import PmallocError
from .vmem import MIN_POOL_SIZE


def parse_size(text: str) -> int:
    """'64M' -> 67108864, by the C library's parser (the one the shim reads
    PMALLOC_POOL_SIZE with)."""
    try:
        return settings.parse_size(text)
    except PmallocError:
        raise argparse.ArgumentTypeError("not a size (e.g. 512M, 4G, 1073741824)") from None


def _mib(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"


def pool_size_error(size: int) -> str | None:
    """Why `size` cannot be a pool's size (the library's minimum, a file's maximum), or None."""
    if size < MIN_POOL_SIZE:
        return f"below the {_mib(MIN_POOL_SIZE)} minimum"
    if size > _args.FILE_SIZE_MAX:
        return f"above the largest file size, {_args.FILE_SIZE_MAX} bytes"
    return None


def pool_dir_error(path: str) -> str | None:
    """Why `path` cannot hold a pool file (in the shim's words), or None."""
    try:
        _args.path(path, "pool dir")
    except PmallocError as exc:  # a NUL byte
        return str(exc)
    try:
        err = 0 if stat.S_ISDIR(os.stat(path).st_mode) else errno.ENOTDIR
    except OSError as exc:
        err = exc.errno or errno.ENOENT
    if not err and not os.access(path, os.W_OK | os.X_OK):
        err = errno.EACCES
    return f"not a writable directory ({os.strerror(err)})" if err else None


def _checked(parse: Callable[[str], Any],
             error: Callable[[Any], str | None]) -> type[argparse.Action]:
    """An argparse action that parses an option and checks it, reporting a bad value as the
    option the user typed (`--pool-size 1K: below the 14 MiB minimum`, exit 2) rather than
    leaving it to the shim, which could only name the variable it was given."""

    class Checked(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: Any, option_string: str | None = None) -> None:
            try:
                value = parse(values)
            except argparse.ArgumentTypeError as exc:
                parser.error(f"{option_string} {values}: {exc}")
            why = error(value)
            if why is not None:
                parser.error(f"{option_string} {values}: {why}")
            setattr(namespace, self.dest, value)

    return Checked


def tiers_error(text: str) -> str | None:
    """Why `text` is not a tier list (the C parser's message), or None."""
    from . import tiers
    try:
        tiers.parse(text).close()
    except (PmallocError, OSError) as exc:
        return str(exc)
    return None


def tier_preload_path() -> str:
    """The path of libmemtier.so, the tier preload."""
    return os.path.join(os.path.dirname(preload_path()), "libmemtier.so")


PoolSize = _checked(parse_size, pool_size_error)
Tiers = _checked(str, tiers_error)
PoolDir = _checked(str, pool_dir_error)


def _demo(args: argparse.Namespace) -> int:
    """The main job on the embedded default: a pool, buffers and NumPy arrays in it."""
    from . import demo

    report = demo.run(args.pool_dir, args.pool_size)
    _emit(report, args.json)
    return 0 if report["consistent"] else 1


#: The mount table `pmalloc info` reads the DAX mounts from.
PROC_MOUNTS = "/proc/mounts"


def mounted_dax() -> list[str]:
    """The mount points whose file systems are mounted with DAX on for every file (none when
    the mount table cannot be read): the C library's reading, the one default pools use."""
    return settings.dax_mounts(PROC_MOUNTS)


def info_report() -> dict[str, object]:
    """What `pmalloc info` reports: paths, the default pool dir, what libpmem chose on this
    CPU (flush instruction, non-temporal copy loops and from what size they stream) and the
    DAX file systems mounted."""
    from .pmem import info as pmem_info
    from .vmem import default_dir

    chosen = pmem_info()
    return {"version": __version__, "include": get_include(), "library": get_library(),
            "preload": preload_path(), "default_pool_dir": default_dir(),
            "default_pool_size": int(settings.value("PMALLOC_POOL_SIZE")),
            "flush": chosen["flush"], "deep_flush": chosen["deep_flush"],
            "movnt": chosen["movnt"], "movnt_threshold": chosen["movnt_threshold"],
            "dax_mounts": mounted_dax()}


def _info(args: argparse.Namespace) -> int:
    if args.path is None:
        _emit(info_report(), args.json)
        return 0
    from . import poolfile
    try:
        _emit(poolfile.info(args.path), args.json)
    except (PmallocError, OSError) as exc:
        print(f"pmalloc info: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, OSError) else 1
    return 0


def _check(args: argparse.Namespace) -> int:
    """Exit 0 when the pool is consistent, 1 when it is not (saying why), 2 on an error."""
    from . import poolfile
    try:
        ok, why = poolfile.check(args.path)
    except (PmallocError, OSError) as exc:
        print(f"pmalloc check: {exc}", file=sys.stderr)
        return 2
    print(f"{args.path}: {'consistent' if ok else 'not consistent: ' + why}")
    return 0 if ok else 1


def _create(args: argparse.Namespace) -> int:
    """Create a log, block or object pool file."""
    from .blk import BlockPool
    from .log import Log
    try:
        if args.type == "obj":
            from . import _capi
            _capi.obj_close(_capi.obj_create(args.path, args.layout, args.size, 0o644))
        elif args.type == "log":
            Log.create(args.path, args.size).close()
        else:
            BlockPool.create(args.path, args.bsize, args.size).close()
    except (PmallocError, OSError) as exc:
        print(f"pmalloc create: {exc}", file=sys.stderr)
        return 1
    return 0


def _kv_server(args: argparse.Namespace) -> int:
    """Serve a pool to Redis clients until SIGTERM or SIGINT (exit 0); 1 when the pool or
    the port cannot be had."""
    from . import _capi, kv
    try:
        db = kv.open(args.pool, "c", size=args.size)
    except (PmallocError, OSError) as exc:
        print(f"pmalloc kv-server: {exc}", file=sys.stderr)
        return 1
    try:
        sys.stdout.flush()
        _capi.kv_serve(db._handle(), args.bind, args.port, args.max_bulk, sys.stdout.fileno())
    except (PmallocError, OSError) as exc:
        print(f"pmalloc kv-server: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    return 0


def run_environment(args: argparse.Namespace, base: dict[str, str]) -> dict[str, str]:
    """The environment `pmalloc run` gives the command: the shim preloaded, its settings."""
    env = dict(base)
    preload = tier_preload_path() if args.tiers else preload_path()
    if args.tiers:
        env["PMALLOC_TIERS"] = args.tiers
    env["LD_PRELOAD"] = f"{preload} {env['LD_PRELOAD']}" if env.get("LD_PRELOAD") else preload
    if args.pool_dir is not None:
        env["PMALLOC_POOL_DIR"] = args.pool_dir
    if args.pool_size is not None:
        env["PMALLOC_POOL_SIZE"] = str(args.pool_size)
    if args.fork_mode is not None:
        env["PMALLOC_FORK"] = str(args.fork_mode)
    if args.stats:
        env["PMALLOC_STATS"] = "1"
    if args.fallback:
        env["PMALLOC_FALLBACK"] = "1"
    return env


# Ignored at start by every Python (so that a write to a closed pipe raises instead of
# killing it); exec keeps an ignored signal ignored, so a command would inherit them.
_PYTHON_IGNORES = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ")
                        if hasattr(signal, name))


def default_signals() -> dict[int, Any]:
    """Put back the signal dispositions Python changed, as a shell would leave them for a
    command (and as subprocess's restore_signals does): SIGPIPE and SIGXFSZ, and every
    signal with a Python handler (SIGINT's), to SIG_DFL. Other signals the process was
    started with ignored stay ignored; what it had for SIGPIPE and SIGXFSZ is lost, as
    Python ignores them before any of its code runs. Returns the handlers replaced, for
    :func:`restore_signals`."""
    saved: dict[int, Any] = {}
    for sig in signal.valid_signals():
        try:
            handler = signal.getsignal(sig)
        except (OSError, ValueError):
            continue
        if sig in _PYTHON_IGNORES or callable(handler):
            saved[sig] = handler
            signal.signal(sig, signal.SIG_DFL)
    return saved


def restore_signals(saved: dict[int, Any]) -> None:
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _run(args: argparse.Namespace) -> int:
    """Replace this process with the command, its heap in a pool file."""
    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    if args.tiers and (args.pool_size is not None or args.fork_mode is not None
                       or args.fallback):
        print("pmalloc run: --tiers takes --pool-dir and --stats only (the tiers' kinds "
              "size themselves)", file=sys.stderr)
        return 2
    if not command:
        print("pmalloc run: no command given (pmalloc run [options] -- CMD ...)", file=sys.stderr)
        return 2
    env = run_environment(args, dict(os.environ))
    saved = default_signals()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        restore_signals(saved)  # back to Python's, to report the failure
        print(f"pmalloc run: {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached


def _preload_path(args: argparse.Namespace) -> int:
    print(preload_path())
    return 0


def _emit(report: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    width = max(len(k) for k in report)
    for key, value in report.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            print(key)               # rows (an obj pool's types): one indented line each
            for row in value:
                print("  " + "  ".join(f"{k} {v}" for k, v in row.items()))
            continue
        if isinstance(value, list):  # a list reads as its items, quoted as a shell would
            value = shlex.join(map(str, value)) if value else "none"
        print(f"{key:<{width}}  {value}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmalloc", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="buffers and NumPy arrays in a pool on the embedded default, with their figures")
    demo.add_argument("--pool-dir", action=PoolDir, default=None,
                      help="directory of the pool file")
    demo.add_argument("--pool-size", action=PoolSize, default=parse_size("256M"),
                      help=f"e.g. 64M (at least {_mib(MIN_POOL_SIZE)}; the demo's work is "
                      "sized to the pool)")
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run a program with its whole heap in a pool file",
                         description="Run CMD with libvmmalloc.so preloaded: every malloc, "
                         "calloc, realloc and free of the program is served from a pool file. "
                         "Settings left out come from PMALLOC_*/VMMALLOC_* variables, else "
                         "the embedded default (/dev/shm, the size of physical memory). CMD "
                         "starts with the signal dispositions a shell would give it.")
    run.add_argument("--pool-dir", action=PoolDir, default=None,
                     help="directory of the pool file (an existing writable directory)")
    run.add_argument("--pool-size", action=PoolSize, default=None,
                     help=f"e.g. 512M, 4G (at least {_mib(MIN_POOL_SIZE)})")
    run.add_argument("--fork-mode", type=int, choices=[1, 2, 3], default=None,
                     help="1: copy-on-write remap; 2: copy the live pages for the child; "
                     "3: as 2 (libvmmalloc's name); default: copy-on-write while the "
                     "program has one thread, back on a pool file once forks stop")
    run.add_argument("--stats", action="store_true", help="print the pool's usage at exit")
    run.add_argument("--fallback", action="store_true",
                     help="serve from anonymous memory once the pool is exhausted")
    run.add_argument("--tiers", action=Tiers, default=None,
                     help="spread the heap over tiers instead, e.g. 'DRAM:1,PMEM:4' "
                     "(MEMORY[@DIR]:RATIO, comma-separated; MEMORY: DRAM, REGULAR, HBW, "
                     "HBW_PREFERRED, DAX_KMEM, DAX_KMEM_PREFERRED, HUGETLB, PMEM; PMEM in "
                     "DIR or --pool-dir; then ;policy=ratio or ;policy=threshold); preloads "
                     "libmemtier.so")
    run.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    run.set_defaults(func=_run)
    path = sub.add_parser("preload-path", help="print the path of libvmmalloc.so")
    path.set_defaults(func=_preload_path)
    info = sub.add_parser("info", help="versions, header and library paths, default pool dir, "
                          "the CPU's flush and copy paths, DAX mounts")
    info.add_argument("path", nargs="?", default=None,
                      help="a pool file: its type, sizes, usage and header fields instead")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_info)
    check = sub.add_parser("check", help="check a pool file (exit 0 consistent, 1 not, "
                           "2 error)")
    check.add_argument("path")
    check.set_defaults(func=_check)
    create = sub.add_parser("create", help="create a log, block or object pool file")
    create.add_argument("type", choices=["log", "blk", "obj"])
    create.add_argument("path")
    create.add_argument("--size", type=parse_size, required=True, help="e.g. 64M, 1G")
    create.add_argument("--bsize", type=parse_size, default=512,
                        help="block size of a blk pool (default 512)")
    create.add_argument("--layout", default=None, help="layout name of an obj pool")
    create.set_defaults(func=_create)
    server = sub.add_parser("kv-server", help="serve a pool to Redis clients (RESP2): every "
                            "write durable before its reply")
    server.add_argument("--pool", required=True, help="the pool file (made when missing)")
    server.add_argument("--size", type=parse_size, default=128 << 20,
                        help="size of a new pool (default 128M)")
    server.add_argument("--port", type=int, default=6380, help="TCP port (0: any free one)")
    server.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    server.add_argument("--max-bulk", type=parse_size, default=512 << 20,
                        help="the longest bulk string a client may send (default 512M)")
    server.set_defaults(func=_kv_server)
    bench_parser = sub.add_parser("bench", help="benchmark pmalloc against the allocators "
                                  "installed here", description=bench.DESCRIPTION)
    bench.add_arguments(bench_parser, PoolDir)
    bench_parser.set_defaults(func=bench.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (OSError, MemoryError, ValueError) as exc:
        print(f"pmalloc: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
