"""pmalloc_kv.h from C: a program of checks (tests/kv/c/kv_api.c) built against libpmalloc."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CPrograms


@pytest.fixture(scope="session")
def kv_program(c_program: CPrograms) -> CPrograms:
    return c_program.at(Path(__file__).parent / "c")


def test_api_program(kv_program, pool_dir):
    run = kv_program("kv_api.c", pool_dir, timeout=120)
    assert run.returncode == 0 and ", 0 failed" in run.stdout, run.describe()
