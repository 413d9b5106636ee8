"""Retention: which kinds of an incident's contents are due for purging, and why. Pure.

Periods run from the incident's end (an incident still open is never due) and are set per kind in
``[retention]`` (0 keeps that kind). An incident under legal hold is never due, whatever its age.
Purging removes contents and files but keeps their hashes (tombstones), so the audit chain and
every bundle already exported still verify; see gateway/record/purge.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..config import RETENTION_KINDS, RetentionSettings


@dataclass(frozen=True)
class Due:
    """One kind of one incident's contents, due for purging since ``due_at``."""

    kind: str
    due_at: datetime
    reason: str


def due_kinds(incident: Mapping[str, Any], settings: RetentionSettings, now: datetime) -> list[Due]:
    """The kinds of ``incident`` (with ``ended_at`` and ``held_at``) whose period has run out."""
    ended = incident.get("ended_at")
    if ended is None or incident.get("held_at") is not None:
        return []
    due = []
    for kind in RETENTION_KINDS:
        days = settings.days(kind)
        if days <= 0:
            continue
        at = ended + timedelta(days=days)
        if at <= now:
            due.append(Due(kind, at, f"{kind.replace('_', ' ')} kept {days} days after the incident ended"))
    return due


def next_due(incident: Mapping[str, Any], settings: RetentionSettings) -> tuple[datetime, str] | None:
    """When the incident's next kind falls due, and which (None: held, open, or nothing to purge)."""
    ended = incident.get("ended_at")
    if ended is None or incident.get("held_at") is not None:
        return None
    times = [(ended + timedelta(days=settings.days(k)), k) for k in RETENTION_KINDS if settings.days(k) > 0]
    return min(times) if times else None
