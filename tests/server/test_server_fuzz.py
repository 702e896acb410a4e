"""RESP fuzzing of the kv-server (issue 14): thousands of random, truncated and malformed
requests, each on a connection of its own that the client half-closes after sending. Whatever
the server answers must be RESP (an error for what it refuses; the last reply may stop short
when the server drops the connection at the client's EOF, as redis-server does), it must
close the connection once the client is done, and after every batch a new connection still
gets PONG. At the end SIGTERM still makes it exit 0.

Seeded: a failure names the kind, seed and request number, and shows the request."""
from __future__ import annotations

import random
import socket
import struct

import pytest

from .conftest import BadReply, Err, RespConn, encode

BATCH = 100
COMMANDS = [b"GET", b"SET", b"GETSET", b"MGET", b"MSET", b"DEL", b"EXISTS", b"INCR", b"INCRBY",
            b"DECR", b"DECRBY", b"APPEND", b"STRLEN", b"KEYS", b"SCAN", b"EXPIRE", b"PEXPIRE",
            b"TTL", b"PTTL", b"PERSIST", b"TYPE", b"LPUSH", b"RPUSH", b"LPOP", b"RPOP",
            b"LRANGE", b"LLEN", b"SADD", b"SREM", b"SMEMBERS", b"SCARD", b"SPOP", b"HSET",
            b"HGET", b"HDEL", b"HGETALL", b"HLEN", b"PING", b"ECHO", b"SELECT", b"DBSIZE",
            b"INFO", b"COMMAND", b"NOSUCH", b"set", b"hSeT", b""]
ARGS = [b"0", b"1", b"-1", b"k", b"key", b"*", b"[", b"\\", b"EX", b"PX", b"NX", b"XX",
        b"COUNT", b"MATCH", b"9223372036854775807", b"-9223372036854775808", b"\x00",
        b"\r\n", b"", b"x" * 300, b"DOCS"]
HUGE = [2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**62, 2**63 - 1, 2**63, 2**64, 2**64 + 1,
        10**30, 512 * 2**20, 512 * 2**20 + 1, 1024 * 1024 + 1]


def valid_command(rng: random.Random) -> bytes:
    name = rng.choice(COMMANDS)
    if name in (b"KEYS", b"INFO", b"COMMAND", b"FLUSHDB"):
        return encode(name, *rng.choice([[b"k*"], [], [b"COUNT"], [b"keyspace"]]))
    args = []
    for _ in range(rng.randrange(0, 6)):
        args.append(rng.choice(ARGS) if rng.random() < 0.7 else rng.randbytes(rng.randrange(0, 40)))
    return encode(name, *args)


def random_bytes(rng: random.Random) -> bytes:
    data = rng.randbytes(rng.randrange(1, 2000))
    return rng.choice([b"", b"*", b"$", b"*1\r\n", b"*2\r\n$", b"+", b"-", b":"]) + data


def truncated(rng: random.Random) -> bytes:
    data = b"".join(valid_command(rng) for _ in range(rng.randrange(1, 6)))
    return data[:rng.randrange(1, len(data) + 1)]


def huge_lengths(rng: random.Random) -> bytes:
    n = rng.choice(HUGE)
    prefix = valid_command(rng) if rng.random() < 0.5 else b""
    return prefix + rng.choice([
        b"*%d\r\n" % n,
        b"*2\r\n$3\r\nGET\r\n$%d\r\n" % n,
        b"*1\r\n$%d\r\nabc" % n,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % n + rng.randbytes(rng.randrange(0, 5000)),
        b"*%d\r\n$4\r\nPING\r\n" % n,
    ])


def negative_lengths(rng: random.Random) -> bytes:
    n = rng.choice([-1, -2, -5, -1000, -(2**31), -(2**63), -(2**64)])
    return rng.choice([
        b"*%d\r\n" % n,
        b"*%d\r\n" % n + valid_command(rng),
        b"*1\r\n$%d\r\n" % n,
        b"*2\r\n$4\r\nECHO\r\n$%d\r\nabc\r\n" % n,
        b"$%d\r\n" % n,
        b"*1\r\n$-0\r\n\r\n",
        b"*-0\r\n" + valid_command(rng),
    ])


