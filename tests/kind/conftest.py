"""Fixtures of the kind tests (tests/kind): the C programs of tests/kind/c."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CPrograms

C_DIR = Path(__file__).parent / "c"


@pytest.fixture(scope="session")
def c_program(c_program: CPrograms) -> CPrograms:
    """``c_program.build("kind_api.c")`` builds tests/kind/c/kind_api.c."""
    return c_program.at(C_DIR)
