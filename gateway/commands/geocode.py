"""``scenelink geocode``: place one position, or a whole CSV of them, against the boundary layers.

    scenelink geocode LAT LON [--accuracy M] [--config FILE | --boundaries FILE ...] [--json]
    scenelink geocode --csv IN.csv --out OUT.csv [--lat-column NAME] [--lon-column NAME]

Boundaries come from the ``[boundaries]`` table of ``--config`` (this command's or the global one),
from files given with ``--boundaries`` (highest level first, ``LEVEL=FILE`` to name a level), or
else from the sample configuration. The CSV is read and written in chunks, so memory stays flat
however long it is; a progress bar goes to standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from gis import (
    Fix,
    FixRejected,
    GisError,
    Placement,
    Placer,
    load_boundaries_table,
    specs_from_paths,
)
from gis.columns import ColumnError

from ..share import SAMPLES

DEFAULT_BLOCK = 4 << 20  # bytes of the CSV read at a time: memory stays flat


def add_parser(subparsers: Any) -> None:
    """Register ``geocode`` on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "geocode",
        help="place a position (or a CSV of positions) in force, district and neighbourhood",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("latitude", nargs="?", type=float, help="WGS84 latitude, degrees")
    parser.add_argument(
        "longitude", nargs="?", type=float, help="WGS84 longitude, degrees (west is negative)"
    )
    parser.add_argument("--accuracy", type=float, metavar="M", help="68%% accuracy radius in metres")
    add_boundary_options(parser)
    parser.add_argument("--json", action="store_true", help="print the placement as JSON")
    parser.add_argument(
        "--csv", type=Path, dest="csv_in", metavar="IN", help="place every row of this CSV ('-' for stdin)"
    )
    parser.add_argument(
        "--out", default="-", metavar="OUT", help="where --csv writes its result (default: stdout)"
    )
    parser.add_argument("--lat-column", metavar="NAME", help="latitude column of --csv (default: detected)")
    parser.add_argument("--lon-column", metavar="NAME", help="longitude column of --csv (default: detected)")
    parser.add_argument(
        "--block-bytes", type=int, default=DEFAULT_BLOCK, metavar="BYTES", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )
    parser.set_defaults(func=run)


def add_boundary_options(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--boundaries``, ``--home-force``, ``--postcodes``: where layers come from."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--config",
        type=Path,
        dest="boundaries_config",
        metavar="FILE",
        help="TOML file with a [boundaries] table",
    )
    source.add_argument(
        "--boundaries",
        nargs="+",
        action="extend",
        metavar="FILE",
        help="boundary files, highest level first; LEVEL=FILE names the level "
        "(repeat the option to add more layers)",
    )
    parser.add_argument("--home-force", metavar="CODE", help="with --boundaries: the home force's code")
    parser.add_argument(
        "--postcodes", type=Path, metavar="CSV", help="with --boundaries: NSPL-shaped postcode centroids"
    )


def config_path(args: argparse.Namespace) -> Path:
    """This command's ``--config``, else the global one, else the sample configuration."""
    chosen = getattr(args, "boundaries_config", None) or getattr(args, "config", None)
    if chosen is not None:
        return Path(chosen)
    main = SAMPLES / "scenelink.toml"
    if main.exists() and "[boundaries]" in main.read_text(encoding="utf-8"):
        return main
    return SAMPLES / "boundaries.toml"


def build_placer(args: argparse.Namespace) -> Placer:
    """The placer the options describe. Raises ``GisError`` with a precise message."""
    import_pyogrio_alone()
    if getattr(args, "boundaries", None):
        specs = specs_from_paths(args.boundaries)
        return Placer.from_specs(specs, home_force=args.home_force, postcodes=args.postcodes)
    table, base = load_boundaries_table(config_path(args))
    return Placer.from_config(table, base)


