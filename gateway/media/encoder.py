"""The VP8 encoder the gateway sends viewers: faster settings, and bitrate in coarse steps.

Every viewer of the embedded relay costs one VP8 encode per frame, so on a small machine the
encoder's speed decides how many watched callers fit. aiortc's own ``Vp8Encoder`` fixes its libvpx
settings inside ``encode`` (``cpu-used -6``, ``noise-sensitivity 4``) and opens a new libvpx encoder,
which starts with a keyframe, whenever the viewer's bandwidth estimate (REMB) moves by over 10%:
under load that estimate wobbles, and each wobble costs a keyframe burst on a link that just said
it had less room.

:class:`RelayVp8Encoder` produces the same RTP payloads (aiortc's packetiser, picture ids, timestamps)
with :data:`RELAY_VP8`: a faster speed setting, no noise filtering (the picture was already filtered
and compressed once by the caller's phone), one thread per encoder (the relay runs many encoders in
parallel on the executor; threads inside each only add hand-offs) and error-resilient mode (a viewer
who loses a packet recovers without waiting for a keyframe). The bitrate follows the estimate on a
ladder of :data:`BITRATE_STEPS` with hysteresis (:func:`next_step`), so the encoder is reopened only
when the estimate really moves. ``benchmarks/bench_media.py`` measures the picture against aiortc's
defaults (PSNR and SSIM on the sample video) and ``tests/unit/gateway/media/test_encoder.py`` holds it
within 1 dB of them.
"""

from __future__ import annotations

import multiprocessing
import random
from dataclasses import dataclass

import av
from aiortc import RTCPeerConnection
from aiortc.codecs.base import Encoder
from aiortc.codecs.vpx import MAX_BITRATE, MIN_BITRATE, Vp8Encoder, number_of_threads
from aiortc.mediastreams import VIDEO_TIME_BASE, convert_timebase
from av.frame import Frame
from av.packet import Packet

# What aiortc's RTCRtpSender keeps its encoder in (name-mangled); checked by the tests on the pinned version.
_SENDER_ENCODER_ATTRIBUTE = "_RTCRtpSender__encoder"


@dataclass(frozen=True)
class Vp8Settings:
    """libvpx options that differ between aiortc's encoder and the relay's."""

    cpu_used: int = -6
    noise_sensitivity: int = 4
    threads: int = 0  # 0: aiortc's choice for the frame size and the machine
    error_resilient: bool = False


AIORTC_VP8 = Vp8Settings()
RELAY_VP8 = Vp8Settings(cpu_used=-12, noise_sensitivity=0, threads=1, error_resilient=True)

# Target bitrates a viewer's encoder may run at, in bit/s: each about 1.4x the one below, between
# aiortc's bounds. The encoder starts at aiortc's default (500 kbit/s).
BITRATE_STEPS: tuple[int, ...] = (250_000, 350_000, 500_000, 700_000, 1_000_000, 1_500_000)
START_BITRATE = 500_000
# A step down is taken only when the estimate is this far below the step in use: an estimate a few
# per cent under the current rate is noise, not congestion.
DOWN_MARGIN = 0.85

assert MIN_BITRATE <= BITRATE_STEPS[0] and BITRATE_STEPS[-1] <= MAX_BITRATE


def next_step(current: int, estimate: int, steps: tuple[int, ...] = BITRATE_STEPS) -> int:
    """The step to encode at, given the step in use and a new bandwidth estimate (bit/s).

    Up: the highest step the estimate reaches. Down: only when the estimate falls under
    ``DOWN_MARGIN`` of the current step, then to the highest step at or under the estimate (the
    lowest step if none is).
    """
    if estimate >= current:
        return max((s for s in steps if s <= estimate), default=steps[0])
    if estimate >= current * DOWN_MARGIN:
        return current
    return max((s for s in steps if s <= estimate), default=steps[0])


