"""libpmem's C API through a C program: built against pmalloc, and unchanged against PMDK."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import SANITIZED, STRICT_FLAGS, run_command

HERE = Path(__file__).parent


def test_pmem_api_against_pmalloc(c_program, pool_dir):
    run = c_program("pmem_api.c", pool_dir, timeout=120)
    run.expect_success()
    assert "all passed" in run.stdout, run.describe()


def _pmdk_available() -> bool:
    if shutil.which("gcc") is None:
        return False
    probe = subprocess.run(["gcc", "-print-file-name=libpmem.so"], capture_output=True,
                           text=True)
    return Path("/usr/include/libpmem.h").exists() and Path(probe.stdout.strip()).exists()


@pytest.mark.skipif(SANITIZED or not _pmdk_available(),
                    reason="needs Debian's libpmem-dev (and an unsanitized run)")
def test_same_program_passes_against_pmdk(tmp_path, pool_dir):
    """The expectations in pmem_api.c are PMDK's behaviour, not only ours."""
    exe = tmp_path / "pmem_api_pmdk"
    build = run_command(["gcc", *STRICT_FLAGS, str(HERE / "c" / "pmem_api.c"), "-lpmem",
                         "-o", str(exe)], timeout=120)
    build.expect_success()
    run_command([str(exe), pool_dir], timeout=120).expect_success()
