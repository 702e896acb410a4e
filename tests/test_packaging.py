"""The source distribution: `python -m build --sdist` from the files of a fresh checkout makes
it with no warning about the license, it carries what a build needs (native/ with its linker
maps and cdef, the headers, LICENSE), and `pip install` of it into a new venv gives a working
pmalloc: a Pool, malloc and free, `python -m pmalloc info`."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tarfile
import venv
from pathlib import Path

import pytest

from conftest import SANITIZED, Run, run_command

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(SANITIZED, reason="packaging is the same in the sanitized run; the "
                       "build there would run under the preloaded ASan runtime"),
]

# What a tree has that is no source: build products, caches, venvs (as .gitignore says).
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "*.so",
                                     "*.o", "__pycache__", "*.py[cod]", ".pytest_cache",
                                     ".hypothesis", ".benchmarks", "_native.c")

SMOKE = """
import json, sys
import pmalloc
from pmalloc.vmem import Pool
assert pmalloc.__file__.startswith(sys.prefix), pmalloc.__file__
with Pool(size=32 << 20) as pool:
    buf = pool.malloc(1000)
    memoryview(buf)[:5] = b"hello"
    assert bytes(buf)[:5] == b"hello"
    buf.free()
    ok = pool.check()
print(json.dumps({"file": pmalloc.__file__, "check": ok}))
"""


def build_requires() -> list[str]:
    """pyproject.toml's [build-system] requires (no toml parser before Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = re.search(r"^\[build-system\]\n(.*?)(?=^\[)", text, re.M | re.S).group(1)
    listed = re.search(r"^requires\s*=\s*\[(.*?)\]", section, re.M | re.S).group(1)
    return re.findall(r'"([^"]+)"', listed)


