"""Decoding only the caller's base temporal layer when nothing needs every frame.

The caller's page sends VP8 with temporal layers where the browser can (``L1T3``: layers 0, 2, 1, 2
repeating, 15 fps in all, 3.75 fps in layer 0). The gateway decodes the caller's video for
snapshots, scene changes, blurring, the MJPEG fallback and the picture in stream health; none of
them needs 15 fps, and decoding is most of what a caller costs the gateway. So, unless something
needs every frame (a recording, a viewer fed re-encoded frames), only the frames of layer 0 and
keyframes go to the decoder; every frame still reaches forwarded viewers (:mod:`.forwarding` taps
the frames before this filter) and is counted for the stream's frame rate.

Why dropping the upper layers before decoding is safe:

- RFC 7741 section 4.2: each packet's payload descriptor may carry the frame's temporal layer
  index (TID, with the T bit) and a layer sync bit (Y: the frame depends only on layer 0 frames).
  A stream without the T bit is not layered, and every frame is decoded, as before.
- In the scalability modes a page asks for (W3C WebRTC-SVC, ``L1T2``/``L1T3``) a frame of layer
  N refers only to frames of layers N and below: layer 0 never refers to layers 1 or 2. libwebrtc's
  VP8 encoder (Chromium's) realises it with libvpx's three reference buffers: layer 0 refers to and
  updates only ``last``; layer 1 refers to ``last`` and updates ``golden``; layer 2 updates none
  and freezes the entropy context; ``altref`` keeps the keyframe. A VP8 keyframe refreshes all three.
- VP8 frames may also carry probability (entropy) updates into the next frame: with temporal
  layers libwebrtc encodes in libvpx's error-resilient mode, where no frame does. The unit tests
  check the whole claim with libvpx itself: layer 0 decoded alone gives, frame for frame, exactly
  the pictures the full decode gives. (Without error resilience it does not: an encoder sending
  the T bit is trusted to be a WebRTC encoder.)

Going back to every frame (a recording starts) cannot simply resume the upper layers: the
next layer-2 frame may refer to a layer-1 frame that was skipped. A frame marked layer sync (Y)
is decoded (it refers to layer 0 only), and its layer resumes from it if every layer between 0 and
it has resumed; a keyframe resumes them all. Until then a layer's other frames are still skipped
(libwebrtc marks a sync frame of each layer every 8 frames).

:class:`LayerFilter` is pure state: frames in, decode or skip out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TemporalLayer:
    """A VP8 frame's temporal layer index (``tid``) and layer sync bit (``sync``)."""

    tid: int
    sync: bool


@dataclass(frozen=True)
class Vp8Picture:
    """What one packet's VP8 payload descriptor says of its frame (RFC 7741 4.2).

    ``starts`` is true on the frame's first packet (S set, partition index 0). ``picture_id``
    counts frames modulo ``2 ** picture_id_bits`` (7 or 15 bits); ``tl0picidx`` counts layer-0
    frames modulo 256, a layer-0 frame carrying its own index and an upper-layer frame that of the
    layer-0 frame before it. Each is None where the descriptor leaves it out.
    """

    starts: bool
    layer: TemporalLayer | None
    picture_id: int | None = None
    picture_id_bits: int = 15
    tl0picidx: int | None = None


def vp8_picture(payload: bytes) -> Vp8Picture | None:
    """The payload descriptor at the head of a VP8 RTP payload; None if it is cut short."""
    if not payload:
        return None
    first = payload[0]
    starts = bool(first & 0x10) and first & 0x07 == 0  # S, PID 0
    if not first & 0x80:  # X: no extension octet
        return Vp8Picture(starts, None)
    if len(payload) < 2:
        return None
    ext = payload[1]
    at = 2
    picture_id, bits = None, 15
    if ext & 0x80:  # I: a PictureID of one byte (7 bits) or two (M bit, 15 bits)
        if len(payload) <= at:
            return None
        if payload[at] & 0x80:
            if len(payload) <= at + 1:
                return None
            picture_id = (payload[at] & 0x7F) << 8 | payload[at + 1]
            at += 2
        else:
            picture_id, bits = payload[at], 7
            at += 1
    tl0picidx = None
    if ext & 0x40:  # L: TL0PICIDX
        if len(payload) <= at:
            return None
        tl0picidx = payload[at]
        at += 1
    layer = None
    if ext & 0x20:  # T: TID and the layer sync bit
        if len(payload) <= at:
            return None
        octet = payload[at]
        layer = TemporalLayer(tid=octet >> 6, sync=bool(octet & 0x20))
    return Vp8Picture(starts, layer, picture_id, bits, tl0picidx)


def vp8_temporal_layer(payload: bytes) -> TemporalLayer | None:
    """The temporal layer in a VP8 RTP payload descriptor (RFC 7741 4.2); None without the T bit.

    ``payload`` is the RTP payload, descriptor first (the frame's first packet; every packet of a
    frame carries the same TID).
    """
    picture = vp8_picture(payload)
    return picture.layer if picture is not None else None


