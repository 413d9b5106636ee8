"""The benchmark's caller video: camera-like VP8 at 640x480, 15 fps, with each frame's number stamped in.

    python -m benchmarks.media_sample [PATH]      # default: samples/build/bench-640x480-15fps.ivf

Synthetic callers send this file's frames as they are, looped (:class:`benchmarks.media_peers.StampedSource`),
so the load generator spends no CPU on encoding and the machine's CPU goes to the server.

The picture: a large fixed texture (smoothed noise, gradients, a few shapes) seen through a slowly
panning, slightly shaking "hand-held" window, plus sensor-like noise on every frame, so that VP8 needs
a realistic bitrate (about 1.2 Mbit/s). At the top, two rows of 16 flat blocks of 32x32 pixels carry
the frame number: the first row its 16 bits (white = 1), the second row their complement. Flat,
macroblock-aligned blocks survive VP8 at any bitrate the gateway re-encodes at, and the complement
row lets :func:`read_stamp` reject a damaged read instead of returning a wrong number.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 15
SECONDS = 120  # callers loop it with rising timestamps; a viewer's frame is resolved within one pass
BITRATE = 1_200_000
KEYFRAME_SECONDS = 4
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = ROOT / "samples" / "build" / f"bench-{WIDTH}x{HEIGHT}-{FPS}fps.ivf"
# The same video as a Chromium caller page sends it (scalabilityMode "L1T3"): three temporal
# layers, ids 0, 2, 1, 2 repeating (libvpx's layering mode 3, libwebrtc's pattern), in libvpx's
# error-resilient mode as libwebrtc encodes layers. In that pattern the frames at positions 1 and
# 2 refer only to the last layer-0 frame (layer sync); the one at 3 refers to both.
LAYER_PATTERN = (0, 2, 1, 2)
LAYER_SYNC = (False, True, True, False)
LAYERED_PATH = ROOT / "samples" / "build" / f"bench-{WIDTH}x{HEIGHT}-{FPS}fps-l1t3.ivf"


def temporal_layers(path: Path) -> tuple[tuple[int, ...], tuple[bool, ...]] | None:
    """The layer pattern (ids, sync bits) of a sample written with layers; None for one without."""
    return (LAYER_PATTERN, LAYER_SYNC) if Path(path).name.endswith("-l1t3.ivf") else None

BITS = 16
BLOCK = 32
STAMP_X, STAMP_Y = 64, 16  # multiples of 16: blocks sit on VP8 macroblocks
WHITE, BLACK = 235, 16  # luma levels


def stamp_luma(y: np.ndarray, number: int) -> None:
    """Draw ``number`` (0 <= number < 2**16) into the luma plane ``y`` in place."""
    y[STAMP_Y - 8 : STAMP_Y + 2 * BLOCK + 8, STAMP_X - 8 : STAMP_X + BITS * BLOCK + 8] = 128
    for bit in range(BITS):
        one = (number >> (BITS - 1 - bit)) & 1
        x = STAMP_X + bit * BLOCK
        y[STAMP_Y : STAMP_Y + BLOCK, x : x + BLOCK] = WHITE if one else BLACK
        y[STAMP_Y + BLOCK : STAMP_Y + 2 * BLOCK, x : x + BLOCK] = BLACK if one else WHITE


def read_stamp(y: np.ndarray) -> int | None:
    """The number stamped in luma plane ``y`` (full 640x480), or None if it does not read cleanly."""
    if y.shape[0] < STAMP_Y + 2 * BLOCK or y.shape[1] < STAMP_X + BITS * BLOCK:
        return None
    q = BLOCK // 4
    rows = y[STAMP_Y : STAMP_Y + 2 * BLOCK, STAMP_X : STAMP_X + BITS * BLOCK].astype(np.float32)
    # Mean of the inner half of each block: 2 rows x 16 blocks.
    blocks = rows.reshape(2, BLOCK, BITS, BLOCK)[:, q : BLOCK - q, :, q : BLOCK - q].mean(axis=(1, 3))
    bits, complement = blocks[0] > 128, blocks[1] > 128
    if np.any(bits == complement) or np.any(np.abs(blocks - 128) < 40):
        return None
    number = 0
    for b in bits:
        number = (number << 1) | int(b)
    return number


def luma_of(frame) -> np.ndarray:
    """The luma plane of a decoded ``av.VideoFrame`` (yuv420p) as a 2-D array, without a copy."""
    plane = frame.planes[0]
    data = np.frombuffer(plane, np.uint8)
    return data.reshape(plane.height, plane.line_size)[:, : plane.width]


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    import cv2

    noise = rng.normal(0, 1, (h // 2, w // 2)).astype(np.float32)
    fine = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 0.8), (w, h), interpolation=cv2.INTER_CUBIC)
    coarse = cv2.resize(cv2.GaussianBlur(rng.normal(0, 1, (h // 32, w // 32)).astype(np.float32), (0, 0), 1.0),
                        (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 110 + 40 * coarse / (np.abs(coarse).max() + 1e-6) + 45 * fine / (np.abs(fine).max() + 1e-6)
    img += 25 * np.sin(xx / 97.0) * np.cos(yy / 131.0)
    # A few hard-edged "objects": windows, a kerb, a car.
    for _ in range(60):
        x0, y0 = int(rng.integers(0, w - 80)), int(rng.integers(0, h - 80))
        bw, bh = int(rng.integers(12, 90)), int(rng.integers(12, 90))
        img[y0 : y0 + bh, x0 : x0 + bw] += float(rng.uniform(-60, 60))
    rgb = np.stack([img * 0.8 + 30 * coarse, img, img * 1.1 - 20 * coarse], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_video(path: Path, seconds: int = SECONDS, fps: int = FPS, bitrate: int = BITRATE,
                layered: bool = False) -> dict:
    """Write the stamped VP8 video to ``path`` (IVF); returns its size and measured bitrate.

    ``layered``: in three temporal layers (:data:`LAYER_PATTERN`), a quarter, a quarter and half
    the bitrate each, as libwebrtc splits it."""
    import av

    rng = np.random.default_rng(20261126)
    big_h, big_w = HEIGHT * 2, WIDTH * 2
    texture = _texture(rng, big_h, big_w)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = seconds * fps
    total = 0
    with av.open(str(path), mode="w", format="ivf") as container:
        stream = container.add_stream("libvpx", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.bit_rate = bitrate
        stream.gop_size = KEYFRAME_SECONDS * fps
        options = {
            "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
            "maxrate": str(bitrate * 3 // 2), "bufsize": str(bitrate), "max-intra-rate": "400",
            "keyint_min": str(KEYFRAME_SECONDS * fps),
        }
        if layered:
            kbps = bitrate // 1000
            options |= {
                "error-resilient": "1",
                "ts-parameters": f"ts_number_layers=3:ts_target_bitrate={kbps * 2 // 5},{kbps * 3 // 5},{kbps}:"
                                 "ts_rate_decimator=4,2,1:ts_periodicity=4:ts_layer_id=0,2,1,2:ts_layering_mode=3",
            }
        stream.options = options
        cx, cy = 0.0, 0.0
        for i in range(frames):
            t = i / fps
            # A slow pan plus hand-held shake.
            cx = (WIDTH / 2) * (1 + np.sin(t / 9.0)) + 6 * np.sin(t * 5.3) + rng.normal(0, 1.5)
            cy = (HEIGHT / 2) * (1 + 0.6 * np.sin(t / 7.0)) + 5 * np.cos(t * 4.1) + rng.normal(0, 1.5)
            x0 = int(np.clip(cx, 0, big_w - WIDTH))
            y0 = int(np.clip(cy, 0, big_h - HEIGHT))
            view = texture[y0 : y0 + HEIGHT, x0 : x0 + WIDTH].astype(np.int16)
            view += rng.normal(0, 4.0, (HEIGHT, WIDTH, 1)).astype(np.int16)  # sensor noise
            frame = av.VideoFrame.from_ndarray(np.clip(view, 0, 255).astype(np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            stamp_luma(luma_of(frame), i)
            frame.pts = i
            for packet in stream.encode(frame):
                total += packet.size
                container.mux(packet)
        for packet in stream.encode(None):
            total += packet.size
            container.mux(packet)
    return {"path": path, "bytes": path.stat().st_size, "frames": frames, "kbps": total * 8 / seconds / 1000}


def ensure_video(path: Path = DEFAULT_PATH) -> Path:
    """Write the video unless it is already there; return its path (layered: :data:`LAYERED_PATH`)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        tmp = path.with_name(path.stem + ".tmp.ivf")
        write_video(tmp, layered=temporal_layers(path) is not None)
        tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--seconds", type=int, default=SECONDS)
    args = parser.parse_args(argv)
    info = write_video(args.path, seconds=args.seconds)
    print(f"wrote {info['path']} ({info['bytes']} bytes, {info['frames']} frames, {info['kbps']:.0f} kbit/s, "
          f"{WIDTH}x{HEIGHT} at {FPS} fps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
