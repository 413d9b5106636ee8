"""The four ways an anonymous client took the gateway down, run as load against a real
``scenelink serve`` with 1,024 descriptors (the usual systemd default), while a genuine caller
streams over WebRTC and ``/healthz`` is asked every 0.2 s on a new connection: every ask must be
answered, 95 % of them in under a second, and the caller's video must keep arriving.

1. JPEG bombs (stills declaring 65000 x 65000 pixels);
2. a hundred parallel offers on one link;
3. 1,100 connections asking for random links and holding on, then 1,100 slowloris clients;
4. hundreds of bad tokens from one address, then a genuine caller from that address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import secrets
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from ..conftest import needs_test_network
from .test_callers import bomb, jpeg
from .test_media import LEEDS, Quadrants, gathered_offer

pytestmark = needs_test_network

ROOT = Path(__file__).resolve().parents[2]
SCENELINK = Path(sys.executable).with_name("scenelink")
ADMIN_PASSWORD = "a long password for the load tests"
DESCRIPTORS = 1024


@dataclass
class Gateway:
    proc: subprocess.Popen
    base: str
    data_dir: Path
    log: Path

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    folder = tmp_path_factory.mktemp("under-attack")
    port = _free_port()
    env = {
        **os.environ, "SCENELINK_DATA_DIR": str(folder / "data"), "SCENELINK_TLS": "off",
        "SCENELINK_HOST": "0.0.0.0", "SCENELINK_PORT": str(port),
        "SCENELINK_PUBLIC_URL": f"http://127.0.0.1:{port}", "SCENELINK_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    log = folder / "gateway.log"
    with open(log, "wb") as out:
        # The gateway and the /healthz monitor run ahead of whatever else shares this machine
        # (nice -5): the figures are then the attack's effect, not the neighbours'.
        proc = subprocess.Popen(
            ["nice", "-n", "-5", "bash", "-c", f"ulimit -n {DESCRIPTORS} && exec {SCENELINK} serve"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.2)
    # The test process itself holds the attackers' sockets.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    yield Gateway(proc, base, folder / "data", log)
    proc.terminate()
    try:
        proc.wait(60)  # the gateway drains its callers for up to 15 s on SIGTERM
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# -- the genuine side --------------------------------------------------------------------------


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


# One signed-in operator per test (its event loop): signing in costs an argon2 verification,
# which is not the load under test.
_operators: dict[int, tuple[aiohttp.ClientSession, str]] = {}


@pytest.fixture(autouse=True)
async def _sign_out():
    yield
    for http, _ in _operators.values():
        await http.close()
    _operators.clear()


async def _operator(gateway: Gateway) -> tuple[aiohttp.ClientSession, str]:
    key = id(asyncio.get_running_loop())
    if key in _operators:
        return _operators[key]
    http = _session()
    page = await (await http.get(gateway.base + "/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"username": "admin", "password": ADMIN_PASSWORD, "csrf": csrf}
    resp = await http.post(gateway.base + "/login", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    me = await (await http.get(gateway.base + "/api/me")).json()
    _operators[key] = (http, me["csrf_token"])
    return _operators[key]


async def _link(gateway: Gateway) -> tuple[str, str]:
    """A new incident and link, as a handler makes them: (incident id, link path)."""
    http, csrf = await _operator(gateway)
    headers = {"X-CSRF-Token": csrf}
    incident = await (await http.post(gateway.base + "/api/incidents", headers=headers, json={
        "reference": f"LOAD-{secrets.token_hex(4)}", "caller_phone": "07400 123456"})).json()
    links = gateway.base + f"/api/incidents/{incident['id']}/links"
    link = await (await http.post(links, headers=headers, json={})).json()
    return incident["id"], link["url"].removeprefix(gateway.base)


async def _consented(gateway: Gateway, path: str) -> aiohttp.ClientSession:
    phone = _session()
    assert (await phone.get(gateway.base + path)).status == 200
    assert (await phone.post(gateway.base + path + "/consent", json={})).status == 200
    return phone


async def _frames(gateway: Gateway, incident_id: str) -> int:
    http, _ = await _operator(gateway)
    health = await (await http.get(gateway.base + f"/api/incidents/{incident_id}/stream")).json()
    return (health.get("stream") or {}).get("frames") or 0


@dataclass
class Caller:
    incident_id: str
    path: str
    phone: aiohttp.ClientSession
    pc: RTCPeerConnection


async def _offer(gateway: Gateway, phone: aiohttp.ClientSession, path: str, body: dict) -> dict:
    for _ in range(50):
        resp = await phone.post(gateway.base + path + "/offer", json=body)
        if resp.status != 429:
            assert resp.status == 200, await resp.text()
            return await resp.json()
        await asyncio.sleep(float(resp.headers["Retry-After"]))
    raise AssertionError("the offer was never accepted")


async def _streaming_caller(gateway: Gateway) -> Caller:
    incident_id, path = await _link(gateway)
    phone = await _consented(gateway, path)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(Quadrants())
    channel = pc.createDataChannel("fixes")
    caller = Caller(incident_id, path, phone, pc)
    opened = asyncio.Event()
    channel.on("open", opened.set)
    answer = await _offer(gateway, phone, path, await gathered_offer(pc))
    await pc.setRemoteDescription(RTCSessionDescription(**answer))
    await asyncio.wait_for(opened.wait(), 15)
    await _until(lambda: _frames(gateway, incident_id), lambda n: n > 10)
    return caller


async def _until(probe, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"timed out; last value {value!r}"
        await asyncio.sleep(0.25)


# Asks /healthz on a new connection every 0.2 s and prints how long each answer took. It runs in
# a process of its own, so the figures are the gateway's and not this test's busy event loop's.
MONITOR = """
import sys, time, urllib.request
url = sys.argv[1]
while True:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
            took = time.monotonic() - started if resp.status == 200 else float("inf")
    except OSError:
        took = float("inf")
    print(f"{took:.4f}", flush=True)
    time.sleep(0.2)
