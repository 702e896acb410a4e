"""A growing heap on a file reserves its pages a stretch at a time (a sixteenth of the active
pages, 256 KiB to 4 MiB), not with a system call per slab; the stretch not yet used is a dirty
run, so decay or a purge gives it back. Counted by the pool's ``reserve_calls``."""
from __future__ import annotations

from pmalloc import Pool

MiB = 1 << 20


def test_growth_reserves_a_stretch_at_a_time(pool_dir):
    with Pool(pool_dir, 512 * MiB) as pool:
        before = pool.stats()["reserve_calls"]
        # 3 KiB objects: 64 MiB of them fill about 2,700 slabs of 24 KiB
        blocks = [pool.malloc(3072) for _ in range(64 * MiB // 3072)]
        st = pool.stats()
        calls = st["reserve_calls"] - before
        slabs = st["active"] // (24 << 10)
        assert slabs > 2000, st
        assert calls < 120, f"{calls} reserve calls for {slabs} slabs"
        assert pool.check()
        for b in blocks:
            b.free()
        pool.purge()
        after = pool.stats()
        assert after["dirty"] == 0 and after["file_allocated"] < st["file_allocated"] // 20, after
        assert pool.check()


def test_stretch_is_reused_before_new_pages(pool_dir):
    """Right after a reservation, the rest of its stretch serves the next slabs."""
    with Pool(pool_dir, 64 * MiB) as pool:
        blocks = [pool.malloc(3072) for _ in range(2000)]
        calls = pool.stats()["reserve_calls"]
        while pool.stats()["reserve_calls"] == calls:      # until a new stretch is taken
            blocks.append(pool.malloc(3072))
        st = pool.stats()
        assert st["dirty"] >= 256 << 10, "the stretch's unused part waits as a dirty run"
        # at least 256 KiB past that slab: 60 objects take 8 slabs of 24 KiB at most
        blocks += [pool.malloc(3072) for _ in range(60)]
        assert pool.stats()["reserve_calls"] == st["reserve_calls"]
        for b in blocks:
            b.free()
        assert pool.check()


def test_realloc_moving_a_huge_block_leaves_no_dirty_copy(pool_dir):
    """A buffer grown by doubling (sqlite's sorter does this) must not keep every smaller
    copy dirty for the decay time: a moved huge block is punched at once."""
    with Pool(pool_dir, 512 * MiB) as pool:
        buf = pool.malloc(1 * MiB)
        pins = []
        for _ in range(6):      # 1 MiB -> 64 MiB; a small block after each stops growth in place
            pins.append(pool.malloc(100_000))
            buf = pool.realloc(buf, 2 * len(buf))
        st = pool.stats()
        assert st["dirty"] < 8 * MiB, f"{st['dirty']} dirty bytes after the moves"
        assert st["purge_calls"] >= 1
        for b in pins + [buf]:
            b.free()
        assert pool.check()
