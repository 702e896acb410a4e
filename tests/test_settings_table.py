"""The one settings table: what the C library reads, shown to Python as it resolved it."""
from __future__ import annotations

import os

import pytest

from pmalloc import cli, settings
from pmalloc.errors import InvalidArgumentError


def test_every_variable_is_in_the_table() -> None:
    names = set(settings.settings())
    for name in ("PMALLOC_POOL_DIR", "PMALLOC_POOL_SIZE", "PMALLOC_FORK", "PMALLOC_DECAY_MS",
                 "PMALLOC_FALLBACK", "PMALLOC_STATS", "PMEM_IS_PMEM_FORCE", "PMEM_NO_CLWB",
                 "PMEM_NO_CLFLUSHOPT", "PMEM_NO_FLUSH", "PMEM_NO_MOVNT", "PMEM_AVX",
                 "PMEM_AVX512F", "PMEM_MOVNT_THRESHOLD"):
        assert name in names, f"{name} missing from {sorted(names)}"
    aliases = {s.alias for s in settings.settings().values()}
    assert {"VMMALLOC_POOL_DIR", "VMMALLOC_POOL_SIZE", "VMMALLOC_FORK"} <= aliases


def test_read_once_until_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    before = settings.value("PMALLOC_DECAY_MS")
    monkeypatch.setenv("PMALLOC_DECAY_MS", "1234")
    assert settings.value("PMALLOC_DECAY_MS") == before, "read once, at first use"
    settings.reload()
    s = settings.settings()["PMALLOC_DECAY_MS"]
    assert (s.value, s.raw, s.source, s.error) == ("1234", "1234", "PMALLOC_DECAY_MS", None)


def test_strict_bad_value_is_reported_and_default_stays(monkeypatch) -> None:
    monkeypatch.setenv("PMALLOC_DECAY_MS", "soon")
    settings.reload()
    s = settings.settings()["PMALLOC_DECAY_MS"]
    assert s.strict and s.value == "10000" and s.raw == "soon"
    assert s.error and "expected milliseconds" in s.error


def test_lenient_bad_value_is_ignored_as_pmdk_does(monkeypatch) -> None:
    monkeypatch.setenv("PMEM_NO_FLUSH", "yes")
    settings.reload()
    s = settings.settings()["PMEM_NO_FLUSH"]
    assert not s.strict and s.value == "-1" and s.error


def test_alias_is_read_when_ours_is_unset(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("PMALLOC_POOL_SIZE", raising=False)
    monkeypatch.setenv("VMMALLOC_POOL_SIZE", "64M")
    settings.reload()
    s = settings.settings()["PMALLOC_POOL_SIZE"]
    assert (s.value, s.source) == (str(64 << 20), "VMMALLOC_POOL_SIZE")
    monkeypatch.setenv("PMALLOC_POOL_SIZE", "32M")
    settings.reload()
    assert settings.settings()["PMALLOC_POOL_SIZE"].source == "PMALLOC_POOL_SIZE"


def test_default_pool_size_is_bounded_by_the_directory(monkeypatch) -> None:
    monkeypatch.delenv("PMALLOC_POOL_SIZE", raising=False)
    monkeypatch.delenv("VMMALLOC_POOL_SIZE", raising=False)
    settings.reload()
    size = int(settings.value("PMALLOC_POOL_SIZE"))
    st = os.statvfs(settings.default_pool_dir())
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGESIZE")
    assert size >= 14 << 20
    assert size <= max(memory, 14 << 20)
    # free space moves while the suite runs: compare with a generous margin
    assert size <= max(st.f_bavail * st.f_frsize * 2, 14 << 20)


@pytest.mark.parametrize("text,value", [("0", 0), ("4096", 4096), ("64M", 64 << 20),
                                        ("64MiB", 64 << 20), ("2g", 2 << 30), ("1KB", 1024),
                                        ("3T", 3 << 40)])
def test_parse_size(text: str, value: int) -> None:
    assert settings.parse_size(text) == value
    assert cli.parse_size(text) == value, "the CLI uses the same parser"


@pytest.mark.parametrize("text", ["", "M", "-1", "+1", " 1", "1X", "1.5G", "1 M",
                                  "99999999999T", "18446744073709551616", "1\0"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        settings.parse_size(text)
