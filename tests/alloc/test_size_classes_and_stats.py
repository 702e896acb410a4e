"""Size classes and statistics through cffi: usable sizes monotonic with bounded waste,
the class table (slabs up to SMALL_MAX, page runs up to LARGE_MAX, page-rounded beyond),
per-class and whole-pool figures.
"""
from __future__ import annotations

from conftest import KiB, MiB
from pmalloc._native import ffi, lib

from .helpers import DIRTY, LARGE_MAX, PAGE, SMALL_MAX, class_rows, errmsg, get_stats


def probe_sizes() -> list[int]:
    sizes = set(range(1, 2049)) | set(range(2048, 16 * KiB + 1, 8))
    p = 16 * KiB
    while p <= 16 * MiB:
        for k in range(4):
            s = p + k * p // 4
            sizes.update((s - 1, s, s + 1))
        p *= 2
    sizes.update(range(LARGE_MAX - 3 * PAGE, LARGE_MAX + 3 * PAGE, 512))
    return sorted(sizes)


def test_size_classes_monotonic_with_bounded_waste(vmem):
    problems = []
    prev_size, prev_usable = 0, 0
    for n in probe_sizes():
        p = lib.vmem_malloc(vmem, n)
        if p == ffi.NULL:
            problems.append(f"vmem_malloc({n}): expected memory, saw NULL ({errmsg()})")
            continue
        u = lib.vmem_malloc_usable_size(vmem, p)
        lib.vmem_free(vmem, p)
        if u < n:
            problems.append(f"malloc({n}): expected usable >= {n}, saw {u}")
        if u < prev_usable:
            problems.append(f"malloc({n}): expected usable >= {prev_usable} (that of "
                            f"malloc({prev_size})), saw {u}: not monotonic")
        if n >= 64 and (u - n) * 4 > n:
            problems.append(f"malloc({n}): expected usable <= {n * 5 // 4} (25 % waste), "
                            f"saw {u} ({100 * (u - n) / n:.1f} %)")
        prev_size, prev_usable = n, u
    assert not problems, f"{len(problems)} violations:\n" + "\n".join(problems[:30])


def test_class_table(vmem):
    rows = class_rows(vmem)
    st_ = get_stats(vmem)
    assert st_.nclasses == len(rows), (
        f"stats.nclasses: expected {len(rows)} (rows of pmalloc_vmem_class_stats), "
        f"saw {st_.nclasses}")
    problems = []
    for a, b in zip(rows, rows[1:]):
        if b.size <= a.size:
            problems.append(f"class sizes: expected increasing, saw {a.size} then {b.size}")
        elif a.size >= 64 and b.size * 4 > a.size * 5:
            problems.append(f"classes {a.size} -> {b.size}: expected at most 25 % apart")
    for r in rows:
        p = lib.vmem_malloc(vmem, r.size)
        u = lib.vmem_malloc_usable_size(vmem, p)
        lib.vmem_free(vmem, p)
        if u != r.size:
            problems.append(f"malloc({r.size}) (a class size): expected usable {r.size}, saw {u}")
        if r.size <= SMALL_MAX:
            if r.slab_size == 0 or r.slab_size % PAGE or r.slab_size < r.size:
                problems.append(f"class {r.size}: expected a slab of whole pages holding an "
                                f"object, saw slab_size {r.slab_size}")
        elif r.slab_size != 0:
            problems.append(f"class {r.size}: expected slab_size 0 (large), saw {r.slab_size}")
    huge = LARGE_MAX + 1                # past the largest class: page-rounded, no class
    p = lib.vmem_malloc(vmem, huge)
    u = lib.vmem_malloc_usable_size(vmem, p)
    lib.vmem_free(vmem, p)
    if u != -(-huge // PAGE) * PAGE:
        problems.append(f"malloc({huge}), past the largest class: expected a page-rounded "
                        f"block of {-(-huge // PAGE) * PAGE}, saw usable {u}")
    assert not problems, "\n".join(problems)


def test_class_stats_count_live_objects(vmem):
    assert lib.pmalloc_vmem_purge(vmem) == 0
    base = get_stats(vmem).allocated
    ptrs = [lib.vmem_malloc(vmem, 100) for _ in range(1000)]
    assert all(p != ffi.NULL for p in ptrs)
    usable = lib.vmem_malloc_usable_size(vmem, ptrs[0])
    assert lib.pmalloc_vmem_purge(vmem) == 0        # this thread's cache goes back first
    row = next(r for r in class_rows(vmem) if r.size == usable)
    seen = (row.live, row.cached)
    allocated = get_stats(vmem).allocated - base
    for p in ptrs:
        lib.vmem_free(vmem, p)
    assert lib.pmalloc_vmem_purge(vmem) == 0
    row_after = next(r for r in class_rows(vmem) if r.size == usable)
    assert seen == (1000, 0), (
        f"class {usable} with 1000 objects live: expected (live, cached) = (1000, 0), "
        f"saw {seen}")
    assert allocated == 1000 * usable, (
        f"stats.allocated grew by: expected {1000 * usable}, saw {allocated}")
    assert (row_after.live, row_after.cached) == (0, 0), (
        f"class {usable} after freeing all: expected (0, 0), "
        f"saw {(row_after.live, row_after.cached)}")


def test_stats_follow_a_large_block(vmem):
    st0 = get_stats(vmem)
    assert st0.size == 64 * MiB, f"stats.size: expected {64 * MiB}, saw {st0.size}"
    for field in ("active", "resident", "file_allocated", "metadata"):
        assert getattr(st0, field) <= st0.size, (
            f"stats.{field}: expected <= the pool size {st0.size}, saw {getattr(st0, field)}")
    assert st0.narenas >= 1, f"stats.narenas: expected >= 1, saw {st0.narenas}"
    n = 10 * MiB
    p = lib.vmem_malloc(vmem, n)
    assert p != ffi.NULL
    ffi.memmove(p, DIRTY[:n], n)
    st1 = get_stats(vmem)
    grown = {f: getattr(st1, f) - getattr(st0, f)
             for f in ("allocated", "active", "file_allocated")}
    lib.vmem_free(vmem, p)
    assert lib.pmalloc_vmem_purge(vmem) == 0
    st2 = get_stats(vmem)
    assert all(v >= n for v in grown.values()), (
        f"after a {n}-byte block was touched: expected allocated, active and file_allocated "
        f"to grow by >= {n}, saw {grown}")
    assert st2.allocated == st0.allocated, (
        f"stats.allocated after the free: expected {st0.allocated}, saw {st2.allocated}")
