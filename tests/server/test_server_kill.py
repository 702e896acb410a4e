"""kill -9 of the kv-server under load (issue 14): four clients doing SET / MSET / INCR /
INCRBY / LPUSH / RPOP record every reply they get, two of them one command at a time, two
in pipelined batches of up to 30; the server is killed at a random moment and restarted on
the same pool. Then every acknowledged write is there; of each client's commands in flight (sent,
no reply yet) a prefix has landed, each command whole (an MSET on all its keys or none, an
LPUSH of all its items or none); nothing else changed. 100 rounds; every tenth restart is
itself killed while it opens (recovering the previous crash) before the one that is checked.

Each client's commands are a function of the round's seed and the client's number, so the
test knows what each acknowledged reply must be: a SET's +OK, the list's new length after an
LPUSH, the client's own counter after an INCRBY. Only the shared counter's INCR replies
depend on the other clients: they must all differ and none may exceed the counter found
after the restart, which counts every acknowledged INCR and no more than those in flight."""
from __future__ import annotations

import dataclasses
import random
import subprocess
import threading
import time

import pytest

from .conftest import (NIL_ARRAY, ConnectionClosed, Err, RespConn, Simple, _kill_group,
                       encode, pmalloc_only, server_command, start_server)

ROUNDS = 100
CLIENTS = 4
PIPELINED = {2, 3}          # these clients write batches of commands at once
NKEYS = 8                   # string keys per client
SHARED = b"shared:counter"


@dataclasses.dataclass(frozen=True)
class Op:
    kind: str               # set mset incr incrby lpush rpop
    keys: tuple[bytes, ...]
    values: tuple[bytes, ...] = ()     # set/mset: one per key; lpush: the items
    amount: int = 0                    # incrby; rpop: the count

    def command(self) -> list[bytes]:
        if self.kind == "set":
            return [b"SET", self.keys[0], self.values[0]]
        if self.kind == "mset":
            return [b"MSET", *[x for kv in zip(self.keys, self.values) for x in kv]]
        if self.kind == "incr":
            return [b"INCR", SHARED]
        if self.kind == "incrby":
            return [b"INCRBY", self.keys[0], b"%d" % self.amount]
        if self.kind == "lpush":
            return [b"LPUSH", self.keys[0], *self.values]
        return [b"RPOP", self.keys[0], b"%d" % self.amount]


def own(t: int, what: str) -> bytes:
    return f"c{t}:{what}".encode()


def operations(rnd: int, t: int):
    """Client t's commands in round rnd: endless, the same every time."""
    rng = random.Random(f"server-kill-{rnd}-{t}")
    for i in range(10**9):
        tag = b"%d/%d/%d" % (rnd, t, i)

        def value(j: int) -> bytes:
            p = rng.random()
            size = (rng.randrange(64 << 10, 256 << 10) if p < 0.03 else
                    rng.randrange(1 << 10, 16 << 10) if p < 0.15 else rng.randrange(0, 200))
            return tag + b"/%d:" % j + rng.randbytes(size)

        p = rng.random()
        if p < 0.3:
            yield Op("set", (own(t, f"k{rng.randrange(NKEYS)}"),), (value(0),))
        elif p < 0.45:
            keys = tuple(own(t, f"k{j}") for j in rng.sample(range(NKEYS), rng.randrange(2, 5)))
            yield Op("mset", keys, tuple(value(j) for j in range(len(keys))))
        elif p < 0.65:
            yield Op("incr", (SHARED,))
        elif p < 0.75:
            yield Op("incrby", (own(t, "n"),), amount=rng.randrange(1, 1000))
        elif p < 0.9:
            items = tuple(tag + b"/%d" % j for j in range(rng.randrange(1, 4)))
            yield Op("lpush", (own(t, "list"),), items)
        else:                # keeps the list short: as many pops as pushes, on average
            yield Op("rpop", (own(t, "list"),), amount=rng.randrange(1, 6))


@dataclasses.dataclass
class ClientModel:
    """What client t's keys hold after a sequence of its commands."""
    values: dict[bytes, bytes] = dataclasses.field(default_factory=dict)
    counter: int = 0
    items: list[bytes] = dataclasses.field(default_factory=list)   # LRANGE 0 -1 order

    def copy(self) -> "ClientModel":
        return ClientModel(dict(self.values), self.counter, list(self.items))

    def state(self) -> tuple:
        return self.values, self.counter, self.items

    def apply(self, op: Op) -> None:
        if op.kind in ("set", "mset"):
            self.values.update(zip(op.keys, op.values))
        elif op.kind == "incrby":
            self.counter += op.amount
        elif op.kind == "lpush":
            self.items[:0] = reversed(op.values)
        elif op.kind == "rpop":
            del self.items[max(0, len(self.items) - op.amount):]

    def expected_reply(self, op: Op):
        """The reply op must get after the model's state (None: depends on others)."""
        if op.kind in ("set", "mset"):
            return Simple(b"OK")
        if op.kind == "incrby":
            return self.counter + op.amount
        if op.kind == "lpush":
            return len(self.items) + len(op.values)
        if op.kind == "rpop":    # the last items, last first; a missing list: *-1
            return self.items[:-op.amount - 1:-1] if self.items else NIL_ARRAY
        return None


