"""Checks across features and layers: overlaps within a layer, children that leave their parent.

Both are data errors that would otherwise give wrong answers quietly (a point in two forces; a
district placed in no force), so they are reported with the features, the area and the tolerance.
``check_specs`` also drives ``scenelink boundaries check``: one ``LayerReport`` per layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from gis.errors import LayerError
from gis.layers import Layer, LayerSpec, load_layer
from gis.problems import Problem

# Overlaps smaller than this (m²) are digitising noise along a shared edge, not a data error.
DEFAULT_OVERLAP_TOLERANCE_M2 = 100.0
# A child may stray this far (m) outside its parent: generalised data sets rarely match exactly
# (ONS LAD 2022 districts stray up to 200 m from the 200 m-generalised BSC force areas).
DEFAULT_NESTING_TOLERANCE_M = 250.0
# Below this (m²), what lies outside is floating-point dust, not a finding.
_NOISE_M2 = 1.0


@dataclass(frozen=True)
class LayerReport:
    """What ``boundaries check`` says about one layer."""

    level: str
    path: Path
    features: int
    crs: str | None
    transformation: str | None
    area_km2: float
    vertices: int
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.severity == "warning")

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "path": str(self.path),
            "features": self.features,
            "crs": self.crs,
            "transformation": self.transformation,
            "area_km2": round(self.area_km2, 3),
            "vertices": self.vertices,
            "problems": [p.to_dict() for p in self.problems],
        }


def find_overlaps(layer: Layer, tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2) -> list[Problem]:
    """Pairs of features of ``layer`` whose overlap exceeds ``tolerance_m2``."""
    geometries = layer.geometries
    tree = layer.index.tree
    left, right = tree.query(geometries, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    if left.size == 0:
        return []
    areas = shapely.area(shapely.intersection(geometries[left], geometries[right]))
    problems = []
    for i, j, area in zip(left, right, areas, strict=True):
        if area > tolerance_m2:
            a, b = _label(layer, int(i)), _label(layer, int(j))
            problems.append(
                Problem(
                    layer.level,
                    "overlap",
                    f"{a} and {b} overlap by {_area(area)} (tolerance {tolerance_m2:g} m²); "
                    "points there will be placed in the first",
                    severity="error",
                    feature=a,
                )
            )
    return problems


def find_escapes(
    child: Layer, parent: Layer, tolerance_m: float = DEFAULT_NESTING_TOLERANCE_M
) -> list[Problem]:
    """Features of ``child`` lying partly outside their parent by more than ``tolerance_m``.

    A child's parent is the parent feature it shares most area with. What lies outside the parent
    grown by the tolerance is reported with its area and share of the child.
    """
    problems = []
    tree = parent.index.tree
    which, candidates = tree.query(child.geometries, predicate="intersects")
    grown: dict[int, shapely.Geometry] = {}
    for i, geometry in enumerate(child.geometries):
        label = _label(child, i)
        options = candidates[which == i]
        if options.size:
            shared = shapely.area(shapely.intersection(geometry, parent.geometries[options]))
            best = int(options[int(np.argmax(shared))])
            if shared.max() <= 0:
                options = options[:0]
        if options.size == 0:
            problems.append(
                Problem(
                    child.level,
                    "no_parent",
                    f"{label} lies in no {parent.level} at all",
                    severity="error",
                    feature=label,
                )
            )
            continue
        if best not in grown:
            grown[best] = shapely.buffer(parent.geometries[best], tolerance_m, quad_segs=2)
        outside = shapely.area(shapely.difference(geometry, grown[best]))
        if outside > _NOISE_M2:
            share = outside / max(shapely.area(geometry), 1e-9)
            problems.append(
                Problem(
                    child.level,
                    "outside_parent",
                    f"{label} leaves its {parent.level} {_label(parent, best)}: {_area(outside)} "
                    f"({share:.1%}) lies more than {tolerance_m:g} m outside it",
                    severity="error",
                    feature=label,
                )
            )
    return problems


def parent_levels(layers: Sequence[Layer]) -> dict[str, str]:
    """Each level's parent level: as configured, else the level before it; top levels omitted."""
    parents: dict[str, str] = {}
    for i, layer in enumerate(layers):
        if layer.parent is None:
            if i > 0:
                parents[layer.level] = layers[i - 1].level
        elif layer.parent != "":
            parents[layer.level] = layer.parent
    return parents


def check_layers(
    layers: Sequence[Layer],
    overlap_tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2,
    nesting_tolerance_m: float = DEFAULT_NESTING_TOLERANCE_M,
) -> list[Problem]:
    """Overlaps within each layer, and escapes of each layer from its parent layer."""
    by_level = {layer.level: layer for layer in layers}
    problems: list[Problem] = []
    for layer in layers:
        problems.extend(find_overlaps(layer, overlap_tolerance_m2))
    for level, parent_level in parent_levels(layers).items():
        parent = by_level.get(parent_level)
        if parent is None:
            problems.append(
                Problem(
                    level,
                    "no_parent",
                    f"its parent level {parent_level!r} is not configured",
                    severity="error",
                )
            )
            continue
        problems.extend(find_escapes(by_level[level], parent, nesting_tolerance_m))
    return problems


def check_specs(
    specs: Sequence[LayerSpec],
    overlap_tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2,
    nesting_tolerance_m: float = DEFAULT_NESTING_TOLERANCE_M,
    resolution: int = 512,
) -> list[LayerReport]:
    """Load every layer it can and report on each, including the ones that fail to load."""
    loaded: list[Layer] = []
    failed: dict[str, str] = {}
    for spec in specs:
        try:
            loaded.append(load_layer(spec, resolution=resolution))
        except LayerError as exc:
            failed[spec.level] = str(exc)
    found = check_layers(loaded, overlap_tolerance_m2, nesting_tolerance_m)
    by_level = {layer.level: layer for layer in loaded}
    reports = []
    for spec in specs:
        layer = by_level.get(spec.level)
        if layer is None:
            problem = Problem(spec.level, "load", failed[spec.level], severity="error")
            reports.append(LayerReport(spec.level, Path(spec.path), 0, None, None, 0.0, 0, (problem,)))
            continue
        mine = tuple(layer.problems) + tuple(p for p in found if p.level == spec.level)
        reports.append(
            LayerReport(
                level=layer.level,
                path=layer.source,
                features=len(layer),
                crs=layer.crs,
                transformation=layer.transformation,
                area_km2=layer.area_m2 / 1e6,
                vertices=layer.vertices,
                problems=mine,
            )
        )
    return reports


def _label(layer: Layer, i: int) -> str:
    name, code = layer.feature(i)
    return f"{name} ({code})" if name != code else name


def _area(m2: float) -> str:
    return f"{m2 / 1e6:,.2f} km²" if m2 >= 10_000 else f"{m2:,.0f} m²"
