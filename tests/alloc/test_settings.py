"""The decay setting (PMALLOC_DECAY_MS): pmalloc_set_decay_ms returns the previous value;
a bad value in the environment refuses the pool.
"""
from __future__ import annotations

import os

import pytest

import pmalloc
from pmalloc._native import lib


def test_decay_setting_returns_the_previous_value():
    expected = int(os.environ.get("PMALLOC_DECAY_MS", "10000"))
    prev = lib.pmalloc_set_decay_ms(1234)
    back = lib.pmalloc_set_decay_ms(prev)
    assert (prev, back) == (expected, 1234), (
        f"pmalloc_set_decay_ms: expected the default {expected} then 1234 back, "
        f"saw {prev} then {back}")


@pytest.mark.parametrize("value", ["abc", "-1", "99999999999999999999", ""])
def test_invalid_decay_setting_refuses_the_pool(monkeypatch, value):
    """A bad PMALLOC_DECAY_MS is refused as every other setting is, never ignored."""
    monkeypatch.setenv("PMALLOC_DECAY_MS", value)
    pmalloc.settings.reload()
    with pytest.raises(pmalloc.errors.InvalidArgumentError, match="PMALLOC_DECAY_MS"):
        pmalloc.Pool(size=32 << 20)
