"""Reading the ``[boundaries]`` table of a scenelink TOML configuration.

Layers are listed in hierarchy order (``force`` before ``district`` before ``neighbourhood``);
relative paths are relative to the configuration file's folder. Unknown keys are errors with a
suggestion, so a misspelt ``ambiguity_treshold`` is not silently ignored.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gis.checks import DEFAULT_NESTING_TOLERANCE_M, DEFAULT_OVERLAP_TOLERANCE_M2
from gis.errors import BoundaryConfigError
from gis.fixes import FixLimits
from gis.layers import LayerSpec, spec_for_file

_LAYER_KEYS = {"level", "path", "name_field", "code_field", "crs", "layer", "parent"}
_TABLE_KEYS = {
    "layers",
    "home_force",
    "ambiguity_threshold",
    "referral_share",
    "postcodes",
    "postcode_max_distance_m",
    "coarse_accuracy_m",
    "stale_after_s",
    "max_speed_kmh",
    "strict",
    "overlap_tolerance_m2",
    "nesting_tolerance_m",
    "index_resolution",
}


@dataclass(frozen=True)
class PlacerSettings:
    """Everything in ``[boundaries]`` besides the layers."""

    home_force: str | None = None
    ambiguity_threshold: float = 0.9
    referral_share: float = 0.1
    postcodes: Path | None = None
    postcode_max_distance_m: float = 2000.0
    limits: FixLimits = field(default_factory=FixLimits)
    strict: bool = False
    overlap_tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2
    nesting_tolerance_m: float = DEFAULT_NESTING_TOLERANCE_M
    index_resolution: int = 2048


def load_boundaries_table(path: Path) -> tuple[dict[str, Any], Path]:
    """The ``[boundaries]`` table of the TOML file at ``path``, and the folder paths are relative to."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise BoundaryConfigError(f"configuration file not found: {path}") from None
    except OSError as exc:
        raise BoundaryConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise BoundaryConfigError(f"{path}: not valid TOML: {exc}") from None
    table = document.get("boundaries")
    if not isinstance(table, dict):
        raise BoundaryConfigError(f"{path}: has no [boundaries] table")
    return table, path.resolve().parent


def specs_from_config(table: Mapping[str, Any], base_dir: Path) -> list[LayerSpec]:
    """The layer specs of a parsed ``[boundaries]`` table, paths resolved against ``base_dir``."""
    _check_keys(table, _TABLE_KEYS, "[boundaries]")
    layers = table.get("layers")
    if not layers:
        raise BoundaryConfigError("[boundaries] lists no layers: add [[boundaries.layers]] entries")
    if not isinstance(layers, list):
        raise BoundaryConfigError("[boundaries] layers must be an array of tables ([[boundaries.layers]])")
    specs: list[LayerSpec] = []
    for number, entry in enumerate(layers, start=1):
        where = f"[[boundaries.layers]] #{number}"
        if not isinstance(entry, Mapping):
            raise BoundaryConfigError(f"{where} must be a table")
        _check_keys(entry, _LAYER_KEYS, where)
        level = _text(entry, "level", where, required=True)
        where = f"{where} ({level})"
        path = _text(entry, "path", where, required=True)
        assert level is not None and path is not None
        if any(spec.level == level for spec in specs):
            raise BoundaryConfigError(f"{where}: level {level!r} is configured twice")
        specs.append(
            LayerSpec(
                level=level,
                path=_resolve(path, base_dir),
                name_field=_text(entry, "name_field", where) or "name",
                code_field=_text(entry, "code_field", where) or "code",
                crs=_text(entry, "crs", where),
                layer=_text(entry, "layer", where),
                parent=_text(entry, "parent", where),
            )
        )
    return specs


def specs_from_paths(items: Sequence[str | Path], crs: str | None = None) -> list[LayerSpec]:
    """Specs for boundary files named on a command line, highest level first.

    Each item is ``FILE`` (the level is the file's stem) or ``LEVEL=FILE``; attribute names are
    detected. Each layer nests in the one before it.
    """
    specs: list[LayerSpec] = []
    for item in items:
        text = str(item)
        level, sep, path = text.partition("=")
        if not sep or not level or "/" in level or "\\" in level:
            level, path = "", text
        spec = spec_for_file(Path(path), level or None, crs)
        if any(s.level == spec.level for s in specs):
            raise BoundaryConfigError(f"two files give level {spec.level!r}: name them LEVEL=FILE")
        specs.append(spec)
    return specs


def settings_from_config(table: Mapping[str, Any], base_dir: Path) -> PlacerSettings:
    """The non-layer settings of a parsed ``[boundaries]`` table, validated."""
    _check_keys(table, _TABLE_KEYS, "[boundaries]")
    defaults = PlacerSettings()
    postcodes = _text(table, "postcodes", "[boundaries]")
    threshold = _number(table, "ambiguity_threshold", defaults.ambiguity_threshold)
    if not 0 < threshold <= 1:
        raise BoundaryConfigError(f"[boundaries] ambiguity_threshold must be in (0, 1], not {threshold:g}")
    referral = _number(table, "referral_share", defaults.referral_share)
    if not 0 < referral <= 1:
        raise BoundaryConfigError(f"[boundaries] referral_share must be in (0, 1], not {referral:g}")
    strict = table.get("strict", False)
    if not isinstance(strict, bool):
        raise BoundaryConfigError(f"[boundaries] strict must be true or false, not {strict!r}")
    resolution = table.get("index_resolution", defaults.index_resolution)
    if not isinstance(resolution, int) or isinstance(resolution, bool) or not 16 <= resolution <= 16384:
        raise BoundaryConfigError(
            f"[boundaries] index_resolution must be a whole number from 16 to 16384, not {resolution!r}"
        )
    limits = FixLimits(
        coarse_accuracy_m=_number(table, "coarse_accuracy_m", FixLimits.coarse_accuracy_m),
        stale_after_s=_number(table, "stale_after_s", FixLimits.stale_after_s),
        max_speed_kmh=_number(table, "max_speed_kmh", FixLimits.max_speed_kmh),
    )
    return PlacerSettings(
        home_force=_text(table, "home_force", "[boundaries]"),
        ambiguity_threshold=threshold,
        referral_share=referral,
        postcodes=_resolve(postcodes, base_dir) if postcodes else None,
        postcode_max_distance_m=_number(table, "postcode_max_distance_m", defaults.postcode_max_distance_m),
        limits=limits,
        strict=strict,
        overlap_tolerance_m2=_number(table, "overlap_tolerance_m2", defaults.overlap_tolerance_m2),
        nesting_tolerance_m=_number(table, "nesting_tolerance_m", defaults.nesting_tolerance_m),
        index_resolution=resolution,
    )


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    if not isinstance(table, Mapping):
        raise BoundaryConfigError(f"{where} must be a table")
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(allowed))})"
            raise BoundaryConfigError(f"{where}: unknown key {key!r}{hint}")


def _text(table: Mapping[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise BoundaryConfigError(f"{where}: {key} is missing")
        return None
    if not isinstance(value, str):
        raise BoundaryConfigError(f"{where}: {key} must be a string, not {value!r}")
    if required and not value.strip():
        raise BoundaryConfigError(f"{where}: {key} is empty")
    return value


def _number(table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise BoundaryConfigError(f"[boundaries] {key} must be a non-negative number, not {value!r}")
    return float(value)


def _resolve(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(base_dir) / candidate
