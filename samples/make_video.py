"""Write the synthetic test video that browser tests play as a fake camera.

    python samples/make_video.py [PATH]        # default: samples/build/scene.y4m

The picture is easy to recognise in a compressed, possibly down-scaled JPEG: four large flat
coloured quadrants (red, green, blue, yellow), separated by a dark horizontal strip across the
middle in which a white bar moves and the frame number is printed. The moving parts stay inside
the strip, so the middle of each quadrant is the same in every frame: compare those patches
(:func:`quadrant_means`) against :func:`reference_frame` to check that a snapshot shows this video.

The file is raw YUV 4:2:0 in a YUV4MPEG2 container (what Chromium's
``--use-file-for-fake-video-capture`` reads), written with PyAV and numpy; no ffmpeg program needed.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

WIDTH = 640
HEIGHT = 480
FPS = 15
SECONDS = 4
DEFAULT_PATH = Path(__file__).resolve().parent / "build" / "scene.y4m"

# RGB colours of the quadrants, by name.
QUADRANT_COLOURS: dict[str, tuple[int, int, int]] = {
    "top_left": (220, 40, 40),  # red
    "top_right": (40, 180, 70),  # green
    "bottom_left": (40, 70, 220),  # blue
    "bottom_right": (240, 210, 40),  # yellow
}

# The moving strip across the middle, as fractions of the height.
STRIP = (200 / HEIGHT, 280 / HEIGHT)
STRIP_COLOUR = (30, 30, 30)

# Patches that never change, as fractions (x0, y0, x1, y1) of the frame: the middle of each
# quadrant, well clear of the strip and the quadrant edges. Fractions, so that they also apply to
# a frame the browser has scaled down (e.g. 480x360).
PATCHES: dict[str, tuple[float, float, float, float]] = {
    "top_left": (0.08, 0.08, 0.42, 0.34),
    "top_right": (0.58, 0.08, 0.92, 0.34),
    "bottom_left": (0.08, 0.66, 0.42, 0.92),
    "bottom_right": (0.58, 0.66, 0.92, 0.92),
}


def reference_frame(index: int = 0, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Frame ``index`` of the video as an RGB ``uint8`` array of shape (height, width, 3)."""
    img = np.empty((height, width, 3), dtype=np.uint8)
    hx, hy = width // 2, height // 2
    img[:hy, :hx] = QUADRANT_COLOURS["top_left"]
    img[:hy, hx:] = QUADRANT_COLOURS["top_right"]
    img[hy:, :hx] = QUADRANT_COLOURS["bottom_left"]
    img[hy:, hx:] = QUADRANT_COLOURS["bottom_right"]
    s0, s1 = int(STRIP[0] * height), int(STRIP[1] * height)
    img[s0:s1] = STRIP_COLOUR
    # A white bar sweeping left to right once a second.
    bar_w = max(8, width // 26)
    pos = (index % FPS) / FPS
    x0 = int(pos * (width - bar_w))
    img[s0 + 6 : s1 - 6, x0 : x0 + bar_w] = (255, 255, 255)
    _draw_counter(img, index, s0, s1)
    return img


def _draw_counter(img: np.ndarray, index: int, s0: int, s1: int) -> None:
    """Print the frame number in the strip (cv2 when available; the test does not need it)."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv is a gateway dependency
        return
    text = f"{index:04d}"
    scale = (s1 - s0) / 60
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    org = (img.shape[1] - tw - 12, s0 + (s1 - s0 + th) // 2)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 0), 2, cv2.LINE_AA)


def quadrant_means(rgb: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """Mean RGB colour of each stable patch of ``rgb`` (any size: the patches are fractions)."""
    h, w = rgb.shape[:2]
    out: dict[str, tuple[float, float, float]] = {}
    for name, (fx0, fy0, fx1, fy1) in PATCHES.items():
        patch = rgb[int(fy0 * h) : int(fy1 * h), int(fx0 * w) : int(fx1 * w)]
        mean = patch.reshape(-1, 3).mean(axis=0)
        out[name] = (float(mean[0]), float(mean[1]), float(mean[2]))
    return out


def resemblance(rgb: np.ndarray) -> float:
    """Largest per-channel difference between ``rgb``'s patch means and the reference colours.

    0 is a perfect match; a VP8-compressed, JPEG-encoded frame of this video scores well under 30,
    while any other picture (black, the browser's default fake camera, a wrong colour order) scores
    above 100.
    """
    means = quadrant_means(rgb)
    return max(
        abs(means[name][c] - QUADRANT_COLOURS[name][c]) for name in PATCHES for c in range(3)
    )


def write_video(path: Path, seconds: int = SECONDS, fps: int = FPS) -> Path:
    """Write the video to ``path`` as YUV4MPEG2 (4:2:0) and return the path."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="yuv4mpegpipe") as container:
        stream = container.add_stream("rawvideo", rate=Fraction(fps, 1))
        stream.width = WIDTH
        stream.height = HEIGHT
        stream.pix_fmt = "yuv420p"
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(reference_frame(i), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def ensure_video(path: Path = DEFAULT_PATH) -> Path:
    """Write the video unless a file is already there; return its path."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        tmp = path.with_suffix(".tmp.y4m")
        write_video(tmp)
        tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--seconds", type=int, default=SECONDS)
    args = parser.parse_args(argv)
    out = write_video(args.path, seconds=args.seconds)
    print(f"wrote {out} ({out.stat().st_size} bytes, {WIDTH}x{HEIGHT} at {FPS} fps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
