"""Recording the caller's GPS fixes, whichever way they arrive: the data channel or HTTPS.

The caller page numbers its fixes per link and resends each until it is acknowledged, over the
data channel when it is open and over ``POST /c/{token}/fixes`` when it is not, with the time the
phone took it. This one path places, stores and publishes them, so a fix that arrives twice (both
ways, or again after a reconnection) is stored once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from gis import Fix, FixRejected, Placer

from ..events import EventBus
from ..record import Incidents

log = logging.getLogger(__name__)

MAX_SEQ = 2**31
_REMEMBERED = 1000


@dataclass(frozen=True)
class FixOutcome:
    """What became of one fix: ``stored`` (new), a duplicate (neither set), or ``rejected``."""

    seq: Any
    stored: dict[str, Any] | None = None
    rejected: str | None = None

    def reply(self) -> dict[str, Any]:
        """The caller page's answer: an acknowledgement, or the reason it was refused."""
        if self.rejected is not None:
            return {"type": "rejected", "seq": self.seq, "reason": self.rejected}
        return {"type": "ack", "seq": self.seq}


def valid_seq(seq: Any) -> TypeGuard[int]:
    return isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq < MAX_SEQ


class FixRecorder:
    def __init__(self, incidents: Incidents, events: EventBus, placer: Placer) -> None:
        self.incidents = incidents
        self.events = events
        self.placer = placer
        # The newest fix (by the phone's clock) of each incident, to judge the next one against.
        self._latest: OrderedDict[str, Fix] = OrderedDict()

    def latest(self, incident_id: str) -> Fix | None:
        return self._latest.get(incident_id)

    async def record(self, incident_id: str, session_id: str, message: Mapping[str, Any]) -> FixOutcome:
        seq = message.get("seq")
        if not valid_seq(seq):
            return FixOutcome(seq, rejected="seq must be a positive integer")
        try:
            fix = Fix.from_mapping(message)
        except FixRejected as exc:
            reason = str(exc)
            self.events.publish("fix.rejected", incident_id, {"session_id": session_id, "seq": seq, "reason": reason})
            return FixOutcome(seq, rejected=reason)
        previous = self._latest.get(incident_id)
        placement = self.placer.place(fix, previous=previous)
        values = {
            "latitude": fix.latitude, "longitude": fix.longitude, "accuracy": fix.accuracy,
            "altitude": fix.altitude, "heading": fix.heading, "speed": fix.speed,
        }
        stored = await self.incidents.add_fix(incident_id, session_id, seq, values, fix.time, placement.to_dict())
        if stored is None:
            return FixOutcome(seq)  # already stored: a resend after a lost acknowledgement
        if previous is None or previous.time is None or (fix.time is not None and fix.time >= previous.time):
            self._latest[incident_id] = fix
            self._latest.move_to_end(incident_id)
            while len(self._latest) > _REMEMBERED:
                self._latest.popitem(last=False)
        self.events.publish("fix", incident_id, stored)
        return FixOutcome(seq, stored=stored)
