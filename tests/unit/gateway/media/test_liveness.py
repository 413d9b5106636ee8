"""A session is judged alive by frames when it has video, by its data channel when it has not."""

from gateway.media.liveness import Liveness, StreamState

RULES = Liveness(frozen_after_seconds=1.5, silence_timeout_seconds=20)


def test_video_arriving_is_live_and_a_short_gap_is_frozen():
    assert RULES.judge(100, 0, True, 99.5, None).state == StreamState.LIVE
    verdict = RULES.judge(100, 0, True, 98, 99.9)
    assert verdict.state == StreamState.FROZEN and verdict.frame_age == 2 and verdict.gone is None


def test_video_silent_past_the_timeout_ends_whatever_the_data_channel_does():
    verdict = RULES.judge(100, 0, True, 79, last_message=99.9)
    assert verdict.gone and "no video" in verdict.gone


def test_a_caller_silent_on_both_clocks_is_gone_with_nothing_received():
    assert "nothing received" in RULES.judge(100, 0, True, 79, last_message=79).gone


def test_video_that_never_starts_ends_after_the_timeout():
    assert RULES.judge(10, 0, True, None, 9.9).state == StreamState.STARTING
    assert RULES.judge(10, 0, True, None, 9.9).gone is None
    assert RULES.judge(21, 0, True, None, 20.9).gone


def test_a_location_only_session_lives_by_its_messages():
    assert RULES.judge(100, 0, False, None, 90) == RULES.judge(100, 0, False, None, 90)
    verdict = RULES.judge(100, 0, False, None, 90)
    assert verdict.state == StreamState.LOCATION and verdict.gone is None and verdict.frame_age is None
    assert RULES.judge(100, 0, False, None, 79).gone
    assert RULES.judge(21, 0, False, None, None).gone
