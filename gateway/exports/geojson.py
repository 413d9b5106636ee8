"""An incident's fixes as a GeoJSON FeatureCollection (RFC 7946: WGS84, longitude first)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def fixes_geojson(reference: str, fixes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    features = []
    for fix in fixes:
        placement = fix.get("placement") or {}
        layers = placement.get("layers", {})
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [fix["longitude"], fix["latitude"]]},
            "properties": {
                "incident": reference, "seq": fix["seq"], "accuracy_m": fix.get("accuracy"),
                "device_time": fix.get("device_time"), "received_at": fix.get("received_at"),
                "grid_ref": (placement.get("bng") or {}).get("grid_ref"),
                **{level: entry.get("name") for level, entry in layers.items()},
                "sha256": fix.get("sha256"),
            },
        })
    return {"type": "FeatureCollection", "features": features}