@dataclasses.dataclass
class ClientRun:
    """One client's round: the replies it got, and the commands it had sent (or was about
    to send) without a reply when the server went away: in order, any prefix of them may
    have been applied."""
    acked: list[tuple[Op, object]] = dataclasses.field(default_factory=list)
    inflight: list[Op] = dataclasses.field(default_factory=list)
    error: BaseException | None = None


def client(host: str, port: int, rnd: int, t: int, go: threading.Barrier, run: ClientRun,
           pipelined: bool) -> None:
    """Sends client t's commands one at a time, or (pipelined) in batches of 1-30 written
    at once, recording each reply, until the server goes away."""
    try:
        conn = RespConn(host, port, timeout=60)
    except OSError as e:
        run.error = e
        go.wait()
        return
    rng = random.Random(f"batches-{rnd}-{t}")
    ops = operations(rnd, t)
    try:
        go.wait()
        while True:
            batch = [next(ops) for _ in range(rng.randrange(1, 31) if pipelined else 1)]
            run.inflight = batch
            try:
                conn.send(b"".join(encode(*op.command()) for op in batch))
                while run.inflight:
                    reply = conn.read()
                    run.acked.append((run.inflight[0], reply))
                    run.inflight = run.inflight[1:]
            except (ConnectionClosed, OSError):
                return
    except BaseException as e:  # noqa: BLE001 - reported by the main thread
        run.error = e
    finally:
        conn.close()


