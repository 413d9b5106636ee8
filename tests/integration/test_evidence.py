"""Evidence through the API without a live caller: the bundle of an incident verifies against the
gateway's public key; the key file is private; an export from a chain that no longer verifies is
refused, and the refusal is itself audited."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from sqlalchemy import update

from gateway.record.schema import audit
from gateway.web.keys import DATABASE

from .conftest import login


async def new_incident(client, csrf: str, reference: str = "WYP-7") -> dict:
    resp = await client.post(
        "/api/incidents", json={"reference": reference, "caller_phone": "07400 123456"}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_bundle_verifies_against_the_key_kept_apart_from_the_gateway(client, settings, tmp_path):
    csrf = await login(client, "handler1")
    incident = await new_incident(client, csrf)
    await login(client, "super1")
    resp = await client.get(f"/api/incidents/{incident['id']}/bundle")
    assert resp.status == 200, await resp.text()
    (tmp_path / "b.zip").write_bytes(await resp.read())

    key_file = settings.signing_key_path
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    env = {**os.environ, "SCENELINK_DATA_DIR": str(settings.data_dir)}
    public = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "public"], capture_output=True, text=True, env=env
    )
    assert public.returncode == 0, public.stderr
    assert "PRIVATE" not in public.stdout
    (tmp_path / "gateway.pub").write_text(public.stdout)
    verified = subprocess.run(
        [sys.executable, "-m", "gateway", "verify-bundle", "--public-key", str(tmp_path / "gateway.pub"),
         str(tmp_path / "b.zip")], capture_output=True, text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    head = await (await client.get("/api/audit/head")).json()
    assert head["seq"] >= 2 and head["hash"]


async def test_an_export_from_a_broken_chain_is_refused_and_audited(client):
    csrf = await login(client, "handler1")
    incident = await new_incident(client, csrf)
    database = client.app[DATABASE]
    async with database.begin() as conn:
        await conn.execute(update(audit).where(audit.c.action == "incident.created").values(actor="someone else"))
    await login(client, "super1")
    resp = await client.get(f"/api/incidents/{incident['id']}/bundle")
    assert resp.status == 409
    body = await resp.json()
    assert body["error"] == "chain_broken" and "entry" in body["message"]
    refused = [e for e in await database.audit_entries(incident["id"]) if e["action"] == "bundle.refused"]
    assert len(refused) == 1 and refused[0]["actor"] == "super1" and "broken" in refused[0]["detail"]["reason"]


async def test_supervisors_place_and_lift_a_legal_hold_with_a_reason(client):
    csrf = await login(client, "handler1")
    incident = await new_incident(client, csrf, "WYP-8")
    path = f"/api/incidents/{incident['id']}/hold"
    assert (await client.put(path, json={"reason": "court"}, headers={"X-CSRF-Token": csrf})).status == 403
    csrf = await login(client, "super1")
    headers = {"X-CSRF-Token": csrf}
    assert (await client.put(path, json={}, headers=headers)).status == 400
    placed = await client.put(path, json={"reason": "R v Smith, disclosure"}, headers=headers)
    assert placed.status == 200
    assert (await placed.json())["legal_hold"]["held_by"] == "super1"
    assert (await client.put(path, json={"reason": "again"}, headers=headers)).status == 409
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["legal_hold"]["reason"] == "R v Smith, disclosure"
    assert (await client.put("/api/incidents/inc_none/hold", json={"reason": "x"}, headers=headers)).status == 404

    assert (await client.delete(path, json={}, headers=headers)).status == 400
    assert (await client.delete(path, json={"reason": "trial over"}, headers=headers)).status == 200
    assert (await client.delete(path, json={"reason": "again"}, headers=headers)).status == 409
    entries = await client.app[DATABASE].audit_entries(incident["id"])
    assert [(e["action"], e["detail"]["reason"]) for e in entries if e["action"].startswith("legal_hold")] == [
        ("legal_hold.placed", "R v Smith, disclosure"), ("legal_hold.lifted", "trial over")]
    report = await client.get("/api/retention")
    assert report.status == 200 and "incidents" in await report.json()
