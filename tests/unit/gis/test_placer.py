"""gis.placer: a fix placed against the sample force, district and neighbourhood layers."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis import BoundaryConfigError, BoundaryError, Fix, LayerSpec, Placer
from gis.grid import bng_to_lonlat, to_bng

LEEDS = (53.7997, -1.5492)
T0 = datetime(2026, 1, 31, 17, 0, tzinfo=UTC)


def lat_lon(easting: float, northing: float) -> tuple[float, float]:
    lon, lat = bng_to_lonlat([easting], [northing])
    return float(lat[0]), float(lon[0])


# ----------------------------------------------------------------------------- the basics


def test_leeds_city_centre(placer: Placer) -> None:
    """The point the gateway, the demo and the end-to-end tests rely on."""
    placement = placer.place(Fix(*LEEDS, accuracy=20))
    assert {level: lp.code for level, lp in placement.layers.items()} == {
        "force": "WYP",
        "district": "LDS",
        "neighbourhood": "LCC",
    }
    assert placement["force"].name == "West Yorkshire"
    assert placement["neighbourhood"].name == "Leeds City Centre"
    assert not placement.ambiguous
    assert placement.referral is None
    assert placement.flags == ()


def test_levels_keep_the_configured_order(placer: Placer) -> None:
    assert placer.levels == ["force", "district", "neighbourhood"]
    assert placer.home_force == ("West Yorkshire", "WYP")
    assert placer.problems == ()


def test_to_dict_has_the_schema_the_web_ui_renders(placer: Placer) -> None:
    data = placer.place(Fix(*LEEDS, accuracy=20)).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"layers", "bng", "accuracy_m", "ambiguous", "referral", "postcode", "flags"}
    assert list(data["layers"]) == ["force", "district", "neighbourhood"]
    assert data["layers"]["force"] == {
        "name": "West Yorkshire",
        "code": "WYP",
        "share": 1.0,
        "shares": [{"name": "West Yorkshire", "code": "WYP", "share": 1.0}],
        "nearest": None,
        "ambiguous": False,
    }
    assert data["bng"] == {
        "easting": 429790.07,
        "northing": 433803.12,
        "grid_ref": "SE 29790 33803",
        "transformation": "OSTN15",
    }
    assert data["accuracy_m"] == 20.0
    assert data["postcode"] == {"postcode": "LS1 1UR", "distance_m": 35.2}


# ----------------------------------------------------------------------------- uncertainty


def test_circle_astride_a_boundary_is_shared_and_ambiguous(placer: Placer) -> None:
    # Midpoint of the straight Leeds/Bradford edge from (420.0, 437.0) km to (421.0, 432.0) km.
    placement = placer.place(Fix(*lat_lon(420_500, 434_500), accuracy=300))
    district = placement["district"]
    shares = {s.code: s.share for s in district.shares}
    assert set(shares) == {"LDS", "BFD"}
    assert shares["LDS"] == pytest.approx(0.5, abs=0.01)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6)
    assert district.ambiguous and placement.ambiguous
    assert district.share == shares[district.code]
    assert placement["force"].shares == (placement["force"].shares[0],)  # WY all round


def test_share_follows_the_threshold(placer: Placer, sample_table: tuple[dict[str, Any], Path]) -> None:
    table, base = sample_table
    lenient = Placer.from_config({**table, "ambiguity_threshold": 0.4}, base)
    fix = Fix(*lat_lon(420_500, 434_500), accuracy=300)
    assert placer.place(fix)["district"].ambiguous
    assert not lenient.place(fix)["district"].ambiguous


def test_small_circle_near_a_boundary_is_not_ambiguous(placer: Placer) -> None:
    placement = placer.place(Fix(*lat_lon(420_500 + 100, 434_500), accuracy=10))  # 98 m inside Leeds
    assert placement["district"].code == "LDS"
    assert placement["district"].share == 1.0
    assert not placement.ambiguous


def test_shares_match_an_independent_computation(placer: Placer) -> None:
    x, y = 429_000.0, 432_400.0  # near where four central Leeds neighbourhoods meet
    placement = placer.place(Fix(*lat_lon(x, y), accuracy=700))
    e, n, _ = to_bng(*lat_lon(x, y))
    circle = shapely.Point(e, n).buffer(700, quad_segs=256)
    layer = placer.layer("neighbourhood")
    for share in placement["neighbourhood"].shares:
        k = layer.find(share.code)
        exact = shapely.intersection(circle, layer.geometries[k]).area / circle.area
        assert share.share == pytest.approx(exact, abs=0.005)


def test_no_accuracy_is_a_point(placer: Placer) -> None:
    placement = placer.place(Fix(*LEEDS))
    assert placement["neighbourhood"].code == "LCC" and placement["neighbourhood"].share == 1.0
    assert placement.accuracy_m is None
    assert placement.flags == ("no_accuracy",)


# ----------------------------------------------------------------------------- outside


def test_outside_a_layer_names_the_nearest_feature(placer: Placer) -> None:
    bradford = lat_lon(416_400, 433_000)
    placement = placer.place(Fix(*bradford, accuracy=20))
    assert placement["district"].code == "BFD"
    neighbourhood = placement["neighbourhood"]
    assert (neighbourhood.name, neighbourhood.code, neighbourhood.share, neighbourhood.shares) == (
        None,
        None,
        0.0,
        (),
    )
    assert neighbourhood.nearest is not None and neighbourhood.nearest.code == "ARM"
    e, n, _ = to_bng(*bradford)
    layer = placer.layer("neighbourhood")
    expected = shapely.distance(layer.geometries[layer.find("ARM")], shapely.Point(e, n))
    assert neighbourhood.nearest.distance_m == pytest.approx(expected)
    assert not neighbourhood.ambiguous


def test_outside_every_force(placer: Placer) -> None:
    placement = placer.place(Fix(54.9, -2.9, accuracy=20))  # Carlisle: Cumbria is not in the samples
    force = placement["force"]
    assert force.code is None and force.nearest is not None
    assert force.nearest.code in {"LAN", "NYP"}
    assert placement.referral is not None
    assert placement.referral.reason.startswith("the position lies in no force area; the nearest is")


# ----------------------------------------------------------------------------- referral


def test_position_in_another_force_is_referred(placer: Placer) -> None:
    placement = placer.place(Fix(53.959, -1.082, accuracy=30))  # York
    assert placement["force"].code == "NYP"
    assert placement.referral is not None
    assert placement.referral.to_dict() == {
        "name": "North Yorkshire",
        "code": "NYP",
        "share": 1.0,
        "reason": "the position is in North Yorkshire, outside the home force West Yorkshire",
    }


def test_material_share_in_another_force_is_referred(placer: Placer) -> None:
    # 300 m inside West Yorkshire, on the straight edge from (430.0, 447.0) to (436.0, 449.5) km.
    x, y = 433_000.0, 448_250.0
    placement = placer.place(Fix(*lat_lon(x, y - 300), accuracy=800))
    assert placement["force"].code == "WYP"
    referral = placement.referral
    assert referral is not None and referral.code == "NYP"
    assert 0.1 < referral.share < 0.5
    assert referral.reason.endswith("of the accuracy circle lies in North Yorkshire")


def test_no_home_force_no_referral(samples: Path) -> None:
    placer = Placer.from_specs([LayerSpec("force", samples / "boundaries" / "forces.geojson")])
    assert placer.place(Fix(53.959, -1.082, accuracy=30)).referral is None


def test_unknown_home_force(samples: Path) -> None:
    with pytest.raises(
        BoundaryConfigError, match=r"home_force 'WYX' is not a code in the force layer .* WYP, NYP"
    ):
        Placer.from_specs([LayerSpec("force", samples / "boundaries" / "forces.geojson")], home_force="WYX")


# ----------------------------------------------------------------------------- flags


def test_flags(placer: Placer) -> None:
    before = Fix(*LEEDS, accuracy=20, time=T0)
    jump = Fix(53.959, -1.082, accuracy=20, time=T0 + timedelta(seconds=30))
    placement = placer.place(jump, previous=before, now=T0 + timedelta(minutes=5))
    assert placement.flags == ("stale", "gps_jump")
    assert placer.place(Fix(*LEEDS, accuracy=5000)).flags == ("coarse_accuracy",)


def test_outside_ostn15_is_flagged(placer: Placer) -> None:
    placement = placer.place(Fix(49.9, -6.3, accuracy=20))  # south of the Isles of Scilly
    assert "outside_ostn15" in placement.flags
    assert placement.bng is not None and placement.bng.transformation.startswith("Helmert")


def test_overlapping_features_are_flagged(write_geojson: Callable[..., Path]) -> None:
    path = write_geojson(
        [
            ({"name": "A", "code": "A"}, shapely.box(420_000, 430_000, 431_000, 440_000)),
            ({"name": "B", "code": "B"}, shapely.box(430_000, 430_000, 440_000, 440_000)),
        ],
        crs="EPSG:27700",
    )
    placer = Placer.from_specs([LayerSpec("force", path)])
    assert [p.kind for p in placer.problems] == ["overlap"]
    placement = placer.place(Fix(*lat_lon(430_500, 435_000), accuracy=10))
    assert placement["force"].code == "A"
    assert "overlapping_features" in placement.flags
    with pytest.raises(BoundaryError, match="overlap"):
        Placer.from_specs([LayerSpec("force", path)], strict=True)


# ----------------------------------------------------------------------------- agreement


@settings(max_examples=300, deadline=None)
@given(lat=st.floats(53.45, 54.1), lon=st.floats(-2.4, -1.0))
def test_agrees_with_brute_force_containment(placer: Placer, lat: float, lon: float) -> None:
    placement = placer.place(Fix(lat, lon))
    e, n, _ = to_bng(lat, lon)
    for layer in placer.layers:
        inside = np.flatnonzero(shapely.intersects_xy(layer.geometries, e, n))
        expected = layer.codes[inside[0]] if inside.size else None
        assert placement[layer.level].code == expected, layer.level


@settings(max_examples=100, deadline=None)
@given(lat=st.floats(53.70, 53.90), lon=st.floats(-1.75, -1.40), accuracy=st.floats(1, 3000))
def test_circle_shares_are_consistent(placer: Placer, lat: float, lon: float, accuracy: float) -> None:
    placement = placer.place(Fix(lat, lon, accuracy=accuracy))
    for lp in placement.layers.values():
        total = sum(s.share for s in lp.shares)
        assert total <= 1.0 + 1e-6
        assert [s.share for s in lp.shares] == sorted((s.share for s in lp.shares), reverse=True)
        if lp.code is not None:
            assert lp.share > 0
        assert lp.ambiguous == (bool(lp.shares) and lp.shares[0].share < 0.9)


def test_bulk_locate_agrees_with_place(placer: Placer) -> None:
    rng = np.random.default_rng(3)
    lat = rng.uniform(53.45, 54.1, 300)
    lon = rng.uniform(-2.4, -1.0, 300)
    bulk = placer.locate(lat, lon)
    assert len(bulk) == 300
    for i in range(300):
        placement = placer.place(Fix(lat[i], lon[i]))
        for level in placer.levels:
            assert bulk.codes(level)[i] == placement[level].code
            assert bulk.names(level)[i] == placement[level].name


def test_memory_does_not_grow_with_fixes_placed(placer: Placer) -> None:
    rng = np.random.default_rng(5)
    fixes = [
        Fix(float(a), float(b), accuracy=float(c))
        for a, b, c in zip(
            rng.uniform(53.6, 53.9, 600), rng.uniform(-1.9, -1.3, 600), rng.uniform(5, 400, 600), strict=True
        )
    ]
    only_gis = [tracemalloc.Filter(True, "*/gis/*")]  # other tests' threads may allocate meanwhile
    tracemalloc.start()
    try:
        for fix in fixes:
            placer.place(fix)
        gc.collect()
        before = tracemalloc.take_snapshot().filter_traces(only_gis)
        for _ in range(3):
            for fix in fixes:
                placer.place(fix)
        gc.collect()
        after = tracemalloc.take_snapshot().filter_traces(only_gis)
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 16 * 1024


# ----------------------------------------------------------------------------- display


def test_layer_geojson_is_wgs84_for_the_map(placer: Placer) -> None:
    collection = placer.layer_geojson("district")
    assert collection["type"] == "FeatureCollection"
    assert [f["properties"] for f in collection["features"]][0] == {"name": "Leeds", "code": "LDS"}
    leeds = shapely.geometry.shape(collection["features"][0]["geometry"])
    assert leeds.contains(shapely.Point(LEEDS[1], LEEDS[0]))
    coords = shapely.get_coordinates(leeds)
    assert (coords[:, 0] > -3).all() and (coords[:, 0] < 0).all() and (coords[:, 1] > 53).all()
    assert shapely.is_ccw(leeds.exterior)  # RFC 7946: exteriors counter-clockwise
    collection["features"].clear()
    assert placer.layer_geojson("district")["features"]  # a fresh copy every call


def test_layer_geojson_unknown_level(placer: Placer) -> None:
    with pytest.raises(KeyError, match="no layer 'ward'"):
        placer.layer_geojson("ward")