def kill_while_opening(pool: str, rng: random.Random) -> None:
    """Starts a server on pool and kills it -9 within its first 0.15 s (while it opens and
    recovers, or just after)."""
    proc = subprocess.Popen(server_command(pool), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(rng.uniform(0.0, 0.15))
    _kill_group(proc)


def seen_state(conn: RespConn, t: int) -> tuple:
    """Client t's keys as the server has them, in ClientModel.state()'s shape."""
    values = {}
    for j in range(NKEYS):
        k = own(t, f"k{j}")
        v = conn.call(b"GET", k)
        if v is not None:
            values[k] = v
    counter = int(conn.call(b"GET", own(t, "n")) or 0)
    return values, counter, conn.call(b"LRANGE", own(t, "list"), b"0", b"-1")


def short(v: bytes | None) -> str:
    return "absent" if v is None else f"{v[:20]!r}... ({len(v)} bytes)"


def state_difference(want: ClientModel, seen: tuple, inflight: list[Op]) -> str:
    """What differs between the acknowledged state and what the server has."""
    values, counter, items = seen
    lines = [f"{len(inflight)} commands in flight: "
             + ", ".join(f"{op.kind} {b' '.join(op.keys)!r}" for op in inflight[:8])]
    for k in sorted(set(want.values) | set(values)):
        if want.values.get(k) != values.get(k):
            lines.append(f"key {k!r}: acknowledged {short(want.values.get(k))}, "
                         f"seen {short(values.get(k))}")
    if counter != want.counter:
        lines.append(f"counter: acknowledged {want.counter}, seen {counter}")
    if items != want.items:
        lines.append(f"list: acknowledged {len(want.items)} items {want.items[:3]}..., "
                     f"seen {len(items)} items {items[:3]}...")
    return "\n  ".join(lines)


def play_round(server, rnd: int, rng: random.Random, models: list[ClientModel],
               runs: list[ClientRun], shared: dict[str, int]) -> int:
    """Runs the clients against server until it is killed -9 at a random moment; checks
    every reply they got and takes them into the models; how many there were."""
    go = threading.Barrier(CLIENTS + 1, timeout=60)
    threads = [threading.Thread(target=client, args=(server.host, server.port, rnd, t, go,
                                                     runs[t], t in PIPELINED))
               for t in range(CLIENTS)]
    for th in threads:
        th.start()
    go.wait()
    time.sleep(rng.choice([0.0, 0.002]) if rnd % 8 == 0 else rng.uniform(0.005, 0.12))
    server.kill()
    for th in threads:
        th.join(60)
        assert not th.is_alive(), f"round {rnd}: a client did not stop after the kill"
    acked = 0
    for t, run in enumerate(runs):
        assert run.error is None, f"round {rnd}, client {t}: {run.error!r}"
        model = models[t]
        for i, (op, reply) in enumerate(run.acked):
            if op.kind == "incr":
                assert isinstance(reply, int) and reply > shared["value"], (
                    f"round {rnd}, client {t}, command {i} (INCR): saw {reply!r}")
                shared["acked"] += 1
                shared["max_reply"] = max(shared["max_reply"], reply)
            else:
                want = model.expected_reply(op)
                assert reply == want and not isinstance(reply, Err), (
                    f"round {rnd}, client {t}, command {i} ({op.kind}): expected "
                    f"{want!r}, saw {reply!r}")
                model.apply(op)
        acked += len(run.acked)
    incr_replies = [reply for run in runs for op, reply in run.acked if op.kind == "incr"]
    assert len(incr_replies) == len(set(incr_replies)), (
        f"round {rnd}: two INCRs of the shared counter got the same reply")
    return acked


def check(conn: RespConn, rnd: int, models: list[ClientModel], runs: list[ClientRun],
          shared: dict[str, int]) -> int:
    """The restarted server holds every acknowledged write and, of each client's commands
    in flight, a prefix, each command whole; the models take in what landed (how many)."""
    landed = 0
    universe = {SHARED}
    incr_low = incr_high = 0
    for t, (model, run) in enumerate(zip(models, runs)):
        universe |= {own(t, f"k{j}") for j in range(NKEYS)} | {own(t, "n"), own(t, "list")}
        seen = seen_state(conn, t)
        prefixes, m = [], model.copy()
        for k in range(len(run.inflight) + 1):
            if k:
                m.apply(run.inflight[k - 1])
            if m.state() == seen:
                prefixes.append(k)
        assert prefixes, (f"round {rnd}, client {t}: expected the acknowledged writes and "
                          f"a prefix of those in flight, each whole; saw otherwise:\n  "
                          + state_difference(model, seen, run.inflight))
        lo, hi = min(prefixes), max(prefixes)
        for op in run.inflight[:hi]:
            model.apply(op)
        landed += sum(op.kind != "incr" for op in run.inflight[:hi])
        incr_low += sum(op.kind == "incr" for op in run.inflight[:lo])
        incr_high += sum(op.kind == "incr" for op in run.inflight[:hi])  # (the INCRs
        # between lo and hi leave no trace in the client's own keys)
    # the shared counter: every acknowledged INCR, and of those in flight what can have landed
    got = int(conn.call(b"GET", SHARED) or 0)
    low = shared["value"] + shared["acked"]
    assert low + incr_low <= got <= low + incr_high and got >= shared["max_reply"], (
        f"round {rnd}: shared counter: expected between {low + incr_low} and "
        f"{low + incr_high} ({low} acknowledged), at least the largest reply "
        f"{shared['max_reply']}; saw {got}")
    landed += got - low
    shared["value"], shared["acked"] = got, 0
    keys = set(conn.call(b"KEYS", b"*"))
    assert keys <= universe, f"round {rnd}: keys never written: {sorted(keys - universe)[:5]}"
    assert conn.call(b"DBSIZE") == len(keys)
    return landed


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_write(pool_dir):
    pmalloc_only("kill -9 of our server")
    pool = f"{pool_dir}/kill.pool"
    rng = random.Random(1414)
    models = [ClientModel() for _ in range(CLIENTS)]
    shared = {"value": 0, "acked": 0, "max_reply": 0}
    runs = [ClientRun() for _ in range(CLIENTS)]
    acked = landed = 0
    startup: list[float] = []
    server = start_server(pool)
    try:
        for rnd in range(ROUNDS + 1):
            startup.append(server.started_in)
            with server.conn() as conn:
                landed += check(conn, rnd - 1, models, runs, shared)
            if rnd == ROUNDS:
                break
            runs = [ClientRun() for _ in range(CLIENTS)]
            acked += play_round(server, rnd, rng, models, runs, shared)
            if rnd % 10 == 9:
                kill_while_opening(pool, rng)
            server = start_server(pool)
    except BaseException:
        if not server.stopped:
            server.kill()
        raise
    server.stop()
    print(f"{ROUNDS} kills: {acked} commands acknowledged, {landed} in flight landed; "
          f"start-up {min(startup):.3f}-{max(startup):.3f} s "
          f"(mean {sum(startup) / len(startup):.3f} s)")
    assert acked > 10 * ROUNDS, f"expected the clients to get further: {acked} commands"
