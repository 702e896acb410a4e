"""Fixtures of the persistence tests (tests/pmem): libpmem and the crash simulator.

- ``c_program``: the shared builder (tests/conftest.py), taking the programs of
  tests/pmem/c.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CPrograms

C_DIR = Path(__file__).parent / "c"


@pytest.fixture(scope="session")
def c_program(c_program: CPrograms) -> CPrograms:
    """``c_program("pmem_api.c", arg, ...)`` builds tests/pmem/c/pmem_api.c and runs it."""
    return c_program.at(C_DIR)
