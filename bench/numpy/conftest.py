"""Where the arrays of bench/numpy live: NumPy's default handler, a pmalloc pool, a pmem kind."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

import pmalloc
from pmalloc import kind

WHERE = ["default", "pool", "kind"]


@pytest.fixture(scope="session")
def targets() -> Iterator[dict[str, object]]:
    with pmalloc.Pool(size=2 << 30) as pool, kind.create_pmem(max_size=2 << 30) as k:
        yield {"pool": pool, "kind": k}


@pytest.fixture(params=WHERE)
def where(request, targets) -> Iterator[str]:
    """The arrays made in the benchmark go to this place (pmalloc.numpy.use)."""
    name = request.param
    cm = pmalloc.numpy.use(targets[name]) if name != "default" else contextlib.nullcontext()
    with cm:
        yield name
