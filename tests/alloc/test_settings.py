"""The decay setting (PMALLOC_DECAY_MS): pmalloc_set_decay_ms returns the previous value."""
from __future__ import annotations

import os

from pmalloc._native import lib


def test_decay_setting_returns_the_previous_value():
    expected = int(os.environ.get("PMALLOC_DECAY_MS", "10000"))
    prev = lib.pmalloc_set_decay_ms(1234)
    back = lib.pmalloc_set_decay_ms(prev)
    assert (prev, back) == (expected, 1234), (
        f"pmalloc_set_decay_ms: expected the default {expected} then 1234 back, "
        f"saw {prev} then {back}")