def checkout_files() -> list[str]:
    """The files of a fresh checkout (git's tracked and not-ignored ones); none outside git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return [f for f in out.stdout.decode().split("\0") if f and (ROOT / f).is_file()]


def copy_checkout(dest: Path) -> None:
    files = checkout_files()
    if not files:  # not a git checkout (an unpacked sdist, say)
        shutil.copytree(ROOT, dest, ignore=_NOT_SOURCE)
        shutil.rmtree(dest / "pmalloc" / "include", ignore_errors=True)  # build_ext's copy
        return
    for name in files:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)


def clean_env() -> dict[str, str]:
    """This environment less what would change the build or the interpreter."""
    drop = ("PMALLOC_SANITIZE", "PMALLOC_SANITIZED", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME",
            "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop}


@dataclasses.dataclass
class Installed:
    """An sdist built from a copy of the checkout, and a new venv it was installed into."""
    sdist: Path
    built: Run     # python -m build --sdist
    python: str    # the venv's
    env: dict[str, str]
    work: Path     # a directory with no pmalloc in it, to run from


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("packaging")
    src, dist, env_dir = work / "src", work / "dist", work / "venv"
    copy_checkout(src)
    venv.create(env_dir, with_pip=True, clear=True)
    python = str(env_dir / "bin" / "python")
    env = clean_env()

    # The build tools once, from the index (or pip's cache); then no build isolation.
    run_command([python, "-m", "pip", "install", "-q", "build", *build_requires()],
                timeout=300, env=env).expect_success()
    built = run_command([python, "-m", "build", "--sdist", "--no-isolation", "--outdir",
                         str(dist), str(src)], timeout=300, env=env).expect_success()
    sdists = sorted(dist.glob("pmalloc-*.tar.gz"))
    assert len(sdists) == 1, f"expected one sdist in {dist}, saw {sdists}\n{built.describe()}"
    run_command([python, "-m", "pip", "install", "-q", "--no-build-isolation", str(sdists[0])],
                timeout=600, env=env, cwd=str(work)).expect_success()
    return Installed(sdists[0], built, python, env, work)


def test_sdist_builds_without_license_warnings(installed: Installed) -> None:
    built = installed.built
    output = built.stdout + built.stderr
    warned = [line for line in output.splitlines()
              if re.search(r"warn|deprecat", line, re.I) and re.search(r"licen[cs]e", line, re.I)]
    assert not warned, "expected no warning about the license, saw:\n" + "\n".join(warned)
    assert "SetuptoolsDeprecationWarning" not in output, built.describe()


def test_sdist_has_what_a_build_needs(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        pkg_info = tar.extractfile(f"{top}/PKG-INFO").read().decode()
    needed = {"LICENSE", "README.md", "pyproject.toml", "setup.py", "MANIFEST.in",
              "pmalloc/_build.py", "pmalloc/py.typed"}
    needed |= {str(p.relative_to(ROOT)) for p in (ROOT / "native").rglob("*") if p.is_file()}
    needed |= {str(p.relative_to(ROOT)) for p in (ROOT / "bench" / "src").glob("*.[ch]")}
    missing = sorted(needed - names)
    assert not missing, f"expected the sdist to carry {missing}; it has {sorted(names)}"
    for kind in (".map", ".cdef", ".h", ".c"):
        assert any(n.startswith("native/") and n.endswith(kind) for n in names), (
            f"expected native/*{kind} files in the sdist, saw {sorted(names)}")
    assert not any(n.endswith((".so", ".o", ".pyc")) for n in names), sorted(names)
    assert "License-Expression: BSD-3-Clause" in pkg_info, pkg_info
    assert "License-File: LICENSE" in pkg_info, pkg_info


def test_installed_from_sdist_works(installed: Installed) -> None:
    python, env, work = installed.python, installed.env, installed.work
    smoke = run_command([python, "-I", "-c", SMOKE], timeout=120, env=env,
                        cwd=str(work)).expect_success()
    got = json.loads(smoke.stdout.splitlines()[-1])
    assert got["check"] is True, smoke.describe()
    info = run_command([python, "-I", "-m", "pmalloc", "info", "--json"], timeout=120,
                       env=env, cwd=str(work)).expect_success()
    report = json.loads(info.stdout)
    prefix = str(Path(python).parent.parent)
    for key in ("library", "preload", "include"):
        assert report[key].startswith(prefix) and os.path.exists(report[key]), (
            f"expected {key} inside the new venv ({prefix}), saw {report[key]!r}")
    assert report["flush"] in ("clwb", "clflushopt", "clflush", "none"), info.describe()
    text = run_command([python, "-I", "-m", "pmalloc", "info"], timeout=120, env=env,
                       cwd=str(work)).expect_success()
    assert re.search(r"^movnt\s+\S+", text.stdout, re.M), text.describe()


def test_installed_carries_the_license(installed: Installed) -> None:
    python, env, work = installed.python, installed.env, installed.work
    r = run_command([python, "-I", "-c", "from importlib import metadata as m\n"
                     "d = m.distribution('pmalloc')\n"
                     "print(d.metadata['License-Expression'])\n"
                     "print(any(str(f).endswith('LICENSE') for f in d.files))"],
                    timeout=60, env=env, cwd=str(work)).expect_success()
    assert r.stdout.split() == ["BSD-3-Clause", "True"], r.describe()


def test_installed_runs_pmalloc_bench(installed: Installed) -> None:
    """The drivers' sources ship in the package and build where it is installed, outside it."""
    python, env, work = installed.python, installed.env, installed.work
    r = run_command([python, "-I", "-m", "pmalloc", "bench", "--quick", "--workloads", "small",
                     "--contenders", "glibc,pmalloc", "--json"], timeout=300, env=env,
                    cwd=str(work)).expect_success()
    figures = json.loads(r.stdout)
    assert figures["medians"]["small"]["pmalloc"]["rate"] > 0, r.describe()
    prefix = str(Path(python).parent.parent)
    build = figures["builds"]["driver-vmem"]
    assert f"{prefix}/" in build and "/pmalloc/bench/src/driver.c" in build, build
    assert f"-o {prefix}" not in build, f"expected the driver built outside the venv: {build}"
