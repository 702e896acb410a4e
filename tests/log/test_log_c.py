"""pmalloc's libpmemlog from C, through PMDK's documented API (tests/log/c/log_api.c)."""
from __future__ import annotations


def test_log_api(c_program, pool_dir):
    run = c_program.run(c_program.build("log_api.c"), pool_dir, timeout=120)
    assert run.returncode == 0, run.describe()
