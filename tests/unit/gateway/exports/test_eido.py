"""An incident as an EIDO: the components a CAD expects, and a schema that holds the export to them."""

import copy
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from gateway.exports.eido import eido

SCHEMA = json.loads(
    (Path(__file__).parents[4] / "gateway" / "exports" / "schemas" / "eido.schema.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
AT = "2026-11-27T00:10:00.000Z"
PLACEMENT = {
    "layers": {
        "force": {"name": "West Yorkshire", "code": "WYP", "share": 1.0},
        "district": {"name": "Leeds", "code": "LDS", "share": 1.0},
    },
    "flags": [],
}
RECORD = {
    "id": "inc_abc123",
    "reference": "WYP-2026-0042",
    "caller_phone": "+447700900123",
    "created_at": "2026-11-27T00:00:00.000Z",
    "ended_at": None,
    "latest_fix": {
        "id": 9, "latitude": 53.7997, "longitude": -1.5492, "accuracy": 15.0,
        "device_time": "2026-11-27T00:05:00.000Z", "received_at": "2026-11-27T00:05:01.000Z",
        "placement": PLACEMENT,
    },
    "conversation": [
        {"id": "msg_1", "direction": "to_caller", "sent_by": "handler1", "text": "Are you safe?",
         "sent_at": "2026-11-27T00:06:00.000Z"},
        {"id": "msg_2", "direction": "from_caller", "sent_by": "caller", "text": "No",
         "sent_at": "2026-11-27T00:06:10.000Z"},
    ],
    "snapshots": [
        {"id": "snp_1", "reason": "manual", "taken_by": "handler1", "taken_at": "2026-11-27T00:07:00.000Z",
         "sha256": "ab" * 32, "url": "/api/snapshots/snp_1"},
    ],
}


def export(record=RECORD):
    return eido(record, "https://gw.example.police.uk", "gw.example.police.uk", AT)


def test_the_export_validates_against_the_schema():
    VALIDATOR.validate(export())


def test_the_incident_carries_the_reference_and_the_live_view():
    (incident,) = export()["incidentComponent"]
    assert incident["incidentTrackingIdentifier"] == "WYP-2026-0042"
    assert incident["incidentStatusCommonRegistryText"] == ["Open"]
    assert incident["incidentCollaborationUrl"] == "https://gw.example.police.uk/console#inc_abc123"


def test_the_callers_number_is_a_tel_uri():
    (callback,) = export()["callbackComponent"]
    assert callback["callBackInformationUri"] == ["tel:+447700900123"]


def test_the_latest_fix_is_a_pidf_lo_circle_by_value():
    (location,) = export()["locationComponent"]
    doc = ET.fromstring(location["locationByValue"])
    circle = doc.find(".//{http://www.opengis.net/pidflo/1.0}Circle")
    assert circle.find("{http://www.opengis.net/gml}pos").text == "53.7997000 -1.5492000"
    assert circle.find("{http://www.opengis.net/pidflo/1.0}radius").text == "15.0"
    assert export()["incidentComponent"][0]["locationReference"] == [{"$ref": location["$id"]}]


def test_the_force_from_the_placement_is_a_responding_agency():
    agencies = export()["agencyComponent"]
    assert [a.get("agencyName") for a in agencies] == [None, "West Yorkshire"]
    assert agencies[1]["agencyRoleDescriptionRegistryText"] == ["Responding"]
    assert agencies[0]["agencyType"] == ["psap"]


def test_notes_hold_the_conversation_and_link_the_snapshots():
    notes = export()["notesComponent"]
    assert [n["notesActionComment"] for n in notes[:2]] == ["handler1: Are you safe?", "caller: No"]
    assert notes[2]["notesAttachmentUrl"] == "https://gw.example.police.uk/api/snapshots/snp_1"
    assert export()["incidentComponent"][0]["notesReference"] == [{"$ref": n["$id"]} for n in notes]


def test_an_incident_without_a_fix_still_validates_and_names_no_force():
    body = export({**RECORD, "latest_fix": None, "ended_at": "2026-11-27T01:00:00.000Z"})
    VALIDATOR.validate(body)
    assert body["locationComponent"] == [] and len(body["agencyComponent"]) == 1
    assert body["incidentComponent"][0]["incidentStatusCommonRegistryText"] == ["Closed"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b.pop("incidentComponent"),
        lambda b: b["incidentComponent"][0].update(surprise=1),
        lambda b: b["callbackComponent"][0].update(callBackInformationUri=["07700 900123"]),
        lambda b: b["locationComponent"][0].update(locationByValue="53.8,-1.5"),
        lambda b: b.update(lastUpdateTimeStamp="yesterday"),
    ],
)
def test_the_schema_refuses_a_damaged_export(damage):
    body = copy.deepcopy(export())
    damage(body)
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(body)
