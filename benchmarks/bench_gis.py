"""Benchmark: placing fixes against police force areas, against the obvious alternatives.

    python -m benchmarks.bench_gis [--quick] [--no-write] [--data DIR]     (or: make bench)

Uses the ONS force areas and West Yorkshire postcode centroids from ``../shared/data/
uk-police-geography/`` when present (43 features, 25,131 vertices; 93,633 points), otherwise a
generated data set of the same size. Runs on one core (the process pins itself), and measures:

* bulk force lookup: ``gis`` (raster index) vs geopandas ``sjoin``, shapely's STRtree query,
  shapely ``contains_xy`` per prepared polygon, and a naive Python loop over prepared polygons;
* one full placement (every layer, a 50 m accuracy circle's shares, grid reference);
* memory while placing many fixes.

Prints the figures and ratios and writes the "Placing fixes" section of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.report import machine, write_section  # noqa: E402
from gis import Fix, LayerSpec, Placer, PostcodeIndex, lonlat_to_bng  # noqa: E402
from tests.shared_data import shared_data  # noqa: E402

SHARED = shared_data("uk-police-geography")
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench_gis:start -->", "<!-- bench_gis:end -->"

TARGET_RATE = 1.5e6  # points a second, one core
TARGET_VS_SJOIN = 1.5
TARGET_MEDIAN_US = 50.0


@dataclass
class Data:
    kind: str  # "ONS" or "generated"
    force_spec: LayerSpec
    district_spec: LayerSpec
    home: str
    codes: list[str]
    lat: np.ndarray
    lon: np.ndarray


# ----------------------------------------------------------------------------- data


def real_data(root: Path) -> Data:
    force = LayerSpec("force", root / "pfa_2023_bsc" / "PFA_DEC_2023_EW_BSC.shp", "PFA23NM", "PFA23CD")
    district = LayerSpec(
        "district", root / "wy_districts" / "west_yorkshire_districts_lad2022.geojson", "LAD22NM", "LAD22CD"
    )
    codes: list[str] = []
    lat: list[float] = []
    lon: list[float] = []
    for path in sorted((root / "postcodes_nspl_may2025_wy").glob("*.csv")):
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row["lat"] and row["long"]:
                    codes.append(row["Postcode"])
                    lat.append(float(row["lat"]))
                    lon.append(float(row["long"]))
    return Data("ONS", force, district, "E23000010", codes, np.array(lat), np.array(lon))


def generated_data(folder: Path, features: int = 43, vertices: int = 25_131, points: int = 93_633) -> Data:
    """Voronoi 'forces' over an England-and-Wales-sized box, with wiggly shared edges."""
    import json

    from gis.grid import bng_to_lonlat

    rng = np.random.default_rng(2024)
    extent = shapely.box(100_000, 10_000, 650_000, 650_000)
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(120_000, 630_000, features), rng.uniform(30_000, 630_000, features)])
    )
    cells = np.array(
        [
            c.intersection(extent)
            for c in shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=extent))
        ],
        dtype=object,
    )
    perimeter = float(shapely.length(cells).sum())
    step = perimeter / vertices

    def wiggle(xy: np.ndarray) -> np.ndarray:
        xy = np.round(xy, 3)  # shared vertices must move identically
        x, y = xy[:, 0], xy[:, 1]
        fine = 3.0 * step / (2 * math.pi)
        dx = 0.25 * step * np.sin(y / fine + 0.7) + 2000 * np.sin(y / 15_000.0) * 0.5
        dy = 0.25 * step * np.sin(x / fine + 1.3) + 2000 * np.sin(x / 17_000.0) * 0.5
        on_edge = (
            (np.abs(x - 100_000) < 1)
            | (np.abs(x - 650_000) < 1)
            | (np.abs(y - 10_000) < 1)
            | (np.abs(y - 650_000) < 1)
        )
        dx[on_edge] = dy[on_edge] = 0.0
        return np.column_stack([x + dx, y + dy])

    forces = shapely.make_valid(shapely.transform(shapely.segmentize(cells, step), wiggle))
    home = int(np.argmin(shapely.distance(forces, shapely.Point(430_000, 430_000))))
    centre = shapely.centroid(forces[home])
    inner = shapely.multipoints(
        np.column_stack([rng.normal(centre.x, 12_000, 5), rng.normal(centre.y, 12_000, 5)])
    )
    districts = [
        d.intersection(forces[home])
        for d in shapely.get_parts(
            shapely.voronoi_polygons(inner, extend_to=forces[home].envelope.buffer(1000))
        )
    ]
    hubs = np.column_stack([rng.normal(centre.x, 10_000, 12), rng.normal(centre.y, 10_000, 12)])
    pick = rng.integers(0, len(hubs), points)
    x = hubs[pick, 0] + rng.normal(0, 4_000, points)
    y = hubs[pick, 1] + rng.normal(0, 4_000, points)

    def write(name: str, geometries: Any, prefix: str) -> Path:
        document = {
            "type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": f"{prefix} {i}", "code": f"{prefix[0]}{i:02d}"},
                    "geometry": json.loads(shapely.to_geojson(g)),
                }
                for i, g in enumerate(geometries)
            ],
        }
        path = folder / name
        path.write_text(json.dumps(document))
        return path

    force_spec = LayerSpec("force", write("forces.geojson", forces, "Force"))
    district_spec = LayerSpec("district", write("districts.geojson", districts, "District"))
    lon, lat = bng_to_lonlat(x, y)
    return Data(
        "generated", force_spec, district_spec, f"F{home:02d}", [f"P{i:06d}" for i in range(points)], lat, lon
    )


# ----------------------------------------------------------------------------- timing


def timed(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` runs (after one warm-up), and the last result."""
    result = run()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:  # not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


