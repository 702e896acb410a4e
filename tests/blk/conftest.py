"""Fixtures of the block pool tests (tests/blk): the C programs of tests/blk/c."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CPrograms

C_DIR = Path(__file__).parent / "c"


@pytest.fixture(scope="session")
def c_program(c_program: CPrograms) -> CPrograms:
    return c_program.at(C_DIR)
