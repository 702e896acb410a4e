"""The torn write: "Hello" persisted, then "Hello, World!" written over it.

Without a persist after the second write, a crash may keep any subset of the 8-byte words
the second write changed; with the persist, only the new string survives the end."""
from __future__ import annotations

import itertools

from pmalloc import sim

OLD = b"Hello\0"
NEW = b"Hello, World!\0"


def workload(persist_second: bool):
    def run(m):
        m[0:len(OLD)] = OLD
        m.persist(0, len(OLD))
        m[0:len(NEW)] = NEW
        if persist_second:
            m.persist(0, len(NEW))
    return run


def c_string(image: bytes) -> bytes:
    return image.split(b"\0", 1)[0]


def allowed_after_second_write() -> set[bytes]:
    """Every mix of old and new aligned 8-byte words over the first 16 bytes."""
    old = OLD.ljust(16, b"\0")
    new = NEW.ljust(16, b"\0")
    out = set()
    for keep in itertools.product((False, True), repeat=2):
        image = b"".join((new if k else old)[8 * i:8 * i + 8] for i, k in enumerate(keep))
        out.add(c_string(image))
    return out


def test_allowed_set_is_what_atomicity_says():
    assert allowed_after_second_write() == {b"Hello", b"Hello, W", b"Hello, World!"}
    # (b"Hello" + "orld!" in word 1 is still read as "Hello": the NUL ends it)


def test_without_persist_any_word_mix_survives():
    states = sim.explore(workload(False))
    final = {c_string(s.image) for s in states if s.final}
    assert final == allowed_after_second_write()
    # the crash at the first drain point: nothing or "Hello" (6 bytes in one word)
    first = {c_string(s.image) for s in states if s.point == 1}
    assert first == {b"", b"Hello"}
    # two crash points: the first persist's drain and the end
    assert {s.point for s in states} == {1, 2}


def test_with_persist_only_the_new_string_survives():
    states = sim.explore(workload(True))
    final = [s for s in states if s.final]
    assert [c_string(s.image) for s in final] == [b"Hello, World!"]
    # at the second persist's drain point, the torn mixes are still possible
    second = {c_string(s.image) for s in states if s.point == 2}
    assert second == allowed_after_second_write()


def test_check_catches_the_torn_string_and_shows_the_words():
    def expect_whole(m):
        assert c_string(m[0:16]) in (b"", b"Hello", b"Hello, World!"), m[0:16]

    report = sim.run(workload(False), expect_whole, raise_on_failure=False)
    assert not report.ok
    assert c_string(report.failure.image) == b"Hello, W"
    text = str(report)
    assert "kept new" in text and "lost" in text and "|Hello, W|" in text
    assert report.failure.final                  # no persist: the end itself is torn
    assert report.points == 2 and report.points_checked == 2

    # with the persist the end is whole, but a crash during the persist may still tear
    torn = sim.run(workload(True), expect_whole, raise_on_failure=False)
    assert torn.failure is not None and torn.failure.point == 2 and not torn.failure.final
    assert torn.points == 3


def test_final_state_check_passes_with_persist():
    def expect_new_when_done(m):
        # a recovery check that knows the second write completed (a flag would say so)
        assert c_string(m[0:16]) in (b"", b"Hello", b"Hello, W", b"Hello, World!")

    report = sim.run(workload(True), expect_new_when_done)
    assert report.ok and report.points == 3 and report.points_checked == 3
    assert report.states == 2 + 4 + 1   # point 1: 2 states, point 2: 4, the end: 1
