"""A full pool under the kv-server: a pipelined batch whose requests run out of room is
run again one request per transaction, so every request is all or nothing (an RPUSH of
many values that do not fit leaves no list), the replies say which failed, and the store
goes on taking what fits."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

redis = pytest.importorskip("redis")

MiB = 1 << 20


@pytest.fixture
def small_server(pool_dir):
    path = os.path.join(pool_dir, "full.kv")
    proc = subprocess.Popen([sys.executable, "-m", "pmalloc", "kv-server", "--pool", path,
                             "--size", "8M", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("pmalloc kv-server: ready on "):
        proc.kill()
        pytest.fail(f"the server did not start: {line!r} {proc.stderr.read()}")
    port = int(line.rsplit(":", 1)[1])
    client = redis.Redis(port=port)
    yield client
    client.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()


def test_a_batch_that_fills_the_pool_is_all_or_nothing_per_request(small_server):
    r = small_server
    values = {b"k%d" % i: bytes([i]) * MiB for i in range(12)}
    pipe = r.pipeline(transaction=False)
    for k, v in values.items():
        pipe.set(k, v)
    pipe.rpush(b"list", *[b"x" * MiB] * 12)        # cannot fit whole: must leave nothing
    pipe.incr(b"counter")
    replies = pipe.execute(raise_on_error=False)
    stored = [k for (k, _), rep in zip(values.items(), replies) if rep is True]
    failed = [rep for rep in replies[:-1] if rep is not True]
    assert stored and failed, f"expected some sets to fit and some not: {replies}"
    assert all(isinstance(e, redis.exceptions.OutOfMemoryError) for e in failed), failed
    assert replies[-1] == 1, "a request after the failed ones still runs"
    assert r.exists(b"list") == 0, "a push that did not fit left part of itself"
    for k in values:
        assert r.get(k) == (values[k] if k in stored else None)
    assert r.dbsize() == len(stored) + 1
    r.delete(*stored)                                # the room comes back
    assert r.set(b"again", b"y" * MiB) is True
