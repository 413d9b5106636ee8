"""The benchmarks' synthetic callers loop their file with rising timestamps, and count-only viewers
number frames by RTP timestamp, checked against the stamp in the picture."""

from __future__ import annotations

import pytest

from benchmarks import media_peers
from benchmarks.media_peers import TICKS_PER_FRAME, Caller, StampedSource, Viewer, file_frames, is_keyframe
from benchmarks.media_sample import write_video

FILE_FRAMES = 27  # 9 s at 3 fps, a keyframe every 12 frames (the file's 4 s): keyframes 0, 12 and 24


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "short.ivf", seconds=9, fps=3)["path"]


async def test_a_callers_frame_indices_and_timestamps_keep_rising_where_its_file_starts_again(video):
    source = StampedSource(video)
    source._start = 0.0  # as if started long ago: frames go without pacing
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
    caller.source._start = 0.0
    for _ in range(FILE_FRAMES + 3):  # indices 0..29 sent; index 27 is the file's frame 0 again
        await caller.source.recv()
    viewer = Viewer(caller, count_only=True)
    try:
        viewer._complete(0, frames[1])  # nothing is counted before a keyframe ties the numbering
        assert viewer.got == {}
        viewer._complete(0, frames[0])  # a keyframe stamped 0: the latest index with that stamp, 27
        viewer._complete(TICKS_PER_FRAME, frames[1])
        viewer._complete(2 * TICKS_PER_FRAME, frames[2])
        assert sorted(viewer.got) == [27, 28, 29]
        viewer._complete(2 * TICKS_PER_FRAME + TICKS_PER_FRAME // 2, frames[3])  # between two frames
        assert viewer.unreadable == 1
        # A later keyframe whose stamp agrees with its timestamp confirms the numbering ...
        viewer._complete(FILE_FRAMES * TICKS_PER_FRAME, frames[0])
        assert (viewer.verified, viewer.misnumbered) == (1, 0)
        assert 27 + FILE_FRAMES in viewer.got
        # ... and one that disagrees is counted as misnumbered and ties the numbering again.
        viewer._complete(20 * TICKS_PER_FRAME, frames[0])
        assert (viewer.verified, viewer.misnumbered) == (1, 1)
        assert viewer.calibration == (20 * TICKS_PER_FRAME, 27)
    finally:
        await viewer.close()
        await caller.close()


async def test_a_caller_asked_for_a_keyframe_sends_the_files_next_one_at_once_and_numbering_follows(video):
    source = StampedSource(video, keyframes_on_request=True)
    assert source.keyframes == (0, 12, 24)
    source._start = 0.0  # as if started long ago: frames go without pacing
    for _ in range(5):
        await source.recv()
    source.request_keyframe()
    packet = await source.recv()
    assert packet.pts == 5 and is_keyframe(bytes(packet))  # index 5 shows the file's frame 12
    assert source.file_frame(5) == 12 and source.file_frame(4) == 4
    await source.recv()
    assert source.file_frame(6) == 13
    assert source.index_of(13) == 6 and source.index_of(4) == 4
    source.request_keyframe()
    await source.recv()
    assert source.file_frame(7) == 24 and source.keyframes_sent_on_request == 2
    source.stop()


async def test_a_layered_samples_callers_packets_carry_each_frames_temporal_layer(tmp_path):
    """As Chromium sends L1T3: layer ids 0, 2, 1, 2 by the file's frame, read by the gateway's parser;
    and the file's layer-0 frames decode alone to the pictures the whole file gives."""
    import av
    import numpy as np

    from benchmarks.media_sample import LAYER_PATTERN
    from gateway.media.layers import vp8_temporal_layer

    path = write_video(tmp_path / "short-l1t3.ivf", seconds=6, fps=4, layered=True)["path"]
    caller = Caller(path)
    try:
        packer = caller.pc.getTransceivers()[0].sender._RTCRtpSender__encoder
        caller.source._start = 0.0
        layers = []
        for _ in range(10):
            payloads, _ = packer.pack(await caller.source.recv())
            found = {vp8_temporal_layer(p) for p in payloads}
            assert len(found) == 1  # every packet of a frame says the same
            layers.append(found.pop())
        assert [layer.tid for layer in layers] == [LAYER_PATTERN[i % 4] for i in range(10)]
    finally:
        await caller.close()

    frames = file_frames(path)

    def decode(data: list[bytes]) -> list[np.ndarray]:
        decoder = av.CodecContext.create("libvpx", "r")
        return [decoder.decode(av.Packet(f))[0].to_ndarray() for f in data]

    full = decode(list(frames))
    base = decode([frames[i] for i in range(0, len(frames), 4)])
    assert all(np.array_equal(full[i], b) for i, b in zip(range(0, len(frames), 4), base, strict=True))
