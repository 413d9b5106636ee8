"""gis.checks: overlaps within a layer and children leaving their parents are errors, with numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import shapely

from gis import LayerSpec, check_layers, check_specs, find_escapes, find_overlaps, load_layer

Write = Callable[..., Path]


def _layer(
    write_geojson: Write,
    level: str,
    features: list[tuple[str, str, shapely.Geometry]],
    parent: str | None = None,
):
    path = write_geojson(
        [({"name": n, "code": c}, g) for n, c, g in features], name=f"{level}.geojson", crs="EPSG:27700"
    )
    return load_layer(LayerSpec(level, path, parent=parent), resolution=64)


def test_sample_layers_have_no_problems(samples: Path) -> None:
    reports = check_specs(
        [
            LayerSpec("force", samples / "boundaries" / "forces.geojson"),
            LayerSpec("district", samples / "boundaries" / "districts.geojson"),
            LayerSpec("neighbourhood", samples / "boundaries" / "neighbourhoods.geojson"),
        ]
    )
    assert [(r.level, r.features, r.problems) for r in reports] == [
        ("force", 5, ()),
        ("district", 5, ()),
        ("neighbourhood", 7, ()),
    ]


def test_overlapping_features_are_an_error(write_geojson: Write) -> None:
    layer = _layer(
        write_geojson,
        "district",
        [
            ("Leeds", "LDS", shapely.box(420_000, 430_000, 431_000, 440_000)),
            ("Bradford", "BFD", shapely.box(430_000, 430_000, 440_000, 440_000)),
        ],
    )
    (problem,) = find_overlaps(layer)
    assert problem.kind == "overlap" and problem.severity == "error"
    assert problem.message.startswith(
        "Leeds (LDS) and Bradford (BFD) overlap by 10.00 km² (tolerance 100 m²)"
    )


def test_shared_edges_and_tiny_overlaps_are_not(write_geojson: Write) -> None:
    layer = _layer(
        write_geojson,
        "district",
        [
            ("A", "A", shapely.box(0, 0, 10_000.005, 10_000)),
            ("B", "B", shapely.box(10_000, 0, 20_000, 10_000)),
        ],
    )
    assert find_overlaps(layer) == []  # 50 m² of overlap is digitising noise
    assert len(find_overlaps(layer, tolerance_m2=1)) == 1


def test_child_leaving_its_parent_beyond_the_tolerance(write_geojson: Write) -> None:
    force = _layer(
        write_geojson, "force", [("West Yorkshire", "WYP", shapely.box(400_000, 400_000, 460_000, 460_000))]
    )
    district = _layer(
        write_geojson,
        "district",
        [
            ("Inside", "IN", shapely.box(410_000, 410_000, 420_000, 420_000)),
            ("Nudging", "NU", shapely.box(420_000, 410_000, 460_100, 420_000)),  # 100 m over
            ("Straying", "ST", shapely.box(450_000, 430_000, 462_000, 440_000)),  # 2 km over
            ("Elsewhere", "EL", shapely.box(500_000, 500_000, 501_000, 501_000)),
        ],
    )
    problems = find_escapes(district, force, tolerance_m=250)
    messages = {p.feature: p.message for p in problems}
    assert set(messages) == {"Straying (ST)", "Elsewhere (EL)"}
    assert messages["Straying (ST)"] == (
        "Straying (ST) leaves its force West Yorkshire (WYP): "
        "17.50 km² (14.6%) lies more than 250 m outside it"
    )
    assert messages["Elsewhere (EL)"] == "Elsewhere (EL) lies in no force at all"
    assert {p.kind for p in problems} == {"outside_parent", "no_parent"}


def test_hierarchy_follows_configuration_order_unless_told(write_geojson: Write) -> None:
    force = _layer(write_geojson, "force", [("F", "F", shapely.box(400_000, 400_000, 410_000, 410_000))])
    beat = _layer(
        write_geojson, "beat", [("B", "B", shapely.box(420_000, 400_000, 421_000, 401_000))], parent=""
    )
    ward = _layer(
        write_geojson, "ward", [("W", "W", shapely.box(420_000, 400_000, 421_000, 401_000))], parent="beat"
    )
    assert check_layers([force, beat, ward]) == []  # beat has no parent; ward nests in beat
    orphan = _layer(
        write_geojson,
        "orphan",
        [("O", "O", shapely.box(420_000, 400_000, 421_000, 401_000))],
        parent="county",
    )
    (problem,) = check_layers([force, orphan])
    assert problem.message == "its parent level 'county' is not configured"


def test_check_specs_reports_layers_that_fail_to_load(samples: Path, tmp_path: Path) -> None:
    force, district = check_specs(
        [
            LayerSpec("force", samples / "boundaries" / "forces.geojson"),
            LayerSpec("district", tmp_path / "missing.geojson"),
        ]
    )
    assert force.features == 5 and force.crs == "EPSG:27700" and force.errors == 0
    assert force.area_km2 == pytest.approx(16_681, rel=0.01) and force.vertices > 100
    assert district.features == 0 and district.errors == 1
    assert "file not found" in district.problems[0].message
    assert district.to_dict()["problems"][0]["kind"] == "load"
