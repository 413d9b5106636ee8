"""gis.layers: every format and CRS path lands in BNG metres; bad data gets a precise message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import shapely

from gis import LayerError, LayerSpec, load_layer, spec_for_file
from gis.grid import bng_to_lonlat

WY_CENTRE = shapely.Point(429790, 433803)  # BNG of Leeds city centre


def _wgs84(geometry: shapely.Geometry) -> shapely.Geometry:
    def move(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(bng_to_lonlat(xy[:, 0], xy[:, 1]))

    return shapely.transform(geometry, move)


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("name", ["forces.geojson", "forces.kml", "forces.shp", "forces.gpkg"])
def test_every_sample_format_gives_the_same_forces(samples: Path, name: str) -> None:
    layer = load_layer(LayerSpec("force", samples / "boundaries" / name))
    reference = load_layer(LayerSpec("force", samples / "boundaries" / "forces.geojson"))
    assert layer.codes == ("WYP", "NYP", "SYP", "GMP", "LAN")
    assert layer.names[0] == "West Yorkshire"
    assert layer.problems == ()
    # KML is WGS84 and passes through OSTN15 twice: centimetres, not metres.
    gap = shapely.hausdorff_distance(layer.geometries, reference.geometries)
    assert gap.max() < 0.05


def test_bng_geojson_needs_no_transformation(samples: Path) -> None:
    layer = load_layer(LayerSpec("force", samples / "boundaries" / "forces.geojson"))
    assert layer.crs == "EPSG:27700"
    assert layer.transformation.startswith("none")
    assert shapely.contains(layer.geometries[0], WY_CENTRE)


def test_wgs84_geojson_goes_through_ostn15(samples: Path) -> None:
    layer = load_layer(LayerSpec("district", samples / "boundaries" / "districts.geojson"))
    assert layer.crs == "EPSG:4326"
    assert layer.transformation == "OSTN15"
    assert layer.codes[0] == "LDS" and shapely.contains(layer.geometries[0], WY_CENTRE)


def test_any_crs_proj_knows(write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]) -> None:
    """Web Mercator goes through PROJ to WGS84, then OSTN15."""
    import pyproj

    to_mercator = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)

    def move(xy: np.ndarray) -> np.ndarray:
        lon, lat = bng_to_lonlat(xy[:, 0], xy[:, 1])
        return np.column_stack(to_mercator.transform(lon, lat))

    mercator = shapely.transform(np.array(bng_squares, dtype=object), move)
    path = write_geojson([({"name": "A", "code": "a"}, g) for g in mercator], crs="EPSG:3857")
    layer = load_layer(LayerSpec("force", path))
    assert layer.crs == "EPSG:3857"
    assert "OSTN15" in layer.transformation and "PROJ" in layer.transformation
    assert shapely.hausdorff_distance(layer.geometries[0], bng_squares[0]) < 0.05


def test_osgb36_lonlat_uses_proj_on_one_datum(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    import pyproj

    to_4277 = pyproj.Transformer.from_crs("EPSG:27700", "EPSG:4277", always_xy=True)
    moved = shapely.transform(
        bng_squares[0], lambda xy: np.column_stack(to_4277.transform(xy[:, 0], xy[:, 1]))
    )
    path = write_geojson([({"name": "A", "code": "a"}, moved)], crs="EPSG:4277")
    layer = load_layer(LayerSpec("force", path))
    assert "same datum" in layer.transformation
    assert shapely.hausdorff_distance(layer.geometries[0], bng_squares[0]) < 0.01


def test_crs_setting_overrides_the_file(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    """A GeoJSON in BNG metres without a crs member, rescued by configuration."""
    path = write_geojson([({"name": "A", "code": "a"}, bng_squares[0])])
    layer = load_layer(LayerSpec("force", path, crs="EPSG:27700"))
    assert layer.crs == "EPSG:27700"
    assert shapely.equals(layer.geometries[0], bng_squares[0])


def test_multipolygons_and_holes_survive(write_geojson: Callable[..., Path]) -> None:
    donut = shapely.box(420_000, 430_000, 440_000, 450_000).difference(
        shapely.box(425_000, 435_000, 435_000, 445_000)
    )
    islands = shapely.MultiPolygon(
        [shapely.box(400_000, 400_000, 401_000, 401_000), shapely.box(402_000, 400_000, 403_000, 401_000)]
    )
    path = write_geojson(
        [({"name": "Donut", "code": "D"}, donut), ({"name": "Isles", "code": "I"}, islands)], crs="EPSG:27700"
    )
    layer = load_layer(LayerSpec("force", path))
    assert layer.geometries[0].area == pytest.approx(donut.area)
    assert layer.geometries[1].geom_type == "MultiPolygon"


def test_fields_are_detected_for_files_given_on_the_command_line(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    path = write_geojson(
        [({"PFA23CD": "E23000010", "PFA23NM": "West Yorkshire", "BNG_E": 1}, bng_squares[0])],
        name="pfa.geojson",
        crs="EPSG:27700",
    )
    spec = spec_for_file(path)
    assert spec.level == "pfa"
    layer = load_layer(spec)
    assert layer.feature(0) == ("West Yorkshire", "E23000010")


def test_attribute_names_match_case_insensitively(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    path = write_geojson([({"NAME": "A", "Code": "a"}, bng_squares[0])], crs="EPSG:27700")
    assert load_layer(LayerSpec("force", path)).feature(0) == ("A", "a")


def test_numeric_codes_become_text(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    path = write_geojson([({"name": "A", "code": 42}, bng_squares[0])], crs="EPSG:27700")
    assert load_layer(LayerSpec("force", path)).codes == ("42",)


def test_a_folder_of_kml_files_is_one_layer(
    tmp_path: Path, write_dataset: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    """data.police.uk's shape: a KML file per neighbourhood, named by its identifier."""
    folder = tmp_path / "west-yorkshire"
    folder.mkdir()
    for code, square in zip(("LS1", "LS2"), bng_squares, strict=True):
        wgs84 = _wgs84(square)
        write_dataset(f"west-yorkshire/{code}.kml", [wgs84], "KML", crs="EPSG:4326", names=[code.lower()])
    (folder / "README.txt").write_text("not a boundary file")
    layer = load_layer(LayerSpec("neighbourhood", folder, name_field="Name", code_field="file"))
    assert layer.codes == ("LS1", "LS2") and layer.names == ("ls1", "ls2")
    assert layer.crs == "EPSG:4326"
    assert shapely.hausdorff_distance(layer.geometries[1], bng_squares[1]) < 0.05


