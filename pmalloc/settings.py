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

from pmalloc import _args, _capi
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


def settings() -> dict[str, Setting]:
    """Every setting by name, in the table's order."""
    out = {}
    for r in _capi.settings(_MAX_ROWS):
        s = Setting(r["name"] or "", r["alias"], r["value"] or "", r["raw"], r["source"],
                    r["error"], r["help"] or "", bool(r["strict"]))
        out[s.name] = s
    return out


def value(name: str) -> str:
    """The value in force of setting ``name`` (KeyError for a name pmalloc does not read)."""
    return settings()[name].value


def reload() -> None:
    """Read the environment again (settings are read once, at first use)."""
    _capi.settings_reload()


def default_pool_dir() -> str:
    """Where a pool without a directory goes: ``$PMALLOC_POOL_DIR`` (or libvmmalloc's
    ``$VMMALLOC_POOL_DIR``) when set; else the first writable DAX mount; else /dev/shm when
    writable; else ``$TMPDIR``; else /tmp."""
    return value("PMALLOC_POOL_DIR")


def parse_size(text: str) -> int:
    """'64M' -> 67108864: bytes, with an optional K/M/G/T (powers of 1024), "i" and "B";
    InvalidArgumentError for anything else."""
    encoded = _args.path(text, "size").encode("utf-8", "surrogateescape")
    try:
        return _capi.parse_size(encoded)
    except InvalidArgumentError:  # the C message shows the text unquoted
        raise InvalidArgumentError(
            f"{text!r}: not a size (e.g. 512M, 4G, 1073741824)") from None


def dax_mounts(table: str | None = None) -> list[str]:
    """The mount points whose options turn DAX on for every file, from ``table`` (a
    /proc/mounts text file; /proc/mounts when None)."""
    arg = None if table is None else _args.path(table, "table").encode(
        "utf-8", "surrogateescape")
    size = 4096
    while True:
        need, text = _capi.dax_mounts(arg, size)
        if need < size:
            return text.splitlines()
        size = need + 1
