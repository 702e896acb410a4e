"""Fixtures of the kv-server tests (tests/server): the server as a process, clients of it,
a RESP codec of our own for what redis-py hides, and Debian's redis-server as a reference.

- ``start_server(pool, *args)``: runs ``python -m pmalloc kv-server --pool POOL --port 0
  ARGS``, waits for its one ready line, and gives a ``Server`` (host, port, process);
  ``server.stop()`` sends SIGTERM and asserts exit status 0 and nothing more on stdout;
  ``server.kill()`` is kill -9. ``run_server(pool, *args)`` runs one that should not start
  and gives its exit status and output.
- Fixtures: ``servers`` (starts and restarts servers, stops whatever is still running at
  teardown and asserts it exits 0), ``pool_path``, ``server`` (a fresh pool),
  ``client`` (redis-py on ``server``), ``module_server`` / ``r`` (one server for a test
  module, flushed before each test), ``reference`` (Debian's redis-server, skipped
  without it).
- ``RespConn``: a raw socket speaking RESP2, replies decoded exactly: ``Simple`` (+),
  ``Err`` (-), int (:), bytes or None ($), list or ``NIL_ARRAY`` (*).

With ``PMALLOC_SERVER_TESTS_TARGET=redis`` the ``server``, ``module_server``, ``client`` and
``r`` fixtures give Debian's redis-server instead: the tests of documented Redis behaviour
then check their own expectations against Redis 7; tests of what only our server does
(a pool, restarts, kill -9, SELECT 1 refused) call ``pmalloc_only()`` and are skipped.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

MiB = 1 << 20
START_TIMEOUT = 60.0        # seconds for the ready line (a loaded machine, a sanitized build)
STOP_TIMEOUT = 30.0         # seconds from SIGTERM to exit
SERVER_CMD = [sys.executable, "-m", "pmalloc", "kv-server"]
READY = re.compile(rb"pmalloc kv-server: ready on (\S+):(\d+)\n")
REDIS_SERVER = "/usr/bin/redis-server"
TARGET = os.environ.get("PMALLOC_SERVER_TESTS_TARGET", "pmalloc")


def pmalloc_only(why: str = "") -> None:
    """Skips the test when the fixtures point at redis-server (a test of our server only)."""
    if TARGET == "redis":
        pytest.skip(f"pmalloc kv-server only{': ' + why if why else ''}")


def shm_dir(prefix: str) -> str:
    """A new empty directory, in /dev/shm when usable; the caller removes it."""
    shm = "/dev/shm"
    usable = os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK)
    return tempfile.mkdtemp(prefix=prefix, dir=shm if usable else None)


# ---- RESP2 ---------------------------------------------------------------------------------

class Simple(bytes):
    """A simple string reply (+OK)."""

    def __repr__(self) -> str:
        return f"Simple({bytes(self)!r})"


class Err(bytes):
    """An error reply (-ERR ...), the whole line after the '-'."""

    def __repr__(self) -> str:
        return f"Err({bytes(self)!r})"


class _NilArray:
    """The null array (*-1), as LPOP key count answers for a missing key."""

    def __repr__(self) -> str:
        return "NIL_ARRAY"


NIL_ARRAY = _NilArray()


class Incomplete(Exception):
    """The buffer ends inside a reply."""


class BadReply(AssertionError):
    """The server sent bytes that are not RESP2."""


def encode(*args: bytes | str | int) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def _line(buf: bytes | bytearray, pos: int) -> tuple[bytes, int]:
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete
    return bytes(buf[pos:end]), end + 2


def _int(text: bytes, what: str) -> int:
    digits = text[1:] if text[:1] == b"-" else text
    if not digits.isdigit():
        raise BadReply(f"{what}: expected an integer, saw {text[:80]!r}")
    return int(text)


def parse(buf: bytes | bytearray, pos: int = 0) -> tuple[Any, int]:
    """The reply that starts at buf[pos] and where it ends; Incomplete if it does not."""
    if pos >= len(buf):
        raise Incomplete
    kind = buf[pos:pos + 1]
    body, nxt = _line(buf, pos + 1)
    if kind == b"+":
        return Simple(body), nxt
    if kind == b"-":
        return Err(body), nxt
    if kind == b":":
        return _int(body, "integer reply"), nxt
    if kind == b"$":
        n = _int(body, "bulk length")
        if n == -1:
            return None, nxt
        if n < 0:
            raise BadReply(f"bulk length {n}")
        if len(buf) < nxt + n + 2:
            raise Incomplete
        if buf[nxt + n:nxt + n + 2] != b"\r\n":
            raise BadReply(f"a bulk of {n} bytes not followed by CRLF: "
                           f"{bytes(buf[nxt + n:nxt + n + 2])!r}")
        return bytes(buf[nxt:nxt + n]), nxt + n + 2
    if kind == b"*":
        n = _int(body, "array length")
        if n == -1:
            return NIL_ARRAY, nxt
        if n < 0:
            raise BadReply(f"array length {n}")
        items = []
        for _ in range(n):
            item, nxt = parse(buf, nxt)
            items.append(item)
        return items, nxt
    raise BadReply(f"a reply starting with {bytes(buf[pos:pos + 40])!r}")


def parse_all(data: bytes) -> tuple[list[Any], bytes]:
    """Every whole reply in data, and the bytes left after the last one."""
    replies, pos = [], 0
    while pos < len(data):
        try:
            reply, pos = parse(data, pos)
        except Incomplete:
            break
        replies.append(reply)
    return replies, data[pos:]


class ConnectionClosed(Exception):
    """The server closed the connection before a whole reply came."""


class RespConn:
    """A client connection speaking raw RESP2: send anything, read exact replies."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(self, *args: bytes | str | int) -> Any:
        """Sends one command, gives its reply."""
        self.send(encode(*args))
        return self.read()

    def pipeline(self, commands: Sequence[Sequence[bytes | str | int]]) -> list[Any]:
        """Sends every command in one write, then reads as many replies."""
        self.send(b"".join(encode(*c) for c in commands))
        return [self.read() for _ in commands]

    def read(self) -> Any:
        """The next reply; ConnectionClosed if the server closes the connection first."""
        while True:
            try:
                reply, end = parse(self.buf, self.pos)
            except Incomplete:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionClosed(
                        f"closed by the server with {len(self.buf) - self.pos} bytes of an "
                        f"unfinished reply: {bytes(self.buf[self.pos:self.pos + 80])!r}")
                self.buf += chunk
                continue
            self.pos = end
            if self.pos > (1 << 20):
                del self.buf[:self.pos]
                self.pos = 0
            return reply

    def read_until_closed(self, timeout: float = 10.0) -> tuple[list[Any], bytes, bool]:
        """Every reply until the server closes the connection: (replies, bytes left after
        the last whole reply, whether it closed within timeout)."""
        self.sock.settimeout(timeout)
        closed = False
        try:
            while chunk := self.sock.recv(1 << 20):
                self.buf += chunk
            closed = True
        except ConnectionResetError:
            closed = True
        except (socket.timeout, TimeoutError):
            pass
        replies, rest = parse_all(bytes(self.buf[self.pos:]))
        self.buf, self.pos = bytearray(), 0
        return replies, rest, closed

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> "RespConn":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def redis_client(host: str, port: int, **kwargs: Any):
    """A redis-py client. RESP2 is asked for: redis-py 8 says HELLO 3 by default, and the
    server speaks RESP2 only."""
    import redis
    kwargs.setdefault("socket_timeout", 60)
    return redis.Redis(host=host, port=port, protocol=2, **kwargs)