def test_one_layer_of_a_geopackage_can_be_chosen(
    write_dataset: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    write_dataset("many.gpkg", bng_squares[:1], "GPKG", layer="forces", names=["Force"])
    path = write_dataset("many.gpkg", bng_squares[1:], "GPKG", layer="districts", names=["District"])
    assert load_layer(LayerSpec("district", path, layer="districts")).names == ("District",)


# ----------------------------------------------------------------------------- bad data


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match=r"force layer: .*nowhere\.geojson: file not found"):
        load_layer(LayerSpec("force", tmp_path / "nowhere.geojson"))


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match=r"is a folder with no boundary files in it \(\.geojson"):
        load_layer(LayerSpec("force", tmp_path))


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.geojson"
    path.write_text("this is not GeoJSON")
    with pytest.raises(LayerError, match=r"cannot (open|read) it as a boundary file"):
        load_layer(LayerSpec("force", path))


def test_missing_attribute_lists_what_there_is(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    path = write_geojson([({"nme": "A", "code": "a"}, bng_squares[0])], crs="EPSG:27700")
    with pytest.raises(LayerError) as caught:
        load_layer(LayerSpec("force", path, name_field="name"))
    message = str(caught.value)
    assert "has no attribute 'name' for the name (it has: nme, code)" in message
    assert "did you mean 'nme'?" in message


def test_undetectable_attribute(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    path = write_geojson([({"foo": "A", "bar": "a"}, bng_squares[0])], crs="EPSG:27700")
    with pytest.raises(LayerError, match=r"cannot tell which attribute holds the name .* set name_field"):
        load_layer(spec_for_file(path))


def test_shapefile_without_prj(
    write_dataset: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    path = write_dataset("forces.shp", bng_squares, "ESRI Shapefile", crs=None)
    path.with_suffix(".prj").unlink(missing_ok=True)
    with pytest.raises(LayerError, match=r"has no \.prj file.*set crs = \"EPSG:27700\""):
        load_layer(LayerSpec("force", path))
    # ... and the configuration can supply it.
    assert load_layer(LayerSpec("force", path, crs="EPSG:27700")).crs == "EPSG:27700"


def test_unknown_crs_setting(write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]) -> None:
    path = write_geojson([({"name": "A", "code": "a"}, bng_squares[0])], crs="EPSG:27700")
    with pytest.raises(LayerError, match="crs setting: 'EPSG:99999' is not a CRS PROJ knows"):
        load_layer(LayerSpec("force", path, crs="EPSG:99999"))


def test_bng_metres_in_a_geojson_without_crs(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    path = write_geojson([({"name": "A", "code": "a"}, bng_squares[0])])
    with pytest.raises(LayerError, match=r"not longitude and latitude.*set crs = \"EPSG:27700\""):
        load_layer(LayerSpec("force", path))


def test_swapped_axes(write_geojson: Callable[..., Path]) -> None:
    swapped = shapely.box(53.7, -1.6, 53.9, -1.4)  # (lat, lon) written as (x, y)
    path = write_geojson([({"name": "A", "code": "a"}, swapped)])
    with pytest.raises(LayerError, match="look like latitude, longitude"):
        load_layer(LayerSpec("force", path))


def test_layer_outside_great_britain(write_geojson: Callable[..., Path]) -> None:
    paris = shapely.box(2.3, 48.8, 2.4, 48.9)
    path = write_geojson([({"name": "Paris", "code": "P"}, paris)])
    with pytest.raises(LayerError, match="lies outside Great Britain"):
        load_layer(LayerSpec("force", path))


def test_no_polygons_at_all(write_geojson: Callable[..., Path]) -> None:
    path = write_geojson([({"name": "A", "code": "a"}, shapely.Point(-1.5, 53.8))])
    with pytest.raises(LayerError, match="has no polygon features"):
        load_layer(LayerSpec("force", path))


def test_several_layers_and_none_chosen(
    write_dataset: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    write_dataset("many.gpkg", bng_squares[:1], "GPKG", layer="forces")
    path = write_dataset("many.gpkg", bng_squares[1:], "GPKG", layer="districts")
    with pytest.raises(LayerError, match=r"holds 2 layers \(.*\); choose one with layer ="):
        load_layer(LayerSpec("force", path))
    with pytest.raises(LayerError, match="has no layer 'wards'"):
        load_layer(LayerSpec("force", path, layer="wards"))


def test_invalid_geometry_is_repaired_and_reported(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    bowtie = shapely.Polygon([(420_000, 430_000), (430_000, 440_000), (430_000, 430_000), (420_000, 440_000)])
    path = write_geojson(
        [({"name": "Bow", "code": "B"}, bowtie), ({"name": "Ok", "code": "O"}, bng_squares[1])],
        crs="EPSG:27700",
    )
    layer = load_layer(LayerSpec("force", path))
    assert shapely.is_valid(layer.geometries).all()
    assert layer.geometries[0].area == pytest.approx(50_000_000)  # both triangles kept
    (problem,) = layer.problems
    assert problem.kind == "invalid_geometry" and problem.severity == "warning"
    assert "Bow (B) had invalid geometry (Self-intersection" in problem.message
    assert "repaired with make_valid" in problem.message


def test_empty_and_non_polygon_features_are_skipped_and_reported(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    path = write_geojson(
        [
            ({"name": "Empty", "code": "E"}, None),
            ({"name": "Road", "code": "R"}, shapely.LineString([(420_000, 430_000), (430_000, 440_000)])),
            ({"name": "Ok", "code": "O"}, bng_squares[0]),
        ],
        crs="EPSG:27700",
    )
    layer = load_layer(LayerSpec("force", path))
    assert layer.codes == ("O",)
    kinds = {p.kind: p.message for p in layer.problems}
    assert kinds["empty_geometry"] == "Empty (E) has no geometry: skipped"
    assert kinds["not_polygon"] == "Road (R) is a LineString, not a polygon: skipped"


def test_missing_names_and_duplicate_codes_are_reported(
    write_geojson: Callable[..., Path], bng_squares: list[shapely.Polygon]
) -> None:
    path = write_geojson(
        [({"name": None, "code": "A"}, bng_squares[0]), ({"name": "Also A", "code": "A"}, bng_squares[1])],
        crs="EPSG:27700",
    )
    layer = load_layer(LayerSpec("force", path))
    assert layer.names == ("A", "Also A")  # the code stands in for the missing name
    messages = sorted(p.message for p in layer.problems)
    assert messages == ["A has no name", "code 'A' is used by 2 features (#1, #2)"]


def test_vertices_outside_ostn15_are_reported(write_geojson: Callable[..., Path]) -> None:
    scilly_south = shapely.box(-6.4, 49.85, -6.2, 49.95)  # south of OSTN15's coverage
    path = write_geojson([({"name": "Scilly", "code": "S"}, scilly_south)])
    layer = load_layer(LayerSpec("force", path))
    (problem,) = layer.problems
    assert problem.kind == "outside_ostn15" and "Helmert" in problem.message


def test_layer_summary(samples: Path) -> None:
    layer = load_layer(LayerSpec("force", samples / "boundaries" / "forces.geojson"))
    assert len(layer) == 5
    assert layer.find("NYP") == 1 and layer.find("XXX") is None
    assert 15_000e6 < layer.area_m2 < 18_000e6  # the real five: about 16,600 km²
    assert layer.vertices > 100
