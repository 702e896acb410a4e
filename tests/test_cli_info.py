"""`pmalloc info`: what libpmem chose on this CPU (flush instruction, non-temporal copy loops)
and the DAX file systems mounted, in text and as JSON."""
from __future__ import annotations

import json
import shlex

import pytest

from pmalloc import cli, pmem
from shim_support import plain_env, pmalloc_cli, run

# A mount table with two DAX file systems (one by the old option, one by dax=always, one
# with a space in its mount point) and two that are not DAX.
MOUNTS = """\
/dev/pmem0 /mnt/pmem0 ext4 rw,relatime,dax 0 0
/dev/pmem1 /mnt/pmem\\040one xfs rw,relatime,dax=always 0 0
/dev/pmem2 /mnt/pmem2 xfs rw,relatime,dax=inode 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
"""
DAX = ["/mnt/pmem0", "/mnt/pmem one"]


def info_lines(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, str]:
    """`pmalloc info` in text: each line's key -> the rest of the line."""
    assert cli.main(["info", *argv]) == 0
    out = capsys.readouterr().out
    lines = {}
    for line in out.splitlines():
        key, _, value = line.partition("  ")
        lines[key] = value.strip()
    return lines


def info_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert cli.main(["info", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def mounts(tmp_path, monkeypatch):
    path = tmp_path / "mounts"
    path.write_text(MOUNTS)
    monkeypatch.setattr(cli, "PROC_MOUNTS", str(path))
    return path


def test_info_text_names_flush_and_copy_path(capsys) -> None:
    chosen = pmem.info()
    got = info_lines(capsys)
    for key in ("flush", "deep_flush", "movnt"):
        assert got.get(key) == chosen[key], f"{key}: expected {chosen[key]!r}, saw {got.get(key)!r}"
    assert got.get("movnt_threshold") == str(chosen["movnt_threshold"]), got
    assert got["flush"] in ("clwb", "clflushopt", "clflush", "none"), got
    assert got["movnt"] in ("avx512f", "avx", "sse2", "none"), got


def test_info_json_names_flush_and_copy_path(capsys) -> None:
    chosen = pmem.info()
    got = info_json(capsys)
    expected = {key: chosen[key] for key in ("flush", "deep_flush", "movnt", "movnt_threshold")}
    seen = {key: got.get(key) for key in expected}
    assert seen == expected, f"expected {expected}, saw {seen}"
    assert isinstance(got["dax_mounts"], list), got


def test_info_lists_dax_mounts(mounts, capsys) -> None:
    got = info_json(capsys)
    assert got["dax_mounts"] == DAX, f"expected {DAX}, saw {got['dax_mounts']}"
    text = info_lines(capsys)
    assert text["dax_mounts"] == shlex.join(DAX), (
        f"expected {shlex.join(DAX)!r}, saw {text['dax_mounts']!r}")


def test_info_without_dax_mounts(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "mounts").write_text("tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n")
    monkeypatch.setattr(cli, "PROC_MOUNTS", str(tmp_path / "mounts"))
    assert info_json(capsys)["dax_mounts"] == []
    assert info_lines(capsys)["dax_mounts"] == "none"
    monkeypatch.setattr(cli, "PROC_MOUNTS", str(tmp_path / "unreadable"))
    assert info_json(capsys)["dax_mounts"] == []


def test_info_follows_the_pmem_switches() -> None:
    """A process started with PMEM_NO_FLUSH, PMEM_NO_MOVNT and a threshold reports them:
    info shows what the library chose, not what the CPU could do."""
    env = plain_env(PMEM_NO_FLUSH="1", PMEM_NO_MOVNT="1", PMEM_MOVNT_THRESHOLD="1000")
    r = run([*pmalloc_cli(), "info", "--json"], env=env).expect()
    got = json.loads(r.stdout)
    seen = {key: got.get(key) for key in ("flush", "movnt", "movnt_threshold")}
    expected = {"flush": "none", "movnt": "none", "movnt_threshold": 1000}
    assert seen == expected, f"expected {expected}, saw {seen}\n{r.describe()}"
    assert got["deep_flush"] == pmem.info()["deep_flush"], r.describe()
