"""Fixtures of the allocator tests (tests/alloc).

- ``make_vmem`` / ``vmem``: pools made through ``lib.vmem_create``; each is checked with
  ``vmem_check`` and deleted when the test ends.
- ``c_program``: the shared builder (tests/conftest.py), taking the programs of
  tests/alloc/c.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import MiB, CPrograms, errno_text, native

C_DIR = Path(__file__).parent / "c"


@pytest.fixture(scope="session")
def c_program(c_program: CPrograms) -> CPrograms:
    """``c_program("vmem_api.c", arg, ...)`` builds tests/alloc/c/vmem_api.c and runs it."""
    return c_program.at(C_DIR)


class Pools:
    """Creates vmem pools and deletes, after checking, those left at the end."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.live: list = []

    def create(self, size: int = 64 * MiB, directory: str | None = None):
        ffi, lib = native()
        ffi.errno = 0
        vmp = lib.vmem_create((directory or self.dir).encode(), size)
        if vmp == ffi.NULL:
            err = ffi.errno
            msg = ffi.string(lib.vmem_errormsg()).decode(errors="replace")
            pytest.fail(f"vmem_create({directory or self.dir!r}, {size}): expected a pool, "
                        f"saw NULL, errno {errno_text(err)}: {msg}")
        self.live.append(vmp)
        return vmp

    def delete(self, vmp) -> None:
        _, lib = native()
        self.live.remove(vmp)
        lib.vmem_delete(vmp)

    def close_all(self) -> list[str]:
        _, lib = native()
        problems = []
        while self.live:
            vmp = self.live.pop()
            rc = lib.vmem_check(vmp)
            if rc != 1:
                problems.append(f"vmem_check at teardown: expected 1, saw {rc}")
            lib.vmem_delete(vmp)
        return problems


@pytest.fixture
def make_vmem(pool_dir: str) -> Iterator[Pools]:
    """``make_vmem.create(size)`` makes a pool in ``pool_dir``; all are checked and deleted."""
    pools = Pools(pool_dir)
    yield pools
    problems = pools.close_all()
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def vmem(make_vmem: Pools):
    """A 64 MiB pool (a ``VMEM *``) in a fresh directory."""
    return make_vmem.create(64 * MiB)
