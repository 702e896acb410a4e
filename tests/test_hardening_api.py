"""Misuse of the Python API and the CLI across the layers, from the hardening probe: each
raises (or exits 2) with a message that names what was wrong, and never crashes the
interpreter.

Findings covered here, where one rule holds for the objects of every layer: copies and
pickles of objects with a C handle (1), the types of paths (3), the edges of int arguments
(13), the CLI's own option checks (14), the demo at the smallest pool (17), and the OSErrors
of bad directories and files. What belongs to one layer is in its directory's
test_hardening_api.py: tests/alloc (a pool's directory, sizes, free() after invalidate()),
tests/pmem (a mapped file's path, the simulator's values), tests/shim (`pmalloc run`).
(The aligned_alloc message, 12, is tested in tests/alloc/test_vmem_python.py.)
"""
from __future__ import annotations

import errno
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

from pmalloc import cli, pmem, sim
from pmalloc._buffer import View
from pmalloc.errors import PmallocError
from pmalloc.vmem import MIN_POOL_SIZE, Pool
from conftest import MiB, as_nobody, bad_argument, raised
from shim_support import pmalloc_cli, plain_env, run


# ---- 1. copy, deepcopy, pickle ----------------------------------------------------------------

COPY_CHILD = r"""
import copy, gc, json, pickle, sys
import pmalloc
from pmalloc._buffer import View
kind, where = sys.argv[1], sys.argv[2]
pool = pmalloc.Pool(size=32 << 20)
buf = pool.malloc(64)
keep = []
if kind == "pool":
    obj, use = pool, lambda: pool.stats()["allocated"]
elif kind == "buffer":
    obj = buf
    def use():
        memoryview(buf)[:3] = b"abc"; return bytes(buf)[:3].decode()
elif kind == "mapping":
    obj = pmalloc.pmem.map_file(where + "/m", 4096, create=True)
    def use():
        obj[0:3] = b"abc"; obj.persist(0, 3); return obj[0:3].decode()
elif kind == "view":
    obj = View(buf.address, 64)
    use = lambda: len(bytes(obj))
elif kind == "sim":
    obj = pmalloc.sim.Sim(128)
    def use():
        obj.mapping[0:3] = b"abc"; obj.mapping.persist(0, 3); return obj.persisted()[:3].decode()
elif kind == "sim-mapping":
    keep.append(pmalloc.sim.Sim(128))
    obj = keep[0].mapping
    def use():
        obj[0:3] = b"abc"; obj.persist(0, 3); return keep[0].persisted()[:3].decode()
out = {}
for name, f in (("copy", copy.copy), ("deepcopy", copy.deepcopy), ("pickle", pickle.dumps)):
    try:
        f(obj)
    except BaseException as e:
        out[name] = {"mro": [c.__name__ for c in type(e).__mro__], "message": str(e)}
    else:
        out[name] = {"mro": [], "message": "copied"}
    gc.collect()              # a copy that shared the handle would release it here
    out[name]["after"] = str(use())
print(json.dumps(out))
"""


