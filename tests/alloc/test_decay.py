"""Purging on time (PMALLOC_DECAY_MS), never by a cap: a churning heap reuses its dirty pages
instead of punching them, and an idle pool gives its pages back after the decay time with no
call into the allocator (the background purger). Counts, not timings: the punches are counted
by the pool's statistics (``purge_calls``), and the idle test waits as long as it must."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pmalloc import Pool
from pmalloc._native import lib

MiB = 1 << 20


@pytest.fixture
def decay_ms() -> Iterator[object]:
    """Sets the decay time for the test, and puts the old one back."""
    previous = lib.pmalloc_set_decay_ms(10_000)
    yield lib.pmalloc_set_decay_ms
    lib.pmalloc_set_decay_ms(previous)


def test_churn_of_a_small_heap_punches_nothing_within_the_decay_time(pool_dir, decay_ms):
    """Blocks of 64 KiB to 4 MiB, freed and made again 500 times, with a few small objects:
    the old dirty cap (8 MiB, or an eighth of the active pages) punched on nearly every round."""
    decay_ms(3_600_000)
    with Pool(pool_dir, 256 * MiB) as pool:
        keep = [pool.malloc(100) for _ in range(100)]
        sizes = [64 << 10, 300 << 10, 1 * MiB, 4 * MiB]
        for round_ in range(500):
            blocks = [pool.malloc(sizes[(round_ + i) % len(sizes)]) for i in range(8)]
            for b in blocks:
                with memoryview(b) as m:
                    m[0] = m[len(m) - 1] = 1
            for b in blocks:
                b.free()
        st = pool.stats()
        assert st["purge_calls"] == 0, f"punched {st['purge_calls']} times within the decay time"
        assert st["dirty"] > 0, "the freed blocks are dirty, waiting for reuse"
        pool.purge()
        after = pool.stats()
        assert after["purge_calls"] > 0 and after["dirty"] == 0, after
        for b in keep:
            b.free()


def test_idle_pool_gives_its_pages_back_after_the_decay_time(pool_dir, decay_ms):
    """No allocator call after the frees: only the background purger can punch the pages."""
    decay_ms(200)
    with Pool(pool_dir, 256 * MiB) as pool:
        blocks = [pool.malloc(4 * MiB) for _ in range(16)]
        for b in blocks:
            with memoryview(b) as m:
                m[:] = b"\xa5" * len(m)
        peak = pool.stats()["file_allocated"]
        assert peak >= 64 * MiB, f"the pool file should hold the 64 MiB written, holds {peak}"
        for b in blocks:
            b.free()
        deadline = time.monotonic() + 60     # the decay time is 0.2 s; a loaded machine is slow
        while True:
            st = pool.stats()              # reads figures; takes locks, purges nothing
            if st["file_allocated"] < peak // 20 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert st["file_allocated"] < peak // 20, (
            f"pool file holds {st['file_allocated']} bytes of its peak {peak} "
            f"a minute after the frees (dirty {st['dirty']})")
        assert st["purge_calls"] > 0
