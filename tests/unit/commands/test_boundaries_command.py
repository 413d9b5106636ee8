"""``scenelink boundaries check``: a per-layer report and an exit status scripts can trust."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import shapely

from gateway.commands import boundaries
from gateway.commands.boundaries import main

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def test_sample_configuration_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boundaries", "check", str(SAMPLES / "boundaries.toml")]) == 0
    out = capsys.readouterr().out
    assert "force  " in out and "district  " in out and "neighbourhood  " in out
    assert "  features  5" in out
    assert "  CRS       EPSG:27700 (to BNG: none (already EPSG:27700))" in out
    assert "  CRS       EPSG:4326 (to BNG: OSTN15)" in out
    assert "  area      16,681.0 km²" in out
    assert "  problems  none" in out
    assert "postcodes  " in out and "2 rows without a location skipped" in out
    assert out.rstrip().endswith("3 layer(s): 0 error(s), 0 warning(s)")


def test_default_is_the_configuration_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boundaries", "check"]) == 0
    assert "3 layer(s)" in capsys.readouterr().out


def test_files_in_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(SAMPLES / "boundaries" / f"forces.{ext}") for ext in ("kml", "shp", "gpkg")]
    named = [f"{ext}={path}" for ext, path in zip(("kml", "shp", "gpkg"), files, strict=True)]
    # Three copies of the same forces, each "nesting" in the one before: no problems.
    assert main(["boundaries", "check", *named, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [layer["level"] for layer in report["layers"]] == ["kml", "shp", "gpkg"]
    assert [layer["features"] for layer in report["layers"]] == [5, 5, 5]
    assert report["layers"][0]["crs"] == "EPSG:4326"
    assert report["errors"] == 0


def _write(tmp_path: Path, name: str, features: list[tuple[str, shapely.Geometry]], crs: bool = True) -> Path:
    document = {
        "type": "FeatureCollection",
        **({"crs": {"type": "name", "properties": {"name": "EPSG:27700"}}} if crs else {}),
        "features": [
            {
                "type": "Feature",
                "properties": {"name": n, "code": n[:3].upper()},
                "geometry": json.loads(shapely.to_geojson(g)),
            }
            for n, g in features
        ],
    }
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_bad_data_is_reported_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    force = _write(tmp_path, "force.geojson", [("Force", shapely.box(400_000, 400_000, 450_000, 450_000))])
    bowtie = shapely.Polygon([(410_000, 410_000), (420_000, 420_000), (420_000, 410_000), (410_000, 420_000)])
    districts = _write(
        tmp_path,
        "district.geojson",
        [
            ("Alpha", shapely.box(400_000, 400_000, 426_000, 450_000)),
            ("Beta", shapely.box(425_000, 400_000, 452_000, 450_000)),
            ("Gamma", bowtie),
        ],
    )
    assert main(["boundaries", "check", str(force), str(districts)]) == 1
    out = capsys.readouterr().out
    assert "error: Alpha (ALP) and Beta (BET) overlap by 50.00 km² (tolerance 100 m²)" in out
    assert (
        "error: Beta (BET) leaves its force Force (FOR): 87.50 km² (6.5%) lies more than 250 m outside it"
        in out
    )
    assert "warning: Gamma (GAM) had invalid geometry (Self-intersection" in out
    assert "2 layer(s): " in out and "warning(s)" in out


def test_missing_crs_and_the_crs_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bare = _write(
        tmp_path, "force.geojson", [("Force", shapely.box(400_000, 400_000, 450_000, 450_000))], crs=False
    )
    assert main(["boundaries", "check", str(bare)]) == 1
    assert 'set crs = "EPSG:27700"' in capsys.readouterr().out
    assert main(["boundaries", "check", str(bare), "--crs", "EPSG:27700"]) == 0
    capsys.readouterr()


def test_warnings_fail_only_when_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bowtie = shapely.Polygon([(410_000, 410_000), (420_000, 420_000), (420_000, 410_000), (410_000, 420_000)])
    path = _write(tmp_path, "force.geojson", [("Bow", bowtie)])
    assert main(["boundaries", "check", str(path)]) == 0
    assert main(["boundaries", "check", str(path), "--strict"]) == 1
    capsys.readouterr()


def test_unreadable_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "x.toml"
    config.write_text("[boundaries]\nlayers = []\n")
    assert main(["boundaries", "check", str(config)]) == 2
    assert "lists no layers" in capsys.readouterr().err


def test_add_parser_registers_check() -> None:
    parser = argparse.ArgumentParser()
    boundaries.add_parser(parser.add_subparsers())
    args = parser.parse_args(["boundaries", "check", "a.geojson", "--json"])
    assert args.func is boundaries.run and args.paths == ["a.geojson"] and args.json
