"""Issue 4, the handler's side in the console: a link in Welsh, the caller's phone as its page
reports it, talking without a voice both ways, the camera from the console, discreet mode, another
device refused, and revoking the link."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from .callers import Phones
from .walkthrough import CALLER_PHONE, Walkthrough

pytestmark = pytest.mark.e2e

WELSH = json.loads((Path(__file__).resolve().parents[2] / "web_client/caller/i18n/cy.json").read_text(encoding="utf-8"))


async def test_the_handler_talks_to_a_silent_caller_and_sees_their_side(browser, gateway):
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    phones = Phones(browser)
    try:
        console = await w.login("handler1", "/console")
        console.on("dialog", lambda dialog: dialog.accept())
        await console.fill("#reference", w.reference)
        await console.fill("#phone", CALLER_PHONE)
        await console.select_option("#language", "cy")
        await console.click("#send-link")
        await expect(console.locator("#link-url")).to_have_text(re.compile(r"^https://"))
        url = (await console.locator("#link-url").text_content() or "").strip()
        await expect(console.locator("#sms-body")).to_contain_text("tapiwch y ddolen")
        # Welsh here has only GSM letters, one septet each: parts of 160, or of 153 when longer.
        body = (await console.locator("#sms-body").text_content() or "").strip()
        parts = 1 if len(body) <= 160 else -(-len(body) // 153)
        await expect(console.locator("#sms-parts")).to_have_text(
            f"{parts} SMS part{'s' if parts > 1 else ''} · GSM-7 · {len(body)} characters"
        )
        await expect(console.locator("#link-language")).to_have_text("Cymraeg")

        # The caller's page is in Welsh; the console sees their side once they share.
        caller = await phones.open(url)
        await expect(caller.locator("html")).to_have_attribute("lang", "cy")
        await caller.tap("#start")
        await expect(caller.locator("#mode")).to_have_attribute("data-mode", "video")
        await expect(console.locator("#cs-mode")).to_contain_text("Live video")
        await expect(console.locator("#cs-browser")).to_contain_text("Chrome")
        await expect(console.locator("#cs-language")).to_have_text("Cymraeg")
        await expect(console.locator("#cs-permissions")).to_have_text("camera granted, location granted")
        for state in ("sent", "opened", "consented", "streaming"):
            await expect(console.locator(f"#link-history li[data-state={state}]").first).to_be_visible()

        # A phrase: in Welsh on the phone, large, with yes / no; the console sees it seen.
        await console.click("#phrases [data-phrase=can_talk]")
        await expect(caller.locator("#instruction-text")).to_have_text(WELSH["phrases"]["can_talk"])
        await expect(caller.locator("#yes")).to_be_visible()
        question = console.locator("#conversation li.out").last
        await expect(question).to_have_class(re.compile(r"\bseen\b"))
        await caller.tap("#yes")
        await expect(console.locator("#conversation li.in").last).to_contain_text("YES")

        # Free text both ways.
        await caller.fill("#reply-text", "Mae rhywun yn y tŷ")
        await caller.tap("[data-testid=reply-send]")
        await expect(console.locator("#conversation li.in").last).to_contain_text("Mae rhywun yn y tŷ")
        await expect(caller.locator("#reply-status")).to_have_text(WELSH["reply_sent"])
        await console.fill("#message-text", "Stay where you are")
        await console.click("[data-testid=message-send]")
        await expect(caller.locator("#instruction-text")).to_have_text("Stay where you are")
        await expect(caller.locator("#answers")).to_be_hidden()

        # The camera from the console. Chromium's fake camera is the phone's only one: the page
        # offers no switch, and the handler sees the camera it really has, not the one asked for.
        await expect(caller.locator("#switch-camera")).to_be_hidden()
        await expect(console.locator("#cs-camera")).to_contain_text("one camera")
        await console.click("[data-testid=camera-front]")
        await expect(console.locator("#cs-camera")).to_contain_text("one camera")
        await expect(console.locator("#cs-camera")).not_to_contain_text("front")

        # Discreet mode: dark screen, sharing goes on, instructions still arrive (dimmed).
        await caller.tap("#discreet")
        await expect(caller.locator("#cover")).to_be_visible()
        await expect(console.locator("#cs-discreet")).to_contain_text("on")
        await console.click("#phrases [data-phrase=move_safe]")
        await expect(caller.locator("#cover #instruction-text")).to_have_text(WELSH["phrases"]["move_safe"])
        await caller.tap("#uncover")
        await expect(caller.locator("#cover")).to_be_hidden()

        # Another phone tries the link: refused there, and the handler sees it.
        other = await phones.open(url)
        await expect(other.locator("h1")).to_contain_text("cannot be used")
        await expect(console.locator("#link-history li[data-state=refused]")).to_be_visible()

        record = await console.evaluate(
            "async (id) => (await fetch(`/api/incidents/${id}`)).json()",
            await console.locator("#incident").get_attribute("data-incident-id"),
        )
        said = [(m["direction"], m["kind"], m["text"], m["language"]) for m in record["conversation"]]
        assert ("to_caller", "phrase", WELSH["phrases"]["can_talk"], "cy") in said, said
        assert ("from_caller", "answer", "yes", "cy") in said, said
        assert ("from_caller", "text", "Mae rhywun yn y tŷ", "cy") in said, said
        assert ("to_caller", "text", "Stay where you are", "en") in said, said
        assert all(m["sent_at"] for m in record["conversation"])
        assert record["links"][-1]["language"] == "cy"

        # Revoked: the caller's page stops, and the link cannot be used again.
        await console.click("#revoke-link")
        await expect(caller.locator("#screen-ended")).to_be_visible()
        await expect(console.locator("#link-state")).to_have_attribute("data-state", "revoked")
        await expect(console.locator("#link-history li[data-state=revoked]")).to_be_visible()
        again = await caller.goto(url)
        assert again is not None and again.status == 404
        assert not w.problems.found, w.problems.found
        assert not phones.problems.found, phones.problems.found
    finally:
        await phones.close()
        await w.close()
