"""Picture quality of the relay's VP8 encoder against aiortc's default one, on the benchmark's video.

    .venv/bin/python -m benchmarks.picture_quality [--frames 150]

What a viewer of the embedded relay sees is the caller's frame, decoded by the gateway, encoded
again for that viewer, packetised and decoded by the viewer. This runs that path frame by frame
without the network: the sample video's frames decoded as the gateway decodes the caller's
(the source), each encoded by :class:`gateway.media.encoder.RelayVp8Encoder` and by aiortc's
``Vp8Encoder`` at the same target bitrate, depacketised and decoded with aiortc's ``Vp8Decoder``,
and compared with the source: PSNR and SSIM of the luma plane (SSIM as Wang et al. 2004: 11x11
Gaussian window, sigma 1.5), averaged over the frames, with the encoder's CPU time per frame and
the bitrate it produced. Used by ``benchmarks/bench_media.py``.

A forwarded viewer (``[media] viewer_video = "forward"``) is sent the caller's own encoded frames:
:func:`forwarded` runs each of the video's encoded frames through that path (aiortc's ``pack``,
as the gateway's sender does, depacketised and decoded as a viewer does) and compares bytes and
pixels with the caller's frame.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.media_sample import FPS, ensure_video  # noqa: E402

BITRATES = (500_000, 1_000_000)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two 8-bit greyscale images."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return float((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))).mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def source_frames(video: Path, count: int) -> list[av.VideoFrame]:
    frames = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) >= count:
                break
    return frames


def relay(encoder: Any, frames: list[av.VideoFrame], bitrate: int) -> dict[str, float]:
    from aiortc.codecs.vpx import Vp8Decoder, vp8_depayload
    from aiortc.jitterbuffer import JitterFrame

    encoder.target_bitrate = bitrate
    decoder = Vp8Decoder()
    p, s, cpu = [], [], []
    size = 0
    for frame in frames:
        started = time.thread_time()
        payloads, timestamp = encoder.encode(frame)
        cpu.append(time.thread_time() - started)
        data = b"".join(vp8_depayload(x) for x in payloads)
        size += len(data)
        decoded = decoder.decode(JitterFrame(data, timestamp))
        if len(decoded) != 1:
            raise RuntimeError("a relayed frame did not decode")
        src, out = frame.to_ndarray(format="gray"), decoded[0].to_ndarray(format="gray")
        p.append(psnr(src, out))
        s.append(ssim(src, out))
    return {
        "psnr_db": statistics.mean(p), "psnr_min_db": min(p), "ssim": statistics.mean(s), "ssim_min": min(s),
        "encode_ms": 1000 * statistics.median(cpu), "kbps": size * 8 * FPS / len(frames) / 1000,
    }


def forwarded(video: Path, count: int = 150) -> dict[str, Any]:
    """The caller's encoded frames forwarded: how many arrive bit-identical, and the PSNR of the
    viewer's decoded frame against the caller's (identical pixels: infinite, reported as None)."""
    from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, vp8_depayload
    from aiortc.jitterbuffer import JitterFrame

    packer, viewer, caller = Vp8Encoder(), Vp8Decoder(), Vp8Decoder()
    identical = frames = 0
    worst = float("inf")
    cpu = []
    with av.open(str(video)) as container:
        for packet in container.demux(video=0):
            if packet.size == 0:
                continue
            started = time.thread_time()
            payloads, timestamp = packer.pack(packet)
            cpu.append(time.thread_time() - started)
            data = b"".join(vp8_depayload(x) for x in payloads)
            identical += data == bytes(packet)
            (mine,) = caller.decode(JitterFrame(bytes(packet), timestamp))
            (theirs,) = viewer.decode(JitterFrame(data, timestamp))
            a, b = mine.to_ndarray(format="gray"), theirs.to_ndarray(format="gray")
            mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
            worst = min(worst, float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse))
            frames += 1
            if frames >= count:
                break
    return {"frames": frames, "identical_bytes": identical, "psnr_db": None if worst == float("inf") else worst,
            "pack_ms": 1000 * statistics.median(cpu) if cpu else None}


def measure(video: Path, count: int = 150, bitrates: tuple[int, ...] = BITRATES, progress=print) -> list[dict[str, Any]]:
    """Per bitrate: the relay encoder's and aiortc's figures, and their difference."""
    from aiortc.codecs.vpx import Vp8Encoder

    from gateway.media.encoder import RelayVp8Encoder

    frames = source_frames(video, count)
    rows = []
    for bitrate in bitrates:
        tuned = relay(RelayVp8Encoder(), frames, bitrate)
        default = relay(Vp8Encoder(), frames, bitrate)
        row = {"bitrate": bitrate, "frames": len(frames), "relay": tuned, "aiortc": default,
               "psnr_delta_db": tuned["psnr_db"] - default["psnr_db"], "ssim_delta": tuned["ssim"] - default["ssim"],
               "encode_ratio": tuned["encode_ms"] / default["encode_ms"] if default["encode_ms"] else None}
        progress(
            f"  {bitrate // 1000} kbit/s, {len(frames)} frames: relay encoder PSNR {tuned['psnr_db']:.2f} dB, SSIM "
            f"{tuned['ssim']:.4f}, {tuned['encode_ms']:.2f} ms a frame; aiortc's {default['psnr_db']:.2f} dB, "
            f"{default['ssim']:.4f}, {default['encode_ms']:.2f} ms ({row['psnr_delta_db']:+.2f} dB)"
        )
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args(argv)
    measure(ensure_video(), args.frames)
    f = forwarded(ensure_video(), args.frames)
    print(f"  forwarded: {f['identical_bytes']} of {f['frames']} frames bit-identical to the caller's; worst PSNR "
          f"{'infinite (identical pixels)' if f['psnr_db'] is None else format(f['psnr_db'], '.2f') + ' dB'}; "
          f"packing {f['pack_ms']:.3f} ms a frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