# ---- the server as a process -------------------------------------------------------------

def _stderr_of(f) -> str:
    f.flush()
    f.seek(0)
    return f.read().decode(errors="replace")


@dataclasses.dataclass
class Server:
    """A running server: where it listens, its process, and how it was started."""
    host: str
    port: int
    process: subprocess.Popen
    pool: str | None
    args: tuple[str, ...]
    stderr_file: Any
    started_in: float               # seconds from exec to the ready line
    stopped: bool = False

    def __iter__(self):             # host, port, process = server
        return iter((self.host, self.port, self.process))

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return _stderr_of(self.stderr_file)

    def describe(self) -> str:
        status = self.process.poll()
        state = "running" if status is None else f"exited with status {status}"
        return (f"server pid {self.pid} on {self.host}:{self.port} (pool {self.pool}, "
                f"args {list(self.args)}) {state}\n--- stderr ---\n{self.stderr()}")

    def client(self, **kwargs: Any):
        return redis_client(self.host, self.port, **kwargs)

    def conn(self, timeout: float = 30.0) -> RespConn:
        return RespConn(self.host, self.port, timeout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def check_alive(self) -> None:
        assert self.alive(), f"expected the server to be running; it is not:\n{self.describe()}"

    def ping(self) -> None:
        """PING on a fresh connection answers PONG (or fails saying what happened)."""
        self.check_alive()
        try:
            with self.conn(timeout=30) as c:
                reply = c.call("PING")
        except (OSError, ConnectionClosed) as e:
            pytest.fail(f"expected PONG on a new connection, saw {e!r}\n{self.describe()}")
        assert reply == Simple(b"PONG"), f"expected +PONG, saw {reply!r}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
        """Sends sig; the server must exit with status 0 within timeout and print nothing
        more to stdout (killed and failed otherwise)."""
        if self.stopped:
            return
        self.stopped = True
        name = signal.Signals(sig).name
        if self.process.poll() is not None:
            _close_pipes(self)
            pytest.fail(f"expected the server to be running until {name}; it was not:\n"
                        f"{self.describe()}")
        self.process.send_signal(sig)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(self.process)
            _close_pipes(self)
            pytest.fail(f"expected the server to exit within {timeout} s of {name}; it did "
                        f"not (killed)\n{self.describe()}")
        more = _rest_of_stdout(self.process)
        _close_pipes(self)
        assert status == 0, (f"expected exit status 0 after {name}, saw {status}\n"
                             f"{self.describe()}")
        assert more == b"", f"expected nothing on stdout after the ready line, saw {more!r}"

    def kill(self) -> None:
        """kill -9 of the server's process, and wait for it."""
        self.stopped = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        _close_pipes(self)


def _kill_group(proc: subprocess.Popen) -> None:
    """kill -9 of a process we started and whatever it started (its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


def _rest_of_stdout(proc: subprocess.Popen, timeout: float = 5.0) -> bytes:
    """What an exited process left on its stdout (not waiting for ever on a pipe that a
    process it started may still hold)."""
    if proc.stdout is None:
        return b""
    fd, data = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def _close_pipes(server: Server) -> None:
    if server.process.stdout is not None:
        with contextlib.suppress(OSError):
            server.process.stdout.close()


def _read_ready(proc: subprocess.Popen, timeout: float) -> tuple[bytes, str]:
    """The first line the process printed ('' with a reason if none came)."""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, f"no ready line within {timeout} s"
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                proc.wait(timeout=STOP_TIMEOUT)
                return data, f"it exited with status {proc.returncode} before a ready line"
            data += chunk
    return data, ""


def server_command(pool: str, *args: str, port: str = "0") -> list[str]:
    return [*SERVER_CMD, "--pool", pool, "--port", port, *args]


def start_server(pool: str, *args: str, timeout: float = START_TIMEOUT,
                 env: dict[str, str] | None = None) -> Server:
    """Starts a server on pool (with args: --size, --max-bulk, ...) on a free port and
    waits for its ready line; fails with its stderr if it does not get there."""
    cmd = server_command(pool, *args)
    err = tempfile.TemporaryFile()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=err, bufsize=0, start_new_session=True,
                            env=None if env is None else {**os.environ, **env})
    line, problem = _read_ready(proc, timeout)
    started_in = time.monotonic() - t0
    m = READY.fullmatch(line)
    if problem or not m:
        if proc.poll() is None:
            _kill_group(proc)
        proc.stdout.close()
        pytest.fail(f"expected `{' '.join(cmd)}` to print 'pmalloc kv-server: ready on "
                    f"HOST:PORT'; {problem or 'it printed something else'}: {line!r}\n"
                    f"--- stderr ---\n{_stderr_of(err)}")
    host, port = m.group(1).decode(), int(m.group(2))
    assert port != 0, f"expected the real port in the ready line, saw {line!r}"
    return Server(host, port, proc, pool, tuple(args), err, started_in)


@dataclasses.dataclass
class Exited:
    """A server run that ended by itself: its status and outputs."""
    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"$ {' '.join(self.cmd)}\nexit status {self.returncode}\n--- stdout ---\n"
                f"{self.stdout}--- stderr ---\n{self.stderr}")


def run_server(pool: str, *args: str, port: str = "0", timeout: float = START_TIMEOUT,
               cmd: list[str] | None = None) -> Exited:
    """Runs a server that is expected to refuse to start; fails (after stopping it) if it
    is still running after timeout or printed its ready line."""
    cmd = cmd or server_command(pool, *args, port=port)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        pytest.fail(f"expected `{' '.join(cmd)}` to exit by itself within {timeout} s; it "
                    f"kept running (killed)\n--- stdout ---\n{out.decode(errors='replace')}"
                    f"--- stderr ---\n{err.decode(errors='replace')}")
    return Exited(cmd, proc.returncode, out.decode(errors="replace"),
                  err.decode(errors="replace"))


# ---- Debian's redis-server ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(workdir: str) -> Server:
    """Debian's redis-server on a free port, no persistence; skips the test without it."""
    if not os.path.exists(REDIS_SERVER):
        pytest.skip(f"{REDIS_SERVER} is not installed")
    for _ in range(5):                  # a free port may be taken before redis binds it
        port = free_port()
        cmd = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", workdir, "--daemonize", "no",
               "--protected-mode", "no", "--loglevel", "warning"]
        err = tempfile.TemporaryFile()
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                start_new_session=True)      # its log goes to stdout
        deadline = t0 + START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with RespConn("127.0.0.1", port, timeout=5) as c:
                    if c.call("PING") == Simple(b"PONG"):
                        return Server("127.0.0.1", port, proc, None, tuple(cmd[1:]), err,
                                      time.monotonic() - t0)
            except (OSError, ConnectionClosed):
                time.sleep(0.05)
        if proc.poll() is None:
            _kill_group(proc)
    pytest.fail(f"expected redis-server to start; it did not:\n{_stderr_of(err)}")


