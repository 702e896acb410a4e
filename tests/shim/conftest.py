"""Fixtures of the shim tests (tests/shim); their helpers (environments with and
without the shim, building and running the programs here) are in tests/shim_support.py,
which the CLI and full-file-system tests of the other layers use too.

- ``without_shim``: a program's run without the shim, once per module for each command
  and environment.
"""
from __future__ import annotations

import pytest

from shim_support import Run, plain_env, run


@pytest.fixture(scope="module")
def without_shim():
    """without_shim(cmd, env=None, **run_args): the program's run without the shim, once
    per module for each command and environment (the comparison of its runs under it)."""
    done: dict[tuple, Run] = {}

    def plain(cmd, env: dict[str, str] | None = None, **run_args) -> Run:
        env = env or plain_env()
        key = (tuple(map(str, cmd)), tuple(sorted(env.items())))
        if key not in done:
            done[key] = run(cmd, env=env, **run_args)
        return done[key]
    return plain