"""


MIN_ASKS = 15


@contextlib.asynccontextmanager
async def watched(gateway: Gateway, caller: Caller):
    """``/healthz`` latency, and the caller's frames, around an attack."""
    frames_before = await _frames(gateway, caller.incident_id)
    monitor = await asyncio.create_subprocess_exec(
        "nice", "-n", "-5", sys.executable, "-c", MONITOR, gateway.base + "/healthz", stdout=asyncio.subprocess.PIPE,
    )
    assert monitor.stdout is not None
    # The attack starts once the monitor is asking, and the monitor goes on asking through the
    # attack's aftermath (closing what it left): at least MIN_ASKS asks in all.
    answers = [await asyncio.wait_for(monitor.stdout.readline(), 30)]
    try:
        yield
    finally:
        with contextlib.suppress(TimeoutError):
            while len(answers) < MIN_ASKS and answers[-1]:
                answers.append(await asyncio.wait_for(monitor.stdout.readline(), 10))
        with contextlib.suppress(ProcessLookupError):
            monitor.terminate()
        out, _ = await monitor.communicate()
    latencies = sorted(float(line) for line in b"".join(answers + [out]).decode().split())
    log = "\n".join(line for line in gateway.log.read_text().splitlines() if "aiohttp.access" not in line)
    shown = f"{len(latencies)} asks, slowest {latencies[-5:]}; the gateway said:\n{log[-3000:]}"
    # Every ask was answered (none refused, none waited the monitor's 5 s), and 95 % of them in
    # under a second. Not every one: on a 2-core machine shared with other work (load average
    # 7 to 13), 21 attacks saw 715 asks, all under 0.5 s but one, which took 1.3 s while 500 bad
    # tokens arrived in a second (the odd ask waits for a processor, or for a dropped SYN to be
    # sent again one second later).
    assert latencies and latencies[-1] < 5.0, f"/healthz went unanswered: {shown}"
    assert latencies[int(len(latencies) * 0.95)] < 1.0, f"/healthz was slow: {shown}"
    # The caller's video kept arriving: the gateway counts more frames than before the attack.
    await _until(lambda: _frames(gateway, caller.incident_id), lambda n: n > frames_before + 10, timeout=10)


async def _close(caller: Caller) -> None:
    await caller.pc.close()
    await caller.phone.close()


# -- the attacks -------------------------------------------------------------------------------


async def test_jpeg_bombs_are_refused_from_their_headers_while_a_caller_streams(gateway):
    caller = await _streaming_caller(gateway)
    _, attacker_path = await _link(gateway)
    attacker = await _consented(gateway, attacker_path)
    rss = gateway.rss_mb()
    try:
        async with watched(gateway, caller):
            async def post(data: bytes) -> int:
                resp = await attacker.post(gateway.base + attacker_path + "/stills", data=data,
                                           headers={"Content-Type": "image/jpeg"})
                await resp.read()
                return resp.status

            statuses = []
            for _ in range(5):  # one still a second is allowed per link: send a wave each second
                statuses += await asyncio.gather(*(post(bomb(65000, 65000)) for _ in range(40)))
                await asyncio.sleep(1.0)
        assert set(statuses) <= {400, 429} and 400 in statuses, sorted(set(statuses))
        assert gateway.rss_mb() - rss < 100, "no bomb was decoded"
        genuine = await caller.phone.post(gateway.base + caller.path + "/stills", data=jpeg(),
                                          headers={"Content-Type": "image/jpeg"})
        assert genuine.status == 201, await genuine.text()
    finally:
        await attacker.close()
        await _close(caller)


