"""gis.config: the [boundaries] table, read strictly, with messages that name the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gis import (
    BoundaryConfigError,
    LayerSpec,
    Placer,
    load_boundaries_table,
    settings_from_config,
    specs_from_config,
)

LAYER = {"level": "force", "path": "boundaries/forces.geojson"}


def test_sample_table(sample_table: tuple[dict[str, Any], Path], samples: Path) -> None:
    table, base = sample_table
    assert base == samples
    specs = specs_from_config(table, base)
    assert specs[0] == LayerSpec("force", samples / "boundaries" / "forces.geojson", "name", "code", None)
    assert [s.level for s in specs] == ["force", "district", "neighbourhood"]
    settings = settings_from_config(table, base)
    assert settings.home_force == "WYP"
    assert settings.ambiguity_threshold == 0.9
    assert settings.postcodes == samples / "postcodes.csv"


def test_from_config_builds_a_placer(sample_table: tuple[dict[str, Any], Path]) -> None:
    table, base = sample_table
    placer = Placer.from_config(table, base)
    assert placer.postcodes is not None and placer.home_force == ("West Yorkshire", "WYP")


def test_defaults_and_absolute_paths(tmp_path: Path) -> None:
    table = {
        "layers": [{"level": "force", "path": str(tmp_path / "f.geojson"), "crs": "EPSG:27700", "parent": ""}]
    }
    (spec,) = specs_from_config(table, Path("/elsewhere"))
    assert spec.path == tmp_path / "f.geojson" and spec.crs == "EPSG:27700" and spec.parent == ""
    settings = settings_from_config(table, tmp_path)
    assert settings.home_force is None and settings.postcodes is None and not settings.strict
    assert settings.limits.coarse_accuracy_m == 1000.0 and settings.limits.max_speed_kmh == 250.0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "lists no layers"),
        ({"layers": {"level": "force"}}, "must be an array of tables"),
        ({"layers": [{"path": "x"}]}, r"#1: level is missing"),
        ({"layers": [{"level": "force"}]}, r"#1 \(force\): path is missing"),
        ({"layers": [LAYER, LAYER]}, "level 'force' is configured twice"),
        ({"layers": [{**LAYER, "name_feild": "n"}]}, "unknown key 'name_feild'; did you mean 'name_field'"),
        (
            {"layers": [LAYER], "ambiguity_treshold": 0.8},
            "unknown key 'ambiguity_treshold'; did you mean 'ambiguity_threshold'",
        ),
        ({"layers": [{**LAYER, "path": 3}]}, "path must be a string"),
    ],
)
def test_bad_layer_tables(table: dict[str, Any], message: str) -> None:
    with pytest.raises(BoundaryConfigError, match=message):
        specs_from_config(table, Path("."))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ambiguity_threshold": 1.5}, r"ambiguity_threshold must be in \(0, 1\]"),
        ({"ambiguity_threshold": "high"}, "ambiguity_threshold must be a non-negative number"),
        ({"referral_share": 0}, r"referral_share must be in \(0, 1\]"),
        ({"strict": "yes"}, "strict must be true or false"),
        ({"coarse_accuracy_m": -5}, "coarse_accuracy_m must be a non-negative number"),
        ({"index_resolution": 4}, "index_resolution must be a whole number from 16 to 16384"),
        ({"home_force": 7}, "home_force must be a string"),
    ],
)
def test_bad_settings(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(BoundaryConfigError, match=message):
        settings_from_config({"layers": [LAYER], **extra}, Path("."))


def test_load_boundaries_table_errors(tmp_path: Path) -> None:
    with pytest.raises(BoundaryConfigError, match="configuration file not found"):
        load_boundaries_table(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[boundaries\n")
    with pytest.raises(BoundaryConfigError, match="not valid TOML"):
        load_boundaries_table(bad)
    other = tmp_path / "other.toml"
    other.write_text("[server]\nport = 1\n")
    with pytest.raises(BoundaryConfigError, match=r"has no \[boundaries\] table"):
        load_boundaries_table(other)