def upper_layers_lost(before: Vp8Picture, after: Vp8Picture, before_lost: bool) -> int | None:
    """The lowest temporal layer lost between two frames, if none of the lost frames was of layer 0.

    ``after`` is the first frame held whole from its start after a loss. ``before`` is either the
    first frame lost (``before_lost``: its first packet held, not all the rest) or the last frame
    before the loss (every frame between it and ``after`` lost). Returns None when a layer-0 frame
    may be among the lost, or the descriptors do not say (no layers, no PictureID or TL0PICIDX):
    then only a keyframe puts the stream right.
    """
    if before.layer is None or after.layer is None or (before_lost and before.layer.tid == 0):
        return None
    if before.picture_id is None or after.picture_id is None or before.tl0picidx is None or after.tl0picidx is None:
        return None
    # A layer-0 frame among the lost would have moved TL0PICIDX on (by one more if ``after`` is one).
    expected = (before.tl0picidx + (1 if after.layer.tid == 0 else 0)) % 256
    if after.tl0picidx != expected:
        return None
    between = (after.picture_id - before.picture_id) % (1 << min(before.picture_id_bits, after.picture_id_bits))
    lost_whole = between - 1  # frames between the two, all lost
    if lost_whole < 0 or (lost_whole == 0 and not before_lost):
        return None  # out of order, or nothing lost: not a case this reasons about
    # Frames lost whole are of some upper layer, which one unknown: layer 1 and up, to be safe.
    return before.layer.tid if before_lost and lost_whole == 0 else 1


@dataclass
class LayerStats:
    """``frames`` reached the filter (all layers: the caller's real frame rate); ``skipped`` were
    not decoded; ``layered`` carried a temporal layer index."""

    frames: int = 0
    skipped: int = 0
    layered: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class LayerFilter:
    """Which of the caller's frames to decode (see the module's description).

    Every frame is given to :meth:`admit`, in order; frames it refuses must not be decoded.
    Frames it admits may still be dropped before decoding, but only as :mod:`.decoding` and
    :mod:`.keyframes` drop them: up to a keyframe, which puts every layer back in step.
    :meth:`want_every_frame` and
    :meth:`release` say who needs the full frame rate; with nobody, only layer 0 is admitted.
    """

    def __init__(self) -> None:
        self.stats = LayerStats()
        self._wanting: set[object] = set()
        # Upper layers whose frames, from their last sync frame or keyframe on, were all decoded.
        self._in_step: set[int] = set()

    @property
    def every_frame(self) -> bool:
        return bool(self._wanting)

    def want_every_frame(self, who: object) -> None:
        self._wanting.add(who)

    def release(self, who: object) -> None:
        self._wanting.discard(who)

    def admit(self, layer: TemporalLayer | None, is_keyframe: bool) -> bool:
        """Whether to decode this frame."""
        self.stats.frames += 1
        if layer is not None:
            self.stats.layered += 1
        if is_keyframe:
            self._in_step = {1, 2, 3}  # a keyframe refreshes every reference buffer
            return True
        if layer is None or layer.tid == 0:
            return True
        tid = layer.tid
        if self.every_frame and (tid in self._in_step or layer.sync):
            # A sync frame refers to layer 0 only: it decodes. Its layer is back in step only if
            # the layers between are (its next frames may refer to theirs).
            if all(t in self._in_step for t in range(1, tid)):
                self._in_step.add(tid)
            return True
        # Skipped: this layer and those above may refer to it, and are out of step until they sync.
        self._in_step -= set(range(tid, 4))
        self.stats.skipped += 1
        return False


class LostLayers:
    """After an upper-layer frame is lost for good: which later frames may refer to it.

    A frame of layer N may refer to frames of layers N and below, so losing one puts layer N and
    those above out of step (as :class:`LayerFilter` skipping one does). A layer comes back in step
    at its next sync frame once the layers below it are, and every layer at a keyframe. Frames of a
    layer out of step are not to be decoded or forwarded; a sync frame always may be (it refers to
    layer 0 only), and layer 0 never refers to the upper layers.
    """

    def __init__(self) -> None:
        self._out_of_step: set[int] = set()

    def lost(self, tid: int) -> None:
        self._out_of_step |= set(range(max(tid, 1), 4))

    def clear(self) -> None:
        self._out_of_step.clear()

    def admit(self, layer: TemporalLayer | None, is_keyframe: bool) -> bool:
        """Whether this frame, the next in order, is whole in its references."""
        if is_keyframe:
            self._out_of_step.clear()
            return True
        if not self._out_of_step or layer is None or layer.tid == 0 or layer.tid not in self._out_of_step:
            return True
        if layer.sync:
            if all(t not in self._out_of_step for t in range(1, layer.tid)):
                self._out_of_step.discard(layer.tid)
            return True
        return False
