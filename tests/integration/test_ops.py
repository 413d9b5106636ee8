"""Readiness and metrics: what a load balancer and Prometheus ask a node."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.app import build_app
from gateway.config import MetricsSettings
from gateway.web.keys import DRAINING

from .test_callers import LEEDS, handler, incident_with_link, phones  # noqa: F401 (fixtures)


def sample(text: str, name: str) -> float | None:
    """The value of an unlabelled sample in Prometheus's text format."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def test_a_node_is_ready_when_its_database_events_and_boundaries_are(client) -> None:
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {
        "status": "ready",
        "checks": {"database": True, "events": True, "boundaries": True, "not_draining": True},
    }


async def test_a_draining_node_says_it_is_not_ready_but_stays_alive(client) -> None:
    client.app[DRAINING].set()
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["checks"]["not_draining"] is False
    assert (await client.get("/healthz")).status == 200


async def test_metrics_count_what_callers_send(client, handler, phones) -> None:  # noqa: F811
    incident, link = await incident_with_link(client, handler)
    caller = phones(link["url"])
    await caller.consent()
    fixes = [{**LEEDS, "seq": n, "timestamp": 1_780_000_000_000 + n * 1000} for n in (1, 2, 3)]
    resp = await caller.post("/fixes", json={"fixes": fixes})
    assert resp.status == 200

    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert sample(text, "scenelink_fixes_total") == 3.0
    assert sample(text, "scenelink_fix_to_event_seconds_count") == 3.0
    assert sample(text, "scenelink_live_sessions") == 0.0
    assert sample(text, "scenelink_draining") == 0.0
    assert 'scenelink_sms_total{provider="outbox",status="sent"} 1.0' in text
    assert sample(text, "scenelink_udp_drops") is not None


class TestMetricsForPrometheusElsewhere:
    @pytest.fixture
    def settings(self, settings):
        # Prometheus on 10.0.0.5 only, or with the token: the test client (127.0.0.1) is neither.
        return replace(settings, metrics=MetricsSettings(allow=("10.0.0.5/32",), token="a-long-metrics-token"))

    async def test_metrics_are_refused_to_other_addresses_unless_they_hold_the_token(self, client) -> None:
        assert (await client.get("/metrics")).status == 403
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 403
        resp = await client.get("/metrics", headers={"Authorization": "Bearer a-long-metrics-token"})
        assert resp.status == 200


async def test_metrics_can_be_switched_off(aiohttp_client, settings) -> None:
    app = build_app(replace(settings, metrics=MetricsSettings(enabled=False)))
    client = await aiohttp_client(app)
    assert (await client.get("/metrics")).status == 404
