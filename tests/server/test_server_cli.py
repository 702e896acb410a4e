"""`pmalloc kv-server` as a program (issue 14): --help; a new pool of --size; files that are
not its pools refused with one line on stderr, exit 1, the file unchanged; a port already
taken and a pool already served refused the same way; SIGTERM and SIGINT end it with exit 0
(clients connected or not), and the data is there at the next start."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from .conftest import (SERVER_CMD, MiB, Exited, RespConn, Simple, encode, pmalloc_only,
                       run_server)

@pytest.fixture(autouse=True)
def _ours():
    pmalloc_only("the kv-server program")


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def refused(run: Exited, *naming: str) -> str:
    """run exited 1 with one line on stderr (containing each of naming), nothing on
    stdout, no traceback; the line."""
    assert run.returncode == 1, f"expected exit status 1, saw:\n{run.describe()}"
    assert run.stdout == "", f"expected nothing on stdout:\n{run.describe()}"
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, (
        f"expected one line on stderr:\n{run.describe()}")
    for word in naming:
        assert word in lines[0], f"expected stderr to name {word!r}:\n{run.describe()}"
    return lines[0]


def test_help():
    run = subprocess.run([*SERVER_CMD, "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    for option in ("--pool", "--size", "--port", "--bind", "--max-bulk"):
        assert option in run.stdout, f"expected --help to mention {option}:\n{run.stdout}"


def test_pool_is_required():
    run = subprocess.run([*SERVER_CMD, "--port", "0"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode != 0 and "--pool" in run.stderr and "Traceback" not in run.stderr


def test_new_pool_of_the_given_size(servers, pool_dir):
    for size, text in ((16 * MiB, "16M"), (32 * MiB, "32768K")):
        path = os.path.join(pool_dir, f"{text}.pool")
        s = servers.start(path, "--size", text)
        assert (s.host, s.process.poll()) == ("127.0.0.1", None)
        s.stop()
        assert os.path.getsize(path) == size, f"--size {text}: a file of {os.path.getsize(path)}"
        os.unlink(path)


def test_size_of_an_existing_pool_is_kept(servers, pool_path):
    s = servers.start(pool_path, "--size", "16M")
    s.client().set("k", "v")
    s = servers.restart(s, "--size", "64M")     # --size is for a new pool only
    assert s.client().get("k") == b"v"
    s.stop()
    assert os.path.getsize(pool_path) == 16 * MiB


def test_unusable_sizes_and_paths(pool_dir):
    refused(run_server(os.path.join(pool_dir, "tiny.pool"), "--size", "1K"))
    refused(run_server(os.path.join(pool_dir, "no", "such", "dir.pool")), "no/such/dir.pool")
    refused(run_server(pool_dir), pool_dir)


# ---- files that are not kv-server pools --------------------------------------------------------

def _random_bytes(path: str, made: str) -> None:
    with open(path, "wb") as f:
        f.write(os.urandom(4 * MiB))


def _text(path: str, made: str) -> None:
    with open(path, "w") as f:
        f.write("not a pool\n" * 100_000)


def _other_layout(path: str, made: str) -> None:
    from pmalloc.obj import ObjPool
    ObjPool.create(path, layout="some-other-app", size=16 * MiB).close()


def _obj_without_root(path: str, made: str) -> None:
    from pmalloc.obj import ObjPool
    ObjPool.create(path, layout="pmalloc-kv", size=16 * MiB).close()


def _log_pool(path: str, made: str) -> None:
    from pmalloc.log import Log
    Log.create(path, 16 * MiB).close()


def _blk_pool(path: str, made: str) -> None:
    from pmalloc.blk import BlockPool
    BlockPool.create(path, bsize=4096, size=32 * MiB).close()


def _truncated(size: int):
    def make(path: str, made: str) -> None:
        shutil.copy(made, path)
        os.truncate(path, size)
    return make


def _extended(path: str, made: str) -> None:
    shutil.copy(made, path)
    os.truncate(path, os.path.getsize(made) + MiB)


def _flipped(offset: int):
    def make(path: str, made: str) -> None:
        shutil.copy(made, path)
        with open(path, "r+b") as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0x5A]))
    return make


def _bad_root(path: str, made: str) -> None:
    """A pool of the right layout whose root (the store's signature) is overwritten."""
    from pmalloc.obj import ObjPool
    shutil.copy(made, path)
    with ObjPool.open(path, "pmalloc-kv") as pool:
        root = pool.root()
        with pool.transaction() as tx:
            tx.add(root)
            with memoryview(root) as m:
                m[:16] = b"\xde\xad" * 8
        del root


FOREIGN = {
    "random bytes": _random_bytes,
    "a text file": _text,
    "an obj pool of another layout": _other_layout,
    "an obj pool of our layout without a root": _obj_without_root,
    "a log pool": _log_pool,
    "a blk pool": _blk_pool,
    "truncated to 4 KiB": _truncated(4096),
    "truncated to 1 MiB": _truncated(MiB),
    "truncated by one page": _truncated(16 * MiB - 4096),
    "extended by 1 MiB": _extended,
    "a flipped byte in the header's layout name": _flipped(30),
    "a flipped byte in the header's signature": _flipped(2),
    "a flipped byte in the pool state": _flipped(8192),
    "an overwritten root": _bad_root,
}


@pytest.fixture(scope="module")
def made_pool(tmp_path_factory) -> str:
    """A kv-server pool of 16 MiB holding a few keys, made by the server."""
    from .conftest import start_server
    path = str(tmp_path_factory.mktemp("made") / "made.pool")
    s = start_server(path, "--size", "16M")
    c = s.client()
    c.set("k", "v")
    c.rpush("l", "a", "b")
    c.close()
    s.stop()
    return path


@pytest.mark.parametrize("what", sorted(FOREIGN))
def test_foreign_pool_refused(pool_dir, made_pool, what):
    path = os.path.join(pool_dir, "foreign.pool")
    FOREIGN[what](path, made_pool)
    before = (os.path.getsize(path), digest(path))
    line = refused(run_server(path), path)
    assert line.startswith("pmalloc kv-server: "), line
    assert (os.path.getsize(path), digest(path)) == before, (
        f"{what}: expected the file unchanged, it changed (size {before[0]} -> "
        f"{os.path.getsize(path)})")


def test_made_pool_is_served(servers, pool_dir, made_pool):
    path = os.path.join(pool_dir, "copy.pool")
    shutil.copy(made_pool, path)
    c = servers.start(path).client()
    assert c.get("k") == b"v" and c.lrange("l", 0, -1) == [b"a", b"b"]
    c.close()


# ---- the port, the lock ------------------------------------------------------------------

def test_port_taken(servers, pool_path):
    s = servers.start(pool_path)
    s.client().set("k", "v")
    s.stop()
    before = digest(pool_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused(run_server(pool_path, port=str(port)), str(port))
    assert digest(pool_path) == before, "a refused start changed the pool"
    s = servers.start(pool_path)
    assert s.client().get("k") == b"v"


def test_port_taken_by_another_server(servers, pool_dir):
    first = servers.start(os.path.join(pool_dir, "a.pool"))
    refused(run_server(os.path.join(pool_dir, "b.pool"), port=str(first.port)),
            str(first.port))
    first.ping()


def test_second_server_on_the_same_pool(servers, pool_path):
    first = servers.start(pool_path)
    c = first.client()
    c.set("k", "v")
    line = refused(run_server(pool_path), pool_path)
    assert "lock" in line.lower() or "open" in line.lower(), line
    assert c.incr("n") == 1 and c.get("k") == b"v"      # the first one goes on
    c.close()
    first.ping()
    second = servers.restart(first)                      # the lock goes with the first
    assert second.client().get("n") == b"1"


# ---- signals -------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(servers, pool_path, sig):
    s = servers.start(pool_path)
    c = s.client()
    c.set("k", "v")
    c.rpush("l", *range(100))
    c.close()
    s.stop(sig)                                          # exit 0, nothing more on stdout
    s = servers.start(pool_path)
    c = s.client()
    assert c.get("k") == b"v" and c.llen("l") == 100
    c.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_with_clients_connected(servers, pool_path, sig):
    """Idle clients, a client in the middle of a command, one that owes 64 MiB of replies
    it does not read, clients writing in a loop: the server still exits 0, and every write
    a client saw acknowledged is there after."""
    s = servers.start(pool_path)
    idle = [s.conn() for _ in range(10)]
    partial = s.conn()
    partial.send(b"*3\r\n$3\r\nSET\r\n$7\r\npartial\r\n$100\r\nabc")
    stuck = s.conn()
    assert stuck.call("SET", "big", b"b" * MiB) == Simple(b"OK")
    stuck.send(encode("GET", "big") * 64)
    acked = [0] * 4
    started = threading.Barrier(5, timeout=60)

    def writer(t: int) -> None:
        with RespConn(s.host, s.port) as c:
            started.wait()
            try:
                while True:
                    if c.call("INCR", f"w{t}") != acked[t] + 1:
                        return
                    acked[t] += 1
            except Exception:  # noqa: BLE001 - the server went away: expected
                return

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    started.wait()
    deadline = time.monotonic() + 60
    while min(acked) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert min(acked) >= 10, f"expected every writer to get going, saw {acked}"
    s.stop(sig)
    for th in threads:
        th.join(60)
    for c in [*idle, partial, stuck]:
        replies, rest, closed = c.read_until_closed(timeout=10)
        assert closed, "expected the server to close every connection when it stopped"
        c.close()
    s = servers.start(pool_path)
    c = s.client()
    for t in range(4):
        got = int(c.get(f"w{t}"))
        assert got in (acked[t], acked[t] + 1), (
            f"writer {t}: expected {acked[t]} acknowledged INCRs (or one more), saw {got}")
    assert c.exists("partial") == 0
    c.close()


def test_sigterm_right_after_start(servers, pool_path):
    for _ in range(3):
        s = servers.start(pool_path)
        s.stop()


def test_ready_line_and_bind(servers, pool_path):
    s = servers.start(pool_path, "--bind", "127.0.0.1")
    assert s.host == "127.0.0.1" and s.port > 0
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(encode("PING"))
        assert sock.recv(100) == b"+PONG\r\n"
    assert s.started_in > 0


def test_module_entry_point_matches_console_script(pool_dir):
    """`python -m pmalloc kv-server` and the `pmalloc` console script are one program."""
    script = os.path.join(os.path.dirname(sys.executable), "pmalloc")
    if not os.path.exists(script):
        pytest.skip("no pmalloc console script next to this Python")
    run = subprocess.run([script, "kv-server", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and "--max-bulk" in run.stdout, run.stderr