async def test_a_hundred_parallel_offers_leave_no_descriptors_behind(gateway):
    caller = await _streaming_caller(gateway)
    _, attacker_path = await _link(gateway)
    attacker = await _consented(gateway, attacker_path)
    flood_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    flood_pc.addTrack(Quadrants())
    flood_pc.createDataChannel("fixes")
    body = await gathered_offer(flood_pc)
    baseline = gateway.descriptors()
    try:
        async with watched(gateway, caller):
            async def post() -> int:
                resp = await attacker.post(gateway.base + attacker_path + "/offer", json=body)
                await resp.read()
                return resp.status

            statuses = await asyncio.gather(*(post() for _ in range(100)))
        assert set(statuses) == {200, 429} and statuses.count(200) <= 4, statuses
        # One peer connection is left on the attacker's link; every replaced one has been closed.
        await _until(lambda: asyncio.sleep(0, gateway.descriptors()), lambda n: n <= baseline + 4)
    finally:
        await flood_pc.close()
        await attacker.close()
        await _close(caller)


async def _hold(gateway: Gateway, request: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = gateway.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    return reader, writer


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the gateway has closed the connection (its answer, if any, read and dropped)."""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), 0.01)
            if not chunk:
                return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True


async def test_a_connection_flood_and_slowloris_cannot_take_the_descriptors(gateway):
    caller = await _streaming_caller(gateway)
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        async with watched(gateway, caller):
            # 1,100 clients each ask for a random link and keep their connection open.
            # (About 200 new connections a second: a rate one process can take in its stride. A
            # faster flood is the reverse proxy's to refuse: see docs/deployment.md.)
            for _ in range(22):
                held += await asyncio.gather(*(
                    _hold(gateway, f"GET /c/{secrets.token_urlsafe(24)} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
                    for _ in range(50)
                ))
                await asyncio.sleep(0.25)
            # A new caller from the same address still opens their link, and it is served.
            _, path = await _link(gateway)
            phone = await _consented(gateway, path)
            fix = {"seq": 1, "timestamp": int(time.time() * 1000), **LEEDS}
            resp = await phone.post(gateway.base + path + "/fixes", json={"fixes": [fix]})
            assert resp.status == 200
            await phone.close()
            assert gateway.descriptors() < DESCRIPTORS - 64
            closed = [await _closed_by_server(r) for r, _ in held]
            assert sum(closed) >= 1100 - DESCRIPTORS // 2, "idle connections beyond the cap were closed"
            for _, writer in held:
                writer.close()
            held.clear()

            # 1,100 slowloris clients: headers started, never finished, a line now and then.
            for _ in range(22):
                slow = b"GET /healthz HTTP/1.1\r\nHost: gw\r\n"
                held += await asyncio.gather(*(_hold(gateway, slow) for _ in range(50)))
                await asyncio.sleep(0.25)
            for _ in range(3):
                for _, writer in held:
                    if not writer.is_closing():
                        writer.write(b"X-Slow: 1\r\n")
                await asyncio.sleep(1.0)
            assert gateway.descriptors() < DESCRIPTORS - 64

        # The header timeout closes every one of them, however slowly they keep sending.
        async def still_open() -> int:
            for _, writer in held:
                if not writer.is_closing():
                    with contextlib.suppress(ConnectionError):
                        writer.write(b"X-Slow: 1\r\n")
            return sum([not await _closed_by_server(r) for r, _ in held])

        await _until(still_open, lambda n: n == 0, timeout=40)
    finally:
        for _, writer in held:
            writer.close()
        await _close(caller)


async def test_bad_tokens_from_one_address_never_slow_a_genuine_caller_from_it(gateway):
    caller = await _streaming_caller(gateway)
    size_before = gateway.log.stat().st_size
    try:
        async with watched(gateway, caller):
            started = time.monotonic()
            async with aiohttp.ClientSession() as attacker:
                async def guess() -> int:
                    async with attacker.get(gateway.base + f"/c/{secrets.token_urlsafe(24)}") as resp:
                        await resp.read()
                        return resp.status

                statuses = []
                for _ in range(10):
                    statuses += await asyncio.gather(*(guess() for _ in range(50)))
            took = time.monotonic() - started
            assert statuses.count(429) >= 480 and set(statuses) == {404, 429}
            assert took < 30, f"500 refusals took {took:.1f} s: they must be answered at once"
            # The genuine caller, from the very same address, opens the link and connects at once.
            second = await _streaming_caller(gateway)
            await _close(second)
        grew = gateway.log.stat().st_size - size_before
        assert grew < 500 * 200, f"the log grew by {grew} bytes for 500 refusals"
    finally:
        await _close(caller)


def test_files_are_private_and_the_token_is_in_no_file_or_log(gateway):
    """Runs last: everything the attacks above wrote is there to be checked."""
    data = gateway.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "scenelink.db" for p in files)
    assert any(p.parent.name == "outbox" for p in files) and any("blobs" in p.parts for p in files)
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, f"{p} is {oct(p.stat().st_mode)}"
    for p in (p for p in data.rglob("*") if p.is_dir()):
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, f"{p} is {oct(p.stat().st_mode)}"
    log = gateway.log.read_text()
    assert "/c/" in log and not re.search(r"/c/[A-Za-z0-9_-]{32}", log), "the access log masks every token"
