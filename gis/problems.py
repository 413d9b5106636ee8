"""A problem found in boundary data: what, where, and how serious."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

# The kinds of problem, so callers can filter without parsing messages.
KINDS = (
    "invalid_geometry",  # repaired with make_valid
    "empty_geometry",  # feature skipped
    "not_polygon",  # points or lines in a boundary layer: skipped
    "missing_value",  # no name or no code
    "duplicate_code",  # two features share a code
    "outside_ostn15",  # vertices transformed with PROJ's Helmert fallback
    "overlap",  # two features of one layer overlap
    "outside_parent",  # a child feature leaves its parent beyond the tolerance
    "no_parent",  # a child feature lies in no parent feature at all
    "load",  # the layer could not be loaded (boundaries check only)
)


@dataclass(frozen=True)
class Problem:
    """One finding about a layer. ``error`` can give wrong answers; ``warning`` was repaired or is benign."""

    level: str
    kind: str
    message: str
    severity: Severity = "warning"
    feature: str | None = None

    def __str__(self) -> str:
        return f"{self.severity}: {self.level}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "kind": self.kind,
            "severity": self.severity,
            "feature": self.feature,
            "message": self.message,
        }
