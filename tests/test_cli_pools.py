"""`pmalloc create log|blk`, `pmalloc info PATH`, `pmalloc check PATH` and their exit codes."""
from __future__ import annotations

import json
import os
import uuid

from pmalloc import cli
from pmalloc.obj import ObjPool


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
    assert report["layout"] == "demo" and report["types"] == [], report
    assert _run(capsys, "check", path)[0] == 0
    with open(path, "r+b") as f:       # a byte of the layout name: the header's checksum fails
        f.seek(30)
        f.write(b"X")
    rc, out, _ = _run(capsys, "check", path)
    assert rc == 1 and "corrupt" in out


def test_obj_pool_objects_by_type(capsys, pool_dir):
    path = os.path.join(pool_dir, "typed.obj")
    assert _run(capsys, "create", "obj", path, "--size", "16M", "--layout", "typed")[0] == 0
    with ObjPool.open(path, "typed") as pool:
        pool.root(200)
        made = {1: [pool.alloc(64, type_num=1) for _ in range(5)],
                2: [pool.alloc(5000, type_num=2) for _ in range(2)],
                1 << 40: [pool.alloc(100, type_num=1 << 40)]}
        pool.free(made[1].pop())
        usable = {t: sum(len(pool.view(o)) for o in oids) for t, oids in made.items()}
        uuid_lo = made[2][0].pool_uuid_lo
    rc, out, _ = _run(capsys, "info", path, "--json")
    report = json.loads(out)
    assert rc == 0 and report["consistent"], report
    expected = [{"type_num": t, "objects": len(made[t]), "bytes": usable[t]}
                for t in sorted(made)]
    assert report["types"] == expected, f"expected {expected}, saw {report['types']}"
    assert report["objects"] == 1 + 4 + 2 + 1 and report["root_size"] == 200
    assert report["used"] >= sum(usable.values()) + 200
    assert report["layout"] == "typed" and report["pool_size"] == 16 * 2**20
    assert uuid.UUID(report["uuid"]).bytes[:8] == uuid_lo.to_bytes(8, "little")
    assert report["free"] + report["used"] < 16 * 2**20
    rc, out, _ = _run(capsys, "info", path)
    assert rc == 0 and "  type_num 2  objects 2  bytes" in out and "layout" in out, out
    assert _run(capsys, "check", path)[0] == 0