def import_pyogrio_alone() -> None:
    """Import pyogrio without its optional pandas, geopandas and pyproj.

    pyogrio imports them at start-up, if installed, for its data-frame functions; the boundary
    reader uses only its raw arrays, and importing them takes longer than the rest
    of a bulk job. A one-shot command process has no other use for them, so they are hidden from
    that one import (it treats them as not installed). Not for a long-lived process that may want
    ``geopandas.read_file`` later.
    """
    if "pyogrio" in sys.modules:
        return
    hidden = [name for name in ("geopandas", "pandas", "pyproj") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes "import name" raise ImportError
    try:
        import pyogrio  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def run(args: argparse.Namespace) -> int:
    if args.csv_in is None and (args.latitude is None or args.longitude is None):
        print("scenelink geocode: give LAT LON, or --csv IN", file=sys.stderr)
        return 2
    try:
        placer = build_placer(args)
    except (GisError, OSError) as exc:
        print(f"scenelink geocode: {exc}", file=sys.stderr)
        return 2
    errors = sum(1 for p in placer.problems if p.severity == "error")
    if errors:
        print(
            f"scenelink geocode: warning: the boundary data has {errors} error(s); "
            "run `scenelink boundaries check` for details",
            file=sys.stderr,
        )
    if args.csv_in is not None:
        return _bulk(placer, args)
    try:
        fix = Fix(args.latitude, args.longitude, accuracy=args.accuracy)
    except FixRejected as exc:
        print(f"scenelink geocode: rejected: {exc.reason}", file=sys.stderr)
        return 2
    placement = placer.place(fix)
    if args.json:
        print(json.dumps(placement.to_dict(), indent=2))
    else:
        print(describe(fix, placement))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``geocode`` on its own (tests, or ``python -m gateway.commands.geocode``)."""
    parser = argparse.ArgumentParser(prog="scenelink")
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


# ----------------------------------------------------------------------------- one position


def describe(fix: Fix, placement: Placement) -> str:
    """A placement as a few aligned lines for a person."""
    accuracy = "" if fix.accuracy is None else f"  ±{fix.accuracy:g} m"
    lines = [f"{fix.latitude:.6f}, {fix.longitude:.6f}{accuracy}"]
    width = max([len(level) for level in placement.layers] + [8]) + 2
    if placement.bng is not None:
        bng = placement.bng
        lines.append(
            f"{'grid':<{width}}{bng.grid_ref or 'off the National Grid'}  "
            f"(E {bng.easting:.2f}, N {bng.northing:.2f}, {bng.transformation})"
        )
    for level, lp in placement.layers.items():
        if lp.code is not None:
            text = _feature(lp.name, lp.code)
            if lp.share < 0.9995:
                text += f" {lp.share:.0%}"
        else:
            text = "none"
            if lp.nearest is not None:
                nearest = lp.nearest
                text += f" (nearest: {_feature(nearest.name, nearest.code)}, {_distance(nearest.distance_m)})"
        others = [s for s in lp.shares if s.code != lp.code]
        if others:
            text += "; also " + ", ".join(f"{_feature(s.name, s.code)} {s.share:.0%}" for s in others[:3])
        if lp.ambiguous:
            text += "  [ambiguous]"
        lines.append(f"{level:<{width}}{text}")
    if placement.postcode is not None:
        lines.append(
            f"{'postcode':<{width}}{placement.postcode.postcode}, {_distance(placement.postcode.distance_m)}"
        )
    if placement.referral is not None:
        referral = placement.referral
        lines.append(f"{'referral':<{width}}{_feature(referral.name, referral.code)}: {referral.reason}")
    if placement.flags:
        lines.append(f"{'flags':<{width}}{', '.join(placement.flags)}")
    return "\n".join(lines)


def _feature(name: str | None, code: str | None) -> str:
    return f"{name} ({code})" if name and code and name != code else str(name or code)


def _distance(metres: float) -> str:
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"


# ----------------------------------------------------------------------------- a CSV


def _bulk(placer: Placer, args: argparse.Namespace) -> int:
    from gis.bulk import CsvPlacer

    source = args.csv_in
    try:
        raw = sys.stdin.buffer if str(source) == "-" else open(source, "rb")
    except OSError as exc:
        print(f"scenelink geocode: {source}: cannot open ({exc.strerror})", file=sys.stderr)
        return 2
    size = None if str(source) == "-" else os.fstat(raw.fileno()).st_size
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    progress = Progress(size, sys.stderr, enabled=show)
    try:
        out: BinaryIO = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    except OSError as exc:
        print(f"scenelink geocode: {args.out}: cannot write ({exc.strerror})", file=sys.stderr)
        return 2
    placing = CsvPlacer(placer, args.lat_column, args.lon_column)
    done = 0
    try:
        while block := raw.read(max(1, args.block_bytes)):
            out.write(placing.feed(block))
            done += len(block)
            progress.update(done if size else None, placing.rows)
        out.write(placing.finish())
    except (ColumnError, UnicodeDecodeError) as exc:
        print(f"scenelink geocode: {source}: {exc}", file=sys.stderr)
        return 2
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()
        if out is sys.stdout.buffer:
            out.flush()
        else:
            out.close()
    progress.finish(placing.rows)
    if placing.failed:
        print(
            f"scenelink geocode: {placing.failed} of {placing.rows} rows could not be placed "
            "(see the error column)",
            file=sys.stderr,
        )
    return 0


class Progress:
    """A one-line progress bar on a stream: share of bytes read, rows, rows per second."""

    def __init__(
        self, total_bytes: int | None, stream: TextIO, enabled: bool = True, width: int = 30
    ) -> None:
        self.total = total_bytes
        self.stream = stream
        self.enabled = enabled
        self.width = width
        self.started = time.perf_counter()

    def update(self, done_bytes: int | None, rows: int) -> None:
        if not self.enabled:
            return
        rate = rows / max(time.perf_counter() - self.started, 1e-9)
        if self.total and done_bytes is not None:
            share = min(done_bytes / self.total, 1.0)
            filled = int(share * self.width)
            bar = f"[{'#' * filled}{'-' * (self.width - filled)}] {share:4.0%}  "
        else:
            bar = ""
        self.stream.write(f"\rgeocode {bar}{rows:,} rows  {rate:,.0f} rows/s")
        self.stream.flush()

    def finish(self, rows: int) -> None:
        if not self.enabled:
            return
        self.update(self.total, rows)
        self.stream.write("\n")
        self.stream.flush()


if __name__ == "__main__":
    raise SystemExit(main())
