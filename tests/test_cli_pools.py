"""`pmalloc create log|blk`, `pmalloc info PATH`, `pmalloc check PATH` and their exit codes."""
from __future__ import annotations

import json
import os

from pmalloc import cli


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = cli.main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_create_info_check(capsys, pool_dir):
    log, blk = os.path.join(pool_dir, "a.log"), os.path.join(pool_dir, "b.blk")
    assert _run(capsys, "create", "log", log, "--size", "8M")[0] == 0
    assert _run(capsys, "create", "blk", blk, "--size", "32M", "--bsize", "4096")[0] == 0
    rc, out, _ = _run(capsys, "info", log, "--json")
    report = json.loads(out)
    assert rc == 0 and report["type"] == "log" and report["used"] == 0
    assert report["capacity"] == 8 * 2**20 - 4096 and report["format_version"] == "1.0"
    rc, out, _ = _run(capsys, "info", blk, "--json")
    report = json.loads(out)
    assert report["type"] == "blk" and report["bsize"] == 4096 and report["consistent"]
    assert _run(capsys, "check", log)[0] == 0
    assert _run(capsys, "check", blk)[0] == 0
    rc, _, err = _run(capsys, "create", "blk", blk, "--size", "32M")
    assert rc == 1 and "exists" in err


def test_check_exit_codes(capsys, pool_dir):
    junk = os.path.join(pool_dir, "junk")
    with open(junk, "wb") as f:
        f.write(b"not a pool" * 1000)
    rc, out, _ = _run(capsys, "check", junk)
    assert rc == 1 and "not a pmalloc pool" in out
    assert _run(capsys, "check", os.path.join(pool_dir, "missing"))[0] == 2
    log = os.path.join(pool_dir, "c.log")
    _run(capsys, "create", "log", log, "--size", "4M")
    with open(log, "r+b") as f:
        f.seek(40)
        f.write(b"\x01")
    rc, out, _ = _run(capsys, "check", log)
    assert rc == 1 and "corrupt" in out
    rc, _, err = _run(capsys, "info", log)
    assert rc == 1 and "corrupt" in err


def test_obj_pool(capsys, pool_dir):
    path = os.path.join(pool_dir, "o.obj")
    assert _run(capsys, "create", "obj", path, "--size", "16M", "--layout", "demo")[0] == 0
    rc, out, _ = _run(capsys, "info", path, "--json")
    report = json.loads(out)
    assert rc == 0 and report["type"] == "obj" and report["consistent"], report
    assert report["objects"] == 0 and report["used"] == 0 and report["root_size"] == 0
    assert 0 < report["free"] < 16 * 2**20
    assert _run(capsys, "check", path)[0] == 0
    with open(path, "r+b") as f:       # a byte of the layout name: the header's checksum fails
        f.seek(30)
        f.write(b"X")
    rc, out, _ = _run(capsys, "check", path)
    assert rc == 1 and "corrupt" in out
