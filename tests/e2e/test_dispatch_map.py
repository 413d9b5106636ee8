"""Many incidents on the dispatcher's map stay readable: pins cluster, the list sorts by last activity."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import UTC, datetime, timedelta

from gateway.config import SAMPLES_DIR
from gateway.record import Database, Incidents
from gis import Fix, Placer, load_boundaries_table

from .callers import Operator
from .walkthrough import Walkthrough

COUNT = 30


def headingley(i: int) -> tuple[float, float]:
    """The ``i``-th of a grid of spots in Headingley, 2-3 km from the walkthrough's caller in the
    city centre, whose pin must not fall into these clusters when the tests share a gateway."""
    return 53.8190 + (i % 6) * 0.0015, -1.5900 + (i // 6) * 0.0020


async def seed_incidents(data_dir, tag: str, count: int = COUNT, where=headingley) -> list[str]:
    """``count`` incidents with a fix each, the ``i``-th at ``where(i)``, the last one newest."""
    table, base = load_boundaries_table(SAMPLES_DIR / "boundaries.toml")
    placer = Placer.from_config(table, base)
    db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'scenelink.db'}")
    incidents = Incidents(db)
    references = []
    try:
        for i in range(count):
            reference = f"WYP-{tag}-{i:03d}"
            incident = await incidents.create(reference, "+447400123456", "test")
            token = hashlib.sha256(reference.encode()).hexdigest()
            link = await incidents.create_link(incident["id"], token, datetime.now(UTC) + timedelta(hours=1), "test")
            session = await incidents.start_session(incident["id"], link["id"], "test browser")
            lat, lon = where(i)
            fix = {"latitude": lat, "longitude": lon, "accuracy": 25.0}
            placement = placer.place(Fix(lat, lon, accuracy=25.0)).to_dict()
            assert await incidents.add_fix(incident["id"], session["id"], 1, fix, None, placement)
            references.append(reference)
    finally:
        await db.close()
    return references


async def test_many_incidents_cluster_and_the_newest_comes_first(browser, gateway):
    from playwright.async_api import expect

    tag = datetime.now(UTC).strftime("%H%M%S")
    references = await seed_incidents(gateway.data_dir, tag)
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        page = await w.login("dispatcher1", "/dispatch")
        # The map's event WebSocket connects under connect-src 'self' (same-origin ws/wss).
        await expect(page.locator("#ws-status")).to_have_attribute("data-state", "open")
        # At the opening zoom the thirty pins within a kilometre gather into clusters with counts.
        clusters = page.locator(".marker-cluster")
        await expect(clusters.first).to_be_visible()
        counts = [int(text) for text in await clusters.all_inner_texts()]
        assert sum(counts) >= COUNT and len(counts) < COUNT, counts
        # The list holds every one, the most recent activity first, each with force and district.
        items = page.locator(f'#incidents li[data-reference^="WYP-{tag}-"]')
        await expect(items).to_have_count(COUNT)
        await expect(items.first).to_have_attribute("data-reference", references[-1])
        await expect(items.first).to_contain_text("West Yorkshire · Leeds")
        # Showing all incidents brings every active one into view, clustered or not.
        await page.click("#fit-all")
        await expect(page.locator("body")).to_have_attribute("data-fit-all", re.compile(r"^([1-9]\d*)/\1$"))
        # Picking one in the list opens its cluster up into its pin, with its popup.
        await items.filter(has_text=references[0]).locator("button").first.click()
        await expect(page.locator(f'.incident-pin[data-reference="{references[0]}"]')).to_be_visible()
        await expect(page.locator(".leaflet-popup")).to_contain_text(references[0])
        assert not w.problems.found, w.problems.found
    finally:
        await w.close()


async def test_a_popup_open_in_a_spread_out_cluster_stays_open_when_another_caller_appears(browser, gateway):
    from playwright.async_api import expect

    from .test_aml_on_the_map import aml_token, post_aml

    tag = "S" + datetime.now(UTC).strftime("%H%M%S")
    # Two callers at the very same spot in Roundhay: even at the deepest zoom one cluster, which
    # spreads out when the dispatcher picks one of them.
    first, _ = await seed_incidents(gateway.data_dir, tag, count=2, where=lambda i: (53.8350, -1.4950))
    token = aml_token(gateway.env)
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        page = await w.login("dispatcher1", "/dispatch")
        await expect(page.locator("#ws-status")).to_have_attribute("data-state", "open")
        await page.locator(f'#incidents li[data-reference="{first}"] button').first.click()
        await expect(page.locator(".leaflet-popup")).to_contain_text(first)
        # Meanwhile the network places another caller, far away: a new pin on the map.
        async with Operator(gateway.base_url, "handler1", gateway.passwords["handler1"]) as handler:
            other = await handler.post(
                "/api/incidents", {"reference": f"WYP-{tag}-AML", "caller_phone": "07911 223456"}, 201
            )
        answer = await asyncio.to_thread(post_aml, gateway.base_url, token, {
            "v": "1", "emergency_number": "999", "device_number": "+447911223456",
            "location_latitude": "53.7997", "location_longitude": "-1.5492", "location_accuracy": "42",
            "location_source": "gps",
        })
        assert answer["incident_id"] == other["id"], answer
        await expect(page.locator(f'#incidents li[data-reference="WYP-{tag}-AML"]')).to_contain_text("AML")
        # The popup the dispatcher was reading is still there, on its own pin (not on a cluster folded
        # up over it), and its Follow button works.
        await expect(page.locator(".leaflet-popup")).to_contain_text(first)
        await expect(page.locator(f'.incident-pin[data-reference="{first}"]')).to_be_visible()
        await page.locator(".leaflet-popup button", has_text="Follow").click()
        await expect(page.locator("#follow-status")).to_have_text(f"Following {first}")
        assert not w.problems.found, w.problems.found
    finally:
        await w.close()
