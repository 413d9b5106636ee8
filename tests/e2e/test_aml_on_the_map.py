"""An AML message from the network, for the number of an open incident, lands on the dispatcher's
map in Chromium as a placed pin marked AML, and in the handler's console as the latest position."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import ssl
import subprocess
import urllib.parse
import urllib.request

import pytest
from playwright.async_api import expect

from .conftest import PYTHON, ROOT, _config_args
from .walkthrough import EXPECTED_FORCE, Walkthrough

pytestmark = pytest.mark.e2e


def aml_token(env: dict[str, str]) -> str:
    """A new token with the network's AML role (each under a name of its own: names are unique)."""
    name = f"network-aml-e2e-{secrets.token_hex(3)}"
    done = subprocess.run(
        [PYTHON, "-m", "gateway", *_config_args(), "tokens", "create", name, "--role", "aml"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def post_aml(base_url: str, token: str, fields: dict[str, str]) -> dict:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(
        base_url + "/api/aml", data=urllib.parse.urlencode(fields).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as resp:
        return json.loads(resp.read())


async def test_an_aml_post_for_an_incidents_number_is_a_pin_on_the_dispatchers_map(browser, gateway):
    token = aml_token(gateway.env)
    w = Walkthrough(browser, gateway.base_url, gateway.passwords, reference="WYP-AML-E2E")
    try:
        await w.handler_sends_link()  # the incident for the caller's number, 07911 123456
        dispatcher = await w.login("dispatcher1", "/dispatch")
        item = dispatcher.locator('#incidents li[data-reference="WYP-AML-E2E"]')
        await expect(item).to_be_visible()
        answer = await asyncio.to_thread(post_aml, gateway.base_url, token, {
            "v": "1", "emergency_number": "999", "device_number": "+447911123456",
            "location_latitude": "53.7997", "location_longitude": "-1.5492", "location_accuracy": "42",
            "location_source": "gps",
        })
        assert answer["outcome"] == "attached" and answer["incident_id"] == w.incident_id, answer
        # Other incidents nearby may gather the pin into a cluster: the dispatcher picks it in the list.
        await item.locator("button").first.click()
        await expect(dispatcher.locator('.incident-pin[data-reference="WYP-AML-E2E"]')).to_be_visible()
        await expect(item).to_contain_text("AML")
        await expect(item).to_contain_text(EXPECTED_FORCE)
        await expect(item).to_contain_text("42 m")
        await expect(w.handler.locator("#fix-source")).to_have_text(re.compile("^AML"))
        await expect(w.handler.locator("#fix-accuracy")).to_have_text("42 m")
    finally:
        await w.close()
