"""The allocator core through cffi: random allocation sequences checked against a model.

The model (model.py) keeps every live block with its requested and usable size and checks,
after each call: no two live blocks overlap, the alignment is honoured, the block lies in its
pool, calloc memory reads zero, realloc kept the old prefix, and each block still holds the
bytes written into it when it is reallocated or freed. ``vmem_check`` must say 1 at
checkpoints and at the end. A failure prints the calls that led to it, as C, to serve as a
reproducer.

Sizes come in the bands of the library's own geometry (helpers.py reads it from the class
table): small (slabs, up to SMALL_MAX), large (page-run classes, up to LARGE_MAX), huge
(page-rounded, beyond), and the edges between them.
"""
from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import KiB, MiB

from .helpers import HUGE_TOP, LARGE_MAX, PAGE, SMALL_MAX
from .model import Model

HUGE_MID = 4 * MiB            # huge blocks up to here are drawn log-uniform, as the others
EDGE_SIZES = [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097,
              SMALL_MAX - 1, SMALL_MAX, SMALL_MAX + 1, 16 * KiB - 1, 16 * KiB, 16 * KiB + 1,
              64 * KiB, 64 * KiB + 1, LARGE_MAX - 1, LARGE_MAX, LARGE_MAX + 1,
              LARGE_MAX + PAGE + 1]


# ---- random sequences --------------------------------------------------------------------------

def random_size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.06:
        return rng.choice(EDGE_SIZES)
    if r < 0.72:   # small, log-uniform
        return max(1, int(2 ** rng.uniform(0, math.log2(SMALL_MAX))))
    if r < 0.87:   # large
        return int(2 ** rng.uniform(math.log2(SMALL_MAX + 1), math.log2(LARGE_MAX)))
    if r < 0.97:   # huge, log-uniform
        return int(2 ** rng.uniform(math.log2(LARGE_MAX + 1), math.log2(HUGE_MID)))
    return rng.randint(LARGE_MAX + 1, HUGE_TOP)


def run_random(model: Model, rng: random.Random, nops: int, live_cap: int) -> None:
    for i in range(nops):
        ids = list(model.blocks)
        crowded = len(ids) > 300 or model.live_usable > live_cap
        r = rng.random()
        if ids and (r < 0.30 or (crowded and r < 0.65)):
            model.free(rng.choice(ids))
        elif ids and r < 0.45:
            bid = rng.choice(ids)
            old = model.blocks[bid].size
            k = rng.random()
            if k < 0.3:
                size = max(1, old + rng.randint(-64, 64))
            elif k < 0.5:
                size = min(2 * old + 1, HUGE_TOP)
            elif k < 0.6:
                size = max(1, old // 3)
            else:
                size = random_size(rng)
            model.realloc(bid, size)
        elif r < 0.55:
            nmemb = rng.choice([1, 1, 2, 3, 8, 100])
            model.calloc(nmemb, max(1, random_size(rng) // nmemb))
        elif r < 0.65:
            model.aligned_alloc(1 << rng.randint(0, 21), random_size(rng))
        else:
            model.malloc(random_size(rng))
        if i % 250 == 249:
            model.check()
    model.check()
    model.free_all()
    model.check()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(24))
def test_random_sequence(make_vmem, seed):
    pool_size = 256 * MiB
    vmp = make_vmem.create(pool_size)
    model = Model(vmp, pool_size, f"seed {seed}")
    run_random(model, random.Random(seed), nops=2000, live_cap=64 * MiB)


_size = st.one_of(st.integers(1, SMALL_MAX), st.integers(SMALL_MAX + 1, LARGE_MAX),
                  st.integers(LARGE_MAX + 1, 10 * MiB), st.sampled_from(EDGE_SIZES))
_op = st.one_of(
    st.tuples(st.just("malloc"), _size),
    st.tuples(st.just("calloc"), st.integers(1, 8), _size),
    st.tuples(st.just("aligned"), st.integers(0, 21), _size),
    st.tuples(st.just("realloc"), st.integers(0, 63), _size),
    st.tuples(st.just("free"), st.integers(0, 63)),
    st.tuples(st.just("check")),
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=st.lists(_op, max_size=50))
def test_shrinking_sequences(make_vmem, ops):
    """Short sequences hypothesis shrinks to a minimal failing one."""
    pool_size = 128 * MiB
    vmp = make_vmem.create(pool_size)
    try:
        model = Model(vmp, pool_size, "hypothesis")
        for op in ops:
            ids = sorted(model.blocks)
            if op[0] == "malloc":
                model.malloc(op[1])
            elif op[0] == "calloc":
                model.calloc(op[1], max(1, op[2] // op[1]))
            elif op[0] == "aligned":
                model.aligned_alloc(1 << op[1], op[2])
            elif op[0] == "realloc" and ids:
                model.realloc(ids[op[1] % len(ids)], op[2])
            elif op[0] == "free" and ids:
                model.free(ids[op[1] % len(ids)])
            elif op[0] == "check":
                model.check()
            if model.live_usable > pool_size // 3:
                model.free_all()
        model.check()
        model.free_all()
        model.check()
    finally:
        make_vmem.delete(vmp)