# ---- fixtures --------------------------------------------------------------------------

class Servers:
    """Starts servers for a test; whatever is still running at the end gets SIGTERM and
    must exit 0."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.running: list[Server] = []

    def start(self, pool: str, *args: str, **kwargs: Any) -> Server:
        s = start_server(pool, *args, **kwargs)
        self.running.append(s)
        return s

    def restart(self, server: Server, *args: str) -> Server:
        """Stops server cleanly (SIGTERM, exit 0) and starts another on its pool with its
        arguments (or args)."""
        server.stop()
        return self.start(server.pool, *(args or server.args))

    def redis(self) -> Server:
        s = start_redis(self.workdir)
        self.running.append(s)
        return s

    def target(self, pool: str, *args: str) -> Server:
        """The server under test: ours on pool, or redis-server (TARGET=redis)."""
        return self.redis() if TARGET == "redis" else self.start(pool, *args)

    def stop_all(self) -> None:
        problems = []
        for s in self.running:
            if s.stopped:
                continue
            try:
                s.stop()
            except BaseException as e:  # noqa: BLE001 - stop the rest, then report
                problems.append(str(e))
        self.running.clear()
        if problems:
            pytest.fail("\n".join(problems))


@pytest.fixture
def servers(pool_dir: str) -> Iterator[Servers]:
    s = Servers(pool_dir)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture
def pool_path(pool_dir: str) -> str:
    """Where a server's pool may be made: nothing is there yet."""
    return os.path.join(pool_dir, "kv-server.pool")


@pytest.fixture
def server(servers: Servers, pool_path: str) -> Server:
    """A server on a new pool (or redis-server with TARGET=redis)."""
    return servers.target(pool_path)


@pytest.fixture
def client(server: Server):
    c = server.client()
    yield c
    c.close()


@pytest.fixture(scope="module")
def module_server() -> Iterator[Server]:
    """One server (a pool of its own) for a whole test module."""
    workdir = shm_dir("pmalloc-server-")
    s = Servers(workdir)
    try:
        yield s.target(os.path.join(workdir, "module.pool"))
        s.stop_all()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def r(module_server: Server):
    """redis-py on the module's server, its keyspace empty."""
    module_server.check_alive()
    c = module_server.client()
    c.flushdb()
    yield c
    c.close()
    module_server.check_alive()


@pytest.fixture(scope="module")
def reference() -> Iterator[Server]:
    """Debian's redis-server (no persistence) for a whole test module."""
    workdir = shm_dir("pmalloc-redis-")
    s = Servers(workdir)
    try:
        yield s.redis()
        s.stop_all()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
