"""An incident as an Emergency Incident Data Object (EIDO), JSON form.

The object follows the EIDO JSON data model of NENA-STA-021.1a-2022 ("NENA Standard for Emergency
Incident Data Object (EIDO)"), the payload that NENA-STA-024.1.1-2025 conveys between NG9-1-1
systems. An EIDO is a set of components, each with its own ``$id``, that refer to one another with
``{"$ref": id}``:

* ``incidentComponent``: the incident (``incidentTrackingIdentifier`` is the control room's
  reference), with ``incidentCollaborationUrl`` pointing at the live view in the console;
* ``callComponent`` and ``callbackComponent``: the call and the caller's number as a ``tel:`` URI;
* ``locationComponent``: the latest fix, carried by value as a PIDF-LO document (a circle of the
  accuracy radius, RFC 5491), as EIDO carries locations;
* ``agencyComponent``: this gateway (call receiving) and every force the latest fix was placed in;
* ``notesComponent``: the silent conversation, one note per message, and the snapshots, each with
  the address it can be fetched from (``notesAttachmentUrl``) by an authorised system.

Pure: record in, JSON-able dict out. ``gateway/exports/schemas/eido.schema.json`` states exactly
which fields this module writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .pidf_lo import pidf_lo

EIDO_VERSION = "1.0"
STANDARD = "NENA-STA-021.1a-2022"
FORCE_LEVELS = ("force", "police_force", "pfa")


def _component(component_id: str, at: str, agency: str, **fields: Any) -> dict[str, Any]:
    return {
        "$id": component_id, "lastUpdateTimeStamp": at,
        "updatedByAgencyReference": {"$ref": agency}, **fields,
    }


def _forces(placement: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The (code, name) of each force the placement names, in the layers' order."""
    if not placement:
        return []
    found = []
    for level, layer in (placement.get("layers") or {}).items():
        if level in FORCE_LEVELS and layer.get("code"):
            found.append((str(layer["code"]), str(layer.get("name") or layer["code"])))
    return found


def eido(record: Mapping[str, Any], base_url: str, host: str, at: str) -> dict[str, Any]:
    """The EIDO of one incident ``record`` (as ``Incidents.record`` returns it).

    ``base_url``: the gateway's public address, for the live view and snapshot links. ``host``: the
    gateway's domain name, which qualifies every identifier. ``at``: the time of this export.
    """
    base = base_url.rstrip("/")
    ours = f"scenelink.{host}"
    incident_id = f"urn:emergency:uid:incidentid:{record['id']}:{host}"
    call_id = f"urn:emergency:uid:callid:{record['id']}:{host}"
    callback_id = f"callback-{record['id']}"
    person_id = f"caller-{record['id']}"
    agencies = [
        _component(
            ours, at, ours, agencyRoleDescriptionRegistryText=["CallReceiving"], agencyType=["psap"],
        )
    ]
    fix = record.get("latest_fix")
    locations: list[dict[str, Any]] = []
    if fix:
        location_id = f"location-{record['id']}-{fix['id']}"
        locations.append(
            _component(
                location_id, fix.get("received_at") or at, ours,
                locationTypeDescriptionRegistryText="Caller",
                locationByValue=pidf_lo(f"pres:{record['reference']}@{host}", fix),
            )
        )
        for code, name in _forces(fix.get("placement")):
            agencies.append(
                _component(
                    f"force.{code}.{host}", at, ours, agencyName=name,
                    agencyRoleDescriptionRegistryText=["Responding"], agencyType=["law"],
                )
            )
    notes = []
    for message in record.get("conversation") or []:
        who = "caller" if message["direction"] == "from_caller" else message["sent_by"]
        notes.append(
            _component(
                f"note-{message['id']}", message["sent_at"], ours,
                notesActionComment=f"{who}: {message['text']}", notesDateTimeStamp=message["sent_at"],
                notesAuthor=who,
            )
        )
    for snap in record.get("snapshots") or []:
        notes.append(
            _component(
                f"note-{snap['id']}", snap["taken_at"], ours,
                notesActionComment=f"snapshot ({snap['reason']}) taken by {snap['taken_by']}, sha256 {snap['sha256']}",
                notesDateTimeStamp=snap["taken_at"], notesAuthor=snap["taken_by"],
                notesAttachmentUrl=f"{base}{snap['url']}",
            )
        )
    status = "Closed" if record.get("ended_at") else "Open"
    incident: dict[str, Any] = _component(
        f"incident-{record['id']}", at, ours,
        incidentTrackingIdentifier=record["reference"],
        incidentStatusCommonRegistryText=[status],
        incidentCollaborationUrl=f"{base}/console#{record['id']}",
        incidentCreationTimeStamp=record["created_at"],
        callReference=[{"$ref": call_id}],
        notesReference=[{"$ref": n["$id"]} for n in notes],
    )
    if locations:
        incident["locationReference"] = [{"$ref": loc["$id"]} for loc in locations]
    call = _component(
        call_id, record["created_at"], ours, direction="incoming", standardPrimaryCallType="emergency",
        callStartTimestamp=record["created_at"], callBackReference={"$ref": callback_id},
        personReference=[{"$ref": person_id}],
        locationReference=[{"$ref": loc["$id"]} for loc in locations],
    )
    return {
        "$id": incident_id,
        "eidoVersion": EIDO_VERSION,
        "lastUpdateTimeStamp": at,
        "issuingElementIdentification": ours,
        "updatedByAgencyReference": {"$ref": ours},
        "incidentComponent": [incident],
        "callComponent": [call],
        "callbackComponent": [
            _component(
                callback_id, record["created_at"], ours, callBackInformationUri=[f"tel:{record['caller_phone']}"]
            )
        ],
        "personComponent": [
            _component(
                person_id,
                record["created_at"],
                ours,
                personIncidentRoleRegistryText=["Caller"],
                callIdentifier=[call_id],
                callBackReference={"$ref": callback_id},
            )
        ],
        "agencyComponent": agencies,
        "locationComponent": locations,
        "notesComponent": notes,
    }
