"""The settings pmalloc reads from the environment, as the C library resolved them.

One table in the C library (``native/src/common/options.c``) names every ``PMALLOC_*``,
``VMMALLOC_*`` and ``PMEM_*`` variable with its parser and default, and reads the
environment once, at first use; the preload shim reads the same table, so what this module
shows is what ``pmalloc run`` uses. A program that changes its environment afterwards calls
:func:`reload`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pmalloc._native import ffi, lib
from pmalloc import _args
from pmalloc.errors import InvalidArgumentError

__all__ = ["Setting", "settings", "value", "reload", "parse_size", "dax_mounts",
           "default_pool_dir"]

_MAX_ROWS: Final = 64


@dataclass(frozen=True)
class Setting:
    """One environment variable: its value in force, and what the environment said."""

    name: str
    alias: str | None    #: libvmmalloc's name, read when ``name`` is unset
    value: str           #: the value in force (the default when unset or ignored)
    raw: str | None      #: the environment's text, None when unset
    source: str | None   #: the variable ``raw`` came from
    error: str | None    #: why ``raw`` is refused (strict) or ignored
    help: str
    strict: bool         #: a bad value is an error (else ignored, as PMDK does)


def _text(p: object) -> str | None:
    return None if p == ffi.NULL else ffi.string(p).decode("utf-8", "surrogateescape")


def settings() -> dict[str, Setting]:
    """Every setting by name, in the table's order."""
    rows = ffi.new("struct pmalloc_setting[]", _MAX_ROWS)
    n = min(int(lib.pmalloc_settings(rows, _MAX_ROWS)), _MAX_ROWS)
    out = {}
    for r in rows[0:n]:
        s = Setting(_text(r.name) or "", _text(r.alias), _text(r.value) or "", _text(r.raw),
                    _text(r.source),
                    _text(r.error), _text(r.help) or "", bool(r.strict))
        out[s.name] = s
    return out


def value(name: str) -> str:
    """The value in force of setting ``name`` (KeyError for a name pmalloc does not read)."""
    return settings()[name].value


def reload() -> None:
    """Read the environment again (settings are read once, at first use)."""
    lib.pmalloc_settings_reload()


def default_pool_dir() -> str:
    """Where a pool without a directory goes: ``$PMALLOC_POOL_DIR`` (or libvmmalloc's
    ``$VMMALLOC_POOL_DIR``) when set; else the first writable DAX mount; else /dev/shm when
    writable; else ``$TMPDIR``; else /tmp."""
    return value("PMALLOC_POOL_DIR")


def parse_size(text: str) -> int:
    """'64M' -> 67108864: bytes, with an optional K/M/G/T (powers of 1024), "i" and "B";
    InvalidArgumentError for anything else."""
    out = ffi.new("size_t *")
    encoded = _args.path(text, "size").encode("utf-8", "surrogateescape")
    if lib.pmalloc_parse_size(encoded, out) != 0:
        raise InvalidArgumentError(f"{text!r}: not a size (e.g. 512M, 4G, 1073741824)")
    return int(out[0])


def dax_mounts(table: str | None = None) -> list[str]:
    """The mount points whose options turn DAX on for every file, from ``table`` (a
    /proc/mounts text file; /proc/mounts when None)."""
    arg = ffi.NULL if table is None else _args.path(table, "table").encode(
        "utf-8", "surrogateescape")
    size = 4096
    while True:
        buf = ffi.new("char[]", size)
        need = int(lib.pmalloc_dax_mounts(arg, buf, size))
        if need < size:
            return ffi.string(buf).decode("utf-8", "surrogateescape").splitlines()
        size = need + 1