def nested(rng: random.Random) -> bytes:
    depth = rng.randrange(1, 50)
    inner = valid_command(rng)
    return rng.choice([
        b"*1\r\n" * depth + inner,
        b"*2\r\n" + inner + inner,
        b"*2\r\n$4\r\nECHO\r\n" + rng.choice([b"*1\r\n$1\r\na\r\n", b":5\r\n", b"+OK\r\n",
                                               b"-ERR\r\n", b"*0\r\n", b"*-1\r\n"]),
        b"*3\r\n$3\r\nSET\r\n*1\r\n$1\r\nk\r\n$1\r\nv\r\n",
    ])


def inline(rng: random.Random) -> bytes:
    words = [rng.choice([b"PING", b"SET", b"GET", b"ECHO", b"INCR", b"\"quoted word\"",
                         b"'single'", b"\"unbalanced", b"'", b"\"\\x41\\n\"", b"a\"b\"",
                         b"\t", b"  ", rng.randbytes(5)]) for _ in range(rng.randrange(0, 6))]
    line = b" ".join(words)
    return rng.choice([line + b"\r\n", line + b"\n", line, b"\r\n" * 5 + line + b"\r\n",
                       (line + b"\n") * rng.randrange(1, 20)])


def long_lines(rng: random.Random) -> bytes:
    n = rng.choice([64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 200_000, 1_000_000, 3_000_000])
    fill = rng.choice([b"a", b"1", b" ", b"\r", b"\x00"]) * n
    return rng.choice([b"*" + fill, b"*1\r\n$" + fill, fill, fill + b"\r\n",
                       b"*1\r\n$" + b"1" * n + b"\r\n", b"*1\r\n$4\r\nPING\r\n" + fill])


def mutated(rng: random.Random) -> bytes:
    data = bytearray(b"".join(valid_command(rng) for _ in range(rng.randrange(1, 4))))
    for _ in range(rng.randrange(1, 6)):
        i = rng.randrange(len(data))
        op = rng.randrange(4)
        if op == 0:
            data[i] = rng.randrange(256)
        elif op == 1:
            del data[i]
        elif op == 2:
            data[i:i] = rng.randbytes(rng.randrange(1, 10))
        else:
            data[i:i] = rng.choice([b"\r\n", b"*", b"$", b"-1", b"999999999"])
    return bytes(data)


KINDS = {"random_bytes": (random_bytes, 1500), "truncated": (truncated, 1500),
         "huge_lengths": (huge_lengths, 600), "negative_lengths": (negative_lengths, 500),
         "nested": (nested, 500), "inline": (inline, 800), "long_lines": (long_lines, 100),
         "mutated": (mutated, 1500)}          # 7000 requests


def exchange(server, data: bytes, rng: random.Random) -> tuple[list, bytes, bool]:
    """Sends data on a new connection, then either half-closes and reads everything, or
    (sometimes) resets the connection without reading."""
    with RespConn(server.host, server.port, timeout=30) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass                         # the server may refuse before reading it all
        if rng.random() < 0.1:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return [], b"", True
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return c.read_until_closed(timeout=20)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fuzz(servers, pool_path, kind):
    make, count = KINDS[kind]
    s = servers.target(pool_path, "--size", "64M")
    rng = random.Random(f"fuzz-{kind}")
    for i in range(count):
        data = make(rng)
        where = f"{kind} request {i} ({len(data)} bytes: {data[:120]!r}...)"
        try:
            replies, rest, closed = exchange(s, data, rng)
        except BadReply as e:
            pytest.fail(f"{where}: the server's answer is not RESP: {e}\n{s.describe()}")
        except (ConnectionRefusedError, ConnectionResetError) as e:
            s.check_alive()
            pytest.fail(f"{where}: {e!r}")
        assert closed, f"{where}: expected the server to close the connection after EOF"
        # rest: the start of a reply the server stopped writing when it saw the client's
        # EOF (redis-server does so too); parse() has checked that it is RESP so far.
        if kind == "truncated":
            errs = [x for x in replies if isinstance(x, Err) and b"Protocol error" in x]
            assert not errs, f"{where}: a protocol error for a well-formed request: {errs}"
        if i % BATCH == BATCH - 1 or i == count - 1:
            s.ping()
    s.stop()
