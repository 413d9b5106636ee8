"""The media features a control room relies on, with Janus as the media plane: the same tests as
the embedded relay's (imported from their modules), run against a gateway whose callers publish to
a real Janus VideoRoom and whose own frames come from its subscription there.

Health, embeds and the end of a session are also run on both planes with Chromium
(tests/e2e/test_media_planes.py, test_console_media.py); the features that only differ in what
happens after a frame reaches the gateway (interval snapshots, an embed's withdrawal) are not
run twice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.config import JanusSettings
from gateway.web.keys import LIVE

from ..conftest import needs_test_network
from .test_janus_plane import janus
from .test_media import (
    streaming,
    test_the_caller_ending_closes_everything_and_is_recorded,
    test_the_handler_ending_tells_the_caller,
)
from .test_media_features import (
    test_a_caller_that_offers_only_h264_still_streams,
    test_a_cut_to_a_new_scene_takes_a_snapshot_by_itself,
    test_a_recording_is_written_in_segments_whose_hashes_verify,
    test_mjpeg_sends_jpeg_parts_for_viewers_without_webrtc,
    test_three_viewers_watch_one_caller_each_on_their_own_connection,
)
from .test_stream_signal import (
    FROZEN,
    MAX_AGE,
    SILENCE,
    caller,
    test_a_caller_without_a_camera_is_sharing_location_not_just_consented,
    test_a_frozen_stream_refuses_a_snapshot_unless_the_old_frame_is_asked_for,
    test_a_snapshot_of_live_video_is_fresh_and_says_its_age,
    test_packets_lost_for_good_bring_keyframe_requests_and_the_video_keeps_coming,
    test_video_that_resumes_is_live_again,
    test_video_that_stops_is_reported_frozen_then_the_session_ends_though_fixes_keep_coming,
)

pytestmark = needs_test_network

__all__ = [
    "caller", "janus", "streaming",
    "test_a_caller_that_offers_only_h264_still_streams",
    "test_a_cut_to_a_new_scene_takes_a_snapshot_by_itself",
    "test_a_recording_is_written_in_segments_whose_hashes_verify",
    "test_the_caller_ending_closes_everything_and_is_recorded",
    "test_the_handler_ending_tells_the_caller",
    "test_three_viewers_watch_one_caller_each_on_their_own_connection",
    "test_a_caller_without_a_camera_is_sharing_location_not_just_consented",
    "test_a_frozen_stream_refuses_a_snapshot_unless_the_old_frame_is_asked_for",
    "test_a_snapshot_of_live_video_is_fresh_and_says_its_age",
    "test_mjpeg_sends_jpeg_parts_for_viewers_without_webrtc",
    "test_packets_lost_for_good_bring_keyframe_requests_and_the_video_keeps_coming",
    "test_video_that_resumes_is_live_again",
    "test_video_that_stops_is_reported_frozen_then_the_session_ends_though_fixes_keep_coming",
]


@pytest.fixture
def settings(settings, janus):
    plane = JanusSettings(janus.url, janus.api_secret, janus.admin_key)
    media = replace(settings.media, plane="janus", janus=plane, max_snapshot_age_seconds=MAX_AGE,
                    frozen_after_seconds=FROZEN, silence_timeout_seconds=SILENCE,
                    # as test_media_features has them
                    segment_seconds=1, scene_change_cooldown_seconds=0.5, embed_origins=("https://cad.example",))
    return replace(settings, media=media)


class NoFallback:
    """Stands in for the embedded fallback: here every caller must go through Janus."""

    def caller(self, incident_id, peer):
        raise AssertionError(f"incident {incident_id}: the caller was relayed by the gateway, not Janus")


@pytest.fixture(autouse=True)
def through_janus_only(client):
    live = client.app[LIVE]
    assert live.plane.name == "janus"
    live.fallback_plane = NoFallback()
