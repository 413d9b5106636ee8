"""The caller's side over HTTP: languages, in-app browsers, revoking, refusals, the session's maximum
length, the silent conversation, the camera requests, status reports, and the HTTPS fallback
(fixes and still photos), each with its bad input."""

from __future__ import annotations

import asyncio

import aiohttp
import cv2
import numpy as np
import pytest

from gateway.links import LinkState, mask_tokens
from gateway.record import verify_chain
from gateway.web.keys import CALLERS, DATABASE, EVENTS, INCIDENTS

from .conftest import login
from .test_api import create_incident


@pytest.fixture
def record_url(database_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return database_url

LEEDS = {"latitude": 53.7997, "longitude": -1.5492, "accuracy": 15.0}
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)
FACEBOOK = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 [FBAN/FBIOS;FBAV/470.0]"
)


def jpeg(width: int = 320, height: int = 240) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (0, 0, 255)
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def bomb(width: int, height: int) -> bytes:
    """A small JPEG whose frame header is rewritten to declare ``width`` x ``height`` pixels."""
    data = jpeg(64, 64)
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[at + 9 :]


class Caller:
    """The caller's phone: its own cookies, apart from the handler's session."""

    def __init__(self, client, url: str, user_agent: str = ANDROID) -> None:
        self.client = client
        self.path = url.removeprefix("http://gw.test")
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"User-Agent": user_agent}
        )

    def url(self, suffix: str = "") -> str:
        return str(self.client.make_url(self.path + suffix))

    async def get(self, suffix: str = "", **kw) -> aiohttp.ClientResponse:
        resp = await self.session.get(self.url(suffix), **kw)
        await resp.read()
        return resp

    async def post(self, suffix: str, **kw) -> aiohttp.ClientResponse:
        resp = await self.session.post(self.url(suffix), **kw)
        await resp.read()
        return resp

    async def consent(self) -> None:
        assert (await self.get()).status == 200
        assert (await self.post("/consent", json={})).status == 200

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
async def handler(client):
    csrf = await login(client, "handler1")
    return csrf


@pytest.fixture
async def phones(client):
    made: list[Caller] = []

    def make(url: str, user_agent: str = ANDROID) -> Caller:
        caller = Caller(client, url, user_agent)
        made.append(caller)
        return caller

    yield make
    for caller in made:
        await caller.close()


_refs = iter(range(1, 10**6))


