"""The places and turns of bench/objpy: a fresh directory per benchmark (in /dev/shm when it
is usable), and the alternation of contenders.

A test marked ``@pytest.mark.contenders("a", "b", ...)`` that takes the ``turn`` fixture runs
once per repetition and contender, in the order a b c, b c a, c a b, ... (each repetition
starts one further on), so that no contender always goes first or last. ``--objpy-reps``
sets the repetitions, ``--objpy-quick`` shrinks the counts (bench/run_objpy.py passes both).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import NamedTuple

import pytest


class Turn(NamedTuple):
    rep: int
    who: str


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--objpy-reps", type=int, default=3,
                     help="repetitions of each contender's benchmark (default: 3)")
    parser.addoption("--objpy-quick", action="store_true", help="smaller counts, fewer rounds")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contenders(*names): the contenders a turn alternates")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "turn" not in metafunc.fixturenames:
        return
    whos = metafunc.definition.get_closest_marker("contenders").args
    reps = 1 if metafunc.config.getoption("objpy_quick") else metafunc.config.getoption(
        "objpy_reps")
    turns = [Turn(rep, whos[(rep + i) % len(whos)]) for rep in range(reps)
             for i in range(len(whos))]
    metafunc.parametrize("turn", turns, ids=[f"{t.rep}-{t.who}" for t in turns])


@pytest.fixture
def quick(request: pytest.FixtureRequest) -> bool:
    return request.config.getoption("objpy_quick")


@pytest.fixture
def place() -> Iterator[str]:
    """A new empty directory for this benchmark's stores; removed afterwards."""
    shm = "/dev/shm"
    usable = os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK)
    path = tempfile.mkdtemp(prefix="pmalloc-objpy-", dir=shm if usable else None)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
