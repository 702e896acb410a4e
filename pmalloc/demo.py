"""`pmalloc demo`: the main job on the embedded default, in a few seconds.

In one pool: buffers (small allocations and a big calloc, half freed), then NumPy arrays (a
computation full of temporaries, its arrays in the pool through ``pmalloc.numpy.use``, timed
against NumPy's default allocator in the same run). Then the same arrays on a pmem kind in
the same directory. Every figure is sized to a quarter of the pool, so any pool size the CLI
accepts runs it.
"""
from __future__ import annotations

import mmap
import statistics
import time
from typing import Any

from pmalloc import kind
from pmalloc import numpy as pnumpy
from pmalloc.vmem import Pool

# buffers: up to 20,000 of 64 to 64 + 511 bytes, and one calloc of up to 16 MiB
SMALL, SMALL_BASE, SMALL_SPREAD = 20_000, 64, 512
BIG = 16 << 20
# arrays: float64 vectors of up to 200,000 elements, an expression with four temporaries
ELEMENTS = 200_000
ARRAY_REPS = 15


def work(pool_size: int) -> tuple[int, int, int]:
    """(small buffers, bytes of the big calloc, array elements) for a pool of pool_size:
    each part within a quarter of it (the arrays: the operands and five temporaries)."""
    quarter = pool_size // 4
    largest = SMALL_BASE + SMALL_SPREAD - 1
    return (min(SMALL, quarter // largest), min(BIG, quarter - quarter % mmap.PAGESIZE),
            min(ELEMENTS, quarter // (8 * 8)))


def buffers(pool: Pool, nsmall: int, nbig: int) -> dict[str, Any]:
    """Allocate, write, free half: the pool's figures at the peak and after."""
    bufs = [pool.malloc(SMALL_BASE + i % SMALL_SPREAD) for i in range(nsmall)]
    for i, buf in enumerate(bufs):
        with memoryview(buf) as view:
            view[:] = bytes([i % 251]) * len(view)
    big = pool.calloc(1, nbig)
    with memoryview(big) as view:
        view[::4096] = b"x" * len(view[::4096])
    peak = pool.stats()
    for buf in bufs[::2]:
        buf.free()
    big.free()
    after = pool.stats()
    for buf in bufs[1::2]:
        buf.free()
    return {"allocations": len(bufs) + 1,
            "peak_allocated": peak["allocated"],
            "peak_file_allocated": peak["file_allocated"],
            "allocated_after_free": after["allocated"],
            "file_allocated_after_free": after["file_allocated"]}


def arrays(pool: Pool, n: int, prefix: str = "array") -> dict[str, Any]:
    """The same NumPy computation with its arrays in the pool (or kind) and with NumPy's
    default allocator, alternating; where the data went, and the medians."""
    import numpy as np

    def compute() -> float:
        x = np.linspace(0.0, 1.0, n)
        y = np.sqrt(x * x + 1.0) * 0.5 - x / 3.0
        return float(y.sum())

    with pnumpy.use(pool):
        x = np.arange(n, dtype=np.float64)
        handler = np._core.multiarray.get_handler_name(x) if hasattr(np, "_core") \
            else np.core.multiarray.get_handler_name(x)
        in_use = pool.stats()["allocated"]
        del x
    times: dict[str, list[float]] = {"pool": [], "default": []}
    results = set()
    for _ in range(ARRAY_REPS):
        for where in ("pool", "default"):
            start = time.perf_counter()
            if where == "pool":
                with pnumpy.use(pool):
                    results.add(compute())
            else:
                results.add(compute())
            times[where].append(time.perf_counter() - start)
    pool_s, default_s = (statistics.median(times[k]) for k in ("pool", "default"))
    return {f"{prefix}_handler": handler,
            f"{prefix}_bytes_in_pool": in_use,
            f"{prefix}_elements": n,
            f"{prefix}_same_result": len(results) == 1,
            f"{prefix}_ms_pool": round(pool_s * 1e3, 3),
            f"{prefix}_ms_default": round(default_s * 1e3, 3),
            f"{prefix}_time_pool_vs_default": round(pool_s / default_s, 2)}


def run(pool_dir: str | None, pool_size: int) -> dict[str, Any]:
    """Both parts in one pool; the report, "consistent" being the pool's own check."""
    start = time.perf_counter()
    nsmall, nbig, nelem = work(pool_size)
    with Pool(pool_dir, size=pool_size) as pool:
        report: dict[str, Any] = {"pool_dir": pool.dir, "pool_size": pool.size}
        report |= buffers(pool, nsmall, nbig)
        report |= arrays(pool, nelem)
        report["allocated_at_end"] = pool.stats()["allocated"]
        report["consistent"] = pool.check() and report["array_same_result"]
    # the same arrays on a pmem kind (memkind's API) in the same directory
    with kind.create_pmem(pool.dir, max_size=max(pool_size, kind.PMEM_MIN_SIZE)) as k:
        report |= arrays(k, nelem, "kind_array")
        report["consistent"] = (report["consistent"] and k.check()
                                and report["kind_array_same_result"])
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report
