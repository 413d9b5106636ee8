"""Exports through the API: PIDF-LO and GeoJSON for other systems, evidence bundles for court."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from xml.etree import ElementTree as ET

from ..conftest import needs_test_network
from .conftest import login
from .test_media import LEEDS, streaming  # noqa: F401  (fixture)

pytestmark = needs_test_network


async def test_position_exports_and_an_evidence_bundle_that_verifies(client, streaming, tmp_path):  # noqa: F811
    incident, csrf = streaming["incident"], streaming["csrf"]
    streaming["channel"].send(json.dumps({"type": "fix", "seq": 1, **LEEDS}))
    await asyncio.wait_for(streaming["replies"].get(), 5)
    snap = await (
        await client.post(f"/api/incidents/{incident['id']}/snapshots", json={}, headers={"X-CSRF-Token": csrf})
    ).json()

    pidf = await client.get(f"/api/incidents/{incident['id']}/location.pidf")
    assert pidf.status == 200 and pidf.content_type == "application/pidf+xml"
    assert "53.7997000 -1.5492000" in ET.fromstring(await pidf.text()).find(".//{http://www.opengis.net/gml}pos").text
    geo = await (await client.get(f"/api/incidents/{incident['id']}/fixes.geojson")).json()
    (feature,) = geo["features"]
    assert (
        feature["geometry"]["coordinates"] == [-1.5492, 53.7997] and feature["properties"]["force"] == "West Yorkshire"
    )

    assert (await client.get(f"/api/incidents/{incident['id']}/bundle")).status == 403, "handlers may not export"
    await login(client, "super1")
    before = await (await client.get("/api/audit/head")).json()
    resp = await client.get(f"/api/incidents/{incident['id']}/bundle")
    assert resp.status == 200 and resp.content_type == "application/zip"
    path = tmp_path / "bundle.zip"
    path.write_bytes(await resp.read())
    head = await (await client.get("/api/audit/head")).json()
    env = {**os.environ, "SCENELINK_DATA_DIR": str(tmp_path)}
    public = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "public"], capture_output=True, text=True, env=env
    )
    assert public.returncode == 0 and public.stdout.startswith("-----BEGIN PUBLIC KEY-----"), public.stderr
    (tmp_path / "gateway.pub").write_text(public.stdout)
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "verify-bundle", "--public-key", str(tmp_path / "gateway.pub"), str(path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bundle verified" in result.stdout and "signed by the given key" in result.stdout and snap["id"]
    # The export itself is audited after the bundle's chain was cut, so the head has moved on by one.
    assert head["entries"] == before["entries"] + 1 and head["hash"] != before["hash"]
