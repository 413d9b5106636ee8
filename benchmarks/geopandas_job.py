"""The bulk geocoding job done the obvious way with geopandas, for ``bench_geocode`` to time.

    python benchmarks/geopandas_job.py IN.csv BOUNDARIES OUT.csv

Reads the CSV with pandas, makes points with ``points_from_xy``, moves them into the boundaries'
CRS (PROJ's default, Helmert, transformation), joins them to the features containing them with
``sjoin`` and writes every input column plus easting, northing and the feature's code and name
with ``to_csv``. Rows without coordinates are kept, unplaced.
"""

from __future__ import annotations

import sys

import geopandas as gpd
import pandas as pd


def main(source: str, boundaries: str, out: str) -> None:
    forces = gpd.read_file(boundaries)
    code = next(c for c in forces.columns if c.upper().endswith("CD"))
    name = next(c for c in forces.columns if c.upper().endswith("NM"))
    frame = pd.read_csv(source, dtype={"Postcode": str})
    points = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["long"], frame["lat"]), crs="EPSG:4326"
    ).to_crs(forces.crs)
    joined = gpd.sjoin(points, forces[[code, name, "geometry"]], how="left", predicate="within")
    joined["easting"] = joined.geometry.x.round(2)
    joined["northing"] = joined.geometry.y.round(2)
    columns = [*frame.columns, "easting", "northing", code, name]
    joined[columns].to_csv(out, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
