"""Map tiles through the gateway: PMTiles by HTTP Range, and a force's tile service by proxy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.basemap import Sources, boundary_features, build
from gateway.config import MapSettings

from .conftest import login

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "boundaries"
PNG = b"\x89PNG\r\n\x1a\n" + b"a tile" * 50
KEY = "s3cret-os-key-0123456789"


@pytest.fixture(scope="module")
def small_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real PMTiles file, made by tippecanoe from the sample district outlines."""
    sources = Sources()
    sources.add("boundaries", boundary_features(SAMPLES / "districts.geojson"))
    sources.credit("sample boundaries")
    return build(sources, tmp_path_factory.mktemp("tiles") / "basemap.pmtiles", max_zoom=8, quiet=True)


@pytest.fixture
async def map_client(aiohttp_client, settings, small_map):
    tiles = settings.data_dir / "tiles"
    tiles.mkdir(parents=True, exist_ok=True)
    (tiles / "basemap.pmtiles").write_bytes(small_map.read_bytes())
    client = await aiohttp_client(build_app(settings))
    from gateway.auth import hash_password
    from gateway.web.keys import ACCOUNTS

    await client.app[ACCOUNTS].add_operator("dispatcher1", "dispatcher", hash_password("a long test password"), "test")
    return client


async def test_the_browser_reads_the_pmtiles_file_by_ranges(map_client, small_map):
    await login(map_client, "dispatcher1")
    data = small_map.read_bytes()
    whole = await map_client.get("/tiles/basemap.pmtiles")
    assert whole.status == 200 and await whole.read() == data
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Type"] == "application/vnd.pmtiles"
    header = await map_client.get("/tiles/basemap.pmtiles", headers={"Range": "bytes=0-126"})
    assert header.status == 206 and await header.read() == data[:127]
    assert header.headers["Content-Range"] == f"bytes 0-126/{len(data)}"
    middle = await map_client.get("/tiles/basemap.pmtiles", headers={"Range": "bytes=200-299"})
    assert middle.status == 206 and await middle.read() == data[200:300]
    tail = await map_client.get("/tiles/basemap.pmtiles", headers={"Range": "bytes=-16"})
    assert tail.status == 206 and await tail.read() == data[-16:]
    beyond = await map_client.get("/tiles/basemap.pmtiles", headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status == 416


async def test_the_client_config_points_at_the_gateway_with_the_maps_attribution(map_client):
    await login(map_client, "dispatcher1")
    config = await (await map_client.get("/api/client-config")).json()
    [source] = config["basemap"]["vector"]
    assert source["name"] == "basemap" and source["url"] == "/tiles/basemap.pmtiles"
    assert source["attribution"] == "sample boundaries" and source["max_data_zoom"] == 8
    assert config["basemap"]["remote"] is None


async def test_tiles_need_a_signed_in_operator_and_a_known_name(map_client):
    assert (await map_client.get("/tiles/basemap.pmtiles")).status == 401
    await login(map_client, "dispatcher1")
    assert (await map_client.get("/tiles/streets.pmtiles")).status == 404  # not built
    assert (await map_client.get("/tiles/secrets.pmtiles")).status == 404
    assert (await map_client.get("/tiles/..%2Fgateway.pmtiles")).status == 404
    assert (await map_client.get("/tiles/remote/1/0/0")).status == 404  # no tile service configured


class FakeTileService:
    """A tile server on loopback that wants a key, counts requests and can be told to fail."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.fail = False
        app = web.Application()
        app.router.add_get("/{layer}/{z}/{x}/{y}.png", self.tile)
        self.server = TestServer(app, host="127.0.0.1")

    async def tile(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        if request.query.get("key") != KEY:
            return web.Response(status=401, text="bad key")
        if self.fail:
            return web.Response(status=500)
        return web.Response(body=PNG, content_type="image/png")


@pytest.fixture
async def tile_service():
    service = FakeTileService()
    await service.server.start_server()
    yield service
    await service.server.close()


@pytest.fixture
async def proxy_client(aiohttp_client, settings, tile_service):
    url = f"http://127.0.0.1:{tile_service.server.port}/Road_3857/{{z}}/{{x}}/{{y}}.png?key={{key}}"
    map_settings = replace(MapSettings(), tile_url=url, tile_key=KEY, tile_attribution="Test tiles")
    configured = replace(settings, map=map_settings)
    client = await aiohttp_client(build_app(configured))
    from gateway.auth import hash_password
    from gateway.web.keys import ACCOUNTS

    await client.app[ACCOUNTS].add_operator("dispatcher1", "dispatcher", hash_password("a long test password"), "test")
    return client


async def test_the_gateway_proxies_and_caches_tiles_and_keeps_the_key(proxy_client, tile_service):
    await login(proxy_client, "dispatcher1")
    config_text = await (await proxy_client.get("/api/client-config")).text()
    assert KEY not in config_text and str(tile_service.server.port) not in config_text
    config = await (await proxy_client.get("/api/client-config")).json()
    remote = {"url": "/tiles/remote/{z}/{x}/{y}", "attribution": "Test tiles", "max_zoom": 19}
    assert config["basemap"]["remote"] == remote

    first = await proxy_client.get("/tiles/remote/12/2030/1320")
    assert first.status == 200 and await first.read() == PNG
    assert first.headers["Content-Type"] == "image/png" and first.headers["X-Tile-Cache"] == "miss"
    assert tile_service.requests == [f"/Road_3857/12/2030/1320.png?key={KEY}"]
    assert not any(KEY in value for value in first.headers.values())

    again = await proxy_client.get("/tiles/remote/12/2030/1320")
    assert again.status == 200 and await again.read() == PNG and again.headers["X-Tile-Cache"] == "hit"
    assert len(tile_service.requests) == 1  # served from the cache
    assert (await proxy_client.get("/tiles/remote/3/8/0")).status == 404  # x beyond 2^z
    assert (await proxy_client.get("/tiles/remote/25/0/0")).status == 404  # deeper than max zoom

    tile_service.fail = True
    failed = await proxy_client.get("/tiles/remote/12/2031/1320")
    assert failed.status == 502 and KEY not in await failed.text()


async def test_the_tile_cache_files_do_not_name_the_key(proxy_client, settings, tile_service):
    await login(proxy_client, "dispatcher1")
    assert (await proxy_client.get("/tiles/remote/10/507/330")).status == 200
    files = [p for p in (settings.data_dir / "tile-cache").rglob("*") if p.is_file()]
    assert len(files) == 1 and KEY not in str(files[0]) and KEY.encode() not in files[0].read_bytes()


async def test_a_british_national_grid_service_is_described_for_proj4leaflet(aiohttp_client, settings, tile_service):
    url = f"http://127.0.0.1:{tile_service.server.port}/Road_27700/{{z}}/{{x}}/{{y}}.png?key={{key}}"
    from gateway.config import OS_27700_RESOLUTIONS

    map_settings = replace(MapSettings(), tile_url=url, tile_key=KEY, tile_crs="EPSG:27700",
                           tile_resolutions=OS_27700_RESOLUTIONS, tile_max_zoom=13)
    client = await aiohttp_client(build_app(replace(settings, map=map_settings)))
    from gateway.auth import hash_password
    from gateway.web.keys import ACCOUNTS

    await client.app[ACCOUNTS].add_operator("dispatcher1", "dispatcher", hash_password("a long test password"), "test")
    await login(client, "dispatcher1")
    remote = (await (await client.get("/api/client-config")).json())["basemap"]["remote"]
    assert remote["crs"] == "EPSG:27700" and remote["origin"] == [-238375.0, 1376256.0]
    assert remote["resolutions"][0] == 896.0 and len(remote["resolutions"]) == 14
    # The grid is wider than 2^z tiles at low zooms: the gateway leaves the bounds to the service.
    tile = await client.get("/tiles/remote/0/1/0")
    assert tile.status == 200 and tile_service.requests[-1] == f"/Road_27700/0/1/0.png?key={KEY}"
    assert (await client.get("/tiles/remote/14/0/0")).status == 404
