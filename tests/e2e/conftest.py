"""End-to-end fixtures: a real gateway process and Debian's headless Chromium, all on 10.99.0.1.

These tests must run inside the private network namespace made by ``tests/netns-run`` (WebRTC
gathers every non-loopback address; outside the namespace that would be this machine's real
interfaces). Elsewhere they are skipped with the reason, or fail where the whole suite must run
(``CI=true``, ``make test``: see tests/strict.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..conftest import on_private_test_network, requires

ROOT = Path(__file__).resolve().parents[2]
HOST = "10.99.0.1"
# Debian installs /usr/bin/chromium; elsewhere it is found on PATH (make browsers checks PATH too).
CHROMIUM = os.environ.get("SCENELINK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
VIDEO_PATH = ROOT / "samples" / "build" / "scene.y4m"
STARTUP_SECONDS = 40


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    in_namespace = on_private_test_network()
    ours = [item for item in items if here in Path(str(item.fspath)).parents]
    for item in ours:
        item.add_marker(pytest.mark.e2e)
        item.add_marker(requires(
            in_namespace,
            f"end-to-end tests need the private test network ({HOST} and nothing beyond): run them through "
            "tests/netns-run, e.g. `tests/netns-run .venv/bin/python -m pytest tests/e2e`",
        ))
        item.add_marker(requires(
            CHROMIUM is not None and Path(CHROMIUM).exists(),
            f"Debian's Chromium was not found ({CHROMIUM or 'not on PATH'}; `make browsers` installs it, "
            "SCENELINK_CHROMIUM names another)",
        ))
    if ours and in_namespace and CHROMIUM is not None and Path(CHROMIUM).exists():
        _build_base_maps()  # here, not in a fixture: a first build may take longer than a test may


def load_make_video():
    """samples/make_video.py as a module (samples/ is not a package)."""
    spec = importlib.util.spec_from_file_location("scenelink_make_video", ROOT / "samples" / "make_video.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("scenelink_make_video", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def make_video():
    return load_make_video()


@pytest.fixture(scope="session")
def sample_video(make_video) -> Path:
    return make_video.ensure_video(VIDEO_PATH)


# ---------------------------------------------------------------------------------------------
# The gateway


@dataclass
class Gateway:
    base_url: str
    data_dir: Path
    log_path: Path
    passwords: dict[str, str]
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no gateway log)"
        return "\n".join(text.splitlines()[-lines:])


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _config_args() -> list[str]:
    # The embedded sample configuration by default; SCENELINK_E2E_CONFIG tries another one.
    config = os.environ.get("SCENELINK_E2E_CONFIG")
    return ["--config", config] if config else []


BASE_MAPS: dict[str, Path] = {}


def _build_base_maps() -> None:
    """The default map and a street map of central Leeds (from the shared OSM sample), as `make run`
    and a force would build them with `scenelink basemap build`; built once, kept in samples/build/."""
    import hashlib

    from ..shared_data import shared_data

    version = hashlib.sha256((ROOT / "gateway" / "basemap.py").read_bytes()).hexdigest()[:12]
    cache = ROOT / "samples" / "build" / "tiles" / version
    osm = shared_data("osm-west-yorkshire")
    wanted = {"basemap.pmtiles": ["--default", "--max-zoom", "8"]}
    if osm.is_dir():
        wanted["streets.pmtiles"] = ["--roads", str(osm / "leeds-centre-roads.geojson"),
                                     "--water", str(osm / "west-yorkshire-water.geojson")]
    else:
        from ..strict import strict

        if strict():  # CI=true or make test: the street map must be tested
            pytest.fail(f"shared data {osm} not found: the street map needs it")
    for name, args in wanted.items():
        if not (cache / name).exists():
            done = subprocess.run(
                [PYTHON, "-m", "gateway", "basemap", "build", *args, "--out", str(cache / name), "--quiet"],
                cwd=ROOT, capture_output=True, text=True, timeout=900,
            )
            assert done.returncode == 0, f"`scenelink basemap build {' '.join(args)}` failed:\n{done.stderr}"
        BASE_MAPS[name] = cache / name


def _base_maps(tiles: Path, names: tuple[str, ...] | None = None) -> None:
    tiles.mkdir(parents=True, exist_ok=True)
    for name, path in BASE_MAPS.items():
        if names is None or name in names:
            shutil.copy(path, tiles / name)


def _add_user(env: dict[str, str], name: str, role: str, password: str, config: list[str] | None = None) -> None:
    config = _config_args() if config is None else config
    done = subprocess.run(
        [PYTHON, "-m", "gateway", *config, "users", "add", name, "--role", role],
        input=password + "\n", env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, f"`scenelink users add {name}` failed:\n{done.stdout}\n{done.stderr}"


def _wait_ready(gw: Gateway) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + STARTUP_SECONDS
    last = None
    while time.monotonic() < deadline:
        if gw.proc and gw.proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with {gw.proc.returncode}:\n{gw.log_tail()}")
        try:
            with urllib.request.urlopen(gw.base_url + "/healthz", context=context, timeout=2) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:  # connection refused while it starts
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"the gateway was not ready within {STARTUP_SECONDS} s ({last}):\n{gw.log_tail()}")


@contextlib.contextmanager
def running_gateway(
    data_dir: Path, extra_env: dict[str, str] | None = None, config: Path | None = None,
    operators: tuple[str, ...] = ("handler1", "dispatcher1", "super1"), maps: tuple[str, ...] | None = None,
) -> Iterator[Gateway]:
    """A gateway process with the embedded defaults (and ``extra_env``, and ``config`` on top),
    its ``operators`` added through the CLI; stopped with SIGINT at the end. ``maps`` names the base
    maps it serves (every one built, by default)."""
    config_args = ["--config", str(config)] if config else _config_args()
    # A port chosen beforehand (a firewall rule names it), or any free one.
    port = int((extra_env or {}).get("SCENELINK_PORT") or _free_port(HOST))
    base_url = f"https://{HOST}:{port}"
    passwords = {
        "admin": secrets.token_urlsafe(18),
        "handler1": secrets.token_urlsafe(18),
        "dispatcher1": secrets.token_urlsafe(18),
        "super1": secrets.token_urlsafe(18),
    }
    env = dict(os.environ)
    env.update({
        "SCENELINK_DATA_DIR": str(data_dir),
        "SCENELINK_HOST": HOST,
        "SCENELINK_PORT": str(port),
        "SCENELINK_PUBLIC_URL": base_url,
        "SCENELINK_ADMIN_PASSWORD": passwords["admin"],
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    })
    gw = Gateway(base_url, data_dir, data_dir / "gateway.log", passwords, env=env)
    _base_maps(data_dir / "tiles", maps)
    roles = {"handler1": "handler", "dispatcher1": "dispatcher", "super1": "supervisor"}
    for name in operators:
        _add_user(env, name, roles[name], passwords[name], config_args)
    log = open(gw.log_path, "wb")
    gw.proc = subprocess.Popen(
        [PYTHON, "-m", "gateway", *config_args, "serve"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(gw)
        yield gw
    finally:
        if gw.proc.poll() is None:
            gw.proc.send_signal(signal.SIGINT)
            try:
                gw.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                gw.proc.kill()
                gw.proc.wait(timeout=5)
        log.close()
        keep = os.environ.get("SCENELINK_KEEP_E2E_LOG")
        if keep:
            shutil.copy(gw.log_path, keep)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory):
    with running_gateway(tmp_path_factory.mktemp("gateway-data")) as gw:
        yield gw


@pytest.fixture(scope="session")
def janus(tmp_path_factory: pytest.TempPathFactory):
    """Debian's Janus with the deployment guide's files, shared by every test of the session."""
    from ..services.janus import janus_server

    with janus_server(tmp_path_factory.mktemp("janus"), HOST) as server:
        yield server


@pytest.fixture(scope="session")
def janus_gateway(janus, tmp_path_factory: pytest.TempPathFactory):
    """A gateway whose media plane is that Janus (the embedded defaults otherwise)."""
    with running_gateway(tmp_path_factory.mktemp("gateway-janus"), janus.env()) as gw:
        yield gw


PLANES = ("embedded", "janus")


@pytest.fixture(params=PLANES)
def plane(request: pytest.FixtureRequest):
    """Each media plane in turn: its name, its gateway, and its Janus (None for the embedded relay).
    Feature tests take this instead of ``gateway`` so that both planes pass the same tests."""
    if request.param == "embedded":
        return "embedded", request.getfixturevalue("gateway"), None
    return "janus", request.getfixturevalue("janus_gateway"), request.getfixturevalue("janus")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    funcargs = getattr(item, "funcargs", {})
    gw = funcargs.get("gateway") or funcargs.get("postgres_gateway")
    if gw is None and funcargs.get("plane"):
        gw = funcargs["plane"][1]
    if report.failed and isinstance(gw, Gateway):
        report.sections.append(("gateway log (last lines)", gw.log_tail(120)))
    phone = funcargs.get("firefox_caller")
    if report.failed and phone is not None:
        found = "\n".join([*phone.problems, phone.log_tail()])
        report.sections.append(("Firefox caller (page problems, driver log)", found))


# ---------------------------------------------------------------------------------------------
# The browser


def chromium_args(video: Path) -> list[str]:
    return [
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        "--use-fake-ui-for-media-stream",
        # This machine has no network: without these Chromium keeps trying to reach outside.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-gpu",
        "--no-sandbox",
        # Deliberately NOT --disable-features=WebRtcHideLocalIpsWithMdns: the console has no camera
        # permission, so, as in a real control room, its host candidates are mDNS names; it still
        # connects (the gateway learns its address from the incoming connectivity checks).
    ]


@pytest.fixture
async def browser(sample_video: Path):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(sample_video))
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def firefox_caller(tmp_path: Path):
    """A caller's phone played by Firefox ESR (tests/e2e/firefox.py), at the walkthrough's caller
    position: launched as the test starts (its first command waits for the browser), closed with
    every process it started at the end. Tests that take it are marked ``firefox.NEEDS_FIREFOX``."""
    from .firefox import FirefoxCaller
    from .walkthrough import CALLER_POSITION

    async with FirefoxCaller(tmp_path / "firefox", CALLER_POSITION) as phone:
        yield phone
