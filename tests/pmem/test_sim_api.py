"""pmalloc.sim: images, drain points, sampling, determinism, C routing, reports."""
from __future__ import annotations

import struct

import pytest

from pmalloc import sim
from pmalloc._native import ffi, lib
from pmalloc.errors import InvalidArgumentError, PmallocError, PoolClosedError

Q = struct.Struct("<Q")


def append_records(correct: bool, n: int = 5):
    """A tiny log: records at 64-byte slots, a count at offset 0 that says how many are valid."""
    def run(m):
        for i in range(n):
            slot = 64 * (i + 1)
            m[slot:slot + 16] = Q.pack(1000 + i) + Q.pack(~(1000 + i) & (2**64 - 1))
            if correct:
                m.persist(slot, 16)        # the record first ...
            m[0:8] = Q.pack(i + 1)         # ... then the count that publishes it
            m.persist(0, 8)
            if not correct:
                m.persist(slot, 16)
    return run


def check_records(m):
    count = Q.unpack(m[0:8])[0]
    assert count <= 5, f"count {count}"
    for i in range(count):
        slot = 64 * (i + 1)
        a, b = Q.unpack(m[slot:slot + 8])[0], Q.unpack(m[slot + 8:slot + 16])[0]
        assert a == 1000 + i and b == ~a & (2**64 - 1), f"record {i} is {a:#x} {b:#x}"


def test_correct_order_passes_everywhere():
    report = sim.run(append_records(True), check_records)
    assert report.ok
    assert report.points == 11 and report.points_checked == 11
    assert report.states > report.points


def test_wrong_order_is_caught_with_a_diff():
    with pytest.raises(sim.CrashCheckError) as e:
        sim.run(append_records(False), check_records)
    report = e.value.report
    assert report.failure is not None and isinstance(report.exception, AssertionError)
    assert report.failure.kept == [0]            # the count reached the media, the record not
    text = str(e.value)
    assert "record 0" in text and "+0x0000" in text and "kept new" in text


def test_same_seed_same_states_and_sampling():
    def many_words(m):
        for i in range(20):                      # 20 unflushed words: 2**20 combinations
            m[8 * i:8 * i + 8] = Q.pack(i + 1)
        m.persist(0, 8)

    a = sim.explore(many_words, seed=7, max_states=50)
    b = sim.explore(many_words, seed=7, max_states=50)
    c = sim.explore(many_words, seed=8, max_states=50)
    assert [s.choice for s in a] == [s.choice for s in b]
    assert [s.choice for s in a] != [s.choice for s in c]
    first = [s for s in a if s.point == 1]
    assert len(first) == 50 and len({s.choice for s in first}) == 50
    assert first[0].choice == (0,) * 20 and first[1].choice == (1,) * 20
    # after the persist of word 0 the other 19 are still open: 2**19 > 50, sampled too
    assert len([s for s in a if s.final]) == 50


def test_points_are_sampled_beyond_max_points():
    def drains(m):
        for i in range(50):
            m[0:8] = Q.pack(i)
            m.persist(0, 8)

    seen = []
    report = sim.run(drains, lambda m: seen.append(Q.unpack(m[0:8])[0]), max_points=10)
    assert report.points == 51 and report.points_checked == 10
    states = sim.explore(drains, max_points=10, seed=3)
    points = sorted({s.point for s in states})
    assert len(points) == 10 and points[-1] == 51
    assert points == sorted({s.point for s in sim.explore(drains, max_points=10, seed=3)})


def test_flushed_not_drained_word_has_three_values():
    with sim.Sim(128) as s:
        m = s.mapping
        m[0:8] = Q.pack(1)
        m.flush(0, 8)                            # snapshot 1, not drained
        m[0:8] = Q.pack(2)                       # then overwritten
        words = s.words()
        assert words == [sim.Word(0, (0, 1, 2))]
        assert s.persisted() == bytes(128)
        m.drain()
        assert Q.unpack(s.persisted()[0:8])[0] == 1   # the flushed value, not the later one
        assert s.words() == [sim.Word(0, (1, 2))]
        assert s.drains == 1


def test_sim_load_and_errors():
    with sim.Sim(100, initial=b"abc") as s:
        assert s.size == 128 and s.mapping.is_pmem and s.mapping.persist_kind == "sim"
        assert s.persisted()[:4] == b"abc\0" and s.words() == []
        with pytest.raises(InvalidArgumentError):
            s.load(bytes(129))
        view = memoryview(s.mapping)
        with pytest.raises(sim.LeakedViewError) as e:
            s.close()
        assert e.value.call == "close" and "1 view(s)" in str(e.value)
        assert s.persisted()[:3] == b"abc"      # still open
        view.release()
    with pytest.raises(PoolClosedError):
        s.persisted()
    s.close()
    with pytest.raises(InvalidArgumentError):
        sim.Sim(0)
    with pytest.raises(InvalidArgumentError):
        sim.run(lambda m: None, lambda m: None, max_states=1)


