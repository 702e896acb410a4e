"""Many clients of the kv-server at once (issue 14): pipelines of a thousand commands, twenty
threads writing their own keys and shared counters, three hundred open connections, requests
cut into single bytes, clients that shut down their sending side and still read, that vanish
mid-pipeline or stop reading, and clients that send what the server must refuse (a bulk over
the limit, malformed requests) while the others keep working.

Run with PMALLOC_SERVER_TESTS_TARGET=redis to check these expectations against redis-server."""
from __future__ import annotations

import random
import socket
import struct
import threading

import pytest

from .conftest import MiB, Err, RespConn, Simple, encode, pmalloc_only

THREADS = 20
ROUNDS = 150


def run_threads(target, n: int) -> None:
    """Runs target(i) in n threads; re-raises the first failure with its thread's number."""
    errors: list[tuple[int, BaseException]] = []

    def body(i: int) -> None:
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((i, e))

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
        assert not t.is_alive(), "expected every client thread to finish within 300 s"
    if errors:
        i, e = errors[0]
        raise AssertionError(f"client thread {i} (of {len(errors)} failing): {e!r}") from e


def abort(sock: socket.socket) -> None:
    """Closes with a reset (SO_LINGER 0): the server's next write to it fails."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# ---- pipelines -------------------------------------------------------------------------------

def test_pipeline_of_1000_commands(r):
    pipe = r.pipeline(transaction=False)
    want = []
    for i in range(1000):
        kind = i % 5
        if kind == 0:
            pipe.set(b"p:%d" % i, b"v%d" % i)
            want.append(True)
        elif kind == 1:
            pipe.get(b"p:%d" % (i - 1))
            want.append(b"v%d" % (i - 1))
        elif kind == 2:
            pipe.incr("p:counter")
            want.append(i // 5 + 1)
        elif kind == 3:
            pipe.rpush("p:list", i)
            want.append(i // 5 + 1)
        else:
            pipe.execute_command("NOSUCH", i)
            want.append("error")
    got = pipe.execute(raise_on_error=False)
    assert len(got) == 1000
    for i, (g, w) in enumerate(zip(got, want)):
        if w == "error":
            assert isinstance(g, Exception) and "unknown command" in str(g), (i, g)
        else:
            assert g == w, f"reply {i}: expected {w!r}, saw {g!r}"
    assert r.lrange("p:list", 0, -1) == [b"%d" % i for i in range(3, 1000, 5)]


def test_raw_pipeline_in_one_write(module_server, r):
    with module_server.conn() as c:
        commands = [["SET", f"raw:{i}", "x" * (i % 300)] for i in range(1000)]
        commands += [["GET", f"raw:{i}"] for i in range(1000)]
        replies = c.pipeline(commands)
    assert replies[:1000] == [Simple(b"OK")] * 1000
    assert replies[1000:] == [b"x" * (i % 300) for i in range(1000)]


def test_pipeline_with_large_values(module_server, r):
    """10 MiB of requests, then 10 MiB of replies, each written whole before reading."""
    value = random.Random(3).randbytes(10_000)
    with module_server.conn() as c:
        assert c.pipeline([["SET", f"big:{i}", value] for i in range(1000)]) == \
            [Simple(b"OK")] * 1000
        got = c.pipeline([["GET", f"big:{i}"] for i in range(1000)])
    assert all(g == value for g in got)


def test_requests_split_at_every_byte(module_server, r):
    commands = [["SET", "split", "a\r\nb"], ["APPEND", "split", "\x00"], ["GET", "split"],
                ["RPUSH", "splitlist", "1", "22", "333"], ["LRANGE", "splitlist", "0", "-1"],
                ["PING"], ["NOSUCH", "x"]]
    data = b"".join(encode(*c) for c in commands)
    with module_server.conn() as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
        replies = [c.read() for _ in commands]
    assert replies[:6] == [Simple(b"OK"), 5, b"a\r\nb\x00", 3, [b"1", b"22", b"333"],
                           Simple(b"PONG")], replies
    assert isinstance(replies[6], Err) and replies[6].startswith(b"ERR unknown command")


# ---- many clients ----------------------------------------------------------------------------

def test_twenty_concurrent_clients(module_server, r):
    """Each thread writes its own keys, list, hash and set member, and bumps shared
    counters, some commands pipelined, some not; the totals add up."""
    def client(t: int) -> None:
        rng = random.Random(f"client-{t}")
        c = module_server.client()
        try:
            expected_list = []
            for i in range(ROUNDS):
                value = b"%d:%d:" % (t, i) + rng.randbytes(rng.randrange(0, 200))
                if rng.random() < 0.5:
                    assert c.set(b"own:%d" % t, value)
                    assert c.incr("shared:count") >= 1
                    assert c.incrby("shared:sum", i) >= i
                    assert c.rpush(b"list:%d" % t, i) == i + 1
                    assert c.hset(b"hash:%d" % t, b"f%d" % (i % 10), value) in (0, 1)
                    assert c.sadd("shared:members", b"%d:%d" % (t, i)) == 1
                else:
                    pipe = c.pipeline(transaction=False)
                    pipe.set(b"own:%d" % t, value).incr("shared:count")
                    pipe.incrby("shared:sum", i).rpush(b"list:%d" % t, i)
                    pipe.hset(b"hash:%d" % t, b"f%d" % (i % 10), value)
                    pipe.sadd("shared:members", b"%d:%d" % (t, i)).get(b"own:%d" % t)
                    got = pipe.execute()
                    assert got[0] is True and got[3] == i + 1 and got[5] == 1, got
                    assert got[6] == value, f"thread {t} round {i}: read back {got[6]!r}"
                expected_list.append(b"%d" % i)
                assert c.get(b"own:%d" % t) == value
            assert c.lrange(b"list:%d" % t, 0, -1) == expected_list
            assert c.hlen(b"hash:%d" % t) == min(ROUNDS, 10)
        finally:
            c.close()

    run_threads(client, THREADS)
    assert int(r.get("shared:count")) == THREADS * ROUNDS
    assert int(r.get("shared:sum")) == THREADS * sum(range(ROUNDS))
    assert r.scard("shared:members") == THREADS * ROUNDS
    assert r.dbsize() == 3 + 3 * THREADS


def test_hundreds_of_open_connections(module_server, r):
    conns = [module_server.conn() for _ in range(300)]
    try:
        for i, c in enumerate(conns):                # every one written to before any reads
            c.send(encode("INCR", "conns") + encode("SET", f"conn:{i}", i))
        for i, c in enumerate(conns):
            assert c.read() >= 1 and c.read() == Simple(b"OK"), f"connection {i}"
        for c in conns[::2]:
            c.close()
        for c in conns[1::2]:
            assert c.call("PING") == Simple(b"PONG")
    finally:
        for c in conns:
            c.close()
    assert r.get("conns") == b"300" and r.dbsize() == 301


def test_replies_reach_a_client_that_closed_its_sending_side(module_server, r):
    """A client that sends whole commands and then shuts its side down (as `nc -N` does)
    still reads every reply before the server closes the connection. Fifty clients at a
    time send and shut down before any reads, so the server finds the requests and the end
    of the stream together."""
    for batch in range(4):
        conns = [module_server.conn() for _ in range(50)]
        sent = []
        try:
            for i, c in enumerate(conns):
                commands = [["SET", f"half:{batch}:{i}", i], ["INCR", "half:n"]][:1 + i % 2]
                c.send(b"".join(encode(*cmd) for cmd in commands))
                c.sock.shutdown(socket.SHUT_WR)
                sent.append(commands)
            for i, (c, commands) in enumerate(zip(conns, sent)):
                replies, rest, closed = c.read_until_closed(timeout=30)
                assert closed and rest == b"", f"connection {i}: closed={closed}, left {rest!r}"
                assert len(replies) == len(commands) and replies[0] == Simple(b"OK"), (
                    f"batch {batch}, connection {i}: sent {len(commands)} commands and shut "
                    f"down its side; expected {len(commands)} replies, saw {replies!r} (the "
                    f"SET ran: {r.get(f'half:{batch}:{i}')!r})")
        finally:
            for c in conns:
                c.close()
    assert r.get("half:n") == b"100"


def test_clients_that_disconnect_mid_pipeline(module_server, r):
    """Some vanish after half a command, some with replies still owed (a reset): the
    whole commands they sent are whole or absent, their unfinished last one absent."""
    value = b"v" * 100_000
    r.set("bigread", value)
    rng = random.Random(99)
    for n in range(60):
        c = module_server.conn()
        good = [encode("SET", f"mid:{n}:{i}", f"value-{n}-{i}")
                for i in range(rng.randrange(1, 50))]
        cut = encode("SET", f"mid:{n}:cut", "never whole " * 20)
        data = b"".join(good) + cut[:rng.randrange(1, len(cut))]
        if n % 3 == 0:                       # replies of 100 kB each still to write
            data = encode("GET", "bigread") * 200 + data
        c.send(data)
        if n % 2:
            abort(c.sock)
        else:
            c.sock.shutdown(socket.SHUT_WR)
            c.close()
    module_server.ping()
    keys = set(r.keys("mid:*"))
    assert not any(k.endswith(b":cut") for k in keys), "an unfinished command was applied"
    for k in keys:
        _, n, i = k.split(b":")
        assert r.get(k) == b"value-%s-%s" % (n, i), f"{k!r} holds {r.get(k)!r}"
    assert r.get("bigread") == value


def test_a_client_that_stops_reading(module_server, r):
    """One client owes 64 MiB of replies it does not read yet; others are served
    meanwhile, and then it gets every reply."""
    value = random.Random(5).randbytes(MiB)
    r.set("slow:value", value)
    slow = module_server.conn(timeout=120)
    try:
        slow.send(encode("GET", "slow:value") * 64 + encode("PING"))
        for i in range(50):
            with module_server.conn(timeout=60) as c:
                assert c.call("INCR", "slow:others") == i + 1
        replies = [slow.read() for _ in range(65)]
        assert all(x == value for x in replies[:64]) and replies[64] == Simple(b"PONG")
    finally:
        slow.close()


# ---- what the server refuses -----------------------------------------------------------------

def _refused(c: RespConn, what: str) -> None:
    replies, rest, closed = c.read_until_closed(timeout=30)
    assert closed, f"{what}: expected the server to close the connection; it did not"
    assert len(replies) == 1 and isinstance(replies[0], Err) and \
        replies[0].startswith(b"ERR Protocol error"), (
            f"{what}: expected one 'ERR Protocol error: ...' reply, saw {replies!r} + {rest!r}")


@pytest.mark.parametrize("request_bytes, what", [
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n", "a bulk of 512 MiB + 1"),
    (b"*1\r\n$99999999999999\r\n", "a bulk of 100 TB"),
    (b"*1\r\n$9223372036854775807\r\n", "a bulk of 2**63-1 bytes"),
    (b"*1\r\n$99999999999999999999999\r\n", "a bulk length beyond 64 bits"),
    (b"*2\r\n$3\r\nGET\r\n$-5\r\n", "a negative bulk length"),
    (b"*1\r\n$abc\r\n", "a bulk length that is not a number"),
    (b"*1\r\n*1\r\n$4\r\nPING\r\n", "an array inside a request"),
    (b"*1\r\n:5\r\n", "an integer inside a request"),
    (b"*99999999999999\r\n", "an array of 1e14 elements"),
])
def test_bad_requests_get_an_error_and_are_closed(module_server, r, request_bytes, what):
    """Other clients keep working before, during and after."""
    with module_server.conn() as other, module_server.conn() as bad:
        assert other.call("SET", "other", "1") == Simple(b"OK")
        bad.send(encode("SET", "before-bad", "1") + request_bytes)
        assert bad.read() == Simple(b"OK")
        _refused(bad, what)
        assert other.call("INCR", "other") == 2
    module_server.ping()
    assert r.get("before-bad") == b"1"


def test_bulk_over_limit_while_others_work(servers, pool_path):
    """A server with --max-bulk 64K: a client declaring 64K + 1 is refused and disconnected
    while twenty others go on."""
    pmalloc_only("--max-bulk")
    s = servers.start(pool_path, "--max-bulk", "64K")
    stop = threading.Event()

    def worker(t: int) -> None:
        with s.conn() as c:
            n = 0
            while not stop.is_set() or n < 20:
                n += 1
                assert c.call("INCR", f"worker:{t}") == n
                assert c.call("SET", f"w:{t}", b"x" * 65536) == Simple(b"OK")

    failed: list[BaseException] = []

    def workers() -> None:
        try:
            run_threads(worker, THREADS)
        except BaseException as e:  # noqa: BLE001 - reported below
            failed.append(e)

    threads = threading.Thread(target=workers)
    threads.start()
    try:
        for i in range(20):
            with s.conn() as bad:
                bad.send(b"*3\r\n$3\r\nSET\r\n$3\r\nbad\r\n$65537\r\n" + b"x" * 1000)
                _refused(bad, f"attempt {i}: a bulk of 64K + 1 under --max-bulk 64K")
    finally:
        stop.set()
        threads.join(300)
    assert not failed, f"the other clients: {failed[0]}"
    c = s.client()
    assert c.exists("bad") == 0
    assert all(int(c.get(f"worker:{t}")) >= 20 for t in range(THREADS))
    c.close()


def test_many_clients_claiming_large_bulks(module_server, r):
    """Twenty connections each announce a bulk of 500 MB (under the limit) and send a few
    bytes of it; the server does not fall over, serves others, and forgets them."""
    claims = []
    try:
        for i in range(20):
            c = module_server.conn()
            c.send(b"*3\r\n$3\r\nSET\r\n$5\r\nclaim\r\n$500000000\r\n" + b"y" * 1000)
            claims.append(c)
        module_server.ping()
        assert r.set("while-claimed", 1)
    finally:
        for c in claims:
            c.close()
    module_server.ping()
    assert r.exists("claim") == 0


def test_truncated_reply_never_half_sent(module_server, r):
    """A client reading after a refused request sees whole replies only."""
    with module_server.conn() as c:
        c.send(encode("PING") * 3 + b"*1\r\n$-7\r\n" + encode("PING"))
        replies, rest, closed = c.read_until_closed(timeout=30)
    assert rest == b"" and closed
    assert replies[:3] == [Simple(b"PONG")] * 3, replies
    assert len(replies) == 4 and isinstance(replies[3], Err), replies


def test_server_survives_connection_errors(module_server, r):
    for _ in range(50):
        with socket.create_connection((module_server.host, module_server.port)) as s:
            abort(s)
    for _ in range(20):
        s = socket.create_connection((module_server.host, module_server.port))
        s.sendall(encode("GET", "x") * 1000)
        abort(s)
    module_server.ping()
    assert r.set("after-resets", 1)
