"""The allocator core from C: the programs under tests/alloc/c, compiled against
pmalloc.get_include() / pmalloc.get_library() and run with a timeout.

- vmem_api.c      written only against libvmem's documented API, built with the
                  documented command line as well as strictly;
- vmem_threads.c  8 threads, objects freed (and reallocated) by other threads;
- vmem_churn.c    8 threads replace blocks of 1 B to 1 MiB: no false exhaustion;
- vmem_fork.c     fork while threads allocate; children allocate and free;
- vmem_exhaust.c  fill to ENOMEM, free everything, the same capacity again;
- vmem_purge.c    the pool file's allocated blocks fall after a large free.

Each program prints, per check, what it expected and what it saw; the test shows
that output when the program fails.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import SANITIZED, SANITIZE_FLAGS, run_command

# the sanitizers make everything slower; give the programs room
SLOW = 3 if SANITIZED else 1


def no_files_left(pool_dir: str) -> None:
    left = os.listdir(pool_dir)
    assert left == [], f"pool files are unlinked tmpfiles: expected nothing in {pool_dir}, saw {left}"


def stats_sections(stderr: str) -> list[str]:
    """The text vmem_api.c's default print function wrote between its markers."""
    out = []
    rest = stderr
    while "--- stats to stderr ---\n" in rest:
        _, _, rest = rest.partition("--- stats to stderr ---\n")
        body, _, rest = rest.partition("--- end stats ---\n")
        out.append(body)
    return out


def test_api_program_builds_with_the_documented_command(c_program, pool_dir, tmp_path):
    """gcc -I"$(get_include)" prog.c "$(get_library)" and ./a.out, nothing else."""
    for name in ("vmem_api.c", "check.h"):
        shutil.copy(c_program.path(name), tmp_path / name)
    cmd = ["gcc", f"-I{c_program.include}", "vmem_api.c", c_program.library]
    if SANITIZED:
        cmd[1:1] = SANITIZE_FLAGS
    build = run_command(cmd, timeout=120, cwd=str(tmp_path))
    assert build.returncode == 0, f"expected the documented command to build\n{build.describe()}"
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    run = run_command([str(tmp_path / "a.out"), pool_dir], timeout=60 * SLOW,
                      cwd=str(tmp_path), env=env)
    print(run.stdout)
    run.expect_success()
    sections = stats_sections(run.stderr)
    assert len(sections) == 2 and all(s.strip() for s in sections), (
        f"vmem_stats_print with the default print function: expected statistics on stderr "
        f"twice, saw {[len(s) for s in sections]} bytes\n{run.describe()}")
    no_files_left(pool_dir)


def test_api_program_builds_strictly(c_program, pool_dir):
    run = c_program("vmem_api.c", pool_dir, timeout=60 * SLOW)
    print(run.stdout)
    run.expect_success()
    no_files_left(pool_dir)


@pytest.mark.parametrize("lang,std", [("c", "-std=c99"), ("c", "-std=c11"), ("c++", "-std=c++11")])
def test_headers_stand_alone(c_program, tmp_path, lang, std):
    """Both public headers compile pedantically, alone, in C and in C++."""
    compiler = "g++" if lang == "c++" else "gcc"
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    src = tmp_path / f"headers.{'cc' if lang == 'c++' else 'c'}"
    src.write_text(
        "#include <pmalloc.h>\n#include <libvmem.h>\n#include <pmalloc.h>\n"
        "int main(void) {\n"
        "    struct pmalloc_stats st;\n"
        "    VMEM *v = vmem_create(\"/nonexistent\", VMEM_MIN_POOL);\n"
        "    (void)st; (void)v;\n"
        "    return vmem_check_version(VMEM_MAJOR_VERSION, VMEM_MINOR_VERSION) != 0;\n"
        "}\n")
    cmd = [compiler, std, "-Wall", "-Wextra", "-Wpedantic", "-Werror",
           f"-I{c_program.include}", "-c", str(src), "-o", str(tmp_path / "headers.o")]
    run = run_command(cmd, timeout=60)
    assert run.returncode == 0, f"expected the headers to compile cleanly\n{run.describe()}"


def test_threads_with_cross_thread_frees(c_program, pool_dir):
    iterations = "8000" if SANITIZED else "20000"
    run = c_program("vmem_threads.c", pool_dir, iterations, timeout=60 * SLOW)
    print(run.stdout)
    run.expect_success()
    no_files_left(pool_dir)


@pytest.mark.slow
def test_threads_churn_without_false_exhaustion(c_program, pool_dir):
    steps = "15000" if SANITIZED else "60000"
    run = c_program("vmem_churn.c", pool_dir, steps, timeout=90 * SLOW)
    print(run.stdout)
    run.expect_success()
    no_files_left(pool_dir)


@pytest.mark.slow
@pytest.mark.parametrize("children_use", ["own-pool", "inherited"])
def test_fork_while_threads_allocate(c_program, pool_dir, children_use):
    run = c_program("vmem_fork.c", pool_dir, "16", children_use, timeout=150 * SLOW)
    print(run.stdout)
    run.expect_success()
    no_files_left(pool_dir)


PINNED = pytest.mark.xfail(strict=True, reason=(
    "known limitation: objects left in the thread's cache pin a few slabs while the first "
    "large blocks are placed, so without a purge the large capacity falls short; the "
    "reclaim on ENOMEM comes after the placement (see the issue 2 note)"))


@pytest.mark.parametrize("part", ["same-class", "other-class-after-purge",
                                  pytest.param("other-class", marks=PINNED)])
def test_exhaustion_and_recovery(c_program, pool_dir, part):
    """same-class: fill, free, fill one size; other-class: large and huge capacity after
    small objects were all freed, with pmalloc_vmem_purge between or with no call."""
    run = c_program("vmem_exhaust.c", pool_dir, part, timeout=60 * SLOW)
    print(run.stdout)
    run.expect_success()
    no_files_left(pool_dir)


def test_pool_file_shrinks_after_a_large_free(c_program, pool_dir):
    run = c_program("vmem_purge.c", pool_dir, timeout=90 * SLOW)
    print(run.stdout)
    run.expect_success()
    no_files_left(pool_dir)


def test_compiler_is_gcc_with_the_sanitizers_when_asked():
    """PMALLOC_SANITIZED=1 only makes sense with the ASan runtime loaded into this process."""
    if not SANITIZED:
        pytest.skip("not the sanitized run")
    preload = os.environ.get("LD_PRELOAD", "")
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True).stdout.strip()
    assert "libasan" in preload, (
        f"PMALLOC_SANITIZED=1: expected LD_PRELOAD to hold the ASan runtime ({libasan}), "
        f"saw {preload!r}")