def test_nondeterministic_workload_is_refused():
    calls = []

    def flaky(m):
        calls.append(1)
        for _ in range(len(calls)):
            m.persist(0, 8)

    with pytest.raises(sim.NondeterministicWorkload):
        sim.run(flaky, lambda m: None)


def test_workload_may_close_its_mapping():
    def closes(m):
        m.persist(0, 8)
        m.close()

    assert sim.run(closes, lambda m: None).points == 2


def test_workload_exception_propagates():
    def boom(m):
        raise KeyError("from the workload")

    with pytest.raises(KeyError):
        sim.run(boom, lambda m: None)


def simulated(address: int) -> bool:
    """Whether a live simulator holds address."""
    ops = lib.pmalloc_persist_ops(ffi.cast("void *", address), 8, lib.PMALLOC_OPS_AUTO)
    return ffi.string(lib.pmalloc_ops_name(ops)) == b"sim"


def test_view_left_by_the_workload_is_named_and_the_next_run_works():
    kept = []
    addresses = []

    def workload(m):
        kept.append(memoryview(m)[0:8])          # a slice of a view: still an export
        addresses.append(m._addr)
        m[0:8] = Q.pack(7)
        m.persist(0, 8)

    with pytest.raises(sim.LeakedViewError) as e:
        sim.run(workload, lambda m: None)
    err = e.value
    assert isinstance(err, BufferError) and isinstance(err, PmallocError)
    assert err.call == "workload" and err.views == 1
    text = str(err)
    assert text.startswith("the workload returned with 1 view(s)"), text
    assert "with memoryview(m) as v" in text and "del" in text, text
    assert Q.unpack(kept[0])[0] == 7             # the view still reads the memory it kept
    assert simulated(addresses[0])
    del e, err                                   # (its traceback holds the Sim)
    kept.clear()                                 # the last view gone, the simulator is freed
    assert not simulated(addresses[0])
    assert sim.run(append_records(True), check_records).points == 11


def test_view_left_by_the_check_is_named_and_the_next_run_works():
    np = pytest.importorskip("numpy")
    kept = []

    def check(m):
        kept.append(np.frombuffer(m, dtype=np.uint64))   # an array: a view too

    with pytest.raises(sim.LeakedViewError) as e:
        sim.run(append_records(True), check)
    assert e.value.call == "check"
    assert str(e.value).startswith("the check returned on crash state 0 at drain point 1 of 10 "
                                   "with 1 view(s)"), str(e.value)
    kept.clear()
    assert sim.run(append_records(True), check_records).ok


def test_views_held_by_a_failure_do_not_hide_it():
    def workload(m):
        view = memoryview(m)                     # alive in the traceback
        raise KeyError("from the workload")

    with pytest.raises(KeyError):
        sim.run(workload, lambda m: None)

    def check(m):
        with memoryview(m) as released:
            assert released[0] in (0, 1)
        view = memoryview(m)
        assert view[0] == 0, "fails at the end"

    with pytest.raises(sim.CrashCheckError) as e:
        sim.run(lambda m: m.memset_persist(0, 1, 8), check)
    assert "fails at the end" in str(e.value)
    assert sim.run(lambda m: m.persist(0, 8), lambda m: None).ok


def test_c_calls_on_sim_memory_are_routed():
    """pmem_persist / pmem_memcpy_persist on a simulator's address reach the simulator."""
    with sim.Sim(4096) as s:
        base = ffi.cast("char *", s.mapping._addr)
        assert lib.pmem_is_pmem(base, 4096) == 1
        ops = lib.pmalloc_persist_ops(base, 64, lib.PMALLOC_OPS_AUTO)
        assert ffi.string(lib.pmalloc_ops_name(ops)) == b"sim"
        s.mapping[0:5] = b"hello"
        lib.pmem_persist(base, 5)
        assert s.persisted()[:5] == b"hello" and s.drains == 1
        lib.pmem_memcpy_persist(base + 100, b"world", 5)
        assert s.persisted()[100:105] == b"world" and s.drains == 2
        lib.pmem_memset_nodrain(base + 200, 0x41, 3)
        assert s.persisted()[200:203] == bytes(3)
        lib.pmem_drain()
        assert s.persisted()[200:203] == b"AAA"
        lib.pmem_flush(base + 300, 1)            # flushed, never drained: not persisted
        s.mapping[300] = 9
        assert s.persisted()[300] == 0


def test_c_workload_through_libpmem_is_checked():
    """A workload that only calls libpmem (as C code would) is simulated too."""
    def c_like(m):
        p = ffi.cast("char *", m._addr)
        lib.pmem_memcpy_persist(p + 64, b"payload!", 8)
        lib.pmem_memcpy_persist(p, Q.pack(1), 8)

    def check(m):
        if Q.unpack(m[0:8])[0] == 1:
            assert m[64:72] == b"payload!"

    assert sim.run(c_like, check).points == 3
