"""A supervisor sees in the console when deliveries to another system (a CAD's webhook receiver)
have given up, and retries them by hand once the receiver is back."""

from __future__ import annotations

import re
import socket

import pytest
from aiohttp import web
from playwright.async_api import expect

from .callers import eventually
from .conftest import running_gateway
from .walkthrough import CALLER_PHONE, Walkthrough

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webhook_gateway(tmp_path_factory):
    """A gateway whose one receiver, on a port nothing listens on yet, gets one try per delivery."""
    port = _free_port()
    folder = tmp_path_factory.mktemp("gateway-webhooks")
    config = folder / "scenelink.toml"
    config.write_text(
        "[[webhooks]]\n"
        'name = "cad"\n'
        f'url = "http://127.0.0.1:{port}/scenelink"\n'
        'secret_env = "CAD_WEBHOOK_SECRET"\n'
        'events = ["incident.created"]\n'
        "max_attempts = 1\n"
        "timeout_seconds = 2\n"
    )
    env = {"CAD_WEBHOOK_SECRET": "a-secret-of-enough-length"}
    with running_gateway(folder / "data", env, config=config) as gw:
        yield gw, port


async def test_a_delivery_that_gave_up_is_shown_to_a_supervisor_and_retried_by_hand(browser, webhook_gateway):
    gateway, port = webhook_gateway
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    received: list[dict] = []
    runner = None
    try:
        handler = await w.login("handler1", "/console")
        await expect(handler.locator("#deliveries-panel")).to_be_hidden()  # not a handler's business
        await handler.fill("#reference", "CAD-DOWN-1")
        await handler.fill("#phone", CALLER_PHONE)
        await handler.click("#send-link")
        await expect(handler.locator("#link-url")).to_have_text(re.compile("^https://"))

        supervisor = await w.login("super1", "/console")
        panel = supervisor.locator("#deliveries-panel")
        await expect(panel).to_be_visible()
        await expect(supervisor.locator("#deliveries-counts")).to_contain_text("1 gave up", timeout=20_000)
        dead = supervisor.locator("#deliveries-dead li")
        await expect(dead).to_have_count(1)
        await expect(dead).to_contain_text("incident.created to cad")

        async def receive(request: web.Request) -> web.Response:
            received.append(await request.json())
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/scenelink", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

        await dead.get_by_role("button", name="Retry").click()
        await expect(supervisor.locator("#deliveries-counts")).to_contain_text("0 gave up", timeout=20_000)
        await expect(dead).to_have_count(0)

        async def delivered() -> bool:
            return bool(received)

        await eventually(delivered, timeout=20)
        assert "CAD-DOWN-1" in str(received[0])
    finally:
        if runner is not None:
            await runner.cleanup()
        await w.close()