async def incident_with_link(client, csrf, language=None):
    incident = await (await create_incident(client, csrf, ref=f"WYP-T-{next(_refs)}")).json()
    body = {"language": language} if language is not None else {}
    resp = await client.post(f"/api/incidents/{incident['id']}/links", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201, await resp.text()
    return incident, await resp.json()


async def record(client, incident_id):
    resp = await client.get(f"/api/incidents/{incident_id}")
    assert resp.status == 200
    return await resp.json()


def api(client, csrf):
    """POST to the operators' API as the signed-in handler."""

    async def call(path: str, body, status: int | None = None):
        resp = await client.post(path, json=body, headers={"X-CSRF-Token": csrf})
        data = await resp.json()
        if status is not None:
            assert resp.status == status, data
        return resp.status, data

    return call


# -- languages -------------------------------------------------------------------------------------


async def test_the_handler_chooses_the_language_of_the_page_and_the_text(client, handler, phones):
    incident, link = await incident_with_link(client, handler, "cy")
    assert link["language"] == "cy" and "tapiwch y ddolen" in link["sms"]["body"]
    assert mask_tokens(link["url"]) in link["sms"]["body"]
    # Welsh in GSM letters: a septet each, and parts of 160 (one) or 153 (each of several)
    units = len(link["sms"]["body"])
    assert link["sms"]["parts"] == {
        "count": 1 if units <= 160 else -(-units // 153),
        "encoding": "GSM-7",
        "units": units,
    }
    caller = phones(link["url"])
    resp = await caller.get()
    page = await resp.text()
    assert '<html lang="cy" dir="ltr" data-chosen="1"' in page
    assert "Dechrau rhannu" in page and 'id="strings"' in page
    assert resp.headers.get("Content-Encoding") in ("gzip", "deflate"), "compressed for a slow connection"
    assert (await record(client, incident["id"]))["links"][0]["language"] == "cy"

    _, link = await incident_with_link(client, handler, "ar")
    page = await (await phones(link["url"]).get()).text()
    assert '<html lang="ar" dir="rtl"' in page and "ابدأ المشاركة" in page
    # Arabic goes as UCS-2, opened by a right-to-left mark: a code unit a character (all in the
    # BMP), and parts of 70 (one) or 67 (each of several)
    body = link["sms"]["body"]
    assert body.startswith("\u200f") and mask_tokens(link["url"]) in body
    assert link["sms"]["parts"] == {
        "count": 1 if len(body) <= 70 else -(-len(body) // 67),
        "encoding": "UCS-2",
        "units": len(body),
    }


async def test_without_a_choice_the_page_follows_the_phones_languages(client, handler, phones):
    _, link = await incident_with_link(client, handler)
    assert "tap this link" in link["sms"]["body"]  # the text falls back to English
    page = await (await phones(link["url"]).get(headers={"Accept-Language": "fr-FR,pl;q=0.9,en;q=0.5"})).text()
    assert '<html lang="pl" dir="ltr" data-chosen="0"' in page


async def test_the_refusal_page_is_in_the_phones_language_and_the_same_for_every_refusal(client, handler, phones):
    from datetime import timedelta

    from sqlalchemy import update

    from gateway.record.database import utcnow
    from gateway.record.schema import links

    _, plain = await incident_with_link(client, handler)  # no language chosen
    async with client.app[DATABASE].begin() as conn:
        await conn.execute(
            update(links).where(links.c.id == plain["id"]).values(expires_at=utcnow() - timedelta(minutes=1))
        )
    welsh_incident, welsh = await incident_with_link(client, handler, "cy")
    resp = await client.post(
        f"/api/incidents/{welsh_incident['id']}/links/{welsh['id']}/revoke", json={}, headers={"X-CSRF-Token": handler}
    )
    assert resp.status == 200
    unknown = plain["url"].rsplit("/", 1)[0] + "/" + "A" * 32  # shaped like a token, names no link

    async def refusal(url, language=None):
        resp = await phones(url).get(headers={"Accept-Language": language} if language else {})
        assert resp.status == 404 and resp.headers["Content-Type"].startswith("text/html")
        return resp.headers["Content-Language"], await resp.read()

    # Expired, unknown, and revoked though chosen in Welsh: one page, in the phone's Polish.
    pages = [await refusal(url, "pl-PL,pl;q=0.9,en;q=0.5") for url in (plain["url"], unknown, welsh["url"])]
    assert pages[0] == pages[1] == pages[2]
    language, page = pages[0]
    assert language == "pl" and '<html lang="pl" dir="ltr">' in page.decode()
    assert "<h1>Tego linku nie można użyć</h1>" in page.decode()
    # An Arabic phone reads it right to left; a phone that names no language of ours, in English.
    language, page = await refusal(unknown, "ar-SA")
    assert (
        language == "ar"
        and '<html lang="ar" dir="rtl">' in page.decode()
        and "لا يمكن استخدام هذا الرابط" in page.decode()
    )
    assert (await refusal(plain["url"], "fr-FR"))[1] == (await refusal(unknown))[1]
    assert b"<h1>This link cannot be used</h1>" in (await refusal(unknown))[1]


async def test_an_unknown_language_is_refused(client, handler):
    incident = await (await create_incident(client, handler)).json()
    for bad in ("xx", 12, ["cy"]):
        resp = await client.post(
            f"/api/incidents/{incident['id']}/links", json={"language": bad}, headers={"X-CSRF-Token": handler}
        )
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_language", bad


# -- the link's life --------------------------------------------------------------------------------


async def test_an_in_app_browser_gets_the_page_without_using_up_the_link(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    in_app = phones(link["url"], FACEBOOK)
    resp = await in_app.get()
    assert resp.status == 200 and "scenelink_device" not in resp.cookies
    assert 'data-inapp="Facebook"' in await resp.text()
    real = phones(link["url"])
    first = await real.get()
    assert first.status == 200 and "scenelink_device" in first.cookies
    assert (await in_app.get()).status == 404, "now bound to the phone's browser"
    states = (await record(client, incident["id"]))["links"][0]["states"]
    assert states[2] == {"state": "opened", "at": states[2]["at"], "detail": "in the Facebook browser"}


async def test_another_device_is_refused_and_noted_without_changing_the_link(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    await phones(link["url"]).consent()
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        assert (await phones(link["url"]).get()).status == 404
        seen = [events.queue.get_nowait() for _ in range(events.queue.qsize())]
    assert {"link.refused", "link.state"} <= {e.type for e in seen}
    rec = await record(client, incident["id"])
    assert rec["links"][0]["state"] == "consented"
    refused = rec["links"][0]["states"][-1]
    assert refused["state"] == "refused" and "another device" in refused["detail"]


async def test_a_delivery_receipt_after_opening_is_noted_not_a_step_back(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    incidents = client.app[INCIDENTS]
    assert await incidents.move_link(link["id"], LinkState.DELIVERED, "gateway")
    assert (await record(client, incident["id"]))["state"] == "delivered"
    await phones(link["url"]).get()
    assert await incidents.move_link(link["id"], LinkState.DELIVERED, "gateway"), "noted again"
    rec = await record(client, incident["id"])
    assert rec["state"] == "opened"
    assert [s["state"] for s in rec["links"][0]["states"]] == ["created", "sent", "delivered", "opened", "delivered"]


async def test_the_handler_revokes_a_link(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    caller = phones(link["url"])
    await caller.consent()
    path = f"/api/incidents/{incident['id']}/links/{link['id']}/revoke"

    assert (await client.post(path, json={})).status == 403, "no CSRF token"
    assert (
        await client.post(
            f"/api/incidents/{incident['id']}/links/lnk_nope/revoke", json={}, headers={"X-CSRF-Token": handler}
        )
    ).status == 404
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        resp = await client.post(path, json={}, headers={"X-CSRF-Token": handler})
        assert resp.status == 200 and (await resp.json())["state"] == "revoked"
        published = [events.queue.get_nowait() for _ in range(events.queue.qsize())]
    assert any(e.type == "link.state" and e.data["state"] == "revoked" for e in published)
    assert (await caller.get()).status == 404
    assert (await caller.post("/status", json={"mode": "video"})).status == 404
    again = await client.post(path, json={}, headers={"X-CSRF-Token": handler})
    assert again.status == 409
    rec = await record(client, incident["id"])
    assert rec["state"] == "revoked" and rec["links"][0]["states"][-1]["detail"] == "revoked by the handler"
    audit = await client.app[DATABASE].audit_entries(incident["id"])
    assert any(e["action"] == "link.revoked" and e["actor"] == "handler1" for e in audit)


async def test_only_a_handler_may_revoke(client, phones):
    csrf = await login(client, "handler1")
    incident, link = await incident_with_link(client, csrf)
    csrf = await login(client, "dispatcher1")
    resp = await client.post(
        f"/api/incidents/{incident['id']}/links/{link['id']}/revoke", json={}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 403


async def test_a_session_ends_at_its_maximum_length(client, handler, phones):
    client.app[CALLERS].session_max_seconds = 1
    incident, link = await incident_with_link(client, handler)
    caller = phones(link["url"])
    await caller.consent()
    # Once the maximum length (one second) has passed, the link's next use ends it and is refused.
    for _ in range(200):
        if (await caller.post("/status", json={"mode": "video"})).status == 404:
            break
        await asyncio.sleep(0.05)
    rec = await record(client, incident["id"])
    assert rec["state"] == "ended" and rec["links"][0]["states"][-1]["detail"] == "maximum session length reached"
    assert (await caller.post("/status", json={"mode": "video"})).status == 404

    # And the sweep ends a link nobody is using any more.
    incident, link = await incident_with_link(client, handler)
    await phones(link["url"]).consent()
    for _ in range(200):  # sweep until the link has outlived the maximum length (one second)
        await client.app[CALLERS].sweep()
        if (await record(client, incident["id"]))["state"] == "ended":
            break
        await asyncio.sleep(0.05)
    assert (await record(client, incident["id"]))["state"] == "ended"


# -- talking without a voice ------------------------------------------------------------------------


async def test_instructions_are_stored_in_the_callers_language_and_fetched_by_the_page(client, handler, phones):
    incident, link = await incident_with_link(client, handler, "pl")
    post = api(client, handler)
    caller = phones(link["url"])
    await caller.consent()
    _, phrase = await post(f"/api/incidents/{incident['id']}/messages", {"phrase": "move_safe"}, 201)
    assert (
        phrase["text"] == "Przejdź w bezpieczne miejsce" and phrase["language"] == "pl" and phrase["kind"] == "phrase"
    )
    assert phrase["direction"] == "to_caller" and phrase["sent_by"] == "handler1" and phrase["delivered_at"] is None
    _, text = await post(f"/api/incidents/{incident['id']}/messages", {"text": "  Stay   where you are "}, 201)
    assert text["text"] == "Stay where you are" and text["language"] == "en"

    resp = await caller.get("/messages")
    page = await resp.json()
    assert [m["id"] for m in page["messages"]] == [phrase["id"], text["id"]]
    assert page["messages"][0]["ask"] is False and page["messages"][0]["seen"] is False
    seen = await caller.post("/messages", json={"type": "seen", "id": phrase["id"]})
    assert seen.status == 200 and (await seen.json())["seen"] is True
    conversation = (await record(client, incident["id"]))["conversation"]
    first = next(m for m in conversation if m["id"] == phrase["id"])
    assert first["delivered_at"] and first["seen_at"]
    listed = await (await client.get(f"/api/incidents/{incident['id']}/messages")).json()
    assert len(listed["messages"]) == 2


async def test_bad_instructions_are_refused(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    post = api(client, handler)
    url = f"/api/incidents/{incident['id']}/messages"
    for body, code in [
        ({"phrase": "sing_a_song"}, "unknown_phrase"),
        ({"phrase": 3}, "unknown_phrase"),
        ({"text": "x" * 281}, "text_too_long"),
        ({"text": "   "}, "invalid_text"),
        ({}, "invalid_message"),
        ({"phrase": "move_safe", "text": "both"}, "invalid_message"),
        ({"text": "hi", "language": "xx"}, "invalid_language"),
    ]:
        status, data = await post(url, body)
        assert (status, data["error"]) == (400, code), body
    assert (await client.post(url, json={"text": "hi"})).status == 403, "no CSRF token"
    status, _ = await post("/api/incidents/inc_nope/messages", {"text": "hi"})
    assert status == 404
    await post(f"/api/incidents/{incident['id']}/links/{link['id']}/revoke", {}, 200)
    status, data = await post(url, {"text": "hi"})
    assert status == 409 and data["error"] == "no_caller"


async def test_a_dispatcher_reads_messages_but_cannot_send_them(client, phones):
    csrf = await login(client, "handler1")
    incident, _ = await incident_with_link(client, csrf)
    csrf = await login(client, "dispatcher1")
    resp = await client.post(
        f"/api/incidents/{incident['id']}/messages", json={"text": "hi"}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 403
    resp = await client.post(
        f"/api/incidents/{incident['id']}/camera", json={"torch": True}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 403
    assert (await client.get(f"/api/incidents/{incident['id']}/messages")).status == 200
    phrases = await (await client.get("/api/phrases")).json()
    assert {lang["code"] for lang in phrases["languages"]} == {"en", "cy", "pl", "ur", "pa", "ar", "ro"}
    assert any(p["key"] == "can_talk" and p["ask"] for p in phrases["phrases"])


async def test_the_caller_answers_silently_and_a_resend_is_stored_once(client, handler, phones):
    incident, link = await incident_with_link(client, handler, "ro")
    post = api(client, handler)
    caller = phones(link["url"])
    await caller.get()
    before = await caller.post("/messages", json={"type": "reply", "answer": "yes"})
    assert before.status == 409, "nothing before consent"
    await caller.post("/consent", json={})
    _, question = await post(f"/api/incidents/{incident['id']}/messages", {"phrase": "can_talk"}, 201)
    body = {"type": "reply", "answer": "no", "in_reply_to": question["id"], "ref": "r-1"}
    first = await caller.post("/messages", json=body)
    second = await caller.post("/messages", json=body)
    assert first.status == second.status == 201
    assert (await first.json())["id"] == (await second.json())["id"]
    text = await caller.post("/messages", json={"type": "reply", "text": "Sunt în baie", "ref": "r-2"})
    assert text.status == 201
    for bad in (
        {"type": "reply", "answer": "maybe"},
        {"type": "reply", "text": "x" * 281},
        {"type": "reply"},
        {"type": "reply", "answer": "yes", "text": "both"},
        {"type": "reply", "answer": "yes", "ref": "x" * 41},
        {"type": "reply", "answer": "yes", "in_reply_to": "msg_" + "0" * 29},  # longer than any id
        {"type": "shout"},
        {"type": "seen", "id": 5},
    ):
        resp = await caller.post("/messages", json=bad)
        assert resp.status == 400, bad
    conversation = (await record(client, incident["id"]))["conversation"]
    replies = [m for m in conversation if m["direction"] == "from_caller"]
    assert [(m["kind"], m["text"], m["language"]) for m in replies] == [
        ("answer", "no", "ro"),
        ("text", "Sunt în baie", "ro"),
    ]
    assert replies[0]["in_reply_to"] == question["id"]
    entries = await client.app[DATABASE].audit_entries()
    actions = [e["action"] for e in entries if e["incident_id"] == incident["id"]]
    assert actions.count("message.sent") == 1 and actions.count("message.received") == 2
    assert verify_chain(entries) is None


async def test_camera_requests_wait_for_a_page_that_polls(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    post = api(client, handler)
    url = f"/api/incidents/{incident['id']}/camera"
    for body, code in [
        ({}, "invalid_request"),
        ({"facing": "left"}, "invalid_facing"),
        ({"torch": "on"}, "invalid_torch"),
    ]:
        status, data = await post(url, body)
        assert (status, data["error"]) == (400, code), body
    _, result = await post(url, {"facing": "user", "torch": True}, 200)
    assert result["delivered"] is False and result["control"]["facing"] == "user" and result["control"]["torch"] is True
    caller = phones(link["url"])
    await caller.consent()
    page = await (await caller.get("/messages")).json()
    assert page["control"] == result["control"]


# -- the caller's status -----------------------------------------------------------------------------


async def test_the_callers_status_is_kept_cleaned_and_published(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    caller = phones(link["url"])
    await caller.get()
    assert (await caller.post("/status", json={"mode": "video"})).status == 409, "nothing before consent"
    await caller.post("/consent", json={})
    report = {
        "type": "status", "mode": "stills", "transport": "https", "evil": "<script>",
        "browser": {"name": "Chrome" * 30, "version": "156.0", "os": "Android", "live_view": False},
        "permissions": {"camera": "granted", "geolocation": "sideways"},
        "network": {"online": True, "type": "cellular", "effective_type": "3g", "downlink_mbps": 0.7, "rtt_ms": "fast"},
        "battery": {"level": 0.31, "charging": False},
        "camera": {"facing": "environment", "torch": False, "torch_supported": True, "width": 640, "height": 480},
        "language": "cy", "discreet": True, "pending_fixes": 3,
    }
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        assert (await caller.post("/status", json=report)).status == 200
        event = events.queue.get_nowait()
    assert event.type == "caller.status"
    status = (await (await client.get(f"/api/incidents/{incident['id']}/caller")).json())["status"]
    assert status == event.data
    assert "evil" not in status and len(status["browser"]["name"]) == 40
    assert status["permissions"] == {"camera": "granted", "geolocation": None}
    assert status["network"]["rtt_ms"] is None and status["network"]["downlink_mbps"] == 0.7
    assert status["battery"] == {"level": 0.31, "charging": False}
    assert status["mode"] == "stills" and status["via"] == "https" and status["discreet"] is True
    for bad in ({"mode": "teleport"}, {"mode": None}, ["video"]):
        assert (await caller.post("/status", json=bad)).status == 400, bad
    audit = await client.app[DATABASE].audit_entries(incident["id"])
    assert [e["detail"]["mode"] for e in audit if e["action"] == "caller.mode"] == ["stills"]


# -- the HTTPS fallback ------------------------------------------------------------------------------


def fix(seq: int, **extra) -> dict:
    return {"type": "fix", "seq": seq, "timestamp": 1795735262000 + seq * 1000, **LEEDS, **extra}


async def test_fixes_over_https_are_acknowledged_and_stored_once(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    caller = phones(link["url"])
    await caller.get()
    assert (await caller.post("/fixes", json={"fixes": [fix(1)]})).status == 409, "nothing before consent"
    await caller.post("/consent", json={})
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        resp = await caller.post(
            "/fixes", json={"fixes": [fix(1), fix(2), fix(3, latitude=123.0), {"type": "fix", "seq": -4, **LEEDS}]}
        )
        published = [events.queue.get_nowait() for _ in range(events.queue.qsize())]
    assert resp.status == 200
    results = (await resp.json())["results"]
    assert results[:2] == [{"type": "ack", "seq": 1}, {"type": "ack", "seq": 2}]
    assert results[2]["type"] == "rejected" and "latitude" in results[2]["reason"]
    assert results[3] == {"type": "rejected", "seq": -4, "reason": "seq must be a positive integer"}
    started = next(e for e in published if e.type == "session.started")
    assert started.data["transport"] == "https"
    # The acknowledgement was lost: the page sends them again, with a new one.
    again = await caller.post("/fixes", json={"fixes": [fix(2), fix(1), fix(4)]})
    assert [r["type"] for r in (await again.json())["results"]] == ["ack", "ack", "ack"]
    rec = await record(client, incident["id"])
    assert sorted(f["seq"] for f in rec["fixes"]) == [1, 2, 4]
    assert rec["fixes"][0]["device_time"] == "2026-11-26T23:21:03.000Z"
    assert len(rec["sessions"]) == 1 and rec["sessions"][0]["id"] == started.data["session_id"]


async def test_bad_fix_batches_are_refused(client, handler, phones):
    _, link = await incident_with_link(client, handler)
    caller = phones(link["url"])
    await caller.consent()
    for body, status in [
        ({"fixes": []}, 400), ({"fixes": "lots"}, 400), ({}, 400), ([fix(1)], 400),
        ({"fixes": [fix(1), 7]}, 400), ({"fixes": [fix(i) for i in range(1, 202)]}, 413),
    ]:
        resp = await caller.post("/fixes", json=body)
        assert resp.status == status, (body if len(str(body)) < 200 else "201 fixes", resp.status)
    resp = await caller.post("/fixes", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    resp = await caller.post(
        "/fixes", data=b"[" + b" " * (70 * 1024) + b"]", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413


async def test_still_photos_become_snapshots(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    caller = phones(link["url"])
    await caller.consent()
    await caller.post("/fixes", json={"fixes": [fix(1)]})
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        resp = await caller.post("/stills", data=jpeg(), headers={"Content-Type": "image/jpeg"})
        assert resp.status == 201, await resp.text()
        snap_event = next(
            e for e in [events.queue.get_nowait() for _ in range(events.queue.qsize())] if e.type == "snapshot"
        )
    snap = snap_event.data
    assert snap["reason"] == "still" and snap["taken_by"] == "caller" and (snap["width"], snap["height"]) == (320, 240)
    assert snap["fix"]["seq"] == 1 and snap["thumbnail_url"]
    image = await client.get(snap["url"])
    assert await image.read() == jpeg()
    rec = await record(client, incident["id"])
    assert [s["reason"] for s in rec["snapshots"]] == ["still"]
    assert rec["snapshots"][0]["session_id"] == rec["fixes"][0]["session_id"]


async def test_bad_stills_are_refused(client, handler, phones):
    _, link = await incident_with_link(client, handler)
    caller = phones(link["url"])
    await caller.get()
    assert (await caller.post("/stills", data=jpeg(), headers={"Content-Type": "image/jpeg"})).status == 409
    await caller.post("/consent", json={})
    png = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))[1].tobytes()
    cases = [
        (png, "image/jpeg", 400, "not_jpeg"),
        (b"\xff\xd8\xff\xe0" + b"garbage" * 100, "image/jpeg", 400, "not_jpeg"),
        (jpeg(), "image/png", 415, "not_jpeg"),
        (jpeg(8, 8), "image/jpeg", 400, "bad_size"),
        # A JPEG bomb: a few hundred bytes declaring 65000 x 65000 pixels, refused from its header.
        (bomb(65000, 65000), "image/jpeg", 400, "bad_size"),
        (bomb(32000, 32000), "image/jpeg", 400, "bad_size"),
        (b"\xff\xd8\xff" + bytes(210 * 1024), "image/jpeg", 413, "too_large"),
    ]
    fallback = client.app[CALLERS].fallback
    fallback.min_still_interval = 0
    for data, kind, status, code in cases:
        resp = await caller.post("/stills", data=data, headers={"Content-Type": kind})
        assert (resp.status, (await resp.json())["error"]) == (status, code), (kind, len(data))
    fallback.min_still_interval = 1.0
    fallback._last_still.clear()
    ok = await caller.post("/stills", data=jpeg(), headers={"Content-Type": "image/jpeg"})
    too_soon = await caller.post("/stills", data=jpeg(), headers={"Content-Type": "image/jpeg"})
    assert (ok.status, too_soon.status) == (201, 429)


async def test_the_https_session_ends_with_the_link(client, handler, phones):
    incident, link = await incident_with_link(client, handler)
    caller = phones(link["url"])
    await caller.consent()
    await caller.post("/fixes", json={"fixes": [fix(1)]})
    assert (await record(client, incident["id"]))["sessions"][0]["ended_at"] is None
    resp = await caller.post("/end", json={})
    assert resp.status == 200
    session = (await record(client, incident["id"]))["sessions"][0]
    assert session["ended_at"] and session["ended_by"] == "caller"
    assert client.app[CALLERS].fallback.sessions == {}


async def test_a_new_link_supersedes_the_old_one_and_ends_its_sessions(client, handler, phones):
    incident, old = await incident_with_link(client, handler)
    caller = phones(old["url"])
    await caller.consent()
    await caller.post("/fixes", json={"fixes": [fix(1)]})
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        resp = await client.post(f"/api/incidents/{incident['id']}/links", json={}, headers={"X-CSRF-Token": handler})
        assert resp.status == 201 and "superseded" not in await resp.json()
        for _ in range(50):
            if client.app[CALLERS].fallback.sessions == {}:
                break
            await asyncio.sleep(0.05)
        published = [events.queue.get_nowait() for _ in range(events.queue.qsize())]
    revoked = [e.data for e in published if e.type == "link.state" and e.data["state"] == "revoked"]
    assert revoked == [
        {"link_id": old["id"], "state": "revoked", "at": revoked[0]["at"], "detail": "superseded by a new link"}
    ]
    assert client.app[CALLERS].fallback.sessions == {}
    rec = await record(client, incident["id"])
    assert rec["sessions"][0]["ended_at"] and rec["sessions"][0]["end_reason"] == "link revoked"
    assert (await caller.post("/fixes", json={"fixes": [fix(2)]})).status == 404
