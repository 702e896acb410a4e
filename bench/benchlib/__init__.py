"""What the suites in bench/ (run*.py) share beyond pmalloc.bench: the checkout's paths,
the common options (options.py) and the sections of RESULTS.md (results.py).

The machinery itself (builds, runs, statistics, tables, the allocator suite) is
pmalloc/bench/, the package behind `pmalloc bench`. It is imported from this checkout
without running pmalloc/__init__.py, which would load the C library into this process: the
runner's children inherit its peak RSS (pmalloc.bench.runner.run_process), and the suites
run with any python3, the standard library only.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
SRC = BENCH / "src"
OUT = BENCH / "out"

if "pmalloc" not in sys.modules:  # an empty package over pmalloc/: its submodules only
    _package = types.ModuleType("pmalloc")
    _package.__path__ = [str(REPO / "pmalloc")]
    sys.modules["pmalloc"] = _package

from pmalloc.bench.build import Places  # noqa: E402 - after the package above


def places() -> Places:
    """The drivers of bench/src built into bench/out, commands shown from the checkout."""
    return Places(SRC, OUT, REPO, werror=True)
