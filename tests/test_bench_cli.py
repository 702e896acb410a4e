"""`pmalloc bench`: one command builds the drivers, finds the allocators installed here, runs
the workloads and prints medians and ratios; --json, --plot; an anchor that is missing is
skipped, naming its Debian package. Quick runs only: the figures themselves are never
asserted. bench/run.py is a thin caller of the same code."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SANITIZED
from pmalloc import cli

ROOT = Path(__file__).resolve().parent.parent
# The Debian packages of the anchors (bench/setup.sh installs them).
PACKAGES = {"jemalloc": "libjemalloc2", "mimalloc": "libmimalloc2.0",
            "tcmalloc": "libtcmalloc-minimal4", "memkind": "libmemkind-dev"}

pytestmark = pytest.mark.skipif(SANITIZED, reason="the drivers link libpmalloc.so, which "
                                "needs the ASan runtime first in a sanitized build")


def bench(capsys: pytest.CaptureFixture[str], pool_dir: str, *argv: str,
          expect: int = 0) -> tuple[str, str]:
    """`pmalloc bench --quick --workloads small ...`: (stdout, stderr)."""
    rc = cli.main(["bench", "--quick", "--workloads", "small", "--pool-dir", pool_dir, *argv])
    out, err = capsys.readouterr()
    assert rc == expect, f"expected exit {expect}, saw {rc}\nstdout:\n{out}\nstderr:\n{err}"
    return out, err


def header(out: str) -> list[str]:
    """The columns of the throughput table."""
    line = next(ln for ln in out.splitlines() if ln.startswith("| workload | unit |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_quick_run_prints_a_table_with_pmalloc(capsys: pytest.CaptureFixture[str],
                                               pool_dir: str) -> None:
    out, err = bench(capsys, pool_dir)
    columns = header(out)
    assert {"glibc", "pmalloc", "pmalloc-shim"} <= set(columns), columns
    row = next(ln for ln in out.splitlines() if ln.startswith("| small |"))
    assert "Mpairs/s" in row and "failed" not in row, out
    assert "[small 1/1] pmalloc" in err, f"expected progress on stderr, saw:\n{err}"
    skipped = [n for n in PACKAGES if n not in columns]
    for name in skipped:  # whatever is not installed here is said, with its package
        assert f"skip {name}:" in err and PACKAGES[name] in err, err


def test_json_gives_the_figures(capsys: pytest.CaptureFixture[str], pool_dir: str) -> None:
    out, _ = bench(capsys, pool_dir, "--contenders", "glibc,pmalloc", "--json")
    figures = json.loads(out)
    rate = figures["medians"]["small"]["pmalloc"]["rate"]
    assert isinstance(rate, float) and rate > 0, figures["medians"]
    assert figures["ratios"]["small"]["glibc"] > 0, figures["ratios"]
    assert len(figures["samples"]["small"]["glibc"]) == figures["reps"]["small"] == 1
    assert set(figures["contenders"]) == {"glibc", "pmalloc"}, figures["contenders"]


def test_missing_anchors_name_their_packages(capsys: pytest.CaptureFixture[str],
                                             pool_dir: str, tmp_path: Path) -> None:
    out, err = bench(capsys, pool_dir, "--lib-dir", str(tmp_path))  # no anchor in it
    assert "pmalloc" in header(out), out
    for name, package in PACKAGES.items():
        assert f"skip {name}:" in err and package in err, (
            f"expected {name} skipped naming {package}, saw:\n{err}")
    last = err.strip().splitlines()[-1]
    assert last.startswith("skipped jemalloc, mimalloc, tcmalloc, memkind: not installed"), err
    assert "apt-get install " + " ".join(PACKAGES.values()) in last, last


def test_a_named_contender_that_is_missing(capsys: pytest.CaptureFixture[str], pool_dir: str,
                                           tmp_path: Path) -> None:
    out, _ = bench(capsys, pool_dir, "--lib-dir", str(tmp_path), "--contenders",
                   "jemalloc,pmalloc", "--json")
    contenders = json.loads(out)["contenders"]
    assert contenders["jemalloc"]["install"] == "libjemalloc2", contenders
    assert contenders["pmalloc"]["skipped"] is None, contenders


@pytest.mark.parametrize("name, magic", [("out.png", b"\x89PNG"), ("out.svg", b"<svg")])
def test_plot_writes_the_chart(capsys: pytest.CaptureFixture[str], pool_dir: str,
                               tmp_path: Path, name: str, magic: bytes) -> None:
    pytest.importorskip("matplotlib")
    chart = tmp_path / name
    bench(capsys, pool_dir, "--contenders", "glibc,pmalloc", "--plot", str(chart))
    assert chart.exists() and magic in chart.read_bytes()[:400], f"no chart in {chart}"


def test_plot_without_matplotlib_says_how_to_install(capsys: pytest.CaptureFixture[str],
                                                     pool_dir: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    out, err = bench(capsys, pool_dir, "--plot", str(tmp_path / "out.png"), expect=1)
    assert "pip install 'pmalloc[bench]'" in err, err
    assert not out and "[small" not in err, f"expected no run, saw:\n{out}{err}"


@pytest.mark.parametrize("argv", [["--contenders", "nosuch"], ["--workloads", "nosuch"],
                                  ["--plot", "chart.pdf"], ["--reps", "0"]])
def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str],
                                      argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", *argv])
    assert exc.value.code == 2, capsys.readouterr().err


@pytest.mark.skipif(not (ROOT / "bench" / "run.py").exists(), reason="not a checkout")
def test_bench_run_py_calls_the_same_code(pool_dir: str) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only",
                        "small", "--contenders", "glibc,pmalloc", "--pool-dir", pool_dir,
                        "--python", sys.executable, "--no-write"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "| small | Mpairs/s |" in r.stdout and "Targets:" in r.stdout, r.stdout
