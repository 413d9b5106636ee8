"""What placing a fix produces: per-layer answers, grid position, uncertainty, referral, flags.

Plain immutable values with ``to_dict()`` giving the JSON the web UI renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SHARE_DECIMALS = 4


@dataclass(frozen=True, slots=True)
class Share:
    """The part (0 to 1) of the accuracy circle lying in one feature."""

    name: str
    code: str
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "code": self.code, "share": round(self.share, SHARE_DECIMALS)}


@dataclass(frozen=True, slots=True)
class Nearest:
    """The closest feature to a position that lies in none, and how far it is."""

    name: str
    code: str
    distance_m: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "code": self.code, "distance_m": round(self.distance_m, 1)}


@dataclass(frozen=True, slots=True)
class LayerPlacement:
    """The answer for one layer.

    ``name``/``code``: the feature containing the position, or ``None``. ``share``: that feature's
    share of the accuracy circle (1.0 for an exact point). ``shares``: every feature the circle
    touches, largest first. ``nearest``: set when the position lies in no feature. ``ambiguous``:
    the circle touches some feature but no feature holds ``threshold`` of it.
    """

    level: str
    name: str | None
    code: str | None
    share: float
    shares: tuple[Share, ...]
    nearest: Nearest | None
    ambiguous: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "code": self.code,
            "share": round(self.share, SHARE_DECIMALS),
            "shares": [s.to_dict() for s in self.shares],
            "nearest": None if self.nearest is None else self.nearest.to_dict(),
            "ambiguous": self.ambiguous,
        }


@dataclass(frozen=True, slots=True)
class GridPosition:
    """British National Grid coordinates and the transformation that produced them."""

    easting: float
    northing: float
    grid_ref: str | None
    transformation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "easting": round(self.easting, 2),
            "northing": round(self.northing, 2),
            "grid_ref": self.grid_ref,
            "transformation": self.transformation,
        }


@dataclass(frozen=True, slots=True)
class Referral:
    """Another force that the position, or a material part of its circle, lies in."""

    name: str
    code: str
    share: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "code": self.code,
            "share": round(self.share, SHARE_DECIMALS),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class NearestPostcode:
    postcode: str
    distance_m: float

    def to_dict(self) -> dict[str, Any]:
        return {"postcode": self.postcode, "distance_m": round(self.distance_m, 1)}


@dataclass(frozen=True, slots=True)
class Placement:
    """Everything known about where a fix is. ``layers`` keeps the configured order."""

    layers: dict[str, LayerPlacement]
    bng: GridPosition | None
    accuracy_m: float | None
    ambiguous: bool
    referral: Referral | None
    postcode: NearestPostcode | None
    flags: tuple[str, ...]

    def __getitem__(self, level: str) -> LayerPlacement:
        return self.layers[level]

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": {level: lp.to_dict() for level, lp in self.layers.items()},
            "bng": None if self.bng is None else self.bng.to_dict(),
            "accuracy_m": self.accuracy_m,
            "ambiguous": self.ambiguous,
            "referral": None if self.referral is None else self.referral.to_dict(),
            "postcode": None if self.postcode is None else self.postcode.to_dict(),
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class BulkPlacement:
    """Many points placed at once (no circles): BNG coordinates and a feature index per layer.

    ``indices[level][i]`` is the feature holding point ``i``, or -1. ``codes(level)`` and
    ``names(level)`` turn those into arrays of strings, ``None`` where no feature holds the point.
    """

    eastings: Any
    northings: Any
    ostn15: Any
    indices: dict[str, Any]
    _lookup: dict[str, tuple[Any, Any]]

    def __len__(self) -> int:
        return len(self.eastings)

    def codes(self, level: str) -> Any:
        return self._lookup[level][1][self.indices[level]]

    def names(self, level: str) -> Any:
        return self._lookup[level][0][self.indices[level]]
