"""Which missing packets a retransmission can still bring, and when to ask for them again."""

from __future__ import annotations

import pytest

from gateway.media.retransmission import NackTuning, Retransmissions

TUNING = NackTuning(initial_turnaround=0.2, overdue_factor=1.5, overdue_margin=0.05, max_requests=3,
                    history_seconds=2.0)
OVERDUE = 0.2 * 1.5 + 0.05 + 1e-9  # just past the point (the sums below are in floating point)


def tracker(**changes) -> Retransmissions:
    values = {**TUNING.__dict__, **changes}
    return Retransmissions(NackTuning(**values))


def test_packets_skipped_over_are_missing_and_a_late_arrival_is_no_longer():
    r = tracker()
    r.seen(100, 0.0)
    r.seen(103, 0.01)
    assert r.missing == [101, 102]
    r.seen(102, 0.2)
    assert r.missing == [101]
    assert 101 in r and 102 not in r


def test_a_packet_is_asked_for_again_only_once_its_last_request_is_overdue():
    r = tracker()
    r.seen(100, 0.0)
    r.seen(102, 0.0)  # 101 missed: aiortc's receiver asks for it at once
    assert r.due(OVERDUE - 0.01) == []
    assert r.due(OVERDUE) == [101]
    assert r.due(OVERDUE + 0.01) == []  # just asked
    assert r.due(2 * OVERDUE) == [101]
    assert r.repeated_requests == 2


def test_requests_stop_at_the_limit_and_the_packet_is_lost_once_the_last_is_overdue():
    r = tracker(max_requests=3)
    r.seen(100, 0.0)
    r.seen(102, 0.0)
    assert r.due(OVERDUE) == [101] and r.due(2 * OVERDUE) == [101]  # requests 2 and 3
    assert r.due(3 * OVERDUE) == []
    assert not r.lost(101, 3 * OVERDUE - 0.01)  # the third may still be answered
    assert r.lost(101, 3 * OVERDUE)


def test_nothing_is_asked_for_that_the_sender_will_have_dropped_from_its_history():
    r = tracker(max_requests=10, history_seconds=1.0)
    r.seen(100, 0.0)
    r.seen(102, 0.0)
    asked = [t for t in (i * OVERDUE for i in range(1, 10)) if r.due(t)]
    # Each repeat is asked only while its answer (a turnaround later) can come within the history.
    assert asked and all(t + r.turnaround <= 1.0 for t in asked)
    assert not r.lost(101, asked[-1] + OVERDUE - 0.01)
    assert r.lost(101, asked[-1] + OVERDUE)


def test_a_packet_asked_for_once_teaches_the_turnaround_one_asked_for_twice_does_not():
    r = tracker()
    r.seen(100, 0.0)
    r.seen(102, 0.0)
    r.seen(101, 0.5)  # answered after 0.5 s: slower than assumed, the estimate rises at once
    assert r.turnaround == pytest.approx(0.2 + 0.5 * (0.5 - 0.2))
    before = r.turnaround
    r.seen(104, 1.0)
    assert r.due(1.0 + r.overdue_after()) == [103]
    r.seen(103, 1.0 + r.overdue_after() + 0.05)  # which request does it answer? unknown
    assert r.turnaround == before
    assert r.filled == 2 and r.filled_after_repeat == 1


def test_fast_retransmissions_lower_the_turnaround_slowly_and_not_below_a_measured_round_trip():
    r = tracker()
    r.observe_round_trip(0.15)
    for i in range(50):
        base = 1000 + 3 * i
        r.seen(base, i)
        r.seen(base + 2, i)
        r.seen(base + 1, i + 0.02)  # 20 ms: faster than the path's round trip allows
    assert r.turnaround == pytest.approx(0.15)


def test_skipped_packets_are_forgotten_and_never_asked_for():
    r = tracker()
    r.seen(100, 0.0)
    r.seen(105, 0.0)
    r.forget_before(103)
    assert r.missing == [103, 104]
    r.forget(103)
    assert r.due(OVERDUE) == [104]


def test_it_tracks_across_the_sequence_number_wrap():
    r = tracker()
    r.seen(65534, 0.0)
    r.seen(1, 0.0)
    assert r.missing == [65535, 0]
    r.seen(0, 0.1)
    assert r.missing == [65535]


def test_a_jump_no_buffer_spans_is_a_restart_not_thousands_of_missing_packets():
    r = tracker(capacity=512)
    r.seen(100, 0.0)
    r.seen(102, 0.0)
    r.seen(10_000, 0.1)
    assert r.missing == []


def test_what_falls_out_of_the_buffers_span_is_forgotten():
    r = tracker(capacity=512)
    r.seen(100, 0.0)
    r.seen(102, 0.0)
    r.seen(400, 0.1)
    r.seen(700, 0.2)  # 512 behind it is 188
    assert 101 not in r and 187 not in r and 188 in r
    assert len(r.missing) == (399 - 188 + 1) + (699 - 401 + 1)
