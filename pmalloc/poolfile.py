"""What kind of pool a file holds, and its figures: `pmalloc info PATH`, `pmalloc check PATH`.

Every pool format of pmalloc starts the same way: an 8-byte signature and the format's major
and minor version (little-endian uint32 each); log and blk pools go on with a 16-byte UUID,
obj pools with their layout name first (_OBJ_HEADER). The rest is the format's own, read
through its library (pmalloc.log, pmalloc.blk, libpmemobj through _capi).
"""
from __future__ import annotations

import datetime
import os
import struct
import uuid
from typing import Any

from pmalloc import _capi
from pmalloc._handle import opening
from pmalloc.blk import BlockPool
from pmalloc.errors import CorruptPoolError
from pmalloc.log import Log

SIGNATURES = {b"PMALLOCL": "log", b"PMALLOCB": "blk", b"PMALOBJ\0": "obj"}

#: An object pool's header, format 1.x (struct obj_header, native/src/obj/obj_layout.h):
#: signature, major, minor, layout name (NUL-terminated), UUID, pool size, lanes, descriptor
#: and heap offsets, heap pages, creation time, checksum. Read here for what libpmemobj's API
#: does not give (layout, the whole UUID, creation time); info() checks the reading against
#: the library (the UUID's first half is the pool_uuid_lo of the pool's Oids).
_OBJ_HEADER = struct.Struct("<8sII1024s16sQQQQQQQ")

#: 9999-12-31T23:59:59Z, the last second datetime holds (a damaged header may say more).
_LAST_DATE = 253402300799


def kind_of(path: str) -> tuple[str | None, dict[str, Any]]:
    """(the pool type, or None when the file is not a pool of ours, and the common header)."""
    with open(path, "rb") as f:
        head = f.read(_OBJ_HEADER.size)
    if len(head) < 32 or head[:8] not in SIGNATURES:
        return None, {}
    kind = SIGNATURES[head[:8]]
    major, minor = struct.unpack_from("<II", head, 8)
    header = {"format_version": f"{major}.{minor}"}
    if kind != "obj":
        header["uuid"] = str(uuid.UUID(bytes=head[16:32]))
    elif len(head) == _OBJ_HEADER.size:        # shorter: not a pool, as opening will say
        fields = _OBJ_HEADER.unpack(head)
        header["uuid"] = str(uuid.UUID(bytes=fields[4]))
        header["layout"] = fields[3].split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
        header["created"] = datetime.datetime.fromtimestamp(
            min(fields[10], _LAST_DATE), datetime.timezone.utc).isoformat()
    return kind, header


def info(path: str) -> dict[str, Any]:
    """The figures of the pool at path; CorruptPoolError when it is not a sound pool."""
    kind, header = kind_of(path)
    if kind is None:
        raise CorruptPoolError(f"{path}: not a pmalloc pool (log, blk or obj)")
    report: dict[str, Any] = {"path": path, "type": kind, **header,
                              "file_size": os.stat(path).st_size}
    if kind == "obj":
        report |= _obj_figures(path, report)
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


def _obj_figures(path: str, header: dict[str, Any]) -> dict[str, Any]:
    """An obj pool's usage (free, used: bytes of objects with the root, objects: how many
    with the root, root_size), its objects by type number (the root not among them), and
    whether it checks out."""
    pop = opening(_capi.obj_open, path, None)
    try:
        uuid_lo, _, size = _capi.obj_ids(pop)
        if "uuid" not in header or uuid.UUID(header["uuid"]).bytes[:8] != \
                uuid_lo.to_bytes(8, "little"):
            raise CorruptPoolError(f"{path}: the header does not read as this library's "
                                   "object pool header")
        free, used, objects, root = _capi.obj_usage(pop)
        report: dict[str, Any] = {"pool_size": size, "free": free, "used": used,
                                  "objects": objects, "root_size": root}
        report["types"] = [dict(zip(("type_num", "objects", "bytes"), t))
                           for t in _capi.obj_types(pop)]
    finally:
        _capi.obj_close(pop)
    ok, why = _capi.obj_check(path, None)
    report["consistent"] = ok == 1
    if ok != 1:
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
