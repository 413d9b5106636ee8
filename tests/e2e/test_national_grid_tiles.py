"""A force's British National Grid tile service, drawn through proj4leaflet, reached only via the gateway."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess

from aiohttp import web
from aiohttp.test_utils import TestServer

from .conftest import HOST, PYTHON, ROOT, Gateway, _free_port, _wait_ready
from .walkthrough import Walkthrough

KEY = "bng-key-" + secrets.token_hex(8)
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d2b1a60000000049454e44ae426082"
)


async def test_the_map_uses_the_national_grid_and_the_browser_never_sees_the_key(browser, tmp_path):
    from playwright.async_api import expect

    asked: list[str] = []

    async def tile(request: web.Request) -> web.Response:
        asked.append(str(request.rel_url))
        if request.query.get("key") != KEY:
            return web.Response(status=401)
        return web.Response(body=PNG_1PX, content_type="image/png")

    app = web.Application()
    app.router.add_get("/Road_27700/{z}/{x}/{y}.png", tile)
    service = TestServer(app, host=HOST)
    await service.start_server()
    port = _free_port(HOST)
    config = tmp_path / "bng.toml"
    config.write_text(
        "[map]\n"
        f'tile_url = "http://{HOST}:{service.port}/Road_27700/{{z}}/{{x}}/{{y}}.png?key={{key}}"\n'
        'tile_crs = "EPSG:27700"\ntile_attribution = "Test grid tiles"\n'
    )
    passwords = {"admin": secrets.token_urlsafe(18), "dispatcher1": secrets.token_urlsafe(18)}
    env = dict(os.environ, SCENELINK_DATA_DIR=str(tmp_path / "data"), SCENELINK_HOST=HOST,
               SCENELINK_PORT=str(port), SCENELINK_PUBLIC_URL=f"https://{HOST}:{port}",
               SCENELINK_ADMIN_PASSWORD=passwords["admin"], SCENELINK_TILE_KEY=KEY)
    env.pop("SCENELINK_E2E_CONFIG", None)
    gw = Gateway(f"https://{HOST}:{port}", tmp_path / "data", tmp_path / "gateway.log", passwords, env=env)
    gw.data_dir.mkdir()
    _add_user_with(env, config, "dispatcher1", passwords["dispatcher1"])
    with open(gw.log_path, "wb") as log:
        gw.proc = subprocess.Popen([PYTHON, "-m", "gateway", "--config", str(config), "serve"],
                                   env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    w = Walkthrough(browser, gw.base_url, passwords)
    seen: list[str] = []
    try:
        _wait_ready(gw)
        page = await w.login("dispatcher1", "/dispatch")
        page.on("request", lambda request: seen.append(request.url))
        await page.reload()
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        tiles = page.locator(".basemap-remote img.leaflet-tile-loaded")
        await expect(tiles.first).to_be_attached()
        # The page's map is on the grid: proj4leaflet's CRS, the OS tile matrix, the configured credit.
        assert await page.evaluate("() => !!window.L.Proj") is True
        await expect(page.locator(".leaflet-control-attribution")).to_contain_text("Test grid tiles")
        # Leeds at the default view is around BNG zoom 3-4: the gateway asked the service for such tiles.
        assert asked and all(url.startswith("/Road_27700/") for url in asked), asked
        zooms = {int(url.split("/")[2]) for url in asked}
        assert zooms <= {3, 4}, zooms
        # Every request the browser made went to the gateway, none carried the key.
        assert seen and all(url.startswith(gw.base_url) for url in seen), seen
        assert not any(KEY in url for url in seen)
        assert not w.problems.found, w.problems.found
    finally:
        await w.close()
        if gw.proc and gw.proc.poll() is None:
            gw.proc.send_signal(signal.SIGINT)
            try:
                gw.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                gw.proc.kill()
        await service.close()


def _add_user_with(env: dict[str, str], config, name: str, password: str) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), "users", "add", name, "--role", "dispatcher"],
        input=password + "\n", env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
