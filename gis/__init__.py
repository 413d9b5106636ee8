"""Placing positions against UK police geography: pure, typed, no I/O beyond reading boundary files.

The public surface::

    from gis import Fix, FixRejected, LayerSpec, Placer, Placement
    placer = Placer.from_config(boundaries_table, base_dir)
    placement = placer.place(Fix.from_mapping({"latitude": 53.7997, "longitude": -1.5492, "accuracy": 20}))
    placement.to_dict()
"""

from gis.checks import LayerReport, check_layers, check_specs, find_escapes, find_overlaps
from gis.config import (
    PlacerSettings,
    load_boundaries_table,
    settings_from_config,
    specs_from_config,
    specs_from_paths,
)
from gis.errors import BoundaryConfigError, BoundaryError, GisError, LayerError, PostcodeError
from gis.fixes import Fix, FixLimits, FixRejected, fix_flags, implied_speed_kmh
from gis.grid import HELMERT, OSTN15, bng_to_lonlat, grid_reference, lonlat_to_bng, to_bng
from gis.layers import Layer, LayerSpec, load_layer, spec_for_file
from gis.placement import (
    BulkPlacement,
    GridPosition,
    LayerPlacement,
    Nearest,
    NearestPostcode,
    Placement,
    Referral,
    Share,
)
from gis.placer import Placer
from gis.postcodes import PostcodeIndex, normalise_postcode
from gis.problems import Problem

__all__ = [
    "HELMERT",
    "OSTN15",
    "BoundaryConfigError",
    "BoundaryError",
    "BulkPlacement",
    "Fix",
    "FixLimits",
    "FixRejected",
    "GisError",
    "GridPosition",
    "Layer",
    "LayerError",
    "LayerPlacement",
    "LayerReport",
    "LayerSpec",
    "Nearest",
    "NearestPostcode",
    "Placement",
    "Placer",
    "PlacerSettings",
    "PostcodeError",
    "PostcodeIndex",
    "Problem",
    "Referral",
    "Share",
    "bng_to_lonlat",
    "check_layers",
    "check_specs",
    "find_escapes",
    "find_overlaps",
    "fix_flags",
    "grid_reference",
    "implied_speed_kmh",
    "load_boundaries_table",
    "load_layer",
    "lonlat_to_bng",
    "normalise_postcode",
    "settings_from_config",
    "spec_for_file",
    "specs_from_config",
    "specs_from_paths",
    "to_bng",
]
