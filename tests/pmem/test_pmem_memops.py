"""pmem_memcpy/memmove/memset: every flag, sizes around the line and threshold edges,
overlap in both directions; and each PMEM_* environment switch, in a fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmalloc import pmem
from pmalloc._native import ffi, lib

FLAGS = [0, lib.PMEM_F_MEM_NODRAIN, lib.PMEM_F_MEM_NONTEMPORAL, lib.PMEM_F_MEM_TEMPORAL,
         lib.PMEM_F_MEM_WC, lib.PMEM_F_MEM_WB, lib.PMEM_F_MEM_NOFLUSH,
         lib.PMEM_F_MEM_NONTEMPORAL | lib.PMEM_F_MEM_NODRAIN]
SIZES = [0, 1, 7, 8, 9, 63, 64, 65, 127, 255, 256, 257, 1000, 4096, 4097, 70001]
AREA = 1 << 18


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    d = tmp_path_factory.mktemp("memops")
    m = pmem.map_file(str(d / "area"), AREA, create=True)
    yield m
    m.close()


def _ptr(m, off):
    return ffi.cast("char *", m._addr) + off


@pytest.mark.parametrize("flags", FLAGS)
def test_memcpy_and_memset_every_size(area, flags):
    src = bytes((i * 31 + 7) & 0xFF for i in range(80000))
    for size in SIZES:
        for off in (0, 1, 8, 61):
            base = 4096 + off
            area[base - 64: base + size + 64] = bytes(size + 128)
            r = lib.pmem_memcpy(_ptr(area, base), src[off:], size, flags)
            assert r == _ptr(area, base)
            got = area[base - 64: base + size + 64]
            expect = bytes(64) + src[off:off + size] + bytes(64)
            assert got == expect, f"memcpy size {size} off {off} flags {flags:#x}"
            lib.pmem_memset(_ptr(area, base), 0xA5, size, flags)
            assert area[base - 64: base + size + 64] == bytes(64) + b"\xa5" * size + bytes(64)
    lib.pmem_drain()


@settings(max_examples=150, deadline=None)
@given(size=st.integers(0, 20000), src=st.integers(0, 3000), dst=st.integers(0, 3000),
       flags=st.sampled_from(FLAGS))
def test_memmove_overlaps_both_ways(area, size, src, dst, flags):
    pattern = bytes((i * 131 + 17) & 0xFF for i in range(size + 3000))
    base = 100000
    area[base: base + len(pattern)] = pattern
    expect = bytearray(pattern)
    expect[dst:dst + size] = pattern[src:src + size]
    lib.pmem_memmove(_ptr(area, base + dst), _ptr(area, base + src), size, flags)
    assert area[base: base + len(pattern)] == bytes(expect)


def test_persist_and_nodrain_aliases(area):
    data = b"0123456789" * 50
    assert lib.pmem_memcpy_persist(_ptr(area, 0), data, 500) == _ptr(area, 0)
    assert lib.pmem_memcpy_nodrain(_ptr(area, 500), data, 500) == _ptr(area, 500)
    assert lib.pmem_memmove_persist(_ptr(area, 1000), _ptr(area, 0), 500) == _ptr(area, 1000)
    assert lib.pmem_memmove_nodrain(_ptr(area, 1500), _ptr(area, 0), 500) == _ptr(area, 1500)
    lib.pmem_memset_persist(_ptr(area, 2000), 1, 100)
    lib.pmem_memset_nodrain(_ptr(area, 2100), 2, 100)
    lib.pmem_drain()
    assert area[0:2000] == data * 4
    assert area[2000:2200] == b"\x01" * 100 + b"\x02" * 100


def test_invalid_flags_copy_and_leave_a_message(area):
    lib.pmem_memcpy(_ptr(area, 0), b"abc", 3, 1 << 20)
    assert area[0:3] == b"abc"
    assert b"invalid flags" in ffi.string(lib.pmem_errormsg())


# ---- environment switches: read once per process, so each case is a new interpreter ----

PROBE = r"""
import json, os, sys
from pmalloc import pmem
from pmalloc._native import ffi, lib
d = sys.argv[1]
m = pmem.map_file(os.path.join(d, "probe"), 1 << 20, create=True)
src = bytes(range(256)) * 1024
ok = True
for size in (0, 1, 100, 255, 256, 257, 5000, 65536 + 17):
    for flags in (0, lib.PMEM_F_MEM_NONTEMPORAL, lib.PMEM_F_MEM_TEMPORAL):
        m[0:size + 64] = bytes(size + 64)
        lib.pmem_memmove(ffi.cast("char *", m._addr) + 3, src, size, flags)
        ok &= m[3:3 + size] == src[:size] and m[3 + size] == 0
