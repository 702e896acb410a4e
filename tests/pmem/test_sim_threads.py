"""pmalloc.sim with threaded workloads: every drain of every thread is a crash point."""
from __future__ import annotations

import struct
import threading

import pytest

from pmalloc import sim

Q = struct.Struct("<Q")
MASK = 2**64 - 1
THREADS = 4
PERSISTS = 50
RECORDS = 5
REGION = 1024  # each thread's part of the range


def in_threads(body, n: int = THREADS):
    """A workload running body(m, i) in n threads, joined before it returns; a thread's
    exception is raised again by the workload."""
    def workload(m):
        errors: list[BaseException] = []

        def guarded(i: int) -> None:
            try:
                body(m, i)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=guarded, args=(i,), name=f"writer-{i}")
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    return workload


def counter(m, i):
    for k in range(PERSISTS):
        m[64 * i:64 * i + 8] = Q.pack(k + 1)
        m.persist(64 * i, 8)


def test_every_drain_of_every_thread_is_a_point_every_run():
    expected = THREADS * PERSISTS + 1           # the drains, and the end
    seen = [sim.run(in_threads(counter), lambda m: m[0:8]).points for _ in range(5)]
    assert seen == [expected] * 5, f"expected {expected} crash points in every run, saw {seen}"
    assert len({s.point for s in sim.explore(in_threads(counter))}) == expected


def appender(skip_record_persist: int | None = None):
    """Each thread appends records to its own region, persisting each record before the count
    that publishes it, except thread skip_record_persist, which never persists its records."""
    def body(m, i):
        base = REGION * i
        for k in range(RECORDS):
            slot = base + 64 * (k + 1)
            value = 1000 * i + k
            m[slot:slot + 16] = Q.pack(value) + Q.pack(~value & MASK)
            if i != skip_record_persist:
                m.persist(slot, 16)
            m[base:base + 8] = Q.pack(k + 1)
            m.persist(base, 8)
    return in_threads(body)


def check_appends(m):
    for i in range(THREADS):
        base = REGION * i
        count = Q.unpack(m[base:base + 8])[0]
        assert count <= RECORDS, f"thread {i}: count {count}"
        for k in range(count):
            slot = base + 64 * (k + 1)
            a, b = Q.unpack(m[slot:slot + 8])[0], Q.unpack(m[slot + 8:slot + 16])[0]
            assert a == 1000 * i + k and b == ~a & MASK, f"thread {i}: record {k} is {a:#x} {b:#x}"


def test_threaded_workload_that_holds_passes():
    report = sim.run(appender(), check_appends, size=THREADS * REGION)
    assert report.ok, str(report)
    assert report.points == THREADS * RECORDS * 2 + 1 and report.points_checked == report.points


def test_missing_persist_in_one_thread_is_caught():
    with pytest.raises(sim.CrashCheckError) as e:
        sim.run(appender(skip_record_persist=2), check_appends, size=THREADS * REGION)
    assert "thread 2: record" in str(e.value), str(e.value)


def test_a_drain_persists_only_its_own_threads_flushes():
    with sim.Sim(256) as s:
        m = s.mapping

        def other():
            m[64:72] = Q.pack(7)
            m.flush(64, 8)                       # flushed by another thread, never drained

        t = threading.Thread(target=other)
        t.start()
        t.join()
        m[0:8] = Q.pack(1)
        m.persist(0, 8)                          # this thread's drain
        persisted = s.persisted()
        assert Q.unpack(persisted[0:8])[0] == 1
        assert persisted[64:72] == bytes(8), "another thread's undrained flush became durable"
        assert sim.Word(64, (0, 7)) in s.words()
        m[72:80] = Q.pack(8)
        m.persist(64, 16)                        # a line both flushed: this drain persists it
        assert s.persisted()[64:80] == Q.pack(7) + Q.pack(8)
        assert s.words() == [] and s.drains == 2


def test_a_thread_still_persisting_after_the_workload_is_refused():
    go = threading.Event()                       # set by the check, after the workload
    done: list[threading.Event] = []

    def workload(m):
        finished = threading.Event()
        done.append(finished)

        def late():
            if go.wait(10):
                m.persist(0, 8)
            finished.set()

        threading.Thread(target=late, daemon=True).start()   # never joined

    def check(m):
        go.set()
        for finished in done:
            finished.wait(10)

    with pytest.raises(sim.StrayThreadError) as e:
        sim.run(workload, check)
    assert "join every thread" in str(e.value)
    assert all(finished.is_set() for finished in done)
    assert sim.run(in_threads(counter), lambda m: None).points == THREADS * PERSISTS + 1
