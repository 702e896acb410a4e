"""Fixtures of the object store tests (tests/obj): the C programs of tests/obj/c, and
``c_example`` for the user-facing programs of examples/c (built the same way, from there)."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CPrograms

C_DIR = Path(__file__).parent / "c"
EXAMPLES_DIR = Path(__file__).parents[2] / "examples" / "c"


@pytest.fixture(scope="session")
def c_program(c_program: CPrograms) -> CPrograms:
    return c_program.at(C_DIR)


@pytest.fixture(scope="session")
def c_example(c_program: CPrograms) -> CPrograms:
    """``c_example.build("resumable_loop.c")``: a program of examples/c."""
    return c_program.at(EXAMPLES_DIR)
