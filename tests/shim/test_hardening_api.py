"""`pmalloc run`, from the hardening probe: it gives the command a shell's signal
dispositions (6) and accepts the smallest pool (17). The CLI's own option checks are in
tests/test_hardening_api.py.
"""
from __future__ import annotations

import signal
import subprocess

import pytest

from pmalloc.vmem import MIN_POOL_SIZE
from shim_support import SANITIZED, pmalloc_cli, plain_env, run

no_run_under_asan = pytest.mark.skipif(
    SANITIZED, reason="pmalloc run puts the shim before the ASan runtime in LD_PRELOAD")


# ---- 6. `pmalloc run` gives the command a shell's signal dispositions ---------------------------

@no_run_under_asan
def test_run_leaves_sigpipe_to_the_command(pool_dir: str) -> None:
    r = run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--", "bash", "-c",
             "yes | head -1; echo ${PIPESTATUS[0]}"], env=plain_env()).expect(0)
    assert r.stdout == "y\n141\n", (
        f"expected yes to die of SIGPIPE (status 141), saw\n{r.describe()}")
    assert "Broken pipe" not in r.stderr, r.describe()


def _signal_lines(cmd: list[str], ignore: tuple[int, ...]) -> list[str]:
    def start() -> None:
        for sig in ignore:
            signal.signal(sig, signal.SIG_IGN)
    proc = subprocess.run(cmd, env=plain_env(), capture_output=True, text=True, timeout=60,
                          preexec_fn=start)
    assert proc.returncode == 0, f"{cmd}: status {proc.returncode}\n{proc.stderr}"
    return proc.stdout.splitlines()


@no_run_under_asan
@pytest.mark.parametrize("ignored", [(), (signal.SIGINT, signal.SIGQUIT)],
                         ids=["nothing-ignored", "started-with-SIGINT-SIGQUIT-ignored"])
def test_run_signal_dispositions_match_a_plain_shell(pool_dir: str, ignored: tuple) -> None:
    show = ["sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status"]
    plain = _signal_lines(show, ignored)
    under = _signal_lines([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--", *show], ignored)
    assert under == plain, f"expected the dispositions of a plain shell {plain}, saw {under}"


# ---- 17. the smallest pool ------------------------------------------------------------------

@no_run_under_asan
def test_run_accepts_the_smallest_pool(pool_dir: str) -> None:
    run([*pmalloc_cli(), "run", "--pool-dir", pool_dir, "--pool-size", str(MIN_POOL_SIZE), "--",
         "true"], env=plain_env()).expect(0)
