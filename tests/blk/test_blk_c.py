"""pmalloc's libpmemblk from C, through PMDK's documented API (tests/blk/c/blk_api.c)."""
from __future__ import annotations


def test_blk_api(c_program, pool_dir):
    run = c_program.run(c_program.build("blk_api.c"), pool_dir, timeout=120)
    assert run.returncode == 0, run.describe()
