#!/usr/bin/env python3
"""A key/value store on the command line, over pmalloc.kv.

    python examples/kv.py STORE put KEY VALUE     # made if missing (put --size 16M ...)
    python examples/kv.py STORE get KEY           # the value; exit 1 if KEY is not there
    python examples/kv.py STORE delete KEY        # exit 1 if KEY is not there
    python examples/kv.py STORE list [--values]   # the keys (sorted), with values: KEY<TAB>VALUE

Every put and delete is durable once the command returns, a kill -9 included. Keys and
values are stored as the bytes of the arguments (UTF-8 text as a rule) and printed back as
they were stored. Exit status: 0 done,
1 a missing key or a store that cannot be opened, 2 a usage error.
"""
from __future__ import annotations

import argparse
import os
import sys

import pmalloc.kv
from pmalloc.errors import PmallocError

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size(text: str) -> int:
    """A size in bytes, with an optional K, M or G (powers of 1024)."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in UNITS else ""
    try:
        n = int(t[: len(t) - len(unit)]) * UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 64M)") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return n


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kv.py", description=__doc__.splitlines()[0])
    ap.add_argument("store", metavar="STORE", help="the store's file")
    cmds = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    put = cmds.add_parser("put", help="set KEY to VALUE")
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE")
    put.add_argument("--size", type=size, default=64 << 20,
                     help="the size of the store when put makes it (default: 64M)")
    cmds.add_parser("get", help="print KEY's value").add_argument("key", metavar="KEY")
    cmds.add_parser("delete", help="remove KEY").add_argument("key", metavar="KEY")
    ls = cmds.add_parser("list", help="print the keys")
    ls.add_argument("--values", action="store_true", help="and their values")
    return ap


def line(*parts: bytes) -> None:
    sys.stdout.buffer.write(b"\t".join(parts) + b"\n")


def run(args: argparse.Namespace) -> int:
    if args.command == "put":
        db = pmalloc.kv.open(args.store, "c", size=args.size)
    else:
        db = pmalloc.kv.open(args.store, "w" if args.command == "delete" else "r")
    key = os.fsencode(args.key) if args.command != "list" else b""
    with db:
        if args.command == "put":
            db[key] = os.fsencode(args.value)
        elif args.command == "get":
            value = db.get(key)
            if value is None:
                print(f"kv.py: no key {args.key!r} in {args.store}", file=sys.stderr)
                return 1
            line(value)
        elif args.command == "delete":
            if db.pop(key, None) is None:
                print(f"kv.py: no key {args.key!r} in {args.store}", file=sys.stderr)
                return 1
        else:
            for k in sorted(db):
                if args.values:
                    line(k, db[k])
                else:
                    line(k)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except FileNotFoundError:
        print(f"kv.py: no store at {args.store}", file=sys.stderr)
    except (PmallocError, OSError) as e:
        print(f"kv.py: {args.store}: {e}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
