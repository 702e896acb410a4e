"""Tiers: memtier's C API, pmalloc.tiers from Python, the tier text, and the tier preload
(libmemtier.so, `pmalloc run --tiers`) under real programs."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

import pmalloc
from pmalloc import kind, tiers
from shim_support import needs_preload

MiB = 1 << 20


def test_memtier_api(c_program, pool_dir):
    run = c_program.run(c_program.build("memtier_api.c"), pool_dir, timeout=120)
    assert run.returncode == 0, run.describe()


def test_tiered_keeps_the_ratio(pool_dir):
    with kind.create_pmem(pool_dir) as pm, tiers.tiered({kind.DEFAULT: 1, pm: 4}) as t:
        base = t.stats()["tiers"][0]["allocated"]
        bufs = [t.malloc(500 + i % 3000) for i in range(3000)]
        st = t.stats()["tiers"]
        dram, pmem = st[0]["allocated"] - base, st[1]["allocated"]
        assert 3.6 < pmem / dram < 4.4, st
        assert all(kind.detect(b.address) in (kind.DEFAULT, pm) for b in bufs)
        grown = t.realloc(bufs[0], 100_000)
        assert grown.size == 100_000
        for b in bufs:
            b.free()
        assert t.stats()["tiers"][1]["allocated"] == 0
        assert t.check()


def test_threshold_policy_sends_small_sizes_to_the_first_tier(pool_dir):
    with kind.create_pmem(pool_dir) as pm, \
            tiers.tiered({kind.DEFAULT: 1, pm: 1}, policy="threshold") as t:
        small, big = t.malloc(64), t.malloc(64 * 1024)
        assert kind.detect(small.address) is kind.DEFAULT and kind.detect(big.address) is pm
        small.free()
        big.free()


def test_numpy_on_tiers(pool_dir):
    np = pytest.importorskip("numpy")
    with kind.create_pmem(pool_dir) as pm, tiers.tiered({kind.DEFAULT: 1, pm: 4}) as t:
        arrays = [t.zeros(10_000) for _ in range(50)]
        where = {kind.detect(a.ctypes.data) for a in arrays}
        assert where == {kind.DEFAULT, pm}
        with pytest.raises(BufferError):
            t.close()
        del arrays


@pytest.mark.parametrize("text, says", [
    ("", "none given"), ("DRAM", "tier 1 'DRAM': expected MEMORY:RATIO"),
    ("DRAM:0", "tier 1: the ratio '0'"), ("DRAM:1,PMEM:x", "tier 2: the ratio 'x'"),
    ("DRAM:1,FLASH:4", "tier 2: unknown memory 'FLASH'"), ("DRAM@/tmp:1", "only PMEM"),
    ("DRAM:1;policy=fast", "policy=ratio or policy=threshold"),
    ("DRAM:1,dram:2", "tier 2"), ("HBW:1", "tier 1 (HBW)"),
])
def test_bad_tier_text_names_the_tier(text, says, monkeypatch):
    monkeypatch.delenv("MEMKIND_HBW_NODES", raising=False)
    with pytest.raises(pmalloc.PmallocError, match=re.escape(says)):
        tiers.parse(text)


def test_parse_and_stats(pool_dir):
    with tiers.parse(f"dram:1, pmem@{pool_dir}:3 ;policy=ratio") as t:
        bufs = [t.malloc(1000) for _ in range(400)]
        st = t.stats()
        assert [x["kind"] for x in st["tiers"]] == ["dram", "pmem"]
        assert [x["ratio"] for x in st["tiers"]] == [1, 3]
        del bufs


KEEP = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    static char *p[20000];
    unsigned long sum = 0;
    for (int i = 0; i < 20000; i++) {
        p[i] = malloc(64 + (size_t)(i * 131 % 4000));
        memset(p[i], i & 0xff, 64);
    }
    for (int i = 0; i < 20000; i += 3) { free(p[i]); p[i] = NULL; }
    for (int i = 1; i < 20000; i += 3) p[i] = realloc(p[i], 10000);
    for (int i = 0; i < 20000; i++) if (p[i]) sum += (unsigned char)p[i][5];
    printf("%lu\n", sum);
    return 0;
}
"""


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pmalloc", *args], capture_output=True,
                          text=True, timeout=300, env=env)


@needs_preload
def test_tier_preload_runs_programs_as_without_it(c_program, tmp_path, pool_dir):
    src = tmp_path / "keep.c"
    src.write_text(KEEP)
    exe = str(c_program.build(src))
    plain = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    tiered = _cli("run", "--tiers", "DRAM:1,PMEM:4", "--pool-dir", pool_dir, "--stats",
                  "--", exe)
    assert tiered.returncode == plain.returncode == 0, tiered.stderr
    assert tiered.stdout == plain.stdout
    m = re.search(r"DRAM:1 (\d+) bytes PMEM:4 (\d+) bytes", tiered.stderr)
    assert m, tiered.stderr
    dram, pmem = int(m.group(1)), int(m.group(2))
    assert 3.5 < pmem / dram < 4.5, tiered.stderr
    script = "import json; print(len(json.dumps([list(range(50)) for _ in range(20000)])))"
    py_plain = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    py_tiered = _cli("run", "--tiers", "DRAM:1,PMEM:4", "--pool-dir", pool_dir, "--",
                     sys.executable, "-c", script)
    assert py_tiered.returncode == 0 and py_tiered.stdout == py_plain.stdout, py_tiered.stderr


def test_pmalloc_run_checks_the_tiers_itself():
    bad = _cli("run", "--tiers", "DRAM:1,PMM:4", "--", "true")
    assert bad.returncode == 2 and "unknown memory 'PMM'" in bad.stderr
    both = _cli("run", "--tiers", "DRAM:1", "--pool-size", "64M", "--", "true")
    assert both.returncode == 2 and "--tiers takes" in both.stderr


@needs_preload
def test_tier_preload_stops_a_program_with_bad_tiers():
    import os
    from pmalloc.cli import tier_preload_path
    for value, says in (("DRAM:x", "the ratio 'x'"), ("", "PMALLOC_TIERS is not set")):
        env = dict(os.environ, PMALLOC_TIERS=value, LD_PRELOAD=tier_preload_path())
        if not value:
            env.pop("PMALLOC_TIERS")
        r = subprocess.run(["true"], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 127 and says in r.stderr, (value, r.returncode, r.stderr)