@pytest.mark.parametrize("kind", ["pool", "buffer", "mapping", "view", "sim", "sim-mapping"])
def test_objects_refuse_copy_and_pickle(kind: str, pool_dir: str) -> None:
    # In a child: before the fix copy.copy(pool) then a call on the original crashed it.
    proc = subprocess.run([sys.executable, "-c", COPY_CHILD, kind, pool_dir],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (f"{kind}: expected the child to exit 0, saw status "
                                  f"{proc.returncode}\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for op, seen in out.items():
        assert "TypeError" in seen["mro"], f"{kind} {op}: expected TypeError, saw {seen}"
        if kind != "view":  # View is the private C type; the public objects say more
            assert "PmallocError" in seen["mro"], f"{kind} {op}: not a PmallocError: {seen}"
        assert "cannot" in seen["message"] and ":" in seen["message"], (
            f"{kind} {op}: expected a message saying why, saw {seen['message']!r}")
        assert seen["after"] not in ("", "None"), f"{kind} {op}: original unusable: {seen}"


# ---- 3. NUL bytes and the types of paths --------------------------------------------------------


class BytesPath:
    """An os.PathLike[bytes]."""

    def __init__(self, path: bytes) -> None:
        self.path = path

    def __fspath__(self) -> bytes:
        return self.path


def test_bytes_paths_are_accepted_everywhere(tmp_path: pathlib.Path) -> None:
    path = os.fsencode(tmp_path / "b")
    with pmem.map_file(path, 4096, create=True) as m:
        assert m.path == str(tmp_path / "b"), f"expected a str path, saw {m.path!r}"
    with pmem.map_file(BytesPath(path)) as m:
        assert len(m) == 4096
    bad_argument(pmem.map_file, BytesPath(path + b"\0x"), naming="null byte")
    with Pool(os.fsencode(tmp_path), 16 * MiB) as p:
        assert p.dir == str(tmp_path), f"expected dir {str(tmp_path)!r}, saw {p.dir!r}"
    e = raised(pmem.map_file, os.fsencode(tmp_path / "missing"))
    assert isinstance(e, FileNotFoundError) and e.filename == str(tmp_path / "missing"), repr(e)


def test_paths_of_the_wrong_type(tmp_path: pathlib.Path) -> None:
    for f, args in ((pmem.map_file, (3,)), (Pool, (3.5, 16 * MiB)), (pmem.map_file, (None,))):
        e = raised(f, *args)
        assert isinstance(e, TypeError) and isinstance(e, PmallocError), repr(e)


@pytest.mark.parametrize("command", ["run", "demo"])
def test_cli_pool_dir_with_nul_exits_2(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    # A command that cannot be found: should the check ever be skipped, exec fails (127)
    # instead of replacing the test process.
    argv = [command, "--pool-dir", "/tmp/a\0b"] + (["--", "/nonexistent/cmd"]
                                                   if command == "run" else [])
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--pool-dir" in err and "null byte" in err, (
        f"expected exit 2 naming --pool-dir, saw {exit_.value.code}: {err}")


# ---- 13. the edges of int arguments -----------------------------------------------------------


def test_ints_no_c_call_can_take_are_bad_arguments(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f")
    bad_argument(pmem.map_file, path, 1 << 64, create=True, naming="size")
    bad_argument(pmem.map_file, path, 1 << 63, create=True, naming="size")
    for mode in (-1, 1 << 32, 0o10000):
        bad_argument(pmem.map_file, path, 4096, create=True, mode=mode, naming="mode")
    assert not os.path.exists(path)
    for size in (1 << 63, 1 << 64, 1 << 70):
        bad_argument(Pool, tmp_path, size, naming="pool size")
    bad_argument(sim.Sim, 1 << 64, naming="size")
    for address, size in ((0, 1 << 63), (1 << 64, 1)):   # the private C type: ValueError
        e = raised(View, address, size)
        assert type(e) is ValueError, f"View({address}, {size}): expected ValueError, saw {e!r}"
    with Pool(tmp_path, 16 * MiB) as p:
        b = p.malloc(8)
        bad_argument(p.malloc, 1 << 64, naming="size")
        bad_argument(p.calloc, 1 << 64, 1, naming="nmemb")
        bad_argument(p.calloc, 1, 1 << 64, naming="size")
        bad_argument(p.aligned_alloc, 64, 1 << 64, naming="size")
        bad_argument(p.aligned_alloc, 1 << 64, 64, naming="alignment")
        bad_argument(p.realloc, b, 1 << 64, naming="size")
        assert b.valid and b.size == 8
    with pmem.map_file(path, 4096, create=True) as m:
        for call, name in ((lambda: m.persist(1 << 64), "offset"),
                           (lambda: m.persist(0, 1 << 64), "size"),
                           (lambda: m.flush(1 << 64, 1), "offset"),
                           (lambda: m.msync(0, 1 << 64), "size"),
                           (lambda: m.memcpy(1 << 64, b"x"), "offset"),
                           (lambda: m.memcpy(0, b"x", 1 << 64), "flags"),
                           (lambda: m.memset(0, 1, 1 << 64), "size"),
                           (lambda: m.memset(0, 1 << 64, 1), "value"),
                           (lambda: m.memset(0, 1, 1, -1), "flags")):
            bad_argument(call, naming=name)


def test_ints_of_the_wrong_type(tmp_path: pathlib.Path) -> None:
    with Pool(tmp_path, 16 * MiB) as p:
        for f, args, kwargs in ((Pool, (tmp_path, 16.0 * MiB), {}), (p.malloc, ("1",), {}),
                                (pmem.map_file, (str(tmp_path / "t"), 4096),
                                 {"create": True, "mode": "644"})):
            e = raised(f, *args, **kwargs)
            assert isinstance(e, TypeError) and isinstance(e, PmallocError), repr(e)


# ---- 14 and 17. the CLI checks its own options; the demo fits any pool it accepts -----------


def _mib(n: int) -> str:
    return f"{n >> 20} MiB"


@pytest.mark.parametrize("command", ["run", "demo"])
@pytest.mark.parametrize("option,value,message", [
    ("--pool-size", "1K", f"below the {_mib(MIN_POOL_SIZE)} minimum"),
    ("--pool-size", str(MIN_POOL_SIZE - 1), f"below the {_mib(MIN_POOL_SIZE)} minimum"),
    ("--pool-size", "9000000000G", "above the largest file size"),
    ("--pool-size", "99999999999T", "not a size"),
    ("--pool-size", "lots", "not a size"),
    ("--pool-dir", "/nonexistent/pmalloc-dir", "not a writable directory"),
    ("--pool-dir", "@FILE", "not a writable directory"),
])
def test_cli_reports_a_bad_option_as_typed(command: str, option: str, value: str, message: str,
                                           tmp_path: pathlib.Path) -> None:
    if value == "@FILE":
        value = str(tmp_path / "a-file")
        (tmp_path / "a-file").write_text("not a directory\n")
    argv = [*pmalloc_cli(), command, option, value]
    r = run(argv + (["--", "true"] if command == "run" else []), env=plain_env())
    expected = f"{option} {value}: {message}"
    assert r.returncode == 2 and expected in r.stderr, (
        f"expected exit 2 and {expected!r}\n{r.describe()}")
    assert "PMALLOC_" not in r.stderr, f"blames a variable the user never set\n{r.describe()}"


def test_cli_refuses_a_directory_it_cannot_write() -> None:
    # The check the --pool-dir option runs (its wiring to exit 2 is tested above).
    d = tempfile.mkdtemp(prefix="pmalloc-ro-")
    try:
        os.chmod(d, 0o555)
        why = as_nobody("from pmalloc import cli", "result = cli.pool_dir_error(sys.argv[1])", d)
        assert why is not None and why.startswith("not a writable directory"), (
            f"expected 'not a writable directory', saw {why!r}")
    finally:
        os.chmod(d, 0o700)
        os.rmdir(d)


@pytest.mark.parametrize("size", [MIN_POOL_SIZE, MIN_POOL_SIZE + 4095, 20 * MiB, 32 * MiB])
def test_demo_succeeds_at_every_accepted_size(size: int, pool_dir: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["demo", "--pool-dir", pool_dir, "--pool-size", str(size), "--json"])
    captured = capsys.readouterr()
    assert rc == 0, f"demo --pool-size {size}: expected 0, saw {rc}\n{captured.err}"
    report = json.loads(captured.out)
    assert report["consistent"] and report["pool_size"] == size, report


# ---- bad directories and files: OSError subclasses with errno and filename --------------------


def _oserror(f: Callable[..., Any], args: tuple, kwargs: dict, cls: type, err: int,
             filename: str) -> None:
    e = raised(f, *args, **kwargs)
    assert isinstance(e, cls) and isinstance(e, PmallocError), (
        f"{f.__name__}{args} {kwargs}: expected {cls.__name__}, saw {e!r}")
    assert (e.errno, e.filename) == (err, filename), (
        f"{f.__name__}{args}: expected errno {err} and filename {filename!r}, "
        f"saw {e.errno} and {e.filename!r}")


def test_bad_dirs_and_files_raise_oserror_with_errno_and_filename(tmp_path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    missing = tmp_path / "missing"
    cases = [
        (Pool, (str(missing), 16 * MiB), {}, FileNotFoundError, errno.ENOENT, str(missing)),
        (Pool, (str(file), 16 * MiB), {}, NotADirectoryError, errno.ENOTDIR, str(file)),
        (Pool, (f"{file}/x", 16 * MiB), {}, NotADirectoryError, errno.ENOTDIR, f"{file}/x"),
        (pmem.map_file, (str(missing),), {}, FileNotFoundError, errno.ENOENT, str(missing)),
        (pmem.map_file, (f"{missing}/x", 4096), {"create": True}, FileNotFoundError,
         errno.ENOENT, f"{missing}/x"),
        (pmem.map_file, (f"{file}/x", 4096), {"create": True}, NotADirectoryError,
         errno.ENOTDIR, f"{file}/x"),
        (pmem.map_file, (str(tmp_path),), {}, IsADirectoryError, errno.EISDIR, str(tmp_path)),
        (pmem.map_file, (str(file), 4096), {"create": True, "tmpfile": True},
         NotADirectoryError, errno.ENOTDIR, str(file)),
        (pmem.map_file, (str(missing), 4096), {"create": True, "tmpfile": True},
         FileNotFoundError, errno.ENOENT, str(missing)),
    ]
    for f, args, kwargs, cls, err, filename in cases:
        _oserror(f, args, kwargs, cls, err, filename)


PERMISSION_CALLS = """
ro, secret = sys.argv[1], sys.argv[2]
calls = {"pool": lambda: Pool(ro, 16 << 20),
         "map-unreadable": lambda: pmem.map_file(secret),
         "create-in-ro-dir": lambda: pmem.map_file(ro + "/new", 4096, create=True),
         "tmpfile-in-ro-dir": lambda: pmem.map_file(ro, 4096, create=True, tmpfile=True)}
result = {}
for name, call in calls.items():
    try:
        call()
    except BaseException as e:
        result[name] = {"mro": [c.__name__ for c in type(e).__mro__],
                        "errno": getattr(e, "errno", None),
                        "filename": getattr(e, "filename", None)}
    else:
        result[name] = {"mro": []}
"""


def test_permission_errors_carry_errno_and_filename() -> None:
    top = tempfile.mkdtemp(prefix="pmalloc-perm-")
    ro = os.path.join(top, "ro")
    secret = os.path.join(top, "secret")
    try:
        os.mkdir(ro, 0o555)
        with open(secret, "wb") as f:
            f.write(b"s" * 4096)
        os.chmod(secret, 0)
        os.chmod(top, 0o755)
        out = as_nobody("from pmalloc import Pool, pmem", PERMISSION_CALLS, ro, secret)
        expected = {"pool": ro, "map-unreadable": secret, "create-in-ro-dir": ro + "/new",
                    "tmpfile-in-ro-dir": ro}
        for name, filename in expected.items():
            seen = out[name]
            assert "PermissionError" in seen["mro"] and "PmallocError" in seen["mro"], (
                f"{name}: expected PermissionError, saw {seen}")
            assert seen["errno"] in (errno.EACCES, errno.EPERM), f"{name}: {seen}"
            assert seen["filename"] == filename, f"{name}: expected {filename!r}, saw {seen}"
    finally:
        os.chmod(ro, 0o700)
        os.rmdir(ro)
        os.unlink(secret)
        os.rmdir(top)
