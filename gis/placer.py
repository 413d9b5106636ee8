"""``Placer``: from a fix to a ``Placement`` against every configured boundary layer.

For each layer the accuracy circle (radius = the fix's 68 % accuracy) is first checked against the
layer's raster index: when every cell under the circle's bounding box lies inside one feature (or
outside all), the answer is known without touching a polygon, and a ready-made result is returned.
Only circles that straddle a boundary are intersected with the features, as a 64-sided polygon,
and their shares are the areas of those intersections over the polygon's area.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from gis.checks import DEFAULT_NESTING_TOLERANCE_M, DEFAULT_OVERLAP_TOLERANCE_M2, check_layers
from gis.config import settings_from_config, specs_from_config
from gis.errors import BoundaryConfigError, BoundaryError
from gis.fixes import Fix, FixLimits, fix_flags
from gis.grid import OSTN15, bng_to_lonlat, grid_reference, lonlat_to_bng, to_bng
from gis.layers import Layer, LayerSpec, load_layer
from gis.placement import (
    BulkPlacement,
    GridPosition,
    LayerPlacement,
    Nearest,
    NearestPostcode,
    Placement,
    Referral,
    Share,
)
from gis.postcodes import PostcodeIndex
from gis.problems import Problem

# Extra flags raised by the placer (the fix's own flags come from gis.fixes).
OUTSIDE_OSTN15 = "outside_ostn15"
OVERLAPPING_FEATURES = "overlapping_features"

FORCE_LEVEL = "force"
_CIRCLE_SEGMENTS = 64
_MIN_SHARE = 1e-4  # shares below this are dropped from the list
_SAMPLES = 512  # points used to estimate shares if GEOS cannot intersect


class Placer:
    """Places fixes against boundary layers. Immutable once built; safe to share between tasks."""

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        home_force: str | None = None,
        ambiguity_threshold: float = 0.9,
        referral_share: float = 0.1,
        postcodes: PostcodeIndex | None = None,
        postcode_max_distance_m: float = 2000.0,
        limits: FixLimits | None = None,
        problems: Sequence[Problem] = (),
    ) -> None:
        if not layers:
            raise BoundaryConfigError("no boundary layers: configure at least one")
        levels = [layer.level for layer in layers]
        if len(set(levels)) != len(levels):
            raise BoundaryConfigError(f"levels must be distinct, got {', '.join(levels)}")
        self._layers = tuple(layers)
        self._by_level = {layer.level: layer for layer in layers}
        self._force = self._by_level.get(FORCE_LEVEL, self._layers[0])
        self._home: tuple[str, str] | None = None
        if home_force is not None:
            k = self._force.find(home_force)
            if k is None:
                known = ", ".join(self._force.codes[:20]) + (", ..." if len(self._force) > 20 else "")
                raise BoundaryConfigError(
                    f"home_force {home_force!r} is not a code in the {self._force.level} layer "
                    f"({self._force.source}); its codes are: {known}"
                )
            self._home = self._force.feature(k)
        self.ambiguity_threshold = ambiguity_threshold
        self.referral_share = referral_share
        self.postcodes = postcodes
        self.postcode_max_distance_m = postcode_max_distance_m
        self.limits = limits or FixLimits()
        self.problems: tuple[Problem, ...] = tuple(problems)
        angles = np.linspace(0.0, 2.0 * math.pi, _CIRCLE_SEGMENTS + 1)
        angles[-1] = 0.0
        self._unit_circle = np.column_stack([np.cos(angles), np.sin(angles)])
        self._unit_area = 0.5 * _CIRCLE_SEGMENTS * math.sin(2.0 * math.pi / _CIRCLE_SEGMENTS)
        golden = math.pi * (3.0 - math.sqrt(5.0))
        steps = np.arange(_SAMPLES) + 0.5
        radii = np.sqrt(steps / _SAMPLES)
        self._unit_samples = np.column_stack([radii * np.cos(golden * steps), radii * np.sin(golden * steps)])
        # Whole-feature answers, built once: the common case allocates nothing per fix.
        self._whole = {
            layer.level: tuple(
                LayerPlacement(layer.level, name, code, 1.0, (Share(name, code, 1.0),), None, False)
                for name, code in zip(layer.names, layer.codes, strict=True)
            )
            for layer in layers
        }
        self._lookup = {
            layer.level: (
                np.array(list(layer.names) + [None], dtype=object),
                np.array(list(layer.codes) + [None], dtype=object),
            )
            for layer in layers
        }
        self._geojson: dict[tuple[str, float], str] = {}

    # ----------------------------------------------------------------------------- building

    @classmethod
    def from_specs(
        cls,
        specs: Sequence[LayerSpec],
        home_force: str | None = None,
        ambiguity_threshold: float = 0.9,
        postcodes: Path | PostcodeIndex | None = None,
        *,
        referral_share: float = 0.1,
        postcode_max_distance_m: float = 2000.0,
        limits: FixLimits | None = None,
        strict: bool = False,
        check: bool = True,
        overlap_tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2,
        nesting_tolerance_m: float = DEFAULT_NESTING_TOLERANCE_M,
        index_resolution: int = 2048,
    ) -> Placer:
        """Load the layers, check them, and build a placer.

        Problems found are kept in ``problems``; with ``strict`` any error-severity problem
        (overlaps, children outside parents) raises ``BoundaryError`` instead.
        """
        if not specs:
            raise BoundaryConfigError("no boundary layers: configure at least one")
        layers = [load_layer(spec, resolution=index_resolution) for spec in specs]
        problems = [p for layer in layers for p in layer.problems]
        if check:
            problems += check_layers(layers, overlap_tolerance_m2, nesting_tolerance_m)
        errors = [p for p in problems if p.severity == "error"]
        if strict and errors:
            listed = "\n".join(f"  {p}" for p in errors)
            raise BoundaryError(f"boundary data has {len(errors)} error(s) and strict is set:\n{listed}")
        index = PostcodeIndex.from_csv(postcodes) if isinstance(postcodes, (str, Path)) else postcodes
        return cls(
            layers,
            home_force=home_force,
            ambiguity_threshold=ambiguity_threshold,
            referral_share=referral_share,
            postcodes=index,
            postcode_max_distance_m=postcode_max_distance_m,
            limits=limits,
            problems=problems,
        )

    @classmethod
    def from_config(cls, boundaries_table: Mapping[str, Any], base_dir: Path) -> Placer:
        """Build from a parsed ``[boundaries]`` table; relative paths are relative to ``base_dir``."""
        specs = specs_from_config(boundaries_table, base_dir)
        settings = settings_from_config(boundaries_table, base_dir)
        return cls.from_specs(
            specs,
            home_force=settings.home_force,
            ambiguity_threshold=settings.ambiguity_threshold,
            postcodes=settings.postcodes,
            referral_share=settings.referral_share,
            postcode_max_distance_m=settings.postcode_max_distance_m,
            limits=settings.limits,
            strict=settings.strict,
            overlap_tolerance_m2=settings.overlap_tolerance_m2,
            nesting_tolerance_m=settings.nesting_tolerance_m,
            index_resolution=settings.index_resolution,
        )

    # ----------------------------------------------------------------------------- looking

    @property
    def levels(self) -> list[str]:
        return [layer.level for layer in self._layers]

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self._layers

    def layer(self, level: str) -> Layer:
        try:
            return self._by_level[level]
        except KeyError:
            raise KeyError(f"no layer {level!r}; the levels are {', '.join(self.levels)}") from None

    @property
    def home_force(self) -> tuple[str, str] | None:
        """``(name, code)`` of the home force, if configured."""
        return self._home

    # ----------------------------------------------------------------------------- placing

    def place(self, fix: Fix, previous: Fix | None = None, now: datetime | None = None) -> Placement:
        """Place one fix. ``previous`` (same session) enables the GPS-jump check; ``now`` the stale one."""
        x, y, transformation = to_bng(fix.latitude, fix.longitude)
        flags = fix_flags(fix, previous, now, self.limits)
        if transformation != OSTN15:
            flags.append(OUTSIDE_OSTN15)
        radius = fix.accuracy or 0.0
        placed: dict[str, LayerPlacement] = {}
        ambiguous = overlap = False
        for layer in self._layers:
            result, overlapping = self._place_in(layer, x, y, radius)
            placed[layer.level] = result
            ambiguous = ambiguous or result.ambiguous
            overlap = overlap or overlapping
        if overlap:
            flags.append(OVERLAPPING_FEATURES)
        postcode = None
        if self.postcodes is not None:
            found = self.postcodes.nearest(x, y, self.postcode_max_distance_m)
            if found is not None:
                postcode = NearestPostcode(*found)
        return Placement(
            layers=placed,
            bng=GridPosition(x, y, grid_reference(x, y), transformation),
            accuracy_m=fix.accuracy,
            ambiguous=ambiguous,
            referral=self._referral(placed[self._force.level]),
            postcode=postcode,
            flags=tuple(flags),
        )

    def locate(self, latitudes: ArrayLike, longitudes: ArrayLike) -> BulkPlacement:
        """Place many points (no accuracy circles) in every layer; vectorised."""
        e, n, covered = lonlat_to_bng(longitudes, latitudes)
        return self.locate_bng(e, n, covered)

    def locate_bng(
        self, eastings: ArrayLike, northings: ArrayLike, ostn15: NDArray[np.bool_] | None = None
    ) -> BulkPlacement:
        """Place many BNG points in every layer; vectorised."""
        e = np.asarray(eastings, dtype=np.float64)
        n = np.asarray(northings, dtype=np.float64)
        indices = {layer.level: layer.index.locate(e, n) for layer in self._layers}
        covered = np.ones(e.shape, dtype=bool) if ostn15 is None else ostn15
        return BulkPlacement(e, n, covered, indices, self._lookup)

    def _place_in(self, layer: Layer, x: float, y: float, radius: float) -> tuple[LayerPlacement, bool]:
        """The layer's answer, and whether the position lies in more than one feature (bad data)."""
        index = layer.index
        box = index.classify_box(x - radius, y - radius, x + radius, y + radius)
        if box is not None:
            if box >= 0:
                return self._whole[layer.level][box], False
            return self._outside(layer, x, y, ()), False
        hits = index.containing(x, y)
        if radius > 0:
            shares = self._shares(layer, x, y, radius)
        else:
            shares = [(int(h), 1.0) for h in hits]
        if hits.size == 0:
            return self._outside(layer, x, y, shares), False
        k = int(hits[0])
        name, code = layer.feature(k)
        share = next((s for j, s in shares if j == k), 0.0)
        listed = tuple(Share(*layer.feature(j), s) for j, s in shares)
        top = shares[0][1] if shares else 0.0
        return (
            LayerPlacement(layer.level, name, code, share, listed, None, top < self.ambiguity_threshold),
            hits.size > 1,
        )

    def _outside(
        self, layer: Layer, x: float, y: float, shares: Sequence[tuple[int, float]]
    ) -> LayerPlacement:
        found, distance = layer.index.tree.query_nearest(
            shapely.Point(x, y), return_distance=True, all_matches=True
        )
        nearest = None
        if found.size:
            name, code = layer.feature(int(found.min()))
            nearest = Nearest(name, code, float(distance[0]))
        listed = tuple(Share(*layer.feature(j), s) for j, s in shares)
        ambiguous = bool(shares)  # touching a feature, yet not in it: cannot say which
        return LayerPlacement(layer.level, None, None, 0.0, listed, nearest, ambiguous)

    def _shares(self, layer: Layer, x: float, y: float, radius: float) -> list[tuple[int, float]]:
        """(feature, share of the circle) for every feature the circle touches, largest first."""
        circle = shapely.polygons(self._unit_circle * radius + (x, y))
        candidates = layer.index.tree.query(circle, predicate="intersects")
        if candidates.size == 0:
            return []
        try:
            areas = shapely.area(shapely.intersection(layer.geometries[candidates], circle))
            shares = np.minimum(areas / (self._unit_area * radius * radius), 1.0)
        except shapely.errors.GEOSException:
            points = self._unit_samples * radius + (x, y)
            found = layer.index.locate(points[:, 0], points[:, 1])
            shares = np.array([np.count_nonzero(found == k) for k in candidates]) / _SAMPLES
        pairs = [(int(k), float(s)) for k, s in zip(candidates, shares, strict=True) if s >= _MIN_SHARE]
        pairs.sort(key=lambda pair: (-pair[1], pair[0]))
        return pairs

    def _referral(self, force: LayerPlacement) -> Referral | None:
        if self._home is None:
            return None
        home_name, home_code = self._home
        if force.code is not None and force.code != home_code:
            return Referral(
                force.name or force.code,
                force.code,
                force.share,
                f"the position is in {force.name}, outside the home force {home_name}",
            )
        others = [s for s in force.shares if s.code != home_code and s.share >= self.referral_share]
        if others:
            other = others[0]
            where = "" if force.code is not None else "the position lies in no force area; "
            return Referral(
                other.name,
                other.code,
                other.share,
                f"{where}{other.share:.0%} of the accuracy circle lies in {other.name}",
            )
        if force.code is None and force.nearest is not None and force.nearest.code != home_code:
            nearest = force.nearest
            return Referral(
                nearest.name,
                nearest.code,
                0.0,
                f"the position lies in no force area; the nearest is {nearest.name}, "
                f"{_distance(nearest.distance_m)} away",
            )
        return None

    # ----------------------------------------------------------------------------- showing

    def layer_geojson(self, level: str, tolerance_m: float = 10.0) -> dict[str, Any]:
        """The layer as a WGS84 GeoJSON FeatureCollection (lon/lat), simplified for display.

        Neighbouring features are simplified together (``coverage_simplify``) so shared edges stay
        shared; coordinates are rounded to 6 decimals (about 0.1 m). A fresh dict on every call.
        """
        collection: dict[str, Any] = json.loads(self.layer_geojson_text(level, tolerance_m))
        return collection

    def layer_geojson_text(self, level: str, tolerance_m: float = 10.0) -> str:
        """``layer_geojson`` as JSON text, built once per level and kept."""
        key = (level, tolerance_m)
        if key not in self._geojson:
            self._geojson[key] = _geojson(self.layer(level), tolerance_m)
        return self._geojson[key]


def _geojson(layer: Layer, tolerance_m: float) -> str:
    geometries = layer.geometries
    if tolerance_m > 0:
        try:
            simple = shapely.coverage_simplify(geometries, tolerance_m)
        except (shapely.errors.GEOSException, ValueError, AttributeError):
            simple = shapely.simplify(geometries, tolerance_m, preserve_topology=True)
        broken = shapely.is_empty(simple) | ~shapely.is_valid(simple)
        geometries = np.where(broken, geometries, simple)

    def to_lonlat(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = bng_to_lonlat(xy[:, 0], xy[:, 1])
        return np.asarray(np.round(np.column_stack([lon, lat]), 6), dtype=np.float64)

    lonlat = shapely.orient_polygons(shapely.transform(geometries, to_lonlat))
    features = [
        {
            "type": "Feature",
            "properties": {"name": name, "code": code},
            "geometry": json.loads(shapely.to_geojson(geometry)),
        }
        for name, code, geometry in zip(layer.names, layer.codes, lonlat, strict=True)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":"))


def _distance(metres: float) -> str:
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"
