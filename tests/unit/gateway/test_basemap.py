"""gateway.basemap: the default map from installed packages, a force's street map from OSM data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import shapely

from gateway.basemap import (
    UK_BOX,
    WORLD_ATLAS,
    BasemapError,
    Sources,
    build,
    default_sources,
    geojson_layer,
    geojson_roads,
    pmtiles_metadata,
    world_atlas_land,
)
from tests.shared_data import require_shared_data


def test_the_default_map_has_the_uk_coast_places_and_the_sample_boundaries() -> None:
    if not WORLD_ATLAS.exists():
        pytest.fail(f"{WORLD_ATLAS} is missing: the install step (make web) fetches it")
    sources = default_sources()
    land = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in sources.layers["land"]])
    # Leeds is on land, the middle of the North Sea is not, and nothing lies outside the box.
    assert land.contains(shapely.Point(-1.5492, 53.7997))
    assert not land.contains(shapely.Point(2.0, 55.0))
    assert shapely.box(*UK_BOX).buffer(1e-9).contains(land)
    names = {f["properties"]["name"]: f["properties"]["rank"] for f in sources.layers["places"]}
    assert names["Leeds"] == 1 and "Bradford" in names and "Dublin" in names
    assert {f["properties"]["level"] for f in sources.layers["boundaries"]} >= {"forces", "districts"}
    assert any("GeoNames (CC BY 4.0)" in text for text in sources.attribution)


def test_world_atlas_arcs_decode_to_closed_rings(tmp_path: Path) -> None:
    # A quantised square, written the way TopoJSON stores it: delta-encoded arcs and a transform.
    topo = {
        "type": "Topology", "transform": {"scale": [0.5, 0.5], "translate": [-2.0, 53.0]},
        "objects": {"land": {"type": "GeometryCollection", "geometries": [{"type": "Polygon", "arcs": [[0, 1]]}]}},
        "arcs": [[[0, 0], [4, 0], [0, 4]], [[4, 4], [-4, 0], [0, -4]]],
    }
    path = tmp_path / "land.json"
    path.write_text(json.dumps(topo))
    [feature] = world_atlas_land(path, UK_BOX)
    ring = feature["geometry"]["coordinates"][0]
    assert shapely.Polygon(ring).equals(shapely.box(-2.0, 53.0, 0.0, 55.0)) and ring[0] == ring[-1]


def test_roads_are_classed_and_keep_their_names(tmp_path: Path) -> None:
    path = tmp_path / "roads.geojson"
    line = {"type": "LineString", "coordinates": [[-1.55, 53.79], [-1.54, 53.80]]}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": line,
         "properties": {"highway": "primary", "name": "Wellington Street", "ref": "A65"}},
        {"type": "Feature", "properties": {"highway": "residential", "name": "Park Row"}, "geometry": line},
        {"type": "Feature", "properties": {"highway": "proposed"}, "geometry": line},
        {"type": "Feature", "properties": {"building": "yes"}, "geometry": line},
    ]}))
    roads = list(geojson_roads(path))
    assert [r["properties"] for r in roads] == [
        {"class": "primary", "name": "Wellington Street", "ref": "A65"}, {"class": "minor", "name": "Park Row"},
    ]
    assert [r["tippecanoe"]["minzoom"] for r in roads] == [8, 13]


def test_a_street_map_of_central_leeds_from_the_osm_sample(tmp_path: Path) -> None:
    data = require_shared_data("osm-west-yorkshire")
    sources = Sources()
    sources.add("roads", geojson_roads(data / "leeds-centre-roads.geojson"))
    sources.add("water", geojson_layer(data / "west-yorkshire-water.geojson"))
    sources.credit("© OpenStreetMap contributors (ODbL)")
    said: list[str] = []
    out = build(sources, tmp_path / "streets.pmtiles", max_zoom=14, progress=said.append, quiet=True)
    meta = pmtiles_metadata(out)
    assert meta["attribution"] == "© OpenStreetMap contributors (ODbL)"
    assert (meta["minzoom"], meta["maxzoom"]) == (4, 14)
    layers = {layer["id"]: layer for layer in meta["vector_layers"]}
    assert set(layers) == {"roads", "water"} and {"class", "name", "ref"} <= set(layers["roads"]["fields"])
    assert any("roads: 11," in line for line in said) and said[-1].startswith(f"wrote {out}")


def test_nothing_to_draw_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BasemapError, match="nothing to draw"):
        build(Sources(), tmp_path / "empty.pmtiles")
    assert not (tmp_path / "empty.pmtiles").exists()


def test_the_command_wants_one_kind_of_map(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "gateway", "basemap", "build", "--out", str(tmp_path / "x.pmtiles")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "give --default, or a force's --osm" in done.stderr


def test_an_osm_extract_gives_roads_water_and_places(tmp_path: Path) -> None:
    """A small .osm.pbf written with osmium: a primary road, a lake, a town node, a building."""
    import osmium
    from osmium.osm.mutable import Node, Way

    from gateway.basemap import osm_sources

    path = tmp_path / "area.osm.pbf"
    square = [(-1.55, 53.79), (-1.54, 53.79), (-1.54, 53.80), (-1.55, 53.80)]
    with osmium.SimpleWriter(str(path)) as writer:
        for i, (lon, lat) in enumerate([(-1.56, 53.78), (-1.53, 53.81), *square], start=1):
            writer.add_node(Node(id=i, location=(lon, lat), tags={}))
        writer.add_node(Node(id=9, location=(-1.5492, 53.7997), tags={"place": "city", "name": "Leeds"}))
        writer.add_way(Way(id=20, nodes=[1, 2], tags={"highway": "primary", "name": "Wellington Street", "ref": "A65"}))
        writer.add_way(Way(id=21, nodes=[3, 4, 5, 6, 3], tags={"natural": "water", "name": "Lake"}))
        writer.add_way(Way(id=22, nodes=[1, 2], tags={"building": "yes"}))
    said: list[str] = []
    sources = osm_sources(path, said.append)
    assert [f["properties"] for f in sources.layers["roads"]] == [
        {"class": "primary", "name": "Wellington Street", "ref": "A65"}
    ]
    [water] = sources.layers["water"]
    assert water["geometry"]["type"] == "MultiPolygon" and water["properties"] == {"name": "Lake"}
    assert [f["properties"] for f in sources.layers["places"]] == [{"name": "Leeds", "rank": 1}]
    assert "waterways" not in sources.layers or not sources.layers["waterways"]
    assert sources.attribution == ["© OpenStreetMap contributors (ODbL)"]
