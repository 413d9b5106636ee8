"""``scenelink boundaries check``: a report on every boundary layer, before it is trusted.

    scenelink boundaries check [CONFIG.toml | FILE ...] [--json] [--strict]

For each layer: features, CRS and the transformation into British National Grid, area, vertices,
and problems (missing attributes or CRS, invalid geometry repaired, overlapping features, children
outside their parent beyond the tolerance). The exit status is 0 when there is no error, 1 when
there is one (or, with ``--strict``, any warning), 2 when the configuration cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gis import (
    GisError,
    LayerReport,
    PostcodeIndex,
    check_specs,
    load_boundaries_table,
    settings_from_config,
    specs_from_config,
    specs_from_paths,
)
from gis.checks import DEFAULT_NESTING_TOLERANCE_M, DEFAULT_OVERLAP_TOLERANCE_M2

from .geocode import config_path


def add_parser(subparsers: Any) -> None:
    """Register ``boundaries check`` on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "boundaries",
        help="inspect boundary layers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="report on each layer: features, CRS, area, vertices, problems")
    check.add_argument(
        "paths",
        nargs="*",
        metavar="CONFIG or FILE",
        help="a TOML file with a [boundaries] table, or boundary files (LEVEL=FILE names the level); "
        "default: the configuration in use",
    )
    check.add_argument("--crs", help="CRS for files that declare none (e.g. EPSG:27700)")
    check.add_argument(
        "--overlap-tolerance", type=float, metavar="M2", help="ignore overlaps smaller than this (m²)"
    )
    check.add_argument(
        "--nesting-tolerance",
        type=float,
        metavar="M",
        help="how far a child may stray outside its parent (m)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overlap = args.overlap_tolerance
    nesting = args.nesting_tolerance
    postcodes: Path | None = None
    try:
        paths = list(args.paths)
        if len(paths) <= 1 and (not paths or paths[0].endswith(".toml")):
            config = Path(paths[0]) if paths else config_path(args)
            table, base = load_boundaries_table(config)
            specs = specs_from_config(table, base)
            settings = settings_from_config(table, base)
            overlap = settings.overlap_tolerance_m2 if overlap is None else overlap
            nesting = settings.nesting_tolerance_m if nesting is None else nesting
            postcodes = settings.postcodes
        else:
            specs = specs_from_paths(paths, crs=args.crs)
    except GisError as exc:
        print(f"scenelink boundaries check: {exc}", file=sys.stderr)
        return 2
    reports = check_specs(
        specs,
        DEFAULT_OVERLAP_TOLERANCE_M2 if overlap is None else overlap,
        DEFAULT_NESTING_TOLERANCE_M if nesting is None else nesting,
    )
    postcode_line, postcode_error = _postcodes(postcodes)
    errors = sum(r.errors for r in reports) + postcode_error
    warnings = sum(r.warnings for r in reports)
    if args.json:
        document: dict[str, Any] = {
            "layers": [r.to_dict() for r in reports],
            "errors": errors,
            "warnings": warnings,
        }
        if postcodes is not None:
            document["postcodes"] = postcode_line
        print(json.dumps(document, indent=2))
    else:
        print(render(reports))
        if postcode_line is not None:
            print(postcode_line)
        print(f"{len(reports)} layer(s): {errors} error(s), {warnings} warning(s)")
    return 1 if errors or (args.strict and warnings) else 0


def main(argv: list[str] | None = None) -> int:
    """Run ``boundaries`` on its own (tests, or ``python -m gateway.commands.boundaries``)."""
    parser = argparse.ArgumentParser(prog="scenelink")
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def render(reports: list[LayerReport]) -> str:
    """The human-readable report: a block per layer."""
    blocks = []
    for report in reports:
        lines = [f"{report.level}  {report.path}"]
        if report.crs is not None:
            lines += [
                f"  features  {report.features}",
                f"  CRS       {report.crs} (to BNG: {report.transformation})",
                f"  area      {report.area_km2:,.1f} km²",
                f"  vertices  {report.vertices:,}",
            ]
        if report.problems:
            lines.append(f"  problems  {len(report.problems)}")
            lines += [f"    {p.severity}: {p.message}" for p in report.problems]
        else:
            lines.append("  problems  none")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _postcodes(path: Path | None) -> tuple[str | None, int]:
    if path is None:
        return None, 0
    try:
        index = PostcodeIndex.from_csv(path)
    except GisError as exc:
        return f"postcodes  error: {exc}", 1
    return (
        f"postcodes  {path}: {len(index):,} centroids, {index.skipped:,} rows without a location skipped",
        0,
    )


if __name__ == "__main__":
    raise SystemExit(main())
