"""The benchmarks' synthetic callers loop their file with rising timestamps, and count-only viewers
number frames by RTP timestamp, checked against the stamp in the picture."""

from __future__ import annotations

import pytest

from benchmarks import media_peers
from benchmarks.media_peers import TICKS_PER_FRAME, Caller, StampedSource, Viewer, file_frames, is_keyframe
from benchmarks.media_sample import write_video

FILE_FRAMES = 15  # a one-second file at 15 fps: one keyframe, its first frame


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "one-second.ivf", seconds=1)["path"]


async def test_a_callers_frame_indices_and_timestamps_keep_rising_where_its_file_starts_again(video):
    source = StampedSource(video)
    packets = [await source.recv() for _ in range(FILE_FRAMES + 3)]
    assert [p.pts for p in packets] == list(range(FILE_FRAMES + 3))
    assert bytes(packets[FILE_FRAMES]) == bytes(packets[0])  # the file again, under the next index
    assert sorted(source.sent) == list(range(FILE_FRAMES + 3))
    # A stamp names the latest index sent with that picture.
    assert source.index_of(2) == FILE_FRAMES + 2
    assert source.index_of(5) == 5
    assert source.index_of(FILE_FRAMES) is None
    source.stop()


async def test_a_count_only_viewer_numbers_frames_by_rtp_timestamp_from_a_keyframes_stamp(video, monkeypatch):
    monkeypatch.setattr(media_peers, "VERIFY_SECONDS", 0.0)  # check every keyframe
    frames = file_frames(video)
    assert is_keyframe(frames[0]) and not is_keyframe(frames[1])
    caller = Caller(video)
    for _ in range(FILE_FRAMES + 3):  # indices 0..17 sent; index 15 is the file's frame 0 again
        await caller.source.recv()
    viewer = Viewer(caller, count_only=True)
    try:
        viewer._complete(0, frames[1])  # nothing is counted before a keyframe ties the numbering
        assert viewer.got == {}
        viewer._complete(0, frames[0])  # a keyframe stamped 0: the latest index with that stamp, 15
        viewer._complete(TICKS_PER_FRAME, frames[1])
        viewer._complete(2 * TICKS_PER_FRAME, frames[2])
        assert sorted(viewer.got) == [15, 16, 17]
        viewer._complete(2 * TICKS_PER_FRAME + TICKS_PER_FRAME // 2, frames[3])  # between two frames
        assert viewer.unreadable == 1
        # A later keyframe whose stamp agrees with its timestamp confirms the numbering ...
        viewer._complete(FILE_FRAMES * TICKS_PER_FRAME, frames[0])
        assert (viewer.verified, viewer.misnumbered) == (1, 0)
        assert 30 in viewer.got
        # ... and one that disagrees is counted as misnumbered and ties the numbering again.
        viewer._complete(20 * TICKS_PER_FRAME, frames[0])
        assert (viewer.verified, viewer.misnumbered) == (1, 1)
        assert viewer.calibration == (20 * TICKS_PER_FRAME, 15)
    finally:
        await viewer.close()
        await caller.close()