class RelayVp8Encoder(Encoder):
    """A VP8 encoder for one viewer (see the module's description).

    ``options`` are those the current libvpx encoder was opened with (once it is open, libvpx has
    taken every one of them: PyAV leaves any it did not take in ``codec.options``). ``opened`` counts
    libvpx encoders opened (the first and every reopening for a new size or a
    new bitrate step), each of which starts with a keyframe.
    """

    def __init__(self, settings: Vp8Settings = RELAY_VP8, steps: tuple[int, ...] = BITRATE_STEPS) -> None:
        self.settings = settings
        self.steps = steps
        self.codec: av.VideoCodecContext | None = None
        self.picture_id = random.randint(0, (1 << 15) - 1)
        self.opened = 0
        self.options: dict[str, str] = {}  # the libvpx options the open encoder was given
        self._bitrate = START_BITRATE if START_BITRATE in steps else steps[0]

    @property
    def target_bitrate(self) -> int:
        """The step the encoder runs at; setting it (REMB) moves along the ladder with hysteresis."""
        return self._bitrate

    @target_bitrate.setter
    def target_bitrate(self, estimate: int) -> None:
        self._bitrate = next_step(self._bitrate, int(estimate), self.steps)

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        s = self.settings
        codec = av.CodecContext.create("libvpx", "w")
        assert isinstance(codec, av.VideoCodecContext)
        codec.width, codec.height = width, height
        codec.bit_rate = self._bitrate
        codec.pix_fmt = "yuv420p"
        codec.gop_size = 3000  # keyframes only when asked for (a new viewer, a PLI)
        codec.qmin, codec.qmax = 2, 56
        options = {
            # Constant bitrate with a one-second buffer, no look-ahead: as aiortc's encoder.
            "bufsize": str(self._bitrate),
            "minrate": str(self._bitrate),
            "maxrate": str(self._bitrate),
            "deadline": "realtime",
            "lag-in-frames": "0",
            "overshoot-pct": "15",
            "undershoot-pct": "100",
            "static-thresh": "1",
            "cpu-used": str(s.cpu_used),
            "noise-sensitivity": str(s.noise_sensitivity),
        }
        if s.error_resilient:
            options["error-resilient"] = "1"
        codec.options = options
        self.options = options
        if s.threads:
            codec.thread_count = s.threads
        else:
            codec.thread_count = number_of_threads(width * height, multiprocessing.cpu_count())
        self.opened += 1
        return codec

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        assert isinstance(frame, av.VideoFrame)
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        codec = self.codec
        if codec is not None and (
            frame.width != codec.width or frame.height != codec.height or codec.bit_rate != self._bitrate
        ):
            codec = None
        if codec is None:
            codec = self.codec = self._open(frame.width, frame.height)
        # libvpx makes a keyframe of a frame marked I. The relay hands the same frame object to
        # every viewer's encoder, so the mark is put back afterwards: one viewer's request (a PLI)
        # must not make every other viewer's encoder send a keyframe too.
        marked = frame.pict_type
        if force_keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        try:
            data = b"".join(bytes(p) for p in codec.encode(frame))
        finally:
            if force_keyframe:
                frame.pict_type = marked
        payloads = Vp8Encoder._packetize(data, self.picture_id)
        assert frame.pts is not None and frame.time_base is not None  # a track's frames carry both
        timestamp = convert_timebase(frame.pts, frame.time_base, VIDEO_TIME_BASE)
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads, timestamp

    def pack(self, packet: Packet) -> tuple[list[bytes], int]:
        payloads = Vp8Encoder._packetize(bytes(packet), self.picture_id)
        assert packet.pts is not None and packet.time_base is not None
        timestamp = convert_timebase(packet.pts, packet.time_base, VIDEO_TIME_BASE)
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads, timestamp


def use_relay_encoder(pc: RTCPeerConnection, settings: Vp8Settings = RELAY_VP8) -> list[RelayVp8Encoder]:
    """Give each video sender of ``pc`` whose negotiated codec is VP8 a :class:`RelayVp8Encoder`.

    Call after the local description is set (the codec is negotiated then) and before media flows:
    aiortc's sender makes its own encoder only when it has none. Returns the encoders installed.
    """
    installed: list[RelayVp8Encoder] = []
    for transceiver in pc.getTransceivers():
        sender = transceiver.sender
        codecs = getattr(transceiver, "_codecs", None) or []
        if transceiver.kind != "video" or not codecs or codecs[0].mimeType.lower() != "video/vp8":
            continue
        if not hasattr(sender, _SENDER_ENCODER_ATTRIBUTE) or getattr(sender, _SENDER_ENCODER_ATTRIBUTE) is not None:
            continue
        encoder = RelayVp8Encoder(settings)
        setattr(sender, _SENDER_ENCODER_ATTRIBUTE, encoder)
        installed.append(encoder)
    return installed
