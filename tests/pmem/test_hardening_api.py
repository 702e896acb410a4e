"""Misuse of pmalloc.pmem and the simulator, from the hardening probe: each raises with a
message that names what was wrong, and never crashes the interpreter.

Findings covered: the simulator's data objects copy and pickle as values (1), NUL bytes in
a mapped file's path (3). What spans the layers (copies and pickles of handles, paths,
ints, OSErrors) is in tests/test_hardening_api.py.
"""
from __future__ import annotations

import copy
import os
import pathlib
import pickle

from pmalloc import pmem, sim
from conftest import bad_argument


# ---- 1. copy, deepcopy, pickle ----------------------------------------------------------------

def test_sim_data_objects_copy_with_their_meaning() -> None:
    """Word, CrashState and Report are plain values: they copy and pickle."""
    states = sim.explore(lambda m: (m.__setitem__(slice(0, 8), b"12345678"), m.persist(0, 8)),
                         size=64)
    assert states and copy.deepcopy(states[0]) == states[0]
    assert pickle.loads(pickle.dumps(states[-1])) == states[-1]


# ---- 3. NUL bytes in paths --------------------------------------------------------------------

def test_nul_in_map_file_path_never_touches_the_prefix(tmp_path: pathlib.Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"v" * 100)
    for path in (f"{victim}\0.new", os.fsencode(f"{victim}\0.new"),
                 pathlib.Path(f"{victim}\0.new")):
        bad_argument(pmem.map_file, path, 4, create=True, naming="null byte")
        bad_argument(pmem.map_file, path, naming="null byte")
    bad_argument(pmem.map_file, f"{tmp_path}\0x", 4096, create=True, tmpfile=True,
                 naming="null byte")
    assert victim.read_bytes() == b"v" * 100, "the file before the NUL was changed"
