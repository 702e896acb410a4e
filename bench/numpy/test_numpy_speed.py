"""NumPy's speed with its arrays in a pmalloc pool or pmem kind, against its default handler
(issue 10). Run by bench/run_numpy.py, never by the test suite: timings are not asserted."""
from __future__ import annotations

import numpy as np
import pytest

SMALL = 1024 // 8                 # 1 KiB of float64
LARGE = (64 << 20) // 8           # 64 MiB
EXPR = 200_000


def test_small_create_destroy(benchmark, where):
    """np.empty + drop of a 1 KiB array, 1,000 times a round."""
    def run() -> None:
        for _ in range(1000):
            a = np.empty(SMALL)
            del a
    benchmark.group = "small 1 KiB x1000"
    benchmark.pedantic(run, rounds=30, warmup_rounds=3)


def test_large_create_destroy(benchmark, where):
    """np.zeros of 64 MiB, one element written per page, then dropped."""
    def run() -> None:
        a = np.zeros(LARGE)
        a[::512] = 1.0
        del a
    benchmark.group = "large 64 MiB zeros"
    benchmark.pedantic(run, rounds=15, warmup_rounds=2)


def test_expression_with_temporaries(benchmark, where):
    """Elementwise expressions over 200k-element arrays: every operator a temporary."""
    x = np.linspace(0.0, 1.0, EXPR)
    y = np.linspace(1.0, 2.0, EXPR)

    def run() -> float:
        total = 0.0
        for _ in range(20):
            z = np.sqrt(x * x + y * y) * 0.5 - (x + 1.0) / (y + 2.0) + np.sin(x) * np.cos(y)
            total += float(z[-1])
        return total
    benchmark.group = "expression 200k x20"
    benchmark.pedantic(run, rounds=20, warmup_rounds=2)


@pytest.fixture(autouse=True)
def _check_placement(where, request):
    """Each benchmark's arrays are where it says (one probe array)."""
    from pmalloc import kind
    probe = np.empty(10)
    owner = kind.detect(probe.ctypes.data)
    import pmalloc._native as n
    in_pool = n.lib.pmalloc_vmem_of(n.ffi.cast("void *", probe.ctypes.data)) != n.ffi.NULL
    assert (where == "default") == (not in_pool and owner is None)
    yield
