"""What kind of pool a file holds, and its figures: `pmalloc info PATH`, `pmalloc check PATH`.

Every pool format of pmalloc starts the same way: an 8-byte signature, the format's major and
minor version (little-endian uint32 each) and a 16-byte UUID. The rest is the format's own,
read through its library (pmalloc.log, pmalloc.blk, libpmemobj through _capi).
"""
from __future__ import annotations

import os
import struct
import uuid
from typing import Any

from pmalloc import _capi
from pmalloc.blk import BlockPool
from pmalloc.errors import CorruptPoolError
from pmalloc.log import Log

SIGNATURES = {b"PMALLOCL": "log", b"PMALLOCB": "blk", b"PMALOBJ\0": "obj"}


def kind_of(path: str) -> tuple[str | None, dict[str, Any]]:
    """(the pool type, or None when the file is not a pool of ours, and the common header)."""
    with open(path, "rb") as f:
        head = f.read(32)
    if len(head) < 32 or head[:8] not in SIGNATURES:
        return None, {}
    major, minor = struct.unpack_from("<II", head, 8)
    return SIGNATURES[head[:8]], {"format_version": f"{major}.{minor}",
                                  "uuid": str(uuid.UUID(bytes=head[16:32]))}


def info(path: str) -> dict[str, Any]:
    """The figures of the pool at path; CorruptPoolError when it is not a sound pool."""
    kind, header = kind_of(path)
    if kind is None:
        raise CorruptPoolError(f"{path}: not a pmalloc pool (log, blk or obj)")
    report: dict[str, Any] = {"path": path, "type": kind, **header,
                              "file_size": os.stat(path).st_size}
    if kind == "obj":
        pop = _capi.obj_open(path, None)
        try:
            free, used, objects, root = _capi.obj_usage(pop)
        finally:
            _capi.obj_close(pop)
        ok, why = _capi.obj_check(path, None)
        report |= {"free": free, "used": used, "objects": objects, "root_size": root,
                   "consistent": ok == 1}
        if ok != 1:
            report["problem"] = why
    elif kind == "log":
        with Log.open(path) as log:
            used, capacity = log.tell(), log.nbyte
        report |= {"capacity": capacity, "used": used, "free": capacity - used}
    else:
        with BlockPool.open(path) as pool:
            ok, why = pool.consistent()
            report |= {"bsize": pool.bsize, "nblock": len(pool),
                       "capacity": pool.bsize * len(pool), "consistent": ok}
            if not ok:
                report["problem"] = why
    return report


def check(path: str) -> tuple[bool, str]:
    """(True, "") if the file is a consistent pool, else (False, what is wrong)."""
    kind, _ = kind_of(path)
    if kind is None:
        return False, "not a pmalloc pool (log, blk or obj)"
    if kind == "obj":
        ok, why = _capi.obj_check(path, None)
        return ok == 1, why
    return Log.check(path) if kind == "log" else BlockPool.check(path)