m.persist()
out = pmem.info()
out["copies_ok"] = ok
out["is_pmem"] = m.is_pmem
out["kind"] = m.persist_kind
m.close()
print(json.dumps(out))
"""


def _probe(env: dict[str, str], directory: str) -> dict:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PMEM_")}
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", PROBE, directory], capture_output=True,
                          text=True, env=full, timeout=120)
    assert proc.returncode == 0, f"probe with {env} failed:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _has(flag: str) -> bool:
    with open("/proc/cpuinfo") as f:
        return f" {flag}" in f.read()


@pytest.mark.parametrize("env,expect", [
    ({}, {"is_pmem_force": -1, "is_pmem": False, "kind": "msync", "movnt_threshold": 256}),
    ({"PMEM_IS_PMEM_FORCE": "1"}, {"is_pmem_force": 1, "is_pmem": True, "kind": "pmem"}),
    ({"PMEM_IS_PMEM_FORCE": "0"}, {"is_pmem_force": 0, "is_pmem": False, "kind": "msync"}),
    ({"PMEM_NO_FLUSH": "1"}, {"flush": "none"}),
    ({"PMEM_NO_MOVNT": "1"}, {"movnt": "none"}),
    ({"PMEM_MOVNT_THRESHOLD": "0"}, {"movnt_threshold": 0}),
    ({"PMEM_MOVNT_THRESHOLD": "4096"}, {"movnt_threshold": 4096}),
    ({"PMEM_MOVNT_THRESHOLD": "junk"}, {"movnt_threshold": 256}),
    ({"PMEM_NO_CLFLUSHOPT": "1", "PMEM_IS_PMEM_FORCE": "1"}, {"flush": "clflush"}),
])
def test_environment_switch(pool_dir, env, expect):
    seen = _probe(env, pool_dir)
    assert seen["copies_ok"], seen
    for key, value in expect.items():
        assert seen[key] == value, f"with {env}: expected {key}={value!r}, saw {seen[key]!r}"


def test_no_clwb_falls_back(pool_dir):
    default = _probe({}, pool_dir)
    seen = _probe({"PMEM_NO_CLWB": "1", "PMEM_IS_PMEM_FORCE": "1"}, pool_dir)
    assert seen["copies_ok"]
    if _has("clwb"):
        assert default["flush"] == "clwb"
    expected = "clflushopt" if _has("clflushopt") else "clflush"
    assert seen["flush"] == expected
    # PMEM_NO_FLUSH=0 flushes even where the platform would not need it
    assert _probe({"PMEM_NO_FLUSH": "0"}, pool_dir)["flush"] == default["deep_flush"]


def test_stream_width_switches(pool_dir):
    wide = "avx512f" if _has("avx512f") else "sse2"
    assert _probe({}, pool_dir)["movnt"] == wide
    seen = _probe({"PMEM_AVX512F": "0", "PMEM_MOVNT_THRESHOLD": "0"}, pool_dir)
    assert seen["copies_ok"] and seen["movnt"] == "sse2"
    seen = _probe({"PMEM_AVX512F": "0", "PMEM_AVX": "1", "PMEM_MOVNT_THRESHOLD": "0"}, pool_dir)
    assert seen["copies_ok"] and seen["movnt"] == ("avx" if _has("avx") else "sse2")
