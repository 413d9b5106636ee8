"""Snapshots come from the sharpest frame of the last second, encoded at the received size."""

import av
import cv2
import numpy as np

from gateway.media.frames import LatestFrame, encode_jpeg, sharpest, sharpness


def scene(blur: int = 0, seed: int = 1) -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    image = np.zeros((480, 640, 3), np.uint8)
    for _ in range(40):  # hard-edged rectangles: plenty of detail for a sharp frame
        x, y = rng.integers(0, 600), rng.integers(0, 440)
        image[y:y + 40, x:x + 40] = rng.integers(0, 255, 3)
    if blur:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")


def test_a_blurred_frame_scores_lower_than_the_same_frame_sharp():
    assert sharpness(scene(blur=4)) < sharpness(scene()) / 4


def test_the_sharpest_frame_is_chosen_among_blurred_ones():
    latest = LatestFrame()
    frames = [scene(blur=5), scene(blur=3), scene(), scene(blur=6), scene(blur=2)]
    for i, frame in enumerate(frames):
        latest.update(frame, received_at=100.0 + i * 0.066)
    assert sharpest(latest.window_frames()).frame is frames[2]


def test_only_the_last_second_is_kept():
    latest = LatestFrame(window_seconds=1.0)
    for i in range(60):
        latest.update(scene(seed=i % 3), received_at=i / 15)
    kept = latest.window_frames()
    assert kept[-1].received_at - kept[0].received_at <= 1.0
    assert latest.count == 60 and latest.current is kept[-1]


def test_the_longest_freeze_is_the_longest_time_between_two_frames_and_starts_at_the_first():
    latest = LatestFrame()
    frame = scene()
    assert latest.longest_gap == 0.0
    for at in (50.0, 50.066, 51.8, 51.866, 52.5):  # the wait for the first frame is no freeze
        latest.update(frame, received_at=at)
    assert abs(latest.longest_gap - 1.734) < 1e-9


def test_jpeg_keeps_the_received_resolution_and_decodes():
    jpeg = encode_jpeg(scene())
    assert (jpeg.width, jpeg.height) == (640, 480)
    decoded = cv2.imdecode(np.frombuffer(jpeg.data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (480, 640, 3)


def test_luma_reads_the_brightness_plane_without_converting_the_frame():
    from gateway.media.frames import luma

    frame = scene()
    plane = luma(frame)
    assert plane.shape == (480, 640)
    # Video luma is limited range (16 to 235); the converted grey is full range.
    full = (plane.astype(float) - 16) * 255 / 219
    converted = frame.to_ndarray(format="gray").astype(float)
    assert abs(full - converted).mean() < 4
