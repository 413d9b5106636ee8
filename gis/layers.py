"""Boundary layers: where they come from (``LayerSpec``) and what they hold once loaded (``Layer``).

A layer is read with GDAL (through ``pyogrio``) from GeoJSON, KML, an ESRI Shapefile with its
``.prj``, a GeoPackage or anything else GDAL reads, moved into British National Grid metres and
checked feature by feature. What cannot be loaded raises ``LayerError`` with a message naming the
file and what to change; what can be repaired is repaired and recorded as a ``Problem``.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from gis import crs as crs_
from gis.errors import LayerError
from gis.index import GridIndex
from gis.problems import Problem

# Box around Great Britain, Northern Ireland and their near waters, in BNG metres.
_GB_BOUNDS = (-100_000.0, -50_000.0, 700_000.0, 1_300_000.0)
# Attribute names tried, in order, when a spec leaves name_field or code_field unset.
_NAME_GUESSES = ("name", "Name", "NAME", "label")
_CODE_GUESSES = ("code", "Code", "CODE", "id", "ID")
_ONS_NAME = re.compile(r"^[A-Z]{2,5}\d{2}NM$", re.IGNORECASE)  # e.g. PFA23NM, LAD22NM
_ONS_CODE = re.compile(r"^[A-Z]{2,5}\d{2}CD$", re.IGNORECASE)  # e.g. PFA23CD, LAD22CD
# Files read when a layer's path is a folder, and the attribute naming the file each feature came from.
_FOLDER_SUFFIXES = frozenset({".kml", ".kmz", ".geojson", ".json", ".gpkg", ".shp"})
FILE_FIELD = "file"


@dataclass(frozen=True)
class LayerSpec:
    """Where a layer lives and how to read it.

    ``name_field`` and ``code_field`` name the attributes holding a feature's name and code; ``None``
    means detect them (``name``/``code``, ONS-style ``PFA23NM``/``PFA23CD``, KML's ``Name``).
    ``path`` may be a folder: every boundary file in it is read into the one layer, and the
    attribute ``file`` (each file's name without suffix) can serve as name or code; that is the
    shape of data.police.uk's neighbourhood downloads (a KML file per neighbourhood).
    ``crs`` is used when the file declares none (a Shapefile without ``.prj``) and overrides what
    the file declares when given (a GeoJSON in BNG metres without a ``crs`` member). ``layer`` picks
    one layer of a multi-layer file (GeoPackage, KML with folders). ``parent`` names the level this
    one nests in; ``None`` means the level configured before it, ``""`` means none.
    """

    level: str
    path: Path
    name_field: str | None = "name"
    code_field: str | None = "code"
    crs: str | None = None
    layer: str | None = None
    parent: str | None = None


@dataclass(frozen=True, eq=False)
class Layer:
    """A loaded layer: features in BNG metres, their names and codes, an index, and its problems."""

    level: str
    source: Path
    crs: str
    transformation: str
    names: tuple[str, ...]
    codes: tuple[str, ...]
    geometries: NDArray[np.object_]
    problems: tuple[Problem, ...] = ()
    parent: str | None = None
    resolution: int = 2048
    index: GridIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", GridIndex(self.geometries, self.resolution))

    def __len__(self) -> int:
        return len(self.codes)

    def feature(self, i: int) -> tuple[str, str]:
        """``(name, code)`` of feature ``i``."""
        return self.names[i], self.codes[i]

    def find(self, code: str) -> int | None:
        """The index of the first feature with this code (case-sensitive), or ``None``."""
        try:
            return self.codes.index(code)
        except ValueError:
            return None

    @property
    def area_m2(self) -> float:
        return float(shapely.area(self.geometries).sum())

    @property
    def vertices(self) -> int:
        return int(shapely.get_num_coordinates(self.geometries).sum())


def load_layer(spec: LayerSpec, resolution: int = 2048) -> Layer:
    """Read, reproject, repair and index one layer. Raises ``LayerError`` when it cannot."""
    path = Path(spec.path)
    where = f"{spec.level} layer: {path}"
    if not path.exists():
        raise LayerError(f"{where}: file not found (resolved to {path.resolve()})")
    code_guesses: tuple[str, ...] = _CODE_GUESSES
    if path.is_dir() and path.suffix.lower() != ".gdb":
        read = _read_folder(path, spec, where)
        code_guesses = (FILE_FIELD, *_CODE_GUESSES)
    else:
        read = _read_file(path, spec, where)

    name_at = _field_index(read.fields, spec.name_field, _NAME_GUESSES, _ONS_NAME, "name", where)
    code_at = _field_index(read.fields, spec.code_field, code_guesses, _ONS_CODE, "code", where)
    source_crs = _source_crs(read.crs, spec, read.first, where)

    problems: list[Problem] = []
    names, codes, geometries = _features(
        spec.level, read.wkb, read.values[name_at], read.values[code_at], problems
    )
    if not geometries:
        raise LayerError(f"{where}: has no polygon features")
    raw = np.array(geometries, dtype=object)
    _check_coordinates(raw, source_crs, where)

    moved = crs_.to_bng(raw, source_crs)
    if moved.outside_ostn15:
        problems.append(
            Problem(
                spec.level,
                "outside_ostn15",
                f"{moved.outside_ostn15} vertices lie outside OSTN15's coverage and were "
                "transformed with PROJ's Helmert approximation (a few metres off)",
            )
        )
    bng = _repair(spec.level, moved.geometries, names, codes, problems)
    _check_in_gb(bng, source_crs, where)
    _check_duplicates(spec.level, codes, problems)
    return Layer(
        level=spec.level,
        source=path,
        crs=crs_.describe(source_crs),
        transformation=moved.transformation,
        names=tuple(names),
        codes=tuple(codes),
        geometries=bng,
        problems=tuple(problems),
        parent=spec.parent,
        resolution=resolution,
    )


def spec_for_file(path: Path, level: str | None = None, crs: str | None = None) -> LayerSpec:
    """A spec for a file given on the command line: level from the file name, fields detected."""
    return LayerSpec(
        level=level or Path(path).stem, path=Path(path), name_field=None, code_field=None, crs=crs
    )


@dataclass(frozen=True)
class _Read:
    """Features as read: declared CRS, attribute names, WKB geometries and attribute values."""

    crs: str | None
    fields: list[str]
    wkb: NDArray[np.object_]
    values: list[NDArray[Any]]
    first: Path  # the (first) file read, for messages about missing .prj files


def _read_file(path: Path, spec: LayerSpec, where: str) -> _Read:
    import pyogrio.raw  # here, not at the top: importing pyogrio is slow and not every user reads files

    dataset_layer = _choose_layer(path, spec, where)
    try:
        meta, _, wkb, field_data = pyogrio.raw.read(path, layer=dataset_layer)
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable data
        raise LayerError(f"{where}: cannot read it as a boundary file ({exc})") from None
    fields = [str(name) for name in meta["fields"]]
    return _Read(meta.get("crs"), fields, wkb, list(field_data), path)


def _read_folder(folder: Path, spec: LayerSpec, where: str) -> _Read:
    """Every boundary file in a folder, as one layer (data.police.uk ships a KML per neighbourhood).

    Attributes common to every file are kept, plus ``file``: the file's name without its suffix,
    which is the neighbourhood's identifier in data.police.uk's downloads.
    """
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _FOLDER_SUFFIXES and p.is_file())
    if not files:
        suffixes = ", ".join(sorted(_FOLDER_SUFFIXES))
        raise LayerError(f"{where}: is a folder with no boundary files in it ({suffixes})")
    parts = [_read_file(path, spec, f"{where}/{path.name}") for path in files]
    declared = {part.crs for part in parts}
    if len(declared) > 1:
        listed = ", ".join(sorted(str(c) for c in declared))
        raise LayerError(f"{where}: its files declare different coordinate systems ({listed})")
    common = [f for f in parts[0].fields if f != FILE_FIELD and all(f in part.fields for part in parts)]
    values = [np.concatenate([part.values[part.fields.index(f)] for part in parts]) for f in common]
    stems = [np.full(len(part.wkb), path.stem, dtype=object) for part, path in zip(parts, files, strict=True)]
    return _Read(
        parts[0].crs,
        [*common, FILE_FIELD],
        np.concatenate([part.wkb for part in parts]),
        [*values, np.concatenate(stems)],
        files[0],
    )


def _choose_layer(path: Path, spec: LayerSpec, where: str) -> str | int | None:
    import pyogrio

    try:
        listed = pyogrio.list_layers(path)
    except Exception as exc:
        raise LayerError(f"{where}: cannot open it as a boundary file ({exc})") from None
    names = [str(row[0]) for row in listed]
    if spec.layer is not None:
        if spec.layer not in names:
            raise LayerError(f"{where}: has no layer {spec.layer!r} (it has: {', '.join(names)})")
        return spec.layer
    spatial = [str(row[0]) for row in listed if row[1] is not None]
    if len(spatial) > 1:
        raise LayerError(
            f"{where}: holds {len(spatial)} layers ({', '.join(spatial)}); "
            'choose one with layer = "..." in this layer\'s configuration'
        )
    return spatial[0] if spatial else None


def _field_index(
    fields: list[str],
    wanted: str | None,
    guesses: tuple[str, ...],
    ons: re.Pattern[str],
    role: str,
    where: str,
) -> int:
    have = ", ".join(fields) if fields else "no attributes at all"
    if wanted is not None:
        if wanted in fields:
            return fields.index(wanted)
        folded = [f for f in fields if f.lower() == wanted.lower()]
        if len(folded) == 1:
            return fields.index(folded[0])
        close = difflib.get_close_matches(wanted, fields, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise LayerError(f"{where}: has no attribute {wanted!r} for the {role} (it has: {have}){hint}")
    for guess in guesses:
        if guess in fields:
            return fields.index(guess)
    matches = [f for f in fields if ons.match(f)]
    if len(matches) == 1:
        return fields.index(matches[0])
    setting = f"{role}_field"
    raise LayerError(f"{where}: cannot tell which attribute holds the {role} (it has: {have}); set {setting}")


def _source_crs(declared: str | None, spec: LayerSpec, path: Path, where: str) -> crs_.Crs:
    if spec.crs is not None:
        try:
            return crs_.parse_crs(spec.crs)
        except ValueError as exc:
            raise LayerError(f"{where}: crs setting: {exc}") from None
    if declared is None:
        if path.suffix.lower() == ".shp" and not path.with_suffix(".prj").exists():
            raise LayerError(
                f"{where}: has no .prj file, so its coordinate system is unknown; "
                'add the .prj or set crs = "EPSG:27700" (or the right code) for this layer'
            )
        raise LayerError(
            f"{where}: declares no coordinate system; "
            'set crs = "EPSG:27700" (or the right code) for this layer'
        )
    try:
        return crs_.parse_crs(declared)
    except ValueError as exc:
        raise LayerError(f"{where}: {exc}") from None


def _features(
    level: str,
    wkb: NDArray[np.object_],
    name_values: NDArray[Any],
    code_values: NDArray[Any],
    problems: list[Problem],
) -> tuple[list[str], list[str], list[shapely.Geometry]]:
    geometries = shapely.from_wkb(wkb, on_invalid="warn") if len(wkb) else np.empty(0, dtype=object)
    names: list[str] = []
    codes: list[str] = []
    kept: list[shapely.Geometry] = []
    for i, geometry in enumerate(geometries):
        name, code = _text(name_values[i]), _text(code_values[i])
        label = _label(i, name, code)
        if name is None or code is None:
            missing = "name" if name is None else "code"
            if name is None and code is None:
                missing = "name or code"
            problems.append(Problem(level, "missing_value", f"{label} has no {missing}", feature=label))
            name = name or code or f"#{i + 1}"
            code = code or name
        if geometry is None or shapely.is_empty(geometry):
            problems.append(
                Problem(level, "empty_geometry", f"{label} has no geometry: skipped", feature=label)
            )
            continue
        polygonal = _polygonal(shapely.force_2d(geometry))
        if polygonal is None:
            kind = shapely.get_type_id(geometry)
            type_name = geometry.geom_type if kind >= 0 else "unknown"
            problems.append(
                Problem(
                    level, "not_polygon", f"{label} is a {type_name}, not a polygon: skipped", feature=label
                )
            )
            continue
        names.append(name)
        codes.append(code)
        kept.append(polygonal)
    return names, codes, kept


def _repair(
    level: str,
    geometries: NDArray[np.object_],
    names: list[str],
    codes: list[str],
    problems: list[Problem],
) -> NDArray[np.object_]:
    """Make every geometry valid (reporting what was wrong and what the repair cost)."""
    geometries = geometries.copy()
    for i in np.flatnonzero(~shapely.is_valid(geometries)):
        before = geometries[i]
        reason = shapely.is_valid_reason(before)
        repaired = _polygonal(shapely.make_valid(before))
        label = _label(int(i), names[i], codes[i])
        if repaired is None:
            repaired = shapely.Polygon()
        change = abs(shapely.area(repaired) - shapely.area(before))
        problems.append(
            Problem(
                level,
                "invalid_geometry",
                f"{label} had invalid geometry ({reason}, BNG metres); repaired with make_valid, "
                f"area changed by {change:,.0f} m²",
                feature=label,
            )
        )
        geometries[i] = repaired
    return geometries


def _polygonal(geometry: BaseGeometry) -> BaseGeometry | None:
    """The polygonal part of a geometry (collections are filtered), or ``None`` if there is none."""
    kind = geometry.geom_type
    if kind in ("Polygon", "MultiPolygon"):
        return geometry
    if kind == "GeometryCollection" or kind.startswith("Multi"):
        parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon", "MultiPolygon")]
        polygons = [q for p in parts for q in shapely.get_parts(p)]
        if polygons:
            return shapely.multipolygons(polygons) if len(polygons) > 1 else polygons[0]
    return None


def _check_coordinates(geometries: NDArray[np.object_], source: crs_.Crs, where: str) -> None:
    """Catch the classic CRS mistakes before they turn into silently empty placements."""
    minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(geometries))
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise LayerError(f"{where}: has non-finite coordinates")
    if not crs_.is_lonlat(source):
        return
    name = crs_.describe(source)
    if max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90:
        raise LayerError(
            f"{where}: coordinates reach x={maxx:,.0f}, y={maxy:,.0f}, which are not longitude and "
            f"latitude, yet the layer is read as {name} (a GeoJSON file without a crs member is "
            'WGS84 by definition); if these are British National Grid metres, set crs = "EPSG:27700"'
        )
    if miny >= 48 and maxy <= 62 and minx >= -9 and maxx <= 3:
        return
    if minx >= 48 and maxx <= 62 and miny >= -9 and maxy <= 3:
        raise LayerError(
            f"{where}: coordinates look like latitude, longitude (x from {minx:g} to {maxx:g}); "
            "GeoJSON and KML store longitude first: swap the axes in the file"
        )


def _check_in_gb(geometries: NDArray[np.object_], source: crs_.Crs, where: str) -> None:
    minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(geometries))
    gx0, gy0, gx1, gy1 = _GB_BOUNDS
    if maxx < gx0 or minx > gx1 or maxy < gy0 or miny > gy1 or not math.isfinite(minx):
        raise LayerError(
            f"{where}: read as {crs_.describe(source)}, the layer lies outside Great Britain "
            f"(BNG bounds {minx:,.0f}, {miny:,.0f} to {maxx:,.0f}, {maxy:,.0f}); check its coordinate "
            "system, or set crs for this layer"
        )


def _check_duplicates(level: str, codes: list[str], problems: list[Problem]) -> None:
    seen: dict[str, list[int]] = {}
    for i, code in enumerate(codes):
        seen.setdefault(code, []).append(i)
    for code, where in seen.items():
        if len(where) > 1:
            numbers = ", ".join(f"#{i + 1}" for i in where)
            problems.append(
                Problem(
                    level,
                    "duplicate_code",
                    f"code {code!r} is used by {len(where)} features ({numbers})",
                    feature=code,
                )
            )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip()
    return text or None


def _label(i: int, name: str | None, code: str | None) -> str:
    if name and code and name != code:
        return f"{name} ({code})"
    return name or code or f"feature #{i + 1}"