# ----------------------------------------------------------------------------- the benchmark


def run(quick: bool, data_dir: Path | None) -> dict[str, Any]:
    repeats = 3 if quick else 7
    pinned = pin_to_one_core()
    with tempfile.TemporaryDirectory() as scratch:
        root = data_dir or SHARED
        data = real_data(root) if (root / "pfa_2023_bsc").exists() else generated_data(Path(scratch))

        start = time.perf_counter()
        postcodes = PostcodeIndex.from_lonlat(data.codes, data.lon, data.lat)
        placer = Placer.from_specs(
            [data.force_spec, data.district_spec], home_force=data.home, postcodes=postcodes
        )
        build_s = time.perf_counter() - start
    force = placer.layer("force")
    index = force.index
    n = len(data.lat)
    r: dict[str, Any] = {
        "data": data.kind,
        "points": n,
        "features": len(force),
        "vertices": force.vertices,
        "districts": len(placer.layer("district")),
        "build_s": build_s,
        "pinned": pinned,
        "cell_m": index.cell,
        "boundary_share": index.boundary_share,
        "index_mb": index.nbytes / 1e6,
    }

    t, (e, nn, _) = timed(lambda: lonlat_to_bng(data.lon, data.lat), repeats)
    r["convert_rate"] = n / t
    t, ours = timed(lambda: index.locate(e, nn), repeats)
    r["ours_rate"] = n / t
    t, _ = timed(lambda: index.locate(*lonlat_to_bng(data.lon, data.lat)[:2]), repeats)
    r["ours_latlon_rate"] = n / t

    # geopandas sjoin, in BNG. With predicate "within" geopandas indexes the points and queries them
    # with the (prepared) polygons, its fastest arrangement; "intersects" indexes the polygons.
    import geopandas as gpd
    import pandas as pd

    r["geopandas"] = gpd.__version__
    polygons = gpd.GeoDataFrame(
        {"code": list(force.codes)}, geometry=list(force.geometries), crs="EPSG:27700"
    )
    _ = polygons.sindex
    prebuilt = gpd.GeoDataFrame(geometry=gpd.points_from_xy(e, nn), crs="EPSG:27700")
    _ = prebuilt.sindex

    def sjoin_fresh() -> Any:
        points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(e, nn), crs="EPSG:27700")
        return gpd.sjoin(points, polygons, how="left", predicate="within")

    t, joined = timed(sjoin_fresh, repeats)
    r["sjoin_fresh_rate"] = n / t
    t, _ = timed(lambda: gpd.sjoin(prebuilt, polygons, how="left", predicate="within"), repeats)
    r["sjoin_prebuilt_rate"] = n / t
    t, _ = timed(lambda: gpd.sjoin(prebuilt, polygons, how="left", predicate="intersects"), repeats)
    r["sjoin_intersects_rate"] = n / t
    r["sjoin_rate"] = max(r["sjoin_fresh_rate"], r["sjoin_prebuilt_rate"], r["sjoin_intersects_rate"])
    first = joined[~joined.index.duplicated(keep="first")]["index_right"]
    theirs = pd.Series(first).reindex(range(n)).fillna(-1).astype(int).to_numpy()
    r["disagree_sjoin"] = int(np.count_nonzero(theirs != ours))

    shapely_points = shapely.points(e, nn)
    tree = shapely.STRtree(force.geometries)
    t, _ = timed(lambda: tree.query(shapely_points, predicate="intersects"), repeats)
    r["strtree_rate"] = n / t
    point_tree = shapely.STRtree(shapely_points)
    t, _ = timed(lambda: point_tree.query(force.geometries, predicate="contains"), repeats)
    r["strtree_points_rate"] = n / t
    prepared = force.geometries.copy()
    shapely.prepare(prepared)

    def per_polygon() -> np.ndarray:
        found = np.full(n, -1)
        for k in range(len(prepared) - 1, -1, -1):
            found[shapely.contains_xy(prepared[k], e, nn)] = k
        return found

    t, _ = timed(per_polygon, repeats)
    r["contains_xy_rate"] = n / t

    sample = min(n, 3000 if quick else 10_000)
    xs, ys = e[:sample].tolist(), nn[:sample].tolist()

    boxes = [tuple(b) for b in shapely.bounds(prepared).tolist()]

    def naive() -> None:
        for x, y in zip(xs, ys, strict=True):
            for polygon, (x0, y0, x1, y1) in zip(prepared, boxes, strict=True):
                if x0 <= x <= x1 and y0 <= y <= y1 and shapely.intersects_xy(polygon, x, y):
                    break

    t, _ = timed(naive, 1)
    r["naive_us"] = t / sample * 1e6

    # One full placement: force + district layers, 50 m circle, grid reference (+ postcode).
    rng = np.random.default_rng(1)
    chosen = rng.choice(n, size=min(n, 5_000 if quick else 20_000), replace=False)
    fixes = [Fix(float(data.lat[i]), float(data.lon[i]), accuracy=50.0) for i in chosen]
    no_postcodes = Placer(placer.layers, home_force=data.home)
    for label, which in (("place", no_postcodes), ("place_postcode", placer)):
        for fix in fixes[:500]:
            which.place(fix)
        samples = []
        for fix in fixes:
            start = time.perf_counter_ns()
            which.place(fix)
            samples.append(time.perf_counter_ns() - start)
        samples.sort()
        r[f"{label}_median_us"] = samples[len(samples) // 2] / 1000
        r[f"{label}_p90_us"] = samples[int(len(samples) * 0.9)] / 1000
        r[f"{label}_p99_us"] = samples[int(len(samples) * 0.99)] / 1000
    exact = sum(
        1
        for f in fixes
        if any(len(lp.shares) != 1 or lp.share != 1.0 for lp in no_postcodes.place(f).layers.values())
    )
    r["exact_share"] = exact / len(fixes)

    # Memory: placing many fixes must not grow the process.
    rounds = 3 if quick else 10
    for fix in fixes:
        placer.place(fix)
    gc.collect()
    before = rss_mb()
    for _ in range(rounds):
        for fix in fixes:
            placer.place(fix)
    gc.collect()
    r["memory_fixes"] = rounds * len(fixes)
    r["memory_growth_mb"] = rss_mb() - before
    r["rss_mb"] = rss_mb()
    return r


def report(r: dict[str, Any]) -> str:
    vs_sjoin = r["ours_rate"] / r["sjoin_rate"]
    vs_naive = r["naive_us"] * 1e-6 * r["ours_rate"]
    checks = [
        (
            f"bulk force lookup >= {TARGET_RATE / 1e6:.1f} M points/s on one core",
            r["ours_rate"] >= TARGET_RATE,
        ),
        (f"bulk force lookup >= {TARGET_VS_SJOIN}x geopandas sjoin (same run)", vs_sjoin >= TARGET_VS_SJOIN),
        (f"full placement median <= {TARGET_MEDIAN_US:.0f} us", r["place_median_us"] <= TARGET_MEDIAN_US),
        ("memory flat while placing fixes (< 5 MB growth)", r["memory_growth_mb"] < 5),
    ]
    source = (
        "ONS Police Force Areas Dec 2023 (BSC) and West Yorkshire NSPL postcode centroids"
        if r["data"] == "ONS"
        else "a generated data set of the same size (../shared data not found)"
    )
    lines = [
        "## Placing fixes",
        "",
        "Reproduce with `make bench` (which runs `python -m benchmarks.bench_gis` from the repository root). "
        "Absolute figures move from run to run on a shared machine; the ratios compare methods timed in the "
        "same run.",
        "",
        f"- Data: {source}: {r['features']} force areas, {r['vertices']:,} vertices; {r['districts']} districts; "
        f"{r['points']:,} points.",
        f"- Machine: {machine()}; Python {platform.python_version()}, numpy {np.__version__}, shapely {shapely.__version__} "
        f"(GEOS {shapely.geos_version_string}), geopandas {r['geopandas']}; the benchmark process is {r['pinned']}.",
        f"- Index: {r['cell_m']:.0f} m cells, {r['boundary_share']:.2%} of them on a boundary, {r['index_mb']:.1f} MB; "
        f"loading both layers, the postcodes and building the indexes took {r['build_s']:.2f} s.",
        "",
        "### Bulk force lookup (points already in BNG; median of repeated runs)",
        "",
        "| method | points a second | vs gis |",
        "|---|---:|---:|",
        f"| **gis** raster index (`Layer.index.locate`) | **{r['ours_rate'] / 1e6:.1f} M** | 1 |",
        f"| gis, including WGS84 to BNG (OSTN15, convertbng) | {r['ours_latlon_rate'] / 1e6:.1f} M | {r['ours_latlon_rate'] / r['ours_rate']:.2f} |",
        f"| geopandas `sjoin(points, forces, predicate='within')`, points' frame made in the run | {r['sjoin_fresh_rate'] / 1e6:.2f} M | {r['sjoin_fresh_rate'] / r['ours_rate']:.3f} |",
        f"| geopandas `sjoin(..., predicate='within')`, points' frame and index prebuilt | {r['sjoin_prebuilt_rate'] / 1e6:.2f} M | {r['sjoin_prebuilt_rate'] / r['ours_rate']:.3f} |",
        f"| geopandas `sjoin(..., predicate='intersects')`, prebuilt | {r['sjoin_intersects_rate'] / 1e6:.2f} M | {r['sjoin_intersects_rate'] / r['ours_rate']:.3f} |",
        f"| shapely STRtree of the points, queried with the polygons (`contains`) | {r['strtree_points_rate'] / 1e6:.2f} M | {r['strtree_points_rate'] / r['ours_rate']:.3f} |",
        f"| shapely `contains_xy` per prepared polygon | {r['contains_xy_rate'] / 1e6:.2f} M | {r['contains_xy_rate'] / r['ours_rate']:.3f} |",
        f"| shapely STRtree of the polygons, queried with the points (`intersects`) | {r['strtree_rate'] / 1e6:.2f} M | {r['strtree_rate'] / r['ours_rate']:.3f} |",
        f"| naive Python loop over prepared polygons, bounding boxes first ({r['naive_us']:.2f} µs a point) | {1 / r['naive_us']:.2f} M | {1 / (r['naive_us'] * r['ours_rate'] / 1e6):.4f} |",
        "",
        f"gis is **{vs_sjoin:.1f}x** the fastest geopandas `sjoin` above and **{vs_naive:,.0f}x** the naive loop; it disagrees with "
        f"`sjoin` on {r['disagree_sjoin']} of {r['points']:,} points. Converting WGS84 to BNG with convertbng runs at "
        f"{r['convert_rate'] / 1e6:.1f} M points a second.",
        "",
        "### One full placement (force and district layers, 50 m accuracy circle shares, grid reference)",
        "",
        "| | median | p90 | p99 |",
        "|---|---:|---:|---:|",
        f"| `Placer.place` | **{r['place_median_us']:.1f} µs** | {r['place_p90_us']:.1f} µs | {r['place_p99_us']:.1f} µs |",
        f"| `Placer.place` with nearest postcode | {r['place_postcode_median_us']:.1f} µs | {r['place_postcode_p90_us']:.1f} µs | {r['place_postcode_p99_us']:.1f} µs |",
        "",
        f"{r['exact_share']:.1%} of these fixes had a circle crossing a boundary and took the exact (GEOS) path; the "
        "rest were answered from the index alone.",
        "",
        f"Memory: placing {r['memory_fixes']:,} fixes changed the resident set by {r['memory_growth_mb']:+.1f} MB "
        f"(process total {r['rss_mb']:.0f} MB).",
        "",
        "### Targets",
        "",
        *[f"- [{'x' if ok else ' '}] {text}" for text, ok in checks],
        "",
        'How it is fast: each layer carries a raster of square cells over its extent, each saying "inside feature k", '
        '"outside all" or "boundary" (built by walking every edge in half-cell steps and an even-odd scanline '
        "fill). A point is an array read; only points in boundary cells get an exact GEOS test. A placement first "
        "asks the same raster whether every cell under the accuracy circle's box agrees; only circles that straddle "
        "a boundary are intersected with the features.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats and fixes (a smoke run)")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {DOC.relative_to(ROOT)}")
    parser.add_argument("--data", type=Path, help=f"the uk-police-geography folder (default: {SHARED})")
    args = parser.parse_args(argv)
    results = run(args.quick, args.data)
    section = report(results)
    print(section)
    if not args.no_write:
        write_section(START, END, section)
        print(f"\nwrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
