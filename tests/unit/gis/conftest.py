"""Fixtures for the gis tests: the committed samples, and builders for small bad-data files."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import shapely

from gis import Placer, load_boundaries_table

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
LEEDS = (53.7997, -1.5492)  # Leeds city centre: WYP / LDS / LCC


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def sample_table() -> tuple[dict[str, Any], Path]:
    return load_boundaries_table(SAMPLES / "boundaries.toml")


@pytest.fixture(scope="session")
def placer(sample_table: tuple[dict[str, Any], Path]) -> Placer:
    table, base = sample_table
    return Placer.from_config(table, base)


Feature = tuple[dict[str, Any], shapely.Geometry | None]
WriteGeoJSON = Callable[..., Path]


@pytest.fixture
def write_geojson(tmp_path: Path) -> WriteGeoJSON:
    """Write features ``[(properties, geometry), ...]`` as GeoJSON; ``crs`` adds a crs member."""

    def write(features: Sequence[Feature], name: str = "layer.geojson", crs: str | None = None) -> Path:
        document: dict[str, Any] = {"type": "FeatureCollection"}
        if crs is not None:
            document["crs"] = {"type": "name", "properties": {"name": crs}}
        document["features"] = [
            {
                "type": "Feature",
                "properties": properties,
                "geometry": None if geometry is None else json.loads(shapely.to_geojson(geometry)),
            }
            for properties, geometry in features
        ]
        path = tmp_path / name
        path.write_text(json.dumps(document))
        return path

    return write


@pytest.fixture
def write_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Write polygons with name/code attributes through GDAL (Shapefile, GeoPackage, ...)."""

    def write(
        name: str,
        geometries: Sequence[shapely.Geometry],
        driver: str,
        crs: str | None = "EPSG:27700",
        layer: str | None = None,
        names: Sequence[str] | None = None,
    ) -> Path:
        path = tmp_path / name
        labels = list(names or [f"Area {i}" for i in range(len(geometries))])
        codes = [f"A{i}" for i in range(len(geometries))]
        extra = {"crs": crs} if crs is not None else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "'crs' was not provided": on purpose
            pyogrio.raw.write(
                path,
                shapely.to_wkb(np.array(geometries, dtype=object)),
                field_data=[np.array(labels, dtype=object), np.array(codes, dtype=object)],
                fields=["name", "code"],
                driver=driver,
                geometry_type="Polygon",
                layer=layer,
                append=path.exists(),
                **extra,
            )
        return path

    return write


@pytest.fixture
def bng_squares() -> list[shapely.Polygon]:
    """Two 10 km squares side by side near Leeds, sharing an edge, in BNG metres."""
    return [shapely.box(420_000, 430_000, 430_000, 440_000), shapely.box(430_000, 430_000, 440_000, 440_000)]
