"""Detecting a change of scene between frames, cheaply, for automatic snapshots."""

from __future__ import annotations

from dataclasses import dataclass

import av
import cv2
import numpy as np

from .frames import luma

SIGNATURE_SIZE = (32, 24)


def signature(frame: av.VideoFrame) -> np.ndarray:
    """A tiny blurred grey thumbnail: enough to see a new scene, blind to noise and small motion."""
    gray = luma(frame)
    small = cv2.resize(gray, SIGNATURE_SIZE, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (3, 3), 0).astype(np.float32)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference in [0, 1], after removing a change of overall brightness.

    Phones re-expose constantly; a room getting darker is not a new scene.
    """
    a = a - a.mean()
    b = b - b.mean()
    return float(np.abs(a - b).mean() / 255.0)


@dataclass
class SceneChangeDetector:
    """Says when the picture has changed enough to be worth a snapshot.

    ``threshold`` is the mean absolute difference (0..1) that counts as a new scene; ``cooldown``
    the least time between two scene-change snapshots, so a shaky hand does not flood the record.
    """

    threshold: float = 0.12
    cooldown: float = 5.0
    _reference: np.ndarray | None = None
    _last_change: float = float("-inf")

    def update(self, sig: np.ndarray, at: float) -> bool:
        if self._reference is None:
            self._reference = sig
            return False
        changed = difference(self._reference, sig) >= self.threshold
        if changed and at - self._last_change >= self.cooldown:
            self._reference = sig
            self._last_change = at
            return True
        if not changed:
            # Follow slow drift (a pan) so that only a jump counts as a change.
            self._reference = 0.9 * self._reference + 0.1 * sig
        return False
